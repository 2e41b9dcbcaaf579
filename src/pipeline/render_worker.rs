//! The render worker: a thread that owns the GPU device, renders at the target frame rate while
//! the source is shown, and publishes finished frames to a latest-wins slot. OBS's threads only
//! change the [`RenderControl`] and read the slot; they never wait for this thread.

use super::Latest;
use crate::frame::RgbaFrame;
use crate::render::avatar::AvatarScene;
use crate::render::{Gpu, OffscreenRenderer};
use crate::solver::IdleMotion;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// What the owner of a worker can change or read while it runs.
pub struct RenderControl {
    width: AtomicU32,
    height: AtomicU32,
    fps: AtomicU32,
    active: AtomicBool,
    stop: AtomicBool,
    status: Mutex<String>,
    thread: Mutex<Option<Thread>>,
    /// The avatar file (None: the built-in avatar), and a counter bumped on every change.
    vrm_path: Mutex<Option<PathBuf>>,
    avatar_generation: AtomicU64,
}

impl RenderControl {
    pub fn new(width: u32, height: u32, fps: u32) -> Arc<Self> {
        Arc::new(Self {
            width: AtomicU32::new(width),
            height: AtomicU32::new(height),
            fps: AtomicU32::new(fps.max(1)),
            active: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            status: Mutex::new("starting".into()),
            thread: Mutex::new(None),
            vrm_path: Mutex::new(None),
            avatar_generation: AtomicU64::new(1),
        })
    }

    /// Chooses the avatar (None: the built-in one). The worker loads it off OBS's threads; when
    /// the file is bad it keeps the avatar it has and says why in the status.
    pub fn set_vrm_path(&self, path: Option<PathBuf>) {
        let mut current = self.vrm_path.lock();
        if *current != path {
            *current = path;
            self.avatar_generation.fetch_add(1, Ordering::AcqRel);
            drop(current);
            self.wake();
        }
    }

    pub fn size(&self) -> (u32, u32) {
        (
            self.width.load(Ordering::Relaxed),
            self.height.load(Ordering::Relaxed),
        )
    }

    pub fn set_size(&self, width: u32, height: u32) {
        self.width.store(width, Ordering::Relaxed);
        self.height.store(height, Ordering::Relaxed);
    }

    pub fn set_fps(&self, fps: u32) {
        self.fps.store(fps.max(1), Ordering::Relaxed);
    }

    /// Renders only while active (the source is shown somewhere); idle costs no CPU.
    pub fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::Release);
        self.wake();
    }

    /// Asks the worker to finish; returns at once.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// A one-line status for the user: what renders, or what went wrong.
    pub fn status(&self) -> String {
        self.status.lock().clone()
    }

    fn set_status(&self, status: String) {
        *self.status.lock() = status;
    }

    fn wake(&self) {
        if let Some(thread) = self.thread.lock().as_ref() {
            thread.unpark();
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Starts a render worker. It stops when [`RenderControl::stop`] is called; join the handle
/// (off OBS's threads, e.g. at module unload) to be sure it has released the GPU.
pub fn spawn_render_worker(
    control: Arc<RenderControl>,
    output: Arc<Latest<RgbaFrame>>,
) -> std::io::Result<JoinHandle<()>> {
    let ctl = Arc::clone(&control);
    let handle = thread::Builder::new()
        .name("vrm-avatar-render".into())
        .spawn(move || {
            lower_thread_priority();
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&ctl, &output)));
            if let Err(panic) = result {
                let why = panic_text(&*panic);
                log::error!("the render worker stopped after a panic: {why}");
                ctl.set_status(format!("error: renderer stopped ({why})"));
            }
        })?;
    *control.thread.lock() = Some(handle.thread().clone());
    Ok(handle)
}

/// The text of a panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// OBS's own threads must win the CPU over this one (and over the threads a software Vulkan
/// driver starts from it, which inherit the nice value on Linux).
pub(crate) fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's id only changes this thread's nice value.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
    }
}

fn run(ctl: &RenderControl, output: &Latest<RgbaFrame>) {
    let gpu = match Gpu::new() {
        Ok(gpu) => gpu,
        Err(err) => {
            log::error!("cannot render: {err}");
            ctl.set_status(format!("error: {err}"));
            return;
        }
    };
    let adapter = format!("{} ({:?})", gpu.info.name, gpu.info.backend);
    let (width, height) = ctl.size();
    let mut renderer = OffscreenRenderer::new(gpu, width, height);
    let mut avatar = Avatar::default();
    let mut idle = IdleMotion::new(0x5eed);
    let clock = Instant::now();
    let mut next_frame = Instant::now();
    while !ctl.stopped() {
        if !ctl.active.load(Ordering::Acquire) {
            thread::park_timeout(Duration::from_millis(500));
            next_frame = Instant::now();
            continue;
        }
        avatar.update(ctl, &renderer, &adapter);
        let Some(scene) = avatar.scene.as_mut() else {
            // Not even the built-in avatar loads: the status says why; try again later.
            thread::park_timeout(Duration::from_millis(500));
            continue;
        };
        let (width, height) = ctl.size();
        renderer.resize(width, height);
        let t = clock.elapsed().as_secs_f32();
        scene.pose = idle.pose(t);
        renderer.render(scene, t);

        let period = Duration::from_secs_f64(1.0 / ctl.fps.load(Ordering::Relaxed) as f64);
        next_frame += period;
        let now = Instant::now();
        if next_frame < now {
            // Running late (slow adapter): drop the backlog instead of racing to catch up.
            next_frame = now;
        }
        // Waiting for the GPU here only delays this thread; the frame is published as soon as it is done.
        for frame in renderer.finished_frames(Some(next_frame)) {
            output.publish(frame);
        }
        while !ctl.stopped() && Instant::now() < next_frame {
            thread::park_timeout(next_frame.saturating_duration_since(Instant::now()));
        }
    }
}

/// The avatar the worker draws, reloaded when the control's choice changes.
#[derive(Default)]
struct Avatar {
    scene: Option<AvatarScene>,
    generation: u64,
}

impl Avatar {
    fn update(&mut self, ctl: &RenderControl, renderer: &OffscreenRenderer, adapter: &str) {
        let generation = ctl.avatar_generation.load(Ordering::Acquire);
        if generation == self.generation {
            return;
        }
        self.generation = generation;
        let path = ctl.vrm_path.lock().clone();
        let gpu = renderer.gpu();
        let load = |path: Option<&std::path::Path>| {
            crate::default_avatar::load_avatar(path)
                .map(|model| AvatarScene::new(&gpu.device, &gpu.queue, model, renderer.samples()))
        };
        let shown = |p: &Option<PathBuf>| {
            p.as_ref().map_or("the built-in avatar".to_string(), |p| {
                p.display().to_string()
            })
        };
        match load(path.as_deref()) {
            Ok(scene) => {
                let title = scene
                    .renderer
                    .model()
                    .meta
                    .title
                    .as_deref()
                    .unwrap_or("untitled");
                log::info!("avatar {} loaded ({title})", shown(&path));
                ctl.set_status(format!("rendering {} on {adapter}", shown(&path)));
                self.scene = Some(scene);
            }
            Err(err) => {
                let keeping = if self.scene.is_some() {
                    "the previous avatar stays"
                } else {
                    "showing the built-in avatar"
                };
                log::error!("cannot load the avatar {}: {err}; {keeping}", shown(&path));
                ctl.set_status(format!("error: cannot load {}: {err}", shown(&path)));
                if self.scene.is_none() {
                    self.scene = load(None).ok();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_renders_only_while_active_and_stops_promptly() {
        let control = RenderControl::new(128, 72, 60);
        let frames = Arc::new(Latest::default());
        let handle = spawn_render_worker(Arc::clone(&control), Arc::clone(&frames)).unwrap();
        thread::sleep(Duration::from_millis(300));
        assert_eq!(
            frames.seq(),
            0,
            "nothing is rendered before the source is shown"
        );

        control.set_active(true);
        let deadline = Instant::now() + Duration::from_secs(20);
        while frames.seq() < 3 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            frames.seq() >= 3,
            "frames arrive while active ({})",
            control.status()
        );
        assert!(
            control
                .status()
                .starts_with("rendering the built-in avatar on"),
            "{}",
            control.status()
        );

        control.set_size(64, 32);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, frame) = frames.newer_than(0).unwrap();
            if (frame.width, frame.height) == (64, 32) {
                break;
            }
            assert!(Instant::now() < deadline, "resize reaches the output");
            thread::sleep(Duration::from_millis(20));
        }

        control.set_active(false);
        thread::sleep(Duration::from_millis(200));
        let paused_at = frames.seq();
        thread::sleep(Duration::from_millis(300));
        assert!(frames.seq() <= paused_at + 1, "no frames while hidden");

        let asked = Instant::now();
        control.stop();
        handle.join().unwrap();
        assert!(asked.elapsed() < Duration::from_secs(5), "stop is prompt");
    }
}
