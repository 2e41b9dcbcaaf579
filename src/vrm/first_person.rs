//! First-person mesh annotations: which meshes a camera inside the head must hide. An OBS source
//! films from outside, so it draws `Both` and `ThirdPersonOnly` and hides `FirstPersonOnly`.

use serde::Deserialize;
use serde_json::Value;

use super::json_util::{check, lenient_index, section};
use super::{Result, VrmModel};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FirstPersonFlag {
    /// Unannotated meshes are `Auto` (the spec's default).
    #[default]
    Auto,
    Both,
    ThirdPersonOnly,
    FirstPersonOnly,
}

impl FirstPersonFlag {
    /// Parses the 1.0 (`thirdPersonOnly`) and 0.x (`ThirdPersonOnly`) spellings; unknown -> Auto.
    fn parse(s: &str) -> FirstPersonFlag {
        match s.to_ascii_lowercase().as_str() {
            "both" => FirstPersonFlag::Both,
            "thirdpersononly" => FirstPersonFlag::ThirdPersonOnly,
            "firstpersononly" => FirstPersonFlag::FirstPersonOnly,
            _ => FirstPersonFlag::Auto,
        }
    }

    /// Whether a third-person camera (the OBS source) draws the mesh.
    pub fn visible_in_third_person(self) -> bool {
        self != FirstPersonFlag::FirstPersonOnly
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirstPerson {
    /// (node, flag) for every annotated node that draws a mesh.
    pub annotations: Vec<(usize, FirstPersonFlag)>,
}

impl FirstPerson {
    pub fn flag(&self, node: usize) -> FirstPersonFlag {
        self.annotations
            .iter()
            .find(|(n, _)| *n == node)
            .map_or(FirstPersonFlag::Auto, |a| a.1)
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Annotation {
    #[serde(deserialize_with = "lenient_index")]
    node: Option<usize>,
    #[serde(deserialize_with = "lenient_index")]
    mesh: Option<usize>,
    first_person_flag: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Json {
    mesh_annotations: Vec<Annotation>,
}

pub(crate) fn parse_v1(value: Option<&Value>, model: &VrmModel) -> Result<FirstPerson> {
    let json: Json = section(value, "VRMC_vrm.firstPerson")?;
    let mut annotations = Vec::new();
    for a in json.mesh_annotations {
        if let Some(node) = a.node {
            let node = check(node, model.nodes.len(), "firstPerson meshAnnotation node")?;
            annotations.push((node, FirstPersonFlag::parse(&a.first_person_flag)));
        }
    }
    Ok(FirstPerson { annotations })
}

/// VRM 0.x annotates meshes; every node drawing the mesh gets the flag.
pub(crate) fn parse_v0(value: Option<&Value>, model: &VrmModel) -> Result<FirstPerson> {
    let json: Json = section(value, "VRM.firstPerson")?;
    let mut annotations = Vec::new();
    for a in json.mesh_annotations {
        if let Some(mesh) = a.mesh {
            check(mesh, model.meshes.len(), "firstPerson meshAnnotation mesh")?;
            let flag = FirstPersonFlag::parse(&a.first_person_flag);
            for (node, n) in model.nodes.iter().enumerate() {
                if n.mesh == Some(mesh) {
                    annotations.push((node, flag));
                }
            }
        }
    }
    Ok(FirstPerson { annotations })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_in_both_spellings() {
        assert_eq!(
            FirstPersonFlag::parse("thirdPersonOnly"),
            FirstPersonFlag::ThirdPersonOnly
        );
        assert_eq!(
            FirstPersonFlag::parse("FirstPersonOnly"),
            FirstPersonFlag::FirstPersonOnly
        );
        assert_eq!(FirstPersonFlag::parse("Both"), FirstPersonFlag::Both);
        assert_eq!(FirstPersonFlag::parse("whatever"), FirstPersonFlag::Auto);
        assert!(!FirstPersonFlag::FirstPersonOnly.visible_in_third_person());
        assert!(FirstPersonFlag::Auto.visible_in_third_person());
    }
}
