//! The control API's requests (CONTRACTS.md, "Control API"), read and checked without OBS. A bad
//! request gets one sentence naming what was wrong, and nothing is done.

use crate::motion::{CLIP_FADE_MS, DEFAULT_FADE_MS};
use crate::pose::LookAtAngles;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// Every request the vendor answers, by name.
pub const REQUESTS: [&str; 11] = [
    "GetAvatars",
    "GetState",
    "SetExpression",
    "ClearExpressions",
    "SetLookAt",
    "PlayAnimation",
    "StopAnimation",
    "Speak",
    "StopSpeaking",
    "LoadAvatar",
    "Calibrate",
];

/// The longest fade a request may ask for.
pub const MAX_FADE_MS: f64 = 60_000.0;
/// How far the eyes may be asked to turn, either way.
pub const MAX_GAZE_DEG: f32 = 90.0;

/// A checked request (`source` is the name of a VRM Avatar source, not yet looked up).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    GetAvatars,
    GetState {
        source: String,
    },
    SetExpression {
        source: String,
        name: String,
        weight: f32,
        fade_ms: f64,
    },
    ClearExpressions {
        source: String,
        fade_ms: f64,
    },
    /// `look` None gives the gaze back (`clear`: true).
    SetLookAt {
        source: String,
        look: Option<LookAtAngles>,
    },
    PlayAnimation {
        source: String,
        file: PathBuf,
        looping: bool,
        fade_ms: f64,
    },
    StopAnimation {
        source: String,
        fade_ms: f64,
    },
    Speak {
        source: String,
        file: PathBuf,
    },
    StopSpeaking {
        source: String,
    },
    LoadAvatar {
        source: String,
        vrm_path: PathBuf,
    },
    Calibrate {
        source: String,
    },
}

impl Request {
    /// The source the request names (every request but `GetAvatars` names one).
    pub fn source(&self) -> Option<&str> {
        match self {
            Request::GetAvatars => None,
            Request::GetState { source }
            | Request::SetExpression { source, .. }
            | Request::ClearExpressions { source, .. }
            | Request::SetLookAt { source, .. }
            | Request::PlayAnimation { source, .. }
            | Request::StopAnimation { source, .. }
            | Request::Speak { source, .. }
            | Request::StopSpeaking { source }
            | Request::LoadAvatar { source, .. }
            | Request::Calibrate { source } => Some(source),
        }
    }
}

/// Reads request `kind` with request data `data` (an object; absent for `GetAvatars`).
pub fn parse(kind: &str, data: &Value) -> Result<Request, String> {
    let empty = Map::new();
    let fields = match data {
        Value::Object(map) => map,
        Value::Null => &empty,
        _ => return Err("the request data must be an object".into()),
    };
    let get = Fields(fields);
    if kind == "GetAvatars" {
        return Ok(Request::GetAvatars);
    }
    let source = get.string("source", "the name of a VRM Avatar source")?;
    Ok(match kind {
        "GetState" => Request::GetState { source },
        "SetExpression" => Request::SetExpression {
            source,
            name: get.string("name", "an expression of the avatar")?,
            weight: get
                .number("weight", 0.0, 1.0)?
                .ok_or("`weight` (0 to 1) is missing")? as f32,
            fade_ms: get.fade(DEFAULT_FADE_MS)?,
        },
        "ClearExpressions" => Request::ClearExpressions {
            source,
            fade_ms: get.fade(DEFAULT_FADE_MS)?,
        },
        "SetLookAt" => {
            let clear = get.bool("clear")?.unwrap_or(false);
            let max = f64::from(MAX_GAZE_DEG);
            let yaw = get.number("yaw_deg", -max, max)?;
            let pitch = get.number("pitch_deg", -max, max)?;
            let look = match (clear, yaw, pitch) {
                (true, None, None) => None,
                (true, _, _) => {
                    return Err("give either `clear` or `yaw_deg` and `pitch_deg`".into());
                }
                (false, Some(yaw), Some(pitch)) => Some(LookAtAngles {
                    yaw_deg: yaw as f32,
                    pitch_deg: pitch as f32,
                }),
                (false, _, _) => {
                    return Err(
                        "`yaw_deg` and `pitch_deg` (degrees), or `clear`: true, are missing".into(),
                    );
                }
            };
            Request::SetLookAt { source, look }
        }
        "PlayAnimation" => Request::PlayAnimation {
            source,
            file: get
                .string("file", "the path of a .vrma VRM Animation")?
                .into(),
            looping: get.bool("loop")?.unwrap_or(false),
            fade_ms: get.fade(CLIP_FADE_MS)?,
        },
        "StopAnimation" => Request::StopAnimation {
            source,
            fade_ms: get.fade(CLIP_FADE_MS)?,
        },
        "Speak" => Request::Speak {
            source,
            file: get.string("file", "the path of a sound file")?.into(),
        },
        "StopSpeaking" => Request::StopSpeaking { source },
        "LoadAvatar" => Request::LoadAvatar {
            source,
            vrm_path: get.string("vrm_path", "the path of a .vrm file")?.into(),
        },
        "Calibrate" => Request::Calibrate { source },
        other => return Err(format!("there is no request '{other}'")),
    })
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    /// A non-empty string field; `what` says what it should hold.
    fn string(&self, key: &str, what: &str) -> Result<String, String> {
        match self.0.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
            Some(Value::String(_)) => Err(format!("`{key}` is empty: it must be {what}")),
            Some(_) => Err(format!("`{key}` must be a string: {what}")),
            None => Err(format!("`{key}` ({what}) is missing")),
        }
    }

    /// An optional number within `min..=max`.
    fn number(&self, key: &str, min: f64, max: f64) -> Result<Option<f64>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(format!("`{key}` must be from {min} to {max}, not {n}")),
            },
            Some(_) => Err(format!("`{key}` must be a number from {min} to {max}")),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("`{key}` must be true or false")),
        }
    }

    /// `fade_ms`, or `default` when absent.
    fn fade(&self, default: f64) -> Result<f64, String> {
        Ok(self.number("fade_ms", 0.0, MAX_FADE_MS)?.unwrap_or(default))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(kind: &str, data: Value) -> String {
        parse(kind, &data).unwrap_err()
    }

    #[test]
    fn good_requests_read_with_their_defaults() {
        assert_eq!(parse("GetAvatars", &Value::Null), Ok(Request::GetAvatars));
        let r = parse(
            "SetExpression",
            &json!({"source": "A", "name": "happy", "weight": 0.5}),
        );
        assert_eq!(
            r,
            Ok(Request::SetExpression {
                source: "A".into(),
                name: "happy".into(),
                weight: 0.5,
                fade_ms: 150.0
            })
        );
        let r = parse(
            "SetLookAt",
            &json!({"source": "A", "yaw_deg": -10, "pitch_deg": 5.5}),
        );
        assert_eq!(
            r.unwrap(),
            Request::SetLookAt {
                source: "A".into(),
                look: Some(LookAtAngles {
                    yaw_deg: -10.0,
                    pitch_deg: 5.5
                })
            }
        );
        let r = parse("SetLookAt", &json!({"source": "A", "clear": true})).unwrap();
        assert_eq!(r.source(), Some("A"));
        assert!(matches!(r, Request::SetLookAt { look: None, .. }));
        let r = parse(
            "PlayAnimation",
            &json!({"source": "A", "file": "/x.vrma", "loop": true}),
        );
        assert_eq!(
            r,
            Ok(Request::PlayAnimation {
                source: "A".into(),
                file: "/x.vrma".into(),
                looping: true,
                fade_ms: 300.0
            })
        );
        let r = parse("StopAnimation", &json!({"source": "A", "fade_ms": 0})).unwrap();
        assert_eq!(
            r,
            Request::StopAnimation {
                source: "A".into(),
                fade_ms: 0.0
            }
        );
        for kind in REQUESTS {
            let data = json!({"source": "A", "name": "n", "weight": 1, "yaw_deg": 0,
                "pitch_deg": 0, "file": "f", "vrm_path": "v"});
            assert!(parse(kind, &data).is_ok(), "{kind}");
        }
    }

    #[test]
    fn bad_requests_say_what_was_wrong_in_one_sentence() {
        let cases = [
            ("GetState", json!([1, 2]), "must be an object"),
            (
                "GetState",
                json!({}),
                "`source` (the name of a VRM Avatar source) is missing",
            ),
            (
                "GetState",
                json!({"source": 3}),
                "`source` must be a string",
            ),
            ("GetState", json!({"source": " "}), "`source` is empty"),
            (
                "SetExpression",
                json!({"source": "A", "name": "happy"}),
                "`weight` (0 to 1) is missing",
            ),
            (
                "SetExpression",
                json!({"source": "A", "name": "happy", "weight": 1.5}),
                "`weight` must be from 0 to 1, not 1.5",
            ),
            (
                "SetExpression",
                json!({"source": "A", "name": "happy", "weight": "1"}),
                "`weight` must be a number",
            ),
            (
                "SetExpression",
                json!({"source": "A", "weight": 1}),
                "`name` (an expression of the avatar) is missing",
            ),
            (
                "SetExpression",
                json!({"source": "A", "name": "x", "weight": 1, "fade_ms": -1}),
                "`fade_ms` must be from 0 to 60000",
            ),
            (
                "ClearExpressions",
                json!({"source": "A", "fade_ms": 1e9}),
                "`fade_ms` must be from 0",
            ),
            (
                "SetLookAt",
                json!({"source": "A", "yaw_deg": 10}),
                "are missing",
            ),
            (
                "SetLookAt",
                json!({"source": "A", "yaw_deg": 100, "pitch_deg": 0}),
                "`yaw_deg` must be from -90 to 90",
            ),
            (
                "SetLookAt",
                json!({"source": "A", "clear": true, "yaw_deg": 1}),
                "either `clear`",
            ),
            (
                "SetLookAt",
                json!({"source": "A", "clear": "yes"}),
                "`clear` must be true or false",
            ),
            (
                "PlayAnimation",
                json!({"source": "A"}),
                "`file` (the path of a .vrma VRM Animation) is missing",
            ),
            (
                "PlayAnimation",
                json!({"source": "A", "file": "f", "loop": 1}),
                "`loop` must be true or false",
            ),
            (
                "LoadAvatar",
                json!({"source": "A", "vrm_path": false}),
                "`vrm_path` must be a string",
            ),
            (
                "Speak",
                json!({"source": "A"}),
                "`file` (the path of a sound file) is missing",
            ),
            (
                "Dance",
                json!({"source": "A"}),
                "there is no request 'Dance'",
            ),
        ];
        for (kind, data, expected) in cases {
            let message = err(kind, data.clone());
            assert!(message.contains(expected), "{kind} {data}: {message}");
            assert!(!message.contains('\n') && message.len() < 200, "{message}");
        }
    }
}
