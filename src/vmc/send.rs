//! The performer's side: an avatar pose out as VMC datagrams.

use super::names::{blend_of_expression, unity_name};
use super::{position_from_unity, rotation_from_unity};
use crate::pose::AvatarPose;
use crate::vrm::{HumanBone, NormalizedRig, VrmModel};
use glam::{Quat, Vec3};
use rosc::{OscMessage, OscPacket, OscType, encoder};

/// Bundles are filled up to this many bytes, so that none is fragmented on an Ethernet link.
const BUNDLE_BYTES: usize = 1_400;

/// Where the sent avatar's bones sit at rest: receivers that move bones by position as well
/// (EVMC4U's bone position sync) need each bone's local position, and every receiver needs the
/// hips'. Positions in the avatar pose's space.
#[derive(Debug, Clone, PartialEq)]
pub struct Rest {
    /// Each humanoid bone the avatar has and its offset from its parent bone (the hips: from
    /// the model's origin), parents first.
    bones: Vec<(HumanBone, Vec3)>,
}

impl Default for Rest {
    /// A rest for a pose without an avatar: every bone at its parent's place, the hips a
    /// metre up (receivers use their own avatar's lengths for rotations).
    fn default() -> Self {
        Rest {
            bones: HumanBone::ALL
                .iter()
                .map(|&b| {
                    (
                        b,
                        if b == HumanBone::Hips {
                            Vec3::Y
                        } else {
                            Vec3::ZERO
                        },
                    )
                })
                .collect(),
        }
    }
}

impl Rest {
    /// The rest of `model`'s humanoid (the default rest when it has none).
    pub fn of(model: &VrmModel) -> Rest {
        let Some(humanoid) = &model.humanoid else {
            return Rest::default();
        };
        let rig = NormalizedRig::new(&model.nodes, humanoid);
        Rest {
            bones: HumanBone::ALL
                .iter()
                .filter_map(|&b| rig.bone(b).map(|r| (b, r.normalized_translation)))
                .collect(),
        }
    }

    /// Where the hips stand at rest (model space).
    pub fn hips(&self) -> Option<Vec3> {
        self.bones
            .iter()
            .find(|(b, _)| *b == HumanBone::Hips)
            .map(|(_, p)| *p)
    }
}

/// Turns poses into datagrams: `/VMC/Ext/OK`, `/VMC/Ext/T`, `/VMC/Ext/Root/Pos`, a
/// `/VMC/Ext/Bone/Pos` for every bone of the avatar, a `/VMC/Ext/Blend/Val` for every
/// expression and `/VMC/Ext/Blend/Apply`, in bundles of at most [`BUNDLE_BYTES`] or, for
/// receivers that refuse bundles, one message per datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    pub bundles: bool,
}

impl Sender {
    /// The datagrams for `pose` of an avatar at `rest`, at `t_s` on the performer's clock.
    pub fn datagrams(&self, pose: &AvatarPose, rest: &Rest, t_s: f32) -> Vec<Vec<u8>> {
        let messages = messages(pose, rest, t_s);
        let encoded: Vec<Vec<u8>> = messages
            .into_iter()
            .filter_map(|m| encoder::encode(&OscPacket::Message(m)).ok())
            .collect();
        if !self.bundles {
            return encoded;
        }
        // A bundle: "#bundle\0", a time tag ("immediately"), then size-prefixed elements.
        let header = || {
            let mut b = b"#bundle\0".to_vec();
            b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
            b
        };
        let mut out = Vec::new();
        let mut bundle = header();
        for message in encoded {
            if bundle.len() > 16 && bundle.len() + 4 + message.len() > BUNDLE_BYTES {
                out.push(std::mem::replace(&mut bundle, header()));
            }
            bundle.extend_from_slice(&(message.len() as u32).to_be_bytes());
            bundle.extend_from_slice(&message);
        }
        if bundle.len() > 16 {
            out.push(bundle);
        }
        out
    }
}

fn message(addr: &str, args: Vec<OscType>) -> OscMessage {
    OscMessage {
        addr: addr.into(),
        args,
    }
}

fn transform(name: String, p: Vec3, q: Quat) -> Vec<OscType> {
    let (p, q) = (position_from_unity(p), rotation_from_unity(q));
    [name.into()]
        .into_iter()
        .chain(
            [p.x, p.y, p.z, q.x, q.y, q.z, q.w]
                .into_iter()
                .map(OscType::Float),
        )
        .collect()
}

fn messages(pose: &AvatarPose, rest: &Rest, t_s: f32) -> Vec<OscMessage> {
    let mut out = vec![
        // Loaded, calibrated, normal calibration mode, tracking well.
        message(
            "/VMC/Ext/OK",
            vec![
                OscType::Int(1),
                OscType::Int(3),
                OscType::Int(0),
                OscType::Int(1),
            ],
        ),
        message("/VMC/Ext/T", vec![OscType::Float(t_s)]),
        message(
            "/VMC/Ext/Root/Pos",
            transform("root".into(), Vec3::ZERO, Quat::IDENTITY),
        ),
    ];
    for &(bone, offset) in &rest.bones {
        let position = if bone == HumanBone::Hips {
            offset + pose.hips_offset()
        } else {
            offset
        };
        let rotation = pose.rotation(bone.name()).unwrap_or(Quat::IDENTITY);
        out.push(message(
            "/VMC/Ext/Bone/Pos",
            transform(unity_name(bone), position, rotation),
        ));
    }
    for (name, &weight) in &pose.expressions {
        if weight.is_finite() {
            out.push(message(
                "/VMC/Ext/Blend/Val",
                vec![
                    blend_of_expression(name).into(),
                    OscType::Float(weight.clamp(0.0, 1.0)),
                ],
            ));
        }
    }
    out.push(message("/VMC/Ext/Blend/Apply", vec![]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vmc::Receiver;

    fn pose() -> AvatarPose {
        let mut pose = AvatarPose::default();
        pose.set_rotation("leftUpperArm", Quat::from_rotation_z(-1.2));
        pose.set_rotation(
            "head",
            Quat::from_euler(glam::EulerRot::YXZ, 0.4, -0.2, 0.1),
        );
        pose.set_rotation("hips", Quat::from_rotation_y(0.3));
        pose.set_rotation("rightThumbMetacarpal", Quat::from_rotation_x(0.5));
        pose.hips_translation = Some([0.05, -0.1, 0.02]);
        pose.expressions.insert("aa".into(), 0.7);
        pose.expressions.insert("happy".into(), 1.0);
        pose.expressions.insert("JawOpen".into(), 0.25);
        pose
    }

    fn assert_round_trip(sender: Sender) {
        let rest = Rest::default();
        let datagrams = sender.datagrams(&pose(), &rest, 12.5);
        let mut receiver = Receiver::new();
        for d in &datagrams {
            receiver.datagram(d).unwrap();
        }
        assert_eq!(receiver.counts.malformed, 0);
        assert_eq!(receiver.time(), Some(12.5));
        assert_eq!(receiver.loaded(), Some(true));
        let got = receiver.frame().pose_for(rest.hips());
        let want = pose();
        for bone in [
            "leftUpperArm",
            "head",
            "hips",
            "rightThumbMetacarpal",
            "spine",
        ] {
            let (a, b) = (
                got.rotation(bone).unwrap(),
                want.rotation(bone).unwrap_or(Quat::IDENTITY),
            );
            assert!(a.angle_between(b) < 1e-4, "{bone}: {a} vs {b}");
        }
        let t = got.hips_offset();
        assert!((t - want.hips_offset()).length() < 1e-5, "{t}");
        assert_eq!(got.expressions, want.expressions);
    }

    #[test]
    fn what_is_sent_is_what_is_received() {
        assert_round_trip(Sender { bundles: true });
        assert_round_trip(Sender { bundles: false });
    }

    #[test]
    fn bundles_stay_under_an_ethernet_frame_and_loose_messages_come_one_by_one() {
        let rest = Rest::default();
        let bundled = Sender { bundles: true }.datagrams(&pose(), &rest, 0.0);
        assert!(bundled.len() > 1);
        for d in &bundled {
            assert!(
                d.starts_with(b"#bundle\0") && d.len() <= BUNDLE_BYTES,
                "{}",
                d.len()
            );
        }
        let loose = Sender { bundles: false }.datagrams(&pose(), &rest, 0.0);
        // OK, T, root, 55 bones, 3 blend values, apply.
        assert_eq!(loose.len(), 3 + 55 + 3 + 1);
        assert!(loose.iter().all(|d| d.starts_with(b"/VMC/Ext/")));
        assert!(loose.last().unwrap().starts_with(b"/VMC/Ext/Blend/Apply"));
    }

    #[test]
    fn an_avatars_rest_has_its_bones_and_hips_height() {
        let model = crate::default_avatar::load_avatar(None).unwrap();
        let rest = Rest::of(&model);
        let hips = rest.hips().unwrap();
        assert!(hips.y > 0.5 && hips.y < 1.5, "{hips}");
        assert!(rest.bones.len() >= 15);
        assert_eq!(rest.bones[0].0, HumanBone::Hips);
    }
}
