//! The summary printed by `vrm-avatar inspect --json` (fields fixed by CONTRACTS.md).

use serde_json::{Value, json};

use super::{MaterialKind, VrmModel};

/// `spec_version` and `look_at` are null for a plain glTF; bones and expressions use VRM 1.0
/// names in the spec's order; `morph_targets` counts targets per mesh (not per primitive).
pub fn inspect_json(model: &VrmModel) -> Value {
    let count = |kind: MaterialKind| model.materials.iter().filter(|m| m.kind == kind).count();
    let bones: Vec<&str> = model
        .humanoid
        .iter()
        .flat_map(|h| h.bones.keys().map(|b| b.name()))
        .collect();
    json!({
        "spec_version": model.spec_version.map(|v| v.as_str()),
        "title": model.meta.title,
        "humanoid_bones": bones,
        "expressions": model.expressions.names().collect::<Vec<_>>(),
        "meshes": model.meshes.len(),
        "morph_targets": model.meshes.iter().map(|m| m.morph_target_count()).sum::<usize>(),
        "materials": {
            "mtoon": count(MaterialKind::MToon),
            "unlit": count(MaterialKind::Unlit),
            "pbr": count(MaterialKind::Pbr),
        },
        "spring_joints": model.spring.joint_count(),
        "spring_colliders": model.spring.colliders.len(),
        "constraints": model.constraints.len(),
        "look_at": model.look_at.map(|l| l.kind.as_str()),
        "license": model.meta.license,
        "gpu_bytes": super::Budget::footprint(model),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_gltf_has_every_field() {
        let m = crate::vrm::load(br#"{"asset":{"version":"2.0"}}"#).unwrap();
        let v = inspect_json(&m);
        for key in [
            "spec_version",
            "title",
            "humanoid_bones",
            "expressions",
            "meshes",
            "morph_targets",
            "materials",
            "spring_joints",
            "spring_colliders",
            "constraints",
            "look_at",
            "license",
        ] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        assert_eq!(v["spec_version"], Value::Null);
        assert_eq!(v["materials"]["pbr"], 0);
    }
}
