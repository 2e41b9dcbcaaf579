//! Loads every VRM and glTF sample of ../shared/testdata and a corpus of broken files made from
//! them: real files must load with the documented counts, broken ones must give an error (never
//! a panic).

use std::path::{Path, PathBuf};

use glam::{Quat, Vec3};
use obs_vrm_avatar::vrm::{
    self, HumanBone, LookAtType, MaterialKind, NormalizedRig, SpecVersion, VrmModel,
    gltf_data::world_rest_matrices,
};
use serde_json::Value;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata")
        .join(rel)
}

fn files(dir: &str, ext: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![testdata(dir)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if ext.iter().any(|x| p.extension().is_some_and(|e| e == *x)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn load(rel: &str) -> VrmModel {
    vrm::load_file(testdata(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn world_position(model: &VrmModel, bone: HumanBone) -> Vec3 {
    let node = model.humanoid.as_ref().unwrap().node(bone).unwrap();
    world_rest_matrices(&model.nodes)[node].w_axis.truncate()
}

#[test]
fn every_vrm_loads_and_faces_plus_z() {
    let all = [files("vrm/vrm0", &["vrm"]), files("vrm/vrm1", &["vrm"])].concat();
    assert_eq!(all.len(), 7);
    for path in all {
        let bytes = std::fs::read(&path).unwrap();
        let model = vrm::load(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.display();
        assert!(model.spec_version.is_some(), "{name}");
        // Facing +Z, the avatar's own left is at +X.
        let left = world_position(&model, HumanBone::LeftHand);
        let right = world_position(&model, HumanBone::RightHand);
        assert!(
            left.x > 0.1 && right.x < -0.1,
            "{name}: hands {left} {right}"
        );
        assert!(
            world_position(&model, HumanBone::Head).y > world_position(&model, HumanBone::Hips).y
        );
        let h = model.humanoid.as_ref().unwrap();
        if h.node(HumanBone::LeftToes).is_some() {
            let toes = world_position(&model, HumanBone::LeftToes);
            let foot = world_position(&model, HumanBone::LeftFoot);
            assert!(
                toes.z > foot.z,
                "{name}: toes {toes} behind the foot {foot}"
            );
        }
        for mesh in &model.meshes {
            for p in &mesh.primitives {
                assert!(p.indices.iter().all(|&i| (i as usize) < p.positions.len()));
                assert_eq!(p.indices.len() % 3, 0);
            }
        }
        for img in &model.images {
            assert_eq!(img.rgba8.len(), (img.width * img.height * 4) as usize);
        }
    }
}

#[test]
fn godette_vrm0() {
    let m = load("vrm/vrm0/Godette_vrm_v4.vrm");
    assert_eq!(m.spec_version, Some(SpecVersion::V0));
    let h = m.humanoid.as_ref().unwrap();
    assert_eq!(h.bones.len(), 45);
    assert!(h.node(HumanBone::LeftThumbMetacarpal).is_some());
    assert!(h.node(HumanBone::LeftThumbProximal).is_some());
    assert!(h.node(HumanBone::LeftThumbDistal).is_some());
    let names: Vec<&str> = m.expressions.names().collect();
    assert_eq!(names.len(), 17);
    for n in [
        "aa",
        "ih",
        "ou",
        "ee",
        "oh",
        "happy",
        "angry",
        "sad",
        "relaxed",
        "blink",
        "blinkLeft",
        "blinkRight",
        "lookUp",
        "lookDown",
        "lookLeft",
        "lookRight",
        "neutral",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let aa = m.expressions.get("aa").unwrap();
    assert_eq!(aa.morph_target_binds.len(), 1);
    assert_eq!(
        (
            aa.morph_target_binds[0].index,
            aa.morph_target_binds[0].weight
        ),
        (5, 1.0)
    );
    let inspect = vrm::inspect_json(&m);
    assert_eq!(inspect["spec_version"], "0.0");
    assert_eq!(inspect["title"], "Low-Poly Godette");
    assert_eq!(inspect["morph_targets"], 15);
    assert_eq!(inspect["materials"]["mtoon"], 2);
    assert_eq!(inspect["materials"]["unlit"], 1);
    assert_eq!(inspect["materials"]["pbr"], 1);
    assert_eq!(inspect["look_at"], "expression");
    assert_eq!(inspect["license"]["license_name"], "CC_BY");
    assert_eq!(inspect["humanoid_bones"][0], "hips");
    assert_eq!(m.meshes[0].target_names[5], "ah");
    assert!(m.materials[0].vrm0_properties.is_some());
    assert_eq!(m.images.len(), 5);
    // Three bone groups, every descendant of their roots a joint.
    assert_eq!(
        m.spring
            .springs
            .iter()
            .filter(|s| s.virtual_tail.is_some())
            .count(),
        m.spring.springs.len()
    );
    assert!(m.spring.joint_count() >= 8, "{}", m.spring.joint_count());
    assert_eq!(m.spring.colliders.len(), 4);
    assert_eq!(m.spring.collider_groups.len(), 2);
    assert_eq!(inspect["spring_joints"], m.spring.joint_count());
    // 0.x offsets: Unity (x, y, z) -> (-x, y, z) after the turn.
    let look = m.look_at.unwrap();
    assert_eq!(look.kind, LookAtType::Expression);
    assert!(
        look.offset_from_head_bone
            .abs_diff_eq(Vec3::new(0.0, 0.146, 0.122), 1e-6)
    );
    assert_eq!(look.horizontal_outer.output_scale, 7.1);
    // VRM 0.x bones have no rest rotation, which the turn keeps.
    let rig = NormalizedRig::new(&m.nodes, h);
    for b in rig.bones() {
        assert!(
            b.rest_world_rotation.abs_diff_eq(Quat::IDENTITY, 1e-5),
            "{:?}",
            b.bone
        );
    }
}

#[test]
fn debug_robot_vrm1() {
    let m = load("vrm/vrm1/debug_robot.vrm");
    assert_eq!(m.spec_version, Some(SpecVersion::V1));
    let inspect = vrm::inspect_json(&m);
    assert_eq!(inspect["spec_version"], "1.0");
    assert_eq!(inspect["humanoid_bones"].as_array().unwrap().len(), 53);
    assert_eq!(inspect["expressions"].as_array().unwrap().len(), 18);
    assert_eq!(inspect["look_at"], "bone");
    assert_eq!(inspect["title"], "VRM Animation Debug Robot");
    assert_eq!(inspect["license"]["avatar_permission"], "everyone");
    assert_eq!(inspect["license"]["commercial_usage"], "corporation");
    assert!(inspect["materials"]["unlit"].as_u64().unwrap() > 0);
    assert_eq!(m.meta.authors, vec!["@saturday06".to_string()]);
    assert_eq!(m.images.len(), 3);
}

/// A normalized rotation of one bone turns that bone, in world space, by exactly that rotation.
#[test]
fn normalized_rig_on_real_models() {
    for rel in [
        "vrm/vrm1/debug_robot.vrm",
        "vrm/vrm0/Godette_vrm_v4.vrm",
        "vrm/vrm1/VRMC_materials_mtoon_UV_Animation_Test.vrm",
    ] {
        let m = load(rel);
        let rig = NormalizedRig::new(&m.nodes, m.humanoid.as_ref().unwrap());
        let world = world_rest_matrices(&m.nodes);
        let n = Quat::from_euler(glam::EulerRot::XYZ, 0.3, -0.5, 0.9);
        for b in rig.bones() {
            let parent = m.nodes[b.node].parent.map_or(Quat::IDENTITY, |p| {
                world[p].to_scale_rotation_translation().1
            });
            let turned = parent * b.raw_local_rotation(n);
            assert!(
                turned.abs_diff_eq(n * b.rest_world_rotation, 1e-4)
                    || turned.abs_diff_eq(-(n * b.rest_world_rotation), 1e-4),
                "{rel} {:?}",
                b.bone
            );
        }
    }
}

#[test]
fn binary_override_samples() {
    let m = load("vrm/vrm1/VRMC_vrm_expressions_isBinary_Overrides.vrm");
    let happy = m.expressions.get("happy").unwrap();
    assert!(happy.is_binary);
    assert_eq!(happy.override_blink, vrm::expressions::OverrideType::Blend);
    assert_eq!(happy.texture_transform_binds.len(), 2);
    assert_eq!(m.look_at.unwrap().kind, LookAtType::Expression);
    let index = |name: &str| {
        m.expressions
            .list
            .iter()
            .position(|e| e.name == name)
            .unwrap()
    };
    let weights = |h: f32, b: f32| {
        vrm::ExpressionWeights::from([("happy".to_string(), h), ("blink".to_string(), b)])
    };
    let r = m.expressions.resolve(&weights(0.4, 1.0));
    assert_eq!((r[index("happy")], r[index("blink")]), (0.0, 1.0));
    let r = m.expressions.resolve(&weights(0.6, 1.0));
    assert_eq!((r[index("happy")], r[index("blink")]), (1.0, 0.0));

    let m = load("vrm/vrm1/VRMC_vrm_expressions_isBinary_Overridden.vrm");
    let blink = m.expressions.get("blink").unwrap();
    assert!(blink.is_binary);
    let index = |name: &str| {
        m.expressions
            .list
            .iter()
            .position(|e| e.name == name)
            .unwrap()
    };
    let r = m.expressions.resolve(&weights(0.3, 1.0));
    assert_eq!((r[index("happy")], r[index("blink")]), (0.3, 0.0));
}

#[test]
fn morph_weights_from_expressions() {
    let m = load("vrm/vrm0/Godette_vrm_v4.vrm");
    let input =
        vrm::ExpressionWeights::from([("aa".to_string(), 0.5), ("blinkLeft".to_string(), 2.0)]);
    let resolved = m.expressions.resolve(&input);
    let morph = m.expressions.morph_weights(&m, &resolved);
    let face = m.nodes.iter().position(|n| n.mesh == Some(0)).unwrap();
    assert_eq!(morph[face].len(), 15);
    assert_eq!(morph[face][5], 0.5);
    assert_eq!(morph[face][3], 1.0);
    assert_eq!(morph[face].iter().sum::<f32>(), 1.5);
}

#[test]
fn gltf_samples_load_as_plain_gltf() {
    let all = files("gltf", &["gltf", "glb"]);
    assert!(all.len() >= 6, "{all:?}");
    for path in &all {
        let m = vrm::load_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(m.spec_version, None);
        assert!(m.humanoid.is_none());
        assert!(!m.meshes.is_empty(), "{}", path.display());
    }
    let morph = load("gltf/MorphStressTest.gltf");
    assert_eq!(vrm::inspect_json(&morph)["morph_targets"], 8);
    let skin = load("gltf/SimpleSkin.gltf");
    assert_eq!(skin.skins[0].joints.len(), 2);
    let fox = vrm::load(&std::fs::read(testdata("gltf/Fox.glb")).unwrap()).unwrap();
    assert_eq!(fox.skins[0].joints.len(), 24);
    assert_eq!(fox.images.len(), 1);
    let tt = load("gltf/TextureTransformTest/TextureTransformTest.gltf");
    assert!(tt.images.len() >= 4);
    let transforms = tt
        .materials
        .iter()
        .filter_map(|m| m.base_color_texture.and_then(|t| t.transform))
        .count();
    assert!(transforms >= 5, "{transforms}");
    // External files need a path to resolve against.
    let bytes = std::fs::read(testdata("gltf/AnimatedMorphCube/AnimatedMorphCube.gltf")).unwrap();
    let e = vrm::load(&bytes).unwrap_err().to_string();
    assert!(e.contains("external file"), "{e}");
    assert!(all.iter().all(|p| {
        vrm::load_file(p)
            .unwrap()
            .materials
            .iter()
            .all(|m| m.kind != MaterialKind::MToon)
    }));
}

// ---- broken files ----

fn split_glb(bytes: &[u8]) -> (Value, Vec<u8>) {
    let json_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let json = serde_json::from_slice(&bytes[20..20 + json_len]).unwrap();
    let bin_at = 20 + json_len;
    let bin_len = u32::from_le_bytes(bytes[bin_at..bin_at + 4].try_into().unwrap()) as usize;
    (json, bytes[bin_at + 8..bin_at + 8 + bin_len].to_vec())
}

fn make_glb(json: &Value, bin: &[u8]) -> Vec<u8> {
    let mut j = serde_json::to_vec(json).unwrap();
    while !j.len().is_multiple_of(4) {
        j.push(b' ');
    }
    let mut out = b"glTF".to_vec();
    out.extend(2u32.to_le_bytes());
    out.extend(((12 + 8 + j.len() + 8 + bin.len()) as u32).to_le_bytes());
    out.extend((j.len() as u32).to_le_bytes());
    out.extend(b"JSON");
    out.extend(&j);
    out.extend((bin.len() as u32).to_le_bytes());
    out.extend(b"BIN\0");
    out.extend(bin);
    out
}

fn expect_err(bytes: &[u8], needle: &str) {
    match vrm::load(bytes) {
        Ok(_) => panic!("loaded a broken file (expected {needle:?})"),
        Err(e) => {
            let s = e.to_string();
            assert!(s.contains(needle), "{s:?} does not mention {needle:?}");
            assert!(!s.contains('\n'));
        }
    }
}

fn edited(rel: &str, edit: impl FnOnce(&mut Value, &mut Vec<u8>)) -> Vec<u8> {
    let bytes = std::fs::read(testdata(rel)).unwrap();
    let (mut json, mut bin) = split_glb(&bytes);
    edit(&mut json, &mut bin);
    make_glb(&json, &bin)
}

const SMALL0: &str = "vrm/vrm0/simple_morph_skinned.vrm";
const SMALL1: &str = "vrm/vrm1/debug_robot.vrm";

#[test]
fn round_trip_of_the_test_helpers_loads() {
    vrm::load(&edited(SMALL0, |_, _| {})).unwrap();
    vrm::load(&edited(SMALL1, |_, _| {})).unwrap();
}

#[test]
fn truncated_files() {
    let bytes = std::fs::read(testdata(SMALL0)).unwrap();
    for at in [
        0,
        3,
        4,
        11,
        12,
        16,
        19,
        20,
        100,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        assert!(vrm::load(&bytes[..at]).is_err(), "truncated at {at} loaded");
    }
    expect_err(&bytes[..bytes.len() - 1], "truncated GLB");
}

#[test]
fn corrupt_json() {
    let bytes = std::fs::read(testdata(SMALL0)).unwrap();
    let mut b = bytes.clone();
    b[20] = b'x'; // the JSON's opening brace
    expect_err(&b, "JSON does not parse");
    let mut b = bytes.clone();
    let json_len = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    for i in (20..20 + json_len).step_by(97) {
        b[i] ^= 0x20;
    }
    assert!(vrm::load(&b).is_err());
}

#[test]
fn out_of_range_references() {
    expect_err(
        &edited(SMALL0, |j, _| {
            j["meshes"][0]["primitives"][0]["attributes"]["POSITION"] = 9999.into()
        }),
        "POSITION",
    );
    expect_err(
        &edited(SMALL0, |j, _| {
            j["meshes"][0]["primitives"][0]["indices"] = 10_000.into()
        }),
        "indices",
    );
    expect_err(
        &edited(SMALL0, |j, _| {
            j["nodes"][0]["children"] = serde_json::json!([5000])
        }),
        "children",
    );
    expect_err(
        &edited(SMALL0, |j, _| {
            j["bufferViews"][0]["byteOffset"] = 1_000_000.into()
        }),
        "lies outside buffer",
    );
    expect_err(
        &edited(SMALL0, |j, _| {
            j["extensions"]["VRM"]["blendShapeMaster"]["blendShapeGroups"][1]["binds"] =
                serde_json::json!([{"mesh": 0, "index": 99, "weight": 100}])
        }),
        "refers to index 99",
    );
    expect_err(
        &edited(SMALL1, |j, _| {
            j["extensions"]["VRMC_vrm"]["humanoid"]["humanBones"]["head"]["node"] = 12345.into()
        }),
        "humanoid bone head refers to index 12345",
    );
    // A vertex index beyond the vertex count, written into the binary data.
    expect_err(
        &edited(SMALL0, |j, bin| {
            let acc = j["meshes"][0]["primitives"][0]["indices"].as_u64().unwrap() as usize;
            let a = &j["accessors"][acc];
            let view = &j["bufferViews"][a["bufferView"].as_u64().unwrap() as usize];
            let at = view["byteOffset"].as_u64().unwrap_or(0) as usize
                + a["byteOffset"].as_u64().unwrap_or(0) as usize;
            let size = match a["componentType"].as_u64().unwrap() {
                5121 => 1,
                5123 => 2,
                _ => 4,
            };
            bin[at..at + size].fill(0xff);
        }),
        "vertex index",
    );
}

#[test]
fn node_cycle() {
    expect_err(
        &edited(SMALL0, |j, _| {
            // The scene root becomes a child of one of its own descendants.
            let root = j["scenes"][0]["nodes"][0].as_u64().unwrap();
            let nodes = j["nodes"].as_array_mut().unwrap();
            let mut leaf = root as usize;
            while let Some(c) = nodes[leaf].get("children").and_then(|c| c.get(0)) {
                leaf = c.as_u64().unwrap() as usize;
            }
            nodes[leaf]["children"] = serde_json::json!([root]);
        }),
        "cycle",
    );
    expect_err(
        &edited(SMALL0, |j, _| {
            j["nodes"][1]["children"] = serde_json::json!([1])
        }),
        "own child",
    );
}

#[test]
fn missing_hips() {
    expect_err(
        &edited(SMALL0, |j, _| {
            let bones = j["extensions"]["VRM"]["humanoid"]["humanBones"]
                .as_array_mut()
                .unwrap();
            bones.retain(|b| b["bone"] != "hips");
        }),
        "lacks required bones: hips",
    );
    expect_err(
        &edited(SMALL1, |j, _| {
            j["extensions"]["VRMC_vrm"]["humanoid"]["humanBones"]
                .as_object_mut()
                .unwrap()
                .remove("hips");
        }),
        "lacks required bones: hips",
    );
}

#[test]
fn absurd_sizes() {
    let position_accessor = |j: &Value| {
        j["meshes"][0]["primitives"][0]["attributes"]["POSITION"]
            .as_u64()
            .unwrap() as usize
    };
    expect_err(
        &edited(SMALL0, |j, _| {
            let a = position_accessor(j);
            j["accessors"][a]["count"] = 5_000_000.into();
        }),
        "at most 1000000",
    );
    expect_err(
        &edited(SMALL0, |j, _| {
            let a = position_accessor(j);
            j["accessors"][a]["count"] = 1_000_000_000_000u64.into();
        }),
        "at most 1000000",
    );
    // Within the per-primitive limit, but the data is not there.
    expect_err(
        &edited(SMALL0, |j, _| {
            let a = position_accessor(j);
            j["accessors"][a]["count"] = 900_000.into();
        }),
        "do not fit",
    );
    // Sparse accessors without a bufferView expand to zeros: tiny files, huge meshes. Several
    // primitives sharing one accessor count once; three distinct ones exceed the model limit.
    expect_err(
        &edited(SMALL0, |j, _| {
            let n = j["accessors"].as_array().unwrap().len();
            for _ in 0..3 {
                j["accessors"].as_array_mut().unwrap().push(serde_json::json!({
                    "componentType": 5126, "type": "VEC3", "count": 900_000, "min": [0, 0, 0], "max": [0, 0, 0],
                    "sparse": {"count": 1, "indices": {"bufferView": 0, "componentType": 5121}, "values": {"bufferView": 0}}
                }));
            }
            let shared: Vec<Value> = (0..4)
                .map(|_| serde_json::json!({"attributes": {"POSITION": n}}))
                .collect();
            let distinct: Vec<Value> = (1..3)
                .map(|k| serde_json::json!({"attributes": {"POSITION": n + k}}))
                .collect();
            j["meshes"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"primitives": shared}));
            j["meshes"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"primitives": distinct}));
        }),
        "vertices: more than 2000000",
    );
    // Thousands of spring joints.
    expect_err(
        &edited(SMALL1, |j, _| {
            let joints: Vec<Value> = (0..5000)
                .map(|i| serde_json::json!({"node": i % 3}))
                .collect();
            j["extensions"]["VRMC_springBone"] =
                serde_json::json!({"specVersion": "1.0", "springs": [{"joints": joints}]});
        }),
        "5000 spring joints",
    );
}

#[test]
fn json_over_the_limit() {
    let mut json = b"{\"asset\":{\"version\":\"2.0\"}}".to_vec();
    json.resize(65 << 20, b' ');
    expect_err(&make_glb_raw(&json), "at most 67108864");
}

fn make_glb_raw(json: &[u8]) -> Vec<u8> {
    let mut out = b"glTF".to_vec();
    out.extend(2u32.to_le_bytes());
    out.extend(((20 + json.len()) as u32).to_le_bytes());
    out.extend((json.len() as u32).to_le_bytes());
    out.extend(b"JSON");
    out.extend(json);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG that claims a size in its header but carries no pixel data.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    png
}

#[test]
fn huge_texture_is_refused_from_its_header() {
    use base64::Engine as _;
    for (w, h, needle) in [
        (10_000, 16, "10000x16 (at most 8192x8192)"),
        (8192, 8192, "cannot decode"),
    ] {
        let uri = format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(png_header(w, h))
        );
        let json = serde_json::json!({"asset": {"version": "2.0"}, "images": [{"uri": uri}]});
        expect_err(serde_json::to_vec(&json).unwrap().as_slice(), needle);
    }
}

/// xorshift64: a fixed-seed stream of corruptions without a new dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Iterations of the corruption loops: a few hundred in normal runs; set VRM_FUZZ_ITERATIONS
/// for a deeper search.
fn iterations() -> usize {
    std::env::var("VRM_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

#[test]
fn random_corruptions_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for rel in [SMALL0, SMALL1] {
        let original = std::fs::read(testdata(rel)).unwrap();
        let json_end = 20 + u32::from_le_bytes(original[12..16].try_into().unwrap()) as usize;
        for _ in 0..iterations() {
            let mut b = original.clone();
            for _ in 0..1 + rng.below(8) {
                // Mostly the JSON chunk, where a flipped byte changes structure.
                let at = if rng.below(4) == 0 {
                    rng.below(b.len())
                } else {
                    20 + rng.below(json_end - 20)
                };
                b[at] = rng.next() as u8;
            }
            if rng.below(8) == 0 {
                b.truncate(rng.below(b.len()));
            }
            let _ = vrm::load(&b);
        }
    }
}

/// Replaces a random number, string or array in the JSON with an awkward value: this reaches
/// the checks behind the JSON parser (indices, counts, offsets, enums) far more often than
/// byte flips do.
fn mutate(v: &mut Value, rng: &mut XorShift) {
    // Slots: every scalar and every array, in a fixed walk order.
    fn count(v: &Value) -> usize {
        match v {
            Value::Array(a) => 1 + a.iter().map(count).sum::<usize>(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 1,
        }
    }
    fn nth<'a>(v: &'a mut Value, k: &mut usize) -> Option<&'a mut Value> {
        let is_slot = !v.is_object();
        if is_slot {
            if *k == 0 {
                return Some(v);
            }
            *k -= 1;
        }
        match v {
            Value::Array(a) => a.iter_mut().find_map(|x| nth(x, k)),
            Value::Object(o) => o.values_mut().find_map(|x| nth(x, k)),
            _ => None,
        }
    }
    let total = count(v);
    let mut k = rng.below(total);
    let Some(target) = nth(v, &mut k) else {
        return;
    };
    let awkward = [
        serde_json::json!(-1),
        serde_json::json!(0),
        serde_json::json!(1),
        serde_json::json!(3),
        serde_json::json!(255),
        serde_json::json!(65536),
        serde_json::json!(4294967295u64),
        serde_json::json!(1e300),
        serde_json::json!(-0.5),
        serde_json::json!(null),
        serde_json::json!("x"),
        serde_json::json!([]),
        serde_json::json!([0, 0, 0]),
        serde_json::json!({}),
    ];
    *target = match target {
        Value::Number(n) if rng.below(2) == 0 => {
            let f = n.as_f64().unwrap_or(0.0);
            serde_json::json!(f + [-1.0, 1.0, 2.0, 1000.0][rng.below(4)])
        }
        _ => awkward[rng.below(awkward.len())].clone(),
    };
}

#[test]
fn json_mutations_never_panic() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for rel in [
        SMALL0,
        SMALL1,
        "vrm/vrm1/VRMC_vrm_expressions_isBinary_Overrides.vrm",
    ] {
        let (json, bin) = split_glb(&std::fs::read(testdata(rel)).unwrap());
        for _ in 0..iterations() {
            let mut j = json.clone();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut j, &mut rng);
            }
            let _ = vrm::load(&make_glb(&j, &bin));
        }
    }
}
