//! MediaPipe's `ImageToTensorCalculator` on the CPU: crop a rotated ROI out of the image,
//! resize it bilinearly into a float tensor (HWC, RGB) with a value range, optionally
//! keeping the aspect ratio by letterboxing. The sampling convention (no half-pixel
//! shift: the ROI corners map to the tensor corners) is the one MediaPipe's goldens
//! in `testdata/expected/image_to_tensor` pin down.

use super::image::{ImageView, PixelFormat};
use super::roi::NormRect;

/// What happens to samples outside the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// The nearest edge pixel (MediaPipe's default).
    Replicate,
    /// Black.
    Zero,
}

/// How one model wants its input.
#[derive(Debug, Clone, Copy)]
pub struct TensorSpec {
    pub width: usize,
    pub height: usize,
    pub keep_aspect_ratio: bool,
    pub range: [f32; 2],
    pub border: Border,
}

/// Letterbox padding as fractions of the tensor (left, top, right, bottom).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Padding {
    pub left: f32,
    pub top: f32,
    pub right: f32,
    pub bottom: f32,
}

/// What a tensor was sampled from: the letterbox padding and the padded ROI, whose
/// `to_image` maps tensor coordinates (0..1) straight to the image (MediaPipe's MATRIX).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    pub padding: Padding,
    pub rect: NormRect,
}

/// The ROI actually sampled (in pixels) and the padding it implies.
fn padded_roi(roi: &NormRect, image: &ImageView, spec: &TensorSpec) -> ([f32; 5], Padding) {
    let (iw, ih) = (image.width as f32, image.height as f32);
    let mut w = roi.width * iw;
    let mut h = roi.height * ih;
    let mut pad = Padding::default();
    if spec.keep_aspect_ratio {
        let tensor_aspect = spec.height as f32 / spec.width as f32;
        let roi_aspect = h / w;
        if tensor_aspect > roi_aspect {
            let new_h = w * tensor_aspect;
            let v = (1.0 - h / new_h) / 2.0;
            pad.top = v;
            pad.bottom = v;
            h = new_h;
        } else {
            let new_w = h / tensor_aspect;
            let s = (1.0 - w / new_w) / 2.0;
            pad.left = s;
            pad.right = s;
            w = new_w;
        }
    }
    (
        [roi.x_center * iw, roi.y_center * ih, w, h, roi.rotation],
        pad,
    )
}

/// `x.floor()` without the libm call that the baseline x86-64 target makes of it.
#[inline]
fn floor(x: f32) -> i64 {
    let t = x as i64;
    if (t as f32) > x { t - 1 } else { t }
}

/// The affine map from tensor pixels to image pixels, and the value mapping.
struct Warp {
    x0: f32,
    y0: f32,
    du: [f32; 2],
    dv: [f32; 2],
    scale: f32,
    offset: f32,
}

impl Warp {
    /// Bilinear sampling for every tensor pixel. Taps inside the image read straight from
    /// the buffer; only taps past an edge go through the border rule.
    fn fill<const BPP: usize>(
        &self,
        image: &ImageView,
        spec: &TensorSpec,
        out: &mut [f32],
        pixel: impl Fn(&[u8]) -> [f32; 3],
    ) {
        let (w, h) = (image.width as i64, image.height as i64);
        let (stride, data) = (image.stride, image.data);
        let fetch = |at: usize| pixel(&data[at..at + BPP]);
        let tap = |x: i64, y: i64| -> Option<[f32; 3]> {
            if x >= 0 && y >= 0 && x < w && y < h {
                Some(fetch(y as usize * stride + x as usize * BPP))
            } else {
                match spec.border {
                    Border::Zero => None,
                    Border::Replicate => Some(fetch(
                        y.clamp(0, h - 1) as usize * stride + x.clamp(0, w - 1) as usize * BPP,
                    )),
                }
            }
        };
        let ow = spec.width;
        for (v, row) in out.chunks_exact_mut(ow * 3).enumerate() {
            let rx = self.x0 + v as f32 * self.dv[0];
            let ry = self.y0 + v as f32 * self.dv[1];
            for (u, o) in row.chunks_exact_mut(3).enumerate() {
                let sx = rx + u as f32 * self.du[0];
                let sy = ry + u as f32 * self.du[1];
                let (ix, iy) = (floor(sx), floor(sy));
                let (ax, ay) = (sx - ix as f32, sy - iy as f32);
                let weights = [
                    (1.0 - ax) * (1.0 - ay),
                    ax * (1.0 - ay),
                    (1.0 - ax) * ay,
                    ax * ay,
                ];
                let mut acc = [0.0f32; 3];
                if ix >= 0 && iy >= 0 && ix + 1 < w && iy + 1 < h {
                    // The 2x2 block as two slices of known length: two bounds checks, not 12.
                    let at = iy as usize * stride + ix as usize * BPP;
                    let rows = [&data[at..at + 2 * BPP], &data[at + stride..][..2 * BPP]];
                    for (k, wgt) in weights.into_iter().enumerate() {
                        let p = pixel(&rows[k >> 1][(k & 1) * BPP..][..BPP]);
                        acc[0] += p[0] * wgt;
                        acc[1] += p[1] * wgt;
                        acc[2] += p[2] * wgt;
                    }
                } else {
                    for (k, wgt) in weights.into_iter().enumerate() {
                        if wgt == 0.0 {
                            continue;
                        }
                        let (dx, dy) = ((k & 1) as i64, (k >> 1) as i64);
                        if let Some(p) = tap(ix + dx, iy + dy) {
                            acc[0] += p[0] * wgt;
                            acc[1] += p[1] * wgt;
                            acc[2] += p[2] * wgt;
                        }
                    }
                }
                o[0] = acc[0] * self.scale + self.offset;
                o[1] = acc[1] * self.scale + self.offset;
                o[2] = acc[2] * self.scale + self.offset;
            }
        }
    }
}

/// Fills `out` (`spec.height * spec.width * 3` floats, HWC) from `roi` of `image`.
pub fn image_to_tensor(
    image: &ImageView,
    roi: &NormRect,
    spec: &TensorSpec,
    out: &mut [f32],
) -> Sampled {
    let (ow, oh) = (spec.width, spec.height);
    assert_eq!(out.len(), ow * oh * 3, "tensor buffer size");
    let ([cx, cy, rw, rh, rot], pad) = padded_roi(roi, image, spec);
    let (sin, cos) = rot.sin_cos();
    let scale = (spec.range[1] - spec.range[0]) / 255.0;
    let offset = spec.range[0];
    // Source position of output (u, v): a start point plus u and v steps.
    let (du_x, du_y) = (rw / ow as f32 * cos, rw / ow as f32 * sin);
    let (dv_x, dv_y) = (-rh / oh as f32 * sin, rh / oh as f32 * cos);
    let (x0, y0) = (
        cx - 0.5 * rw * cos + 0.5 * rh * sin,
        cy - 0.5 * rw * sin - 0.5 * rh * cos,
    );
    let warp = Warp {
        x0,
        y0,
        du: [du_x, du_y],
        dv: [dv_x, dv_y],
        scale,
        offset,
    };
    // One monomorphized loop per pixel layout, so the inner loop has no format branch.
    match image.format {
        PixelFormat::Rgb8 => warp.fill::<3>(image, spec, out, |p| {
            [p[0] as f32, p[1] as f32, p[2] as f32]
        }),
        PixelFormat::Rgba8 => warp.fill::<4>(image, spec, out, |p| {
            [p[0] as f32, p[1] as f32, p[2] as f32]
        }),
        PixelFormat::Bgra8 => warp.fill::<4>(image, spec, out, |p| {
            [p[2] as f32, p[1] as f32, p[0] as f32]
        }),
        PixelFormat::Gray8 => warp.fill::<1>(image, spec, out, |p| [p[0] as f32; 3]),
    }
    let (iw, ih) = (image.width as f32, image.height as f32);
    Sampled {
        padding: pad,
        rect: NormRect {
            x_center: roi.x_center,
            y_center: roi.y_center,
            width: rw / iw,
            height: rh / ih,
            rotation: rot,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracking::image::PixelFormat;
    use std::path::Path;

    const DIR: &str = "../shared/testdata/expected/image_to_tensor";

    fn load(name: &str, gray: bool) -> (u32, u32, Vec<u8>) {
        let img = image::open(Path::new(DIR).join(name)).expect("golden image");
        if gray {
            let g = img.to_luma8();
            (g.width(), g.height(), g.into_raw())
        } else {
            let rgb = img.to_rgb8();
            (rgb.width(), rgb.height(), rgb.into_raw())
        }
    }

    /// Every parameterized case of MediaPipe's own ImageToTensorCalculator test, against
    /// its golden PNG with its tolerance (max abs pixel difference 5).
    #[test]
    fn matches_mediapipe_goldens() {
        let cases: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new(DIR).join("cases.json")).unwrap(),
        )
        .unwrap();
        let mut checked = 0;
        for case in cases["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let gray = case["input_format"] == "GRAY8";
            let (iw, ih, pixels) = load("input.jpg", gray);
            let format = if gray {
                PixelFormat::Gray8
            } else {
                PixelFormat::Rgb8
            };
            let bpp = format.bytes_per_pixel();
            let view = ImageView::new(iw, ih, iw as usize * bpp, format, &pixels).unwrap();
            let r = &case["roi"];
            let f = |k: &str| r[k].as_f64().unwrap() as f32;
            let roi = NormRect {
                x_center: f("x_center"),
                y_center: f("y_center"),
                width: f("width"),
                height: f("height"),
                rotation: f("rotation_rad"),
            };
            let (ow, oh) = match case["output_tensor_wh"].as_array() {
                Some(wh) => (wh[0].as_u64().unwrap(), wh[1].as_u64().unwrap()),
                None => (iw as u64, ih as u64),
            };
            let range = case["tensor_float_range"].as_array().unwrap();
            let spec = TensorSpec {
                width: ow as usize,
                height: oh as usize,
                keep_aspect_ratio: case["keep_aspect_ratio"].as_bool().unwrap(),
                range: [
                    range[0].as_f64().unwrap() as f32,
                    range[1].as_f64().unwrap() as f32,
                ],
                border: if case["border_mode"] == "BORDER_ZERO" {
                    Border::Zero
                } else {
                    Border::Replicate
                },
            };
            let mut out = vec![0.0; spec.width * spec.height * 3];
            image_to_tensor(&view, &roi, &spec, &mut out);
            let (gw, gh, golden) = load(case["expected_png"].as_str().unwrap(), gray);
            assert_eq!(
                (gw as usize, gh as usize),
                (spec.width, spec.height),
                "{name}"
            );
            let channels = if gray { 1 } else { 3 };
            let (mut max_diff, mut sum) = (0.0f32, 0.0f32);
            for (i, g) in golden.iter().enumerate() {
                let (px, c) = (i / channels, i % channels);
                let t = out[px * 3 + c];
                let v = ((t - spec.range[0]) / (spec.range[1] - spec.range[0]) * 255.0)
                    .round()
                    .clamp(0.0, 255.0);
                max_diff = max_diff.max((v - *g as f32).abs());
                sum += (v - *g as f32).abs();
            }
            let mean = sum / golden.len() as f32;
            // A wrong pixel-center convention gives means of 1-13; the right one stays below 0.5.
            assert!(mean < 0.5, "{name}: mean abs diff {mean}");
            // Upstream's bound is 5 with its own JPEG decoder; ours decodes input.jpg up to
            // 3 levels apart (the no-op cases show exactly that), so 5 + 3.
            assert!(max_diff <= 8.0, "{name}: max abs diff {max_diff}");
            checked += 1;
        }
        assert!(checked >= 17, "only {checked} cases");
    }

    #[test]
    fn every_pixel_layout_samples_the_same_colors() {
        let spec = TensorSpec {
            width: 2,
            height: 1,
            keep_aspect_ratio: false,
            range: [0.0, 255.0],
            border: Border::Replicate,
        };
        let rgb = [10u8, 20, 30, 40, 50, 60];
        let bgra = [30u8, 20, 10, 255, 60, 50, 40, 255];
        let rgba = [10u8, 20, 30, 255, 40, 50, 60, 255];
        let gray = [10u8, 40];
        let mut out = [[0.0f32; 6]; 4];
        let views = [
            ImageView::new(2, 1, 6, PixelFormat::Rgb8, &rgb).unwrap(),
            ImageView::new(2, 1, 8, PixelFormat::Bgra8, &bgra).unwrap(),
            ImageView::new(2, 1, 8, PixelFormat::Rgba8, &rgba).unwrap(),
            ImageView::new(2, 1, 2, PixelFormat::Gray8, &gray).unwrap(),
        ];
        for (view, out) in views.iter().zip(&mut out) {
            image_to_tensor(view, &NormRect::WHOLE, &spec, out);
        }
        // The first tensor pixel samples the first image pixel exactly (corner mapping).
        assert_eq!(&out[0][..3], &[10.0, 20.0, 30.0]);
        assert_eq!(out[1], out[0]);
        assert_eq!(out[2], out[0]);
        assert_eq!(&out[3][..3], &[10.0; 3]);
    }

    #[test]
    fn letterbox_padding_is_undone_exactly() {
        let pixels = vec![128u8; 200 * 100 * 3];
        let view = ImageView::rgb(200, 100, &pixels).unwrap();
        let spec = TensorSpec {
            width: 64,
            height: 64,
            keep_aspect_ratio: true,
            range: [0.0, 1.0],
            border: Border::Zero,
        };
        let roi = NormRect {
            x_center: 0.5,
            y_center: 0.5,
            width: 1.0,
            height: 1.0,
            rotation: 0.0,
        };
        let mut out = vec![0.0; 64 * 64 * 3];
        let sampled = image_to_tensor(&view, &roi, &spec, &mut out);
        let pad = sampled.padding;
        assert!((sampled.rect.height - 2.0).abs() < 1e-6, "{sampled:?}");
        assert_eq!(sampled.rect.to_image(0.5, 0.25, 200.0, 100.0), [0.5, 0.0]);
        assert!((pad.top - 0.25).abs() < 1e-6 && pad.left == 0.0, "{pad:?}");
        assert_eq!(out[0], 0.0, "the letterbox band is black");
        assert!((out[(32 * 64 + 32) * 3] - 128.0 / 255.0).abs() < 1e-5);
    }
}
