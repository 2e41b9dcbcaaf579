//! Regions of interest as MediaPipe's `NormalizedRect`: center and size relative to the
//! image, rotation in radians, clockwise in image coordinates (y down).

use std::f32::consts::PI;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NormRect {
    pub x_center: f32,
    pub y_center: f32,
    pub width: f32,
    pub height: f32,
    pub rotation: f32,
}

impl NormRect {
    /// The whole image.
    pub const WHOLE: NormRect = NormRect {
        x_center: 0.5,
        y_center: 0.5,
        width: 1.0,
        height: 1.0,
        rotation: 0.0,
    };
}

/// Wraps an angle to [-pi, pi) as MediaPipe's `NormalizeRadians` does.
pub fn normalize_radians(angle: f32) -> f32 {
    angle - 2.0 * PI * ((angle - (-PI)) / (2.0 * PI)).floor()
}

/// The rotation that turns the line from `from` to `to` (pixels) to `target_angle`,
/// as MediaPipe computes it for detections and landmarks.
pub fn rotation_between(from: [f32; 2], to: [f32; 2], target_angle: f32) -> f32 {
    normalize_radians(target_angle - (-(to[1] - from[1])).atan2(to[0] - from[0]))
}

impl NormRect {
    /// MediaPipe's `RectTransformationCalculator`: shift along the rect's own axes, scale,
    /// optionally make square on the long side (in pixels, so it stays square on screen).
    pub fn transform(
        self,
        image_w: f32,
        image_h: f32,
        scale: [f32; 2],
        shift: [f32; 2],
        square_long: bool,
    ) -> NormRect {
        let mut r = self;
        let (sin, cos) = r.rotation.sin_cos();
        if shift[0] != 0.0 || shift[1] != 0.0 {
            let (w, h) = (r.width * image_w, r.height * image_h);
            let x_shift = (w * shift[0] * cos - h * shift[1] * sin) / image_w;
            let y_shift = (w * shift[0] * sin + h * shift[1] * cos) / image_h;
            r.x_center += x_shift;
            r.y_center += y_shift;
        }
        if square_long {
            let long = (r.width * image_w).max(r.height * image_h);
            r.width = long / image_w;
            r.height = long / image_h;
        }
        r.width *= scale[0];
        r.height *= scale[1];
        r
    }

    /// A rect around a center point and a point on its rim ("alignment points"): the side
    /// is twice their distance and the rect turns so the line meets `target_angle`.
    pub fn from_alignment_points(
        center: [f32; 2],
        scale_point: [f32; 2],
        image_w: f32,
        image_h: f32,
        target_angle: f32,
    ) -> NormRect {
        let (cx, cy) = (center[0] * image_w, center[1] * image_h);
        let (sx, sy) = (scale_point[0] * image_w, scale_point[1] * image_h);
        let size = 2.0 * ((sx - cx).powi(2) + (sy - cy).powi(2)).sqrt();
        NormRect {
            x_center: center[0],
            y_center: center[1],
            width: size / image_w,
            height: size / image_h,
            rotation: rotation_between([cx, cy], [sx, sy], target_angle),
        }
    }

    /// Maps a point of the rect's own unit square (0..1 both ways) to the image (normalized).
    pub fn to_image(&self, x: f32, y: f32, image_w: f32, image_h: f32) -> [f32; 2] {
        let (sin, cos) = self.rotation.sin_cos();
        let px = (x - 0.5) * self.width * image_w;
        let py = (y - 0.5) * self.height * image_h;
        [
            self.x_center + (px * cos - py * sin) / image_w,
            self.y_center + (px * sin + py * cos) / image_h,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_radians_wraps_into_one_turn() {
        assert!((normalize_radians(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-5);
        assert!((normalize_radians(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-5);
        assert!((normalize_radians(0.3) - 0.3).abs() < 1e-6);
    }

    #[test]
    fn alignment_points_straight_up_need_no_rotation_for_a_90_degree_target() {
        // Center below, scale point straight above it: the body points up.
        let r = NormRect::from_alignment_points([0.5, 0.6], [0.5, 0.4], 100.0, 100.0, PI / 2.0);
        assert!(r.rotation.abs() < 1e-5, "{r:?}");
        assert!((r.width - 0.4).abs() < 1e-5 && (r.height - 0.4).abs() < 1e-5);
        // Leaning right (clockwise on screen) gives a positive rotation.
        let lean = NormRect::from_alignment_points([0.5, 0.6], [0.6, 0.5], 100.0, 100.0, PI / 2.0);
        assert!((lean.rotation - PI / 4.0).abs() < 1e-5, "{lean:?}");
    }

    #[test]
    fn transform_shifts_along_the_rotated_axes_and_squares_in_pixels() {
        let r = NormRect {
            x_center: 0.5,
            y_center: 0.5,
            width: 0.2,
            height: 0.1,
            rotation: PI / 2.0,
        };
        // 200x100 image: 40x10 px rect; squared on the long side = 40 px.
        let t = r.transform(200.0, 100.0, [1.0, 1.0], [0.0, -0.5], true);
        assert!((t.width * 200.0 - 40.0).abs() < 1e-4 && (t.height * 100.0 - 40.0).abs() < 1e-4);
        // Shift of half the height "up" in rect space is to the image's right at 90 degrees.
        assert!((t.x_center - (0.5 + 5.0 / 200.0)).abs() < 1e-5, "{t:?}");
        assert!((t.y_center - 0.5).abs() < 1e-5);
        let corner = r.to_image(0.0, 0.0, 200.0, 100.0);
        assert!((corner[0] - (0.5 + 5.0 / 200.0)).abs() < 1e-5, "{corner:?}");
    }
}
