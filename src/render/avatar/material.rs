//! Material parameters for the avatar shader: MToon 1.0 from `VRMC_materials_mtoon`, MToon 0.x
//! properties converted to 1.0 as three-vrm and UniVRM do, unlit, and a lit fallback for plain
//! glTF materials.

use crate::vrm::expressions::MaterialColorType;
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

/// Where a material's shade color comes from (avatar.wgsl's `SHADE_SOURCE`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum ShadeSource {
    White = 0,
    OwnTexture = 1,
    /// The shade texture is the base color's image (VRoid's usual MToon 0.x): one sample less.
    BaseTexel = 2,
}

/// What a material's fragment shader reads and tests, fixed per pipeline through avatar.wgsl's
/// override constants. On a CPU rasterizer each texture sample costs on every pixel, a white
/// placeholder's as much as a real one's, and a shader that may discard loses early depth tests.
/// Leaving out what cannot change the picture draws the same pixels for less.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) struct Shading {
    pub(super) base_texture: bool,
    pub(super) shade: ShadeSource,
    pub(super) emissive_texture: bool,
    pub(super) matcap_texture: bool,
    pub(super) rim_texture: bool,
    pub(super) rim_light: bool,
    pub(super) alpha_test: bool,
}

impl Shading {
    /// Everything read and tested: the shader's defaults.
    #[cfg(test)]
    pub(super) const ALL: Shading = Shading {
        base_texture: true,
        shade: ShadeSource::OwnTexture,
        emissive_texture: true,
        matcap_texture: true,
        rim_texture: true,
        rim_light: true,
        alpha_test: true,
    };

    /// What `params` needs. `image` resolves a texture to its image (`None`: drawn white);
    /// `bound` says whether an expression moves that color of this material.
    pub(super) fn of(
        params: &MaterialParams,
        image: impl Fn(Option<usize>) -> Option<usize>,
        bound: impl Fn(MaterialColorType) -> bool,
    ) -> Shading {
        let u = &params.uniform;
        let t = &params.textures;
        let mtoon = u.emissive[3] == KIND_MTOON;
        let lit = u.emissive[3] == KIND_LIT;
        let color = |c: [f32; 4]| c[..3].iter().any(|&v| v != 0.0);
        let shade = match image(t.shade) {
            Some(_) if !mtoon => ShadeSource::White,
            None => ShadeSource::White,
            shade if shade == image(t.base) => ShadeSource::BaseTexel,
            Some(_) => ShadeSource::OwnTexture,
        };
        // A term that is zero whatever the texture holds needs no sample.
        let emissive_texture = (mtoon || lit)
            && image(t.emissive).is_some()
            && (color(u.emissive) || bound(MaterialColorType::EmissionColor));
        let matcap_texture = mtoon && image(t.matcap).is_some();
        let rim_light =
            mtoon && (matcap_texture || color(u.rim) || bound(MaterialColorType::RimColor));
        Shading {
            base_texture: image(t.base).is_some(),
            shade,
            emissive_texture,
            matcap_texture,
            rim_texture: rim_light && image(t.rim).is_some(),
            rim_light,
            alpha_test: u.shade_color[3] >= 0.0,
        }
    }

    pub(super) fn constants(&self) -> [(&'static str, f64); 7] {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        [
            ("BASE_TEXTURE", flag(self.base_texture)),
            ("SHADE_SOURCE", self.shade as u32 as f64),
            ("EMISSIVE_TEXTURE", flag(self.emissive_texture)),
            ("MATCAP_TEXTURE", flag(self.matcap_texture)),
            ("RIM_TEXTURE", flag(self.rim_texture)),
            ("RIM_LIGHT", flag(self.rim_light)),
            ("ALPHA_TEST", flag(self.alpha_test)),
        ]
    }
}

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
            },
            textures: MaterialTextures {
                base: texture(material.base_color_texture),
                emissive: texture(material.emissive_texture),
                ..Default::default()
            },
            alpha_mode: material.alpha_mode,
            double_sided: material.double_sided,
            outline: OutlineMode::None,
            render_queue_offset: 0,
            z_write: material.alpha_mode != AlphaMode::Blend,
        };
        match material.kind {
            MaterialKind::Unlit => params.uniform.emissive[3] = KIND_UNLIT,
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
