//! Nodes: the scene graph, its parent links, the scene roots and the rest transforms.

use glam::{Mat4, Quat, Vec3};
use gltf::json;

use super::Node;
use crate::vrm::json_util::check;
use crate::vrm::{Result, VrmError, VrmModel};

pub(super) fn read_nodes(root: &json::Root) -> Result<Vec<Node>> {
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

pub(super) fn scene_roots(root: &json::Root, nodes: &[Node]) -> Vec<usize> {
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
}
