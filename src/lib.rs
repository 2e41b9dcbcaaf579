//! obs-vrm-avatar: an OBS Studio source that renders the streamer's VRM avatar.
//!
//! Data flows one way: camera frame -> landmarks -> avatar pose -> rendered frame -> OBS.
//! Only [`obs`] touches libobs; everything else builds and tests without it.

pub mod camera;
pub mod control;
pub mod default_avatar;
pub mod filter;
pub mod frame;
pub mod ivs;
pub mod landmarks;
pub mod motion;
pub mod pipeline;
pub mod pose;
pub mod render;
pub mod settings;
pub mod solver;
pub mod tracking;
pub mod vmc;
pub mod voice;
pub mod vrm;

#[cfg(feature = "obs")]
pub mod obs;

/// The crate version, shown in the OBS log at load and by `vrm-avatar --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
