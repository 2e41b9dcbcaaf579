//! Shared pieces of the solver's ground-truth tests: a seeded random source, the built-in
//! avatar's rest skeleton, and the angle between rotations.

use crate::vrm::NormalizedRig;
use glam::Quat;

/// xorshift64: the same poses on every run and machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn unit(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    /// An angle in radians, uniform between `lo` and `hi` degrees.
    pub fn deg(&mut self, lo: f32, hi: f32) -> f32 {
        (lo + (hi - lo) * self.unit()).to_radians()
    }

    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-7), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// The built-in avatar's normalized rig: a real humanoid with every finger.
pub fn rig() -> NormalizedRig {
    let model = crate::vrm::load(crate::default_avatar::default_avatar_vrm()).unwrap();
    NormalizedRig::new(&model.nodes, model.humanoid.as_ref().unwrap())
}

/// The angle between two rotations, in degrees.
pub fn degrees(a: Quat, b: Quat) -> f32 {
    (2.0 * a.dot(b).abs().min(1.0).acos()).to_degrees()
}

pub fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}
