//! The glTF part of a model: nodes, meshes, skins, materials, textures, images and samplers as
//! plain Rust data a renderer uploads as is.
//!
//! The gltf crate deserializes and validates the document (every index in range); the accessor
//! data is read here with bounds-checked arithmetic, because a broken file must give an error and
//! the crate's own readers may panic on some inputs (e.g. an accessor with count 0 and sparse data).

mod accessors;
mod animations;
mod buffers;
mod images;
mod materials;
mod meshes;
mod nodes;

use std::path::Path;

use glam::{Mat4, Quat, Vec3};
use gltf::json;
use gltf::json::validation::{Checked, Validate};
use serde::Deserialize;
use serde_json::Value;

// Also reached as `super::json_util` and `super::read_bounded` from materials.rs and buffers.rs.
use super::json_util::{self, check};
use super::{Result, SpecVersion, VrmError, VrmModel, limits, read_bounded};
use accessors::{Data, Tally};
use buffers::{External, load_buffers};
use images::{read_images, read_sampler};
use materials::read_material;
use meshes::check_skinned_joints;
use nodes::{read_nodes, scene_roots};

pub use animations::{AnimationChannel, AnimationData, Interpolation, Target};
pub use nodes::world_rest_matrices;

pub(crate) use animations::read_animation;

pub(crate) use materials::apply_vrm0_materials;
#[cfg(test)]
pub(crate) use nodes::link_parents;
pub(crate) use nodes::turn_to_face_plus_z;

/// A scene-graph node with its local rest transform (TRS, a matrix is decomposed on load).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub translation: Vec3,
    pub rotation: Quat,
    pub scale: Vec3,
    pub mesh: Option<usize>,
    pub skin: Option<usize>,
}

impl Node {
    pub fn local_matrix(&self) -> Mat4 {
        Mat4::from_scale_rotation_translation(self.scale, self.rotation, self.translation)
    }
}

/// A mesh; morph target names come from `extras.targetNames` (VRM 1.0 on the mesh, VRM 0.x on
/// the primitives).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mesh {
    pub name: String,
    pub primitives: Vec<Primitive>,
    /// Default morph weights (`mesh.weights`), one per morph target (zeros when absent).
    pub weights: Vec<f32>,
    pub target_names: Vec<String>,
}

impl Mesh {
    /// Number of morph targets (every primitive of a mesh has the same number).
    pub fn morph_target_count(&self) -> usize {
        self.primitives.first().map_or(0, |p| p.targets.len())
    }
}

/// A triangle list (strips and fans are converted; points and lines are not loaded).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Primitive {
    pub positions: Vec<[f32; 3]>,
    pub normals: Option<Vec<[f32; 3]>>,
    pub uv0: Option<Vec<[f32; 2]>>,
    pub joints0: Option<Vec<[u16; 4]>>,
    pub weights0: Option<Vec<[f32; 4]>>,
    /// Three per triangle, each below `positions.len()`.
    pub indices: Vec<u32>,
    pub material: Option<usize>,
    pub targets: Vec<MorphTarget>,
}

/// Deltas of one morph target, as long as the primitive's positions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MorphTarget {
    pub positions: Vec<[f32; 3]>,
    pub normals: Option<Vec<[f32; 3]>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Skin {
    pub joints: Vec<usize>,
    /// One per joint (identity when the file has none).
    pub inverse_bind_matrices: Vec<Mat4>,
    pub skeleton: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaterialKind {
    /// VRMC_materials_mtoon (1.0) or the `VRM/MToon` shader (0.x).
    MToon,
    /// KHR_materials_unlit or a `VRM/Unlit*` shader (0.x).
    Unlit,
    /// Plain glTF metallic-roughness.
    Pbr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlphaMode {
    Opaque,
    Mask,
    Blend,
}

/// KHR_texture_transform on a texture reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextureTransform {
    pub offset: [f32; 2],
    pub rotation: f32,
    pub scale: [f32; 2],
    /// Overrides the reference's `tex_coord` when set.
    pub tex_coord: Option<u32>,
}

impl Default for TextureTransform {
    fn default() -> Self {
        Self {
            offset: [0.0, 0.0],
            rotation: 0.0,
            scale: [1.0, 1.0],
            tex_coord: None,
        }
    }
}

/// A material's use of a texture (`textureInfo`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextureRef {
    pub texture: usize,
    pub tex_coord: u32,
    pub transform: Option<TextureTransform>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    pub name: String,
    pub kind: MaterialKind,
    pub base_color_factor: [f32; 4],
    pub base_color_texture: Option<TextureRef>,
    pub metallic_factor: f32,
    pub roughness_factor: f32,
    pub metallic_roughness_texture: Option<TextureRef>,
    pub normal_texture: Option<TextureRef>,
    pub normal_scale: f32,
    pub emissive_factor: [f32; 3],
    pub emissive_texture: Option<TextureRef>,
    /// KHR_materials_emissive_strength (1 when absent).
    pub emissive_strength: f32,
    pub alpha_mode: AlphaMode,
    pub alpha_cutoff: f32,
    pub double_sided: bool,
    /// `extensions.VRMC_materials_mtoon` as written (texture indices checked), for the renderer.
    pub mtoon: Option<Value>,
    /// The VRM 0.x `materialProperties` entry of this material (shader, float/vector/texture
    /// properties, keywords; texture indices checked), for the renderer's MToon 0.x conversion.
    pub vrm0_properties: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Texture {
    pub image: usize,
    pub sampler: Option<usize>,
}

/// A decoded image: straight (not premultiplied) RGBA8, rows top to bottom, no colour conversion
/// (the renderer picks an sRGB or linear view per use).
#[derive(Clone, PartialEq)]
pub struct Image {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub rgba8: Vec<u8>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Image({:?}, {}x{})", self.name, self.width, self.height)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Nearest,
    Linear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    ClampToEdge,
    MirroredRepeat,
    Repeat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampler {
    pub mag_filter: Filter,
    pub min_filter: Filter,
    /// None: no mipmaps.
    pub mipmap_filter: Option<Filter>,
    pub wrap_s: Wrap,
    pub wrap_t: Wrap,
}

impl Default for Sampler {
    /// What the glTF spec leaves to the implementation: smooth, mipmapped, repeating.
    fn default() -> Self {
        Self {
            mag_filter: Filter::Linear,
            min_filter: Filter::Linear,
            mipmap_filter: Some(Filter::Linear),
            wrap_s: Wrap::Repeat,
            wrap_t: Wrap::Repeat,
        }
    }
}

/// Required extensions this loader can honour; any other makes the file unreadable by the spec.
const READABLE_REQUIRED_EXTENSIONS: &[&str] = &[
    "KHR_materials_unlit",
    "KHR_texture_transform",
    "KHR_materials_emissive_strength",
    "KHR_mesh_quantization",
    "VRM",
    "VRMC_vrm",
    "VRMC_springBone",
    "VRMC_node_constraint",
    "VRMC_materials_mtoon",
];

/// Refuses a file that would draw more primitives than the budget allows, from the JSON alone
/// (a mesh drawn by many nodes is drawn, and uploaded, once per node).
fn count_draws(root: &json::Root, budget: &super::Budget) -> Result<()> {
    let draws: usize = root
        .nodes
        .iter()
        .filter_map(|n| root.meshes.get(n.mesh?.value()))
        .map(|m| m.primitives.len())
        .fold(0, usize::saturating_add);
    if draws > budget.max_draws {
        return Err(VrmError::Limit(format!(
            "{draws} primitives drawn by the nodes (at most {})",
            budget.max_draws
        )));
    }
    Ok(())
}

/// Reads and checks the glTF part; VRM fields are left empty for the extension parsers.
pub(crate) fn read_gltf(
    value: &Value,
    bin: Option<&[u8]>,
    base: Option<&Path>,
    spec_version: Option<SpecVersion>,
    budget: &super::Budget,
) -> Result<VrmModel> {
    let root = read_root(value)?;
    count_draws(&root, budget)?;
    let mut external = External::new(budget);
    let buffers = load_buffers(&root, bin, base, &mut external)?;
    let data = Data::new(&root, &buffers, budget);
    let nodes = read_nodes(&root)?;
    let scene_roots = scene_roots(&root, &nodes);
    let mut meshes = Vec::with_capacity(root.meshes.len());
    let mut tally = Tally::default();
    for (i, mesh) in root.meshes.iter().enumerate() {
        meshes.push(data.read_mesh(i, mesh, &value["meshes"][i], &mut tally)?);
    }
    let skins = root
        .skins
        .iter()
        .enumerate()
        .map(|(i, s)| data.read_skin(i, s))
        .collect::<Result<Vec<_>>>()?;
    check_skinned_joints(&nodes, &skins, &mut meshes)?;
    // Geometry is counted (per node that draws it) before any image is decoded.
    let mut gpu_bytes = budget.geometry(&nodes, &meshes, &skins)?;
    let samplers = root.samplers.iter().map(read_sampler).collect();
    let images = read_images(&root, &buffers, base, &mut gpu_bytes, &mut external)?;
    let textures = root
        .textures
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Ok(Texture {
                image: check(
                    t.source.value(),
                    images.len(),
                    &format!("texture {i} source"),
                )?,
                sampler: t
                    .sampler
                    .map(|s| {
                        check(
                            s.value(),
                            root.samplers.len(),
                            &format!("texture {i} sampler"),
                        )
                    })
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let empty = Vec::new();
    let materials_json = value["materials"].as_array().unwrap_or(&empty);
    let materials = materials_json
        .iter()
        .enumerate()
        .map(|(i, m)| read_material(i, m, textures.len()))
        .collect::<Result<Vec<_>>>()?;
    for (mi, mesh) in meshes.iter().enumerate() {
        for (pi, p) in mesh.primitives.iter().enumerate() {
            if let Some(m) = p.material {
                check(
                    m,
                    materials.len(),
                    &format!("mesh {mi} primitive {pi} material"),
                )?;
            }
        }
    }
    Ok(VrmModel {
        spec_version,
        nodes,
        scene_roots,
        meshes,
        skins,
        materials,
        textures,
        images,
        samplers,
        humanoid: None,
        expressions: Default::default(),
        look_at: None,
        first_person: Default::default(),
        spring: Default::default(),
        constraints: Vec::new(),
        meta: Default::default(),
    })
}

/// The gltf crate's validation (every index in range, enums known), minus what real exporters
/// get wrong harmlessly: POSITION min/max are not needed to render.
/// The glTF document, deserialized and validated.
fn read_root(value: &Value) -> Result<json::Root> {
    let root = json::Root::deserialize(value)
        .map_err(|e| VrmError::Json(format!("not a glTF document: {e}")))?;
    validate(&root)?;
    Ok(root)
}

fn validate(root: &json::Root) -> Result<()> {
    // gltf-json 1.4.1's own validation indexes `accessors` with the POSITION index unchecked.
    for (mi, mesh) in root.meshes.iter().enumerate() {
        for (pi, p) in mesh.primitives.iter().enumerate() {
            let position = json::mesh::Semantic::Positions;
            if let Some(a) = p.attributes.get(&Checked::Valid(position)) {
                check(
                    a.value(),
                    root.accessors.len(),
                    &format!("mesh {mi} primitive {pi} POSITION accessor"),
                )?;
            }
        }
    }
    let mut first = None;
    root.validate(
        root,
        json::Path::new,
        &mut |path: &dyn Fn() -> json::Path, error: json::validation::Error| {
            let path = path().to_string();
            let harmless = matches!(error, json::validation::Error::Unsupported)
                || path.ends_with(".min")
                || path.ends_with(".max");
            if !harmless && first.is_none() {
                first = Some(format!("{path}: {error}"));
            }
        },
    );
    if let Some(problem) = first {
        return Err(VrmError::Invalid(problem));
    }
    for ext in &root.extensions_required {
        if !READABLE_REQUIRED_EXTENSIONS.contains(&ext.as_str()) {
            return Err(VrmError::Unsupported(format!(
                "the file requires the glTF extension {ext}"
            )));
        }
    }
    if root.nodes.len() > limits::MAX_NODES {
        return Err(VrmError::Limit(format!(
            "{} nodes (at most {})",
            root.nodes.len(),
            limits::MAX_NODES
        )));
    }
    Ok(())
}
