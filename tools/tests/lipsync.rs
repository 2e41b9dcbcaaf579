//! `vrm-avatar lipsync` on real speech made here with `espeak-ng` and `sox` (Debian packages
//! that `scripts/setup.sh` installs): sustained vowels in several voices and two languages, and
//! sentences with pauses over noise 20 dB below the speech. The truth comes from how each
//! clip was made (which vowel, where the pauses are) and from the clean speech's own loudness.
//! Figures: `cargo test --release --test lipsync -- --nocapture`.

mod speech;

use serde_json::Value;
use speech::{HOP, RATE, db, phrases_with_pauses, speak, with_noise, write_wav};
use std::path::{Path, PathBuf};
use std::process::Command;

fn out_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let dir = dir.join("lipsync-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The mouth frames `vrm-avatar lipsync` gives `audio`.
fn lipsync(audio: &Path) -> Vec<Value> {
    let out = audio.with_extension("visemes.json");
    let run = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .arg("lipsync")
        .arg(audio)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success() && run.stdout.is_empty(),
        "vrm-avatar lipsync: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(json["hop_ms"], 10);
    json["frames"].as_array().unwrap().clone()
}

fn open(frame: &Value) -> f64 {
    frame["open"].as_f64().unwrap()
}

const VISEMES: [&str; 5] = ["aa", "ih", "ou", "ee", "oh"];

#[test]
fn sustained_vowels_show_their_viseme_in_several_voices_and_languages() {
    let dir = out_dir("vowels");
    // Japanese (VRM's visemes are its vowels) and Spanish (the same five), each in espeak-ng's
    // own voice and a lower and a higher variant.
    let words = [
        ("ja", ["あ", "い", "う", "え", "お"]),
        ("es", ["a", "i", "u", "e", "o"]),
    ];
    let mut report = Vec::new();
    let mut worst: f64 = 1.0;
    for (language, vowels) in words {
        for variant in ["", "+m3", "+f3"] {
            let voice = format!("{language}{variant}");
            for (i, vowel) in vowels.iter().enumerate() {
                let name = format!("{voice}-{}", VISEMES[i]);
                // After half a second of silence, as a microphone's stream has before one speaks.
                let mut samples = vec![0.0; RATE / 2];
                samples.extend(speak(&dir, &name, &voice, 60, vowel));
                let frames = lipsync(&write_wav(&dir, &name, &samples, 48_000, 1));
                let spoken: Vec<&Value> = frames.iter().filter(|f| open(f) > 0.3).collect();
                assert!(
                    spoken.len() >= 20,
                    "{name}: the mouth opens for the vowel ({} frames)",
                    spoken.len()
                );
                let right = spoken
                    .iter()
                    .filter(|f| {
                        VISEMES
                            .iter()
                            .all(|v| f[*v].as_f64() <= f[VISEMES[i]].as_f64())
                    })
                    .count() as f64
                    / spoken.len() as f64;
                report.push(format!("{name} {:.0}%", right * 100.0));
                worst = worst.min(right);
                assert!(
                    right >= 0.8,
                    "{name}: {} leads in {:.0}% of the open frames",
                    VISEMES[i],
                    right * 100.0
                );
            }
        }
    }
    eprintln!(
        "the right viseme leads (share of open frames): {}; worst {:.0}%",
        report.join(", "),
        worst * 100.0
    );
}

#[test]
fn the_mouth_opens_in_every_phrase_and_shuts_in_pauses_over_noise_20_db_down() {
    let dir = out_dir("sentences");
    let phrases = [
        ("en-us", "Hello everyone, welcome back to the stream."),
        ("en-us+f3", "Today we are going to build something new."),
        ("ja", "こんにちは、みなさん。"),
        ("es+m3", "Buenas noches a todos."),
    ];
    // Phrases with 700 ms of silence before, between and after them, and noise 20 dB below
    // the speech.
    let (clean, stretches) = phrases_with_pauses(&dir, &phrases, 700);
    let (noisy, speech_db) = with_noise(&clean, 20.0);
    eprintln!(
        "speech at {speech_db:.1} dBFS, noise at {:.1} dBFS",
        db(&noisy[..RATE / 2])
    );
    // Also as 44.1 kHz stereo: OBS's other common format.
    for (name, rate, channels) in [("noisy48", 48_000, 1), ("noisy44", 44_100, 2)] {
        let frames = lipsync(&write_wav(&dir, name, &noisy, rate, channels));
        let at = |k: usize| frames.get(k).map_or(0.0, open);
        let mut onset_ms = Vec::new();
        let mut previous_end = 0;
        for (i, &(start, end)) in stretches.iter().enumerate() {
            // Shut in the pause before the phrase, from 150 ms after the last one ended.
            let quiet = (previous_end + 15..start).map(at).fold(0.0, f64::max);
            assert!(
                quiet < 0.1,
                "{name}: the mouth opens to {quiet} in the pause before phrase {i}"
            );
            previous_end = end;
            // Open while it is spoken: most of its loud 10 ms stretches, and wide at least once.
            let loud: Vec<usize> = (start..end)
                .filter(|&k| db(&clean[k * HOP..(k + 1) * HOP]) > speech_db - 15.0)
                .collect();
            let opened = loud.iter().filter(|&&k| at(k) > 0.2).count() as f64 / loud.len() as f64;
            let widest = (start..end).map(at).fold(0.0, f64::max);
            assert!(
                opened >= 0.8 && widest > 0.6,
                "{name}: phrase {i} opens the mouth in {:.0}% of its loud stretches, {widest} at most",
                opened * 100.0
            );
            // Followed at once: the first stretch as loud as a vowel (within 6 dB of the
            // speech's level; a plosive's burst before it does not open a mouth) opens the
            // mouth within 30 ms.
            let first = (start..end)
                .find(|&k| db(&clean[k * HOP..(k + 1) * HOP]) > speech_db - 6.0)
                .unwrap();
            let k = (first..first + 20)
                .find(|&k| at(k) > 0.3)
                .unwrap_or(first + 20);
            onset_ms.push((k - first) * 10);
            assert!(
                k - first <= 3,
                "{name}: phrase {i}'s onset opens the mouth {} ms late",
                (k - first) * 10
            );
        }
        let tail = (previous_end + 15..frames.len())
            .map(at)
            .fold(0.0, f64::max);
        assert!(
            tail < 0.1,
            "{name}: the mouth opens to {tail} after the last phrase"
        );
        eprintln!("{name}: onset to open mouth {onset_ms:?} ms");
    }
}

#[test]
fn a_file_without_sound_is_one_clear_error() {
    let dir = out_dir("errors");
    let vrm = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/vrm/vrm0/Godette_vrm_v4.vrm"
    ));
    for input in [vrm, dir.join("missing.wav")] {
        let out = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
            .arg("lipsync")
            .arg(&input)
            .arg("--out")
            .arg(dir.join("out.json"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.lines().count() == 1,
            "{stderr}"
        );
        assert!(!dir.join("out.json").exists());
    }
}
