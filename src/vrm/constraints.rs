//! VRMC_node_constraint 1.0: roll / aim / rotation constraints on nodes, parsed and checked
//! (source in range, not the node itself, no cycles through sources), and evaluated with the
//! spec's formulas after the humanoid pose and expressions, before spring bones.

use glam::{Mat4, Quat, Vec3};
use serde::Deserialize;
use serde_json::Value;

use super::json_util::check;
use super::{Result, VrmError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    X,
    Y,
    Z,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AimAxis {
    PositiveX,
    NegativeX,
    PositiveY,
    NegativeY,
    PositiveZ,
    NegativeZ,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    /// Copies the source's twist about `axis` (in the destination's rest frame).
    Roll { axis: Axis },
    /// Points `axis` of the destination at the source.
    Aim { axis: AimAxis },
    /// Copies the source's rotation relative to its rest.
    Rotation,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeConstraint {
    /// The constrained (destination) node.
    pub node: usize,
    pub source: usize,
    pub kind: ConstraintKind,
    /// 0..1: slerp from the rest rotation to the constrained one.
    pub weight: f32,
}

/// Local (translation, rotation, scale) of every node.
pub type LocalTransforms = [(Vec3, Quat, Vec3)];

impl Axis {
    fn vector(self) -> Vec3 {
        match self {
            Axis::X => Vec3::X,
            Axis::Y => Vec3::Y,
            Axis::Z => Vec3::Z,
        }
    }
}

impl AimAxis {
    fn vector(self) -> Vec3 {
        match self {
            AimAxis::PositiveX => Vec3::X,
            AimAxis::NegativeX => Vec3::NEG_X,
            AimAxis::PositiveY => Vec3::Y,
            AimAxis::NegativeY => Vec3::NEG_Y,
            AimAxis::PositiveZ => Vec3::Z,
            AimAxis::NegativeZ => Vec3::NEG_Z,
        }
    }
}

/// Applies `constraints` to `local` (rotations only), sources before the nodes they drive.
/// `rest` holds every node's rest local rotation; `world` computes world matrices from locals
/// (needed by aim constraints).
pub fn apply(
    constraints: &[NodeConstraint],
    rest: &[Quat],
    local: &mut LocalTransforms,
    world: impl Fn(&LocalTransforms) -> Vec<Mat4>,
) {
    for c in dependency_order(constraints) {
        let (Some(&dst_rest), Some(&src_rest)) = (rest.get(c.node), rest.get(c.source)) else {
            continue;
        };
        let src = local[c.source].1;
        let weight = c.weight.clamp(0.0, 1.0);
        let constrained = match c.kind {
            ConstraintKind::Rotation => dst_rest * (src_rest.inverse() * src),
            ConstraintKind::Roll { axis } => {
                let ds = src_rest.inverse() * src;
                let dsp = src_rest * ds * src_rest.inverse();
                let dsd = dst_rest.inverse() * dsp * dst_rest;
                let axis = axis.vector();
                let to = dsd * axis;
                let from_to = Quat::from_rotation_arc(axis, to.normalize_or(axis));
                dst_rest * (from_to.inverse() * dsd)
            }
            ConstraintKind::Aim { axis } => {
                let worlds = world(local);
                let parent_world = parent_rotation(&worlds, local, c.node);
                let from = (parent_world * dst_rest) * axis.vector();
                let to = (worlds[c.source].w_axis - worlds[c.node].w_axis).truncate();
                let Some(to) = to.try_normalize() else {
                    continue;
                };
                let from_to = Quat::from_rotation_arc(from.normalize_or(to), to);
                parent_world.inverse() * from_to * parent_world * dst_rest
            }
        };
        if constrained.is_finite() {
            local[c.node].1 = dst_rest.slerp(constrained.normalize(), weight).normalize();
        }
    }
}

/// World rotation of the node's parent: its world rotation without its own local one.
fn parent_rotation(worlds: &[Mat4], local: &LocalTransforms, node: usize) -> Quat {
    let own = worlds[node].to_scale_rotation_translation().1;
    (own * local[node].1.inverse()).normalize()
}

/// Constraints whose source is driven by another constraint come after it (the loader has
/// rejected cycles).
fn dependency_order(constraints: &[NodeConstraint]) -> Vec<&NodeConstraint> {
    let mut order: Vec<&NodeConstraint> = Vec::with_capacity(constraints.len());
    let mut placed = vec![false; constraints.len()];
    while order.len() < constraints.len() {
        let before = order.len();
        for (i, c) in constraints.iter().enumerate() {
            let waits = constraints
                .iter()
                .enumerate()
                .any(|(j, d)| !placed[j] && j != i && d.node == c.source);
            if !placed[i] && !waits {
                placed[i] = true;
                order.push(c);
            }
        }
        if order.len() == before {
            // Unreachable after the loader's cycle check; never loop forever all the same.
            order.extend(
                constraints
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !placed[*i])
                    .map(|(_, c)| c),
            );
        }
    }
    order
}

#[derive(Deserialize)]
struct Ext {
    constraint: Body,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Body {
    roll: Option<Inner>,
    aim: Option<Inner>,
    rotation: Option<Inner>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Inner {
    source: usize,
    #[serde(default)]
    roll_axis: Option<String>,
    #[serde(default)]
    aim_axis: Option<String>,
    #[serde(default = "one")]
    weight: f32,
}

fn one() -> f32 {
    1.0
}

/// Reads `nodes[*].extensions.VRMC_node_constraint` of the glTF JSON.
pub(crate) fn parse(root: &Value, node_count: usize) -> Result<Vec<NodeConstraint>> {
    let mut out = Vec::new();
    let Some(nodes) = root.get("nodes").and_then(Value::as_array) else {
        return Ok(out);
    };
    for (node, n) in nodes.iter().enumerate() {
        let Some(ext) = n
            .get("extensions")
            .and_then(|e| e.get("VRMC_node_constraint"))
        else {
            continue;
        };
        let what = format!("node {node} VRMC_node_constraint");
        let ext = Ext::deserialize(ext).map_err(|e| VrmError::Json(format!("{what}: {e}")))?;
        let (inner, kind) = match (
            ext.constraint.roll,
            ext.constraint.aim,
            ext.constraint.rotation,
        ) {
            (Some(r), None, None) => {
                let axis = match r.roll_axis.as_deref() {
                    Some("X") => Axis::X,
                    Some("Y") => Axis::Y,
                    Some("Z") => Axis::Z,
                    other => return Err(VrmError::Invalid(format!("{what}: rollAxis {other:?}"))),
                };
                (r, ConstraintKind::Roll { axis })
            }
            (None, Some(a), None) => {
                let axis = match a.aim_axis.as_deref() {
                    Some("PositiveX") => AimAxis::PositiveX,
                    Some("NegativeX") => AimAxis::NegativeX,
                    Some("PositiveY") => AimAxis::PositiveY,
                    Some("NegativeY") => AimAxis::NegativeY,
                    Some("PositiveZ") => AimAxis::PositiveZ,
                    Some("NegativeZ") => AimAxis::NegativeZ,
                    other => return Err(VrmError::Invalid(format!("{what}: aimAxis {other:?}"))),
                };
                (a, ConstraintKind::Aim { axis })
            }
            (None, None, Some(r)) => (r, ConstraintKind::Rotation),
            _ => {
                return Err(VrmError::Invalid(format!(
                    "{what}: needs exactly one of roll, aim, rotation"
                )));
            }
        };
        let source = check(inner.source, node_count, &format!("{what} source"))?;
        if source == node {
            return Err(VrmError::Invalid(format!(
                "{what}: the source is the node itself"
            )));
        }
        out.push(NodeConstraint {
            node,
            source,
            kind,
            weight: inner.weight.clamp(0.0, 1.0),
        });
    }
    check_acyclic(&out, node_count)?;
    Ok(out)
}

/// Each node has at most one constraint, so following sources from any node must end.
fn check_acyclic(constraints: &[NodeConstraint], node_count: usize) -> Result<()> {
    let mut source_of = vec![None; node_count];
    for c in constraints {
        source_of[c.node] = Some(c.source);
    }
    let mut done = vec![false; node_count];
    for c in constraints {
        let mut seen = Vec::new();
        let mut n = Some(c.node);
        while let Some(i) = n {
            if done[i] {
                break;
            }
            if seen.contains(&i) {
                return Err(VrmError::Invalid(format!(
                    "node constraints form a cycle through node {i}"
                )));
            }
            seen.push(i);
            n = source_of[i];
        }
        for i in seen {
            done[i] = true;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nodes(exts: Vec<Value>) -> Value {
        json!({"nodes": exts.into_iter().map(|c| json!({"extensions": {"VRMC_node_constraint": {"specVersion": "1.0", "constraint": c}}})).collect::<Vec<_>>()})
    }

    #[test]
    fn kinds_parse() {
        let root = nodes(vec![
            json!({"roll": {"source": 1, "rollAxis": "Y", "weight": 0.5}}),
            json!({"aim": {"source": 2, "aimAxis": "NegativeZ"}}),
            json!({"rotation": {"source": 3}}),
            json!({}),
        ]);
        // Node 3 has an empty constraint object.
        assert!(
            parse(&root, 4)
                .unwrap_err()
                .to_string()
                .contains("exactly one")
        );
        let root = nodes(vec![
            json!({"roll": {"source": 1, "rollAxis": "Y", "weight": 0.5}}),
            json!({"aim": {"source": 2, "aimAxis": "NegativeZ"}}),
            json!({"rotation": {"source": 3}}),
        ]);
        let c = parse(&root, 4).unwrap();
        assert_eq!(c[0].kind, ConstraintKind::Roll { axis: Axis::Y });
        assert_eq!(c[0].weight, 0.5);
        assert_eq!(
            c[1].kind,
            ConstraintKind::Aim {
                axis: AimAxis::NegativeZ
            }
        );
        assert_eq!((c[2].kind, c[2].weight), (ConstraintKind::Rotation, 1.0));
    }

    #[test]
    fn bad_sources_are_errors() {
        let own = nodes(vec![json!({"rotation": {"source": 0}})]);
        assert!(parse(&own, 1).unwrap_err().to_string().contains("itself"));
        let far = nodes(vec![json!({"rotation": {"source": 7}})]);
        assert!(
            parse(&far, 1)
                .unwrap_err()
                .to_string()
                .contains("refers to index 7")
        );
        let cycle = nodes(vec![
            json!({"rotation": {"source": 1}}),
            json!({"rotation": {"source": 2}}),
            json!({"rotation": {"source": 0}}),
        ]);
        assert!(parse(&cycle, 3).unwrap_err().to_string().contains("cycle"));
    }

    /// Three nodes in a row along +X: 0 (root) - 1 - 2, no rest rotations.
    fn chain() -> (Vec<Quat>, Vec<(Vec3, Quat, Vec3)>) {
        let node = |t| (t, Quat::IDENTITY, Vec3::ONE);
        (
            vec![Quat::IDENTITY; 3],
            vec![node(Vec3::ZERO), node(Vec3::X), node(Vec3::X)],
        )
    }

    fn world(l: &LocalTransforms) -> Vec<Mat4> {
        let mut w: Vec<Mat4> = Vec::new();
        for (i, (t, r, s)) in l.iter().enumerate() {
            let m = Mat4::from_scale_rotation_translation(*s, *r, *t);
            w.push(if i == 0 { m } else { w[i - 1] * m });
        }
        w
    }

    fn constraint(node: usize, source: usize, kind: ConstraintKind, weight: f32) -> NodeConstraint {
        NodeConstraint {
            node,
            source,
            kind,
            weight,
        }
    }

    #[test]
    fn rotation_copies_the_source_rotation_by_weight() {
        let (rest, mut local) = chain();
        local[0].1 = Quat::from_rotation_z(0.8);
        apply(
            &[constraint(2, 0, ConstraintKind::Rotation, 0.5)],
            &rest,
            &mut local,
            world,
        );
        assert!(local[2].1.angle_between(Quat::from_rotation_z(0.4)) < 1e-5);
    }

    #[test]
    fn roll_keeps_only_the_twist_about_its_axis() {
        let (rest, mut local) = chain();
        // Twist about X by 0.6 and swing about Z by 0.5: only the twist is copied.
        local[0].1 = Quat::from_rotation_z(0.5) * Quat::from_rotation_x(0.6);
        apply(
            &[constraint(
                1,
                0,
                ConstraintKind::Roll { axis: Axis::X },
                1.0,
            )],
            &rest,
            &mut local,
            world,
        );
        let (axis, angle) = local[1].1.to_axis_angle();
        assert!(
            (angle - 0.6).abs() < 1e-4 && axis.abs_diff_eq(Vec3::X, 1e-4),
            "{axis} {angle}"
        );
    }

    #[test]
    fn aim_points_the_axis_at_the_source() {
        let (rest, mut local) = chain();
        // Node 2 moves up out of line; the root (node 0) aims its +X at it.
        local[2].0 = Vec3::new(0.0, 1.0, 0.0);
        let c0 = constraint(
            0,
            2,
            ConstraintKind::Aim {
                axis: AimAxis::PositiveX,
            },
            1.0,
        );
        let before = world(&local);
        let target = (before[2].w_axis - before[0].w_axis).truncate().normalize();
        apply(&[c0], &rest, &mut local, world);
        let aimed = local[0].1 * Vec3::X;
        assert!(aimed.angle_between(target) < 1e-4, "{aimed} vs {target}");
        // Weight 0 leaves the rest rotation.
        let (rest, mut local) = chain();
        local[2].0 = Vec3::new(0.0, 1.0, 0.0);
        apply(
            &[NodeConstraint { weight: 0.0, ..c0 }],
            &rest,
            &mut local,
            world,
        );
        assert_eq!(local[0].1, Quat::IDENTITY);
    }

    #[test]
    fn a_constraint_driving_another_ones_source_runs_first() {
        let (rest, mut local) = chain();
        local[0].1 = Quat::from_rotation_z(0.3);
        let later = constraint(2, 1, ConstraintKind::Rotation, 1.0);
        let first = constraint(1, 0, ConstraintKind::Rotation, 1.0);
        apply(&[later, first], &rest, &mut local, world);
        assert!(local[2].1.angle_between(Quat::from_rotation_z(0.3)) < 1e-5);
    }
}
