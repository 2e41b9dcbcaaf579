//! Material parameters for the avatar shader: MToon 1.0 from `VRMC_materials_mtoon`, MToon 0.x
//! properties converted to 1.0 as three-vrm and UniVRM do, unlit, and a lit fallback for plain
//! glTF materials.

use crate::vrm::{AlphaMode, Material, MaterialKind, TextureRef};
use serde_json::Value;

/// The shader's `Material` uniform (see avatar.wgsl for the meaning of each field).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MaterialUniform {
    pub base_color: [f32; 4],
    pub shade_color: [f32; 4],
    pub emissive: [f32; 4],
    pub shading: [f32; 4],
    pub rim: [f32; 4],
    pub matcap: [f32; 4],
    pub outline_color: [f32; 4],
    pub outline: [f32; 4],
    pub anim: [f32; 4],
    pub uv_offset_scale: [f32; 4],
    pub uv_rotation: [f32; 4],
    /// x = normal texture scale (glTF `normalTexture.scale`), y = 1 with a normal texture (such
    /// materials draw with the normal-mapped pipeline; the shader does not read y).
    pub normal: [f32; 4],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutlineMode {
    None,
    World,
    Screen,
}

/// Textures of a material by role (indices into the model's textures).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MaterialTextures {
    pub base: Option<usize>,
    pub shade: Option<usize>,
    pub emissive: Option<usize>,
    pub matcap: Option<usize>,
    pub rim: Option<usize>,
    /// Tangent-space normal map (linear data, not sRGB); lit materials only.
    pub normal: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaterialParams {
    pub uniform: MaterialUniform,
    pub textures: MaterialTextures,
    pub alpha_mode: AlphaMode,
    pub double_sided: bool,
    pub outline: OutlineMode,
    /// Draw order among blended materials (MToon renderQueueOffsetNumber).
    pub render_queue_offset: i32,
    pub z_write: bool,
}

const KIND_MTOON: f32 = 0.0;
const KIND_UNLIT: f32 = 1.0;
const KIND_LIT: f32 = 2.0;

fn f(v: &Value, key: &str, default: f32) -> f32 {
    v.get(key)
        .and_then(Value::as_f64)
        .map(|x| x as f32)
        .filter(|x| x.is_finite())
        .unwrap_or(default)
}

fn vec3(v: &Value, key: &str, default: [f32; 3]) -> [f32; 3] {
    let mut out = default;
    if let Some(list) = v.get(key).and_then(Value::as_array) {
        for (o, x) in out.iter_mut().zip(list) {
            if let Some(x) = x.as_f64().filter(|x| x.is_finite()) {
                *o = x as f32;
            }
        }
    }
    out
}

fn texture_index(v: &Value, key: &str) -> Option<usize> {
    v.get(key)?.get("index")?.as_u64().map(|i| i as usize)
}

/// sRGB-encoded color component to linear, as three-vrm converts VRM 0.x colors (gamma 2.2).
fn to_linear(c: f32) -> f32 {
    c.max(0.0).powf(2.2)
}

impl MaterialParams {
    pub fn new(material: &Material) -> Self {
        let transform = material
            .base_color_texture
            .and_then(|t| t.transform)
            .unwrap_or_default();
        let texture = |t: Option<TextureRef>| t.map(|t| t.texture);
        let cutoff = if material.alpha_mode == AlphaMode::Mask {
            material.alpha_cutoff
        } else {
            -1.0
        };
        let emissive = material
            .emissive_factor
            .map(|c| c * material.emissive_strength);
        // Opaque and mask materials draw with alpha 1 (glTF ignores their alpha otherwise).
        let opaque = if material.alpha_mode == AlphaMode::Blend {
            0.0
        } else {
            1.0
        };
        let mut params = MaterialParams {
            uniform: MaterialUniform {
                base_color: material.base_color_factor,
                shade_color: [1.0, 1.0, 1.0, cutoff],
                emissive: [emissive[0], emissive[1], emissive[2], KIND_LIT],
                shading: [0.0, 0.9, 0.9, 1.0],
                rim: [0.0, 0.0, 0.0, 5.0],
                matcap: [1.0, 1.0, 1.0, 0.0],
                outline_color: [0.0, 0.0, 0.0, 1.0],
                outline: [0.0; 4],
                anim: [0.0, 0.0, opaque, 0.0],
                uv_offset_scale: [
                    transform.offset[0],
                    transform.offset[1],
                    transform.scale[0],
                    transform.scale[1],
                ],
                uv_rotation: [transform.rotation, 0.0, 0.0, 0.0],
                normal: [material.normal_scale, 0.0, 0.0, 0.0],
            },
            textures: MaterialTextures {
                base: texture(material.base_color_texture),
                emissive: texture(material.emissive_texture),
                normal: texture(material.normal_texture),
                ..Default::default()
            },
            alpha_mode: material.alpha_mode,
            double_sided: material.double_sided,
            outline: OutlineMode::None,
            render_queue_offset: 0,
            z_write: material.alpha_mode != AlphaMode::Blend,
        };
        match material.kind {
            MaterialKind::Unlit => {
                params.uniform.emissive[3] = KIND_UNLIT;
                // Unlit shading has no use for normals.
                params.textures.normal = None;
            }
            MaterialKind::Pbr => {}
            MaterialKind::MToon => {
                if let Some(mtoon) = &material.mtoon {
                    params.apply_mtoon1(mtoon);
                } else if let Some(props) = &material.vrm0_properties {
                    params.apply_mtoon0(props);
                } else {
                    params.uniform.emissive[3] = KIND_MTOON;
                }
            }
        }
        params.uniform.normal[1] = if params.textures.normal.is_some() {
            1.0
        } else {
            0.0
        };
        params
    }

    /// glTF's default material (primitives without one): white, lit, opaque, one-sided.
    pub fn fallback() -> Self {
        MaterialParams::new(&default_material())
    }

    fn apply_mtoon1(&mut self, m: &Value) {
        let u = &mut self.uniform;
        u.emissive[3] = KIND_MTOON;
        let shade = vec3(m, "shadeColorFactor", [1.0, 1.0, 1.0]);
        u.shade_color = [shade[0], shade[1], shade[2], u.shade_color[3]];
        u.shading = [
            f(m, "shadingShiftFactor", 0.0),
            f(m, "shadingToonyFactor", 0.9).clamp(0.0, 1.0),
            f(m, "giEqualizationFactor", 0.9).clamp(0.0, 1.0),
            f(m, "rimLightingMixFactor", 1.0).clamp(0.0, 1.0),
        ];
        let rim = vec3(m, "parametricRimColorFactor", [0.0; 3]);
        u.rim = [
            rim[0],
            rim[1],
            rim[2],
            f(m, "parametricRimFresnelPowerFactor", 5.0).max(0.0),
        ];
        let matcap = vec3(m, "matcapFactor", [1.0; 3]);
        u.matcap = [
            matcap[0],
            matcap[1],
            matcap[2],
            f(m, "parametricRimLiftFactor", 0.0),
        ];
        let outline = vec3(m, "outlineColorFactor", [0.0; 3]);
        u.outline_color = [
            outline[0],
            outline[1],
            outline[2],
            f(m, "outlineLightingMixFactor", 1.0).clamp(0.0, 1.0),
        ];
        self.outline = match m.get("outlineWidthMode").and_then(Value::as_str) {
            Some("worldCoordinates") => OutlineMode::World,
            Some("screenCoordinates") => OutlineMode::Screen,
            _ => OutlineMode::None,
        };
        let width = f(m, "outlineWidthFactor", 0.0).max(0.0);
        if width == 0.0 {
            self.outline = OutlineMode::None;
        }
        u.outline = [
            width,
            outline_mode_code(self.outline),
            f(m, "uvAnimationScrollXSpeedFactor", 0.0),
            f(m, "uvAnimationScrollYSpeedFactor", 0.0),
        ];
        self.textures.shade = texture_index(m, "shadeMultiplyTexture");
        self.textures.matcap = texture_index(m, "matcapTexture");
        self.textures.rim = texture_index(m, "rimMultiplyTexture");
        u.anim[0] = f(m, "uvAnimationRotationSpeedFactor", 0.0);
        u.anim[1] = if self.textures.matcap.is_some() {
            1.0
        } else {
            0.0
        };
        if self.alpha_mode == AlphaMode::Blend {
            self.z_write = m
                .get("transparentWithZWrite")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            self.render_queue_offset = f(m, "renderQueueOffsetNumber", 0.0).clamp(-9.0, 9.0) as i32;
        }
    }

    /// VRM 0.x `VRM/MToon` properties, converted to MToon 1.0 (reference §1.7.4).
    fn apply_mtoon0(&mut self, p: &Value) {
        let floats = p.get("floatProperties").unwrap_or(&Value::Null);
        let vectors = p.get("vectorProperties").unwrap_or(&Value::Null);
        let textures = p.get("textureProperties").unwrap_or(&Value::Null);
        let color = |key: &str, default: [f32; 3]| {
            let c = vec3(vectors, key, default);
            c.map(to_linear)
        };
        let tex = |key: &str| {
            textures
                .get(key)
                .and_then(Value::as_u64)
                .map(|i| i as usize)
        };
        let u = &mut self.uniform;
        u.emissive[3] = KIND_MTOON;
        let (toony, shift) =
            mtoon0_shading(f(floats, "_ShadeToony", 0.9), f(floats, "_ShadeShift", 0.0));
        let shade = color("_ShadeColor", [0.97, 0.81, 0.86]);
        u.shade_color = [shade[0], shade[1], shade[2], u.shade_color[3]];
        u.shading = [
            shift,
            toony,
            (1.0 - f(floats, "_IndirectLightIntensity", 0.1)).clamp(0.0, 1.0),
            f(floats, "_RimLightingMix", 0.0).clamp(0.0, 1.0),
        ];
        let rim = color("_RimColor", [0.0; 3]);
        u.rim = [
            rim[0],
            rim[1],
            rim[2],
            f(floats, "_RimFresnelPower", 1.0).max(0.0),
        ];
        u.matcap = [1.0, 1.0, 1.0, f(floats, "_RimLift", 0.0)];
        let outline = color("_OutlineColor", [0.0; 3]);
        let lighting_mix = if f(floats, "_OutlineColorMode", 0.0) == 1.0 {
            f(floats, "_OutlineLightingMix", 1.0)
        } else {
            0.0
        };
        u.outline_color = [outline[0], outline[1], outline[2], lighting_mix];
        let width_cm = f(floats, "_OutlineWidth", 0.0).max(0.0);
        self.outline = match f(floats, "_OutlineWidthMode", 0.0) as i32 {
            1 if width_cm > 0.0 => OutlineMode::World,
            2 if width_cm > 0.0 => OutlineMode::Screen,
            _ => OutlineMode::None,
        };
        // World: centimeters to meters. Screen: percent of half the screen height (UniVRM).
        let width = match self.outline {
            OutlineMode::Screen => width_cm * 0.01 * 0.5,
            _ => width_cm * 0.01,
        };
        u.outline = [
            width,
            outline_mode_code(self.outline),
            f(floats, "_UvAnimScrollX", 0.0),
            -f(floats, "_UvAnimScrollY", 0.0),
        ];
        let emission = vec3(vectors, "_EmissionColor", [0.0; 3]);
        u.emissive = [emission[0], emission[1], emission[2], KIND_MTOON];
        self.textures.shade = tex("_ShadeTexture").or(self.textures.base);
        self.textures.matcap = tex("_SphereAdd");
        self.textures.rim = tex("_RimTexture");
        self.textures.emissive = tex("_EmissionMap").or(self.textures.emissive);
        // `_BumpMap` / `_BumpScale` are MToon 0.x's normal map (three-vrm's v0 compat reads them).
        if let Some(bump) = tex("_BumpMap") {
            self.textures.normal = Some(bump);
            u.normal[0] = f(floats, "_BumpScale", 1.0);
        }
        u.anim[0] = f(floats, "_UvAnimRotation", 0.0);
        u.anim[1] = if self.textures.matcap.is_some() {
            1.0
        } else {
            0.0
        };
    }
}

/// glTF's default material.
fn default_material() -> Material {
    Material {
        name: String::new(),
        kind: MaterialKind::Pbr,
        base_color_factor: [1.0; 4],
        base_color_texture: None,
        metallic_factor: 1.0,
        roughness_factor: 1.0,
        metallic_roughness_texture: None,
        normal_texture: None,
        normal_scale: 1.0,
        emissive_factor: [0.0; 3],
        emissive_texture: None,
        emissive_strength: 1.0,
        alpha_mode: AlphaMode::Opaque,
        alpha_cutoff: 0.5,
        double_sided: false,
        mtoon: None,
        vrm0_properties: None,
    }
}

fn outline_mode_code(mode: OutlineMode) -> f32 {
    match mode {
        OutlineMode::None => 0.0,
        OutlineMode::World => 1.0,
        OutlineMode::Screen => 2.0,
    }
}

/// MToon 0.x shade toony/shift to 1.0 (UniVRM's MToon10Migrator; three-vrm agrees).
pub fn mtoon0_shading(toony0: f32, shift0: f32) -> (f32, f32) {
    let range_min = shift0;
    let range_max = range_min + (1.0 - range_min) * (1.0 - toony0);
    let toony1 = ((2.0 - (range_max - range_min)) * 0.5).clamp(0.0, 1.0);
    let shift1 = (-(range_max + range_min) * 0.5).clamp(-1.0, 1.0);
    (toony1, shift1)
}

/// What a texture holds, which decides its GPU format and how its mip levels are filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TextureSpace {
    /// sRGB-encoded color (every color texture of glTF and MToon): sampled through an sRGB
    /// format, mip levels averaged in linear light.
    Srgb,
    /// A tangent-space normal map (linear data): vectors averaged, then renormalized.
    Normal,
}

/// Mip levels of a full chain down to 1x1 (WebGPU sizes: level k is `max(1, size >> k)`).
pub fn mip_level_count(width: u32, height: u32) -> u32 {
    32 - width.max(height).max(1).leading_zeros()
}

/// Mip levels 1, 2, ... down to 1x1 of a straight-alpha RGBA8 image `width` x `height` (level
/// 0 is the image itself), each tightly packed. Each level is box filtered from the one before:
/// a 2x2 average for even sizes, an area-weighted 3-texel footprint along an odd one, so every
/// source texel counts equally. Color and alpha are averaged straight (not alpha weighted), as
/// GPU mipmap generation (glGenerateMipmap, which three.js uses) does.
pub fn mip_levels(width: u32, height: u32, rgba: &[u8], space: TextureSpace) -> Vec<Vec<u8>> {
    let mut levels: Vec<Vec<u8>> = Vec::new();
    let (mut w, mut h) = (width, height);
    for _ in 1..mip_level_count(width, height) {
        let above = levels.last().map_or(rgba, Vec::as_slice);
        let level = downsample(above, w, h, space);
        w = (w / 2).max(1);
        h = (h / 2).max(1);
        levels.push(level);
    }
    levels
}

/// Source texels (first index, up to three weights summing to 1) of each texel of an axis of
/// `src` texels shrunk to `dst`: the overlap of the destination texel's footprint with each.
fn taps(src: u32, dst: u32) -> Vec<(usize, [f32; 3])> {
    let ratio = src as f64 / dst as f64;
    // Exact at the ends: the last footprint ends at `src`, never past it.
    let edge = |i: u32| (i as u64 * src as u64) as f64 / dst as f64;
    (0..dst)
        .map(|i| {
            let (lo, hi) = (edge(i), edge(i + 1));
            let first = lo.floor() as usize;
            let mut weights = [0f32; 3];
            for (k, w) in weights.iter_mut().enumerate() {
                let j = first + k;
                if j >= src as usize {
                    break;
                }
                let j = j as f64;
                let overlap = (hi.min(j + 1.0) - lo.max(j)).max(0.0);
                *w = (overlap / ratio) as f32;
            }
            (first, weights)
        })
        .collect()
}

/// One mip level from the level above (`w` x `h`), half the size (at least 1) on each axis.
fn downsample(src: &[u8], w: u32, h: u32, space: TextureSpace) -> Vec<u8> {
    let unorm = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
    match space {
        TextureSpace::Srgb => {
            let decode = srgb_to_linear_table();
            let encoder = srgb_encoder();
            box_filter(
                src,
                w,
                h,
                |b| decode[b as usize],
                |acc, out| {
                    out.extend([
                        encoder.encode(acc[0]),
                        encoder.encode(acc[1]),
                        encoder.encode(acc[2]),
                        unorm(acc[3]),
                    ])
                },
            )
        }
        TextureSpace::Normal => box_filter(
            src,
            w,
            h,
            |b| b as f32 * (2.0 / 255.0) - 1.0,
            |acc, out| {
                let n = glam::Vec3::new(acc[0], acc[1], acc[2]).normalize_or(glam::Vec3::Z);
                out.extend([
                    unorm(n.x * 0.5 + 0.5),
                    unorm(n.y * 0.5 + 0.5),
                    unorm(n.z * 0.5 + 0.5),
                    unorm(acc[3]),
                ])
            },
        ),
    }
}

/// Weighted sums over each destination texel's footprint: color channels through `decode`,
/// alpha as a plain fraction; `encode` appends the texel.
#[inline(always)]
fn box_filter(
    src: &[u8],
    w: u32,
    h: u32,
    decode: impl Fn(u8) -> f32,
    mut encode: impl FnMut([f32; 4], &mut Vec<u8>),
) -> Vec<u8> {
    let (dw, dh) = ((w / 2).max(1), (h / 2).max(1));
    let mut out = Vec::with_capacity(dw as usize * dh as usize * 4);
    let row_bytes = w as usize * 4;
    if w.is_multiple_of(2) && h.is_multiple_of(2) {
        // Even sizes (every level of a power-of-two texture but the 1-texel-wide tail): 2x2.
        for rows in src.chunks_exact(row_bytes * 2) {
            let (top, bottom) = rows.split_at(row_bytes);
            for (a, b) in top.chunks_exact(8).zip(bottom.chunks_exact(8)) {
                let mut acc = [0f32; 4];
                for c in 0..3 {
                    acc[c] =
                        0.25 * (decode(a[c]) + decode(a[c + 4]) + decode(b[c]) + decode(b[c + 4]));
                }
                acc[3] =
                    (a[3] as u32 + a[7] as u32 + b[3] as u32 + b[7] as u32) as f32 * (0.25 / 255.0);
                encode(acc, &mut out);
            }
        }
        return out;
    }
    let (xs, ys) = (taps(w, dw), taps(h, dh));
    for &(y0, wy) in &ys {
        for &(x0, wx) in &xs {
            let mut acc = [0f32; 4];
            for (ky, &fy) in wy.iter().enumerate().filter(|(_, f)| **f != 0.0) {
                let row = &src[(y0 + ky) * row_bytes..][..row_bytes];
                for (kx, &fx) in wx.iter().enumerate().filter(|(_, f)| **f != 0.0) {
                    let weight = fy * fx;
                    let p = &row[(x0 + kx) * 4..][..4];
                    acc[0] += weight * decode(p[0]);
                    acc[1] += weight * decode(p[1]);
                    acc[2] += weight * decode(p[2]);
                    acc[3] += weight * (p[3] as f32 * (1.0 / 255.0));
                }
            }
            encode(acc, &mut out);
        }
    }
    out
}

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear value of every sRGB-encoded byte.
fn srgb_to_linear_table() -> &'static [f32; 256] {
    static TABLE: std::sync::OnceLock<[f32; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|i| srgb_to_linear(i as f32 / 255.0)))
}

/// Linear to sRGB bytes, rounded in encoded terms: the byte is the number of byte midpoints
/// (decoded) below the value. A table of 4096 linear buckets gives the count at each bucket's
/// start; at most a step or two remain.
struct SrgbEncoder {
    midpoints: [f32; 255],
    bucket_start: [u8; 4096],
}

impl SrgbEncoder {
    fn encode(&self, v: f32) -> u8 {
        let bucket = (v.clamp(0.0, 1.0) * 4095.0) as usize;
        let mut b = self.bucket_start[bucket] as usize;
        while b < 255 && self.midpoints[b] < v {
            b += 1;
        }
        b as u8
    }
}

fn srgb_encoder() -> &'static SrgbEncoder {
    static ENCODER: std::sync::OnceLock<SrgbEncoder> = std::sync::OnceLock::new();
    ENCODER.get_or_init(|| {
        let midpoints = std::array::from_fn(|i| srgb_to_linear((i as f32 + 0.5) / 255.0));
        let bucket_start = std::array::from_fn(|i| {
            let v = i as f32 / 4095.0;
            midpoints.partition_point(|&m| m < v) as u8
        });
        SrgbEncoder {
            midpoints,
            bucket_start,
        }
    })
}

/// The sRGB byte nearest to linear `v` (in encoded terms).
#[cfg(test)]
fn linear_to_srgb8(v: f32) -> u8 {
    srgb_encoder().encode(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtoon0_default_shading_converts_as_the_reference_says() {
        // Default 0.x (toony 0.9, shift 0) becomes (0.95, -0.05).
        let (toony, shift) = mtoon0_shading(0.9, 0.0);
        assert!(
            (toony - 0.95).abs() < 1e-6 && (shift + 0.05).abs() < 1e-6,
            "{toony} {shift}"
        );
        // Fully toony stays fully toony at any shift inside the range.
        assert_eq!(mtoon0_shading(1.0, 0.2).0, 1.0);
    }

    fn material(kind: MaterialKind) -> Material {
        Material {
            kind,
            base_color_factor: [1.0, 0.5, 0.25, 1.0],
            ..default_material()
        }
    }

    #[test]
    fn mtoon1_fields_reach_the_uniform() {
        let mut m = material(MaterialKind::MToon);
        m.alpha_mode = AlphaMode::Blend;
        m.mtoon = Some(serde_json::json!({
            "specVersion": "1.0", "shadeColorFactor": [0.2, 0.3, 0.4], "shadingToonyFactor": 0.5,
            "outlineWidthMode": "worldCoordinates", "outlineWidthFactor": 0.002,
            "outlineColorFactor": [0.1, 0.0, 0.0], "matcapTexture": {"index": 3},
            "transparentWithZWrite": true, "renderQueueOffsetNumber": 4,
            "uvAnimationScrollXSpeedFactor": 0.25
        }));
        let p = MaterialParams::new(&m);
        assert_eq!(p.uniform.shade_color[..3], [0.2, 0.3, 0.4]);
        assert_eq!(p.uniform.shading[1], 0.5);
        assert_eq!(p.outline, OutlineMode::World);
        assert_eq!(p.uniform.outline[..3], [0.002, 1.0, 0.25]);
        assert_eq!(p.textures.matcap, Some(3));
        assert_eq!(p.uniform.anim[1], 1.0);
        assert!(p.z_write);
        assert_eq!(p.render_queue_offset, 4);
    }

    #[test]
    fn mtoon0_colors_are_linearized_and_outline_is_converted() {
        let mut m = material(MaterialKind::MToon);
        m.vrm0_properties = Some(serde_json::json!({
            "shader": "VRM/MToon",
            "floatProperties": {"_OutlineWidthMode": 1, "_OutlineWidth": 0.3, "_OutlineColorMode": 0},
            "vectorProperties": {"_ShadeColor": [0.5, 0.5, 0.5, 1]},
            "textureProperties": {"_MainTex": 0}
        }));
        m.base_color_texture = Some(TextureRef {
            texture: 0,
            tex_coord: 0,
            transform: None,
        });
        let p = MaterialParams::new(&m);
        assert!((p.uniform.shade_color[0] - 0.5f32.powf(2.2)).abs() < 1e-6);
        assert_eq!(p.outline, OutlineMode::World);
        assert!((p.uniform.outline[0] - 0.003).abs() < 1e-7);
        assert_eq!(p.uniform.outline_color[3], 0.0, "fixed outline color");
        // No shade texture: the lit texture stands in (UniVRM's migration).
        assert_eq!(p.textures.shade, Some(0));
    }

    #[test]
    fn normal_textures_reach_lit_materials_only() {
        let mut m = material(MaterialKind::Pbr);
        m.normal_texture = Some(TextureRef {
            texture: 2,
            tex_coord: 0,
            transform: None,
        });
        m.normal_scale = 0.5;
        let p = MaterialParams::new(&m);
        assert_eq!(p.textures.normal, Some(2));
        assert_eq!(p.uniform.normal[..2], [0.5, 1.0]);
        m.kind = MaterialKind::Unlit;
        let p = MaterialParams::new(&m);
        assert_eq!((p.textures.normal, p.uniform.normal[1]), (None, 0.0));
        // No normal texture: the flag is off.
        assert_eq!(MaterialParams::fallback().uniform.normal[1], 0.0);
        // MToon 0.x: `_BumpMap` and `_BumpScale`.
        let mut m = material(MaterialKind::MToon);
        m.vrm0_properties = Some(serde_json::json!({
            "shader": "VRM/MToon",
            "floatProperties": {"_BumpScale": 0.25},
            "textureProperties": {"_BumpMap": 1}
        }));
        let p = MaterialParams::new(&m);
        assert_eq!(p.textures.normal, Some(1));
        assert_eq!(p.uniform.normal[..2], [0.25, 1.0]);
    }

    /// Level 0 (the image) and every smaller one, concatenated as the GPU stores them.
    fn mip_chain(width: u32, height: u32, rgba: &[u8], space: TextureSpace) -> (u32, Vec<u8>) {
        let levels = mip_levels(width, height, rgba, space);
        let mut chain = rgba.to_vec();
        for level in &levels {
            chain.extend_from_slice(level);
        }
        (levels.len() as u32 + 1, chain)
    }

    fn level(chain: &[u8], width: u32, height: u32, k: u32) -> &[u8] {
        let start: usize = (0..k)
            .map(|j| ((width >> j).max(1) * (height >> j).max(1) * 4) as usize)
            .sum();
        let len = ((width >> k).max(1) * (height >> k).max(1) * 4) as usize;
        &chain[start..start + len]
    }

    #[test]
    fn mip_chains_go_down_to_one_texel() {
        assert_eq!(mip_level_count(1, 1), 1);
        assert_eq!(mip_level_count(2, 1), 2);
        assert_eq!(mip_level_count(256, 64), 9);
        assert_eq!(mip_level_count(1024, 1024), 11);
        assert_eq!(mip_level_count(5, 3), 3);
        for (w, h) in [(256, 64), (5, 3), (1, 7), (1000, 600)] {
            let image = vec![200u8; (w * h * 4) as usize];
            let (levels, chain) = mip_chain(w, h, &image, TextureSpace::Srgb);
            assert_eq!(levels, mip_level_count(w, h));
            let expected: u32 = (0..levels)
                .map(|k| (w >> k).max(1) * (h >> k).max(1) * 4)
                .sum();
            assert_eq!(chain.len() as u32, expected, "{w}x{h}");
            assert_eq!(&chain[..image.len()], &image[..], "level 0 is the image");
            // A constant image stays constant all the way down.
            assert!(chain.iter().all(|&c| c == 200), "{w}x{h}");
        }
    }

    #[test]
    fn srgb_levels_average_in_linear_light() {
        // 2x2: red channel black, white, black, white; alpha 0, 255, 255, 255.
        #[rustfmt::skip]
        let image = [
            0, 10, 0, 0,      255, 10, 0, 255,
            0, 10, 0, 255,    255, 10, 0, 255,
        ];
        let (levels, chain) = mip_chain(2, 2, &image, TextureSpace::Srgb);
        assert_eq!(levels, 2);
        // Half of linear white is sRGB 0.7354 (188), not 128; a constant stays; alpha is linear.
        assert_eq!(level(&chain, 2, 2, 1), &[188, 10, 0, 191]);
        // Odd width: a 3x1 row shrinks to one texel weighing each source texel a third.
        let (_, chain) = mip_chain(
            3,
            1,
            &[0, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0],
            TextureSpace::Srgb,
        );
        let two_thirds = (srgb_to_linear_table()[255] * 2.0) / 3.0;
        assert_eq!(level(&chain, 3, 1, 1)[0], linear_to_srgb8(two_thirds));
        assert_eq!(linear_to_srgb8(two_thirds), 213);
        // 4x4 of 2x2 blocks: level 1 is each block's average, level 2 the average of those.
        let mut image = vec![0u8; 64];
        for y in 0..4 {
            for x in 0..4 {
                let v = if (x + y) % 2 == 0 { 255 } else { 0 };
                image[(y * 4 + x) * 4..][..4].copy_from_slice(&[v, 255 - v, 128, 255]);
            }
        }
        let (levels, chain) = mip_chain(4, 4, &image, TextureSpace::Srgb);
        assert_eq!(levels, 3);
        for k in [1, 2] {
            for p in level(&chain, 4, 4, k).chunks(4) {
                assert_eq!(p, [188, 188, 128, 255], "level {k}");
            }
        }
        // The bucketed encoder agrees with a plain search over the byte midpoints.
        let e = srgb_encoder();
        for i in 0..=100_000 {
            let v = i as f32 / 100_000.0;
            assert_eq!(
                e.encode(v),
                e.midpoints.partition_point(|&m| m < v) as u8,
                "{v}"
            );
        }
        // Round trips: every byte encodes back to itself.
        for b in 0..=255u8 {
            assert_eq!(linear_to_srgb8(srgb_to_linear_table()[b as usize]), b);
        }
    }

    #[test]
    fn normal_map_levels_average_vectors_and_renormalize() {
        // Two normals tilted +-X by the same angle average to straight up (128, 128, 255).
        let enc = |v: f32| ((v * 0.5 + 0.5) * 255.0).round() as u8;
        let (x, z) = (enc(0.6), enc(0.8));
        let image = [x, 128, z, 255, 255 - x, 128, z, 255];
        let (_, chain) = mip_chain(2, 1, &image, TextureSpace::Normal);
        assert_eq!(level(&chain, 2, 1, 1), &[128, 128, 255, 255]);
        // A flat normal map stays flat.
        let flat = [128, 128, 255, 255].repeat(16);
        let (_, chain) = mip_chain(4, 4, &flat, TextureSpace::Normal);
        assert!(chain.chunks(4).all(|p| p == [128, 128, 255, 255]));
    }

    #[test]
    fn unlit_and_plain_materials_pick_their_shading() {
        assert_eq!(
            MaterialParams::new(&material(MaterialKind::Unlit))
                .uniform
                .emissive[3],
            KIND_UNLIT
        );
        let mut mask = material(MaterialKind::Pbr);
        mask.alpha_mode = AlphaMode::Mask;
        let p = MaterialParams::new(&mask);
        assert_eq!(p.uniform.emissive[3], KIND_LIT);
        assert_eq!(p.uniform.shade_color[3], 0.5, "alpha cutoff");
        assert_eq!(
            MaterialParams::new(&material(MaterialKind::Pbr))
                .uniform
                .shade_color[3],
            -1.0
        );
    }
}
