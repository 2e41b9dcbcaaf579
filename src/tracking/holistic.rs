//! MediaPipe Holistic's per-frame recipe over our stages, with the tracking modes users
//! pick to trade CPU: the pose detector only when there is no track, the pose on a ROI
//! carried by its smoothed auxiliary landmarks, the face from the pose (or its own
//! detector, or the previous mesh), the hands from the pose wrists with the re-crop model
//! (or the previous hand).

use super::detect::Detector;
use super::face::{self, EyePoints, FaceMesh, FaceTrack, Irises};
use super::hand::{self, HandLandmarker, HandTrack};
use super::image::ImageView;
use super::pose::{self, PoseLandmarker, PoseResult};
use super::roi::NormRect;
use super::runtime::ModelPaths;
use crate::filter::OneEuro;
use crate::landmarks::{LandmarkFrame, PoseLandmarks};
use anyhow::Result;
use std::time::Instant;

/// What to track (the source's `tracking_mode` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrackingMode {
    Face,
    UpperBody,
    #[default]
    UpperBodyHands,
    FullBody,
}

impl TrackingMode {
    pub const ALL: [TrackingMode; 4] = [
        TrackingMode::Face,
        TrackingMode::UpperBody,
        TrackingMode::UpperBodyHands,
        TrackingMode::FullBody,
    ];

    /// The settings value (CONTRACTS.md).
    pub fn key(self) -> &'static str {
        match self {
            TrackingMode::Face => "face",
            TrackingMode::UpperBody => "upper_body",
            TrackingMode::UpperBodyHands => "upper_body_hands",
            TrackingMode::FullBody => "full_body",
        }
    }

    pub fn parse(key: &str) -> Option<TrackingMode> {
        Self::ALL.into_iter().find(|m| m.key() == key)
    }

    pub fn pose(self) -> bool {
        self != TrackingMode::Face
    }

    pub fn hands(self) -> bool {
        matches!(self, TrackingMode::UpperBodyHands | TrackingMode::FullBody)
    }
}

/// Milliseconds each stage took on the last frame (0 when it did not run).
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    pub pose_detect: f64,
    pub pose: f64,
    pub face_detect: f64,
    pub face: f64,
    pub hands: f64,
}

/// How often a live source looks for a missing hand: every 6th frame (5 times a second at
/// 30 fps), so hands out of view do not cost a palm search every frame.
pub const LIVE_SEARCH_INTERVAL: u32 = 6;

/// Pose wrist, pinky and index landmarks of each side (the subject's left first).
const HAND_SIDES: [[usize; 3]; 2] = [[15, 17, 19], [16, 18, 20]];

pub struct Tracker {
    mode: TrackingMode,
    pose: Option<PosePart>,
    face: FacePart,
    pub hands: Option<HandsPart>,
    /// The previous frame's pose: the hands start from it, so they need not wait for
    /// this frame's pose.
    last_pose: Option<PoseResult>,
    /// Two inference threads: the hands on a helper while this thread does the pose and
    /// then the face.
    pub parallel: bool,
    /// Runs the body model on one in this many frames, the previous pose standing in on the
    /// others (1: every frame); a machine short of CPU keeps the face at full rate.
    pub body_every: u32,
    pub times: StageTimes,
}

/// The pose's models, ROI track and filters.
struct PosePart {
    detector: Detector,
    landmarker: PoseLandmarker,
    roi: Option<NormRect>,
    aux_filters: [OneEuro; 4],
    smoothing: Option<PoseSmoothing>,
    detect_ms: f64,
    ms: f64,
}

/// The face's models and track.
struct FacePart {
    detector: Detector,
    mesh: FaceMesh,
    irises: Irises,
    track: FaceTrack,
    /// The two eyes at once on two threads (when no hands need the second thread).
    parallel_eyes: bool,
    detect_ms: f64,
    mesh_ms: f64,
}

/// The hands' models and tracks.
pub struct HandsPart {
    landmarker: HandLandmarker,
    palms: Detector,
    tracks: [HandTrack; 2],
    /// Frames between searches for a missing hand (the re-crop from the pose, and the
    /// palm detector, the costliest model): every frame offline, less often live.
    pub search: SearchClock,
    ms: f64,
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

impl Tracker {
    /// Loads the models `mode` needs, each on `threads` intra-op threads. With
    /// `smooth_pose` the pose landmarks are filtered as MediaPipe Holistic's
    /// `smooth_landmarks` does (callers that filter later, like the solver, leave it off).
    pub fn new(
        paths: &ModelPaths,
        mode: TrackingMode,
        threads: usize,
        smooth_pose: bool,
    ) -> Result<Tracker> {
        let pose = if mode.pose() {
            Some(PosePart {
                detector: pose::detector(paths, threads)?,
                landmarker: PoseLandmarker::load(paths, threads)?,
                roi: None,
                // MediaPipe's smoothing of the auxiliary landmarks that carry the ROI.
                aux_filters: [OneEuro::new(0.01, 10.0, 1.0); 4],
                smoothing: smooth_pose.then(PoseSmoothing::new),
                detect_ms: 0.0,
                ms: 0.0,
            })
        } else {
            None
        };
        let hands = if mode.hands() {
            Some(HandsPart {
                landmarker: HandLandmarker::load(paths, threads)?,
                palms: hand::palm_detector(paths, threads)?,
                tracks: [HandTrack::default(), HandTrack::default()],
                search: SearchClock::every(1),
                ms: 0.0,
            })
        } else {
            None
        };
        Ok(Tracker {
            mode,
            pose,
            face: FacePart {
                detector: face::detector(paths, threads)?,
                mesh: FaceMesh::load(paths, threads)?,
                irises: Irises::load(paths, threads)?,
                track: FaceTrack::default(),
                parallel_eyes: false,
                detect_ms: 0.0,
                mesh_ms: 0.0,
            },
            hands,
            last_pose: None,
            parallel: true,
            body_every: 1,
            times: StageTimes::default(),
        })
    }

    pub fn mode(&self) -> TrackingMode {
        self.mode
    }

    /// Forgets every track (e.g. after a cut or a camera change).
    pub fn reset(&mut self) {
        if let Some(pose) = &mut self.pose {
            pose.forget();
        }
        self.last_pose = None;
        self.face.track = FaceTrack::default();
        if let Some(hands) = &mut self.hands {
            hands.tracks = [HandTrack::default(), HandTrack::default()];
        }
    }

    /// Landmarks of a still image: a first pass finds each part, a second runs on the ROIs
    /// the first one's landmarks give, as the next video frame would (MediaPipe's own
    /// image-mode results sit closer to that). A part only the first pass found is kept.
    pub fn track_still(
        &mut self,
        image: &ImageView,
        index: u64,
        t_ms: f64,
    ) -> Result<LandmarkFrame> {
        self.reset();
        let first = self.track(image, index, t_ms)?;
        let mut second = self.track(image, index, t_ms)?;
        second.pose = second.pose.or(first.pose);
        second.face = second.face.or(first.face);
        second.left_hand = second.left_hand.or(first.left_hand);
        second.right_hand = second.right_hand.or(first.right_hand);
        Ok(second)
    }

    /// Landmarks of one frame; parts not found are `None`, never guessed.
    pub fn track(&mut self, image: &ImageView, index: u64, t_ms: f64) -> Result<LandmarkFrame> {
        let prev = self.last_pose.take();
        let reused = match &prev {
            Some(p) if self.body_every > 1 && !index.is_multiple_of(self.body_every as u64) => {
                Some(p.clone())
            }
            _ => None,
        };
        let (pose, face, hands) = (&mut self.pose, &mut self.face, &mut self.hands);
        face.parallel_eyes = self.parallel && hands.is_none();
        (face.detect_ms, face.mesh_ms) = (0.0, 0.0);
        let body = |pose: &mut Option<PosePart>| match (pose, reused) {
            (Some(p), Some(reused)) => {
                (p.detect_ms, p.ms) = (0.0, 0.0);
                Ok(Some(reused))
            }
            (Some(p), None) => p.run(image, t_ms),
            (None, _) => Ok(None),
        };
        // Two inference threads. A face with a track needs nothing from this frame's pose:
        // its mesh runs on the helper before the hands, and its irises here after the pose,
        // which balances the two threads. On a frame where the hands search (their costly
        // one), or while the face is still to be found, the whole face runs here.
        let split_face =
            face.track.previous.is_some() && hands.as_ref().is_some_and(|h| !h.search_due());
        let (pose_found, mesh, hands_found) = if self.parallel && hands.is_some() {
            let tracked_roi = if split_face {
                face.roi(image, None)?
            } else {
                None
            };
            // With at most one hand to follow the helper has time for the first eye too.
            let first_eye_on_helper = hands
                .as_ref()
                .is_some_and(|h| h.tracks.iter().filter(|t| t.previous.is_some()).count() < 2);
            let (to_main, from_helper) = std::sync::mpsc::channel();
            let (mesh_model, first_eye) = (&mut face.mesh, &mut face.irises.first);
            let (pose_found, hands_found) = std::thread::scope(|scope| {
                let helper = scope.spawn(move || {
                    if let Some(roi) = tracked_roi {
                        let start = Instant::now();
                        let mesh = mesh_model.run(image, &roi);
                        let eye = match &mesh {
                            Ok(Some(m)) if first_eye_on_helper => Some(first_eye.run(image, m)),
                            _ => None,
                        };
                        let _ = to_main.send((mesh, eye, ms_since(start)));
                    }
                    hands.as_mut().map(|h| h.run(image, prev.as_ref()))
                });
                let pose_found = body(pose);
                let hands_found = helper
                    .join()
                    .map_err(|_| anyhow::anyhow!("the tracking helper thread panicked"))?;
                anyhow::Ok((pose_found?, hands_found))
            })?;
            let mesh = match from_helper.try_recv() {
                Ok((mesh, first, ms)) => face.finish_split(image, mesh?, first, ms)?,
                Err(_) => face.run(image, pose_found.as_ref())?,
            };
            (pose_found, mesh, hands_found)
        } else {
            let pose_found = body(pose)?;
            let mesh = face.run(image, pose_found.as_ref())?;
            let hands_found = hands.as_mut().map(|h| h.run(image, prev.as_ref()));
            (pose_found, mesh, hands_found)
        };
        let [left_hand, right_hand] = hands_found.transpose()?.unwrap_or_default();
        self.times = StageTimes {
            pose_detect: self.pose.as_ref().map_or(0.0, |p| p.detect_ms),
            pose: self.pose.as_ref().map_or(0.0, |p| p.ms),
            face_detect: self.face.detect_ms,
            face: self.face.mesh_ms,
            hands: self.hands.as_ref().map_or(0.0, |h| h.ms),
        };
        self.last_pose = pose_found.clone();
        Ok(LandmarkFrame {
            index,
            t_ms,
            pose: pose_found.map(|p| PoseLandmarks {
                image: p.image.iter().map(|l| [l[0], l[1], l[2], l[3]]).collect(),
                world: p.world,
            }),
            face: mesh,
            left_hand,
            right_hand,
        })
    }
}

impl PosePart {
    fn forget(&mut self) {
        self.roi = None;
        self.aux_filters.iter_mut().for_each(OneEuro::reset);
        if let Some(s) = &mut self.smoothing {
            *s = PoseSmoothing::new();
        }
    }

    /// The pose on the tracked ROI, or (no track, or the track lost) on a fresh detection.
    fn run(&mut self, image: &ImageView, t_ms: f64) -> Result<Option<PoseResult>> {
        let (w, h) = (image.width as f32, image.height as f32);
        (self.detect_ms, self.ms) = (0.0, 0.0);
        let mut result = None;
        if let Some(roi) = self.roi {
            let start = Instant::now();
            result = self.landmarker.run(image, &roi, 0.5)?;
            self.ms += ms_since(start);
        }
        if result.is_none() {
            self.forget();
            let start = Instant::now();
            let found = self.detector.detect(image, &NormRect::WHOLE)?;
            self.detect_ms = ms_since(start);
            if let Some(d) = found.first() {
                let start = Instant::now();
                result = self
                    .landmarker
                    .run(image, &pose::roi_from_detection(d, w, h), 0.5)?;
                self.ms += ms_since(start);
            }
        }
        let Some(mut result) = result else {
            self.forget();
            return Ok(None);
        };
        // Smooth the ROI's two points in pixels, scaled by the body's size on screen.
        let [a, b] = result.aux;
        let size = 2.0 * (((b[0] - a[0]) * w).powi(2) + ((b[1] - a[1]) * h).powi(2)).sqrt();
        let scale = if size > 1e-6 { 1.0 / size } else { 1.0 };
        let t = t_ms / 1000.0;
        let mut f = [0.0f32; 4];
        for (i, v) in [a[0] * w, a[1] * h, b[0] * w, b[1] * h]
            .into_iter()
            .enumerate()
        {
            f[i] = self.aux_filters[i].apply(t, v, scale);
        }
        let aux = [[f[0] / w, f[1] / h], [f[2] / w, f[3] / h]];
        self.roi = Some(pose::roi_from_aux(&aux, w, h));
        if let Some(smoothing) = &mut self.smoothing {
            smoothing.apply(&mut result, t, scale, w, h);
        }
        Ok(Some(result))
    }
}

impl FacePart {
    /// The ROI to run the mesh on: the previous mesh's while there is one, else a face
    /// found by the detector inside the ROI the pose gives (or in the whole frame).
    fn roi(&mut self, image: &ImageView, pose: Option<&PoseResult>) -> Result<Option<NormRect>> {
        let (w, h) = (image.width as f32, image.height as f32);
        if let Some(mesh) = &self.track.previous {
            return Ok(Some(face::roi_from_mesh(mesh, w, h)));
        }
        let search = match pose {
            Some(p) => {
                let pts: Vec<[f32; 3]> = p.image.iter().map(|l| [l[0], l[1], l[2]]).collect();
                face::roi_from_pose(&pts, w, h)
            }
            None => NormRect::WHOLE,
        };
        let start = Instant::now();
        let found = self.detector.detect(image, &search)?;
        self.detect_ms = ms_since(start);
        Ok(found.first().map(|d| face::roi_from_detection(d, w, h)))
    }

    /// The whole face on this thread: ROI, mesh, irises.
    fn run(
        &mut self,
        image: &ImageView,
        pose: Option<&PoseResult>,
    ) -> Result<Option<Vec<[f32; 3]>>> {
        let Some(roi) = self.roi(image, pose)? else {
            return Ok(None);
        };
        let start = Instant::now();
        let mesh = self.mesh.run(image, &roi)?;
        self.mesh_ms = ms_since(start);
        self.finish(image, mesh, self.parallel_eyes)
    }

    /// A mesh (and maybe its first eye) from the helper thread: the rest of the irises here.
    fn finish_split(
        &mut self,
        image: &ImageView,
        mesh: Option<Vec<[f32; 3]>>,
        first: Option<Result<EyePoints>>,
        helper_ms: f64,
    ) -> Result<Option<Vec<[f32; 3]>>> {
        let Some(mut mesh) = mesh else {
            self.track.previous = None;
            return Ok(None);
        };
        let start = Instant::now();
        let first = match first {
            Some(eye) => eye?,
            None => self.irises.first.run(image, &mesh)?,
        };
        let second = self.irises.second.run(image, &mesh)?;
        Irises::apply(&mut mesh, [first, second]);
        self.mesh_ms = helper_ms + ms_since(start);
        self.track.previous = Some(mesh.clone());
        Ok(Some(mesh))
    }

    /// Irises on a mesh, and the mesh kept as the next frame's track.
    fn finish(
        &mut self,
        image: &ImageView,
        mesh: Option<Vec<[f32; 3]>>,
        parallel: bool,
    ) -> Result<Option<Vec<[f32; 3]>>> {
        let start = Instant::now();
        let mesh = match mesh {
            Some(mut m) => {
                self.irises.refine(image, &mut m, parallel)?;
                Some(m)
            }
            None => None,
        };
        self.mesh_ms += ms_since(start);
        self.track.previous = mesh.clone();
        Ok(mesh)
    }
}

impl HandsPart {
    /// Whether the next frame searches for a missing hand.
    fn search_due(&self) -> bool {
        self.tracks.iter().any(|t| t.previous.is_none()) && self.search.due()
    }

    fn run(
        &mut self,
        image: &ImageView,
        pose: Option<&PoseResult>,
    ) -> Result<[Option<Vec<[f32; 3]>>; 2]> {
        let (w, h) = (image.width as f32, image.height as f32);
        let (landmarker, palms) = (&mut self.landmarker, &mut self.palms);
        let start = Instant::now();
        let mut out: [Option<Vec<[f32; 3]>>; 2] = [None, None];
        let missing = self.tracks.iter().any(|t| t.previous.is_none());
        let seeding = self.search.tick_seed(missing);
        // Hands already followed go first, so a new hand seeded from the pose cannot take
        // their place.
        let mut order = [0, 1];
        if self.tracks[0].previous.is_none() {
            order = [1, 0];
        }
        let mut seeds = (0, 0); // re-crop searches made, and hands they found
        for side in order {
            let [wrist, pinky, index] = HAND_SIDES[side];
            let track = &mut self.tracks[side];
            let rough = pose.filter(|p| p.image[wrist][3] > 0.1).map(|p| {
                let xy = |i: usize| [p.image[i][0], p.image[i][1]];
                hand::roi_from_pose(xy(wrist), xy(pinky), xy(index), w, h)
            });
            // A hand already followed keeps its own track (cheaper than the re-crop, and
            // it survives a pose that misplaces the arm); a new one starts from the pose.
            let (roi, seeded) = match (&track.previous, rough) {
                (Some(prev), _) => (hand::roi_from_landmarks(prev, w, h), None),
                (None, Some(rough)) if seeding => (landmarker.recrop(image, &rough)?, Some(rough)),
                (None, _) => continue,
            };
            let other = out[1 - side].as_ref();
            let found = landmarker
                .run(image, &roi)?
                // A new hand whose wrist is not where the pose puts it belongs to
                // something else; one where the other hand already is, is that hand.
                .filter(|f| seeded.is_none_or(|r| contains(&r, f.image[0], w, h)))
                .filter(|f| {
                    other.is_none_or(|o| {
                        !contains(&roi, o[9], w, h)
                            || !contains(&hand::roi_from_landmarks(o, w, h), f.image[9], w, h)
                    })
                });
            if seeded.is_some() {
                seeds = (seeds.0 + 1, seeds.1 + usize::from(found.is_some()));
            }
            track.previous = found.as_ref().map(|f| f.image.clone());
            out[side] = found.map(|f| f.image);
        }
        if seeds.0 > 0 {
            self.search.seed_result(seeds.1 > 0);
        }
        // The palm detector looks for hands the pose does not place: with no body in view
        // (hands close to the camera), or while no hand at all is followed.
        let need_palm = pose.is_none() || out.iter().all(Option::is_none);
        if self.search.take_palm(need_palm) {
            // Left and right by the hand model's own handedness.
            for palm in palms.detect(image, &NormRect::WHOLE)?.iter().take(2) {
                let roi = hand::roi_from_palm(palm, w, h);
                let taken = out.iter().flatten().any(|p| contains(&roi, p[9], w, h));
                if taken {
                    continue;
                }
                let Some(found) = landmarker.run(image, &roi)? else {
                    continue;
                };
                let side = usize::from(found.left <= 0.5);
                let side = if out[side].is_none() { side } else { 1 - side };
                if out[side].is_none() {
                    self.tracks[side].previous = Some(found.image.clone());
                    out[side] = Some(found.image);
                }
            }
        }
        self.ms = ms_since(start);
        Ok(out)
    }
}

/// When to look for a missing hand: the re-crop from the pose and the palm detector each
/// every `interval` frames; searching less than every frame, the palm search comes half an
/// interval after the re-crop, so that no frame pays for both. Re-crops that keep finding
/// nothing (a wrist the pose places at the frame's edge, its hand out of view) back off to
/// two and then four intervals until one finds a hand.
#[derive(Debug, Clone, Copy)]
pub struct SearchClock {
    interval: u32,
    since_seed: u32,
    since_palm: u32,
    misses: u32,
}

impl SearchClock {
    pub fn every(interval: u32) -> Self {
        SearchClock {
            interval: interval.max(1),
            since_seed: u32::MAX,
            since_palm: u32::MAX,
            misses: 0,
        }
    }

    /// Searches every `interval` frames from now on, keeping the count since the last search.
    pub fn set_interval(&mut self, interval: u32) {
        self.interval = interval.max(1);
    }

    fn seed_interval(&self) -> u32 {
        self.interval << self.misses.min(2)
    }

    /// Whether the next frame may search.
    fn due(&self) -> bool {
        self.since_seed.saturating_add(1) >= self.seed_interval()
            || self.since_palm.saturating_add(1) >= self.interval
    }

    /// Starts a frame; whether it re-crops for a `missing` hand.
    fn tick_seed(&mut self, missing: bool) -> bool {
        self.since_seed = self.since_seed.saturating_add(1);
        self.since_palm = self.since_palm.saturating_add(1);
        let seed = missing && self.since_seed >= self.seed_interval();
        if seed {
            self.since_seed = 0;
            if self.interval > 1 {
                self.since_palm = self.since_palm.min(self.interval / 2);
            }
        }
        seed
    }

    /// What this frame's re-crop search found.
    fn seed_result(&mut self, found: bool) {
        self.misses = if found { 0 } else { self.misses + 1 };
    }

    /// Whether this frame runs the palm detector, given that it `needs` one.
    fn take_palm(&mut self, needs: bool) -> bool {
        let palm = needs && self.since_palm >= self.interval;
        if palm {
            self.since_palm = 0;
        }
        palm
    }
}

/// MediaPipe's pose landmark filtering (`pose_landmark_filtering.pbtxt`): visibility
/// low-passed, image landmarks One-Euro-filtered in pixels scaled by the body's size,
/// world landmarks One-Euro-filtered in meters.
struct PoseSmoothing {
    image: Vec<OneEuro>,
    world: Vec<OneEuro>,
    visibility: Vec<Option<f32>>,
}

impl PoseSmoothing {
    fn new() -> Self {
        PoseSmoothing {
            image: vec![OneEuro::new(0.05, 80.0, 1.0); 33 * 3],
            world: vec![OneEuro::new(0.1, 40.0, 1.0); 33 * 3],
            visibility: vec![None; 33],
        }
    }

    fn apply(&mut self, pose: &mut PoseResult, t: f64, scale: f32, w: f32, h: f32) {
        for (i, p) in pose.image.iter_mut().enumerate() {
            let v = match self.visibility[i] {
                Some(prev) => prev + 0.1 * (p[3] - prev),
                None => p[3],
            };
            self.visibility[i] = Some(v);
            p[3] = v;
            let px = [p[0] * w, p[1] * h, p[2] * w];
            let f = |k: usize, filters: &mut [OneEuro]| filters[i * 3 + k].apply(t, px[k], scale);
            p[0] = f(0, &mut self.image) / w;
            p[1] = f(1, &mut self.image) / h;
            p[2] = f(2, &mut self.image) / w;
        }
        for (i, p) in pose.world.iter_mut().enumerate() {
            for (k, v) in p.iter_mut().take(3).enumerate() {
                *v = self.world[i * 3 + k].apply(t, *v, 1.0);
            }
            p[3] = self.visibility[i].unwrap_or(p[3]);
        }
    }
}

/// Whether a normalized point lies inside a (rotated) rect.
fn contains(rect: &NormRect, p: [f32; 3], w: f32, h: f32) -> bool {
    let (dx, dy) = ((p[0] - rect.x_center) * w, (p[1] - rect.y_center) * h);
    let (s, c) = (-rect.rotation).sin_cos();
    let (x, y) = (dx * c - dy * s, dx * s + dy * c);
    x.abs() <= rect.width * w / 2.0 && y.abs() <= rect.height * h / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_searches_run_every_frame_offline_and_staggered_live() {
        let run = |interval: u32, frames: usize| {
            let mut clock = SearchClock::every(interval);
            (0..frames)
                .map(|_| {
                    let seed = clock.tick_seed(true);
                    (seed, clock.take_palm(true))
                })
                .collect::<Vec<_>>()
        };
        assert!(
            run(1, 5).iter().all(|&(s, p)| s && p),
            "offline: both every frame"
        );
        let live = run(6, 18);
        let seeds: Vec<usize> = (0..18).filter(|&i| live[i].0).collect();
        let palms: Vec<usize> = (0..18).filter(|&i| live[i].1).collect();
        assert_eq!(seeds, [0, 6, 12]);
        assert_eq!(palms, [3, 9, 15]);
        // Nothing missing: no search, and the clock still counts.
        let mut clock = SearchClock::every(6);
        assert!(!clock.tick_seed(false) && !clock.take_palm(false));
        // Re-crops that find nothing back off to 12 and then 24 frames (at most); a find
        // brings back 6.
        let mut clock = SearchClock::every(6);
        let mut seeds = Vec::new();
        for frame in 0..80 {
            if clock.tick_seed(true) {
                seeds.push(frame);
                clock.seed_result(frame >= 60);
            }
        }
        assert_eq!(seeds, [0, 12, 36, 60, 66, 72, 78]);
    }

    #[test]
    fn a_machine_short_of_cpu_runs_the_body_on_one_frame_in_two() {
        let paths = ModelPaths::locate(None).expect("the tracking models: run scripts/models.sh");
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/testdata/people/images/portrait.jpg"
        );
        let image = image::open(path).unwrap().to_rgb8();
        let view = ImageView::rgb(image.width(), image.height(), image.as_raw()).unwrap();
        let mut tracker = Tracker::new(&paths, TrackingMode::UpperBody, 1, false).unwrap();
        tracker.body_every = 2;
        let mut frames = Vec::new();
        for index in 0..3u64 {
            let landmarks = tracker.track(&view, index, index as f64 * 33.0).unwrap();
            frames.push((landmarks, tracker.times));
        }
        let pose = |i: usize| frames[i].0.pose.as_ref().expect("a body in the portrait");
        // Frame 1 reuses frame 0's body without running a model; frame 2 runs it again.
        assert!(frames[0].1.pose > 0.0 && frames[2].1.pose > 0.0);
        assert_eq!((frames[1].1.pose, frames[1].1.pose_detect), (0.0, 0.0));
        assert_eq!(pose(1).image, pose(0).image);
        assert!(frames.iter().all(|(l, t)| l.face.is_some() && t.face > 0.0));
    }

    #[test]
    fn tracking_modes_round_trip_their_settings_keys() {
        for mode in TrackingMode::ALL {
            assert_eq!(TrackingMode::parse(mode.key()), Some(mode));
        }
        assert_eq!(TrackingMode::parse("hands_only"), None);
        assert_eq!(TrackingMode::default().key(), "upper_body_hands");
        assert!(!TrackingMode::Face.pose() && !TrackingMode::UpperBody.hands());
    }
}
