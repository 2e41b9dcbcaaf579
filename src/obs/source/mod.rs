//! The `vrm_avatar_source` video source. One `Source` per OBS source, shared by OBS's threads:
//! `update`/`get_properties` (UI thread) only change the render control, `video_render`
//! (graphics thread) only uploads the newest finished frame, and nothing waits for the worker.

mod properties;
mod read;
mod requests;
mod telemetry;

pub use requests::execute;

use properties::{get_defaults, get_properties};
use read::{apply_tracking, output_fps, read_size, read_vrm_path};
use telemetry::{GraphicsTime, LatencyLog, Timed};

use super::hotkeys::ExpressionHotkeys;
use super::tracking_input::Input;
use super::voice_input::VoiceInput;
use super::{ffi, guard, text::text};
use crate::frame::RgbaFrame;
use crate::pipeline::{
    Latest, RenderControl, VmcControl, VoiceControl, spawn_render_worker, spawn_vmc_worker,
    spawn_voice_worker,
};
use crate::settings;
use crate::tracking::holistic::TrackingMode;
use parking_lot::Mutex;
use std::ffi::c_void;
use std::ptr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

struct Source {
    control: Arc<RenderControl>,
    frames: Arc<Latest<RgbaFrame>>,
    worker: Option<JoinHandle<()>>,
    /// What the settings ask to track (set by `update`, followed by `video_tick`).
    wanted: Mutex<(settings::Input, TrackingMode)>,
    /// The tracked input; only `video_tick` (graphics thread) and `destroy` touch it.
    input: Arc<Mutex<Input>>,
    /// Camera-to-texture latency of the frames drawn lately (graphics thread).
    latency: Mutex<LatencyLog>,
    /// Time this source takes from OBS's graphics thread (tick + render) per frame.
    graphics_time: Mutex<GraphicsTime>,
    /// Touched only on the graphics thread (video_render, and destroy inside obs_enter_graphics).
    gfx: Mutex<Gfx>,
    /// This source in OBS (for its hotkeys).
    obs_source: SourcePtr,
    /// Touched on the graphics thread (video_tick) and in destroy only, and never locked
    /// while OBS's hotkey functions run: OBS calls hotkey callbacks under its own hotkey lock,
    /// and one that updates this source must not wait for us.
    hotkeys: Mutex<ExpressionHotkeys>,
    /// Whether the expression hotkeys hold (shared with them; set by update without a lock).
    hotkey_hold: Arc<std::sync::atomic::AtomicBool>,
    /// The voice worker, the name of the source whose sound it hears (set by `update`), and
    /// the hearing itself (only `video_tick` and `destroy` touch it).
    voice: Arc<VoiceControl>,
    voice_worker: Option<JoinHandle<()>>,
    wanted_voice: Mutex<String>,
    voice_input: Arc<Mutex<VoiceInput>>,
    /// Whether a person was tracked at the last tick (for `TrackingChanged`).
    tracking_seen: Mutex<Option<bool>>,
    /// The avatar's own speech (control API `Speak`), made on the first one.
    speech: Arc<Mutex<Option<super::speech::Speech>>>,
    /// The speech's loudness (setting `speech_volume`), for a speech made later.
    speech_volume: Mutex<f32>,
    /// The VMC receiver (listening only with `input_kind` = `vmc`).
    vmc: Arc<VmcControl>,
    vmc_worker: Option<JoinHandle<()>>,
}

/// The OBS source a `Source` belongs to; valid from create to destroy.
struct SourcePtr(*mut ffi::obs_source_t);

// SAFETY: libobs sources may be referenced from any thread while they exist.
unsafe impl Send for SourcePtr {}
unsafe impl Sync for SourcePtr {}

/// The source's textures on OBS's graphics thread: two, written in turn, so that a new frame
/// never goes into the texture the last frame's drawing may still read (a software OpenGL
/// driver would wait for that drawing to finish).
struct Gfx {
    textures: [*mut ffi::gs_texture_t; 2],
    /// The texture drawn now (the other one takes the next frame).
    current: usize,
    size: (u32, u32),
    /// The part of the current texture that shows ([`RgbaFrame::covered`]).
    covered: [u32; 4],
    seen: u64,
}

// SAFETY: the texture pointers are only used on OBS's graphics thread (see `Source::gfx`).
unsafe impl Send for Gfx {}

impl Gfx {
    /// Destroys the textures there are and forgets them.
    ///
    /// # Safety
    /// Inside OBS's graphics context.
    unsafe fn destroy_textures(&mut self) {
        for texture in &mut self.textures {
            if !texture.is_null() {
                // SAFETY: a texture this source created, destroyed once (then forgotten).
                unsafe { ffi::gs_texture_destroy(*texture) };
            }
            *texture = ptr::null_mut();
        }
    }
}

pub fn register() {
    let info = ffi::obs_source_info {
        id: settings::SOURCE_ID.as_ptr(),
        type_: ffi::obs_source_type_OBS_SOURCE_TYPE_INPUT,
        output_flags: ffi::OBS_SOURCE_VIDEO | ffi::OBS_SOURCE_CUSTOM_DRAW | ffi::OBS_SOURCE_SRGB,
        get_name: Some(get_name),
        create: Some(create),
        destroy: Some(destroy),
        get_width: Some(get_width),
        get_height: Some(get_height),
        get_defaults: Some(get_defaults),
        get_properties: Some(get_properties),
        update: Some(update),
        show: Some(show),
        hide: Some(hide),
        video_render: Some(video_render),
        video_tick: Some(video_tick),
        icon_type: ffi::obs_icon_type_OBS_ICON_TYPE_CAMERA,
        ..Default::default()
    };
    // SAFETY: libobs copies the struct; the id string is static.
    unsafe { ffi::obs_register_source_s(&info, size_of::<ffi::obs_source_info>()) };
    // SAFETY: text() returns a valid C string that lives until the locale changes.
    let name = unsafe { std::ffi::CStr::from_ptr(text(c"VRMAvatar")) };
    log::info!(
        "registered source '{}' ({})",
        name.to_string_lossy(),
        settings::SOURCE_ID.to_string_lossy()
    );
}

/// # Safety
/// `data` is null or a pointer returned by `create` and not yet destroyed.
unsafe fn source<'a>(data: *mut c_void) -> Option<&'a Source> {
    // SAFETY: per the contract.
    unsafe { (data as *const Source).as_ref() }
}

unsafe extern "C" fn get_name(_type_data: *mut c_void) -> *const std::ffi::c_char {
    guard("get_name", c"VRM Avatar".as_ptr(), || text(c"VRMAvatar"))
}

unsafe extern "C" fn create(
    settings: *mut ffi::obs_data_t,
    obs_source: *mut ffi::obs_source_t,
) -> *mut c_void {
    guard("create", ptr::null_mut(), || {
        let (width, height) = read_size(settings);
        let control = RenderControl::new(width, height, output_fps());
        control.set_vrm_path(read_vrm_path(settings));
        let frames = Arc::new(Latest::default());
        let worker = match spawn_render_worker(Arc::clone(&control), Arc::clone(&frames)) {
            Ok(handle) => Some(handle),
            Err(err) => {
                log::error!("cannot start the render thread: {err}");
                None
            }
        };
        log::info!("source created at {width}x{height}");
        let gfx = Mutex::new(Gfx {
            textures: [ptr::null_mut(); 2],
            current: 0,
            size: (0, 0),
            covered: [0; 4],
            seen: 0,
        });
        let hotkey_hold = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let voice = VoiceControl::new();
        let voice_worker = match spawn_voice_worker(Arc::clone(&voice)) {
            Ok(handle) => Some(handle),
            Err(err) => {
                log::error!("cannot start the voice thread: {err}");
                None
            }
        };
        control.set_voice(Some(Arc::clone(&voice)));
        let vmc = VmcControl::new();
        let vmc_worker = match spawn_vmc_worker(Arc::clone(&vmc)) {
            Ok(handle) => Some(handle),
            Err(err) => {
                log::error!("cannot start the VMC thread: {err}");
                None
            }
        };
        control.set_vmc_input(Some(Arc::clone(&vmc)));
        let source = Source {
            control,
            frames,
            worker,
            wanted: Mutex::new((settings::Input::None, TrackingMode::UpperBodyHands)),
            input: super::tracking_input::new_input(),
            latency: Mutex::new(LatencyLog::default()),
            graphics_time: Mutex::new(GraphicsTime::default()),
            gfx,
            obs_source: SourcePtr(obs_source),
            hotkeys: Mutex::new(ExpressionHotkeys::new(Arc::clone(&hotkey_hold))),
            hotkey_hold,
            voice,
            voice_worker,
            wanted_voice: Mutex::new(String::new()),
            voice_input: super::voice_input::new_voice_input(),
            tracking_seen: Mutex::new(None),
            speech: super::speech::new_slot(),
            speech_volume: Mutex::new(1.0),
            vmc,
            vmc_worker,
        };
        apply_tracking(&source, settings);
        Box::into_raw(Box::new(source)) as *mut c_void
    })
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    guard("destroy", (), || {
        if data.is_null() {
            return;
        }
        // SAFETY: OBS calls destroy once, after every other callback of this source.
        let mut source = unsafe { Box::from_raw(data as *mut Source) };
        source.control.stop();
        source.input.lock().detach();
        source.voice_input.lock().detach();
        source.speech.lock().take();
        source.voice.stop();
        source.vmc.stop();
        source.hotkeys.get_mut().unregister();
        if let Some(worker) = source.worker.take() {
            crate::pipeline::worker::retire("render", worker);
        }
        if let Some(worker) = source.voice_worker.take() {
            crate::pipeline::worker::retire("voice", worker);
        }
        if let Some(worker) = source.vmc_worker.take() {
            crate::pipeline::worker::retire("VMC", worker);
        }
        let gfx = source.gfx.get_mut();
        if gfx.textures.iter().any(|t| !t.is_null()) {
            // SAFETY: textures are destroyed inside the graphics context.
            unsafe {
                ffi::obs_enter_graphics();
                gfx.destroy_textures();
                ffi::obs_leave_graphics();
            }
        }
    })
}

unsafe extern "C" fn get_width(data: *mut c_void) -> u32 {
    // SAFETY: data comes from create.
    guard("get_width", 0, || {
        unsafe { source(data) }.map_or(0, |s| s.control.size().0)
    })
}

unsafe extern "C" fn get_height(data: *mut c_void) -> u32 {
    // SAFETY: data comes from create.
    guard("get_height", 0, || {
        unsafe { source(data) }.map_or(0, |s| s.control.size().1)
    })
}

unsafe extern "C" fn update(data: *mut c_void, settings: *mut ffi::obs_data_t) {
    guard("update", (), || {
        // SAFETY: data comes from create.
        if let Some(source) = unsafe { source(data) } {
            let (width, height) = read_size(settings);
            source.control.set_size(width, height);
            source.control.set_vrm_path(read_vrm_path(settings));
            apply_tracking(source, settings);
        }
    })
}

unsafe extern "C" fn show(data: *mut c_void) {
    // SAFETY: data comes from create.
    guard("show", (), || {
        unsafe { source(data) }
            .into_iter()
            .for_each(|s| s.control.set_active(true))
    })
}

unsafe extern "C" fn hide(data: *mut c_void) {
    // SAFETY: data comes from create.
    guard("hide", (), || {
        unsafe { source(data) }
            .into_iter()
            .for_each(|s| s.control.set_active(false))
    })
}

unsafe extern "C" fn video_tick(data: *mut c_void, _seconds: f32) {
    guard("video_tick", (), || {
        let started = Instant::now();
        // SAFETY: data comes from create; graphics thread.
        let Some(source) = (unsafe { source(data) }) else {
            return;
        };
        let _timed = Timed(started, |spent| source.graphics_time.lock().tick = spent);
        // The render rate follows OBS's frame rate (Settings -> Video may change it).
        source.control.set_fps(output_fps());
        // How OBS's own frames go, for stepping back before OBS misses one (plain reads).
        // SAFETY: libobs getters of plain counters, valid while OBS runs.
        source.control.obs_load.store(unsafe {
            crate::pipeline::ObsLoad {
                interval_ns: ffi::obs_get_frame_interval_ns(),
                frame_ns: ffi::obs_get_average_frame_time_ns(),
                lagged: ffi::obs_get_lagged_frames() as u64,
            }
        });
        let (wanted, mode) = source.wanted.lock().clone();
        let tracker = source
            .input
            .lock()
            .tick(&wanted, mode, source.control.is_active());
        let current = source.control.tracking();
        let same = match (&tracker, &current) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            source.control.set_tracking(tracker);
        }
        let wanted_voice = source.wanted_voice.lock().clone();
        source.voice_input.lock().tick(&wanted_voice, &source.voice);
        send_events(source);
        // Only when the avatar changed, and out of the lock while OBS registers hotkeys
        // (see `Source::hotkeys`).
        if !source.hotkeys.lock().is_current(&source.control) {
            let mut hotkeys = std::mem::take(&mut *source.hotkeys.lock());
            hotkeys.sync(source.obs_source.0, &source.control);
            *source.hotkeys.lock() = hotkeys;
        }
    })
}

/// The avatar's events since the last tick, and `TrackingChanged` when a person is found or
/// lost, to obs-websocket's clients.
fn send_events(source: &Source) {
    use super::speech::SpeechEvent;
    use crate::pipeline::AvatarEvent;
    use serde_json::json;
    let events = source.control.direction.take_events();
    // Never waits: a `Speak` holds the speech while it makes or changes it (OBS calls); this
    // tick then skips it, and the next one catches up.
    let mut spoken = Vec::new();
    if let Some(mut slot) = source.speech.try_lock()
        && let Some(speech) = slot.as_mut()
    {
        speech.set_volume(*source.speech_volume.lock());
        let (playing, happened) = speech.tick();
        source.control.set_speech_playing(playing);
        spoken = happened;
    }
    let tracking = requests::tracking(source);
    let changed = source.tracking_seen.lock().replace(tracking) == Some(!tracking);
    if events.is_empty() && spoken.is_empty() && !changed {
        return;
    }
    let name = requests::name_of(source);
    for event in events {
        match event {
            AvatarEvent::AvatarLoaded {
                vrm_path,
                ok,
                error,
            } => super::vendor_events::emit(
                c"AvatarLoaded",
                &json!({"source": name, "vrm_path": vrm_path, "ok": ok, "error": error}),
            ),
            AvatarEvent::AnimationEnded { file } => super::vendor_events::emit(
                c"AnimationEnded",
                &json!({"source": name, "file": file}),
            ),
        }
    }
    for event in spoken {
        let (kind, file) = match event {
            SpeechEvent::Started(file) => (c"SpeechStarted", file),
            SpeechEvent::Ended(file) => (c"SpeechEnded", file),
        };
        super::vendor_events::emit(kind, &json!({"source": name, "file": file}));
    }
    if changed {
        super::vendor_events::emit(
            c"TrackingChanged",
            &json!({"source": name, "tracking": tracking}),
        );
    }
}

unsafe extern "C" fn video_render(data: *mut c_void, _effect: *mut ffi::gs_effect_t) {
    guard("video_render", (), || {
        let started = Instant::now();
        // SAFETY: data comes from create; we are on the graphics thread inside its context.
        let Some(source) = (unsafe { source(data) }) else {
            return;
        };
        let _timed = Timed(started, |spent| {
            source.graphics_time.lock().record_render(spent)
        });
        let mut gfx = source.gfx.lock();
        if let Some((seq, frame)) = source.frames.newer_than(gfx.seen) {
            gfx.seen = seq;
            unsafe { upload(&mut gfx, &frame) };
            if frame.camera.is_some() {
                source.latency.lock().record(&frame, &source.control);
            }
        }
        let texture = gfx.textures[gfx.current];
        if !texture.is_null() {
            unsafe { draw(texture, gfx.size, gfx.covered, source.control.size()) };
        }
    })
}

/// Copies a finished frame into the source's spare texture and draws that one from now on
/// (graphics thread).
unsafe fn upload(gfx: &mut Gfx, frame: &RgbaFrame) {
    // SAFETY: graphics thread, inside the graphics context (video_render).
    unsafe {
        if gfx.size != (frame.width, frame.height) {
            gfx.destroy_textures();
            gfx.size = (frame.width, frame.height);
        }
        let next = 1 - gfx.current;
        if gfx.textures[next].is_null() {
            gfx.textures[next] = ffi::gs_texture_create(
                frame.width,
                frame.height,
                ffi::gs_color_format_GS_RGBA,
                1,
                ptr::null_mut(),
                ffi::GS_DYNAMIC,
            );
            if gfx.textures[next].is_null() {
                log::error!(
                    "OBS could not create a {}x{} texture",
                    frame.width,
                    frame.height
                );
                return;
            }
        }
        ffi::gs_texture_set_image(
            gfx.textures[next],
            frame.pixels.as_ptr(),
            frame.stride,
            false,
        );
        gfx.current = next;
        gfx.covered = frame.covered;
    }
}

/// Draws the part of the premultiplied sRGB texture that shows (`covered`, in texture pixels)
/// where it lies at the source's size, blending in linear light. The transparent rest is not
/// drawn: on a software renderer every blended pixel costs OBS's graphics thread.
unsafe fn draw(
    texture: *mut ffi::gs_texture_t,
    (texture_width, texture_height): (u32, u32),
    [x, y, width, height]: [u32; 4],
    (source_width, source_height): (u32, u32),
) {
    if width == 0 || height == 0 || texture_width == 0 || texture_height == 0 {
        return;
    }
    let scale_x = source_width as f32 / texture_width as f32;
    let scale_y = source_height as f32 / texture_height as f32;
    // SAFETY: graphics thread, inside the graphics context (video_render).
    unsafe {
        let effect = ffi::obs_get_base_effect(ffi::obs_base_effect_OBS_EFFECT_DEFAULT);
        let image = ffi::gs_effect_get_param_by_name(effect, c"image".as_ptr());
        let previous_srgb = ffi::gs_framebuffer_srgb_enabled();
        ffi::gs_enable_framebuffer_srgb(true);
        ffi::gs_blend_state_push();
        ffi::gs_blend_function(
            ffi::gs_blend_type_GS_BLEND_ONE,
            ffi::gs_blend_type_GS_BLEND_INVSRCALPHA,
        );
        ffi::gs_effect_set_texture_srgb(image, texture);
        ffi::gs_matrix_push();
        ffi::gs_matrix_translate3f(x as f32 * scale_x, y as f32 * scale_y, 0.0);
        ffi::gs_matrix_scale3f(scale_x, scale_y, 1.0);
        while ffi::gs_effect_loop(effect, c"Draw".as_ptr()) {
            ffi::gs_draw_sprite_subregion(texture, 0, x, y, width, height);
        }
        ffi::gs_matrix_pop();
        ffi::gs_blend_state_pop();
        ffi::gs_enable_framebuffer_srgb(previous_srgb);
    }
}
