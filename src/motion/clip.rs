//! A VRM Animation clip played through the mixer: from a start time, once or looped, handing
//! over in its fade when it starts, ends or is stopped.

use super::{Channel, Channels};
use crate::pose::AvatarPose;
use crate::vrm::animation::VrmAnimation;
use std::sync::Arc;

/// The fade of `PlayAnimation` and `StopAnimation` when none is named (CONTRACTS.md).
pub const CLIP_FADE_MS: f64 = 300.0;

/// A clip being played.
#[derive(Debug, Clone)]
pub struct ClipPlayer {
    clip: Arc<VrmAnimation>,
    file: String,
    start_ms: f64,
    looping: bool,
    fade_ms: f64,
}

impl ClipPlayer {
    pub fn new(
        clip: Arc<VrmAnimation>,
        file: String,
        looping: bool,
        fade_ms: f64,
        now_ms: f64,
    ) -> ClipPlayer {
        ClipPlayer {
            clip,
            file,
            start_ms: now_ms,
            looping,
            fade_ms: fade_ms.max(0.0),
        }
    }

    /// The clip's pose at `now_ms` for an avatar whose hips stand `hips_height` high; None once
    /// a clip that does not loop is over.
    pub fn pose(&self, now_ms: f64, hips_height: Option<f32>) -> Option<AvatarPose> {
        let duration = self.clip.duration_ms();
        let mut t = (now_ms - self.start_ms).max(0.0);
        if t > duration {
            if !self.looping {
                return None;
            }
            t = if duration > 0.0 { t % duration } else { 0.0 };
        }
        Some(self.clip.sample((t / 1000.0) as f32, hips_height))
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn fade_ms(&self) -> f64 {
        self.fade_ms
    }
}

/// The channels a pose names something in (bones, expressions, gaze, the hips' offset).
pub fn channels_named(pose: &AvatarPose) -> Channels {
    let mut channels = Channels::NONE;
    for bone in pose.bones.keys() {
        channels = channels.with(Channel::of_bone(bone));
    }
    for name in pose.expressions.keys() {
        channels = channels.with(Channel::of_expression(name));
    }
    if pose.look_at.is_some() {
        channels = channels.with(Channel::Eyes);
    }
    if pose.hips_translation.is_some() {
        channels = channels.with(Channel::Body);
    }
    channels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrm::animation::load_animation_file;

    fn player(looping: bool) -> ClipPlayer {
        let clip = load_animation_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/testdata/vrm/vrma/test.vrma"
        ))
        .unwrap();
        ClipPlayer::new(Arc::new(clip), "test.vrma".into(), looping, 300.0, 10_000.0)
    }

    #[test]
    fn a_clip_plays_from_its_start_and_ends_or_loops() {
        let once = player(false);
        let happy = |p: &ClipPlayer, t: f64| p.pose(t, None).map(|p| p.expressions["happy"]);
        assert_eq!(happy(&once, 11_500.0), Some(1.0));
        assert!(
            once.pose(13_000.0, None).is_some(),
            "the last key is still played"
        );
        assert!(once.pose(13_001.0, None).is_none(), "then it is over");
        let looped = player(true);
        assert_eq!(happy(&looped, 14_500.0), Some(1.0), "a second time round");
        assert_eq!(
            happy(&looped, 10_000.0 + 30.0 * 3000.0 + 1_500.0),
            Some(1.0)
        );
    }

    #[test]
    fn a_clip_names_only_the_channels_it_has_tracks_for() {
        let pose = player(false).pose(10_500.0, None).unwrap();
        let channels = channels_named(&pose);
        assert!(channels.contains(Channel::Body), "the right arm");
        assert!(channels.contains(Channel::Expressions), "happy");
        assert!(channels.contains(Channel::Eyes), "the gaze");
        assert!(!channels.contains(Channel::Head) && !channels.contains(Channel::Mouth));
        assert!(!channels.contains(Channel::Hands));
    }
}
