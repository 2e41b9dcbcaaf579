//! Animations: a glTF animation's channels as key times and values, read with the same checked
//! accessor code as the meshes (a VRM Animation clip is a glTF with nodes and animations only).

use std::path::Path;

use gltf::json;
use gltf::json::accessor::Type;
use gltf::json::animation::{Interpolation as Interp, Property};
use gltf::json::validation::Checked;
use serde_json::Value;

use super::accessors::Data;
use super::buffers::{External, load_buffers};
use super::nodes::read_nodes;
use super::{Node, read_root};
use crate::vrm::json_util::check;
use crate::vrm::{Budget, Result, VrmError};

/// How values between two keys are found (glTF `sampler.interpolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    Step,
    Linear,
    CubicSpline,
}

/// The node property a channel animates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Translation,
    Rotation,
    Scale,
    Weights,
}

impl Target {
    /// Floats per key value.
    pub fn components(self) -> usize {
        match self {
            Target::Rotation => 4,
            Target::Translation | Target::Scale => 3,
            Target::Weights => 1,
        }
    }
}

/// One animated property of one node: key times in seconds (ascending) and the values,
/// [`Target::components`] floats per key, or three such per key for cubic splines (in-tangent,
/// value, out-tangent).
#[derive(Debug, Clone, PartialEq)]
pub struct AnimationChannel {
    pub node: usize,
    pub target: Target,
    pub interpolation: Interpolation,
    pub times: Vec<f32>,
    pub values: Vec<f32>,
}

/// The nodes (rest transforms) and the channels of the first animation.
#[derive(Debug, Clone)]
pub struct AnimationData {
    pub nodes: Vec<Node>,
    pub channels: Vec<AnimationChannel>,
}

/// At most this many keys per channel (an hour at 240 keys a second).
const MAX_KEYS: usize = 1 << 20;

/// Reads the nodes and the first animation (VRMC_vrm_animation: "the first animation is the one
/// read") of a glTF document.
pub(crate) fn read_animation(
    value: &Value,
    bin: Option<&[u8]>,
    base: Option<&Path>,
    budget: &Budget,
) -> Result<AnimationData> {
    let root = read_root(value)?;
    let mut external = External::new(budget);
    let buffers = load_buffers(&root, bin, base, &mut external)?;
    let data = Data::new(&root, &buffers, budget);
    let nodes = read_nodes(&root)?;
    let animation = root
        .animations
        .first()
        .ok_or_else(|| VrmError::Invalid("the file has no animation".into()))?;
    let channels = animation
        .channels
        .iter()
        .enumerate()
        .map(|(i, channel)| read_channel(&data, animation, i, channel, nodes.len()))
        .collect::<Result<Vec<_>>>()?;
    Ok(AnimationData { nodes, channels })
}

fn read_channel(
    data: &Data,
    animation: &json::Animation,
    i: usize,
    channel: &json::animation::Channel,
    node_count: usize,
) -> Result<AnimationChannel> {
    let what = format!("animation 0 channel {i}");
    let invalid = |why: &str| VrmError::Invalid(format!("{what}: {why}"));
    let sampler_index = check(
        channel.sampler.value(),
        animation.samplers.len(),
        &format!("{what} sampler"),
    )?;
    let sampler = &animation.samplers[sampler_index];
    let node = check(
        channel.target.node.value(),
        node_count,
        &format!("{what} node"),
    )?;
    let target = match channel.target.path {
        Checked::Valid(Property::Translation) => Target::Translation,
        Checked::Valid(Property::Rotation) => Target::Rotation,
        Checked::Valid(Property::Scale) => Target::Scale,
        Checked::Valid(Property::MorphTargetWeights) => Target::Weights,
        Checked::Invalid => return Err(invalid("unknown target path")),
    };
    let interpolation = match sampler.interpolation {
        Checked::Valid(Interp::Linear) => Interpolation::Linear,
        Checked::Valid(Interp::Step) => Interpolation::Step,
        Checked::Valid(Interp::CubicSpline) => Interpolation::CubicSpline,
        Checked::Invalid => return Err(invalid("unknown interpolation")),
    };
    let (times, keys) = data.read(
        sampler.input.value(),
        &[Type::Scalar],
        MAX_KEYS,
        &format!("{what} times"),
    )?;
    if keys == 0 {
        return Err(invalid("no keys"));
    }
    if times.iter().any(|t| !t.is_finite() || *t < 0.0) || times.windows(2).any(|w| w[1] < w[0]) {
        return Err(invalid(
            "key times must be finite, not negative, and ascending",
        ));
    }
    let per_key = if interpolation == Interpolation::CubicSpline {
        3
    } else {
        1
    };
    let ty = match target {
        Target::Rotation => Type::Vec4,
        Target::Translation | Target::Scale => Type::Vec3,
        Target::Weights => Type::Scalar,
    };
    let (values, count) = data.read(
        sampler.output.value(),
        &[ty],
        MAX_KEYS.saturating_mul(3),
        &format!("{what} values"),
    )?;
    // Morph weights carry one value per target per key; the rest one value per key.
    if target != Target::Weights && count != keys * per_key {
        return Err(invalid(&format!(
            "{keys} key times but {count} values (expected {})",
            keys * per_key
        )));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(invalid("a value is not finite"));
    }
    Ok(AnimationChannel {
        node,
        target,
        interpolation,
        times,
        values,
    })
}
