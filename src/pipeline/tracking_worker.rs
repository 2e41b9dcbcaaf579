//! The tracking worker: one thread per tracked input (a camera or an OBS video source), shared
//! by every VRM Avatar source that tracks it. It takes the newest camera frame (older ones are
//! dropped, never queued), finds the landmarks and publishes them; each source then solves its
//! own avatar from them. OBS's threads only hand frames in and read results; they never wait.

use super::Latest;
use super::load::{LADDER, Steps};
use super::worker::{TRACKER_NICE, WorkerCore, clock_ms, lower_thread_priority, spawn_guarded};
use crate::camera::CameraFrame;
use crate::landmarks::LandmarkFrame;
use crate::tracking::holistic::{LIVE_SEARCH_INTERVAL, SearchClock, Tracker, TrackingMode};
use crate::tracking::image::ImageView;
use crate::tracking::runtime::ModelPaths;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The tracker reads camera frames scaled down to at most this width (its models see 256
/// pixels at most; a 1080p frame would only cost conversion time).
pub const TRACKING_WIDTH: u32 = 640;

/// How long a source's step on the load ladder holds without being said again.
const STEPS_LAST: Duration = Duration::from_secs(3);

/// Landmarks of one camera frame and when that frame arrived.
#[derive(Debug, Clone)]
pub struct TrackedFrame {
    pub landmarks: LandmarkFrame,
    /// The size of the image the landmarks were found in.
    pub width: u32,
    pub height: u32,
    pub arrived: Instant,
    /// When the landmarks were ready.
    pub tracked: Instant,
}

/// Tracking figures for the status line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrackingStats {
    /// Frames tracked per second over the last second or so.
    pub fps: f32,
    /// Milliseconds from a frame's arrival to its landmarks.
    pub latency_ms: f32,
    pub face: bool,
    pub body: bool,
    pub left_hand: bool,
    pub right_hand: bool,
}

/// What the owners of a tracking worker can change or read while it runs.
pub struct TrackingControl {
    input: Latest<CameraFrame>,
    output: Latest<TrackedFrame>,
    mode: Mutex<TrackingMode>,
    mode_generation: AtomicU64,
    /// The last camera frame the worker took, so that callers skip copying frames it would
    /// drop anyway.
    taken: AtomicU64,
    /// The worker waits for a frame (it is not tracking one).
    idle: AtomicBool,
    core: WorkerCore,
    stats: Mutex<TrackingStats>,
    /// Threads woken when new landmarks are out (render workers draw them at once).
    listeners: Mutex<Vec<thread::Thread>>,
    /// How far the sources that follow this tracker stepped back ([`super::load`]) and when
    /// they last said so: the tracker does what the furthest asks; a source that stopped
    /// saying (hidden, removed) no longer counts after [`STEPS_LAST`].
    steps: Mutex<Vec<(thread::ThreadId, Steps, Instant)>>,
}

impl TrackingControl {
    pub fn new(mode: TrackingMode) -> Arc<Self> {
        Arc::new(TrackingControl {
            input: Latest::default(),
            output: Latest::default(),
            mode: Mutex::new(mode),
            mode_generation: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            idle: AtomicBool::new(true),
            core: WorkerCore::new("starting the tracker"),
            stats: Mutex::new(TrackingStats::default()),
            listeners: Mutex::new(Vec::new()),
            steps: Mutex::new(Vec::new()),
        })
    }

    /// The calling render worker's step on the load ladder (each source that follows this
    /// tracker says its own; the tracker follows the cheapest).
    pub fn set_steps(&self, steps: Steps) {
        let (me, now) = (thread::current().id(), Instant::now());
        let mut all = self.steps.lock();
        all.retain(|(id, _, said)| *id == me || now.duration_since(*said) < STEPS_LAST);
        match all.iter_mut().find(|(id, _, _)| *id == me) {
            Some(mine) => *mine = (me, steps, now),
            None => all.push((me, steps, now)),
        }
    }

    /// What the furthest step asks of the tracker.
    fn tracking_steps(&self) -> Steps {
        let all = self.steps.lock();
        let mut steps = LADDER[0];
        let now = Instant::now();
        for (_, s, _) in all.iter().filter(|e| now.duration_since(e.2) < STEPS_LAST) {
            steps.hand_search_slower = steps.hand_search_slower.max(s.hand_search_slower);
            steps.body_every = steps.body_every.max(s.body_every);
            if s.max_tracking_fps > 0 {
                steps.max_tracking_fps = match steps.max_tracking_fps {
                    0 => s.max_tracking_fps,
                    fps => fps.min(s.max_tracking_fps),
                };
            }
        }
        steps
    }

    /// Whether the worker waits for a frame. A frame handed in while it tracks would wait in
    /// the slot, growing older until the worker is done; one taken from the camera when it
    /// is idle is at most a camera frame old when tracking starts.
    pub fn wants_frame(&self) -> bool {
        self.idle.load(Ordering::Acquire) && self.taken.load(Ordering::Acquire) >= self.input.seq()
    }

    /// Hands in the newest camera frame (it replaces any the worker has not taken).
    pub fn submit(&self, frame: CameraFrame) {
        self.input.publish(frame);
        self.core.wake();
    }

    /// The newest landmarks if newer than `seen`.
    pub fn landmarks_newer_than(&self, seen: u64) -> Option<(u64, Arc<TrackedFrame>)> {
        self.output.newer_than(seen)
    }

    /// The sequence number of the newest landmarks (0: none yet).
    pub fn landmarks_seq(&self) -> u64 {
        self.output.seq()
    }

    /// Unparks the calling thread whenever new landmarks are out.
    pub fn wake_me_on_landmarks(&self) {
        let me = thread::current();
        let mut listeners = self.listeners.lock();
        if !listeners.iter().any(|t| t.id() == me.id()) {
            listeners.push(me);
        }
    }

    pub fn set_mode(&self, mode: TrackingMode) {
        let mut current = self.mode.lock();
        if *current != mode {
            *current = mode;
            self.mode_generation.fetch_add(1, Ordering::AcqRel);
            drop(current);
            self.core.asked_anew();
        }
    }

    pub fn mode(&self) -> TrackingMode {
        *self.mode.lock()
    }

    pub fn stop(&self) {
        self.core.stop();
    }

    pub fn status(&self) -> String {
        self.core.status()
    }

    pub fn stats(&self) -> TrackingStats {
        *self.stats.lock()
    }
}

/// Starts a tracking worker; `models` says where the models and ONNX Runtime are (None: the
/// usual places, [`ModelPaths::locate`]).
pub fn spawn_tracking_worker(
    control: Arc<TrackingControl>,
    models: Option<ModelPaths>,
) -> std::io::Result<JoinHandle<()>> {
    spawn_guarded(
        "vrm-avatar-track",
        "tracker",
        control,
        |c| &c.core,
        move |ctl| {
            // OBS's own threads must win the CPU (ONNX Runtime's threads, started from this
            // one, inherit its priority).
            lower_thread_priority(TRACKER_NICE);
            run(ctl, models.as_ref())
        },
    )
}

fn load(models: Option<&ModelPaths>, mode: TrackingMode) -> anyhow::Result<Tracker> {
    let located;
    let paths = match models {
        Some(paths) => paths,
        None => {
            located = ModelPaths::locate(None)?;
            &located
        }
    };
    let mut tracker = Tracker::new(paths, mode, 1, false)?;
    // Live: searches for a missing hand are spread out so no frame pays for all of them.
    if let Some(hands) = &mut tracker.hands {
        hands.search = SearchClock::every(LIVE_SEARCH_INTERVAL);
    }
    Ok(tracker)
}

fn run(ctl: &TrackingControl, models: Option<&ModelPaths>) {
    let mut tracker: Option<Tracker> = None;
    // Frames that waited while the models loaded would count the loading as latency.
    let mut ready_at = Instant::now();
    let mut mode_generation = u64::MAX;
    let mut seen = 0;
    let mut index = 0;
    let mut window: Vec<Instant> = Vec::new();
    let mut last_start: Option<Instant> = None;
    while !ctl.core.stopped() {
        let generation = ctl.mode_generation.load(Ordering::Acquire);
        if generation != mode_generation {
            mode_generation = generation;
            let mode = ctl.mode();
            match load(models, mode) {
                Ok(t) => {
                    log::info!("tracking ready ({})", mode.key());
                    ctl.core.set_status(format!(
                        "tracking: waiting for camera frames ({})",
                        mode.key()
                    ));
                    tracker = Some(t);
                    ready_at = Instant::now();
                }
                Err(err) => {
                    log::error!("tracking unavailable: {err:#}");
                    ctl.core
                        .set_status(format!("error: tracking unavailable: {err:#}"));
                    tracker = None;
                }
            }
        }
        let steps = ctl.tracking_steps();
        if wait_for_cap(ctl, last_start, steps, &mut seen) {
            continue;
        }
        let Some((seq, frame)) = ctl.input.newer_than(seen) else {
            ctl.idle.store(true, Ordering::Release);
            thread::park_timeout(Duration::from_millis(250));
            continue;
        };
        ctl.idle.store(false, Ordering::Release);
        seen = seq;
        ctl.taken.store(seq, Ordering::Release);
        let Some(tracker) = tracker.as_mut() else {
            continue;
        };
        if frame.arrived < ready_at {
            continue;
        }
        last_start = Some(Instant::now());
        tracker.body_every = steps.body_every;
        if let Some(hands) = &mut tracker.hands {
            hands
                .search
                .set_interval(LIVE_SEARCH_INTERVAL * steps.hand_search_slower);
        }
        let (width, height, rgb) = match frame.to_rgb(TRACKING_WIDTH) {
            Ok(image) => image,
            Err(err) => {
                ctl.core
                    .set_status(format!("error: unusable camera frame: {err}"));
                continue;
            }
        };
        let view = match ImageView::rgb(width, height, &rgb) {
            Ok(view) => view,
            Err(err) => {
                ctl.core
                    .set_status(format!("error: unusable camera frame: {err}"));
                continue;
            }
        };
        match tracker.track(&view, index, clock_ms(frame.arrived)) {
            Ok(landmarks) => {
                index += 1;
                super::worker::inject_test_panic("tracking_worker");
                let now = Instant::now();
                window.push(now);
                window.retain(|t| now.duration_since(*t) < Duration::from_secs(2));
                let stats = TrackingStats {
                    fps: (window.len().saturating_sub(1)) as f32
                        / window
                            .first()
                            .map_or(1.0, |t| now.duration_since(*t).as_secs_f32().max(1e-3)),
                    latency_ms: now.duration_since(frame.arrived).as_secs_f32() * 1000.0,
                    face: landmarks.face.is_some(),
                    body: landmarks.pose.is_some(),
                    left_hand: landmarks.left_hand.is_some(),
                    right_hand: landmarks.right_hand.is_some(),
                };
                *ctl.stats.lock() = stats;
                ctl.core
                    .set_status(format!("tracking ({})", tracker.mode().key()));
                ctl.output.publish(TrackedFrame {
                    landmarks,
                    width,
                    height,
                    arrived: frame.arrived,
                    tracked: now,
                });
                for listener in ctl.listeners.lock().iter() {
                    listener.unpark();
                }
            }
            Err(err) => {
                log::warn!("tracking a frame failed: {err:#}");
                ctl.core
                    .set_status(format!("error: tracking failed: {err:#}"));
            }
        }
    }
}

/// Stepped back to a tracking cap: waits until the next frame is due (true when it waited). No
/// frame is copied for the tracker meanwhile (it is not idle), and one handed in before is
/// dropped for a fresher one.
fn wait_for_cap(
    ctl: &TrackingControl,
    last_start: Option<Instant>,
    steps: Steps,
    seen: &mut u64,
) -> bool {
    let Some(due) = last_start
        .filter(|_| steps.max_tracking_fps > 0)
        .map(|t| t + Duration::from_secs_f64(1.0 / steps.max_tracking_fps as f64))
        .filter(|due| Instant::now() < *due)
    else {
        return false;
    };
    ctl.idle.store(false, Ordering::Release);
    while !ctl.core.stopped() && Instant::now() < due {
        thread::park_timeout(due.saturating_duration_since(Instant::now()));
    }
    *seen = ctl.input.seq();
    ctl.taken.store(*seen, Ordering::Release);
    ctl.idle.store(true, Ordering::Release);
    true
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::camera::{BT709_LIMITED, CameraFormat, Plane};

    /// The portrait photo as a BGRA camera frame.
    pub fn portrait() -> CameraFrame {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/testdata/people/images/portrait.jpg"
        );
        let image = image::open(path).unwrap().to_rgba8();
        let (w, h) = image.dimensions();
        let mut data = image.into_raw();
        for px in data.chunks_mut(4) {
            px.swap(0, 2);
        }
        CameraFrame {
            width: w,
            height: h,
            format: CameraFormat::Bgra,
            planes: vec![Plane {
                data,
                stride: w as usize * 4,
            }],
            color_matrix: BT709_LIMITED,
            arrived: Instant::now(),
        }
    }

    #[test]
    fn the_tracker_follows_the_furthest_step_back_while_it_is_said() {
        let control = TrackingControl::new(TrackingMode::Face);
        assert_eq!(control.tracking_steps(), LADDER[0]);
        control.set_steps(LADDER[3]);
        // A second source (another render worker's thread) further down the ladder.
        let other = Arc::clone(&control);
        thread::spawn(move || other.set_steps(LADDER[5]))
            .join()
            .unwrap();
        let steps = control.tracking_steps();
        assert_eq!(
            (steps.body_every, steps.max_tracking_fps),
            (LADDER[5].body_every, LADDER[5].max_tracking_fps)
        );
        // A source that stops saying (hidden, removed) no longer counts.
        control.steps.lock()[1].2 -= STEPS_LAST;
        assert_eq!(control.tracking_steps().body_every, LADDER[3].body_every);
        control.set_steps(LADDER[0]);
        assert_eq!(control.tracking_steps(), LADDER[0]);
    }

    #[test]
    fn frames_in_landmarks_out_and_a_missing_model_is_a_clear_status() {
        let Ok(_) = ModelPaths::locate(None) else {
            panic!("the tracking models are missing: run scripts/models.sh");
        };
        let control = TrackingControl::new(TrackingMode::Face);
        let handle = spawn_tracking_worker(Arc::clone(&control), None).unwrap();
        assert!(control.wants_frame());
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut found = None;
        while found.is_none() && Instant::now() < deadline {
            if control.wants_frame() {
                control.submit(portrait());
            }
            found = control.landmarks_newer_than(0);
            thread::sleep(Duration::from_millis(20));
        }
        let (_, tracked) = found.expect("landmarks arrive");
        assert!(tracked.width <= TRACKING_WIDTH);
        assert!(
            tracked
                .landmarks
                .face
                .as_ref()
                .is_some_and(|f| f.len() == 478)
        );
        assert!(control.stats().face && control.stats().fps >= 0.0);
        control.stop();
        handle.join().unwrap();

        let empty = std::env::temp_dir().join("vrm-avatar-no-models");
        std::fs::create_dir_all(&empty).unwrap();
        let nowhere = ModelPaths {
            ort_lib: ModelPaths::locate(None).unwrap().ort_lib,
            models_dir: empty,
        };
        let control = TrackingControl::new(TrackingMode::Face);
        let handle = spawn_tracking_worker(Arc::clone(&control), Some(nowhere)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !control.status().starts_with("error") && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            control.status().starts_with("error: tracking unavailable"),
            "{}",
            control.status()
        );
        control.stop();
        handle.join().unwrap();
    }
}
