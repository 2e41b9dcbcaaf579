//! The built-in default avatar, generated in code as the bytes of a VRM 1.0 file.
//!
//! When the user sets no VRM file the product shows this avatar, loaded by the same loader as
//! user files. It is a GLB (glTF 2.0 JSON chunk + BIN chunk) with `VRMC_vrm` 1.0,
//! `VRMC_materials_mtoon` and `VRMC_springBone`:
//!
//! - a stylized person about 1.56 m tall in the VRM 1.0 T-pose (arms along ±X, palms down, facing
//!   +Z, feet on y = 0), made of tubes and ellipsoids with smooth normals and UVs, flat toon
//!   colors and 2.5 mm world-space outlines on body and hair;
//! - one skin over the full humanoid (all required bones, chest, upperChest, neck, shoulders,
//!   toes, eyes and every finger bone) plus the hair joints; rest rotations are identity;
//! - a `Face` mesh whose morph targets make the expression presets blink, blinkLeft, blinkRight,
//!   aa, ih, ou, ee, oh, happy, angry, sad, relaxed and surprised;
//! - lookAt type `bone`: the irises are skinned to the eye bones, which sit 4 cm behind them;
//! - spring bones for a ponytail and two side locks, colliding with a head sphere and capsules on
//!   the upper chest and upper arms.
//!
//! The output is deterministic (no hash-ordered maps, no time): the same bytes on every call.

mod body;
mod face;
mod glb;
mod materials;
mod mesh;
mod rig;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use glam::{DVec3, Mat4, Vec3};
use serde_json::{Map, Value, json};

use glb::{BinWriter, num};
use materials::Material;
use mesh::Primitive;
use rig::{PONYTAIL, Rig, SIDE_LOCK, SIDES};

/// The avatar's name in `VRMC_vrm.meta`.
pub const NAME: &str = "obs-vrm-avatar default";

/// The default avatar as the bytes of a VRM 1.0 `.vrm` (GLB) file, built once per process.
pub fn default_avatar_vrm() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(build)
}

/// Node indices: the root, then one node per rig bone, then the two mesh nodes.
struct Nodes {
    bones: usize,
}

impl Nodes {
    const ROOT: usize = 0;
    fn bone(&self, bone: usize) -> usize {
        1 + bone
    }
    fn body_mesh(&self) -> usize {
        1 + self.bones
    }
    fn face_mesh(&self) -> usize {
        2 + self.bones
    }
}

fn vec3(v: DVec3) -> Value {
    json!([num(v.x), num(v.y), num(v.z)])
}

/// Builds the VRM bytes.
fn build() -> Vec<u8> {
    let rig = Rig::build();
    let nodes = Nodes {
        bones: rig.bones.len(),
    };
    let mut bin = BinWriter::default();

    let body = body::body(&rig);
    let body_prims: Vec<Value> = body
        .iter()
        .map(|(material, prim)| primitive(&mut bin, *material, prim))
        .collect();

    let neutral = face::face(&face::NEUTRAL, &rig);
    let expressions = face::expressions();
    let states: Vec<Vec<(Material, Primitive)>> = expressions
        .iter()
        .map(|e| face::face(&e.face, &rig))
        .collect();
    let face_prims: Vec<Value> = neutral
        .iter()
        .enumerate()
        .map(|(k, (material, prim))| {
            let mut json = primitive(&mut bin, *material, prim);
            let targets: Vec<Value> = states
                .iter()
                .map(|state| {
                    let moved = &state[k].1.positions;
                    assert_eq!(moved.len(), prim.positions.len(), "same topology");
                    let deltas: Vec<Vec3> = moved
                        .iter()
                        .zip(&prim.positions)
                        .map(|(m, p)| *m - *p)
                        .collect();
                    json!({ "POSITION": bin.vec3(&deltas, true) })
                })
                .collect();
            json["targets"] = json!(targets);
            json
        })
        .collect();
    let target_names: Vec<&str> = expressions.iter().map(|e| e.name).collect();

    let inverse_binds: Vec<Mat4> = rig
        .bones
        .iter()
        .map(|b| Mat4::from_translation(-b.position.as_vec3()))
        .collect();
    let inverse_binds = bin.mat4(&inverse_binds);

    let mut node_list = vec![json!({
        "name": "Root",
        "children": [nodes.bone(0), nodes.body_mesh(), nodes.face_mesh()],
    })];
    for (k, bone) in rig.bones.iter().enumerate() {
        let parent_at = bone.parent.map_or(DVec3::ZERO, |p| rig.bones[p].position);
        let mut node = json!({
            "name": bone.name,
            "translation": vec3(bone.position - parent_at),
        });
        let children: Vec<usize> = (0..rig.bones.len())
            .filter(|&c| rig.bones[c].parent == Some(k))
            .map(|c| nodes.bone(c))
            .collect();
        if !children.is_empty() {
            node["children"] = json!(children);
        }
        node_list.push(node);
    }
    node_list.push(json!({ "name": "Body", "mesh": 0, "skin": 0 }));
    node_list.push(json!({ "name": "Face", "mesh": 1, "skin": 0 }));

    // Pad now so the buffer's length is the BIN chunk's.
    while !bin.bin.len().is_multiple_of(4) {
        bin.bin.push(0);
    }
    let doc = json!({
        "asset": { "version": "2.0", "generator": "obs-vrm-avatar default avatar generator" },
        "extensionsUsed": ["VRMC_materials_mtoon", "VRMC_springBone", "VRMC_vrm"],
        "scene": 0,
        "scenes": [{ "name": "Scene", "nodes": [Nodes::ROOT] }],
        "nodes": node_list,
        "meshes": [
            { "name": "Body", "primitives": body_prims },
            {
                "name": "Face",
                "primitives": face_prims,
                "weights": vec![0; target_names.len()],
                "extras": { "targetNames": target_names },
            },
        ],
        "skins": [{
            "name": "Armature",
            "inverseBindMatrices": inverse_binds,
            "joints": (0..rig.bones.len()).map(|b| nodes.bone(b)).collect::<Vec<_>>(),
            "skeleton": nodes.bone(0),
        }],
        "materials": Material::ALL.iter().map(|m| m.json()).collect::<Vec<_>>(),
        "buffers": [{ "byteLength": bin.bin.len() }],
        "bufferViews": bin.views,
        "accessors": bin.accessors,
        "extensions": {
            "VRMC_vrm": vrm_extension(&rig, &nodes, &expressions),
            "VRMC_springBone": spring_extension(&rig, &nodes),
        },
    });
    glb::glb(&doc, &bin.bin)
}

fn primitive(bin: &mut BinWriter, material: Material, prim: &Primitive) -> Value {
    let joints: Vec<[u8; 4]> = prim.skinning.iter().map(|s| s.joints).collect();
    let weights: Vec<[f32; 4]> = prim.skinning.iter().map(|s| s.weights).collect();
    json!({
        "attributes": {
            "POSITION": bin.vec3(&prim.positions, true),
            "NORMAL": bin.vec3(&prim.normals, false),
            "TEXCOORD_0": bin.vec2(&prim.uvs),
            "JOINTS_0": bin.joints(&joints),
            "WEIGHTS_0": bin.weights(&weights),
        },
        "indices": bin.indices(&prim.indices),
        "material": material.index(),
        "mode": 4,
    })
}

fn vrm_extension(rig: &Rig, nodes: &Nodes, expressions: &[face::Expression]) -> Value {
    let mut human_bones = Map::new();
    for (k, bone) in rig.bones.iter().enumerate() {
        if bone.humanoid {
            human_bones.insert(bone.name.clone(), json!({ "node": nodes.bone(k) }));
        }
    }
    let mut preset = Map::new();
    for (k, e) in expressions.iter().enumerate() {
        preset.insert(
            e.name.to_owned(),
            json!({
                "morphTargetBinds": [{ "node": nodes.face_mesh(), "index": k, "weight": 1.0 }],
                "isBinary": false,
                "overrideBlink": e.override_blink,
                "overrideLookAt": "none",
                "overrideMouth": e.override_mouth,
            }),
        );
    }
    let eyes_mid = (rig.position("leftEye") + rig.position("rightEye")) * 0.5;
    let range = |output: f64| json!({ "inputMaxValue": 45.0, "outputScale": num(output) });
    json!({
        "specVersion": "1.0",
        "meta": {
            "name": NAME,
            "version": "1.0",
            "authors": ["obs-vrm-avatar"],
            "licenseUrl": "https://vrm.dev/licenses/1.0/",
            "avatarPermission": "everyone",
            "allowExcessivelyViolentUsage": false,
            "allowExcessivelySexualUsage": false,
            "commercialUsage": "corporation",
            "allowPoliticalOrReligiousUsage": false,
            "allowAntisocialOrHateUsage": false,
            "creditNotation": "unnecessary",
            "allowRedistribution": true,
            "modification": "allowModificationRedistribution",
        },
        "humanoid": { "humanBones": human_bones },
        "firstPerson": {
            "meshAnnotations": [
                { "node": nodes.body_mesh(), "type": "auto" },
                { "node": nodes.face_mesh(), "type": "auto" },
            ],
        },
        "lookAt": {
            "type": "bone",
            "offsetFromHeadBone": vec3(eyes_mid - rig.position("head")),
            "rangeMapHorizontalInner": range(8.0),
            "rangeMapHorizontalOuter": range(12.0),
            "rangeMapVerticalDown": range(10.0),
            "rangeMapVerticalUp": range(10.0),
        },
        "expressions": { "preset": preset },
    })
}

fn spring_extension(rig: &Rig, nodes: &Nodes) -> Value {
    let node = |name: &str| nodes.bone(rig.index(name));
    let head_center = face::HEAD_CENTER - rig.position("head");
    let mut colliders = vec![
        json!({ "node": node("head"), "shape": { "sphere": { "offset": vec3(head_center), "radius": 0.095 } } }),
        json!({
            "node": node("upperChest"),
            "shape": { "capsule": {
                "offset": [0.0, 0.08, -0.015], "radius": 0.085, "tail": [0.0, -0.16, -0.015],
            } },
        }),
    ];
    for (side, sx) in SIDES {
        colliders.push(json!({
            "node": node(&format!("{side}UpperArm")),
            "shape": { "capsule": { "offset": [0.0, 0.0, 0.0], "radius": 0.045, "tail": [num(sx * 0.22), 0.0, 0.0] } },
        }));
    }
    let joints = |names: Vec<String>, hit: f64, stiffness: f64, gravity: f64, drag: f64| {
        names
            .iter()
            .map(|n| {
                json!({
                    "node": node(n),
                    "hitRadius": num(hit),
                    "stiffness": num(stiffness),
                    "gravityPower": num(gravity),
                    "gravityDir": [0.0, -1.0, 0.0],
                    "dragForce": num(drag),
                })
            })
            .collect::<Vec<_>>()
    };
    let mut springs = vec![json!({
        "name": "Ponytail",
        "joints": joints((0..PONYTAIL.len()).map(|k| format!("HairTail{k}")).collect(), 0.02, 0.8, 0.35, 0.35),
        "colliderGroups": [0, 1],
    })];
    for tag in ["L", "R"] {
        springs.push(json!({
            "name": format!("SideLock{tag}"),
            "joints": joints((0..SIDE_LOCK.len()).map(|k| format!("SideLock{tag}{k}")).collect(), 0.01, 1.2, 0.3, 0.4),
            "colliderGroups": [0, 1],
        }));
    }
    json!({
        "specVersion": "1.0",
        "colliders": colliders,
        "colliderGroups": [
            { "name": "Head", "colliders": [0] },
            { "name": "Body", "colliders": [1, 2, 3] },
        ],
        "springs": springs,
    })
}

/// The avatar a user chose, or the built-in one when they chose none.
pub fn load_avatar(
    path: Option<&std::path::Path>,
) -> Result<crate::vrm::VrmModel, crate::vrm::VrmError> {
    load_avatar_within(path, &crate::vrm::Budget::default())
}

/// [`load_avatar`] within the budget of the GPU that draws it.
pub fn load_avatar_within(
    path: Option<&std::path::Path>,
    budget: &crate::vrm::Budget,
) -> Result<crate::vrm::VrmModel, crate::vrm::VrmError> {
    match path {
        Some(path) => crate::vrm::load_file_within(path, budget),
        None => crate::vrm::load_within(default_avatar_vrm(), budget),
    }
}
