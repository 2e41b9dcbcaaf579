//! Threads and hand-over between them: latest-wins slots, the tracking worker and the render
//! worker.

pub mod latest;
pub mod render_worker;
pub mod tracking_worker;
pub mod worker;

pub use latest::Latest;
pub use render_worker::{RenderControl, ViewSettings, spawn_render_worker};
pub use tracking_worker::{TrackedFrame, TrackingControl, spawn_tracking_worker};

/// Joins `handle` if its thread ends before `deadline`; false when it does not (it is then left
/// running, detached), so that shutting down never hangs on a thread.
pub fn join_by(handle: std::thread::JoinHandle<()>, deadline: std::time::Instant) -> bool {
    while !handle.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let finished = handle.is_finished();
    if finished {
        let _ = handle.join();
    }
    finished
}
