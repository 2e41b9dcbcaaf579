//! What every worker thread shares with its owners: a stop flag, a one-line status, and a
//! way to wake it; and a spawner that keeps a panic inside the thread and in the status.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle, Thread};

pub struct WorkerCore {
    stop: AtomicBool,
    status: Mutex<String>,
    thread: Mutex<Option<Thread>>,
}

impl WorkerCore {
    pub fn new(status: &str) -> Self {
        WorkerCore {
            stop: AtomicBool::new(false),
            status: Mutex::new(status.into()),
            thread: Mutex::new(None),
        }
    }

    /// Asks the worker to finish; returns at once.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// A one-line status for the user: what the worker does, or what went wrong.
    pub fn status(&self) -> String {
        self.status.lock().clone()
    }

    pub fn set_status(&self, status: String) {
        *self.status.lock() = status;
    }

    /// Ends the worker's current wait (it parks between jobs).
    pub fn wake(&self) {
        if let Some(thread) = self.thread.lock().as_ref() {
            thread.unpark();
        }
    }
}

/// Starts thread `name` running `body` with `owner` (whose [`WorkerCore`] `core` reaches). A
/// panic ends the thread, is logged and becomes the status ("error: WHAT stopped (why)").
pub fn spawn_guarded<T: Send + Sync + 'static>(
    name: &str,
    what: &'static str,
    owner: Arc<T>,
    core: fn(&T) -> &WorkerCore,
    body: impl FnOnce(&T) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let inner = Arc::clone(&owner);
    let handle = thread::Builder::new().name(name.into()).spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&inner)));
        if let Err(panic) = result {
            let why = panic_text(&*panic);
            log::error!("the {what} stopped after a panic: {why}");
            core(&inner).set_status(format!("error: {what} stopped ({why})"));
        }
    })?;
    *core(&owner).thread.lock() = Some(handle.thread().clone());
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
