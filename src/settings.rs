//! The `vrm_avatar_source` settings: keys (fixed by CONTRACTS.md), defaults and limits, in one place.

use std::ffi::CStr;

pub const SOURCE_ID: &CStr = c"vrm_avatar_source";

pub const VRM_PATH: &CStr = c"vrm_path";
pub const WIDTH: &CStr = c"width";
pub const HEIGHT: &CStr = c"height";
/// When the source may do less to spare OBS: `auto`, `quality` or `light`
/// ([`Performance`]).
pub const PERFORMANCE: &CStr = c"performance";
pub const INPUT_KIND: &CStr = c"input_kind";
pub const INPUT_SOURCE: &CStr = c"input_source";
pub const CAMERA_DEVICE: &CStr = c"camera_device";
pub const TRACKING_MODE: &CStr = c"tracking_mode";
pub const MIRROR: &CStr = c"mirror";
pub const SMOOTHING: &CStr = c"smoothing";
/// `upper_body` or `full_body`.
pub const FRAMING: &CStr = c"framing";
pub const ZOOM: &CStr = c"zoom";
pub const CAMERA_HEIGHT: &CStr = c"camera_height";
/// Meters the avatar moves sideways in the picture (positive: to the right).
pub const CAMERA_OFFSET: &CStr = c"camera_offset";
pub const FOV_DEG: &CStr = c"fov_deg";
pub const LIGHT_YAW_DEG: &CStr = c"light_yaw_deg";
pub const LIGHT_PITCH_DEG: &CStr = c"light_pitch_deg";
pub const LIGHT_INTENSITY: &CStr = c"light_intensity";
pub const AMBIENT: &CStr = c"ambient";
/// `transparent` or `color`.
pub const BACKGROUND: &CStr = c"background";
/// OBS colour (0xAABBGGRR).
pub const BACKGROUND_COLOR: &CStr = c"background_color";
/// The expression shown while no expression hotkey is on ("" for none).
pub const DEFAULT_EXPRESSION: &CStr = c"default_expression";
/// `toggle` (a press switches the expression on or off) or `hold` (on while held).
pub const EXPRESSION_HOTKEYS: &CStr = c"expression_hotkeys";
/// The name of the OBS source whose sound moves the mouth ("" for none).
pub const VOICE_SOURCE: &CStr = c"voice_source";
/// What moves the mouth: `auto`, `camera` or `voice` ([`MouthMode`]).
pub const MOUTH: &CStr = c"mouth";
/// The loudness of the avatar's own speech (control API `Speak`), 0 to 1.
pub const SPEECH_VOLUME: &CStr = c"speech_volume";
/// With `input_kind` = `vmc`: the UDP port and address VMC motion is received on.
pub const VMC_PORT: &CStr = c"vmc_port";
pub const VMC_BIND: &CStr = c"vmc_bind";
/// Whether the avatar's motion also goes out as VMC, where, and in bundles or not.
pub const VMC_SEND: &CStr = c"vmc_send";
pub const VMC_SEND_TO: &CStr = c"vmc_send_to";
pub const VMC_SEND_BUNDLES: &CStr = c"vmc_send_bundles";

pub const DEFAULT_SMOOTHING: f64 = 0.5;

/// What a setting holds, its default and the values it may take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A file path, by default this text.
    Path(&'static CStr),
    /// A line of text (an address), by default this text.
    Text(&'static CStr),
    /// One of `items` (value, locale key of its label); the source may add items found at run
    /// time (cameras, sources, the avatar's expressions).
    Choice {
        default: &'static CStr,
        items: &'static [(&'static CStr, &'static CStr)],
    },
    Bool(bool),
    Int {
        default: i64,
        min: i64,
        max: i64,
        step: i64,
    },
    /// A slider; values read back are clamped to `min..=max`.
    Float {
        default: f64,
        min: f64,
        max: f64,
        step: f64,
    },
    /// An OBS colour (0xAABBGGRR).
    Color(i64),
}

/// One setting of the source: its key, the locale key of its label, and its kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Setting {
    pub key: &'static CStr,
    pub label: &'static CStr,
    pub kind: Kind,
}

const fn float(
    key: &'static CStr,
    label: &'static CStr,
    d: f64,
    lo: f64,
    hi: f64,
    step: f64,
) -> Setting {
    Setting {
        key,
        label,
        kind: Kind::Float {
            default: d,
            min: lo,
            max: hi,
            step,
        },
    }
}

/// Every setting of the source, in the order the properties show them: the properties, the
/// defaults and the readers all take keys, defaults and ranges from here (CONTRACTS.md lists the
/// keys scripts rely on; a unit test keeps the two in step).
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: VRM_PATH,
        label: c"VRMFile",
        kind: Kind::Path(c""),
    },
    Setting {
        key: WIDTH,
        label: c"Width",
        kind: Kind::Int {
            default: DEFAULT_WIDTH as i64,
            min: MIN_SIZE as i64,
            max: MAX_SIZE as i64,
            step: 2,
        },
    },
    Setting {
        key: HEIGHT,
        label: c"Height",
        kind: Kind::Int {
            default: DEFAULT_HEIGHT as i64,
            min: MIN_SIZE as i64,
            max: MAX_SIZE as i64,
            step: 2,
        },
    },
    Setting {
        key: PERFORMANCE,
        label: c"Performance",
        kind: Kind::Choice {
            default: c"auto",
            items: &[
                (c"auto", c"Performance.Auto"),
                (c"quality", c"Performance.Quality"),
                (c"light", c"Performance.Light"),
            ],
        },
    },
    Setting {
        key: INPUT_KIND,
        label: c"InputKind",
        kind: Kind::Choice {
            default: c"camera",
            items: &[
                (c"camera", c"InputKind.Camera"),
                (c"source", c"InputKind.Source"),
                (c"none", c"InputKind.None"),
                (c"vmc", c"InputKind.Vmc"),
            ],
        },
    },
    Setting {
        key: CAMERA_DEVICE,
        label: c"CameraDevice",
        kind: Kind::Choice {
            default: c"",
            items: &[(c"", c"CameraDevice.First")],
        },
    },
    Setting {
        key: INPUT_SOURCE,
        label: c"InputSource",
        kind: Kind::Choice {
            default: c"",
            items: &[],
        },
    },
    Setting {
        key: TRACKING_MODE,
        label: c"TrackingMode",
        kind: Kind::Choice {
            default: c"upper_body_hands",
            items: &[
                (c"face", c"TrackingMode.Face"),
                (c"upper_body", c"TrackingMode.UpperBody"),
                (c"upper_body_hands", c"TrackingMode.UpperBodyHands"),
                (c"full_body", c"TrackingMode.FullBody"),
            ],
        },
    },
    Setting {
        key: MIRROR,
        label: c"Mirror",
        kind: Kind::Bool(true),
    },
    float(SMOOTHING, c"Smoothing", DEFAULT_SMOOTHING, 0.0, 1.0, 0.05),
    Setting {
        key: FRAMING,
        label: c"Framing",
        kind: Kind::Choice {
            default: c"upper_body",
            items: &[
                (c"upper_body", c"Framing.UpperBody"),
                (c"full_body", c"Framing.FullBody"),
            ],
        },
    },
    float(ZOOM, c"Zoom", 1.0, 0.25, 4.0, 0.05),
    float(CAMERA_HEIGHT, c"CameraHeight", 0.0, -1.0, 1.0, 0.01),
    float(CAMERA_OFFSET, c"CameraOffset", 0.0, -1.0, 1.0, 0.01),
    float(FOV_DEG, c"FieldOfView", 30.0, 10.0, 90.0, 1.0),
    float(LIGHT_YAW_DEG, c"LightYaw", 16.7, -180.0, 180.0, 1.0),
    float(LIGHT_PITCH_DEG, c"LightPitch", 21.0, -90.0, 90.0, 1.0),
    float(LIGHT_INTENSITY, c"LightIntensity", 0.9, 0.0, 3.0, 0.05),
    float(AMBIENT, c"Ambient", 0.25, 0.0, 1.0, 0.01),
    Setting {
        key: BACKGROUND,
        label: c"Background",
        kind: Kind::Choice {
            default: c"transparent",
            items: &[
                (c"transparent", c"Background.Transparent"),
                (c"color", c"Background.Color"),
            ],
        },
    },
    Setting {
        key: BACKGROUND_COLOR,
        label: c"BackgroundColor",
        kind: Kind::Color(0xFF00_FF00),
    },
    Setting {
        key: DEFAULT_EXPRESSION,
        label: c"DefaultExpression",
        kind: Kind::Choice {
            default: c"",
            items: &[(c"", c"DefaultExpression.None")],
        },
    },
    Setting {
        key: EXPRESSION_HOTKEYS,
        label: c"ExpressionHotkeys",
        kind: Kind::Choice {
            default: c"toggle",
            items: &[
                (c"toggle", c"ExpressionHotkeys.Toggle"),
                (c"hold", c"ExpressionHotkeys.Hold"),
            ],
        },
    },
    Setting {
        key: VOICE_SOURCE,
        label: c"VoiceSource",
        kind: Kind::Choice {
            default: c"",
            items: &[(c"", c"VoiceSource.None")],
        },
    },
    Setting {
        key: MOUTH,
        label: c"Mouth",
        kind: Kind::Choice {
            default: c"auto",
            items: &[
                (c"auto", c"Mouth.Auto"),
                (c"camera", c"Mouth.Camera"),
                (c"voice", c"Mouth.Voice"),
            ],
        },
    },
    float(SPEECH_VOLUME, c"SpeechVolume", 1.0, 0.0, 1.0, 0.01),
    Setting {
        key: VMC_PORT,
        label: c"VmcPort",
        kind: Kind::Int {
            default: crate::vmc::MARIONETTE_PORT as i64,
            min: 1,
            max: 65_535,
            step: 1,
        },
    },
    Setting {
        key: VMC_BIND,
        label: c"VmcBind",
        kind: Kind::Text(c"127.0.0.1"),
    },
    Setting {
        key: VMC_SEND,
        label: c"VmcSend",
        kind: Kind::Bool(false),
    },
    Setting {
        key: VMC_SEND_TO,
        label: c"VmcSendTo",
        kind: Kind::Text(c"127.0.0.1:39540"),
    },
    Setting {
        key: VMC_SEND_BUNDLES,
        label: c"VmcSendBundles",
        kind: Kind::Bool(true),
    },
];

/// The setting `key` of [`SETTINGS`].
///
/// # Panics
/// When `key` is not in the table (a programming error, caught by the unit tests).
pub fn setting(key: &CStr) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("{key:?} is not in settings::SETTINGS"))
}

/// A slider setting's default.
pub fn float_default(key: &CStr) -> f32 {
    clamp_float(key, f64::NAN)
}

/// A slider setting's value clamped to its range; its default when not a number.
pub fn clamp_float(key: &CStr, value: f64) -> f32 {
    match setting(key).kind {
        Kind::Float {
            default, min, max, ..
        } => {
            (if value.is_finite() {
                value.clamp(min, max)
            } else {
                default
            }) as f32
        }
        other => panic!("{key:?} is not a slider: {other:?}"),
    }
}

/// What moves the avatar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A camera device by the platform's id (empty: the first camera), captured by a private
    /// source of the platform's capture kind.
    Camera(String),
    /// An existing OBS video source, by name.
    Source(String),
    /// Nothing: idle motion.
    None,
}

/// The input the `input_kind`, `input_source` and `camera_device` settings name. An unknown
/// kind is idle motion (a setting written by a newer version must not start a camera).
pub fn input(kind: &str, source: &str, camera: &str) -> Input {
    match kind {
        "camera" => Input::Camera(camera.trim().to_string()),
        "source" if !source.trim().is_empty() => Input::Source(source.to_string()),
        _ => Input::None,
    }
}

/// Where VMC motion is listened for: nothing unless `input_kind` is `vmc`; the address
/// `vmc_bind` names (an IP address, or `localhost`) at port `vmc_port`, or why it cannot be.
/// Only an address is taken, never a host name: resolving one may wait on the network.
pub fn vmc_listen(
    kind: &str,
    bind: &str,
    port: i64,
) -> Option<Result<std::net::SocketAddr, String>> {
    (kind == "vmc").then(|| {
        let port = port.clamp(1, 65_535) as u16;
        ip_address(bind).map(|ip| std::net::SocketAddr::new(ip, port))
    })
}

/// Where the avatar's motion goes out as VMC: nothing unless `vmc_send`; `vmc_send_to` as
/// `ADDRESS:PORT` (`[v6]:PORT` for IPv6; the port may be left out for 39540), or why not.
pub fn vmc_send_to(send: bool, to: &str) -> Option<Result<std::net::SocketAddr, String>> {
    send.then(|| {
        let to = to.trim();
        let (host, port) = match to.rsplit_once(':') {
            Some((host, port))
                if !host.ends_with(':') && (host.starts_with('[') || !host.contains(':')) =>
            {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("'{port}' in '{to}' is not a port"))?;
                (host.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (
                to.trim_start_matches('[').trim_end_matches(']'),
                crate::vmc::PERFORMER_PORT,
            ),
        };
        ip_address(host).map(|ip| std::net::SocketAddr::new(ip, port))
    })
}

/// An IP address, or `localhost` for 127.0.0.1.
fn ip_address(text: &str) -> Result<std::net::IpAddr, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(std::net::Ipv4Addr::LOCALHOST.into());
    }
    text.parse()
        .map_err(|_| format!("'{text}' is not an IP address (such as 127.0.0.1 or 192.168.1.20)"))
}

/// How far the source may step back to spare OBS (`pipeline::load`'s ladder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Performance {
    /// Steps back as far as OBS needs, and comes back when it has room.
    #[default]
    Auto,
    /// Never steps back: every frame drawn at full size, whatever OBS misses.
    Quality,
    /// Always at least three steps back (15 fps at 3/4 size at 30 fps, fewer hand searches,
    /// the body on every 2nd tracked frame), further when OBS needs it.
    Light,
}

impl Performance {
    /// The `performance` setting's value; an unknown one (a newer version's) is `auto`.
    pub fn parse(value: &str) -> Performance {
        match value {
            "quality" => Performance::Quality,
            "light" => Performance::Light,
            _ => Performance::Auto,
        }
    }
}

/// What moves the mouth when the source has a voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MouthMode {
    /// The voice while it is heard, the camera otherwise.
    #[default]
    Auto,
    Camera,
    Voice,
}

impl MouthMode {
    /// The `mouth` setting's value; an unknown one (a newer version's) is `auto`.
    pub fn parse(value: &str) -> MouthMode {
        match value {
            "camera" => MouthMode::Camera,
            "voice" => MouthMode::Voice,
            _ => MouthMode::Auto,
        }
    }
}

/// Smoothing from a setting or a script: 0..1, anything else clamped (NaN is the default).
pub fn clamp_smoothing(value: f64) -> f32 {
    if value.is_nan() {
        DEFAULT_SMOOTHING as f32
    } else {
        value.clamp(0.0, 1.0) as f32
    }
}

pub const DEFAULT_WIDTH: u32 = 1280;
pub const DEFAULT_HEIGHT: u32 = 720;
/// Output sizes are kept within what every GPU and OBS texture supports.
pub const MIN_SIZE: u32 = 16;
pub const MAX_SIZE: u32 = 4096;

/// The avatar file a setting names: None (the built-in avatar) when empty.
pub fn vrm_path(value: &str) -> Option<std::path::PathBuf> {
    let value = value.trim();
    (!value.is_empty()).then(|| std::path::PathBuf::from(value))
}

/// Clamps a user-given size (from a setting or a script, which may be anything) to the allowed range.
pub fn clamp_size(value: i64) -> u32 {
    value.clamp(MIN_SIZE as i64, MAX_SIZE as i64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_vrm_path_means_the_built_in_avatar() {
        assert_eq!(vrm_path(""), None);
        assert_eq!(vrm_path("  "), None);
        assert_eq!(vrm_path("/a/b.vrm"), Some("/a/b.vrm".into()));
    }

    #[test]
    fn inputs_and_smoothing_from_settings() {
        assert_eq!(input("camera", "", ""), Input::Camera(String::new()));
        assert_eq!(
            input("camera", "", "/dev/video2"),
            Input::Camera("/dev/video2".into())
        );
        assert_eq!(input("source", "Clip", ""), Input::Source("Clip".into()));
        assert_eq!(input("source", " ", ""), Input::None);
        assert_eq!(input("none", "Clip", ""), Input::None);
        assert_eq!(input("hologram", "", ""), Input::None);
        assert_eq!(clamp_smoothing(2.0), 1.0);
        assert_eq!(clamp_smoothing(-1.0), 0.0);
        assert_eq!(clamp_smoothing(f64::NAN), 0.5);
        assert_eq!(MouthMode::parse("voice"), MouthMode::Voice);
        assert_eq!(MouthMode::parse("camera"), MouthMode::Camera);
        assert_eq!(MouthMode::parse("lasers"), MouthMode::Auto);
    }

    #[test]
    fn vmc_addresses_from_settings() {
        let addr = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        assert_eq!(vmc_listen("camera", "127.0.0.1", 39539), None);
        assert_eq!(
            vmc_listen("vmc", "127.0.0.1", 39539),
            Some(Ok(addr("127.0.0.1:39539")))
        );
        assert_eq!(
            vmc_listen("vmc", " 0.0.0.0 ", 70_000),
            Some(Ok(addr("0.0.0.0:65535")))
        );
        assert_eq!(
            vmc_listen("vmc", "localhost", 0),
            Some(Ok(addr("127.0.0.1:1")))
        );
        assert_eq!(vmc_listen("vmc", "::1", 5), Some(Ok(addr("[::1]:5"))));
        let bad = vmc_listen("vmc", "my-pc.local", 39539)
            .unwrap()
            .unwrap_err();
        assert!(
            bad.starts_with("'my-pc.local' is not an IP address"),
            "{bad}"
        );
        assert_eq!(vmc_send_to(false, "127.0.0.1:39540"), None);
        assert_eq!(
            vmc_send_to(true, "192.168.1.20:39541"),
            Some(Ok(addr("192.168.1.20:39541")))
        );
        assert_eq!(
            vmc_send_to(true, "192.168.1.20"),
            Some(Ok(addr("192.168.1.20:39540")))
        );
        assert_eq!(
            vmc_send_to(true, "localhost:9000"),
            Some(Ok(addr("127.0.0.1:9000")))
        );
        assert_eq!(
            vmc_send_to(true, "[::1]:9000"),
            Some(Ok(addr("[::1]:9000")))
        );
        assert_eq!(vmc_send_to(true, "::1"), Some(Ok(addr("[::1]:39540"))));
        assert!(vmc_send_to(true, "127.0.0.1:port").unwrap().is_err());
        assert!(vmc_send_to(true, "127.0.0.1:0").unwrap().is_err());
        assert!(vmc_send_to(true, "").unwrap().is_err());
    }

    #[test]
    fn sizes_are_clamped() {
        assert_eq!(clamp_size(-5), MIN_SIZE);
        assert_eq!(clamp_size(0), MIN_SIZE);
        assert_eq!(clamp_size(1280), 1280);
        assert_eq!(clamp_size(1 << 40), MAX_SIZE);
    }

    /// Keys CONTRACTS.md lists for capabilities still to come.
    const PLANNED: &[&str] = &[];
    /// Keys of this table that CONTRACTS.md does not list yet (proposed for it in the notes).
    const NOT_IN_CONTRACTS: &[&str] = &[
        "framing",
        "zoom",
        "camera_height",
        "camera_offset",
        "fov_deg",
        "light_yaw_deg",
        "light_pitch_deg",
        "light_intensity",
        "ambient",
        "background",
        "background_color",
        "default_expression",
        "expression_hotkeys",
        "speech_volume",
        "vmc_send_bundles",
        "performance",
    ];

    fn key(s: &Setting) -> &str {
        s.key.to_str().unwrap()
    }

    #[test]
    fn every_key_once_with_a_default_in_its_range() {
        let keys: Vec<&str> = SETTINGS.iter().map(key).collect();
        let unique: std::collections::BTreeSet<&str> = keys.iter().copied().collect();
        assert_eq!(keys.len(), unique.len(), "a key twice: {keys:?}");
        for k in [
            VRM_PATH,
            WIDTH,
            HEIGHT,
            INPUT_KIND,
            INPUT_SOURCE,
            CAMERA_DEVICE,
            TRACKING_MODE,
            MIRROR,
            SMOOTHING,
            FRAMING,
            ZOOM,
            CAMERA_HEIGHT,
            CAMERA_OFFSET,
            FOV_DEG,
            LIGHT_YAW_DEG,
            LIGHT_PITCH_DEG,
            LIGHT_INTENSITY,
            AMBIENT,
            BACKGROUND,
            BACKGROUND_COLOR,
            DEFAULT_EXPRESSION,
            EXPRESSION_HOTKEYS,
            VOICE_SOURCE,
            MOUTH,
            PERFORMANCE,
            SPEECH_VOLUME,
            VMC_PORT,
            VMC_BIND,
            VMC_SEND,
            VMC_SEND_TO,
            VMC_SEND_BUNDLES,
        ] {
            assert_eq!(setting(k).key, k);
        }
        for s in SETTINGS {
            match s.kind {
                Kind::Int {
                    default, min, max, ..
                } => assert!((min..=max).contains(&default)),
                Kind::Float {
                    default,
                    min,
                    max,
                    step,
                } => assert!((min..=max).contains(&default) && step > 0.0, "{s:?}"),
                Kind::Choice { default, items } => assert!(
                    items.is_empty() || items.iter().any(|(v, _)| *v == default),
                    "{s:?}"
                ),
                _ => {}
            }
        }
        assert_eq!(clamp_float(ZOOM, 99.0), 4.0);
        assert_eq!(clamp_float(ZOOM, f64::NAN), 1.0);
        assert_eq!(float_default(FOV_DEG), 30.0);
    }

    #[test]
    fn the_table_agrees_with_contracts_md() {
        let contracts = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/CONTRACTS.md"
        ))
        .unwrap();
        let section = contracts
            .split("## OBS source settings keys")
            .nth(1)
            .unwrap()
            .split("\n## ")
            .next()
            .unwrap();
        let mut listed = Vec::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (keys, kind, defaults) = (cells[1], cells[2], cells[3]);
            let keys: Vec<&str> = keys.split(", ").map(|k| k.trim_matches('`')).collect();
            let defaults: Vec<&str> = defaults.split(", ").collect();
            for (i, k) in keys.iter().enumerate() {
                listed.push(k.to_string());
                if PLANNED.contains(k) {
                    continue;
                }
                let s = SETTINGS
                    .iter()
                    .find(|s| key(s) == *k)
                    .unwrap_or_else(|| panic!("CONTRACTS.md's {k} is not in the table"));
                let default = defaults[i.min(defaults.len() - 1)].trim_matches('`');
                match (kind, s.kind) {
                    ("string", Kind::Text(d)) => {
                        assert_eq!(d.to_str().unwrap(), default)
                    }
                    ("string", Kind::Path(d)) => {
                        assert_eq!(format!("\"{}\"", d.to_str().unwrap()), default)
                    }
                    ("string", Kind::Choice { default: d, .. }) => {
                        let d = d.to_str().unwrap();
                        assert!(
                            d == default
                                || (d.is_empty()
                                    && (default == "\"\"" || default == "first camera")),
                            "{k}: {d:?} vs {default}"
                        );
                    }
                    ("bool", Kind::Bool(d)) => assert_eq!(d.to_string(), default),
                    ("number", Kind::Float { default: d, .. }) => {
                        assert_eq!(d.to_string(), default)
                    }
                    ("int", Kind::Int { default: d, .. }) => assert_eq!(d.to_string(), default),
                    other => {
                        panic!("{k}: CONTRACTS.md and the table disagree on the type: {other:?}")
                    }
                }
            }
        }
        let mut extra: Vec<&str> = SETTINGS
            .iter()
            .map(key)
            .filter(|k| !listed.iter().any(|l| l == k))
            .collect();
        extra.sort();
        let mut proposed = NOT_IN_CONTRACTS.to_vec();
        proposed.sort();
        assert_eq!(extra, proposed, "keys to propose for CONTRACTS.md");
    }

    #[test]
    fn every_label_has_an_english_text() {
        let ini = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/locale/en-US.ini"))
            .unwrap();
        let has = |k: &CStr| {
            let k = k.to_str().unwrap();
            ini.lines().any(|l| l.split('=').next() == Some(k))
        };
        for s in SETTINGS {
            assert!(has(s.label), "{:?} has no text", s.label);
            if let Kind::Choice { items, .. } = s.kind {
                for (_, label) in items {
                    assert!(has(label), "{label:?} has no text");
                }
            }
        }
    }
}
