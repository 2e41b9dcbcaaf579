//! What every worker thread shares with its owners: a stop flag, a one-line status, and a
//! way to wake it; a spawner that keeps a panic inside the thread and in the status; and the
//! helpers all the plugin's threads use (priorities, one clock, bounded joins, the registry of
//! stopped workers that module unload joins).

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

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

/// Nice values of the workers: OBS's own threads (0) win the CPU over both, and the tracker
/// over the renderer, whose frames are drawn from the newest pose anyway (a late landmark
/// costs latency; a late render only skips a frame).
pub const TRACKER_NICE: i32 = 4;
pub const RENDER_NICE: i32 = 10;

/// Lowers the calling thread's priority to `nice` (the threads it starts, such as a software
/// Vulkan driver's or ONNX Runtime's, inherit it on Linux).
pub fn lower_thread_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's id only changes this thread's nice value.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

/// A clock all workers share, so that landmark and render times compare.
pub fn clock_ms(at: Instant) -> f64 {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    at.saturating_duration_since(epoch).as_secs_f64() * 1000.0
}

/// Joins `handle` if its thread ends before `deadline`; false when it does not (it is then left
/// running, detached), so that shutting down never hangs on a thread.
pub fn join_by(handle: JoinHandle<()>, deadline: Instant) -> bool {
    while !handle.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let finished = handle.is_finished();
    if finished {
        let _ = handle.join();
    }
    finished
}

/// Threads of workers told to stop (a `what` each, e.g. "render"), finished ones pruned:
/// joined at module unload so that none outlives the module's code.
static RETIRED: Mutex<Vec<(&'static str, JoinHandle<()>)>> = Mutex::new(Vec::new());

/// Hands the thread of a worker that was told to stop (or will be) to [`join_retired`].
pub fn retire(what: &'static str, handle: JoinHandle<()>) {
    let mut retired = RETIRED.lock();
    retired.retain(|(_, h)| !h.is_finished());
    retired.push((what, handle));
}

/// Joins every retired worker, waiting at most `limit` in all; one still running then is left
/// behind with a warning, so unloading never hangs.
pub fn join_retired(limit: Duration) {
    let deadline = Instant::now() + limit;
    for (what, handle) in std::mem::take(&mut *RETIRED.lock()) {
        if !join_by(handle, deadline) {
            log::warn!("a {what} worker did not stop within {limit:?}");
        }
    }
}
