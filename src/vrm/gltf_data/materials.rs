//! Materials: core glTF, KHR_texture_transform and friends, MToon 1.0 and VRM 0.x properties.

use serde::Deserialize;
use serde_json::Value;

use super::{AlphaMode, Material, MaterialKind, TextureRef, TextureTransform};
use crate::vrm::json_util::check;
use crate::vrm::{Result, VrmError, VrmModel};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonMaterial {
    name: Option<String>,
    pbr_metallic_roughness: JsonPbr,
    normal_texture: Option<Value>,
    emissive_texture: Option<Value>,
    emissive_factor: Option<[f32; 3]>,
    alpha_mode: Option<String>,
    alpha_cutoff: Option<f32>,
    double_sided: bool,
    extensions: serde_json::Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonPbr {
    base_color_factor: Option<[f32; 4]>,
    base_color_texture: Option<Value>,
    metallic_factor: Option<f32>,
    roughness_factor: Option<f32>,
    metallic_roughness_texture: Option<Value>,
}

/// The MToon 1.0 properties that hold textureInfo objects.
const MTOON_TEXTURES: &[&str] = &[
    "shadeMultiplyTexture",
    "shadingShiftTexture",
    "matcapTexture",
    "rimMultiplyTexture",
    "outlineWidthMultiplyTexture",
    "uvAnimationMaskTexture",
];

pub(super) fn read_material(i: usize, raw: &Value, texture_count: usize) -> Result<Material> {
    let m =
        JsonMaterial::deserialize(raw).map_err(|e| VrmError::Json(format!("material {i}: {e}")))?;
    let tex = |v: &Option<Value>, slot: &str| {
        v.as_ref()
            .map(|v| texture_ref(v, texture_count, &format!("material {i} {slot}")))
            .transpose()
    };
    let mtoon = m.extensions.get("VRMC_materials_mtoon").cloned();
    if let Some(mt) = &mtoon {
        for key in MTOON_TEXTURES {
            if let Some(t) = mt.get(*key) {
                texture_ref(t, texture_count, &format!("material {i} {key}"))?;
            }
        }
    }
    let kind = if mtoon.is_some() {
        MaterialKind::MToon
    } else if m.extensions.contains_key("KHR_materials_unlit") {
        MaterialKind::Unlit
    } else {
        MaterialKind::Pbr
    };
    let alpha_mode = match m.alpha_mode.as_deref() {
        None | Some("OPAQUE") => AlphaMode::Opaque,
        Some("MASK") => AlphaMode::Mask,
        Some("BLEND") => AlphaMode::Blend,
        Some(other) => {
            return Err(VrmError::Invalid(format!(
                "material {i}: unknown alphaMode {other:?}"
            )));
        }
    };
    let emissive_strength = m
        .extensions
        .get("KHR_materials_emissive_strength")
        .and_then(|e| e.get("emissiveStrength"))
        .and_then(Value::as_f64)
        .map_or(1.0, |v| v as f32);
    let normal_scale = m
        .normal_texture
        .as_ref()
        .and_then(|t| t.get("scale"))
        .and_then(Value::as_f64)
        .map_or(1.0, |v| v as f32);
    Ok(Material {
        name: m.name.clone().unwrap_or_default(),
        kind,
        base_color_factor: m
            .pbr_metallic_roughness
            .base_color_factor
            .unwrap_or([1.0; 4]),
        base_color_texture: tex(
            &m.pbr_metallic_roughness.base_color_texture,
            "baseColorTexture",
        )?,
        metallic_factor: m.pbr_metallic_roughness.metallic_factor.unwrap_or(1.0),
        roughness_factor: m.pbr_metallic_roughness.roughness_factor.unwrap_or(1.0),
        metallic_roughness_texture: tex(
            &m.pbr_metallic_roughness.metallic_roughness_texture,
            "metallicRoughnessTexture",
        )?,
        normal_texture: tex(&m.normal_texture, "normalTexture")?,
        normal_scale,
        emissive_factor: m.emissive_factor.unwrap_or([0.0; 3]),
        emissive_texture: tex(&m.emissive_texture, "emissiveTexture")?,
        emissive_strength,
        alpha_mode,
        alpha_cutoff: m.alpha_cutoff.unwrap_or(0.5),
        double_sided: m.double_sided,
        mtoon,
        vrm0_properties: None,
    })
}

/// A textureInfo object with its KHR_texture_transform.
fn texture_ref(v: &Value, texture_count: usize, what: &str) -> Result<TextureRef> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Info {
        index: usize,
        #[serde(default)]
        tex_coord: u32,
        #[serde(default)]
        extensions: Option<Ext>,
    }
    #[derive(Deserialize)]
    struct Ext {
        #[serde(rename = "KHR_texture_transform")]
        transform: Option<Transform>,
    }
    #[derive(Deserialize)]
    #[serde(default, rename_all = "camelCase")]
    struct Transform {
        offset: [f32; 2],
        rotation: f32,
        scale: [f32; 2],
        tex_coord: Option<u32>,
    }
    impl Default for Transform {
        fn default() -> Self {
            let d = TextureTransform::default();
            Self {
                offset: d.offset,
                rotation: d.rotation,
                scale: d.scale,
                tex_coord: d.tex_coord,
            }
        }
    }
    let info = Info::deserialize(v).map_err(|e| VrmError::Json(format!("{what}: {e}")))?;
    Ok(TextureRef {
        texture: check(info.index, texture_count, what)?,
        tex_coord: info.tex_coord,
        transform: info
            .extensions
            .and_then(|e| e.transform)
            .map(|t| TextureTransform {
                offset: t.offset,
                rotation: t.rotation,
                scale: t.scale,
                tex_coord: t.tex_coord,
            }),
    })
}

/// VRM 0.x: the shader named in `materialProperties[i]` decides the material kind, and the
/// property bag is kept for the renderer's MToon 0.x conversion.
pub(crate) fn apply_vrm0_materials(props: Option<&Value>, model: &mut VrmModel) -> Result<()> {
    let Some(list) = props.and_then(Value::as_array) else {
        return Ok(());
    };
    let texture_count = model.textures.len();
    for (i, (p, material)) in list.iter().zip(model.materials.iter_mut()).enumerate() {
        if let Some(textures) = p.get("textureProperties").and_then(Value::as_object) {
            for (name, t) in textures {
                let index = super::json_util::index_of(t).ok_or_else(|| {
                    VrmError::Json(format!(
                        "VRM materialProperties {i} textureProperties {name}: not an index"
                    ))
                })?;
                check(
                    index,
                    texture_count,
                    &format!("VRM materialProperties {i} textureProperties {name}"),
                )?;
            }
        }
        match p.get("shader").and_then(Value::as_str).unwrap_or_default() {
            "VRM/MToon" => material.kind = MaterialKind::MToon,
            "VRM/UnlitTexture"
            | "VRM/UnlitCutout"
            | "VRM/UnlitTransparent"
            | "VRM/UnlitTransparentZWrite"
            | "UniGLTF/UniUnlit" => material.kind = MaterialKind::Unlit,
            // VRM_USE_GLTFSHADER and legacy shaders: the glTF material says what it is.
            _ => {}
        }
        material.vrm0_properties = Some(p.clone());
    }
    Ok(())
}
