//! The module's exported entry points, as `OBS_DECLARE_MODULE()` and
//! `OBS_MODULE_USE_DEFAULT_LOCALE()` define them for C plugins. Each is behind the panic guard.

use super::{ffi, guard, ivs_setup, logger, source, tap, text};
use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

static MODULE: AtomicPtr<ffi::obs_module_t> = AtomicPtr::new(ptr::null_mut());

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_set_pointer(module: *mut ffi::obs_module_t) {
    MODULE.store(module, Ordering::Release);
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_current_module() -> *mut ffi::obs_module_t {
    MODULE.load(Ordering::Acquire)
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_ver() -> u32 {
    ffi::LIBOBS_API_VER
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_load() -> bool {
    logger::install();
    guard("obs_module_load", false, || {
        log::info!(
            "version {} loaded (built against libobs {}.{}.{})",
            crate::VERSION,
            ffi::LIBOBS_API_MAJOR_VER,
            ffi::LIBOBS_API_MINOR_VER,
            ffi::LIBOBS_API_PATCH_VER
        );
        pin_in_memory();
        source::register();
        tap::register();
        // The live tracker looks where the readiness check does.
        crate::tracking::runtime::search_models_in(data_dir().join("models"));
        super::readiness::start(data_dir());
        ivs_setup::register();
        // SAFETY: a static callback, registered once; OBS calls it on its UI thread.
        unsafe { ffi::obs_frontend_add_event_callback(Some(on_frontend_event), ptr::null_mut()) };
        true
    })
}

/// Keeps this library mapped after OBS unloads it. Unloading joins every worker, but only for a
/// bounded time so that quitting never hangs; a worker still busy then (a slow machine) must not
/// find its code unmapped under it, which would crash OBS on exit.
fn pin_in_memory() {
    #[cfg(unix)]
    {
        // SAFETY: Dl_info is plain data (pointers and integers); all zeroes is a valid value.
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        // SAFETY: dladdr only reads the address of one of our functions and fills `info`.
        let found = unsafe { libc::dladdr(obs_module_unload as *const libc::c_void, &mut info) };
        // SAFETY: RTLD_NOLOAD only takes another reference to the already loaded library, and
        // RTLD_NODELETE keeps it mapped until the process ends.
        let handle = (found != 0 && !info.dli_fname.is_null()).then(|| unsafe {
            libc::dlopen(
                info.dli_fname,
                libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE,
            )
        });
        if handle.is_none_or(|h| h.is_null()) {
            log::warn!("could not pin the plugin in memory; a slow worker may outlive it at exit");
        }
    }
}

/// The module's data folder, where the packages put the locale, the models and ONNX Runtime.
fn data_dir() -> std::path::PathBuf {
    // SAFETY: libobs set our module pointer before load; the string lives as long as the module.
    let path = unsafe { ffi::obs_get_module_data_path(obs_current_module()) };
    if path.is_null() {
        return std::path::PathBuf::new();
    }
    // SAFETY: a NUL-terminated string from libobs.
    let path = unsafe { std::ffi::CStr::from_ptr(path) };
    std::path::PathBuf::from(path.to_string_lossy().into_owned())
}

/// OBS 29 says it is quitting twice: scripting shuts down just before it clears its scenes, and
/// EXIT comes after (later versions may differ); the first lets go of everything tracked.
unsafe extern "C" fn on_frontend_event(event: ffi::obs_frontend_event, _data: *mut c_void) {
    guard("frontend_event", (), || {
        if event == ffi::obs_frontend_event_OBS_FRONTEND_EVENT_SCRIPTING_SHUTDOWN
            || event == ffi::obs_frontend_event_OBS_FRONTEND_EVENT_EXIT
        {
            let (inputs, trackers) = super::tracking_input::quit();
            let voices = super::voice_input::quit();
            let speeches = super::speech::quit();
            if speeches > 0 {
                log::info!("OBS is quitting: let go of {speeches} speech source(s)");
            }
            if voices > 0 {
                log::info!("OBS is quitting: let go of {voices} voice source(s)");
            }
            if inputs + trackers > 0 {
                log::info!(
                    "OBS is quitting: let go of {inputs} tracked input(s), stopped {trackers} tracker(s)"
                );
            }
        } else if event == ffi::obs_frontend_event_OBS_FRONTEND_EVENT_FINISHED_LOADING
            || event == ffi::obs_frontend_event_OBS_FRONTEND_EVENT_SCENE_COLLECTION_CHANGED
        {
            let orphans = tap::remove_orphans();
            if orphans > 0 {
                log::info!(
                    "removed {orphans} tracking filter(s) of an earlier run from the scene collection"
                );
            }
        }
    })
}

/// After every module's load: obs-websocket, if present, takes the control API's vendor now.
#[unsafe(no_mangle)]
pub extern "C" fn obs_module_post_load() {
    guard("obs_module_post_load", (), super::vendor::register)
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_unload() {
    guard("obs_module_unload", (), || {
        super::tracking_input::stop_all();
        super::capture::stop();
        crate::pipeline::worker::join_retired(std::time::Duration::from_secs(5));
        super::readiness::join(std::time::Duration::from_secs(5));
        log::info!("unloaded");
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_set_locale(locale: *const c_char) {
    guard("obs_module_set_locale", (), || {
        // SAFETY: libobs passes its locale string and has set our module pointer first.
        unsafe { text::load(obs_current_module(), locale) }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_free_locale() {
    guard("obs_module_free_locale", (), text::free)
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_get_string(key: *const c_char, out: *mut *const c_char) -> bool {
    // SAFETY: libobs passes a valid key and out pointer.
    guard("obs_module_get_string", false, || unsafe {
        text::get(key, out)
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_name() -> *const c_char {
    c"obs-vrm-avatar".as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn obs_module_description() -> *const c_char {
    guard(
        "obs_module_description",
        c"VRM avatar driven by your webcam".as_ptr(),
        || text::text(c"ModuleDescription"),
    )
}
