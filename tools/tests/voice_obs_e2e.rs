//! Lip sync in real OBS (Debian's OBS 29 under Xvfb): a media source plays speech made here
//! (espeak-ng phrases with pauses, noise 20 dB below), a VRM Avatar source uses it as its voice,
//! and the `GetState` vendor request, sampled against the media cursor, must show the mouth
//! open while the clip speaks and shut in its pauses; muting the source, `mouth` = camera,
//! renaming and removing the source each do what they say; with a person tracked from a clip
//! as well, `auto` hands the mouth to the voice while it is heard. Prints the voice-to-mouth
//! delay (the README's figures): `cargo test --release --test voice_obs_e2e -- --nocapture`.

mod speech;

use obs_vrm_avatar::voice::LipSync;
use serde_json::{Value, json};
use speech::{HOP, RATE, phrases_with_pauses, with_noise, write_wav};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use vrm_avatar_tools::launcher::{LaunchOptions, ObsStudio, PluginFiles, retry_on_known_obs_fault};

const SCENE: &str = "Voice Scene";
const VOICE: &str = "Voice";
const CAMERA: &str = "Camera Clip";
const AVATAR: &str = "My Avatar";
/// Silence between the phrases.
const PAUSE_MS: usize = 1500;

fn dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let dir = dir.join("voice-obs-e2e").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn testdata(path: &str) -> String {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata")
        .join(path)
        .canonicalize()
        .unwrap()
        .display()
        .to_string()
}

/// One sample: the media cursor (ms into the clip, the mean of before and after the request),
/// and what `GetState` said.
struct Sample {
    cursor_ms: f64,
    at: Instant,
    open: f64,
    speaking: bool,
}

fn state(obs: &mut ObsStudio, data: Value) -> Value {
    obs.ws
        .request(
            "CallVendorRequest",
            json!({"vendorName": "obs-vrm-avatar", "requestType": "GetState", "requestData": data}),
        )
        .unwrap()["responseData"]
        .clone()
}

fn cursor(obs: &mut ObsStudio) -> Option<f64> {
    obs.ws
        .request("GetMediaInputStatus", json!({"inputName": VOICE}))
        .ok()?["mediaCursor"]
        .as_f64()
}

/// `GetState` every 30 ms or so, for `seconds` (faster would take the CPU from OBS).
fn sample(obs: &mut ObsStudio, seconds: f64) -> Vec<Sample> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut out = Vec::new();
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(25));
        let before = cursor(obs);
        let state = state(obs, json!({"source": AVATAR}));
        let after = cursor(obs);
        assert_eq!(state["ok"], true, "{state}");
        if let (Some(a), Some(b)) = (before, after)
            && b >= a
        {
            out.push(Sample {
                cursor_ms: (a + b) / 2.0,
                at: Instant::now(),
                open: state["mouth"]["open"].as_f64().unwrap(),
                speaking: state["speaking"].as_bool().unwrap(),
            });
        }
    }
    out
}

/// Samples whose cursor lies in `from..to` (ms).
fn within(samples: &[Sample], from: f64, to: f64) -> impl Iterator<Item = &Sample> {
    samples
        .iter()
        .filter(move |s| s.cursor_ms >= from && s.cursor_ms < to)
}

/// Pearson correlation of the sampled openness with `expected` `lag_ms` before each sample's
/// cursor.
fn correlation(samples: &[Sample], expected: &[f32], lag_ms: f64) -> f64 {
    let pairs: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| {
            let k = ((s.cursor_ms - lag_ms) / 10.0).floor() - 1.0;
            let e = (k >= 0.0).then(|| expected.get(k as usize)).flatten()?;
            Some((s.open, *e as f64))
        })
        .collect();
    let n = pairs.len() as f64;
    let (ma, mb) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = pairs.iter().map(|(a, b)| (a - ma) * (b - mb)).sum();
    let va: f64 = pairs.iter().map(|(a, _)| (a - ma).powi(2)).sum();
    let vb: f64 = pairs.iter().map(|(_, b)| (b - mb).powi(2)).sum();
    cov / (va * vb).sqrt().max(1e-9)
}

/// The lag (ms) that best lines the sampled openness up with `expected` (the same analysis
/// offline, frame k ending at (k + 1) * 10 ms): how long the mouth trails the sound.
fn best_lag(samples: &[Sample], expected: &[f32]) -> f64 {
    let error = |lag: f64| {
        let (sum, n) = samples.iter().fold((0.0, 0), |(sum, n), s| {
            let k = ((s.cursor_ms - lag) / 10.0).floor() - 1.0;
            match (k >= 0.0).then(|| expected.get(k as usize)).flatten() {
                Some(e) => (sum + (s.open - *e as f64).powi(2), n + 1),
                None => (sum, n),
            }
        });
        sum / n.max(1) as f64
    };
    (-300..=600)
        .step_by(5)
        .map(|lag| lag as f64)
        .min_by(|a, b| error(*a).total_cmp(&error(*b)))
        .unwrap()
}

/// For each phrase onset the sampling passed, how far past it the cursor was when the mouth
/// was first seen open (ms).
fn onset_delays(samples: &[Sample], onsets_ms: &[f64]) -> Vec<f64> {
    let mut delays = Vec::new();
    for pair in samples.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        for &onset in onsets_ms {
            // b's cursor passes the onset (within one play of the clip).
            if a.cursor_ms < onset && b.cursor_ms >= onset {
                let opened = samples
                    .iter()
                    .skip_while(|s| s.at < b.at)
                    .take_while(|s| s.cursor_ms >= onset - 1.0 && s.cursor_ms < onset + 1000.0)
                    .find(|s| s.open > 0.2);
                if let Some(s) = opened {
                    delays.push(s.cursor_ms - onset);
                }
            }
        }
    }
    delays
}

fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// "mean M, p50 P, p95 Q ms (N)" of `values` (ms).
fn summary(values: &[f64]) -> String {
    if values.is_empty() {
        return "none".into();
    }
    format!(
        "mean {:.0}, p50 {:.0}, p95 {:.0} ms ({})",
        values.iter().sum::<f64>() / values.len() as f64,
        quantile(values, 0.5),
        quantile(values, 0.95),
        values.len()
    )
}

#[test]
fn a_media_sources_voice_moves_the_mouth_in_real_obs() {
    retry_on_known_obs_fault(
        "a_media_sources_voice_moves_the_mouth_in_real_obs",
        a_media_sources_voice_moves_the_mouth_in_real_obs_once,
    );
}

fn a_media_sources_voice_moves_the_mouth_in_real_obs_once() {
    let work = dir("speech");
    let phrases = [
        ("en-us", "Hello everyone, welcome back to the stream."),
        ("ja", "こんにちは、みなさん。"),
        ("en-us+f3", "Today we are going to build something new."),
    ];
    let (clean, stretches) = phrases_with_pauses(&work, &phrases, PAUSE_MS);
    let (noisy, _) = with_noise(&clean, 20.0);
    let wav = write_wav(&work, "voice", &noisy, RATE as u32, 1);
    let clip_ms = (noisy.len() / HOP * 10) as f64;
    let expected: Vec<f32> = LipSync::analyse(RATE as u32, &noisy)
        .iter()
        .map(|m| m.open)
        .collect();
    let stretches_ms: Vec<(f64, f64)> = stretches
        .iter()
        .map(|&(a, b)| (a as f64 * 10.0, b as f64 * 10.0))
        .collect();

    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let plugin = PluginFiles::with_checkout(target.join("libobs_vrm_avatar.so"));
    let home = target.join("voice-obs-e2e").join("obs");
    let _ = std::fs::remove_dir_all(&home);
    let mut obs = ObsStudio::start(&LaunchOptions::headless_720p30(&home, plugin)).unwrap();
    assert!(
        obs.wait_for_log("control API: vendor", Duration::from_secs(30)),
        "the vendor is registered with obs-websocket; log:\n{}",
        obs.log_text()
    );
    // The avatar first, its voice source after: it is looked for until it is there.
    obs.create_avatar_scene(
        SCENE,
        AVATAR,
        // Small, so that this slow software renderer mixes and draws often enough to see
        // the mouth move (the mouth is mixed once per frame drawn).
        json!({"input_kind": "none", "voice_source": VOICE, "mouth": "auto",
               "width": 320, "height": 180}),
    )
    .unwrap();
    obs.ws
        .request(
            "CreateInput",
            json!({"sceneName": SCENE, "inputName": VOICE, "inputKind": "ffmpeg_source",
                   "inputSettings": {"local_file": wav.display().to_string(), "looping": true}}),
        )
        .unwrap();
    assert!(
        obs.wait_for_log("hearing the voice of 'Voice'", Duration::from_secs(20)),
        "log:\n{}",
        obs.log_text()
    );
    obs.wait_for_drawn(AVATAR, 5_000, Duration::from_secs(60))
        .unwrap();

    // The contract's fields (OBS data has no null: a null one is absent), and clear errors.
    let first = state(&mut obs, json!({"source": AVATAR}));
    for key in ["expressions", "mouth", "speaking", "tracking_fps", "pose"] {
        assert!(first.get(key).is_some(), "GetState has {key}: {first}");
    }
    assert!(first.get("animation").is_none(), "no animation: {first}");
    let pose: obs_vrm_avatar::pose::AvatarPose =
        serde_json::from_str(first["pose"].as_str().unwrap()).unwrap();
    assert!(pose.rotation("head").is_some(), "{first}");
    let missing = state(&mut obs, json!({"source": "Nobody"}));
    assert_eq!(missing["ok"], false);
    assert!(missing["error"].as_str().unwrap().contains("Nobody"));
    assert_eq!(state(&mut obs, json!({"name": AVATAR}))["ok"], false);
    assert_eq!(state(&mut obs, json!({"source": VOICE}))["ok"], false);

    // Two plays of the clip.
    let samples = sample(&mut obs, 2.0 * clip_ms / 1000.0 + 1.0);
    let t0 = samples[0].at;
    let table: String = samples
        .iter()
        .map(|s| {
            format!(
                "{:.0} {:.1} {:.3} {}\n",
                (s.at - t0).as_secs_f64() * 1000.0,
                s.cursor_ms,
                s.open,
                s.speaking
            )
        })
        .collect();
    std::fs::write(work.join("samples.txt"), table).unwrap();
    let interval = samples
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_secs_f64() * 1000.0)
        .sum::<f64>()
        / (samples.len() - 1) as f64;
    // The checks below look at the sound plus the delay measured here (bounded after).
    let lag = best_lag(&samples, &expected);
    assert!(lag.abs() < 300.0, "the mouth trails the sound by {lag} ms");
    let mut next_start = stretches_ms.iter().skip(1).map(|s| s.0).collect::<Vec<_>>();
    next_start.push(clip_ms + stretches_ms[0].0);
    for (i, (&(start, end), &next)) in stretches_ms.iter().zip(&next_start).enumerate() {
        let spoken: Vec<&Sample> =
            within(&samples, start + lag + 150.0, end + lag - 50.0).collect();
        let widest = spoken.iter().map(|s| s.open).fold(0.0, f64::max);
        let heard = spoken.iter().filter(|s| s.speaking).count();
        assert!(
            spoken.len() >= 5 && widest > 0.4 && heard * 10 >= spoken.len() * 9,
            "phrase {i} ({start}..{end} ms): {} samples, widest {widest:.2}, {heard} speaking",
            spoken.len()
        );
        let pause: Vec<&Sample> = within(
            &samples,
            end + lag + 250.0,
            next.min(clip_ms) + lag.min(0.0) - 100.0,
        )
        .collect();
        let widest = pause.iter().map(|s| s.open).fold(0.0, f64::max);
        assert!(
            pause.len() >= 5 && widest < 0.05,
            "shut in the pause after phrase {i}: {} samples, widest {widest:.2}",
            pause.len()
        );
        let late: Vec<&Sample> = within(
            &samples,
            end + lag + 900.0,
            next.min(clip_ms) + lag.min(0.0) - 100.0,
        )
        .collect();
        assert!(
            late.iter().all(|s| !s.speaking),
            "not speaking late in the pause after phrase {i}"
        );
    }
    let onsets: Vec<f64> = stretches_ms.iter().map(|s| s.0).collect();
    let delays = onset_delays(&samples, &onsets);
    let voice_corr = correlation(&samples, &expected, lag);
    eprintln!(
        "voice-to-mouth in OBS: best-fit lag {lag:.0} ms over {} samples (one every {interval:.0} ms); \
         delay from each phrase's onset to the mouth open: {} (includes up to one sample interval); \
         correlation with the offline analysis {voice_corr:.2}",
        samples.len(),
        summary(&delays),
    );
    assert!(delays.len() >= 3, "onsets seen: {delays:?}");
    assert!(
        voice_corr > 0.6,
        "the mouth follows the sound: correlation {voice_corr:.2}"
    );

    // Muted: the mouth stays shut while the clip goes on.
    obs.ws
        .request(
            "SetInputMute",
            json!({"inputName": VOICE, "inputMuted": true}),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let muted = sample(&mut obs, 5.0);
    let widest = muted.iter().map(|s| s.open).fold(0.0, f64::max);
    assert!(widest < 0.05, "muted: widest {widest:.2}");
    obs.ws
        .request(
            "SetInputMute",
            json!({"inputName": VOICE, "inputMuted": false}),
        )
        .unwrap();

    // mouth = camera, with no camera: the voice is heard (speaking) but moves nothing.
    obs.set_input_settings(AVATAR, json!({"mouth": "camera"}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let camera_only = sample(&mut obs, 5.0);
    let widest = camera_only.iter().map(|s| s.open).fold(0.0, f64::max);
    assert!(
        camera_only.iter().any(|s| s.speaking) && widest < 0.05,
        "mouth = camera ignores the voice: widest {widest:.2}"
    );

    // A person tracked from a clip as well: auto hands the mouth to the voice while it is
    // heard (the mouth follows the sound as before); camera takes it back (it does not).
    obs.add_hidden_clip(
        SCENE,
        CAMERA,
        std::path::Path::new(&testdata("people/video/face_and_thumbs_up.mp4")),
    )
    .unwrap();
    obs.set_input_settings(AVATAR,
        json!({"mouth": "auto", "input_kind": "source", "input_source": CAMERA, "tracking_mode": "face"}),
    ).unwrap();
    let tracking = Instant::now() + Duration::from_secs(90);
    while state(&mut obs, json!({"source": AVATAR}))["tracking_fps"]
        .as_f64()
        .unwrap_or(0.0)
        <= 0.0
    {
        assert!(
            Instant::now() < tracking,
            "tracking starts; log:\n{}",
            obs.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let auto = sample(&mut obs, clip_ms / 1000.0 + 1.0);
    obs.set_input_settings(AVATAR, json!({"mouth": "camera"}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let camera = sample(&mut obs, clip_ms / 1000.0 + 1.0);
    let (auto_corr, camera_corr) = (
        correlation(&auto, &expected, lag),
        correlation(&camera, &expected, lag),
    );
    // Side by side in the same OBS: the voice's delay with the tracker busy, and the camera's
    // own camera-to-texture latency (the source's last log line of it).
    let log = obs.log_text();
    let camera_line = log
        .lines()
        .rev()
        .find(|l| l.contains("camera-to-texture latency p50"))
        .unwrap_or("")
        .to_string();
    let camera_p50 = camera_line
        .split("latency p50 ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let tracked_delays = onset_delays(&auto, &onsets);
    eprintln!(
        "with a person tracked: mouth correlation with the voice {auto_corr:.2} (auto), {camera_corr:.2} (camera); \
         voice: best-fit lag {:.0} ms, onset delay {}; camera: {camera_line}; \
         camera p50 / voice p50 = {:.1}",
        best_lag(&auto, &expected),
        summary(&tracked_delays),
        camera_p50
            / tracked_delays
                .first()
                .map_or(f64::NAN, |_| quantile(&tracked_delays, 0.5)),
    );
    assert!(
        auto_corr > 0.6 && camera_corr < 0.4,
        "auto follows the voice ({auto_corr:.2}), camera does not ({camera_corr:.2})"
    );
    obs.set_input_settings(AVATAR, json!({"mouth": "auto", "input_kind": "none"}))
        .unwrap();

    // Renamed: let go (the setting still names the old one); named back: heard again.
    let from = obs.log_text().len();
    obs.ws
        .request(
            "SetInputName",
            json!({"inputName": VOICE, "newInputName": "Voice 2"}),
        )
        .unwrap();
    assert!(
        obs.wait_for_log_since(
            from,
            "the voice source 'Voice' is gone",
            Duration::from_secs(10)
        ),
        "log:\n{}",
        obs.log_text()
    );
    let from = obs.log_text().len();
    obs.ws
        .request(
            "SetInputName",
            json!({"inputName": "Voice 2", "newInputName": VOICE}),
        )
        .unwrap();
    assert!(
        obs.wait_for_log_since(
            from,
            "hearing the voice of 'Voice'",
            Duration::from_secs(10)
        ),
        "log:\n{}",
        obs.log_text()
    );
    assert!(
        obs.wait_for_log("lip sync: ", Duration::from_secs(40)),
        "the analysis logs its cost; log:\n{}",
        obs.log_text()
    );
    let log = obs.log_text();
    let cost_line = log
        .lines()
        .rev()
        .find(|l| l.contains("lip sync: "))
        .unwrap_or("")
        .to_string();
    eprintln!("{cost_line}");

    // Removed: let go, and OBS quits cleanly.
    let from = obs.log_text().len();
    obs.remove_input(VOICE).unwrap();
    obs.remove_input(CAMERA).unwrap();
    assert!(
        obs.wait_for_log_since(
            from,
            "the voice source 'Voice' is gone",
            Duration::from_secs(10)
        ),
        "log:\n{}",
        obs.log_text()
    );
    assert_eq!(
        state(&mut obs, json!({"source": AVATAR}))["speaking"],
        false
    );
    obs.quit_cleanly(Duration::from_secs(60))
        .expect("OBS quits cleanly");
}
