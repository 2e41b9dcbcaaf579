//! Routes the `log` crate to OBS's log (`blog`) with the `[obs-vrm-avatar]` prefix, so the core
//! logs without knowing about OBS.

use super::ffi;
use std::ffi::CString;

struct ObsLogger;

static LOGGER: ObsLogger = ObsLogger;

impl log::Log for ObsLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        // wgpu and naga are chatty at info level; only their warnings reach the OBS log.
        metadata.level() <= log::Level::Warn || metadata.target().starts_with("obs_vrm_avatar")
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Error => ffi::LOG_ERROR,
            log::Level::Warn => ffi::LOG_WARNING,
            log::Level::Info => ffi::LOG_INFO,
            log::Level::Debug | log::Level::Trace => ffi::LOG_DEBUG,
        };
        let text = format!("[obs-vrm-avatar] {}", record.args()).replace('\0', " ");
        let text = CString::new(text).expect("NULs were replaced");
        // SAFETY: a "%s" format with one NUL-terminated string argument.
        unsafe { ffi::blog(level as i32, c"%s".as_ptr(), text.as_ptr()) };
    }

    fn flush(&self) {}
}

/// Installs the logger (once per process; later calls keep the first).
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}
