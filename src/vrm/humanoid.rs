//! Humanoid bones (VRM 1.0 names; VRM 0.x mapped) and three-vrm's normalized rig.
//!
//! The normalized rig lets the solver write model-independent rotations: every normalized bone
//! has identity rest rotation and model axes (+Y up, +Z forward, the avatar's left at +X), and
//! [`RigBone::raw_local_rotation`] turns such a rotation into the node's real local rotation.

use std::collections::BTreeMap;

use glam::{Mat4, Quat, Vec3};
use serde::Deserialize;
use serde_json::Value;

use super::gltf_data::{Node, world_rest_matrices};
use super::json_util::{check, lenient_index, section};
use super::{Result, SpecVersion, VrmError};

macro_rules! human_bones {
    ($($variant:ident = $name:literal, parent $parent:expr;)*) => {
        /// A VRM 1.0 humanoid bone. Order: the spec's table, parents before children.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum HumanBone { $($variant),* }

        impl HumanBone {
            pub const ALL: &[HumanBone] = &[$(HumanBone::$variant),*];

            /// The VRM 1.0 name (`leftThumbMetacarpal`, ...).
            pub fn name(self) -> &'static str {
                match self { $(HumanBone::$variant => $name),* }
            }

            /// The parent in the spec's bone hierarchy (it may be absent in a model).
            pub fn parent(self) -> Option<HumanBone> {
                use HumanBone::*;
                match self { $($variant => $parent),* }
            }
        }
    };
}

human_bones! {
    Hips = "hips", parent None;
    Spine = "spine", parent Some(Hips);
    Chest = "chest", parent Some(Spine);
    UpperChest = "upperChest", parent Some(Chest);
    Neck = "neck", parent Some(UpperChest);
    Head = "head", parent Some(Neck);
    LeftEye = "leftEye", parent Some(Head);
    RightEye = "rightEye", parent Some(Head);
    Jaw = "jaw", parent Some(Head);
    LeftUpperLeg = "leftUpperLeg", parent Some(Hips);
    LeftLowerLeg = "leftLowerLeg", parent Some(LeftUpperLeg);
    LeftFoot = "leftFoot", parent Some(LeftLowerLeg);
    LeftToes = "leftToes", parent Some(LeftFoot);
    RightUpperLeg = "rightUpperLeg", parent Some(Hips);
    RightLowerLeg = "rightLowerLeg", parent Some(RightUpperLeg);
    RightFoot = "rightFoot", parent Some(RightLowerLeg);
    RightToes = "rightToes", parent Some(RightFoot);
    LeftShoulder = "leftShoulder", parent Some(UpperChest);
    LeftUpperArm = "leftUpperArm", parent Some(LeftShoulder);
    LeftLowerArm = "leftLowerArm", parent Some(LeftUpperArm);
    LeftHand = "leftHand", parent Some(LeftLowerArm);
    RightShoulder = "rightShoulder", parent Some(UpperChest);
    RightUpperArm = "rightUpperArm", parent Some(RightShoulder);
    RightLowerArm = "rightLowerArm", parent Some(RightUpperArm);
    RightHand = "rightHand", parent Some(RightLowerArm);
    LeftThumbMetacarpal = "leftThumbMetacarpal", parent Some(LeftHand);
    LeftThumbProximal = "leftThumbProximal", parent Some(LeftThumbMetacarpal);
    LeftThumbDistal = "leftThumbDistal", parent Some(LeftThumbProximal);
    LeftIndexProximal = "leftIndexProximal", parent Some(LeftHand);
    LeftIndexIntermediate = "leftIndexIntermediate", parent Some(LeftIndexProximal);
    LeftIndexDistal = "leftIndexDistal", parent Some(LeftIndexIntermediate);
    LeftMiddleProximal = "leftMiddleProximal", parent Some(LeftHand);
    LeftMiddleIntermediate = "leftMiddleIntermediate", parent Some(LeftMiddleProximal);
    LeftMiddleDistal = "leftMiddleDistal", parent Some(LeftMiddleIntermediate);
    LeftRingProximal = "leftRingProximal", parent Some(LeftHand);
    LeftRingIntermediate = "leftRingIntermediate", parent Some(LeftRingProximal);
    LeftRingDistal = "leftRingDistal", parent Some(LeftRingIntermediate);
    LeftLittleProximal = "leftLittleProximal", parent Some(LeftHand);
    LeftLittleIntermediate = "leftLittleIntermediate", parent Some(LeftLittleProximal);
    LeftLittleDistal = "leftLittleDistal", parent Some(LeftLittleIntermediate);
    RightThumbMetacarpal = "rightThumbMetacarpal", parent Some(RightHand);
    RightThumbProximal = "rightThumbProximal", parent Some(RightThumbMetacarpal);
    RightThumbDistal = "rightThumbDistal", parent Some(RightThumbProximal);
    RightIndexProximal = "rightIndexProximal", parent Some(RightHand);
    RightIndexIntermediate = "rightIndexIntermediate", parent Some(RightIndexProximal);
    RightIndexDistal = "rightIndexDistal", parent Some(RightIndexIntermediate);
    RightMiddleProximal = "rightMiddleProximal", parent Some(RightHand);
    RightMiddleIntermediate = "rightMiddleIntermediate", parent Some(RightMiddleProximal);
    RightMiddleDistal = "rightMiddleDistal", parent Some(RightMiddleIntermediate);
    RightRingProximal = "rightRingProximal", parent Some(RightHand);
    RightRingIntermediate = "rightRingIntermediate", parent Some(RightRingProximal);
    RightRingDistal = "rightRingDistal", parent Some(RightRingIntermediate);
    RightLittleProximal = "rightLittleProximal", parent Some(RightHand);
    RightLittleIntermediate = "rightLittleIntermediate", parent Some(RightLittleProximal);
    RightLittleDistal = "rightLittleDistal", parent Some(RightLittleIntermediate);
}

impl HumanBone {
    /// A VRM 1.0 bone name (exact, as the spec's JSON keys are).
    pub fn from_name(name: &str) -> Option<HumanBone> {
        HumanBone::ALL.iter().copied().find(|b| b.name() == name)
    }

    /// A VRM 0.x bone name: the thumbs shift by one (three-vrm `thumbBoneNameMap`), the rest is
    /// named as in 1.0.
    pub fn from_vrm0_name(name: &str) -> Option<HumanBone> {
        use HumanBone::*;
        match name {
            "leftThumbProximal" => Some(LeftThumbMetacarpal),
            "leftThumbIntermediate" => Some(LeftThumbProximal),
            "rightThumbProximal" => Some(RightThumbMetacarpal),
            "rightThumbIntermediate" => Some(RightThumbProximal),
            "leftThumbMetacarpal" | "rightThumbMetacarpal" => None,
            _ => HumanBone::from_name(name),
        }
    }

    /// Bones a model of this spec version must have.
    pub fn is_required(self, version: SpecVersion) -> bool {
        use HumanBone::*;
        let common = matches!(
            self,
            Hips | Spine
                | Head
                | LeftUpperLeg
                | LeftLowerLeg
                | LeftFoot
                | RightUpperLeg
                | RightLowerLeg
                | RightFoot
                | LeftUpperArm
                | LeftLowerArm
                | LeftHand
                | RightUpperArm
                | RightLowerArm
                | RightHand
        );
        // VRM 0.x (Unity Mecanim based) also requires chest and neck.
        common || (version == SpecVersion::V0 && matches!(self, Chest | Neck))
    }
}

/// The humanoid bones a model has, each with its node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Humanoid {
    pub bones: BTreeMap<HumanBone, usize>,
}

impl Humanoid {
    pub fn node(&self, bone: HumanBone) -> Option<usize> {
        self.bones.get(&bone).copied()
    }

    /// The nearest existing ancestor bone in the spec hierarchy (missing optional bones skipped).
    pub fn parent_bone(&self, bone: HumanBone) -> Option<HumanBone> {
        let mut p = bone.parent();
        while let Some(b) = p {
            if self.bones.contains_key(&b) {
                return Some(b);
            }
            p = b.parent();
        }
        None
    }

    fn check_required(&self, version: SpecVersion) -> Result<()> {
        let missing: Vec<&str> = HumanBone::ALL
            .iter()
            .filter(|b| b.is_required(version) && !self.bones.contains_key(b))
            .map(|b| b.name())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(VrmError::Invalid(format!(
                "humanoid lacks required bones: {}",
                missing.join(", ")
            )))
        }
    }
}

pub(crate) fn parse_v1(value: Option<&Value>, nodes: &[Node]) -> Result<Humanoid> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Json {
        human_bones: BTreeMap<String, Bone>,
    }
    #[derive(Deserialize)]
    struct Bone {
        node: usize,
    }
    let json: Json = section(value, "VRMC_vrm.humanoid")?;
    let mut humanoid = Humanoid::default();
    for (name, bone) in json.human_bones {
        // Unknown names come from newer or broken exporters; they carry nothing we can drive.
        let Some(b) = HumanBone::from_name(&name) else {
            continue;
        };
        let node = check(bone.node, nodes.len(), &format!("humanoid bone {name}"))?;
        humanoid.bones.insert(b, node);
    }
    humanoid.check_required(SpecVersion::V1)?;
    Ok(humanoid)
}

pub(crate) fn parse_v0(value: Option<&Value>, nodes: &[Node]) -> Result<Humanoid> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Json {
        human_bones: Vec<Bone>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Bone {
        bone: String,
        #[serde(deserialize_with = "lenient_index")]
        node: Option<usize>,
    }
    let json: Json = section(value, "VRM.humanoid")?;
    let mut humanoid = Humanoid::default();
    for bone in json.human_bones {
        let (Some(b), Some(node)) = (HumanBone::from_vrm0_name(&bone.bone), bone.node) else {
            continue;
        };
        let node = check(node, nodes.len(), &format!("humanoid bone {}", bone.bone))?;
        // A bone listed twice: the first wins, as in three-vrm.
        humanoid.bones.entry(b).or_insert(node);
    }
    humanoid.check_required(SpecVersion::V0)?;
    Ok(humanoid)
}

/// Rest data of one humanoid bone for the normalized rig (three-vrm `VRMHumanoidRig`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RigBone {
    pub bone: HumanBone,
    pub node: usize,
    /// Nearest existing humanoid ancestor (the normalized rig's parent).
    pub parent_bone: Option<HumanBone>,
    /// R: the node's local rest rotation.
    pub rest_local_rotation: Quat,
    /// P: world rest rotation of the node's scene-graph parent (identity for a root node).
    pub parent_world_rotation: Quat,
    /// World rest rotation of the node itself (P * R).
    pub rest_world_rotation: Quat,
    pub rest_world_position: Vec3,
    /// Normalized node's local position: world position minus the parent bone's.
    pub normalized_translation: Vec3,
}

impl RigBone {
    /// raw = P^-1 * N * P * R: a normalized local rotation (identity = rest, model axes) as the
    /// node's local rotation.
    pub fn raw_local_rotation(&self, normalized: Quat) -> Quat {
        let p = self.parent_world_rotation;
        (p.inverse() * normalized * p * self.rest_local_rotation).normalize()
    }

    /// The inverse of [`Self::raw_local_rotation`]: N = P * raw * R^-1 * P^-1.
    pub fn normalized_local_rotation(&self, raw: Quat) -> Quat {
        let p = self.parent_world_rotation;
        (p * raw * self.rest_local_rotation.inverse() * p.inverse()).normalize()
    }
}

/// The normalized rig of a model at rest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NormalizedRig {
    bones: BTreeMap<HumanBone, RigBone>,
    /// World rest matrix of the hips' scene-graph parent, for hips translation.
    hips_parent_world: Mat4,
}

impl NormalizedRig {
    pub fn new(nodes: &[Node], humanoid: &Humanoid) -> Self {
        let world = world_rest_matrices(nodes);
        let world_of = |node: Option<usize>| node.map_or(Mat4::IDENTITY, |n| world[n]);
        let rotation_of = |m: Mat4| m.to_scale_rotation_translation().1.normalize();
        let mut bones = BTreeMap::new();
        for (&bone, &node) in &humanoid.bones {
            let parent_world = world_of(nodes[node].parent);
            let own_world = world[node];
            let parent_bone = humanoid.parent_bone(bone);
            let position = own_world.w_axis.truncate();
            let parent_position = parent_bone
                .and_then(|b| humanoid.node(b))
                .map_or(Vec3::ZERO, |n| world[n].w_axis.truncate());
            bones.insert(
                bone,
                RigBone {
                    bone,
                    node,
                    parent_bone,
                    rest_local_rotation: nodes[node].rotation,
                    parent_world_rotation: rotation_of(parent_world),
                    rest_world_rotation: rotation_of(own_world),
                    rest_world_position: position,
                    normalized_translation: position - parent_position,
                },
            );
        }
        let hips_parent_world = humanoid
            .node(HumanBone::Hips)
            .map_or(Mat4::IDENTITY, |h| world_of(nodes[h].parent));
        Self {
            bones,
            hips_parent_world,
        }
    }

    pub fn bone(&self, bone: HumanBone) -> Option<&RigBone> {
        self.bones.get(&bone)
    }

    pub fn bones(&self) -> impl Iterator<Item = &RigBone> {
        self.bones.values()
    }

    /// The hips node's local translation that puts the normalized hips at `model_position`
    /// (model space), with the hips' parent at rest, as three-vrm does for the raw hips.
    pub fn raw_hips_translation(&self, model_position: Vec3) -> Vec3 {
        self.hips_parent_world
            .inverse()
            .transform_point3(model_position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrm::gltf_data::link_parents;
    use std::f32::consts::FRAC_PI_2;

    #[test]
    fn names_round_trip_and_thumbs_shift() {
        assert_eq!(HumanBone::ALL.len(), 55);
        for &b in HumanBone::ALL {
            assert_eq!(HumanBone::from_name(b.name()), Some(b));
            if let Some(p) = b.parent() {
                assert!(p < b, "{b:?} listed before its parent");
            }
        }
        use HumanBone::*;
        assert_eq!(
            HumanBone::from_vrm0_name("leftThumbProximal"),
            Some(LeftThumbMetacarpal)
        );
        assert_eq!(
            HumanBone::from_vrm0_name("leftThumbIntermediate"),
            Some(LeftThumbProximal)
        );
        assert_eq!(
            HumanBone::from_vrm0_name("leftThumbDistal"),
            Some(LeftThumbDistal)
        );
        assert_eq!(
            HumanBone::from_vrm0_name("rightThumbIntermediate"),
            Some(RightThumbProximal)
        );
        assert_eq!(HumanBone::from_vrm0_name("hips"), Some(Hips));
        assert_eq!(HumanBone::from_vrm0_name("leftThumbMetacarpal"), None);
        let required_v1 = HumanBone::ALL
            .iter()
            .filter(|b| b.is_required(SpecVersion::V1));
        assert_eq!(required_v1.count(), 15);
        assert!(Neck.is_required(SpecVersion::V0) && !Neck.is_required(SpecVersion::V1));
    }

    #[test]
    fn missing_parents_are_skipped() {
        let mut h = Humanoid::default();
        h.bones.insert(HumanBone::Spine, 0);
        h.bones.insert(HumanBone::Head, 1);
        h.bones.insert(HumanBone::LeftUpperArm, 2);
        assert_eq!(h.parent_bone(HumanBone::Head), Some(HumanBone::Spine));
        assert_eq!(
            h.parent_bone(HumanBone::LeftUpperArm),
            Some(HumanBone::Spine)
        );
        assert_eq!(h.parent_bone(HumanBone::Spine), None);
        let e = h.check_required(SpecVersion::V1).unwrap_err().to_string();
        assert!(e.contains("hips") && !e.contains("spine,"), "{e}");
    }

    fn node(translation: Vec3, rotation: Quat, children: Vec<usize>) -> Node {
        Node {
            name: String::new(),
            parent: None,
            children,
            translation,
            rotation,
            scale: Vec3::ONE,
            mesh: None,
            skin: None,
        }
    }

    #[test]
    fn normalized_rotation_maps_to_raw_with_rest_rotations() {
        // root (turned 90 degrees about Y) -> hips (rest turned 90 degrees about X) -> spine.
        let mut nodes = vec![
            node(Vec3::ZERO, Quat::from_rotation_y(FRAC_PI_2), vec![1]),
            node(
                Vec3::new(0.0, 1.0, 0.0),
                Quat::from_rotation_x(FRAC_PI_2),
                vec![2],
            ),
            node(Vec3::new(0.0, 0.0, 0.2), Quat::IDENTITY, vec![]),
        ];
        link_parents(&mut nodes).unwrap();
        let mut h = Humanoid::default();
        h.bones.insert(HumanBone::Hips, 1);
        h.bones.insert(HumanBone::Spine, 2);
        let rig = NormalizedRig::new(&nodes, &h);
        let hips = rig.bone(HumanBone::Hips).unwrap();
        // Identity normalized rotation keeps the rest pose.
        assert!(
            hips.raw_local_rotation(Quat::IDENTITY)
                .abs_diff_eq(nodes[1].rotation, 1e-6)
        );
        // A normalized rotation acts in model axes: the hips' world rotation becomes N * rest.
        let n = Quat::from_rotation_z(0.7);
        let raw = hips.raw_local_rotation(n);
        let world = nodes[0].rotation * raw;
        assert!(world.abs_diff_eq(n * hips.rest_world_rotation, 1e-5));
        assert!(hips.normalized_local_rotation(raw).abs_diff_eq(n, 1e-5));
        let spine = rig.bone(HumanBone::Spine).unwrap();
        assert_eq!(spine.parent_bone, Some(HumanBone::Hips));
        // Spine world position: root turn (Y 90) of hips turn (X 90) of +0.2 Z -> -0.2 Y... then
        // the Y turn leaves Y alone, so it sits 0.2 below the hips.
        assert!(
            spine
                .normalized_translation
                .abs_diff_eq(Vec3::new(0.0, -0.2, 0.0), 1e-5)
        );
        // Hips translation in the root's space for a model-space target.
        let t = rig.raw_hips_translation(Vec3::new(1.0, 1.0, 0.0));
        assert!(
            nodes[0]
                .rotation
                .mul_vec3(t)
                .abs_diff_eq(Vec3::new(1.0, 1.0, 0.0), 1e-5)
        );
    }
}
