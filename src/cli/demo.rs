//! `vrm-avatar demo`: the main job. Installs the plugin into a throwaway OBS profile and starts
//! OBS with a scene holding the VRM Avatar source over a background. Headless, it also writes a
//! screenshot of the scene and of the source, records the scene, and quits OBS cleanly.

use crate::launcher::{LaunchOptions, ObsStudio, PluginFiles};
use anyhow::{Context, Result, bail};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

pub struct DemoOptions {
    pub module: PathBuf,
    pub locale: PathBuf,
    pub out: PathBuf,
    pub headless: bool,
    pub seconds: u64,
}

const SCENE: &str = "VRM Avatar Demo";
const SOURCE: &str = "VRM Avatar";

pub fn run(opts: &DemoOptions) -> Result<()> {
    if !opts.module.is_file() {
        bail!(
            "plugin module {} not found (cargo build --release first)",
            opts.module.display()
        );
    }
    std::fs::create_dir_all(&opts.out)?;
    let out = opts.out.canonicalize()?;
    let launch = LaunchOptions {
        home: out.join("obs-home"),
        plugin: PluginFiles {
            module: opts.module.clone(),
            locale_dir: opts.locale.clone(),
        },
        width: 1280,
        height: 720,
        fps: 30,
        record_dir: out.clone(),
        headless: opts.headless,
        env: Vec::new(),
        language: "en-US".into(),
    };
    log::info!(
        "starting OBS{}",
        if opts.headless { " under Xvfb" } else { "" }
    );
    let mut obs = ObsStudio::start(&launch)?;
    obs.create_avatar_scene(SCENE, SOURCE, json!({}))
        .context("creating the demo scene (is the plugin loaded? see the OBS log)")?;
    // Let the worker start its GPU device and render its first frames.
    std::thread::sleep(Duration::from_secs(3));
    let scene = obs.screenshot(SCENE)?;
    std::fs::write(out.join("scene.png"), &scene.png)?;
    let avatar = obs.screenshot(SOURCE)?;
    std::fs::write(out.join("source.png"), &avatar.png)?;
    println!(
        "screenshots: {} {}",
        out.join("scene.png").display(),
        out.join("source.png").display()
    );

    if !opts.headless {
        println!("OBS is running with the demo scene; close OBS to finish.");
        while obs.running() {
            std::thread::sleep(Duration::from_millis(500));
        }
        return Ok(());
    }
    obs.ws.request("StartRecord", json!({}))?;
    // OBS starts the output on its UI thread; wait until it runs before timing the recording.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while obs.ws.request("GetRecordStatus", json!({}))?["outputActive"] != true {
        if std::time::Instant::now() > deadline {
            bail!(
                "OBS did not start recording within 20 s (see {})",
                out.join("obs-home/.config/obs-studio/logs").display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(opts.seconds));
    let stopped = obs.ws.request("StopRecord", json!({}))?;
    let recording = stopped["outputPath"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let stats = obs.ws.request("GetStats", json!({}))?;
    let status = obs.quit(Duration::from_secs(60))?;
    if !status.success() {
        bail!("OBS exited with {status}");
    }
    println!("recording: {recording}");
    println!(
        "OBS stats: {} of {} frames skipped for rendering lag, average render time {:.2} ms",
        stats["renderSkippedFrames"],
        stats["renderTotalFrames"],
        stats["averageFrameRenderTime"].as_f64().unwrap_or(0.0)
    );
    Ok(())
}
