//! What each fuzz target does with its bytes. Shared by the fuzz binaries (`fuzz_targets/`)
//! and by `tests/fuzz_regressions.rs`, which replays every input kept in `fuzz/regressions/`:
//! whatever the bytes, a result or an error, never a panic, a hang or a huge allocation.
// Each fuzz binary uses one of these functions.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use obs_vrm_avatar::camera::{BT709_LIMITED, CameraFormat, CameraFrame};
use obs_vrm_avatar::vrm::{self, Budget, Instance, NormalizedRig, VrmModel};

/// Small enough that one input takes milliseconds; the limits themselves are unit-tested.
fn fuzz_budget() -> Budget {
    Budget {
        gpu_bytes: 64 << 20,
        decode_bytes: 64 << 20,
        external_bytes: 0,
        max_draws: 256,
        ..Budget::default()
    }
}

/// The built-in avatar, loaded once.
fn built_in() -> Arc<VrmModel> {
    static MODEL: OnceLock<Arc<VrmModel>> = OnceLock::new();
    Arc::clone(MODEL.get_or_init(|| {
        Arc::new(vrm::load(obs_vrm_avatar::default_avatar::default_avatar_vrm()).unwrap())
    }))
}

/// VRM or glTF bytes: loaded, summarized, posed and stepped (constraints, expressions, look-at,
/// spring bones) as the renderer would.
pub fn vrm_file(data: &[u8]) {
    let Ok(model) = vrm::load_within(data, &fuzz_budget()) else {
        return;
    };
    let _ = vrm::inspect_json(&model);
    let mut pose = obs_vrm_avatar::pose::AvatarPose::default();
    pose.set_rotation("head", glam::Quat::from_rotation_z(0.3));
    pose.set_rotation("leftUpperArm", glam::Quat::from_rotation_x(-0.8));
    pose.hips_translation = Some([0.1, 0.0, 0.0]);
    for name in model.expressions.names() {
        pose.expressions.insert(name.to_string(), 0.7);
    }
    pose.look_at = Some(obs_vrm_avatar::pose::LookAtAngles {
        yaw_deg: 20.0,
        pitch_deg: -10.0,
    });
    let mut instance = Instance::new(Arc::new(model));
    for _ in 0..3 {
        let _ = instance.update(&pose, 1.0 / 30.0);
    }
}

/// JSON of a `vrm-avatar track` result (landmarks) or of an `AvatarPose` file: parsed, then
/// solved and posed on the built-in avatar.
pub fn pose_json(data: &[u8]) {
    let model = built_in();
    if let Ok(file) = serde_json::from_slice::<obs_vrm_avatar::landmarks::LandmarksFile>(data) {
        let rig = NormalizedRig::new(&model.nodes, model.humanoid.as_ref().unwrap());
        let mut solver = obs_vrm_avatar::solver::Solver::new(&rig, Default::default());
        let mut instance = Instance::new(Arc::clone(&model));
        for frame in file.frames.iter().take(8) {
            let pose = solver.solve(frame, file.width, file.height);
            let _ = instance.update(&pose, 1.0 / 30.0);
        }
    }
    if let Ok(file) = serde_json::from_slice::<obs_vrm_avatar::pose::AvatarPoseFile>(data) {
        let mut instance = Instance::new(model);
        for pose in file.frames.iter().take(8) {
            let _ = instance.update(pose, 1.0 / 30.0);
        }
    }
}

/// Text given as an IVS participant token, ARN, capability list, duration or attribute.
pub fn token_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    use obs_vrm_avatar::ivs::token;
    let _ = token::inspect_at(text, 1_800_000_000);
    let _ = token::Arn::parse(text, "stage");
    let _ = token::Capabilities::parse(text);
    let _ = token::parse_duration(text);
    let _ = token::parse_attribute(text);
}

/// A camera frame as OBS could hand it over: the first bytes choose the format, size, strides
/// and copy step; the rest are the planes' bytes.
pub fn camera_frame(data: &[u8]) {
    let [f, w, h, step, s0, s1, s2, rest @ ..] = data else {
        return;
    };
    let format = CameraFormat::ALL[usize::from(*f) % CameraFormat::ALL.len()];
    let (width, height) = (u32::from(*w) % 24 + 1, u32::from(*h) % 16 + 1);
    let third = rest.len() / 3;
    let planes: Vec<(&[u8], usize)> = [
        (&rest[..third], *s0),
        (&rest[third..2 * third], *s1),
        (&rest[2 * third..], *s2),
    ]
    .into_iter()
    .map(|(bytes, stride)| (bytes, usize::from(stride)))
    .collect();
    let step = u32::from(*step % 4) + 1;
    if let Ok(frame) =
        CameraFrame::copy_decimated(width, height, format, &planes, step, BT709_LIMITED)
    {
        let _ = frame.to_rgb(16);
    }
}

/// A UDP datagram to the VMC receiver: taken or refused, never a panic; whatever it took,
/// sent back out by the VMC sender, is taken again the same.
pub fn vmc_datagram(data: &[u8]) {
    use obs_vrm_avatar::vmc::{Receiver, Rest, Sender};
    let mut receiver = Receiver::new();
    if receiver.datagram(data).is_err() {
        return;
    }
    let frame = receiver.frame();
    let pose = frame.pose_for(Some(glam::Vec3::Y));
    let mut again = Receiver::new();
    for bundles in [true, false] {
        let sender = Sender { bundles };
        for datagram in sender.datagrams(&pose, &Rest::default(), 0.0) {
            again
                .datagram(&datagram)
                .expect("what the sender sends is taken");
        }
    }
    assert_eq!(again.counts.malformed, 0);
}
