//! Conversion of every format against known colours, copies with blocks left out.

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

/// A 4x4 frame of four 2x2 colour blocks in `format`, one of the seven first formats, written
/// byte by byte without the format table.
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
        other => unreachable!("{other:?} is written by `encode`"),
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
    let f = CameraFrame::copy_decimated(w, h, CameraFormat::Bgra, &[(&bgra, 96)], 2, BT709_LIMITED)
        .unwrap();
    assert_eq!(&f.planes[0].data[48 + 12..48 + 16], &bgra[96 + 20..96 + 24]);
    // YUY2, step 2: output macro-pixel 1 of row 2 is source macro-pixel 2 of row 4.
    let yuy2 = plane(48, 12);
    let f = CameraFrame::copy_decimated(w, h, CameraFormat::Yuy2, &[(&yuy2, 48)], 2, BT709_LIMITED)
        .unwrap();
    assert_eq!(
        &f.planes[0].data[2 * 24 + 4..2 * 24 + 8],
        &yuy2[4 * 48 + 8..4 * 48 + 12]
    );
    // Step 1 copies everything as it is; a short plane is refused, not read past.
    let f = CameraFrame::copy_decimated(w, h, CameraFormat::Bgra, &[(&bgra, 96)], 1, BT709_LIMITED)
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
    let whole =
        CameraFrame::copy_decimated(w, h, CameraFormat::Bgra, &[(&bgra, 256)], 1, BT709_LIMITED)
            .unwrap()
            .to_rgb(16)
            .unwrap();
    let kept =
        CameraFrame::copy_decimated(w, h, CameraFormat::Bgra, &[(&bgra, 256)], 2, BT709_LIMITED)
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

/// A `w` x `h` frame of `format` whose pixel (x, y) is `colour(x, y)`, written through the
/// format table, rows padded; 16-bit samples scaled to the format's depth (P010 in the high
/// bits).
fn encode(
    format: CameraFormat,
    w: usize,
    h: usize,
    colour: &dyn Fn(usize, usize) -> [f32; 3],
) -> CameraFrame {
    let layout = format.layout();
    let mut planes: Vec<Plane> = plane_needs(format, w, h)
        .into_iter()
        .map(|(row, rows)| Plane {
            data: vec![0; (row + 6) * rows],
            stride: row + 6,
        })
        .collect();
    for y in 0..h {
        for x in 0..w {
            let c = colour(x, y);
            let values = if layout.rgb {
                c.map(|v| v as u8)
            } else {
                yuv(c)
            };
            for (a, value) in layout.components.iter().zip(values) {
                let Some(a) = a else { continue };
                let l = layout.planes[a.plane];
                let p = &mut planes[a.plane];
                let at = (y / l.row_px) * p.stride
                    + (x / l.unit_px) * l.unit
                    + a.offset
                    + (x % l.unit_px) * a.per_px;
                if layout.max == 255 {
                    p.data[at] = value;
                } else {
                    let v = match layout.max {
                        u16::MAX => u16::from(value) << 8,
                        max => (u32::from(value) * u32::from(max) / 255) as u16,
                    };
                    p.data[at..at + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    bt709_frame(w, h, format, planes)
}

fn bt709_frame(w: usize, h: usize, format: CameraFormat, planes: Vec<Plane>) -> CameraFrame {
    CameraFrame {
        width: w as u32,
        height: h as u32,
        format,
        planes,
        color_matrix: BT709_LIMITED,
        arrived: Instant::now(),
    }
}

/// The colour of 2x2 block (x / 2, y / 2) of a test picture; gray for Y800.
fn blocks(format: CameraFormat) -> impl Fn(usize, usize) -> [f32; 3] {
    move |x, y| {
        let c = COLOURS[((x / 2) + (y / 2)) % 4];
        if format == CameraFormat::Y800 {
            [c[1]; 3]
        } else {
            c
        }
    }
}

fn assert_close(format: CameraFormat, got: &[u8], want: [f32; 3], what: &str) {
    for c in 0..3 {
        assert!(
            (f32::from(got[c]) - want[c]).abs() <= 4.0,
            "{format:?} {what} channel {c}: {} vs {}",
            got[c],
            want[c]
        );
    }
}

#[test]
fn every_obs_format_converts_whole_and_decimated() {
    let (w, h) = (12usize, 8usize);
    for format in CameraFormat::ALL {
        let colour = blocks(format);
        let f = encode(format, w, h, &colour);
        let (ow, oh, rgb) = f.to_rgb(640).unwrap();
        assert_eq!((ow, oh), (12, 8), "{format:?}");
        for (x, y) in [(0, 0), (3, 1), (5, 6), (11, 7)] {
            let at = (y * w + x) * 3;
            assert_close(format, &rgb[at..], colour(x, y), &format!("({x}, {y})"));
        }
        // Step 2 keeps every other 2x2 block: output block (1, 1) is source block (2, 2).
        let planes: Vec<(&[u8], usize)> = f
            .planes
            .iter()
            .map(|p| (p.data.as_slice(), p.stride))
            .collect();
        let d = CameraFrame::copy_decimated(12, 8, format, &planes, 2, BT709_LIMITED).unwrap();
        assert_eq!((d.width, d.height), (6, 4), "{format:?}");
        let (_, _, rgb) = d.to_rgb(640).unwrap();
        assert_close(
            format,
            &rgb[(3 * 6 + 2) * 3..],
            colour(4, 4),
            "block (1, 1)",
        );
        assert_close(format, &rgb[(6 + 5) * 3..], colour(8, 0), "block (2, 0)");
    }
}

#[test]
fn byte_orders_match_libobs() {
    // 2x2 frames written out by hand: Y 63, U 102, V 240 is BT.709 limited red (255, 0, 0) to
    // within a few levels; Y 126 alone is gray (128, 128, 128).
    use CameraFormat::*;
    let red = [255.0, 0.0, 0.0];
    let le = |v: u8, shift: u32| (u16::from(v) << shift).to_le_bytes();
    // Planes of two rows, except the chroma of 4:2:0 (one row).
    let rgb_of = |format, planes: Vec<Vec<u8>>| {
        let chroma_rows = match format {
            P010 | I010 => 1,
            _ => 2,
        };
        let planes = planes
            .into_iter()
            .enumerate()
            .map(|(k, data)| Plane {
                stride: data.len() / if k == 0 { 2 } else { chroma_rows },
                data,
            })
            .collect();
        let f = CameraFrame {
            width: 2,
            height: 2,
            format,
            planes,
            color_matrix: BT709_LIMITED,
            arrived: Instant::now(),
        };
        f.to_rgb(640).unwrap().2
    };
    let (y, u, v) = (63u8, 102u8, 240u8);
    let cases: Vec<(CameraFormat, Vec<Vec<u8>>, [f32; 3])> = vec![
        (Yvyu, vec![[y, v, y, u].repeat(2)], red),
        (Ayuv, vec![[v, u, y, 255].repeat(4)], red),
        (Bgr3, vec![[0, 0, 255].repeat(4)], red),
        (Y800, vec![vec![126; 4]], [128.0; 3]),
        (
            P010,
            vec![le(y, 8).repeat(4), [le(u, 8), le(v, 8)].concat().repeat(1)],
            red,
        ),
        (
            I010,
            vec![le(y, 2).repeat(4), le(u, 2).to_vec(), le(v, 2).to_vec()],
            red,
        ),
    ];
    for (format, planes, want) in cases {
        assert_close(format, &rgb_of(format, planes), want, "(0, 0)");
    }
}

/// The conversion pixel by pixel, as the table says (the plain formula the fast path must match).
fn reference_rgb(frame: &CameraFrame, f: usize) -> Vec<u8> {
    let layout = frame.format.layout();
    let pixel = |x: usize, y: usize| {
        let c = layout.components.map(|a| {
            let Some(a) = a else { return 128.0 / 255.0 };
            let l = layout.planes[a.plane];
            let p = &frame.planes[a.plane];
            let at = (y / l.row_px) * p.stride
                + (x / l.unit_px) * l.unit
                + a.offset
                + (x % l.unit_px) * a.per_px;
            let v = if layout.max == 255 {
                f32::from(p.data[at])
            } else {
                f32::from(u16::from_le_bytes([p.data[at], p.data[at + 1]]))
            };
            v / f32::from(layout.max)
        });
        if layout.rgb {
            c.map(|v| v * 255.0)
        } else {
            CameraFrame::apply(&frame.color_matrix, c)
        }
    };
    let (ow, oh) = (frame.width as usize / f, frame.height as usize / f);
    let mut out = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            let mut acc = [0.0f32; 3];
            for dy in 0..f {
                for dx in 0..f {
                    let rgb = pixel(ox * f + dx, oy * f + dy);
                    (0..3).for_each(|c| acc[c] += rgb[c]);
                }
            }
            out.extend(acc.map(|v| (v / (f * f) as f32).round().clamp(0.0, 255.0) as u8));
        }
    }
    out
}

#[test]
fn the_fast_conversion_matches_the_pixel_by_pixel_one_in_every_format() {
    // Noise in every format OBS hands over (any bytes are valid samples), odd sizes, strides
    // with padding, scaled down by 1, 2 and 3.
    let mut seed = 0x2545_f491_u32;
    let mut noise = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as u8
    };
    let (w, h) = (38usize, 22usize);
    for format in CameraFormat::ALL {
        let layout = format.layout();
        let planes = layout
            .planes
            .iter()
            .map(|l| {
                let stride = w.div_ceil(l.unit_px) * l.unit + 7;
                Plane {
                    data: (0..stride * h.div_ceil(l.row_px))
                        .map(|_| noise())
                        .collect(),
                    stride,
                }
            })
            .collect();
        let frame = bt709_frame(w, h, format, planes);
        for f in 1..=3 {
            let (ow, oh, rgb) = frame.to_rgb(w.div_ceil(f) as u32).unwrap();
            assert_eq!(
                (ow as usize, oh as usize),
                (w / f, h / f),
                "{format:?} / {f}"
            );
            let want = reference_rgb(&frame, f);
            let worst = rgb.iter().zip(&want).map(|(a, b)| a.abs_diff(*b)).max();
            assert!(worst <= Some(1), "{format:?} / {f}: off by {worst:?}");
        }
    }
}
