//! The `vrm_avatar_source` video source. One `Source` per OBS source, shared by OBS's threads:
//! `update`/`get_properties` (UI thread) only change the render control, `video_render`
//! (graphics thread) only uploads the newest finished frame, and nothing waits for the worker.

use super::{ffi, guard, text::text};
use crate::frame::RgbaFrame;
use crate::pipeline::{Latest, RenderControl, join_by, spawn_render_worker};
use crate::settings;
use crate::tracking::readiness;
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
    /// Touched only on the graphics thread (video_render, and destroy inside obs_enter_graphics).
    gfx: Mutex<Gfx>,
}

struct Gfx {
    texture: *mut ffi::gs_texture_t,
    size: (u32, u32),
    seen: u64,
}

// SAFETY: the texture pointer is only used on OBS's graphics thread (see `Source::gfx`).
unsafe impl Send for Gfx {}

/// Workers of destroyed sources, joined at module unload so that none outlives the module.
static STOPPED_WORKERS: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

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

/// Joins the workers of destroyed sources, waiting at most a few seconds in all.
pub fn join_stopped_workers() {
    let workers = std::mem::take(&mut *STOPPED_WORKERS.lock());
    let deadline = Instant::now() + Duration::from_secs(5);
    for worker in workers {
        if !join_by(worker, deadline) {
            log::warn!("a render worker did not stop within 5 s");
        }
    }
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
    _source: *mut ffi::obs_source_t,
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
            texture: ptr::null_mut(),
            size: (0, 0),
            seen: 0,
        });
        Box::into_raw(Box::new(Source {
            control,
            frames,
            worker,
            gfx,
        })) as *mut c_void
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
        if let Some(worker) = source.worker.take() {
            let mut stopped = STOPPED_WORKERS.lock();
            stopped.retain(|w| !w.is_finished());
            stopped.push(worker);
        }
        let texture = source.gfx.get_mut().texture;
        if !texture.is_null() {
            // SAFETY: textures are destroyed inside the graphics context.
            unsafe {
                ffi::obs_enter_graphics();
                ffi::gs_texture_destroy(texture);
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
        if let Some(source) = source(data) {
            add_status(props, c"status", c"Status", &source.control.status(), false);
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

unsafe extern "C" fn video_render(data: *mut c_void, _effect: *mut ffi::gs_effect_t) {
    guard("video_render", (), || {
        // SAFETY: data comes from create; we are on the graphics thread inside its context.
        let Some(source) = (unsafe { source(data) }) else {
            return;
        };
        let mut gfx = source.gfx.lock();
        if let Some((seq, frame)) = source.frames.newer_than(gfx.seen) {
            gfx.seen = seq;
            unsafe { upload(&mut gfx, &frame) };
        }
        if !gfx.texture.is_null() {
            let (width, height) = source.control.size();
            unsafe { draw(gfx.texture, width, height) };
        }
    })
}

/// Copies a finished frame into the source's dynamic texture (graphics thread).
unsafe fn upload(gfx: &mut Gfx, frame: &RgbaFrame) {
    // SAFETY: graphics thread, inside the graphics context (video_render).
    unsafe {
        if gfx.texture.is_null() || gfx.size != (frame.width, frame.height) {
            if !gfx.texture.is_null() {
                ffi::gs_texture_destroy(gfx.texture);
            }
            gfx.texture = ffi::gs_texture_create(
                frame.width,
                frame.height,
                ffi::gs_color_format_GS_RGBA,
                1,
                ptr::null_mut(),
                ffi::GS_DYNAMIC,
            );
            gfx.size = (frame.width, frame.height);
            if gfx.texture.is_null() {
                log::error!(
                    "OBS could not create a {}x{} texture",
                    frame.width,
                    frame.height
                );
                return;
            }
        }
        ffi::gs_texture_set_image(gfx.texture, frame.pixels.as_ptr(), frame.stride, false);
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
