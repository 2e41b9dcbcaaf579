//! Spring bone simulation (VRMC_springBone 1.0; VRM 0.x chains as the loader expands them):
//! verlet tails with drag, stiffness towards the rest direction and gravity, the length kept,
//! pushed out of sphere and capsule colliders, in world or center space.
//!
//! It runs on a fixed 1/60 s step, so hair moves the same at 30 and 60 fps and a stalled frame
//! cannot make it explode; at most [`MAX_STEPS`] steps run per call (a long stall skips time).

use super::VrmModel;
use super::spring_config::{ColliderShape, SpringJoint};
use glam::{Mat4, Quat, Vec3};

/// Local (translation, rotation, scale) of every node.
pub type LocalTransforms = [(Vec3, Quat, Vec3)];

pub const STEP_S: f32 = 1.0 / 60.0;
pub const MAX_STEPS: u32 = 8;

/// One moving joint: it rotates so that it points at its simulated tail.
#[derive(Debug, Clone)]
struct Joint {
    node: usize,
    params: SpringJoint,
    /// The tail in the joint's local rest space (the next joint, or VRM 0.x's virtual tail).
    tail_local: Vec3,
    /// `tail_local` normalized: the rest direction.
    axis: Vec3,
    rest_rotation: Quat,
    /// Tails in center space (world space without a center).
    prev_tail: Vec3,
    current_tail: Vec3,
}

#[derive(Debug, Clone)]
struct Chain {
    joints: Vec<Joint>,
    colliders: Vec<usize>,
    center: Option<usize>,
}

pub struct SpringBones {
    chains: Vec<Chain>,
    parents: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
    /// Simulated time not yet stepped.
    pending_s: f32,
    initialized: bool,
}

impl SpringBones {
    pub fn new(model: &VrmModel) -> Self {
        let rest_world = super::gltf_data::world_rest_matrices(&model.nodes);
        let depth = |mut node: usize| {
            let mut d = 0;
            while let Some(p) = model.nodes[node].parent {
                node = p;
                d += 1;
            }
            d
        };
        let mut chains: Vec<Chain> = model
            .spring
            .springs
            .iter()
            .map(|spring| {
                let mut joints = Vec::new();
                for (i, joint) in spring.joints.iter().enumerate() {
                    let tail_local = match spring.joints.get(i + 1) {
                        Some(next) => rest_world[joint.node]
                            .inverse()
                            .transform_point3(rest_world[next.node].w_axis.truncate()),
                        None => match spring.virtual_tail {
                            Some(tail) => tail,
                            None => continue,
                        },
                    };
                    let Some(axis) = tail_local.try_normalize() else {
                        continue;
                    };
                    joints.push(Joint {
                        node: joint.node,
                        params: *joint,
                        tail_local,
                        axis,
                        rest_rotation: model.nodes[joint.node].rotation,
                        prev_tail: Vec3::ZERO,
                        current_tail: Vec3::ZERO,
                    });
                }
                let colliders = model.spring.colliders_of(spring);
                Chain {
                    joints,
                    colliders,
                    center: spring.center,
                }
            })
            .filter(|c| !c.joints.is_empty())
            .collect();
        // Chains hanging from other chains' joints update after them.
        chains.sort_by_key(|c| depth(c.joints[0].node));
        Self {
            chains,
            parents: model.nodes.iter().map(|n| n.parent).collect(),
            children: model.nodes.iter().map(|n| n.children.clone()).collect(),
            pending_s: 0.0,
            initialized: false,
        }
    }

    pub fn joint_count(&self) -> usize {
        self.chains.iter().map(|c| c.joints.len()).sum()
    }

    /// Advances by `dt` seconds and writes the joints' rotations into `local`, which holds the
    /// pose so far (humanoid, constraints). Returns the world matrices of the result.
    pub fn update(&mut self, model: &VrmModel, local: &mut LocalTransforms, dt: f32) -> Vec<Mat4> {
        let mut world = self.world_matrices(local);
        if !self.initialized {
            self.reset_tails(&world);
        }
        let dt = if dt.is_finite() {
            dt.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.pending_s = (self.pending_s + dt).min(STEP_S * MAX_STEPS as f32);
        let mut steps = 0;
        while self.pending_s >= STEP_S {
            self.pending_s -= STEP_S;
            steps += 1;
            self.step(model, local, &mut world, Some(STEP_S));
        }
        if steps == 0 {
            // No time step this frame: still follow the new pose with the current tails.
            self.step(model, local, &mut world, None);
        }
        world
    }

    /// Puts every tail back at its rest direction in the current pose (after a model reload or
    /// a jump of the whole avatar).
    pub fn reset(&mut self, local: &LocalTransforms) {
        let world = self.world_matrices(local);
        self.reset_tails(&world);
    }

    fn reset_tails(&mut self, world: &[Mat4]) {
        for chain in &mut self.chains {
            let center_inv = center_inverse(world, chain.center);
            for j in &mut chain.joints {
                let tail =
                    center_inv.transform_point3(world[j.node].transform_point3(j.tail_local));
                j.prev_tail = tail;
                j.current_tail = tail;
            }
        }
        self.initialized = true;
    }

    /// One verlet step of `dt` (None: only re-aim the joints at their current tails).
    fn step(
        &mut self,
        model: &VrmModel,
        local: &mut LocalTransforms,
        world: &mut [Mat4],
        dt: Option<f32>,
    ) {
        for c in 0..self.chains.len() {
            let center = self.chains[c].center;
            for k in 0..self.chains[c].joints.len() {
                let j = self.chains[c].joints[k].clone();
                let center_m = center.map_or(Mat4::IDENTITY, |n| world[n]);
                let center_inv = center_m.inverse();
                let parent_world = self.parents[j.node].map_or(Mat4::IDENTITY, |p| world[p]);
                let rest_local = Mat4::from_scale_rotation_translation(
                    local[j.node].2,
                    j.rest_rotation,
                    local[j.node].0,
                );
                let head = world[j.node].w_axis.truncate();
                let length = (world[j.node].transform_point3(j.tail_local) - head).length();
                let rest_dir_world = ((parent_world * rest_local).transform_point3(j.axis) - head)
                    .normalize_or(Vec3::Y);

                let mut next = match dt {
                    Some(dt) => {
                        let p = j.params;
                        let inertia =
                            (j.current_tail - j.prev_tail) * (1.0 - p.drag_force.clamp(0.0, 1.0));
                        let stiffness = center_inv
                            .transform_vector3(rest_dir_world)
                            .normalize_or_zero()
                            * (p.stiffness * dt);
                        let gravity = center_inv
                            .transform_vector3(p.gravity_dir)
                            .normalize_or_zero()
                            * (p.gravity_power * dt);
                        center_m.transform_point3(j.current_tail + inertia + stiffness + gravity)
                    }
                    None => center_m.transform_point3(j.current_tail),
                };
                next = head + (next - head).normalize_or(rest_dir_world) * length;
                if dt.is_some() {
                    for &ci in &self.chains[c].colliders {
                        let collider = model.spring.colliders[ci];
                        if let Some(pushed) = push_out(
                            world[collider.node],
                            collider.shape,
                            next,
                            j.params.hit_radius,
                        ) {
                            next = head + (pushed - head).normalize_or(rest_dir_world) * length;
                        }
                    }
                }
                if !next.is_finite() {
                    next = head + rest_dir_world * length;
                }

                let joint = &mut self.chains[c].joints[k];
                if dt.is_some() {
                    joint.prev_tail = joint.current_tail;
                    joint.current_tail = center_inv.transform_point3(next);
                    if !joint.current_tail.is_finite() || !joint.prev_tail.is_finite() {
                        joint.current_tail =
                            center_inv.transform_point3(head + rest_dir_world * length);
                        joint.prev_tail = joint.current_tail;
                    }
                }
                let to = (parent_world * rest_local)
                    .inverse()
                    .transform_point3(next)
                    .normalize_or(j.axis);
                let rotation = (j.rest_rotation * Quat::from_rotation_arc(j.axis, to)).normalize();
                if rotation.is_finite() {
                    local[j.node].1 = rotation;
                    self.update_subtree(local, world, j.node);
                }
            }
        }
    }

    fn world_matrices(&self, local: &LocalTransforms) -> Vec<Mat4> {
        let mut world = vec![Mat4::IDENTITY; local.len()];
        let roots: Vec<usize> = (0..local.len())
            .filter(|&i| self.parents[i].is_none())
            .collect();
        for root in roots {
            self.update_subtree(local, &mut world, root);
        }
        world
    }

    /// Recomputes the world matrices of `node` and everything below it.
    fn update_subtree(&self, local: &LocalTransforms, world: &mut [Mat4], node: usize) {
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            let (t, r, s) = local[n];
            let m = Mat4::from_scale_rotation_translation(s, r, t);
            world[n] = self.parents[n].map_or(m, |p| world[p] * m);
            stack.extend(self.children[n].iter().copied());
        }
    }
}

fn center_inverse(world: &[Mat4], center: Option<usize>) -> Mat4 {
    center.map_or(Mat4::IDENTITY, |n| world[n].inverse())
}

/// Where `tail` goes when it is inside the collider (grown by the joint's `hit_radius`).
fn push_out(
    collider_world: Mat4,
    shape: ColliderShape,
    tail: Vec3,
    hit_radius: f32,
) -> Option<Vec3> {
    let (offset_from, radius) = match shape {
        ColliderShape::Sphere { offset, radius } => {
            (tail - collider_world.transform_point3(offset), radius)
        }
        ColliderShape::Capsule {
            offset,
            radius,
            tail: end,
        } => {
            let head = collider_world.transform_point3(offset);
            let segment = collider_world.transform_point3(end) - head;
            let mut d = tail - head;
            let along = segment.dot(d);
            let len2 = segment.length_squared();
            if along >= len2 {
                d -= segment;
            } else if along > 0.0 && len2 > 0.0 {
                d -= segment * (along / len2);
            }
            (d, radius)
        }
    };
    let distance = offset_from.length() - radius - hit_radius;
    (distance < 0.0).then(|| tail + offset_from.normalize_or(Vec3::Y) * -distance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrm::HumanBone;

    fn godette() -> VrmModel {
        crate::vrm::load_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/testdata/vrm/vrm0/Godette_vrm_v4.vrm"
        ))
        .unwrap()
    }

    fn rest(model: &VrmModel) -> Vec<(Vec3, Quat, Vec3)> {
        model
            .nodes
            .iter()
            .map(|n| (n.translation, n.rotation, n.scale))
            .collect()
    }

    /// World positions of every joint's tail, in the head's space.
    fn tails(springs: &SpringBones, world: &[Mat4], head: usize) -> Vec<Vec3> {
        let inv = world[head].inverse();
        springs
            .chains
            .iter()
            .flat_map(|c| {
                c.joints
                    .iter()
                    .map(|j| inv.transform_point3(world[j.node].transform_point3(j.tail_local)))
            })
            .collect()
    }

    /// Runs `seconds` at `fps` with the head turned by `turn(t)` about +Y; returns the tails.
    fn simulate(
        model: &VrmModel,
        springs: &mut SpringBones,
        fps: f32,
        seconds: f32,
        turn: impl Fn(f32) -> f32,
    ) -> (Vec<Vec3>, Vec<Mat4>) {
        let head = model
            .humanoid
            .as_ref()
            .unwrap()
            .node(HumanBone::Head)
            .unwrap();
        let head_rest = model.nodes[head].rotation;
        let frames = (seconds * fps).round() as usize;
        let mut world = Vec::new();
        for f in 0..frames {
            let mut local = rest(model);
            local[head].1 = Quat::from_rotation_y(turn(f as f32 / fps)) * head_rest;
            world = springs.update(model, &mut local, 1.0 / fps);
        }
        (tails(springs, &world, head), world)
    }

    #[test]
    fn hair_swings_after_a_head_turn_and_settles_back() {
        let model = godette();
        let mut springs = SpringBones::new(&model);
        assert!(
            springs.joint_count() > 10,
            "{} joints",
            springs.joint_count()
        );
        let (settled, _) = simulate(&model, &mut springs, 60.0, 4.0, |_| 0.0);
        let (again, _) = simulate(&model, &mut springs, 60.0, 0.5, |_| 0.0);
        let drift = settled
            .iter()
            .zip(&again)
            .map(|(a, b)| a.distance(*b))
            .fold(0.0, f32::max);
        assert!(drift < 1e-3, "settled hair stays put ({drift} m)");

        // Turn the head 30 degrees within 0.2 s: the hair lags behind in the head's frame.
        let (swinging, _) = simulate(&model, &mut springs, 60.0, 0.2, |t| {
            (t / 0.2) * 30f32.to_radians()
        });
        let swing = settled
            .iter()
            .zip(&swinging)
            .map(|(a, b)| a.distance(*b))
            .fold(0.0, f32::max);
        assert!(swing > 0.01, "the hair swings ({swing} m)");
        // Hold the turn, then back: it settles where it was.
        simulate(&model, &mut springs, 60.0, 1.0, |_| 30f32.to_radians());
        let (back, _) = simulate(&model, &mut springs, 60.0, 5.0, |_| 0.0);
        let error = settled
            .iter()
            .zip(&back)
            .map(|(a, b)| a.distance(*b))
            .fold(0.0, f32::max);
        assert!(error < 2e-3, "back at rest ({error} m)");
    }

    #[test]
    fn the_motion_is_the_same_at_30_and_60_fps() {
        let model = godette();
        let max_diff = |a: &[Vec3], b: &[Vec3]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.distance(*y))
                .fold(0.0, f32::max)
        };
        // The same input at both rates (a sudden turn at t = 1 s, held): the same motion.
        let turn = |t: f32| if t < 1.0 { 0.0 } else { 30f32.to_radians() };
        let (a, _) = simulate(&model, &mut SpringBones::new(&model), 30.0, 1.3, turn);
        let (b, _) = simulate(&model, &mut SpringBones::new(&model), 60.0, 1.3, turn);
        let (rest, _) = simulate(&model, &mut SpringBones::new(&model), 60.0, 1.3, |_| 0.0);
        assert!(max_diff(&a, &rest) > 0.01, "the turn moves the hair");
        assert!(
            max_diff(&a, &b) < 1e-4,
            "held turn: 30 vs 60 fps differ by {}",
            max_diff(&a, &b)
        );
        // A moving head sampled at 30 or 60 fps: the inputs differ a little, so may the hair.
        let motion = |t: f32| (t * 4.0).sin() * 25f32.to_radians();
        let (a, _) = simulate(&model, &mut SpringBones::new(&model), 30.0, 1.5, motion);
        let (b, _) = simulate(&model, &mut SpringBones::new(&model), 60.0, 1.5, motion);
        assert!(
            max_diff(&a, &b) < 0.01,
            "moving: 30 vs 60 fps differ by {}",
            max_diff(&a, &b)
        );
    }

    #[test]
    fn segments_keep_their_length_and_tails_stay_out_of_colliders() {
        let model = godette();
        let mut springs = SpringBones::new(&model);
        let (_, world) = simulate(&model, &mut springs, 60.0, 2.0, |t| (t * 5.0).sin() * 0.6);
        let rest_world = crate::vrm::gltf_data::world_rest_matrices(&model.nodes);
        for chain in &springs.chains {
            for j in &chain.joints {
                let rest_len = (rest_world[j.node].transform_point3(j.tail_local)
                    - rest_world[j.node].w_axis.truncate())
                .length();
                let len = (world[j.node].transform_point3(j.tail_local)
                    - world[j.node].w_axis.truncate())
                .length();
                assert!(
                    (len - rest_len).abs() <= rest_len * 1e-3 + 1e-6,
                    "{len} vs {rest_len}"
                );
                let tail = world[j.node].transform_point3(j.tail_local);
                for &ci in &chain.colliders {
                    let c = model.spring.colliders[ci];
                    if let Some(pushed) =
                        push_out(world[c.node], c.shape, tail, j.params.hit_radius)
                    {
                        // Inside by at most a hair (the next joint may have re-aimed it).
                        assert!(
                            pushed.distance(tail) < 5e-3,
                            "tail inside a collider by {}",
                            pushed.distance(tail)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_sphere_pushes_a_point_out_to_its_surface() {
        let shape = ColliderShape::Sphere {
            offset: Vec3::new(0.0, 1.0, 0.0),
            radius: 0.1,
        };
        let pushed = push_out(Mat4::IDENTITY, shape, Vec3::new(0.05, 1.0, 0.0), 0.02).unwrap();
        assert!((pushed.x - 0.12).abs() < 1e-6 && pushed.y == 1.0);
        assert_eq!(
            push_out(Mat4::IDENTITY, shape, Vec3::new(0.2, 1.0, 0.0), 0.02),
            None
        );
        let capsule = ColliderShape::Capsule {
            offset: Vec3::ZERO,
            radius: 0.1,
            tail: Vec3::Y,
        };
        let pushed = push_out(Mat4::IDENTITY, capsule, Vec3::new(0.0, 0.5, 0.05), 0.0).unwrap();
        assert!((pushed - Vec3::new(0.0, 0.5, 0.1)).length() < 1e-6);
    }

    #[test]
    fn degenerate_input_never_panics_or_gives_nan() {
        let model = godette();
        let mut springs = SpringBones::new(&model);
        let mut local = rest(&model);
        for dt in [0.0, 10.0, f32::NAN, -1.0, 1.0 / 60.0] {
            let world = springs.update(&model, &mut local, dt);
            assert!(world.iter().all(|m| m.is_finite()), "dt {dt}");
        }
        let head = model
            .humanoid
            .as_ref()
            .unwrap()
            .node(HumanBone::Head)
            .unwrap();
        local[head].1 = Quat::from_xyzw(f32::NAN, 0.0, 0.0, 1.0);
        springs.update(&model, &mut local, 1.0 / 60.0);
        let mut local = rest(&model);
        let world = springs.update(&model, &mut local, 1.0 / 60.0);
        assert!(world.iter().all(|m| m.is_finite()));
        assert!(local.iter().all(|(_, r, _)| r.is_finite()));
    }
}
