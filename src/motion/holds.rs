//! Expressions and gaze someone chose: hotkeys, the default expression and the control API's
//! `SetExpression`, `ClearExpressions` and `SetLookAt` all go through here. Each expression is
//! held at a weight until changed, easing to a new weight over its own fade; the default
//! expression is held while nothing else is.

use super::{Channel, Channels};
use crate::pose::{AvatarPose, LookAtAngles};
use std::collections::BTreeMap;

/// The fade of a hotkey and of a request that names none (CONTRACTS.md: `fade_ms` 150).
pub const DEFAULT_FADE_MS: f64 = 150.0;

#[derive(Debug, Clone, Copy)]
struct Hold {
    from: f32,
    to: f32,
    start_ms: f64,
    fade_ms: f64,
}

impl Hold {
    fn at(&self, t_ms: f64) -> f32 {
        if self.fade_ms <= 0.0 || t_ms >= self.start_ms + self.fade_ms {
            return self.to;
        }
        let s = ((t_ms - self.start_ms) / self.fade_ms).clamp(0.0, 1.0) as f32;
        self.from + (self.to - self.from) * s * s * (3.0 - 2.0 * s)
    }
}

/// What the holds offer the mixer for one frame.
#[derive(Debug, Clone)]
pub struct HeldOffer {
    pub pose: AvatarPose,
    pub channels: Channels,
    /// Channels on which only the named expressions (and the gaze) are blended.
    pub partial: Channels,
    pub fade_ms: f64,
}

/// The chosen expressions and gaze (see the module's rules).
#[derive(Debug, Clone, Default)]
pub struct Holds {
    held: BTreeMap<String, Hold>,
    default: String,
    look: Option<LookAtAngles>,
    /// The fade of the last change (the mixer's hand-over when everything is let go).
    fade_ms: f64,
}

impl Holds {
    /// Holds `name` at `weight` (0..1; 0 lets it go) from `now_ms`, easing over `fade_ms`.
    pub fn set(&mut self, name: &str, weight: f32, fade_ms: f64, now_ms: f64) {
        self.ease(name, weight.clamp(0.0, 1.0), fade_ms, now_ms);
        self.sync_default(fade_ms, now_ms);
    }

    /// Lets every expression go (the default one comes back).
    pub fn clear(&mut self, fade_ms: f64, now_ms: f64) {
        let names: Vec<String> = self.held.keys().cloned().collect();
        for name in names {
            self.ease(&name, 0.0, fade_ms, now_ms);
        }
        self.sync_default(fade_ms, now_ms);
    }

    /// The expression shown while no other is held ("" for none).
    pub fn set_default(&mut self, name: &str, now_ms: f64) {
        let name = name.trim();
        if name == self.default {
            return;
        }
        if !self.default.is_empty() {
            let old = self.default.clone();
            self.ease(&old, 0.0, DEFAULT_FADE_MS, now_ms);
        }
        self.default = name.to_string();
        self.sync_default(DEFAULT_FADE_MS, now_ms);
    }

    /// Whether `name` is held (at a weight over 0, the default aside).
    pub fn is_held(&self, name: &str) -> bool {
        name != self.default && self.held.get(name).is_some_and(|h| h.to > 0.0)
    }

    /// Fixes the gaze (None: the eyes are the camera's or idle again).
    pub fn set_look(&mut self, look: Option<LookAtAngles>) {
        self.look = look;
        self.fade_ms = DEFAULT_FADE_MS;
    }

    fn ease(&mut self, name: &str, to: f32, fade_ms: f64, now_ms: f64) {
        let from = self.held.get(name).map_or(0.0, |h| h.at(now_ms));
        let fade_ms = fade_ms.max(0.0);
        self.held.insert(
            name.to_string(),
            Hold {
                from,
                to,
                start_ms: now_ms,
                fade_ms,
            },
        );
        self.fade_ms = fade_ms;
    }

    /// The default expression is held exactly while no other one is.
    fn sync_default(&mut self, fade_ms: f64, now_ms: f64) {
        if self.default.is_empty() {
            return;
        }
        let others = self
            .held
            .iter()
            .any(|(n, h)| *n != self.default && h.to > 0.0);
        let target = if others { 0.0 } else { 1.0 };
        if self.held.get(&self.default).is_none_or(|h| h.to != target) {
            let name = self.default.clone();
            self.ease(&name, target, fade_ms, now_ms);
        }
    }

    /// What to offer at `now_ms`: None while nothing is held and the gaze is free (the mixer
    /// then fades the last offer out over the last change's fade).
    pub fn offer(&mut self, now_ms: f64) -> Option<HeldOffer> {
        self.held
            .retain(|_, h| h.to > 0.0 || now_ms < h.start_ms + h.fade_ms);
        let holding = self.held.values().any(|h| h.to > 0.0);
        if !holding && self.look.is_none() {
            return None;
        }
        let mut pose = AvatarPose {
            look_at: self.look,
            ..AvatarPose::default()
        };
        let mut channels = Channels::NONE;
        if holding {
            for (name, hold) in &self.held {
                pose.expressions.insert(name.clone(), hold.at(now_ms));
                channels = channels.with(Channel::of_expression(name));
            }
            // The chosen set replaces the camera's expressions (not its blinks or mouth).
            channels = channels.with(Channel::Expressions);
        }
        if self.look.is_some() {
            channels = channels.with(Channel::Eyes);
        }
        Some(HeldOffer {
            pose,
            channels,
            partial: Channels::only(Channel::Mouth).with(Channel::Eyes),
            fade_ms: self.fade_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(holds: &mut Holds, name: &str, t: f64) -> f32 {
        holds
            .offer(t)
            .and_then(|o| o.pose.expressions.get(name).copied())
            .unwrap_or(0.0)
    }

    #[test]
    fn a_held_expression_eases_to_its_weight_and_stays() {
        let mut holds = Holds::default();
        holds.set("happy", 0.8, 200.0, 1000.0);
        assert_eq!(weight(&mut holds, "happy", 1000.0), 0.0);
        let mid = weight(&mut holds, "happy", 1100.0);
        assert!((mid - 0.4).abs() < 1e-6, "{mid}");
        assert_eq!(weight(&mut holds, "happy", 1200.0), 0.8);
        assert_eq!(weight(&mut holds, "happy", 60_000.0), 0.8, "held");
        assert!(holds.is_held("happy"));
        // Changed mid-fade: eases on from where it is, no jump.
        holds.set("happy", 0.2, 100.0, 2000.0);
        assert_eq!(weight(&mut holds, "happy", 2000.0), 0.8);
        assert_eq!(weight(&mut holds, "happy", 2100.0), 0.2);
        // Weight 0 lets go: nothing is offered, and the mixer fades the rest in 300 ms.
        holds.set("happy", 0.0, 300.0, 3000.0);
        assert!(!holds.is_held("happy"));
        let offer = holds.offer(3000.0);
        assert!(offer.is_none());
    }

    #[test]
    fn the_default_expression_steps_aside_while_another_is_held() {
        let mut holds = Holds::default();
        holds.set_default("relaxed", 0.0);
        assert_eq!(weight(&mut holds, "relaxed", 1000.0), 1.0);
        holds.set("angry", 1.0, 100.0, 1000.0);
        assert_eq!(weight(&mut holds, "relaxed", 1100.0), 0.0);
        assert_eq!(weight(&mut holds, "angry", 1100.0), 1.0);
        assert!(!holds.is_held("relaxed"));
        holds.clear(100.0, 2000.0);
        assert_eq!(weight(&mut holds, "angry", 2100.0), 0.0);
        assert_eq!(weight(&mut holds, "relaxed", 2100.0), 1.0, "back");
        holds.set_default("", 3000.0);
        assert!(holds.offer(3200.0).is_none());
    }

    #[test]
    fn channels_follow_what_is_held() {
        let mut holds = Holds::default();
        holds.set("aa", 1.0, 0.0, 0.0);
        let offer = holds.offer(0.0).unwrap();
        assert!(offer.channels.contains(Channel::Mouth));
        assert!(offer.channels.contains(Channel::Expressions));
        assert!(!offer.channels.contains(Channel::Eyes));
        holds.clear(0.0, 10.0);
        holds.set_look(Some(LookAtAngles {
            yaw_deg: 10.0,
            pitch_deg: -5.0,
        }));
        let offer = holds.offer(20.0).unwrap();
        assert_eq!(offer.channels, Channels::only(Channel::Eyes));
        assert_eq!(offer.pose.look_at.unwrap().yaw_deg, 10.0);
        holds.set_look(None);
        assert!(holds.offer(30.0).is_none());
    }
}
