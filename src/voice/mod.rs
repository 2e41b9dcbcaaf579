//! Lip sync from a voice: mouth openness and VRM's five visemes (`aa ih ou ee oh`) every 10 ms,
//! from any mono stream of samples, with no training.
//!
//! Openness is loudness above a tracked noise floor (so a fan or a room stays shut); the
//! vowel is the nearest of five formant prototypes ([`formants`]), shared softly between
//! neighbours so that the mouth blends instead of jumping. Each step looks only at the past
//! 30 ms: the mouth opens within a hop or two of a syllable's start.

pub mod formants;
pub mod sound_file;

use formants::FormantFinder;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Milliseconds between two mouth frames.
pub const HOP_MS: u32 = 10;
/// Milliseconds of sound each frame looks at (its end is the frame's time).
const WINDOW_MS: u32 = 30;
/// How long the noise floor remembers the quietest moment: longer than a sentence's loud
/// stretch, shorter than a room changing.
const FLOOR_MEMORY_MS: u32 = 3000;
/// Quieter than this (dB below full scale) is silence whatever the floor.
const SILENT_DB: f32 = -60.0;
/// Decibels above the floor where the mouth starts to open, and where it is fully open.
const OPEN_FROM_DB: f32 = 9.0;
const OPEN_FULL_DB: f32 = 24.0;
/// Time constants of the openness: fast to open (onsets), slower to close (no flutter).
const ATTACK_MS: f32 = 12.0;
const RELEASE_MS: f32 = 45.0;
/// Time constant of the vowel shares.
const VOWEL_MS: f32 = 30.0;

/// The five visemes in VRM's order.
pub const VISEMES: [&str; 5] = ["aa", "ih", "ou", "ee", "oh"];

/// Each vowel's F1 and F2 (Hz), between adult male and female voices, Japanese vowels (VRM's
/// visemes are named after them); `u` sits between the unrounded Japanese one (F2 about 1300)
/// and a rounded one (about 800).
const PROTOTYPES: [(f32, f32); 5] = [
    (850.0, 1350.0),
    (300.0, 2450.0),
    (360.0, 1100.0),
    (500.0, 2100.0),
    (530.0, 850.0),
];
/// How far (natural log) a formant may stray from a prototype at one unit of distance: F1
/// tells open from close vowels and is weighed more; F2 moves more between speakers.
const F1_SPREAD: f32 = 0.2;
const F2_SPREAD: f32 = 0.35;

/// One frame of the mouth: openness and the viseme weights (each 0..1; the visemes sum to
/// the openness).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Mouth {
    pub open: f32,
    pub aa: f32,
    pub ih: f32,
    pub ou: f32,
    pub ee: f32,
    pub oh: f32,
}

impl Mouth {
    /// The viseme weights in [`VISEMES`] order.
    pub fn visemes(&self) -> [f32; 5] {
        [self.aa, self.ih, self.ou, self.ee, self.oh]
    }
}

/// The mouth a voice gives at a moment, and whether the voice is heard.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Voice {
    pub mouth: Mouth,
    pub speaking: bool,
}

/// Openness above which a voice counts as heard.
const SPEAKING_OPEN: f32 = 0.1;
/// How long a voice counts as heard after its last loud frame: the pauses between words and
/// short breaths stay the voice's (a shut mouth), not a flicker back to the camera.
pub const SPEAKING_HOLD_MS: f64 = 600.0;

/// Whether a voice is heard, from its mouth frames (on any clock in milliseconds).
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    voiced_at_ms: Option<f64>,
}

impl Activity {
    pub fn update(&mut self, mouth: &Mouth, t_ms: f64) {
        if mouth.open > SPEAKING_OPEN {
            self.voiced_at_ms = Some(t_ms);
        }
    }

    pub fn speaking(&self, t_ms: f64) -> bool {
        self.voiced_at_ms
            .is_some_and(|at| t_ms >= at && t_ms - at < SPEAKING_HOLD_MS)
    }
}

/// The analyser: samples in, a [`Mouth`] out every [`HOP_MS`].
pub struct LipSync {
    hop: usize,
    /// The last window of samples, oldest first.
    history: VecDeque<f32>,
    /// Samples since the last frame.
    pending: usize,
    finder: FormantFinder,
    scratch: Vec<f32>,
    levels: VecDeque<f32>,
    floor_frames: usize,
    open: f32,
    shares: [f32; 5],
    attack: f32,
    release: f32,
    follow: f32,
}

impl LipSync {
    /// An analyser for mono samples at `rate` Hz (44.1 and 48 kHz from OBS; any rate from
    /// 8 kHz up works).
    pub fn new(rate: u32) -> LipSync {
        let rate = rate.max(8000);
        let hop = (rate * HOP_MS / 1000) as usize;
        let window = (rate * WINDOW_MS / 1000) as usize;
        let smoothing = |ms: f32| 1.0 - (-(HOP_MS as f32) / ms).exp();
        LipSync {
            hop,
            history: std::iter::repeat_n(0.0, window).collect(),
            pending: 0,
            finder: FormantFinder::new(rate, window),
            scratch: vec![0.0; window],
            // The floor is what has been heard: a stream that starts mid-sentence opens the
            // mouth at its first pause (a floor assumed lower would flap it on a loud room's
            // noise for seconds instead).
            levels: VecDeque::new(),
            floor_frames: (FLOOR_MEMORY_MS / HOP_MS) as usize,
            open: 0.0,
            shares: [0.2; 5],
            attack: smoothing(ATTACK_MS),
            release: smoothing(RELEASE_MS),
            follow: smoothing(VOWEL_MS),
        }
    }

    /// Takes `samples` and appends a frame to `out` for each hop they complete.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<Mouth>) {
        for &x in samples {
            self.history.pop_front();
            self.history.push_back(if x.is_finite() { x } else { 0.0 });
            self.pending += 1;
            if self.pending == self.hop {
                self.pending = 0;
                out.push(self.frame());
            }
        }
    }

    /// The frames of a whole recording (frame k ends at k + 1 hops).
    pub fn analyse(rate: u32, samples: &[f32]) -> Vec<Mouth> {
        let mut lipsync = LipSync::new(rate);
        let mut out = Vec::with_capacity(samples.len() / lipsync.hop + 1);
        lipsync.push(samples, &mut out);
        out
    }

    fn frame(&mut self) -> Mouth {
        for (out, x) in self.scratch.iter_mut().zip(&self.history) {
            *out = *x;
        }
        let power = self.scratch.iter().map(|x| x * x).sum::<f32>() / self.scratch.len() as f32;
        let db = (10.0 * power.max(1e-12).log10()).max(-120.0);
        self.levels.push_back(db);
        if self.levels.len() > self.floor_frames {
            self.levels.pop_front();
        }
        let floor = self.levels.iter().copied().fold(f32::INFINITY, f32::min);
        let above = db - floor;
        let target = if db < SILENT_DB {
            0.0
        } else {
            ((above - OPEN_FROM_DB) / (OPEN_FULL_DB - OPEN_FROM_DB)).clamp(0.0, 1.0)
        };
        let rate = if target > self.open {
            self.attack
        } else {
            self.release
        };
        self.open += (target - self.open) * rate;
        if target > 0.0
            && let Some((f1, f2)) = self.finder.formants(&self.scratch)
        {
            let target = vowel_shares(f1, f2);
            for (share, t) in self.shares.iter_mut().zip(target) {
                *share += (t - *share) * self.follow;
            }
        }
        let sum: f32 = self.shares.iter().sum();
        let v = self.shares.map(|s| self.open * s / sum.max(1e-6));
        Mouth {
            open: self.open,
            aa: v[0],
            ih: v[1],
            ou: v[2],
            ee: v[3],
            oh: v[4],
        }
    }
}

/// How much each vowel explains formants `f1`, `f2` (summing to 1).
fn vowel_shares(f1: f32, f2: f32) -> [f32; 5] {
    let distances = PROTOTYPES.map(|(p1, p2)| {
        let d1 = (f1 / p1).ln() / F1_SPREAD;
        let d2 = (f2 / p2).ln() / F2_SPREAD;
        d1 * d1 + d2 * d2
    });
    // Relative to the nearest, so that formants far from every vowel still share (the
    // nearest gets the most) instead of all scores underflowing to zero.
    let nearest = distances.iter().copied().fold(f32::INFINITY, f32::min);
    let scores = distances.map(|d| (nearest - d).exp());
    let sum: f32 = scores.iter().sum();
    scores.map(|s| s / sum)
}

#[cfg(test)]
mod tests;
