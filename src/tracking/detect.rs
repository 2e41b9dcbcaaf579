//! SSD detectors (BlazePose's pose detector, BlazeFace, the palm detector): anchors,
//! box decoding and weighted non-maximum suppression, as MediaPipe's
//! `SsdAnchorsCalculator`, `TensorsToDetectionsCalculator` and
//! `NonMaxSuppressionCalculator` (WEIGHTED, IoU) do them.

use super::Stage;
use super::image::ImageView;
use super::image_to_tensor::{Border, TensorSpec};
use super::roi::NormRect;
use super::runtime::ModelPaths;
use anyhow::{Result, ensure};

/// A detection in normalized image coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub xmin: f32,
    pub ymin: f32,
    pub width: f32,
    pub height: f32,
    pub score: f32,
    pub keypoints: Vec<[f32; 2]>,
}

/// One detector's anchor and decoding options.
#[derive(Debug, Clone)]
pub struct SsdOptions {
    pub model: &'static str,
    /// Input value range.
    pub range: [f32; 2],
    pub input_size: usize,
    pub strides: &'static [usize],
    /// Values per box in the regressor output (4 box values + 2 per keypoint).
    pub num_coords: usize,
    pub num_keypoints: usize,
    pub min_score: f32,
}

/// BlazePose's detector (`pose_detection_cpu.pbtxt`): 2254 anchors on 224x224.
pub const POSE_DETECTOR: SsdOptions = SsdOptions {
    model: "pose_detection",
    range: [-1.0, 1.0],
    input_size: 224,
    strides: &[8, 16, 32, 32, 32],
    num_coords: 12,
    num_keypoints: 4,
    min_score: 0.5,
};

/// BlazeFace short range (`face_detection_short_range.pbtxt`): 896 anchors on 128x128.
pub const FACE_DETECTOR: SsdOptions = SsdOptions {
    model: "face_detection_short_range",
    range: [-1.0, 1.0],
    input_size: 128,
    strides: &[8, 16, 16, 16],
    num_coords: 16,
    num_keypoints: 6,
    min_score: 0.5,
};

/// The full palm detector (`palm_detection_cpu.pbtxt`): 2016 anchors on 192x192.
pub const PALM_DETECTOR: SsdOptions = SsdOptions {
    model: "palm_detection_full",
    range: [0.0, 1.0],
    input_size: 192,
    strides: &[8, 16, 16, 16],
    num_coords: 18,
    num_keypoints: 7,
    min_score: 0.5,
};

/// A loaded SSD detector: the letterboxed, black-bordered input its graph uses, decoding,
/// weighted NMS at IoU 0.3, and detections mapped back to the image.
pub struct Detector {
    stage: Stage,
    options: &'static SsdOptions,
    anchors: Vec<[f32; 2]>,
}

impl Detector {
    pub fn load(paths: &ModelPaths, options: &'static SsdOptions, threads: usize) -> Result<Self> {
        let spec = TensorSpec {
            width: options.input_size,
            height: options.input_size,
            keep_aspect_ratio: true,
            range: options.range,
            border: Border::Zero,
        };
        Ok(Detector {
            stage: Stage::load(paths, options.model, spec, threads)?,
            options,
            anchors: anchors(options),
        })
    }

    /// Detections inside `roi`, best first, in image coordinates.
    pub fn detect(&mut self, image: &ImageView, roi: &NormRect) -> Result<Vec<Detection>> {
        let (out, sampled) = self.stage.run(image, roi)?;
        ensure!(out.len() >= 2, "{}: expected 2 outputs", self.options.model);
        let found = decode(self.options, &self.anchors, &out[0], &out[1]);
        let (w, h) = (image.width as f32, image.height as f32);
        Ok(weighted_nms(found, 0.3)
            .iter()
            .map(|d| d.project(&sampled.rect, w, h))
            .collect())
    }
}

/// Anchor centers (x, y). All three detectors use fixed-size anchors (w = h = 1) with one
/// aspect ratio plus the interpolated scale, so each merged layer adds two anchors a cell.
pub fn anchors(options: &SsdOptions) -> Vec<[f32; 2]> {
    let mut out = Vec::new();
    let strides = options.strides;
    let mut layer = 0;
    while layer < strides.len() {
        let mut last = layer;
        while last < strides.len() && strides[last] == strides[layer] {
            last += 1;
        }
        let per_cell = 2 * (last - layer);
        let fm = options.input_size.div_ceil(strides[layer]);
        for y in 0..fm {
            for x in 0..fm {
                let c = [(x as f32 + 0.5) / fm as f32, (y as f32 + 0.5) / fm as f32];
                out.extend(std::iter::repeat_n(c, per_cell));
            }
        }
        layer = last;
    }
    out
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes boxes and keypoints (x before y) in tensor coordinates (0..1) above the score
/// threshold.
pub fn decode(
    options: &SsdOptions,
    anchors: &[[f32; 2]],
    boxes: &[f32],
    scores: &[f32],
) -> Vec<Detection> {
    let scale = options.input_size as f32;
    let mut out = Vec::new();
    for (i, anchor) in anchors.iter().enumerate() {
        let (Some(raw_score), Some(r)) = (
            scores.get(i),
            boxes.get(i * options.num_coords..(i + 1) * options.num_coords),
        ) else {
            break;
        };
        let score = sigmoid(raw_score.clamp(-100.0, 100.0));
        if score < options.min_score {
            continue;
        }
        let xc = r[0] / scale + anchor[0];
        let yc = r[1] / scale + anchor[1];
        let (w, h) = (r[2] / scale, r[3] / scale);
        if !(w >= 0.0 && h >= 0.0) {
            continue;
        }
        let keypoints = (0..options.num_keypoints)
            .map(|k| {
                [
                    r[4 + 2 * k] / scale + anchor[0],
                    r[5 + 2 * k] / scale + anchor[1],
                ]
            })
            .collect();
        out.push(Detection {
            xmin: xc - w / 2.0,
            ymin: yc - h / 2.0,
            width: w,
            height: h,
            score,
            keypoints,
        });
    }
    out
}

fn iou(a: &Detection, b: &Detection) -> f32 {
    let ix = (a.xmin + a.width).min(b.xmin + b.width) - a.xmin.max(b.xmin);
    let iy = (a.ymin + a.height).min(b.ymin + b.height) - a.ymin.max(b.ymin);
    if ix < 0.0 || iy < 0.0 {
        return 0.0;
    }
    let inter = ix * iy;
    let union = a.width * a.height + b.width * b.height - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Weighted NMS: each cluster (IoU above `threshold` with its best box) becomes the
/// score-weighted mean of its boxes and keypoints, keeping the best score.
pub fn weighted_nms(mut detections: Vec<Detection>, threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(top) = detections.first().cloned() {
        let (cluster, rest): (Vec<_>, Vec<_>) = detections
            .into_iter()
            .partition(|d| iou(d, &top) > threshold);
        let total: f32 = cluster.iter().map(|d| d.score).sum();
        let mut merged = top.clone();
        if total > 0.0 && !cluster.is_empty() {
            let avg = |f: &dyn Fn(&Detection) -> f32| {
                cluster.iter().map(|d| f(d) * d.score).sum::<f32>() / total
            };
            let (x0, y0) = (avg(&|d| d.xmin), avg(&|d| d.ymin));
            let (x1, y1) = (avg(&|d| d.xmin + d.width), avg(&|d| d.ymin + d.height));
            merged.xmin = x0;
            merged.ymin = y0;
            merged.width = x1 - x0;
            merged.height = y1 - y0;
            for (k, kp) in merged.keypoints.iter_mut().enumerate() {
                *kp = [avg(&|d| d.keypoints[k][0]), avg(&|d| d.keypoints[k][1])];
            }
        }
        out.push(merged);
        detections = rest;
    }
    out
}

impl Detection {
    /// Maps from the tensor of a (padded) ROI to the image: keypoints exactly, the box as
    /// the axis-aligned bounds of its mapped corners.
    pub fn project(&self, sampled: &NormRect, image_w: f32, image_h: f32) -> Detection {
        let map = |x: f32, y: f32| sampled.to_image(x, y, image_w, image_h);
        let corners = [
            map(self.xmin, self.ymin),
            map(self.xmin + self.width, self.ymin),
            map(self.xmin, self.ymin + self.height),
            map(self.xmin + self.width, self.ymin + self.height),
        ];
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for [x, y] in corners {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        Detection {
            xmin: x0,
            ymin: y0,
            width: x1 - x0,
            height: y1 - y0,
            score: self.score,
            keypoints: self.keypoints.iter().map(|k| map(k[0], k[1])).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_counts_match_the_models() {
        assert_eq!(anchors(&POSE_DETECTOR).len(), 2254);
        assert_eq!(anchors(&FACE_DETECTOR).len(), 896);
        assert_eq!(anchors(&PALM_DETECTOR).len(), 2016);
        let a = anchors(&FACE_DETECTOR);
        assert_eq!(a[0], [0.5 / 16.0, 0.5 / 16.0]);
        assert_eq!(a[1], a[0]);
        assert_eq!(a[512], [0.5 / 8.0, 0.5 / 8.0]);
    }

    fn det(x: f32, score: f32) -> Detection {
        Detection {
            xmin: x,
            ymin: 0.0,
            width: 1.0,
            height: 1.0,
            score,
            keypoints: vec![[x, 0.0]],
        }
    }

    #[test]
    fn weighted_nms_averages_each_cluster_by_score() {
        let out = weighted_nms(vec![det(0.0, 0.6), det(5.0, 0.7), det(0.2, 0.9)], 0.3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        let expect = (0.2 * 0.9 + 0.0 * 0.6) / 1.5;
        assert!((out[0].xmin - expect).abs() < 1e-6, "{:?}", out[0]);
        assert!((out[0].keypoints[0][0] - expect).abs() < 1e-6);
        assert_eq!(out[1].xmin, 5.0);
    }

    #[test]
    fn decode_applies_anchor_offsets_and_the_score_threshold() {
        let opts = FACE_DETECTOR;
        let a = anchors(&opts);
        let mut boxes = vec![0.0; a.len() * opts.num_coords];
        let mut scores = vec![-10.0; a.len()];
        scores[3] = 2.0;
        boxes[3 * 16..3 * 16 + 6].copy_from_slice(&[12.8, 0.0, 25.6, 12.8, -12.8, 6.4]);
        let d = decode(&opts, &a, &boxes, &scores);
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert!((d.width - 0.2).abs() < 1e-6 && (d.height - 0.1).abs() < 1e-6);
        assert!((d.xmin - (a[3][0] + 0.1 - 0.1)).abs() < 1e-6);
        assert!((d.keypoints[0][0] - (a[3][0] - 0.1)).abs() < 1e-6);
        assert!((d.keypoints[0][1] - (a[3][1] + 0.05)).abs() < 1e-6);
    }
}
