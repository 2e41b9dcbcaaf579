//! Expressions (VRM 1.0 `expressions`, VRM 0.x `blendShapeMaster`) and the spec's weight rules:
//! clamping, isBinary, and the blink / lookAt / mouth overrides.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::json_util::{check, lenient_index, section};
use super::{Result, VrmError, VrmModel, limits};

/// Input weights by expression name (VRM 1.0 preset names or custom names), as in AvatarPose.
pub type ExpressionWeights = BTreeMap<String, f32>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideType {
    None,
    /// Overridden expressions go to 0 while this one is above 0.
    Block,
    /// Overridden expressions are scaled by 1 - this weight.
    Blend,
}

/// The preset groups that overrides act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideGroup {
    Blink,
    LookAt,
    Mouth,
}

impl OverrideGroup {
    /// The group a preset name belongs to (custom expressions belong to none).
    pub fn of(name: &str) -> Option<OverrideGroup> {
        match name {
            "blink" | "blinkLeft" | "blinkRight" => Some(OverrideGroup::Blink),
            "lookUp" | "lookDown" | "lookLeft" | "lookRight" => Some(OverrideGroup::LookAt),
            "aa" | "ih" | "ou" | "ee" | "oh" => Some(OverrideGroup::Mouth),
            _ => None,
        }
    }
}

/// The VRM 1.0 presets in the spec's order.
pub const PRESETS: &[&str] = &[
    "happy",
    "angry",
    "sad",
    "relaxed",
    "surprised",
    "aa",
    "ih",
    "ou",
    "ee",
    "oh",
    "blink",
    "blinkLeft",
    "blinkRight",
    "lookUp",
    "lookDown",
    "lookLeft",
    "lookRight",
    "neutral",
];

/// A VRM 0.x preset name (any case) as its VRM 1.0 name (three-vrm `v0v1PresetNameMap`).
pub fn vrm0_preset_name(preset: &str) -> Option<&'static str> {
    Some(match preset.to_ascii_lowercase().as_str() {
        "a" => "aa",
        "i" => "ih",
        "u" => "ou",
        "e" => "ee",
        "o" => "oh",
        "blink" => "blink",
        "blink_l" => "blinkLeft",
        "blink_r" => "blinkRight",
        "joy" => "happy",
        "angry" => "angry",
        "sorrow" => "sad",
        "fun" => "relaxed",
        "lookup" => "lookUp",
        "lookdown" => "lookDown",
        "lookleft" => "lookLeft",
        "lookright" => "lookRight",
        "neutral" => "neutral",
        _ => return None,
    })
}

/// Adds `weight * expression value` to morph target `index` of the mesh drawn by `node`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MorphTargetBind {
    pub node: usize,
    pub index: usize,
    /// 0..1 (VRM 0.x's 0..100 is scaled on load).
    pub weight: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaterialColorType {
    /// baseColorFactor
    Color,
    /// emissiveFactor
    EmissionColor,
    ShadeColor,
    MatcapColor,
    RimColor,
    OutlineColor,
}

/// Moves a material colour towards `target` by the expression value (base + (target - base) * w).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaterialColorBind {
    pub material: usize,
    pub kind: MaterialColorType,
    pub target: [f32; 4],
}

/// Moves a material's UV scale/offset towards these values by the expression value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextureTransformBind {
    pub material: usize,
    pub scale: [f32; 2],
    pub offset: [f32; 2],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    /// VRM 1.0 preset name, or the custom name.
    pub name: String,
    pub is_preset: bool,
    pub morph_target_binds: Vec<MorphTargetBind>,
    pub material_color_binds: Vec<MaterialColorBind>,
    pub texture_transform_binds: Vec<TextureTransformBind>,
    pub is_binary: bool,
    pub override_blink: OverrideType,
    pub override_look_at: OverrideType,
    pub override_mouth: OverrideType,
}

impl Expression {
    fn override_for(&self, group: OverrideGroup) -> OverrideType {
        match group {
            OverrideGroup::Blink => self.override_blink,
            OverrideGroup::LookAt => self.override_look_at,
            OverrideGroup::Mouth => self.override_mouth,
        }
    }

    /// The group this expression is in, if it is a preset of one.
    fn group(&self) -> Option<OverrideGroup> {
        if self.is_preset {
            OverrideGroup::of(&self.name)
        } else {
            None
        }
    }
}

/// All expressions of a model, presets first in the spec's order, then custom ones by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expressions {
    pub list: Vec<Expression>,
}

impl Expressions {
    pub fn get(&self, name: &str) -> Option<&Expression> {
        self.list.iter().find(|e| e.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|e| e.name.as_str())
    }

    /// The value each expression (same order as `list`) takes after the spec's rules:
    /// input clamped to 0..1 (missing or NaN = 0); isBinary gives 0 or 1 (> 0.5); for each
    /// group, blockers above 0 zero the group and blenders scale it by 1 - saturate(sum); an
    /// overrider uses its binary output when isBinary, and an isBinary expression is fully
    /// suppressed by any override effect. An expression never overrides its own group (the
    /// spec calls that invalid).
    pub fn resolve(&self, input: &ExpressionWeights) -> Vec<f32> {
        let output: Vec<f32> = self
            .list
            .iter()
            .map(|e| {
                let w = input.get(&e.name).copied().unwrap_or(0.0);
                let w = if w.is_nan() { 0.0 } else { w.clamp(0.0, 1.0) };
                if e.is_binary {
                    if w > 0.5 { 1.0 } else { 0.0 }
                } else {
                    w
                }
            })
            .collect();
        let multiplier = |group: OverrideGroup| {
            let mut blend = 0.0;
            for (e, &w) in self.list.iter().zip(&output) {
                if e.group() == Some(group) || w <= 0.0 {
                    continue;
                }
                match e.override_for(group) {
                    OverrideType::Block => return 0.0,
                    OverrideType::Blend => blend += w,
                    OverrideType::None => {}
                }
            }
            1.0 - f32::min(blend, 1.0)
        };
        let groups = [
            OverrideGroup::Blink,
            OverrideGroup::LookAt,
            OverrideGroup::Mouth,
        ]
        .map(|g| (g, multiplier(g)));
        self.list
            .iter()
            .zip(output)
            .map(|(e, w)| {
                let Some(group) = e.group() else {
                    return w;
                };
                let m = groups
                    .iter()
                    .find(|(g, _)| *g == group)
                    .map_or(1.0, |g| g.1);
                if e.is_binary && m < 1.0 { 0.0 } else { w * m }
            })
            .collect()
    }

    /// Morph weights per node (indexed like `model.nodes`; empty for nodes without a mesh),
    /// starting from 0 and accumulating `bind.weight * value` (not clamped, like three-vrm).
    pub fn morph_weights(&self, model: &VrmModel, resolved: &[f32]) -> Vec<Vec<f32>> {
        let mut out: Vec<Vec<f32>> = model
            .nodes
            .iter()
            .map(|n| {
                n.mesh.map_or(Vec::new(), |m| {
                    vec![0.0; model.meshes[m].morph_target_count()]
                })
            })
            .collect();
        for (e, &w) in self.list.iter().zip(resolved) {
            if w == 0.0 {
                continue;
            }
            for b in &e.morph_target_binds {
                if let Some(slot) = out.get_mut(b.node).and_then(|v| v.get_mut(b.index)) {
                    *slot += b.weight * w;
                }
            }
        }
        out
    }
}

fn parse_override(v: &str, what: &str) -> Result<OverrideType> {
    match v {
        "none" => Ok(OverrideType::None),
        "block" => Ok(OverrideType::Block),
        "blend" => Ok(OverrideType::Blend),
        other => Err(VrmError::Invalid(format!(
            "{what}: unknown override type {other:?}"
        ))),
    }
}

/// The serde shape of VRM 1.0 `VRMC_vrm.expressions`.
mod json_v1 {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    #[derive(Deserialize, Default)]
    #[serde(default)]
    pub(super) struct Json {
        pub(super) preset: BTreeMap<String, JsonExpression>,
        pub(super) custom: BTreeMap<String, JsonExpression>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    pub(super) struct JsonExpression {
        pub(super) morph_target_binds: Vec<JsonMorph>,
        pub(super) material_color_binds: Vec<JsonColor>,
        pub(super) texture_transform_binds: Vec<JsonTexture>,
        pub(super) is_binary: bool,
        pub(super) override_blink: Option<String>,
        pub(super) override_look_at: Option<String>,
        pub(super) override_mouth: Option<String>,
    }
    #[derive(Deserialize)]
    pub(super) struct JsonMorph {
        pub(super) node: usize,
        pub(super) index: usize,
        pub(super) weight: f32,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct JsonColor {
        pub(super) material: usize,
        #[serde(rename = "type")]
        pub(super) kind: String,
        pub(super) target_value: [f32; 4],
    }
    #[derive(Deserialize)]
    #[serde(default)]
    pub(super) struct JsonTexture {
        pub(super) material: usize,
        pub(super) scale: [f32; 2],
        pub(super) offset: [f32; 2],
    }
    impl Default for JsonTexture {
        fn default() -> Self {
            Self {
                material: usize::MAX,
                scale: [1.0, 1.0],
                offset: [0.0, 0.0],
            }
        }
    }
}

/// VRM 1.0 expressions: presets, then custom ones, every bind checked against the model.
pub(crate) fn parse_v1(value: Option<&Value>, model: &VrmModel) -> Result<Expressions> {
    let json: json_v1::Json = section(value, "VRMC_vrm.expressions")?;
    check_count(json.preset.len() + json.custom.len())?;
    let mut list = Vec::new();
    let presets = json.preset.into_iter().map(|(n, e)| (n, e, true));
    let customs = json.custom.into_iter().map(|(n, e)| (n, e, false));
    for (name, e, is_preset) in presets.chain(customs) {
        // A custom name may not repeat a preset (spec); the preset, read first, wins. An unknown
        // preset name is kept as a custom expression so it can still be driven.
        if list.iter().any(|x: &Expression| x.name == name) {
            continue;
        }
        list.push(v1_expression(name, e, is_preset, model)?);
    }
    sorted(list)
}

/// One VRM 1.0 expression: its binds checked against the model, its override types parsed.
fn v1_expression(
    name: String,
    e: json_v1::JsonExpression,
    is_preset: bool,
    model: &VrmModel,
) -> Result<Expression> {
    let what = format!("expression {name}");
    let morph_target_binds = v1_morph_binds(e.morph_target_binds, model, &what)?;
    let material_color_binds = v1_color_binds(e.material_color_binds, model, &what)?;
    let mut texture_transform_binds = Vec::new();
    for b in e.texture_transform_binds {
        let material = check(
            b.material,
            model.materials.len(),
            &format!("{what} texture transform bind material"),
        )?;
        texture_transform_binds.push(TextureTransformBind {
            material,
            scale: b.scale,
            offset: b.offset,
        });
    }
    let ov = |v: &Option<String>| {
        v.as_deref()
            .map_or(Ok(OverrideType::None), |v| parse_override(v, &what))
    };
    Ok(Expression {
        is_preset: is_preset && PRESETS.contains(&name.as_str()),
        name,
        morph_target_binds,
        material_color_binds,
        texture_transform_binds,
        is_binary: e.is_binary,
        override_blink: ov(&e.override_blink)?,
        override_look_at: ov(&e.override_look_at)?,
        override_mouth: ov(&e.override_mouth)?,
    })
}

/// VRM 1.0 morph target binds: each node must exist and draw a mesh that has the morph target.
fn v1_morph_binds(
    binds: Vec<json_v1::JsonMorph>,
    model: &VrmModel,
    what: &str,
) -> Result<Vec<MorphTargetBind>> {
    let mut morph_target_binds = Vec::new();
    for b in binds {
        let node = check(
            b.node,
            model.nodes.len(),
            &format!("{what} morph bind node"),
        )?;
        let Some(mesh) = model.nodes[node].mesh else {
            return Err(VrmError::Invalid(format!(
                "{what}: morph bind node {node} has no mesh"
            )));
        };
        let count = model.meshes[mesh].morph_target_count();
        check(
            b.index,
            count,
            &format!("{what} morph bind (mesh {mesh} morph target)"),
        )?;
        morph_target_binds.push(MorphTargetBind {
            node,
            index: b.index,
            weight: b.weight,
        });
    }
    Ok(morph_target_binds)
}

/// VRM 1.0 material color binds: each material must exist and the color type be known.
fn v1_color_binds(
    binds: Vec<json_v1::JsonColor>,
    model: &VrmModel,
    what: &str,
) -> Result<Vec<MaterialColorBind>> {
    let mut material_color_binds = Vec::new();
    for b in binds {
        let material = check(
            b.material,
            model.materials.len(),
            &format!("{what} color bind material"),
        )?;
        let kind = match b.kind.as_str() {
            "color" => MaterialColorType::Color,
            "emissionColor" => MaterialColorType::EmissionColor,
            "shadeColor" => MaterialColorType::ShadeColor,
            "matcapColor" => MaterialColorType::MatcapColor,
            "rimColor" => MaterialColorType::RimColor,
            "outlineColor" => MaterialColorType::OutlineColor,
            other => {
                return Err(VrmError::Invalid(format!(
                    "{what}: unknown material color type {other:?}"
                )));
            }
        };
        material_color_binds.push(MaterialColorBind {
            material,
            kind,
            target: b.target_value,
        });
    }
    Ok(material_color_binds)
}

pub(crate) fn parse_v0(value: Option<&Value>, model: &VrmModel) -> Result<Expressions> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Json {
        blend_shape_groups: Vec<Group>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Group {
        name: String,
        preset_name: String,
        binds: Vec<Bind>,
        material_values: Vec<V0MaterialValue>,
        is_binary: bool,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Bind {
        #[serde(deserialize_with = "lenient_index")]
        mesh: Option<usize>,
        #[serde(deserialize_with = "lenient_index")]
        index: Option<usize>,
        weight: f32,
    }
    let json: Json = section(value, "VRM.blendShapeMaster")?;
    let mut list: Vec<Expression> = Vec::new();
    check_count(json.blend_shape_groups.len())?;
    // A 0.x bind names a mesh (bound once per node that draws it) or a material name (once per
    // material of that name), so binds are counted as they are made.
    let mut binds = 0usize;
    let mut count_bind = || {
        binds += 1;
        check_binds(binds)
    };
    for g in json.blend_shape_groups {
        let preset = vrm0_preset_name(&g.preset_name);
        let name = preset.map_or_else(|| g.name.clone(), str::to_owned);
        // Several groups with the same preset or name: the first wins.
        if name.is_empty() || list.iter().any(|e| e.name == name) {
            continue;
        }
        let what = format!("blendShapeGroup {}", g.name);
        let mut morph_target_binds = Vec::new();
        for b in &g.binds {
            // -1 (none) is a common leftover of deleted meshes; it binds nothing.
            let (Some(mesh), Some(index)) = (b.mesh, b.index) else {
                continue;
            };
            check(mesh, model.meshes.len(), &format!("{what} bind mesh"))?;
            let count = model.meshes[mesh].morph_target_count();
            check(
                index,
                count,
                &format!("{what} bind (mesh {mesh} morph target)"),
            )?;
            for (node, n) in model.nodes.iter().enumerate() {
                if n.mesh == Some(mesh) {
                    count_bind()?;
                    morph_target_binds.push(MorphTargetBind {
                        node,
                        index,
                        weight: b.weight * 0.01,
                    });
                }
            }
        }
        let (material_color_binds, texture_transform_binds) =
            v0_material_binds(&g.material_values, model, &mut count_bind)?;
        list.push(Expression {
            is_preset: preset.is_some(),
            name,
            morph_target_binds,
            material_color_binds,
            texture_transform_binds,
            is_binary: g.is_binary,
            override_blink: OverrideType::None,
            override_look_at: OverrideType::None,
            override_mouth: OverrideType::None,
        });
    }
    sorted(list)
}

/// A 0.x material value as the blend shape group names it.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct V0MaterialValue {
    material_name: String,
    property_name: String,
    target_value: Vec<f32>,
}

/// The binds of a 0.x group's material values: one per material of the name (colors, and the
/// main texture's scale and offset), each counted by `count_bind`.
fn v0_material_binds(
    values: &[V0MaterialValue],
    model: &VrmModel,
    count_bind: &mut impl FnMut() -> Result<()>,
) -> Result<(Vec<MaterialColorBind>, Vec<TextureTransformBind>)> {
    let mut material_color_binds = Vec::new();
    let mut texture_transform_binds = Vec::new();
    for mv in values {
        let tv = |i: usize| mv.target_value.get(i).copied().unwrap_or(0.0);
        let materials = model
            .materials
            .iter()
            .enumerate()
            .filter(|(_, m)| m.name == mv.material_name)
            .map(|(i, _)| i);
        for material in materials {
            let kind = match mv.property_name.as_str() {
                "_Color" => MaterialColorType::Color,
                "_EmissionColor" => MaterialColorType::EmissionColor,
                "_ShadeColor" => MaterialColorType::ShadeColor,
                "_RimColor" => MaterialColorType::RimColor,
                "_OutlineColor" => MaterialColorType::OutlineColor,
                "_MainTex_ST" => {
                    // Unity's bottom-left UV origin to glTF's top-left.
                    let scale = [tv(0), tv(1)];
                    let offset = [tv(2), 1.0 - tv(3) - scale[1]];
                    count_bind()?;
                    texture_transform_binds.push(TextureTransformBind {
                        material,
                        scale,
                        offset,
                    });
                    continue;
                }
                _ => continue,
            };
            count_bind()?;
            material_color_binds.push(MaterialColorBind {
                material,
                kind,
                target: [tv(0), tv(1), tv(2), tv(3)],
            });
        }
    }
    Ok((material_color_binds, texture_transform_binds))
}

/// Refuses more expressions than [`limits::MAX_EXPRESSIONS`] before any is read.
fn check_count(n: usize) -> Result<()> {
    if n > limits::MAX_EXPRESSIONS {
        return Err(VrmError::Limit(format!(
            "{n} expressions (at most {})",
            limits::MAX_EXPRESSIONS
        )));
    }
    Ok(())
}

fn check_binds(n: usize) -> Result<()> {
    if n > limits::MAX_EXPRESSION_BINDS {
        return Err(VrmError::Limit(format!(
            "{n} expression binds (at most {})",
            limits::MAX_EXPRESSION_BINDS
        )));
    }
    Ok(())
}

/// Presets first in the spec's order, then custom ones by name; binds within the limit, as
/// they are applied every frame.
fn sorted(mut list: Vec<Expression>) -> Result<Expressions> {
    let binds: usize = list
        .iter()
        .map(|e| {
            e.morph_target_binds.len()
                + e.material_color_binds.len()
                + e.texture_transform_binds.len()
        })
        .sum();
    check_binds(binds)?;
    let rank = |e: &Expression| {
        if e.is_preset {
            PRESETS
                .iter()
                .position(|p| *p == e.name)
                .unwrap_or(PRESETS.len())
        } else {
            PRESETS.len()
        }
    };
    list.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name)));
    Ok(Expressions { list })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(name: &str) -> Expression {
        Expression {
            name: name.into(),
            is_preset: PRESETS.contains(&name),
            morph_target_binds: Vec::new(),
            material_color_binds: Vec::new(),
            texture_transform_binds: Vec::new(),
            is_binary: false,
            override_blink: OverrideType::None,
            override_look_at: OverrideType::None,
            override_mouth: OverrideType::None,
        }
    }

    fn weights(pairs: &[(&str, f32)]) -> ExpressionWeights {
        pairs.iter().map(|(n, w)| (n.to_string(), *w)).collect()
    }

    #[test]
    fn expressions_and_binds_past_the_limits_are_refused() {
        let model =
            crate::vrm::load(br#"{"asset":{"version":"2.0"},"materials":[{"name":"m"}]}"#).unwrap();
        let custom = |n: usize| {
            let list = (0..n).map(|i| (format!("e{i}"), serde_json::json!({})));
            serde_json::json!({ "custom": serde_json::Map::from_iter(list) })
        };
        assert!(parse_v1(Some(&custom(limits::MAX_EXPRESSIONS)), &model).is_ok());
        let err = parse_v1(Some(&custom(limits::MAX_EXPRESSIONS + 1)), &model).unwrap_err();
        assert!(
            err.to_string().contains("513 expressions (at most 512)"),
            "{err}"
        );
        let many = serde_json::json!({"blendShapeGroups": [{"name": "x",
            "materialValues": vec![serde_json::json!({"materialName": "m", "propertyName": "_Color"}); limits::MAX_EXPRESSION_BINDS + 1]}]});
        let err = parse_v0(Some(&many), &model).unwrap_err();
        assert!(err.to_string().contains("expression binds"), "{err}");
    }

    #[test]
    fn vrm0_presets_map_to_vrm1() {
        assert_eq!(vrm0_preset_name("A"), Some("aa"));
        assert_eq!(vrm0_preset_name("joy"), Some("happy"));
        assert_eq!(vrm0_preset_name("Sorrow"), Some("sad"));
        assert_eq!(vrm0_preset_name("fun"), Some("relaxed"));
        assert_eq!(vrm0_preset_name("Blink_L"), Some("blinkLeft"));
        assert_eq!(vrm0_preset_name("lookup"), Some("lookUp"));
        assert_eq!(vrm0_preset_name("unknown"), None);
    }

    #[test]
    fn clamp_and_binary() {
        let mut bin = expr("happy");
        bin.is_binary = true;
        let e = Expressions {
            list: vec![expr("aa"), bin, expr("custom")],
        };
        let r = e.resolve(&weights(&[
            ("aa", 1.7),
            ("happy", 0.5),
            ("custom", f32::NAN),
        ]));
        assert_eq!(r, vec![1.0, 0.0, 0.0]);
        let r = e.resolve(&weights(&[("aa", -1.0), ("happy", 0.51)]));
        assert_eq!(r, vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn block_and_blend_overrides() {
        let mut happy = expr("happy");
        happy.override_mouth = OverrideType::Block;
        let mut angry = expr("angry");
        angry.override_blink = OverrideType::Blend;
        let mut sad = expr("sad");
        sad.override_blink = OverrideType::Blend;
        let e = Expressions {
            list: vec![
                happy,
                angry,
                sad,
                expr("aa"),
                expr("blink"),
                expr("lookUp"),
                expr("x"),
            ],
        };
        let all = |h, a, s| {
            weights(&[
                ("happy", h),
                ("angry", a),
                ("sad", s),
                ("aa", 0.8),
                ("blink", 0.6),
                ("lookUp", 0.4),
                ("x", 0.3),
            ])
        };
        // Block: any weight above 0 zeroes the mouth; blend: 1 - sum.
        let r = e.resolve(&all(0.01, 0.25, 0.25));
        assert_eq!(r[3], 0.0);
        assert!((r[4] - 0.6 * 0.5).abs() < 1e-6);
        assert_eq!((r[5], r[6]), (0.4, 0.3));
        // Blend saturates at 1.
        let r = e.resolve(&all(0.0, 0.8, 0.8));
        assert_eq!((r[3], r[4]), (0.8, 0.0));
    }

    #[test]
    fn binary_overrider_uses_its_binary_output() {
        // VRMC_vrm_expressions_isBinary_Overrides: happy (isBinary, blend) over blink.
        let mut happy = expr("happy");
        happy.is_binary = true;
        happy.override_blink = OverrideType::Blend;
        let e = Expressions {
            list: vec![happy, expr("blink")],
        };
        // 0.4 rounds to 0: no override at all, though the raw weight would blend by 0.4.
        assert_eq!(
            e.resolve(&weights(&[("happy", 0.4), ("blink", 1.0)])),
            vec![0.0, 1.0]
        );
        assert_eq!(
            e.resolve(&weights(&[("happy", 0.6), ("blink", 1.0)])),
            vec![1.0, 0.0]
        );
    }

    #[test]
    fn binary_overridden_is_fully_suppressed() {
        // VRMC_vrm_expressions_isBinary_Overridden: blink (isBinary) under happy's blend.
        let mut happy = expr("happy");
        happy.override_blink = OverrideType::Blend;
        let mut blink = expr("blink");
        blink.is_binary = true;
        let e = Expressions {
            list: vec![happy, blink],
        };
        assert_eq!(
            e.resolve(&weights(&[("happy", 0.2), ("blink", 1.0)])),
            vec![0.2, 0.0]
        );
        assert_eq!(
            e.resolve(&weights(&[("happy", 0.0), ("blink", 0.9)])),
            vec![0.0, 1.0]
        );
    }

    #[test]
    fn own_group_is_not_overridden() {
        let mut blink = expr("blink");
        blink.override_blink = OverrideType::Block;
        let e = Expressions {
            list: vec![blink, expr("blinkLeft")],
        };
        assert_eq!(
            e.resolve(&weights(&[("blink", 1.0), ("blinkLeft", 1.0)])),
            vec![1.0, 1.0]
        );
    }
}
