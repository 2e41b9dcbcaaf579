//! One avatar's resource budget: what a model may cost the GPU and the streamer's memory.
//!
//! The GPU numbers come from the device the avatar is drawn on (a morph buffer past
//! `max_storage_buffer_binding_size` would be a validation error there); the memory numbers are what
//! a streamer's machine can spare beside OBS, a game and an encoder. The loader checks each one
//! before it allocates what the check is about, so a hostile file costs seconds, not gigabytes.

use super::{Mesh, Node, Result, Skin, VrmError};

/// Bytes one vertex takes on the GPU as uploaded: position, normal (made when missing), UV,
/// joint indices (u16) and weights.
pub const VERTEX_BYTES: u64 = 12 + 12 + 8 + 8 + 16;
/// Bytes one morph target takes per vertex: position and normal deltas, padded to vec4.
pub const MORPH_VERTEX_BYTES: u64 = 2 * 16;
/// Bytes of one joint matrix.
pub const JOINT_BYTES: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The largest single GPU buffer (`max_buffer_size`): one primitive's vertices or indices.
    pub max_buffer_bytes: u64,
    /// The largest storage binding (`max_storage_buffer_binding_size`): one primitive's morph
    /// deltas, one skin's joint matrices.
    pub max_binding_bytes: u64,
    /// Everything one avatar puts on the GPU: every drawn primitive's buffers (once per node
    /// that draws its mesh, as they are uploaded), joint matrices and textures.
    pub gpu_bytes: u64,
    /// Accessor data decoded while loading (a primitive's decoded attributes are kept while its
    /// mesh is read, so this bounds the loader's peak as well as its work).
    pub decode_bytes: u64,
    /// External files and data URIs of a .gltf together (many buffers may name one file).
    pub external_bytes: u64,
    /// Primitives drawn: each costs a draw call, a bind group and a uniform every frame.
    pub max_draws: usize,
}

impl Default for Budget {
    /// wgpu's downlevel limits, which the renderer asks every device for, and 2 GiB for the GPU.
    fn default() -> Self {
        Budget {
            max_buffer_bytes: 256 << 20,
            max_binding_bytes: 128 << 20,
            gpu_bytes: 2 << 30,
            decode_bytes: 1 << 30,
            external_bytes: 1 << 30,
            max_draws: 4096,
        }
    }
}

impl Budget {
    /// The default budget within a device's buffer limits.
    pub fn for_device(max_buffer_bytes: u64, max_binding_bytes: u64) -> Self {
        let default = Budget::default();
        Budget {
            max_buffer_bytes: max_buffer_bytes.min(default.max_buffer_bytes),
            max_binding_bytes: max_binding_bytes.min(default.max_binding_bytes),
            ..default
        }
    }

    /// Adds `n` to a running total, or names the part of the budget it exceeds.
    pub(crate) fn charge(total: &mut u64, n: u64, max: u64, what: &str) -> Result<()> {
        *total = total.saturating_add(n);
        if *total > max {
            return Err(VrmError::Limit(format!(
                "{what} take more than {} (this avatar's budget)",
                mib(max)
            )));
        }
        Ok(())
    }

    /// What the model's geometry costs the GPU as uploaded, checked against every per-buffer
    /// limit; the bytes are the start of the textures' share of [`Budget::gpu_bytes`].
    pub(crate) fn geometry(&self, nodes: &[Node], meshes: &[Mesh], skins: &[Skin]) -> Result<u64> {
        let mut total = 0u64;
        for (s, skin) in skins.iter().enumerate() {
            let bytes = skin.joints.len() as u64 * JOINT_BYTES;
            self.fits(bytes, self.max_binding_bytes, &format!("skin {s}'s joints"))?;
            Self::charge(
                &mut total,
                bytes,
                self.gpu_bytes,
                "vertices, morphs and joints",
            )?;
        }
        for (ni, node) in nodes.iter().enumerate() {
            let Some(mesh) = node.mesh.and_then(|m| meshes.get(m)) else {
                continue;
            };
            for (pi, p) in mesh.primitives.iter().enumerate() {
                let what = format!("node {ni} ({:?}) primitive {pi}", node.name);
                let n = p.positions.len() as u64;
                let vertices = n * VERTEX_BYTES;
                let indices = p.indices.len() as u64 * 4;
                let morphs = p.targets.len() as u64 * n * MORPH_VERTEX_BYTES;
                self.fits(n * 16, self.max_buffer_bytes, &format!("{what}'s vertices"))?;
                self.fits(indices, self.max_buffer_bytes, &format!("{what}'s indices"))?;
                self.fits(morphs, self.max_binding_bytes, &format!("{what}'s morphs"))?;
                Self::charge(
                    &mut total,
                    vertices + indices + morphs,
                    self.gpu_bytes,
                    "vertices, morphs and joints",
                )?;
            }
        }
        Ok(total)
    }

    /// What a loaded model costs the GPU: geometry (per node that draws it) and textures.
    pub fn footprint(model: &super::VrmModel) -> u64 {
        let unlimited = Budget {
            max_buffer_bytes: u64::MAX,
            max_binding_bytes: u64::MAX,
            gpu_bytes: u64::MAX,
            ..Budget::default()
        };
        let geometry = unlimited
            .geometry(&model.nodes, &model.meshes, &model.skins)
            .unwrap_or(u64::MAX);
        let textures: u64 = model.images.iter().map(|i| i.rgba8.len() as u64).sum();
        geometry.saturating_add(textures)
    }

    fn fits(&self, bytes: u64, max: u64, what: &str) -> Result<()> {
        if bytes > max {
            return Err(VrmError::Limit(format!(
                "{what} take {} (the GPU takes at most {} in one buffer)",
                mib(bytes),
                mib(max)
            )));
        }
        Ok(())
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrm::load_within;
    use crate::vrm::tests::glb;

    /// A GLB with one mesh (one primitive of `n` vertices, all of them morphed by each of
    /// `targets` targets, each with its own accessor) that `nodes` nodes draw.
    fn shared_mesh(n: usize, targets: usize, nodes: usize) -> Vec<u8> {
        let target_list = (1..=targets)
            .map(|a| format!(r#"{{"POSITION":{a}}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let accessor = format!(
            r#"{{"bufferView":0,"componentType":5126,"count":{n},"type":"VEC3","min":[0,0,0],"max":[0,0,0]}}"#
        );
        let accessors = vec![accessor; targets + 1].join(",");
        let node_list = vec![r#"{"mesh":0}"#; nodes].join(",");
        let json = format!(
            r#"{{"asset":{{"version":"2.0"}},
            "buffers":[{{"byteLength":{b}}}],
            "bufferViews":[{{"buffer":0,"byteLength":{b}}}],
            "accessors":[{accessors}],
            "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}},"targets":[{target_list}]}}]}}],
            "nodes":[{node_list}]}}"#,
            b = n * 12
        );
        glb(&json, &vec![0; n * 12])
    }

    /// Why the budget refuses the model (a test fails if it loads).
    fn refusal(bytes: &[u8], budget: &Budget) -> String {
        match load_within(bytes, budget) {
            Ok(_) => panic!("loaded within {budget:?}"),
            Err(e) => {
                assert!(matches!(e, VrmError::Limit(_)), "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn a_mesh_drawn_by_many_nodes_is_counted_per_node() {
        // 3000 vertices with 8 targets: 0.9 MiB on the GPU per node that draws it.
        let budget = Budget {
            gpu_bytes: 8 << 20,
            ..Budget::default()
        };
        assert!(load_within(&shared_mesh(3000, 8, 4), &budget).is_ok());
        let err = refusal(&shared_mesh(3000, 8, 40), &budget);
        assert!(err.contains("this avatar's budget"), "{err}");
        let err = refusal(&shared_mesh(3, 0, 5000), &Budget::default());
        assert!(err.contains("5000 primitives drawn"), "{err}");
    }

    #[test]
    fn morphs_past_the_gpu_binding_limit_are_refused_before_upload() {
        // 3000 vertices x 100 targets x 32 bytes = 9.2 MiB of deltas in one storage binding.
        let small_gpu = Budget::for_device(256 << 20, 8 << 20);
        let err = refusal(&shared_mesh(3000, 100, 1), &small_gpu);
        assert!(err.contains("morphs take 9 MiB"), "{err}");
        assert!(load_within(&shared_mesh(3000, 100, 1), &Budget::default()).is_ok());
    }

    #[test]
    fn decoding_is_bounded_where_compaction_keeps_little() {
        // Each target decodes a whole 3000-vertex accessor: 36 KB each.
        let budget = Budget {
            decode_bytes: 1 << 20,
            ..Budget::default()
        };
        assert!(load_within(&shared_mesh(3000, 20, 1), &budget).is_ok());
        let err = refusal(&shared_mesh(3000, 40, 1), &budget);
        assert!(err.contains("decoded vertex data"), "{err}");
    }

    #[test]
    fn external_files_are_capped_in_total_before_they_are_read() {
        let dir = std::env::temp_dir().join(format!("vrm-budget-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big.bin"), vec![0u8; 1 << 20]).unwrap();
        let gltf = |buffers: usize| {
            let list = vec![r#"{"uri":"big.bin","byteLength":1048576}"#; buffers].join(",");
            format!(r#"{{"asset":{{"version":"2.0"}},"buffers":[{list}]}}"#)
        };
        let budget = Budget {
            external_bytes: 3 << 20,
            ..Budget::default()
        };
        std::fs::write(dir.join("three.gltf"), gltf(3)).unwrap();
        std::fs::write(dir.join("many.gltf"), gltf(1000)).unwrap();
        assert!(crate::vrm::load_file_within(dir.join("three.gltf"), &budget).is_ok());
        let err = crate::vrm::load_file_within(dir.join("many.gltf"), &budget).unwrap_err();
        assert!(
            err.to_string().contains("buffer 3: external files"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_device_can_only_lower_the_buffer_limits() {
        let small = Budget::for_device(1 << 20, 1 << 19);
        assert_eq!(
            (small.max_buffer_bytes, small.max_binding_bytes),
            (1 << 20, 1 << 19)
        );
        let big = Budget::for_device(u64::MAX, u64::MAX);
        assert_eq!(big, Budget::default());
    }

    #[test]
    fn godette_fits_the_default_budget_with_room() {
        let model = crate::vrm::load_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/testdata/vrm/vrm0/Godette_vrm_v4.vrm"
        ))
        .unwrap();
        let geometry = Budget::default()
            .geometry(&model.nodes, &model.meshes, &model.skins)
            .unwrap();
        let textures: u64 = model.images.iter().map(|i| i.rgba8.len() as u64).sum();
        // A real avatar uses a small part of it (the README quotes these figures).
        assert!(
            geometry + textures < Budget::default().gpu_bytes / 8,
            "{geometry} + {textures}"
        );
    }
}
