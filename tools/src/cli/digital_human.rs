//! `vrm-avatar digital-human`: the headless digital-human demo. OBS starts with no one at it
//! (under Xvfb), the scene is built only through obs-websocket, and the avatar is driven only
//! through the plugin's control API: it speaks lines made by espeak-ng (standing in for a cloud
//! text-to-speech service), with an expression on each, and plays an animation between them,
//! while OBS streams to an RTMP ingest: a local ffmpeg listener unless `--rtmp-url` names one
//! (the key then comes from a file or `VRM_AVATAR_STREAM_KEY`, never from the command line).
//! Writes `OUT/timeline.json` (when each line was spoken, from the stream's start) and, with the
//! local ingest, `OUT/received.flv`.

use crate::launcher::vendor_events::VENDOR;
use crate::launcher::{LaunchOptions, ObsStudio, PluginFiles, local_rtmp_ingest};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct DigitalHumanOptions {
    pub plugin: PluginFiles,
    pub out: PathBuf,
    pub vrm: Option<PathBuf>,
    pub animation: Option<PathBuf>,
    pub lines: Vec<String>,
    pub rtmp_url: Option<String>,
    pub stream_key_file: Option<PathBuf>,
    /// The avatar source's `performance` setting (auto, quality, light).
    pub performance: String,
}

const SCENE: &str = "Digital Human";
const HOST: &str = "Host";
/// Idle seconds streamed before the first line and after the last.
const QUIET_S: f64 = 3.0;
/// One per line, in turn: expressions that leave the mouth to the visemes (an expression whose
/// overrideMouth is `block` or `blend`, like the built-in avatar's `surprised`, quiets them, as
/// VRM 1.0 says).
const EXPRESSIONS: [&str; 3] = ["happy", "relaxed", "sad"];

pub fn run(opts: &DigitalHumanOptions) -> Result<()> {
    std::fs::create_dir_all(&opts.out)?;
    let out = opts.out.canonicalize()?;
    let lines = make_lines(&out, &opts.lines)?;
    let (url, key, mut ingest) = match &opts.rtmp_url {
        Some(url) => (
            url.clone(),
            stream_key(opts.stream_key_file.as_deref())?,
            None,
        ),
        None => {
            let (child, url) = local_rtmp_ingest(&out.join("received.flv"), "avatar")?;
            (url, "avatar".to_string(), Some(child))
        }
    };
    let result = drive(opts, &out, &lines, &url, &key);
    if let Some(child) = &mut ingest {
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait()?.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

/// Each line spoken by espeak-ng into `OUT/lineN.wav`.
fn make_lines(out: &Path, lines: &[String]) -> Result<Vec<PathBuf>> {
    lines
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let wav = out.join(format!("line{i}.wav"));
            let status = Command::new("espeak-ng")
                .args(["-v", "en-us", "-s", "150", "-w"])
                .arg(&wav)
                .arg(text)
                .status()
                .context("espeak-ng (apt-get install espeak-ng)")?;
            if !status.success() {
                bail!("espeak-ng could not speak line {i}");
            }
            Ok(wav)
        })
        .collect()
}

/// The stream key, from a file or `VRM_AVATAR_STREAM_KEY` (never the command line).
fn stream_key(file: Option<&Path>) -> Result<String> {
    let key = match file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("reading the stream key from {}", file.display()))?,
        None => std::env::var("VRM_AVATAR_STREAM_KEY")
            .context("--rtmp-url needs a key: --stream-key-file FILE or VRM_AVATAR_STREAM_KEY")?,
    };
    Ok(key.trim().to_string())
}

fn drive(
    opts: &DigitalHumanOptions,
    out: &Path,
    lines: &[PathBuf],
    url: &str,
    key: &str,
) -> Result<()> {
    let mut obs = ObsStudio::start(&LaunchOptions::headless_720p30(
        &out.join("obs-home"),
        opts.plugin.clone(),
    ))?;
    if !obs.wait_for_log("control API: vendor", Duration::from_secs(30)) {
        bail!("the plugin's control API did not register (is obs-websocket loaded?)");
    }
    let mut events = obs.vendor_events()?;
    obs.create_avatar_scene(
        SCENE,
        HOST,
        json!({"input_kind": "none", "width": 1280, "height": 720,
               "performance": opts.performance}),
    )?;
    events.expect("AvatarLoaded", Duration::from_secs(60))?;
    if let Some(vrm) = &opts.vrm {
        let path = vrm.canonicalize()?.display().to_string();
        call(
            &mut obs,
            "LoadAvatar",
            json!({"source": HOST, "vrm_path": path}),
        )?;
        let loaded = events.expect("AvatarLoaded", Duration::from_secs(60))?;
        if loaded["ok"] != true {
            bail!("the avatar did not load: {}", loaded["error"]);
        }
    }
    obs.wait_for_drawn(HOST, 1, Duration::from_secs(60))?;
    obs.ws.request(
        "SetStreamServiceSettings",
        json!({"streamServiceType": "rtmp_custom",
               "streamServiceSettings": {"server": url, "key": key}}),
    )?;
    obs.ws.request("StartStream", json!({}))?;
    let started = Instant::now();
    while obs.ws.request("GetStreamStatus", json!({}))?["outputActive"] != true {
        if started.elapsed() > Duration::from_secs(20) {
            bail!("the stream did not start; log:\n{}", obs.log_text());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let live = Instant::now();
    println!("streaming to {url}");
    std::thread::sleep(Duration::from_secs_f64(QUIET_S));
    let mut timeline = Vec::new();
    for (i, wav) in lines.iter().enumerate() {
        let expression = EXPRESSIONS[i % EXPRESSIONS.len()];
        call(
            &mut obs,
            "SetExpression",
            json!({"source": HOST, "name": expression, "weight": 1.0, "fade_ms": 300}),
        )?;
        let file = wav.display().to_string();
        let spoken = call(&mut obs, "Speak", json!({"source": HOST, "file": file}))?;
        events.expect("SpeechStarted", Duration::from_secs(10))?;
        let start_s = live.elapsed().as_secs_f64();
        let length =
            Duration::from_secs_f64(spoken["duration_ms"].as_f64().unwrap_or(10_000.0) / 1000.0);
        events.expect("SpeechEnded", length + Duration::from_secs(10))?;
        let end_s = live.elapsed().as_secs_f64();
        println!("line {i} ({expression}): {start_s:.1} .. {end_s:.1} s");
        timeline.push(json!({"line": i, "file": file, "expression": expression,
                             "start_s": start_s, "end_s": end_s}));
        call(
            &mut obs,
            "ClearExpressions",
            json!({"source": HOST, "fade_ms": 300}),
        )?;
        if let Some(clip) = &opts.animation
            && i + 1 < lines.len()
        {
            let file = clip.canonicalize()?.display().to_string();
            call(
                &mut obs,
                "PlayAnimation",
                json!({"source": HOST, "file": file}),
            )?;
            events.expect("AnimationEnded", Duration::from_secs(60))?;
        }
    }
    std::thread::sleep(Duration::from_secs_f64(QUIET_S));
    obs.ws.request("StopStream", json!({}))?;
    let stopping = Instant::now();
    while obs.ws.request("GetStreamStatus", json!({}))?["outputActive"] == true {
        if stopping.elapsed() > Duration::from_secs(20) {
            bail!("the stream did not stop");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::fs::write(
        out.join("timeline.json"),
        serde_json::to_string_pretty(&json!({"lines": timeline}))?,
    )?;
    events.close();
    obs.quit_cleanly(Duration::from_secs(60))?;
    println!("timeline: {}", out.join("timeline.json").display());
    Ok(())
}

/// A control API request; an error unless it was answered `ok`.
fn call(obs: &mut ObsStudio, kind: &str, data: Value) -> Result<Value> {
    let answer = obs.ws.request(
        "CallVendorRequest",
        json!({"vendorName": VENDOR, "requestType": kind, "requestData": data}),
    )?["responseData"]
        .clone();
    if answer["ok"] != true {
        bail!("{kind}: {}", answer["error"].as_str().unwrap_or("refused"));
    }
    Ok(answer)
}
