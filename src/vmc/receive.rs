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
/// Positions further out are refused (and non-finite ones).
const MAX_METERS: f32 = 1_000.0;

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

    /// Reads one datagram: whether it moved the avatar. A datagram is taken whole or not at
    /// all: one malformed message refuses the bundle it is in (a frame half applied is a
    /// wrong frame).
    pub fn datagram(&mut self, bytes: &[u8]) -> Result<bool, WireError> {
        self.counts.datagrams += 1;
        let updates = wire::check(bytes).and_then(|messages| {
            let (rest, packet) =
                rosc::decoder::decode_udp(bytes).map_err(|e| WireError::Decode(e.to_string()))?;
            let mut updates = Vec::new();
            collect(&packet, &mut updates)?;
            // rosc stops quietly at a bundle element it cannot read and keeps the ones before:
            // every message the shape check counted must have been read.
            if !rest.is_empty() || updates.len() != messages {
                return Err(WireError::Decode(
                    "a bundle element that does not decode".into(),
                ));
            }
            Ok(updates)
        });
        let updates = match updates {
            Ok(updates) => updates,
            Err(err) => {
                self.counts.malformed += 1;
                return Err(err);
            }
        };
        self.counts.messages += updates.len() as u64;
        let mut moved = false;
        for update in updates {
            moved |= self.apply(update);
        }
        Ok(moved)
    }

    /// Forgets the performer's avatar (the counts stay): a performer silent for a while may
    /// be gone, and the next must not inherit its bones.
    pub fn forget(&mut self) {
        *self = Receiver {
            counts: self.counts,
            ..Receiver::default()
        };
    }

    /// Takes `update`; whether it moved the avatar.
    fn apply(&mut self, update: Update) -> bool {
        match update {
            Update::Root(p, q) => self.root = Some((p, q)),
            Update::Bone(bone, p, q) => {
                if bone == HumanBone::Hips {
                    self.hips_local = Some(p);
                }
                self.bones.insert(bone, q);
            }
            Update::Blend(name, value) => {
                // A flood of new names stops at what an avatar could have.
                if self.pending.len() < MAX_BLENDS || self.pending.contains_key(&name) {
                    self.pending.insert(name, value);
                }
                return false;
            }
            Update::Apply => {
                self.counts.applied += 1;
                for (name, value) in std::mem::take(&mut self.pending) {
                    if self.blends.len() < MAX_BLENDS || self.blends.contains_key(&name) {
                        self.blends.insert(name, value);
                    }
                }
            }
            Update::Loaded(loaded) => {
                self.loaded = Some(loaded);
                return false;
            }
            Update::Time(t) => {
                self.time = Some(t);
                return false;
            }
            Update::Ignored => {
                self.counts.ignored += 1;
                return false;
            }
        }
        true
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

/// What one message says.
enum Update {
    Root(Vec3, Quat),
    Bone(HumanBone, Vec3, Quat),
    Blend(String, f32),
    Apply,
    Loaded(bool),
    Time(f32),
    /// An address VMC has but the avatar does not use (cameras, trackers, ...), or a bone
    /// the avatar does not have.
    Ignored,
}

/// The updates of every message in `packet`; the first malformed one is the error.
fn collect(packet: &OscPacket, updates: &mut Vec<Update>) -> Result<(), WireError> {
    match packet {
        OscPacket::Message(m) => updates.push(read(m)?),
        OscPacket::Bundle(bundle) => {
            for packet in &bundle.content {
                collect(packet, updates)?;
            }
        }
    }
    Ok(())
}

/// What message `m` says, its arguments checked against the protocol.
fn read(m: &OscMessage) -> Result<Update, WireError> {
    let bad = |why| WireError::Arguments(m.addr.chars().take(64).collect(), why);
    Ok(match m.addr.as_str() {
        "/VMC/Ext/Root/Pos" => {
            let (_, p, q) = transform(&m.args).ok_or_else(|| bad(TRANSFORM))?;
            Update::Root(p, q)
        }
        "/VMC/Ext/Bone/Pos" => {
            let (name, p, q) = transform(&m.args).ok_or_else(|| bad(TRANSFORM))?;
            bone_of_unity(name).map_or(Update::Ignored, |bone| Update::Bone(bone, p, q))
        }
        "/VMC/Ext/Blend/Val" => {
            let [OscType::String(name), value] = m.args.as_slice() else {
                return Err(bad("other than a name and a number"));
            };
            let value = number(value).ok_or_else(|| bad("other than a name and a number"))?;
            if name.is_empty() || name.len() > MAX_NAME {
                return Err(bad("an empty or over-long name"));
            }
            Update::Blend(expression_of_blend(name), value.clamp(0.0, 1.0))
        }
        "/VMC/Ext/Blend/Apply" => Update::Apply,
        "/VMC/Ext/OK" => match m.args.first() {
            Some(OscType::Int(loaded)) => Update::Loaded(*loaded != 0),
            _ => return Err(bad("no status")),
        },
        "/VMC/Ext/T" => Update::Time(
            m.args
                .first()
                .and_then(number)
                .ok_or_else(|| bad("no time"))?,
        ),
        _ => Update::Ignored,
    })
}

/// `name, px, py, pz, qx, qy, qz, qw` (and optional extras), in the pose's space; None when the
/// types are wrong or a number is not finite or the rotation is not a rotation.
fn transform(args: &[OscType]) -> Option<(&str, Vec3, Quat)> {
    let OscType::String(name) = args.first()? else {
        return None;
    };
    let n: Vec<f32> = args.get(1..8)?.iter().map(number).collect::<Option<_>>()?;
    let p = Vec3::new(n[0], n[1], n[2]);
    let q = Quat::from_xyzw(n[3], n[4], n[5], n[6]);
    // Finite and sane: a kilometre away is no avatar's bone, and a quaternion whose length
    // overflows normalizes to nothing.
    let length = q.length_squared();
    if p.abs().max_element() > MAX_METERS || !length.is_finite() || length < 1e-6 {
        return None;
    }
    Some((
        name,
        position_from_unity(p),
        rotation_from_unity(q.normalize()),
    ))
}

/// A finite float (the protocol sends 32-bit floats; 64-bit ones are taken too). An integer
/// is refused: where a float belongs it is a wrongly typed message, not a number.
fn number(arg: &OscType) -> Option<f32> {
    let v = match *arg {
        OscType::Float(v) => v,
        OscType::Double(v) => v as f32,
        _ => return None,
    };
    v.is_finite().then_some(v)
}

#[cfg(test)]
#[path = "receive_tests.rs"]
mod tests;
