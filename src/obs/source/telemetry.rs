//! What the source measures and tells: its status line, graphics-thread time and camera-to-texture
//! latency (logged every few seconds).

use super::Source;
use crate::frame::RgbaFrame;
use crate::pipeline::RenderControl;
use crate::settings;
use std::time::{Duration, Instant};

impl Source {
    /// The status line: the renderer's state, then what is tracked, how fast and how late.
    pub(super) fn status_line(&self) -> String {
        let mut line = self.control.status();
        if let (_, Some(stepped_back)) = self.control.stepped_back() {
            line.push_str(&format!("; {stepped_back}"));
        }
        let (wanted, _) = self.wanted.lock().clone();
        match (wanted, self.control.tracking()) {
            (settings::Input::None, _) if self.vmc.is_wanted() => {
                line.push_str(&format!("; {}", self.vmc.status()));
                if let Some(latency) = self.latency.lock().summary() {
                    line.push_str(&format!("; {latency}"));
                }
            }
            (settings::Input::None, _) => line.push_str("; no tracking input (idle motion)"),
            (settings::Input::Camera(_), None) => {
                line.push_str("; no camera found (idle motion until one is plugged in)")
            }
            (settings::Input::Source(name), None) => {
                line.push_str(&format!("; the source '{name}' is not found"))
            }
            (_, Some(tracking)) => {
                line.push_str(&format!("; {}", tracking_summary(&tracking)));
                // try_lock: the graphics thread holds it only for a moment; never wait here.
                // The latency of frames drawn before an input fell silent is not news.
                if let Some(trouble) = self.input.try_lock().and_then(|i| i.trouble()) {
                    line.push_str(&format!("; {trouble}"));
                } else if let Some(latency) = self.latency.lock().summary() {
                    line.push_str(&format!("; {latency}"));
                }
            }
        }
        if let Some(sending) = self.control.vmc_out_status() {
            line.push_str(&format!("; {sending}"));
        }
        let wanted_voice = self.wanted_voice.lock().trim().to_string();
        if !wanted_voice.is_empty() {
            // try_lock: the graphics thread holds it only for a moment; never wait here.
            match self.voice_input.try_lock().map(|v| v.hearing()) {
                Some(true) => line.push_str(&format!("; lip sync from '{wanted_voice}'")),
                Some(false) => line.push_str(&format!(
                    "; the voice source '{wanted_voice}' is not found or has no sound"
                )),
                None => {}
            }
        }
        line
    }
}

/// "tracking 24.8 fps (face, body, right hand)" or the tracker's error.
pub(super) fn tracking_summary(tracking: &crate::pipeline::TrackingControl) -> String {
    let status = tracking.status();
    if status.starts_with("error") {
        return status;
    }
    let stats = tracking.stats();
    let parts: Vec<&str> = [
        (stats.face, "face"),
        (stats.body, "body"),
        (stats.left_hand, "left hand"),
        (stats.right_hand, "right hand"),
    ]
    .into_iter()
    .filter_map(|(seen, name)| seen.then_some(name))
    .collect();
    let seen = if parts.is_empty() {
        "nobody in view".to_string()
    } else {
        parts.join(", ")
    };
    format!("{status} {:.1} fps ({seen})", stats.fps)
}

/// Runs its closure with the time since its start when dropped: times a callback whatever
/// path it returns by.
pub(super) struct Timed<F: FnMut(Duration)>(pub(super) Instant, pub(super) F);

impl<F: FnMut(Duration)> Drop for Timed<F> {
    fn drop(&mut self) {
        (self.1)(self.0.elapsed());
    }
}

/// The time OBS's graphics thread spends in this source per frame (its tick and its render),
/// over the last 300 frames; logged every few seconds, for the "under 1 ms" budget.
#[derive(Default)]
pub(super) struct GraphicsTime {
    /// The last tick's duration, added to the next render's.
    pub(super) tick: Duration,
    /// Milliseconds per frame: total, tick, render.
    samples: std::collections::VecDeque<[f32; 3]>,
    last_log: Option<Instant>,
}

impl GraphicsTime {
    pub(super) fn record_render(&mut self, render: Duration) {
        let ms = |d: Duration| d.as_secs_f32() * 1000.0;
        let tick = std::mem::take(&mut self.tick);
        self.samples
            .push_back([ms(tick + render), ms(tick), ms(render)]);
        while self.samples.len() > 300 {
            self.samples.pop_front();
        }
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LATENCY_LOG_EVERY)
        {
            self.last_log = Some(now);
            let at = |column: usize, q: f32| quantile(self.samples.iter().map(|s| s[column]), q);
            log::info!(
                "graphics thread time per frame: mean {:.3} ms, p50 {:.3} ms, p95 {:.3} ms, max {:.3} ms ({} frames; 95th percentile of the tick {:.3} ms, of the render {:.3} ms)",
                self.samples.iter().map(|s| s[0]).sum::<f32>() / self.samples.len() as f32,
                at(0, 0.5),
                at(0, 0.95),
                at(0, 1.0),
                self.samples.len(),
                at(1, 0.95),
                at(2, 0.95),
            );
        }
    }
}

/// Camera-to-texture latency, measured: from a camera frame's arrival in the plugin (or a VMC
/// frame's) to the upload of the first avatar frame drawn from it, over the last few seconds,
/// with where the time went.
#[derive(Default)]
pub(super) struct LatencyLog {
    /// Milliseconds: total, then the stages of [`LatencyLog::STAGES`].
    samples: std::collections::VecDeque<[f32; 5]>,
    last_log: Option<Instant>,
    /// The samples' motion came over VMC (the last frame's did).
    vmc: bool,
}

/// How often the latency and tracking figures go to the OBS log.
pub(super) const LATENCY_LOG_EVERY: Duration = Duration::from_secs(5);

impl LatencyLog {
    const STAGES: [&str; 4] = ["tracking", "waiting to draw", "drawing", "waiting for OBS"];

    pub(super) fn record(&mut self, frame: &RgbaFrame, control: &RenderControl) {
        let Some(camera) = frame.camera else {
            return;
        };
        if camera.from_vmc != self.vmc {
            // Another input: its figures start afresh.
            self.samples.clear();
            self.vmc = camera.from_vmc;
        }
        let now = Instant::now();
        let ms =
            |from: Instant, to: Instant| to.saturating_duration_since(from).as_secs_f32() * 1000.0;
        self.samples.push_back([
            ms(camera.arrived, now),
            ms(camera.arrived, camera.tracked),
            ms(camera.tracked, frame.started),
            ms(frame.started, frame.finished),
            ms(frame.finished, now),
        ]);
        while self.samples.len() > 300 {
            self.samples.pop_front();
        }
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LATENCY_LOG_EVERY)
        {
            self.last_log = Some(now);
            let input = match control.tracking() {
                _ if self.vmc => Some("receiving VMC".to_string()),
                Some(tracking) => Some(tracking_summary(&tracking)),
                None => None,
            };
            if let (Some(summary), Some(input)) = (self.summary(), input) {
                log::info!("{input}; {summary}; {}", self.stages());
            }
        }
    }

    /// "camera-to-texture latency p50 62 ms, p95 88 ms (120 frames)" (or "VMC-to-texture").
    fn summary(&self) -> Option<String> {
        if self.samples.is_empty() {
            return None;
        }
        Some(format!(
            "{}-to-texture latency p50 {:.0} ms, p95 {:.0} ms ({} frames)",
            if self.vmc { "VMC" } else { "camera" },
            self.quantile(0, 0.5),
            self.quantile(0, 0.95),
            self.samples.len()
        ))
    }

    /// The median camera-to-texture latency of the last few seconds.
    pub(super) fn p50_ms(&self) -> Option<f32> {
        (!self.samples.is_empty()).then(|| self.quantile(0, 0.5))
    }

    /// "p50 by stage: tracking 40 ms, waiting to draw 10 ms, ...", for the log.
    fn stages(&self) -> String {
        let stages: Vec<String> = Self::STAGES
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{name} {:.0} ms", self.quantile(i + 1, 0.5)))
            .collect();
        format!("p50 by stage: {}", stages.join(", "))
    }

    fn quantile(&self, column: usize, q: f32) -> f32 {
        quantile(self.samples.iter().map(|s| s[column]), q)
    }
}

/// The `q` quantile (0..1, nearest rank) of `values`, which must not be empty.
pub(super) fn quantile(values: impl Iterator<Item = f32>, q: f32) -> f32 {
    let mut sorted: Vec<f32> = values.collect();
    sorted.sort_by(f32::total_cmp);
    sorted[((sorted.len() - 1) as f32 * q).round() as usize]
}
