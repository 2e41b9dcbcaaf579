//! `vrm-avatar demo`: the main job. Installs the plugin into a throwaway OBS profile and starts
//! OBS with a scene holding the VRM Avatar source over a background. Headless, it also writes a
//! screenshot of the scene, of the source and of OBS's window, records the scene, and quits OBS
//! cleanly.

use crate::launcher::{LaunchOptions, ObsStudio, PluginFiles, probe_video};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

pub struct DemoOptions {
    pub plugin: PluginFiles,
    pub out: PathBuf,
    pub headless: bool,
    pub seconds: u64,
    /// A video of a person to track (played by a hidden media source); None: idle motion.
    pub input: Option<PathBuf>,
}

const SCENE: &str = "VRM Avatar Demo";
const SOURCE: &str = "VRM Avatar";
const CLIP: &str = "Tracking clip";

pub fn run(opts: &DemoOptions) -> Result<()> {
    if !opts.plugin.module.is_file() {
        bail!(
            "plugin module {} not found (cargo build --release first)",
            opts.plugin.module.display()
        );
    }
    std::fs::create_dir_all(&opts.out)?;
    let out = opts.out.canonicalize()?;
    let launch = LaunchOptions {
        home: out.join("obs-home"),
        plugin: opts.plugin.clone(),
        width: 1280,
        height: 720,
        fps: 30,
        record_dir: out.clone(),
        headless: opts.headless,
        env: Vec::new(),
        language: "en-US".into(),
        preview: true,
        wrapper: Vec::new(),
    };
    log::info!(
        "starting OBS{}",
        if opts.headless { " under Xvfb" } else { "" }
    );
    let mut obs = ObsStudio::start(&launch)?;
    obs.create_avatar_scene(SCENE, SOURCE, json!({"input_kind": "none"}))
        .context("creating the demo scene (is the plugin loaded? see the OBS log)")?;
    if let Some(video) = &opts.input {
        track_video(&mut obs, video)?;
    }
    // The worker starts its GPU device and renders its first frames: seconds, or on a loaded
    // machine, where it runs at a lower priority than OBS, up to a minute.
    let avatar = obs.wait_for_drawn(SOURCE, 1, Duration::from_secs(60))?;
    let scene = obs.screenshot(SCENE)?;
    std::fs::write(out.join("scene.png"), &scene.png)?;
    std::fs::write(out.join("source.png"), &avatar.png)?;
    let window = out.join("obs-window.png");
    obs.screen_png(&window)?;
    println!(
        "screenshots: {} {} {}",
        out.join("scene.png").display(),
        out.join("source.png").display(),
        window.display()
    );

    if !opts.headless {
        println!("OBS is running with the demo scene; close OBS to finish.");
        while obs.running() {
            std::thread::sleep(Duration::from_millis(500));
        }
        return Ok(());
    }
    obs.ws.request("StartRecord", json!({}))?;
    wait_for_recording(&mut obs, true)?;
    let before = obs.ws.request("GetStats", json!({}))?;
    std::thread::sleep(Duration::from_secs(opts.seconds));
    let after = obs.ws.request("GetStats", json!({}))?;
    let stopped = obs.ws.request("StopRecord", json!({}))?;
    // StopRecord answers while the output is still stopping, and OBS asks for confirmation in a
    // modal dialog when told to quit with an active output: wait until it has stopped.
    wait_for_recording(&mut obs, false)?;
    let status = obs.quit(Duration::from_secs(60))?;
    if !status.success() {
        bail!("OBS exited with {status}");
    }

    let recording = out.join("recording.mp4");
    let written = PathBuf::from(stopped["outputPath"].as_str().unwrap_or_default());
    std::fs::rename(&written, &recording)
        .with_context(|| format!("moving the recording {}", written.display()))?;
    let video = probe_video(&recording)
        .with_context(|| format!("checking the recording {}", recording.display()))?;
    if video.frames == 0 {
        bail!(
            "the recording {} holds no video frames",
            recording.display()
        );
    }
    println!(
        "recording: {} ({} {}x{}, {} frames, {:.1} s)",
        recording.display(),
        video.codec,
        video.width,
        video.height,
        video.frames,
        video.duration_s
    );
    let delta = |key: &str| after[key].as_i64().unwrap_or(0) - before[key].as_i64().unwrap_or(0);
    println!(
        "OBS while recording: {} of {} frames skipped for rendering lag, {} of {} encoder frames skipped, \
         average render time {:.2} ms, CPU {:.0}%",
        delta("renderSkippedFrames"),
        delta("renderTotalFrames"),
        delta("outputSkippedFrames"),
        delta("outputTotalFrames"),
        after["averageFrameRenderTime"].as_f64().unwrap_or(0.0),
        after["cpuUsage"].as_f64().unwrap_or(0.0)
    );
    Ok(())
}

/// Plays `video` in a hidden media source and makes it the avatar's tracking input.
fn track_video(obs: &mut ObsStudio, video: &std::path::Path) -> Result<()> {
    let video = video
        .canonicalize()
        .with_context(|| format!("--input {}", video.display()))?;
    // The person is never shown, only the avatar; the avatar keeps the clip playing.
    obs.add_hidden_clip(SCENE, CLIP, &video)?;
    obs.ws.request(
        "SetInputSettings",
        json!({"inputName": SOURCE, "inputSettings": {"input_kind": "source", "input_source": CLIP}}),
    )?;
    println!("tracking {}", video.display());
    Ok(())
}

/// Waits (at most 20 s) until OBS's recording output is active, or stopped.
fn wait_for_recording(obs: &mut ObsStudio, active: bool) -> Result<()> {
    // OBS starts and stops outputs on its own threads, after the request has been answered.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while obs.ws.request("GetRecordStatus", json!({}))?["outputActive"] != active {
        if std::time::Instant::now() > deadline {
            let what = if active { "start" } else { "stop" };
            bail!(
                "OBS did not {what} recording within 20 s (see its log in obs-home/.config/obs-studio/logs)"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}
