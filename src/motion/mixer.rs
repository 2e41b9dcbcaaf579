//! The mixer: motion sources in priority order, each eased in and out per channel.
//!
//! Rules: sources are layered from the lowest priority ([`Motion::Idle`]) up; on each channel a
//! source's pose is blended over what lies below by that channel's weight. A weight moves
//! towards 1 while the source offers the channel and towards 0 when it stops, over the source's
//! fade time, so a source that starts or stops hands over without a pop; while it fades out its
//! last pose is held. Idle life is always there underneath, so a channel no one drives is never
//! left in the T-pose.

use super::{Channel, Channels};
use crate::pose::{AvatarPose, LookAtAngles};
use glam::Quat;
use std::collections::BTreeMap;

/// A motion source. The order is the priority: a later one wins the channels it offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Motion {
    /// Breathing, blinks and sway: always offered, under everything.
    Idle,
    /// Camera tracking through the solver (which eases lost parts to idle on its own).
    Camera,
    /// Lip sync from a voice: the mouth only, while it is heard.
    Voice,
    /// The expressions the user switched on (hotkeys) or the default expression.
    Chosen,
}

impl Motion {
    /// How long a hand-over to or from this source takes.
    fn fade_ms(self) -> f64 {
        match self {
            Motion::Idle => 0.0,
            // Losing the camera is already eased part by part by the solver; this only hides
            // the step when tracking starts or its input goes away at once.
            Motion::Camera => 250.0,
            // Short: the mouth must follow the first syllable, and close at once when the
            // voice hands back to the camera.
            Motion::Voice => 60.0,
            Motion::Chosen => 150.0,
        }
    }
}

struct Layer {
    pose: AvatarPose,
    channels: Channels,
    offered: bool,
    weights: [f32; 6],
}

/// Combines the offered motion into the pose to draw (see the module's rules).
#[derive(Default)]
pub struct Mixer {
    layers: BTreeMap<Motion, Layer>,
    last_ms: Option<f64>,
}

/// The longest step a weight takes at once (a stalled caller does not skip a fade).
const MAX_STEP_MS: f64 = 100.0;

impl Mixer {
    /// `motion` drives `channels` with `pose` in the next [`Self::mix`]. A source that offers
    /// nothing before a mix fades out of every channel.
    pub fn offer(&mut self, motion: Motion, pose: AvatarPose, channels: Channels) {
        let layer = self.layers.entry(motion).or_insert_with(|| Layer {
            pose: AvatarPose::default(),
            channels,
            offered: false,
            weights: [0.0; 6],
        });
        layer.pose = pose;
        layer.channels = channels;
        layer.offered = true;
    }

    /// The pose at `t_ms` (a clock that only goes forward).
    pub fn mix(&mut self, t_ms: f64) -> AvatarPose {
        let dt = self
            .last_ms
            .map_or(0.0, |last| (t_ms - last).clamp(0.0, MAX_STEP_MS));
        self.last_ms = Some(t_ms);
        let mut out = AvatarPose {
            t_ms,
            ..AvatarPose::default()
        };
        for (motion, layer) in &mut self.layers {
            let step = if motion.fade_ms() <= 0.0 {
                1.0
            } else {
                (dt / motion.fade_ms()) as f32
            };
            for channel in Channel::ALL {
                let target = layer.offered && layer.channels.contains(channel);
                let w = &mut layer.weights[channel.index()];
                *w = if target {
                    (*w + step).min(1.0)
                } else {
                    (*w - step).max(0.0)
                };
                if *w > 0.0 {
                    blend(&mut out, &layer.pose, channel, smooth(*w));
                }
            }
            layer.offered = false;
        }
        self.layers
            .retain(|_, layer| layer.weights.iter().any(|w| *w > 0.0));
        out
    }

    /// How much `motion` drives `channel` now (0..1, as of the last mix).
    pub fn weight(&self, motion: Motion, channel: Channel) -> f32 {
        self.layers
            .get(&motion)
            .map_or(0.0, |layer| smooth(layer.weights[channel.index()]))
    }
}

/// An ease in and out, so a hand-over starts and ends gently.
fn smooth(w: f32) -> f32 {
    w * w * (3.0 - 2.0 * w)
}

/// Blends `top`'s `channel` over `out` by `w`; what `top` leaves out is at rest (bones), zero
/// (expressions, gaze, hips offset).
fn blend(out: &mut AvatarPose, top: &AvatarPose, channel: Channel, w: f32) {
    let bones: Vec<String> = out
        .bones
        .keys()
        .chain(top.bones.keys())
        .filter(|b| Channel::of_bone(b) == channel)
        .cloned()
        .collect();
    for bone in bones {
        let a = out.rotation(&bone).unwrap_or(Quat::IDENTITY);
        let b = top.rotation(&bone).unwrap_or(Quat::IDENTITY);
        out.set_rotation(&bone, a.slerp(b, w));
    }
    let names: Vec<String> = out
        .expressions
        .keys()
        .chain(top.expressions.keys())
        .filter(|n| Channel::of_expression(n) == channel)
        .cloned()
        .collect();
    for name in names {
        let a = out.expressions.get(&name).copied().unwrap_or(0.0);
        let b = top.expressions.get(&name).copied().unwrap_or(0.0);
        out.expressions.insert(name, a + (b - a) * w);
    }
    match channel {
        Channel::Body if out.hips_translation.is_some() || top.hips_translation.is_some() => {
            let v = out.hips_offset().lerp(top.hips_offset(), w);
            out.hips_translation = Some(v.to_array());
        }
        Channel::Eyes if out.look_at.is_some() || top.look_at.is_some() => {
            let (a, b) = (
                out.look_at.unwrap_or_default(),
                top.look_at.unwrap_or_default(),
            );
            out.look_at = Some(LookAtAngles {
                yaw_deg: a.yaw_deg + (b.yaw_deg - a.yaw_deg) * w,
                pitch_deg: a.pitch_deg + (b.pitch_deg - a.pitch_deg) * w,
            });
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::{mouth_of, pose_of_mouth};
    use crate::voice::Mouth;

    fn pose(bone_deg: f32, aa: f32, happy: f32) -> AvatarPose {
        let mut pose = AvatarPose::default();
        pose.set_rotation("head", Quat::from_rotation_y(bone_deg.to_radians()));
        pose.set_rotation("spine", Quat::from_rotation_x(bone_deg.to_radians()));
        pose.expressions.insert("aa".into(), aa);
        pose.expressions.insert("happy".into(), happy);
        pose.look_at = Some(LookAtAngles {
            yaw_deg: bone_deg,
            pitch_deg: 0.0,
        });
        pose
    }

    fn head_deg(pose: &AvatarPose) -> f32 {
        pose.rotation("head")
            .unwrap()
            .to_euler(glam::EulerRot::YXZ)
            .0
            .to_degrees()
    }

    fn open_mouth() -> AvatarPose {
        pose_of_mouth(&Mouth {
            open: 1.0,
            aa: 1.0,
            ..Mouth::default()
        })
    }

    #[test]
    fn idle_alone_comes_through_unchanged() {
        let mut mixer = Mixer::default();
        let idle = pose(5.0, 0.0, 0.0);
        mixer.offer(Motion::Idle, idle.clone(), Channels::ALL);
        let out = mixer.mix(0.0);
        assert_eq!(out.bones, idle.bones);
        assert_eq!(out.look_at, idle.look_at);
        assert_eq!(mixer.weight(Motion::Idle, Channel::Body), 1.0);
    }

    #[test]
    fn a_source_that_starts_or_stops_fades_without_a_pop() {
        let mut mixer = Mixer::default();
        let mut heads = Vec::new();
        // 40 ms frames: camera from 200 ms to 1000 ms.
        for i in 0..40 {
            let t = i as f64 * 40.0;
            mixer.offer(Motion::Idle, pose(0.0, 0.0, 0.0), Channels::ALL);
            if (200.0..1000.0).contains(&t) {
                mixer.offer(Motion::Camera, pose(30.0, 0.0, 0.0), Channels::ALL);
            }
            heads.push(head_deg(&mixer.mix(t)));
        }
        let steps: Vec<f32> = heads.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        let largest = steps.iter().cloned().fold(0.0, f32::max);
        assert!(largest < 10.0, "no step over a third of the way: {heads:?}");
        assert!(
            (heads[20] - 30.0).abs() < 1e-3,
            "the camera wins: {heads:?}"
        );
        assert!(heads[39].abs() < 1e-3, "back to idle: {heads:?}");
        assert!(heads[5] > 0.0 && heads[5] < 30.0, "a hand-over in between");
    }

    #[test]
    fn the_voice_takes_only_the_mouth_and_hands_it_back() {
        let mut mixer = Mixer::default();
        let camera = pose(20.0, 0.3, 0.8);
        let frame = |mixer: &mut Mixer, t: f64, voice: bool| {
            mixer.offer(Motion::Idle, pose(0.0, 0.0, 0.0), Channels::ALL);
            mixer.offer(Motion::Camera, camera.clone(), Channels::ALL);
            if voice {
                mixer.offer(Motion::Voice, open_mouth(), Channels::only(Channel::Mouth));
            }
            mixer.mix(t)
        };
        for i in 0..20 {
            frame(&mut mixer, i as f64 * 20.0, false);
        }
        let mut t = 400.0;
        let mut voiced = frame(&mut mixer, t, true);
        while mixer.weight(Motion::Voice, Channel::Mouth) < 1.0 {
            t += 20.0;
            voiced = frame(&mut mixer, t, true);
        }
        assert!(t - 400.0 <= 80.0, "the voice takes over within its fade");
        assert_eq!(mouth_of(&voiced).aa, 1.0);
        assert!(
            (head_deg(&voiced) - 20.0).abs() < 1e-3,
            "the head stays the camera's"
        );
        assert!(
            (voiced.expressions["happy"] - 0.8).abs() < 1e-6,
            "so do expressions"
        );
        for _ in 0..10 {
            t += 20.0;
            voiced = frame(&mut mixer, t, false);
        }
        assert!(
            (mouth_of(&voiced).aa - 0.3).abs() < 1e-6,
            "the camera's mouth again"
        );
        assert_eq!(mixer.weight(Motion::Voice, Channel::Mouth), 0.0);
    }

    #[test]
    fn chosen_expressions_override_the_cameras_but_not_its_mouth() {
        let mut mixer = Mixer::default();
        let mut chosen = AvatarPose::default();
        chosen.expressions.insert("angry".into(), 1.0);
        let mut out = AvatarPose::default();
        for i in 0..20 {
            mixer.offer(Motion::Camera, pose(0.0, 0.4, 0.8), Channels::ALL);
            mixer.offer(
                Motion::Chosen,
                chosen.clone(),
                Channels::only(Channel::Expressions),
            );
            out = mixer.mix(i as f64 * 20.0);
        }
        assert_eq!(out.expressions["angry"], 1.0);
        assert_eq!(
            out.expressions["happy"], 0.0,
            "the chosen set replaces the camera's"
        );
        assert!((out.expressions["aa"] - 0.4).abs() < 1e-6);
    }

    #[test]
    fn a_stalled_clock_does_not_skip_a_fade() {
        let mut mixer = Mixer::default();
        mixer.offer(Motion::Camera, pose(30.0, 0.0, 0.0), Channels::ALL);
        mixer.mix(0.0);
        mixer.offer(Motion::Camera, pose(30.0, 0.0, 0.0), Channels::ALL);
        mixer.mix(10_000.0);
        let w = mixer.weight(Motion::Camera, Channel::Head);
        assert!(w > 0.0 && w < 1.0, "{w}");
    }
}
