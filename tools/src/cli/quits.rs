//! `vrm-avatar quits`: OBS quit again and again as a streamer quits it, after a while of live
//! tracking, with the plugin and (for comparison) without it: the avatar tracks a clip that is
//! on screen, then OBS gets SIGINT (its own shutdown, as closing the window) with everything
//! still running. Counts clean quits, crashes (with the faulting thread's top frames) and hangs.

use super::bench_obs::LiveSetup;
use crate::launcher::{ObsStudio, PluginSetup};
use anyhow::Result;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

pub struct QuitsOptions {
    pub live: LiveSetup,
    pub out: PathBuf,
    pub runs: u32,
    /// Tracking before each quit.
    pub seconds: u64,
    /// OBS without the plugin: the clip alone on screen.
    pub without_plugin: bool,
}

const SCENE: &str = "Quits";
const CLIP: &str = "Tracking clip";

/// Runs the quits; the report says how each ended.
pub fn run(opts: &QuitsOptions) -> Result<Value> {
    let input = opts.live.checked_input()?;
    std::fs::create_dir_all(&opts.out)?;
    let out = opts.out.canonicalize()?;
    let mut runs = Vec::new();
    for run in 0..opts.runs {
        let launch = opts
            .live
            .launch(&out.join(format!("obs-{run}")), Vec::new());
        let setup = if opts.without_plugin {
            PluginSetup::System
        } else {
            PluginSetup::Copy(&launch.plugin)
        };
        let mut obs = ObsStudio::start_with(&launch, &setup)?;
        obs.ws.request("CreateScene", json!({"sceneName": SCENE}))?;
        obs.add_hidden_clip(SCENE, CLIP, &input)?;
        // The clip is shown, as a camera on screen would be.
        let item = obs.ws.request(
            "GetSceneItemId",
            json!({"sceneName": SCENE, "sourceName": CLIP}),
        )?;
        obs.ws.request(
            "SetSceneItemEnabled",
            json!({"sceneName": SCENE, "sceneItemId": item["sceneItemId"], "sceneItemEnabled": true}),
        )?;
        if !opts.without_plugin {
            obs.ws.request(
                "CreateInput",
                json!({"sceneName": SCENE, "inputName": "VRM Avatar",
                       "inputKind": "vrm_avatar_source",
                       "inputSettings": opts.live.avatar_settings(CLIP)}),
            )?;
        }
        obs.ws
            .request("SetCurrentProgramScene", json!({"sceneName": SCENE}))?;
        std::thread::sleep(Duration::from_secs(opts.seconds));
        let ended = match obs.exited() {
            Some(ended) => json!({"ended": "before the quit", "how": format!("{ended:?}")}),
            None => match obs.quit(Duration::from_secs(60)) {
                Ok(status) if status.success() => json!({"ended": "clean"}),
                Ok(status) => json!({"ended": "exit status", "how": status.to_string()}),
                Err(err) => {
                    let text = format!("{err:#}");
                    let kind = if text.contains("did not quit") {
                        "hang"
                    } else {
                        "crash"
                    };
                    json!({"ended": kind, "how": first_frames(&text)})
                }
            },
        };
        eprintln!("quits: run {} of {}: {ended}", run + 1, opts.runs);
        runs.push(ended);
    }
    let count = |kind: &str| runs.iter().filter(|r| r["ended"] == kind).count();
    Ok(json!({
        "plugin": !opts.without_plugin,
        "runs": opts.runs,
        "seconds_before_quit": opts.seconds,
        "clean": count("clean"),
        "crash": count("crash"),
        "hang": count("hang"),
        "other": runs.len() - count("clean") - count("crash") - count("hang"),
        "each": runs,
        "machine": super::bench_obs::machine(),
    }))
}

/// The report's first lines and the faulting thread's first frames, for the summary.
fn first_frames(report: &str) -> String {
    report
        .lines()
        .filter(|l| l.starts_with("OBS ") || l.trim_start().starts_with('#'))
        .take(8)
        .collect::<Vec<_>>()
        .join("\n")
}
