//! The render worker: a thread that owns the GPU device, renders at the target frame rate while
//! the source is shown, and publishes finished frames to a latest-wins slot. OBS's threads only
//! change the [`RenderControl`] and read the slot; they never wait for this thread.

use super::Latest;
use super::direction::{AvatarEvent, Clips, Direction};
use super::load::{SharedObsLoad, Shedding, scaled};
use super::tracking_worker::TrackingControl;
use super::vmc_worker::{VmcControl, VmcLink, VmcSendSettings};
use super::voice_worker::VoiceControl;
use super::worker::{RENDER_NICE, WorkerCore, clock_ms, lower_thread_priority, spawn_guarded};
use crate::frame::{CameraTimes, RgbaFrame};
use crate::landmarks::LandmarkFrame;
use crate::motion::{Mixer, Offers};
use crate::pose::AvatarPose;
use crate::render::avatar::AvatarScene;
use crate::render::{Gpu, OffscreenRenderer};
use crate::settings::{self, MouthMode};
use crate::solver::{IdleMotion, PoseTimeline, Solver, SolverSettings};
use crate::vmc::Rest;
use crate::vrm::NormalizedRig;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How the source frames and lights the avatar (the source's settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewSettings {
    pub full_body: bool,
    /// How much closer than the framing the camera comes (1 = the framing), and how far up it
    /// moves (meters).
    pub zoom: f32,
    pub height_offset: f32,
    /// How far the avatar moves sideways in the picture (meters, positive to the right).
    pub side_offset: f32,
    pub fov_deg: f32,
    /// Where the key light comes from: degrees towards the avatar's left of straight ahead,
    /// and degrees above.
    pub light_yaw_deg: f32,
    pub light_pitch_deg: f32,
    pub light_intensity: f32,
    pub ambient: f32,
    /// None: transparent; else an opaque sRGB colour.
    pub background: Option<[u8; 3]>,
}

impl Default for ViewSettings {
    /// The renderer's own defaults: upper body, 30 degrees, a soft key light from the front,
    /// a little above and to the side.
    /// (The defaults of the source's settings, [`settings::SETTINGS`].)
    fn default() -> Self {
        use settings::float_default;
        ViewSettings {
            full_body: false,
            zoom: float_default(settings::ZOOM),
            height_offset: float_default(settings::CAMERA_HEIGHT),
            side_offset: float_default(settings::CAMERA_OFFSET),
            fov_deg: float_default(settings::FOV_DEG),
            light_yaw_deg: float_default(settings::LIGHT_YAW_DEG),
            light_pitch_deg: float_default(settings::LIGHT_PITCH_DEG),
            light_intensity: float_default(settings::LIGHT_INTENSITY),
            ambient: float_default(settings::AMBIENT),
            background: None,
        }
    }
}

impl ViewSettings {
    /// The direction the key light shines towards (world space; the avatar faces +Z).
    pub fn light_direction(&self) -> glam::Vec3 {
        let (yaw, pitch) = (
            self.light_yaw_deg.to_radians(),
            self.light_pitch_deg.to_radians(),
        );
        -glam::Vec3::new(
            pitch.cos() * yaw.sin(),
            pitch.sin(),
            pitch.cos() * yaw.cos(),
        )
    }

    fn apply(&self, scene: &mut AvatarScene, renderer: &mut OffscreenRenderer) {
        scene.framing = if self.full_body {
            crate::render::avatar::camera::Framing::FullBody
        } else {
            crate::render::avatar::camera::Framing::UpperBody
        };
        scene.zoom = self.zoom;
        scene.height_offset = self.height_offset;
        scene.side_offset = self.side_offset;
        scene.fov_y_deg = self.fov_deg;
        scene.lighting.direction = self.light_direction();
        scene.lighting.intensity = self.light_intensity;
        scene.lighting.ambient = glam::Vec3::splat(self.ambient);
        renderer.background = match self.background {
            None => wgpu::Color::TRANSPARENT,
            Some(rgb) => {
                // The target is sRGB: clear values are linear.
                let linear = |c: u8| {
                    let c = c as f64 / 255.0;
                    if c <= 0.04045 {
                        c / 12.92
                    } else {
                        ((c + 0.055) / 1.055).powf(2.4)
                    }
                };
                wgpu::Color {
                    r: linear(rgb[0]),
                    g: linear(rgb[1]),
                    b: linear(rgb[2]),
                    a: 1.0,
                }
            }
        };
    }
}

/// What the owner of a worker can change or read while it runs.
pub struct RenderControl {
    width: AtomicU32,
    height: AtomicU32,
    fps: AtomicU32,
    active: AtomicBool,
    core: WorkerCore,
    /// The avatar file (None: the built-in avatar), and a counter bumped on every change.
    vrm_path: Mutex<Option<PathBuf>>,
    avatar_generation: AtomicU64,
    /// The tracker whose landmarks move the avatar (None: idle motion).
    tracking: Mutex<Option<Arc<TrackingControl>>>,
    solver_settings: Mutex<SolverSettings>,
    calibrate: AtomicBool,
    reset: AtomicBool,
    /// The loaded avatar's expressions, and a counter bumped when they change.
    expressions: Mutex<(u64, Vec<String>)>,
    /// Expressions and gaze held (hotkeys, default expression, control API) and clips.
    pub direction: Direction,
    /// The loaded avatar's title.
    title: Mutex<String>,
    view: Mutex<ViewSettings>,
    /// The voice that may move the mouth, and who moves it.
    voice: Mutex<Option<Arc<VoiceControl>>>,
    mouth: Mutex<MouthMode>,
    /// The avatar's own speech (control API `Speak`), and whether it plays now: while it
    /// does, its sound moves the mouth whatever `mouth` says.
    speech: Mutex<Option<Arc<VoiceControl>>>,
    speech_playing: AtomicBool,
    /// What the avatar does: the last mixed pose.
    state: Mutex<Arc<AvatarState>>,
    /// Another app's motion over VMC (None: not listened to), where the avatar's own goes
    /// out as VMC (None: nowhere), and how that goes.
    vmc_in: Mutex<Option<Arc<VmcControl>>>,
    vmc_send: Mutex<Option<VmcSendSettings>>,
    vmc_out_status: Mutex<Option<String>>,
    /// OBS's frame times and missed frames (stored by OBS's graphics thread every tick), and
    /// how far the worker stepped back for them ([`super::load`]).
    pub obs_load: SharedObsLoad,
    stepped_back: Mutex<(usize, Option<String>)>,
    performance: Mutex<settings::Performance>,
}

/// What the avatar does now (for scripts and tests): the pose the worker mixed last.
#[derive(Debug, Clone, Default)]
pub struct AvatarState {
    pub pose: AvatarPose,
    /// Whether the voice is heard.
    pub speaking: bool,
    /// The animation clip playing (its file).
    pub animation: Option<String>,
}

impl RenderControl {
    pub fn new(width: u32, height: u32, fps: u32) -> Arc<Self> {
        Arc::new(Self {
            width: AtomicU32::new(width),
            height: AtomicU32::new(height),
            fps: AtomicU32::new(fps.max(1)),
            active: AtomicBool::new(false),
            core: WorkerCore::new("starting"),
            vrm_path: Mutex::new(None),
            avatar_generation: AtomicU64::new(1),
            tracking: Mutex::new(None),
            solver_settings: Mutex::new(SolverSettings::default()),
            calibrate: AtomicBool::new(false),
            reset: AtomicBool::new(false),
            expressions: Mutex::new((0, Vec::new())),
            direction: Direction::default(),
            title: Mutex::new(String::new()),
            view: Mutex::new(ViewSettings::default()),
            voice: Mutex::new(None),
            mouth: Mutex::new(MouthMode::Auto),
            speech: Mutex::new(None),
            speech_playing: AtomicBool::new(false),
            state: Mutex::new(Arc::new(AvatarState::default())),
            vmc_in: Mutex::new(None),
            vmc_send: Mutex::new(None),
            vmc_out_status: Mutex::new(None),
            obs_load: SharedObsLoad::default(),
            stepped_back: Mutex::new((0, None)),
            performance: Mutex::new(settings::Performance::Auto),
        })
    }

    /// How far the worker may step back to spare OBS (the `performance` setting).
    pub fn set_performance(&self, performance: settings::Performance) {
        *self.performance.lock() = performance;
    }

    /// How far the worker stepped back to spare OBS (0: not at all), and what it does less
    /// of and why.
    pub fn stepped_back(&self) -> (usize, Option<String>) {
        self.stepped_back.lock().clone()
    }

    /// The VMC receiver whose performer moves the avatar (None: none).
    pub fn set_vmc_input(&self, vmc: Option<Arc<VmcControl>>) {
        *self.vmc_in.lock() = vmc;
    }

    /// Where the avatar's motion goes out as VMC (None: it does not).
    pub fn set_vmc_send(&self, send: Option<VmcSendSettings>) {
        let mut current = self.vmc_send.lock();
        if *current != send {
            *current = send;
            *self.vmc_out_status.lock() = None;
        }
    }

    /// How sending VMC goes, once it has started.
    pub fn vmc_out_status(&self) -> Option<String> {
        self.vmc_out_status.lock().clone()
    }

    /// The voice to follow (None: the mouth is the camera's).
    pub fn set_voice(&self, voice: Option<Arc<VoiceControl>>) {
        *self.voice.lock() = voice;
    }

    /// The voice worker hearing the avatar's own speech.
    pub fn set_speech(&self, speech: Option<Arc<VoiceControl>>) {
        *self.speech.lock() = speech;
    }

    /// Whether the avatar's speech plays now.
    pub fn set_speech_playing(&self, playing: bool) {
        self.speech_playing.store(playing, Ordering::Release);
    }

    pub fn set_mouth(&self, mouth: MouthMode) {
        *self.mouth.lock() = mouth;
    }

    /// The voice that moves the mouth at `now` and by which rule: the avatar's speech while it
    /// plays (always), else the voice source by the `mouth` setting.
    fn voice_and_mouth(&self, now: Instant) -> (Option<crate::voice::Voice>, MouthMode) {
        if self.speech_playing.load(Ordering::Acquire)
            && let Some(speech) = self.speech.lock().as_ref().and_then(|v| v.voice(now))
        {
            return (Some(speech), MouthMode::Voice);
        }
        let voice = self.voice.lock().as_ref().and_then(|v| v.voice(now));
        (voice, *self.mouth.lock())
    }

    /// What the avatar does now (as of the last frame the worker mixed).
    pub fn state(&self) -> Arc<AvatarState> {
        Arc::clone(&self.state.lock())
    }

    pub fn set_view(&self, view: ViewSettings) {
        *self.view.lock() = view;
    }

    /// The loaded avatar's expression names and their generation (it changes with the avatar).
    pub fn expressions(&self) -> (u64, Vec<String>) {
        self.expressions.lock().clone()
    }

    /// The generation of [`Self::expressions`] alone (no copy of the names).
    pub fn expressions_generation(&self) -> u64 {
        self.expressions.lock().0
    }

    /// The loaded avatar's title ("" before one is loaded).
    pub fn title(&self) -> String {
        self.title.lock().clone()
    }

    /// The tracker to follow (None: idle motion).
    pub fn set_tracking(&self, tracking: Option<Arc<TrackingControl>>) {
        *self.tracking.lock() = tracking;
    }

    pub fn tracking(&self) -> Option<Arc<TrackingControl>> {
        self.tracking.lock().clone()
    }

    pub fn set_solver_settings(&self, settings: SolverSettings) {
        *self.solver_settings.lock() = settings;
    }

    /// The next face and hands seen become the user's neutral ones.
    pub fn calibrate(&self) {
        self.calibrate.store(true, Ordering::Release);
    }

    /// Forgets calibration and tracking history.
    pub fn reset(&self) {
        self.reset.store(true, Ordering::Release);
    }

    /// Chooses the avatar (None: the built-in one). The worker loads it off OBS's threads; when
    /// the file is bad it keeps the avatar it has and says why in the status.
    pub fn set_vrm_path(&self, path: Option<PathBuf>) {
        let mut current = self.vrm_path.lock();
        if *current != path {
            *current = path;
            self.avatar_generation.fetch_add(1, Ordering::AcqRel);
            drop(current);
            self.core.asked_anew();
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

    /// The time between drawn frames when one in `every` of OBS's frames is drawn.
    fn period(&self, every: u32) -> Duration {
        Duration::from_secs_f64(every.max(1) as f64 / self.fps.load(Ordering::Relaxed) as f64)
    }

    /// Renders only while active (the source is shown somewhere); idle costs no CPU.
    pub fn set_active(&self, active: bool) {
        self.active.store(active, Ordering::Release);
        self.core.wake();
    }

    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Asks the worker to finish; returns at once.
    pub fn stop(&self) {
        self.core.stop();
    }

    /// A one-line status for the user: what renders, or what went wrong.
    pub fn status(&self) -> String {
        self.core.status()
    }
}

/// Starts a render worker. It stops when [`RenderControl::stop`] is called; join the handle
/// (off OBS's threads, e.g. at module unload) to be sure it has released the GPU.
pub fn spawn_render_worker(
    control: Arc<RenderControl>,
    output: Arc<Latest<RgbaFrame>>,
) -> std::io::Result<JoinHandle<()>> {
    spawn_guarded(
        "vrm-avatar-render",
        "renderer",
        control,
        |c| &c.core,
        move |ctl| {
            lower_thread_priority(RENDER_NICE);
            run(ctl, &output);
        },
    )
}

fn run(ctl: &RenderControl, output: &Latest<RgbaFrame>) {
    let gpu = match Gpu::beside_obs() {
        Ok(gpu) => gpu,
        Err(err) => {
            log::error!("cannot render: {err}");
            ctl.core.set_status(format!("error: {err}"));
            return;
        }
    };
    let adapter = format!("{} ({:?})", gpu.info.name, gpu.info.backend);
    let (width, height) = ctl.size();
    let mut renderer = OffscreenRenderer::new(gpu, width, height);
    let mut avatar = Avatar::default();
    let mut idle = IdleMotion::new(0x5eed);
    let mut motion = Motion::default();
    let mut mixer = Mixer::default();
    let mut clips = Clips::default();
    let mut vmc = VmcLink::default();
    let mut last_draw = Instant::now();
    let clock = Instant::now();
    let mut next_frame = Instant::now();
    let mut shedding = Shedding::default();
    while !ctl.core.stopped() {
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
        let now = Instant::now();
        let steps = step_back(ctl, &mut shedding, now);
        let (width, height) = scaled(ctl.size(), steps.render_scale);
        renderer.resize(width, height);
        let t = clock.elapsed().as_secs_f32();
        let seen = motion.seen;
        let tracked = motion.update(ctl, avatar.generation, scene, now);
        let fresh_landmarks = motion.seen != seen;
        let (voice, mouth) = ctl.voice_and_mouth(now);
        let now_ms = clock_ms(now);
        let vmc_in = ctl.vmc_in.lock().clone();
        let (vmc_pose, vmc_times) = vmc.incoming(vmc_in.as_deref(), now, &avatar.vmc_rest);
        let vmc_live = vmc_pose.is_some();
        let offers = Offers {
            idle: idle.pose(t),
            camera: tracked.as_ref().map(|(pose, _)| pose.clone()),
            vmc: vmc_pose,
            clip: clips.update(&ctl.direction, &mut mixer, now_ms, avatar.hips_height),
            voice,
            chosen: ctl.direction.held(now_ms),
            mouth,
        };
        scene.pose = offers.mix(&mut mixer, now_ms);
        *ctl.state.lock() = Arc::new(AvatarState {
            pose: scene.pose.clone(),
            speaking: voice.is_some_and(|v| v.speaking),
            animation: ctl.direction.playing(),
        });
        // The settings' lock is let go before sending (OBS's update callback takes it).
        let send = ctl.vmc_send.lock().clone();
        if let Some(send) = send {
            *ctl.vmc_out_status.lock() = vmc.send(&send, &scene.pose, &avatar.vmc_rest, t);
        }
        let view = *ctl.view.lock();
        view.apply(scene, &mut renderer);
        // One frame in flight at most: a frame the adapter has not finished yet (a software
        // renderer on a busy CPU) is waited for, not queued behind, which would add whole
        // frames of latency and take CPU from the tracker. The pose above is still solved.
        let drawn = renderer.frames_in_flight() == 0 && shed_allows(ctl, steps, last_draw);
        if drawn {
            last_draw = Instant::now();
            let times = tracked.and_then(|(_, camera)| camera).or(vmc_times);
            renderer.render_from(scene, t, times);
            vmc.drawn(vmc_times);
            super::worker::inject_test_panic("render_worker");
            // An error the GPU reported shows in the status (and the log, once) instead of
            // ending the worker; the frames go on.
            if let Some(error) = renderer.gpu().take_error() {
                ctl.core
                    .set_status(format!("error: the GPU refused a frame: {error}"));
            }
        }

        let period = ctl.period(1);
        next_frame += period;
        if vmc_live && drawn {
            // A performer's frames set the pace (see the wait below); the clock only draws
            // when they are late, so it never draws just before one comes.
            next_frame = last_draw + period + period / 4;
        }
        let now = Instant::now();
        if next_frame < now {
            // Running late (slow adapter): drop the backlog instead of racing to catch up.
            next_frame = now;
        }
        publish(&mut renderer, next_frame, output);
        if fresh_landmarks
            && !drawn
            && renderer.frames_in_flight() == 0
            && shed_allows(ctl, steps, last_draw)
        {
            // New landmarks came while a frame was still being drawn: they are drawn as soon
            // as that frame is done, not a period later.
            next_frame = Instant::now();
            continue;
        }
        next_frame = wait_for_next(
            ctl,
            (&motion, steps.draw_every),
            (&vmc, vmc_in.as_deref()),
            last_draw,
            next_frame,
        );
    }
}

/// Whether the ladder lets this loop draw: stepped back, the loop (mixing, VMC out, the state
/// scripts read) keeps OBS's rate and only the drawing skips frames.
fn shed_allows(ctl: &RenderControl, steps: super::load::Steps, last_draw: Instant) -> bool {
    steps.draw_every == 1 || last_draw.elapsed() >= ctl.period(steps.draw_every) * 3 / 4
}

/// Hands finished frames to OBS, each with the part of it that shows. Waiting for the GPU here
/// (until `until` at most) only delays this thread; a frame goes out as soon as it is done.
fn publish(renderer: &mut OffscreenRenderer, until: Instant, output: &Latest<RgbaFrame>) {
    for mut frame in renderer.finished_frames(Some(until)) {
        frame.find_covered();
        output.publish(frame);
    }
}

/// Follows OBS's load down and up the ladder ([`super::load`]); what this frame may do.
fn step_back(ctl: &RenderControl, shedding: &mut Shedding, now: Instant) -> super::load::Steps {
    let performance = *ctl.performance.lock();
    let change = shedding.allow(performance);
    if let Some(change) = change.or_else(|| shedding.observe(ctl.obs_load.load(), now)) {
        let summary = shedding.summary(ctl.fps.load(Ordering::Relaxed), ctl.size());
        match &summary {
            Some(summary) => log::info!("{summary}"),
            None => log::info!("full quality again ({})", change.why),
        }
        *ctl.stepped_back.lock() = (change.level, summary);
    }
    let steps = shedding.steps();
    if let Some(tracking) = ctl.tracking() {
        tracking.set_steps(steps);
    }
    steps
}

/// Parks until the next frame is due, or new landmarks are out: those are drawn at once (the
/// frame after follows a period later), which saves up to a period of latency. So is a new
/// VMC frame, but no sooner than 3/4 of a period after the last drawing: a performer may send
/// faster than OBS shows frames, and frames OBS never shows are not drawn. When to draw.
fn wait_for_next(
    ctl: &RenderControl,
    (motion, draw_every): (&Motion, u32),
    (vmc, vmc_in): (&VmcLink, Option<&VmcControl>),
    last_draw: Instant,
    next_frame: Instant,
) -> Instant {
    let period = ctl.period(draw_every);
    // Stepped back to fewer drawn frames: new landmarks wait as long as a VMC frame does.
    let landmarks_wait = match draw_every {
        1 => Duration::ZERO,
        _ => period * 3 / 4,
    };
    while !ctl.core.stopped() {
        let now = Instant::now();
        if now >= next_frame {
            break;
        }
        let since = now.duration_since(last_draw);
        let vmc_due = vmc.has_new(vmc_in) && since >= period * 3 / 4;
        if (motion.has_new_landmarks(ctl) && since >= landmarks_wait) || vmc_due {
            return now;
        }
        thread::park_timeout(next_frame - now);
    }
    next_frame
}

/// How long without landmarks before the solver is told that nothing is seen (it then eases
/// every part to idle): a camera unplugged, a source hidden, a frozen stream.
const NOTHING_SEEN_AFTER: Duration = Duration::from_millis(250);

/// The tracked motion: a solver for the current avatar and its poses on a timeline, sampled
/// at render time so the avatar moves every frame whatever the tracker's rate.
#[derive(Default)]
struct Motion {
    solver: Option<(u64, SolverSettings, Solver)>,
    timeline: PoseTimeline,
    seen: u64,
    last_landmarks: Option<Instant>,
    camera: Option<CameraTimes>,
}

impl Motion {
    /// Whether the tracker has landmarks this motion has not solved yet.
    fn has_new_landmarks(&self, ctl: &RenderControl) -> bool {
        ctl.tracking()
            .is_some_and(|t| t.landmarks_seq() > self.seen)
    }

    /// The pose to draw now and the times of its camera frame; None without a tracker.
    fn update(
        &mut self,
        ctl: &RenderControl,
        avatar: u64,
        scene: &AvatarScene,
        now: Instant,
    ) -> Option<(crate::pose::AvatarPose, Option<CameraTimes>)> {
        let Some(tracking) = ctl.tracking() else {
            *self = Motion::default();
            return None;
        };
        tracking.wake_me_on_landmarks();
        let settings = *ctl.solver_settings.lock();
        match &mut self.solver {
            Some((generation, current, solver)) if *generation == avatar => {
                if *current != settings {
                    solver.set_settings(settings);
                    *current = settings;
                }
            }
            _ => {
                let rig = scene
                    .renderer
                    .model()
                    .humanoid
                    .as_ref()
                    .map(|h| NormalizedRig::new(&scene.renderer.model().nodes, h));
                let solver = Solver::new(&rig.unwrap_or_default(), settings);
                self.solver = Some((avatar, settings, solver));
            }
        }
        let (_, _, solver) = self.solver.as_mut().expect("set above");
        if ctl.reset.swap(false, Ordering::AcqRel) {
            solver.reset();
            self.timeline.clear();
        }
        if ctl.calibrate.swap(false, Ordering::AcqRel) {
            solver.calibrate();
        }
        if let Some((seq, tracked)) = tracking.landmarks_newer_than(self.seen) {
            self.seen = seq;
            self.timeline
                .push(solver.solve(&tracked.landmarks, tracked.width, tracked.height));
            self.last_landmarks = Some(now);
            self.camera = Some(CameraTimes {
                from_vmc: false,
                arrived: tracked.arrived,
                tracked: tracked.tracked,
            });
        } else if self
            .last_landmarks
            .is_none_or(|t| now.duration_since(t) > NOTHING_SEEN_AFTER)
        {
            let nothing = LandmarkFrame {
                t_ms: clock_ms(now),
                ..LandmarkFrame::default()
            };
            self.timeline.push(solver.solve(&nothing, 1, 1));
            self.camera = None;
        }
        let pose = self.timeline.sample(clock_ms(now))?;
        Some((pose, self.camera))
    }
}

/// The avatar the worker draws, reloaded when the control's choice changes.
#[derive(Default)]
struct Avatar {
    scene: Option<AvatarScene>,
    generation: u64,
    /// How high the hips stand at rest (animation clips scale their hips' motion to it).
    hips_height: Option<f32>,
    /// Where its bones sit at rest, for VMC in and out.
    vmc_rest: Rest,
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
        let limits = gpu.device.limits();
        let budget = crate::vrm::Budget::for_device(
            limits.max_buffer_size,
            limits.max_storage_buffer_binding_size,
        );
        let load = |path: Option<&std::path::Path>| {
            crate::default_avatar::load_avatar_within(path, &budget)
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
                *ctl.title.lock() = title.to_string();
                self.hips_height = crate::vrm::animation::rest_hips_height(scene.renderer.model());
                self.vmc_rest = Rest::of(scene.renderer.model());
                ctl.direction.report(AvatarEvent::AvatarLoaded {
                    vrm_path: path
                        .as_ref()
                        .map_or(String::new(), |p| p.display().to_string()),
                    ok: true,
                    error: None,
                });
                let names = scene
                    .renderer
                    .model()
                    .expressions
                    .names()
                    .map(String::from)
                    .collect();
                let mut expressions = ctl.expressions.lock();
                *expressions = (expressions.0 + 1, names);
                ctl.core
                    .set_status(format!("rendering {} on {adapter}", shown(&path)));
                self.scene = Some(scene);
            }
            Err(err) => {
                let keeping = if self.scene.is_some() {
                    "the previous avatar stays"
                } else {
                    "showing the built-in avatar"
                };
                log::error!("cannot load the avatar {}: {err}; {keeping}", shown(&path));
                ctl.direction.report(AvatarEvent::AvatarLoaded {
                    vrm_path: path
                        .as_ref()
                        .map_or(String::new(), |p| p.display().to_string()),
                    ok: false,
                    error: Some(err.to_string()),
                });
                ctl.core
                    .set_status(format!("error: cannot load {}: {err}", shown(&path)));
                if self.scene.is_none() {
                    self.scene = load(None).ok();
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "render_worker_tests.rs"]
mod tests;
