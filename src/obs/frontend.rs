//! A thin safe layer over obs-frontend-api (OBS's Qt frontend) and the current profile's
//! configuration: the stream service, the output settings the IVS preflight reads and fixes,
//! and running work on OBS's UI thread, where the frontend expects to be called.

use super::{ffi, guard};
use crate::ivs::preflight::{ObsSettings, ProfileWriter, VideoSettings};
use crate::ivs::setup::{self, StreamService};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};
use std::ffi::{CStr, CString, c_char, c_void};
use std::path::PathBuf;

/// Runs `body` on OBS's UI thread and returns its value: at once when called there (a click in
/// the properties window), else by queueing it there and waiting (a click pressed through
/// obs-websocket arrives on its own thread). `fallback` when no UI runs the task.
pub fn on_ui_thread<R, F: FnOnce() -> R>(name: &'static str, fallback: R, body: F) -> R {
    // SAFETY: a plain query of libobs's thread-local flag.
    if unsafe { ffi::obs_in_task_thread(ffi::obs_task_type_OBS_TASK_UI) } {
        return body();
    }
    struct Task<F, R> {
        name: &'static str,
        body: Option<F>,
        out: Option<R>,
    }
    unsafe extern "C" fn run<F: FnOnce() -> R, R>(param: *mut c_void) {
        // SAFETY: `param` is the Task below, alive until obs_queue_task returns (it waits).
        let task = unsafe { &mut *(param as *mut Task<F, R>) };
        guard(task.name, (), || {
            if let Some(body) = task.body.take() {
                task.out = Some(body());
            }
        })
    }
    let mut task = Task {
        name,
        body: Some(body),
        out: None,
    };
    // SAFETY: wait = true, so the task's pointer outlives its use.
    unsafe {
        ffi::obs_queue_task(
            ffi::obs_task_type_OBS_TASK_UI,
            Some(run::<F, R>),
            &mut task as *mut _ as *mut c_void,
            true,
        )
    };
    task.out.unwrap_or(fallback)
}

fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).expect("NULs were replaced")
}

/// A C string from libobs, copied (empty for null).
///
/// # Safety
/// `text` is null or a valid NUL-terminated string.
unsafe fn copied(text: *const c_char) -> String {
    if text.is_null() {
        String::new()
    } else {
        // SAFETY: per the contract.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    }
}

pub fn streaming_active() -> bool {
    // SAFETY: a plain query of the frontend.
    unsafe { ffi::obs_frontend_streaming_active() }
}

/// The running OBS's version, e.g. `29.0.2`.
pub fn obs_version() -> String {
    // SAFETY: libobs returns a static string.
    unsafe { copied(ffi::obs_get_version_string()) }
}

/// Whether a stream service type (e.g. `whip_custom`) is registered in this OBS.
pub fn has_service_type(id: &str) -> bool {
    let mut index = 0;
    let mut found: *const c_char = std::ptr::null();
    // SAFETY: libobs fills `found` with a static id while it returns true.
    while unsafe { ffi::obs_enum_service_types(index, &mut found) } {
        if unsafe { copied(found) } == id {
            return true;
        }
        index += 1;
    }
    false
}

/// The current stream service's type and server (its secret is not read).
pub fn streaming_service() -> (String, String) {
    // SAFETY: the frontend keeps its own reference; the pointer is not released here.
    unsafe {
        let service = ffi::obs_frontend_get_streaming_service();
        if service.is_null() {
            return (String::new(), String::new());
        }
        let settings = ffi::obs_service_get_settings(service);
        let server = copied(ffi::obs_data_get_string(settings, c"server".as_ptr()));
        ffi::obs_data_release(settings);
        (copied(ffi::obs_service_get_id(service)), server)
    }
}

/// Makes `service` OBS's stream service and saves it in the profile (`service.json`), as
/// obs-websocket's SetStreamServiceSettings does. The caller checks that OBS is not streaming.
pub fn set_streaming_service(service: &StreamService) -> Result<()> {
    let type_id = c_string(service.type_id);
    let json = c_string(&service.settings().to_string());
    // SAFETY: valid C strings; every reference taken here is released here (the frontend takes
    // its own reference to the service).
    unsafe {
        let settings = ffi::obs_data_create_from_json(json.as_ptr());
        let created = ffi::obs_service_create(
            type_id.as_ptr(),
            c"default_service".as_ptr(),
            settings,
            std::ptr::null_mut(),
        );
        ffi::obs_data_release(settings);
        if created.is_null() {
            bail!("OBS could not create a {} stream service", service.type_id);
        }
        ffi::obs_frontend_set_streaming_service(created);
        ffi::obs_frontend_save_streaming_service();
        ffi::obs_service_release(created);
    }
    Ok(())
}

fn profile_config() -> Result<*mut ffi::config_t> {
    // SAFETY: a plain query of the frontend; the config belongs to it.
    let config = unsafe { ffi::obs_frontend_get_profile_config() };
    if config.is_null() {
        bail!("OBS has no profile loaded");
    }
    Ok(config)
}

fn profile_dir() -> Result<PathBuf> {
    // SAFETY: the frontend returns a bstrdup'ed string (or null), freed here.
    unsafe {
        let path = ffi::obs_frontend_get_current_profile_path();
        if path.is_null() {
            bail!("OBS has no profile folder");
        }
        let dir = PathBuf::from(copied(path));
        ffi::bfree(path as *mut c_void);
        Ok(dir)
    }
}

/// The profile's `basic.ini` value, or OBS's default for it.
fn parameter(config: *mut ffi::config_t, section: &str, key: &str) -> Option<String> {
    let (section, key) = (c_string(section), c_string(key));
    // SAFETY: valid config and C strings; the value is copied at once.
    let value = unsafe { ffi::config_get_string(config, section.as_ptr(), key.as_ptr()) };
    (!value.is_null()).then(|| unsafe { copied(value) })
}

/// The output settings the preflight checks, as the next stream will use them: the running
/// video settings, the profile's `basic.ini` and (Advanced mode) `streamEncoder.json`.
pub fn read_output_settings() -> Result<ObsSettings> {
    let config = profile_config()?;
    let mut video = ffi::obs_video_info::default();
    // SAFETY: obs_get_video_info fills the struct; false when video is not set up.
    if !unsafe { ffi::obs_get_video_info(&mut video) } {
        bail!("OBS's video is not running");
    }
    let video = VideoSettings {
        base_width: video.base_width,
        base_height: video.base_height,
        output_width: video.output_width,
        output_height: video.output_height,
        fps_num: video.fps_num,
        fps_den: video.fps_den.max(1),
    };
    let get = |section: &str, key: &str| parameter(config, section, key);
    let advanced = get("Output", "Mode").is_some_and(|m| m.eq_ignore_ascii_case("advanced"));
    let stream_encoder = if advanced {
        Some(setup::read_json_object(
            &profile_dir()?.join("streamEncoder.json"),
        )?)
    } else {
        None
    };
    let (service_type, _) = streaming_service();
    Ok(ObsSettings::from_profile(
        video,
        &get,
        stream_encoder.as_ref(),
        &service_type,
    ))
}

/// Writes preflight changes into the current profile, as `vrm-avatar ivs configure
/// --fix-settings` does over obs-websocket: OBS reads them when the next stream starts.
pub struct ProfileConfig {
    config: *mut ffi::config_t,
}

impl ProfileConfig {
    pub fn current() -> Result<ProfileConfig> {
        Ok(ProfileConfig {
            config: profile_config()?,
        })
    }

    fn set_uint(&self, section: &CStr, key: &CStr, value: u32) {
        // SAFETY: the frontend's config and valid C strings.
        unsafe {
            ffi::config_set_uint(
                self.config,
                section.as_ptr(),
                key.as_ptr(),
                u64::from(value),
            )
        }
    }
}

impl ProfileWriter for ProfileConfig {
    fn set_video(&mut self, width: u32, height: u32, fps_num: u32, fps_den: u32) -> Result<()> {
        // SAFETY: a plain query of libobs.
        if unsafe { ffi::obs_video_active() } {
            bail!(
                "the output size and frame rate cannot change while recording, the replay buffer or the virtual camera runs: stop them first"
            );
        }
        self.set_uint(c"Video", c"FPSType", 2);
        self.set_uint(c"Video", c"FPSNum", fps_num);
        self.set_uint(c"Video", c"FPSDen", fps_den);
        self.set_uint(c"Video", c"OutputCX", width);
        self.set_uint(c"Video", c"OutputCY", height);
        save(self.config)?;
        // SAFETY: UI thread, no output active (checked above).
        unsafe { ffi::obs_frontend_reset_video() };
        Ok(())
    }

    fn set_parameter(&mut self, section: &str, key: &str, value: &str) -> Result<()> {
        let (section, key, value) = (c_string(section), c_string(key), c_string(value));
        // SAFETY: the frontend's config and valid C strings (copied by the config).
        unsafe {
            ffi::config_set_string(self.config, section.as_ptr(), key.as_ptr(), value.as_ptr())
        };
        save(self.config)
    }

    fn merge_stream_encoder(&mut self, keys: &Map<String, Value>) -> Result<()> {
        setup::merge_json_file(&profile_dir()?.join("streamEncoder.json"), keys)
    }
}

fn save(config: *mut ffi::config_t) -> Result<()> {
    // SAFETY: the frontend's profile config; "tmp" is the temporary file's extension.
    let status = unsafe { ffi::config_save_safe(config, c"tmp".as_ptr(), std::ptr::null()) };
    if status != 0 {
        return Err(anyhow!("config_save_safe returned {status}"))
            .context("saving OBS's profile (basic.ini)");
    }
    Ok(())
}
