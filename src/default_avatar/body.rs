//! The body, head skin and hair: tubes and ellipsoids placed on the rig, with smooth weights
//! across the joints (rigid per segment on the fingers).

use glam::{DMat3, DVec3};

use super::face;
use super::materials::Material;
use super::mesh::{Chain, Grid, Primitive, Skinning, Tube, ellipsoid, samples, smoothstep};
use super::rig::{FINGERS, PONYTAIL, Rig, SIDE_LOCK, SIDES};

/// Center and radii of the hair cap (a shell a little larger than the head).
const HAIR_CENTER: DVec3 = DVec3::new(0.0, 1.429, -0.004);
const HAIR_RADII: DVec3 = DVec3::new(0.112, 0.13, 0.119);

/// Primitives by material, in [`Material::ALL`] order, holding only non-empty ones.
pub struct Parts {
    parts: Vec<(Material, Primitive)>,
}

impl Parts {
    fn new() -> Self {
        Parts {
            parts: Material::ALL
                .iter()
                .map(|&m| (m, Primitive::default()))
                .collect(),
        }
    }

    fn get(&mut self, material: Material) -> &mut Primitive {
        &mut self.parts[material.index()].1
    }

    fn finish(self) -> Vec<(Material, Primitive)> {
        self.parts
            .into_iter()
            .filter(|(_, p)| !p.indices.is_empty())
            .collect()
    }
}

/// A tube along the straight line `from -> to`, with `(t, r1, r2)` profile keys.
fn straight(
    from: DVec3,
    to: DVec3,
    profile: &[(f64, f64, f64)],
    side: DVec3,
    caps: (f64, f64),
) -> Tube {
    Tube {
        path: vec![from, to],
        profile: profile.to_vec(),
        side,
        caps,
    }
}

/// Profile keys given at absolute coordinates `at` along `from..to` (as `(at, r1, r2)`).
fn keys_at(from: f64, to: f64, keys: &[(f64, f64, f64)]) -> Vec<(f64, f64, f64)> {
    keys.iter()
        .map(|&(at, r1, r2)| ((at - from) / (to - from), r1, r2))
        .collect()
}

/// The body, head skin and hair, by material.
pub fn body(rig: &Rig) -> Vec<(Material, Primitive)> {
    let mut parts = Parts::new();
    torso(rig, &mut parts);
    for (side, sx) in SIDES {
        arm(rig, &mut parts, side, sx);
        hand(rig, &mut parts, side, sx);
        leg(rig, &mut parts, side);
    }
    face::add_head(parts.get(Material::Skin), rig);
    hair(rig, &mut parts);
    parts.finish()
}

fn torso(rig: &Rig, parts: &mut Parts) {
    let links = ["hips", "spine", "chest", "upperChest", "neck", "head"]
        .map(|name| (rig.index(name), rig.position(name).y));
    let chain = Chain {
        links: links.to_vec(),
        blend: 0.04,
    };
    let skin = |_: f64, _: f64, p: DVec3| chain.skinning(p.y);
    let up = |y0: f64, y1: f64, keys: &[(f64, f64, f64)], caps| {
        straight(
            DVec3::new(0.0, y0, 0.0),
            DVec3::new(0.0, y1, 0.0),
            &keys_at(y0, y1, keys),
            DVec3::X,
            caps,
        )
    };
    let hips = up(
        0.70,
        0.93,
        &[
            (0.70, 0.13, 0.085),
            (0.80, 0.148, 0.095),
            (0.93, 0.128, 0.088),
        ],
        (0.5, 0.3),
    );
    hips.add_to(parts.get(Material::Pants), (20, 3, 6), &skin);
    let shirt = up(
        0.88,
        1.235,
        &[
            (0.88, 0.142, 0.1),
            (0.95, 0.128, 0.09),
            (1.05, 0.131, 0.093),
            (1.13, 0.142, 0.096),
            (1.19, 0.146, 0.089),
            (1.235, 0.092, 0.068),
        ],
        (0.15, 0.35),
    );
    shirt.add_to(parts.get(Material::Shirt), (20, 3, 12), &skin);
    let hem = up(0.873, 0.9, &[(0.873, 0.147, 0.104)], (0.15, 0.15));
    hem.add_to(parts.get(Material::Trim), (20, 2, 1), &skin);
    let collar = up(1.245, 1.272, &[(1.245, 0.06, 0.055)], (0.3, 0.3));
    collar.add_to(parts.get(Material::Trim), (16, 2, 1), &skin);
    let neck = up(1.2, 1.4, &[(1.2, 0.04, 0.04)], (1.0, 1.0));
    neck.add_to(parts.get(Material::Skin), (12, 2, 6), &skin);
}

fn arm(rig: &Rig, parts: &mut Parts, side: &str, sx: f64) {
    let chain = Chain {
        links: ["upperChest", "Shoulder", "UpperArm", "LowerArm", "Hand"]
            .iter()
            .enumerate()
            .map(|(k, part)| {
                let name = if k == 0 {
                    (*part).to_owned()
                } else {
                    format!("{side}{part}")
                };
                (rig.index(&name), rig.position(&name).x * sx)
            })
            .collect(),
        blend: 0.035,
    };
    let y = rig.position(&format!("{side}UpperArm")).y;
    let skin = |_: f64, _: f64, p: DVec3| chain.skinning(p.x * sx);
    let along = |x0: f64, x1: f64, keys: &[(f64, f64, f64)], caps| {
        straight(
            DVec3::new(sx * x0, y, 0.0),
            DVec3::new(sx * x1, y, 0.0),
            &keys_at(x0, x1, keys),
            DVec3::Y,
            caps,
        )
    };
    let skin_tube = along(
        0.06,
        0.615,
        &[
            (0.06, 0.044, 0.042),
            (0.14, 0.043, 0.041),
            (0.26, 0.037, 0.036),
            (0.38, 0.031, 0.031),
            (0.45, 0.031, 0.030),
            (0.58, 0.024, 0.021),
            (0.615, 0.023, 0.019),
        ],
        (0.6, 0.6),
    );
    skin_tube.add_to(parts.get(Material::Skin), (12, 3, 14), &skin);
    let sleeve = along(
        0.07,
        0.255,
        &[
            (0.07, 0.056, 0.054),
            (0.14, 0.055, 0.052),
            (0.255, 0.048, 0.047),
        ],
        (0.3, 0.25),
    );
    sleeve.add_to(parts.get(Material::Shirt), (12, 2, 6), &skin);
    let cuff = along(0.245, 0.268, &[(0.245, 0.052, 0.051)], (0.25, 0.25));
    cuff.add_to(parts.get(Material::Trim), (12, 2, 1), &skin);
}

fn hand(rig: &Rig, parts: &mut Parts, side: &str, sx: f64) {
    let hand_bone = rig.index(&format!("{side}Hand"));
    let lower = rig.index(&format!("{side}LowerArm"));
    let at = rig.position(&format!("{side}Hand"));
    let palm_chain = Chain {
        links: vec![(lower, 0.0), (hand_bone, at.x * sx)],
        blend: 0.02,
    };
    let palm_center = at + DVec3::new(sx * 0.047, -0.002, 0.0);
    let palm = ellipsoid(palm_center, DVec3::new(0.05, 0.017, 0.038), DMat3::IDENTITY);
    parts.get(Material::Skin).add_grid(&Grid {
        us: samples(16, 0.0, 1.0),
        vs: samples(8, 0.0, 1.0),
        eval: &palm,
        core: &|_, _| palm_center,
        normal: None,
        skin: &|_, _, p| palm_chain.skinning(p.x * sx),
    });
    let mut digits: Vec<([String; 3], f64)> = FINGERS
        .iter()
        .map(|(finger, _, _)| {
            let radius = match *finger {
                "Index" => 0.0085,
                "Middle" => 0.0088,
                "Ring" => 0.0082,
                _ => 0.0072,
            };
            let names =
                ["Proximal", "Intermediate", "Distal"].map(|s| format!("{side}{finger}{s}"));
            (names, radius)
        })
        .collect();
    digits.push((
        ["Metacarpal", "Proximal", "Distal"].map(|s| format!("{side}Thumb{s}")),
        0.0105,
    ));
    for (names, radius) in digits {
        let joints = names.clone().map(|n| rig.position(&n));
        let dir = (joints[2] - joints[1]).normalize();
        let tip = joints[2] + dir * (joints[2] - joints[1]).length() * 0.85;
        let thumb = names[0].ends_with("Metacarpal");
        let start = joints[0] - dir * if thumb { 0.01 } else { 0.012 };
        let profile = if thumb {
            vec![
                (0.0, 0.013, 0.015),
                (0.45, radius, 0.011),
                (1.0, 0.0095, 0.0095),
            ]
        } else {
            vec![(0.0, radius, radius), (1.0, radius * 0.88, radius * 0.9)]
        };
        let tube = straight(start, tip, &profile, DVec3::Y, (0.3, 0.9));
        let mut links = vec![(hand_bone, -1.0)];
        for (name, joint) in names.iter().zip(joints) {
            links.push((rig.index(name), (joint - joints[0]).dot(dir)));
        }
        let chain = Chain {
            links,
            blend: 0.006,
        };
        tube.add_to(parts.get(Material::Skin), (6, 2, 4), &|_, _, p| {
            chain.skinning((p - joints[0]).dot(dir))
        });
    }
}

fn leg(rig: &Rig, parts: &mut Parts, side: &str) {
    let chain = Chain {
        links: ["hips", "UpperLeg", "LowerLeg", "Foot"]
            .iter()
            .enumerate()
            .map(|(k, part)| {
                let name = if k == 0 {
                    (*part).to_owned()
                } else {
                    format!("{side}{part}")
                };
                (rig.index(&name), -rig.position(&name).y)
            })
            .collect(),
        blend: 0.06,
    };
    let x = rig.position(&format!("{side}UpperLeg")).x;
    let (y0, y1) = (0.93, 0.085);
    let leg_tube = straight(
        DVec3::new(x, y0, 0.0),
        DVec3::new(x, y1, 0.0),
        &keys_at(
            y0,
            y1,
            &[
                (0.93, 0.066, 0.072),
                (0.78, 0.066, 0.072),
                (0.60, 0.058, 0.06),
                (0.44, 0.047, 0.05),
                (0.30, 0.048, 0.05),
                (0.12, 0.044, 0.046),
                (0.085, 0.046, 0.048),
            ],
        ),
        DVec3::X,
        (0.5, 0.2),
    );
    leg_tube.add_to(parts.get(Material::Pants), (14, 3, 14), &|_, _, p| {
        chain.skinning(-p.y)
    });
    let foot = rig.index(&format!("{side}Foot"));
    let toes = rig.index(&format!("{side}Toes"));
    let shoe_chain = Chain {
        links: vec![(foot, 0.0), (toes, rig.position(&format!("{side}Toes")).z)],
        blend: 0.025,
    };
    let center = DVec3::new(x, 0.046, 0.035);
    let shoe = ellipsoid(center, DVec3::new(0.047, 0.046, 0.105), DMat3::IDENTITY);
    parts.get(Material::Shoes).add_grid(&Grid {
        us: samples(18, 0.0, 1.0),
        vs: samples(10, 0.0, 1.0),
        eval: &shoe,
        core: &|_, _| center,
        normal: None,
        skin: &|_, _, p| shoe_chain.skinning(p.z),
    });
}

/// How far down the hair cap reaches (polar angle from the top) at azimuth `phi` (+Z at pi/2):
/// jagged bangs over the forehead, longer at the sides, longest at the back.
fn hair_reach(phi: f64) -> f64 {
    let pi = std::f64::consts::PI;
    let from_front = (phi - pi / 2.0).rem_euclid(std::f64::consts::TAU);
    let from_front = from_front.min(std::f64::consts::TAU - from_front);
    let zigzag = ((phi / 0.3).fract() - 0.5).abs() * 2.0;
    let bangs = 1.10 + 0.08 * zigzag;
    let sides = bangs + (2.05 - bangs) * smoothstep(0.28 * pi, 0.45 * pi, from_front);
    sides + (2.4 - sides) * smoothstep(0.55 * pi, 0.85 * pi, from_front)
}

fn hair(rig: &Rig, parts: &mut Parts) {
    let head = Skinning::rigid(rig.index("head"));
    let cap = |u: f64, v: f64| {
        let phi = std::f64::consts::TAU * u;
        ellipsoid(HAIR_CENTER, HAIR_RADII, DMat3::IDENTITY)(
            u,
            v * hair_reach(phi) / std::f64::consts::PI,
        )
    };
    let normal = |p: DVec3| ((p - HAIR_CENTER) / (HAIR_RADII * HAIR_RADII)).normalize();
    parts.get(Material::Hair).add_grid(&Grid {
        us: samples(72, 0.0, 1.0),
        vs: samples(10, 0.0, 1.0),
        eval: &cap,
        core: &|_, _| HAIR_CENTER,
        normal: Some(&normal),
        skin: &|_, _, _| head,
    });

    let tail_joints: Vec<usize> = (0..PONYTAIL.len())
        .map(|k| rig.index(&format!("HairTail{k}")))
        .collect();
    let tail_chain = Chain {
        links: (0..PONYTAIL.len() - 1)
            .map(|k| (tail_joints[k], k as f64 / (PONYTAIL.len() - 1) as f64))
            .collect(),
        blend: 0.06,
    };
    let ponytail = Tube {
        path: PONYTAIL.iter().map(|&p| DVec3::from(p)).collect(),
        profile: vec![
            (0.0, 0.022, 0.02),
            (0.25, 0.034, 0.03),
            (0.55, 0.032, 0.028),
            (0.85, 0.02, 0.018),
            (1.0, 0.006, 0.006),
        ],
        side: DVec3::X,
        caps: (0.6, 1.2),
    };
    ponytail.add_to(parts.get(Material::Hair), (12, 3, 18), &|_, v, _| {
        tail_chain.skinning(v.clamp(0.0, 1.0))
    });
    let tie_at = ponytail.center(0.04);
    let tie_dir = (ponytail.center(0.1) - tie_at).normalize();
    let tie = straight(
        tie_at,
        tie_at + tie_dir * 0.02,
        &[(0.0, 0.027, 0.025)],
        DVec3::X,
        (0.3, 0.3),
    );
    tie.add_to(parts.get(Material::Trim), (12, 2, 1), &|_, _, _| {
        Skinning::rigid(tail_joints[0])
    });

    for (_, sx) in SIDES {
        let tag = if sx > 0.0 { "L" } else { "R" };
        let joints: Vec<usize> = (0..SIDE_LOCK.len())
            .map(|k| rig.index(&format!("SideLock{tag}{k}")))
            .collect();
        let chain = Chain {
            links: vec![(joints[0], 0.0), (joints[1], 0.5)],
            blend: 0.1,
        };
        let lock = Tube {
            path: SIDE_LOCK
                .iter()
                .map(|&[x, y, z]| DVec3::new(sx * x, y, z))
                .collect(),
            profile: vec![
                (0.0, 0.007, 0.016),
                (0.5, 0.008, 0.018),
                (1.0, 0.003, 0.008),
            ],
            side: DVec3::X,
            caps: (0.5, 1.0),
        };
        lock.add_to(parts.get(Material::Hair), (10, 2, 12), &|_, v, _| {
            chain.skinning(v.clamp(0.0, 1.0))
        });
    }
}
