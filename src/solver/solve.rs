//! One tracked frame to one avatar pose: body, hands and face solved, each part gated by how
//! sure the tracker is, each signal smoothed on its own time-based One Euro filter, mirrored
//! if asked. The OBS source and `vrm-avatar solve` both run this, with the same defaults.

use super::body;
use super::face::{self, FaceReading, Neutral};
use super::hands::{self, HandRest};
use super::idle::IdleMotion;
use crate::filter::{OneEuro, OneEuroQuat};
use crate::landmarks::LandmarkFrame;
use crate::pose::{AvatarPose, LookAtAngles};
use crate::vrm::{HumanBone, NormalizedRig};
use glam::{Quat, Vec3};
use std::collections::BTreeMap;

/// What the user sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverSettings {
    /// The avatar mirrors the person (their right hand moves the avatar's left).
    pub mirror: bool,
    /// 0 = raw, 1 = steadiest; 0.5 is the default.
    pub smoothing: f32,
    /// One eye closing alone closes only that eye of the avatar.
    pub winks: bool,
}

impl Default for SolverSettings {
    fn default() -> Self {
        SolverSettings {
            mirror: true,
            smoothing: 0.5,
            winks: true,
        }
    }
}

/// The kinds of signal, each with its own filter tuning: blinks must stay quick, a head can
/// be steadier, fingers are noisy.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Signal {
    Body,
    Head,
    Fingers,
    Eyes,
    Mouth,
    /// Degrees.
    Gaze,
    /// Meters.
    Position,
}

/// One Euro parameters `(min_cutoff Hz, beta)` for a signal at a smoothing setting: the
/// default (0.5) is the tuned middle; each step of 0.5 divides (or multiplies) the cutoff by
/// 3 and the speed gain by 2. `None` means raw (smoothing 0).
fn tuning(signal: Signal, smoothing: f32) -> Option<(f32, f32)> {
    if smoothing <= 0.0 {
        return None;
    }
    let (cutoff, beta) = match signal {
        // Tuned on the test videos (tests/solver_metrics.rs): far steadier than Kalidokit's
        // lerp at rest, and far quicker on fast moves.
        Signal::Body => (0.4, 0.6),
        Signal::Head => (0.4, 0.6),
        Signal::Fingers => (0.6, 0.5),
        Signal::Eyes => (3.0, 2.0),
        Signal::Mouth => (3.0, 2.0),
        Signal::Gaze => (1.5, 0.04),
        Signal::Position => (1.0, 4.0),
    };
    let k = 1.0 - 2.0 * smoothing.clamp(0.0, 1.0);
    Some((cutoff * 3f32.powf(k), beta * 2f32.powf(k)))
}

/// How far a joint turns from rest at most, any way (radians): the head on the neck together,
/// the torso on the hips, the hand on the forearm. A bad frame cannot twist them into knots.
const HEAD_REACH: f32 = 1.4;
const SPINE_REACH: f32 = 1.0;
const WRIST_REACH: f32 = 1.6;

/// `q`, or the same turn cut back to `max` radians.
fn within(q: Quat, max: f32) -> Quat {
    let q = if q.w < 0.0 { -q } else { q };
    let (axis, angle) = q.to_axis_angle();
    if angle <= max {
        q
    } else {
        Quat::from_axis_angle(axis, max)
    }
}

/// The largest finger bend taken as tracker bias at calibration (radians): more is a
/// finger that was not held straight.
const MAX_FINGER_BIAS: f32 = 0.6;

/// How long a part takes to ease to rest when lost, or in when found (seconds).
const EASE_S: f32 = 0.3;
/// Pose landmarks less visible than this are not trusted.
const MIN_VISIBILITY: f32 = 0.5;
/// Hand points closer than this to the frame's edge (a fraction of it) mean the hand is
/// partly outside and its fingers are guesses.
const EDGE_MARGIN: f32 = 0.02;

/// How much a part is tracked now (0 = at rest .. 1 = fully tracked), easing in time.
#[derive(Debug, Clone, Copy, Default)]
struct Presence(f32);

impl Presence {
    fn update(&mut self, seen: bool, dt: f32) {
        let step = dt / EASE_S;
        self.0 = if seen {
            (self.0 + step).min(1.0)
        } else {
            (self.0 - step).max(0.0)
        };
    }

    /// Smoothstepped, so easing starts and ends gently.
    fn weight(self) -> f32 {
        self.0 * self.0 * (3.0 - 2.0 * self.0)
    }
}

/// A rotation signal: its filter, the last filtered value (held while the part is lost) and
/// how present its part is.
#[derive(Debug, Clone)]
struct RotationTrack {
    filter: Option<OneEuroQuat>,
    held: Option<Quat>,
}

impl RotationTrack {
    fn new(signal: Signal, smoothing: f32) -> Self {
        RotationTrack {
            filter: tuning(signal, smoothing).map(|(c, b)| OneEuroQuat::new(c, b, 1.0)),
            held: None,
        }
    }

    fn feed(&mut self, t: f64, raw: Quat, restart: bool) {
        let value = match &mut self.filter {
            Some(f) => {
                if restart {
                    f.reset();
                }
                f.apply(t, raw)
            }
            None => raw,
        };
        self.held = Some(value);
    }
}

#[derive(Debug, Clone)]
struct ScalarTrack {
    filter: Option<OneEuro>,
    held: f32,
}

impl ScalarTrack {
    fn new(signal: Signal, smoothing: f32) -> Self {
        ScalarTrack {
            filter: tuning(signal, smoothing).map(|(c, b)| OneEuro::new(c, b, 1.0)),
            held: 0.0,
        }
    }

    fn feed(&mut self, t: f64, raw: f32, restart: bool) -> f32 {
        self.held = match &mut self.filter {
            Some(f) => {
                if restart {
                    f.reset();
                }
                f.apply(t, raw, 1.0)
            }
            None => raw,
        };
        self.held
    }
}

/// The parts that are gated together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Torso,
    LeftArm,
    RightArm,
    LeftHand,
    RightHand,
    LeftFingers,
    RightFingers,
    LeftLeg,
    RightLeg,
    Face,
}

fn part_of(bone: HumanBone) -> Part {
    use HumanBone::*;
    let name = bone.name();
    match bone {
        LeftUpperArm | LeftLowerArm => Part::LeftArm,
        RightUpperArm | RightLowerArm => Part::RightArm,
        LeftHand => Part::LeftHand,
        RightHand => Part::RightHand,
        LeftUpperLeg | LeftLowerLeg | LeftFoot => Part::LeftLeg,
        RightUpperLeg | RightLowerLeg | RightFoot => Part::RightLeg,
        Neck | Head => Part::Face,
        _ if ["Thumb", "Index", "Middle", "Ring", "Little"]
            .iter()
            .any(|f| name.contains(f)) =>
        {
            if name.starts_with("left") {
                Part::LeftFingers
            } else {
                Part::RightFingers
            }
        }
        _ => Part::Torso,
    }
}

fn signal_of(part: Part) -> Signal {
    match part {
        Part::Face => Signal::Head,
        Part::LeftFingers | Part::RightFingers => Signal::Fingers,
        _ => Signal::Body,
    }
}

/// The solver for one person and one avatar.
pub struct Solver {
    settings: SolverSettings,
    hands: [Option<HandRest>; 2],
    neutral: Option<Neutral>,
    /// Each finger bone's reading when the user calibrated with open hands.
    finger_bias: BTreeMap<HumanBone, Quat>,
    calibrate_next: bool,
    /// The rest the lost parts ease to: idle life, so breathing and blinks go on.
    idle: IdleMotion,
    presence: BTreeMap<Part, Presence>,
    bones: BTreeMap<HumanBone, RotationTrack>,
    /// `blink`, `blinkLeft`, `blinkRight`, the visemes, `browRaise`, gaze yaw and pitch.
    scalars: BTreeMap<&'static str, ScalarTrack>,
    position: [ScalarTrack; 3],
    /// The shoulders' midpoint (image pixels) and width (pixels per meter) the hips'
    /// translation is measured from.
    anchor: Option<(Vec3, f32)>,
    last_t: Option<f64>,
}

/// Shoulder width of an adult (meters), to guess depth from the shoulders' apparent size.
const CAMERA_DISTANCE_M: f32 = 0.8;

impl Solver {
    /// A solver for an avatar's rig (its hands' rest layout; fingers are left out without it).
    pub fn new(rig: &NormalizedRig, settings: SolverSettings) -> Solver {
        Solver::with_hands(
            [HandRest::new(rig, true), HandRest::new(rig, false)],
            settings,
        )
    }

    fn with_hands(hands: [Option<HandRest>; 2], settings: SolverSettings) -> Solver {
        let s = settings.smoothing;
        Solver {
            settings,
            hands,
            neutral: None,
            finger_bias: BTreeMap::new(),
            calibrate_next: false,
            idle: IdleMotion::new(0x5eed),
            presence: BTreeMap::new(),
            bones: BTreeMap::new(),
            scalars: BTreeMap::new(),
            position: std::array::from_fn(|_| ScalarTrack::new(Signal::Position, s)),
            anchor: None,
            last_t: None,
        }
    }

    pub fn settings(&self) -> SolverSettings {
        self.settings
    }

    /// The next face seen becomes the neutral face (straight ahead, eyes open, mouth shut),
    /// the next body its home position, and hands seen then (held open, fingers straight)
    /// their straight fingers.
    pub fn calibrate(&mut self) {
        self.calibrate_next = true;
    }

    /// Whether a user calibration is in use.
    pub fn calibrated(&self) -> bool {
        self.neutral.as_ref().is_some_and(|n| n.calibrated)
    }

    /// Forgets calibration and everything tracked; the avatar starts from rest again.
    pub fn reset(&mut self) {
        *self = Solver::with_hands(self.hands.clone(), self.settings);
    }

    /// New settings (a smoothing slider moved, mirror switched): the filters start afresh,
    /// the calibration stays.
    pub fn set_settings(&mut self, settings: SolverSettings) {
        let neutral = self.neutral.take();
        let finger_bias = std::mem::take(&mut self.finger_bias);
        *self = Solver {
            neutral,
            finger_bias,
            ..Solver::with_hands(self.hands.clone(), settings)
        };
    }

    /// Solves one frame; `width` and `height` are the tracked image's size in pixels.
    pub fn solve(&mut self, frame: &LandmarkFrame, width: u32, height: u32) -> AvatarPose {
        let t = frame.t_ms / 1000.0;
        let dt = self.advance_clock(t);
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        let calibrating = std::mem::take(&mut self.calibrate_next);

        let mut raw = body_rotations(frame);
        self.add_hand_rotations(frame, w, h, calibrating, &mut raw);
        let reading = self.read_face(frame, w, h, calibrating);
        if let Some(reading) = &reading {
            add_head_rotation(&mut raw, reading);
        }
        if let Some(spine) = raw.get_mut(&HumanBone::Spine) {
            *spine = within(*spine, SPINE_REACH);
        }
        self.update_presence(&raw, dt);

        let mut out = self.idle.pose(t as f32);
        out.index = frame.index;
        out.t_ms = frame.t_ms;
        self.blend_rotations(&raw, t, dt, &mut out);
        self.position_hips(frame, w, h, t, calibrating, &mut out);
        self.face_expressions(reading.as_ref(), t, &mut out);
        if self.settings.mirror {
            mirror(&mut out);
        }
        out
    }

    /// The time since the last frame (seconds, at most 1; 0 when time went back, a 30 fps
    /// frame for the first), noting `t` as the last frame's time.
    fn advance_clock(&mut self, t: f64) -> f32 {
        let dt = match self.last_t {
            Some(last) if t > last => ((t - last) as f32).min(1.0),
            Some(_) => 0.0,
            None => 1.0 / 30.0,
        };
        self.last_t = Some(t);
        dt
    }

    /// Adds the hands' rotations to `raw`: each wrist relative to its forearm (when the
    /// forearm is tracked) and the fingers less their calibrated bias. Hands near the frame's
    /// edge, or without a rest layout in the rig, are left out. Calibrating takes the fingers
    /// seen now as the bias.
    fn add_hand_rotations(
        &mut self,
        frame: &LandmarkFrame,
        w: f32,
        h: f32,
        calibrating: bool,
        raw: &mut BTreeMap<HumanBone, Quat>,
    ) {
        for (i, (left, hand)) in [(true, &frame.left_hand), (false, &frame.right_hand)]
            .into_iter()
            .enumerate()
        {
            let (Some(points), Some(rest)) = (hand, &self.hands[i]) else {
                continue;
            };
            let inside = points.iter().all(|p| {
                (EDGE_MARGIN..=1.0 - EDGE_MARGIN).contains(&p[0])
                    && (EDGE_MARGIN..=1.0 - EDGE_MARGIN).contains(&p[1])
            });
            if !inside {
                continue;
            }
            let px: Vec<[f32; 3]> = points
                .iter()
                .map(|p| [p[0] * w, p[1] * h, p[2] * w])
                .collect();
            let Some(solved) = hands::solve(&px, rest) else {
                continue;
            };
            let (hand_bone, lower) = if left {
                (HumanBone::LeftHand, HumanBone::LeftLowerArm)
            } else {
                (HumanBone::RightHand, HumanBone::RightLowerArm)
            };
            // The hand model sees the palm far better than the pose's three hand points.
            if raw.contains_key(&lower) {
                let parent = world(raw, lower);
                raw.insert(
                    hand_bone,
                    within(parent.inverse() * solved.wrist, WRIST_REACH),
                );
            }
            for (bone, q) in solved.fingers {
                // Calibration with open hands: what the tracker reads as bent in a straight
                // finger is its bias for this person and camera (a fist is not taken as one).
                if calibrating && q.angle_between(Quat::IDENTITY) < MAX_FINGER_BIAS {
                    self.finger_bias.insert(bone, q);
                }
                let bias = self
                    .finger_bias
                    .get(&bone)
                    .copied()
                    .unwrap_or(Quat::IDENTITY);
                raw.insert(bone, bias.inverse() * q);
            }
        }
    }

    /// Eases every part towards tracked (those with a bone in `raw`) or towards rest.
    fn update_presence(&mut self, raw: &BTreeMap<HumanBone, Quat>, dt: f32) {
        let mut seen: BTreeMap<Part, bool> = BTreeMap::new();
        for bone in raw.keys() {
            seen.insert(part_of(*bone), true);
        }
        for part in [
            Part::Torso,
            Part::LeftArm,
            Part::RightArm,
            Part::LeftHand,
            Part::RightHand,
            Part::LeftFingers,
            Part::RightFingers,
            Part::LeftLeg,
            Part::RightLeg,
            Part::Face,
        ] {
            let is_seen = seen.get(&part).copied().unwrap_or(false);
            self.presence.entry(part).or_default().update(is_seen, dt);
        }
    }

    /// Feeds the raw rotations to their filters, then sets each bone in `out` between its
    /// rest there and its filtered rotation, by how present its part is.
    fn blend_rotations(
        &mut self,
        raw: &BTreeMap<HumanBone, Quat>,
        t: f64,
        dt: f32,
        out: &mut AvatarPose,
    ) {
        let smoothing = self.settings.smoothing;
        for (bone, q) in raw {
            let part = part_of(*bone);
            // A part back after being fully lost starts its filter afresh (it is invisible
            // then, so that cannot snap).
            let restart = self.presence[&part].0 <= step_of(dt);
            self.bones
                .entry(*bone)
                .or_insert_with(|| RotationTrack::new(signal_of(part), smoothing))
                .feed(t, *q, restart);
        }
        for (bone, track) in &self.bones {
            let Some(held) = track.held else { continue };
            let weight = self.presence[&part_of(*bone)].weight();
            let rest = out.rotation(bone.name()).unwrap_or(Quat::IDENTITY);
            out.set_rotation(bone.name(), rest.slerp(held, weight));
        }
    }

    fn read_face(
        &mut self,
        frame: &LandmarkFrame,
        w: f32,
        h: f32,
        calibrating: bool,
    ) -> Option<FaceReading> {
        let points = face::face_points(frame.face.as_deref()?, w, h)?;
        if calibrating && let Some(neutral) = Neutral::calibrate(&points) {
            self.neutral = Some(neutral);
        }
        if self.neutral.is_none() {
            self.neutral = Neutral::guess(&points);
        }
        face::read(&points, self.neutral.as_ref()?)
    }

    fn scalar(&mut self, name: &'static str, signal: Signal) -> &mut ScalarTrack {
        let smoothing = self.settings.smoothing;
        self.scalars
            .entry(name)
            .or_insert_with(|| ScalarTrack::new(signal, smoothing))
    }

    /// Blinks, visemes, brows and gaze from the face, eased with the face's presence into the
    /// idle pose's own blinks.
    fn face_expressions(&mut self, reading: Option<&FaceReading>, t: f64, out: &mut AvatarPose) {
        let presence = self.presence[&Part::Face];
        // Back after being fully lost: the filters start afresh (unseen, so nothing snaps).
        let restart = presence.0 <= step_of(0.0) + f32::EPSILON || self.scalars.is_empty();
        if let Some(r) = reading {
            let (yaw, _, _) = r.head.to_euler(glam::EulerRot::YXZ);
            let left = self
                .scalar("closeLeft", Signal::Eyes)
                .feed(t, r.close_left, restart);
            let right = self
                .scalar("closeRight", Signal::Eyes)
                .feed(t, r.close_right, restart);
            let (l, r2) = face::stabilize_blink(left, right, yaw, self.settings.winks);
            // Both eyes' common part is a blink; what one eye closes beyond it, a wink.
            let both = l.min(r2);
            self.scalar("blink", Signal::Eyes).held = both;
            self.scalar("blinkLeft", Signal::Eyes).held = l - both;
            self.scalar("blinkRight", Signal::Eyes).held = r2 - both;
            for (name, v) in face::VISEMES.iter().zip(r.visemes) {
                self.scalar(name, Signal::Mouth).feed(t, v, restart);
            }
            self.scalar("browRaise", Signal::Mouth)
                .feed(t, r.brow_raise, restart);
            // The irises are guesses while the lids are shut: gaze holds then.
            if l.max(r2) < 0.5 {
                self.scalar("gazeYaw", Signal::Gaze)
                    .feed(t, r.gaze_yaw_deg, restart);
                self.scalar("gazePitch", Signal::Gaze)
                    .feed(t, r.gaze_pitch_deg, restart);
            }
        }
        if self.scalars.is_empty() {
            return;
        }
        let weight = presence.weight();
        let held = |s: &Self, name: &str| s.scalars.get(name).map_or(0.0, |t| t.held) * weight;
        let idle_blink = out.expressions.get("blink").copied().unwrap_or(0.0) * (1.0 - weight);
        let mut set = |name: &str, v: f32| {
            out.expressions.insert(name.to_string(), v.clamp(0.0, 1.0));
        };
        set("blink", held(self, "blink") + idle_blink);
        set("blinkLeft", held(self, "blinkLeft"));
        set("blinkRight", held(self, "blinkRight"));
        for name in face::VISEMES {
            set(name, held(self, name));
        }
        set("browRaise", held(self, "browRaise"));
        out.look_at = Some(LookAtAngles {
            yaw_deg: held(self, "gazeYaw"),
            pitch_deg: held(self, "gazePitch"),
        });
    }

    /// The hips follow the shoulders' movement in the image: sideways and up and down by the
    /// shoulders' own scale (pixels per meter), towards the camera by their growing size.
    fn position_hips(
        &mut self,
        frame: &LandmarkFrame,
        w: f32,
        h: f32,
        t: f64,
        calibrating: bool,
        out: &mut AvatarPose,
    ) {
        let torso = self.presence[&Part::Torso];
        let measured = frame.pose.as_ref().and_then(|pose| {
            let (l, r) = (pose.image.get(11)?, pose.image.get(12)?);
            let (wl, wr) = (pose.world.get(11)?, pose.world.get(12)?);
            if l[3].min(r[3]) < MIN_VISIBILITY {
                return None;
            }
            let px = |p: &[f32; 4]| Vec3::new(p[0] * w, p[1] * h, 0.0);
            let width_px = px(l).distance(px(r));
            let width_m = Vec3::from_slice(&wl[..3]).distance(Vec3::from_slice(&wr[..3]));
            (width_px > 1.0 && width_m > 0.05).then(|| ((px(l) + px(r)) * 0.5, width_px / width_m))
        });
        let restart = torso.0 <= step_of(0.0);
        if let Some((mid, px_per_m)) = measured {
            if calibrating || self.anchor.is_none() {
                self.anchor = Some((mid, px_per_m));
            }
            let (home, home_scale) = self.anchor.expect("set above");
            let offset = [
                // Image right is the subject's left (+X); image down is -Y.
                (mid.x - home.x) / px_per_m,
                -(mid.y - home.y) / px_per_m,
                CAMERA_DISTANCE_M * (1.0 - home_scale / px_per_m),
            ];
            let limits = [0.5, 0.3, 0.3];
            for (k, track) in self.position.iter_mut().enumerate() {
                track.feed(t, offset[k].clamp(-limits[k], limits[k]), restart);
            }
        }
        if self.anchor.is_some() {
            let weight = torso.weight();
            let idle = out.hips_offset();
            let held = Vec3::new(
                self.position[0].held,
                self.position[1].held,
                self.position[2].held,
            );
            out.hips_translation = Some(idle.lerp(held, weight).to_array());
        }
    }
}

/// The body's rotations from the pose, if any: bones out of view are left out, and unless
/// the hips and knees are in the picture the spine takes the hips' turn.
fn body_rotations(frame: &LandmarkFrame) -> BTreeMap<HumanBone, Quat> {
    let mut raw: BTreeMap<HumanBone, Quat> = BTreeMap::new();
    if let Some(pose) = &frame.pose {
        let hands = [frame.left_hand.is_some(), frame.right_hand.is_some()];
        for (bone, q) in body::solve(&pose.world, MIN_VISIBILITY) {
            if in_view(bone, &pose.image, hands) {
                raw.insert(bone, q);
            }
        }
        // Hips at the picture's edge or below it (a webcam at a desk, a portrait cut at the
        // waist) are guesses whose turn would twist the legs and flicker as they cross the
        // edge: the hips rest and the spine takes the whole torso's rotation, so a lean or
        // a tilt bends the avatar at the waist. The hips rest explicitly (not left out), or
        // they would hold their last turn under a spine that now carries it too.
        let inside = |i: usize| {
            pose.image.get(i).is_some_and(|p| {
                (0.0..=1.0).contains(&p[0]) && (0.0..=1.0).contains(&p[1]) && p[3] >= MIN_VISIBILITY
            })
        };
        let seen = [
            body::lm::LEFT_HIP,
            body::lm::RIGHT_HIP,
            body::lm::LEFT_KNEE,
            body::lm::RIGHT_KNEE,
        ]
        .iter()
        .all(|&i| inside(i));
        if !seen
            && let Some(hips) = raw.get(&HumanBone::Hips).copied()
            && let Some(spine) = raw.get_mut(&HumanBone::Spine)
        {
            *spine = hips * *spine;
            raw.insert(HumanBone::Hips, Quat::IDENTITY);
        }
    }
    raw
}

/// Adds the face's head turn to `raw` as neck and head rotations, within the head's reach.
/// The rule for sharing a tilt: the torso's roll is the shoulders' (`body_rotations`), the
/// head's roll relative to the chest is the face's, so a head tilted on level shoulders tilts
/// the head only and a lean carries the head with the torso; without a body (face-only
/// tracking) the head carries the whole tilt.
fn add_head_rotation(raw: &mut BTreeMap<HumanBone, Quat>, reading: &FaceReading) {
    // The head relative to the chest, shared by neck (40%) and head.
    let chest = world(raw, HumanBone::UpperChest);
    let total = within(chest.inverse() * reading.head, HEAD_REACH);
    let neck = Quat::IDENTITY.slerp(total, 0.4);
    raw.insert(HumanBone::Neck, neck);
    raw.insert(HumanBone::Head, neck.inverse() * total);
}

/// Whether a limb bone is really in the picture. BlazePose guesses joints outside the frame
/// with a fair visibility (a lost wrist often lands on the other one), so an arm counts only
/// with its wrist in the frame and its elbow too, or its hand found by the hand model; a leg
/// only with knee and ankle in the frame.
fn in_view(bone: HumanBone, image: &[[f32; 4]], hands: [bool; 2]) -> bool {
    let inside = |i: usize| {
        image
            .get(i)
            .is_some_and(|p| (0.0..=1.0).contains(&p[0]) && (0.0..=1.0).contains(&p[1]))
    };
    let arm = |side: usize| {
        inside(body::lm::LEFT_WRIST + side) && (inside(body::lm::LEFT_ELBOW + side) || hands[side])
    };
    let leg =
        |side: usize| inside(body::lm::LEFT_KNEE + side) && inside(body::lm::LEFT_ANKLE + side);
    match part_of(bone) {
        Part::LeftArm | Part::LeftHand => arm(0),
        Part::RightArm | Part::RightHand => arm(1),
        Part::LeftLeg => leg(0),
        Part::RightLeg => leg(1),
        _ => true,
    }
}

/// The presence step of one frame: below it a part counts as fully lost.
fn step_of(dt: f32) -> f32 {
    (dt / EASE_S).max(1e-3)
}

/// A bone's world rotation from local rotations (absent bones at rest).
fn world(locals: &BTreeMap<HumanBone, Quat>, bone: HumanBone) -> Quat {
    let mut q = Quat::IDENTITY;
    let mut b = Some(bone);
    while let Some(cur) = b {
        q = locals.get(&cur).copied().unwrap_or(Quat::IDENTITY) * q;
        b = cur.parent();
    }
    q
}

/// The pose's mirror image: left and right swapped, every rotation reflected through the
/// avatar's YZ plane, sideways movement and gaze reversed.
pub fn mirror(pose: &mut AvatarPose) {
    let swap = |name: &str| -> String {
        if let Some(rest) = name.strip_prefix("left") {
            format!("right{rest}")
        } else if let Some(rest) = name.strip_prefix("right") {
            format!("left{rest}")
        } else if let Some(rest) = name.strip_suffix("Left") {
            format!("{rest}Right")
        } else if let Some(rest) = name.strip_suffix("Right") {
            format!("{rest}Left")
        } else {
            name.to_string()
        }
    };
    pose.bones = std::mem::take(&mut pose.bones)
        .into_iter()
        .map(|(name, [x, y, z, w])| (swap(&name), [x, -y, -z, w]))
        .collect();
    pose.expressions = std::mem::take(&mut pose.expressions)
        .into_iter()
        .map(|(name, v)| (swap(&name), v))
        .collect();
    if let Some(t) = &mut pose.hips_translation {
        t[0] = -t[0];
    }
    if let Some(look) = &mut pose.look_at {
        look.yaw_deg = -look.yaw_deg;
    }
}

#[cfg(test)]
mod tests;
