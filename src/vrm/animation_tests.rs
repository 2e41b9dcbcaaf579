use super::*;
use crate::vrm::gltf_data::world_rest_matrices;
use base64::Engine as _;
use serde_json::json;

const TEST_VRMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/testdata/vrm/vrma/test.vrma"
);

fn test_clip() -> VrmAnimation {
    load_animation_file(TEST_VRMA).unwrap()
}

fn near(a: f32, b: f32, eps: f32) -> bool {
    (a - b).abs() <= eps
}

/// The right upper arm's direction in the clip's own rig at `t`, by forward kinematics over the
/// file's nodes with the arm's raw key slerped in: the spec's "same posture" is what the eye
/// sees, so the normalized rotation must turn the T-pose arm (-X) exactly this way.
fn rig_arm_direction(t: f32) -> Vec3 {
    let bytes = std::fs::read(TEST_VRMA).unwrap();
    let container = split_container(&bytes).unwrap();
    let value: Value = serde_json::from_slice(container.json).unwrap();
    let data = read_animation(&value, container.bin, None, &Budget::default()).unwrap();
    let channel = data
        .channels
        .iter()
        .find(|c| c.node == 25 && c.target == Target::Rotation)
        .unwrap();
    let after = channel
        .times
        .partition_point(|&k| k <= t)
        .min(channel.times.len() - 1);
    let k0 = after.saturating_sub(1);
    let (t0, t1) = (channel.times[k0], channel.times[after]);
    let s = if t1 > t0 {
        ((t - t0) / (t1 - t0)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let q = |k: usize| Quat::from_slice(&channel.values[4 * k..4 * k + 4]).normalize();
    let mut nodes = data.nodes.clone();
    nodes[25].rotation = q(k0).slerp(q(after), s);
    let world = world_rest_matrices(&nodes);
    (world[26].w_axis.truncate() - world[25].w_axis.truncate()).normalize()
}

#[test]
fn the_test_clip_loads_with_its_three_tracks() {
    let clip = test_clip();
    assert!(near(clip.duration_ms() as f32, 3000.0, 1e-3));
    assert_eq!(clip.rotations.len(), 1);
    assert_eq!(clip.rotations[0].0, HumanBone::RightUpperArm);
    assert_eq!(clip.expression_names().collect::<Vec<_>>(), ["happy"]);
    assert!(matches!(clip.gaze, Some(Gaze::Rotation(_))));
    assert!(clip.hips.is_none());
    // The hips rest at 0.85 m in the clip's rig (a Z-up rig turned by its hips' rest rotation).
    assert!(near(clip.rest_hips.y, 0.85, 1e-5));
}

#[test]
fn bone_rotations_give_the_posture_the_clips_rig_shows() {
    let clip = test_clip();
    for step in 0..=30 {
        let t = step as f32 * 0.1;
        let pose = clip.sample(t, None);
        let arm = pose.rotation("rightUpperArm").unwrap() * Vec3::NEG_X;
        let rig = rig_arm_direction(t);
        assert!(
            arm.angle_between(rig).to_degrees() < 0.05,
            "t {t}: normalized arm {arm} but the rig shows {rig}"
        );
        // Only the animated bone is in the pose.
        assert_eq!(pose.bones.len(), 1);
    }
    // At 0.5 s the arm hangs down; at 0 and from 1 s it is in the T-pose.
    let down = clip.sample(0.5, None).rotation("rightUpperArm").unwrap() * Vec3::NEG_X;
    assert!(down.distance(Vec3::NEG_Y) < 1e-3, "{down}");
    let rest = clip.sample(2.0, None).rotation("rightUpperArm").unwrap();
    assert!(rest.angle_between(Quat::IDENTITY) < 1e-3);
}

#[test]
fn expressions_and_gaze_follow_their_tracks() {
    let clip = test_clip();
    let happy = |t: f32| clip.sample(t, None).expressions["happy"];
    assert_eq!(happy(0.0), 0.0);
    assert!(near(happy(1.25), 0.5, 1e-5));
    assert!(near(happy(1.5), 1.0, 1e-6));
    assert_eq!(happy(2.0), 0.0);
    // The lookAt node turns 90 degrees about +Y at 2.5 s: the eyes to the avatar's left (+X).
    let gaze = |t: f32| clip.sample(t, None).look_at.unwrap();
    assert!(near(gaze(0.0).yaw_deg, 0.0, 1e-3));
    assert!(near(gaze(2.5).yaw_deg, 90.0, 1e-3) && near(gaze(2.5).pitch_deg, 0.0, 1e-3));
    assert!(near(gaze(2.25).yaw_deg, 45.0, 1e-2), "slerped halfway");
    assert!(near(gaze(9.0).yaw_deg, 0.0, 1e-3), "held at the end");
}

/// A .vrma written here: `rest_hips_y` high hips whose parent is turned 90 degrees about Y, one
/// hips translation track and one cubic-spline spine rotation.
fn synthetic(times: &[f32], hips: &[[f32; 3]], interpolation: &str) -> Vec<u8> {
    let mut bin = Vec::new();
    for t in times {
        bin.extend_from_slice(&t.to_le_bytes());
    }
    let hips_offset = bin.len();
    for v in hips.iter().flatten() {
        bin.extend_from_slice(&v.to_le_bytes());
    }
    let uri = format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bin)
    );
    let doc = json!({
        "asset": {"version": "2.0"},
        "extensionsUsed": ["VRMC_vrm_animation"],
        "extensions": {"VRMC_vrm_animation": {"specVersion": "1.0",
            "humanoid": {"humanBones": {"hips": {"node": 1}}}}},
        "nodes": [
            {"name": "root", "rotation": [0.0, 0.70710677, 0.0, 0.70710677], "children": [1]},
            {"name": "hips", "translation": [0.0, 1.0, 0.0]}
        ],
        "buffers": [{"uri": uri, "byteLength": bin.len()}],
        "bufferViews": [
            {"buffer": 0, "byteLength": hips_offset},
            {"buffer": 0, "byteOffset": hips_offset, "byteLength": bin.len() - hips_offset}
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": times.len(), "type": "SCALAR"},
            {"bufferView": 1, "componentType": 5126, "count": hips.len(), "type": "VEC3"}
        ],
        "animations": [{"channels": [{"sampler": 0, "target": {"node": 1, "path": "translation"}}],
            "samplers": [{"input": 0, "output": 1, "interpolation": interpolation}]}]
    });
    serde_json::to_vec(&doc).unwrap()
}

#[test]
fn the_hips_move_in_model_space_scaled_to_the_avatar() {
    // Keys in the parent's space: +X there is -Z in model space (the parent is turned about Y).
    let bytes = synthetic(&[0.0, 1.0], &[[0.0, 1.0, 0.0], [0.2, 1.1, 0.0]], "LINEAR");
    let clip = load_animation(&bytes).unwrap();
    let offset = Vec3::from(clip.sample(1.0, None).hips_translation.unwrap());
    assert!(
        offset.distance(Vec3::new(0.0, 0.1, -0.2)) < 1e-5,
        "{offset}"
    );
    // An avatar whose hips stand half as high moves half as far.
    let half = Vec3::from(clip.sample(1.0, Some(0.5)).hips_translation.unwrap());
    assert!(half.distance(offset * 0.5) < 1e-5, "{half}");
    let mid = Vec3::from(clip.sample(0.5, None).hips_translation.unwrap());
    assert!(mid.distance(offset * 0.5) < 1e-5, "linear: {mid}");
}

#[test]
fn step_and_cubic_spline_keys_follow_gltf() {
    let step = load_animation(&synthetic(
        &[0.0, 1.0],
        &[[0.0, 1.0, 0.0], [0.0, 2.0, 0.0]],
        "STEP",
    ))
    .unwrap();
    assert_eq!(step.sample(0.99, None).hips_translation.unwrap()[1], 0.0);
    assert!(near(
        step.sample(1.0, None).hips_translation.unwrap()[1],
        1.0,
        1e-6
    ));
    // Cubic: (in, value, out) per key; flat tangents give the smoothstep between the values.
    let cubic = load_animation(&synthetic(
        &[0.0, 1.0],
        &[
            [0.0; 3],
            [0.0, 1.0, 0.0],
            [0.0; 3],
            [0.0; 3],
            [0.0, 2.0, 0.0],
            [0.0; 3],
        ],
        "CUBICSPLINE",
    ))
    .unwrap();
    let y = |t: f32| cubic.sample(t, None).hips_translation.unwrap()[1];
    assert!(near(y(0.25), 0.15625, 1e-5), "{}", y(0.25));
    assert!(near(y(0.5), 0.5, 1e-5));
    // Tangents are in units per second: a slope of 2/s out of the first key bends the curve up.
    let sloped = load_animation(&synthetic(
        &[0.0, 1.0],
        &[
            [0.0; 3],
            [0.0, 1.0, 0.0],
            [0.0, 2.0, 0.0],
            [0.0; 3],
            [0.0, 2.0, 0.0],
            [0.0; 3],
        ],
        "CUBICSPLINE",
    ))
    .unwrap();
    let ys = sloped.sample(0.25, None).hips_translation.unwrap()[1];
    assert!(near(ys, 0.15625 + 2.0 * 0.140625, 1e-5), "{ys}");
}

#[test]
fn bad_clips_are_refused_with_a_reason() {
    let godette = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/vrm/vrm0/Godette_vrm_v4.vrm"
    );
    let err = load_animation_file(godette).unwrap_err().to_string();
    assert!(err.contains("no VRMC_vrm_animation"), "{err}");
    let bytes = std::fs::read(TEST_VRMA).unwrap();
    let err = load_animation(&bytes[..bytes.len() / 2])
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
    let err = load_animation(&synthetic(&[1.0, 0.0], &[[0.0; 3], [0.0; 3]], "LINEAR"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("ascending"), "{err}");
    let err = load_animation(&synthetic(
        &[0.0, 1.0, 2.0],
        &[[0.0; 3], [0.0; 3]],
        "LINEAR",
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("3 key times but 2 values"), "{err}");
    let no_hips = String::from_utf8(synthetic(&[0.0], &[[0.0; 3]], "LINEAR"))
        .unwrap()
        .replace("\"hips\":{\"node\":1}", "\"spine\":{\"node\":1}");
    let err = load_animation(no_hips.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("no hips"), "{err}");
    assert!(load_animation(b"").is_err());
}

#[test]
fn a_quick_look_at_the_header_gives_the_duration_or_says_why_not() {
    let godette = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/vrm/vrm0/Godette_vrm_v4.vrm"
    ));
    let probe = probe_animation_file(Path::new(TEST_VRMA)).unwrap();
    assert!(near(probe as f32, 3000.0, 1e-3), "{probe}");
    let err = probe_animation_file(godette).unwrap_err().to_string();
    assert!(err.contains("no VRMC_vrm_animation"), "{err}");
    // The other way round: the clip is no avatar, the avatar is one.
    crate::vrm::probe_file(godette).unwrap();
    let err = crate::vrm::probe_file(Path::new(TEST_VRMA))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a VRM"), "{err}");
    let err = probe_animation_file(Path::new("/nonexistent.vrma"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent.vrma"), "{err}");
    let text = std::env::temp_dir().join("vrm-avatar-probe.txt");
    std::fs::write(&text, "hello").unwrap();
    assert!(probe_animation_file(&text).is_err());
    assert!(crate::vrm::probe_file(&text).is_err());
    let _ = std::fs::remove_file(&text);
}
