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
    /// The part of the frame that is not fully transparent, `[x, y, width, height]` (the
    /// whole frame until [`RgbaFrame::find_covered`] looks): OBS draws only that part.
    pub covered: [u32; 4],
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

    /// Finds [`RgbaFrame::covered`]: the smallest rectangle holding every pixel whose alpha is
    /// not 0, grown by a pixel each way so that sampling it at its edges reads what sampling
    /// the whole frame would (empty when nothing shows).
    pub fn find_covered(&mut self) {
        let (w, h) = (self.width as usize, self.height as usize);
        let row = |y: usize| &self.pixels[y * self.stride as usize..][..w * 4];
        let shows = |line: &[u8]| line.chunks_exact(4).position(|p| p[3] != 0);
        let Some(top) = (0..h).find(|&y| shows(row(y)).is_some()) else {
            self.covered = [0, 0, 0, 0];
            return;
        };
        let bottom = (top..h)
            .rev()
            .find(|&y| shows(row(y)).is_some())
            .unwrap_or(top);
        let (mut left, mut right) = (w, None::<usize>);
        for y in top..=bottom {
            let line = row(y);
            if let Some(first) = shows(&line[..left * 4]) {
                left = first;
            }
            let from = right.map_or(0, |r| r + 1);
            if let Some(last) = line[from * 4..].chunks_exact(4).rposition(|p| p[3] != 0) {
                right = Some(from + last);
            }
        }
        let right = right.unwrap_or(left);
        let (x0, y0) = (left.saturating_sub(1), top.saturating_sub(1));
        let (x1, y1) = ((right + 2).min(w), (bottom + 2).min(h));
        self.covered = [x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32];
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(width: u32, height: u32, shown: &[(u32, u32)]) -> RgbaFrame {
        let stride = width * 4 + 8;
        let mut pixels = vec![0u8; (stride * height) as usize];
        for &(x, y) in shown {
            pixels[(y * stride + x * 4 + 3) as usize] = 1;
        }
        RgbaFrame {
            width,
            height,
            stride,
            pixels,
            started: Instant::now(),
            finished: Instant::now(),
            camera: None,
            covered: [0, 0, width, height],
        }
    }

    #[test]
    fn the_covered_part_holds_every_pixel_that_shows_and_a_pixel_more() {
        let mut f = frame(40, 30, &[(10, 5), (25, 20), (3, 12)]);
        f.find_covered();
        assert_eq!(f.covered, [2, 4, 25, 18]);
        // At the frame's edges the margin stops.
        let mut f = frame(40, 30, &[(0, 0), (39, 29)]);
        f.find_covered();
        assert_eq!(f.covered, [0, 0, 40, 30]);
        let mut f = frame(40, 30, &[(7, 9)]);
        f.find_covered();
        assert_eq!(f.covered, [6, 8, 3, 3]);
        let mut f = frame(40, 30, &[]);
        f.find_covered();
        assert_eq!(f.covered[2] * f.covered[3], 0);
    }
}
