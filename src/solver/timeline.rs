//! Poses arrive at the tracker's pace (often 30 a second) and are drawn at OBS's (often 60):
//! between two solved poses the timeline interpolates, and past the newest it predicts from
//! the last motion, for at most one tracking interval so a stop overshoots little.

use crate::pose::{AvatarPose, LookAtAngles};
use glam::{Quat, Vec3};

/// The longest prediction past the newest pose (milliseconds), whatever the interval.
const MAX_AHEAD_MS: f64 = 50.0;

#[derive(Debug, Clone, Default)]
pub struct PoseTimeline {
    previous: Option<AvatarPose>,
    latest: Option<AvatarPose>,
}

impl PoseTimeline {
    /// Adds a solved pose; one not newer than the latest replaces it (and one not newer than
    /// the previous either starts the timeline afresh), so time never runs backwards in it.
    pub fn push(&mut self, pose: AvatarPose) {
        match self.latest.take() {
            Some(latest) if pose.t_ms > latest.t_ms => self.previous = Some(latest),
            _ => {
                if self.previous.as_ref().is_some_and(|p| p.t_ms >= pose.t_ms) {
                    self.previous = None;
                }
            }
        }
        self.latest = Some(pose);
    }

    pub fn clear(&mut self) {
        *self = PoseTimeline::default();
    }

    /// The pose at `t_ms` (the solved poses' clock).
    pub fn sample(&self, t_ms: f64) -> Option<AvatarPose> {
        let latest = self.latest.as_ref()?;
        let Some(previous) = &self.previous else {
            return Some(latest.clone());
        };
        let interval = latest.t_ms - previous.t_ms;
        if interval.is_nan() || interval <= 0.0 {
            return Some(latest.clone());
        }
        let ahead = interval.min(MAX_AHEAD_MS);
        let t = t_ms.clamp(previous.t_ms, latest.t_ms + ahead);
        let s = ((t - previous.t_ms) / interval) as f32;
        let mut pose = blend(previous, latest, s);
        pose.t_ms = t_ms;
        Some(pose)
    }
}

/// The pose a fraction `s` of the way from `a` to `b` (`s` > 1 goes on past `b` at the same
/// speed). Bones and expressions only in `b` are taken from it.
fn blend(a: &AvatarPose, b: &AvatarPose, s: f32) -> AvatarPose {
    let mut out = b.clone();
    for (name, q) in &mut out.bones {
        let (Some(from), Some(to)) = (a.rotation(name), b.rotation(name)) else {
            continue;
        };
        // The turn from `a` to `b`, scaled: slerp for s <= 1, continued beyond.
        let mut step = from.inverse() * to;
        if step.w < 0.0 {
            step = -step;
        }
        let (axis, angle) = step.to_axis_angle();
        *q = (from * Quat::from_axis_angle(axis, angle * s))
            .normalize()
            .to_array();
    }
    for (name, w) in &mut out.expressions {
        let from = a.expressions.get(name).copied().unwrap_or(*w);
        *w = (from + (*w - from) * s).clamp(0.0, 1.0);
    }
    if let (Some(from), Some(to)) = (a.hips_translation, b.hips_translation) {
        out.hips_translation = Some(Vec3::from(from).lerp(Vec3::from(to), s).to_array());
    }
    if let (Some(from), Some(to)) = (a.look_at, b.look_at) {
        out.look_at = Some(LookAtAngles {
            yaw_deg: from.yaw_deg + (to.yaw_deg - from.yaw_deg) * s,
            pitch_deg: from.pitch_deg + (to.pitch_deg - from.pitch_deg) * s,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turned(t_ms: f64, deg_per_s: f32) -> AvatarPose {
        let mut pose = AvatarPose {
            t_ms,
            ..Default::default()
        };
        let angle = (deg_per_s * t_ms as f32 / 1000.0).to_radians();
        pose.set_rotation("head", Quat::from_rotation_y(angle));
        pose.expressions.insert("aa".into(), (t_ms / 1000.0) as f32);
        pose
    }

    fn yaw_deg(pose: &AvatarPose) -> f32 {
        let (axis, angle) = pose.rotation("head").unwrap().to_axis_angle();
        (angle * axis.y.signum()).to_degrees()
    }

    #[test]
    fn thirty_poses_a_second_draw_smoothly_at_sixty() {
        // A head turning at 90 degrees a second, solved at 30 fps, drawn at 60 fps right as
        // each frame is due (so half the draws fall past the newest pose).
        let mut timeline = PoseTimeline::default();
        let mut drawn = Vec::new();
        for k in 0..30 {
            timeline.push(turned(k as f64 * 1000.0 / 30.0, 90.0));
            for half in 0..2 {
                let t = (2 * k + half) as f64 * 1000.0 / 60.0;
                drawn.push(yaw_deg(&timeline.sample(t).unwrap()));
            }
        }
        // Every step is the same 1.5 degrees: no stair steps of 3 and 0.
        for pair in drawn[4..].windows(2) {
            let step = pair[1] - pair[0];
            assert!((step - 1.5).abs() < 0.01, "step {step}: {drawn:?}");
        }
        let pose = timeline.sample(29.5 * 1000.0 / 30.0).unwrap();
        assert!((pose.expressions["aa"] - 0.9833).abs() < 1e-3);
    }

    #[test]
    fn prediction_stops_one_interval_ahead() {
        let mut timeline = PoseTimeline::default();
        timeline.push(turned(0.0, 90.0));
        timeline.push(turned(33.3, 90.0));
        let far = timeline.sample(1000.0).unwrap();
        let limit = 90.0 * 66.6 / 1000.0;
        assert!((yaw_deg(&far) - limit).abs() < 0.01, "{}", yaw_deg(&far));
        // A lone pose is drawn as it is.
        let mut single = PoseTimeline::default();
        single.push(turned(0.0, 90.0));
        assert_eq!(single.sample(500.0).unwrap().t_ms, 0.0);
    }

    #[test]
    fn poses_out_of_order_never_run_time_backwards() {
        let mut timeline = PoseTimeline::default();
        timeline.push(turned(100.0, 90.0));
        timeline.push(turned(200.0, 90.0));
        // Older than both: the timeline starts afresh from it.
        timeline.push(turned(50.0, 90.0));
        assert_eq!(timeline.sample(60.0).unwrap().t_ms, 50.0);
        timeline.push(turned(80.0, 90.0));
        let pose = timeline.sample(65.0).unwrap();
        assert!(
            (yaw_deg(&pose) - 90.0 * 0.065).abs() < 0.01,
            "{}",
            yaw_deg(&pose)
        );
        // Between the two: replaces the latest only.
        timeline.push(turned(70.0, 90.0));
        assert!(timeline.sample(1000.0).is_some());
    }
}
