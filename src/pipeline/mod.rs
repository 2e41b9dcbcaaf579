//! Threads and hand-over between them: latest-wins slots and the render worker.

pub mod latest;
pub mod render_worker;

pub use latest::Latest;
pub use render_worker::{RenderControl, spawn_render_worker};
