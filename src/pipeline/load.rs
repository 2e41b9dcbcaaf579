//! Load shedding: the plugin steps back before OBS misses a frame. OBS's graphics thread
//! reports how long its frames take (an average over each second) and how many it missed; when
//! its frames come near the budget, or one is missed, the plugin takes one step down a fixed
//! ladder of cheaper work, and climbs back one step at a time once OBS has room again for a
//! while. No setting is needed; the status line says when and why it stepped back.

use crate::settings::Performance;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What OBS's graphics thread reported (`obs_get_frame_interval_ns`,
/// `obs_get_average_frame_time_ns`, `obs_get_lagged_frames`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ObsLoad {
    /// OBS's frame budget (0: unknown, no OBS).
    pub interval_ns: u64,
    /// The graphics thread's average time per frame over its last second.
    pub frame_ns: u64,
    /// Frames missed for rendering lag since OBS started.
    pub lagged: u64,
}

/// [`ObsLoad`] shared between OBS's graphics thread (which stores it every tick, never
/// waiting) and the render worker (which reads it).
#[derive(Debug, Default)]
pub struct SharedObsLoad {
    interval_ns: AtomicU64,
    frame_ns: AtomicU64,
    lagged: AtomicU64,
}

impl SharedObsLoad {
    pub fn store(&self, load: ObsLoad) {
        self.interval_ns.store(load.interval_ns, Ordering::Relaxed);
        self.frame_ns.store(load.frame_ns, Ordering::Relaxed);
        self.lagged.store(load.lagged, Ordering::Relaxed);
    }

    pub fn load(&self) -> ObsLoad {
        ObsLoad {
            interval_ns: self.interval_ns.load(Ordering::Relaxed),
            frame_ns: self.frame_ns.load(Ordering::Relaxed),
            lagged: self.lagged.load(Ordering::Relaxed),
        }
    }
}

/// What one step of the ladder does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Steps {
    /// Draws one in this many of OBS's frames (the pose timeline still interpolates).
    pub draw_every: u32,
    /// The render's width and height as a share of the source's (OBS scales it up).
    pub render_scale: f32,
    /// Searches for a missing hand this many times less often than at full quality.
    pub hand_search_slower: u32,
    /// Runs the body model on one in this many tracked frames (the face on every one).
    pub body_every: u32,
    /// Tracks at most this many frames a second (0: as many as come).
    pub max_tracking_fps: u32,
}

/// The ladder, from full quality down: fewer drawn frames first (cheapest to lose: the pose is
/// interpolated), then a smaller render, then fewer hand searches and the body at half the
/// face's rate, then all of them further, then a cap on tracked frames.
pub const LADDER: [Steps; 6] = [
    Steps {
        draw_every: 1,
        render_scale: 1.0,
        hand_search_slower: 1,
        body_every: 1,
        max_tracking_fps: 0,
    },
    Steps {
        draw_every: 2,
        render_scale: 1.0,
        hand_search_slower: 1,
        body_every: 1,
        max_tracking_fps: 0,
    },
    Steps {
        draw_every: 2,
        render_scale: 0.75,
        hand_search_slower: 1,
        body_every: 1,
        max_tracking_fps: 0,
    },
    Steps {
        draw_every: 2,
        render_scale: 0.75,
        hand_search_slower: 3,
        body_every: 2,
        max_tracking_fps: 0,
    },
    Steps {
        draw_every: 3,
        render_scale: 0.5,
        hand_search_slower: 3,
        body_every: 2,
        max_tracking_fps: 0,
    },
    Steps {
        draw_every: 3,
        render_scale: 0.5,
        hand_search_slower: 4,
        body_every: 3,
        max_tracking_fps: 8,
    },
];

/// OBS's frames at or above this share of the budget are too close: step back.
const PRESSURE: f64 = 0.85;
/// At or below this share OBS has room: quality may come back.
const ROOM: f64 = 0.7;
/// The least time between two steps back (OBS's average covers a second; a step needs that
/// long to show in it).
const STEP_BACK_EVERY: Duration = Duration::from_millis(2000);
/// How long OBS must have room before one step of quality comes back; doubled (up to
/// [`MOST_CALM`]) each time a step up is followed by pressure within [`TRIAL`].
const FIRST_CALM: Duration = Duration::from_secs(10);
const MOST_CALM: Duration = Duration::from_secs(160);
const TRIAL: Duration = Duration::from_secs(20);

/// A change of step, for the log and the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub level: usize,
    pub why: String,
}

/// The ladder's state for one source.
#[derive(Debug)]
pub struct Shedding {
    level: usize,
    /// The steps the `performance` setting allows, least and most.
    least: usize,
    most: usize,
    lagged: Option<u64>,
    last_step_back: Option<Instant>,
    last_step_up: Option<Instant>,
    room_since: Option<Instant>,
    calm_needed: Duration,
    why: String,
}

impl Default for Shedding {
    fn default() -> Self {
        Shedding {
            level: 0,
            least: 0,
            most: LADDER.len() - 1,
            lagged: None,
            last_step_back: None,
            last_step_up: None,
            room_since: None,
            calm_needed: FIRST_CALM,
            why: String::new(),
        }
    }
}

impl Shedding {
    pub fn level(&self) -> usize {
        self.level
    }

    pub fn steps(&self) -> Steps {
        LADDER[self.level]
    }

    /// Keeps to the steps `performance` allows; a step when that moves it.
    pub fn allow(&mut self, performance: Performance) -> Option<Change> {
        (self.least, self.most) = match performance {
            Performance::Auto => (0, LADDER.len() - 1),
            Performance::Quality => (0, 0),
            Performance::Light => (3, LADDER.len() - 1),
        };
        let level = self.level.clamp(self.least, self.most);
        if level == self.level {
            return None;
        }
        self.level = level;
        self.room_since = None;
        self.why = "the source's Performance setting".into();
        Some(Change {
            level,
            why: self.why.clone(),
        })
    }

    /// Takes OBS's latest figures; a step when one is due.
    pub fn observe(&mut self, load: ObsLoad, now: Instant) -> Option<Change> {
        if load.interval_ns == 0 {
            return None;
        }
        let missed = match self.lagged.replace(load.lagged) {
            Some(before) => load.lagged.saturating_sub(before),
            None => 0,
        };
        let share = load.frame_ns as f64 / load.interval_ns as f64;
        let ms = |ns: u64| ns as f64 / 1e6;
        if missed > 0 || share >= PRESSURE {
            self.room_since = None;
            if self
                .last_step_up
                .is_some_and(|t| now.duration_since(t) < TRIAL)
            {
                // The step up was too soon: wait longer before the next one.
                self.calm_needed = (self.calm_needed * 2).min(MOST_CALM);
                self.last_step_up = None;
            }
            let due = self
                .last_step_back
                .is_none_or(|t| now.duration_since(t) >= STEP_BACK_EVERY);
            if self.level < self.most && due {
                self.level += 1;
                self.last_step_back = Some(now);
                self.why = if missed > 0 {
                    format!("OBS missed {missed} frames")
                } else {
                    format!(
                        "OBS frames took {:.0} of {:.0} ms",
                        ms(load.frame_ns),
                        ms(load.interval_ns)
                    )
                };
                return Some(Change {
                    level: self.level,
                    why: self.why.clone(),
                });
            }
            return None;
        }
        if self
            .last_step_up
            .is_some_and(|t| now.duration_since(t) >= TRIAL)
        {
            // The last step up held: the next may come sooner again.
            self.calm_needed = (self.calm_needed / 2).max(FIRST_CALM);
            self.last_step_up = None;
        }
        if share > ROOM || self.level <= self.least {
            self.room_since = None;
            return None;
        }
        let since = *self.room_since.get_or_insert(now);
        if now.duration_since(since) < self.calm_needed {
            return None;
        }
        self.level -= 1;
        self.room_since = None;
        self.last_step_up = Some(now);
        self.why = format!(
            "OBS frames take {:.0} of {:.0} ms",
            ms(load.frame_ns),
            ms(load.interval_ns)
        );
        Some(Change {
            level: self.level,
            why: self.why.clone(),
        })
    }

    /// "stepped back 2 of 5 (OBS frames took 29 of 33 ms): ..." or None at full quality;
    /// `fps` is OBS's frame rate and `size` the source's.
    pub fn summary(&self, fps: u32, size: (u32, u32)) -> Option<String> {
        if self.level == 0 {
            return None;
        }
        let steps = self.steps();
        let (w, h) = scaled(size, steps.render_scale);
        let mut parts = vec![format!(
            "drawing {} fps at {w}x{h}",
            (fps / steps.draw_every).max(1)
        )];
        if steps.hand_search_slower > 1 {
            parts.push("hands searched less often".into());
        }
        if steps.body_every > 1 {
            parts.push(format!("body on 1 in {} tracked frames", steps.body_every));
        }
        if steps.max_tracking_fps > 0 {
            parts.push(format!("tracking at most {} fps", steps.max_tracking_fps));
        }
        Some(format!(
            "stepped back {} of {} ({}): {}",
            self.level,
            LADDER.len() - 1,
            self.why,
            parts.join(", ")
        ))
    }
}

/// A size scaled by `scale`, in even pixels and at least 16 each way.
pub fn scaled((width, height): (u32, u32), scale: f32) -> (u32, u32) {
    if scale >= 1.0 {
        return (width, height);
    }
    let one = |v: u32| (((v as f32 * scale) as u32) & !1).clamp(16.min(v), v);
    (one(width), one(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: u64 = 33_333_333;

    fn load(frame_ms: f64, lagged: u64) -> ObsLoad {
        ObsLoad {
            interval_ns: BUDGET,
            frame_ns: (frame_ms * 1e6) as u64,
            lagged,
        }
    }

    #[test]
    fn without_obs_nothing_changes() {
        let mut s = Shedding::default();
        let t = Instant::now();
        assert_eq!(s.observe(ObsLoad::default(), t), None);
        assert_eq!(s.level(), 0);
        assert_eq!(s.summary(30, (1280, 720)), None);
    }

    #[test]
    fn frames_near_the_budget_step_back_one_step_at_a_time() {
        let mut s = Shedding::default();
        let t = Instant::now();
        assert_eq!(s.observe(load(28.0, 0), t), None);
        let change = s
            .observe(load(29.0, 0), t)
            .expect("29 of 33 ms is pressure");
        assert_eq!(change.level, 1);
        assert!(change.why.contains("29 of 33 ms"), "{}", change.why);
        // Not again within the two seconds OBS's average needs to show the step.
        assert_eq!(
            s.observe(load(30.0, 0), t + Duration::from_millis(500)),
            None
        );
        assert_eq!(
            s.observe(load(30.0, 0), t + Duration::from_secs(2))
                .unwrap()
                .level,
            2
        );
        let summary = s.summary(30, (1280, 720)).unwrap();
        assert!(
            summary.starts_with("stepped back 2 of 5 (OBS frames took 30 of 33 ms)")
                && summary.contains("drawing 15 fps at 960x540"),
            "{summary}"
        );
        // The ladder ends.
        for i in 2..20 {
            s.observe(load(40.0, 0), t + Duration::from_secs(2 * i));
        }
        assert_eq!(s.level(), LADDER.len() - 1);
        assert!(
            s.summary(30, (1280, 720))
                .unwrap()
                .contains("tracking at most 8 fps")
        );
    }

    #[test]
    fn a_missed_frame_steps_back_even_when_the_average_looks_fine() {
        let mut s = Shedding::default();
        let t = Instant::now();
        // Frames missed before the source was there are not its concern.
        assert_eq!(s.observe(load(15.0, 40), t), None);
        let change = s
            .observe(load(15.0, 43), t + Duration::from_millis(100))
            .unwrap();
        assert_eq!(
            (change.level, change.why.as_str()),
            (1, "OBS missed 3 frames")
        );
    }

    #[test]
    fn quality_comes_back_after_calm_and_waits_longer_after_a_failed_try() {
        let mut s = Shedding::default();
        let t0 = Instant::now();
        let at = |secs: f64| t0 + Duration::from_secs_f64(secs);
        s.observe(load(30.0, 0), at(0.0));
        assert_eq!(s.level(), 1);
        // Between room and pressure: hold.
        assert_eq!(s.observe(load(24.0, 0), at(5.0)), None);
        assert_eq!(s.observe(load(24.0, 0), at(30.0)), None);
        // Room for 10 s: one step up.
        assert_eq!(s.observe(load(15.0, 0), at(31.0)), None);
        assert_eq!(s.observe(load(15.0, 0), at(40.0)), None);
        assert_eq!(s.observe(load(15.0, 0), at(41.0)).unwrap().level, 0);
        // Pressure right after: back down, and the next try needs 20 s of room.
        assert_eq!(s.observe(load(29.0, 0), at(45.0)).unwrap().level, 1);
        assert_eq!(s.observe(load(15.0, 0), at(46.0)), None);
        assert_eq!(s.observe(load(15.0, 0), at(57.0)), None);
        assert_eq!(s.observe(load(15.0, 0), at(66.0)).unwrap().level, 0);
        // That one held for the trial: the wait halves again.
        assert_eq!(s.observe(load(15.0, 0), at(90.0)), None);
        assert_eq!(s.calm_needed, FIRST_CALM);
    }

    #[test]
    fn the_performance_setting_bounds_the_ladder() {
        let mut s = Shedding::default();
        let t = Instant::now();
        assert_eq!(s.allow(Performance::Auto), None);
        // Light: three steps back at once, and never less.
        assert_eq!(s.allow(Performance::Light).unwrap().level, 3);
        assert!(
            s.summary(30, (1280, 720))
                .unwrap()
                .contains("Performance setting")
        );
        for i in 0..30 {
            s.observe(load(10.0, 0), t + Duration::from_secs(i * 10));
        }
        assert_eq!(s.level(), 3);
        assert_eq!(
            s.observe(load(31.0, 0), t + Duration::from_secs(400))
                .unwrap()
                .level,
            4
        );
        // Full quality: back to the top at once, and no step back whatever OBS misses.
        assert_eq!(s.allow(Performance::Quality).unwrap().level, 0);
        assert_eq!(
            s.observe(load(40.0, 99), t + Duration::from_secs(500)),
            None
        );
        assert_eq!(s.summary(30, (1280, 720)), None);
        assert_eq!(s.allow(Performance::Auto), None);
        assert_eq!(
            s.observe(load(40.0, 120), t + Duration::from_secs(510))
                .unwrap()
                .level,
            1
        );
    }

    #[test]
    fn each_step_costs_no_more_than_the_one_above() {
        for pair in LADDER.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(b.draw_every >= a.draw_every && b.render_scale <= a.render_scale);
            assert!(b.hand_search_slower >= a.hand_search_slower && b.body_every >= a.body_every);
            assert!(a.max_tracking_fps == 0 || b.max_tracking_fps <= a.max_tracking_fps);
            assert_ne!(a, b);
        }
        assert_eq!(scaled((1280, 720), 0.75), (960, 540));
        assert_eq!(scaled((1281, 721), 0.5), (640, 360));
        assert_eq!(scaled((20, 10), 0.5), (16, 10));
    }
}
