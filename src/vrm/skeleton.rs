//! Poses the model's node tree: normalized humanoid rotations from an [`AvatarPose`] become raw
//! node rotations (three-vrm's normalized rig), then world matrices and skinning matrices.

use crate::pose::AvatarPose;
use crate::vrm::{HumanBone, NormalizedRig, VrmModel};
use glam::{Mat4, Quat, Vec3};

pub struct Skeleton {
    rest: Vec<(Vec3, Quat, Vec3)>,
    parents: Vec<Option<usize>>,
    /// Nodes ordered parents first.
    order: Vec<usize>,
    rig: Option<NormalizedRig>,
    constraints: Vec<crate::vrm::NodeConstraint>,
}

impl Skeleton {
    pub fn new(model: &VrmModel) -> Self {
        let rest = model
            .nodes
            .iter()
            .map(|n| (n.translation, n.rotation, n.scale))
            .collect();
        let parents = model.nodes.iter().map(|n| n.parent).collect();
        let mut order = Vec::with_capacity(model.nodes.len());
        let mut stack: Vec<usize> = (0..model.nodes.len())
            .filter(|&i| model.nodes[i].parent.is_none())
            .collect();
        while let Some(i) = stack.pop() {
            order.push(i);
            stack.extend(model.nodes[i].children.iter().rev().copied());
        }
        let rig = model
            .humanoid
            .as_ref()
            .map(|h| NormalizedRig::new(&model.nodes, h));
        Self {
            rest,
            parents,
            order,
            rig,
            constraints: model.constraints.clone(),
        }
    }

    pub fn rig(&self) -> Option<&NormalizedRig> {
        self.rig.as_ref()
    }

    /// Local transforms of every node for `pose` (rest where the pose says nothing).
    pub fn local_transforms(&self, pose: &AvatarPose) -> Vec<(Vec3, Quat, Vec3)> {
        let mut local = self.rest.clone();
        let Some(rig) = &self.rig else {
            return local;
        };
        for name in pose.bones.keys() {
            let (Some(bone), Some(rotation)) = (HumanBone::from_name(name), pose.rotation(name))
            else {
                continue;
            };
            if let Some(rb) = rig.bone(bone) {
                local[rb.node].1 = rb.raw_local_rotation(rotation);
            }
        }
        if let Some(hips) = rig.bone(HumanBone::Hips) {
            let offset = pose.hips_offset();
            if offset != Vec3::ZERO {
                local[hips.node].0 = rig.raw_hips_translation(hips.rest_world_position + offset);
            }
        }
        local
    }

    /// Applies the model's node constraints to posed local transforms (after the humanoid and
    /// expressions, before spring bones, as the spec orders them).
    pub fn constrain(&self, local: &mut [(Vec3, Quat, Vec3)]) {
        if self.constraints.is_empty() {
            return;
        }
        let rest: Vec<Quat> = self.rest.iter().map(|r| r.1).collect();
        crate::vrm::constraints::apply(&self.constraints, &rest, local, |l| self.world_matrices(l));
    }

    /// World matrices from local transforms.
    pub fn world_matrices(&self, local: &[(Vec3, Quat, Vec3)]) -> Vec<Mat4> {
        let mut world = vec![Mat4::IDENTITY; local.len()];
        for &i in &self.order {
            let (t, r, s) = local[i];
            let m = Mat4::from_scale_rotation_translation(s, r, t);
            world[i] = self.parents[i].map_or(m, |p| world[p] * m);
        }
        world
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn godette() -> VrmModel {
        crate::vrm::load_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/testdata/vrm/vrm0/Godette_vrm_v4.vrm"
        ))
        .unwrap()
    }

    #[test]
    fn a_normalized_rotation_turns_the_bone_in_model_axes() {
        let model = godette();
        let skeleton = Skeleton::new(&model);
        let rig = skeleton.rig().unwrap();
        let arm = rig.bone(HumanBone::LeftUpperArm).unwrap().node;
        let hand = rig.bone(HumanBone::LeftHand).unwrap().node;
        let rest = skeleton.world_matrices(&skeleton.local_transforms(&AvatarPose::default()));
        let rest_dir = (rest[hand].w_axis - rest[arm].w_axis)
            .truncate()
            .normalize();
        // The avatar faces +Z, so its own left arm points along +X in the T-pose.
        assert!(rest_dir.x > 0.95, "{rest_dir}");

        // Lowering the left arm: a rotation about +Z by -80 degrees turns +X towards -Y.
        let mut pose = AvatarPose::default();
        pose.set_rotation("leftUpperArm", Quat::from_rotation_z(-80f32.to_radians()));
        let posed = skeleton.world_matrices(&skeleton.local_transforms(&pose));
        let dir = (posed[hand].w_axis - posed[arm].w_axis)
            .truncate()
            .normalize();
        let expected = Quat::from_rotation_z(-80f32.to_radians()) * rest_dir;
        assert!(dir.angle_between(expected) < 0.02, "{dir} vs {expected}");
    }

    #[test]
    fn hips_translation_moves_the_whole_body() {
        let model = godette();
        let skeleton = Skeleton::new(&model);
        let head = skeleton.rig().unwrap().bone(HumanBone::Head).unwrap().node;
        let rest = skeleton.world_matrices(&skeleton.local_transforms(&AvatarPose::default()));
        let pose = AvatarPose {
            hips_translation: Some([0.1, -0.2, 0.0]),
            ..Default::default()
        };
        let moved = skeleton.world_matrices(&skeleton.local_transforms(&pose));
        let delta = (moved[head].w_axis - rest[head].w_axis).truncate();
        assert!(
            delta.abs_diff_eq(Vec3::new(0.1, -0.2, 0.0), 1e-4),
            "{delta}"
        );
    }
}
