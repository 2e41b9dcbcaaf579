//! VRM Animation clips (`VRMC_vrm_animation` 1.0, `.vrma`): humanoid bone rotations, the hips'
//! position, expressions and gaze as glTF animation tracks, sampled into [`AvatarPose`]s.
//!
//! Conventions (the spec and its note "how to transform human pose"):
//! - a clip's rig stands in the VRM T-pose at rest, but its nodes may carry any rest rotation. A
//!   bone's animated local rotation `A` becomes the normalized local rotation an AvatarPose holds
//!   (the rotation on a rig whose rest rotations are all identity) as `N = W · L⁻¹ · A · W⁻¹`, with
//!   `W` the bone's world rest rotation and `L` its local one (`W · L⁻¹` is the parent's world
//!   rest rotation). Rotation is linear in `A`, so cubic-spline tangents convert the same way;
//! - only the hips may move: their translation is taken to model space by their parent's world
//!   rest matrix, and scaled by the ratio of the avatar's hips height to the clip's;
//! - an expression's weight is the X of its node's translation, clamped to 0..1; `lookUp`,
//!   `lookDown`, `lookLeft` and `lookRight` are not animated (gaze is);
//! - gaze: the spec names the lookAt node's model-space position, seen from the head, as the point
//!   looked at; three-vrm (the reference loader) reads the node's rotation instead (its +Z, yaw
//!   about Y then pitch about X). A translation track is read as the spec says, a rotation track
//!   as three-vrm does;
//! - the first animation is the clip; its duration is its last key.

use std::path::Path;

use glam::{Mat3, Mat4, Quat, Vec3};
use serde_json::Value;

use super::gltf_data::{AnimationChannel, Interpolation, Target, read_animation};
use super::humanoid::HumanBone;
use super::{Budget, Result, VrmError, parse_json, read_bounded, read_json_head, split_container};
use crate::pose::{AvatarPose, LookAtAngles};

/// A loaded clip, ready to sample at any time.
#[derive(Debug, Clone)]
pub struct VrmAnimation {
    duration_s: f32,
    /// Normalized local rotations by bone.
    rotations: Vec<(HumanBone, Track)>,
    /// The hips' model-space position, and where it rests.
    hips: Option<Track>,
    rest_hips: Vec3,
    expressions: Vec<(String, Track)>,
    gaze: Option<Gaze>,
}

/// Gaze as the lookAt node gives it (see the module's conventions).
#[derive(Debug, Clone)]
enum Gaze {
    /// The node's model-space rotation; its +Z is the direction looked in.
    Rotation(Track),
    /// The node's model-space position, looked at from the head at rest.
    Position { track: Track, head: Vec3 },
}

/// Keys of one property, converted to what is sampled.
#[derive(Debug, Clone)]
struct Track {
    interpolation: Interpolation,
    times: Vec<f32>,
    /// `width` floats per element, three elements per key for cubic splines.
    values: Vec<f32>,
    width: usize,
}

const LOOK_PRESETS: [&str; 4] = ["lookUp", "lookDown", "lookLeft", "lookRight"];

/// Loads a `.vrma` file (within the default limits).
pub fn load_animation_file(path: impl AsRef<Path>) -> Result<VrmAnimation> {
    let path = path.as_ref();
    let bytes = read_bounded(path)?;
    load_animation_with_base(&bytes, path.parent())
}

/// Loads a self-contained `.vrma` (GLB, or glTF JSON with data URIs).
pub fn load_animation(bytes: &[u8]) -> Result<VrmAnimation> {
    load_animation_with_base(bytes, None)
}

fn load_animation_with_base(bytes: &[u8], base: Option<&Path>) -> Result<VrmAnimation> {
    let container = split_container(bytes)?;
    let value = parse_json(&container)?;
    let ext = check_extension(&value)?;
    let data = read_animation(&value, container.bin, base, &Budget::default())?;
    build(ext, &data.nodes, &data.channels)
}

/// The duration of the clip at `path` in milliseconds, from its header alone (the JSON's
/// accessor bounds, which glTF requires on animation times): checks that it is a VRM Animation
/// without loading it.
pub fn probe_animation_file(path: &Path) -> Result<f64> {
    let value = read_json_head(path)?;
    check_extension(&value)?;
    let accessors = value.get("accessors").and_then(Value::as_array);
    let animation = value
        .pointer("/animations/0")
        .ok_or_else(|| VrmError::Invalid("the file has no animation".into()))?;
    let samplers = animation.get("samplers").and_then(Value::as_array);
    let mut duration_s: f64 = 0.0;
    for channel in animation
        .get("channels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let max = channel
            .get("sampler")
            .and_then(Value::as_u64)
            .and_then(|i| samplers?.get(usize::try_from(i).ok()?))
            .and_then(|s| s.get("input")?.as_u64())
            .and_then(|i| accessors?.get(usize::try_from(i).ok()?))
            .and_then(|a| a.pointer("/max/0")?.as_f64())
            .ok_or_else(|| {
                VrmError::Invalid("an animation's key times carry no max (glTF requires it)".into())
            })?;
        duration_s = duration_s.max(max);
    }
    Ok(duration_s * 1000.0)
}

/// The file's VRMC_vrm_animation extension, of a known version, with hips.
fn check_extension(value: &Value) -> Result<&Value> {
    let ext = value
        .get("extensions")
        .and_then(|e| e.get("VRMC_vrm_animation"))
        .ok_or_else(|| {
            VrmError::Invalid("not a VRM Animation: no VRMC_vrm_animation extension".into())
        })?;
    match ext.get("specVersion").and_then(Value::as_str) {
        Some("1.0" | "1.0-draft") => Ok(ext),
        Some(other) => Err(VrmError::Unsupported(format!(
            "VRMC_vrm_animation specVersion {other:?} (only 1.0 is known)"
        ))),
        None => Err(VrmError::Invalid(
            "VRMC_vrm_animation has no specVersion".into(),
        )),
    }
}

/// The node index of `entry.node`, checked.
fn node_of(entry: &Value, nodes: usize, what: &str) -> Result<usize> {
    let index = entry
        .get("node")
        .and_then(Value::as_u64)
        .ok_or_else(|| VrmError::Invalid(format!("{what}: no node")))?;
    usize::try_from(index)
        .ok()
        .filter(|&i| i < nodes)
        .ok_or_else(|| VrmError::Invalid(format!("{what}: node {index} does not exist")))
}

fn build(
    ext: &Value,
    nodes: &[super::gltf_data::Node],
    channels: &[AnimationChannel],
) -> Result<VrmAnimation> {
    let world = super::gltf_data::world_rest_matrices(nodes);
    let world_rotation = |i: usize| Quat::from_mat4(&world[i]).normalize();
    let parent_world = |i: usize| nodes[i].parent.map_or(Mat4::IDENTITY, |p| world[p]);
    let mut bones = Vec::new();
    let human_bones = ext
        .pointer("/humanoid/humanBones")
        .and_then(Value::as_object)
        .ok_or_else(|| VrmError::Invalid("VRMC_vrm_animation has no humanoid.humanBones".into()))?;
    for (name, entry) in human_bones {
        let Some(bone) = HumanBone::from_name(name) else {
            continue;
        };
        bones.push((
            bone,
            node_of(entry, nodes.len(), &format!("humanoid bone {name}"))?,
        ));
    }
    let hips_node = bones
        .iter()
        .find(|(b, _)| *b == HumanBone::Hips)
        .map(|(_, n)| *n)
        .ok_or_else(|| VrmError::Invalid("the clip's humanoid has no hips".into()))?;
    let head_node = bones
        .iter()
        .find(|(b, _)| *b == HumanBone::Head)
        .map(|(_, n)| *n);
    let mut expression_nodes = Vec::new();
    for kind in ["preset", "custom"] {
        let Some(map) = ext
            .pointer(&format!("/expressions/{kind}"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        for (name, entry) in map {
            if kind == "preset" && LOOK_PRESETS.contains(&name.as_str()) {
                continue;
            }
            let node = node_of(entry, nodes.len(), &format!("expression {name}"))?;
            expression_nodes.push((name.clone(), node));
        }
    }
    let look_node = ext
        .get("lookAt")
        .map(|entry| node_of(entry, nodes.len(), "lookAt"))
        .transpose()?;

    let mut clip = VrmAnimation {
        duration_s: 0.0,
        rotations: Vec::new(),
        hips: None,
        rest_hips: world[hips_node].w_axis.truncate(),
        expressions: Vec::new(),
        gaze: None,
    };
    for channel in channels {
        clip.duration_s = clip
            .duration_s
            .max(channel.times.last().copied().unwrap_or(0.0));
        let node = channel.node;
        if let Some((bone, _)) = bones.iter().find(|(_, n)| *n == node) {
            match channel.target {
                Target::Rotation if !matches!(bone, HumanBone::LeftEye | HumanBone::RightEye) => {
                    // N = P · A · W⁻¹ (P = W · L⁻¹, the parent's world rest rotation).
                    let w = world_rotation(node);
                    let p = w * nodes[node].rotation.inverse();
                    let track = Track::new(channel, 4, |v, _| {
                        (p * Quat::from_slice(v) * w.inverse()).to_array().to_vec()
                    });
                    clip.rotations.push((*bone, track));
                }
                Target::Translation if *bone == HumanBone::Hips => {
                    clip.hips = Some(Track::of_points(channel, parent_world(node)));
                }
                // Scale, and translation of other bones, are not allowed by the spec: ignored.
                _ => {}
            }
        } else if let Some((name, _)) = expression_nodes.iter().find(|(_, n)| *n == node) {
            if channel.target == Target::Translation {
                let track = Track::new(channel, 1, |v, _| vec![v[0]]);
                clip.expressions.push((name.clone(), track));
            }
        } else if Some(node) == look_node {
            match channel.target {
                Target::Rotation => {
                    let parent = Quat::from_mat4(&parent_world(node)).normalize();
                    let track = Track::new(channel, 4, |v, _| {
                        (parent * Quat::from_slice(v)).to_array().to_vec()
                    });
                    clip.gaze = Some(Gaze::Rotation(track));
                }
                Target::Translation => {
                    let track = Track::of_points(channel, parent_world(node));
                    let head = head_node.map_or(Vec3::ZERO, |h| world[h].w_axis.truncate());
                    clip.gaze = Some(Gaze::Position { track, head });
                }
                _ => {}
            }
        }
    }
    Ok(clip)
}

impl Track {
    /// Converts every element of `channel` with `convert(element, is_tangent)`.
    fn new(
        channel: &AnimationChannel,
        width: usize,
        convert: impl Fn(&[f32], bool) -> Vec<f32>,
    ) -> Track {
        let cubic = channel.interpolation == Interpolation::CubicSpline;
        let components = channel.target.components();
        let values = channel
            .values
            .chunks_exact(components)
            .enumerate()
            .flat_map(|(i, v)| convert(v, cubic && i % 3 != 1))
            .collect();
        Track {
            interpolation: channel.interpolation,
            times: channel.times.clone(),
            values,
            width,
        }
    }

    /// Positions taken to model space by `m` (tangents by its linear part alone).
    fn of_points(channel: &AnimationChannel, m: Mat4) -> Track {
        let linear = Mat3::from_mat4(m);
        Track::new(channel, 3, |v, tangent| {
            let v = Vec3::from_slice(v);
            let out = if tangent {
                linear * v
            } else {
                m.transform_point3(v)
            };
            out.to_array().to_vec()
        })
    }

    fn element(&self, index: usize) -> &[f32] {
        &self.values[index * self.width..(index + 1) * self.width]
    }

    /// The value at key `k` (the middle element of a cubic spline's three).
    fn key(&self, k: usize) -> &[f32] {
        match self.interpolation {
            Interpolation::CubicSpline => self.element(3 * k + 1),
            _ => self.element(k),
        }
    }

    /// The value at `t` seconds, held at the ends; rotations are taken the short way and
    /// normalized by the caller.
    fn sample(&self, t: f32) -> Vec<f32> {
        let n = self.times.len();
        let after = self.times.partition_point(|&k| k <= t);
        if after == 0 {
            return self.key(0).to_vec();
        }
        if after >= n {
            return self.key(n - 1).to_vec();
        }
        let (k0, k1) = (after - 1, after);
        let dt = self.times[k1] - self.times[k0];
        let s = if dt > 0.0 {
            ((t - self.times[k0]) / dt).clamp(0.0, 1.0)
        } else {
            0.0
        };
        match self.interpolation {
            Interpolation::Step => self.key(k0).to_vec(),
            Interpolation::Linear if self.width == 4 => {
                let a = Quat::from_slice(self.key(k0));
                let b = Quat::from_slice(self.key(k1));
                a.normalize().slerp(b.normalize(), s).to_array().to_vec()
            }
            Interpolation::Linear => {
                let (a, b) = (self.key(k0), self.key(k1));
                a.iter().zip(b).map(|(a, b)| a + (b - a) * s).collect()
            }
            Interpolation::CubicSpline => {
                // glTF's Hermite spline: value and out-tangent of k0, in-tangent and value of k1.
                let (v0, b0) = (self.element(3 * k0 + 1), self.element(3 * k0 + 2));
                let (a1, v1) = (self.element(3 * k1), self.element(3 * k1 + 1));
                let (s2, s3) = (s * s, s * s * s);
                let h00 = 2.0 * s3 - 3.0 * s2 + 1.0;
                let h10 = s3 - 2.0 * s2 + s;
                let h01 = -2.0 * s3 + 3.0 * s2;
                let h11 = s3 - s2;
                (0..self.width)
                    .map(|i| h00 * v0[i] + h10 * dt * b0[i] + h01 * v1[i] + h11 * dt * a1[i])
                    .collect()
            }
        }
    }
}

impl VrmAnimation {
    /// The clip's length: its last key.
    pub fn duration_ms(&self) -> f64 {
        f64::from(self.duration_s) * 1000.0
    }

    /// The pose at `t_s` seconds (held at the ends). The hips' offset is scaled to an avatar
    /// whose hips stand `hips_height` meters high at rest (None: as in the clip). Only what the
    /// clip animates is in the pose: bones, expressions and gaze it has no track for are left
    /// out, for whatever lies below it in the mixer.
    pub fn sample(&self, t_s: f32, hips_height: Option<f32>) -> AvatarPose {
        let mut pose = AvatarPose {
            t_ms: f64::from(t_s) * 1000.0,
            ..AvatarPose::default()
        };
        for (bone, track) in &self.rotations {
            let q = Quat::from_slice(&track.sample(t_s));
            if q.is_finite() && q.length_squared() > 1e-12 {
                pose.set_rotation(bone.name(), q);
            }
        }
        if let Some(track) = &self.hips {
            let scale = match hips_height {
                Some(h) if self.rest_hips.y > 1e-4 && h.is_finite() => h / self.rest_hips.y,
                _ => 1.0,
            };
            let offset = (Vec3::from_slice(&track.sample(t_s)) - self.rest_hips) * scale;
            pose.hips_translation = Some(offset.to_array());
        }
        for (name, track) in &self.expressions {
            let weight = track.sample(t_s)[0].clamp(0.0, 1.0);
            pose.expressions.insert(name.clone(), weight);
        }
        pose.look_at = self.gaze.as_ref().map(|gaze| {
            let direction = match gaze {
                Gaze::Rotation(track) => Quat::from_slice(&track.sample(t_s)).normalize() * Vec3::Z,
                Gaze::Position { track, head } => Vec3::from_slice(&track.sample(t_s)) - *head,
            };
            angles_of(direction)
        });
        pose
    }

    /// Names of the expressions the clip animates.
    pub fn expression_names(&self) -> impl Iterator<Item = &str> {
        self.expressions.iter().map(|(n, _)| n.as_str())
    }
}

/// How high a model's hips stand at rest (model space), when it has a humanoid: what a clip's
/// hips motion is scaled to.
pub fn rest_hips_height(model: &super::VrmModel) -> Option<f32> {
    let node = model.humanoid.as_ref()?.node(HumanBone::Hips)?;
    let world = super::gltf_data::world_rest_matrices(&model.nodes);
    world.get(node).map(|m| m.w_axis.y).filter(|h| *h > 0.0)
}

/// Yaw (towards +X, the avatar's left) and pitch (up) of a model-space direction.
fn angles_of(d: Vec3) -> LookAtAngles {
    if !d.is_finite() || d.length_squared() < 1e-12 {
        return LookAtAngles::default();
    }
    LookAtAngles {
        yaw_deg: d.x.atan2(d.z).to_degrees(),
        pitch_deg: d.y.atan2(d.x.hypot(d.z)).to_degrees(),
    }
}

#[cfg(test)]
#[path = "animation_tests.rs"]
mod tests;
