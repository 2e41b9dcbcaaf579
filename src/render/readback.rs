//! Pipelined GPU -> CPU readback: a ring of staging buffers, so that drawing frame N never waits
//! for the CPU copy of frame N-1. Only when every slot is still in flight does a new frame wait,
//! and then for the oldest one (N - SLOTS).

use super::gpu::Gpu;
use crate::frame::{CameraTimes, RgbaFrame};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

const PENDING: u8 = 0;
const READY: u8 = 1;
const FAILED: u8 = 2;

struct Slot {
    buffer: wgpu::Buffer,
    state: Arc<AtomicU8>,
    submission: Option<wgpu::SubmissionIndex>,
    started: Instant,
    camera: Option<CameraTimes>,
}

pub struct ReadbackRing {
    width: u32,
    height: u32,
    stride: u32,
    slots: Vec<Slot>,
    /// Slots in flight, oldest first.
    in_flight: VecDeque<usize>,
    /// Frames finished while a new frame waited for a slot; handed out by the next `collect`.
    harvested: Vec<RgbaFrame>,
}

impl ReadbackRing {
    pub const SLOTS: usize = 3;

    pub fn new(device: &wgpu::Device, width: u32, height: u32) -> Self {
        let stride = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let slots = (0..Self::SLOTS)
            .map(|_| Slot {
                buffer: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("readback"),
                    size: stride as u64 * height as u64,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                state: Arc::new(AtomicU8::new(READY)),
                submission: None,
                started: Instant::now(),
                camera: None,
            })
            .collect();
        Self {
            width,
            height,
            stride,
            slots,
            in_flight: VecDeque::new(),
            harvested: Vec::new(),
        }
    }

    /// Copies `texture` into the next slot, submits `encoder` and starts mapping the slot.
    pub fn submit(
        &mut self,
        gpu: &Gpu,
        mut encoder: wgpu::CommandEncoder,
        texture: &wgpu::Texture,
        started: Instant,
        camera: Option<CameraTimes>,
    ) -> wgpu::SubmissionIndex {
        if self.in_flight.len() == Self::SLOTS {
            // Every slot is busy: wait for the oldest, keep what it yields.
            let frames = self.collect(
                &gpu.device,
                Some(Instant::now() + std::time::Duration::from_secs(10)),
            );
            self.harvested.extend(frames);
            if self.in_flight.len() == Self::SLOTS {
                // The GPU did not finish in 10 s: give the oldest slot up rather than block forever.
                let lost = self.in_flight.pop_front().expect("ring is full");
                self.slots[lost].buffer.unmap();
                log::warn!("GPU readback took over 10 s; dropping a frame");
            }
        }
        let index = (0..Self::SLOTS)
            .find(|i| !self.in_flight.contains(i))
            .expect("a free slot");
        let slot = &mut self.slots[index];
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &slot.buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(self.stride),
                    rows_per_image: Some(self.height),
                },
            },
            wgpu::Extent3d {
                width: self.width,
                height: self.height,
                depth_or_array_layers: 1,
            },
        );
        let submission = gpu.queue.submit([encoder.finish()]);
        slot.state.store(PENDING, Ordering::Release);
        let state = Arc::clone(&slot.state);
        slot.buffer
            .map_async(wgpu::MapMode::Read, .., move |result| {
                state.store(
                    if result.is_ok() { READY } else { FAILED },
                    Ordering::Release,
                );
            });
        slot.submission = Some(submission.clone());
        slot.started = started;
        slot.camera = camera;
        self.in_flight.push_back(index);
        submission
    }

    /// Frames submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Copies out every finished frame, oldest first. With `wait_until`, first waits for the
    /// oldest frame in flight at most until then; without, only looks.
    pub fn collect(
        &mut self,
        device: &wgpu::Device,
        wait_until: Option<Instant>,
    ) -> Vec<RgbaFrame> {
        let oldest = self
            .in_flight
            .front()
            .and_then(|&i| self.slots[i].submission.clone());
        let poll = match (wait_until, oldest) {
            (Some(deadline), Some(index)) => wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(deadline.saturating_duration_since(Instant::now())),
            },
            _ => wgpu::PollType::Poll,
        };
        if let Err(err) = device.poll(poll)
            && !matches!(err, wgpu::PollError::Timeout)
        {
            log::warn!("GPU poll failed: {err}");
        }
        let mut frames = std::mem::take(&mut self.harvested);
        while let Some(&index) = self.in_flight.front() {
            let slot = &self.slots[index];
            match slot.state.load(Ordering::Acquire) {
                PENDING => break,
                READY => {
                    let pixels = match slot.buffer.get_mapped_range(..) {
                        Ok(view) => Some(view.to_vec()),
                        Err(err) => {
                            log::warn!("reading a finished frame failed: {err}");
                            None
                        }
                    };
                    slot.buffer.unmap();
                    if let Some(pixels) = pixels {
                        frames.push(RgbaFrame {
                            width: self.width,
                            height: self.height,
                            stride: self.stride,
                            pixels,
                            started: slot.started,
                            finished: Instant::now(),
                            camera: slot.camera,
                            covered: [0, 0, self.width, self.height],
                        });
                    }
                }
                _ => log::warn!("mapping a frame for readback failed; dropping it"),
            }
            self.in_flight.pop_front();
        }
        frames
    }
}
