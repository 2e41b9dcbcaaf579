//! Speech made here for the voice tests: `espeak-ng` and `sox` (Debian packages that
//! `scripts/setup.sh` installs), as mono float samples at 48 kHz.

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;

pub const RATE: usize = 48_000;
/// Frames of 10 ms.
pub const HOP: usize = RATE / 100;

/// Runs `program` (a Debian tool) and returns what it printed; any failure fails the test.
pub fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (scripts/setup.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `text` spoken by espeak-ng's `voice` at `speed` words a minute, as mono float samples at 48 kHz.
pub fn speak(dir: &Path, name: &str, voice: &str, speed: u32, text: &str) -> Vec<f32> {
    let wav = dir.join(format!("{name}.wav"));
    let raw = dir.join(format!("{name}.raw"));
    let speed = speed.to_string();
    tool(
        "espeak-ng",
        &["-v", voice, "-s", &speed, "-w", wav.to_str().unwrap(), text],
    );
    let mut args = vec![wav.to_str().unwrap()];
    args.extend(RAW_F32);
    args.push(raw.to_str().unwrap());
    tool("sox", &args);
    read_raw(&raw)
}

/// sox's words for the raw files here: mono 32-bit float at 48 kHz.
pub const RAW_F32: [&str; 10] = [
    "-t",
    "raw",
    "-r",
    "48000",
    "-c",
    "1",
    "-e",
    "floating-point",
    "-b",
    "32",
];

pub fn read_raw(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// `samples` as a WAV file (through sox), at `rate` Hz and `channels` channels.
pub fn write_wav(dir: &Path, name: &str, samples: &[f32], rate: u32, channels: u32) -> PathBuf {
    let raw = dir.join(format!("{name}.f32"));
    let wav = dir.join(format!("{name}.wav"));
    let bytes: Vec<u8> = samples.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(&raw, bytes).unwrap();
    let (rate, channels) = (rate.to_string(), channels.to_string());
    let mut args = RAW_F32.to_vec();
    args.push(raw.to_str().unwrap());
    args.extend([
        "-r",
        &rate,
        "-c",
        &channels,
        "-b",
        "16",
        wav.to_str().unwrap(),
    ]);
    tool("sox", &args);
    wav
}

/// RMS in dB of `samples`.
pub fn db(samples: &[f32]) -> f64 {
    let power =
        samples.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / samples.len().max(1) as f64;
    10.0 * power.max(1e-12).log10()
}

/// `phrases` (espeak-ng voice, text) at 150 words a minute with `pause_ms` of silence before,
/// between and after them; and where each phrase's sound is (10 ms hops, end excluded).
pub fn phrases_with_pauses(
    dir: &Path,
    phrases: &[(&str, &str)],
    pause_ms: usize,
) -> (Vec<f32>, Vec<(usize, usize)>) {
    let pause = vec![0.0f32; RATE * pause_ms / 1000];
    let mut clean = pause.clone();
    let mut stretches = Vec::new();
    for (i, (voice, text)) in phrases.iter().enumerate() {
        let speech = speak(dir, &format!("phrase{i}"), voice, 150, text);
        // espeak-ng pads its output with silence: the phrase is where its sound is.
        let loud = |k: usize| db(&speech[k * HOP..(k + 1) * HOP]) > -45.0;
        let hops = speech.len() / HOP;
        let first = (0..hops).find(|&k| loud(k)).unwrap();
        let last = (0..hops).rev().find(|&k| loud(k)).unwrap();
        let start = clean.len() / HOP;
        clean.extend_from_slice(&speech[first * HOP..(last + 1) * HOP]);
        stretches.push((start, clean.len() / HOP));
        clean.extend_from_slice(&pause);
    }
    (clean, stretches)
}

/// `clean` with white noise `below_db` under the speech's loudness (its loud 10 ms stretches),
/// and that loudness (dBFS).
pub fn with_noise(clean: &[f32], below_db: f64) -> (Vec<f32>, f64) {
    let speech_db = {
        let loud: Vec<f32> = clean
            .chunks(HOP)
            .filter(|c| db(c) > -45.0)
            .flatten()
            .copied()
            .collect();
        db(&loud)
    };
    let mut state = 0x9e37_79b9u32;
    let amplitude = 10f64.powf((speech_db - below_db) / 20.0) * 3f64.sqrt();
    let noisy = clean
        .iter()
        .map(|x| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            x + (amplitude * (state as f64 / u32::MAX as f64 * 2.0 - 1.0)) as f32
        })
        .collect();
    (noisy, speech_db)
}
