//! The pixel formats OBS hands over (libobs's `enum video_format`), each described once: its
//! planes and where each colour component sits, so that copying and converting need no code per
//! format. Planes of alpha are never read.

/// One of libobs's video formats (29.0: all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraFormat {
    /// Y, U and V planes, U and V at half size.
    I420,
    /// Y plane, then interleaved U/V at half size.
    Nv12,
    /// Packed Y0 V Y1 U.
    Yvyu,
    /// Packed Y0 U Y1 V.
    Yuy2,
    /// Packed U Y0 V Y1.
    Uyvy,
    Rgba,
    Bgra,
    /// BGRA with the alpha byte unused.
    Bgrx,
    /// Luma only.
    Y800,
    /// Y, U and V planes at full size.
    I444,
    /// Packed B G R.
    Bgr3,
    /// Y, U and V planes, U and V at half width.
    I422,
    /// I420 with an alpha plane.
    I40a,
    /// I422 with an alpha plane.
    I42a,
    /// I444 with an alpha plane.
    Yuva,
    /// Packed V U Y A (as libobs uploads it: a BGRA texture read as YUVA).
    Ayuv,
    /// I420 with 10 bits in the low bits of 16.
    I010,
    /// NV12 with 10 bits in the high bits of 16.
    P010,
    /// I422 with 10 bits in the low bits of 16.
    I210,
    /// I444 with 12 bits in the low bits of 16.
    I412,
    /// I412 with an alpha plane.
    Ya2l,
}

/// A plane: `unit` bytes hold `unit_px` neighbouring pixels of a row, and one row of the
/// plane serves `row_px` rows of pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlaneLayout {
    pub unit: usize,
    pub unit_px: usize,
    pub row_px: usize,
}

/// Where a component of pixel `x` sits: its plane, its byte offset in the unit that holds
/// `x`, plus `per_px` bytes for each pixel before `x` in that unit (packed 4:2:2 luma).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    pub plane: usize,
    pub offset: usize,
    pub per_px: usize,
}

/// The layout of a format: its planes, where Y, U and V (or R, G and B) sit (none: neutral
/// chroma), and the largest sample value (255 for bytes, else little-endian 16-bit samples).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub planes: &'static [PlaneLayout],
    pub components: [Option<At>; 3],
    pub rgb: bool,
    pub max: u16,
}

const fn pl(unit: usize, unit_px: usize, row_px: usize) -> PlaneLayout {
    PlaneLayout {
        unit,
        unit_px,
        row_px,
    }
}

const fn at(plane: usize, offset: usize, per_px: usize) -> Option<At> {
    Some(At {
        plane,
        offset,
        per_px,
    })
}

const PLANAR: [Option<At>; 3] = [at(0, 0, 0), at(1, 0, 0), at(2, 0, 0)];
const BGR: [Option<At>; 3] = [at(0, 2, 0), at(0, 1, 0), at(0, 0, 0)];
const P420: &[PlaneLayout] = &[pl(1, 1, 1), pl(1, 2, 2), pl(1, 2, 2)];
const P422: &[PlaneLayout] = &[pl(1, 1, 1), pl(1, 2, 1), pl(1, 2, 1)];
const P444: &[PlaneLayout] = &[pl(1, 1, 1), pl(1, 1, 1), pl(1, 1, 1)];
const PACKED_422: &[PlaneLayout] = &[pl(4, 2, 1)];
const PACKED_4: &[PlaneLayout] = &[pl(4, 1, 1)];
const PACKED_3: &[PlaneLayout] = &[pl(3, 1, 1)];
const LUMA: &[PlaneLayout] = &[pl(1, 1, 1)];
const SEMI_420: &[PlaneLayout] = &[pl(1, 1, 1), pl(2, 2, 2)];
const P420_16: &[PlaneLayout] = &[pl(2, 1, 1), pl(2, 2, 2), pl(2, 2, 2)];
const SEMI_420_16: &[PlaneLayout] = &[pl(2, 1, 1), pl(4, 2, 2)];
const P422_16: &[PlaneLayout] = &[pl(2, 1, 1), pl(2, 2, 1), pl(2, 2, 1)];
const P444_16: &[PlaneLayout] = &[pl(2, 1, 1), pl(2, 1, 1), pl(2, 1, 1)];

impl CameraFormat {
    pub(crate) fn layout(self) -> Layout {
        use CameraFormat::*;
        let yuv = |planes, components, max| Layout {
            planes,
            components,
            rgb: false,
            max,
        };
        let rgb = |planes, components| Layout {
            planes,
            components,
            rgb: true,
            max: 255,
        };
        match self {
            I420 | I40a => yuv(P420, PLANAR, 255),
            Nv12 => yuv(SEMI_420, [at(0, 0, 0), at(1, 0, 0), at(1, 1, 0)], 255),
            Yvyu => yuv(PACKED_422, [at(0, 0, 2), at(0, 3, 0), at(0, 1, 0)], 255),
            Yuy2 => yuv(PACKED_422, [at(0, 0, 2), at(0, 1, 0), at(0, 3, 0)], 255),
            Uyvy => yuv(PACKED_422, [at(0, 1, 2), at(0, 0, 0), at(0, 2, 0)], 255),
            Rgba => rgb(PACKED_4, [at(0, 0, 0), at(0, 1, 0), at(0, 2, 0)]),
            Bgra | Bgrx => rgb(PACKED_4, BGR),
            Bgr3 => rgb(PACKED_3, BGR),
            Y800 => yuv(LUMA, [at(0, 0, 0), None, None], 255),
            I444 | Yuva => yuv(P444, PLANAR, 255),
            I422 | I42a => yuv(P422, PLANAR, 255),
            Ayuv => yuv(PACKED_4, [at(0, 2, 0), at(0, 1, 0), at(0, 0, 0)], 255),
            I010 => yuv(P420_16, PLANAR, 1023),
            P010 => yuv(
                SEMI_420_16,
                [at(0, 0, 0), at(1, 0, 0), at(1, 2, 0)],
                u16::MAX,
            ),
            I210 => yuv(P422_16, PLANAR, 1023),
            I412 | Ya2l => yuv(P444_16, PLANAR, 4095),
        }
    }

    /// Every format, in libobs's order (`VIDEO_FORMAT_I420` = 1 ... `VIDEO_FORMAT_YA2L` = 21).
    pub const ALL: [CameraFormat; 21] = {
        use CameraFormat::*;
        [
            I420, Nv12, Yvyu, Yuy2, Uyvy, Rgba, Bgra, Bgrx, Y800, I444, Bgr3, I422, I40a, I42a,
            Yuva, Ayuv, I010, P010, I210, I412, Ya2l,
        ]
    };

    /// The format of libobs's `enum video_format` value `code`, or the name of one this plugin
    /// does not read (formats added after OBS 29, such as V210, P216 and P416 in OBS 30).
    pub fn from_obs(code: u32) -> Result<CameraFormat, String> {
        const LATER: [&str; 3] = ["V210", "P216", "P416"];
        match code {
            1..=21 => Ok(Self::ALL[code as usize - 1]),
            22..=24 => Err(LATER[code as usize - 22].into()),
            _ => Err(format!("unknown ({code})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obs_codes_map_in_libobs_order() {
        assert_eq!(CameraFormat::from_obs(1), Ok(CameraFormat::I420));
        assert_eq!(CameraFormat::from_obs(9), Ok(CameraFormat::Y800));
        assert_eq!(CameraFormat::from_obs(18), Ok(CameraFormat::P010));
        assert_eq!(CameraFormat::from_obs(21), Ok(CameraFormat::Ya2l));
        assert_eq!(CameraFormat::from_obs(22), Err("V210".into()));
        assert_eq!(CameraFormat::from_obs(0), Err("unknown (0)".into()));
    }

    #[test]
    fn every_component_lies_inside_its_unit() {
        for format in CameraFormat::ALL {
            let l = format.layout();
            for a in l.components.iter().flatten() {
                let p = l.planes[a.plane];
                let width = if l.max == 255 { 1 } else { 2 };
                assert!(
                    a.offset + a.per_px * (p.unit_px - 1) + width <= p.unit,
                    "{format:?}"
                );
            }
        }
    }
}
