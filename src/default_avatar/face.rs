//! The head shape and the face: eyes, brows and mouth as thin "decals" that lie on the front of
//! the head, and the expressions as face states whose differences to the neutral face are the
//! morph targets.
//!
//! Face features are drawn in the front view plane `(x, y)` and projected onto the head surface
//! along +Z, then lifted off it by a small per-layer distance along the surface normal, so they
//! follow the head's curvature and need no outline.

use glam::{DVec2, DVec3};

use super::materials::Material;
use super::mesh::{Grid, Primitive, Skinning, samples, smoothstep};
use super::rig::{Rig, SIDES};

pub const HEAD_CENTER: DVec3 = DVec3::new(0.0, 1.425, 0.005);
pub const HEAD_RADII: DVec3 = DVec3::new(0.098, 0.118, 0.105);

/// Left eye: center of the eye in the front view `(x, y)`, and the eye bone (the eyeball's center,
/// 4 cm behind the iris, so turning it slides the iris over the eye).
const EYE_AT: DVec2 = DVec2::new(0.037, 1.418);
/// Half width and half height of the eye white.
const EYE_HALF: DVec2 = DVec2::new(0.0205, 0.0235);
const IRIS_HALF: DVec2 = DVec2::new(0.0135, 0.0185);
const IRIS_OFFSET: DVec2 = DVec2::new(0.0, -0.0015);
const PUPIL_HALF: DVec2 = DVec2::new(0.0065, 0.009);
const HIGHLIGHT_RADIUS: f64 = 0.0038;
const HIGHLIGHT_OFFSET: DVec2 = DVec2::new(0.005, 0.007);
const BROW_AT: DVec2 = DVec2::new(0.041, 1.459);
const BROW_HALF_LENGTH: f64 = 0.018;
const MOUTH_AT: DVec2 = DVec2::new(0.0, 1.352);

/// Distances of the layers above the skin (meters); later layers cover earlier ones.
const LAYER_EYE_WHITE: f64 = 0.0008;
const LAYER_MOUTH: f64 = 0.0008;
const LAYER_BROW: f64 = 0.0012;
const LAYER_IRIS: f64 = 0.0016;
const LAYER_PUPIL: f64 = 0.0022;
const LAYER_HIGHLIGHT: f64 = 0.0028;
const LAYER_LASH: f64 = 0.0034;

/// Narrowing of the head towards the chin (a factor on x).
fn taper(y: f64) -> f64 {
    let below = (HEAD_CENTER.y - y) / HEAD_RADII.y;
    1.0 - 0.28 * smoothstep(0.05, 1.0, below)
}

/// The head surface; `u` goes around (+X at 0, +Z at 1/4), `v` from the top to the chin.
pub fn head_surface(u: f64, v: f64) -> DVec3 {
    let (theta, phi) = (std::f64::consts::PI * v, std::f64::consts::TAU * u);
    let y = HEAD_CENTER.y + HEAD_RADII.y * theta.cos();
    DVec3::new(
        taper(y) * HEAD_RADII.x * theta.sin() * phi.cos(),
        y,
        HEAD_CENTER.z + HEAD_RADII.z * theta.sin() * phi.sin(),
    )
}

/// 0 on the head surface, negative inside.
fn head_field(p: DVec3) -> f64 {
    let q = (p - HEAD_CENTER) / HEAD_RADII;
    (q.x / taper(p.y)).powi(2) + q.y * q.y + q.z * q.z - 1.0
}

/// The outward normal of the head surface near `p`.
pub fn head_normal(p: DVec3) -> DVec3 {
    let h = 1e-6;
    let d = |axis: DVec3| head_field(p + axis * h) - head_field(p - axis * h);
    DVec3::new(d(DVec3::X), d(DVec3::Y), d(DVec3::Z)).normalize()
}

/// The front of the head at `(x, y)` of the front view, lifted `layer` meters off the skin.
fn on_face(at: DVec2, layer: f64) -> DVec3 {
    let q = DVec2::new(
        at.x / (taper(at.y) * HEAD_RADII.x),
        (at.y - HEAD_CENTER.y) / HEAD_RADII.y,
    );
    let z = HEAD_CENTER.z + HEAD_RADII.z * (1.0 - q.length_squared()).max(0.0).sqrt();
    let skin = DVec3::new(at.x, at.y, z);
    skin + head_normal(skin) * layer
}

/// One eye's state: `open` scales the eye's height (0 = closed to a line), `curve` bends it
/// (meters at the corners, + = corners up), `lift` moves it up, `scale` scales it all.
#[derive(Clone, Copy, Debug)]
pub struct Eye {
    pub open: f64,
    pub curve: f64,
    pub lift: f64,
    pub scale: f64,
}

impl Eye {
    const OPEN: Eye = Eye {
        open: 1.0,
        curve: 0.0,
        lift: 0.0,
        scale: 1.0,
    };
    const CLOSED: Eye = Eye {
        open: 0.0,
        curve: 0.0025,
        lift: -0.006,
        scale: 1.0,
    };

    /// A point of the eye, relative to the eye center, in this state; `thickness` is kept as is
    /// (the lash line keeps its width when the eye closes).
    fn warp(&self, local: DVec2, thickness: f64) -> DVec2 {
        let p = local * self.scale;
        let bend = self.curve * (p.x / EYE_HALF.x).powi(2);
        DVec2::new(
            p.x,
            p.y * self.open + bend + self.lift + thickness * self.scale,
        )
    }
}

/// A brow: `lift` moves it up, `tilt` raises its inner end (radians-like slope).
#[derive(Clone, Copy, Debug)]
pub struct Brow {
    pub lift: f64,
    pub tilt: f64,
}

/// The mouth: an ellipse with half sizes `half`, bent by `curve` (+ = smile), moved by `lift`.
#[derive(Clone, Copy, Debug)]
pub struct Mouth {
    pub half: DVec2,
    pub curve: f64,
    pub lift: f64,
}

/// A face state; index 0 of `eyes` and `brows` is the subject's left (+X).
#[derive(Clone, Copy, Debug)]
pub struct FaceState {
    pub eyes: [Eye; 2],
    pub brows: [Brow; 2],
    pub mouth: Mouth,
}

pub const NEUTRAL: FaceState = FaceState {
    eyes: [Eye::OPEN; 2],
    brows: [Brow {
        lift: 0.0,
        tilt: 0.0,
    }; 2],
    mouth: Mouth {
        half: DVec2::new(0.012, 0.0022),
        curve: 0.0018,
        lift: 0.0,
    },
};

/// An expression preset: the face it makes and its override settings (VRM 1.0).
pub struct Expression {
    pub name: &'static str,
    pub face: FaceState,
    pub override_blink: &'static str,
    pub override_mouth: &'static str,
}

fn mouth(half: [f64; 2], curve: f64, lift: f64) -> Mouth {
    Mouth {
        half: DVec2::from(half),
        curve,
        lift,
    }
}

/// The expression presets, each becoming one morph target of the face mesh (in this order).
pub fn expressions() -> Vec<Expression> {
    let mut list = blink_expressions();
    list.extend(mouth_expressions());
    list.extend(emotion_expressions());
    list
}

/// An expression preset from its face and override settings.
fn preset(
    name: &'static str,
    face: FaceState,
    override_blink: &'static str,
    override_mouth: &'static str,
) -> Expression {
    Expression {
        name,
        face,
        override_blink,
        override_mouth,
    }
}

/// `blink`, `blinkLeft`, `blinkRight`: one or both eyes closed, the rest neutral.
fn blink_expressions() -> Vec<Expression> {
    let n = NEUTRAL;
    vec![
        preset(
            "blink",
            FaceState {
                eyes: [Eye::CLOSED; 2],
                ..n
            },
            "none",
            "none",
        ),
        preset(
            "blinkLeft",
            FaceState {
                eyes: [Eye::CLOSED, Eye::OPEN],
                ..n
            },
            "none",
            "none",
        ),
        preset(
            "blinkRight",
            FaceState {
                eyes: [Eye::OPEN, Eye::CLOSED],
                ..n
            },
            "none",
            "none",
        ),
    ]
}

/// The visemes `aa`, `ih`, `ou`, `ee`, `oh`: only the mouth differs from neutral.
fn mouth_expressions() -> Vec<Expression> {
    let n = NEUTRAL;
    let with_mouth = |m: Mouth| FaceState { mouth: m, ..n };
    vec![
        preset(
            "aa",
            with_mouth(mouth([0.014, 0.013], 0.0, -0.003)),
            "none",
            "none",
        ),
        preset(
            "ih",
            with_mouth(mouth([0.018, 0.0055], 0.002, 0.0)),
            "none",
            "none",
        ),
        preset(
            "ou",
            with_mouth(mouth([0.0075, 0.0075], 0.0, -0.001)),
            "none",
            "none",
        ),
        preset(
            "ee",
            with_mouth(mouth([0.019, 0.009], 0.003, 0.0)),
            "none",
            "none",
        ),
        preset(
            "oh",
            with_mouth(mouth([0.011, 0.012], 0.0, -0.002)),
            "none",
            "none",
        ),
    ]
}

/// The emotions `happy`, `angry`, `sad`, `relaxed`, `surprised`: eyes, brows and mouth
/// together (both sides alike).
fn emotion_expressions() -> Vec<Expression> {
    let brows = |lift: f64, tilt: f64| [Brow { lift, tilt }; 2];
    let eyes = |open: f64, curve: f64, lift: f64, scale: f64| {
        [Eye {
            open,
            curve,
            lift,
            scale,
        }; 2]
    };
    vec![
        preset(
            "happy",
            FaceState {
                eyes: eyes(0.0, -0.008, 0.001, 1.0),
                brows: brows(0.003, 0.1),
                mouth: mouth([0.015, 0.0065], 0.006, -0.001),
            },
            "blend",
            "none",
        ),
        preset(
            "angry",
            FaceState {
                eyes: eyes(0.75, 0.0, -0.002, 1.0),
                brows: brows(-0.003, -0.35),
                mouth: mouth([0.011, 0.003], -0.004, 0.0),
            },
            "none",
            "none",
        ),
        preset(
            "sad",
            FaceState {
                eyes: eyes(0.8, 0.0, -0.001, 1.0),
                brows: brows(0.001, 0.3),
                mouth: mouth([0.011, 0.0025], -0.005, 0.0),
            },
            "none",
            "none",
        ),
        preset(
            "relaxed",
            FaceState {
                eyes: eyes(0.35, 0.002, -0.006, 1.0),
                brows: brows(0.0, 0.08),
                mouth: mouth([0.013, 0.003], 0.005, 0.0),
            },
            "blend",
            "none",
        ),
        preset(
            "surprised",
            FaceState {
                eyes: eyes(1.0, 0.0, 0.001, 1.12),
                brows: brows(0.008, 0.0),
                mouth: mouth([0.010, 0.012], 0.0, -0.002),
            },
            "blend",
            "blend",
        ),
    ]
}

/// Appends a decal: `shape(u, v)` gives front-view points; `wrap` when `u` goes around.
fn decal(
    prim: &mut Primitive,
    (nu, nv): (usize, usize),
    u_range: (f64, f64),
    layer: f64,
    shape: &dyn Fn(f64, f64) -> DVec2,
    skin: Skinning,
) {
    prim.add_grid(&Grid {
        us: samples(nu, u_range.0, u_range.1),
        vs: samples(nv, 0.0, 1.0),
        eval: &|u, v| on_face(shape(u, v), layer),
        core: &|_, _| HEAD_CENTER,
        normal: Some(&head_normal),
        skin: &|_, _, _| skin,
    });
}

/// A point of an ellipse with half sizes `half`: `u` the angle (turns), `v` the radius fraction.
fn ellipse(half: DVec2, u: f64, v: f64) -> DVec2 {
    let phi = std::f64::consts::TAU * u;
    DVec2::new(half.x * v * phi.cos(), half.y * v * phi.sin())
}

/// The face primitives in `state`, by material (fixed order, fixed topology for every state).
pub fn face(state: &FaceState, rig: &Rig) -> Vec<(Material, Primitive)> {
    let head = Skinning::rigid(rig.index("head"));
    let mut white = Primitive::default();
    let mut iris = Primitive::default();
    let mut lines = Primitive::default();
    let mut mouth_prim = Primitive::default();
    for (k, (side, sx)) in SIDES.into_iter().enumerate() {
        let eye = state.eyes[k];
        let eye_skin = Skinning::rigid(rig.index(&format!("{side}Eye")));
        let center = DVec2::new(sx * EYE_AT.x, EYE_AT.y);
        let at = |local: DVec2, thickness: f64| center + eye.warp(local, thickness);
        decal(
            &mut white,
            (20, 4),
            (0.0, 1.0),
            LAYER_EYE_WHITE,
            &|u, v| at(ellipse(EYE_HALF, u, v), 0.0),
            head,
        );
        decal(
            &mut iris,
            (16, 3),
            (0.0, 1.0),
            LAYER_IRIS,
            &|u, v| at(IRIS_OFFSET + ellipse(IRIS_HALF, u, v), 0.0),
            eye_skin,
        );
        decal(
            &mut lines,
            (12, 2),
            (0.0, 1.0),
            LAYER_PUPIL,
            &|u, v| at(IRIS_OFFSET + ellipse(PUPIL_HALF, u, v), 0.0),
            eye_skin,
        );
        decal(
            &mut white,
            (10, 1),
            (0.0, 1.0),
            LAYER_HIGHLIGHT,
            &|u, v| {
                let local = HIGHLIGHT_OFFSET + ellipse(DVec2::splat(HIGHLIGHT_RADIUS), u, v);
                at(local, 0.0)
            },
            eye_skin,
        );
        // The upper lash line: a band along the top of the eye that stays when the eye closes.
        decal(
            &mut lines,
            (16, 1),
            (-1.0, 1.0),
            LAYER_LASH,
            &|u, v| {
                let x = u * EYE_HALF.x * 1.12;
                let top = EYE_HALF.y * 0.95 * (1.0 - 0.85 * u * u).sqrt();
                let thickness = 0.0055 * (1.0 - 0.7 * u * u) + 0.0008;
                at(DVec2::new(x, top), (v - 0.5) * thickness)
            },
            head,
        );
        let brow = state.brows[k];
        decal(
            &mut lines,
            (12, 1),
            (-1.0, 1.0),
            LAYER_BROW,
            &|u, v| {
                // u = -1 at the inner end, +1 at the outer end.
                let arch = 0.003 * (1.0 - u * u);
                let slope = -brow.tilt * u * BROW_HALF_LENGTH;
                let thickness = 0.0034 * (1.0 - 0.35 * (u + 1.0));
                let y = BROW_AT.y + arch + slope + brow.lift + (v - 0.5) * thickness;
                DVec2::new(sx * (BROW_AT.x + u * BROW_HALF_LENGTH), y)
            },
            head,
        );
    }
    let m = state.mouth;
    decal(
        &mut mouth_prim,
        (20, 3),
        (0.0, 1.0),
        LAYER_MOUTH,
        &|u, v| {
            let p = ellipse(m.half, u, v);
            let bend = m.curve * (p.x / m.half.x).powi(2);
            MOUTH_AT + DVec2::new(p.x, p.y + bend + m.lift)
        },
        head,
    );
    vec![
        (Material::EyeWhite, white),
        (Material::Iris, iris),
        (Material::FaceLine, lines),
        (Material::Mouth, mouth_prim),
    ]
}

/// The head skin (an egg-like ellipsoid narrowing to the chin), rigid on the head bone.
pub fn add_head(prim: &mut Primitive, rig: &Rig) {
    let head = Skinning::rigid(rig.index("head"));
    prim.add_grid(&Grid {
        us: samples(28, 0.0, 1.0),
        vs: samples(18, 0.0, 1.0),
        eval: &head_surface,
        core: &|_, _| HEAD_CENTER,
        normal: Some(&head_normal),
        skin: &|_, _, _| head,
    });
}
