//! Camera frames as OBS hands them over (its video formats, planes and colour matrix), and
//! their conversion into the small RGB image the tracker reads. Shared by the OBS layer, which
//! copies frames out, and the tracking worker, which converts them off OBS's threads.

use std::time::Instant;

/// The OBS video formats the tracker takes (`enum video_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraFormat {
    /// Y plane, then interleaved U/V at half size.
    Nv12,
    /// Y, U and V planes, U and V at half size.
    I420,
    /// Packed Y0 U Y1 V.
    Yuy2,
    /// Packed U Y0 V Y1.
    Uyvy,
    Rgba,
    Bgra,
    /// BGRA with the alpha byte unused.
    Bgrx,
}

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
fn plane_needs(format: CameraFormat, w: usize, h: usize) -> Vec<(usize, usize)> {
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match format {
        CameraFormat::Nv12 => vec![(w, h), (cw * 2, ch)],
        CameraFormat::I420 => vec![(w, h), (cw, ch), (cw, ch)],
        CameraFormat::Yuy2 | CameraFormat::Uyvy => vec![(cw * 4, h)],
        CameraFormat::Rgba | CameraFormat::Bgra | CameraFormat::Bgrx => vec![(w * 4, h)],
    }
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
            // Source row and column of output pixel row `o` (2x2 blocks kept whole).
            let pick = |o: usize| (o / 2) * 2 * step + o % 2;
            let bytes = |(data, stride): (&[u8], usize),
                         px: usize,
                         rows: usize,
                         cols: &dyn Fn(usize) -> usize,
                         row_of: &dyn Fn(usize) -> usize| {
                let mut out = Vec::with_capacity(px * rows);
                for r in 0..rows {
                    let line = &data[row_of(r) * stride..];
                    out.extend((0..px).map(|c| line[cols(c)]));
                }
                Plane {
                    data: out,
                    stride: px,
                }
            };
            match format {
                CameraFormat::Nv12 => vec![
                    bytes(planes[0], ow, oh, &pick, &pick),
                    // UV pairs: pair c of the output is pair c * step of the source.
                    bytes(
                        planes[1],
                        ow,
                        oh / 2,
                        &|c| (c / 2) * 2 * step + c % 2,
                        &|r| r * step,
                    ),
                ],
                CameraFormat::I420 => vec![
                    bytes(planes[0], ow, oh, &pick, &pick),
                    bytes(planes[1], ow / 2, oh / 2, &|c| c * step, &|r| r * step),
                    bytes(planes[2], ow / 2, oh / 2, &|c| c * step, &|r| r * step),
                ],
                // Macro-pixels of 4 bytes (2 pixels).
                CameraFormat::Yuy2 | CameraFormat::Uyvy => vec![bytes(
                    planes[0],
                    ow * 2,
                    oh,
                    &|c| (c / 4) * 4 * step + c % 4,
                    &pick,
                )],
                CameraFormat::Rgba | CameraFormat::Bgra | CameraFormat::Bgrx => vec![bytes(
                    planes[0],
                    ow * 4,
                    oh,
                    &|c| pick(c / 4) * 4 + c % 4,
                    &pick,
                )],
            }
            .into_iter()
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
        let byte = |plane: usize, col: usize, row: usize| {
            let p = &self.planes[plane];
            p.data[row * p.stride + col] as f32
        };
        let yuv = match self.format {
            CameraFormat::Nv12 => [
                byte(0, x, y),
                byte(1, (x / 2) * 2, y / 2),
                byte(1, (x / 2) * 2 + 1, y / 2),
            ],
            CameraFormat::I420 => [byte(0, x, y), byte(1, x / 2, y / 2), byte(2, x / 2, y / 2)],
            CameraFormat::Yuy2 => {
                let pair = (x / 2) * 4;
                [
                    byte(0, pair + (x % 2) * 2, y),
                    byte(0, pair + 1, y),
                    byte(0, pair + 3, y),
                ]
            }
            CameraFormat::Uyvy => {
                let pair = (x / 2) * 4;
                [
                    byte(0, pair + 1 + (x % 2) * 2, y),
                    byte(0, pair, y),
                    byte(0, pair + 2, y),
                ]
            }
            CameraFormat::Rgba => {
                return [
                    byte(0, x * 4, y),
                    byte(0, x * 4 + 1, y),
                    byte(0, x * 4 + 2, y),
                ];
            }
            CameraFormat::Bgra | CameraFormat::Bgrx => {
                return [
                    byte(0, x * 4 + 2, y),
                    byte(0, x * 4 + 1, y),
                    byte(0, x * 4, y),
                ];
            }
        };
        let v = [yuv[0] / 255.0, yuv[1] / 255.0, yuv[2] / 255.0, 1.0];
        let row = |r: usize| (0..4).map(|k| m[r * 4 + k] * v[k]).sum::<f32>() * 255.0;
        [row(0), row(1), row(2)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BT.709 limited-range Y, U, V of an RGB colour (the inverse of the matrix above).
    fn yuv(rgb: [f32; 3]) -> [u8; 3] {
        let [r, g, b] = rgb.map(|c| c / 255.0);
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let u = (b - y) / 1.8556;
        let v = (r - y) / 1.5748;
        [
            (16.0 + 219.0 * y).round() as u8,
            (128.0 + 224.0 * u).round() as u8,
            (128.0 + 224.0 * v).round() as u8,
        ]
    }

    const COLOURS: [[f32; 3]; 4] = [
        [200.0, 40.0, 30.0],
        [20.0, 180.0, 60.0],
        [30.0, 60.0, 220.0],
        [128.0, 128.0, 128.0],
    ];

    /// A 4x4 frame of four 2x2 colour blocks in `format`.
    fn frame(format: CameraFormat) -> CameraFrame {
        let colour = |x: usize, y: usize| COLOURS[(y / 2) * 2 + x / 2];
        let (w, h) = (4usize, 4usize);
        let planes = match format {
            CameraFormat::Nv12 | CameraFormat::I420 => {
                let mut luma = Plane {
                    data: vec![0; 8 * h],
                    stride: 8,
                };
                let mut uv = Plane {
                    data: vec![0; 8 * 2],
                    stride: 8,
                };
                let (mut u, mut v) = (
                    Plane {
                        data: vec![0; 2 * 2],
                        stride: 2,
                    },
                    Plane {
                        data: vec![0; 2 * 2],
                        stride: 2,
                    },
                );
                for y in 0..h {
                    for x in 0..w {
                        let [yy, uu, vv] = yuv(colour(x, y));
                        luma.data[y * 8 + x] = yy;
                        uv.data[(y / 2) * 8 + (x / 2) * 2] = uu;
                        uv.data[(y / 2) * 8 + (x / 2) * 2 + 1] = vv;
                        u.data[(y / 2) * 2 + x / 2] = uu;
                        v.data[(y / 2) * 2 + x / 2] = vv;
                    }
                }
                if format == CameraFormat::Nv12 {
                    vec![luma, uv]
                } else {
                    vec![luma, u, v]
                }
            }
            CameraFormat::Yuy2 | CameraFormat::Uyvy => {
                let mut p = Plane {
                    data: vec![0; 8 * h],
                    stride: 8,
                };
                for y in 0..h {
                    for pair in 0..2 {
                        let [y0, u, v] = yuv(colour(pair * 2, y));
                        let [y1, _, _] = yuv(colour(pair * 2 + 1, y));
                        let bytes = if format == CameraFormat::Yuy2 {
                            [y0, u, y1, v]
                        } else {
                            [u, y0, v, y1]
                        };
                        p.data[y * 8 + pair * 4..y * 8 + pair * 4 + 4].copy_from_slice(&bytes);
                    }
                }
                vec![p]
            }
            CameraFormat::Rgba | CameraFormat::Bgra | CameraFormat::Bgrx => {
                let mut p = Plane {
                    data: vec![0; 20 * h],
                    stride: 20,
                };
                for y in 0..h {
                    for x in 0..w {
                        let [r, g, b] = colour(x, y).map(|c| c as u8);
                        let px = if format == CameraFormat::Rgba {
                            [r, g, b, 255]
                        } else {
                            [b, g, r, 255]
                        };
                        p.data[y * 20 + x * 4..y * 20 + x * 4 + 4].copy_from_slice(&px);
                    }
                }
                vec![p]
            }
        };
        CameraFrame {
            width: 4,
            height: 4,
            format,
            planes,
            color_matrix: BT709_LIMITED,
            arrived: Instant::now(),
        }
    }

    #[test]
    fn every_format_converts_to_the_same_rgb() {
        use CameraFormat::*;
        for format in [Nv12, I420, Yuy2, Uyvy, Rgba, Bgra, Bgrx] {
            let (w, h, rgb) = frame(format).to_rgb(640).unwrap();
            assert_eq!((w, h), (4, 4));
            for (k, colour) in COLOURS.iter().enumerate() {
                let (x, y) = ((k % 2) * 2, (k / 2) * 2);
                let at = (y * 4 + x) * 3;
                for c in 0..3 {
                    let got = rgb[at + c] as f32;
                    assert!(
                        (got - colour[c]).abs() <= 3.0,
                        "{format:?} colour {k} channel {c}: {got} vs {}",
                        colour[c]
                    );
                }
            }
        }
        // Halved: each 2x2 block becomes its colour.
        let (w, h, rgb) = frame(Nv12).to_rgb(2).unwrap();
        assert_eq!((w, h), (2, 2));
        assert!((rgb[3] as f32 - COLOURS[1][0]).abs() <= 3.0);
    }

    #[test]
    fn short_planes_are_refused_not_read_past() {
        let mut f = frame(CameraFormat::Nv12);
        f.planes[1].data.truncate(10);
        assert!(f.to_rgb(640).unwrap_err().contains("plane 1"));
        let mut f = frame(CameraFormat::I420);
        f.planes.pop();
        assert!(f.to_rgb(640).unwrap_err().contains("needs 3 planes"));
        let mut f = frame(CameraFormat::Bgra);
        f.planes[0].stride = 8;
        assert!(f.validate().is_err());
    }

    #[test]
    fn a_decimated_copy_keeps_whole_blocks_of_every_format() {
        let (w, h) = (24u32, 12u32);
        // Each byte says where it came from: row * 256 + column (mod 256).
        let plane = |row_bytes: usize, rows: usize| -> Vec<u8> {
            (0..rows)
                .flat_map(|r| (0..row_bytes).map(move |c| (r * 7 + c) as u8))
                .collect()
        };
        let at = |r: usize, c: usize| (r * 7 + c) as u8;
        // NV12, step 3: 24x12 -> 8x4.
        let (y, uv) = (plane(24, 12), plane(24, 6));
        let f = CameraFrame::copy_decimated(
            w,
            h,
            CameraFormat::Nv12,
            &[(&y, 24), (&uv, 24)],
            3,
            BT709_LIMITED,
        )
        .unwrap();
        assert_eq!((f.width, f.height), (8, 4));
        // Output pixel (row 3, col 5) is source (row 7, col 13): block (1, 2) -> (6, 12) + (1, 1).
        assert_eq!(f.planes[0].data[3 * 8 + 5], at(7, 13));
        // Its UV pair: output pair 2 on chroma row 1 -> source pair 6 on chroma row 3.
        assert_eq!(f.planes[1].data[8 + 5], at(3, 13));
        // I420, step 2: 24x12 -> 12x6; chroma (2, 4) -> source chroma (4, 8).
        let (u, v) = (plane(12, 6), plane(12, 6));
        let f = CameraFrame::copy_decimated(
            w,
            h,
            CameraFormat::I420,
            &[(&y, 24), (&u, 12), (&v, 12)],
            2,
            BT709_LIMITED,
        )
        .unwrap();
        assert_eq!((f.width, f.height), (12, 6));
        assert_eq!(f.planes[2].data[2 * 6 + 4], at(4, 8));
        // BGRA, step 2: output pixel (1, 3) is source (1, 5), all four bytes.
        let bgra = plane(96, 12);
        let f =
            CameraFrame::copy_decimated(w, h, CameraFormat::Bgra, &[(&bgra, 96)], 2, BT709_LIMITED)
                .unwrap();
        assert_eq!(&f.planes[0].data[48 + 12..48 + 16], &bgra[96 + 20..96 + 24]);
        // YUY2, step 2: output macro-pixel 1 of row 2 is source macro-pixel 2 of row 4.
        let yuy2 = plane(48, 12);
        let f =
            CameraFrame::copy_decimated(w, h, CameraFormat::Yuy2, &[(&yuy2, 48)], 2, BT709_LIMITED)
                .unwrap();
        assert_eq!(
            &f.planes[0].data[2 * 24 + 4..2 * 24 + 8],
            &yuy2[4 * 48 + 8..4 * 48 + 12]
        );
        // Step 1 copies everything as it is; a short plane is refused, not read past.
        let f =
            CameraFrame::copy_decimated(w, h, CameraFormat::Bgra, &[(&bgra, 96)], 1, BT709_LIMITED)
                .unwrap();
        assert_eq!(f.planes[0].data, bgra);
        assert!(
            CameraFrame::copy_decimated(
                w,
                h,
                CameraFormat::Bgra,
                &[(&bgra[..500], 96)],
                2,
                BT709_LIMITED
            )
            .is_err()
        );
    }

    #[test]
    fn a_decimated_picture_converts_like_the_whole_one() {
        // A smooth gradient: the block kept stands for its neighbours.
        let (w, h) = (64u32, 32u32);
        let bgra: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [(x * 4) as u8, (y * 8) as u8, 128, 255]))
            .collect();
        let whole = CameraFrame::copy_decimated(
            w,
            h,
            CameraFormat::Bgra,
            &[(&bgra, 256)],
            1,
            BT709_LIMITED,
        )
        .unwrap()
        .to_rgb(16)
        .unwrap();
        let kept = CameraFrame::copy_decimated(
            w,
            h,
            CameraFormat::Bgra,
            &[(&bgra, 256)],
            2,
            BT709_LIMITED,
        )
        .unwrap()
        .to_rgb(16)
        .unwrap();
        assert_eq!((whole.0, whole.1), (kept.0, kept.1));
        let worst = whole
            .2
            .iter()
            .zip(&kept.2)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 12, "largest channel difference {worst}");
    }
}
