//! The `vrm_avatar_source` video source. One `Source` per OBS source, shared by OBS's threads:
//! `update`/`get_properties` (UI thread) only change the render control, `video_render`
//! (graphics thread) only uploads the newest finished frame, and nothing waits for the worker.

use super::hotkeys::ExpressionHotkeys;
use super::readiness;
use super::tracking_input::{Input, Wanted};
use super::{ffi, guard, text::text};
use crate::frame::RgbaFrame;
use crate::pipeline::{Latest, RenderControl, ViewSettings, spawn_render_worker};
use crate::settings;
use crate::solver::SolverSettings;
use crate::tracking::holistic::TrackingMode;
use parking_lot::Mutex;
use std::ffi::{CStr, CString, c_void};
use std::ptr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

struct Source {
    control: Arc<RenderControl>,
    frames: Arc<Latest<RgbaFrame>>,
    worker: Option<JoinHandle<()>>,
    /// What the settings ask to track (set by `update`, followed by `video_tick`).
    wanted: Mutex<(settings::Input, TrackingMode)>,
    /// The tracked input; only `video_tick` (graphics thread) and `destroy` touch it.
    input: Mutex<Input>,
    /// Camera-to-texture latency of the frames drawn lately (graphics thread).
    latency: Mutex<LatencyLog>,
    /// Time this source takes from OBS's graphics thread (tick + render) per frame.
    graphics_time: Mutex<GraphicsTime>,
    /// Touched only on the graphics thread (video_render, and destroy inside obs_enter_graphics).
    gfx: Mutex<Gfx>,
    /// This source in OBS (for its hotkeys).
    obs_source: SourcePtr,
    hotkeys: Mutex<ExpressionHotkeys>,
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

fn read_vrm_path(settings: *mut ffi::obs_data_t) -> Option<std::path::PathBuf> {
    // SAFETY: settings is the valid obs_data_t that OBS passed to the callback; the returned
    // string lives as long as the settings and is copied at once.
    let value = unsafe { ffi::obs_data_get_string(settings, settings::VRM_PATH.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string from libobs.
    settings::vrm_path(&unsafe { std::ffi::CStr::from_ptr(value) }.to_string_lossy())
}

fn read_size(settings: *mut ffi::obs_data_t) -> (u32, u32) {
    // SAFETY: settings is the valid obs_data_t that OBS passed to the callback.
    unsafe {
        (
            settings::clamp_size(ffi::obs_data_get_int(settings, settings::WIDTH.as_ptr())),
            settings::clamp_size(ffi::obs_data_get_int(settings, settings::HEIGHT.as_ptr())),
        )
    }
}

/// A string setting (empty when unset).
fn read_string(settings: *mut ffi::obs_data_t, key: &CStr) -> String {
    // SAFETY: settings is the valid obs_data_t OBS passed to the callback; the string is copied.
    unsafe {
        let value = ffi::obs_data_get_string(settings, key.as_ptr());
        if value.is_null() {
            String::new()
        } else {
            CStr::from_ptr(value).to_string_lossy().into_owned()
        }
    }
}

/// The input, tracking mode and solver settings the source's settings ask for.
fn read_tracking(
    settings: *mut ffi::obs_data_t,
) -> (settings::Input, TrackingMode, SolverSettings) {
    let input = settings::input(
        &read_string(settings, settings::INPUT_KIND),
        &read_string(settings, settings::INPUT_SOURCE),
        &read_string(settings, settings::CAMERA_DEVICE),
    );
    let mode = TrackingMode::parse(&read_string(settings, settings::TRACKING_MODE))
        .unwrap_or(TrackingMode::UpperBodyHands);
    // SAFETY: as above.
    let (mirror, smoothing) = unsafe {
        (
            ffi::obs_data_get_bool(settings, settings::MIRROR.as_ptr()),
            ffi::obs_data_get_double(settings, settings::SMOOTHING.as_ptr()),
        )
    };
    let solver = SolverSettings {
        mirror,
        smoothing: settings::clamp_smoothing(smoothing),
        ..SolverSettings::default()
    };
    (input, mode, solver)
}

/// Applies what the settings ask for tracking.
/// The framing, lighting and background the settings ask for (out-of-range values clamped).
fn read_view(settings: *mut ffi::obs_data_t) -> ViewSettings {
    // SAFETY: settings is the valid obs_data_t OBS passed to the callback.
    let number = |key: &CStr, lo: f64, hi: f64, default: f32| {
        let v = unsafe { ffi::obs_data_get_double(settings, key.as_ptr()) };
        if v.is_finite() {
            v.clamp(lo, hi) as f32
        } else {
            default
        }
    };
    let d = ViewSettings::default();
    // SAFETY: as above.
    let colour = unsafe { ffi::obs_data_get_int(settings, settings::BACKGROUND_COLOR.as_ptr()) };
    ViewSettings {
        full_body: read_string(settings, settings::FRAMING) == "full_body",
        zoom: number(settings::ZOOM, 0.25, 4.0, d.zoom),
        height_offset: number(settings::CAMERA_HEIGHT, -1.0, 1.0, d.height_offset),
        side_offset: number(settings::CAMERA_OFFSET, -1.0, 1.0, d.side_offset),
        fov_deg: number(settings::FOV_DEG, 10.0, 90.0, d.fov_deg),
        light_yaw_deg: number(settings::LIGHT_YAW_DEG, -180.0, 180.0, d.light_yaw_deg),
        light_pitch_deg: number(settings::LIGHT_PITCH_DEG, -90.0, 90.0, d.light_pitch_deg),
        light_intensity: number(settings::LIGHT_INTENSITY, 0.0, 3.0, d.light_intensity),
        ambient: number(settings::AMBIENT, 0.0, 1.0, d.ambient),
        background: (read_string(settings, settings::BACKGROUND) == "color").then_some([
            colour as u8,
            (colour >> 8) as u8,
            (colour >> 16) as u8,
        ]),
    }
}

fn apply_tracking(source: &Source, settings: *mut ffi::obs_data_t) {
    source.control.set_view(read_view(settings));
    source
        .control
        .set_default_expression(&read_string(settings, settings::DEFAULT_EXPRESSION));
    let hold = read_string(settings, settings::EXPRESSION_HOTKEYS) == "hold";
    source
        .hotkeys
        .lock()
        .hold
        .store(hold, std::sync::atomic::Ordering::Relaxed);
    let (input, mode, solver) = read_tracking(settings);
    source.control.set_solver_settings(solver);
    *source.wanted.lock() = (input, mode);
}

fn output_fps() -> u32 {
    let mut video = ffi::obs_video_info::default();
    // SAFETY: obs_get_video_info fills the struct; it is false when video is not set up.
    if unsafe { ffi::obs_get_video_info(&mut video) } && video.fps_den > 0 {
        video.fps_num.div_ceil(video.fps_den).clamp(1, 240)
    } else {
        30
    }
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
            seen: 0,
        });
        let source = Source {
            control,
            frames,
            worker,
            wanted: Mutex::new((settings::Input::None, TrackingMode::UpperBodyHands)),
            input: Mutex::new(Input::new()),
            latency: Mutex::new(LatencyLog::default()),
            graphics_time: Mutex::new(GraphicsTime::default()),
            gfx,
            obs_source: SourcePtr(obs_source),
            hotkeys: Mutex::new(ExpressionHotkeys::new()),
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
        source.input.get_mut().detach();
        source.hotkeys.get_mut().unregister();
        if let Some(worker) = source.worker.take() {
            crate::pipeline::worker::retire("render", worker);
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

unsafe extern "C" fn get_defaults(settings: *mut ffi::obs_data_t) {
    guard("get_defaults", (), || unsafe {
        // SAFETY: settings is valid for the call.
        ffi::obs_data_set_default_int(
            settings,
            settings::WIDTH.as_ptr(),
            settings::DEFAULT_WIDTH as i64,
        );
        ffi::obs_data_set_default_int(
            settings,
            settings::HEIGHT.as_ptr(),
            settings::DEFAULT_HEIGHT as i64,
        );
        ffi::obs_data_set_default_string(
            settings,
            settings::INPUT_KIND.as_ptr(),
            settings::DEFAULT_INPUT_KIND.as_ptr(),
        );
        ffi::obs_data_set_default_string(
            settings,
            settings::TRACKING_MODE.as_ptr(),
            settings::DEFAULT_TRACKING_MODE.as_ptr(),
        );
        ffi::obs_data_set_default_bool(
            settings,
            settings::MIRROR.as_ptr(),
            settings::DEFAULT_MIRROR,
        );
        ffi::obs_data_set_default_double(
            settings,
            settings::SMOOTHING.as_ptr(),
            settings::DEFAULT_SMOOTHING,
        );
        ffi::obs_data_set_default_string(
            settings,
            settings::EXPRESSION_HOTKEYS.as_ptr(),
            c"toggle".as_ptr(),
        );
        let view = ViewSettings::default();
        ffi::obs_data_set_default_string(
            settings,
            settings::FRAMING.as_ptr(),
            c"upper_body".as_ptr(),
        );
        ffi::obs_data_set_default_string(
            settings,
            settings::BACKGROUND.as_ptr(),
            c"transparent".as_ptr(),
        );
        ffi::obs_data_set_default_int(settings, settings::BACKGROUND_COLOR.as_ptr(), 0xFF00_FF00);
        for (key, value) in [
            (settings::ZOOM, view.zoom),
            (settings::CAMERA_HEIGHT, view.height_offset),
            (settings::CAMERA_OFFSET, view.side_offset),
            (settings::FOV_DEG, view.fov_deg),
            (settings::LIGHT_YAW_DEG, view.light_yaw_deg),
            (settings::LIGHT_PITCH_DEG, view.light_pitch_deg),
            (settings::LIGHT_INTENSITY, view.light_intensity),
            (settings::AMBIENT, view.ambient),
        ] {
            ffi::obs_data_set_default_double(settings, key.as_ptr(), value as f64);
        }
    })
}

unsafe extern "C" fn get_properties(data: *mut c_void) -> *mut ffi::obs_properties_t {
    guard("get_properties", ptr::null_mut(), || unsafe {
        // SAFETY: every call gets valid C strings; OBS copies names and descriptions.
        let props = ffi::obs_properties_create();
        ffi::obs_properties_add_path(
            props,
            settings::VRM_PATH.as_ptr(),
            text(c"VRMFile"),
            ffi::obs_path_type_OBS_PATH_FILE,
            text(c"VRMFileFilter"),
            ptr::null(),
        );
        let (min, max) = (settings::MIN_SIZE as i32, settings::MAX_SIZE as i32);
        ffi::obs_properties_add_int(props, settings::WIDTH.as_ptr(), text(c"Width"), min, max, 2);
        ffi::obs_properties_add_int(
            props,
            settings::HEIGHT.as_ptr(),
            text(c"Height"),
            min,
            max,
            2,
        );
        add_tracking_properties(props);
        add_view_properties(props);
        if let Some(source) = source(data) {
            add_expression_properties(props, &source.control.expressions().1);
            add_status(props, c"status", c"Status", &source.status_line(), false);
        }
        let tracking = readiness::status();
        let unavailable = matches!(tracking, readiness::Readiness::Unavailable(_));
        add_status(
            props,
            c"tracking_status",
            c"Tracking",
            &tracking.text(),
            unavailable,
        );
        props
    })
}

/// A read-only line "<localized label>: <text>", styled as an error when `error`.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
unsafe fn add_status(
    props: *mut ffi::obs_properties_t,
    name: &CStr,
    label_key: &'static CStr,
    status: &str,
    error: bool,
) {
    // SAFETY: text() returns a valid C string; OBS copies the name and description.
    unsafe {
        let label = CStr::from_ptr(text(label_key)).to_string_lossy();
        let line = CString::new(format!("{label}: {status}").replace('\0', " "))
            .expect("NULs were replaced");
        let property = ffi::obs_properties_add_text(
            props,
            name.as_ptr(),
            line.as_ptr(),
            ffi::obs_text_type_OBS_TEXT_INFO,
        );
        if error {
            ffi::obs_property_text_set_info_type(
                property,
                ffi::obs_text_info_type_OBS_TEXT_INFO_ERROR,
            );
        }
    }
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
        let (wanted, mode) = source.wanted.lock().clone();
        let wanted = match wanted {
            settings::Input::Source(name) => Some(Wanted::Source(name)),
            settings::Input::Camera(device) => Some(Wanted::Camera(device)),
            settings::Input::None => None,
        };
        let tracker = source
            .input
            .lock()
            .tick(wanted.as_ref(), mode, source.control.is_active());
        let current = source.control.tracking();
        let same = match (&tracker, &current) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            source.control.set_tracking(tracker);
        }
        source
            .hotkeys
            .lock()
            .sync(source.obs_source.0, &source.control);
    })
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
            let (width, height) = source.control.size();
            unsafe { draw(texture, width, height) };
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
    }
}

/// Draws the premultiplied sRGB texture at the source's size, blending in linear light.
unsafe fn draw(texture: *mut ffi::gs_texture_t, width: u32, height: u32) {
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
        while ffi::gs_effect_loop(effect, c"Draw".as_ptr()) {
            ffi::gs_draw_sprite(texture, 0, width, height);
        }
        ffi::gs_blend_state_pop();
        ffi::gs_enable_framebuffer_srgb(previous_srgb);
    }
}

impl Source {
    /// The status line: the renderer's state, then what is tracked, how fast and how late.
    fn status_line(&self) -> String {
        let mut line = self.control.status();
        let (wanted, _) = self.wanted.lock().clone();
        match (wanted, self.control.tracking()) {
            (settings::Input::None, _) => line.push_str("; no tracking input (idle motion)"),
            (settings::Input::Camera(_), None) => {
                line.push_str("; no camera found (idle motion until one is plugged in)")
            }
            (settings::Input::Source(name), None) => {
                line.push_str(&format!("; the source '{name}' is not found"))
            }
            (_, Some(tracking)) => {
                line.push_str(&format!("; {}", tracking_summary(&tracking)));
                // try_lock: the graphics thread holds it only for a moment; never wait here.
                // The latency of frames drawn before an input fell silent is not news.
                if let Some(trouble) = self.input.try_lock().and_then(|i| i.trouble()) {
                    line.push_str(&format!("; {trouble}"));
                } else if let Some(latency) = self.latency.lock().summary() {
                    line.push_str(&format!("; {latency}"));
                }
            }
        }
        line
    }
}

/// "tracking 24.8 fps (face, body, right hand)" or the tracker's error.
fn tracking_summary(tracking: &crate::pipeline::TrackingControl) -> String {
    let status = tracking.status();
    if status.starts_with("error") {
        return status;
    }
    let stats = tracking.stats();
    let parts: Vec<&str> = [
        (stats.face, "face"),
        (stats.body, "body"),
        (stats.left_hand, "left hand"),
        (stats.right_hand, "right hand"),
    ]
    .into_iter()
    .filter_map(|(seen, name)| seen.then_some(name))
    .collect();
    let seen = if parts.is_empty() {
        "nobody in view".to_string()
    } else {
        parts.join(", ")
    };
    format!("{status} {:.1} fps ({seen})", stats.fps)
}

/// Runs its closure with the time since its start when dropped: times a callback whatever
/// path it returns by.
struct Timed<F: FnMut(Duration)>(Instant, F);

impl<F: FnMut(Duration)> Drop for Timed<F> {
    fn drop(&mut self) {
        (self.1)(self.0.elapsed());
    }
}

/// The time OBS's graphics thread spends in this source per frame (its tick and its render),
/// over the last 300 frames; logged every few seconds, for the "under 1 ms" budget.
#[derive(Default)]
struct GraphicsTime {
    /// The last tick's duration, added to the next render's.
    tick: Duration,
    /// Milliseconds per frame: total, tick, render.
    samples: std::collections::VecDeque<[f32; 3]>,
    last_log: Option<Instant>,
}

impl GraphicsTime {
    fn record_render(&mut self, render: Duration) {
        let ms = |d: Duration| d.as_secs_f32() * 1000.0;
        let tick = std::mem::take(&mut self.tick);
        self.samples
            .push_back([ms(tick + render), ms(tick), ms(render)]);
        while self.samples.len() > 300 {
            self.samples.pop_front();
        }
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LATENCY_LOG_EVERY)
        {
            self.last_log = Some(now);
            let at = |column: usize, q: f32| quantile(self.samples.iter().map(|s| s[column]), q);
            log::info!(
                "graphics thread time per frame: mean {:.3} ms, p50 {:.3} ms, p95 {:.3} ms ({} frames; 95th percentile of the tick {:.3} ms, of the render {:.3} ms)",
                self.samples.iter().map(|s| s[0]).sum::<f32>() / self.samples.len() as f32,
                at(0, 0.5),
                at(0, 0.95),
                self.samples.len(),
                at(1, 0.95),
                at(2, 0.95),
            );
        }
    }
}

/// Camera-to-texture latency, measured: from a camera frame's arrival in the plugin to the
/// upload of the first avatar frame drawn from it, over the last few seconds, with where the
/// time went.
#[derive(Default)]
struct LatencyLog {
    /// Milliseconds: total, then the stages of [`LatencyLog::STAGES`].
    samples: std::collections::VecDeque<[f32; 5]>,
    last_log: Option<Instant>,
}

/// How often the latency and tracking figures go to the OBS log.
const LATENCY_LOG_EVERY: Duration = Duration::from_secs(5);

impl LatencyLog {
    const STAGES: [&str; 4] = ["tracking", "waiting to draw", "drawing", "waiting for OBS"];

    fn record(&mut self, frame: &RgbaFrame, control: &RenderControl) {
        let Some(camera) = frame.camera else {
            return;
        };
        let now = Instant::now();
        let ms =
            |from: Instant, to: Instant| to.saturating_duration_since(from).as_secs_f32() * 1000.0;
        self.samples.push_back([
            ms(camera.arrived, now),
            ms(camera.arrived, camera.tracked),
            ms(camera.tracked, frame.started),
            ms(frame.started, frame.finished),
            ms(frame.finished, now),
        ]);
        while self.samples.len() > 300 {
            self.samples.pop_front();
        }
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LATENCY_LOG_EVERY)
        {
            self.last_log = Some(now);
            if let (Some(summary), Some(tracking)) = (self.summary(), control.tracking()) {
                log::info!(
                    "{}; {summary}; {}",
                    tracking_summary(&tracking),
                    self.stages()
                );
            }
        }
    }

    /// "camera-to-texture latency p50 62 ms, p95 88 ms (120 frames)".
    fn summary(&self) -> Option<String> {
        if self.samples.is_empty() {
            return None;
        }
        Some(format!(
            "camera-to-texture latency p50 {:.0} ms, p95 {:.0} ms ({} frames)",
            self.quantile(0, 0.5),
            self.quantile(0, 0.95),
            self.samples.len()
        ))
    }

    /// "p50 by stage: tracking 40 ms, waiting to draw 10 ms, ...", for the log.
    fn stages(&self) -> String {
        let stages: Vec<String> = Self::STAGES
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{name} {:.0} ms", self.quantile(i + 1, 0.5)))
            .collect();
        format!("p50 by stage: {}", stages.join(", "))
    }

    fn quantile(&self, column: usize, q: f32) -> f32 {
        quantile(self.samples.iter().map(|s| s[column]), q)
    }
}

/// The `q` quantile (0..1, nearest rank) of `values`, which must not be empty.
fn quantile(values: impl Iterator<Item = f32>, q: f32) -> f32 {
    let mut sorted: Vec<f32> = values.collect();
    sorted.sort_by(f32::total_cmp);
    sorted[((sorted.len() - 1) as f32 * q).round() as usize]
}

/// The tracking properties: input kind and source, mode, mirror, smoothing, calibrate, reset.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
unsafe fn add_tracking_properties(props: *mut ffi::obs_properties_t) {
    // SAFETY: OBS copies every name, description and item; the strings are valid C strings.
    unsafe {
        add_choice(
            props,
            settings::INPUT_KIND,
            c"InputKind",
            &[
                (c"camera", c"InputKind.Camera"),
                (c"source", c"InputKind.Source"),
                (c"none", c"InputKind.None"),
            ],
        );
        let cameras = add_choice(
            props,
            settings::CAMERA_DEVICE,
            c"CameraDevice",
            &[(c"", c"CameraDevice.First")],
        );
        add_items(cameras, super::tracking_input::cameras());
        let sources = add_choice(props, settings::INPUT_SOURCE, c"InputSource", &[]);
        add_items(
            sources,
            video_source_names().into_iter().map(|n| (n.clone(), n)),
        );
        add_choice(
            props,
            settings::TRACKING_MODE,
            c"TrackingMode",
            &[
                (c"face", c"TrackingMode.Face"),
                (c"upper_body", c"TrackingMode.UpperBody"),
                (c"upper_body_hands", c"TrackingMode.UpperBodyHands"),
                (c"full_body", c"TrackingMode.FullBody"),
            ],
        );
        ffi::obs_properties_add_bool(props, settings::MIRROR.as_ptr(), text(c"Mirror"));
        ffi::obs_properties_add_float_slider(
            props,
            settings::SMOOTHING.as_ptr(),
            text(c"Smoothing"),
            0.0,
            1.0,
            0.05,
        );
        ffi::obs_properties_add_button(
            props,
            c"calibrate".as_ptr(),
            text(c"Calibrate"),
            Some(calibrate_clicked),
        );
        ffi::obs_properties_add_button(
            props,
            c"reset".as_ptr(),
            text(c"Reset"),
            Some(reset_clicked),
        );
    }
}

/// Names of the OBS sources that give async video (cameras, media): what can be tracked.
fn video_source_names() -> Vec<String> {
    unsafe extern "C" fn collect(param: *mut c_void, source: *mut ffi::obs_source_t) -> bool {
        // SAFETY: param is the Vec passed below; source is valid during the enumeration.
        unsafe {
            let names = &mut *(param as *mut Vec<String>);
            let flags = ffi::obs_source_get_output_flags(source);
            if flags & ffi::OBS_SOURCE_ASYNC_VIDEO == ffi::OBS_SOURCE_ASYNC_VIDEO {
                let name = ffi::obs_source_get_name(source);
                if !name.is_null() {
                    names.push(CStr::from_ptr(name).to_string_lossy().into_owned());
                }
            }
        }
        true
    }
    let mut names: Vec<String> = Vec::new();
    // SAFETY: the callback only reads each source and pushes into `names`, which outlives the call.
    unsafe { ffi::obs_enum_sources(Some(collect), &mut names as *mut Vec<String> as *mut c_void) };
    names
}

unsafe extern "C" fn calibrate_clicked(
    _props: *mut ffi::obs_properties_t,
    _property: *mut ffi::obs_property_t,
    data: *mut c_void,
) -> bool {
    guard("calibrate", false, || {
        // SAFETY: OBS passes the source's data to its properties' buttons.
        if let Some(source) = unsafe { source(data) } {
            source.control.calibrate();
            log::info!("calibrating on the next frame (neutral face, open hands)");
        }
        false
    })
}

unsafe extern "C" fn reset_clicked(
    _props: *mut ffi::obs_properties_t,
    _property: *mut ffi::obs_property_t,
    data: *mut c_void,
) -> bool {
    guard("reset", false, || {
        // SAFETY: as above.
        if let Some(source) = unsafe { source(data) } {
            source.control.reset();
            log::info!("tracking reset: calibration forgotten");
        }
        false
    })
}

/// The expression shown by default and how the expression hotkeys work.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
unsafe fn add_expression_properties(props: *mut ffi::obs_properties_t, names: &[String]) {
    // SAFETY: per the contract.
    unsafe {
        let list = add_choice(
            props,
            settings::DEFAULT_EXPRESSION,
            c"DefaultExpression",
            &[(c"", c"DefaultExpression.None")],
        );
        add_items(list, names.iter().map(|n| (n.clone(), n.clone())));
        add_choice(
            props,
            settings::EXPRESSION_HOTKEYS,
            c"ExpressionHotkeys",
            &[
                (c"toggle", c"ExpressionHotkeys.Toggle"),
                (c"hold", c"ExpressionHotkeys.Hold"),
            ],
        );
    }
}

/// A drop-down of strings with localized `(value, label key)` items; the caller may add more.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
unsafe fn add_choice(
    props: *mut ffi::obs_properties_t,
    key: &CStr,
    label: &'static CStr,
    items: &[(&CStr, &'static CStr)],
) -> *mut ffi::obs_property_t {
    // SAFETY: OBS copies the name, description and items.
    unsafe {
        let list = ffi::obs_properties_add_list(
            props,
            key.as_ptr(),
            text(label),
            ffi::obs_combo_type_OBS_COMBO_TYPE_LIST,
            ffi::obs_combo_format_OBS_COMBO_FORMAT_STRING,
        );
        for (value, item) in items {
            ffi::obs_property_list_add_string(list, text(item), value.as_ptr());
        }
        list
    }
}

/// Adds `(value, label)` items that are not localized (device and source names).
///
/// # Safety
/// `list` is a string list property being built.
unsafe fn add_items(
    list: *mut ffi::obs_property_t,
    items: impl IntoIterator<Item = (String, String)>,
) {
    for (value, label) in items {
        if let (Ok(value), Ok(label)) = (CString::new(value), CString::new(label)) {
            // SAFETY: OBS copies both strings.
            unsafe { ffi::obs_property_list_add_string(list, label.as_ptr(), value.as_ptr()) };
        }
    }
}

/// Framing, field of view, key light, ambient light and background.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
unsafe fn add_view_properties(props: *mut ffi::obs_properties_t) {
    // SAFETY: OBS copies every name and description.
    unsafe {
        add_choice(
            props,
            settings::FRAMING,
            c"Framing",
            &[
                (c"upper_body", c"Framing.UpperBody"),
                (c"full_body", c"Framing.FullBody"),
            ],
        );
        for (key, label, lo, hi, step) in [
            (settings::ZOOM, c"Zoom", 0.25, 4.0, 0.05),
            (settings::CAMERA_HEIGHT, c"CameraHeight", -1.0, 1.0, 0.01),
            (settings::CAMERA_OFFSET, c"CameraOffset", -1.0, 1.0, 0.01),
            (settings::FOV_DEG, c"FieldOfView", 10.0, 90.0, 1.0),
            (settings::LIGHT_YAW_DEG, c"LightYaw", -180.0, 180.0, 1.0),
            (settings::LIGHT_PITCH_DEG, c"LightPitch", -90.0, 90.0, 1.0),
            (settings::LIGHT_INTENSITY, c"LightIntensity", 0.0, 3.0, 0.05),
            (settings::AMBIENT, c"Ambient", 0.0, 1.0, 0.01),
        ] {
            ffi::obs_properties_add_float_slider(props, key.as_ptr(), text(label), lo, hi, step);
        }
        add_choice(
            props,
            settings::BACKGROUND,
            c"Background",
            &[
                (c"transparent", c"Background.Transparent"),
                (c"color", c"Background.Color"),
            ],
        );
        ffi::obs_properties_add_color(
            props,
            settings::BACKGROUND_COLOR.as_ptr(),
            text(c"BackgroundColor"),
        );
    }
}
