//! The toon palette: one MToon 1.0 material per part, flat colors (no textures).

use serde_json::{Value, json};

use super::glb::num;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Material {
    Skin,
    Hair,
    Shirt,
    Trim,
    Pants,
    Shoes,
    EyeWhite,
    Iris,
    FaceLine,
    Mouth,
}

/// Outline width (meters, world coordinates) of the outlined materials.
pub const OUTLINE_WIDTH: f64 = 0.0025;

struct Look {
    name: &'static str,
    /// sRGB 0..255: lit color, shade color (a little darker and shifted in hue).
    base: [u8; 3],
    shade: [u8; 3],
    outline: bool,
}

impl Material {
    /// Every material in glTF index order.
    pub const ALL: [Material; 10] = [
        Material::Skin,
        Material::Hair,
        Material::Shirt,
        Material::Trim,
        Material::Pants,
        Material::Shoes,
        Material::EyeWhite,
        Material::Iris,
        Material::FaceLine,
        Material::Mouth,
    ];

    pub fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|&m| m == self)
            .expect("ALL lists every material")
    }

    fn look(self) -> Look {
        let look = |name, base, shade, outline| Look {
            name,
            base,
            shade,
            outline,
        };
        match self {
            Material::Skin => look("Skin", [255, 226, 210], [236, 168, 162], true),
            Material::Hair => look("Hair", [126, 82, 66], [84, 48, 60], true),
            Material::Shirt => look("Shirt", [246, 246, 250], [184, 188, 220], true),
            Material::Trim => look("Trim", [74, 118, 200], [46, 66, 146], true),
            Material::Pants => look("Pants", [58, 66, 98], [36, 36, 70], true),
            Material::Shoes => look("Shoes", [150, 62, 58], [96, 34, 52], true),
            Material::EyeWhite => look("EyeWhite", [252, 252, 252], [228, 226, 240], false),
            Material::Iris => look("Iris", [70, 124, 176], [44, 78, 132], false),
            Material::FaceLine => look("FaceLine", [58, 38, 40], [44, 26, 36], false),
            Material::Mouth => look("Mouth", [176, 66, 76], [134, 44, 66], false),
        }
    }

    /// The glTF material with its `VRMC_materials_mtoon` extension.
    pub fn json(self) -> Value {
        let look = self.look();
        let base = look.base.map(srgb_to_linear);
        let shade = look.shade.map(srgb_to_linear);
        let outline = shade.map(|c| c * 0.45);
        let mut mtoon = json!({
            "specVersion": "1.0",
            "shadeColorFactor": shade.map(num),
            "shadingToonyFactor": num(0.9),
            "shadingShiftFactor": num(-0.05),
            "giEqualizationFactor": num(0.9),
            "parametricRimColorFactor": [0, 0, 0],
            "rimLightingMixFactor": num(1.0),
            "matcapFactor": [0, 0, 0],
            "transparentWithZWrite": false,
            "renderQueueOffsetNumber": 0,
        });
        if look.outline {
            mtoon["outlineWidthMode"] = json!("worldCoordinates");
            mtoon["outlineWidthFactor"] = num(OUTLINE_WIDTH);
            mtoon["outlineColorFactor"] = json!(outline.map(num));
            mtoon["outlineLightingMixFactor"] = num(1.0);
        } else {
            mtoon["outlineWidthMode"] = json!("none");
        }
        json!({
            "name": look.name,
            "pbrMetallicRoughness": {
                "baseColorFactor": [num(base[0]), num(base[1]), num(base[2]), 1],
                "metallicFactor": 0,
                "roughnessFactor": 1,
            },
            "alphaMode": "OPAQUE",
            "doubleSided": self == Material::Hair,
            "extensions": { "VRMC_materials_mtoon": mtoon },
        })
    }
}

fn srgb_to_linear(c: u8) -> f64 {
    let c = f64::from(c) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}
