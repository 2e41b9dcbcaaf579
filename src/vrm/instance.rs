//! One avatar in motion, stepped once per frame from a pose (three-vrm's `vrm.update(dt)`):
//! humanoid, lookAt, expressions with their override rules, node constraints and spring bones,
//! in the spec's order. No GPU: a renderer takes the [`Posed`] result and only draws it.

use super::look_at::LookAtOutput;
use super::skeleton::Skeleton;
use super::{SpringBones, VrmModel};
use crate::pose::AvatarPose;
use glam::Mat4;
use std::sync::Arc;

/// What one frame of an avatar is: everything a renderer needs besides the model.
pub struct Posed {
    /// The pose with its gaze applied (eye bones or lookAt expressions, as the model says).
    pub pose: AvatarPose,
    /// World matrix of every node after the humanoid pose, constraints and spring bones.
    pub world: Vec<Mat4>,
    /// Weight of each of the model's expressions after the override rules (model order).
    pub expressions: Vec<f32>,
    /// Morph target weights per node from those expressions (empty where none drives it).
    pub morph_weights: Vec<Vec<f32>>,
}

/// A model with its per-frame state (spring bones' velocities).
pub struct Instance {
    model: Arc<VrmModel>,
    skeleton: Skeleton,
    springs: SpringBones,
}

impl Instance {
    pub fn new(model: Arc<VrmModel>) -> Self {
        let skeleton = Skeleton::new(&model);
        let springs = SpringBones::new(&model);
        Self {
            model,
            skeleton,
            springs,
        }
    }

    pub fn model(&self) -> &Arc<VrmModel> {
        &self.model
    }

    pub fn skeleton(&self) -> &Skeleton {
        &self.skeleton
    }

    /// World matrices of the rest pose (no springs stepped).
    pub fn rest_world(&self) -> Vec<Mat4> {
        self.skeleton
            .world_matrices(&self.skeleton.local_transforms(&AvatarPose::default()))
    }

    /// Steps the avatar `dt` seconds into `pose`.
    pub fn update(&mut self, pose: &AvatarPose, dt: f32) -> Posed {
        let pose = with_look_at(&self.model, pose).into_owned();
        let mut local = self.skeleton.local_transforms(&pose);
        self.skeleton.constrain(&mut local);
        let world = self.springs.update(&self.model, &mut local, dt);
        let expressions = self.model.expressions.resolve(&pose.expressions);
        let morph_weights = self
            .model
            .expressions
            .morph_weights(&self.model, &expressions);
        Posed {
            pose,
            world,
            expressions,
            morph_weights,
        }
    }

    /// Steps the spring bones `frames` times 1/60 s with `pose`, so that hair hangs as it would
    /// after a moment of stillness.
    pub fn settle(&mut self, pose: &AvatarPose, frames: u32) {
        for _ in 0..frames {
            self.update(pose, super::spring_bone::STEP_S);
        }
    }
}

/// The pose with its gaze applied as the model's lookAt says: eye bone rotations or lookAt
/// expression weights (what the pose sets explicitly wins).
fn with_look_at<'a>(model: &VrmModel, pose: &'a AvatarPose) -> std::borrow::Cow<'a, AvatarPose> {
    let (Some(gaze), Some(look_at)) = (pose.look_at, model.look_at) else {
        return std::borrow::Cow::Borrowed(pose);
    };
    let mut pose = pose.clone();
    match look_at.apply(gaze.yaw_deg, gaze.pitch_deg) {
        LookAtOutput::Bones { left, right } => {
            for (bone, rotation) in [("leftEye", left), ("rightEye", right)] {
                if !pose.bones.contains_key(bone) {
                    pose.set_rotation(bone, rotation);
                }
            }
        }
        LookAtOutput::Expressions(weights) => {
            for (name, weight) in weights {
                pose.expressions.entry(name.to_string()).or_insert(weight);
            }
        }
    }
    std::borrow::Cow::Owned(pose)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrm::HumanBone;
    use glam::Quat;

    fn godette() -> Arc<VrmModel> {
        Arc::new(
            crate::vrm::load_file(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../shared/testdata/vrm/vrm0/Godette_vrm_v4.vrm"
            ))
            .unwrap(),
        )
    }

    #[test]
    fn a_pose_turns_bones_and_gaze_turns_the_eyes_without_a_gpu() {
        // The built-in avatar has eye bones and a bone-type lookAt.
        let mut avatar = Instance::new(Arc::new(crate::default_avatar::load_avatar(None).unwrap()));
        let rig = avatar.skeleton().rig().unwrap();
        let arm = rig.bone(HumanBone::LeftUpperArm).unwrap().node;
        let eye = rig.bone(HumanBone::LeftEye).unwrap().node;
        let rest = avatar.update(&AvatarPose::default(), 0.0);
        let mut pose = AvatarPose::default();
        pose.set_rotation("leftUpperArm", Quat::from_rotation_z(-1.0));
        pose.look_at = Some(crate::pose::LookAtAngles {
            yaw_deg: 20.0,
            pitch_deg: 0.0,
        });
        let posed = avatar.update(&pose, 1.0 / 30.0);
        assert!(!posed.world[arm].abs_diff_eq(rest.world[arm], 1e-3));
        // The lookAt turns the eye bones: the gaze shows in the pose and the matrices.
        assert!(posed.pose.bones.contains_key("leftEye"));
        assert!(!posed.world[eye].abs_diff_eq(rest.world[eye], 1e-4));
        assert_eq!(
            posed.expressions.len(),
            avatar.model().expressions.list.len()
        );
        assert_eq!(posed.morph_weights.len(), avatar.model().nodes.len());
    }

    #[test]
    fn spring_bones_move_on_after_the_pose_stops() {
        // Hair swings on after a turn: the instance keeps the springs' state between updates.
        let mut avatar = Instance::new(godette());
        avatar.settle(&AvatarPose::default(), 60);
        let mut turned = AvatarPose::default();
        turned.set_rotation("spine", Quat::from_rotation_y(0.8));
        avatar.update(&turned, 1.0 / 30.0);
        let a = avatar.update(&turned, 1.0 / 30.0).world;
        let b = avatar.update(&turned, 1.0 / 30.0).world;
        let moved = a.iter().zip(&b).any(|(x, y)| !x.abs_diff_eq(*y, 1e-5));
        assert!(moved, "the springs settle over several frames");
    }
}
