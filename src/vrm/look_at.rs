//! LookAt configuration (VRM 1.0 `lookAt`, VRM 0.x `firstPerson.lookAt*`): how gaze yaw/pitch in
//! degrees turn into eye bone rotations or lookUp/Down/Left/Right expression weights.

use glam::Vec3;
use serde::Deserialize;
use serde_json::Value;

use super::json_util::{Xyz, section};
use super::{Result, VrmError, vrm0_vector};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookAtType {
    /// Rotate the eye bones; range maps output degrees.
    Bone,
    /// Drive lookUp/lookDown/lookLeft/lookRight; range maps output weights.
    Expression,
}

impl LookAtType {
    pub fn as_str(self) -> &'static str {
        match self {
            LookAtType::Bone => "bone",
            LookAtType::Expression => "expression",
        }
    }
}

/// A linear map from input degrees (clamped at `input_max_value`) to `output_scale`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RangeMap {
    pub input_max_value: f32,
    pub output_scale: f32,
}

impl RangeMap {
    /// `output_scale * saturate(|degrees| / input_max_value)`; an input max of 0 is treated as
    /// a tiny positive value (three-vrm issue #1201) so it never divides by zero.
    pub fn map(&self, degrees: f32) -> f32 {
        let max = self.input_max_value.max(0.001);
        self.output_scale * (degrees.abs() / max).min(1.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookAt {
    pub kind: LookAtType,
    /// The eyes' position in the head bone's local space.
    pub offset_from_head_bone: Vec3,
    pub horizontal_inner: RangeMap,
    pub horizontal_outer: RangeMap,
    pub vertical_down: RangeMap,
    pub vertical_up: RangeMap,
}

/// three-vrm's defaults: 90 degrees in; 10 degrees out for bones, weight 1 for expressions.
fn default_map(kind: LookAtType) -> RangeMap {
    RangeMap {
        input_max_value: 90.0,
        output_scale: match kind {
            LookAtType::Bone => 10.0,
            LookAtType::Expression => 1.0,
        },
    }
}

const DEFAULT_OFFSET: Vec3 = Vec3::new(0.0, 0.06, 0.0);

pub(crate) fn parse_v1(value: Option<&Value>) -> Result<Option<LookAt>> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Json {
        #[serde(rename = "type")]
        kind: Option<String>,
        offset_from_head_bone: Option<[f32; 3]>,
        range_map_horizontal_inner: Option<Map>,
        range_map_horizontal_outer: Option<Map>,
        range_map_vertical_down: Option<Map>,
        range_map_vertical_up: Option<Map>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Map {
        input_max_value: Option<f32>,
        output_scale: Option<f32>,
    }
    if value.is_none_or(Value::is_null) {
        return Ok(None);
    }
    let json: Json = section(value, "VRMC_vrm.lookAt")?;
    let kind = match json.kind.as_deref() {
        Some("bone") | None => LookAtType::Bone,
        Some("expression") => LookAtType::Expression,
        Some(other) => {
            return Err(VrmError::Invalid(format!("lookAt: unknown type {other:?}")));
        }
    };
    let d = default_map(kind);
    let map = |m: Option<Map>| {
        m.map_or(d, |m| RangeMap {
            input_max_value: m.input_max_value.unwrap_or(d.input_max_value),
            output_scale: m.output_scale.unwrap_or(d.output_scale),
        })
    };
    Ok(Some(LookAt {
        kind,
        offset_from_head_bone: json
            .offset_from_head_bone
            .map_or(DEFAULT_OFFSET, Vec3::from),
        horizontal_inner: map(json.range_map_horizontal_inner),
        horizontal_outer: map(json.range_map_horizontal_outer),
        vertical_down: map(json.range_map_vertical_down),
        vertical_up: map(json.range_map_vertical_up),
    }))
}

/// VRM 0.x keeps lookAt in `firstPerson`: degree maps `{curve, xRange, yRange}`. Like three-vrm,
/// only the linear part is used (xRange -> input max, yRange -> output scale).
pub(crate) fn parse_v0(first_person: Option<&Value>) -> Result<Option<LookAt>> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Json {
        look_at_type_name: Option<String>,
        first_person_bone_offset: Option<Xyz>,
        look_at_horizontal_inner: Option<Map>,
        look_at_horizontal_outer: Option<Map>,
        look_at_vertical_down: Option<Map>,
        look_at_vertical_up: Option<Map>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Map {
        x_range: Option<f32>,
        y_range: Option<f32>,
    }
    if first_person.is_none_or(Value::is_null) {
        return Ok(None);
    }
    let json: Json = section(first_person, "VRM.firstPerson")?;
    let kind = match json.look_at_type_name.as_deref() {
        Some("BlendShape") => LookAtType::Expression,
        _ => LookAtType::Bone,
    };
    let d = default_map(kind);
    let map = |m: Option<Map>| {
        m.map_or(d, |m| RangeMap {
            input_max_value: m.x_range.unwrap_or(d.input_max_value),
            output_scale: m.y_range.unwrap_or(d.output_scale),
        })
    };
    Ok(Some(LookAt {
        kind,
        offset_from_head_bone: json
            .first_person_bone_offset
            .map_or(DEFAULT_OFFSET, |o| vrm0_vector(o.array())),
        horizontal_inner: map(json.look_at_horizontal_inner),
        horizontal_outer: map(json.look_at_horizontal_outer),
        vertical_down: map(json.look_at_vertical_down),
        vertical_up: map(json.look_at_vertical_up),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn range_map_is_linear_and_clamped() {
        let m = RangeMap {
            input_max_value: 20.0,
            output_scale: 10.0,
        };
        assert_eq!(m.map(10.0), 5.0);
        assert_eq!(m.map(-10.0), 5.0);
        assert_eq!(m.map(45.0), 10.0);
        let zero = RangeMap {
            input_max_value: 0.0,
            output_scale: 1.0,
        };
        assert_eq!(zero.map(0.0), 0.0);
        assert_eq!(zero.map(5.0), 1.0);
    }

    #[test]
    fn vrm1_defaults_depend_on_type() {
        let l = parse_v1(Some(&json!({"type": "expression"})))
            .unwrap()
            .unwrap();
        assert_eq!(l.kind, LookAtType::Expression);
        assert_eq!(l.vertical_up.output_scale, 1.0);
        assert_eq!(l.offset_from_head_bone, DEFAULT_OFFSET);
        let l = parse_v1(Some(
            &json!({"type": "bone", "rangeMapVerticalUp": {"inputMaxValue": 30}}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(l.vertical_up.input_max_value, 30.0);
        assert_eq!(l.vertical_up.output_scale, 10.0);
        assert!(parse_v1(Some(&json!({"type": "eyes"}))).is_err());
        assert_eq!(parse_v1(None).unwrap(), None);
    }

    #[test]
    fn vrm0_maps_and_offset() {
        let l = parse_v0(Some(&json!({
            "lookAtTypeName": "BlendShape",
            "firstPersonBoneOffset": {"x": 0.01, "y": 0.1, "z": 0.02},
            "lookAtVerticalUp": {"curve": [0, 0, 0, 1, 1, 1, 1, 0], "xRange": 45, "yRange": 0.8}
        })))
        .unwrap()
        .unwrap();
        assert_eq!(l.kind, LookAtType::Expression);
        assert_eq!(
            l.vertical_up,
            RangeMap {
                input_max_value: 45.0,
                output_scale: 0.8
            }
        );
        assert_eq!(l.horizontal_outer.output_scale, 1.0);
        assert!(
            l.offset_from_head_bone
                .abs_diff_eq(Vec3::new(-0.01, 0.1, 0.02), 1e-7)
        );
    }
}
