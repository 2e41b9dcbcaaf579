//! The solver on real landmark sequences (`vrm-avatar track` on the test videos), and
//! `vrm-avatar solve` as users run it.
//!
//! Smoothing is judged against Kalidokit's: the same solver's raw output smoothed by a
//! per-frame slerp of 0.3. Jitter is the mean angular speed of the output where the person is
//! still; lag is the delay of the output behind the motion where the person moves fast. Both
//! are measured against a reference that sees the future: the raw output averaged over a
//! centred window of 7 frames. Table: `cargo test --release --test solver_metrics -- --nocapture`.

mod solving;

use glam::Quat;
use obs_vrm_avatar::landmarks::LandmarksFile;
use obs_vrm_avatar::pose::{AvatarPose, AvatarPoseFile};
use obs_vrm_avatar::solver::SolverSettings;
use solving::bin;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

fn out_dir() -> PathBuf {
    solving::out_dir("solver-metrics-test")
}

fn video(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata/people/video")
        .join(name)
}

/// Landmarks of a test video, tracked once per run of this test binary (tests share them).
fn track(name: &str, mode: &str) -> (PathBuf, LandmarksFile) {
    static TRACKED: Mutex<BTreeMap<String, (PathBuf, LandmarksFile)>> = Mutex::new(BTreeMap::new());
    let mut tracked = TRACKED.lock().unwrap_or_else(|e| e.into_inner());
    let key = format!("{name}.{mode}");
    if let Some(done) = tracked.get(&key) {
        return done.clone();
    }
    let out = out_dir().join(format!("{key}.json"));
    let status = bin()
        .arg("track")
        .arg(video(name))
        .args(["--mode", mode, "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "tracking {name}");
    let file: LandmarksFile = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    tracked.insert(key, (out.clone(), file.clone()));
    (out, file)
}

fn solve(landmarks: &LandmarksFile, smoothing: f32) -> Vec<AvatarPose> {
    solving::solve(landmarks, false, smoothing)
}

/// The signals compared: the head (neck and head together), the spine and the arms.
const SIGNALS: [&[&str]; 5] = [
    &["neck", "head"],
    &["spine"],
    &["rightUpperArm"],
    &["rightLowerArm"],
    &["rightHand"],
];

fn rotation(pose: &AvatarPose, bones: &[&str]) -> Quat {
    bones.iter().fold(Quat::IDENTITY, |q, b| {
        q * pose.rotation(b).unwrap_or(Quat::IDENTITY)
    })
}

/// Kalidokit's smoothing: each frame moves 30% of the way to the new value.
fn lerp_03(raw: &[Quat]) -> Vec<Quat> {
    let mut out: Vec<Quat> = Vec::with_capacity(raw.len());
    for q in raw {
        let next = match out.last() {
            Some(prev) => prev.slerp(*q, 0.3),
            None => *q,
        };
        out.push(next);
    }
    out
}

/// The raw signal averaged over frames i-3..=i+3 (signs aligned, then normalized).
fn reference(raw: &[Quat]) -> Vec<Quat> {
    (0..raw.len())
        .map(|i| {
            let lo = i.saturating_sub(3);
            let hi = (i + 3).min(raw.len() - 1);
            let sum = raw[lo..=hi].iter().fold(glam::Vec4::ZERO, |acc, q| {
                let v = glam::Vec4::from(*q);
                acc + if v.dot(glam::Vec4::from(raw[i])) < 0.0 {
                    -v
                } else {
                    v
                }
            });
            Quat::from_vec4(sum).normalize()
        })
        .collect()
}

/// Degrees per second between neighbours of frame i.
fn speed(q: &[Quat], t: &[f64], i: usize) -> f32 {
    let (a, b) = (i.saturating_sub(1), (i + 1).min(q.len() - 1));
    if b == a {
        return 0.0;
    }
    q[a].angle_between(q[b]).to_degrees() / ((t[b] - t[a]) / 1000.0) as f32
}

/// Where the person holds still (reference under 20 deg/s) and where they move fast (over
/// 90 deg/s).
const STILL: f32 = 20.0;
const FAST: f32 = 90.0;

#[derive(Default)]
struct Totals {
    still_speed: f64,
    still_frames: usize,
    /// Summed angle error against the delayed reference, per candidate delay (2 ms steps).
    lag_error: Vec<f64>,
    fast_frames: usize,
}

const LAG_STEPS: usize = 151;

impl Totals {
    fn add(&mut self, out: &[Quat], reference: &[Quat], t: &[f64]) {
        if self.lag_error.is_empty() {
            self.lag_error = vec![0.0; LAG_STEPS];
        }
        for i in 1..out.len() - 1 {
            let v = speed(reference, t, i);
            if v < STILL {
                self.still_speed += out[i - 1].angle_between(out[i]).to_degrees() as f64
                    / ((t[i] - t[i - 1]) / 1000.0);
                self.still_frames += 1;
            } else if v > FAST && i > 8 {
                self.fast_frames += 1;
                for (k, err) in self.lag_error.iter_mut().enumerate() {
                    let when = t[i] - 2.0 * k as f64;
                    *err += out[i].angle_between(at(reference, t, when)) as f64;
                }
            }
        }
    }

    fn jitter(&self) -> f64 {
        self.still_speed / self.still_frames.max(1) as f64
    }

    fn lag_ms(&self) -> f64 {
        let best = (0..self.lag_error.len())
            .min_by(|a, b| self.lag_error[*a].total_cmp(&self.lag_error[*b]))
            .unwrap_or(0);
        2.0 * best as f64
    }
}

/// The signal at time `when` (slerp between the frames around it).
fn at(q: &[Quat], t: &[f64], when: f64) -> Quat {
    let i = t.partition_point(|&x| x <= when);
    if i == 0 {
        return q[0];
    }
    if i >= t.len() {
        return q[q.len() - 1];
    }
    let s = ((when - t[i - 1]) / (t[i] - t[i - 1])) as f32;
    q[i - 1].slerp(q[i], s)
}

struct Row {
    name: &'static str,
    still_frames: usize,
    fast_frames: usize,
    ours: (f64, f64),
    lerp: (f64, f64),
    raw: (f64, f64),
}

fn measure(name: &'static str, landmarks: &LandmarksFile) -> Row {
    let t: Vec<f64> = landmarks.frames.iter().map(|f| f.t_ms).collect();
    let raw_poses = solve(landmarks, 0.0);
    let our_poses = solve(landmarks, SolverSettings::default().smoothing);
    let (mut ours, mut lerp, mut raw) = (Totals::default(), Totals::default(), Totals::default());
    for bones in SIGNALS {
        let r: Vec<Quat> = raw_poses.iter().map(|p| rotation(p, bones)).collect();
        let o: Vec<Quat> = our_poses.iter().map(|p| rotation(p, bones)).collect();
        let reference = reference(&r);
        ours.add(&o, &reference, &t);
        lerp.add(&lerp_03(&r), &reference, &t);
        raw.add(&r, &reference, &t);
    }
    Row {
        name,
        still_frames: ours.still_frames,
        fast_frames: ours.fast_frames,
        ours: (ours.jitter(), ours.lag_ms()),
        lerp: (lerp.jitter(), lerp.lag_ms()),
        raw: (raw.jitter(), raw.lag_ms()),
    }
}

#[test]
fn our_smoothing_has_less_jitter_than_kalidokit_lerp_at_no_more_lag() {
    let sequences = [
        ("face_and_thumbs_up.mp4", "upper_body_hands"),
        ("pose_1.mp4", "full_body"),
    ];
    let mut rows = Vec::new();
    for (name, mode) in sequences {
        let (_, landmarks) = track(name, mode);
        rows.push(measure(name, &landmarks));
    }
    println!(
        "| sequence | still frames | fast frames | jitter ours (deg/s) | jitter lerp 0.3 | jitter raw | lag ours (ms) | lag lerp 0.3 | lag raw |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} |",
            r.name,
            r.still_frames,
            r.fast_frames,
            r.ours.0,
            r.lerp.0,
            r.raw.0,
            r.ours.1,
            r.lerp.1,
            r.raw.1
        );
    }
    for r in &rows {
        assert!(
            r.still_frames > 50 && r.fast_frames > 10,
            "{}: too little to judge",
            r.name
        );
        assert!(
            r.ours.0 < r.lerp.0,
            "{}: jitter {:.1} vs lerp {:.1} deg/s",
            r.name,
            r.ours.0,
            r.lerp.0
        );
        assert!(
            r.ours.1 <= r.lerp.1,
            "{}: lag {:.0} vs lerp {:.0} ms",
            r.name,
            r.ours.1,
            r.lerp.1
        );
    }
}

#[test]
fn solve_writes_poses_that_render_draws() {
    let (landmarks_path, landmarks) = track("face_and_thumbs_up.mp4", "upper_body_hands");
    let dir = out_dir();
    let pose_path = dir.join("face_and_thumbs_up.pose.json");
    let status = bin()
        .arg("solve")
        .arg(&landmarks_path)
        .arg("--out")
        .arg(&pose_path)
        .status()
        .unwrap();
    assert!(status.success());
    let poses: AvatarPoseFile =
        serde_json::from_slice(&std::fs::read(&pose_path).unwrap()).unwrap();
    assert_eq!(poses.frames.len(), landmarks.frames.len());
    // The same code and defaults as a Solver built here (the OBS source's).
    let expected = solve(&landmarks, SolverSettings::default().smoothing);
    assert_eq!(poses.frames[150].bones, expected[150].bones);
    // In the clip the right arm comes up to a thumbs-up in front of the face: the avatar's
    // right forearm then points forward and up, not down at rest.
    let forearm = |p: &AvatarPose| {
        rotation(p, &["spine", "rightUpperArm", "rightLowerArm"]) * glam::Vec3::NEG_X
    };
    let (start, thumbs_up) = (forearm(&poses.frames[0]), forearm(&poses.frames[150]));
    assert!(start.y < -0.5, "at first the arm hangs: {start}");
    assert!(
        thumbs_up.z > 0.5 && thumbs_up.y > -0.2,
        "thumbs up: {thumbs_up}"
    );
    let png = dir.join("thumbs_up.png");
    let status = bin()
        .arg("render")
        .arg("--default")
        .arg("--pose")
        .arg(&pose_path)
        .args([
            "--frame", "150", "--width", "320", "--height", "180", "--out",
        ])
        .arg(&png)
        .status()
        .unwrap();
    assert!(status.success());
    // Bad input: one line, status 2.
    let bad = bin()
        .arg("solve")
        .arg(&pose_path)
        .arg("--out")
        .arg(dir.join("x.json"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.starts_with("error: ") && err.trim().lines().count() == 1,
        "{err}"
    );
}

/// MediaPipe's own face geometry for `portrait.jpg` (its test expectation) gives the head's
/// rotation; the uncalibrated first guess must agree within a few degrees.
#[test]
fn the_head_of_the_portrait_turns_as_mediapipe_says() {
    use obs_vrm_avatar::solver::face::{Neutral, face_points, read};
    let image = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata/people/images/portrait.jpg");
    let out = out_dir().join("portrait.json");
    let status = bin()
        .arg("track")
        .arg(&image)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let landmarks: LandmarksFile = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let face = landmarks.frames[0].face.as_ref().expect("a face");
    let points = face_points(face, landmarks.width as f32, landmarks.height as f32).unwrap();
    let head = read(&points, &Neutral::guess(&points).unwrap())
        .unwrap()
        .head;
    // pose_transform_matrix: column-major 4x4, in a space with x to the image's right, y up
    // and z towards the camera, which is the avatar's space.
    let text = std::fs::read_to_string(
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .join("../shared/testdata/expected/mediapipe/portrait_expected_face_geometry.pbtxt"),
    )
    .unwrap();
    let m: Vec<f32> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("packed_data: "))
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(m.len(), 16);
    let rotation =
        glam::Mat3::from_cols_slice(&[m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]]);
    let expected = Quat::from_mat3(&rotation).normalize();
    let error = head.angle_between(expected).to_degrees();
    println!("portrait head vs MediaPipe face geometry: {error:.1} degrees");
    assert!(error < 6.0, "{error:.1} degrees from MediaPipe's head pose");
}

/// `vrm-avatar run`: the whole pipeline offline, every frame to PNGs or an MP4.
#[test]
fn run_draws_every_frame_of_a_clip() {
    let dir = out_dir().join("run");
    let _ = std::fs::remove_dir_all(&dir);
    let clip = video("face_and_thumbs_up.mp4");
    let args = [
        "--default",
        "--width",
        "160",
        "--height",
        "90",
        "--max-frames",
        "12",
    ];
    let status = bin()
        .arg("run")
        .arg(&clip)
        .args(args)
        .arg("--out")
        .arg(dir.join("frames"))
        .status()
        .unwrap();
    assert!(status.success());
    let pngs = std::fs::read_dir(dir.join("frames")).unwrap().count();
    assert_eq!(pngs, 12);
    let mp4 = dir.join("clip").join("avatar.mp4");
    let status = bin()
        .arg("run")
        .arg(&clip)
        .args(args)
        .arg("--out")
        .arg(&mp4)
        .status()
        .unwrap();
    assert!(status.success());
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames,width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&mp4)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "160,90,12");
}
