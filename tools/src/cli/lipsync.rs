//! `vrm-avatar lipsync AUDIO --out VISEMES.json`: the mouth the OBS source would give a voice,
//! every 10 ms. Any file with sound (WAV, MP3, a video's audio track) is decoded by an `ffmpeg`
//! child process to mono 48 kHz, OBS's usual rate.

use anyhow::{Context, Result, bail};
use obs_vrm_avatar::voice::{HOP_MS, LipSync};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The rate sound is analysed at.
pub const RATE: u32 = 48_000;

#[derive(clap::Args)]
pub struct LipsyncArgs {
    /// A WAV file, or any audio or video file with sound.
    audio: PathBuf,
    /// Where to write the mouth frames (JSON).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: &LipsyncArgs) -> Result<()> {
    let samples = decode(&args.audio)?;
    let frames = LipSync::analyse(RATE, &samples);
    let frames: Vec<_> = frames
        .iter()
        .enumerate()
        .map(|(k, m)| {
            let round = |x: f32| (x * 1000.0).round() / 1000.0;
            json!({"t_ms": (k as u32 + 1) * HOP_MS, "open": round(m.open), "aa": round(m.aa),
                   "ih": round(m.ih), "ou": round(m.ou), "ee": round(m.ee), "oh": round(m.oh)})
        })
        .collect();
    let text = serde_json::to_string(&json!({"hop_ms": HOP_MS, "frames": frames}))?;
    std::fs::write(&args.out, text).with_context(|| format!("writing {}", args.out.display()))
}

/// The sound of `path` as mono samples at [`RATE`].
pub fn decode(path: &Path) -> Result<Vec<f32>> {
    if !path.is_file() {
        bail!("{}: no such file", path.display());
    }
    let mut child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args([
            "-vn",
            "-ac",
            "1",
            "-ar",
            &RATE.to_string(),
            "-f",
            "f32le",
            "-",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting ffmpeg (is it installed?)")?;
    let mut bytes = Vec::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_end(&mut bytes)?;
    let output = child.wait_with_output()?;
    if !output.status.success() || bytes.is_empty() {
        let why = String::from_utf8_lossy(&output.stderr);
        bail!(
            "{}: no sound to read ({})",
            path.display(),
            why.lines().last().unwrap_or("no audio stream")
        );
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
