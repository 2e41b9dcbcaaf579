//! Frame types shared by the renderer (which produces them) and the OBS source (which shows them).

use std::time::Instant;

/// A finished RGBA8 frame: sRGB-encoded, premultiplied alpha, rows `stride` bytes apart
/// (`stride >= width * 4`; the GPU copy pads rows to 256 bytes and OBS takes the padding as is).
#[derive(Debug, Clone)]
pub struct RgbaFrame {
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub pixels: Vec<u8>,
    /// When the renderer started drawing this frame, for latency figures.
    pub started: Instant,
    /// When its pixels were back in memory, ready to hand to OBS.
    pub finished: Instant,
    /// The camera frame whose pose this frame shows (None for idle motion): the start of the
    /// camera-to-texture latency.
    pub camera: Option<CameraTimes>,
}

/// When a camera frame reached the plugin and when its landmarks were ready: with a drawn
/// frame's times, where the camera-to-texture latency goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CameraTimes {
    pub arrived: Instant,
    pub tracked: Instant,
    /// The motion came over VMC, not from a camera: `arrived` is when the datagram that
    /// completed it came (and `tracked` the same).
    pub from_vmc: bool,
}

impl RgbaFrame {
    /// The RGBA bytes of pixel (x, y).
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let at = (y * self.stride + x * 4) as usize;
        [
            self.pixels[at],
            self.pixels[at + 1],
            self.pixels[at + 2],
            self.pixels[at + 3],
        ]
    }

    /// The pixels without row padding, `width * 4` bytes a row (for PNG files).
    pub fn tight_pixels(&self) -> Vec<u8> {
        let row = (self.width * 4) as usize;
        self.pixels
            .chunks(self.stride as usize)
            .take(self.height as usize)
            .flat_map(|line| &line[..row])
            .copied()
            .collect()
    }
}
