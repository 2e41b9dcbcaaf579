//! Images and samplers: PNG and JPEG decoded to RGBA8 within the limits, and sampler settings.

use std::borrow::Cow;
use std::io::Cursor;
use std::path::Path;

use gltf::json;
use gltf::json::validation::Checked;

use super::accessors::Data;
use super::buffers::{External, read_uri};
use super::{Filter, Image, Sampler, Wrap};
use crate::vrm::{Result, VrmError, limits};

pub(super) fn read_sampler(s: &json::texture::Sampler) -> Sampler {
    use json::texture::{MagFilter, MinFilter, WrappingMode};
    let wrap = |w: &Checked<WrappingMode>| match w {
        Checked::Valid(WrappingMode::ClampToEdge) => Wrap::ClampToEdge,
        Checked::Valid(WrappingMode::MirroredRepeat) => Wrap::MirroredRepeat,
        _ => Wrap::Repeat,
    };
    let mag_filter = match &s.mag_filter {
        Some(Checked::Valid(MagFilter::Nearest)) => Filter::Nearest,
        _ => Filter::Linear,
    };
    let (min_filter, mipmap_filter) = match &s.min_filter {
        Some(Checked::Valid(f)) => match f {
            MinFilter::Nearest => (Filter::Nearest, None),
            MinFilter::Linear => (Filter::Linear, None),
            MinFilter::NearestMipmapNearest => (Filter::Nearest, Some(Filter::Nearest)),
            MinFilter::LinearMipmapNearest => (Filter::Linear, Some(Filter::Nearest)),
            MinFilter::NearestMipmapLinear => (Filter::Nearest, Some(Filter::Linear)),
            MinFilter::LinearMipmapLinear => (Filter::Linear, Some(Filter::Linear)),
        },
        _ => (Filter::Linear, Some(Filter::Linear)),
    };
    Sampler {
        mag_filter,
        min_filter,
        mipmap_filter,
        wrap_s: wrap(&s.wrap_s),
        wrap_t: wrap(&s.wrap_t),
    }
}

/// Decodes every image; `total` (the geometry's GPU bytes) grows by each image's RGBA8 bytes
/// within the budget, checked from the header before decoding.
pub(super) fn read_images(
    root: &json::Root,
    buffers: &[Cow<[u8]>],
    base: Option<&Path>,
    total: &mut u64,
    external: &mut External,
) -> Result<Vec<Image>> {
    let data = Data {
        root,
        buffers,
        decoded: Default::default(),
        decode_limit: 0,
    };
    let mut images = Vec::with_capacity(root.images.len());
    for (i, img) in root.images.iter().enumerate() {
        let what = format!("image {i}");
        let (bytes, uri_mime): (Cow<[u8]>, Option<String>) = match (&img.buffer_view, &img.uri) {
            (Some(v), _) => (Cow::Borrowed(data.view(v.value(), &what)?.0), None),
            (None, Some(uri)) => {
                let (b, m) = read_uri(uri, base, &what, external)?;
                (Cow::Owned(b), m)
            }
            (None, None) => {
                return Err(VrmError::Invalid(format!(
                    "{what} has neither a bufferView nor a uri"
                )));
            }
        };
        let mime = img.mime_type.as_ref().map(|m| m.0.clone()).or(uri_mime);
        let (width, height, rgba8) =
            decode_image(&bytes, mime.as_deref(), &what, total, external.budget)?;
        images.push(Image {
            name: img.name.clone().unwrap_or_default(),
            width,
            height,
            rgba8,
        });
    }
    Ok(images)
}

/// Decodes PNG or JPEG to RGBA8 after checking the size in the header against the limits.
fn decode_image(
    bytes: &[u8],
    mime: Option<&str>,
    what: &str,
    total: &mut u64,
    budget: &crate::vrm::Budget,
) -> Result<(u32, u32, Vec<u8>)> {
    use image::{ImageFormat, ImageReader, Limits};
    let format = if bytes.starts_with(b"\x89PNG") {
        ImageFormat::Png
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        ImageFormat::Jpeg
    } else {
        return Err(VrmError::Unsupported(format!(
            "{what}: format {} (only PNG and JPEG are read)",
            mime.unwrap_or("unknown")
        )));
    };
    let bad = |e: image::ImageError| VrmError::Invalid(format!("{what}: cannot decode: {e}"));
    let (w, h) = header_size(bytes, format)
        .ok_or_else(|| VrmError::Invalid(format!("{what}: no image size in the header")))?;
    let max = limits::MAX_TEXTURE_SIZE;
    if w > max || h > max {
        return Err(VrmError::Limit(format!(
            "{what} is {w}x{h} (at most {max}x{max})"
        )));
    }
    let size = u64::from(w) * u64::from(h) * 4;
    crate::vrm::Budget::charge(total, size, budget.gpu_bytes, "textures and geometry")?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut lim = Limits::default();
    lim.max_image_width = Some(max);
    lim.max_image_height = Some(max);
    // 16-bit RGBA before conversion is the largest intermediate.
    lim.max_alloc = Some(size * 2 + (1 << 20));
    reader.limits(lim);
    let rgba = reader.decode().map_err(bad)?.into_rgba8();
    Ok((w, h, rgba.into_raw()))
}

/// Width and height from a PNG IHDR or a JPEG SOF marker, read without decoding anything.
fn header_size(bytes: &[u8], format: image::ImageFormat) -> Option<(u32, u32)> {
    let be16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as u32)
    };
    let be32 = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    if format == image::ImageFormat::Png {
        // Signature (8), chunk length (4), "IHDR", width, height.
        return (bytes.get(12..16) == Some(b"IHDR")).then(|| Some((be32(16)?, be32(20)?)))?;
    }
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        // Fill bytes and markers without a length.
        if marker == 0xFF {
            at += 1;
            continue;
        }
        if (0xD0..=0xD9).contains(&marker) || marker == 0x01 {
            at += 2;
            continue;
        }
        let len = be16(at + 2)? as usize;
        let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            // Length (2), precision (1), height (2), width (2).
            return Some((be16(at + 7)?, be16(at + 5)?));
        }
        at += 2 + len;
    }
    None
}
