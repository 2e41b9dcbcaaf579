//! `vrm-avatar track`: landmarks of every frame of an image or video, as Landmarks JSON.

use super::media::MediaInput;
use anyhow::{Context, Result, anyhow};
use obs_vrm_avatar::landmarks::LandmarksFile;
use obs_vrm_avatar::tracking::holistic::{Tracker, TrackingMode};
use obs_vrm_avatar::tracking::image::ImageView;
use obs_vrm_avatar::tracking::runtime::ModelPaths;
use std::path::{Path, PathBuf};

pub struct TrackOptions {
    pub input: PathBuf,
    pub out: PathBuf,
    pub max_frames: Option<u64>,
    pub mode: String,
    pub models: Option<PathBuf>,
    pub threads: usize,
    pub frame_ms: Option<f64>,
}

/// Tracks the whole input; the file is written only when every frame was read.
pub fn run(opts: &TrackOptions) -> Result<()> {
    let mode = TrackingMode::parse(&opts.mode).ok_or_else(|| {
        anyhow!(
            "--mode {}: expected face, upper_body, upper_body_hands or full_body",
            opts.mode
        )
    })?;
    let mut input = MediaInput::open(&opts.input)?;
    let paths = ModelPaths::locate(opts.models.as_deref())?;
    let mut tracker = Tracker::new(&paths, mode, opts.threads, true)?;
    let landmarks = track_all(
        &mut input,
        &mut tracker,
        &opts.input,
        opts.max_frames,
        opts.frame_ms,
    )?;
    let json = serde_json::to_string(&landmarks)?;
    std::fs::write(&opts.out, json).with_context(|| format!("writing {}", opts.out.display()))?;
    let found = |f: &dyn Fn(&obs_vrm_avatar::landmarks::LandmarkFrame) -> bool| {
        landmarks.frames.iter().filter(|fr| f(fr)).count()
    };
    eprintln!(
        "tracked {} frames: pose {}, face {}, left hand {}, right hand {}",
        landmarks.frames.len(),
        found(&|f| f.pose.is_some()),
        found(&|f| f.face.is_some()),
        found(&|f| f.left_hand.is_some()),
        found(&|f| f.right_hand.is_some()),
    );
    Ok(())
}

/// Landmarks of each frame of `input` (up to `max_frames`).
pub fn track_all(
    input: &mut MediaInput,
    tracker: &mut Tracker,
    source: &Path,
    max_frames: Option<u64>,
    frame_ms: Option<f64>,
) -> Result<LandmarksFile> {
    let mut out = LandmarksFile {
        source: source.display().to_string(),
        width: input.width,
        height: input.height,
        frames: Vec::new(),
    };
    while max_frames.is_none_or(|m| (out.frames.len() as u64) < m) {
        let Some(frame) = input.next_frame()? else {
            break;
        };
        let view = ImageView::rgb(frame.width, frame.height, &frame.rgb)?;
        let t_ms = frame_ms.map_or(frame.t_ms, |ms| frame.index as f64 * ms);
        let landmarks = if input.is_still() {
            tracker.track_still(&view, frame.index, t_ms)
        } else {
            tracker.track(&view, frame.index, t_ms)
        }
        .with_context(|| format!("frame {}", frame.index))?;
        out.frames.push(landmarks);
    }
    Ok(out)
}
