//! VRMC_node_constraint 1.0: roll / aim / rotation constraints on nodes, parsed and checked
//! (source in range, not the node itself, no cycles through sources). Evaluation is the runtime's.

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
}
