//! The skeleton: VRM 1.0 humanoid bones plus the hair joints, in the T-pose, facing +Z.
//!
//! Every bone's rest rotation is identity, so a node's translation is its position minus its
//! parent's, and its inverse bind matrix is a translation by minus its position. "Left" is the
//! subject's left, which is +X when facing +Z.

use glam::DVec3;

pub struct Bone {
    /// The node name; for humanoid bones the VRM 1.0 bone name.
    pub name: String,
    pub humanoid: bool,
    pub parent: Option<usize>,
    /// Rest position in model space (meters).
    pub position: DVec3,
}

pub struct Rig {
    pub bones: Vec<Bone>,
}

/// The two sides: name prefix and the sign of X (subject's left is +X).
pub const SIDES: [(&str, f64); 2] = [("left", 1.0), ("right", -1.0)];

/// The left eye bone: the eyeball's center, 4 cm behind the iris that the face draws at
/// (0.037, 1.418), so that turning it slides the iris over the eye.
pub const EYE_CENTER: [f64; 3] = [0.037, 1.418, 0.062];

/// Fingers other than the thumb: name, knuckle (proximal joint) offset from the hand joint
/// `(x, y, z)` for the left hand, and the lengths of the proximal and intermediate segments.
pub const FINGERS: [(&str, [f64; 3], [f64; 2]); 4] = [
    ("Index", [0.088, 0.0, 0.026], [0.030, 0.021]),
    ("Middle", [0.092, 0.0, 0.009], [0.033, 0.023]),
    ("Ring", [0.089, 0.0, -0.009], [0.031, 0.021]),
    ("Little", [0.080, -0.002, -0.025], [0.024, 0.017]),
];

/// The thumb metacarpal joint offset from the hand joint (left hand) and the lengths of the
/// metacarpal and proximal segments; the thumb points 45 degrees between +X and +Z.
pub const THUMB: ([f64; 3], [f64; 2]) = ([0.018, -0.008, 0.018], [0.036, 0.030]);

/// The ponytail's spring joints (`HairTail0..4`), from the tie at the back of the head to the tip.
pub const PONYTAIL: [[f64; 3]; 5] = [
    [0.0, 1.50, -0.095],
    [0.0, 1.445, -0.155],
    [0.0, 1.345, -0.18],
    [0.0, 1.235, -0.18],
    [0.0, 1.125, -0.165],
];
/// The left side lock's spring joints (`SideLockL0..2`); `SideLockR*` mirror them in X.
pub const SIDE_LOCK: [[f64; 3]; 3] = [
    [0.090, 1.45, 0.045],
    [0.093, 1.37, 0.052],
    [0.095, 1.285, 0.05],
];

impl Rig {
    pub fn build() -> Self {
        let mut rig = Rig { bones: Vec::new() };
        let hips = rig.add("hips", true, None, [0.0, 0.82, 0.0]);
        let spine = rig.add("spine", true, Some(hips), [0.0, 0.90, 0.0]);
        let chest = rig.add("chest", true, Some(spine), [0.0, 1.00, 0.0]);
        let upper_chest = rig.add("upperChest", true, Some(chest), [0.0, 1.10, 0.0]);
        let neck = rig.add("neck", true, Some(upper_chest), [0.0, 1.25, 0.0]);
        let head = rig.add("head", true, Some(neck), [0.0, 1.32, 0.0]);
        for (side, sx) in SIDES {
            let [x, y, z] = EYE_CENTER;
            let eye = format!("{side}Eye");
            rig.add(&eye, true, Some(head), [sx * x, y, z]);
        }
        let mut parent = head;
        for (k, p) in PONYTAIL.iter().enumerate() {
            parent = rig.add(&format!("HairTail{k}"), false, Some(parent), *p);
        }
        for (_, sx) in SIDES {
            let mut parent = head;
            let tag = if sx > 0.0 { "L" } else { "R" };
            for (k, [x, y, z]) in SIDE_LOCK.iter().enumerate() {
                parent = rig.add(
                    &format!("SideLock{tag}{k}"),
                    false,
                    Some(parent),
                    [sx * x, *y, *z],
                );
            }
        }
        for (side, sx) in SIDES {
            let shoulder = rig.add(
                &format!("{side}Shoulder"),
                true,
                Some(upper_chest),
                [sx * 0.035, 1.19, 0.0],
            );
            let upper = rig.add(
                &format!("{side}UpperArm"),
                true,
                Some(shoulder),
                [sx * 0.14, 1.19, 0.0],
            );
            let lower = rig.add(
                &format!("{side}LowerArm"),
                true,
                Some(upper),
                [sx * 0.38, 1.19, 0.0],
            );
            let hand_at = DVec3::new(sx * 0.59, 1.19, 0.0);
            let hand = rig.add(&format!("{side}Hand"), true, Some(lower), hand_at.into());
            let mirror = DVec3::new(sx, 1.0, 1.0);
            let (meta_at, [meta_len, prox_len]) = THUMB;
            let thumb_dir = DVec3::new(sx, 0.0, 1.0).normalize();
            let meta = hand_at + DVec3::from(meta_at) * mirror;
            let prox = meta + thumb_dir * meta_len;
            let dist = prox + thumb_dir * prox_len;
            let mut parent = hand;
            for (segment, at) in [("Metacarpal", meta), ("Proximal", prox), ("Distal", dist)] {
                parent = rig.add(
                    &format!("{side}Thumb{segment}"),
                    true,
                    Some(parent),
                    at.into(),
                );
            }
            for (finger, knuckle, [prox_len, inter_len]) in FINGERS {
                let prox = hand_at + DVec3::from(knuckle) * mirror;
                let dir = DVec3::new(sx, 0.0, 0.0);
                let inter = prox + dir * prox_len;
                let dist = inter + dir * inter_len;
                let mut parent = hand;
                for (segment, at) in [
                    ("Proximal", prox),
                    ("Intermediate", inter),
                    ("Distal", dist),
                ] {
                    parent = rig.add(
                        &format!("{side}{finger}{segment}"),
                        true,
                        Some(parent),
                        at.into(),
                    );
                }
            }
        }
        for (side, sx) in SIDES {
            let upper = rig.add(
                &format!("{side}UpperLeg"),
                true,
                Some(hips),
                [sx * 0.085, 0.78, 0.0],
            );
            let lower = rig.add(
                &format!("{side}LowerLeg"),
                true,
                Some(upper),
                [sx * 0.085, 0.44, 0.0],
            );
            let foot = rig.add(
                &format!("{side}Foot"),
                true,
                Some(lower),
                [sx * 0.085, 0.08, 0.0],
            );
            rig.add(
                &format!("{side}Toes"),
                true,
                Some(foot),
                [sx * 0.085, 0.025, 0.10],
            );
        }
        rig
    }

    fn add(&mut self, name: &str, humanoid: bool, parent: Option<usize>, at: [f64; 3]) -> usize {
        self.bones.push(Bone {
            name: name.to_owned(),
            humanoid,
            parent,
            position: DVec3::from(at),
        });
        self.bones.len() - 1
    }

    /// The index of the bone called `name` (a name this module defines).
    pub fn index(&self, name: &str) -> usize {
        self.bones
            .iter()
            .position(|b| b.name == name)
            .unwrap_or_else(|| panic!("the default avatar has no bone {name}"))
    }

    pub fn position(&self, name: &str) -> DVec3 {
        self.bones[self.index(name)].position
    }
}
