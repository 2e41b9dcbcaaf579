//! Generated shapes: parametric surfaces sampled on a grid, with smooth normals, UVs and skin weights.
//!
//! Geometry is computed in `f64` and stored as `f32`. Every surface is a map `(u, v) -> point`;
//! normals come from finite differences of that map (or from a given normal field) and point away
//! from a "core" point of the shape, so the triangle winding can be fixed per triangle.

use glam::{DMat3, DVec2, DVec3, Vec2, Vec3};

/// Up to four joints (skin joint indices) and weights summing to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Skinning {
    pub joints: [u8; 4],
    pub weights: [f32; 4],
}

impl Skinning {
    /// The vertex follows one joint only.
    pub fn rigid(joint: usize) -> Self {
        Self::blend(&[(joint, 1.0)])
    }

    /// Merges duplicate joints, keeps the four largest weights and normalizes them.
    pub fn blend(pairs: &[(usize, f64)]) -> Self {
        let mut merged: Vec<(usize, f64)> = Vec::with_capacity(pairs.len());
        for &(joint, weight) in pairs {
            if weight <= 0.0 {
                continue;
            }
            match merged.iter_mut().find(|(j, _)| *j == joint) {
                Some(entry) => entry.1 += weight,
                None => merged.push((joint, weight)),
            }
        }
        merged.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        merged.truncate(4);
        assert!(!merged.is_empty(), "a vertex needs at least one joint");
        let total: f64 = merged.iter().map(|(_, w)| w).sum();
        let mut out = Skinning {
            joints: [0; 4],
            weights: [0.0; 4],
        };
        for (slot, &(joint, weight)) in merged.iter().enumerate() {
            out.joints[slot] = u8::try_from(joint).expect("fewer than 256 joints");
            out.weights[slot] = (weight / total) as f32;
        }
        // Put the f32 rounding error on the largest weight so the sum is 1 to f32 precision.
        let rest: f32 = out.weights[1..].iter().sum();
        out.weights[0] = 1.0 - rest;
        out
    }
}

/// A chain of joints along a coordinate `s` (for instance the distance along a limb): joint `k`
/// owns `s` from its start up to the next joint's start, blended smoothly over `blend` either side
/// of each boundary.
pub struct Chain {
    /// `(joint, start)`, starts increasing; the first start is only a label (it owns everything below).
    pub links: Vec<(usize, f64)>,
    pub blend: f64,
}

impl Chain {
    pub fn skinning(&self, s: f64) -> Skinning {
        for pair in self.links.windows(2) {
            let (lower, _) = pair[0];
            let (upper, start) = pair[1];
            if (s - start).abs() < self.blend {
                let w = smoothstep(start - self.blend, start + self.blend, s);
                return Skinning::blend(&[(lower, 1.0 - w), (upper, w)]);
            }
        }
        let owner = self
            .links
            .iter()
            .skip(1)
            .take_while(|(_, start)| s >= *start)
            .last()
            .unwrap_or(&self.links[0]);
        Skinning::rigid(owner.0)
    }
}

pub fn smoothstep(edge0: f64, edge1: f64, x: f64) -> f64 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// `n + 1` evenly spaced samples from `a` to `b`.
pub fn samples(n: usize, a: f64, b: f64) -> Vec<f64> {
    (0..=n).map(|i| a + (b - a) * i as f64 / n as f64).collect()
}

/// Triangles of one material: positions, normals, UVs and skinning per vertex.
#[derive(Default, Clone, Debug)]
pub struct Primitive {
    pub positions: Vec<Vec3>,
    pub normals: Vec<Vec3>,
    pub uvs: Vec<Vec2>,
    pub skinning: Vec<Skinning>,
    pub indices: Vec<u32>,
}

/// A surface to sample: `eval(u, v)` for every `u` in `us` and `v` in `vs`.
pub struct Grid<'a> {
    pub us: Vec<f64>,
    pub vs: Vec<f64>,
    pub eval: &'a dyn Fn(f64, f64) -> DVec3,
    /// A point inside the shape near `eval(u, v)`: normals point away from it.
    pub core: &'a dyn Fn(f64, f64) -> DVec3,
    /// A normal field; without it normals come from finite differences of `eval`.
    pub normal: Option<&'a dyn Fn(DVec3) -> DVec3>,
    pub skin: &'a dyn Fn(f64, f64, DVec3) -> Skinning,
}

impl Primitive {
    /// Appends a sampled grid. Triangles with no area (at poles) are left out.
    pub fn add_grid(&mut self, grid: &Grid) {
        let base = self.positions.len() as u32;
        let (nu, nv) = (grid.us.len(), grid.vs.len());
        let (u0, u1) = (grid.us[0], grid.us[nu - 1]);
        let (v0, v1) = (grid.vs[0], grid.vs[nv - 1]);
        let mut points = Vec::with_capacity(nu * nv);
        let mut normals = Vec::with_capacity(nu * nv);
        for &v in &grid.vs {
            for &u in &grid.us {
                let p = (grid.eval)(u, v);
                let mut n = match grid.normal {
                    Some(field) => field(p),
                    None => finite_difference_normal(grid.eval, u, v, (u0, u1), (v0, v1)),
                };
                if n.dot(p - (grid.core)(u, v)) < 0.0 {
                    n = -n;
                }
                points.push(p);
                normals.push(n);
                self.positions.push(p.as_vec3());
                self.normals.push(n.as_vec3());
                let uv = DVec2::new((u - u0) / (u1 - u0), (v - v0) / (v1 - v0));
                self.uvs.push(uv.as_vec2());
                self.skinning.push((grid.skin)(u, v, p));
            }
        }
        let at = |i: usize, j: usize| j * nu + i;
        for j in 0..nv - 1 {
            for i in 0..nu - 1 {
                let quad = [at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)];
                for [a, b, c] in [[quad[0], quad[1], quad[2]], [quad[0], quad[2], quad[3]]] {
                    let face = (points[b] - points[a]).cross(points[c] - points[a]);
                    if face.length_squared() < 1e-18 {
                        continue;
                    }
                    let outward = normals[a] + normals[b] + normals[c];
                    let tri = if face.dot(outward) >= 0.0 {
                        [a, b, c]
                    } else {
                        [a, c, b]
                    };
                    self.indices.extend(tri.map(|k| base + k as u32));
                }
            }
        }
    }
}

/// The normal of `eval` at `(u, v)` from central differences clamped to the parameter ranges;
/// at a pole (where the u derivative vanishes) it is taken a little way inside.
fn finite_difference_normal(
    eval: &dyn Fn(f64, f64) -> DVec3,
    u: f64,
    v: f64,
    (u0, u1): (f64, f64),
    (v0, v1): (f64, f64),
) -> DVec3 {
    let h = 1e-5;
    let at = |v: f64| {
        let du = eval((u + h).min(u1), v) - eval((u - h).max(u0), v);
        let dv = eval(u, (v + h).min(v1)) - eval(u, (v - h).max(v0));
        du.cross(dv)
    };
    let n = at(v);
    if n.length_squared() > 1e-24 {
        return n.normalize();
    }
    let inward = if v - v0 < v1 - v { 1e-3 } else { -1e-3 };
    at(v + inward * (v1 - v0)).normalize_or(DVec3::Y)
}

/// An ellipsoid with radii along the columns of `basis`; `u` goes around the second axis, `v`
/// runs from the pole on its + side to the pole on its - side.
pub fn ellipsoid(center: DVec3, radii: DVec3, basis: DMat3) -> impl Fn(f64, f64) -> DVec3 {
    move |u, v| {
        let (theta, phi) = (std::f64::consts::PI * v, std::f64::consts::TAU * u);
        let local = DVec3::new(
            radii.x * theta.sin() * phi.cos(),
            radii.y * theta.cos(),
            radii.z * theta.sin() * phi.sin(),
        );
        center + basis * local
    }
}

/// A tube with rounded ends along a smooth path through `path` (Catmull-Rom), with an elliptic
/// cross-section. The surface parameter `v` runs over `[-1, 2]`: `[-1, 0]` is the start cap,
/// `[0, 1]` the body (path parameter `t = v`), `[1, 2]` the end cap.
pub struct Tube {
    pub path: Vec<DVec3>,
    /// `(t, r1, r2)` keys, `t` increasing from 0 to 1: radius along `side` and across it.
    pub profile: Vec<(f64, f64, f64)>,
    /// Direction of the first cross-section axis (made perpendicular to the path).
    pub side: DVec3,
    /// Lengths of the start and end caps as multiples of the end radius.
    pub caps: (f64, f64),
}

impl Tube {
    pub fn center(&self, t: f64) -> DVec3 {
        let n = self.path.len();
        let segments = (n - 1) as f64;
        let x = (t.clamp(0.0, 1.0) * segments).min(segments - 1e-9);
        let k = x.floor() as usize;
        let s = x - k as f64;
        let p1 = self.path[k];
        let p2 = self.path[k + 1];
        let p0 = if k == 0 {
            2.0 * p1 - p2
        } else {
            self.path[k - 1]
        };
        let p3 = if k + 2 < n {
            self.path[k + 2]
        } else {
            2.0 * p2 - p1
        };
        let (s2, s3) = (s * s, s * s * s);
        0.5 * (2.0 * p1
            + (p2 - p0) * s
            + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * s2
            + (3.0 * p1 - p0 - 3.0 * p2 + p3) * s3)
    }

    fn direction(&self, t: f64) -> DVec3 {
        let h = 1e-6;
        let (a, b) = ((t - h).max(0.0), (t + h).min(1.0));
        (self.center(b) - self.center(a)).normalize()
    }

    fn radii(&self, t: f64) -> DVec2 {
        let keys = &self.profile;
        let first = keys[0];
        if t <= first.0 {
            return DVec2::new(first.1, first.2);
        }
        for pair in keys.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if t <= b.0 {
                let w = smoothstep(a.0, b.0, t);
                return DVec2::new(a.1 + (b.1 - a.1) * w, a.2 + (b.2 - a.2) * w);
            }
        }
        let last = keys[keys.len() - 1];
        DVec2::new(last.1, last.2)
    }

    /// Ring center and radii scale for surface parameter `v`.
    fn ring(&self, v: f64) -> (DVec3, DVec3, DVec2) {
        let half_pi = std::f64::consts::FRAC_PI_2;
        if v < 0.0 {
            let alpha = (v + 1.0) * half_pi;
            let d = self.direction(0.0);
            let r = self.radii(0.0);
            let center = self.center(0.0) - d * self.caps.0 * r.max_element() * alpha.cos();
            (center, d, r * alpha.sin())
        } else if v > 1.0 {
            let alpha = (2.0 - v) * half_pi;
            let d = self.direction(1.0);
            let r = self.radii(1.0);
            let center = self.center(1.0) + d * self.caps.1 * r.max_element() * alpha.cos();
            (center, d, r * alpha.sin())
        } else {
            (self.center(v), self.direction(v), self.radii(v))
        }
    }

    pub fn eval(&self, u: f64, v: f64) -> DVec3 {
        let (center, d, r) = self.ring(v);
        let e1 = (self.side - d * self.side.dot(d)).normalize();
        let e2 = d.cross(e1);
        let phi = std::f64::consts::TAU * u;
        center + e1 * (r.x * phi.cos()) + e2 * (r.y * phi.sin())
    }

    pub fn core(&self, v: f64) -> DVec3 {
        self.ring(v).0
    }

    /// Surface `v` samples: `cap` rings per cap and `body` segments along the path.
    pub fn vs(cap: usize, body: usize) -> Vec<f64> {
        let mut vs = samples(cap, -1.0, 0.0);
        vs.extend(samples(body, 0.0, 1.0).into_iter().skip(1));
        vs.extend(samples(cap, 1.0, 2.0).into_iter().skip(1));
        vs
    }

    /// Appends the tube with `around` segments around, `cap` rings per cap and `body` along.
    pub fn add_to(
        &self,
        prim: &mut Primitive,
        (around, cap, body): (usize, usize, usize),
        skin: &dyn Fn(f64, f64, DVec3) -> Skinning,
    ) {
        prim.add_grid(&Grid {
            us: samples(around, 0.0, 1.0),
            vs: Self::vs(cap, body),
            eval: &|u, v| self.eval(u, v),
            core: &|_, v| self.core(v),
            normal: None,
            skin,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_avatar_blend_normalizes_and_keeps_four() {
        let s = Skinning::blend(&[(3, 0.1), (1, 0.5), (3, 0.1), (2, 0.2), (7, 0.05), (9, 0.05)]);
        let sum: f32 = s.weights.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert_eq!(s.joints[0], 1);
        assert_eq!(s.joints[1], 2);
        assert_eq!(s.joints[2], 3);
    }

    #[test]
    fn default_avatar_chain_blends_at_boundaries_only() {
        let chain = Chain {
            links: vec![(0, 0.0), (1, 1.0), (2, 2.0)],
            blend: 0.1,
        };
        assert_eq!(chain.skinning(-5.0), Skinning::rigid(0));
        assert_eq!(chain.skinning(1.5), Skinning::rigid(1));
        assert_eq!(chain.skinning(9.0), Skinning::rigid(2));
        let mid = chain.skinning(1.0);
        assert_eq!(mid.weights[0], 0.5);
    }

    #[test]
    fn default_avatar_ellipsoid_normals_point_outward() {
        let mut prim = Primitive::default();
        let f = ellipsoid(DVec3::ZERO, DVec3::new(1.0, 2.0, 0.5), DMat3::IDENTITY);
        prim.add_grid(&Grid {
            us: samples(12, 0.0, 1.0),
            vs: samples(8, 0.0, 1.0),
            eval: &f,
            core: &|_, _| DVec3::ZERO,
            normal: None,
            skin: &|_, _, _| Skinning::rigid(0),
        });
        for (p, n) in prim.positions.iter().zip(&prim.normals) {
            assert!(p.dot(*n) > 0.0, "{p} {n}");
            assert!((n.length() - 1.0).abs() < 1e-5);
        }
        for tri in prim.indices.chunks(3) {
            let [a, b, c] = [0, 1, 2].map(|k| prim.positions[tri[k] as usize]);
            assert!((b - a).cross(c - a).dot(a + b + c) > 0.0);
        }
    }
}
