use super::*;

/// A vowel-like sound: a 120 Hz pulse train falling 6 dB an octave (the glottis' -12 dB and
/// the lips' +6 dB), through resonators at `f1` and `f2` and the higher formants every voice has (F3, F4).
pub(super) fn vowel(rate: u32, seconds: f32, f1: f32, f2: f32) -> Vec<f32> {
    let n = (rate as f32 * seconds) as usize;
    let mut y1 = 0.0;
    // A voice's period wavers by a few per cent (jitter), and breath adds noise.
    let mut state = 0x2545_f491u32;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state as f32 / u32::MAX as f32 - 0.5
    };
    let mut next_pulse = 0.0f32;
    let pulses: Vec<f32> = (0..n)
        .map(|i| {
            let mut x = 0.02 * random();
            if i as f32 >= next_pulse {
                x += 1.0;
                next_pulse += rate as f32 / 120.0 * (1.0 + 0.06 * random());
            }
            y1 = x + 0.95 * y1;
            y1
        })
        .collect();
    let resonate = |input: &[f32], f: f32| {
        let r = (-std::f32::consts::PI * 80.0 / rate as f32).exp();
        let theta = std::f32::consts::TAU * f / rate as f32;
        let (b1, b2) = (2.0 * r * theta.cos(), -r * r);
        let (mut y1, mut y2) = (0.0, 0.0);
        input
            .iter()
            .map(|&x| {
                let y = x + b1 * y1 + b2 * y2;
                y2 = y1;
                y1 = y;
                y
            })
            .collect::<Vec<f32>>()
    };
    let f3 = (f2 + 700.0).max(2800.0);
    let out = resonate(
        &resonate(&resonate(&resonate(&pulses, f1), f2), f3),
        f3 + 900.0,
    );
    let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    out.iter().map(|x| 0.3 * x / peak).collect()
}

/// Deterministic white noise at `db` below full scale (RMS).
fn noise(n: usize, db: f32) -> Vec<f32> {
    let mut state = 0x1234_5678u32;
    let amplitude = 10f32.powf(db / 20.0) * 3f32.sqrt();
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            amplitude * (state as f32 / u32::MAX as f32 * 2.0 - 1.0)
        })
        .collect()
}

#[test]
fn each_prototype_vowel_is_its_own_viseme_for_lower_and_higher_voices() {
    for scale in [0.9, 1.0, 1.15] {
        for (i, &(f1, f2)) in PROTOTYPES.iter().enumerate() {
            let mut sound = vec![0.0; 4800];
            sound.extend(vowel(48_000, 0.5, f1 * scale, f2 * scale));
            let frames = LipSync::analyse(48_000, &sound);
            let last = frames.last().unwrap();
            let v = last.visemes();
            let best = (0..5).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
            assert_eq!(best, i, "{} at x{scale}: {last:?}", VISEMES[i]);
            assert!(last.open > 0.5, "{last:?}");
            assert!((v.iter().sum::<f32>() - last.open).abs() < 1e-3);
        }
    }
}

#[test]
fn noise_alone_keeps_the_mouth_shut_and_a_vowel_over_it_opens_it_at_once() {
    let rate = 44_100;
    let mut sound = noise(rate as usize * 5, -40.0);
    let vowel = vowel(rate, 0.5, 800.0, 1300.0);
    for (s, v) in sound[rate as usize * 4..].iter_mut().zip(&vowel) {
        *s += v;
    }
    let frames = LipSync::analyse(rate, &sound);
    // Noise only, from the first frames on.
    let noise_only = &frames[3..400];
    assert!(
        noise_only.iter().all(|m| m.open < 0.05),
        "{:?}",
        noise_only.iter().map(|m| m.open).fold(0.0, f32::max)
    );
    // The vowel starts at frame 400: open within 30 ms.
    assert!(frames[403].open > 0.3, "{:?}", &frames[400..404]);
    // It ends at frame 450: shut again 150 ms later.
    assert!(frames[465].open < 0.1, "{:?}", frames[465]);
}

#[test]
fn digital_silence_and_bad_samples_stay_shut() {
    let mut lipsync = LipSync::new(48_000);
    let mut out = Vec::new();
    lipsync.push(&[0.0; 4800], &mut out);
    lipsync.push(&[f32::NAN; 4800], &mut out);
    assert_eq!(out.len(), 20);
    assert!(out.iter().all(|m| *m == Mouth::default()), "{out:?}");
}
