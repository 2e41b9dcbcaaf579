//! `vrm-avatar run INPUT ... --audio AUDIO` on a real clip and real speech made here with
//! `espeak-ng` and `sox` (`scripts/setup.sh` installs them): a vowel, a second of silence and
//! another vowel. The truth comes from how the speech was made and from `vrm-avatar lipsync`
//! (the same analysis): the MP4 carries that sound for exactly the video's length, and the
//! avatar's pixels change only while the voice is heard.
//! Timings: `cargo test --release --test run_audio -- --nocapture`.

mod speech;

use serde_json::Value;
use speech::tool;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// The test clip: 25 frames a second, with a (silent) sound track of its own.
fn video() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata/people/video/face_and_thumbs_up.mp4")
}

const FPS: f64 = 25.0;

/// A fresh folder for one test's inputs and outputs, next to the binary.
fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_vrm-avatar"))
        .parent()
        .unwrap()
        .join("run-audio-test")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn seconds_of(wav: &Path) -> f64 {
    tool("sox", &["--i", "-D", wav.to_str().unwrap()])
        .trim()
        .parse()
        .unwrap()
}

/// A sustained `a` (espeak-ng), and its length in seconds.
fn vowel(dir: &Path) -> (PathBuf, f64) {
    let wav = dir.join("vowel.wav");
    tool("espeak-ng", &["-w", wav.to_str().unwrap(), "[[a:]]"]);
    let seconds = seconds_of(&wav);
    (wav, seconds)
}

/// 0.2 s of silence, a vowel, 1 s of silence, the vowel again; and its length in seconds.
fn speech(dir: &Path) -> (PathBuf, f64) {
    let (vowel, _) = vowel(dir);
    let first = dir.join("first.wav");
    let wav = dir.join("speech.wav");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    tool("sox", &[&path(&vowel), &path(&first), "pad", "0.2", "1"]);
    tool("sox", &[&path(&first), &path(&vowel), &path(&wav)]);
    let seconds = seconds_of(&wav);
    (wav, seconds)
}

/// `vrm-avatar run VIDEO --default` at 320x180 for `frames` frames, and how long it took.
fn run(out: &Path, frames: u32, audio: Option<&Path>) -> Output {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"));
    cmd.arg("run")
        .arg(video())
        .args(["--default", "--width", "320", "--height", "180"]);
    cmd.args(["--max-frames", &frames.to_string()])
        .arg("--out")
        .arg(out);
    if let Some(audio) = audio {
        cmd.arg("--audio").arg(audio);
    }
    let output = cmd.output().unwrap();
    println!(
        "run {frames} frames -> {} ({}): {:.1} s",
        out.file_name().unwrap().to_string_lossy(),
        if audio.is_some() {
            "--audio"
        } else {
            "no --audio"
        },
        started.elapsed().as_secs_f64()
    );
    output
}

fn succeeded(output: &Output) {
    assert!(
        output.status.success(),
        "vrm-avatar run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// ffprobe's streams of `mp4` (frames counted) and its duration in seconds.
fn probe(mp4: &Path) -> (Vec<Value>, f64) {
    let text = tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            mp4.to_str().unwrap(),
        ],
    );
    let json: Value = serde_json::from_str(&text).unwrap();
    let seconds = |v: &Value| v["duration"].as_str().unwrap().parse::<f64>().unwrap();
    (
        json["streams"].as_array().unwrap().clone(),
        seconds(&json["format"]),
    )
}

fn streams_of<'a>(streams: &'a [Value], kind: &str) -> Vec<&'a Value> {
    streams.iter().filter(|s| s["codec_type"] == kind).collect()
}

/// The sound of `mp4`, mono at 48 kHz.
fn sound(mp4: &Path) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(mp4)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Loudness (dBFS, RMS) of `samples` between `from` and `to` seconds.
fn db(samples: &[f32], from: f64, to: f64) -> f64 {
    let part = &samples[(from * 48_000.0) as usize..(to * 48_000.0) as usize];
    let power = part.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / part.len() as f64;
    10.0 * power.max(1e-12).log10()
}

/// One video stream of `frames` H.264 frames and one AAC stream as long as the video.
fn check_mp4(mp4: &Path, frames: u32) -> Vec<f32> {
    let (streams, duration) = probe(mp4);
    let video = streams_of(&streams, "video");
    let audio = streams_of(&streams, "audio");
    assert_eq!((video.len(), audio.len()), (1, 1), "{streams:#?}");
    assert_eq!(video[0]["codec_name"], "h264");
    assert_eq!(video[0]["nb_read_frames"], frames.to_string());
    assert_eq!(audio[0]["codec_name"], "aac");
    let video_s = frames as f64 / FPS;
    let audio_s: f64 = audio[0]["duration"].as_str().unwrap().parse().unwrap();
    println!("{frames} frames ({video_s:.3} s): sound {audio_s:.3} s, file {duration:.3} s");
    // Never shorter than the video; longer by at most two AAC blocks of 1024 samples (46 ms
    // each at espeak's 22.05 kHz), where ffmpeg's `-shortest` stops.
    for (what, s) in [("sound", audio_s), ("file", duration)] {
        assert!(
            s > video_s - 0.01 && s < video_s + 0.1,
            "the {what} lasts {s:.3} s, the video {video_s:.3} s"
        );
    }
    sound(mp4)
}

#[test]
fn an_mp4_carries_the_voice_for_the_length_of_the_video() {
    let dir = out_dir("mp4");
    let (speech, speech_s) = speech(&dir);
    let (vowel, vowel_s) = vowel(&dir);
    // Longer than the video: cut where the video ends.
    let frames = 50;
    assert!(
        speech_s > frames as f64 / FPS + 0.2,
        "speech {speech_s:.2} s"
    );
    let mp4 = dir.join("speech.mp4");
    succeeded(&run(&mp4, frames, Some(&speech)));
    let sound = check_mp4(&mp4, frames);
    // It is AUDIO's sound (INPUT's own is silent): loud in the first vowel, silent in the pause,
    // loud again in the second vowel (from 1.2 s + the vowel).
    let second = 1.2 + vowel_s;
    let (loud, pause, again) = (
        db(&sound, 0.3, 0.1 + vowel_s),
        db(&sound, 0.3 + vowel_s, second - 0.1),
        db(&sound, second + 0.05, frames as f64 / FPS - 0.02),
    );
    println!("sound: vowel {loud:.1} dB, pause {pause:.1} dB, vowel {again:.1} dB");
    assert!(loud > -35.0 && again > -35.0 && pause < -70.0);

    // Shorter than the video: silence follows.
    let frames = 25;
    assert!(vowel_s < frames as f64 / FPS - 0.3, "vowel {vowel_s:.2} s");
    let mp4 = dir.join("vowel.mp4");
    succeeded(&run(&mp4, frames, Some(&vowel)));
    let sound = check_mp4(&mp4, frames);
    let (loud, after) = (
        db(&sound, 0.1, vowel_s - 0.1),
        db(&sound, vowel_s + 0.1, frames as f64 / FPS - 0.05),
    );
    println!("sound: vowel {loud:.1} dB, after it {after:.1} dB");
    assert!(loud > -35.0 && after < -70.0);

    // Without --audio, no sound: INPUT's own track is not used.
    let mp4 = dir.join("silent.mp4");
    succeeded(&run(&mp4, 5, None));
    let (streams, _) = probe(&mp4);
    assert_eq!(streams.len(), 1, "{streams:#?}");
    assert_eq!(streams[0]["codec_type"], "video");
}

/// The mouth frames `vrm-avatar lipsync` gives `audio`: (end ms, openness).
fn lipsync(audio: &Path) -> Vec<(f64, f64)> {
    let out = audio.with_extension("visemes.json");
    let status = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .arg("lipsync")
        .arg(audio)
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    json["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["t_ms"].as_f64().unwrap(), f["open"].as_f64().unwrap()))
        .collect()
}

/// Drawn pixels that differ between two PNG frames.
fn differing_pixels(a: &Path, b: &Path) -> usize {
    let (a, b) = (image::open(a).unwrap(), image::open(b).unwrap());
    let (a, b) = (a.to_rgba8(), b.to_rgba8());
    a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count()
}

#[test]
fn the_voice_moves_the_avatar_only_while_it_is_heard() {
    let dir = out_dir("frames");
    let (speech, _) = speech(&dir);
    let frames = 50;
    let (with, without) = (dir.join("with"), dir.join("without"));
    succeeded(&run(&with, frames, Some(&speech)));
    succeeded(&run(&without, frames, None));
    let mouth = lipsync(&speech);
    let (mut heard, mut unheard) = (0, 0);
    for i in 0..frames {
        let t_ms = i as f64 * 1000.0 / FPS;
        let name = format!("frame_{i:05}.png");
        let changed = differing_pixels(&with.join(&name), &without.join(&name));
        // The voice's last frame by then, and whether any loud frame was near (the source holds
        // a voice 600 ms after its last loud frame; its hand-back takes 60 ms more).
        let now = mouth.iter().rev().find(|(end, _)| *end <= t_ms);
        let open_now = now.is_some_and(|(_, open)| *open > 0.5);
        let near = mouth
            .iter()
            .any(|(end, open)| *open > 0.1 && *end <= t_ms && t_ms - end < 700.0);
        println!(
            "frame {i:2} ({t_ms:4} ms): voice open {open_now:5}, near {near:5}: {changed} pixels differ"
        );
        if open_now {
            assert!(
                changed > 0,
                "frame {i}: the open voice did not move the avatar"
            );
            heard += 1;
        } else if !near {
            assert_eq!(
                changed, 0,
                "frame {i}: no voice heard, yet the avatar differs"
            );
            unheard += 1;
        }
    }
    // Both kinds of frames were checked: the speech has vowels and silence in the video's time.
    assert!(
        heard >= 5 && unheard >= 10,
        "heard {heard}, unheard {unheard}"
    );
}

#[test]
fn a_bad_audio_file_fails_before_anything_is_written() {
    let dir = out_dir("bad");
    // No such file, and a file with no sound (a picture).
    let missing = dir.join("missing.wav");
    let picture = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata/people/images/portrait.jpg");
    for (audio, why) in [(&missing, "no such file"), (&picture, "no sound")] {
        let mp4 = dir.join("out.mp4");
        let output = run(&mp4, 5, Some(audio));
        let stderr = String::from_utf8_lossy(&output.stderr);
        println!("{}: {stderr}", audio.display());
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("no error line: {stderr}"));
        assert!(
            line.contains("--audio")
                && line.contains(&*audio.to_string_lossy())
                && line.contains(why),
            "{line}"
        );
        assert!(!mp4.exists(), "an MP4 was left behind");
    }
}
