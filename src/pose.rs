//! The avatar pose: what the solver produces and the renderer draws (the AvatarPose JSON of
//! CONTRACTS.md). It lives below both so that neither depends on the other.

use glam::{Quat, Vec3};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One frame of avatar motion: normalized humanoid bone rotations (identity = T-pose rest, VRM 1.0
/// bone names), the hips' position, expression weights and eye direction. Bones not listed stay
/// at rest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AvatarPose {
    #[serde(default)]
    pub index: u64,
    #[serde(default)]
    pub t_ms: f64,
    /// `[x, y, z, w]` unit quaternions by VRM 1.0 bone name.
    #[serde(default)]
    pub bones: BTreeMap<String, [f32; 4]>,
    /// Offset of the hips from their rest position, in meters (model space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hips_translation: Option<[f32; 3]>,
    #[serde(default)]
    pub expressions: BTreeMap<String, f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look_at: Option<LookAtAngles>,
}

/// Gaze in degrees: `yaw_deg` > 0 towards the avatar's own left (+X; the avatar faces +Z),
/// `pitch_deg` > 0 up. The model's lookAt turns it into eye bones or lookAt expressions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LookAtAngles {
    pub yaw_deg: f32,
    pub pitch_deg: f32,
}

/// A file of poses: `{"frames": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AvatarPoseFile {
    pub frames: Vec<AvatarPose>,
}

impl AvatarPose {
    /// The rotation of `bone`, normalized; None when absent or not a usable quaternion.
    pub fn rotation(&self, bone: &str) -> Option<Quat> {
        let q = Quat::from_array(*self.bones.get(bone)?);
        (q.is_finite() && q.length_squared() > 1e-12).then(|| q.normalize())
    }

    pub fn set_rotation(&mut self, bone: &str, rotation: Quat) {
        self.bones
            .insert(bone.to_string(), rotation.normalize().to_array());
    }

    pub fn hips_offset(&self) -> Vec3 {
        self.hips_translation
            .map(Vec3::from)
            .filter(|v| v.is_finite())
            .unwrap_or(Vec3::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_json_round_trips() {
        let text = r#"{"frames": [{"index": 0, "t_ms": 0.0,
            "bones": {"hips": [0, 0, 0, 1], "leftUpperArm": [0, 0, 0.3826834, 0.9238795]},
            "hips_translation": [0, 0.1, 0],
            "expressions": {"blink": 0.0, "aa": 0.35},
            "look_at": {"yaw_deg": 5.0, "pitch_deg": -2.0}}]}"#;
        let file: AvatarPoseFile = serde_json::from_str(text).unwrap();
        let pose = &file.frames[0];
        let arm = pose.rotation("leftUpperArm").unwrap();
        assert!((arm.to_axis_angle().1 - std::f32::consts::FRAC_PI_4).abs() < 1e-5);
        assert_eq!(pose.expressions["aa"], 0.35);
        assert_eq!(pose.hips_offset(), Vec3::new(0.0, 0.1, 0.0));
        let again: AvatarPoseFile =
            serde_json::from_str(&serde_json::to_string(&file).unwrap()).unwrap();
        assert_eq!(again, file);
    }

    #[test]
    fn unusable_rotations_are_ignored() {
        let mut pose = AvatarPose::default();
        pose.bones.insert("head".into(), [0.0, 0.0, 0.0, 0.0]);
        pose.bones.insert("neck".into(), [f32::NAN, 0.0, 0.0, 1.0]);
        pose.bones.insert("spine".into(), [0.0, 0.0, 0.0, 2.0]);
        assert_eq!(pose.rotation("head"), None);
        assert_eq!(pose.rotation("neck"), None);
        assert_eq!(pose.rotation("spine"), Some(Quat::IDENTITY));
    }
}
