//! Camera frames as OBS hands them over (its video formats, planes and colour matrix), and
//! their conversion into the small RGB image the tracker reads. Shared by the OBS layer, which
//! copies frames out, and the tracking worker, which converts them off OBS's threads.

use std::time::Instant;

mod format;

pub use format::CameraFormat;

/// One plane: its bytes and the distance between rows.
#[derive(Debug, Clone, Default)]
pub struct Plane {
    pub data: Vec<u8>,
    pub stride: usize,
}

/// A camera frame copied out of OBS.
#[derive(Debug, Clone)]
pub struct CameraFrame {
    pub width: u32,
    pub height: u32,
    pub format: CameraFormat,
    pub planes: Vec<Plane>,
    /// YUV to RGB, row i giving output channel i from (Y, U, V, 1) in 0..1 (libobs's
    /// `color_matrix`, which includes the range expansion). Unused for RGB formats.
    pub color_matrix: [f32; 16],
    /// When the frame reached the plugin: the start of the end-to-end latency.
    pub arrived: Instant,
}

/// BT.709 limited range, libobs's default for HD cameras.
pub const BT709_LIMITED: [f32; 16] = [
    1.164_384, 0.0, 1.792_741, -0.972_945, 1.164_384, -0.213_249, -0.532_909, 0.301_483, 1.164_384,
    2.112_402, 0.0, -1.133_402, 0.0, 0.0, 0.0, 1.0,
];

/// Bytes per row and rows of each plane a `w` x `h` frame of `format` needs.
pub fn plane_needs(format: CameraFormat, w: usize, h: usize) -> Vec<(usize, usize)> {
    format
        .layout()
        .planes
        .iter()
        .map(|p| (w.div_ceil(p.unit_px) * p.unit, h.div_ceil(p.row_px)))
        .collect()
}

/// Checks that `planes` (bytes, stride) hold what `format` at `w` x `h` needs, so reading
/// never goes past a buffer.
fn check_planes(
    format: CameraFormat,
    w: usize,
    h: usize,
    planes: &[(&[u8], usize)],
) -> Result<(), String> {
    if w < 2 || h < 2 {
        return Err(format!("camera frame too small ({w}x{h})"));
    }
    let need = plane_needs(format, w, h);
    if planes.len() < need.len() {
        return Err(format!(
            "{format:?} needs {} planes, the frame has {}",
            need.len(),
            planes.len()
        ));
    }
    for (k, ((row, rows), (data, stride))) in need.iter().zip(planes).enumerate() {
        if stride < row || data.len() < stride * (rows - 1) + row {
            return Err(format!(
                "plane {k} of a {w}x{h} {format:?} frame is short ({} bytes, stride {stride})",
                data.len()
            ));
        }
    }
    Ok(())
}

impl CameraFrame {
    /// Checks that every plane holds what the format and size need, so conversion never
    /// reads past a buffer.
    pub fn validate(&self) -> Result<(), String> {
        let planes: Vec<(&[u8], usize)> = self
            .planes
            .iter()
            .map(|p| (p.data.as_slice(), p.stride))
            .collect();
        check_planes(
            self.format,
            self.width as usize,
            self.height as usize,
            &planes,
        )
    }

    /// Copies a frame out of someone else's buffers (`planes`: bytes and stride, as `format`
    /// lays them out), keeping one 2x2 block of pixels out of every `step` x `step` (`step` 1
    /// copies all): a 4K camera is copied near tracking size instead of whole, on the thread
    /// that hands it over. Blocks stay whole, so chroma stays with its pixels.
    pub fn copy_decimated(
        width: u32,
        height: u32,
        format: CameraFormat,
        planes: &[(&[u8], usize)],
        step: u32,
        color_matrix: [f32; 16],
    ) -> Result<CameraFrame, String> {
        let (w, h, step) = (width as usize, height as usize, step.max(1) as usize);
        check_planes(format, w, h, planes)?;
        let need = plane_needs(format, w, h);
        let planes: Vec<Plane> = if step == 1 {
            need.iter()
                .zip(planes)
                .map(|(&(row, rows), &(data, stride))| Plane {
                    data: data[..stride * (rows - 1) + row].to_vec(),
                    stride,
                })
                .collect()
        } else {
            let (ow, oh) = ((w / (2 * step)) * 2, (h / (2 * step)) * 2);
            if ow < 2 || oh < 2 {
                return Err(format!(
                    "camera frame too small to scale by {step} ({w}x{h})"
                ));
            }
            // Source row or column of output pixel row or column `o` (2x2 blocks kept whole).
            let pick = |o: usize| (o / 2) * 2 * step + o % 2;
            format
                .layout()
                .planes
                .iter()
                .zip(planes)
                .map(|(l, &(data, stride))| {
                    // Units (of `l.unit_px` pixels, 1 or 2) and plane rows, each taken whole
                    // from where its first pixel comes from.
                    let (units, rows) = (ow / l.unit_px, oh / l.row_px);
                    let mut out = Vec::with_capacity(units * l.unit * rows);
                    for r in 0..rows {
                        let line = &data[pick(r * l.row_px) / l.row_px * stride..];
                        for u in 0..units {
                            let at = pick(u * l.unit_px) / l.unit_px * l.unit;
                            out.extend_from_slice(&line[at..at + l.unit]);
                        }
                    }
                    Plane {
                        data: out,
                        stride: units * l.unit,
                    }
                })
                .collect()
        };
        let (width, height) = if step == 1 {
            (width, height)
        } else {
            (((w / (2 * step)) * 2) as u32, ((h / (2 * step)) * 2) as u32)
        };
        let frame = CameraFrame {
            width,
            height,
            format,
            planes,
            color_matrix,
            arrived: Instant::now(),
        };
        frame.validate()?;
        Ok(frame)
    }

    /// The frame as tightly packed RGB, scaled down by an integer factor so that it is at
    /// most `max_width` wide (the tracker's models see 256 pixels at most; a smaller image
    /// converts and crops faster). Averages each factor x factor block. Returns
    /// `(width, height, rgb)`.
    pub fn to_rgb(&self, max_width: u32) -> Result<(u32, u32, Vec<u8>), String> {
        self.validate()?;
        let f = self.width.div_ceil(max_width.max(1)).max(1);
        let (ow, oh) = (self.width / f, self.height / f);
        if ow == 0 || oh == 0 {
            return Err("camera frame smaller than the scale step".into());
        }
        let mut out = vec![0u8; (ow * oh * 3) as usize];
        let m = &self.color_matrix;
        let n = (f * f) as f32;
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = [0.0f32; 3];
                for dy in 0..f {
                    for dx in 0..f {
                        let rgb = self.pixel(ox * f + dx, oy * f + dy, m);
                        for c in 0..3 {
                            acc[c] += rgb[c];
                        }
                    }
                }
                let at = ((oy * ow + ox) * 3) as usize;
                for c in 0..3 {
                    out[at + c] = (acc[c] / n).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        Ok((ow, oh, out))
    }

    /// Pixel (x, y) as RGB in 0..255.
    fn pixel(&self, x: u32, y: u32, m: &[f32; 16]) -> [f32; 3] {
        let (x, y) = (x as usize, y as usize);
        let layout = self.format.layout();
        let scale = 1.0 / f32::from(layout.max);
        let sample = |a: &Option<format::At>| {
            let Some(a) = a else {
                // Neutral chroma (Y800): 128 of 255, the matrix's own centre.
                return 128.0 / 255.0;
            };
            let l = layout.planes[a.plane];
            let p = &self.planes[a.plane];
            let at = (y / l.row_px) * p.stride
                + (x / l.unit_px) * l.unit
                + a.offset
                + (x % l.unit_px) * a.per_px;
            if layout.max == 255 {
                f32::from(p.data[at]) * scale
            } else {
                f32::from(u16::from_le_bytes([p.data[at], p.data[at + 1]])) * scale
            }
        };
        let c = layout.components.each_ref().map(sample);
        if layout.rgb {
            return c.map(|v| v * 255.0);
        }
        let v = [c[0], c[1], c[2], 1.0];
        let row = |r: usize| (0..4).map(|k| m[r * 4 + k] * v[k]).sum::<f32>() * 255.0;
        [row(0), row(1), row(2)]
    }
}

#[cfg(test)]
mod tests;
