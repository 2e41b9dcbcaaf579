//! Body: MediaPipe's world landmarks (meters, hips at the origin) to rotations of the
//! normalized humanoid bones (identity = T-pose, CONTRACTS.md).
//!
//! Each bone's world rotation is built from two observed directions, a primary one it must
//! match exactly (the bone itself) and a secondary one that fixes the twist about it (the
//! plane the next joint bends in), then made local to its parent. This is swing and twist on
//! quaternions, so there are no Euler angles to flip; a limb too straight to show its bend
//! plane keeps the shortest swing from its parent instead of a guessed twist.

use crate::vrm::HumanBone;
use glam::{Mat3, Quat, Vec3};

/// BlazePose indices used here.
pub(super) mod lm {
    pub const LEFT_SHOULDER: usize = 11;
    pub const RIGHT_SHOULDER: usize = 12;
    pub const LEFT_ELBOW: usize = 13;
    pub const LEFT_WRIST: usize = 15;
    pub const LEFT_PINKY: usize = 17;
    pub const LEFT_INDEX: usize = 19;
    pub const LEFT_HIP: usize = 23;
    pub const RIGHT_HIP: usize = 24;
    pub const LEFT_KNEE: usize = 25;
    pub const RIGHT_KNEE: usize = 26;
    pub const LEFT_ANKLE: usize = 27;
    pub const LEFT_HEEL: usize = 29;
    pub const LEFT_FOOT_INDEX: usize = 31;
}

/// A MediaPipe world point in the avatar's space: MediaPipe has x to the image's right (the
/// subject's left), y down and z away from the camera; the avatar faces +Z with its left at
/// +X and +Y up. A rotation of 180 degrees about X, so handedness is kept.
pub fn to_avatar_space(p: [f32; 4]) -> Vec3 {
    Vec3::new(p[0], -p[1], -p[2])
}

#[derive(Clone, Copy)]
enum Axis {
    X,
    Y,
    Z,
}

impl Axis {
    fn index(self) -> usize {
        match self {
            Axis::X => 0,
            Axis::Y => 1,
            Axis::Z => 2,
        }
    }
}

/// The rotation that turns local axis `a` onto `a_dir` exactly and local axis `b` as near
/// `b_dir` as it can (`b_dir` made orthogonal to `a_dir`). `None` when the two directions
/// are (nearly) parallel.
fn frame(a: Axis, a_dir: Vec3, b: Axis, b_dir: Vec3) -> Option<Quat> {
    let ua = a_dir.try_normalize()?;
    let across = b_dir - ua * ua.dot(b_dir);
    if across.length() < 0.05 * b_dir.length() {
        return None;
    }
    let ub = across.try_normalize()?;
    let mut cols = [Vec3::ZERO; 3];
    cols[a.index()] = ua;
    cols[b.index()] = ub;
    // The third column completes a right-handed basis: e_a x e_b = +-e_c.
    let c = 3 - a.index() - b.index();
    let even = (a.index() + 1) % 3 == b.index();
    cols[c] = if even { ua.cross(ub) } else { ub.cross(ua) };
    Some(Quat::from_mat3(&Mat3::from_cols(cols[0], cols[1], cols[2])).normalize())
}

/// The shortest rotation from `from` to `to`.
fn swing(from: Vec3, to: Vec3) -> Quat {
    match (from.try_normalize(), to.try_normalize()) {
        (Some(f), Some(t)) => Quat::from_rotation_arc(f, t),
        _ => Quat::IDENTITY,
    }
}

/// Nominal hand and foot points in the bone's own frame at rest (meters), as the solver
/// reads them: the index knuckle ahead (+Z) of the pinky's on both hands (palms down), the
/// heel behind and below the ankle, the toe tip ahead and below.
pub mod layout {
    use glam::Vec3;
    pub fn index(side: f32) -> Vec3 {
        Vec3::new(side * 0.085, 0.0, 0.025)
    }
    pub fn pinky(side: f32) -> Vec3 {
        Vec3::new(side * 0.075, 0.0, -0.035)
    }
    pub const HEEL: Vec3 = Vec3::new(0.0, -0.06, -0.05);
    pub const TOE: Vec3 = Vec3::new(0.0, -0.08, 0.16);
}

/// Rotations of the hips, spine, arms, hands, legs and feet, local to their normalized
/// parents, from 33 world landmarks. Parts whose landmarks are less visible than
/// `min_visibility` are left out (the caller eases them to rest or holds them).
pub fn solve(world: &[[f32; 4]], min_visibility: f32) -> Vec<(HumanBone, Quat)> {
    let mut out = Vec::new();
    if world.len() < 33 {
        return out;
    }
    let p = |i: usize| to_avatar_space(world[i]);
    let seen = |ids: &[usize]| ids.iter().all(|&i| world[i][3] >= min_visibility);
    // Torso: hips from the hip line and the spine's up, the chest from the shoulder line.
    let (lhip, rhip) = (p(lm::LEFT_HIP), p(lm::RIGHT_HIP));
    let (lsh, rsh) = (p(lm::LEFT_SHOULDER), p(lm::RIGHT_SHOULDER));
    let up = (lsh + rsh) * 0.5 - (lhip + rhip) * 0.5;
    let Some(hips) = frame(Axis::X, lhip - rhip, Axis::Y, up) else {
        return out;
    };
    out.push((HumanBone::Hips, hips));
    let chest = if seen(&[lm::LEFT_SHOULDER, lm::RIGHT_SHOULDER]) {
        frame(Axis::X, lsh - rsh, Axis::Y, up).unwrap_or(hips)
    } else {
        hips
    };
    out.push((HumanBone::Spine, hips.inverse() * chest));
    for (side, offset) in [(1.0f32, 0usize), (-1.0, 1)] {
        let (shoulder, elbow, wrist) = (
            lm::LEFT_SHOULDER + offset,
            lm::LEFT_ELBOW + offset,
            lm::LEFT_WRIST + offset,
        );
        let (pinky, index) = (lm::LEFT_PINKY + offset, lm::LEFT_INDEX + offset);
        let left = offset == 0;
        let bones = if left {
            [
                HumanBone::LeftUpperArm,
                HumanBone::LeftLowerArm,
                HumanBone::LeftHand,
            ]
        } else {
            [
                HumanBone::RightUpperArm,
                HumanBone::RightLowerArm,
                HumanBone::RightHand,
            ]
        };
        if seen(&[shoulder, elbow, wrist]) {
            let rest = Vec3::X * side;
            let (upper_dir, lower_dir) = (p(elbow) - p(shoulder), p(wrist) - p(elbow));
            // The elbow bends the forearm forward from a palms-down T-pose: about local -Y
            // for the left arm, +Y for the right.
            let bend = upper_dir.cross(lower_dir);
            let bent = frame(Axis::X, upper_dir * side, Axis::Y, -bend * side);
            let upper = limb(chest, rest, upper_dir, lower_dir, bent);
            let lower_local = swing(rest, upper.inverse() * lower_dir);
            out.push((bones[0], chest.inverse() * upper));
            out.push((bones[1], lower_local));
            if seen(&[pinky, index]) {
                let lower = upper * lower_local;
                let observed = hand_frame(side, p(index) - p(wrist), p(pinky) - p(wrist));
                let nominal = hand_frame(side, layout::index(side), layout::pinky(side));
                if let (Some(o), Some(n)) = (observed, nominal) {
                    out.push((bones[2], lower.inverse() * o * n.inverse()));
                }
            }
        }
    }
    for (offset, bones) in [
        (
            0usize,
            [
                HumanBone::LeftUpperLeg,
                HumanBone::LeftLowerLeg,
                HumanBone::LeftFoot,
            ],
        ),
        (
            1,
            [
                HumanBone::RightUpperLeg,
                HumanBone::RightLowerLeg,
                HumanBone::RightFoot,
            ],
        ),
    ] {
        let (hip, knee, ankle) = (
            lm::LEFT_HIP + offset,
            lm::LEFT_KNEE + offset,
            lm::LEFT_ANKLE + offset,
        );
        let (heel, toe) = (lm::LEFT_HEEL + offset, lm::LEFT_FOOT_INDEX + offset);
        if !seen(&[knee, ankle]) {
            continue;
        }
        let (upper_dir, lower_dir) = (p(knee) - p(hip), p(ankle) - p(knee));
        // The knee bends the shin backwards: about local +X on both legs.
        let bend = upper_dir.cross(lower_dir);
        let bent = frame(Axis::Y, -upper_dir, Axis::X, bend);
        let upper = limb(hips, Vec3::NEG_Y, upper_dir, lower_dir, bent);
        let lower_local = swing(Vec3::NEG_Y, upper.inverse() * lower_dir);
        out.push((bones[0], hips.inverse() * upper));
        out.push((bones[1], lower_local));
        if seen(&[heel, toe]) {
            let lower = upper * lower_local;
            let observed = foot_frame(p(toe) - p(heel), p(ankle) - p(heel));
            let nominal = foot_frame(layout::TOE - layout::HEEL, -layout::HEEL);
            if let (Some(o), Some(n)) = (observed, nominal) {
                out.push((bones[2], lower.inverse() * o * n.inverse()));
            }
        }
    }
    out
}

/// An upper limb's world rotation: the bend-plane frame when the limb is bent enough to show
/// it, else the shortest swing from the parent's rest direction, blended in between so that
/// straightening the limb never snaps.
fn limb(parent: Quat, rest: Vec3, dir: Vec3, next: Vec3, bent: Option<Quat>) -> Quat {
    let swung = parent * swing(rest, parent.inverse() * dir);
    let sin = dir.cross(next).length() / (dir.length() * next.length()).max(1e-9);
    // Below about 6 degrees of bend the plane is noise; above about 17 it is trusted.
    let trust = ((sin - 0.1) / 0.2).clamp(0.0, 1.0);
    match bent {
        // Both turn `rest` onto `dir`; they differ only by a twist about it, which the
        // blend interpolates.
        Some(b) if trust > 0.0 => swung.slerp(b, trust * trust * (3.0 - 2.0 * trust)),
        _ => swung,
    }
}

fn hand_frame(side: f32, index: Vec3, pinky: Vec3) -> Option<Quat> {
    frame(
        Axis::X,
        (index + pinky) * 0.5 * side,
        Axis::Z,
        index - pinky,
    )
}

fn foot_frame(heel_to_toe: Vec3, heel_to_ankle: Vec3) -> Option<Quat> {
    frame(Axis::Z, heel_to_toe, Axis::Y, heel_to_ankle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solver::ground_truth::{
        Rng, degrees, forward, limb_bones, median, pose_landmarks, rig,
    };
    use std::collections::BTreeMap;

    // Ground truth by construction: random poses within human limits on a real humanoid's
    // rest skeleton (the built-in avatar), landmarks by forward kinematics (plus noise),
    // then the solver, whose bone orientations must come back.

    /// The mirror image of a left-side rotation for the right side (reflection through the
    /// YZ plane).
    fn mirror(q: Quat) -> Quat {
        Quat::from_xyzw(q.x, -q.y, -q.z, q.w)
    }

    fn euler(rng: &mut Rng, x: (f32, f32), y: (f32, f32), z: (f32, f32)) -> Quat {
        Quat::from_rotation_z(rng.deg(z.0, z.1))
            * Quat::from_rotation_y(rng.deg(y.0, y.1))
            * Quat::from_rotation_x(rng.deg(x.0, x.1))
    }

    fn random_pose(rng: &mut Rng) -> BTreeMap<HumanBone, Quat> {
        use HumanBone::*;
        let mut q = BTreeMap::new();
        q.insert(
            Hips,
            euler(rng, (-15.0, 15.0), (-60.0, 60.0), (-15.0, 15.0)),
        );
        q.insert(
            Spine,
            euler(rng, (-10.0, 10.0), (-30.0, 30.0), (-10.0, 10.0)),
        );
        for left in [true, false] {
            let side = |q: Quat| if left { q } else { mirror(q) };
            // Upper arm: twist about the bone, forward/back, down/up.
            let arm = euler(rng, (-60.0, 60.0), (-90.0, 30.0), (-75.0, 60.0));
            let elbow = Quat::from_axis_angle(Vec3::NEG_Y, rng.deg(0.0, 140.0));
            let hand = euler(rng, (-40.0, 40.0), (-40.0, 40.0), (-40.0, 40.0));
            let leg = euler(rng, (-100.0, 20.0), (-30.0, 30.0), (-15.0, 40.0));
            let knee = Quat::from_rotation_x(rng.deg(0.0, 130.0));
            let foot = euler(rng, (-25.0, 25.0), (-25.0, 25.0), (-15.0, 15.0));
            let bones = limb_bones(left);
            for (bone, rot) in bones.into_iter().zip([arm, elbow, hand, leg, knee, foot]) {
                q.insert(bone, side(rot));
            }
        }
        q
    }

    /// World orientation errors per bone over `n` random poses.
    fn errors(n: usize, noise: f32) -> BTreeMap<HumanBone, Vec<f32>> {
        let rig = rig();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut errs: BTreeMap<HumanBone, Vec<f32>> = BTreeMap::new();
        for _ in 0..n {
            let truth = random_pose(&mut rng);
            let world = forward(&rig, &truth);
            let solved: BTreeMap<HumanBone, Quat> =
                solve(&pose_landmarks(&world, &mut rng, noise), 0.5)
                    .into_iter()
                    .collect();
            let solved_world = forward(&rig, &solved);
            for bone in truth.keys() {
                if solved.contains_key(bone) {
                    errs.entry(*bone)
                        .or_default()
                        .push(degrees(world[bone].0, solved_world[bone].0));
                }
            }
        }
        errs
    }

    #[test]
    fn limbs_come_back_from_their_landmarks() {
        use HumanBone::*;
        let errs = errors(300, 0.005);
        // The bound for arm and leg bones is 5 degrees. Hands and feet are read from
        // points 6 to 20 cm apart, where 5 mm of noise alone tilts them several degrees: 10.
        let bounds = [
            (LeftUpperArm, 5.0),
            (LeftLowerArm, 5.0),
            (RightUpperArm, 5.0),
            (RightLowerArm, 5.0),
            (LeftUpperLeg, 5.0),
            (LeftLowerLeg, 5.0),
            (RightUpperLeg, 5.0),
            (RightLowerLeg, 5.0),
            (LeftHand, 10.0),
            (RightHand, 10.0),
            (LeftFoot, 10.0),
            (RightFoot, 10.0),
        ];
        for (bone, bound) in bounds {
            let e = &errs[&bone];
            assert_eq!(e.len(), 300, "{bone:?} solved every time");
            let m = median(e.clone());
            eprintln!("{bone:?}: median {m:.2} deg, 90th {:.2}", {
                let mut s = e.clone();
                s.sort_by(f32::total_cmp);
                s[s.len() * 9 / 10]
            });
            assert!(
                m <= bound,
                "{bone:?}: median world orientation error {m:.2} deg"
            );
        }
    }

    #[test]
    fn exact_landmarks_give_exact_bent_limbs() {
        // Without noise, limbs bent enough to show their plane come back to a fraction of a
        // degree: the formulas, not the tolerance, carry the first test.
        let errs = errors(100, 0.0);
        let arm = median(errs[&HumanBone::LeftLowerArm].clone());
        let leg = median(errs[&HumanBone::RightLowerLeg].clone());
        assert!(arm < 0.5 && leg < 0.5, "arm {arm}, leg {leg}");
    }
}
