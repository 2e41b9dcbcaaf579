//! The marionette's side: datagrams in, the performer's avatar out.

use super::names::{bone_of_unity, expression_of_blend};
use super::wire::{self, WireError};
use super::{position_from_unity, rotation_from_unity};
use crate::pose::AvatarPose;
use crate::vrm::HumanBone;
use glam::{Quat, Vec3};
use rosc::{OscMessage, OscPacket, OscType};
use std::collections::BTreeMap;

/// Blend shape names kept at most (a perfect-sync face has 52; a flood of new names stops here).
const MAX_BLENDS: usize = 512;
/// Longer blend shape names are refused.
const MAX_NAME: usize = 128;

/// The performer's avatar as last received, in the avatar pose's space.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VmcFrame {
    /// Normalized local rotations (VRM 1.0 names) of the bones received, the root's rotation
    /// folded into the hips, and expression weights (VRM 1.0 presets, other names as sent).
    pub pose: AvatarPose,
    /// Where the hips are in the model's space (the root's transform applied), when sent.
    pub hips_position: Option<Vec3>,
}

impl VmcFrame {
    /// The pose for an avatar whose hips stand at `rest_hips` (model space) at rest: the hips
    /// go where the performer's are.
    pub fn pose_for(&self, rest_hips: Option<Vec3>) -> AvatarPose {
        let mut pose = self.pose.clone();
        if let (Some(at), Some(rest)) = (self.hips_position, rest_hips) {
            pose.hips_translation = Some((at - rest).to_array());
        }
        pose
    }
}

/// Counts of what came in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub datagrams: u64,
    pub messages: u64,
    /// Datagrams or messages refused as malformed.
    pub malformed: u64,
    /// Messages of addresses VMC has but the avatar does not use (cameras, trackers, ...).
    pub ignored: u64,
    /// `/VMC/Ext/Blend/Apply`s: performers send one at the end of each frame.
    pub applied: u64,
}

/// Reads VMC datagrams (loose messages or bundles) into the performer's avatar.
#[derive(Debug, Default)]
pub struct Receiver {
    root: Option<(Vec3, Quat)>,
    bones: BTreeMap<HumanBone, Quat>,
    hips_local: Option<Vec3>,
    /// `/VMC/Ext/Blend/Val` values waiting for `/VMC/Ext/Blend/Apply`.
    pending: BTreeMap<String, f32>,
    blends: BTreeMap<String, f32>,
    /// `/VMC/Ext/OK`'s first argument: whether the performer has an avatar loaded.
    loaded: Option<bool>,
    /// `/VMC/Ext/T`: the performer's clock, seconds.
    time: Option<f32>,
    pub counts: Counts,
}

impl Receiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one datagram: whether it moved the avatar. A malformed datagram changes nothing
    /// (a bundle is checked whole first); a malformed message inside a good bundle is skipped.
    pub fn datagram(&mut self, bytes: &[u8]) -> Result<bool, WireError> {
        self.counts.datagrams += 1;
        let checked = wire::check(bytes).and_then(|_| {
            rosc::decoder::decode_udp(bytes).map_err(|e| WireError::Decode(e.to_string()))
        });
        let packet = match checked {
            Ok((_, packet)) => packet,
            Err(err) => {
                self.counts.malformed += 1;
                return Err(err);
            }
        };
        let mut moved = false;
        let mut first_error = None;
        self.packet(packet, &mut moved, &mut first_error);
        match first_error {
            Some(err) if !moved => Err(err),
            _ => Ok(moved),
        }
    }

    fn packet(&mut self, packet: OscPacket, moved: &mut bool, error: &mut Option<WireError>) {
        match packet {
            OscPacket::Message(message) => {
                self.counts.messages += 1;
                match self.message(&message) {
                    Ok(m) => *moved |= m,
                    Err(err) => {
                        self.counts.malformed += 1;
                        error.get_or_insert(err);
                    }
                }
            }
            OscPacket::Bundle(bundle) => {
                for packet in bundle.content {
                    self.packet(packet, moved, error);
                }
            }
        }
    }

    fn message(&mut self, m: &OscMessage) -> Result<bool, WireError> {
        let bad = |why| WireError::Arguments(m.addr.chars().take(64).collect(), why);
        match m.addr.as_str() {
            "/VMC/Ext/Root/Pos" => {
                let (_, p, q) = transform(&m.args).ok_or_else(|| bad(TRANSFORM))?;
                self.root = Some((p, q));
                Ok(true)
            }
            "/VMC/Ext/Bone/Pos" => {
                let (name, p, q) = transform(&m.args).ok_or_else(|| bad(TRANSFORM))?;
                let Some(bone) = bone_of_unity(name) else {
                    self.counts.ignored += 1;
                    return Ok(false);
                };
                if bone == HumanBone::Hips {
                    self.hips_local = Some(p);
                }
                self.bones.insert(bone, q);
                Ok(true)
            }
            "/VMC/Ext/Blend/Val" => {
                let (name, value) = match m.args.as_slice() {
                    [OscType::String(name), value] => (name, number(value)),
                    _ => (&String::new(), None),
                };
                let value = value.ok_or_else(|| bad("other than a name and a number"))?;
                if name.is_empty() || name.len() > MAX_NAME {
                    return Err(bad("an empty or over-long name"));
                }
                let name = expression_of_blend(name);
                if self.pending.len() >= MAX_BLENDS && !self.pending.contains_key(&name) {
                    return Err(bad("more blend shape names than an avatar has"));
                }
                self.pending.insert(name, value.clamp(0.0, 1.0));
                Ok(false)
            }
            "/VMC/Ext/Blend/Apply" => {
                self.counts.applied += 1;
                for (name, value) in std::mem::take(&mut self.pending) {
                    if self.blends.len() < MAX_BLENDS || self.blends.contains_key(&name) {
                        self.blends.insert(name, value);
                    }
                }
                Ok(true)
            }
            "/VMC/Ext/OK" => {
                let loaded = m
                    .args
                    .first()
                    .and_then(number)
                    .ok_or_else(|| bad("no status"))?;
                self.loaded = Some(loaded != 0.0);
                Ok(false)
            }
            "/VMC/Ext/T" => {
                self.time = Some(
                    m.args
                        .first()
                        .and_then(number)
                        .ok_or_else(|| bad("no time"))?,
                );
                Ok(false)
            }
            _ => {
                self.counts.ignored += 1;
                Ok(false)
            }
        }
    }

    /// Whether the performer says it has an avatar loaded (`/VMC/Ext/OK`), when it said.
    pub fn loaded(&self) -> Option<bool> {
        self.loaded
    }

    /// The performer's clock (`/VMC/Ext/T`), when it sent one.
    pub fn time(&self) -> Option<f32> {
        self.time
    }

    /// The performer's avatar now.
    pub fn frame(&self) -> VmcFrame {
        let mut pose = AvatarPose::default();
        for (bone, rotation) in &self.bones {
            pose.set_rotation(bone.name(), *rotation);
        }
        let mut hips_position = self.hips_local;
        if let Some((root_position, root_rotation)) = self.root {
            let hips = self.bones.get(&HumanBone::Hips).copied();
            pose.set_rotation(
                HumanBone::Hips.name(),
                root_rotation * hips.unwrap_or(Quat::IDENTITY),
            );
            hips_position = self
                .hips_local
                .map(|local| root_position + root_rotation * local);
        }
        pose.expressions = self.blends.clone();
        VmcFrame {
            pose,
            hips_position,
        }
    }
}

const TRANSFORM: &str = "other than a name, a position and a rotation";

/// `name, px, py, pz, qx, qy, qz, qw` (and optional extras), in the pose's space; None when the
/// types are wrong or a number is not finite or the rotation is not a rotation.
fn transform(args: &[OscType]) -> Option<(&str, Vec3, Quat)> {
    let OscType::String(name) = args.first()? else {
        return None;
    };
    let n: Vec<f32> = args.get(1..8)?.iter().map(number).collect::<Option<_>>()?;
    let p = Vec3::new(n[0], n[1], n[2]);
    let q = Quat::from_xyzw(n[3], n[4], n[5], n[6]);
    if !p.is_finite() || !q.is_finite() || q.length_squared() < 1e-6 {
        return None;
    }
    Some((
        name,
        position_from_unity(p),
        rotation_from_unity(q.normalize()),
    ))
}

/// A finite number, whichever OSC number type carries it.
fn number(arg: &OscType) -> Option<f32> {
    let v = match *arg {
        OscType::Float(v) => v,
        OscType::Double(v) => v as f32,
        OscType::Int(v) => v as f32,
        OscType::Long(v) => v as f32,
        _ => return None,
    };
    v.is_finite().then_some(v)
}

#[cfg(test)]
#[path = "receive_tests.rs"]
mod tests;
