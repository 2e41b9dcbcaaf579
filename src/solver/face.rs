//! Face: the 478 face mesh points to the head's rotation, per-eye openness, gaze, brows and
//! the mouth's visemes.
//!
//! The head's rotation is a least-squares fit of the mesh's stable points (the ones MediaPipe's
//! own face geometry uses: eye corners, nose, forehead, cheekbones; not lips, lids or jaw), so
//! an open mouth or a raised brow does not turn the head. Eyes, gaze and brows are read in the
//! head's own frame, so turning the head does not close an eye. A neutral face (the user's own,
//! once calibrated) sets what "open", "straight ahead" and "brows at rest" are.

use super::body::to_avatar_space;
use super::fit::best_rotation;
use crate::landmarks::FACE_POINTS;
use glam::{Quat, Vec3};

/// Mesh points that move with the skull only (MediaPipe's Procrustes landmark basis without
/// its jaw points).
const STABLE: [usize; 28] = [
    4, 6, 10, 33, 54, 67, 117, 119, 121, 127, 129, 132, 133, 143, 198, 205, 263, 284, 297, 346,
    348, 350, 356, 358, 361, 362, 372, 420,
];

/// One eye's points: outer and inner corners, three upper and three lower lid points (outer
/// to inner), the iris centre, and the brow with the points below it that Kalidokit measures
/// the brow against.
struct EyePoints {
    outer: usize,
    inner: usize,
    upper: [usize; 3],
    lower: [usize; 3],
    iris: usize,
    brow: [usize; 3],
    under_brow: [usize; 3],
}

const RIGHT_EYE: EyePoints = EyePoints {
    outer: 33,
    inner: 133,
    upper: [160, 159, 158],
    lower: [144, 145, 153],
    iris: 468,
    brow: [63, 105, 66],
    under_brow: [229, 230, 231],
};

const LEFT_EYE: EyePoints = EyePoints {
    outer: 263,
    inner: 362,
    upper: [387, 386, 385],
    lower: [373, 374, 380],
    iris: 473,
    brow: [293, 334, 296],
    under_brow: [449, 450, 451],
};

/// Inner lips (upper, lower) and mouth corners.
const LIP_UPPER: usize = 13;
const LIP_LOWER: usize = 14;
const MOUTH_RIGHT: usize = 61;
const MOUTH_LEFT: usize = 291;

/// The forehead's and the nose base's midline points, whose line is the face's up.
const FOREHEAD: [usize; 4] = [10, 151, 9, 8];
const NOSE_BASE: [usize; 3] = [2, 98, 327];

/// The forehead-to-nose-base line of a face looking straight ahead leans back by this much
/// (about the face's X axis; the nose base sits ahead of the forehead), so the face frame
/// built from it is turned by it. Measured on MediaPipe's canonical face as fitted to
/// `portrait.jpg` (its face geometry output, in metric units): -9.1 degrees.
const FRAME_PITCH_RAD: f32 = -0.1588;

/// What the face shows in one frame. Rotations and directions are in the avatar's space
/// (+Y up, facing +Z, the subject's left at +X).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceReading {
    /// The head's world rotation (identity = looking straight at the camera).
    pub head: Quat,
    /// How far each eye is closed (0 open, 1 closed), subject's own left and right.
    pub close_left: f32,
    pub close_right: f32,
    /// Gaze in degrees relative to the head: yaw > 0 towards the subject's left, pitch > 0 up.
    pub gaze_yaw_deg: f32,
    pub gaze_pitch_deg: f32,
    /// Brows raised (0 rest .. 1 fully).
    pub brow_raise: f32,
    /// `aa ih ou ee oh`, each 0..1.
    pub visemes: [f32; 5],
}

pub const VISEMES: [&str; 5] = ["aa", "ih", "ou", "ee", "oh"];

/// The face that counts as neutral: its stable points in the head's own frame and the
/// measurements of a relaxed face looking straight ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct Neutral {
    /// Stable points, centred, in the head's frame.
    shape: Vec<Vec3>,
    /// Lid opening over eye width of each eye when open (left, right).
    open: [f32; 2],
    /// Iris offset (x, y, over half the eye width) when looking straight ahead.
    gaze: [f32; 2],
    /// Brow height over eye width at rest (left, right).
    brow: [f32; 2],
    /// Lip gap over the inner eye corners' distance with the mouth closed.
    mouth: f32,
    /// Whether the user calibrated it (else it is a first guess from an average face).
    pub calibrated: bool,
}

/// A typical open eye's lid opening over its width, and brow height over eye width (as this
/// module measures them in the head's frame); used until the user calibrates.
const TYPICAL_OPEN: f32 = 0.3;
const TYPICAL_BROW: f32 = 1.25;
/// Where the iris sits in an eye looking straight ahead: a little above the corners' line
/// (in half eye widths; as Kalidokit assumes, and as measured on frontal faces).
const TYPICAL_GAZE: [f32; 2] = [0.0, 0.15];

/// Face points in a metric-proportional space (x and z in image widths, y in heights, times
/// the image's size in pixels), turned into the avatar's space.
pub fn face_points(face: &[[f32; 3]], width: f32, height: f32) -> Option<Vec<Vec3>> {
    if face.len() < FACE_POINTS {
        return None;
    }
    let points: Vec<Vec3> = face
        .iter()
        .map(|p| to_avatar_space([p[0] * width, p[1] * height, p[2] * width, 1.0]))
        .collect();
    points.iter().all(|p| p.is_finite()).then_some(points)
}

fn mean(points: &[Vec3], ids: &[usize]) -> Vec3 {
    ids.iter().map(|&i| points[i]).sum::<Vec3>() / ids.len() as f32
}

/// The head's rotation from the eye line and the face's midline alone: good enough to turn a
/// first face into a neutral shape before the user calibrates.
fn frame_rotation(p: &[Vec3]) -> Option<Quat> {
    let across =
        mean(p, &[LEFT_EYE.outer, LEFT_EYE.inner]) - mean(p, &[RIGHT_EYE.outer, RIGHT_EYE.inner]);
    let up = mean(p, &FOREHEAD) - mean(p, &NOSE_BASE);
    let x = across.try_normalize()?;
    let y = (up - x * x.dot(up)).try_normalize()?;
    let frame = Quat::from_mat3(&glam::Mat3::from_cols(x, y, x.cross(y))).normalize();
    Some(frame * Quat::from_rotation_x(-FRAME_PITCH_RAD))
}

fn stable(p: &[Vec3]) -> Vec<Vec3> {
    let c = mean(p, &STABLE);
    STABLE.iter().map(|&i| p[i] - c).collect()
}

/// Measurements of one eye in the head's frame (points already turned into it).
struct EyeMeasure {
    open: f32,
    gaze: [f32; 2],
    brow: f32,
}

fn measure_eye(p: &[Vec3], eye: &EyePoints) -> Option<EyeMeasure> {
    // Distances in the face's plane only: depth is the mesh's noisiest axis.
    let flat = |a: Vec3, b: Vec3| (a - b).truncate().length();
    let width = flat(p[eye.outer], p[eye.inner]);
    if width <= f32::EPSILON {
        return None;
    }
    let lids: f32 = eye
        .upper
        .iter()
        .zip(eye.lower)
        .map(|(&u, l)| flat(p[u], p[l]))
        .sum::<f32>()
        / 3.0;
    let centre = (p[eye.outer] + p[eye.inner]) * 0.5;
    let iris = p[eye.iris] - centre;
    let brow: f32 = eye
        .brow
        .iter()
        .zip(eye.under_brow)
        .map(|(&b, u)| flat(p[b], p[u]))
        .sum::<f32>()
        / 3.0;
    Some(EyeMeasure {
        open: lids / width,
        gaze: [iris.x / (width * 0.5), iris.y / (width * 0.5)],
        brow: brow / width,
    })
}

fn lip_gap(p: &[Vec3]) -> f32 {
    p[LIP_UPPER].distance(p[LIP_LOWER]) / p[RIGHT_EYE.inner].distance(p[LEFT_EYE.inner])
}

impl Neutral {
    /// A first guess from one face: its shape de-rotated by the face frame, and an average
    /// person's eyes, gaze and brows.
    pub fn guess(points: &[Vec3]) -> Option<Neutral> {
        let frame = frame_rotation(points)?;
        let inv = frame.inverse();
        Some(Neutral {
            shape: stable(points).into_iter().map(|v| inv * v).collect(),
            open: [TYPICAL_OPEN; 2],
            gaze: TYPICAL_GAZE,
            brow: [TYPICAL_BROW; 2],
            mouth: 0.0,
            calibrated: false,
        })
    }

    /// The user's neutral face: looking straight at the camera, eyes open, mouth closed,
    /// brows relaxed. Its head rotation becomes "straight".
    pub fn calibrate(points: &[Vec3]) -> Option<Neutral> {
        let shape = stable(points);
        let local = to_head_frame(points, Quat::IDENTITY);
        let (l, r) = (
            measure_eye(&local, &LEFT_EYE)?,
            measure_eye(&local, &RIGHT_EYE)?,
        );
        Some(Neutral {
            shape,
            open: [l.open.max(0.05), r.open.max(0.05)],
            gaze: [(l.gaze[0] + r.gaze[0]) * 0.5, (l.gaze[1] + r.gaze[1]) * 0.5],
            brow: [l.brow.max(0.05), r.brow.max(0.05)],
            mouth: lip_gap(points),
            calibrated: true,
        })
    }
}

/// The points turned into the head's frame (centred on the stable points).
fn to_head_frame(points: &[Vec3], head: Quat) -> Vec<Vec3> {
    let c = mean(points, &STABLE);
    let inv = head.inverse();
    points.iter().map(|p| inv * (*p - c)).collect()
}

/// `(v - lo) / (hi - lo)` clamped to 0..1.
fn remap(v: f32, lo: f32, hi: f32) -> f32 {
    ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
}

/// How far an eye is closed from its opening relative to the neutral open eye.
fn closedness(open: f32, neutral_open: f32) -> f32 {
    let t = remap(open / neutral_open, 0.3, 0.75);
    1.0 - t * t * (3.0 - 2.0 * t)
}

/// An eye rotation from the iris offset (in half eye widths): the iris sits on an eyeball
/// whose radius is about 0.8 of half the eye's width, so the offset is `0.8 sin(angle)`.
fn gaze_deg(offset: f32) -> f32 {
    (offset / 0.8)
        .clamp(-1.0, 1.0)
        .asin()
        .to_degrees()
        .clamp(-35.0, 35.0)
}

/// Kalidokit's viseme heuristics (`calcMouth.ts`), which are cheap and tuned on real faces,
/// from the lip gap and mouth width relative to the eyes; the neutral lip gap is removed.
fn visemes(p: &[Vec3], neutral_gap: f32) -> [f32; 5] {
    let eye_inner = p[RIGHT_EYE.inner].distance(p[LEFT_EYE.inner]);
    let eye_outer = p[RIGHT_EYE.outer].distance(p[LEFT_EYE.outer]);
    if eye_inner <= f32::EPSILON || eye_outer <= f32::EPSILON {
        return [0.0; 5];
    }
    let gap = (lip_gap(p) - neutral_gap).max(0.0);
    let width = p[MOUTH_RIGHT].distance(p[MOUTH_LEFT]) / eye_outer;
    let mouth_x = (remap(width, 0.45, 0.9) - 0.3) * 2.0;
    let mouth_y = remap(gap, 0.17, 0.5);
    let i = (remap(mouth_x, 0.0, 1.0) * 2.0 * remap(mouth_y, 0.2, 0.7)).clamp(0.0, 1.0);
    let a = mouth_y * 0.4 + mouth_y * (1.0 - i) * 0.6;
    let u = mouth_y * remap(1.0 - i, 0.0, 0.3) * 0.1;
    let e = remap(u, 0.2, 1.0) * (1.0 - i) * 0.3;
    let o = (1.0 - i) * remap(mouth_y, 0.3, 1.0) * 0.4;
    [a, i, u, e, o]
}

/// Reads a face (points from [`face_points`]) against its neutral.
pub fn read(points: &[Vec3], neutral: &Neutral) -> Option<FaceReading> {
    let shape = stable(points);
    let head = best_rotation(&neutral.shape, &shape)?;
    let local = to_head_frame(points, head);
    let (l, r) = (
        measure_eye(&local, &LEFT_EYE)?,
        measure_eye(&local, &RIGHT_EYE)?,
    );
    let gaze_x = (l.gaze[0] + r.gaze[0]) * 0.5 - neutral.gaze[0];
    let gaze_y = (l.gaze[1] + r.gaze[1]) * 0.5 - neutral.gaze[1];
    let brow = ((l.brow / neutral.brow[0] + r.brow / neutral.brow[1]) * 0.5 - 1.0).max(0.0);
    Some(FaceReading {
        head,
        close_left: closedness(l.open, neutral.open[0]),
        close_right: closedness(r.open, neutral.open[1]),
        gaze_yaw_deg: gaze_deg(gaze_x),
        gaze_pitch_deg: gaze_deg(gaze_y),
        brow_raise: remap(brow, 0.08, 0.25),
        visemes: visemes(points, neutral.mouth),
    })
}

/// Both eyes' closedness made believable: an eye turned away from the camera copies the one
/// the camera sees; two eyes that differ a little close together (people blink with both);
/// a clear wink stays a wink when winks are wanted. Returns `(left, right)`.
pub fn stabilize_blink(left: f32, right: f32, head_yaw_rad: f32, winks: bool) -> (f32, f32) {
    // Turned to its right the subject shows the camera its left eye, and the reverse.
    if head_yaw_rad < -0.5 {
        return (left, left);
    }
    if head_yaw_rad > 0.5 {
        return (right, right);
    }
    let closing = left > 0.7 && right > 0.7;
    let open = left < 0.4 && right < 0.4;
    if winks && (left - right).abs() >= 0.6 && !closing && !open {
        return (left, right);
    }
    // Mostly the more closed eye: a half-tracked blink should still read as a blink.
    let v = left.max(right) * 0.8 + left.min(right) * 0.2;
    (v, v)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::solver::ground_truth::{Rng, degrees, median};

    /// A synthetic face in the head's frame (meters, avatar space: +X the subject's left, +Y
    /// up, +Z towards the camera): every mesh point on a rounded face surface, the named
    /// points where a face has them, with a closed mouth and open eyes.
    pub fn synthetic_face(rng: &mut Rng) -> Vec<Vec3> {
        let mut p: Vec<Vec3> = (0..FACE_POINTS)
            .map(|_| {
                let (x, y) = (rng.unit() * 0.14 - 0.07, rng.unit() * 0.2 - 0.11);
                Vec3::new(x, y, 0.06 - 6.0 * x * x - 1.5 * y * y)
            })
            .collect();
        let mut put = |i: usize, x: f32, y: f32, z: f32| p[i] = Vec3::new(x, y, z);
        for (eye, side) in [(&LEFT_EYE, 1.0f32), (&RIGHT_EYE, -1.0)] {
            put(eye.outer, side * 0.045, 0.0, 0.03);
            put(eye.inner, side * 0.015, 0.0, 0.035);
            for (k, (u, l)) in eye.upper.iter().zip(eye.lower).enumerate() {
                let x = side * (0.0375 - 0.0075 * k as f32);
                put(*u, x, 0.0045, 0.038);
                put(l, x, -0.0039, 0.037);
            }
            put(eye.iris, side * 0.03, 0.0, 0.04);
            for (k, (b, u)) in eye.brow.iter().zip(eye.under_brow).enumerate() {
                let x = side * (0.04 - 0.01 * k as f32);
                put(*b, x, 0.027, 0.04);
                put(u, x, 0.0, 0.036);
            }
        }
        for (k, i) in FOREHEAD.iter().enumerate() {
            put(*i, 0.0, 0.09 - 0.02 * k as f32, 0.045);
        }
        // The nose base ahead of the forehead as on a real face.
        let nose_z = 0.045 - 0.105 * FRAME_PITCH_RAD.tan();
        for (k, i) in NOSE_BASE.iter().enumerate() {
            put(*i, [0.0, -0.012, 0.012][k], -0.045, nose_z);
        }
        put(LIP_UPPER, 0.0, -0.065, 0.055);
        put(LIP_LOWER, 0.0, -0.066, 0.055);
        put(MOUTH_RIGHT, -0.025, -0.068, 0.045);
        put(MOUTH_LEFT, 0.025, -0.068, 0.045);
        p
    }

    /// The face as the tracker reports it: turned by `head`, seen by a 1280x720 camera at
    /// about 4000 px per meter, with `noise_px` of noise on every coordinate.
    pub fn observe(face: &[Vec3], head: Quat, rng: &mut Rng, noise_px: f32) -> Vec<[f32; 3]> {
        face.iter()
            .map(|v| {
                let a = head * *v * 4000.0;
                let n = |rng: &mut Rng| rng.gauss() * noise_px;
                // Avatar space back to MediaPipe's: x right, y down, z away from the camera.
                [
                    (640.0 + a.x + n(rng)) / 1280.0,
                    (360.0 - a.y + n(rng)) / 720.0,
                    (-a.z + n(rng)) / 1280.0,
                ]
            })
            .collect()
    }

    /// The face turned by `head`, seen without noise, as the solver reads it.
    fn seen(face: &[Vec3], head: Quat, rng: &mut Rng) -> Vec<Vec3> {
        face_points(&observe(face, head, rng, 0.0), 1280.0, 720.0).unwrap()
    }

    fn calibrated(face: &[Vec3], rng: &mut Rng) -> Neutral {
        Neutral::calibrate(&seen(face, Quat::IDENTITY, rng)).unwrap()
    }

    fn random_head(rng: &mut Rng) -> Quat {
        Quat::from_rotation_y(rng.deg(-45.0, 45.0))
            * Quat::from_rotation_x(rng.deg(-30.0, 30.0))
            * Quat::from_rotation_z(rng.deg(-25.0, 25.0))
    }

    #[test]
    fn head_rotations_come_back_within_3_degrees() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let face = synthetic_face(&mut rng);
        let neutral_obs = observe(&face, Quat::IDENTITY, &mut rng, 0.7);
        let neutral =
            Neutral::calibrate(&face_points(&neutral_obs, 1280.0, 720.0).unwrap()).unwrap();
        let mut errors = Vec::new();
        for _ in 0..300 {
            let head = random_head(&mut rng);
            let seen = observe(&face, head, &mut rng, 0.7);
            let got = read(&face_points(&seen, 1280.0, 720.0).unwrap(), &neutral).unwrap();
            errors.push(degrees(got.head, head));
        }
        let (med, worst) = (
            median(errors.clone()),
            errors.iter().cloned().fold(0.0, f32::max),
        );
        eprintln!("head: median {med:.2} degrees, worst {worst:.2}");
        assert!(
            med <= 3.0,
            "head: median {med:.2} degrees (worst {worst:.2})"
        );
        assert!(worst <= 8.0, "head: worst {worst:.2} degrees");
    }

    #[test]
    fn an_open_mouth_and_raised_brows_do_not_turn_the_head() {
        let mut rng = Rng(7);
        let face = synthetic_face(&mut rng);
        let neutral = calibrated(&face, &mut rng);
        let mut talking = face.clone();
        talking[LIP_LOWER].y -= 0.03;
        for eye in [&LEFT_EYE, &RIGHT_EYE] {
            for b in eye.brow {
                talking[b].y += 0.008;
            }
        }
        let head = Quat::from_rotation_y(0.4);
        let got = read(&seen(&talking, head, &mut rng), &neutral).unwrap();
        assert!(degrees(got.head, head) < 0.5, "{}", degrees(got.head, head));
        assert!(
            got.visemes[0] > 0.5,
            "the mouth reads open: {:?}",
            got.visemes
        );
        assert!(
            got.brow_raise > 0.5,
            "the brows read raised: {}",
            got.brow_raise
        );
        let rest = read(&seen(&face, head, &mut rng), &neutral).unwrap();
        assert!(
            rest.visemes.iter().all(|v| *v < 0.05),
            "closed mouth: {:?}",
            rest.visemes
        );
        assert!(rest.brow_raise < 0.05);
    }

    #[test]
    fn eyes_close_and_gaze_turns_whatever_the_head_does() {
        let mut rng = Rng(11);
        let face = synthetic_face(&mut rng);
        let neutral = calibrated(&face, &mut rng);
        let mut shut_left = face.clone();
        for (u, l) in LEFT_EYE.upper.iter().zip(LEFT_EYE.lower) {
            shut_left[*u].y = shut_left[l].y + 0.0005;
        }
        // Both irises 20 degrees towards the subject's left: 0.8 * sin(20) half widths.
        let mut looking = face.clone();
        for eye in [&LEFT_EYE, &RIGHT_EYE] {
            looking[eye.iris].x += 0.8 * 20f32.to_radians().sin() * 0.015;
        }
        for head in [
            Quat::IDENTITY,
            Quat::from_rotation_y(0.45) * Quat::from_rotation_x(-0.3),
        ] {
            let obs = |f: &[Vec3], rng: &mut Rng| seen(f, head, rng);
            let open = read(&obs(&face, &mut rng), &neutral).unwrap();
            assert!(
                open.close_left < 0.05 && open.close_right < 0.05,
                "{open:?}"
            );
            assert!(open.gaze_yaw_deg.abs() < 1.0 && open.gaze_pitch_deg.abs() < 1.0);
            let wink = read(&obs(&shut_left, &mut rng), &neutral).unwrap();
            assert!(
                wink.close_left > 0.95 && wink.close_right < 0.05,
                "{wink:?}"
            );
            let gaze = read(&obs(&looking, &mut rng), &neutral).unwrap();
            assert!((gaze.gaze_yaw_deg - 20.0).abs() < 1.5, "{gaze:?}");
        }
    }

    #[test]
    fn blinks_are_stabilized_but_winks_survive() {
        assert_eq!(stabilize_blink(0.9, 0.75, 0.0, true), (0.87, 0.87));
        assert_eq!(stabilize_blink(0.95, 0.05, 0.0, true), (0.95, 0.05));
        let (l, r) = stabilize_blink(0.95, 0.05, 0.0, false);
        assert_eq!(l, r);
        // Head turned to its left: the camera sees the right eye.
        assert_eq!(stabilize_blink(0.0, 1.0, 0.7, true), (1.0, 1.0));
    }

    #[test]
    fn an_uncalibrated_first_guess_reads_a_straight_face_as_straight() {
        let mut rng = Rng(5);
        let face = synthetic_face(&mut rng);
        let head = Quat::from_rotation_y(0.3);
        let first = seen(&face, head, &mut rng);
        let guess = Neutral::guess(&first).unwrap();
        let again = read(&first, &guess).unwrap();
        // The synthetic face's midline leans as a real one does, so the frame is exact here.
        assert!(
            degrees(again.head, head) < 0.5,
            "{}",
            degrees(again.head, head)
        );
    }
}
