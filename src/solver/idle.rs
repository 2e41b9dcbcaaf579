//! Idle life: with no tracking input the avatar breathes, blinks at natural random intervals and
//! sways a little, with arms relaxed at its sides instead of the T-pose.

use crate::pose::AvatarPose;
use glam::{EulerRot, Quat};

/// Deterministic for a given seed, so tests and several sources are reproducible.
pub struct IdleMotion {
    rng: u64,
    next_blink_s: f32,
    blink_started_s: Option<f32>,
}

/// How long one blink takes (close and open), in seconds.
const BLINK_S: f32 = 0.16;

impl IdleMotion {
    pub fn new(seed: u64) -> Self {
        let mut idle = Self {
            rng: seed | 1,
            next_blink_s: 0.0,
            blink_started_s: None,
        };
        idle.next_blink_s = idle.blink_interval();
        idle
    }

    fn random(&mut self) -> f32 {
        // xorshift64*: small, fast, and good enough for blink timing.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
    }

    /// People blink every 2 to 6 seconds, now and then twice in a row.
    fn blink_interval(&mut self) -> f32 {
        if self.random() < 0.12 {
            0.3
        } else {
            2.0 + 4.0 * self.random()
        }
    }

    /// The pose at time `t_s` (seconds, increasing between calls).
    pub fn pose(&mut self, t_s: f32) -> AvatarPose {
        let mut pose = AvatarPose {
            t_ms: t_s as f64 * 1000.0,
            ..Default::default()
        };
        // Breathing: about 15 breaths a minute, chest and shoulders rise a little.
        let breath = (t_s * std::f32::consts::TAU / 4.0).sin();
        // Sway: two slow, incommensurate waves so it never looks like a loop.
        let sway = (t_s * 0.37).sin() * 0.6 + (t_s * 0.23 + 1.3).sin() * 0.4;
        let nod = (t_s * 0.29 + 0.7).sin();
        let deg = f32::to_radians;
        let euler = |x: f32, y: f32, z: f32| Quat::from_euler(EulerRot::YXZ, y, x, z);
        pose.set_rotation(
            "spine",
            euler(deg(1.0 * breath), deg(1.5 * sway), deg(0.8 * sway)),
        );
        pose.set_rotation("chest", euler(deg(-1.2 * breath), 0.0, 0.0));
        pose.set_rotation("neck", euler(deg(nod), deg(-sway), 0.0));
        pose.set_rotation(
            "head",
            euler(deg(1.5 * nod), deg(2.0 * sway), deg(-1.5 * sway)),
        );
        // Arms relaxed: about 70 degrees down from the T-pose, elbows a little bent, and the
        // shoulders following the breath. The avatar's left is +X, so its left arm lowers
        // with a negative turn about Z.
        let shoulder = deg(1.0 * breath);
        pose.set_rotation("leftShoulder", Quat::from_rotation_z(shoulder));
        pose.set_rotation("rightShoulder", Quat::from_rotation_z(-shoulder));
        pose.set_rotation("leftUpperArm", euler(0.0, deg(-5.0), deg(-70.0)));
        pose.set_rotation("rightUpperArm", euler(0.0, deg(5.0), deg(70.0)));
        pose.set_rotation("leftLowerArm", Quat::from_rotation_y(deg(-12.0)));
        pose.set_rotation("rightLowerArm", Quat::from_rotation_y(deg(12.0)));
        pose.hips_translation = Some([0.004 * sway, 0.0, 0.0]);

        if self.blink_started_s.is_none() && t_s >= self.next_blink_s {
            self.blink_started_s = Some(t_s);
        }
        if let Some(start) = self.blink_started_s {
            let phase = (t_s - start) / BLINK_S;
            if phase >= 1.0 {
                self.blink_started_s = None;
                self.next_blink_s = t_s + self.blink_interval();
            } else {
                // Closing is faster than opening, as in a real blink.
                let weight = if phase < 0.4 {
                    phase / 0.4
                } else {
                    1.0 - (phase - 0.4) / 0.6
                };
                pose.expressions
                    .insert("blink".into(), weight.clamp(0.0, 1.0));
            }
        }
        pose
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blinks_come_at_natural_intervals_and_close_fully() {
        let mut idle = IdleMotion::new(7);
        let mut blinks = 0;
        let mut closed = false;
        let mut peak: f32 = 0.0;
        // 60 s at 60 fps.
        for frame in 0..3600 {
            let w = idle
                .pose(frame as f32 / 60.0)
                .expressions
                .get("blink")
                .copied()
                .unwrap_or(0.0);
            peak = peak.max(w);
            if w > 0.5 && !closed {
                blinks += 1;
            }
            closed = w > 0.5;
        }
        assert!((8..=30).contains(&blinks), "{blinks} blinks a minute");
        assert!(peak > 0.9, "blinks close the eyes ({peak})");
    }

    #[test]
    fn the_body_moves_a_little_and_smoothly() {
        let mut idle = IdleMotion::new(1);
        let a = idle.pose(1.0).rotation("head").unwrap();
        let b = idle.pose(1.0 + 1.0 / 60.0).rotation("head").unwrap();
        let c = idle.pose(3.0).rotation("head").unwrap();
        assert!(a.angle_between(b) < 0.01, "no jumps between frames");
        assert!(a.angle_between(c) > 0.005, "but it does move");
        assert!(a.angle_between(Quat::IDENTITY) < 0.1, "only a little");
        let arm = idle.pose(0.0).rotation("leftUpperArm").unwrap();
        let lowered = arm * glam::Vec3::X;
        assert!(lowered.y < -0.8, "the left arm hangs down: {lowered}");
    }
}
