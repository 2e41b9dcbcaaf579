//! The One Euro filter (Casiez et al. 2012) as MediaPipe implements it: a low-pass filter
//! whose cutoff rises with speed, so slow movement is steady and fast movement keeps up.
//! Time-based, so it behaves the same at any frame rate. Used by the tracker (ROI
//! smoothing) and the solver.

use glam::Quat;
use std::f32::consts::PI;

#[derive(Debug, Clone, Copy)]
pub struct OneEuro {
    pub min_cutoff: f32,
    pub beta: f32,
    pub d_cutoff: f32,
    state: Option<State>,
}

#[derive(Debug, Clone, Copy)]
struct State {
    t: f64,
    raw: f32,
    value: f32,
    speed: f32,
}

fn alpha(cutoff: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * PI * cutoff);
    1.0 / (1.0 + tau / dt)
}

impl OneEuro {
    pub fn new(min_cutoff: f32, beta: f32, d_cutoff: f32) -> Self {
        OneEuro {
            min_cutoff,
            beta,
            d_cutoff,
            state: None,
        }
    }

    /// Filters `value` at time `t_s` (seconds). `value_scale` turns the speed into the
    /// units `beta` expects (e.g. 1 / object size, so near and far move alike).
    pub fn apply(&mut self, t_s: f64, value: f32, value_scale: f32) -> f32 {
        let Some(s) = self.state else {
            self.state = Some(State {
                t: t_s,
                raw: value,
                value,
                speed: 0.0,
            });
            return value;
        };
        let dt = (t_s - s.t) as f32;
        if dt <= 0.0 {
            return value;
        }
        let speed_raw = (value - s.raw) * value_scale / dt;
        let speed = s.speed + alpha(self.d_cutoff, dt) * (speed_raw - s.speed);
        let cutoff = self.min_cutoff + self.beta * speed.abs();
        let filtered = s.value + alpha(cutoff, dt) * (value - s.value);
        self.state = Some(State {
            t: t_s,
            raw: value,
            value: filtered,
            speed,
        });
        filtered
    }

    pub fn reset(&mut self) {
        self.state = None;
    }
}

/// The One Euro filter on rotations: the speed is the angle turned per second and the
/// low-pass step is a slerp, so there are no Euler angles to wrap and no axis is favoured.
#[derive(Debug, Clone, Copy)]
pub struct OneEuroQuat {
    pub min_cutoff: f32,
    /// Per radian per second.
    pub beta: f32,
    pub d_cutoff: f32,
    state: Option<QuatState>,
}

#[derive(Debug, Clone, Copy)]
struct QuatState {
    t: f64,
    raw: Quat,
    value: Quat,
    speed: f32,
}

impl OneEuroQuat {
    pub fn new(min_cutoff: f32, beta: f32, d_cutoff: f32) -> Self {
        OneEuroQuat {
            min_cutoff,
            beta,
            d_cutoff,
            state: None,
        }
    }

    pub fn apply(&mut self, t_s: f64, value: Quat) -> Quat {
        let Some(s) = self.state else {
            self.state = Some(QuatState {
                t: t_s,
                raw: value,
                value,
                speed: 0.0,
            });
            return value;
        };
        let dt = (t_s - s.t) as f32;
        if dt <= 0.0 {
            return s.value;
        }
        let speed_raw = s.raw.angle_between(value) / dt;
        let speed = s.speed + alpha(self.d_cutoff, dt) * (speed_raw - s.speed);
        let cutoff = self.min_cutoff + self.beta * speed.abs();
        // glam's slerp takes the short way round, so q and -q filter alike.
        let filtered = s.value.slerp(value, alpha(cutoff, dt)).normalize();
        self.state = Some(QuatState {
            t: t_s,
            raw: value,
            value: filtered,
            speed,
        });
        filtered
    }

    /// The last output, if any.
    pub fn value(&self) -> Option<Quat> {
        self.state.map(|s| s.value)
    }

    pub fn reset(&mut self) {
        self.state = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_when_slow_and_quick_when_fast() {
        // Jitter of +-1 around 100: the output stays far closer to 100 than the input.
        let mut f = OneEuro::new(1.0, 0.0, 1.0);
        let mut worst = 0.0f32;
        for i in 0..60 {
            let jitter = if i % 2 == 0 { 1.0 } else { -1.0 };
            let out = f.apply(i as f64 / 30.0, 100.0 + jitter, 1.0);
            if i > 10 {
                worst = worst.max((out - 100.0).abs());
            }
        }
        assert!(worst < 0.5, "jitter {worst}");
        // A step: with a high beta the filter catches up within a few frames.
        let mut fast = OneEuro::new(1.0, 1.0, 1.0);
        let mut slow = OneEuro::new(1.0, 0.0, 1.0);
        for i in 0..5 {
            let v = if i == 0 { 0.0 } else { 100.0 };
            fast.apply(i as f64 / 30.0, v, 1.0);
            slow.apply(i as f64 / 30.0, v, 1.0);
        }
        let t = 5.0 / 30.0;
        assert!(fast.apply(t, 100.0, 1.0) > 95.0);
        assert!(slow.apply(t, 100.0, 1.0) < 90.0);
    }

    #[test]
    fn the_same_motion_filters_alike_at_30_and_60_fps() {
        let run = |fps: f64| {
            let mut f = OneEuro::new(0.5, 0.05, 1.0);
            let mut out = 0.0;
            for i in 0..=(fps as usize) {
                let t = i as f64 / fps;
                out = f.apply(t, (t * 3.0).sin() as f32 * 50.0, 1.0);
            }
            out
        };
        let (a, b) = (run(30.0), run(60.0));
        assert!((a - b).abs() < 2.0, "{a} vs {b}");
    }

    #[test]
    fn rotations_are_steady_when_slow_and_keep_up_when_fast() {
        // Jitter of +-1 degree about a fixed rotation is mostly removed.
        let base = Quat::from_rotation_y(0.5);
        let mut f = OneEuroQuat::new(1.0, 0.5, 1.0);
        let mut worst = 0.0f32;
        for i in 0..60 {
            let wobble = Quat::from_rotation_x(if i % 2 == 0 { 0.0175 } else { -0.0175 });
            let out = f.apply(i as f64 / 30.0, base * wobble);
            if i > 10 {
                worst = worst.max(out.angle_between(base));
            }
        }
        assert!(worst < 0.006, "jitter {} degrees", worst.to_degrees());
        // A fast turn (3 rad/s): with a speed gain the filter stays close behind, without
        // one it falls far back.
        let behind = |beta: f32| {
            let mut f = OneEuroQuat::new(1.0, beta, 1.0);
            let mut out = Quat::IDENTITY;
            for i in 0..=15 {
                let t = i as f64 / 30.0;
                out = f.apply(t, Quat::from_rotation_y(3.0 * t as f32));
            }
            out.angle_between(Quat::from_rotation_y(1.5))
        };
        assert!(behind(2.0) < 0.1, "{}", behind(2.0));
        assert!(behind(0.0) > 0.3, "{}", behind(0.0));
    }
}
