//! The tracking readiness check of the loaded module ([`check`]): run once at load on a
//! background thread at low priority (loading ONNX Runtime and the eight models took 0.3 s
//! inside OBS on the 2-core development machine, and OBS must never wait for it); the result
//! is one log line and the sources' tracking status.

use crate::pipeline::worker;
pub use crate::tracking::readiness::Readiness;
use crate::tracking::readiness::check;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

static STATUS: Mutex<Readiness> = Mutex::new(Readiness::Checking);
static CHECKER: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

/// The installed plugin's tracking status (the latest [`start`]'s result).
pub fn status() -> Readiness {
    STATUS.lock().clone()
}

/// Checks `data_dir` on a background thread at low priority and logs one line: `tracking
/// ready: ...` or `tracking unavailable: ...`. Returns at once.
pub fn start(data_dir: PathBuf) {
    *STATUS.lock() = Readiness::Checking;
    let spawned = std::thread::Builder::new()
        .name("vrm-avatar-tracking-check".into())
        .spawn(move || {
            worker::lower_thread_priority(worker::TRACKER_NICE);
            let result = std::panic::catch_unwind(|| check(&data_dir)).unwrap_or_else(|panic| {
                Readiness::Unavailable(format!(
                    "the check stopped after a panic: {}",
                    worker::panic_text(&*panic)
                ))
            });
            match &result {
                Readiness::Ready(_) => log::info!("tracking {}", result.text()),
                _ => log::warn!("tracking {}", result.text()),
            }
            *STATUS.lock() = result;
        });
    match spawned {
        Ok(handle) => *CHECKER.lock() = Some(handle),
        Err(err) => {
            let result = Readiness::Unavailable(format!("cannot start the check: {err}"));
            log::warn!("tracking {}", result.text());
            *STATUS.lock() = result;
        }
    }
}

/// Waits up to `limit` for the check to end (at module unload: its code must not be unmapped
/// under it).
pub fn join(limit: Duration) {
    let Some(handle) = CHECKER.lock().take() else {
        return;
    };
    if !worker::join_by(handle, Instant::now() + limit) {
        log::warn!("the tracking check did not end within {limit:?}");
    }
}
