//! LookAt configuration (VRM 1.0 `lookAt`, VRM 0.x `firstPerson.lookAt*`): how gaze yaw/pitch in
//! degrees turn into eye bone rotations or lookUp/Down/Left/Right expression weights.

use glam::{Quat, Vec3};
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

/// What a gaze direction does to the model.
#[derive(Debug, Clone, PartialEq)]
pub enum LookAtOutput {
    /// Normalized local rotations of the left and right eye bones.
    Bones { left: Quat, right: Quat },
    /// Weights of lookLeft / lookRight / lookUp / lookDown.
    Expressions(Vec<(&'static str, f32)>),
}

impl LookAt {
    /// The spec's appliers. `yaw_deg` > 0 turns the gaze to the avatar's own left (+X, as the
    /// avatar faces +Z), `pitch_deg` > 0 up. Each eye uses the inner or outer map depending on
    /// whether the gaze turns towards the nose or away from it.
    pub fn apply(&self, yaw_deg: f32, pitch_deg: f32) -> LookAtOutput {
        let yaw = if yaw_deg.is_finite() { yaw_deg } else { 0.0 };
        let pitch = if pitch_deg.is_finite() {
            pitch_deg
        } else {
            0.0
        };
        match self.kind {
            LookAtType::Bone => {
                // The left eye turning left (yaw > 0) looks outwards; the right eye inwards.
                let (left_map, right_map) = if yaw >= 0.0 {
                    (self.horizontal_outer, self.horizontal_inner)
                } else {
                    (self.horizontal_inner, self.horizontal_outer)
                };
                let vertical = if pitch >= 0.0 {
                    self.vertical_up.map(pitch)
                } else {
                    -self.vertical_down.map(pitch)
                };
                // Gaze +Z turns towards +X about +Y, and towards +Y about -X.
                let eye = |map: RangeMap| {
                    Quat::from_rotation_y(yaw.signum() * map.map(yaw).to_radians())
                        * Quat::from_rotation_x(-vertical.to_radians())
                };
                LookAtOutput::Bones {
                    left: eye(left_map),
                    right: eye(right_map),
                }
            }
            LookAtType::Expression => {
                let horizontal = self.horizontal_outer.map(yaw);
                let vertical_map = if pitch >= 0.0 {
                    self.vertical_up
                } else {
                    self.vertical_down
                };
                LookAtOutput::Expressions(vec![
                    ("lookLeft", if yaw > 0.0 { horizontal } else { 0.0 }),
                    ("lookRight", if yaw < 0.0 { horizontal } else { 0.0 }),
                    (
                        "lookUp",
                        if pitch > 0.0 {
                            vertical_map.map(pitch)
                        } else {
                            0.0
                        },
                    ),
                    (
                        "lookDown",
                        if pitch < 0.0 {
                            vertical_map.map(pitch)
                        } else {
                            0.0
                        },
                    ),
                ])
            }
        }
    }
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

    fn look_at(kind: LookAtType) -> LookAt {
        let map = |scale| RangeMap {
            input_max_value: 30.0,
            output_scale: scale,
        };
        LookAt {
            kind,
            offset_from_head_bone: Vec3::ZERO,
            horizontal_inner: map(8.0),
            horizontal_outer: map(12.0),
            vertical_down: map(6.0),
            vertical_up: map(10.0),
        }
    }

    #[test]
    fn eye_bones_turn_the_gaze_with_inner_and_outer_ranges() {
        let LookAtOutput::Bones { left, right } = look_at(LookAtType::Bone).apply(15.0, 0.0) else {
            panic!("bone output");
        };
        // Half of the 30 degree input: the outer map gives 6 degrees, the inner 4.
        let gaze_l = left * Vec3::Z;
        let gaze_r = right * Vec3::Z;
        assert!(gaze_l.x > 0.0 && (gaze_l.x.asin().to_degrees() - 6.0).abs() < 1e-3);
        assert!((gaze_r.x.asin().to_degrees() - 4.0).abs() < 1e-3);
        let LookAtOutput::Bones { left, .. } = look_at(LookAtType::Bone).apply(0.0, -60.0) else {
            panic!("bone output");
        };
        let down = left * Vec3::Z;
        assert!((down.y.asin().to_degrees() + 6.0).abs() < 1e-3, "{down}");
        let LookAtOutput::Bones { left, .. } = look_at(LookAtType::Bone).apply(0.0, 60.0) else {
            panic!("bone output");
        };
        assert!(((left * Vec3::Z).y.asin().to_degrees() - 10.0).abs() < 1e-3);
    }

    #[test]
    fn expression_look_at_weights_follow_the_direction() {
        let out = look_at(LookAtType::Expression).apply(-15.0, 45.0);
        let LookAtOutput::Expressions(weights) = out else {
            panic!("expression output");
        };
        let w = |name| weights.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!((w("lookLeft"), w("lookDown")), (0.0, 0.0));
        assert!((w("lookRight") - 6.0).abs() < 1e-5);
        assert!((w("lookUp") - 10.0).abs() < 1e-5);
        assert_eq!(
            look_at(LookAtType::Expression).apply(f32::NAN, 0.0),
            look_at(LookAtType::Expression).apply(0.0, 0.0)
        );
    }
}
