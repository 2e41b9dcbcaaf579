//! The mixer: motion sources in priority order, each eased in and out per channel.
//!
//! Rules: sources are layered from the lowest priority ([`Motion::Idle`]) up; on each channel a
//! source's pose is blended over what lies below by that channel's weight. A weight moves
//! towards 1 while the source offers the channel and towards 0 when it stops, over the source's
//! fade time, so a source that starts or stops hands over without a pop; while it fades out its
//! last pose is held. Idle life is always there underneath, so a channel no one drives is never
//! left in the T-pose. A source offers either every part of its channels (what it leaves out is
//! at rest or zero) or, on its *partial* channels, only what it names (an animation clip with one
//! arm track moves that arm and leaves the rest to what lies below).

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
    /// Another app's motion over VMC: what it sends, over the camera (it stands in for one).
    Vmc,
    /// A VRM Animation clip: what it has tracks for, over the camera (so a gesture plays while
    /// the face stays tracked).
    Clip,
    /// Lip sync from a voice: the mouth only, while it is heard.
    Voice,
    /// The expressions the user switched on (hotkeys) or the default expression.
    Chosen,
}

impl Motion {
    /// How long a hand-over to or from this source takes.
    pub fn fade_ms(self) -> f64 {
        match self {
            Motion::Idle => 0.0,
            // Losing the camera is already eased part by part by the solver; this only hides
            // the step when tracking starts or its input goes away at once.
            Motion::Camera => 250.0,
            // A sender that stops (or starts) hands over as gently as a lost camera.
            Motion::Vmc => 300.0,
            Motion::Clip => 300.0,
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
    /// Channels on which only what the pose names is blended.
    partial: Channels,
    offered: bool,
    weights: [f32; 6],
    fade_ms: f64,
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
        self.offer_partial(motion, pose, channels, Channels::NONE, motion.fade_ms());
    }

    /// [`Self::offer`], blending only what `pose` names on the `partial` channels, and handing
    /// over in `fade_ms` (also when it then stops offering).
    pub fn offer_partial(
        &mut self,
        motion: Motion,
        pose: AvatarPose,
        channels: Channels,
        partial: Channels,
        fade_ms: f64,
    ) {
        let layer = self.layers.entry(motion).or_insert_with(|| Layer {
            pose: AvatarPose::default(),
            channels,
            partial,
            offered: false,
            weights: [0.0; 6],
            fade_ms,
        });
        layer.pose = pose;
        layer.channels = channels;
        layer.partial = partial;
        layer.offered = true;
        layer.fade_ms = fade_ms.max(0.0);
    }

    /// `motion` stops now and fades out in `fade_ms` (instead of its last offer's fade).
    pub fn release(&mut self, motion: Motion, fade_ms: f64) {
        if let Some(layer) = self.layers.get_mut(&motion) {
            layer.offered = false;
            layer.fade_ms = fade_ms.max(0.0);
        }
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
        for layer in self.layers.values_mut() {
            let step = if layer.fade_ms <= 0.0 {
                1.0
            } else {
                (dt / layer.fade_ms) as f32
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
                    let partial = layer.partial.contains(channel);
                    blend(&mut out, &layer.pose, channel, smooth(*w), partial);
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
/// (expressions, gaze, hips offset), or with `partial`, left as it is.
fn blend(out: &mut AvatarPose, top: &AvatarPose, channel: Channel, w: f32, partial: bool) {
    // Each name once (a name on both sides is blended once, by `w`).
    let names = |below: Vec<&String>, above: Vec<&String>| -> Vec<String> {
        let mut all: Vec<String> = above.into_iter().chain(below).cloned().collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    let of_channel = |b: &&String| Channel::of_bone(b) == channel;
    let bones = names(
        if partial {
            Vec::new()
        } else {
            out.bones.keys().filter(of_channel).collect()
        },
        top.bones.keys().filter(of_channel).collect(),
    );
    for bone in bones {
        let a = out.rotation(&bone).unwrap_or(Quat::IDENTITY);
        let b = top.rotation(&bone).unwrap_or(Quat::IDENTITY);
        out.set_rotation(&bone, a.slerp(b, w));
    }
    let of_channel = |n: &&String| Channel::of_expression(n) == channel;
    let expressions = names(
        if partial {
            Vec::new()
        } else {
            out.expressions.keys().filter(of_channel).collect()
        },
        top.expressions.keys().filter(of_channel).collect(),
    );
    for name in expressions {
        let a = out.expressions.get(&name).copied().unwrap_or(0.0);
        let b = top.expressions.get(&name).copied().unwrap_or(0.0);
        out.expressions.insert(name, a + (b - a) * w);
    }
    match channel {
        Channel::Body if partial && top.hips_translation.is_none() => {}
        Channel::Eyes if partial && top.look_at.is_none() => {}
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
    fn a_partial_layer_moves_only_what_it_names() {
        let mut mixer = Mixer::default();
        let mut camera = pose(20.0, 0.3, 0.8);
        camera.set_rotation("leftUpperArm", Quat::from_rotation_x(0.4));
        let mut clip = AvatarPose::default();
        clip.set_rotation("spine", Quat::from_rotation_z(0.5));
        let mut out = AvatarPose::default();
        for i in 0..30 {
            mixer.offer(Motion::Camera, camera.clone(), Channels::ALL);
            let body = Channels::only(Channel::Body);
            mixer.offer_partial(Motion::Clip, clip.clone(), body, Channels::ALL, 300.0);
            out = mixer.mix(i as f64 * 20.0);
        }
        let spine = out.rotation("spine").unwrap();
        assert!(
            spine.angle_between(Quat::from_rotation_z(0.5)) < 1e-4,
            "the clip's"
        );
        let arm = out.rotation("leftUpperArm").unwrap();
        assert!(
            arm.angle_between(Quat::from_rotation_x(0.4)) < 1e-4,
            "the camera's"
        );
        assert!((head_deg(&out) - 20.0).abs() < 1e-3);
        assert!((out.expressions["happy"] - 0.8).abs() < 1e-6);
        assert_eq!(out.look_at, camera.look_at);
    }

    #[test]
    fn a_name_on_both_sides_is_blended_once() {
        let mut out = pose(0.0, 0.0, 0.0);
        blend(&mut out, &pose(30.0, 0.0, 1.0), Channel::Head, 0.5, false);
        assert!((head_deg(&out) - 15.0).abs() < 1e-3, "{}", head_deg(&out));
        blend(
            &mut out,
            &pose(0.0, 0.0, 1.0),
            Channel::Expressions,
            0.5,
            false,
        );
        assert!((out.expressions["happy"] - 0.5).abs() < 1e-6);
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
