//! The solver against poses known by construction (synthetic landmarks of a posed rig).

use super::*;
use crate::landmarks::PoseLandmarks;
use crate::solver::face::tests::{observe, synthetic_face};
use crate::solver::ground_truth::{Rng, degrees, forward, pose_landmarks, rig};

const FPS: f64 = 30.0;

/// A frame holding the body of a skeleton posed with `locals` (image points are the world
/// points placed in the middle of the picture; only the shoulders' are read from them).
fn body_frame(index: u64, locals: &BTreeMap<HumanBone, Quat>, hidden: &[usize]) -> LandmarkFrame {
    let rig = rig();
    let mut world = pose_landmarks(&forward(&rig, locals), &mut Rng(1), 0.0);
    for &i in hidden {
        world[i][3] = 0.1;
    }
    let image = world
        .iter()
        .map(|p| [0.5 + p[0] * 0.4, 0.5 + p[1] * 0.4, p[2], p[3]])
        .collect();
    LandmarkFrame {
        index,
        t_ms: index as f64 * 1000.0 / FPS,
        pose: Some(PoseLandmarks { image, world }),
        ..Default::default()
    }
}

fn arm_forward() -> BTreeMap<HumanBone, Quat> {
    // The left arm straight ahead, the right one down.
    BTreeMap::from([
        (HumanBone::LeftUpperArm, Quat::from_rotation_y(-1.5)),
        (HumanBone::RightUpperArm, Quat::from_rotation_z(-1.3)),
        (HumanBone::LeftLowerArm, Quat::from_rotation_y(-0.4)),
    ])
}

fn solver(mirror: bool) -> Solver {
    Solver::new(
        &rig(),
        SolverSettings {
            mirror,
            ..SolverSettings::default()
        },
    )
}

#[test]
fn a_lost_arm_eases_to_rest_and_comes_back_without_a_snap() {
    let mut solver = solver(false);
    let raised = arm_forward();
    let mut lowered = raised.clone();
    lowered.insert(HumanBone::LeftUpperArm, Quat::from_rotation_z(-0.9));
    let (elbow, wrist) = (body::lm::LEFT_ELBOW, body::lm::LEFT_WRIST);
    let mut arm = Vec::new();
    let mut idle = IdleMotion::new(0x5eed);
    let mut rest = Vec::new();
    for i in 0..120u64 {
        let frame = match i {
            0..30 => body_frame(i, &raised, &[]),
            30..60 => body_frame(i, &raised, &[elbow, wrist]),
            _ => body_frame(i, &lowered, &[]),
        };
        let pose = solver.solve(&frame, 1280, 720);
        arm.push(pose.rotation("leftUpperArm").unwrap());
        rest.push(
            idle.pose(frame.t_ms as f32 / 1000.0)
                .rotation("leftUpperArm")
                .unwrap(),
        );
    }
    let steps: Vec<f32> = arm.windows(2).map(|w| degrees(w[0], w[1])).collect();
    let worst = steps.iter().cloned().fold(0.0, f32::max);
    assert!(
        worst < 20.0,
        "no snap: worst step {worst:.1} degrees: {steps:?}"
    );
    assert!(
        degrees(arm[29], raised[&HumanBone::LeftUpperArm]) < 3.0,
        "tracked first"
    );
    // Half a second after the arm was lost it is at rest (the idle pose's arm).
    assert!(
        degrees(arm[45], rest[45]) < 1.0,
        "{}",
        degrees(arm[45], rest[45])
    );
    // And a second after it came back it follows the new pose.
    let back = degrees(arm[119], lowered[&HumanBone::LeftUpperArm]);
    assert!(back < 3.0, "{back}");
}

#[test]
fn mirroring_swaps_sides_and_reflects_rotations() {
    let (mut plain, mut mirrored) = (solver(false), solver(true));
    let (mut a, mut b) = (AvatarPose::default(), AvatarPose::default());
    for i in 0..30 {
        let frame = body_frame(i, &arm_forward(), &[]);
        a = plain.solve(&frame, 1280, 720);
        b = mirrored.solve(&frame, 1280, 720);
    }
    let locals = |pose: &AvatarPose| -> BTreeMap<HumanBone, Quat> {
        HumanBone::ALL
            .iter()
            .filter_map(|&bone| Some((bone, pose.rotation(bone.name())?)))
            .collect()
    };
    // The person's left arm ahead: the mirrored avatar's right arm points ahead.
    let dir = world(&locals(&b), HumanBone::RightUpperArm) * Vec3::NEG_X;
    assert!(dir.z > 0.95, "{dir}");
    let left = a.rotation("leftUpperArm").unwrap();
    let right = b.rotation("rightUpperArm").unwrap();
    assert!(degrees(right, Quat::from_xyzw(left.x, -left.y, -left.z, left.w)) < 1e-3);
    let mut pose = AvatarPose::default();
    pose.expressions.insert("blinkLeft".into(), 1.0);
    pose.look_at = Some(LookAtAngles {
        yaw_deg: 10.0,
        pitch_deg: 5.0,
    });
    pose.hips_translation = Some([0.1, 0.0, 0.0]);
    mirror(&mut pose);
    assert_eq!(pose.expressions.get("blinkRight"), Some(&1.0));
    assert_eq!(pose.look_at.unwrap().yaw_deg, -10.0);
    assert_eq!(pose.hips_translation, Some([-0.1, 0.0, 0.0]));
}

#[test]
fn the_face_turns_the_head_and_closes_the_eyes() {
    let mut rng = Rng(3);
    let face = synthetic_face(&mut rng);
    let mut shut = face.clone();
    for (upper, lower) in [
        ([387, 386, 385], [373, 374, 380]),
        ([160, 159, 158], [144, 145, 153]),
    ] {
        for (u, l) in upper.into_iter().zip(lower) {
            shut[u].y = shut[l].y;
        }
    }
    let mut solver = solver(false);
    let turn = Quat::from_rotation_y(0.5);
    let mut last = AvatarPose::default();
    for i in 0..40u64 {
        let (head, eyes) = if i == 0 {
            (Quat::IDENTITY, &face)
        } else if i < 20 {
            (turn, &face)
        } else {
            (turn, &shut)
        };
        if i == 0 {
            solver.calibrate();
        }
        let frame = LandmarkFrame {
            index: i,
            t_ms: i as f64 * 1000.0 / FPS,
            face: Some(observe(eyes, head, &mut rng, 0.3)),
            ..Default::default()
        };
        last = solver.solve(&frame, 1280, 720);
        if i == 19 {
            let both = last.rotation("neck").unwrap() * last.rotation("head").unwrap();
            assert!(degrees(both, turn) < 3.0, "{}", degrees(both, turn));
            assert!(last.expressions["blink"] < 0.05);
        }
    }
    assert!(solver.calibrated());
    assert!(last.expressions["blink"] > 0.95, "{:?}", last.expressions);
    assert!(last.expressions["blinkLeft"] < 0.05);
}

/// An open hand of the avatar's rig as the hand model reports it (a square 1000 px
/// image, the wrist in the middle), each finger bent `bend` radians at its knuckle.
fn open_hand(left: bool, bend: f32) -> Vec<[f32; 3]> {
    use HumanBone::{LeftHand, RightHand};
    let rig = rig();
    let at = |b: HumanBone| rig.bone(b).unwrap().rest_world_position;
    let wrist = at(if left { LeftHand } else { RightHand });
    let chains = hands::chain_bones(left);
    let mut pts = vec![wrist; 21];
    for (c, chain) in chains.iter().enumerate() {
        let knuckle = at(chain[0]);
        let (mid, end) = (at(chain[1]), at(chain[2]));
        let tip = end + (end - mid);
        let dir = (mid - knuckle).normalize();
        // Curl towards the palm (palms face down at rest).
        let turn = Quat::from_axis_angle(dir.cross(Vec3::NEG_Y).normalize(), bend);
        let bent = |p: Vec3| knuckle + turn * (p - knuckle);
        pts[1 + 4 * c] = knuckle;
        pts[2 + 4 * c] = bent(mid);
        pts[3 + 4 * c] = bent(end);
        pts[4 + 4 * c] = bent(tip);
    }
    pts.iter()
        .map(|p| {
            let v = *p - wrist;
            [0.5 + v.x, 0.5 - v.y, -v.z]
        })
        .collect()
}

#[test]
fn calibrating_with_open_hands_removes_the_trackers_finger_bias() {
    let index_bend = |calibrate: bool| {
        let mut solver = solver(false);
        let mut pose = AvatarPose::default();
        for i in 0..30u64 {
            if calibrate && i == 0 {
                solver.calibrate();
            }
            let frame = LandmarkFrame {
                index: i,
                t_ms: i as f64 * 1000.0 / FPS,
                left_hand: Some(open_hand(true, 0.2)),
                ..Default::default()
            };
            pose = solver.solve(&frame, 1000, 1000);
        }
        let q = pose.rotation("leftIndexProximal").unwrap();
        q.angle_between(Quat::IDENTITY).to_degrees()
    };
    let (raw, calibrated) = (index_bend(false), index_bend(true));
    assert!(
        (raw - 11.5).abs() < 1.5,
        "the bias shows uncalibrated: {raw}"
    );
    assert!(
        calibrated < 1.0,
        "and is gone after calibration: {calibrated}"
    );
}

#[test]
fn the_hips_follow_the_shoulders_across_the_picture() {
    let mut solver = solver(false);
    let pose = arm_forward();
    let mut last = AvatarPose::default();
    for i in 0..40u64 {
        let mut frame = body_frame(i, &pose, &[]);
        if i >= 10 {
            // 0.1 of the picture to the right: towards the subject's left.
            for p in &mut frame.pose.as_mut().unwrap().image {
                p[0] += 0.1;
            }
        }
        last = solver.solve(&frame, 1000, 1000);
    }
    let [x, y, z] = last.hips_translation.unwrap();
    // body_frame draws 0.4 of the picture per meter: 0.1 is 0.25 m.
    assert!(
        (x - 0.25).abs() < 0.02 && y.abs() < 0.02 && z.abs() < 0.02,
        "{x} {y} {z}"
    );
}

#[test]
fn joints_stay_within_their_reach() {
    let far = Quat::from_rotation_y(2.5);
    assert!((within(far, HEAD_REACH).angle_between(Quat::IDENTITY) - HEAD_REACH).abs() < 1e-4);
    assert!(within(far, HEAD_REACH).y > 0.0, "the same way round");
    assert_eq!(
        within(-Quat::from_rotation_x(0.3), 1.0),
        Quat::from_rotation_x(0.3)
    );
}

#[test]
fn hips_leaving_the_picture_hand_their_turn_to_the_spine_without_turning_twice() {
    let mut solver = Solver::new(
        &rig(),
        SolverSettings {
            mirror: false,
            smoothing: 0.0,
            ..SolverSettings::default()
        },
    );
    // A lean to one side: hips and spine rolled in the picture's plane.
    let mut lean = arm_forward();
    lean.insert(HumanBone::Hips, Quat::from_rotation_z(0.2));
    lean.insert(HumanBone::Spine, Quat::from_rotation_z(0.15));
    let torso = |pose: &AvatarPose| {
        pose.rotation("hips").unwrap_or(Quat::IDENTITY)
            * pose.rotation("spine").unwrap_or(Quat::IDENTITY)
    };
    let expected = Quat::from_rotation_z(0.35);
    for i in 0..60u64 {
        let mut frame = body_frame(i, &lean, &[]);
        let below = i >= 30;
        if below {
            // The camera looks higher: hips and knees below the picture, shoulders in it.
            for p in &mut frame.pose.as_mut().unwrap().image {
                p[1] += 0.6;
            }
        }
        let pose = solver.solve(&frame, 1000, 1000);
        if i == 29 || i == 59 {
            let hips = pose.rotation("hips").unwrap_or(Quat::IDENTITY);
            assert!(
                degrees(torso(&pose), expected) < 1.0,
                "frame {i}: the torso leans {:.1} degrees from the person's lean",
                degrees(torso(&pose), expected)
            );
            let hips_turn = degrees(hips, Quat::IDENTITY);
            if below {
                assert!(hips_turn < 0.5, "hips below the picture rest: {hips_turn}");
            } else {
                assert!(
                    (hips_turn - 0.2f32.to_degrees()).abs() < 1.0,
                    "hips in the picture turn: {hips_turn}"
                );
            }
        }
    }
}
