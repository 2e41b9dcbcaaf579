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

impl CameraFrame {
    /// Checks that every plane holds what the format and size need, so conversion never
    /// reads past a buffer.
    pub fn validate(&self) -> Result<(), String> {
        let (w, h) = (self.width as usize, self.height as usize);
        if w < 2 || h < 2 {
            return Err(format!("camera frame too small ({w}x{h})"));
        }
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let need: Vec<(usize, usize)> = match self.format {
            CameraFormat::Nv12 => vec![(w, h), (cw * 2, ch)],
            CameraFormat::I420 => vec![(w, h), (cw, ch), (cw, ch)],
            CameraFormat::Yuy2 | CameraFormat::Uyvy => vec![(cw * 4, h)],
            CameraFormat::Rgba | CameraFormat::Bgra | CameraFormat::Bgrx => vec![(w * 4, h)],
        };
        if self.planes.len() < need.len() {
            return Err(format!(
                "{:?} needs {} planes, the frame has {}",
                self.format,
                need.len(),
                self.planes.len()
            ));
        }
        for (k, ((row, rows), plane)) in need.iter().zip(&self.planes).enumerate() {
            if plane.stride < *row || plane.data.len() < plane.stride * (rows - 1) + row {
                return Err(format!(
                    "plane {k} of a {w}x{h} {:?} frame is short ({} bytes, stride {})",
                    self.format,
                    plane.data.len(),
                    plane.stride
                ));
            }
        }
        Ok(())
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
}
