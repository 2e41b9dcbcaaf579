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
        let f = self.width.div_ceil(max_width.max(1)).max(1) as usize;
        let (ow, oh) = (self.width as usize / f, self.height as usize / f);
        if ow == 0 || oh == 0 {
            return Err("camera frame smaller than the scale step".into());
        }
        // Each component's bytes for every column and row, worked out once per frame: the
        // loops below then only add samples. The color matrix is affine, so it turns each
        // block's average into RGB once instead of every pixel (same result, 4 to 10x faster).
        let layout = self.format.layout();
        let components = layout.components.map(|a| {
            a.map(|a| {
                let l = layout.planes[a.plane];
                let stride = self.planes[a.plane].stride;
                let columns: Vec<usize> = (0..ow * f)
                    .map(|x| (x / l.unit_px) * l.unit + a.offset + (x % l.unit_px) * a.per_px)
                    .collect();
                let rows: Vec<usize> = (0..oh * f).map(|y| (y / l.row_px) * stride).collect();
                (a.plane, columns, rows)
            })
        });
        let wide = layout.max != 255;
        let read = |data: &[u8], at: usize| {
            if wide {
                u32::from(u16::from_le_bytes([data[at], data[at + 1]]))
            } else {
                u32::from(data[at])
            }
        };
        let to_unit = 1.0 / (f32::from(layout.max) * (f * f) as f32);
        let m = &self.color_matrix;
        let mut out = vec![0u8; ow * oh * 3];
        let mut sums = vec![[0u32; 3]; ow];
        for oy in 0..oh {
            sums.fill([0; 3]);
            for y in oy * f..(oy + 1) * f {
                for (k, component) in components.iter().enumerate() {
                    let Some((plane, columns, rows)) = component else {
                        continue;
                    };
                    let data = &self.planes[*plane].data[rows[y]..];
                    for (sum, columns) in sums.iter_mut().zip(columns.chunks_exact(f)) {
                        sum[k] += columns.iter().map(|&at| read(data, at)).sum::<u32>();
                    }
                }
            }
            let row = &mut out[oy * ow * 3..(oy + 1) * ow * 3];
            for (px, sum) in row.chunks_exact_mut(3).zip(&sums) {
                // A missing component (Y800's chroma) is neutral: 128 of 255, the matrix's centre.
                let mut c = [128.0 / 255.0; 3];
                for ((c, sum), component) in c.iter_mut().zip(sum).zip(&components) {
                    if component.is_some() {
                        *c = *sum as f32 * to_unit;
                    }
                }
                let rgb = if layout.rgb {
                    c.map(|v| v * 255.0)
                } else {
                    Self::apply(m, c)
                };
                // + 0.5 and truncation: rounding without `roundf`, which the baseline x86-64
                // target calls out of line (three calls a pixel took a quarter of the time).
                for (o, v) in px.iter_mut().zip(rgb) {
                    *o = (v + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
        }
        Ok((ow as u32, oh as u32, out))
    }

    /// YUV in 0..1 through the color matrix, as RGB in 0..255.
    fn apply(m: &[f32; 16], c: [f32; 3]) -> [f32; 3] {
        let v = [c[0], c[1], c[2], 1.0];
        let row = |r: usize| (0..4).map(|k| m[r * 4 + k] * v[k]).sum::<f32>() * 255.0;
        [row(0), row(1), row(2)]
    }
}

#[cfg(test)]
mod tests;
