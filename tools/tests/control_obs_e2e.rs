//! The control API in real OBS (Debian's OBS 29 under Xvfb), driven only over obs-websocket: every
//! request of CONTRACTS.md's vendor `obs-vrm-avatar` that the plugin answers, checked through
//! `GetState`, `GetAvatars`, the vendor events and screenshots; every bad request answered with
//! `ok: false` and a sentence; OBS quits cleanly. Prints the request-to-`GetState` latency and the
//! CPU of an idle avatar (the README's figures):
//! `cargo test --release --test control_obs_e2e -- --nocapture`.

mod common;
mod speech;

use common::{eye_blue, vendor};

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use vrm_avatar_tools::launcher::vendor_events::VendorEvents;
use vrm_avatar_tools::launcher::{
    LaunchOptions, ObsStudio, PluginFiles, Screenshot, cpu_seconds, retry_on_known_obs_fault,
};

const SCENE: &str = "Control Scene";
const AVATAR: &str = "Host";
const CAMERA: &str = "Camera Clip";

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata")
        .join(path)
        .canonicalize()
        .unwrap()
}

fn ok(obs: &mut ObsStudio, kind: &str, data: Value) -> Value {
    let answer = vendor(obs, kind, data.clone());
    assert_eq!(answer["ok"], true, "{kind} {data}: {answer}");
    answer
}

fn refused(obs: &mut ObsStudio, kind: &str, data: Value, says: &str) {
    let answer = vendor(obs, kind, data.clone());
    assert_eq!(answer["ok"], false, "{kind} {data} is refused: {answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(says) && !error.contains('\n'),
        "{kind} {data}: '{error}' should say '{says}'"
    );
}

fn state(obs: &mut ObsStudio) -> Value {
    ok(obs, "GetState", json!({"source": AVATAR}))
}

fn expression(state: &Value, name: &str) -> f64 {
    state["expressions"][name].as_f64().unwrap_or(0.0)
}

/// Polls `GetState` until `done` holds; the time it took.
fn until(
    obs: &mut ObsStudio,
    limit: Duration,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let s = state(obs);
        if done(&s) {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what} within {limit:?}: {s}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The earliest-sent vendor event `kind` not yet taken, within `limit`, without its `seq`.
fn event(events: &mut VendorEvents, kind: &str, limit: Duration) -> Value {
    numbered_event(events, kind, limit).0
}

/// [`event`] and its `seq` (every event has one).
fn numbered_event(events: &mut VendorEvents, kind: &str, limit: Duration) -> (Value, u64) {
    let mut data = events.expect(kind, limit).unwrap();
    let seq = data
        .as_object_mut()
        .and_then(|fields| fields.remove("seq"))
        .and_then(|seq| seq.as_u64());
    (
        data.clone(),
        seq.unwrap_or_else(|| panic!("{kind} {data} has a seq")),
    )
}

/// Mean absolute difference of two screenshots' RGBA bytes.
fn difference(a: &Screenshot, b: &Screenshot) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let sum: u64 = a
        .rgba
        .iter()
        .zip(&b.rgba)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.rgba.len() as f64
}

/// The right upper arm's turn from the T-pose in `GetState`'s pose (degrees).
fn right_arm_deg(state: &Value) -> f64 {
    let pose: obs_vrm_avatar::pose::AvatarPose =
        serde_json::from_str(state["pose"].as_str().unwrap()).unwrap();
    pose.rotation("rightUpperArm").map_or(0.0, |q| {
        f64::from(q.angle_between(glam::Quat::IDENTITY).to_degrees())
    })
}

/// The loudest sample of a recording's sound (dBFS, ffmpeg's volumedetect), over its first
/// `seconds` or all of it.
fn loudest_db(recording: &str, seconds: Option<f64>) -> f64 {
    // StopRecord answers before the muxer has written the file's index.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut command = std::process::Command::new("ffmpeg");
        command.args(["-hide_banner", "-nostats", "-i", recording]);
        if let Some(s) = seconds {
            command.args(["-t", &s.to_string()]);
        }
        let out = command
            .args(["-map", "0:a", "-af", "volumedetect", "-f", "null", "-"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string();
        let max = text
            .lines()
            .find_map(|l| l.split("max_volume: ").nth(1))
            .and_then(|v| v.trim_end_matches(" dB").trim().parse::<f64>().ok());
        if let (true, Some(max)) = (out.status.success(), max) {
            return max;
        }
        assert!(Instant::now() < deadline, "{recording}: {text}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn a_digital_human_is_driven_only_over_obs_websocket() {
    retry_on_known_obs_fault(
        "a_digital_human_is_driven_only_over_obs_websocket",
        a_digital_human_is_driven_only_over_obs_websocket_once,
    );
}

fn a_digital_human_is_driven_only_over_obs_websocket_once() {
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let work = target.join("control-obs-e2e");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let plugin = PluginFiles::with_checkout(target.join("libobs_vrm_avatar.so"));
    let mut obs =
        ObsStudio::start(&LaunchOptions::headless_720p30(&work.join("obs"), plugin)).unwrap();
    assert!(
        obs.wait_for_log("control API: vendor", Duration::from_secs(30)),
        "log:\n{}",
        obs.log_text()
    );
    let mut events = obs.vendor_events().unwrap();
    obs.create_avatar_scene(
        SCENE,
        AVATAR,
        json!({"input_kind": "none", "width": 320, "height": 180}),
    )
    .unwrap();
    let loaded = event(&mut events, "AvatarLoaded", Duration::from_secs(60));
    assert_eq!(loaded["ok"], true, "{loaded}");
    assert_eq!(loaded["source"], AVATAR);
    obs.wait_for_drawn(AVATAR, 5_000, Duration::from_secs(60))
        .unwrap();

    // GetAvatars lists it, with what it shows.
    let avatars = ok(&mut obs, "GetAvatars", json!({}));
    let list = avatars["avatars"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{avatars}");
    let host = &list[0];
    assert_eq!(host["source"], AVATAR);
    assert_eq!(host["input_kind"], "none");
    assert_eq!(
        (host["tracking"].clone(), host["showing"].clone()),
        (json!(false), json!(true))
    );
    let built_in_title = host["title"].as_str().unwrap().to_string();
    assert!(!built_in_title.is_empty(), "{host}");

    // SetExpression: the face changes, held until changed; the time to GetState each way.
    // (A screenshot in the middle of an idle blink is taken again.)
    let mut neutral = obs.screenshot(AVATAR).unwrap();
    for _ in 0..5 {
        if eye_blue(&neutral) >= 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        neutral = obs.screenshot(AVATAR).unwrap();
    }
    std::fs::write(work.join("neutral.png"), &neutral.png).unwrap();
    let open_eyes = eye_blue(&neutral);
    assert!(open_eyes >= 6, "the irises are seen: {open_eyes} pixels");
    std::thread::sleep(Duration::from_millis(400));
    let neutral_again = obs.screenshot(AVATAR).unwrap();
    let idle_noise = difference(&neutral, &neutral_again);
    let (mut latencies, mut answers) = (Vec::new(), Vec::new());
    for i in 0..12 {
        let weight = if i % 2 == 0 { 1.0 } else { 0.0 };
        let sent = Instant::now();
        let answer = ok(
            &mut obs,
            "SetExpression",
            json!({"source": AVATAR, "name": "happy", "weight": weight, "fade_ms": 0}),
        );
        let answered = sent.elapsed();
        answers.push(answered.as_secs_f64() * 1000.0);
        assert!(
            answered < Duration::from_millis(500),
            "answered in {answered:?}"
        );
        assert_eq!(answer.as_object().unwrap().len(), 1, "only ok: {answer}");
        until(&mut obs, Duration::from_secs(5), "happy shows", |s| {
            (expression(s, "happy") - weight).abs() < 0.01
        });
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        if i == 0 {
            std::thread::sleep(Duration::from_millis(400));
            let happy = obs.screenshot(AVATAR).unwrap();
            std::fs::write(work.join("happy.png"), &happy.png).unwrap();
            let shut = eye_blue(&happy);
            assert!(
                shut * 4 <= open_eyes,
                "happy shuts the eyes: {shut} iris pixels against {open_eyes}"
            );
        }
    }
    let mean = latencies.iter().sum::<f64>() / latencies.len() as f64;
    eprintln!(
        "request to GetState: SetExpression (fade 0) seen after mean {mean:.0}, p50 {:.0}, p95 {:.0} ms ({} requests)",
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.95),
        latencies.len()
    );
    eprintln!(
        "SetExpression answered (round trip over obs-websocket) after p50 {:.1}, p95 {:.1} ms",
        quantile(&answers, 0.5),
        quantile(&answers, 0.95)
    );
    // A weight with a fade; then ClearExpressions lets it go.
    ok(
        &mut obs,
        "SetExpression",
        json!({"source": AVATAR, "name": "sad", "weight": 0.6}),
    );
    until(&mut obs, Duration::from_secs(5), "sad at 0.6", |s| {
        (expression(s, "sad") - 0.6).abs() < 0.01
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        (expression(&state(&mut obs), "sad") - 0.6).abs() < 0.01,
        "held"
    );
    ok(
        &mut obs,
        "ClearExpressions",
        json!({"source": AVATAR, "fade_ms": 100}),
    );
    until(&mut obs, Duration::from_secs(5), "cleared", |s| {
        expression(s, "sad") < 0.01
    });

    // SetLookAt fixes the gaze; clear gives it back.
    ok(
        &mut obs,
        "SetLookAt",
        json!({"source": AVATAR, "yaw_deg": 25, "pitch_deg": -10}),
    );
    until(&mut obs, Duration::from_secs(5), "gaze", |s| {
        (s["look_at"]["yaw_deg"].as_f64().unwrap_or(0.0) - 25.0).abs() < 0.5
            && (s["look_at"]["pitch_deg"].as_f64().unwrap_or(0.0) + 10.0).abs() < 0.5
    });
    ok(
        &mut obs,
        "SetLookAt",
        json!({"source": AVATAR, "clear": true}),
    );
    until(&mut obs, Duration::from_secs(5), "gaze back", |s| {
        s["look_at"]["yaw_deg"].as_f64().unwrap_or(0.0).abs() < 5.0
    });

    // PlayAnimation: the clip's arm, expression and gaze, reported in GetState, then its end.
    // Idle life holds the arms 70 degrees down; the clip raises the right one to the T-pose
    // (identity) and, at 0.5 s, lowers it straight down (90 degrees).
    let clip = testdata("vrm/vrma/test.vrma");
    let file = clip.display().to_string();
    let answer = ok(
        &mut obs,
        "PlayAnimation",
        json!({"source": AVATAR, "file": file}),
    );
    assert_eq!(answer["duration_ms"].as_f64(), Some(3000.0), "{answer}");
    let (mut lowest_arm, mut highest_arm) = (f64::MAX, 0.0f64);
    let (mut happiest, mut furthest_gaze) = (0.0f64, 0.0f64);
    let mut arm_up: Option<Screenshot> = None;
    let played = Instant::now();
    while played.elapsed() < Duration::from_millis(3000) {
        let s = state(&mut obs);
        if s.get("animation").is_some() {
            assert_eq!(s["animation"], file.as_str());
        }
        let arm = right_arm_deg(&s);
        lowest_arm = lowest_arm.max(arm);
        highest_arm = highest_arm.min(arm);
        happiest = happiest.max(expression(&s, "happy"));
        furthest_gaze = furthest_gaze.max(s["look_at"]["yaw_deg"].as_f64().unwrap_or(0.0));
        if arm < 5.0 && arm_up.is_none() && played.elapsed() > Duration::from_millis(1300) {
            arm_up = Some(obs.screenshot(AVATAR).unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let ended = event(&mut events, "AnimationEnded", Duration::from_secs(5));
    assert_eq!(ended, json!({"source": AVATAR, "file": file}));
    let after = until(&mut obs, Duration::from_secs(3), "the clip is gone", |s| {
        s.get("animation").is_none() && right_arm_deg(s) > 60.0
    });
    assert!(
        highest_arm < 2.0 && lowest_arm > 85.0 && happiest > 0.9 && furthest_gaze > 60.0,
        "the clip moved the arm ({highest_arm:.0}..{lowest_arm:.0} deg), face ({happiest:.2}) \
         and eyes ({furthest_gaze:.0} deg)"
    );
    let arm_up = arm_up.expect("a screenshot in the clip's T-pose");
    std::fs::write(work.join("arm_up.png"), &arm_up.png).unwrap();
    let moved = difference(&neutral, &arm_up);
    assert!(
        moved > 3.0 * idle_noise,
        "the arm shows: {moved:.3} against {idle_noise:.3}"
    );
    eprintln!("the clip's end faded back in {after:?} after its end was seen");

    // Looped, then stopped: no end event, and the pose goes back.
    ok(
        &mut obs,
        "PlayAnimation",
        json!({"source": AVATAR, "file": file, "loop": true, "fade_ms": 0}),
    );
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(state(&mut obs)["animation"], file.as_str(), "still looping");
    ok(
        &mut obs,
        "StopAnimation",
        json!({"source": AVATAR, "fade_ms": 200}),
    );
    until(&mut obs, Duration::from_secs(3), "stopped", |s| {
        s.get("animation").is_none() && right_arm_deg(s) > 60.0
    });
    assert_eq!(
        events
            .next("AnimationEnded", Duration::from_millis(500))
            .unwrap(),
        None,
        "a stopped loop sends no AnimationEnded"
    );

    // Speak: the line plays into OBS's mix (heard in a recording that is silent before it) and
    // moves the mouth while it plays; events mark its start and end.
    let line = speech::speak(
        &work,
        "line",
        "en-us",
        150,
        "Hello everyone, I am your host tonight, and here is the news.",
    );
    let line_wav = speech::write_wav(&work, "line", &line, speech::RATE as u32, 1);
    let line_file = line_wav.display().to_string();
    let line_ms = line.len() as f64 * 1000.0 / speech::RATE as f64;
    obs.ws.request("StartRecord", json!({})).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let answer = ok(
        &mut obs,
        "Speak",
        json!({"source": AVATAR, "file": line_file}),
    );
    assert!(
        (answer["duration_ms"].as_f64().unwrap() - line_ms).abs() < 1.0,
        "{answer} for {line_ms} ms"
    );
    let started = event(&mut events, "SpeechStarted", Duration::from_secs(10));
    assert_eq!(started, json!({"source": AVATAR, "file": line_file}));
    let (mut widest, mut heard) = (0.0f64, false);
    let speaking = Instant::now();
    while speaking.elapsed() < Duration::from_secs_f64(line_ms / 1000.0 - 0.3) {
        let s = state(&mut obs);
        widest = widest.max(s["mouth"]["open"].as_f64().unwrap());
        heard |= s["speaking"] == true;
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(
        widest > 0.4 && heard,
        "the line moves the mouth: widest {widest:.2}, speaking {heard}"
    );
    let ended = event(&mut events, "SpeechEnded", Duration::from_secs(5));
    assert_eq!(ended, json!({"source": AVATAR, "file": line_file}));
    until(&mut obs, Duration::from_secs(2), "the mouth shuts", |s| {
        s["mouth"]["open"].as_f64().unwrap_or(1.0) < 0.05
    });
    std::thread::sleep(Duration::from_millis(500));
    let recording = obs.ws.request("StopRecord", json!({})).unwrap()["outputPath"]
        .as_str()
        .unwrap()
        .to_string();
    let (before_db, whole_db) = (
        loudest_db(&recording, Some(1.0)),
        loudest_db(&recording, None),
    );
    assert!(
        before_db < -60.0 && whole_db > -20.0,
        "the recording is silent before the line ({before_db} dB) and holds it ({whole_db} dB)"
    );
    eprintln!("recorded speech: loudest {whole_db} dB, {before_db} dB before it");
    // The source's `speech_volume` setting: a tenth is 20 dB down.
    obs.set_input_settings(AVATAR, json!({"speech_volume": 0.1}))
        .unwrap();
    obs.ws.request("StartRecord", json!({})).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    ok(
        &mut obs,
        "Speak",
        json!({"source": AVATAR, "file": line_file}),
    );
    event(&mut events, "SpeechStarted", Duration::from_secs(10));
    event(
        &mut events,
        "SpeechEnded",
        Duration::from_secs_f64(line_ms / 1000.0 + 5.0),
    );
    let quieter = obs.ws.request("StopRecord", json!({})).unwrap()["outputPath"]
        .as_str()
        .unwrap()
        .to_string();
    let quieter_db = loudest_db(&quieter, None);
    assert!(
        (whole_db - 20.0 - quieter_db).abs() < 3.0,
        "speech_volume 0.1: {quieter_db} dB against {whole_db} dB"
    );
    obs.set_input_settings(AVATAR, json!({"speech_volume": 1.0}))
        .unwrap();
    // A new Speak replaces the one playing; StopSpeaking ends it.
    let other = speech::speak(
        &work,
        "other",
        "en-us+f3",
        150,
        "And now, the weather for tomorrow.",
    );
    let other_wav = speech::write_wav(&work, "other", &other, speech::RATE as u32, 1);
    let other_file = other_wav.display().to_string();
    ok(
        &mut obs,
        "Speak",
        json!({"source": AVATAR, "file": line_file}),
    );
    assert_eq!(
        event(&mut events, "SpeechStarted", Duration::from_secs(10))["file"],
        line_file.as_str()
    );
    std::thread::sleep(Duration::from_millis(700));
    ok(
        &mut obs,
        "Speak",
        json!({"source": AVATAR, "file": other_file}),
    );
    let (cut, cut_seq) = numbered_event(&mut events, "SpeechEnded", Duration::from_secs(5));
    assert_eq!(cut["file"], line_file.as_str(), "the line is cut");
    let (next, next_seq) = numbered_event(&mut events, "SpeechStarted", Duration::from_secs(10));
    assert_eq!(next["file"], other_file.as_str());
    assert!(
        cut_seq < next_seq,
        "the cut line ends before the next starts"
    );
    std::thread::sleep(Duration::from_millis(500));
    ok(&mut obs, "StopSpeaking", json!({"source": AVATAR}));
    assert_eq!(
        event(&mut events, "SpeechEnded", Duration::from_secs(5))["file"],
        other_file.as_str()
    );
    until(&mut obs, Duration::from_secs(2), "silent again", |s| {
        s["speaking"] == false && s["mouth"]["open"].as_f64().unwrap_or(1.0) < 0.05
    });

    // Calibrate is taken.
    ok(&mut obs, "Calibrate", json!({"source": AVATAR}));

    // LoadAvatar: a VRM loads (event, title); a broken one is refused at once or, when only its
    // body is broken, reported by the event while the avatar stays.
    let godette = testdata("vrm/vrm0/Godette_vrm_v4.vrm");
    ok(
        &mut obs,
        "LoadAvatar",
        json!({"source": AVATAR, "vrm_path": godette.display().to_string()}),
    );
    let loaded = event(&mut events, "AvatarLoaded", Duration::from_secs(60));
    assert_eq!(loaded["ok"], true, "{loaded}");
    assert_eq!(loaded["vrm_path"], godette.display().to_string());
    let avatars = ok(&mut obs, "GetAvatars", json!({}));
    let title = avatars["avatars"][0]["title"].as_str().unwrap().to_string();
    assert_ne!(title, built_in_title, "{avatars}");
    assert_eq!(
        avatars["avatars"][0]["vrm_path"],
        godette.display().to_string(),
        "the setting follows"
    );
    let bytes = std::fs::read(&godette).unwrap();
    let broken = work.join("broken.vrm");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    ok(
        &mut obs,
        "LoadAvatar",
        json!({"source": AVATAR, "vrm_path": broken.display().to_string()}),
    );
    let failed = event(&mut events, "AvatarLoaded", Duration::from_secs(60));
    assert_eq!(failed["ok"], false, "{failed}");
    assert!(
        failed["error"].as_str().unwrap().contains("truncated"),
        "{failed}"
    );
    let avatars = ok(&mut obs, "GetAvatars", json!({}));
    assert_eq!(
        avatars["avatars"][0]["title"],
        title.as_str(),
        "the last good avatar stays"
    );

    // Every bad request: ok false, one sentence, nothing changed.
    let text = work.join("notes.txt");
    std::fs::write(&text, "not a model").unwrap();
    let missing = work.join("missing.vrma").display().to_string();
    let before = state(&mut obs);
    refused(
        &mut obs,
        "GetState",
        json!({"source": "Nobody"}),
        "no source named 'Nobody'",
    );
    refused(&mut obs, "GetState", json!({}), "`source`");
    refused(
        &mut obs,
        "GetState",
        json!({"source": SCENE}),
        "not a VRM Avatar source",
    );
    refused(
        &mut obs,
        "SetExpression",
        json!({"source": AVATAR, "name": "wink", "weight": 1}),
        "no expression 'wink'",
    );
    refused(
        &mut obs,
        "SetExpression",
        json!({"source": AVATAR, "name": "happy", "weight": 2}),
        "`weight` must be from 0 to 1",
    );
    refused(
        &mut obs,
        "SetExpression",
        json!({"source": AVATAR, "name": "happy", "weight": "1"}),
        "`weight` must be a number",
    );
    refused(
        &mut obs,
        "SetExpression",
        json!({"source": AVATAR, "name": "happy", "weight": 1, "fade_ms": -5}),
        "`fade_ms`",
    );
    refused(
        &mut obs,
        "ClearExpressions",
        json!({"source": 7}),
        "`source` must be a string",
    );
    refused(
        &mut obs,
        "SetLookAt",
        json!({"source": AVATAR, "yaw_deg": 400, "pitch_deg": 0}),
        "`yaw_deg`",
    );
    refused(&mut obs, "SetLookAt", json!({"source": AVATAR}), "missing");
    refused(
        &mut obs,
        "PlayAnimation",
        json!({"source": AVATAR, "file": missing}),
        "missing.vrma",
    );
    refused(
        &mut obs,
        "PlayAnimation",
        json!({"source": AVATAR, "file": godette.display().to_string()}),
        "not a VRM Animation",
    );
    refused(
        &mut obs,
        "PlayAnimation",
        json!({"source": AVATAR, "file": text.display().to_string()}),
        "cannot play",
    );
    refused(
        &mut obs,
        "PlayAnimation",
        json!({"source": AVATAR, "file": file, "loop": "yes"}),
        "`loop`",
    );
    refused(
        &mut obs,
        "LoadAvatar",
        json!({"source": AVATAR, "vrm_path": clip.display().to_string()}),
        "not a VRM",
    );
    refused(
        &mut obs,
        "LoadAvatar",
        json!({"source": AVATAR, "vrm_path": missing}),
        "missing.vrma",
    );
    refused(
        &mut obs,
        "LoadAvatar",
        json!({"source": AVATAR}),
        "`vrm_path`",
    );
    refused(&mut obs, "Calibrate", json!({"source": "Nobody"}), "Nobody");
    refused(
        &mut obs,
        "Speak",
        json!({"source": AVATAR, "file": godette.display().to_string()}),
        "3D model",
    );
    refused(
        &mut obs,
        "Speak",
        json!({"source": AVATAR, "file": text.display().to_string()}),
        "not a sound file",
    );
    refused(
        &mut obs,
        "Speak",
        json!({"source": AVATAR, "file": missing}),
        "missing.vrma",
    );
    refused(
        &mut obs,
        "StopSpeaking",
        json!({"source": 5}),
        "`source` must be a string",
    );
    let answer = obs.ws.request(
        "CallVendorRequest",
        json!({"vendorName": "obs-vrm-avatar", "requestType": "Dance", "requestData": {}}),
    );
    assert!(
        answer.is_err(),
        "an unknown request is refused by obs-websocket: {answer:?}"
    );
    let after = state(&mut obs);
    assert_eq!(after.get("animation"), before.get("animation"));
    assert_eq!(expression(&after, "happy"), expression(&before, "happy"));
    let avatars = ok(&mut obs, "GetAvatars", json!({}));
    assert_eq!(
        avatars["avatars"][0]["vrm_path"],
        broken.display().to_string(),
        "the setting is the user's"
    );

    // The CPU of an idle avatar under control (no tracker): OBS's whole process with the
    // avatar shown, then hidden (its renderer then sleeps), in the same run.
    let pid = obs.pid().unwrap();
    let stat = PathBuf::from(format!("/proc/{pid}/stat"));
    let cores = |seconds: u64| {
        let (cpu0, t0) = (cpu_seconds(&stat).unwrap(), Instant::now());
        std::thread::sleep(Duration::from_secs(seconds));
        (cpu_seconds(&stat).unwrap() - cpu0) / t0.elapsed().as_secs_f64()
    };
    let shown = cores(10);
    let item = obs
        .ws
        .request(
            "GetSceneItemId",
            json!({"sceneName": SCENE, "sourceName": AVATAR}),
        )
        .unwrap()["sceneItemId"]
        .clone();
    let enable = |obs: &mut ObsStudio, on: bool| {
        obs.ws
            .request(
                "SetSceneItemEnabled",
                json!({"sceneName": SCENE, "sceneItemId": item, "sceneItemEnabled": on}),
            )
            .unwrap();
    };
    enable(&mut obs, false);
    std::thread::sleep(Duration::from_secs(1));
    let hidden = cores(10);
    enable(&mut obs, true);
    eprintln!(
        "OBS process CPU with an idle controlled avatar (320x180, no tracking) shown / hidden: \
         {shown:.2} / {hidden:.2} cores; the avatar: {:.2} cores",
        shown - hidden
    );

    // TrackingChanged: a person found, and lost.
    obs.add_hidden_clip(
        SCENE,
        CAMERA,
        &testdata("people/video/face_and_thumbs_up.mp4"),
    )
    .unwrap();
    obs.set_input_settings(
        AVATAR,
        json!({"input_kind": "source", "input_source": CAMERA, "tracking_mode": "face"}),
    )
    .unwrap();
    let found = event(&mut events, "TrackingChanged", Duration::from_secs(120));
    assert_eq!(found, json!({"source": AVATAR, "tracking": true}));
    obs.set_input_settings(AVATAR, json!({"input_kind": "none"}))
        .unwrap();
    let lost = event(&mut events, "TrackingChanged", Duration::from_secs(30));
    assert_eq!(lost, json!({"source": AVATAR, "tracking": false}));

    events.close();
    obs.remove_input(CAMERA).unwrap();
    obs.quit_cleanly(Duration::from_secs(60))
        .expect("OBS quits cleanly");
}
