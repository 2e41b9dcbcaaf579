//! What the avatar is told to do besides being tracked (hotkeys, the default expression, the
//! control API): expressions and gaze held, animation clips to play or stop; and what it reports
//! back (events). Callers only set fields and return; the render worker acts on them.

use crate::motion::{ClipPlayer, HeldOffer, Holds, Mixer, Motion};
use crate::pose::{AvatarPose, LookAtAngles};
use crate::vrm::animation::load_animation_file;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use super::worker::clock_ms;

/// Something the avatar did that a script may wait for (the control API's vendor events).
#[derive(Debug, Clone, PartialEq)]
pub enum AvatarEvent {
    /// An avatar file was loaded, or refused (the previous avatar then stays).
    AvatarLoaded {
        vrm_path: String,
        ok: bool,
        error: Option<String>,
    },
    /// A clip that does not loop played to its end, or could not be played.
    AnimationEnded { file: String },
}

/// What to do with clips, for the render worker.
#[derive(Debug, Clone, PartialEq)]
enum ClipCommand {
    Play {
        path: PathBuf,
        looping: bool,
        fade_ms: f64,
    },
    Stop {
        fade_ms: f64,
    },
}

/// Events kept for a reader that does not come (no obs-websocket): the oldest go first.
const MAX_EVENTS: usize = 64;

/// The direction of one avatar (see the module's doc).
#[derive(Default)]
pub struct Direction {
    holds: Mutex<Holds>,
    clip: Mutex<Option<ClipCommand>>,
    playing: Mutex<Option<String>>,
    events: Mutex<VecDeque<AvatarEvent>>,
}

fn now_ms() -> f64 {
    clock_ms(std::time::Instant::now())
}

impl Direction {
    /// Holds expression `name` at `weight` (0 lets it go), easing over `fade_ms`.
    pub fn set_expression(&self, name: &str, weight: f32, fade_ms: f64) {
        self.holds.lock().set(name, weight, fade_ms, now_ms());
    }

    /// Lets every held expression go.
    pub fn clear_expressions(&self, fade_ms: f64) {
        self.holds.lock().clear(fade_ms, now_ms());
    }

    /// Whether `name` is held (a hotkey's toggle reads it).
    pub fn expression_held(&self, name: &str) -> bool {
        self.holds.lock().is_held(name)
    }

    /// The expression shown while no other is held ("" for none).
    pub fn set_default_expression(&self, name: &str) {
        self.holds.lock().set_default(name, now_ms());
    }

    /// Fixes the gaze, or gives it back (None).
    pub fn set_look(&self, look: Option<LookAtAngles>) {
        self.holds.lock().set_look(look);
    }

    /// Plays the clip at `path` (loaded by the render worker; a bad file ends it at once with
    /// an [`AvatarEvent::AnimationEnded`] and a log line).
    pub fn play(&self, path: PathBuf, looping: bool, fade_ms: f64) {
        *self.clip.lock() = Some(ClipCommand::Play {
            path,
            looping,
            fade_ms,
        });
    }

    /// Stops the clip playing, fading out over `fade_ms`.
    pub fn stop_clip(&self, fade_ms: f64) {
        *self.clip.lock() = Some(ClipCommand::Stop { fade_ms });
    }

    /// The clip playing (its file as given), if any.
    pub fn playing(&self) -> Option<String> {
        self.playing.lock().clone()
    }

    /// Takes the events that came since the last call.
    pub fn take_events(&self) -> Vec<AvatarEvent> {
        self.events.lock().drain(..).collect()
    }

    pub(super) fn report(&self, event: AvatarEvent) {
        let mut events = self.events.lock();
        if events.len() >= MAX_EVENTS {
            events.pop_front();
        }
        events.push_back(event);
    }

    pub(super) fn held(&self, now_ms: f64) -> Option<HeldOffer> {
        self.holds.lock().offer(now_ms)
    }
}

/// The render worker's side of clips: the one playing.
#[derive(Default)]
pub(super) struct Clips {
    player: Option<ClipPlayer>,
}

impl Clips {
    /// Acts on a new command, and gives the clip's pose at `now_ms` with its fade (None when
    /// none plays). A clip that ends or is stopped is released to the mixer's fade-out.
    pub(super) fn update(
        &mut self,
        direction: &Direction,
        mixer: &mut Mixer,
        now_ms: f64,
        hips_height: Option<f32>,
    ) -> Option<(AvatarPose, f64)> {
        let command = direction.clip.lock().take();
        match command {
            Some(ClipCommand::Play {
                path,
                looping,
                fade_ms,
            }) => {
                let file = path.display().to_string();
                match load_animation_file(&path) {
                    Ok(clip) => {
                        log::info!("playing the animation {file}");
                        self.player = Some(ClipPlayer::new(
                            Arc::new(clip),
                            file,
                            looping,
                            fade_ms,
                            now_ms,
                        ));
                    }
                    Err(err) => {
                        log::warn!("cannot play the animation {file}: {err}");
                        direction.report(AvatarEvent::AnimationEnded { file });
                    }
                }
            }
            Some(ClipCommand::Stop { fade_ms }) if self.player.take().is_some() => {
                mixer.release(Motion::Clip, fade_ms);
            }
            Some(ClipCommand::Stop { .. }) | None => {}
        }
        let pose = self
            .player
            .as_ref()
            .and_then(|p| p.pose(now_ms, hips_height));
        if pose.is_none()
            && let Some(ended) = self.player.take()
        {
            mixer.release(Motion::Clip, ended.fade_ms());
            direction.report(AvatarEvent::AnimationEnded {
                file: ended.file().to_string(),
            });
        }
        *direction.playing.lock() = self.player.as_ref().map(|p| p.file().to_string());
        let fade = self.player.as_ref().map_or(0.0, ClipPlayer::fade_ms);
        pose.map(|pose| (pose, fade))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::Channel;

    const TEST_VRMA: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/testdata/vrm/vrma/test.vrma"
    );

    #[test]
    fn a_clip_plays_ends_with_an_event_and_fades_out() {
        let direction = Direction::default();
        let mut clips = Clips::default();
        let mut mixer = Mixer::default();
        direction.play(TEST_VRMA.into(), false, 300.0);
        let mut t = 0.0;
        let mut ended_at = None;
        while t < 4000.0 {
            if let Some((pose, fade)) = clips.update(&direction, &mut mixer, t, None) {
                assert_eq!(fade, 300.0);
                mixer.offer_partial(
                    Motion::Clip,
                    pose,
                    crate::motion::Channels::ALL,
                    crate::motion::Channels::ALL,
                    fade,
                );
                assert_eq!(direction.playing().as_deref(), Some(TEST_VRMA));
            } else if ended_at.is_none() {
                ended_at = Some(t);
            }
            mixer.mix(t);
            t += 20.0;
        }
        let ended_at = ended_at.unwrap();
        assert!((3000.0..3040.0).contains(&ended_at), "{ended_at}");
        assert_eq!(
            direction.take_events(),
            [AvatarEvent::AnimationEnded {
                file: TEST_VRMA.into()
            }]
        );
        assert_eq!(direction.playing(), None);
        assert_eq!(mixer.weight(Motion::Clip, Channel::Body), 0.0, "faded out");
    }

    #[test]
    fn a_bad_clip_ends_at_once_and_stop_fades_over_its_own_time() {
        let direction = Direction::default();
        let mut clips = Clips::default();
        let mut mixer = Mixer::default();
        direction.play("/nonexistent.vrma".into(), true, 300.0);
        assert!(clips.update(&direction, &mut mixer, 0.0, None).is_none());
        assert_eq!(direction.take_events().len(), 1);
        direction.play(TEST_VRMA.into(), true, 0.0);
        let (pose, _) = clips.update(&direction, &mut mixer, 0.0, None).unwrap();
        mixer.offer_partial(
            Motion::Clip,
            pose,
            crate::motion::Channels::ALL,
            crate::motion::Channels::ALL,
            0.0,
        );
        mixer.mix(0.0);
        assert_eq!(mixer.weight(Motion::Clip, Channel::Body), 1.0);
        direction.stop_clip(1000.0);
        assert!(clips.update(&direction, &mut mixer, 10.0, None).is_none());
        mixer.mix(500.0);
        let w = mixer.weight(Motion::Clip, Channel::Body);
        assert!(w > 0.0 && w < 1.0, "half-way through a 1 s fade: {w}");
        assert!(direction.take_events().is_empty(), "a stop is not an end");
    }

    #[test]
    fn events_are_bounded() {
        let direction = Direction::default();
        for i in 0..100 {
            direction.report(AvatarEvent::AnimationEnded {
                file: i.to_string(),
            });
        }
        let events = direction.take_events();
        assert_eq!(events.len(), MAX_EVENTS);
        assert_eq!(events[0], AvatarEvent::AnimationEnded { file: "36".into() });
    }
}
