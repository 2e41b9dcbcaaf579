//! MediaPipe Holistic's per-frame recipe over our stages, with the tracking modes users
//! pick to trade CPU: the pose detector only when there is no track, the pose on a ROI
//! carried by its smoothed auxiliary landmarks, the face from the pose (or its own
//! detector, or the previous mesh), the hands from the pose wrists with the re-crop model
//! (or the previous hand).

use super::detect::Detector;
use super::face::{self, FaceLandmarker, FaceTrack};
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

/// Pose wrist, pinky and index landmarks of each side (the subject's left first).
const HAND_SIDES: [[usize; 3]; 2] = [[15, 17, 19], [16, 18, 20]];

pub struct Tracker {
    mode: TrackingMode,
    pose_detector: Option<Detector>,
    pose: Option<PoseLandmarker>,
    face_detector: Detector,
    face: FaceLandmarker,
    hands: Option<(HandLandmarker, Detector)>,
    pose_roi: Option<NormRect>,
    aux_filters: [OneEuro; 4],
    pose_smoothing: Option<PoseSmoothing>,
    /// Frames between palm searches while a hand is missing (palm detection is the
    /// costliest model, so a live source searches less often than the offline tracker).
    pub palm_interval: u32,
    frames_since_palm: u32,
    face_track: FaceTrack,
    hand_tracks: [HandTrack; 2],
    pub times: StageTimes,
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
        let (pose_detector, pose) = if mode.pose() {
            (
                Some(pose::detector(paths, threads)?),
                Some(PoseLandmarker::load(paths, threads)?),
            )
        } else {
            (None, None)
        };
        let hands = if mode.hands() {
            Some((
                HandLandmarker::load(paths, threads)?,
                hand::palm_detector(paths, threads)?,
            ))
        } else {
            None
        };
        Ok(Tracker {
            mode,
            pose_detector,
            pose,
            face_detector: face::detector(paths, threads)?,
            face: FaceLandmarker::load(paths, threads)?,
            hands,
            pose_roi: None,
            // MediaPipe's smoothing of the auxiliary landmarks that carry the pose ROI.
            aux_filters: [OneEuro::new(0.01, 10.0, 1.0); 4],
            pose_smoothing: smooth_pose.then(PoseSmoothing::new),
            palm_interval: 1,
            frames_since_palm: u32::MAX - 1,
            face_track: FaceTrack::default(),
            hand_tracks: [HandTrack::default(), HandTrack::default()],
            times: StageTimes::default(),
        })
    }

    pub fn mode(&self) -> TrackingMode {
        self.mode
    }

    /// Forgets every track (e.g. after a cut or a camera change).
    pub fn reset(&mut self) {
        self.pose_roi = None;
        self.aux_filters.iter_mut().for_each(OneEuro::reset);
        if let Some(s) = &mut self.pose_smoothing {
            *s = PoseSmoothing::new();
        }
        self.face_track = FaceTrack::default();
        self.hand_tracks = [HandTrack::default(), HandTrack::default()];
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
        self.times = StageTimes::default();
        let mut frame = LandmarkFrame {
            index,
            t_ms,
            ..Default::default()
        };
        let pose = if self.mode.pose() {
            self.track_pose(image, t_ms)?
        } else {
            None
        };
        frame.face = self.track_face(image, pose.as_ref())?;
        if self.mode.hands() {
            let [left, right] = self.track_hands(image, pose.as_ref())?;
            frame.left_hand = left;
            frame.right_hand = right;
        }
        frame.pose = pose.map(|p| PoseLandmarks {
            image: p.image.iter().map(|l| [l[0], l[1], l[2], l[3]]).collect(),
            world: p.world,
        });
        Ok(frame)
    }

    fn track_pose(&mut self, image: &ImageView, t_ms: f64) -> Result<Option<PoseResult>> {
        let (w, h) = (image.width as f32, image.height as f32);
        let (Some(detector), Some(landmarker)) = (&mut self.pose_detector, &mut self.pose) else {
            return Ok(None);
        };
        let mut result = None;
        if let Some(roi) = self.pose_roi {
            let start = Instant::now();
            result = landmarker.run(image, &roi, 0.5)?;
            self.times.pose += ms_since(start);
        }
        if result.is_none() {
            // No track, or the track was lost: look for a person in the whole frame.
            self.aux_filters.iter_mut().for_each(OneEuro::reset);
            let start = Instant::now();
            let found = detector.detect(image, &NormRect::WHOLE)?;
            self.times.pose_detect = ms_since(start);
            if let Some(d) = found.first() {
                let start = Instant::now();
                result = landmarker.run(image, &pose::roi_from_detection(d, w, h), 0.5)?;
                self.times.pose += ms_since(start);
            }
        }
        let Some(mut result) = result else {
            self.pose_roi = None;
            if let Some(s) = &mut self.pose_smoothing {
                *s = PoseSmoothing::new();
            }
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
        self.pose_roi = Some(pose::roi_from_aux(&aux, w, h));
        if let Some(smoothing) = &mut self.pose_smoothing {
            smoothing.apply(&mut result, t, scale, w, h);
        }
        Ok(Some(result))
    }

    fn track_face(
        &mut self,
        image: &ImageView,
        pose: Option<&PoseResult>,
    ) -> Result<Option<Vec<[f32; 3]>>> {
        let (w, h) = (image.width as f32, image.height as f32);
        let roi = match &self.face_track.previous {
            // Follow the previous mesh while the model keeps seeing a face.
            Some(mesh) => Some(face::roi_from_mesh(mesh, w, h)),
            None => {
                // Find the face: inside the ROI the pose gives, or in the whole frame.
                let search = match pose {
                    Some(p) => {
                        let pts: Vec<[f32; 3]> =
                            p.image.iter().map(|l| [l[0], l[1], l[2]]).collect();
                        face::roi_from_pose(&pts, w, h)
                    }
                    None => NormRect::WHOLE,
                };
                let start = Instant::now();
                let found = self.face_detector.detect(image, &search)?;
                self.times.face_detect = ms_since(start);
                found.first().map(|d| face::roi_from_detection(d, w, h))
            }
        };
        let Some(roi) = roi else {
            return Ok(None);
        };
        let start = Instant::now();
        let mesh = self.face.run(image, &roi)?;
        self.times.face = ms_since(start);
        self.face_track.previous = mesh.clone();
        Ok(mesh)
    }

    fn track_hands(
        &mut self,
        image: &ImageView,
        pose: Option<&PoseResult>,
    ) -> Result<[Option<Vec<[f32; 3]>>; 2]> {
        let (w, h) = (image.width as f32, image.height as f32);
        let Some((landmarker, palms)) = &mut self.hands else {
            return Ok([None, None]);
        };
        let start = Instant::now();
        let mut out: [Option<Vec<[f32; 3]>>; 2] = [None, None];
        // Hands already followed go first, so a new hand seeded from the pose cannot take
        // their place.
        let mut order = [0, 1];
        if self.hand_tracks[0].previous.is_none() {
            order = [1, 0];
        }
        for side in order {
            let [wrist, pinky, index] = HAND_SIDES[side];
            let track = &mut self.hand_tracks[side];
            let rough = pose.filter(|p| p.image[wrist][3] > 0.1).map(|p| {
                let xy = |i: usize| [p.image[i][0], p.image[i][1]];
                hand::roi_from_pose(xy(wrist), xy(pinky), xy(index), w, h)
            });
            // A hand already followed keeps its own track (cheaper than the re-crop, and
            // it survives a pose that misplaces the arm); a new one starts from the pose.
            let (roi, seeded) = match (&track.previous, rough) {
                (Some(prev), _) => (hand::roi_from_landmarks(prev, w, h), None),
                (None, Some(rough)) => (landmarker.recrop(image, &rough)?, Some(rough)),
                (None, None) => continue,
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
            track.previous = found.as_ref().map(|f| f.image.clone());
            out[side] = found.map(|f| f.image);
        }
        self.frames_since_palm = self.frames_since_palm.saturating_add(1);
        if out.iter().any(Option::is_none) && self.frames_since_palm >= self.palm_interval {
            // A hand the pose does not place (no body in view, hands close to the camera):
            // look for palms now and then, and tell left from right by the hand model's
            // own handedness.
            self.frames_since_palm = 0;
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
                    self.hand_tracks[side].previous = Some(found.image.clone());
                    out[side] = Some(found.image);
                }
            }
        }
        self.times.hands = ms_since(start);
        Ok(out)
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
    fn tracking_modes_round_trip_their_settings_keys() {
        for mode in TrackingMode::ALL {
            assert_eq!(TrackingMode::parse(mode.key()), Some(mode));
        }
        assert_eq!(TrackingMode::parse("hands_only"), None);
        assert_eq!(TrackingMode::default().key(), "upper_body_hands");
        assert!(!TrackingMode::Face.pose() && !TrackingMode::UpperBody.hands());
    }
}
