//! Meshes and skins: primitives, morph targets, skin joints and inverse bind matrices.

use std::collections::HashMap;
use std::rc::Rc;

use glam::Mat4;
use gltf::json;
use gltf::json::accessor::Type;
use gltf::json::validation::Checked;
use serde_json::Value;

use super::accessors::{Data, Tally, compact, gather};
use super::{Mesh, MorphTarget, Node, Primitive, Skin};
use crate::vrm::json_util::check;
use crate::vrm::{Result, VrmError, limits};

/// Decoded vertex attributes by (accessor, components), shared by a mesh's primitives.
type AttributeCache = HashMap<(usize, usize), Rc<Vec<f32>>>;

impl Data<'_> {
    /// Reads mesh `mesh_index`: its triangle primitives (which must agree on the number of
    /// morph targets), default morph weights and morph target names.
    pub(super) fn read_mesh(
        &self,
        mesh_index: usize,
        mesh: &json::Mesh,
        raw: &Value,
        budget: &mut Tally,
    ) -> Result<Mesh> {
        let mut cache = HashMap::new();
        let mut primitives = Vec::new();
        let mut target_count = None;
        for (pi, p) in mesh.primitives.iter().enumerate() {
            let what = format!("mesh {mesh_index} primitive {pi}");
            let Some(primitive) = self.read_primitive(p, &what, &mut cache, budget)? else {
                continue;
            };
            match target_count {
                None => target_count = Some(primitive.targets.len()),
                Some(c) if c != primitive.targets.len() => {
                    return Err(VrmError::Invalid(format!(
                        "{what}: {} morph targets, other primitives of the mesh have {c}",
                        primitive.targets.len()
                    )));
                }
                Some(_) => {}
            }
            primitives.push(primitive);
        }
        let target_count = target_count.unwrap_or(0);
        let mut weights = mesh.weights.clone().unwrap_or_default();
        weights.resize(target_count, 0.0);
        Ok(Mesh {
            name: mesh.name.clone().unwrap_or_default(),
            primitives,
            weights,
            target_names: target_names(raw, target_count),
        })
    }

    /// Reads one primitive (vertex attributes, indices, morph targets) compacted to the vertices
    /// it draws; `None` for primitives that draw no triangles or have no POSITION, which are
    /// skipped.
    fn read_primitive(
        &self,
        p: &json::mesh::Primitive,
        what: &str,
        cache: &mut AttributeCache,
        budget: &mut Tally,
    ) -> Result<Option<Primitive>> {
        use json::mesh::{Mode, Semantic};
        let Checked::Valid(mode) = &p.mode else {
            return Err(VrmError::Invalid(format!("{what}: unknown mode")));
        };
        if !matches!(
            mode,
            Mode::Triangles | Mode::TriangleStrip | Mode::TriangleFan
        ) {
            return Ok(None);
        }
        let Some(pos_acc) = attribute_accessor(p, Semantic::Positions) else {
            return Ok(None);
        };
        let positions = self.attribute(cache, pos_acc, Type::Vec3, &format!("{what} POSITION"))?;
        let n = positions.len() / 3;
        if budget.vertex_accessors.insert(pos_acc) {
            Tally::add(
                &mut budget.vertices,
                n,
                limits::MAX_VERTICES_TOTAL,
                "vertices",
            )?;
        }
        let mut read = |semantic: Semantic, ty: Type, name: &str| {
            let a = attribute_accessor(p, semantic);
            self.read_vertex_attribute(cache, a, ty, what, name, n)
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
        let raw_indices = self.read_indices(p, what, n)?;
        let mut indices = to_triangle_list(*mode, raw_indices);
        Tally::add(
            &mut budget.indices,
            indices.len(),
            limits::MAX_INDICES_TOTAL,
            "indices",
        )?;
        // Keep only the vertices this primitive draws (exporters share one vertex set among
        // a mesh's primitives), so memory follows what is drawn.
        let order = compact(&mut indices, n);
        let order = order.as_deref();
        let targets = self.read_morph_targets(p, what, n, order, cache, budget)?;
        let joints0 = joints0.map(|j| {
            gather::<4>(&j, order)
                .into_iter()
                .map(|c| c.map(|x| x as u16))
                .collect()
        });
        Ok(Some(Primitive {
            positions: gather(&positions, order),
            normals: normals.map(|v| gather(&v, order)),
            uv0: uv0.map(|v| gather(&v, order)),
            joints0,
            weights0: weights0.map(|v| gather(&v, order)),
            indices,
            material: p.material.map(|m| m.value()),
            targets,
        }))
    }

    /// Reads an optional per-vertex attribute (accessor `a`), which must have one element per
    /// POSITION.
    fn read_vertex_attribute(
        &self,
        cache: &mut AttributeCache,
        a: Option<usize>,
        ty: Type,
        what: &str,
        name: &str,
        n: usize,
    ) -> Result<Option<Rc<Vec<f32>>>> {
        let Some(a) = a else {
            return Ok(None);
        };
        let v = self.attribute(cache, a, ty, &format!("{what} {name}"))?;
        let len = v.len() / ty.multiplicity();
        if len != n {
            return Err(VrmError::Invalid(format!(
                "{what}: {name} has {len} elements but POSITION has {n}"
            )));
        }
        Ok(Some(v))
    }

    /// Reads the primitive's vertex indices (all `n` vertices in order when it has none),
    /// rejecting any that address a vertex beyond the `n` there are.
    fn read_indices(&self, p: &json::mesh::Primitive, what: &str, n: usize) -> Result<Vec<u32>> {
        Ok(match p.indices {
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
        })
    }

    /// Reads the primitive's morph targets, compacted by `order` like its vertices; a target
    /// without POSITION displacements gets zero ones.
    fn read_morph_targets(
        &self,
        p: &json::mesh::Primitive,
        what: &str,
        n: usize,
        order: Option<&[u32]>,
        cache: &mut AttributeCache,
        budget: &mut Tally,
    ) -> Result<Vec<MorphTarget>> {
        let mut targets = Vec::new();
        for (ti, t) in p.targets.iter().flatten().enumerate() {
            let twhat = format!("{what} morph target {ti}");
            let mut read = |a: Option<json::Index<json::Accessor>>, name: &str| {
                self.read_morph_attribute(cache, a, &twhat, name, n, order)
            };
            let positions = read(t.positions, "POSITION")?;
            let normals = read(t.normals, "NORMAL")?;
            let positions =
                positions.unwrap_or_else(|| vec![[0.0; 3]; order.map_or(n, <[u32]>::len)]);
            Tally::add(
                &mut budget.morph_vertices,
                positions.len(),
                limits::MAX_MORPH_VERTICES_TOTAL,
                "morph target vertices",
            )?;
            targets.push(MorphTarget { positions, normals });
        }
        Ok(targets)
    }

    /// Reads an optional morph target attribute (one element per POSITION), compacted by `order`.
    fn read_morph_attribute(
        &self,
        cache: &mut AttributeCache,
        a: Option<json::Index<json::Accessor>>,
        twhat: &str,
        name: &str,
        n: usize,
        order: Option<&[u32]>,
    ) -> Result<Option<Vec<[f32; 3]>>> {
        let Some(a) = a else {
            return Ok(None);
        };
        let v = self.attribute(cache, a.value(), Type::Vec3, &format!("{twhat} {name}"))?;
        if v.len() / 3 != n {
            return Err(VrmError::Invalid(format!(
                "{twhat}: {name} has {} elements but POSITION has {n}",
                v.len() / 3
            )));
        }
        Ok(Some(gather(&v, order)))
    }

    pub(super) fn read_skin(&self, i: usize, skin: &json::Skin) -> Result<Skin> {
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

/// The accessor of the primitive's attribute `semantic`, if it has one.
fn attribute_accessor(p: &json::mesh::Primitive, semantic: json::mesh::Semantic) -> Option<usize> {
    p.attributes
        .get(&Checked::Valid(semantic))
        .map(|a| a.value())
}

/// The mesh's morph target names (`extras.targetNames`, else those of its first primitive),
/// padded or cut to `target_count`.
fn target_names(raw: &Value, target_count: usize) -> Vec<String> {
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
    target_names
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
pub(super) fn check_skinned_joints(
    nodes: &[Node],
    skins: &[Skin],
    meshes: &mut [Mesh],
) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
