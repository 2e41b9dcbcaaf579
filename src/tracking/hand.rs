//! Hands: a ROI from the pose's wrist, pinky and index points, re-cropped by the small
//! hand re-crop model, tracked from the previous frame's hand, then the 21-point hand
//! model (`hand_landmarks_from_pose_cpu.pbtxt`, `hand_tracking.pbtxt`).

use super::detect::{Detection, Detector, PALM_DETECTOR};
use super::image::ImageView;
use super::image_to_tensor::{Border, TensorSpec};
use super::roi::{NormRect, rotation_between};
use super::runtime::ModelPaths;
use super::{Stage, project, tensor_points};
use crate::landmarks::HAND_POINTS;
use anyhow::{Result, ensure};
use std::f32::consts::FRAC_PI_2;

/// The first ROI from the pose's wrist, pinky and index points (normalized): around an
/// estimated middle finger, upright along wrist to finger, 2.7 times larger.
pub fn roi_from_pose(
    wrist: [f32; 2],
    pinky: [f32; 2],
    index: [f32; 2],
    w: f32,
    h: f32,
) -> NormRect {
    let middle = [
        (2.0 * index[0] + pinky[0]) / 3.0,
        (2.0 * index[1] + pinky[1]) / 3.0,
    ];
    let (mx, my) = (middle[0] * w, middle[1] * h);
    let (wx, wy) = (wrist[0] * w, wrist[1] * h);
    let size = 2.0 * ((mx - wx).powi(2) + (my - wy).powi(2)).sqrt();
    NormRect {
        x_center: middle[0],
        y_center: middle[1],
        width: size / w,
        height: size / h,
        rotation: rotation_between([wx, wy], [mx, my], FRAC_PI_2),
    }
    .transform(w, h, [2.7, 2.7], [0.0, -0.1], true)
}

/// The ROI around a hand's landmarks (`HandLandmarksToRectCalculator`), for tracking:
/// the bounds of the palm and finger bases in the hand's own frame, twice as large.
pub fn roi_from_landmarks(hand: &[[f32; 3]], w: f32, h: f32) -> NormRect {
    const PARTIAL: [usize; 12] = [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18];
    let px = |i: usize| [hand[i][0] * w, hand[i][1] * h];
    let wrist = px(0);
    let (i5, i9, i13) = (px(5), px(9), px(13));
    let mid = [
        ((i5[0] + i13[0]) / 2.0 + i9[0]) / 2.0,
        ((i5[1] + i13[1]) / 2.0 + i9[1]) / 2.0,
    ];
    let rotation = rotation_between(wrist, mid, FRAC_PI_2);
    let (mut ax0, mut ay0, mut ax1, mut ay1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &i in &PARTIAL {
        ax0 = ax0.min(hand[i][0]);
        ay0 = ay0.min(hand[i][1]);
        ax1 = ax1.max(hand[i][0]);
        ay1 = ay1.max(hand[i][1]);
    }
    let (acx, acy) = ((ax0 + ax1) / 2.0 * w, (ay0 + ay1) / 2.0 * h);
    let (s, c) = (-rotation).sin_cos();
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &i in &PARTIAL {
        let [x, y] = px(i);
        let (qx, qy) = (x - acx, y - acy);
        let (rx, ry) = (qx * c - qy * s, qx * s + qy * c);
        x0 = x0.min(rx);
        y0 = y0.min(ry);
        x1 = x1.max(rx);
        y1 = y1.max(ry);
    }
    let (pcx, pcy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (s, c) = rotation.sin_cos();
    NormRect {
        x_center: (pcx * c - pcy * s + acx) / w,
        y_center: (pcx * s + pcy * c + acy) / h,
        width: (x1 - x0) / w,
        height: (y1 - y0) / h,
        rotation,
    }
    .transform(w, h, [2.0, 2.0], [0.0, -0.1], true)
}

/// A found hand: 21 points in the image and in meters.
#[derive(Debug, Clone)]
pub struct HandResult {
    pub image: Vec<[f32; 3]>,
    pub world: Vec<[f32; 3]>,
    pub score: f32,
    /// How sure the model is that this is the subject's own left hand. The model was
    /// trained on mirrored (selfie) images, where its "right" is the subject's left.
    pub left: f32,
}

/// The palm detector, for hands the pose does not place (no body in view).
pub fn palm_detector(paths: &ModelPaths, threads: usize) -> Result<Detector> {
    Detector::load(paths, &PALM_DETECTOR, threads)
}

/// The hand ROI from a palm: its box turned along wrist to middle finger (keypoints 0 and
/// 2), 2.6 times larger and moved towards the fingers (`palm_detection_detection_to_roi`).
pub fn roi_from_palm(d: &Detection, w: f32, h: f32) -> NormRect {
    let px = |k: usize| [d.keypoints[k][0] * w, d.keypoints[k][1] * h];
    NormRect {
        x_center: d.xmin + d.width / 2.0,
        y_center: d.ymin + d.height / 2.0,
        width: d.width,
        height: d.height,
        rotation: rotation_between(px(0), px(2), FRAC_PI_2),
    }
    .transform(w, h, [2.6, 2.6], [0.0, -0.5], true)
}

pub struct HandLandmarker {
    recrop: Stage,
    landmark: Stage,
}

impl HandLandmarker {
    pub fn load(paths: &ModelPaths, threads: usize) -> Result<Self> {
        let spec = |size| TensorSpec {
            width: size,
            height: size,
            keep_aspect_ratio: true,
            range: [0.0, 1.0],
            border: Border::Replicate,
        };
        Ok(HandLandmarker {
            recrop: Stage::load(paths, "hand_recrop", spec(256), threads)?,
            landmark: Stage::load(paths, "hand_landmark_full", spec(224), threads)?,
        })
    }

    /// The re-crop model's refined ROI for a rough one from the pose.
    pub fn recrop(&mut self, image: &ImageView, rough: &NormRect) -> Result<NormRect> {
        let (out, sampled) = self.recrop.run(image, rough)?;
        ensure!(
            !out.is_empty() && out[0].len() >= 4,
            "hand_recrop: unexpected outputs"
        );
        let pts: Vec<[f32; 3]> = tensor_points(&out[0], 2, 2, 256.0, 1.0)
            .into_iter()
            .map(|p| project(p, &sampled, image))
            .collect();
        let (w, h) = (image.width as f32, image.height as f32);
        Ok(NormRect::from_alignment_points(
            [pts[0][0], pts[0][1]],
            [pts[1][0], pts[1][1]],
            w,
            h,
            -FRAC_PI_2,
        )
        .transform(w, h, [1.0, 1.0], [0.0, -0.1], true))
    }

    /// The hand on `roi`, or `None` when the model sees no hand there.
    pub fn run(&mut self, image: &ImageView, roi: &NormRect) -> Result<Option<HandResult>> {
        let (out, sampled) = self.landmark.run(image, roi)?;
        ensure!(
            out.len() >= 4 && out[0].len() == HAND_POINTS * 3 && out[3].len() == HAND_POINTS * 3,
            "hand_landmark_full: unexpected outputs"
        );
        let score = out[1][0];
        if score.is_nan() || score <= 0.5 {
            return Ok(None);
        }
        let image_points = tensor_points(&out[0], HAND_POINTS, 3, 224.0, 0.4)
            .into_iter()
            .map(|p| project(p, &sampled, image))
            .collect();
        let (s, c) = roi.rotation.sin_cos();
        let world = out[3]
            .chunks(3)
            .map(|p| [c * p[0] - s * p[1], s * p[0] + c * p[1], p[2]])
            .collect();
        Ok(Some(HandResult {
            image: image_points,
            world,
            score,
            left: 1.0 - out[2][0],
        }))
    }
}

/// One hand's tracking state: the previous frame's points, whose ROI the next frame uses.
#[derive(Default)]
pub struct HandTrack {
    pub previous: Option<Vec<[f32; 3]>>,
}
