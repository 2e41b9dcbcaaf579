//! Where every way of moving the avatar meets: camera tracking, the voice, idle life and the
//! user's chosen expressions, API requests, animation clips and VMC each offer a pose for
//! some [`Channel`]s, and the [`Mixer`] combines them by priority with smooth hand-overs. A new
//! motion source plugs in here and nowhere else.

mod clip;
mod holds;
mod mixer;

pub use clip::{CLIP_FADE_MS, ClipPlayer, channels_named};
pub use holds::{DEFAULT_FADE_MS, HeldOffer, Holds};
pub use mixer::{Mixer, Motion};

use crate::pose::AvatarPose;
use crate::settings::MouthMode;
use crate::voice::{Mouth, VISEMES, Voice};

/// What each motion source has for one frame; [`Offers::mix`] hands them to a mixer by the
/// source's rules. The OBS source and `vrm-avatar run` both mix through here.
#[derive(Debug, Clone, Default)]
pub struct Offers {
    /// Idle life: always there, under everything.
    pub idle: AvatarPose,
    /// The solved camera pose, while a tracker runs.
    pub camera: Option<AvatarPose>,
    /// The pose another app sends over VMC, while it sends.
    pub vmc: Option<AvatarPose>,
    /// The pose of the animation clip playing, when one is.
    pub clip: Option<(AvatarPose, f64)>,
    /// The voice, while one is listened to.
    pub voice: Option<Voice>,
    /// The expressions and gaze someone chose (hotkeys, default expression, control API).
    pub chosen: Option<HeldOffer>,
    pub mouth: MouthMode,
}

impl Offers {
    /// The rules: the camera drives everything it sees (not the mouth when the mouth is the
    /// voice's); VMC drives what the sender sends, over the camera; a clip drives what it has tracks for, over the camera; the voice drives the
    /// mouth in `voice` mode, and in `auto` while it is heard; chosen expressions replace the
    /// camera's and the clip's (a chosen viseme, blink or gaze wins only for itself).
    pub fn mix(self, mixer: &mut Mixer, t_ms: f64) -> AvatarPose {
        mixer.offer(Motion::Idle, self.idle, Channels::ALL);
        let voice_mouth = match (self.mouth, &self.voice) {
            (MouthMode::Voice, Some(_)) => true,
            (MouthMode::Auto, Some(voice)) => voice.speaking,
            _ => false,
        };
        if let Some(camera) = self.camera {
            let channels = if self.mouth == MouthMode::Voice && self.voice.is_some() {
                Channels::ALL.without(Channel::Mouth)
            } else {
                Channels::ALL
            };
            mixer.offer(Motion::Camera, camera, channels);
        }
        if let Some(pose) = self.vmc {
            let channels = channels_named(&pose);
            let fade_ms = Motion::Vmc.fade_ms();
            mixer.offer_partial(Motion::Vmc, pose, channels, Channels::ALL, fade_ms);
        }
        if let Some((pose, fade_ms)) = self.clip {
            let channels = channels_named(&pose);
            mixer.offer_partial(Motion::Clip, pose, channels, Channels::ALL, fade_ms);
        }
        if let Some(voice) = self.voice.filter(|_| voice_mouth) {
            mixer.offer(
                Motion::Voice,
                pose_of_mouth(&voice.mouth),
                Channels::only(Channel::Mouth),
            );
        }
        if let Some(chosen) = self.chosen {
            mixer.offer_partial(
                Motion::Chosen,
                chosen.pose,
                chosen.channels,
                chosen.partial,
                chosen.fade_ms,
            );
        }
        mixer.mix(t_ms)
    }
}

/// A part of the avatar a motion source may drive on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Hips (and their position), spine, chest, shoulders, arms and legs.
    Body,
    /// Neck and head.
    Head,
    /// Gaze, eye bones and blinks.
    Eyes,
    /// Every expression that is not a blink, a gaze expression or a viseme (happy, brows, ...).
    Expressions,
    /// The five visemes (`aa ih ou ee oh`).
    Mouth,
    /// Hands and fingers.
    Hands,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Body,
        Channel::Head,
        Channel::Eyes,
        Channel::Expressions,
        Channel::Mouth,
        Channel::Hands,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The channel of a humanoid bone (VRM 1.0 name).
    pub fn of_bone(bone: &str) -> Channel {
        const FINGERS: [&str; 5] = ["Thumb", "Index", "Middle", "Ring", "Little"];
        match bone {
            "neck" | "head" | "jaw" => Channel::Head,
            "leftEye" | "rightEye" => Channel::Eyes,
            "leftHand" | "rightHand" => Channel::Hands,
            _ if FINGERS.iter().any(|f| bone.contains(f)) => Channel::Hands,
            _ => Channel::Body,
        }
    }

    /// The channel of an expression (VRM 1.0 preset names; custom ones are expressions).
    pub fn of_expression(name: &str) -> Channel {
        match name {
            _ if VISEMES.contains(&name) => Channel::Mouth,
            "blink" | "blinkLeft" | "blinkRight" | "lookUp" | "lookDown" | "lookLeft"
            | "lookRight" => Channel::Eyes,
            _ => Channel::Expressions,
        }
    }
}

/// A set of channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Channels(u8);

impl Channels {
    pub const NONE: Channels = Channels(0);
    pub const ALL: Channels = Channels(0b11_1111);

    pub const fn only(channel: Channel) -> Channels {
        Channels(1 << channel as u8)
    }

    pub const fn with(self, channel: Channel) -> Channels {
        Channels(self.0 | 1 << channel as u8)
    }

    pub const fn without(self, channel: Channel) -> Channels {
        Channels(self.0 & !(1 << channel as u8))
    }

    pub fn contains(self, channel: Channel) -> bool {
        self.0 & (1 << channel.index()) != 0
    }
}

/// The mouth of a pose (its visemes; openness is their sum, at most 1).
pub fn mouth_of(pose: &AvatarPose) -> Mouth {
    let v = |name: &str| pose.expressions.get(name).copied().unwrap_or(0.0);
    let (aa, ih, ou, ee, oh) = (v("aa"), v("ih"), v("ou"), v("ee"), v("oh"));
    Mouth {
        open: (aa + ih + ou + ee + oh).min(1.0),
        aa,
        ih,
        ou,
        ee,
        oh,
    }
}

/// A pose that only moves the mouth: the visemes of `mouth`.
pub fn pose_of_mouth(mouth: &Mouth) -> AvatarPose {
    let mut pose = AvatarPose::default();
    for (name, weight) in VISEMES.iter().zip(mouth.visemes()) {
        pose.expressions.insert(name.to_string(), weight);
    }
    pose
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bones_and_expressions_fall_in_their_channels() {
        assert_eq!(Channel::of_bone("hips"), Channel::Body);
        assert_eq!(Channel::of_bone("leftUpperArm"), Channel::Body);
        assert_eq!(Channel::of_bone("head"), Channel::Head);
        assert_eq!(Channel::of_bone("rightEye"), Channel::Eyes);
        assert_eq!(Channel::of_bone("leftHand"), Channel::Hands);
        assert_eq!(Channel::of_bone("rightIndexProximal"), Channel::Hands);
        assert_eq!(Channel::of_bone("leftThumbMetacarpal"), Channel::Hands);
        assert_eq!(Channel::of_expression("ou"), Channel::Mouth);
        assert_eq!(Channel::of_expression("blinkLeft"), Channel::Eyes);
        assert_eq!(Channel::of_expression("happy"), Channel::Expressions);
        assert_eq!(Channel::of_expression("browRaise"), Channel::Expressions);
        let set = Channels::ALL.without(Channel::Mouth);
        assert!(!set.contains(Channel::Mouth) && set.contains(Channel::Hands));
        assert!(Channels::only(Channel::Eyes).contains(Channel::Eyes));
        assert!(!Channels::NONE.with(Channel::Body).contains(Channel::Head));
    }

    fn offers(camera_aa: Option<f32>, voice: Option<(f32, bool)>, mouth: MouthMode) -> Offers {
        let camera = camera_aa.map(|aa| {
            let mut pose = AvatarPose::default();
            pose.expressions.insert("aa".into(), aa);
            pose
        });
        let voice = voice.map(|(oh, speaking)| Voice {
            mouth: Mouth {
                open: oh,
                oh,
                ..Mouth::default()
            },
            speaking,
        });
        Offers {
            camera,
            voice,
            mouth,
            ..Offers::default()
        }
    }

    /// The mouth after half a second of the same offers.
    fn settled(make: impl Fn() -> Offers) -> Mouth {
        let mut mixer = Mixer::default();
        let mut out = AvatarPose::default();
        for i in 0..25 {
            out = make().mix(&mut mixer, i as f64 * 20.0);
        }
        mouth_of(&out)
    }

    #[test]
    fn the_mouth_setting_picks_who_moves_the_mouth() {
        use MouthMode::*;
        // auto: the voice while heard, else the camera.
        let m = settled(|| offers(Some(0.6), Some((0.8, true)), Auto));
        assert_eq!((m.aa, m.oh), (0.0, 0.8));
        let m = settled(|| offers(Some(0.6), Some((0.0, false)), Auto));
        assert_eq!((m.aa, m.oh), (0.6, 0.0));
        // camera: the voice is ignored.
        let m = settled(|| offers(Some(0.6), Some((0.8, true)), Camera));
        assert_eq!((m.aa, m.oh), (0.6, 0.0));
        // voice: the camera's mouth is ignored even in a pause (shut).
        let m = settled(|| offers(Some(0.6), Some((0.0, false)), Voice));
        assert_eq!((m.aa, m.oh), (0.0, 0.0));
        // voice without a voice source: the camera still moves it.
        let m = settled(|| offers(Some(0.6), None, Voice));
        assert_eq!(m.aa, 0.6);
        // no camera: the voice alone, and shut when not heard.
        let m = settled(|| offers(None, Some((0.5, true)), Auto));
        assert_eq!(m.oh, 0.5);
        let m = settled(|| offers(None, Some((0.0, false)), Auto));
        assert_eq!(m.open, 0.0);
    }

    #[test]
    fn vmc_drives_what_it_sends_under_the_voice_and_eases_to_idle_when_it_stops() {
        use glam::Quat;
        let mut idle = AvatarPose::default();
        idle.set_rotation("spine", Quat::from_rotation_x(0.05));
        idle.set_rotation("head", Quat::from_rotation_x(0.02));
        let mut sent = AvatarPose::default();
        sent.set_rotation("head", Quat::from_rotation_y(0.6));
        sent.expressions.insert("happy".into(), 1.0);
        sent.expressions.insert("aa".into(), 0.9);
        let voice = Voice {
            mouth: Mouth {
                open: 0.4,
                oh: 0.4,
                ..Mouth::default()
            },
            speaking: true,
        };
        let mut mixer = Mixer::default();
        let mut out = AvatarPose::default();
        let mut t = 0.0;
        for _ in 0..25 {
            out = Offers {
                idle: idle.clone(),
                vmc: Some(sent.clone()),
                voice: Some(voice),
                ..Offers::default()
            }
            .mix(&mut mixer, t);
            t += 20.0;
        }
        let angle =
            |p: &AvatarPose, bone: &str, q: Quat| p.rotation(bone).unwrap().angle_between(q);
        assert!(angle(&out, "head", Quat::from_rotation_y(0.6)) < 1e-4);
        assert!(
            angle(&out, "spine", Quat::from_rotation_x(0.05)) < 1e-4,
            "idle keeps the body"
        );
        assert_eq!(out.expressions["happy"], 1.0);
        let mouth = mouth_of(&out);
        assert_eq!(
            (mouth.aa, mouth.oh),
            (0.0, 0.4),
            "the voice has the mouth while heard"
        );
        // The sender stops: halfway through the fade the head is between, then idle's.
        let stopped = |mixer: &mut Mixer, t: f64| {
            Offers {
                idle: idle.clone(),
                ..Offers::default()
            }
            .mix(mixer, t)
        };
        let mut mid = AvatarPose::default();
        for i in 1..=20 {
            let pose = stopped(&mut mixer, t + i as f64 * 20.0);
            if i == 8 {
                mid = pose;
            }
        }
        let halfway = angle(&mid, "head", Quat::from_rotation_x(0.02));
        assert!(halfway > 0.1 && halfway < 0.5, "{halfway}");
        let end = stopped(&mut mixer, t + 500.0);
        assert!(angle(&end, "head", Quat::from_rotation_x(0.02)) < 1e-4);
        assert_eq!(end.expressions.get("happy").copied().unwrap_or(0.0), 0.0);
    }

    #[test]
    fn a_mouth_round_trips_through_a_pose() {
        let mouth = Mouth {
            open: 0.7,
            aa: 0.5,
            ih: 0.0,
            ou: 0.2,
            ee: 0.0,
            oh: 0.0,
        };
        assert_eq!(mouth_of(&pose_of_mouth(&mouth)), mouth);
    }
}
