//! The glTF part of a model: nodes, meshes, skins, materials, textures, images and samplers as
//! plain Rust data a renderer uploads as is.
//!
//! The gltf crate deserializes and validates the document (every index in range); the accessor
//! data is read here with bounds-checked arithmetic, because a broken file must give an error and
//! the crate's own readers may panic on some inputs (e.g. an accessor with count 0 and sparse data).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io::Cursor;
use std::path::Path;
use std::rc::Rc;

use base64::Engine as _;
use glam::{Mat4, Quat, Vec3};
use gltf::json;
use gltf::json::accessor::{ComponentType, Type};
use gltf::json::validation::{Checked, Validate};
use serde::Deserialize;
use serde_json::Value;

use super::json_util::check;
use super::{Result, SpecVersion, VrmError, VrmModel, limits};

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

/// World rest matrix of every node (parents before children; the node tree is known acyclic).
pub fn world_rest_matrices(nodes: &[Node]) -> Vec<Mat4> {
    let mut world = vec![Mat4::IDENTITY; nodes.len()];
    let mut stack: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].parent.is_none())
        .collect();
    while let Some(i) = stack.pop() {
        let parent = nodes[i].parent.map_or(Mat4::IDENTITY, |p| world[p]);
        world[i] = parent * nodes[i].local_matrix();
        stack.extend(nodes[i].children.iter().copied());
    }
    world
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

/// Reads and checks the glTF part; VRM fields are left empty for the extension parsers.
pub(crate) fn read_gltf(
    value: &Value,
    bin: Option<&[u8]>,
    base: Option<&Path>,
    spec_version: Option<SpecVersion>,
) -> Result<VrmModel> {
    let root = json::Root::deserialize(value)
        .map_err(|e| VrmError::Json(format!("not a glTF document: {e}")))?;
    validate(&root)?;
    let buffers = load_buffers(&root, bin, base)?;
    let data = Data {
        root: &root,
        buffers: &buffers,
    };
    let nodes = read_nodes(&root)?;
    let scene_roots = scene_roots(&root, &nodes);
    let mut meshes = Vec::with_capacity(root.meshes.len());
    let mut budget = Budget::default();
    for (i, mesh) in root.meshes.iter().enumerate() {
        meshes.push(data.read_mesh(i, mesh, &value["meshes"][i], &mut budget)?);
    }
    let skins = root
        .skins
        .iter()
        .enumerate()
        .map(|(i, s)| data.read_skin(i, s))
        .collect::<Result<Vec<_>>>()?;
    check_skinned_joints(&nodes, &skins, &mut meshes)?;
    let samplers = root.samplers.iter().map(read_sampler).collect();
    let images = read_images(&root, &buffers, base)?;
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

fn load_buffers<'a>(
    root: &json::Root,
    bin: Option<&'a [u8]>,
    base: Option<&Path>,
) -> Result<Vec<Cow<'a, [u8]>>> {
    let mut out = Vec::with_capacity(root.buffers.len());
    for (i, buffer) in root.buffers.iter().enumerate() {
        let what = format!("buffer {i}");
        let data: Cow<[u8]> = match (&buffer.uri, bin) {
            (None, Some(bin)) if i == 0 => Cow::Borrowed(bin),
            (None, _) => {
                return Err(VrmError::Invalid(format!(
                    "{what} has no uri and there is no GLB BIN chunk"
                )));
            }
            (Some(uri), _) => Cow::Owned(read_uri(uri, base, &what)?.0),
        };
        let declared = buffer.byte_length.0;
        if (data.len() as u64) < declared {
            return Err(VrmError::Invalid(format!(
                "{what} holds {} bytes but declares {declared}",
                data.len()
            )));
        }
        out.push(data);
    }
    Ok(out)
}

/// Reads a data URI or a file relative to `base`; returns the bytes and the data URI's media type.
fn read_uri(uri: &str, base: Option<&Path>, what: &str) -> Result<(Vec<u8>, Option<String>)> {
    if let Some(rest) = uri.strip_prefix("data:") {
        let (header, payload) = rest
            .split_once(',')
            .ok_or_else(|| VrmError::Invalid(format!("{what}: malformed data URI")))?;
        let mime = header.split(';').next().map(str::to_owned);
        if !header.ends_with(";base64") {
            return Err(VrmError::Unsupported(format!(
                "{what}: data URI is not base64"
            )));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|e| VrmError::Invalid(format!("{what}: bad base64 in data URI: {e}")))?;
        return Ok((bytes, mime));
    }
    let Some(base) = base else {
        return Err(VrmError::Unsupported(format!(
            "{what} refers to the external file {uri:?}; load the file from disk to resolve it"
        )));
    };
    let relative = percent_decode(uri);
    let rel_path = Path::new(&relative);
    // Only files beside the model: no absolute paths, no schemes, no climbing out.
    let escapes = rel_path.is_absolute()
        || relative.contains(':')
        || rel_path.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    if escapes {
        return Err(VrmError::Unsupported(format!(
            "{what}: uri {uri:?} is not a relative path beside the model"
        )));
    }
    let bytes = super::read_bounded(&base.join(rel_path))?;
    Ok((bytes, None))
}

/// `%20` and friends, as glTF URIs are URI-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_nodes(root: &json::Root) -> Result<Vec<Node>> {
    let mut nodes = Vec::with_capacity(root.nodes.len());
    for (i, n) in root.nodes.iter().enumerate() {
        let (scale, rotation, translation) = match n.matrix {
            Some(m) => Mat4::from_cols_array(&m).to_scale_rotation_translation(),
            None => (
                Vec3::from(n.scale.unwrap_or([1.0; 3])),
                Quat::from_array(n.rotation.map_or([0.0, 0.0, 0.0, 1.0], |q| q.0)),
                Vec3::from(n.translation.unwrap_or([0.0; 3])),
            ),
        };
        if !(scale.is_finite() && rotation.is_finite() && translation.is_finite()) {
            return Err(VrmError::Invalid(format!(
                "node {i} has a non-finite transform"
            )));
        }
        let rotation = if rotation.length_squared() > 1e-12 {
            rotation.normalize()
        } else {
            Quat::IDENTITY
        };
        nodes.push(Node {
            name: n.name.clone().unwrap_or_default(),
            parent: None,
            children: n
                .children
                .iter()
                .flatten()
                .map(|c| check(c.value(), root.nodes.len(), &format!("node {i} child")))
                .collect::<Result<_>>()?,
            translation,
            rotation,
            scale,
            mesh: n
                .mesh
                .map(|m| check(m.value(), root.meshes.len(), &format!("node {i} mesh")))
                .transpose()?,
            skin: n
                .skin
                .map(|s| check(s.value(), root.skins.len(), &format!("node {i} skin")))
                .transpose()?,
        });
    }
    link_parents(&mut nodes)?;
    Ok(nodes)
}

/// Sets `parent` and rejects a node with two parents or a node that is its own ancestor.
pub(crate) fn link_parents(nodes: &mut [Node]) -> Result<()> {
    for i in 0..nodes.len() {
        for k in 0..nodes[i].children.len() {
            let c = nodes[i].children[k];
            if c == i {
                return Err(VrmError::Invalid(format!("node {i} is its own child")));
            }
            if let Some(p) = nodes[c].parent {
                return Err(VrmError::Invalid(format!(
                    "node {c} has two parents (nodes {p} and {i})"
                )));
            }
            nodes[c].parent = Some(i);
        }
    }
    // Each node has at most one parent now, so a cycle is a loop of parent links.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unseen,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::Unseen; nodes.len()];
    let mut path = Vec::new();
    for start in 0..nodes.len() {
        let mut n = Some(start);
        while let Some(i) = n {
            match mark[i] {
                Mark::Done => break,
                Mark::OnPath => {
                    return Err(VrmError::Invalid(format!(
                        "the node tree has a cycle through node {i} (a node is its own ancestor)"
                    )));
                }
                Mark::Unseen => {
                    mark[i] = Mark::OnPath;
                    path.push(i);
                    n = nodes[i].parent;
                }
            }
        }
        for i in path.drain(..) {
            mark[i] = Mark::Done;
        }
    }
    Ok(())
}

fn scene_roots(root: &json::Root, nodes: &[Node]) -> Vec<usize> {
    let scene = root
        .scene
        .and_then(|s| root.scenes.get(s.value()))
        .or(root.scenes.first());
    let roots: Vec<usize> = match scene {
        Some(s) => s
            .nodes
            .iter()
            .map(|n| n.value())
            .filter(|&n| n < nodes.len() && nodes[n].parent.is_none())
            .collect(),
        None => Vec::new(),
    };
    if roots.is_empty() {
        (0..nodes.len())
            .filter(|&i| nodes[i].parent.is_none())
            .collect()
    } else {
        roots
    }
}

/// Running totals against the model-wide limits.
#[derive(Default)]
struct Budget {
    vertices: usize,
    indices: usize,
    morph_vertices: usize,
    /// POSITION accessors already counted (primitives may share one).
    vertex_accessors: HashSet<usize>,
}

impl Budget {
    fn add(total: &mut usize, n: usize, max: usize, what: &str) -> Result<()> {
        *total = total.saturating_add(n);
        if *total > max {
            return Err(VrmError::Limit(format!(
                "{what}: more than {max} in the whole model"
            )));
        }
        Ok(())
    }
}

struct Data<'a> {
    root: &'a json::Root,
    buffers: &'a [Cow<'a, [u8]>],
}

impl Data<'_> {
    /// The bytes of a buffer view, checked against its buffer.
    fn view(&self, index: usize, what: &str) -> Result<(&[u8], Option<usize>)> {
        let view = self
            .root
            .buffer_views
            .get(index)
            .ok_or_else(|| VrmError::Invalid(format!("{what}: no buffer view {index}")))?;
        let buffer = self.buffers.get(view.buffer.value()).ok_or_else(|| {
            VrmError::Invalid(format!("{what}: no buffer {}", view.buffer.value()))
        })?;
        let start = view.byte_offset.map_or(0, |o| o.0);
        let end = start.checked_add(view.byte_length.0);
        let slice = end
            .and_then(|end| buffer.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?))
            .ok_or_else(|| {
                VrmError::Invalid(format!(
                    "{what}: buffer view {index} (bytes {start}+{}) lies outside buffer {} ({} bytes)",
                    view.byte_length.0,
                    view.buffer.value(),
                    buffer.len()
                ))
            })?;
        Ok((slice, view.byte_stride.map(|s| s.0)))
    }

    /// Reads an accessor as floats (normalized integers mapped per the glTF spec), flattened,
    /// `components` per element. Every offset is checked before anything is allocated.
    fn read(
        &self,
        index: usize,
        types: &[Type],
        max_count: usize,
        what: &str,
    ) -> Result<(Vec<f32>, usize)> {
        let what = &format!("{what} (accessor {index})");
        let acc = self
            .root
            .accessors
            .get(index)
            .ok_or_else(|| VrmError::Invalid(format!("{what}: no such accessor")))?;
        let (Checked::Valid(ty), Checked::Valid(ct)) = (&acc.type_, &acc.component_type) else {
            return Err(VrmError::Invalid(format!("{what}: unknown type")));
        };
        if !types.contains(ty) {
            return Err(VrmError::Invalid(format!(
                "{what}: type {ty:?} where {types:?} is expected"
            )));
        }
        let (ty, ct) = (*ty, ct.0);
        let count = usize::try_from(acc.count.0).unwrap_or(usize::MAX);
        if count > max_count {
            return Err(VrmError::Limit(format!(
                "{what}: {count} elements (at most {max_count})"
            )));
        }
        let comps = ty.multiplicity();
        let elem = comps * ct.size();
        let mut out = vec![0f32; count * comps];
        if let Some(view_index) = acc.buffer_view {
            let (bytes, stride) = self.view(view_index.value(), what)?;
            let stride = stride.unwrap_or(elem);
            if stride < elem {
                return Err(VrmError::Invalid(format!(
                    "{what}: byte stride {stride} is smaller than an element ({elem} bytes)"
                )));
            }
            let offset = usize::try_from(acc.byte_offset.map_or(0, |o| o.0)).unwrap_or(usize::MAX);
            if count > 0 {
                let last_end = (count - 1)
                    .checked_mul(stride)
                    .and_then(|v| v.checked_add(offset))
                    .and_then(|v| v.checked_add(elem));
                if last_end.is_none_or(|end| end > bytes.len()) {
                    return Err(VrmError::Invalid(format!(
                        "{what}: {count} elements of {elem} bytes (stride {stride}, offset {offset}) do not fit in its buffer view of {} bytes",
                        bytes.len()
                    )));
                }
            }
            for (e, dst) in out.chunks_exact_mut(comps.max(1)).enumerate() {
                let at = offset + e * stride;
                decode_element(&bytes[at..at + elem], ct, acc.normalized, dst);
            }
        }
        if let Some(sparse) = &acc.sparse {
            let n = usize::try_from(sparse.count.0).unwrap_or(usize::MAX);
            if n > count {
                return Err(VrmError::Invalid(format!(
                    "{what}: {n} sparse values for {count} elements"
                )));
            }
            let (ibytes, _) = self.view(sparse.indices.buffer_view.value(), what)?;
            let (vbytes, _) = self.view(sparse.values.buffer_view.value(), what)?;
            let Checked::Valid(ict) = &sparse.indices.component_type else {
                return Err(VrmError::Invalid(format!(
                    "{what}: unknown sparse index type"
                )));
            };
            let isize_ = ict.0.size();
            let ioff = usize::try_from(sparse.indices.byte_offset.0).unwrap_or(usize::MAX);
            let voff = usize::try_from(sparse.values.byte_offset.0).unwrap_or(usize::MAX);
            let fits = |off: usize, per: usize, len: usize| {
                n.checked_mul(per)
                    .and_then(|v| v.checked_add(off))
                    .is_some_and(|end| end <= len)
            };
            if !fits(ioff, isize_, ibytes.len()) || !fits(voff, elem, vbytes.len()) {
                return Err(VrmError::Invalid(format!(
                    "{what}: sparse data does not fit in its buffer views"
                )));
            }
            let mut target = [0f32; 1];
            for k in 0..n {
                let at = ioff + k * isize_;
                decode_element(&ibytes[at..at + isize_], ict.0, false, &mut target);
                let e = target[0] as usize;
                if e >= count {
                    return Err(VrmError::Invalid(format!(
                        "{what}: sparse index {e} is beyond {count} elements"
                    )));
                }
                let at = voff + k * elem;
                decode_element(
                    &vbytes[at..at + elem],
                    ct,
                    acc.normalized,
                    &mut out[e * comps..(e + 1) * comps],
                );
            }
        }
        Ok((out, count))
    }

    /// A vertex attribute, decoded once per accessor (primitives of one mesh often share them).
    fn attribute(
        &self,
        cache: &mut HashMap<(usize, usize), Rc<Vec<f32>>>,
        index: usize,
        ty: Type,
        what: &str,
    ) -> Result<Rc<Vec<f32>>> {
        let key = (index, ty.multiplicity());
        if let Some(v) = cache.get(&key) {
            return Ok(v.clone());
        }
        let max = limits::MAX_VERTICES_PER_PRIMITIVE;
        let (v, _) = self.read(index, &[ty], max, what)?;
        let v = Rc::new(v);
        cache.insert(key, v.clone());
        Ok(v)
    }

    fn read_mesh(
        &self,
        mesh_index: usize,
        mesh: &json::Mesh,
        raw: &Value,
        budget: &mut Budget,
    ) -> Result<Mesh> {
        use json::mesh::{Mode, Semantic};
        let mut cache = HashMap::new();
        let mut primitives = Vec::new();
        let mut target_count = None;
        for (pi, p) in mesh.primitives.iter().enumerate() {
            let what = format!("mesh {mesh_index} primitive {pi}");
            let Checked::Valid(mode) = &p.mode else {
                return Err(VrmError::Invalid(format!("{what}: unknown mode")));
            };
            if !matches!(
                mode,
                Mode::Triangles | Mode::TriangleStrip | Mode::TriangleFan
            ) {
                continue;
            }
            let attr = |s: Semantic| p.attributes.get(&Checked::Valid(s)).map(|a| a.value());
            let Some(pos_acc) = attr(Semantic::Positions) else {
                continue;
            };
            let positions =
                self.attribute(&mut cache, pos_acc, Type::Vec3, &format!("{what} POSITION"))?;
            let n = positions.len() / 3;
            if budget.vertex_accessors.insert(pos_acc) {
                Budget::add(
                    &mut budget.vertices,
                    n,
                    limits::MAX_VERTICES_TOTAL,
                    "vertices",
                )?;
            }
            let mut read =
                |semantic: Semantic, ty: Type, name: &str| -> Result<Option<Rc<Vec<f32>>>> {
                    let Some(a) = attr(semantic) else {
                        return Ok(None);
                    };
                    let v = self.attribute(&mut cache, a, ty, &format!("{what} {name}"))?;
                    let len = v.len() / ty.multiplicity();
                    if len != n {
                        return Err(VrmError::Invalid(format!(
                            "{what}: {name} has {len} elements but POSITION has {n}"
                        )));
                    }
                    Ok(Some(v))
                };
            let normals = read(Semantic::Normals, Type::Vec3, "NORMAL")?;
            let uv0 = read(Semantic::TexCoords(0), Type::Vec2, "TEXCOORD_0")?;
            let joints0 = read(Semantic::Joints(0), Type::Vec4, "JOINTS_0")?;
            let weights0 = read(Semantic::Weights(0), Type::Vec4, "WEIGHTS_0")?;
            if let Some(bad) = joints0
                .iter()
                .flat_map(|j| j.iter())
                .find(|&&j| !(0.0..=65535.0).contains(&j))
            {
                return Err(VrmError::Invalid(format!(
                    "{what}: joint index {bad} out of range"
                )));
            }
            let raw_indices: Vec<u32> = match p.indices {
                Some(a) => {
                    let (v, _) = self.read(
                        a.value(),
                        &[Type::Scalar],
                        limits::MAX_INDICES_PER_PRIMITIVE,
                        &format!("{what} indices"),
                    )?;
                    if let Some(bad) = v.iter().find(|&&i| !(0.0..n as f32).contains(&i)) {
                        return Err(VrmError::Invalid(format!(
                            "{what}: vertex index {bad} is beyond {n} vertices"
                        )));
                    }
                    v.into_iter().map(|i| i as u32).collect()
                }
                None => (0..n as u32).collect(),
            };
            let mut indices = to_triangle_list(*mode, raw_indices);
            Budget::add(
                &mut budget.indices,
                indices.len(),
                limits::MAX_INDICES_TOTAL,
                "indices",
            )?;
            // Keep only the vertices this primitive draws (exporters share one vertex set among
            // a mesh's primitives), so memory follows what is drawn.
            let order = compact(&mut indices, n);
            let order = order.as_deref();
            let mut targets = Vec::new();
            for (ti, t) in p.targets.iter().flatten().enumerate() {
                let twhat = format!("{what} morph target {ti}");
                let mut read = |a: Option<json::Index<json::Accessor>>,
                                name: &str|
                 -> Result<Option<Vec<[f32; 3]>>> {
                    let Some(a) = a else {
                        return Ok(None);
                    };
                    let v = self.attribute(
                        &mut cache,
                        a.value(),
                        Type::Vec3,
                        &format!("{twhat} {name}"),
                    )?;
                    if v.len() / 3 != n {
                        return Err(VrmError::Invalid(format!(
                            "{twhat}: {name} has {} elements but POSITION has {n}",
                            v.len() / 3
                        )));
                    }
                    Ok(Some(gather(&v, order)))
                };
                let positions = read(t.positions, "POSITION")?;
                let normals = read(t.normals, "NORMAL")?;
                let positions =
                    positions.unwrap_or_else(|| vec![[0.0; 3]; order.map_or(n, <[u32]>::len)]);
                Budget::add(
                    &mut budget.morph_vertices,
                    positions.len(),
                    limits::MAX_MORPH_VERTICES_TOTAL,
                    "morph target vertices",
                )?;
                targets.push(MorphTarget { positions, normals });
            }
            match target_count {
                None => target_count = Some(targets.len()),
                Some(c) if c != targets.len() => {
                    return Err(VrmError::Invalid(format!(
                        "{what}: {} morph targets, other primitives of the mesh have {c}",
                        targets.len()
                    )));
                }
                Some(_) => {}
            }
            let joints0 = joints0.map(|j| {
                gather::<4>(&j, order)
                    .into_iter()
                    .map(|c| c.map(|x| x as u16))
                    .collect()
            });
            primitives.push(Primitive {
                positions: gather(&positions, order),
                normals: normals.map(|v| gather(&v, order)),
                uv0: uv0.map(|v| gather(&v, order)),
                joints0,
                weights0: weights0.map(|v| gather(&v, order)),
                indices,
                material: p.material.map(|m| m.value()),
                targets,
            });
        }
        let target_count = target_count.unwrap_or(0);
        let mut weights = mesh.weights.clone().unwrap_or_default();
        weights.resize(target_count, 0.0);
        let names = |v: &Value| -> Vec<String> {
            v["extras"]["targetNames"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|n| n.as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut target_names = names(raw);
        if target_names.is_empty() {
            target_names = names(&raw["primitives"][0]);
        }
        target_names.resize(target_count, String::new());
        Ok(Mesh {
            name: mesh.name.clone().unwrap_or_default(),
            primitives,
            weights,
            target_names,
        })
    }

    fn read_skin(&self, i: usize, skin: &json::Skin) -> Result<Skin> {
        let n = skin.joints.len();
        if n > limits::MAX_SKIN_JOINTS {
            return Err(VrmError::Limit(format!(
                "skin {i}: {n} joints (at most {})",
                limits::MAX_SKIN_JOINTS
            )));
        }
        let joints: Vec<usize> = skin.joints.iter().map(|j| j.value()).collect();
        for &j in &joints {
            check(j, self.root.nodes.len(), &format!("skin {i} joint"))?;
        }
        let inverse_bind_matrices = match skin.inverse_bind_matrices {
            Some(a) => {
                let (v, count) = self.read(
                    a.value(),
                    &[Type::Mat4],
                    limits::MAX_SKIN_JOINTS,
                    &format!("skin {i} inverseBindMatrices"),
                )?;
                if count < n {
                    return Err(VrmError::Invalid(format!(
                        "skin {i}: {count} inverse bind matrices for {n} joints"
                    )));
                }
                v.chunks_exact(16)
                    .take(n)
                    .map(|c| {
                        let mut m = [0f32; 16];
                        m.copy_from_slice(c);
                        Mat4::from_cols_array(&m)
                    })
                    .collect()
            }
            None => vec![Mat4::IDENTITY; n],
        };
        Ok(Skin {
            joints,
            inverse_bind_matrices,
            skeleton: skin.skeleton.map(|s| s.value()),
        })
    }
}

/// Decodes one element of `dst.len()` components (little endian; normalized per glTF 3.11).
fn decode_element(bytes: &[u8], ct: ComponentType, normalized: bool, dst: &mut [f32]) {
    let size = ct.size();
    for (c, out) in dst.iter_mut().enumerate() {
        let b = &bytes[c * size..(c + 1) * size];
        *out = match ct {
            ComponentType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            ComponentType::U32 => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
            ComponentType::U16 => {
                let v = u16::from_le_bytes([b[0], b[1]]) as f32;
                if normalized { v / 65535.0 } else { v }
            }
            ComponentType::I16 => {
                let v = i16::from_le_bytes([b[0], b[1]]) as f32;
                if normalized {
                    (v / 32767.0).max(-1.0)
                } else {
                    v
                }
            }
            ComponentType::U8 => {
                let v = b[0] as f32;
                if normalized { v / 255.0 } else { v }
            }
            ComponentType::I8 => {
                let v = b[0] as i8 as f32;
                if normalized { (v / 127.0).max(-1.0) } else { v }
            }
        };
    }
}

/// Renumbers `indices` to the vertices they use, in first-use order; returns the old index of
/// each new vertex, or None when every one of the `n` vertices is used (nothing to do).
///
/// The cost follows the index count, not `n`, so many small primitives over one large shared
/// vertex set stay cheap.
fn compact(indices: &mut [u32], n: usize) -> Option<Vec<u32>> {
    let mut order = Vec::new();
    if indices.len() < n / 8 {
        let mut remap = HashMap::with_capacity(indices.len());
        for i in indices.iter_mut() {
            let next = order.len() as u32;
            let new = *remap.entry(*i).or_insert(next);
            if new == next {
                order.push(*i);
            }
            *i = new;
        }
        return Some(order);
    }
    let mut remap = vec![u32::MAX; n];
    for i in indices.iter_mut() {
        let slot = &mut remap[*i as usize];
        if *slot == u32::MAX {
            *slot = order.len() as u32;
            order.push(*i);
        }
        *i = *slot;
    }
    if order.len() == n && order.iter().enumerate().all(|(k, &o)| k as u32 == o) {
        return None;
    }
    Some(order)
}

/// The elements of a flat `N`-component array at `order` (all of them when None).
fn gather<const N: usize>(flat: &[f32], order: Option<&[u32]>) -> Vec<[f32; N]> {
    let at = |e: usize| -> [f32; N] { std::array::from_fn(|c| flat[e * N + c]) };
    match order {
        Some(order) => order.iter().map(|&o| at(o as usize)).collect(),
        None => (0..flat.len() / N).map(at).collect(),
    }
}

fn to_triangle_list(mode: json::mesh::Mode, idx: Vec<u32>) -> Vec<u32> {
    use json::mesh::Mode;
    match mode {
        Mode::TriangleStrip => (2..idx.len())
            .flat_map(|i| {
                if i % 2 == 0 {
                    [idx[i - 2], idx[i - 1], idx[i]]
                } else {
                    [idx[i - 1], idx[i - 2], idx[i]]
                }
            })
            .collect(),
        Mode::TriangleFan => (2..idx.len())
            .flat_map(|i| [idx[i - 1], idx[i], idx[0]])
            .collect(),
        _ => {
            let mut idx = idx;
            idx.truncate(idx.len() / 3 * 3);
            idx
        }
    }
}

/// Joint indices must address the skin of every node that draws the mesh; an out-of-range
/// joint with zero weight (a common exporter leftover) is set to joint 0.
fn check_skinned_joints(nodes: &[Node], skins: &[Skin], meshes: &mut [Mesh]) -> Result<()> {
    for (ni, node) in nodes.iter().enumerate() {
        let (Some(m), Some(s)) = (node.mesh, node.skin) else {
            continue;
        };
        let count = skins[s].joints.len();
        for (pi, p) in meshes[m].primitives.iter_mut().enumerate() {
            let (Some(joints), weights) = (p.joints0.as_mut(), p.weights0.as_ref()) else {
                continue;
            };
            for (v, js) in joints.iter_mut().enumerate() {
                for k in 0..4 {
                    if (js[k] as usize) < count {
                        continue;
                    }
                    let w = weights.map_or(1.0, |w| w[v][k]);
                    if w != 0.0 {
                        return Err(VrmError::Invalid(format!(
                            "mesh {m} primitive {pi} vertex {v} uses joint {} but skin {s} (node {ni}) has {count}",
                            js[k]
                        )));
                    }
                    js[k] = 0;
                }
            }
        }
    }
    Ok(())
}

fn read_sampler(s: &json::texture::Sampler) -> Sampler {
    use json::texture::{MagFilter, MinFilter, WrappingMode};
    let wrap = |w: &Checked<WrappingMode>| match w {
        Checked::Valid(WrappingMode::ClampToEdge) => Wrap::ClampToEdge,
        Checked::Valid(WrappingMode::MirroredRepeat) => Wrap::MirroredRepeat,
        _ => Wrap::Repeat,
    };
    let mag_filter = match &s.mag_filter {
        Some(Checked::Valid(MagFilter::Nearest)) => Filter::Nearest,
        _ => Filter::Linear,
    };
    let (min_filter, mipmap_filter) = match &s.min_filter {
        Some(Checked::Valid(f)) => match f {
            MinFilter::Nearest => (Filter::Nearest, None),
            MinFilter::Linear => (Filter::Linear, None),
            MinFilter::NearestMipmapNearest => (Filter::Nearest, Some(Filter::Nearest)),
            MinFilter::LinearMipmapNearest => (Filter::Linear, Some(Filter::Nearest)),
            MinFilter::NearestMipmapLinear => (Filter::Nearest, Some(Filter::Linear)),
            MinFilter::LinearMipmapLinear => (Filter::Linear, Some(Filter::Linear)),
        },
        _ => (Filter::Linear, Some(Filter::Linear)),
    };
    Sampler {
        mag_filter,
        min_filter,
        mipmap_filter,
        wrap_s: wrap(&s.wrap_s),
        wrap_t: wrap(&s.wrap_t),
    }
}

fn read_images(
    root: &json::Root,
    buffers: &[Cow<[u8]>],
    base: Option<&Path>,
) -> Result<Vec<Image>> {
    let data = Data { root, buffers };
    let mut total: u64 = 0;
    let mut images = Vec::with_capacity(root.images.len());
    for (i, img) in root.images.iter().enumerate() {
        let what = format!("image {i}");
        let (bytes, uri_mime): (Cow<[u8]>, Option<String>) = match (&img.buffer_view, &img.uri) {
            (Some(v), _) => (Cow::Borrowed(data.view(v.value(), &what)?.0), None),
            (None, Some(uri)) => {
                let (b, m) = read_uri(uri, base, &what)?;
                (Cow::Owned(b), m)
            }
            (None, None) => {
                return Err(VrmError::Invalid(format!(
                    "{what} has neither a bufferView nor a uri"
                )));
            }
        };
        let mime = img.mime_type.as_ref().map(|m| m.0.clone()).or(uri_mime);
        let (width, height, rgba8) = decode_image(&bytes, mime.as_deref(), &what, &mut total)?;
        images.push(Image {
            name: img.name.clone().unwrap_or_default(),
            width,
            height,
            rgba8,
        });
    }
    Ok(images)
}

/// Decodes PNG or JPEG to RGBA8 after checking the size in the header against the limits.
fn decode_image(
    bytes: &[u8],
    mime: Option<&str>,
    what: &str,
    total: &mut u64,
) -> Result<(u32, u32, Vec<u8>)> {
    use image::{ImageFormat, ImageReader, Limits};
    let format = if bytes.starts_with(b"\x89PNG") {
        ImageFormat::Png
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        ImageFormat::Jpeg
    } else {
        return Err(VrmError::Unsupported(format!(
            "{what}: format {} (only PNG and JPEG are read)",
            mime.unwrap_or("unknown")
        )));
    };
    let bad = |e: image::ImageError| VrmError::Invalid(format!("{what}: cannot decode: {e}"));
    let (w, h) = header_size(bytes, format)
        .ok_or_else(|| VrmError::Invalid(format!("{what}: no image size in the header")))?;
    let max = limits::MAX_TEXTURE_SIZE;
    if w > max || h > max {
        return Err(VrmError::Limit(format!(
            "{what} is {w}x{h} (at most {max}x{max})"
        )));
    }
    let size = u64::from(w) * u64::from(h) * 4;
    *total += size;
    if *total > limits::MAX_IMAGE_BYTES_TOTAL {
        return Err(VrmError::Limit(format!(
            "images take more than {} MiB decoded",
            limits::MAX_IMAGE_BYTES_TOTAL >> 20
        )));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut lim = Limits::default();
    lim.max_image_width = Some(max);
    lim.max_image_height = Some(max);
    // 16-bit RGBA before conversion is the largest intermediate.
    lim.max_alloc = Some(size * 2 + (1 << 20));
    reader.limits(lim);
    let rgba = reader.decode().map_err(bad)?.into_rgba8();
    Ok((w, h, rgba.into_raw()))
}

/// Width and height from a PNG IHDR or a JPEG SOF marker, read without decoding anything.
fn header_size(bytes: &[u8], format: image::ImageFormat) -> Option<(u32, u32)> {
    let be16 = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as u32)
    };
    let be32 = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    if format == image::ImageFormat::Png {
        // Signature (8), chunk length (4), "IHDR", width, height.
        return (bytes.get(12..16) == Some(b"IHDR")).then(|| Some((be32(16)?, be32(20)?)))?;
    }
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        // Fill bytes and markers without a length.
        if marker == 0xFF {
            at += 1;
            continue;
        }
        if (0xD0..=0xD9).contains(&marker) || marker == 0x01 {
            at += 2;
            continue;
        }
        let len = be16(at + 2)? as usize;
        let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            // Length (2), precision (1), height (2), width (2).
            return Some((be16(at + 7)?, be16(at + 5)?));
        }
        at += 2 + len;
    }
    None
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonMaterial {
    name: Option<String>,
    pbr_metallic_roughness: JsonPbr,
    normal_texture: Option<Value>,
    emissive_texture: Option<Value>,
    emissive_factor: Option<[f32; 3]>,
    alpha_mode: Option<String>,
    alpha_cutoff: Option<f32>,
    double_sided: bool,
    extensions: serde_json::Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonPbr {
    base_color_factor: Option<[f32; 4]>,
    base_color_texture: Option<Value>,
    metallic_factor: Option<f32>,
    roughness_factor: Option<f32>,
    metallic_roughness_texture: Option<Value>,
}

/// The MToon 1.0 properties that hold textureInfo objects.
const MTOON_TEXTURES: &[&str] = &[
    "shadeMultiplyTexture",
    "shadingShiftTexture",
    "matcapTexture",
    "rimMultiplyTexture",
    "outlineWidthMultiplyTexture",
    "uvAnimationMaskTexture",
];

fn read_material(i: usize, raw: &Value, texture_count: usize) -> Result<Material> {
    let m =
        JsonMaterial::deserialize(raw).map_err(|e| VrmError::Json(format!("material {i}: {e}")))?;
    let tex = |v: &Option<Value>, slot: &str| {
        v.as_ref()
            .map(|v| texture_ref(v, texture_count, &format!("material {i} {slot}")))
            .transpose()
    };
    let mtoon = m.extensions.get("VRMC_materials_mtoon").cloned();
    if let Some(mt) = &mtoon {
        for key in MTOON_TEXTURES {
            if let Some(t) = mt.get(*key) {
                texture_ref(t, texture_count, &format!("material {i} {key}"))?;
            }
        }
    }
    let kind = if mtoon.is_some() {
        MaterialKind::MToon
    } else if m.extensions.contains_key("KHR_materials_unlit") {
        MaterialKind::Unlit
    } else {
        MaterialKind::Pbr
    };
    let alpha_mode = match m.alpha_mode.as_deref() {
        None | Some("OPAQUE") => AlphaMode::Opaque,
        Some("MASK") => AlphaMode::Mask,
        Some("BLEND") => AlphaMode::Blend,
        Some(other) => {
            return Err(VrmError::Invalid(format!(
                "material {i}: unknown alphaMode {other:?}"
            )));
        }
    };
    let emissive_strength = m
        .extensions
        .get("KHR_materials_emissive_strength")
        .and_then(|e| e.get("emissiveStrength"))
        .and_then(Value::as_f64)
        .map_or(1.0, |v| v as f32);
    let normal_scale = m
        .normal_texture
        .as_ref()
        .and_then(|t| t.get("scale"))
        .and_then(Value::as_f64)
        .map_or(1.0, |v| v as f32);
    Ok(Material {
        name: m.name.clone().unwrap_or_default(),
        kind,
        base_color_factor: m
            .pbr_metallic_roughness
            .base_color_factor
            .unwrap_or([1.0; 4]),
        base_color_texture: tex(
            &m.pbr_metallic_roughness.base_color_texture,
            "baseColorTexture",
        )?,
        metallic_factor: m.pbr_metallic_roughness.metallic_factor.unwrap_or(1.0),
        roughness_factor: m.pbr_metallic_roughness.roughness_factor.unwrap_or(1.0),
        metallic_roughness_texture: tex(
            &m.pbr_metallic_roughness.metallic_roughness_texture,
            "metallicRoughnessTexture",
        )?,
        normal_texture: tex(&m.normal_texture, "normalTexture")?,
        normal_scale,
        emissive_factor: m.emissive_factor.unwrap_or([0.0; 3]),
        emissive_texture: tex(&m.emissive_texture, "emissiveTexture")?,
        emissive_strength,
        alpha_mode,
        alpha_cutoff: m.alpha_cutoff.unwrap_or(0.5),
        double_sided: m.double_sided,
        mtoon,
        vrm0_properties: None,
    })
}

/// A textureInfo object with its KHR_texture_transform.
fn texture_ref(v: &Value, texture_count: usize, what: &str) -> Result<TextureRef> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Info {
        index: usize,
        #[serde(default)]
        tex_coord: u32,
        #[serde(default)]
        extensions: Option<Ext>,
    }
    #[derive(Deserialize)]
    struct Ext {
        #[serde(rename = "KHR_texture_transform")]
        transform: Option<Transform>,
    }
    #[derive(Deserialize)]
    #[serde(default, rename_all = "camelCase")]
    struct Transform {
        offset: [f32; 2],
        rotation: f32,
        scale: [f32; 2],
        tex_coord: Option<u32>,
    }
    impl Default for Transform {
        fn default() -> Self {
            let d = TextureTransform::default();
            Self {
                offset: d.offset,
                rotation: d.rotation,
                scale: d.scale,
                tex_coord: d.tex_coord,
            }
        }
    }
    let info = Info::deserialize(v).map_err(|e| VrmError::Json(format!("{what}: {e}")))?;
    Ok(TextureRef {
        texture: check(info.index, texture_count, what)?,
        tex_coord: info.tex_coord,
        transform: info
            .extensions
            .and_then(|e| e.transform)
            .map(|t| TextureTransform {
                offset: t.offset,
                rotation: t.rotation,
                scale: t.scale,
                tex_coord: t.tex_coord,
            }),
    })
}

/// VRM 0.x: the shader named in `materialProperties[i]` decides the material kind, and the
/// property bag is kept for the renderer's MToon 0.x conversion.
pub(crate) fn apply_vrm0_materials(props: Option<&Value>, model: &mut VrmModel) -> Result<()> {
    let Some(list) = props.and_then(Value::as_array) else {
        return Ok(());
    };
    let texture_count = model.textures.len();
    for (i, (p, material)) in list.iter().zip(model.materials.iter_mut()).enumerate() {
        if let Some(textures) = p.get("textureProperties").and_then(Value::as_object) {
            for (name, t) in textures {
                let index = super::json_util::index_of(t).ok_or_else(|| {
                    VrmError::Json(format!(
                        "VRM materialProperties {i} textureProperties {name}: not an index"
                    ))
                })?;
                check(
                    index,
                    texture_count,
                    &format!("VRM materialProperties {i} textureProperties {name}"),
                )?;
            }
        }
        match p.get("shader").and_then(Value::as_str).unwrap_or_default() {
            "VRM/MToon" => material.kind = MaterialKind::MToon,
            "VRM/UnlitTexture"
            | "VRM/UnlitCutout"
            | "VRM/UnlitTransparent"
            | "VRM/UnlitTransparentZWrite"
            | "UniGLTF/UniUnlit" => material.kind = MaterialKind::Unlit,
            // VRM_USE_GLTFSHADER and legacy shaders: the glTF material says what it is.
            _ => {}
        }
        material.vrm0_properties = Some(p.clone());
    }
    Ok(())
}

/// Turns a VRM 0.x model (facing -Z) by 180 degrees about Y so it faces +Z like VRM 1.0.
///
/// The turn R = diag(-1, 1, -1) is conjugated into every local transform (L' = R L R), so world
/// matrices become R W R and the rig keeps identity bone rotations; vertex data and inverse bind
/// matrices get the same treatment, so skinned results are R times the original.
pub(crate) fn turn_to_face_plus_z(model: &mut VrmModel) {
    let flip = |v: &mut [f32; 3]| {
        v[0] = -v[0];
        v[2] = -v[2];
    };
    for n in &mut model.nodes {
        n.translation = Vec3::new(-n.translation.x, n.translation.y, -n.translation.z);
        n.rotation = Quat::from_xyzw(-n.rotation.x, n.rotation.y, -n.rotation.z, n.rotation.w);
    }
    for mesh in &mut model.meshes {
        for p in &mut mesh.primitives {
            p.positions.iter_mut().for_each(flip);
            p.normals.iter_mut().flatten().for_each(flip);
            for t in &mut p.targets {
                t.positions.iter_mut().for_each(flip);
                t.normals.iter_mut().flatten().for_each(flip);
            }
        }
    }
    let r = Mat4::from_diagonal(glam::Vec4::new(-1.0, 1.0, -1.0, 1.0));
    for skin in &mut model.skins {
        for m in &mut skin.inverse_bind_matrices {
            *m = r * *m * r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(children: Vec<usize>) -> Node {
        Node {
            name: String::new(),
            parent: None,
            children,
            translation: Vec3::ZERO,
            rotation: Quat::IDENTITY,
            scale: Vec3::ONE,
            mesh: None,
            skin: None,
        }
    }

    #[test]
    fn parents_and_cycles() {
        let mut ok = vec![node(vec![1, 2]), node(vec![]), node(vec![3]), node(vec![])];
        link_parents(&mut ok).unwrap();
        assert_eq!(ok[3].parent, Some(2));
        let mut own = vec![node(vec![0])];
        assert!(
            link_parents(&mut own)
                .unwrap_err()
                .to_string()
                .contains("own child")
        );
        let mut two = vec![node(vec![2]), node(vec![2]), node(vec![])];
        assert!(
            link_parents(&mut two)
                .unwrap_err()
                .to_string()
                .contains("two parents")
        );
        let mut cycle = vec![node(vec![1]), node(vec![2]), node(vec![0])];
        assert!(
            link_parents(&mut cycle)
                .unwrap_err()
                .to_string()
                .contains("cycle")
        );
    }

    #[test]
    fn world_matrices_compose_parent_first() {
        let mut nodes = vec![node(vec![1]), node(vec![])];
        nodes[0].translation = Vec3::new(1.0, 0.0, 0.0);
        nodes[0].rotation = Quat::from_rotation_y(std::f32::consts::FRAC_PI_2);
        nodes[1].translation = Vec3::new(0.0, 0.0, 1.0);
        link_parents(&mut nodes).unwrap();
        let w = world_rest_matrices(&nodes);
        // +Z turned 90 degrees about Y is +X.
        assert!(
            w[1].w_axis
                .truncate()
                .abs_diff_eq(Vec3::new(2.0, 0.0, 0.0), 1e-6)
        );
    }

    #[test]
    fn normalized_components_follow_the_spec() {
        let mut out = [0f32; 2];
        decode_element(&[255, 0x80], ComponentType::U8, true, &mut out);
        assert_eq!(out[0], 1.0);
        assert!((out[1] - 128.0 / 255.0).abs() < 1e-6);
        decode_element(&[0x80, 0x81], ComponentType::I8, true, &mut out);
        assert_eq!(out, [-1.0, -1.0]);
        let mut one = [0f32; 1];
        decode_element(&7u16.to_le_bytes(), ComponentType::U16, false, &mut one);
        assert_eq!(one[0], 7.0);
    }

    #[test]
    fn compaction_keeps_used_vertices_in_first_use_order() {
        let mut idx = vec![5, 2, 5, 9];
        let order = compact(&mut idx, 10).unwrap();
        assert_eq!(order, vec![5, 2, 9]);
        assert_eq!(idx, vec![0, 1, 0, 2]);
        let mut all = vec![0, 1, 2, 2, 1, 0];
        assert_eq!(compact(&mut all, 3), None);
        assert_eq!(all, vec![0, 1, 2, 2, 1, 0]);
        // The hash path (few indices over many vertices) gives the same result.
        let mut few = vec![900, 3, 900];
        assert_eq!(compact(&mut few, 1000).unwrap(), vec![900, 3]);
        assert_eq!(few, vec![0, 1, 0]);
        let flat = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(
            gather::<2>(&flat, Some(&[2, 0])),
            vec![[4.0, 5.0], [0.0, 1.0]]
        );
        assert_eq!(
            gather::<3>(&flat, None),
            vec![[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        );
    }

    #[test]
    fn strips_and_fans_become_lists() {
        use json::mesh::Mode;
        assert_eq!(
            to_triangle_list(Mode::TriangleStrip, vec![0, 1, 2, 3]),
            vec![0, 1, 2, 2, 1, 3]
        );
        assert_eq!(
            to_triangle_list(Mode::TriangleFan, vec![0, 1, 2, 3]),
            vec![1, 2, 0, 2, 3, 0]
        );
        assert_eq!(
            to_triangle_list(Mode::Triangles, vec![0, 1, 2, 3]),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn uri_paths_stay_beside_the_model() {
        assert_eq!(percent_decode("a%20b.png"), "a b.png");
        assert_eq!(percent_decode("100%"), "100%");
        let base = Path::new("/nonexistent");
        for uri in [
            "/etc/passwd",
            "../x.bin",
            "http://example.com/x.bin",
            "a/../../x",
        ] {
            let e = read_uri(uri, Some(base), "buffer 0").unwrap_err();
            assert!(matches!(e, VrmError::Unsupported(_)), "{uri}: {e}");
        }
        let e = read_uri("x.bin", None, "buffer 0").unwrap_err().to_string();
        assert!(e.contains("external file"), "{e}");
        let (bytes, mime) =
            read_uri("data:application/octet-stream;base64,AQID", None, "b").unwrap();
        assert_eq!(bytes, vec![1, 2, 3]);
        assert_eq!(mime.as_deref(), Some("application/octet-stream"));
    }
}
