//! The tracking part of `vrm-avatar bench --input VIDEO`: every frame decoded (and resized)
//! first, then tracked back to back as fast as it goes, the way the peer script times
//! MediaPipe's own Holistic (`scripts/peer_holistic.py`), so the two compare in one run.

use super::media::MediaInput;
use anyhow::{Result, bail};
use obs_vrm_avatar::tracking::holistic::{
    LIVE_SEARCH_INTERVAL, SearchClock, StageTimes, Tracker, TrackingMode,
};
use obs_vrm_avatar::tracking::image::ImageView;
use obs_vrm_avatar::tracking::runtime::ModelPaths;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// Process CPU time (user + system, all threads) in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn stats(ms: &mut [f64]) -> Value {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    let r = |v: f64| (v * 1000.0).round() / 1000.0;
    json!({"mean": r(mean), "p50": r(at(0.5)), "p95": r(at(0.95))})
}

/// Tracks every frame of `input` at `size` in `mode` and reports the timings.
pub fn run(
    input: &Path,
    size: Option<(u32, u32)>,
    mode: TrackingMode,
    parallel: bool,
) -> Result<Value> {
    let mut media = MediaInput::open_scaled(input, size)?;
    let mut frames = Vec::new();
    while let Some(f) = media.next_frame()? {
        frames.push(f);
    }
    if frames.is_empty() {
        bail!("{}: no frames", input.display());
    }
    let paths = ModelPaths::locate(None)?;
    let mut tracker = Tracker::new(&paths, mode, 1, true)?;
    tracker.parallel = parallel;
    // Time what the OBS source runs, not the offline tracker's every-frame hand search.
    if let Some(hands) = &mut tracker.hands {
        hands.search = SearchClock::every(LIVE_SEARCH_INTERVAL);
    }
    let mut per_frame = Vec::with_capacity(frames.len());
    let mut stages: Vec<StageTimes> = Vec::with_capacity(frames.len());
    let mut found = [0usize; 4];
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    for f in &frames {
        let view = ImageView::rgb(f.width, f.height, &f.rgb)?;
        let start = Instant::now();
        let lm = tracker.track(&view, f.index, f.t_ms)?;
        per_frame.push(start.elapsed().as_secs_f64() * 1000.0);
        stages.push(tracker.times);
        for (n, part) in found.iter_mut().zip([
            lm.pose.is_some(),
            lm.face.is_some(),
            lm.left_hand.is_some(),
            lm.right_hand.is_some(),
        ]) {
            *n += usize::from(part);
        }
    }
    let wall = wall0.elapsed().as_secs_f64();
    let cores_busy = (cpu_seconds() - cpu0) / wall;
    // Per stage over the frames where it ran (a detector runs only now and then).
    let stage = |f: fn(&StageTimes) -> f64| {
        let mut ran: Vec<f64> = stages.iter().map(f).filter(|ms| *ms > 0.0).collect();
        if ran.is_empty() {
            return json!(null);
        }
        let mut summary = stats(&mut ran);
        summary["frames"] = json!(ran.len());
        summary
    };
    Ok(json!({
        "input": input.display().to_string(),
        "width": frames[0].width,
        "height": frames[0].height,
        "mode": mode.key(),
        "frames": frames.len(),
        "fps": ((frames.len() as f64 / wall) * 10.0).round() / 10.0,
        "ms": stats(&mut per_frame),
        "stage_ms": {
            "pose_detect": stage(|s| s.pose_detect),
            "pose": stage(|s| s.pose),
            "face_detect": stage(|s| s.face_detect),
            "face_mesh_and_iris": stage(|s| s.face),
            "hands": stage(|s| s.hands),
        },
        "inference_threads": if parallel && mode.hands() { 2 } else { 1 },
        "hand_search_interval_frames": LIVE_SEARCH_INTERVAL,
        "cores_busy": (cores_busy * 100.0).round() / 100.0,
        "found": {"pose": found[0], "face": found[1], "left_hand": found[2], "right_hand": found[3]},
    }))
}
