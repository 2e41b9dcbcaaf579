//! Names on the wire: VMC speaks Unity's HumanBodyBones and VRM 0.x blend shape names, the
//! avatar pose VRM 1.0's bone and expression names.

use crate::vrm::HumanBone;

/// The VRM 1.0 bone of a Unity `HumanBodyBones` name (exact, as the protocol's names are
/// case-sensitive). Unity's thumb bones are one further from the hand than VRM 1.0's, the same
/// shift as VRM 0.x's (UniVRM maps `LeftThumbProximal` to `leftThumbMetacarpal`).
pub fn bone_of_unity(name: &str) -> Option<HumanBone> {
    let mut chars = name.chars();
    let first = chars.next()?;
    if !first.is_ascii_uppercase() {
        return None;
    }
    let camel = format!("{}{}", first.to_ascii_lowercase(), chars.as_str());
    HumanBone::from_vrm0_name(&camel)
}

/// The Unity `HumanBodyBones` name of a VRM 1.0 bone (the inverse of [`bone_of_unity`]).
pub fn unity_name(bone: HumanBone) -> String {
    use HumanBone::*;
    let vrm0 = match bone {
        LeftThumbMetacarpal => "leftThumbProximal",
        LeftThumbProximal => "leftThumbIntermediate",
        RightThumbMetacarpal => "rightThumbProximal",
        RightThumbProximal => "rightThumbIntermediate",
        other => other.name(),
    };
    let mut chars = vrm0.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or('_');
    format!("{first}{}", chars.as_str())
}

/// VRM 0.x blend shape presets and their VRM 1.0 expressions.
const VRM0_PRESETS: &[(&str, &str)] = &[
    ("A", "aa"),
    ("I", "ih"),
    ("U", "ou"),
    ("E", "ee"),
    ("O", "oh"),
    ("Blink", "blink"),
    ("Blink_L", "blinkLeft"),
    ("Blink_R", "blinkRight"),
    ("Joy", "happy"),
    ("Angry", "angry"),
    ("Sorrow", "sad"),
    ("Fun", "relaxed"),
    ("Surprised", "surprised"),
    ("LookUp", "lookUp"),
    ("LookDown", "lookDown"),
    ("LookLeft", "lookLeft"),
    ("LookRight", "lookRight"),
    ("Neutral", "neutral"),
];

/// VRM 1.0 expression presets.
const VRM1_PRESETS: &[&str] = &[
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

/// The avatar's expression for a blend shape name received: a VRM 0.x preset (`A`, `Blink_L`,
/// `Joy`; any case) or a VRM 1.0 preset (any case) becomes the VRM 1.0 preset; any other name
/// (the avatar's own, such as ARKit "perfect sync" shapes) is kept as it is.
pub fn expression_of_blend(name: &str) -> String {
    if let Some((_, vrm1)) = VRM0_PRESETS
        .iter()
        .find(|(vrm0, _)| vrm0.eq_ignore_ascii_case(name))
    {
        return vrm1.to_string();
    }
    if let Some(vrm1) = VRM1_PRESETS.iter().find(|p| p.eq_ignore_ascii_case(name)) {
        return vrm1.to_string();
    }
    name.to_string()
}

/// The blend shape name sent for an expression: presets by their VRM 0.x names, which every
/// VMC receiver knows (the protocol grew up with VRM 0.x); other names as they are.
pub fn blend_of_expression(name: &str) -> &str {
    VRM0_PRESETS
        .iter()
        .find(|(_, vrm1)| *vrm1 == name)
        .map_or(name, |(vrm0, _)| vrm0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unity_bone_names_map_both_ways_with_the_thumb_shift() {
        assert_eq!(bone_of_unity("Hips"), Some(HumanBone::Hips));
        assert_eq!(bone_of_unity("LeftUpperArm"), Some(HumanBone::LeftUpperArm));
        assert_eq!(bone_of_unity("UpperChest"), Some(HumanBone::UpperChest));
        assert_eq!(bone_of_unity("RightToes"), Some(HumanBone::RightToes));
        assert_eq!(
            bone_of_unity("LeftThumbProximal"),
            Some(HumanBone::LeftThumbMetacarpal)
        );
        assert_eq!(
            bone_of_unity("RightThumbIntermediate"),
            Some(HumanBone::RightThumbProximal)
        );
        assert_eq!(
            bone_of_unity("RightThumbDistal"),
            Some(HumanBone::RightThumbDistal)
        );
        assert_eq!(
            bone_of_unity("LeftIndexIntermediate"),
            Some(HumanBone::LeftIndexIntermediate)
        );
        // Case-sensitive, and VRM's own names are not Unity's.
        assert_eq!(bone_of_unity("hips"), None);
        assert_eq!(bone_of_unity("LeftThumbMetacarpal"), None);
        assert_eq!(bone_of_unity(""), None);
        assert_eq!(bone_of_unity("LastBone"), None);
        for &bone in HumanBone::ALL {
            assert_eq!(bone_of_unity(&unity_name(bone)), Some(bone), "{bone:?}");
        }
        assert_eq!(
            unity_name(HumanBone::LeftThumbMetacarpal),
            "LeftThumbProximal"
        );
    }

    #[test]
    fn blend_shape_names_map_to_expressions_and_back() {
        assert_eq!(expression_of_blend("A"), "aa");
        assert_eq!(expression_of_blend("Blink_L"), "blinkLeft");
        assert_eq!(expression_of_blend("joy"), "happy");
        assert_eq!(expression_of_blend("Sorrow"), "sad");
        assert_eq!(expression_of_blend("happy"), "happy");
        assert_eq!(expression_of_blend("BlinkLeft"), "blinkLeft");
        assert_eq!(expression_of_blend("Aa"), "aa");
        assert_eq!(expression_of_blend("JawOpen"), "JawOpen");
        assert_eq!(blend_of_expression("aa"), "A");
        assert_eq!(blend_of_expression("happy"), "Joy");
        assert_eq!(blend_of_expression("blinkRight"), "Blink_R");
        assert_eq!(blend_of_expression("JawOpen"), "JawOpen");
        for (vrm0, vrm1) in VRM0_PRESETS {
            assert_eq!(expression_of_blend(blend_of_expression(vrm1)), *vrm1);
            assert_eq!(blend_of_expression(&expression_of_blend(vrm0)), *vrm0);
        }
    }
}
