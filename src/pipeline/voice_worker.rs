//! The voice worker: a thread that turns the sound of the source's voice into a mouth. Whoever
//! hears the sound (OBS's audio thread) only hands chunks over with [`VoiceControl::hear`],
//! which never waits: a full queue drops the chunk and counts it.

use super::worker::clock_ms;
use super::worker::{WorkerCore, spawn_guarded};
use crate::voice::{Activity, LipSync, Mouth, Voice};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Chunks waiting at most (OBS hands over about 1024 samples, 21 ms, at a time: half a second).
const QUEUE: usize = 24;
/// No sound for this long (the source stopped, paused or went away): the mouth closes.
const NO_SOUND_AFTER: Duration = Duration::from_millis(200);
/// How often the cost of the analysis goes to the log while sound comes.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// A chunk of sound: mono samples at `rate` Hz, or silence when the source is muted.
pub struct Chunk {
    pub rate: u32,
    pub samples: Vec<f32>,
    pub muted: bool,
}

#[derive(Default)]
struct Heard {
    mouth: Mouth,
    at: Option<Instant>,
    activity: Activity,
}

/// What the owner of a voice worker can change or read while it runs.
pub struct VoiceControl {
    core: WorkerCore,
    tx: SyncSender<Option<Chunk>>,
    rx: Mutex<Receiver<Option<Chunk>>>,
    heard: Mutex<Heard>,
    /// Whether a voice is chosen and listened to (set by whoever feeds the sound).
    listening: AtomicBool,
    dropped: AtomicU64,
    analysed_ns: AtomicU64,
    analysed_samples: AtomicU64,
}

impl VoiceControl {
    pub fn new() -> Arc<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        Arc::new(VoiceControl {
            core: WorkerCore::new("no voice"),
            tx,
            rx: Mutex::new(rx),
            heard: Mutex::new(Heard::default()),
            listening: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            analysed_ns: AtomicU64::new(0),
            analysed_samples: AtomicU64::new(0),
        })
    }

    /// Hands a chunk of sound to the worker; never waits (a full queue drops it).
    pub fn hear(&self, chunk: Chunk) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Some(chunk)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether a voice is listened to: without one, [`Self::voice`] is None and the mouth is
    /// the camera's.
    pub fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
        if !listening {
            *self.heard.lock() = Heard::default();
        }
    }

    /// The voice at `now`; None while no voice is listened to.
    pub fn voice(&self, now: Instant) -> Option<Voice> {
        if !self.listening.load(Ordering::Acquire) {
            return None;
        }
        let heard = self.heard.lock();
        let recent = |at: Option<Instant>, within: Duration| {
            at.is_some_and(|at| now.saturating_duration_since(at) < within)
        };
        Some(Voice {
            mouth: if recent(heard.at, NO_SOUND_AFTER) {
                heard.mouth
            } else {
                Mouth::default()
            },
            speaking: heard.activity.speaking(clock_ms(now)) && recent(heard.at, NO_SOUND_AFTER),
        })
    }

    /// Chunks dropped because the worker fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// CPU time spent per second of sound analysed (seconds of one core).
    pub fn cost(&self) -> Option<f64> {
        let samples = self.analysed_samples.load(Ordering::Relaxed);
        (samples > 0).then(|| {
            self.analysed_ns.load(Ordering::Relaxed) as f64 * 1e-9 / (samples as f64 / 48_000.0)
        })
    }

    /// Asks the worker to finish; returns at once.
    pub fn stop(&self) {
        self.core.stop();
        // Wakes it if it waits for sound.
        let _ = self.tx.try_send(None);
    }

    pub fn status(&self) -> String {
        self.core.status()
    }
}

/// Starts a voice worker; it stops when [`VoiceControl::stop`] is called.
pub fn spawn_voice_worker(control: Arc<VoiceControl>) -> std::io::Result<JoinHandle<()>> {
    spawn_guarded(
        "vrm-avatar-voice",
        "voice analysis",
        control,
        |c| &c.core,
        run,
    )
}

fn run(ctl: &VoiceControl) {
    let rx = ctl.rx.lock();
    let mut lipsync: Option<(u32, LipSync)> = None;
    let mut frames = Vec::new();
    let mut last_log = Instant::now();
    while !ctl.core.stopped() {
        let chunk = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(Some(chunk)) => chunk,
            Ok(None) | Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        super::worker::inject_test_panic("voice_worker");
        let started = Instant::now();
        let analyser = match &mut lipsync {
            Some((rate, analyser)) if *rate == chunk.rate => analyser,
            _ => {
                ctl.core
                    .set_status(format!("listening at {} Hz", chunk.rate));
                &mut lipsync.insert((chunk.rate, LipSync::new(chunk.rate))).1
            }
        };
        frames.clear();
        if chunk.muted {
            let silence = vec![0.0; chunk.samples.len()];
            analyser.push(&silence, &mut frames);
        } else {
            analyser.push(&chunk.samples, &mut frames);
        }
        // 48 kHz-equivalent samples, so the cost reads per second of sound at any rate.
        let spent = started.elapsed().as_nanos() as u64;
        ctl.analysed_ns.fetch_add(spent, Ordering::Relaxed);
        ctl.analysed_samples.fetch_add(
            chunk.samples.len() as u64 * 48_000 / chunk.rate.max(1) as u64,
            Ordering::Relaxed,
        );
        let now = Instant::now();
        if now.duration_since(last_log) >= LOG_EVERY
            && let Some(cost) = ctl.cost()
        {
            last_log = now;
            log::info!(
                "lip sync: {:.2} ms of CPU per second of sound ({:.0} s analysed, {} chunks dropped)",
                cost * 1000.0,
                ctl.analysed_samples.load(Ordering::Relaxed) as f64 / 48_000.0,
                ctl.dropped()
            );
        }
        let mut heard = ctl.heard.lock();
        heard.at = Some(now);
        for mouth in &frames {
            heard.activity.update(mouth, clock_ms(now));
        }
        if let Some(last) = frames.last() {
            heard.mouth = *last;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vowel-like buzz: a 140 Hz pulse train through two resonances near `a` (F1 850, F2 1350).
    fn vowel(rate: u32, seconds: f32) -> Vec<f32> {
        let n = (rate as f32 * seconds) as usize;
        let mut out = Vec::with_capacity(n);
        let (mut y1, mut y2) = ([0.0f32; 2], [0.0f32; 2]);
        let resonator = |f: f32, bw: f32| {
            let r = (-std::f32::consts::PI * bw / rate as f32).exp();
            let c = 2.0 * r * (std::f32::consts::TAU * f / rate as f32).cos();
            (c, -r * r)
        };
        let (a1, b1) = resonator(850.0, 90.0);
        let (a2, b2) = resonator(1350.0, 110.0);
        let period = (rate / 140) as usize;
        for i in 0..n {
            let x = if i % period == 0 { 1.0 } else { 0.0 };
            let s1 = x + a1 * y1[0] + b1 * y1[1];
            y1 = [s1, y1[0]];
            let s2 = s1 + a2 * y2[0] + b2 * y2[1];
            y2 = [s2, y2[0]];
            out.push(s2);
        }
        let peak = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        out.iter().map(|x| 0.3 * x / peak).collect()
    }

    fn feed(control: &VoiceControl, rate: u32, samples: &[f32], muted: bool) {
        for chunk in samples.chunks(1024) {
            control.hear(Chunk {
                rate,
                samples: chunk.to_vec(),
                muted,
            });
            // OBS's pace, roughly: the queue never fills.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn wait_for(control: &VoiceControl, what: impl Fn(Voice) -> bool) -> Voice {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let voice = control.voice(Instant::now()).expect("listening");
            if what(voice) {
                return voice;
            }
            assert!(Instant::now() < deadline, "gave up at {voice:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn sound_opens_the_mouth_and_muting_or_silence_shuts_it() {
        let control = VoiceControl::new();
        assert_eq!(control.voice(Instant::now()), None, "no voice chosen");
        control.set_listening(true);
        let handle = spawn_voice_worker(Arc::clone(&control)).unwrap();
        let rate = 48_000;
        // Quiet first (the floor), then the vowel.
        feed(&control, rate, &vec![0.0005; rate as usize / 2], false);
        feed(&control, rate, &vowel(rate, 0.6), false);
        let voice = wait_for(&control, |v| v.speaking);
        assert!(voice.mouth.open > 0.3, "{voice:?}");
        assert!(voice.mouth.aa > voice.mouth.ih, "an open vowel: {voice:?}");

        feed(&control, rate, &vowel(rate, 0.3), true);
        let muted = wait_for(&control, |v| v.mouth.open < 0.05);
        assert!(muted.mouth.open < 0.05, "a muted source shuts the mouth");

        // No sound at all for a while (the source stopped): shut, and not speaking.
        std::thread::sleep(
            Duration::from_millis(crate::voice::SPEAKING_HOLD_MS as u64) + NO_SOUND_AFTER,
        );
        let gone = control.voice(Instant::now()).unwrap();
        assert_eq!(gone, Voice::default());
        assert!(control.cost().unwrap() < 0.05, "{:?}", control.cost());
        assert_eq!(control.dropped(), 0);

        control.stop();
        handle.join().unwrap();
    }

    #[test]
    fn a_flood_is_dropped_not_waited_for() {
        let control = VoiceControl::new();
        let started = Instant::now();
        for _ in 0..QUEUE * 4 {
            control.hear(Chunk {
                rate: 44_100,
                samples: vec![0.0; 1024],
                muted: false,
            });
        }
        assert!(started.elapsed() < Duration::from_millis(100));
        assert_eq!(control.dropped(), (QUEUE * 3) as u64);
    }
}
