//! The avatar as the offscreen renderer's scene: an [`Instance`] stepped each frame, a camera
//! that frames it, and the renderer that draws what the instance gives.

use super::camera::{self, Camera};
use super::{AvatarRenderer, Lighting};
use crate::pose::AvatarPose;
use crate::vrm::{Instance, VrmModel};
use glam::{Mat4, Vec3};
use std::sync::Arc;

/// An avatar as the offscreen renderer's scene: the model, its current pose, the camera and lights.
pub struct AvatarScene {
    pub renderer: AvatarRenderer,
    pub pose: AvatarPose,
    /// An explicit camera; None frames the avatar with `framing`.
    pub camera: Option<Camera>,
    pub framing: camera::Framing,
    /// Applied to the framed camera only: how much closer it comes (1 = the framing itself),
    /// how far up it moves (meters), for a framing between upper body and full body, and how
    /// far the avatar moves sideways in the picture (meters, positive to the right), to leave
    /// room for the rest of a scene.
    pub zoom: f32,
    pub height_offset: f32,
    pub side_offset: f32,
    pub fov_y_deg: f32,
    pub lighting: Lighting,
    /// Rest-pose bounds of everything drawn (model space), for framing models without a humanoid.
    bounds: (Vec3, Vec3),
    /// The avatar stepped frame by frame (no GPU); the renderer draws what it gives.
    instance: Instance,
    /// Time of the last prepared frame, for the spring bones' time step.
    last_t: Option<f32>,
}

impl AvatarScene {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue, model: VrmModel, samples: u32) -> Self {
        let model = Arc::new(model);
        let instance = Instance::new(Arc::clone(&model));
        let renderer = AvatarRenderer::new(
            device,
            queue,
            model,
            crate::render::target::OffscreenTarget::FORMAT,
            crate::render::target::OffscreenTarget::DEPTH,
            samples,
        );
        let bounds = rest_bounds(renderer.model(), &instance.rest_world());
        Self {
            renderer,
            pose: AvatarPose::default(),
            camera: None,
            framing: camera::Framing::UpperBody,
            zoom: 1.0,
            height_offset: 0.0,
            side_offset: 0.0,
            fov_y_deg: 30.0,
            lighting: Lighting::default(),
            bounds,
            instance,
            last_t: None,
        }
    }

    /// Steps the spring bones `frames` times 1/60 s with the current pose, so that hair hangs
    /// as it would after a moment of stillness (`vrm-avatar render --settle-frames`).
    pub fn settle(&mut self, frames: u32) {
        self.instance.settle(&self.pose, frames);
    }

    /// The camera for an output of `aspect` (width / height).
    pub fn current_camera(&self, aspect: f32) -> Camera {
        self.camera.unwrap_or_else(|| {
            let framed = Camera::framing(
                self.framing,
                self.instance.skeleton().rig(),
                self.bounds,
                self.fov_y_deg,
                aspect,
            );
            // The camera moves the other way from where the avatar should go.
            let right = (framed.target - framed.eye)
                .cross(Vec3::Y)
                .normalize_or_zero();
            let shift = Vec3::Y * self.height_offset - right * self.side_offset;
            Camera {
                eye: framed.target
                    + (framed.eye - framed.target) / self.zoom.clamp(0.1, 10.0)
                    + shift,
                target: framed.target + shift,
                ..framed
            }
        })
    }
}

impl crate::render::Scene for AvatarScene {
    fn prepare(&mut self, queue: &wgpu::Queue, size: (u32, u32), t_seconds: f32) {
        let dt = self.last_t.map_or(0.0, |last| t_seconds - last);
        self.last_t = Some(t_seconds);
        let posed = self.instance.update(&self.pose, dt);
        let camera = self.current_camera(size.0 as f32 / size.1.max(1) as f32);
        self.renderer
            .prepare(queue, &posed, &camera, &self.lighting, size, t_seconds);
    }

    fn draw(&self, pass: &mut wgpu::RenderPass<'_>) {
        self.renderer.draw(pass);
    }
}

/// Bounds of the drawn vertices at rest: skinned vertices are already in model space in the
/// bind pose; others move with their node.
fn rest_bounds(model: &VrmModel, world: &[Mat4]) -> (Vec3, Vec3) {
    let mut lo = Vec3::splat(f32::MAX);
    let mut hi = Vec3::splat(f32::MIN);
    for (i, node) in model.nodes.iter().enumerate() {
        let Some(mesh) = node.mesh else { continue };
        let m = if node.skin.is_some() {
            Mat4::IDENTITY
        } else {
            world[i]
        };
        for p in model.meshes[mesh]
            .primitives
            .iter()
            .flat_map(|p| &p.positions)
        {
            let v = m.transform_point3(Vec3::from(*p));
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if lo.x > hi.x {
        (Vec3::splat(-0.5), Vec3::splat(0.5))
    } else {
        (lo, hi)
    }
}
