//! Shared pieces of the solver's ground-truth tests: a seeded random source, the built-in
//! avatar's rest skeleton, and the angle between rotations.

use super::body::{layout, lm};
use crate::vrm::{HumanBone, NormalizedRig};
use glam::{Quat, Vec3};
use std::collections::BTreeMap;

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

/// World rotation and position of every rig bone for local rotations `q`.
pub fn forward(
    rig: &NormalizedRig,
    q: &BTreeMap<HumanBone, Quat>,
) -> BTreeMap<HumanBone, (Quat, Vec3)> {
    fn place(
        rig: &NormalizedRig,
        q: &BTreeMap<HumanBone, Quat>,
        bone: HumanBone,
        out: &mut BTreeMap<HumanBone, (Quat, Vec3)>,
    ) -> (Quat, Vec3) {
        if let Some(done) = out.get(&bone) {
            return *done;
        }
        let rb = rig.bone(bone).unwrap();
        let local = q.get(&bone).copied().unwrap_or(Quat::IDENTITY);
        let placed = match rb.parent_bone {
            Some(parent) => {
                let (pw, pp) = place(rig, q, parent, out);
                (pw * local, pp + pw * rb.normalized_translation)
            }
            None => (local, rb.rest_world_position),
        };
        out.insert(bone, placed);
        placed
    }
    let mut out = BTreeMap::new();
    for rb in rig.bones() {
        place(rig, q, rb.bone, &mut out);
    }
    out
}

/// BlazePose world landmarks of a posed skeleton, meters about the hips' midpoint.
pub fn pose_landmarks(
    w: &BTreeMap<HumanBone, (Quat, Vec3)>,
    rng: &mut Rng,
    noise: f32,
) -> Vec<[f32; 4]> {
    let mut pts = vec![Vec3::ZERO; 33];
    for (offset, side, bones) in [(0, 1.0, limb_bones(true)), (1, -1.0, limb_bones(false))] {
        let at = |b: HumanBone| w[&b];
        pts[lm::LEFT_SHOULDER + offset] = at(bones[0]).1;
        pts[lm::LEFT_ELBOW + offset] = at(bones[1]).1;
        let (hand_rot, wrist) = at(bones[2]);
        pts[lm::LEFT_WRIST + offset] = wrist;
        pts[lm::LEFT_INDEX + offset] = wrist + hand_rot * layout::index(side);
        pts[lm::LEFT_PINKY + offset] = wrist + hand_rot * layout::pinky(side);
        pts[lm::LEFT_HIP + offset] = at(bones[3]).1;
        pts[lm::LEFT_KNEE + offset] = at(bones[4]).1;
        let (foot_rot, ankle) = at(bones[5]);
        pts[lm::LEFT_ANKLE + offset] = ankle;
        pts[lm::LEFT_HEEL + offset] = ankle + foot_rot * layout::HEEL;
        pts[lm::LEFT_FOOT_INDEX + offset] = ankle + foot_rot * layout::TOE;
    }
    let center = (pts[lm::LEFT_HIP] + pts[lm::RIGHT_HIP]) * 0.5;
    pts.iter()
        .map(|p| {
            let jitter = Vec3::new(rng.gauss(), rng.gauss(), rng.gauss()) * noise;
            let v = *p - center + jitter;
            // Back to MediaPipe's axes (the inverse of to_avatar_space).
            [v.x, -v.y, -v.z, 1.0]
        })
        .collect()
}

/// One side's arm and leg bones: upper arm, lower arm, hand, upper leg, lower leg, foot.
pub fn limb_bones(left: bool) -> [HumanBone; 6] {
    use HumanBone::*;
    if left {
        [
            LeftUpperArm,
            LeftLowerArm,
            LeftHand,
            LeftUpperLeg,
            LeftLowerLeg,
            LeftFoot,
        ]
    } else {
        [
            RightUpperArm,
            RightLowerArm,
            RightHand,
            RightUpperLeg,
            RightLowerLeg,
            RightFoot,
        ]
    }
}
