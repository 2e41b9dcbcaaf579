//! VRM runtime: VRM 0.x / 1.0 avatars (and plain glTF) loaded into plain Rust data, and an
//! [`Instance`] that steps one through its frames (pose, lookAt, expressions, constraints,
//! spring bones) for a renderer to draw.
//!
//! Pure: no GPU, no OBS. A streamer's file may be broken in any way, so every reference is checked
//! and every size is bounded before anything is allocated; a bad file is a [`VrmError`], never a panic.
//!
//! Space: everything is in the VRM 1.0 model space (metres, +Y up, the avatar faces +Z). VRM 0.x
//! models face -Z; they are turned 180 degrees about Y on load by *baking* the turn into the data
//! (node rest transforms, vertices, morph deltas, inverse bind matrices and the offsets stored in the
//! VRM 0.x JSON), so a renderer and the rig solver need no special case for 0.x.

pub mod animation;
pub mod budget;
pub mod constraints;
pub mod expressions;
pub mod first_person;
pub mod gltf_data;
pub mod humanoid;
pub mod inspect;
pub mod instance;
mod json_util;
pub mod look_at;
pub mod meta;
pub mod skeleton;
pub mod spring_bone;
pub mod spring_config;

use std::fmt;
use std::path::Path;

use serde_json::Value;

pub use budget::Budget;
pub use constraints::{ConstraintKind, NodeConstraint};
pub use expressions::{Expression, ExpressionWeights, Expressions};
pub use first_person::{FirstPerson, FirstPersonFlag};
pub use gltf_data::{
    AlphaMode, Image, Material, MaterialKind, Mesh, MorphTarget, Node, Primitive, Sampler, Skin,
    Texture, TextureRef, TextureTransform,
};
pub use humanoid::{HumanBone, Humanoid, NormalizedRig};
pub use inspect::inspect_json;
pub use instance::{Instance, Posed};
pub use look_at::{LookAt, LookAtType, RangeMap};
pub use meta::{License, Meta};
pub use spring_bone::SpringBones;
pub use spring_config::SpringConfig;

/// Limits on what a file may ask for, so that a hostile or broken file cannot exhaust memory or time.
pub mod limits {
    /// The JSON chunk (or .gltf file) of a real avatar is a few MiB.
    pub const MAX_JSON_BYTES: usize = 64 << 20;
    /// Whole files read by [`super::load_file`] (and external buffers or images).
    pub const MAX_FILE_BYTES: u64 = 1 << 30;
    pub const MAX_VERTICES_PER_PRIMITIVE: usize = 1_000_000;
    pub const MAX_VERTICES_TOTAL: usize = 2_000_000;
    /// Indices of one primitive and of the whole model.
    pub const MAX_INDICES_PER_PRIMITIVE: usize = 6_000_000;
    pub const MAX_INDICES_TOTAL: usize = 12_000_000;
    /// Sum over morph targets of their vertex counts (sparse accessors expand to this).
    pub const MAX_MORPH_VERTICES_TOTAL: usize = 20_000_000;
    pub const MAX_TEXTURE_SIZE: u32 = 8192;
    pub const MAX_SPRING_JOINTS: usize = 4096;
    pub const MAX_NODES: usize = 65_536;
    pub const MAX_SKIN_JOINTS: usize = 65_536;
    /// Real avatars have 15-100 (the presets and, for perfect sync, 52 ARKit shapes).
    pub const MAX_EXPRESSIONS: usize = 512;
    /// Morph, material and texture binds of all expressions (applied every frame).
    pub const MAX_EXPRESSION_BINDS: usize = 65_536;
    /// Joint and collider pairs a spring step tests (after duplicates are dropped).
    pub const MAX_COLLISION_PAIRS: usize = 100_000;
}

/// Why a file could not be loaded. Display is one line that names the problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VrmError {
    /// The file (or a file it refers to) could not be read.
    Io(String),
    /// Not a GLB/glTF file, or a truncated/corrupt GLB container.
    Container(String),
    /// The JSON does not parse or does not have the glTF/VRM shape.
    Json(String),
    /// A reference out of range, a node cycle, a missing required bone, inconsistent data.
    Invalid(String),
    /// The file asks for more than [`limits`] allow.
    Limit(String),
    /// Something valid that this loader cannot read (e.g. a required glTF extension).
    Unsupported(String),
}

impl fmt::Display for VrmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, message) = match self {
            VrmError::Io(m) => ("cannot read", m),
            VrmError::Container(m) => ("not a valid GLB/glTF file", m),
            VrmError::Json(m) => ("invalid glTF JSON", m),
            VrmError::Invalid(m) => ("invalid model", m),
            VrmError::Limit(m) => ("model too large", m),
            VrmError::Unsupported(m) => ("unsupported", m),
        };
        // One line, whatever a nested error message held.
        let message = message.replace(['\n', '\r'], " ");
        write!(f, "{kind}: {message}")
    }
}

impl std::error::Error for VrmError {}

pub type Result<T, E = VrmError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    /// `extensions.VRM` (VRM 0.x); shown as "0.0" like the spec's folder name.
    V0,
    /// `extensions.VRMC_vrm` with specVersion "1.0" (or "1.0-beta").
    V1,
}

impl SpecVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            SpecVersion::V0 => "0.0",
            SpecVersion::V1 => "1.0",
        }
    }
}

/// A loaded avatar: the glTF data a renderer needs plus the VRM extensions, all indices checked.
///
/// Indices (`usize`) refer to the vectors of this struct (`nodes`, `meshes`, `materials`, ...).
#[derive(Debug, Clone)]
pub struct VrmModel {
    /// None for a plain glTF without VRM extensions.
    pub spec_version: Option<SpecVersion>,
    pub nodes: Vec<Node>,
    /// Root nodes of the scene to draw (the default scene, else the first, else every parentless node).
    pub scene_roots: Vec<usize>,
    pub meshes: Vec<Mesh>,
    pub skins: Vec<Skin>,
    pub materials: Vec<Material>,
    pub textures: Vec<Texture>,
    pub images: Vec<Image>,
    pub samplers: Vec<Sampler>,
    /// None for a plain glTF.
    pub humanoid: Option<Humanoid>,
    pub expressions: Expressions,
    pub look_at: Option<LookAt>,
    pub first_person: FirstPerson,
    pub spring: SpringConfig,
    pub constraints: Vec<NodeConstraint>,
    pub meta: Meta,
}

/// Loads a self-contained .vrm / .glb (or a .gltf whose buffers and images are data URIs).
pub fn load(bytes: &[u8]) -> Result<VrmModel> {
    load_within(bytes, &Budget::default())
}

/// [`load`] within a budget (the GPU's limits).
pub fn load_within(bytes: &[u8], budget: &Budget) -> Result<VrmModel> {
    load_with_base(bytes, None, budget)
}

/// Loads a file; for a .gltf, external buffers and images are read relative to its folder.
pub fn load_file(path: impl AsRef<Path>) -> Result<VrmModel> {
    load_file_within(path, &Budget::default())
}

/// [`load_file`] within a budget (the GPU's limits).
pub fn load_file_within(path: impl AsRef<Path>, budget: &Budget) -> Result<VrmModel> {
    let path = path.as_ref();
    let bytes = read_bounded(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    load_with_base(&bytes, Some(base), budget)
}

/// Reads a regular file of at most [`limits::MAX_FILE_BYTES`].
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| VrmError::Io(format!("{shown}: {e}")))?;
    if !meta.is_file() {
        return Err(VrmError::Io(format!("{shown}: not a regular file")));
    }
    if meta.len() > limits::MAX_FILE_BYTES {
        return Err(VrmError::Limit(format!(
            "{shown}: {} bytes (at most {} allowed)",
            meta.len(),
            limits::MAX_FILE_BYTES
        )));
    }
    std::fs::read(path).map_err(|e| VrmError::Io(format!("{shown}: {e}")))
}

/// The most a quick look at a file reads (see [`read_json_head`]).
const MAX_PROBE_BYTES: u64 = 16 << 20;

/// The JSON of a file, reading only a GLB's header and JSON chunk (or a .gltf's text), at most
/// [`MAX_PROBE_BYTES`]: a quick look for a request that must be answered at once.
pub(crate) fn read_json_head(path: &Path) -> Result<Value> {
    use std::io::Read;
    let shown = path.display();
    let io = |e: std::io::Error| VrmError::Io(format!("{shown}: {e}"));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(VrmError::Io(format!("{shown}: not a regular file")));
    }
    let mut head = [0u8; 20];
    let got = file.by_ref().take(20).read(&mut head).map_err(io)?;
    let json = if got >= 4 && head.starts_with(b"glTF") {
        if got < 20 {
            return Err(VrmError::Container(format!(
                "{shown}: truncated GLB header"
            )));
        }
        let length = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
        if &head[16..20] != b"JSON" {
            return Err(VrmError::Container(format!(
                "{shown}: the first GLB chunk is not JSON"
            )));
        }
        if u64::from(length) > MAX_PROBE_BYTES {
            return Err(VrmError::Limit(format!(
                "{shown}: a JSON chunk of {length} bytes"
            )));
        }
        let mut json = vec![0u8; length as usize];
        file.read_exact(&mut json)
            .map_err(|_| VrmError::Container(format!("{shown}: truncated GLB")))?;
        json
    } else {
        if meta.len() > MAX_PROBE_BYTES {
            return Err(VrmError::Limit(format!(
                "{shown}: {} bytes of glTF JSON",
                meta.len()
            )));
        }
        let mut all = head[..got].to_vec();
        file.read_to_end(&mut all).map_err(io)?;
        all
    };
    let container = split_container(&json)?;
    parse_json(&container)
}

/// Whether `path` looks like a VRM (0.x or 1.0) from its header, without loading it.
pub fn probe_file(path: &Path) -> Result<()> {
    match detect_version(&read_json_head(path)?)? {
        Some(_) => Ok(()),
        None => Err(VrmError::Invalid(format!(
            "{}: not a VRM (no VRMC_vrm or VRM extension)",
            path.display()
        ))),
    }
}

/// The document's JSON, within [`limits::MAX_JSON_BYTES`].
fn parse_json(container: &Container) -> Result<Value> {
    if container.json.len() > limits::MAX_JSON_BYTES {
        return Err(VrmError::Limit(format!(
            "JSON is {} bytes (at most {} allowed)",
            container.json.len(),
            limits::MAX_JSON_BYTES
        )));
    }
    serde_json::from_slice(container.json)
        .map_err(|e| VrmError::Json(format!("JSON does not parse: {e}")))
}

fn load_with_base(bytes: &[u8], base: Option<&Path>, budget: &Budget) -> Result<VrmModel> {
    let container = split_container(bytes)?;
    let value = parse_json(&container)?;
    let spec_version = detect_version(&value)?;
    let mut model = gltf_data::read_gltf(&value, container.bin, base, spec_version, budget)?;
    let vrm0 = spec_version == Some(SpecVersion::V0);
    if vrm0 {
        gltf_data::turn_to_face_plus_z(&mut model);
    }
    let ext = |name: &str| value.get("extensions").and_then(|e| e.get(name));
    match spec_version {
        Some(SpecVersion::V1) => {
            let vrm = ext("VRMC_vrm").unwrap_or(&Value::Null);
            model.meta = meta::parse_v1(vrm.get("meta"))?;
            model.humanoid = Some(humanoid::parse_v1(vrm.get("humanoid"), &model.nodes)?);
            model.expressions = expressions::parse_v1(vrm.get("expressions"), &model)?;
            model.look_at = look_at::parse_v1(vrm.get("lookAt"))?;
            model.first_person = first_person::parse_v1(vrm.get("firstPerson"), &model)?;
            model.spring = spring_config::parse_v1(ext("VRMC_springBone"), &model)?;
            model.constraints = constraints::parse(&value, model.nodes.len())?;
        }
        Some(SpecVersion::V0) => {
            let vrm = ext("VRM").unwrap_or(&Value::Null);
            model.meta = meta::parse_v0(vrm.get("meta"), &model)?;
            model.humanoid = Some(humanoid::parse_v0(vrm.get("humanoid"), &model.nodes)?);
            model.expressions = expressions::parse_v0(vrm.get("blendShapeMaster"), &model)?;
            model.look_at = look_at::parse_v0(vrm.get("firstPerson"))?;
            model.first_person = first_person::parse_v0(vrm.get("firstPerson"), &model)?;
            model.spring = spring_config::parse_v0(vrm.get("secondaryAnimation"), &model)?;
            gltf_data::apply_vrm0_materials(vrm.get("materialProperties"), &mut model)?;
        }
        None => model.constraints = constraints::parse(&value, model.nodes.len())?,
    }
    Ok(model)
}

/// VRM 1.0 wins when a file carries both roots, as three-vrm tries 1.0 first.
fn detect_version(root: &Value) -> Result<Option<SpecVersion>> {
    let Some(ext) = root.get("extensions") else {
        return Ok(None);
    };
    if let Some(vrm) = ext.get("VRMC_vrm") {
        return match vrm.get("specVersion").and_then(Value::as_str) {
            Some("1.0" | "1.0-beta") => Ok(Some(SpecVersion::V1)),
            Some(other) => Err(VrmError::Unsupported(format!(
                "VRMC_vrm specVersion {other:?} (only 1.0 is known)"
            ))),
            None => Err(VrmError::Invalid("VRMC_vrm has no specVersion".into())),
        };
    }
    if ext.get("VRM").is_some() {
        return Ok(Some(SpecVersion::V0));
    }
    Ok(None)
}

struct Container<'a> {
    json: &'a [u8],
    bin: Option<&'a [u8]>,
}

/// Splits a GLB into its JSON and BIN chunks, or takes the bytes as a .gltf JSON document.
fn split_container(bytes: &[u8]) -> Result<Container<'_>> {
    if bytes.get(..4) != Some(b"glTF") {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        // A UTF-8 byte order mark may precede a .gltf written on Windows.
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        return match first {
            Some(b'{') | Some(0xEF) => Ok(Container {
                json: text,
                bin: None,
            }),
            None => Err(VrmError::Container("the file is empty".into())),
            Some(_) => Err(VrmError::Container(
                "neither a GLB (no \"glTF\" magic) nor a glTF JSON document".into(),
            )),
        };
    }
    let u32_at = |at: usize| -> Option<u32> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(version), Some(length)) = (u32_at(4), u32_at(8)) else {
        return Err(VrmError::Container(format!(
            "truncated GLB header ({} bytes)",
            bytes.len()
        )));
    };
    if version != 2 {
        return Err(VrmError::Unsupported(format!("GLB version {version}")));
    }
    let length = length as usize;
    if length > bytes.len() {
        return Err(VrmError::Container(format!(
            "truncated GLB: the header says {length} bytes, the file has {}",
            bytes.len()
        )));
    }
    let mut json = None;
    let mut bin = None;
    let mut at = 12usize;
    let mut chunk = 0;
    while at < length {
        let (Some(chunk_len), Some(kind)) = (u32_at(at), bytes.get(at + 4..at + 8)) else {
            return Err(VrmError::Container(format!(
                "truncated GLB: chunk {chunk} header at byte {at}"
            )));
        };
        let start = at + 8;
        let end = start
            .checked_add(chunk_len as usize)
            .filter(|&end| end <= length)
            .ok_or_else(|| {
                VrmError::Container(format!(
                    "truncated GLB: chunk {chunk} claims {chunk_len} bytes at byte {start}, the file has {length}"
                ))
            })?;
        let data = &bytes[start..end];
        match (chunk, kind) {
            (0, b"JSON") => json = Some(data),
            (0, _) => {
                return Err(VrmError::Container(
                    "the first GLB chunk is not JSON".into(),
                ));
            }
            (_, b"BIN\0") if bin.is_none() => bin = Some(data),
            // Unknown chunks must be ignored (glTF 2.0 spec, GLB chunks).
            _ => {}
        }
        chunk += 1;
        // Chunks are 4-byte aligned; a writer that forgot the padding is tolerated.
        at = end.next_multiple_of(4).min(length.max(end));
    }
    let json = json.ok_or_else(|| VrmError::Container("GLB has no JSON chunk".into()))?;
    Ok(Container { json, bin })
}

/// VRM 0.x vectors (collider offsets, first-person offset, gravity) are in Unity space: glTF has
/// z negated (UniVRM's ReverseZ), then the 180-degree turn negates x and z: (x, y, z) -> (-x, y, z).
pub(crate) fn vrm0_vector(unity: [f32; 3]) -> glam::Vec3 {
    glam::Vec3::new(-unity[0], unity[1], unity[2])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A GLB of `json` and a BIN chunk `bin` (none when empty).
    pub(crate) fn glb(json: &str, bin: &[u8]) -> Vec<u8> {
        let mut json = json.as_bytes().to_vec();
        while !json.len().is_multiple_of(4) {
            json.push(b' ');
        }
        let total = 12 + 8 + json.len() + if bin.is_empty() { 0 } else { 8 + bin.len() };
        let mut out = b"glTF".to_vec();
        out.extend(2u32.to_le_bytes());
        out.extend((total as u32).to_le_bytes());
        out.extend((json.len() as u32).to_le_bytes());
        out.extend(b"JSON");
        out.extend(&json);
        if !bin.is_empty() {
            out.extend((bin.len() as u32).to_le_bytes());
            out.extend(b"BIN\0");
            out.extend(bin);
        }
        out
    }

    #[test]
    fn minimal_gltf_loads_as_plain() {
        let model = load(br#"{"asset":{"version":"2.0"}}"#).unwrap();
        assert_eq!(model.spec_version, None);
        assert!(model.humanoid.is_none());
        let model = load(&glb(
            r#"{"asset":{"version":"2.0"},"nodes":[{"name":"a"}]}"#,
            &[],
        ))
        .unwrap();
        assert_eq!(model.nodes[0].name, "a");
        assert_eq!(model.scene_roots, vec![0]);
    }

    #[test]
    fn container_errors_are_one_line() {
        for (bytes, needle) in [
            (&b""[..], "empty"),
            (&b"glTF\x02\0\0"[..], "truncated GLB header"),
            (&b"glTF\x01\0\0\0\x0c\0\0\0"[..], "GLB version 1"),
            (
                &b"glTF\x02\0\0\0\xff\0\0\0"[..],
                "the header says 255 bytes",
            ),
            (&b"\x89PNG...."[..], "neither a GLB"),
            (&b"{\"asset\": "[..], "does not parse"),
        ] {
            let err = load(bytes).unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} lacks {needle:?}");
            assert!(!err.contains('\n'));
        }
        let mut g = glb(r#"{"asset":{"version":"2.0"}}"#, &[1, 2, 3, 4]);
        g[12] = 0xff; // JSON chunk length beyond the file
        let err = load(&g).unwrap_err().to_string();
        assert!(err.contains("chunk 0 claims"), "{err}");
    }

    #[test]
    fn unknown_vrm_version_is_rejected() {
        let err =
            load(br#"{"asset":{"version":"2.0"},"extensions":{"VRMC_vrm":{"specVersion":"2.0"}}}"#)
                .unwrap_err();
        assert!(err.to_string().contains("specVersion \"2.0\""), "{err}");
    }

    #[test]
    fn vrm0_vectors_turn_to_face_plus_z() {
        assert_eq!(
            vrm0_vector([1.0, 2.0, 3.0]),
            glam::Vec3::new(-1.0, 2.0, 3.0)
        );
    }
}
