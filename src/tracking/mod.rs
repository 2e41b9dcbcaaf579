//! The tracker: camera frames to face, iris, body and hand landmarks with MediaPipe's
//! models run through ONNX Runtime (MediaPipe Holistic's pipeline, re-implemented).
//!
//! Each model is a [`Stage`]: an ImageToTensor crop of a ROI, one inference, and the
//! outputs with what is needed to map them back to the image.

pub mod detect;
pub mod face;
pub mod hand;
pub mod holistic;
pub mod image;
pub mod image_to_tensor;
pub mod pose;
pub mod readiness;
pub mod roi;
pub mod runtime;

use anyhow::Result;
use image::ImageView;
use image_to_tensor::{Sampled, TensorSpec, image_to_tensor};
use roi::NormRect;
use runtime::{Model, ModelPaths};

/// A model with its input recipe and a reusable input buffer.
pub struct Stage {
    model: Model,
    spec: TensorSpec,
    input: Vec<f32>,
}

impl Stage {
    pub fn load(paths: &ModelPaths, name: &str, spec: TensorSpec, threads: usize) -> Result<Stage> {
        let model = Model::load(paths, name, threads)?;
        let want = [1, spec.height, spec.width, 3];
        anyhow::ensure!(
            model.input_shape() == want,
            "{name}: input shape {:?}, expected {want:?} (NHWC); re-run scripts/models.sh",
            model.input_shape()
        );
        Ok(Stage {
            model,
            input: vec![0.0; spec.width * spec.height * 3],
            spec,
        })
    }

    /// Samples `roi` of `image` into the input and runs the model.
    pub fn run(&mut self, image: &ImageView, roi: &NormRect) -> Result<(Vec<Vec<f32>>, Sampled)> {
        let sampled = image_to_tensor(image, roi, &self.spec, &mut self.input);
        Ok((self.model.run(&self.input)?, sampled))
    }

    /// Like [`Stage::run`], mirroring the input left to right first (the iris model
    /// only knows one eye).
    pub fn run_mirrored(
        &mut self,
        image: &ImageView,
        roi: &NormRect,
    ) -> Result<(Vec<Vec<f32>>, Sampled)> {
        let sampled = image_to_tensor(image, roi, &self.spec, &mut self.input);
        for row in self.input.chunks_mut(self.spec.width * 3) {
            let (w, mut l) = (row.len() / 3, 0);
            while l < w / 2 {
                for c in 0..3 {
                    row.swap(l * 3 + c, (w - 1 - l) * 3 + c);
                }
                l += 1;
            }
        }
        Ok((self.model.run(&self.input)?, sampled))
    }

    pub fn input_size(&self) -> f32 {
        self.spec.width as f32
    }
}

/// Points of a flat model output, `stride` values each, scaled from model pixels to 0..1
/// (x, y and z; z by `z_div` more, e.g. the hand model's 0.4).
pub fn tensor_points(
    raw: &[f32],
    count: usize,
    stride: usize,
    size: f32,
    z_div: f32,
) -> Vec<[f32; 3]> {
    raw.chunks(stride)
        .take(count)
        .map(|p| {
            let z = if stride > 2 { p[2] } else { 0.0 };
            [p[0] / size, p[1] / size, z / size / z_div]
        })
        .collect()
}

/// A tensor point (0..1) mapped to the image; z scales with the sampled ROI's width.
pub fn project(p: [f32; 3], sampled: &Sampled, image: &ImageView) -> [f32; 3] {
    let [x, y] = sampled
        .rect
        .to_image(p[0], p[1], image.width as f32, image.height as f32);
    [x, y, p[2] * sampled.rect.width]
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The axis-aligned bounds of normalized points as a rect (MediaPipe's "DEFAULT"
/// detection-to-rect conversion), turned by the line from point `from` to `to`.
pub fn rect_around(
    points: &[[f32; 3]],
    from: usize,
    to: usize,
    target: f32,
    w: f32,
    h: f32,
) -> NormRect {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for p in points {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    let (a, b) = (points[from], points[to]);
    NormRect {
        x_center: (x0 + x1) / 2.0,
        y_center: (y0 + y1) / 2.0,
        width: x1 - x0,
        height: y1 - y0,
        rotation: roi::rotation_between([a[0] * w, a[1] * h], [b[0] * w, b[1] * h], target),
    }
}
