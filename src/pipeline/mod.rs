//! Threads and hand-over between them: latest-wins slots, the tracking worker, the voice
//! worker, the VMC worker and the render worker.

pub mod direction;
pub mod latest;
pub mod load;
pub mod render_worker;
pub mod tracking_worker;
pub mod vmc_worker;
pub mod voice_worker;
pub mod worker;

pub use direction::{AvatarEvent, Direction};
pub use latest::Latest;
pub use load::ObsLoad;
pub use render_worker::{RenderControl, ViewSettings, spawn_render_worker};
pub use tracking_worker::{TrackedFrame, TrackingControl, spawn_tracking_worker};
pub use vmc_worker::{VmcControl, VmcOut, VmcSendSettings, spawn_vmc_worker};
pub use voice_worker::{Chunk, VoiceControl, spawn_voice_worker};
