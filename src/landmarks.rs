//! Landmarks: what the tracker finds in a camera frame and the solver reads
//! (the Landmarks JSON of CONTRACTS.md). Lives below both layers.

use serde::{Deserialize, Serialize};

/// Points of one body part: x, y normalized to the image (0..1, origin top-left,
/// not mirrored), z in MediaPipe's relative depth units.
pub type Points3 = Vec<[f32; 3]>;

/// BlazePose's 33 landmarks as `[x, y, z, visibility]`, in the image and in meters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoseLandmarks {
    pub image: Vec<[f32; 4]>,
    /// Meters, origin between the hips (MediaPipe world landmarks).
    pub world: Vec<[f32; 4]>,
}

/// Everything found in one frame; a part not found is `None` (`null` in JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LandmarkFrame {
    pub index: u64,
    pub t_ms: f64,
    pub pose: Option<PoseLandmarks>,
    /// 468 face mesh points followed by 10 iris points (5 per eye).
    pub face: Option<Points3>,
    /// The subject's own left hand (21 points).
    pub left_hand: Option<Points3>,
    pub right_hand: Option<Points3>,
}

/// A whole `vrm-avatar track` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LandmarksFile {
    pub source: String,
    pub width: u32,
    pub height: u32,
    pub frames: Vec<LandmarkFrame>,
}

/// BlazePose landmark count.
pub const POSE_POINTS: usize = 33;
/// Face mesh points without the iris.
pub const FACE_MESH_POINTS: usize = 468;
/// Face mesh plus 10 iris points.
pub const FACE_POINTS: usize = 478;
/// Hand landmark count.
pub const HAND_POINTS: usize = 21;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_part_is_null_in_json() {
        let frame = LandmarkFrame {
            index: 3,
            t_ms: 100.0,
            ..Default::default()
        };
        let json = serde_json::to_value(&frame).unwrap();
        assert!(json["pose"].is_null() && json["face"].is_null());
        assert!(json["left_hand"].is_null() && json["right_hand"].is_null());
        let back: LandmarkFrame = serde_json::from_value(json).unwrap();
        assert_eq!(back, frame);
    }
}
