//! Avatar poses: from tracked landmarks, or idle life when nothing is tracked.

pub mod body;
pub mod face;
pub mod fit;
#[cfg(test)]
mod ground_truth;
pub mod hands;
pub mod idle;
pub mod solve;
pub mod timeline;

pub use idle::IdleMotion;
pub use solve::{Solver, SolverSettings};
pub use timeline::PoseTimeline;
