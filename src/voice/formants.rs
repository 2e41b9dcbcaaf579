//! The first two formants of a voiced sound, the resonances that tell vowels apart: linear
//! prediction (LPC) on the band below 4 to 6 kHz, then the resonances of its predictor. Formants
//! need no training and shift with the speaker only by a factor, so vowels can be told from
//! them for any voice, unlike spectral profiles learnt per voice (uLipSync's MFCC).
//! Checked on real speech (espeak-ng, six voices, two languages) in `tools/tests/lipsync.rs`.

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// LPC order: two poles per formant below 6 kHz (about five) and four for the voice source's slope and what is left.
const ORDER: usize = 14;
/// Autocorrelation length after the band is cut: its half is the bins kept.
const BAND_FFT: usize = 1024;
/// The highest sample rate the band is analysed at (the band is about half of it).
const BAND_RATE: usize = 12_000;
/// The lag window's width: about the lowest pitch of a voice.
const LAG_WINDOW_HZ: f32 = 80.0;
/// Below this, a resonance is the voice's pitch, not a formant.
const LOWEST_FORMANT_HZ: f64 = 200.0;
/// Formants are narrower than this; LPC's spare poles are wider.
const MAX_BANDWIDTH_HZ: f64 = 800.0;

/// Finds formants in windows of a fixed length at one sample rate.
pub struct FormantFinder {
    rate: f32,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    band: Arc<dyn ComplexToReal<f32>>,
    input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    band_spectrum: Vec<Complex<f32>>,
    autocorrelation: Vec<f32>,
}

impl FormantFinder {
    /// For windows of `len` samples at `rate` Hz.
    pub fn new(rate: u32, len: usize) -> FormantFinder {
        let mut planner = RealFftPlanner::<f32>::new();
        // Zero-padded to twice the window at least, so the autocorrelation does not wrap, and
        // long enough that the band kept (BAND_FFT / 2 bins) ends near 6 kHz at any rate.
        let n = (2 * len)
            .next_power_of_two()
            .max((rate as usize * BAND_FFT / BAND_RATE).next_power_of_two())
            .max(BAND_FFT);
        let forward = planner.plan_fft_forward(n);
        let band = planner.plan_fft_inverse(BAND_FFT);
        let window = (0..len)
            .map(|i| {
                let x = std::f32::consts::TAU * i as f32 / (len - 1).max(1) as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        FormantFinder {
            // The band's own sample rate: BAND_FFT / 2 bins of rate / n Hz each, twice over.
            rate: rate as f32 * BAND_FFT as f32 / n as f32,
            window,
            input: forward.make_input_vec(),
            spectrum: forward.make_output_vec(),
            band_spectrum: band.make_input_vec(),
            autocorrelation: band.make_output_vec(),
            forward,
            band,
        }
    }

    /// F1 and F2 in Hz of `samples` (the window's length), or None when fewer than two narrow
    /// resonances stand out (silence, noise).
    pub fn formants(&mut self, samples: &[f32]) -> Option<(f32, f32)> {
        debug_assert_eq!(samples.len(), self.window.len());
        self.input.iter_mut().for_each(|x| *x = 0.0);
        // Pre-emphasis (the voice's spectrum falls about 6 dB an octave), then the window.
        let mut previous = samples.first().copied().unwrap_or(0.0);
        for ((out, &x), w) in self.input.iter_mut().zip(samples).zip(&self.window) {
            *out = (x - 0.97 * previous) * w;
            previous = x;
        }
        self.forward
            .process(&mut self.input, &mut self.spectrum)
            .ok()?;
        // The power in the band, as the spectrum of a signal at the band's rate: its inverse
        // transform is that signal's autocorrelation.
        for (out, x) in self.band_spectrum.iter_mut().zip(&self.spectrum) {
            *out = (x.norm_sqr()).into();
        }
        self.band
            .process(&mut self.band_spectrum, &mut self.autocorrelation)
            .ok()?;
        // A Gaussian lag window (as speech codecs use) widens every resonance by about
        // LAG_WINDOW_HZ, so that poles settle on formants, not on the pitch's harmonics.
        let mut r = [0.0f32; ORDER + 1];
        for (k, (out, x)) in r.iter_mut().zip(&self.autocorrelation).enumerate() {
            let a = std::f32::consts::TAU * LAG_WINDOW_HZ * k as f32 / self.rate;
            *out = x * (-0.5 * a * a).exp();
        }
        let lpc = levinson(&r)?;
        // Each pair of complex roots of the predictor is a resonance: its angle the frequency,
        // its distance from the unit circle the bandwidth. Wide ones are the poles LPC has
        // left over (it has more than the formants need), not formants.
        let rate = self.rate as f64;
        let mut found: Vec<f32> = roots(&lpc)
            .into_iter()
            .filter(|z| z.im > 0.0)
            .filter_map(|z| {
                let hz = z.arg() * rate / std::f64::consts::TAU;
                let bandwidth = -z.norm().ln() * rate / std::f64::consts::PI;
                (hz > LOWEST_FORMANT_HZ && bandwidth < MAX_BANDWIDTH_HZ).then_some(hz as f32)
            })
            .collect();
        found.sort_by(f32::total_cmp);
        Some((*found.first()?, *found.get(1)?))
    }
}

/// The roots of `z^p + c[1] z^(p-1) + ... + c[p]` (`c[0]` = 1), by Durand-Kerner iteration.
fn roots(c: &[f32]) -> Vec<Complex<f64>> {
    let p = c.len() - 1;
    let eval = |z: Complex<f64>| {
        c.iter()
            .fold(Complex::new(0.0, 0.0), |acc, &k| acc * z + k as f64)
    };
    let seed = Complex::new(0.4, 0.9);
    let mut z: Vec<Complex<f64>> = (0..p).map(|k| seed.powu(k as u32)).collect();
    for _ in 0..500 {
        let mut moved = 0.0f64;
        for i in 0..p {
            let denominator = (0..p)
                .filter(|&j| j != i)
                .fold(Complex::new(1.0, 0.0), |acc, j| acc * (z[i] - z[j]));
            if denominator.norm() < 1e-300 {
                continue;
            }
            let step = eval(z[i]) / denominator;
            z[i] -= step;
            moved = moved.max(step.norm());
        }
        if moved < 1e-10 {
            break;
        }
    }
    z
}

/// The prediction polynomial `[1, a1, ..., ap]` from autocorrelations `r[0..=p]`
/// (Levinson-Durbin), or None for a signal with no energy.
fn levinson(r: &[f32]) -> Option<Vec<f32>> {
    let order = r.len() - 1;
    // A hair of white noise keeps the recursion stable on pure tones.
    let mut error = r[0] as f64 * 1.0001;
    if error.is_nan() || error <= 1e-12 {
        return None;
    }
    let mut a = vec![0.0f64; order + 1];
    a[0] = 1.0;
    for i in 1..=order {
        let acc: f64 = (0..i).map(|j| a[j] * r[i - j] as f64).sum();
        let k = -acc / error;
        let previous = a.clone();
        for j in 1..i {
            a[j] = previous[j] + k * previous[i - j];
        }
        a[i] = k;
        error *= 1.0 - k * k;
        if error.is_nan() || error <= 0.0 {
            return None;
        }
    }
    Some(a.into_iter().map(|x| x as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_has_no_formants() {
        let mut finder = FormantFinder::new(48_000, 1440);
        assert_eq!(finder.formants(&[0.0; 1440]), None);
    }
}
