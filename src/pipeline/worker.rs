//! What every worker thread shares with its owners: a stop flag, a one-line status, and a
//! way to wake it; a spawner that keeps a panic inside the thread and in the status; and the
//! helpers all the plugin's threads use (priorities, one clock, bounded joins, the registry of
//! stopped workers that module unload joins).

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

pub struct WorkerCore {
    stop: AtomicBool,
    status: Mutex<String>,
    thread: Mutex<Option<Thread>>,
    /// Bumped when the owner asks for something new (another avatar, another mode): a worker
    /// waiting to restart after a panic tries again at once.
    asked: AtomicU64,
}

impl WorkerCore {
    pub fn new(status: &str) -> Self {
        WorkerCore {
            stop: AtomicBool::new(false),
            status: Mutex::new(status.into()),
            thread: Mutex::new(None),
            asked: AtomicU64::new(0),
        }
    }

    /// Says the owner asked for something new, and wakes the worker.
    pub fn asked_anew(&self) {
        self.asked.fetch_add(1, Ordering::AcqRel);
        self.wake();
    }

    /// Waits up to `wait` before a restart; returns early when the worker is stopped or the
    /// owner asks for something new; whether it did ask.
    fn wait_to_restart(&self, wait: Duration) -> bool {
        let asked = self.asked.load(Ordering::Acquire);
        let deadline = Instant::now() + wait;
        loop {
            if self.asked.load(Ordering::Acquire) != asked {
                return true;
            }
            let now = Instant::now();
            if self.stopped() || now >= deadline {
                return false;
            }
            thread::park_timeout(deadline - now);
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

/// The first wait before a worker that panicked runs again; each panic in a row doubles it, up
/// to [`RESTART_WAIT_MAX`] (so a worker that fails for good logs about once a minute).
pub const RESTART_WAIT_FIRST: Duration = Duration::from_secs(1);
pub const RESTART_WAIT_MAX: Duration = Duration::from_secs(60);

/// Starts thread `name` running `body` with `owner` (whose [`WorkerCore`] `core` reaches). A
/// panic is logged, becomes the status ("error: WHAT stopped (why); restarting in N s"), and
/// `body` runs again after a wait that doubles with each panic in a row (from
/// [`RESTART_WAIT_FIRST`] to [`RESTART_WAIT_MAX`]), or at once when the owner asks for
/// something new ([`WorkerCore::asked_anew`]: another avatar file may be what it needed). The
/// thread ends when `body` returns or the worker is stopped.
pub fn spawn_guarded<T: Send + Sync + 'static>(
    name: &str,
    what: &'static str,
    owner: Arc<T>,
    core: fn(&T) -> &WorkerCore,
    body: impl Fn(&T) + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let inner = Arc::clone(&owner);
    let handle = thread::Builder::new().name(name.into()).spawn(move || {
        let mut wait = RESTART_WAIT_FIRST;
        loop {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&inner)));
            let Err(panic) = result else {
                return;
            };
            let core = core(&inner);
            let why = panic_text(&*panic);
            if core.stopped() {
                log::error!("the {what} stopped after a panic: {why}");
                return;
            }
            log::error!("the {what} stopped after a panic: {why}; restarting in {wait:?}");
            core.set_status(format!(
                "error: {what} stopped ({why}); restarting in {} s",
                wait.as_secs()
            ));
            wait = if core.wait_to_restart(wait) {
                RESTART_WAIT_FIRST
            } else {
                (wait * 2).min(RESTART_WAIT_MAX)
            };
            if core.stopped() {
                return;
            }
            log::info!("restarting the {what}");
        }
    })?;
    *core(&owner).thread.lock() = Some(handle.thread().clone());
    Ok(handle)
}

/// Test hook: `VRM_AVATAR_TEST_PANIC=update,render_worker` makes each named point (an OBS
/// callback, or a worker's loop) panic once, so the end-to-end tests can prove the guards and
/// the restarts inside real OBS.
pub fn inject_test_panic(point: &str) {
    static POINTS: std::sync::OnceLock<Vec<(String, AtomicBool)>> = std::sync::OnceLock::new();
    let points = POINTS.get_or_init(|| {
        let list = std::env::var("VRM_AVATAR_TEST_PANIC").unwrap_or_default();
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| (s.trim().to_string(), AtomicBool::new(false)))
            .collect()
    });
    if let Some((_, fired)) = points.iter().find(|(name, _)| name == point)
        && !fired.swap(true, Ordering::Relaxed)
    {
        panic!("test panic injected into {point} (VRM_AVATAR_TEST_PANIC)");
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Owner {
        core: WorkerCore,
        runs: AtomicU64,
    }

    #[test]
    fn a_worker_that_panics_runs_again_after_a_growing_wait_or_at_once_when_asked() {
        let owner = Arc::new(Owner {
            core: WorkerCore::new("starting"),
            runs: AtomicU64::new(0),
        });
        let started = Instant::now();
        let handle = spawn_guarded(
            "test-worker",
            "tester",
            Arc::clone(&owner),
            |o| &o.core,
            |o: &Owner| {
                let run = o.runs.fetch_add(1, Ordering::AcqRel) + 1;
                if run <= 3 {
                    panic!("run {run} fails");
                }
                while !o.core.stopped() {
                    thread::park_timeout(Duration::from_millis(20));
                }
            },
        )
        .unwrap();
        // Runs 1 and 2 fail and wait 1 s, then 2 s.
        while owner.runs.load(Ordering::Acquire) < 3 {
            thread::sleep(Duration::from_millis(10));
        }
        let third = started.elapsed();
        assert!(third >= Duration::from_secs(3), "waited {third:?}");
        thread::sleep(Duration::from_millis(100));
        let status = owner.core.status();
        assert!(
            status.contains("tester stopped (run 3 fails); restarting in 4 s"),
            "{status}"
        );
        // The third wait (4 s) ends at once when the owner asks for something new.
        let asked = Instant::now();
        owner.core.asked_anew();
        while owner.runs.load(Ordering::Acquire) < 4 {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
        owner.core.stop();
        handle.join().unwrap();
        assert_eq!(owner.runs.load(Ordering::Acquire), 4);
    }

    #[test]
    fn a_stopped_worker_is_not_restarted() {
        let owner = Arc::new(Owner {
            core: WorkerCore::new("starting"),
            runs: AtomicU64::new(0),
        });
        let handle = spawn_guarded(
            "test-worker",
            "tester",
            Arc::clone(&owner),
            |o| &o.core,
            |o: &Owner| {
                o.runs.fetch_add(1, Ordering::AcqRel);
                o.core.stop();
                panic!("failed while stopping");
            },
        )
        .unwrap();
        handle.join().unwrap();
        assert_eq!(owner.runs.load(Ordering::Acquire), 1);
    }
}
