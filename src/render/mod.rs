//! Offscreen rendering with wgpu: device selection, render target, pipelined readback, scenes.

pub mod avatar;
pub mod gpu;
pub mod readback;
pub mod target;
pub mod test_scene;

pub use gpu::{Gpu, GpuError};

use crate::frame::{CameraTimes, RgbaFrame};
use readback::ReadbackRing;
use std::time::Instant;
use target::OffscreenTarget;
pub use test_scene::TestScene;

/// What the offscreen renderer draws: the test scene, or an avatar. Its pipelines must match the
/// target's format and MSAA samples ([`OffscreenRenderer::samples`]).
pub trait Scene: Send {
    /// Updates GPU data for time `t_seconds` at output size `size`.
    fn prepare(&mut self, queue: &wgpu::Queue, size: (u32, u32), t_seconds: f32);
    fn draw(&self, pass: &mut wgpu::RenderPass<'_>);
}

/// Renders the scene offscreen at a given size and hands back finished frames without ever
/// waiting for the CPU copy of the previous frame (see [`ReadbackRing`]).
pub struct OffscreenRenderer {
    gpu: Gpu,
    target: OffscreenTarget,
    readback: ReadbackRing,
    /// What shows where nothing is drawn: transparent by default (linear, premultiplied).
    pub background: wgpu::Color,
}

impl OffscreenRenderer {
    /// A renderer with the MSAA suited to the adapter ([`OffscreenTarget::samples_for`]).
    pub fn new(gpu: Gpu, width: u32, height: u32) -> Self {
        let samples = OffscreenTarget::samples_for(gpu.info.device_type);
        Self::with_samples(gpu, width, height, samples)
    }

    pub fn with_samples(gpu: Gpu, width: u32, height: u32, samples: u32) -> Self {
        let target = OffscreenTarget::new(&gpu.device, width, height, samples);
        let readback = ReadbackRing::new(&gpu.device, width, height);
        Self {
            gpu,
            target,
            readback,
            background: wgpu::Color::TRANSPARENT,
        }
    }

    pub fn size(&self) -> (u32, u32) {
        (self.target.width, self.target.height)
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// MSAA samples of the target; a scene's pipelines must match it.
    pub fn samples(&self) -> u32 {
        self.target.samples
    }

    /// Changes the output size; frames still in flight at the old size are dropped.
    pub fn resize(&mut self, width: u32, height: u32) {
        if self.size() != (width, height) {
            self.target =
                OffscreenTarget::new(&self.gpu.device, width, height, self.target.samples);
            self.readback = ReadbackRing::new(&self.gpu.device, width, height);
        }
    }

    /// Draws the scene at time `t_seconds` and starts its readback.
    pub fn render(&mut self, scene: &mut dyn Scene, t_seconds: f32) -> wgpu::SubmissionIndex {
        self.render_from(scene, t_seconds, None)
    }

    /// [`Self::render`] for a pose solved from a camera frame that arrived at
    /// the camera frame `camera`, whose times the finished frame carries for latency figures.
    pub fn render_from(
        &mut self,
        scene: &mut dyn Scene,
        t_seconds: f32,
        camera: Option<CameraTimes>,
    ) -> wgpu::SubmissionIndex {
        let started = Instant::now();
        let mut encoder = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
        let size = (self.target.width, self.target.height);
        scene.prepare(&self.gpu.queue, size, t_seconds);
        {
            let mut pass = self.target.begin_pass(&mut encoder, self.background);
            scene.draw(&mut pass);
        }
        self.readback
            .submit(&self.gpu, encoder, &self.target.resolve, started, camera)
    }

    /// Frames drawn whose pixels have not been collected yet.
    pub fn frames_in_flight(&self) -> usize {
        self.readback.in_flight()
    }

    /// Finished frames, oldest first. With `wait_until`, waits for the GPU at most until then.
    pub fn finished_frames(&mut self, wait_until: Option<Instant>) -> Vec<RgbaFrame> {
        self.readback.collect(&self.gpu.device, wait_until)
    }

    /// Renders one frame and waits for it (for the command line and tests, not for live output).
    pub fn render_blocking(&mut self, scene: &mut dyn Scene, t_seconds: f32) -> RgbaFrame {
        self.render(scene, t_seconds);
        loop {
            if let Some(frame) = self
                .finished_frames(Some(Instant::now() + std::time::Duration::from_secs(5)))
                .pop()
            {
                return frame;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu() -> Gpu {
        Gpu::new().expect("a wgpu adapter (lavapipe from mesa-vulkan-drivers on CPU-only machines)")
    }

    fn renderer(width: u32, height: u32) -> (OffscreenRenderer, TestScene) {
        with_samples(width, height, None)
    }

    fn with_samples(
        width: u32,
        height: u32,
        samples: Option<u32>,
    ) -> (OffscreenRenderer, TestScene) {
        let gpu = gpu();
        let samples = samples.unwrap_or(OffscreenTarget::samples_for(gpu.info.device_type));
        let scene = TestScene::new(&gpu.device, OffscreenTarget::FORMAT, samples);
        (
            OffscreenRenderer::with_samples(gpu, width, height, samples),
            scene,
        )
    }

    #[test]
    fn test_scene_has_drawn_and_transparent_premultiplied_pixels() {
        // An odd width makes the GPU copy pad its rows; 4x MSAA whatever the adapter.
        let (mut r, mut scene) = with_samples(333, 200, Some(4));
        let frame = r.render_blocking(&mut scene, 0.5);
        assert_eq!((frame.width, frame.height), (333, 200));
        assert!(frame.stride >= 333 * 4 && frame.stride.is_multiple_of(256));
        let center = frame.pixel(166, 100);
        assert_eq!(center[3], 255, "the shape covers the center: {center:?}");
        assert!(
            center[..3].iter().any(|&c| c > 20),
            "the shape is lit: {center:?}"
        );
        assert_eq!(
            frame.pixel(0, 0),
            [0, 0, 0, 0],
            "the background is transparent"
        );
        let mut partial = 0;
        for y in 0..frame.height {
            for x in 0..frame.width {
                let [r, g, b, a] = frame.pixel(x, y);
                // Premultiplied: no channel exceeds alpha (compared in linear light, as it was blended).
                let lin = |c: u8| ((c as f32 / 255.0 + 0.055) / 1.055).powf(2.4);
                let alpha = a as f32 / 255.0;
                for c in [r, g, b] {
                    assert!(
                        lin(c) <= alpha + 0.02,
                        "pixel ({x},{y}) = {:?} is not premultiplied",
                        [r, g, b, a]
                    );
                }
                partial += (a > 0 && a < 255) as u32;
            }
        }
        assert!(partial > 0, "MSAA leaves partly covered edge pixels");
    }

    #[test]
    fn without_msaa_edges_are_hard_and_the_scene_is_the_same() {
        let (mut r, mut scene) = with_samples(160, 120, Some(1));
        let frame = r.render_blocking(&mut scene, 0.5);
        assert_eq!(frame.pixel(80, 60)[3], 255);
        assert_eq!(frame.pixel(0, 0), [0, 0, 0, 0]);
        assert!(
            frame
                .tight_pixels()
                .chunks(4)
                .all(|p| p[3] == 0 || p[3] == 255)
        );
    }

    #[test]
    fn the_shape_turns_over_time() {
        let (mut r, mut scene) = renderer(160, 120);
        let a = r.render_blocking(&mut scene, 0.0).tight_pixels();
        let b = r.render_blocking(&mut scene, 0.7).tight_pixels();
        assert_ne!(a, b);
    }

    #[test]
    fn resize_changes_the_frame_size() {
        let (mut r, mut scene) = renderer(64, 64);
        r.resize(96, 48);
        let frame = r.render_blocking(&mut scene, 0.0);
        assert_eq!((frame.width, frame.height), (96, 48));
    }

    #[test]
    fn frames_in_flight_do_not_wait_for_each_other() {
        let (mut r, mut scene) = renderer(256, 144);
        // Submitting as many frames as there are readback slots never waits on a CPU copy.
        for i in 0..ReadbackRing::SLOTS {
            r.render(&mut scene, i as f32);
        }
        let mut got = Vec::new();
        while got.len() < ReadbackRing::SLOTS {
            got.extend(r.finished_frames(Some(Instant::now() + std::time::Duration::from_secs(5))));
        }
        assert_eq!(got.len(), ReadbackRing::SLOTS);
        assert!(
            got.windows(2).all(|w| w[0].started <= w[1].started),
            "frames come back in order"
        );
    }
}
