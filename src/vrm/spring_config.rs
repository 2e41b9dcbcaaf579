//! Spring bone configuration (VRMC_springBone 1.0, VRM 0.x `secondaryAnimation`), parsed only.
//!
//! Both versions end up as 1.0-style chains: in `joints`, each joint's tail is the next joint;
//! VRM 0.x leaves also move, towards a virtual tail 7 cm along their rest direction
//! ([`Spring::virtual_tail`]), as three-vrm and UniVRM do.

use glam::Vec3;
use serde_json::Value;

use super::json_util::{check, section};
use super::{Node, Result, VrmError, VrmModel, limits, vrm0_vector};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColliderShape {
    /// `offset` in the collider node's local space.
    Sphere { offset: Vec3, radius: f32 },
    /// A segment from `offset` to `tail` (node-local) with a radius.
    Capsule {
        offset: Vec3,
        radius: f32,
        tail: Vec3,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Collider {
    pub node: usize,
    pub shape: ColliderShape,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColliderGroup {
    pub name: String,
    /// Indices into [`SpringConfig::colliders`].
    pub colliders: Vec<usize>,
}

/// Settings of a joint that moves (for a chain's last joint in 1.0 they are unused).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpringJoint {
    pub node: usize,
    pub hit_radius: f32,
    pub stiffness: f32,
    pub gravity_power: f32,
    /// World space (model space, +Z forward), unit length or zero.
    pub gravity_dir: Vec3,
    /// 0..1
    pub drag_force: f32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spring {
    pub name: String,
    /// Ancestor first; joint i rotates so that it points at joint i + 1.
    pub joints: Vec<SpringJoint>,
    /// VRM 0.x: the last joint also rotates, towards this offset in its local space.
    pub virtual_tail: Option<Vec3>,
    /// Indices into [`SpringConfig::collider_groups`].
    pub collider_groups: Vec<usize>,
    /// Simulate relative to this node instead of the world.
    pub center: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpringConfig {
    pub colliders: Vec<Collider>,
    pub collider_groups: Vec<ColliderGroup>,
    pub springs: Vec<Spring>,
}

impl SpringConfig {
    pub fn joint_count(&self) -> usize {
        self.springs.iter().map(|s| s.joints.len()).sum()
    }

    fn check_joint_limit(&self) -> Result<()> {
        let n = self.joint_count();
        if n > limits::MAX_SPRING_JOINTS {
            return Err(VrmError::Limit(format!(
                "{n} spring joints (at most {})",
                limits::MAX_SPRING_JOINTS
            )));
        }
        Ok(())
    }

    /// The colliders a spring's joints are kept out of: those of its groups, each once (a file
    /// may name a group, or a collider in a group, many times).
    pub fn colliders_of(&self, spring: &Spring) -> Vec<usize> {
        let mut seen = std::collections::HashSet::new();
        spring
            .collider_groups
            .iter()
            .filter_map(|&g| self.collider_groups.get(g))
            .flat_map(|g| g.colliders.iter().copied())
            .filter(|&c| c < self.colliders.len() && seen.insert(c))
            .collect()
    }

    /// Drops repeated references, then refuses more joint and collider pairs than a spring step
    /// may test ([`limits::MAX_COLLISION_PAIRS`]).
    fn finish(mut self) -> Result<Self> {
        fn dedupe(list: &mut Vec<usize>) {
            let mut seen = std::collections::HashSet::new();
            list.retain(|&x| seen.insert(x));
        }
        self.collider_groups
            .iter_mut()
            .for_each(|g| dedupe(&mut g.colliders));
        self.springs
            .iter_mut()
            .for_each(|s| dedupe(&mut s.collider_groups));
        let pairs = self
            .springs
            .iter()
            .map(|s| s.joints.len().saturating_mul(self.colliders_of(s).len()))
            .fold(0usize, usize::saturating_add);
        if pairs > limits::MAX_COLLISION_PAIRS {
            return Err(VrmError::Limit(format!(
                "{pairs} spring joint and collider pairs (at most {})",
                limits::MAX_COLLISION_PAIRS
            )));
        }
        Ok(self)
    }
}

fn unit_or_zero(v: Vec3) -> Vec3 {
    v.try_normalize().unwrap_or(Vec3::ZERO)
}

/// The serde shape of `VRMC_springBone` 1.0.
mod json_v1 {
    use serde::Deserialize;

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct Json {
        pub(super) colliders: Vec<JsonCollider>,
        pub(super) collider_groups: Vec<JsonGroup>,
        pub(super) springs: Vec<JsonSpring>,
    }
    #[derive(Deserialize)]
    pub(super) struct JsonCollider {
        pub(super) node: usize,
        pub(super) shape: JsonShape,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct JsonShape {
        pub(super) sphere: Option<JsonSphere>,
        pub(super) capsule: Option<JsonSphere>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct JsonSphere {
        pub(super) offset: [f32; 3],
        pub(super) radius: f32,
        pub(super) tail: [f32; 3],
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct JsonGroup {
        pub(super) name: String,
        pub(super) colliders: Vec<usize>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct JsonSpring {
        pub(super) name: String,
        pub(super) joints: Vec<JsonJoint>,
        pub(super) collider_groups: Vec<usize>,
        pub(super) center: Option<usize>,
    }
    // Defaults from VRMC_springBone.joint.schema.json.
    #[derive(Deserialize)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct JsonJoint {
        pub(super) node: usize,
        pub(super) hit_radius: f32,
        pub(super) stiffness: f32,
        pub(super) gravity_power: f32,
        pub(super) gravity_dir: [f32; 3],
        pub(super) drag_force: f32,
    }
    impl Default for JsonJoint {
        fn default() -> Self {
            Self {
                node: usize::MAX,
                hit_radius: 0.0,
                stiffness: 1.0,
                gravity_power: 0.0,
                gravity_dir: [0.0, -1.0, 0.0],
                drag_force: 0.5,
            }
        }
    }
}

/// VRMC_springBone 1.0: colliders, collider groups and springs, every reference checked.
pub(crate) fn parse_v1(value: Option<&Value>, model: &VrmModel) -> Result<SpringConfig> {
    let json: json_v1::Json = section(value, "VRMC_springBone")?;
    let nodes = model.nodes.len();
    let joints: usize = json.springs.iter().map(|s| s.joints.len()).sum();
    if joints > limits::MAX_SPRING_JOINTS {
        return Err(VrmError::Limit(format!(
            "{joints} spring joints (at most {})",
            limits::MAX_SPRING_JOINTS
        )));
    }
    let mut config = SpringConfig::default();
    for (i, c) in json.colliders.into_iter().enumerate() {
        config.colliders.push(v1_collider(i, c, nodes)?);
    }
    for (i, g) in json.collider_groups.into_iter().enumerate() {
        for &c in &g.colliders {
            check(
                c,
                config.colliders.len(),
                &format!("spring collider group {i} collider"),
            )?;
        }
        config.collider_groups.push(ColliderGroup {
            name: g.name,
            colliders: g.colliders,
        });
    }
    for (i, s) in json.springs.into_iter().enumerate() {
        let spring = v1_spring(i, s, config.collider_groups.len(), nodes)?;
        config.springs.push(spring);
    }
    config.finish()
}

/// VRM 1.0 collider `i`: its node must exist and its shape be a sphere or a capsule (a capsule
/// wins when both are given).
fn v1_collider(i: usize, c: json_v1::JsonCollider, nodes: usize) -> Result<Collider> {
    let node = check(c.node, nodes, &format!("spring collider {i} node"))?;
    let shape = match (c.shape.sphere, c.shape.capsule) {
        (_, Some(c)) => ColliderShape::Capsule {
            offset: c.offset.into(),
            radius: c.radius,
            tail: c.tail.into(),
        },
        (Some(s), None) => ColliderShape::Sphere {
            offset: s.offset.into(),
            radius: s.radius,
        },
        (None, None) => {
            return Err(VrmError::Invalid(format!(
                "spring collider {i} has neither a sphere nor a capsule"
            )));
        }
    };
    Ok(Collider { node, shape })
}

/// VRM 1.0 spring `i`, with its collider group, joint node and center references checked.
fn v1_spring(
    i: usize,
    s: json_v1::JsonSpring,
    collider_groups: usize,
    nodes: usize,
) -> Result<Spring> {
    let what = format!("spring {i}");
    for &g in &s.collider_groups {
        check(g, collider_groups, &format!("{what} collider group"))?;
    }
    let joints = s
        .joints
        .iter()
        .map(|j| {
            Ok(SpringJoint {
                node: check(j.node, nodes, &format!("{what} joint node"))?,
                hit_radius: j.hit_radius,
                stiffness: j.stiffness,
                gravity_power: j.gravity_power,
                gravity_dir: unit_or_zero(j.gravity_dir.into()),
                drag_force: j.drag_force.clamp(0.0, 1.0),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Spring {
        name: s.name,
        joints,
        virtual_tail: None,
        collider_groups: s.collider_groups,
        center: s
            .center
            .map(|c| check(c, nodes, &format!("{what} center")))
            .transpose()?,
    })
}

/// The serde shape of VRM 0.x `secondaryAnimation`.
mod json_v0 {
    use serde::Deserialize;
    use serde_json::Value;

    use crate::vrm::json_util::{Xyz, lenient_index};

    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct Json {
        pub(super) bone_groups: Vec<Group>,
        pub(super) collider_groups: Vec<JsonColliderGroup>,
    }
    #[derive(Deserialize)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct Group {
        pub(super) comment: String,
        // Sic: the 0.x schema spells it so.
        pub(super) stiffiness: f32,
        pub(super) gravity_power: f32,
        pub(super) gravity_dir: Xyz,
        pub(super) drag_force: f32,
        #[serde(deserialize_with = "lenient_index")]
        pub(super) center: Option<usize>,
        pub(super) hit_radius: f32,
        pub(super) bones: Vec<Value>,
        pub(super) collider_groups: Vec<Value>,
    }
    impl Default for Group {
        fn default() -> Self {
            Self {
                comment: String::new(),
                stiffiness: 1.0,
                gravity_power: 0.0,
                gravity_dir: Xyz {
                    x: 0.0,
                    y: -1.0,
                    z: 0.0,
                },
                drag_force: 0.4,
                center: None,
                hit_radius: 0.02,
                bones: Vec::new(),
                collider_groups: Vec::new(),
            }
        }
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct JsonColliderGroup {
        #[serde(deserialize_with = "lenient_index")]
        pub(super) node: Option<usize>,
        pub(super) colliders: Vec<JsonCollider>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct JsonCollider {
        pub(super) offset: Xyz,
        pub(super) radius: f32,
    }
}

/// VRM 0.x: per-group settings; every descendant of a group's root bones becomes a joint whose
/// tail is its first child (three-vrm `_v0Import`). Chains follow first children; other children
/// start chains of their own. A node already used by an earlier chain is not simulated twice.
pub(crate) fn parse_v0(value: Option<&Value>, model: &VrmModel) -> Result<SpringConfig> {
    let json: json_v0::Json = section(value, "VRM.secondaryAnimation")?;
    let nodes = &model.nodes;
    let mut config = SpringConfig::default();
    for (i, g) in json.collider_groups.into_iter().enumerate() {
        add_v0_collider_group(&mut config, i, g, nodes.len())?;
    }
    let mut used = vec![false; nodes.len()];
    for (gi, g) in json.bone_groups.into_iter().enumerate() {
        add_v0_bone_group(&mut config, gi, &g, nodes, &mut used)?;
    }
    config.finish()
}

/// VRM 0.x collider group `i`: its spheres become colliders on the group's node (which must
/// exist), and the group lists them.
fn add_v0_collider_group(
    config: &mut SpringConfig,
    i: usize,
    g: json_v0::JsonColliderGroup,
    nodes: usize,
) -> Result<()> {
    let what = format!("secondaryAnimation colliderGroup {i}");
    let node = g
        .node
        .ok_or_else(|| VrmError::Invalid(format!("{what} has no node")))?;
    let node = check(node, nodes, &format!("{what} node"))?;
    let mut group = ColliderGroup::default();
    for c in g.colliders {
        group.colliders.push(config.colliders.len());
        config.colliders.push(Collider {
            node,
            shape: ColliderShape::Sphere {
                offset: vrm0_vector(c.offset.array()),
                radius: c.radius,
            },
        });
    }
    config.collider_groups.push(group);
    Ok(())
}

/// VRM 0.x bone group `gi`: checks its references, then adds one chain per root bone and per
/// later child met on the way, skipping nodes already `used`.
fn add_v0_bone_group(
    config: &mut SpringConfig,
    gi: usize,
    g: &json_v0::Group,
    nodes: &[Node],
    used: &mut [bool],
) -> Result<()> {
    let what = format!("secondaryAnimation boneGroup {gi}");
    let collider_groups = g
        .collider_groups
        .iter()
        .filter_map(super::json_util::index_of)
        .map(|c| {
            check(
                c,
                config.collider_groups.len(),
                &format!("{what} colliderGroup"),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let center = g
        .center
        .map(|c| check(c, nodes.len(), &format!("{what} center")))
        .transpose()?;
    let mut starts: Vec<usize> = Vec::new();
    for root in g.bones.iter().filter_map(super::json_util::index_of).rev() {
        starts.push(check(root, nodes.len(), &format!("{what} bone"))?);
    }
    while let Some(start) = starts.pop() {
        if used[start] {
            continue;
        }
        let mut spring = Spring {
            name: g.comment.clone(),
            collider_groups: collider_groups.clone(),
            center,
            ..Spring::default()
        };
        follow_v0_chain(&mut spring, start, g, nodes, used, &mut starts);
        config.springs.push(spring);
        config.check_joint_limit()?;
    }
    Ok(())
}

/// Adds to `spring` the chain from `start` down first children, marking its nodes used and
/// queueing later children in `starts`. It ends at a leaf (which gets a virtual tail) or, as a
/// tail only, at a node already simulated elsewhere.
fn follow_v0_chain(
    spring: &mut Spring,
    start: usize,
    g: &json_v0::Group,
    nodes: &[Node],
    used: &mut [bool],
    starts: &mut Vec<usize>,
) {
    let joint = |node: usize| SpringJoint {
        node,
        hit_radius: g.hit_radius,
        stiffness: g.stiffiness,
        gravity_power: g.gravity_power,
        gravity_dir: unit_or_zero(vrm0_vector(g.gravity_dir.array())),
        drag_force: g.drag_force.clamp(0.0, 1.0),
    };
    let mut n = start;
    loop {
        used[n] = true;
        spring.joints.push(joint(n));
        let children = &nodes[n].children;
        // Later children start chains of their own, in order.
        starts.extend(children.iter().skip(1).rev().filter(|&&c| !used[c]));
        match children.first() {
            None => {
                let t = nodes[n].translation;
                spring.virtual_tail = Some(unit_or_zero(t) * 0.07);
                break;
            }
            // The chain ends on a node simulated elsewhere: it is only a tail here.
            Some(&c) if used[c] => {
                spring.joints.push(joint(c));
                break;
            }
            Some(&c) => n = c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrm::gltf_data::{Node, link_parents};
    use glam::Quat;
    use serde_json::json;

    fn model(children: &[&[usize]]) -> VrmModel {
        let mut nodes: Vec<Node> = children
            .iter()
            .map(|c| Node {
                name: String::new(),
                parent: None,
                children: c.to_vec(),
                translation: Vec3::new(0.0, -0.1, 0.0),
                rotation: Quat::IDENTITY,
                scale: Vec3::ONE,
                mesh: None,
                skin: None,
            })
            .collect();
        link_parents(&mut nodes).unwrap();
        let mut m = crate::vrm::load(br#"{"asset":{"version":"2.0"}}"#).unwrap();
        m.nodes = nodes;
        m
    }

    #[test]
    fn vrm0_groups_expand_to_chains() {
        // 0 -> 1 -> {2, 3}; 3 -> 4. Roots: [0].
        let m = model(&[&[1], &[2, 3], &[], &[4], &[]]);
        let cfg = parse_v0(
            Some(&json!({
                "boneGroups": [{"bones": [0], "stiffiness": 2.5, "dragForce": 0.3, "hitRadius": 0.05,
                                "gravityDir": {"x": 1, "y": 0, "z": 0}, "gravityPower": 1,
                                "center": -1, "colliderGroups": [0]}],
                "colliderGroups": [{"node": 1, "colliders": [{"offset": {"x": 0.1, "y": 0.2, "z": 0.3}, "radius": 0.5}]}]
            })),
            &m,
        )
        .unwrap();
        let chains: Vec<Vec<usize>> = cfg
            .springs
            .iter()
            .map(|s| s.joints.iter().map(|j| j.node).collect())
            .collect();
        assert_eq!(chains, vec![vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(cfg.joint_count(), 5);
        let tail = cfg.springs[0].virtual_tail.unwrap();
        assert!(tail.abs_diff_eq(Vec3::new(0.0, -0.07, 0.0), 1e-6));
        let j = cfg.springs[0].joints[0];
        assert_eq!((j.stiffness, j.drag_force, j.hit_radius), (2.5, 0.3, 0.05));
        // Unity +X is the avatar's right; turned to face +Z it is -X.
        assert_eq!(j.gravity_dir, Vec3::new(-1.0, 0.0, 0.0));
        assert_eq!(cfg.springs[0].center, None);
        assert_eq!(cfg.springs[0].collider_groups, vec![0]);
        assert_eq!(
            cfg.colliders[0].shape,
            ColliderShape::Sphere {
                offset: Vec3::new(-0.1, 0.2, 0.3),
                radius: 0.5
            }
        );
    }

    #[test]
    fn vrm0_overlapping_groups_do_not_double_simulate() {
        let m = model(&[&[1], &[2], &[]]);
        let cfg = parse_v0(
            Some(&json!({"boneGroups": [{"bones": [1]}, {"bones": [0]}]})),
            &m,
        )
        .unwrap();
        assert_eq!(cfg.springs.len(), 2);
        let second: Vec<usize> = cfg.springs[1].joints.iter().map(|j| j.node).collect();
        assert_eq!(second, vec![0, 1]);
        assert_eq!(cfg.springs[1].virtual_tail, None);
    }

    #[test]
    fn repeated_collider_references_count_once_and_pairs_are_capped() {
        let m = model(&[&[1], &[]]);
        let spring = |joints: usize, colliders: usize, repeats: usize| {
            json!({
                "colliders": vec![json!({"node": 0, "shape": {"sphere": {"radius": 0.1}}}); colliders],
                "colliderGroups": [{"colliders": (0..colliders).cycle().take(colliders * repeats).collect::<Vec<_>>()}],
                "springs": [{"joints": vec![json!({"node": 0}); joints], "colliderGroups": vec![0; repeats]}]
            })
        };
        // 40 joints against 10 colliders, each named 1000 times in a group named 1000 times.
        let cfg = parse_v1(Some(&spring(40, 10, 1000)), &m).unwrap();
        assert_eq!(cfg.collider_groups[0].colliders.len(), 10);
        assert_eq!(cfg.springs[0].collider_groups, vec![0]);
        assert_eq!(cfg.colliders_of(&cfg.springs[0]).len(), 10);
        // 4000 joints against 100 colliders: 400,000 tests a step.
        let err = parse_v1(Some(&spring(4000, 100, 1)), &m).unwrap_err();
        assert!(
            err.to_string()
                .contains("400000 spring joint and collider pairs"),
            "{err}"
        );
    }

    #[test]
    fn vrm1_references_are_checked() {
        let m = model(&[&[1], &[]]);
        let ok = json!({
            "colliders": [{"node": 0, "shape": {"capsule": {"offset": [0, 0, 0], "radius": 0.1, "tail": [0, 0.2, 0]}}}],
            "colliderGroups": [{"name": "g", "colliders": [0]}],
            "springs": [{"name": "s", "joints": [{"node": 0}, {"node": 1}], "colliderGroups": [0], "center": 0}]
        });
        let cfg = parse_v1(Some(&ok), &m).unwrap();
        assert_eq!(cfg.springs[0].joints[0].stiffness, 1.0);
        assert_eq!(cfg.springs[0].joints[0].drag_force, 0.5);
        assert!(matches!(
            cfg.colliders[0].shape,
            ColliderShape::Capsule { .. }
        ));
        let bad = json!({"springs": [{"joints": [{"node": 9}]}]});
        let e = parse_v1(Some(&bad), &m).unwrap_err().to_string();
        assert!(e.contains("spring 0 joint node refers to index 9"), "{e}");
        let many = json!({"springs": [{"joints": vec![json!({"node": 0}); 5000]}]});
        let e = parse_v1(Some(&many), &m).unwrap_err().to_string();
        assert!(e.contains("5000 spring joints"), "{e}");
    }
}
