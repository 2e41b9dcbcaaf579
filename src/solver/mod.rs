//! Avatar poses: from tracked landmarks, or idle life when nothing is tracked.

pub mod body;
pub mod idle;

pub use idle::IdleMotion;
