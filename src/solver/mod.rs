//! Avatar poses: from tracked landmarks, or idle life when nothing is tracked.

pub mod body;
pub mod fit;
#[cfg(test)]
mod ground_truth;
pub mod hands;
pub mod idle;

pub use idle::IdleMotion;
