//! Structural tests of the generated VRM (run with `cargo test --lib default_avatar`).

use std::collections::BTreeSet;

use glam::{Mat4, Vec3};
use serde_json::Value;

use super::{build, default_avatar_vrm};

const REQUIRED_BONES: [&str; 15] = [
    "hips",
    "spine",
    "head",
    "leftUpperLeg",
    "leftLowerLeg",
    "leftFoot",
    "rightUpperLeg",
    "rightLowerLeg",
    "rightFoot",
    "leftUpperArm",
    "leftLowerArm",
    "leftHand",
    "rightUpperArm",
    "rightLowerArm",
    "rightHand",
];

const OPTIONAL_BONES: [&str; 9] = [
    "chest",
    "upperChest",
    "neck",
    "leftEye",
    "rightEye",
    "leftShoulder",
    "rightShoulder",
    "leftToes",
    "rightToes",
];

const EXPRESSIONS: [&str; 13] = [
    "blink",
    "blinkLeft",
    "blinkRight",
    "aa",
    "ih",
    "ou",
    "ee",
    "oh",
    "happy",
    "angry",
    "sad",
    "relaxed",
    "surprised",
];

fn finger_bones() -> Vec<String> {
    let mut names = Vec::new();
    for side in ["left", "right"] {
        for segment in ["Metacarpal", "Proximal", "Distal"] {
            names.push(format!("{side}Thumb{segment}"));
        }
        for finger in ["Index", "Middle", "Ring", "Little"] {
            for segment in ["Proximal", "Intermediate", "Distal"] {
                names.push(format!("{side}{finger}{segment}"));
            }
        }
    }
    names
}

/// The JSON chunk of the GLB.
fn json() -> Value {
    let bytes = default_avatar_vrm();
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[20..20 + len]).unwrap()
}

fn import() -> (gltf::Document, Vec<gltf::buffer::Data>) {
    let (doc, buffers, _images) = gltf::import_slice(default_avatar_vrm()).expect("import");
    (doc, buffers)
}

/// World rest matrix of every node.
fn world_matrices(doc: &gltf::Document) -> Vec<Mat4> {
    let mut world = vec![Mat4::IDENTITY; doc.nodes().len()];
    fn walk(node: gltf::Node, parent: Mat4, world: &mut [Mat4]) {
        let m = parent * Mat4::from_cols_array_2d(&node.transform().matrix());
        world[node.index()] = m;
        for child in node.children() {
            walk(child, m, world);
        }
    }
    for scene in doc.scenes() {
        for node in scene.nodes() {
            walk(node, Mat4::IDENTITY, &mut world);
        }
    }
    world
}

fn human_bone_node(json: &Value, bone: &str) -> usize {
    json["extensions"]["VRMC_vrm"]["humanoid"]["humanBones"][bone]["node"]
        .as_u64()
        .unwrap_or_else(|| panic!("humanoid bone {bone} missing")) as usize
}

/// Skinned rest positions of every vertex of `mesh` (all primitives, in model space).
fn mesh_positions(doc: &gltf::Document, buffers: &[gltf::buffer::Data], mesh: &str) -> Vec<Vec3> {
    let mesh = doc.meshes().find(|m| m.name() == Some(mesh)).unwrap();
    mesh.primitives()
        .flat_map(|p| {
            let reader = p.reader(|b| Some(&buffers[b.index()]));
            reader
                .read_positions()
                .unwrap()
                .map(Vec3::from)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn default_avatar_glb_container_is_well_formed() {
    let bytes = default_avatar_vrm();
    assert_eq!(&bytes[0..4], b"glTF");
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 2);
    assert_eq!(
        u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
        bytes.len()
    );
    let json_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    assert_eq!(&bytes[16..20], b"JSON");
    assert_eq!(json_len % 4, 0);
    let bin_at = 20 + json_len;
    let bin_len = u32::from_le_bytes(bytes[bin_at..bin_at + 4].try_into().unwrap()) as usize;
    assert_eq!(&bytes[bin_at + 4..bin_at + 8], b"BIN\0");
    assert_eq!(bin_len % 4, 0);
    assert_eq!(bin_at + 8 + bin_len, bytes.len());
    let json = json();
    assert_eq!(
        json["buffers"][0]["byteLength"].as_u64().unwrap() as usize,
        bin_len
    );
    assert!(bytes.len() < 1024 * 1024, "{} bytes", bytes.len());
}

#[test]
fn default_avatar_parses_and_validates_with_gltf() {
    let gltf = gltf::Gltf::from_slice(default_avatar_vrm()).expect("valid glTF");
    assert_eq!(gltf.skins().count(), 1);
    let (doc, _) = import();
    assert_eq!(doc.meshes().count(), 2);
    for accessor in doc.accessors() {
        if accessor.normalized() {
            panic!("no normalized accessors are written");
        }
    }
    for mesh in doc.meshes() {
        for prim in mesh.primitives() {
            let joints = prim.get(&gltf::Semantic::Joints(0)).unwrap();
            assert_eq!(joints.data_type(), gltf::accessor::DataType::U8);
            let weights = prim.get(&gltf::Semantic::Weights(0)).unwrap();
            assert_eq!(weights.data_type(), gltf::accessor::DataType::F32);
            let position = prim.get(&gltf::Semantic::Positions).unwrap();
            assert!(position.min().is_some() && position.max().is_some());
        }
    }
}

#[test]
fn default_avatar_is_vrm_1_0_with_full_humanoid() {
    let json = json();
    let used: Vec<&str> = json["extensionsUsed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for ext in ["VRMC_vrm", "VRMC_materials_mtoon", "VRMC_springBone"] {
        assert!(used.contains(&ext), "{ext} not in extensionsUsed");
    }
    let vrm = &json["extensions"]["VRMC_vrm"];
    assert_eq!(vrm["specVersion"], "1.0");
    let node_count = json["nodes"].as_array().unwrap().len();
    let mut nodes = BTreeSet::new();
    let all: Vec<String> = REQUIRED_BONES
        .iter()
        .chain(OPTIONAL_BONES.iter())
        .map(|s| s.to_string())
        .chain(finger_bones())
        .collect();
    for bone in &all {
        let node = human_bone_node(&json, bone);
        assert!(node < node_count);
        assert!(nodes.insert(node), "{bone} shares a node");
    }
    assert_eq!(
        vrm["humanoid"]["humanBones"].as_object().unwrap().len(),
        all.len()
    );
    // Rest rotations are identity and scales are one (the VRM 1.0 T-pose with a trivial rig).
    for node in json["nodes"].as_array().unwrap() {
        assert!(node.get("rotation").is_none() && node.get("scale").is_none());
    }
}

#[test]
fn default_avatar_meta_grants_the_vrm_public_license() {
    let meta = &json()["extensions"]["VRMC_vrm"]["meta"];
    assert_eq!(meta["name"], "obs-vrm-avatar default");
    assert_eq!(meta["authors"], serde_json::json!(["obs-vrm-avatar"]));
    assert_eq!(meta["licenseUrl"], "https://vrm.dev/licenses/1.0/");
    assert_eq!(meta["avatarPermission"], "everyone");
    assert_eq!(meta["commercialUsage"], "corporation");
    assert_eq!(meta["allowRedistribution"], true);
    assert_eq!(meta["modification"], "allowModificationRedistribution");
    assert_eq!(meta["creditNotation"], "unnecessary");
}

#[test]
fn default_avatar_expressions_move_face_vertices() {
    let json = json();
    let (doc, buffers) = import();
    let face_node = doc.nodes().find(|n| n.name() == Some("Face")).unwrap();
    let face = face_node.mesh().unwrap();
    let presets = &json["extensions"]["VRMC_vrm"]["expressions"]["preset"];
    // Largest |delta| per morph target over all face primitives.
    let mut largest = Vec::new();
    for prim in face.primitives() {
        let reader = prim.reader(|b| Some(&buffers[b.index()]));
        for (k, (positions, _, _)) in reader.read_morph_targets().enumerate() {
            let max = positions
                .unwrap()
                .map(|d| Vec3::from(d).length())
                .fold(0.0f32, f32::max);
            if largest.len() <= k {
                largest.push(0.0f32);
            }
            largest[k] = largest[k].max(max);
        }
    }
    assert_eq!(largest.len(), EXPRESSIONS.len());
    for name in EXPRESSIONS {
        let binds = presets[name]["morphTargetBinds"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no binds"));
        assert!(!binds.is_empty());
        for bind in binds {
            assert_eq!(bind["node"].as_u64().unwrap() as usize, face_node.index());
            let index = bind["index"].as_u64().unwrap() as usize;
            assert!(bind["weight"].as_f64().unwrap() > 0.0);
            assert!(
                largest[index] > 0.002,
                "{name} moves the face by {} m only",
                largest[index]
            );
        }
    }
    // The mouth shapes differ from each other.
    let mouth = face
        .primitives()
        .find(|p| p.material().name() == Some("Mouth"))
        .unwrap();
    let reader = mouth.reader(|b| Some(&buffers[b.index()]));
    let targets: Vec<Vec<Vec3>> = reader
        .read_morph_targets()
        .map(|(p, _, _)| p.unwrap().map(Vec3::from).collect())
        .collect();
    for a in ["aa", "ih", "ou", "ee", "oh"] {
        for b in ["aa", "ih", "ou", "ee", "oh"] {
            if a < b {
                let ia = EXPRESSIONS.iter().position(|&e| e == a).unwrap();
                let ib = EXPRESSIONS.iter().position(|&e| e == b).unwrap();
                let diff = targets[ia]
                    .iter()
                    .zip(&targets[ib])
                    .map(|(x, y)| (*x - *y).length())
                    .fold(0.0f32, f32::max);
                assert!(diff > 0.003, "{a} and {b} look alike");
            }
        }
    }
    // blinkLeft closes the subject's left eye (+X) only.
    let blink_left = EXPRESSIONS.iter().position(|&e| e == "blinkLeft").unwrap();
    let white = face
        .primitives()
        .find(|p| p.material().name() == Some("EyeWhite"))
        .unwrap();
    let reader = white.reader(|b| Some(&buffers[b.index()]));
    let base: Vec<Vec3> = reader.read_positions().unwrap().map(Vec3::from).collect();
    let deltas: Vec<Vec3> = reader
        .read_morph_targets()
        .nth(blink_left)
        .unwrap()
        .0
        .unwrap()
        .map(Vec3::from)
        .collect();
    for (p, d) in base.iter().zip(&deltas) {
        if p.x < 0.0 {
            assert_eq!(*d, Vec3::ZERO);
        }
    }
    assert!(deltas.iter().any(|d| d.length() > 0.01));
}

#[test]
fn default_avatar_skin_weights_are_normalized_and_valid() {
    let (doc, buffers) = import();
    let skin = doc.skins().next().unwrap();
    let joint_count = skin.joints().count();
    let mut vertices = 0;
    for node in doc.nodes().filter(|n| n.mesh().is_some()) {
        assert_eq!(node.skin().map(|s| s.index()), Some(skin.index()));
        for prim in node.mesh().unwrap().primitives() {
            let reader = prim.reader(|b| Some(&buffers[b.index()]));
            let joints: Vec<[u16; 4]> = reader.read_joints(0).unwrap().into_u16().collect();
            let weights: Vec<[f32; 4]> = reader.read_weights(0).unwrap().into_f32().collect();
            let count = reader.read_positions().unwrap().count();
            assert_eq!(joints.len(), count);
            assert_eq!(weights.len(), count);
            for (j, w) in joints.iter().zip(&weights) {
                let sum: f32 = w.iter().sum();
                assert!((sum - 1.0).abs() < 1e-4, "weights {w:?} sum to {sum}");
                for (joint, weight) in j.iter().zip(w) {
                    assert!(*weight >= 0.0);
                    if *weight > 0.0 {
                        assert!((*joint as usize) < joint_count);
                    }
                }
            }
            vertices += count;
        }
    }
    assert!(vertices > 1000);
}

#[test]
fn default_avatar_inverse_bind_matrices_match_rest_pose() {
    let (doc, buffers) = import();
    let world = world_matrices(&doc);
    let skin = doc.skins().next().unwrap();
    let reader = skin.reader(|b| Some(&buffers[b.index()]));
    let ibms: Vec<Mat4> = reader
        .read_inverse_bind_matrices()
        .unwrap()
        .map(|m| Mat4::from_cols_array_2d(&m))
        .collect();
    assert_eq!(ibms.len(), skin.joints().count());
    for (joint, ibm) in skin.joints().zip(&ibms) {
        let product = *ibm * world[joint.index()];
        assert!(
            product.abs_diff_eq(Mat4::IDENTITY, 1e-5),
            "{:?}: {product}",
            joint.name()
        );
    }
}

#[test]
fn default_avatar_faces_plus_z_with_left_at_plus_x() {
    let json = json();
    let (doc, buffers) = import();
    let world = world_matrices(&doc);
    let at = |bone: &str| world[human_bone_node(&json, bone)].w_axis.truncate();
    assert!(at("leftHand").x > 0.4 && at("rightHand").x < -0.4);
    assert!(at("leftUpperLeg").x > 0.0 && at("leftEye").x > 0.0);
    assert!(at("head").y > at("hips").y && at("hips").y > at("leftFoot").y);
    let face = mesh_positions(&doc, &buffers, "Face");
    let body = mesh_positions(&doc, &buffers, "Body");
    let head_y = at("head").y;
    let back_of_head = body
        .iter()
        .filter(|p| p.y > head_y + 0.05 && p.x.abs() < 0.03)
        .map(|p| p.z)
        .fold(f32::INFINITY, f32::min);
    let face_min_z = face.iter().map(|p| p.z).fold(f32::INFINITY, f32::min);
    assert!(face_min_z > 0.05, "the face is at the front: {face_min_z}");
    assert!(back_of_head < -0.08, "the back of the head: {back_of_head}");
    // Toes point forward.
    assert!(at("leftToes").z > at("leftFoot").z);
    // Thumbs point forward (+Z) as well as outward.
    assert!(at("leftThumbDistal").z > at("leftThumbMetacarpal").z);
}

#[test]
fn default_avatar_height_is_about_one_and_a_half_meters() {
    let (doc, buffers) = import();
    let mut all = mesh_positions(&doc, &buffers, "Body");
    all.extend(mesh_positions(&doc, &buffers, "Face"));
    let min = all.iter().fold(Vec3::INFINITY, |a, &b| a.min(b));
    let max = all.iter().fold(Vec3::NEG_INFINITY, |a, &b| a.max(b));
    let height = max.y - min.y;
    assert!((1.4..1.7).contains(&height), "height {height}");
    assert!(min.y.abs() < 0.005, "feet on the ground: {}", min.y);
    assert!((max.x + min.x).abs() < 1e-3, "symmetric in x");
}

#[test]
fn default_avatar_is_deterministic() {
    let a = build();
    let b = build();
    assert!(a == b, "two builds differ");
    assert!(a == default_avatar_vrm());
}

#[test]
fn default_avatar_springs_and_colliders_reference_valid_nodes() {
    let json = json();
    let (doc, _) = import();
    let parents: Vec<Option<usize>> = {
        let mut parents = vec![None; doc.nodes().len()];
        for node in doc.nodes() {
            for child in node.children() {
                parents[child.index()] = Some(node.index());
            }
        }
        parents
    };
    let is_ancestor = |a: usize, mut b: usize| {
        while let Some(p) = parents[b] {
            if p == a {
                return true;
            }
            b = p;
        }
        false
    };
    let spring = &json["extensions"]["VRMC_springBone"];
    assert_eq!(spring["specVersion"], "1.0");
    let colliders = spring["colliders"].as_array().unwrap();
    for c in colliders {
        assert!((c["node"].as_u64().unwrap() as usize) < doc.nodes().len());
        let shape = &c["shape"];
        assert!(shape.get("sphere").is_some() || shape.get("capsule").is_some());
    }
    let groups = spring["colliderGroups"].as_array().unwrap();
    for g in groups {
        for c in g["colliders"].as_array().unwrap() {
            assert!((c.as_u64().unwrap() as usize) < colliders.len());
        }
    }
    let springs = spring["springs"].as_array().unwrap();
    assert!(springs.len() >= 3);
    let mut seen = BTreeSet::new();
    for s in springs {
        let joints: Vec<usize> = s["joints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| {
                assert!(j["hitRadius"].as_f64().unwrap() > 0.0);
                assert!(j["stiffness"].as_f64().unwrap() > 0.0);
                let drag = j["dragForce"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&drag));
                j["node"].as_u64().unwrap() as usize
            })
            .collect();
        assert!(joints.len() >= 3);
        for pair in joints.windows(2) {
            assert!(is_ancestor(pair[0], pair[1]), "chain {pair:?} broken");
        }
        for j in joints {
            assert!(seen.insert(j), "joint {j} in two springs");
        }
        let refs = s["colliderGroups"].as_array().unwrap();
        assert!(!refs.is_empty());
        for g in refs {
            assert!((g.as_u64().unwrap() as usize) < groups.len());
        }
    }
}

#[test]
fn default_avatar_materials_are_mtoon_with_outlines_on_body_only() {
    let json = json();
    for material in json["materials"].as_array().unwrap() {
        let mtoon = &material["extensions"]["VRMC_materials_mtoon"];
        assert_eq!(mtoon["specVersion"], "1.0");
        let name = material["name"].as_str().unwrap();
        let outlined = !["EyeWhite", "Iris", "FaceLine", "Mouth"].contains(&name);
        if outlined {
            assert_eq!(mtoon["outlineWidthMode"], "worldCoordinates");
            let width = mtoon["outlineWidthFactor"].as_f64().unwrap();
            assert!((0.002..=0.003).contains(&width));
        } else {
            assert_eq!(mtoon["outlineWidthMode"], "none");
        }
        // Shade colors are darker than the lit colors.
        let base = &material["pbrMetallicRoughness"]["baseColorFactor"];
        let shade = &mtoon["shadeColorFactor"];
        let luma = |c: &Value| -> f64 { (0..3).map(|k| c[k].as_f64().unwrap()).sum() };
        assert!(luma(shade) < luma(base), "{name}");
    }
}

/// A triangle: positions, normals, lit color, shade color.
type Triangle = ([Vec3; 3], [Vec3; 3], [f32; 3], [f32; 3]);

/// A triangle soup to rasterize.
struct Soup {
    tris: Vec<Triangle>,
}

/// The avatar's triangles with morph weights `weights` (by target index) and local bone
/// rotations `pose` (node index, rotation) applied through the skin.
fn soup(weights: &[f32], pose: &[(usize, glam::Quat)]) -> Soup {
    let json = json();
    let (doc, buffers) = import();
    let skin = doc.skins().next().unwrap();
    let reader = skin.reader(|b| Some(&buffers[b.index()]));
    let ibms: Vec<Mat4> = reader
        .read_inverse_bind_matrices()
        .unwrap()
        .map(|m| Mat4::from_cols_array_2d(&m))
        .collect();
    // Posed world matrices.
    let mut world = vec![Mat4::IDENTITY; doc.nodes().len()];
    fn walk(node: gltf::Node, parent: Mat4, pose: &[(usize, glam::Quat)], world: &mut [Mat4]) {
        let rest = Mat4::from_cols_array_2d(&node.transform().matrix());
        let rotation = pose
            .iter()
            .find(|(n, _)| *n == node.index())
            .map_or(Mat4::IDENTITY, |(_, q)| Mat4::from_quat(*q));
        let m = parent * rest * rotation;
        world[node.index()] = m;
        for child in node.children() {
            walk(child, m, pose, world);
        }
    }
    for node in doc.scenes().next().unwrap().nodes() {
        walk(node, Mat4::IDENTITY, pose, &mut world);
    }
    let joint_mats: Vec<Mat4> = skin
        .joints()
        .zip(&ibms)
        .map(|(j, ibm)| world[j.index()] * *ibm)
        .collect();
    let srgb = |c: f64| (c.max(0.0).powf(1.0 / 2.2)) as f32;
    let mut tris = Vec::new();
    for mesh in doc.meshes() {
        for prim in mesh.primitives() {
            let material = &json["materials"][prim.material().index().unwrap()];
            let color = |v: &Value| [0, 1, 2].map(|k| srgb(v[k].as_f64().unwrap()));
            let lit = color(&material["pbrMetallicRoughness"]["baseColorFactor"]);
            let shade = color(&material["extensions"]["VRMC_materials_mtoon"]["shadeColorFactor"]);
            let reader = prim.reader(|b| Some(&buffers[b.index()]));
            let mut positions: Vec<Vec3> =
                reader.read_positions().unwrap().map(Vec3::from).collect();
            for (k, (deltas, _, _)) in reader.read_morph_targets().enumerate() {
                let w = weights.get(k).copied().unwrap_or(0.0);
                for (p, d) in positions.iter_mut().zip(deltas.unwrap()) {
                    *p += Vec3::from(d) * w;
                }
            }
            let normals: Vec<Vec3> = reader.read_normals().unwrap().map(Vec3::from).collect();
            let joints: Vec<[u16; 4]> = reader.read_joints(0).unwrap().into_u16().collect();
            let ws: Vec<[f32; 4]> = reader.read_weights(0).unwrap().into_f32().collect();
            let skinned: Vec<(Vec3, Vec3)> = (0..positions.len())
                .map(|v| {
                    let m = (0..4).fold(Mat4::ZERO, |acc, k| {
                        acc + joint_mats[joints[v][k] as usize] * ws[v][k]
                    });
                    (
                        m.transform_point3(positions[v]),
                        m.transform_vector3(normals[v]).normalize(),
                    )
                })
                .collect();
            let indices: Vec<u32> = reader.read_indices().unwrap().into_u32().collect();
            for t in indices.chunks(3) {
                let [a, b, c] = [0, 1, 2].map(|k| skinned[t[k] as usize]);
                tris.push(([a.0, b.0, c.0], [a.1, b.1, c.1], lit, shade));
            }
        }
    }
    Soup { tris }
}

/// Orthographic rendering: `view` maps a point to (pixel x, pixel y, depth: larger is nearer).
fn rasterize(
    soup: &Soup,
    (w, h): (usize, usize),
    view: &dyn Fn(Vec3) -> Vec3,
    light: Vec3,
) -> Vec<u8> {
    let mut rgba = vec![0u8; w * h * 4];
    let mut depth = vec![f32::NEG_INFINITY; w * h];
    for (p, n, lit, shade) in &soup.tris {
        let s = p.map(view);
        let area = (s[1].x - s[0].x) * (s[2].y - s[0].y) - (s[2].x - s[0].x) * (s[1].y - s[0].y);
        if area.abs() < 1e-9 {
            continue;
        }
        let min = s[0].min(s[1]).min(s[2]);
        let max = s[0].max(s[1]).max(s[2]);
        for y in (min.y.floor().max(0.0) as usize)..(max.y.ceil().min(h as f32) as usize) {
            for x in (min.x.floor().max(0.0) as usize)..(max.x.ceil().min(w as f32) as usize) {
                let q = glam::Vec2::new(x as f32 + 0.5, y as f32 + 0.5);
                let edge = |a: Vec3, b: Vec3| (b.x - a.x) * (q.y - a.y) - (q.x - a.x) * (b.y - a.y);
                let l = [
                    edge(s[1], s[2]) / area,
                    edge(s[2], s[0]) / area,
                    edge(s[0], s[1]) / area,
                ];
                if l.iter().any(|&v| v < 0.0) {
                    continue;
                }
                let z = l[0] * s[0].z + l[1] * s[1].z + l[2] * s[2].z;
                let at = y * w + x;
                if z <= depth[at] {
                    continue;
                }
                depth[at] = z;
                let normal = (n[0] * l[0] + n[1] * l[1] + n[2] * l[2]).normalize();
                let color = if normal.dot(light) > 0.0 { lit } else { shade };
                let [r, g, b] = color.map(|c| (c.clamp(0.0, 1.0) * 255.0) as u8);
                rgba[at * 4..at * 4 + 4].copy_from_slice(&[r, g, b, 255]);
            }
        }
    }
    rgba
}

/// `$CARGO_TARGET_DIR/default_avatar/` (or `target/default_avatar/`) for the sanity outputs.
fn out_dir() -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or("target".into());
    let dir = std::path::PathBuf::from(target).join("default_avatar");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_png(name: &str, (w, h): (usize, usize), rgba: &[u8]) {
    let file = std::fs::File::create(out_dir().join(name)).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(rgba)
        .unwrap();
}

/// Renders views for a person to look at (front, side, a posed front, face expressions) under
/// `target/default_avatar/`, and checks the front silhouette has a head, hands and feet.
#[test]
fn default_avatar_sanity_images() {
    let light = Vec3::new(0.3, 0.6, 1.0).normalize();
    let size = (400, 400);
    let scale = 400.0 / 1.7;
    let front = |p: Vec3| Vec3::new(200.0 + p.x * scale, 395.0 - p.y * scale, p.z);
    let side = |p: Vec3| Vec3::new(200.0 - p.z * scale, 395.0 - p.y * scale, p.x);
    let rest = soup(&[], &[]);
    let image = rasterize(&rest, size, &front, light);
    write_png("front.png", size, &image);
    let alpha = |x: f32, y: f32| {
        image[((395.0 - y * scale) as usize * 400 + (200.0 + x * scale) as usize) * 4 + 3]
    };
    assert_eq!(alpha(0.0, 1.45), 255, "head");
    assert_eq!(alpha(0.0, 1.0), 255, "torso");
    assert_eq!(alpha(0.65, 1.19), 255, "left hand");
    assert_eq!(alpha(-0.65, 1.19), 255, "right hand");
    assert_eq!(alpha(0.085, 0.03), 255, "left foot");
    assert_eq!(alpha(0.3, 0.6), 0, "space beside the legs");
    write_png("side.png", size, &rasterize(&rest, size, &side, light));

    let json = json();
    let bone = |name: &str| human_bone_node(&json, name);
    let q = |axis: Vec3, deg: f32| glam::Quat::from_axis_angle(axis, deg.to_radians());
    let pose = [
        (bone("leftUpperArm"), q(Vec3::Z, -70.0)),
        (bone("leftLowerArm"), q(Vec3::Y, 80.0)),
        (bone("rightLowerArm"), q(Vec3::Z, -90.0)),
        (bone("leftIndexProximal"), q(Vec3::Z, -60.0)),
        (bone("rightUpperLeg"), q(Vec3::X, -60.0)),
        (bone("rightLowerLeg"), q(Vec3::X, 80.0)),
        (bone("head"), q(Vec3::Z, 15.0)),
    ];
    let posed = soup(&[], &pose);
    write_png("posed.png", size, &rasterize(&posed, size, &front, light));
    write_png(
        "posed_side.png",
        size,
        &rasterize(&posed, size, &side, light),
    );

    // Face close-ups: neutral, then every expression at weight 1.
    let tile = 200;
    let cols = 7;
    let rows = (EXPRESSIONS.len() + 1).div_ceil(cols);
    let (w, h) = (tile * cols, tile * rows);
    let mut sheet = vec![0u8; w * h * 4];
    for k in 0..=EXPRESSIONS.len() {
        let mut weights = vec![0.0; EXPRESSIONS.len()];
        if k > 0 {
            weights[k - 1] = 1.0;
        }
        let face = soup(&weights, &[]);
        let zoom = tile as f32 / 0.26;
        let view = |p: Vec3| Vec3::new(100.0 + p.x * zoom, 100.0 - (p.y - 1.43) * zoom, p.z);
        let img = rasterize(&face, (tile, tile), &view, light);
        let (cx, cy) = (k % cols * tile, k / cols * tile);
        for y in 0..tile {
            let from = y * tile * 4;
            let to = ((cy + y) * w + cx) * 4;
            sheet[to..to + tile * 4].copy_from_slice(&img[from..from + tile * 4]);
        }
    }
    write_png("expressions.png", (w, h), &sheet);
    std::fs::write(out_dir().join("default.vrm"), default_avatar_vrm()).unwrap();
}

#[test]
fn default_avatar_weights_blend_across_the_main_joints_and_irises_follow_the_eyes() {
    let json = json();
    let (doc, buffers) = import();
    let skin = doc.skins().next().unwrap();
    let joint_of = |bone: &str| {
        let node = human_bone_node(&json, bone);
        skin.joints().position(|j| j.index() == node).unwrap() as u16
    };
    // (material, joint -> weight) per vertex.
    let mut vertices: Vec<(String, Vec<(u16, f32)>)> = Vec::new();
    for mesh in doc.meshes() {
        for prim in mesh.primitives() {
            let material = prim.material().name().unwrap().to_owned();
            let reader = prim.reader(|b| Some(&buffers[b.index()]));
            let joints = reader.read_joints(0).unwrap().into_u16();
            let weights = reader.read_weights(0).unwrap().into_f32();
            for (j, w) in joints.zip(weights) {
                let pairs = j.into_iter().zip(w).filter(|(_, w)| *w > 0.0).collect();
                vertices.push((material.clone(), pairs));
            }
        }
    }
    let shares = |a: u16, b: u16| {
        vertices.iter().any(|(_, pairs)| {
            let w = |joint| pairs.iter().find(|(j, _)| *j == joint).map_or(0.0, |p| p.1);
            w(a) > 0.1 && w(b) > 0.1
        })
    };
    for side in ["left", "right"] {
        for (a, b) in [
            ("Shoulder", "UpperArm"),
            ("UpperArm", "LowerArm"),
            ("LowerArm", "Hand"),
            ("UpperLeg", "LowerLeg"),
            ("LowerLeg", "Foot"),
        ] {
            let (a, b) = (format!("{side}{a}"), format!("{side}{b}"));
            assert!(shares(joint_of(&a), joint_of(&b)), "no blend {a}-{b}");
        }
        assert!(shares(
            joint_of("hips"),
            joint_of(&format!("{side}UpperLeg"))
        ));
    }
    for (a, b) in [("hips", "spine"), ("chest", "upperChest"), ("neck", "head")] {
        assert!(shares(joint_of(a), joint_of(b)), "no blend {a}-{b}");
    }
    let eyes = [joint_of("leftEye"), joint_of("rightEye")];
    let irises: Vec<_> = vertices.iter().filter(|(m, _)| m == "Iris").collect();
    assert!(!irises.is_empty());
    for (_, pairs) in irises {
        assert_eq!(pairs.len(), 1);
        assert!(eyes.contains(&pairs[0].0));
    }
}
