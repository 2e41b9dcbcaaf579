//! BlazePose (full): the pose detector finds a person when there is no track; the
//! landmark model follows them on a ROI carried from frame to frame by its two auxiliary
//! landmarks (`pose_landmark_cpu.pbtxt`).

use super::detect::{Detection, Detector, POSE_DETECTOR};
use super::image::ImageView;
use super::image_to_tensor::{Border, TensorSpec};
use super::roi::NormRect;
use super::runtime::ModelPaths;
use super::{Stage, project, sigmoid, tensor_points};
use anyhow::{Result, bail};
use std::f32::consts::FRAC_PI_2;

/// A pose landmark in the image: x, y normalized, z relative, visibility and presence
/// as probabilities.
pub type PosePoint = [f32; 5];

/// The landmark model's result for one frame.
#[derive(Debug, Clone)]
pub struct PoseResult {
    pub image: Vec<PosePoint>,
    /// Meters, origin between the hips, with the landmarks' visibility.
    pub world: Vec<[f32; 4]>,
    /// Landmarks 33 and 34: the body center and a point on its circle, for the next ROI.
    pub aux: [[f32; 2]; 2],
    pub score: f32,
}

/// BlazePose's person detector, for frames without a track.
pub fn detector(paths: &ModelPaths, threads: usize) -> Result<Detector> {
    Detector::load(paths, &POSE_DETECTOR, threads)
}

/// The landmark ROI from a detection: body center to the circle point, upright at 90
/// degrees, 1.25 times larger, square.
pub fn roi_from_detection(d: &Detection, w: f32, h: f32) -> NormRect {
    NormRect::from_alignment_points(d.keypoints[0], d.keypoints[1], w, h, FRAC_PI_2).transform(
        w,
        h,
        [1.25, 1.25],
        [0.0, 0.0],
        true,
    )
}

/// The next frame's ROI from this frame's auxiliary landmarks.
pub fn roi_from_aux(aux: &[[f32; 2]; 2], w: f32, h: f32) -> NormRect {
    NormRect::from_alignment_points(aux[0], aux[1], w, h, FRAC_PI_2).transform(
        w,
        h,
        [1.25, 1.25],
        [0.0, 0.0],
        true,
    )
}

pub struct PoseLandmarker {
    stage: Stage,
}

const LANDMARKS: usize = 39;
const HEATMAP: usize = 64;

impl PoseLandmarker {
    pub fn load(paths: &ModelPaths, threads: usize) -> Result<Self> {
        let spec = TensorSpec {
            width: 256,
            height: 256,
            keep_aspect_ratio: true,
            range: [0.0, 1.0],
            border: Border::Replicate,
        };
        Ok(PoseLandmarker {
            stage: Stage::load(paths, "pose_landmark_full", spec, threads)?,
        })
    }

    /// Landmarks on `roi`, or `None` when the model says nobody is there
    /// (pose flag at most `min_presence`).
    pub fn run(
        &mut self,
        image: &ImageView,
        roi: &NormRect,
        min_presence: f32,
    ) -> Result<Option<PoseResult>> {
        let (out, sampled) = self.stage.run(image, roi)?;
        // Outputs by size: scripts/models.sh cuts the segmentation mask the tracker never
        // reads, so the order is not the TFLite original's.
        let find = |len: usize| out.iter().find(|o| o.len() == len);
        let (Some(raw), Some(flag), Some(heatmap), Some(world_raw)) = (
            find(LANDMARKS * 5),
            find(1),
            find(HEATMAP * HEATMAP * LANDMARKS),
            find(LANDMARKS * 3),
        ) else {
            bail!("pose_landmark_full: unexpected outputs; re-run scripts/models.sh");
        };
        let score = flag[0];
        if score.is_nan() || score <= min_presence {
            return Ok(None);
        }
        let mut points = tensor_points(raw, LANDMARKS, 5, 256.0, 1.0);
        refine_from_heatmap(&mut points, heatmap);
        let image_points: Vec<PosePoint> = points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let [x, y, z] = project(*p, &sampled, image);
                [x, y, z, sigmoid(raw[i * 5 + 3]), sigmoid(raw[i * 5 + 4])]
            })
            .collect();
        // World landmarks turn with the ROI; they keep the landmarks' visibility.
        let (sin, cos) = roi.rotation.sin_cos();
        let world = world_raw
            .chunks(3)
            .take(33)
            .zip(&image_points)
            .map(|(p, l)| [cos * p[0] - sin * p[1], sin * p[0] + cos * p[1], p[2], l[3]])
            .collect();
        let aux = [
            [image_points[33][0], image_points[33][1]],
            [image_points[34][0], image_points[34][1]],
        ];
        Ok(Some(PoseResult {
            image: image_points[..33].to_vec(),
            world,
            aux,
            score,
        }))
    }
}

/// MediaPipe's `RefineLandmarksFromHeatmapCalculator` (kernel 7, min confidence 0.5):
/// moves x, y to the confidence-weighted center of the heatmap around them.
fn refine_from_heatmap(points: &mut [[f32; 3]], heatmap: &[f32]) {
    const OFFSET: i64 = 3;
    let n = HEATMAP as i64;
    for (i, p) in points.iter_mut().enumerate() {
        let (col, row) = ((p[0] * n as f32) as i64, (p[1] * n as f32) as i64);
        if !(0..n).contains(&col) || !(0..n).contains(&row) {
            continue;
        }
        let (mut sum, mut max, mut wc, mut wr) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for r in (row - OFFSET).max(0)..(row + OFFSET + 1).min(n) {
            for c in (col - OFFSET).max(0)..(col + OFFSET + 1).min(n) {
                let conf = sigmoid(heatmap[((r * n + c) as usize) * LANDMARKS + i]);
                sum += conf;
                max = max.max(conf);
                wc += c as f32 * conf;
                wr += r as f32 * conf;
            }
        }
        if max >= 0.5 && sum > 0.0 {
            p[0] = wc / n as f32 / sum;
            p[1] = wr / n as f32 / sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heatmap_refinement_moves_to_the_confident_peak_only() {
        let mut heatmap = vec![-10.0; HEATMAP * HEATMAP * LANDMARKS];
        // Landmark 2 has a confident peak at column 21, row 10.
        heatmap[(10 * HEATMAP + 21) * LANDMARKS + 2] = 10.0;
        let mut points = vec![[0.3, 0.16, 0.1]; LANDMARKS];
        refine_from_heatmap(&mut points, &heatmap);
        assert!((points[2][0] - 21.0 / 64.0).abs() < 0.01, "{:?}", points[2]);
        assert!((points[2][1] - 10.0 / 64.0).abs() < 0.01);
        assert_eq!(points[2][2], 0.1);
        // Nothing confident near landmark 0: it stays.
        assert_eq!(points[0], [0.3, 0.16, 0.1]);
    }
}
