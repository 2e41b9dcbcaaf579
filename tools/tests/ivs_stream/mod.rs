//! What `ivs_obs_e2e`'s local ingest received, checked with ffprobe against every IVS ingest
//! rule (a module of that test, kept apart to keep the test file short).

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ffprobe_json(args: &[&str], file: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {args:?}: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn number(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or(v.as_f64())
        .unwrap_or(f64::NAN)
}

/// `num/den` of ffprobe's frame rates.
fn rate(v: &Value) -> f64 {
    let (n, d) = v.as_str().unwrap().split_once('/').unwrap();
    n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap()
}

/// Every IVS ingest rule, checked on what the local ingest received.
pub fn check_received_stream(file: &Path, seconds: u64) {
    let streams = ffprobe_json(&["-show_streams"], file);
    let streams = streams["streams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream");
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .expect("an audio stream (RTMP needs both)");

    assert_eq!(video["codec_name"], "h264");
    let profile = video["profile"].as_str().unwrap();
    assert!(profile.contains("Baseline"), "H.264 profile {profile}");
    assert_eq!(video["has_b_frames"], 0);
    let (w, h) = (
        video["width"].as_u64().unwrap(),
        video["height"].as_u64().unwrap(),
    );
    assert!(
        w.max(h) <= 1280 && w.min(h) <= 720 && w.min(h) >= 160,
        "{w}x{h}"
    );
    let fps = rate(&video["avg_frame_rate"]);
    assert!((10.0..=60.0).contains(&fps), "{fps} fps");

    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["profile"], "LC");
    let sample_rate = number(&audio["sample_rate"]) as u32;
    assert!(matches!(sample_rate, 44100 | 48000), "{sample_rate} Hz");
    let channels = audio["channels"].as_u64().unwrap();
    assert!((1..=2).contains(&channels), "{channels} channels");

    let packets = ffprobe_json(
        &[
            "-show_entries",
            "packet=codec_type,pts_time,dts_time,size,flags",
        ],
        file,
    );
    let packets = packets["packets"].as_array().unwrap();
    let of = |kind: &str| {
        packets
            .iter()
            .filter(|p| p["codec_type"] == kind)
            .collect::<Vec<_>>()
    };
    let (video_packets, audio_packets) = (of("video"), of("audio"));
    let span = |ps: &[&Value]| number(&ps.last().unwrap()["pts_time"]) - number(&ps[0]["pts_time"]);
    let bits = |ps: &[&Value]| ps.iter().map(|p| number(&p["size"])).sum::<f64>() * 8.0;
    let video_span = span(&video_packets);
    let audio_span = span(&audio_packets);
    assert!(
        video_span >= (seconds - 4) as f64,
        "{video_span:.1} s of video"
    );
    assert!(
        audio_span >= (seconds - 4) as f64,
        "{audio_span:.1} s of audio"
    );

    let keyframes: Vec<f64> = video_packets
        .iter()
        .filter(|p| p["flags"].as_str().unwrap().starts_with('K'))
        .map(|p| number(&p["pts_time"]))
        .collect();
    assert!(keyframes.len() >= 5, "keyframes at {keyframes:?}");
    let widest = keyframes
        .windows(2)
        .map(|k| k[1] - k[0])
        .fold(0.0, f64::max);
    assert!(
        widest <= 2.05,
        "an IDR every 1-2 s; widest gap {widest:.2} s in {keyframes:?}"
    );
    // No reordering: every video packet's pts equals its dts (B-frames would need reordering).
    for p in &video_packets {
        assert_eq!(number(&p["pts_time"]), number(&p["dts_time"]), "packet {p}");
    }
    let video_kbps = bits(&video_packets) / video_span / 1000.0;
    let audio_kbps = bits(&audio_packets) / audio_span / 1000.0;
    assert!(video_kbps <= 8500.0, "video {video_kbps:.0} kbps");
    assert!(
        (40.0..=160.0 * 1.05).contains(&audio_kbps),
        "audio {audio_kbps:.0} kbps (a tone at CBR 160; silence would be ~2)"
    );

    let frames = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pict_type",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .unwrap();
    let types = String::from_utf8_lossy(&frames.stdout);
    assert!(
        types.lines().count() as f64 >= video_span * 10.0,
        "decoded frames: {}",
        types.lines().count()
    );
    assert!(
        !types.lines().any(|t| t.trim() == "B"),
        "a B-frame in the stream"
    );
    eprintln!(
        "received {w}x{h} {profile} {fps:.1} fps, keyframes {widest:.2} s apart at most, video {video_kbps:.0} kbps, \
         AAC {sample_rate} Hz {channels} ch {audio_kbps:.0} kbps, {video_span:.1} s"
    );
}
