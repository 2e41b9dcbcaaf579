//! The camera and framing helpers: upper body (the streamer default) and full body, from the
//! avatar's own bones, so every avatar is framed alike whatever its height.

use crate::vrm::{HumanBone, NormalizedRig};
use glam::camera::rh;
use glam::{Mat4, Vec3};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    pub eye: Vec3,
    pub target: Vec3,
    pub fov_y_deg: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    UpperBody,
    FullBody,
}

impl Camera {
    pub fn view(&self) -> Mat4 {
        let up = if (self.target - self.eye)
            .normalize_or_zero()
            .cross(Vec3::Y)
            .length()
            < 1e-4
        {
            Vec3::Z
        } else {
            Vec3::Y
        };
        rh::view::look_at_mat4(self.eye, self.target, up)
    }

    /// wgpu's clip space: depth 0..1, Y up.
    pub fn projection(&self, aspect: f32) -> Mat4 {
        let distance = (self.target - self.eye).length().max(0.01);
        rh::proj::directx::perspective(
            self.fov_y_deg.clamp(1.0, 170.0).to_radians(),
            aspect.max(1e-3),
            (distance * 0.01).max(0.005),
            distance * 20.0 + 10.0,
        )
    }

    /// A camera in front of the avatar (at +Z, looking at -Z) framing `framing`, from the rest
    /// positions of the humanoid bones. Without a humanoid, frames `bounds` (min, max) whole.
    pub fn framing(
        framing: Framing,
        rig: Option<&NormalizedRig>,
        bounds: (Vec3, Vec3),
        fov_y_deg: f32,
        aspect: f32,
    ) -> Camera {
        let half_fov = (fov_y_deg.clamp(1.0, 170.0) * 0.5).to_radians();
        let at = |bone| {
            rig.and_then(|r| r.bone(bone))
                .map(|b| b.rest_world_position)
        };
        let (bottom, top, center_x, front) =
            match (framing, at(HumanBone::Head), at(HumanBone::Hips)) {
                (Framing::UpperBody, Some(head), Some(hips)) => {
                    // From a little above the hips to the top of the head (hair included: the
                    // model's top, unless that is far above the head, like a raised hand).
                    let top = bounds.1.y.clamp(head.y, head.y + (head.y - hips.y));
                    let bottom = hips.y + (head.y - hips.y) * 0.2;
                    (bottom, top, head.x, bounds.1.z.max(head.z))
                }
                (Framing::FullBody, Some(head), Some(_)) => {
                    let top = bounds.1.y.max(head.y + 0.15);
                    (bounds.0.y.min(0.0), top, head.x, bounds.1.z)
                }
                _ => (
                    bounds.0.y,
                    bounds.1.y,
                    (bounds.0.x + bounds.1.x) * 0.5,
                    bounds.1.z,
                ),
            };
        let height = (top - bottom).max(0.05) * 1.08;
        let center = Vec3::new(center_x, (top + bottom) * 0.5, 0.0);
        let mut distance = height * 0.5 / half_fov.tan();
        if rig.is_none() {
            // Not a person (a glTF sample): fit its width too.
            let width = (bounds.1.x - bounds.0.x).max(0.05) * 1.08;
            distance = distance.max(width * 0.5 / (half_fov.tan() * aspect.max(1e-3)));
        }
        let target = Vec3::new(center.x, center.y, front.min(center.z + 0.5));
        Camera {
            eye: target + Vec3::Z * distance,
            target,
            fov_y_deg,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_looks_down_minus_z_from_the_front() {
        let camera = Camera {
            eye: Vec3::new(0.0, 1.4, 2.0),
            target: Vec3::new(0.0, 1.4, 0.0),
            fov_y_deg: 30.0,
        };
        let in_view = camera.view().transform_point3(Vec3::new(0.0, 1.4, 0.0));
        assert!(in_view.z < 0.0 && in_view.x.abs() < 1e-5 && in_view.y.abs() < 1e-5);
        // The avatar's left (+X) shows on the right of the image, as a person facing you.
        let left = camera.projection(1.0).project_point3(
            camera
                .view()
                .transform_point3(Vec3::X * 0.1 + Vec3::Y * 1.4),
        );
        assert!(left.x > 0.0);
    }

    #[test]
    fn without_a_rig_the_bounds_are_framed_whole() {
        let camera = Camera::framing(
            Framing::UpperBody,
            None,
            (Vec3::new(-1.0, 0.0, -1.0), Vec3::new(3.0, 2.0, 1.0)),
            30.0,
            1.0,
        );
        let clip = camera.projection(1.0) * camera.view();
        for corner in [Vec3::new(-1.0, 0.0, 1.0), Vec3::new(3.0, 2.0, 1.0)] {
            let p = clip.project_point3(corner);
            assert!(
                p.x.abs() <= 1.0 && p.y.abs() <= 1.0,
                "{corner} projects to {p}"
            );
        }
    }
}
