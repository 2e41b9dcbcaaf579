//! IVS real-time ingest rules checked against OBS's output settings, and the changes that make
//! OBS follow them. IVS disconnects a stream that breaks them: H.264 Baseline, an IDR every 1 or
//! 2 s, no B-frames, 10-60 fps, at most 720p and 8.5 Mbps, audio Opus (WHIP) or AAC-LC (RTMP) of
//! at most 160 kbps at 44.1 or 48 kHz, mono or stereo.
//!
//! [`ObsSettings`] is a small model of what OBS 29-32 keeps in a profile: `basic.ini`
//! (`[Video]`, `[Output] Mode`, `[SimpleOutput]`, `[AdvOut]`, `[Audio]`) and, in Advanced output
//! mode, the stream encoder's settings in `streamEncoder.json`. Both output modes read these at
//! the start of every stream (OBS's `SimpleOutput::Update` and
//! `AdvancedOutput::UpdateStreamSettings`), so changed values apply to the next stream.

use serde::Serialize;
use serde_json::{Map, Value, json};

pub const MAX_BITRATE_KBPS: u32 = 8500;
/// OBS sends one layer (no simulcast before OBS 32.1), so IVS recommends about 2.5 Mbps.
pub const RECOMMENDED_BITRATE_KBPS: u32 = 2500;
pub const MAX_AUDIO_BITRATE_KBPS: u32 = 160;
pub const MIN_FPS: f64 = 10.0;
pub const MAX_FPS: f64 = 60.0;
/// 720p in either orientation: the long side at most 1280, the short side at most 720.
pub const MAX_LONG_SIDE: u32 = 1280;
pub const MAX_SHORT_SIDE: u32 = 720;
pub const MIN_SHORT_SIDE: u32 = 160;

/// OBS's output mode (`[Output] Mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    Simple,
    Advanced,
}

/// How the stream reaches IVS, from the stream service type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Whip,
    Rtmp,
}

/// The stream's video encoder as OBS will configure it. `None` means "the encoder's default".
#[derive(Debug, Clone, PartialEq)]
pub struct VideoEncoder {
    /// OBS's encoder id (`obs_x264`, `jim_nvenc`, ...).
    pub id: String,
    pub profile: Option<String>,
    /// Keyframe interval in seconds; `None` (or OBS's 0) lets the encoder choose.
    pub keyint_sec: Option<f64>,
    pub b_frames: Option<u32>,
    pub rate_control: Option<String>,
    pub bitrate_kbps: Option<u32>,
    pub preset: Option<String>,
    pub tune: Option<String>,
    /// x264's custom options (`x264opts`), which override the above where they overlap.
    pub x264opts: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioEncoder {
    /// `aac` or `opus` (OBS 29 streams AAC only).
    pub codec: String,
    pub bitrate_kbps: u32,
    pub sample_rate: u32,
    /// 1 mono, 2 stereo, more for surround layouts.
    pub channels: u32,
    /// The mixer track the stream takes its audio from (Advanced mode's `TrackIndex`).
    pub track: u32,
}

/// The OBS settings that decide whether a stream passes IVS's ingest.
#[derive(Debug, Clone, PartialEq)]
pub struct ObsSettings {
    pub base_width: u32,
    pub base_height: u32,
    pub output_width: u32,
    pub output_height: u32,
    pub fps_num: u32,
    pub fps_den: u32,
    pub mode: OutputMode,
    pub video: VideoEncoder,
    pub audio: AudioEncoder,
    /// The stream service type: `rtmp_custom`, `whip_custom`, `rtmp_common`, ...
    pub service_type: String,
}

impl ObsSettings {
    pub fn fps(&self) -> f64 {
        f64::from(self.fps_num) / f64::from(self.fps_den.max(1))
    }

    pub fn protocol(&self) -> Protocol {
        if self.service_type == "whip_custom" {
            Protocol::Whip
        } else {
            Protocol::Rtmp
        }
    }

    /// Reads the model from a profile: `get(section, key)` gives a `basic.ini` value (OBS's
    /// default where the file has none), `stream_encoder` the Advanced mode's
    /// `streamEncoder.json`.
    pub fn from_profile(
        video: VideoSettings,
        get: &dyn Fn(&str, &str) -> Option<String>,
        stream_encoder: Option<&Value>,
        service_type: &str,
    ) -> ObsSettings {
        let text = |s: &str, k: &str, default: &str| get(s, k).unwrap_or_else(|| default.into());
        let number = |s: &str, k: &str, default: u32| {
            get(s, k)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        let flag = |s: &str, k: &str| {
            get(s, k)
                .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1"))
        };
        let mode = if text("Output", "Mode", "Simple").eq_ignore_ascii_case("advanced") {
            OutputMode::Advanced
        } else {
            OutputMode::Simple
        };
        let fps = f64::from(video.fps_num) / f64::from(video.fps_den.max(1));
        let mut encoder = match mode {
            OutputMode::Simple => {
                let id = simple_encoder_id(&text("SimpleOutput", "StreamEncoder", "x264"));
                let x264opts = if flag("SimpleOutput", "UseAdvanced") {
                    text("SimpleOutput", "x264Settings", "")
                } else {
                    String::new()
                };
                VideoEncoder {
                    preset: (id == X264).then(|| text("SimpleOutput", "Preset", "veryfast")),
                    id,
                    profile: None,
                    keyint_sec: None,
                    b_frames: None,
                    // Simple mode always streams CBR at VBitrate.
                    rate_control: Some("CBR".into()),
                    bitrate_kbps: Some(number("SimpleOutput", "VBitrate", 2500)),
                    tune: None,
                    x264opts,
                }
            }
            OutputMode::Advanced => {
                let id = text("AdvOut", "Encoder", X264);
                let empty = json!({});
                let json = stream_encoder.unwrap_or(&empty);
                let string = |k: &str| {
                    json[k]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                };
                let is_x264 = id == X264;
                VideoEncoder {
                    profile: string("profile"),
                    keyint_sec: json["keyint_sec"].as_f64().filter(|k| *k > 0.0),
                    b_frames: json["bf"].as_u64().map(|b| b as u32),
                    // obs-x264's defaults: CBR at 2500 kbps.
                    rate_control: string("rate_control").or(is_x264.then(|| "CBR".into())),
                    bitrate_kbps: json["bitrate"]
                        .as_u64()
                        .map(|b| b as u32)
                        .or(is_x264.then_some(2500)),
                    preset: string("preset").or(is_x264.then(|| "veryfast".into())),
                    tune: string("tune"),
                    x264opts: if is_x264 {
                        string("x264opts").unwrap_or_default()
                    } else {
                        String::new()
                    },
                    id,
                }
            }
        };
        apply_x264opts(&mut encoder, fps);

        let audio_codec = match mode {
            // OBS 30+ keys; OBS 29 has neither and streams AAC.
            OutputMode::Simple => text("SimpleOutput", "StreamAudioEncoder", "aac"),
            OutputMode::Advanced => text("AdvOut", "AudioEncoder", "ffmpeg_aac"),
        };
        let track = match mode {
            OutputMode::Simple => 1,
            OutputMode::Advanced => number("AdvOut", "TrackIndex", 1),
        };
        let audio_bitrate = match mode {
            OutputMode::Simple => number("SimpleOutput", "ABitrate", 160),
            OutputMode::Advanced => number("AdvOut", &format!("Track{track}Bitrate"), 160),
        };
        ObsSettings {
            base_width: video.base_width,
            base_height: video.base_height,
            output_width: video.output_width,
            output_height: video.output_height,
            fps_num: video.fps_num,
            fps_den: video.fps_den,
            mode,
            video: encoder,
            audio: AudioEncoder {
                codec: if audio_codec.contains("opus") {
                    "opus"
                } else {
                    "aac"
                }
                .into(),
                bitrate_kbps: audio_bitrate,
                sample_rate: number("Audio", "SampleRate", 48000),
                channels: channels_of(&text("Audio", "ChannelSetup", "Stereo")),
                track,
            },
            service_type: service_type.into(),
        }
    }
}

/// OBS's canvas and output size and frame rate (obs-websocket's GetVideoSettings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoSettings {
    pub base_width: u32,
    pub base_height: u32,
    pub output_width: u32,
    pub output_height: u32,
    pub fps_num: u32,
    pub fps_den: u32,
}

pub const X264: &str = "obs_x264";

/// The encoder id behind Simple mode's `StreamEncoder` names (OBS's `SIMPLE_ENCODER_*`).
fn simple_encoder_id(name: &str) -> String {
    match name {
        "x264" | "x264_lowcpu" => X264,
        "nvenc" => "jim_nvenc",
        "qsv" => "obs_qsv11",
        "amd" => "h264_texture_amf",
        "apple_h264" => "com.apple.videotoolbox.videoencoder.ave.avc",
        "nvenc_hevc" => "jim_hevc_nvenc",
        "amd_hevc" => "h265_texture_amf",
        "apple_hevc" => "com.apple.videotoolbox.videoencoder.ave.hevc",
        "nvenc_av1" => "jim_av1_nvenc",
        "amd_av1" => "av1_texture_amf",
        "qsv_av1" => "obs_qsv11_av1",
        other => other,
    }
    .to_string()
}

/// The codec an OBS encoder id produces.
pub fn codec_of(encoder_id: &str) -> &'static str {
    let id = encoder_id.to_ascii_lowercase();
    if id.contains("hevc") || id.contains("265") {
        "hevc"
    } else if id.contains("av1") {
        "av1"
    } else if id.contains("264")
        || id.contains("avc")
        || [
            "jim_nvenc",
            "ffmpeg_nvenc",
            "obs_qsv11",
            "obs_qsv11_v2",
            "ffmpeg_vaapi",
            "ffmpeg_vaapi_tex",
        ]
        .contains(&id.as_str())
    {
        "h264"
    } else {
        "unknown"
    }
}

fn channels_of(setup: &str) -> u32 {
    match setup.to_ascii_lowercase().as_str() {
        "mono" => 1,
        "stereo" => 2,
        "2.1" => 3,
        "4.0" => 4,
        "4.1" => 5,
        "5.1" => 6,
        "7.1" => 8,
        _ => 0,
    }
}

/// `name=value` pairs of an x264 options string (OBS splits it on spaces).
fn x264_options(opts: &str) -> Vec<(String, String)> {
    opts.split_whitespace()
        .filter_map(|o| o.trim_start_matches("--").split_once('='))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect()
}

/// Folds x264's custom options into the settings they override, then x264's own defaults.
fn apply_x264opts(encoder: &mut VideoEncoder, fps: f64) {
    if encoder.id != X264 {
        return;
    }
    for (key, value) in x264_options(&encoder.x264opts) {
        match key.as_str() {
            "profile" => encoder.profile = Some(value),
            "tune" => encoder.tune = Some(value),
            "preset" => encoder.preset = Some(value),
            "keyint" => {
                if let Ok(frames) = value.parse::<f64>() {
                    encoder.keyint_sec = (frames > 0.0 && fps > 0.0).then(|| frames / fps);
                }
            }
            "bframes" => encoder.b_frames = value.parse().ok(),
            _ => {}
        }
    }
    let baseline = encoder.profile.as_deref() == Some("baseline");
    let zerolatency = encoder
        .tune
        .as_deref()
        .is_some_and(|t| t.contains("zerolatency"));
    if baseline || zerolatency {
        // x264 turns B-frames off for both.
        encoder.b_frames = Some(0);
    } else if encoder.b_frames.is_none() {
        // x264's presets: ultrafast has none, every other preset 3 or more.
        encoder.b_frames = Some(if encoder.preset.as_deref() == Some("ultrafast") {
            0
        } else {
            3
        });
    }
    if encoder.profile.is_none() {
        // x264 picks High for 8-bit 4:2:0.
        encoder.profile = Some("high".into());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// IVS disconnects or refuses the stream.
    Error,
    /// Allowed, but not what IVS recommends.
    Warning,
}

/// One broken rule: a stable id, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub id: &'static str,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
}

fn error(id: &'static str, message: String, fix: impl Into<String>) -> Violation {
    Violation {
        id,
        severity: Severity::Error,
        message,
        fix: fix.into(),
    }
}

fn warning(id: &'static str, message: String, fix: impl Into<String>) -> Violation {
    Violation {
        id,
        severity: Severity::Warning,
        ..error(id, message, fix)
    }
}

/// Every IVS rule `settings` break, errors first.
pub fn check(settings: &ObsSettings) -> Vec<Violation> {
    let mut out = Vec::new();
    let v = &settings.video;
    let protocol = settings.protocol();

    if !matches!(
        settings.service_type.as_str(),
        "rtmp_custom" | "whip_custom"
    ) {
        out.push(error(
            "service.type",
            format!("the stream service is {:?}, not a custom RTMP(S) or WHIP server", settings.service_type),
            "in OBS, Tools -> IVS Stage Setup... (a token or an RTMPS URL and key, then Apply); or run `vrm-avatar ivs configure --token TOKEN` (WHIP) or `--rtmp-url URL --stream-key KEY` (RTMPS)",
        ));
    }
    let codec = codec_of(&v.id);
    if codec != "h264" {
        out.push(error(
            "video.codec",
            format!(
                "the stream encoder {} makes {codec}; IVS takes H.264 only",
                v.id
            ),
            "use the x264 encoder (obs_x264) or another H.264 encoder",
        ));
    }
    if v.profile.as_deref() != Some("baseline") {
        let profile = v.profile.as_deref().unwrap_or("the encoder's default");
        out.push(error(
            "video.profile",
            format!("the H.264 profile is {profile}; IVS takes Baseline"),
            "set the encoder's profile to baseline",
        ));
    }
    let keyint = match v.keyint_sec {
        Some(k) if (0.95..=2.05).contains(&k) => None,
        Some(k) => Some(format!("{k:.2} s")),
        None => Some("automatic (the encoder's default, e.g. x264's 250 frames)".to_string()),
    };
    if let Some(keyint) = keyint {
        out.push(error(
            "video.keyframe_interval",
            format!("the keyframe interval is {keyint}; IVS needs an IDR every 1 or 2 s"),
            "set the keyframe interval to 1 s",
        ));
    }
    let b_frames = match v.b_frames {
        Some(0) => None,
        Some(n) => Some(n.to_string()),
        None => Some("the encoder's default number of".to_string()),
    };
    if let Some(b_frames) = b_frames {
        out.push(error(
            "video.b_frames",
            format!("the encoder uses {b_frames} B-frames; IVS disconnects streams with B-frames"),
            "set B-frames to 0",
        ));
    }
    let fps = settings.fps();
    if !(MIN_FPS..=MAX_FPS).contains(&fps) {
        out.push(error(
            "video.fps",
            format!("the frame rate is {fps:.2} fps; IVS takes 10 to 60"),
            "set the frame rate to 30 (or 60 at most)",
        ));
    }
    let (long, short) = long_short(settings.output_width, settings.output_height);
    if long > MAX_LONG_SIDE || short > MAX_SHORT_SIDE {
        out.push(error(
            "video.resolution",
            format!(
                "the output is {}x{}; IVS takes at most 720p (1280x720 or 720x1280)",
                settings.output_width, settings.output_height
            ),
            "scale the output to 1280x720 or less",
        ));
    } else if short < MIN_SHORT_SIDE {
        out.push(error(
            "video.resolution",
            format!(
                "the output is {}x{}; IVS needs at least 160p",
                settings.output_width, settings.output_height
            ),
            "scale the output to 160p or more",
        ));
    }
    match v.bitrate_kbps {
        Some(b) if b > MAX_BITRATE_KBPS => out.push(error(
            "video.bitrate",
            format!("the video bitrate is {b} kbps; IVS takes at most {MAX_BITRATE_KBPS}"),
            format!("set the bitrate to {RECOMMENDED_BITRATE_KBPS} kbps"),
        )),
        None => out.push(error(
            "video.bitrate",
            "the video bitrate is not set (the encoder's default)".into(),
            format!("set the bitrate to {RECOMMENDED_BITRATE_KBPS} kbps"),
        )),
        _ => {}
    }
    let rate_control = v.rate_control.as_deref().unwrap_or("the encoder's default");
    if !rate_control.eq_ignore_ascii_case("CBR") {
        out.push(error(
            "video.rate_control",
            format!(
                "rate control is {rate_control}; its peaks can pass IVS's {MAX_BITRATE_KBPS} kbps"
            ),
            format!("use CBR at {RECOMMENDED_BITRATE_KBPS} kbps"),
        ));
    }
    let audio = &settings.audio;
    let (want, name) = match protocol {
        Protocol::Whip => ("opus", "Opus for WHIP"),
        Protocol::Rtmp => ("aac", "AAC-LC for RTMP(S)"),
    };
    if audio.codec != want {
        out.push(error(
            "audio.codec",
            format!("the audio encoder is {}; IVS takes {name}", audio.codec),
            format!("use the {want} audio encoder"),
        ));
    }
    if audio.bitrate_kbps > MAX_AUDIO_BITRATE_KBPS {
        out.push(error(
            "audio.bitrate",
            format!(
                "the audio bitrate is {} kbps; IVS takes at most {MAX_AUDIO_BITRATE_KBPS}",
                audio.bitrate_kbps
            ),
            format!("set the audio bitrate to {MAX_AUDIO_BITRATE_KBPS} kbps"),
        ));
    }
    if !matches!(audio.sample_rate, 44100 | 48000) {
        out.push(error(
            "audio.sample_rate",
            format!(
                "audio runs at {} Hz; IVS takes 44.1 or 48 kHz",
                audio.sample_rate
            ),
            "set the sample rate to 48 kHz (restart OBS after)",
        ));
    }
    if !matches!(audio.channels, 1 | 2) {
        out.push(error(
            "audio.channels",
            format!(
                "audio has {} channels; IVS takes mono or stereo",
                audio.channels
            ),
            "set the channels to stereo (restart OBS after)",
        ));
    }
    // Warnings after errors.
    if let Some(b) = v.bitrate_kbps
        && b > RECOMMENDED_BITRATE_KBPS
        && b <= MAX_BITRATE_KBPS
    {
        out.push(warning(
            "video.bitrate_recommended",
            format!("the video bitrate is {b} kbps; OBS sends a single layer, for which IVS recommends about {RECOMMENDED_BITRATE_KBPS}"),
            format!("set the bitrate to {RECOMMENDED_BITRATE_KBPS} kbps"),
        ));
    }
    out
}

fn long_short(w: u32, h: u32) -> (u32, u32) {
    (w.max(h), w.min(h))
}

/// IVS's recommended settings for what `settings` has: the output scaled into 720p (aspect
/// kept), the frame rate into 10-60, an H.264 encoder (x264 if it was none) with Baseline, a
/// 1 s keyframe interval, no B-frames, CBR 2.5 Mbps (x264: veryfast, zerolatency), audio of at
/// most 160 kbps, 48 kHz unless 44.1, stereo unless mono.
pub fn recommended(settings: &ObsSettings) -> ObsSettings {
    let mut fixed = settings.clone();
    let (long, short) = long_short(settings.output_width, settings.output_height);
    if long > MAX_LONG_SIDE || short > MAX_SHORT_SIDE {
        let scale = (f64::from(MAX_LONG_SIDE) / f64::from(long))
            .min(f64::from(MAX_SHORT_SIDE) / f64::from(short));
        let even_down = |x: u32| ((f64::from(x) * scale) as u32) & !1;
        fixed.output_width = even_down(settings.output_width);
        fixed.output_height = even_down(settings.output_height);
    } else if short < MIN_SHORT_SIDE {
        let scale = f64::from(MIN_SHORT_SIDE) / f64::from(short.max(1));
        let even_up = |x: u32| ((f64::from(x) * scale).ceil() as u32 + 1) & !1;
        fixed.output_width = even_up(settings.output_width);
        fixed.output_height = even_up(settings.output_height);
    }
    let fps = settings.fps();
    if !(MIN_FPS..=MAX_FPS).contains(&fps) {
        (fixed.fps_num, fixed.fps_den) = if fps > MAX_FPS { (60, 1) } else { (30, 1) };
    }
    let v = &mut fixed.video;
    if codec_of(&v.id) != "h264" {
        v.id = X264.into();
    }
    v.profile = Some("baseline".into());
    v.keyint_sec = Some(1.0);
    v.b_frames = Some(0);
    v.rate_control = Some("CBR".into());
    v.bitrate_kbps = Some(RECOMMENDED_BITRATE_KBPS);
    if v.id == X264 {
        v.preset = Some("veryfast".into());
        v.tune = Some("zerolatency".into());
    }
    let a = &mut fixed.audio;
    a.codec = match settings.protocol() {
        Protocol::Whip => "opus",
        Protocol::Rtmp => "aac",
    }
    .into();
    a.bitrate_kbps = a.bitrate_kbps.min(MAX_AUDIO_BITRATE_KBPS);
    if !matches!(a.sample_rate, 44100 | 48000) {
        a.sample_rate = 48000;
    }
    if !matches!(a.channels, 1 | 2) {
        a.channels = 2;
    }
    fixed
}

/// One change to OBS's settings that moves it to [`recommended`].
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// obs-websocket's SetVideoSettings (refused by OBS while an output is active).
    Video {
        output_width: u32,
        output_height: u32,
        fps_num: u32,
        fps_den: u32,
    },
    /// A `basic.ini` value (obs-websocket's SetProfileParameter).
    Parameter {
        section: &'static str,
        key: String,
        value: String,
        /// OBS reads it only at start-up (or when the profile is loaded again).
        needs_restart: bool,
    },
    /// Keys to merge into the profile's `streamEncoder.json` (Advanced mode).
    StreamEncoder(Map<String, Value>),
}

/// The changes that take `current` to `recommended(current)`.
pub fn changes(current: &ObsSettings) -> Vec<Change> {
    let want = recommended(current);
    let mut out = Vec::new();
    if (
        want.output_width,
        want.output_height,
        want.fps_num,
        want.fps_den,
    ) != (
        current.output_width,
        current.output_height,
        current.fps_num,
        current.fps_den,
    ) {
        out.push(Change::Video {
            output_width: want.output_width,
            output_height: want.output_height,
            fps_num: want.fps_num,
            fps_den: want.fps_den,
        });
    }
    let param =
        |section: &'static str, key: &str, value: String, needs_restart: bool| Change::Parameter {
            section,
            key: key.into(),
            value,
            needs_restart,
        };
    let v = &want.video;
    let encoder_changed = v.id != current.video.id;
    let keyint_frames = (want.fps().round() as u32).max(1);
    match current.mode {
        OutputMode::Simple => {
            if encoder_changed || v.id != X264 {
                // Simple mode sets a profile and B-frames only through x264's options.
                out.push(param("SimpleOutput", "StreamEncoder", "x264".into(), true));
            }
            out.push(param(
                "SimpleOutput",
                "VBitrate",
                RECOMMENDED_BITRATE_KBPS.to_string(),
                false,
            ));
            out.push(param("SimpleOutput", "Preset", "veryfast".into(), false));
            out.push(param("SimpleOutput", "UseAdvanced", "true".into(), false));
            let opts = merged_x264opts(
                &current.video.x264opts,
                &format!("profile=baseline tune=zerolatency keyint={keyint_frames} bframes=0"),
            );
            out.push(param("SimpleOutput", "x264Settings", opts, false));
        }
        OutputMode::Advanced => {
            if encoder_changed {
                out.push(param("AdvOut", "Encoder", v.id.clone(), true));
            }
            let mut json = Map::new();
            json.insert("profile".into(), json!("baseline"));
            json.insert("keyint_sec".into(), json!(1));
            json.insert("bf".into(), json!(0));
            json.insert("rate_control".into(), json!("CBR"));
            json.insert("bitrate".into(), json!(RECOMMENDED_BITRATE_KBPS));
            if v.id == X264 {
                json.insert("preset".into(), json!("veryfast"));
                json.insert("tune".into(), json!("zerolatency"));
                let opts = merged_x264opts(&current.video.x264opts, "");
                json.insert("x264opts".into(), json!(opts));
            }
            out.push(Change::StreamEncoder(json));
        }
    }
    let (section, bitrate_key, encoder_key, encoder) = match current.mode {
        OutputMode::Simple => (
            "SimpleOutput",
            "ABitrate".to_string(),
            "StreamAudioEncoder",
            want.audio.codec.clone(),
        ),
        OutputMode::Advanced => (
            "AdvOut",
            format!("Track{}Bitrate", current.audio.track),
            "AudioEncoder",
            format!("ffmpeg_{}", want.audio.codec),
        ),
    };
    if want.audio.bitrate_kbps != current.audio.bitrate_kbps {
        out.push(param(
            section,
            &bitrate_key,
            want.audio.bitrate_kbps.to_string(),
            false,
        ));
    }
    if want.audio.codec != current.audio.codec {
        out.push(param(section, encoder_key, encoder, true));
    }
    if want.audio.sample_rate != current.audio.sample_rate {
        out.push(param(
            "Audio",
            "SampleRate",
            want.audio.sample_rate.to_string(),
            true,
        ));
    }
    if want.audio.channels != current.audio.channels {
        let setup = if want.audio.channels == 1 {
            "Mono"
        } else {
            "Stereo"
        };
        out.push(param("Audio", "ChannelSetup", setup.into(), true));
    }
    out
}

/// `current` without the options that decide profile, tune, keyframes and B-frames, then `ours`.
fn merged_x264opts(current: &str, ours: &str) -> String {
    const OURS: [&str; 7] = [
        "profile",
        "tune",
        "preset",
        "keyint",
        "min-keyint",
        "bframes",
        "b-pyramid",
    ];
    let kept = current.split_whitespace().filter(|o| {
        let key = o.trim_start_matches("--").split('=').next().unwrap_or("");
        !OURS.contains(&key.to_ascii_lowercase().as_str())
    });
    kept.chain(ours.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where [`changes`] are written: a running OBS over obs-websocket (the command line), OBS's
/// frontend (the plugin's IVS Stage Setup), or a model (tests).
pub trait ProfileWriter {
    /// The output size and frame rate (OBS refuses while an output is active).
    fn set_video(
        &mut self,
        output_width: u32,
        output_height: u32,
        fps_num: u32,
        fps_den: u32,
    ) -> anyhow::Result<()>;
    /// A `basic.ini` value.
    fn set_parameter(&mut self, section: &str, key: &str, value: &str) -> anyhow::Result<()>;
    /// Keys merged into the profile's `streamEncoder.json`.
    fn merge_stream_encoder(&mut self, keys: &Map<String, Value>) -> anyhow::Result<()>;
}

/// Writes `changes` in order, stopping at the first that fails. Returns a line per change,
/// then which ones wait for an OBS restart.
pub fn write_changes(
    changes: &[Change],
    writer: &mut dyn ProfileWriter,
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let mut restart = Vec::new();
    for change in changes {
        match change {
            Change::Video {
                output_width,
                output_height,
                fps_num,
                fps_den,
            } => {
                writer.set_video(*output_width, *output_height, *fps_num, *fps_den)?;
                done.push(format!(
                    "video: output {output_width}x{output_height}, {fps_num}/{fps_den} fps"
                ));
            }
            Change::Parameter {
                section,
                key,
                value,
                needs_restart,
            } => {
                writer.set_parameter(section, key, value)?;
                done.push(format!("profile: [{section}] {key}={value}"));
                if *needs_restart {
                    restart.push(format!("[{section}] {key}"));
                }
            }
            Change::StreamEncoder(keys) => {
                writer.merge_stream_encoder(keys)?;
                done.push(format!(
                    "stream encoder (streamEncoder.json): {}",
                    Value::Object(keys.clone())
                ));
            }
        }
    }
    if !restart.is_empty() {
        done.push(format!(
            "restart OBS for {} to take effect",
            restart.join(", ")
        ));
    }
    Ok(done)
}

/// Applies `changes` to a model as OBS would read them back (for tests and dry runs).
pub fn apply(
    current: &ObsSettings,
    changes: &[Change],
    ini: &mut std::collections::BTreeMap<(String, String), String>,
    stream_encoder: &mut Map<String, Value>,
) -> ObsSettings {
    struct Model<'a> {
        video: VideoSettings,
        ini: &'a mut std::collections::BTreeMap<(String, String), String>,
        stream_encoder: &'a mut Map<String, Value>,
    }
    impl ProfileWriter for Model<'_> {
        fn set_video(&mut self, w: u32, h: u32, num: u32, den: u32) -> anyhow::Result<()> {
            (self.video.output_width, self.video.output_height) = (w, h);
            (self.video.fps_num, self.video.fps_den) = (num, den);
            Ok(())
        }
        fn set_parameter(&mut self, section: &str, key: &str, value: &str) -> anyhow::Result<()> {
            self.ini
                .insert((section.to_string(), key.to_string()), value.to_string());
            Ok(())
        }
        fn merge_stream_encoder(&mut self, keys: &Map<String, Value>) -> anyhow::Result<()> {
            self.stream_encoder.extend(keys.clone());
            Ok(())
        }
    }
    let mut model = Model {
        video: VideoSettings {
            base_width: current.base_width,
            base_height: current.base_height,
            output_width: current.output_width,
            output_height: current.output_height,
            fps_num: current.fps_num,
            fps_den: current.fps_den,
        },
        ini,
        stream_encoder,
    };
    write_changes(changes, &mut model).expect("the model takes every change");
    let ini = model.ini.clone();
    let get = move |s: &str, k: &str| ini.get(&(s.to_string(), k.to_string())).cloned();
    ObsSettings::from_profile(
        model.video,
        &get,
        Some(&Value::Object(model.stream_encoder.clone())),
        &current.service_type,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    type Ini = BTreeMap<(String, String), String>;

    const VIDEO_720P30: VideoSettings = VideoSettings {
        base_width: 1280,
        base_height: 720,
        output_width: 1280,
        output_height: 720,
        fps_num: 30,
        fps_den: 1,
    };

    fn ini(pairs: &[(&str, &str, &str)]) -> Ini {
        pairs
            .iter()
            .map(|(s, k, v)| ((s.to_string(), k.to_string()), v.to_string()))
            .collect()
    }

    fn settings(
        video: VideoSettings,
        ini: &Ini,
        encoder: Option<Value>,
        service: &str,
    ) -> ObsSettings {
        let get = |s: &str, k: &str| ini.get(&(s.to_string(), k.to_string())).cloned();
        ObsSettings::from_profile(video, &get, encoder.as_ref(), service)
    }

    /// An Advanced-mode x264 profile that passes every rule.
    fn good_advanced() -> (Ini, Value) {
        (
            ini(&[
                ("Output", "Mode", "Advanced"),
                ("AdvOut", "Encoder", "obs_x264"),
            ]),
            json!({"profile": "baseline", "keyint_sec": 1, "bf": 0, "rate_control": "CBR",
                   "bitrate": 2500, "preset": "veryfast", "tune": "zerolatency"}),
        )
    }

    fn ids(settings: &ObsSettings) -> Vec<&'static str> {
        check(settings).iter().map(|v| v.id).collect()
    }

    /// Builds the good configuration with one change and expects exactly `id` (and that the
    /// recommended settings, read back as OBS would, fix it).
    fn violates(id: &str, edit: impl Fn(&mut VideoSettings, &mut Ini, &mut Value), service: &str) {
        let (mut ini, mut encoder) = good_advanced();
        let mut video = VIDEO_720P30;
        edit(&mut video, &mut ini, &mut encoder);
        let bad = settings(video, &ini, Some(encoder.clone()), service);
        assert_eq!(ids(&bad), vec![id], "{bad:?}");
        if id == "service.type" {
            return; // `ivs configure` sets the service; the fix leaves it alone.
        }
        let mut json = encoder.as_object().cloned().unwrap_or_default();
        let fixed = apply(&bad, &changes(&bad), &mut ini, &mut json);
        assert_eq!(check(&fixed), vec![], "fixed: {fixed:?}");
    }

    #[test]
    fn a_good_configuration_has_no_violations() {
        let (ini, encoder) = good_advanced();
        assert_eq!(
            ids(&settings(VIDEO_720P30, &ini, Some(encoder), "rtmp_custom")),
            Vec::<&str>::new()
        );
    }

    /// [`violates`] by one `basic.ini` value.
    fn ini_violates(id: &str, section: &str, key: &str, value: &str) {
        let entry = (section.to_string(), key.to_string());
        violates(
            id,
            |_, i, _| drop(i.insert(entry.clone(), value.into())),
            "rtmp_custom",
        );
    }

    /// [`violates`] by one `streamEncoder.json` value.
    fn encoder_violates(id: &str, key: &str, value: Value) {
        violates(id, |_, _, e| e[key] = value.clone(), "rtmp_custom");
    }

    #[test]
    fn each_rule_names_its_violation() {
        let rtmp = "rtmp_custom";
        violates("service.type", |_, _, _| {}, "rtmp_common");
        ini_violates("video.codec", "AdvOut", "Encoder", "obs_x265");
        encoder_violates("video.profile", "profile", json!("main"));
        encoder_violates("video.keyframe_interval", "keyint_sec", json!(4));
        encoder_violates("video.keyframe_interval", "keyint_sec", json!(0));
        // x264 turns B-frames off for Baseline, NVENC does not.
        let nvenc = ("AdvOut".to_string(), "Encoder".to_string());
        let b_frames = |_: &mut VideoSettings, i: &mut Ini, e: &mut Value| {
            i.insert(nvenc.clone(), "jim_nvenc".into());
            e["bf"] = json!(2);
        };
        violates("video.b_frames", b_frames, rtmp);
        violates("video.fps", |v, _, _| v.fps_num = 120, rtmp);
        violates("video.fps", |v, _, _| v.fps_num = 5, rtmp);
        let size = |w, h| {
            move |v: &mut VideoSettings, _: &mut Ini, _: &mut Value| {
                (v.output_width, v.output_height) = (w, h)
            }
        };
        violates("video.resolution", size(1920, 1080), rtmp);
        violates("video.resolution", size(160, 90), rtmp);
        encoder_violates("video.bitrate", "bitrate", json!(9000));
        encoder_violates("video.rate_control", "rate_control", json!("CRF"));
        ini_violates("audio.codec", "AdvOut", "AudioEncoder", "ffmpeg_opus");
        violates("audio.codec", |_, _, _| {}, "whip_custom");
        ini_violates("audio.bitrate", "AdvOut", "Track1Bitrate", "320");
        ini_violates("audio.sample_rate", "Audio", "SampleRate", "32000");
        ini_violates("audio.channels", "Audio", "ChannelSetup", "5.1");
        encoder_violates("video.bitrate_recommended", "bitrate", json!(6000));
    }

    #[test]
    fn warnings_are_not_errors() {
        let (ini, mut encoder) = good_advanced();
        encoder["bitrate"] = json!(6000);
        let found = check(&settings(VIDEO_720P30, &ini, Some(encoder), "rtmp_custom"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].severity, Severity::Warning);
    }

    #[test]
    fn obs_defaults_in_simple_mode_break_keyframes_profile_and_b_frames() {
        let bad = settings(VIDEO_720P30, &ini(&[]), None, "rtmp_custom");
        assert_eq!(bad.mode, OutputMode::Simple);
        assert_eq!(
            ids(&bad),
            vec!["video.profile", "video.keyframe_interval", "video.b_frames"]
        );
        let mut ini = ini(&[]);
        let fixed = apply(&bad, &changes(&bad), &mut ini, &mut Map::new());
        assert_eq!(check(&fixed), vec![]);
        assert_eq!(
            ini[&("SimpleOutput".to_string(), "x264Settings".to_string())],
            "profile=baseline tune=zerolatency keyint=30 bframes=0"
        );
        assert_eq!(fixed.video.keyint_sec, Some(1.0));
    }

    #[test]
    fn the_fix_keeps_other_x264_options_and_the_aspect() {
        let video = VideoSettings {
            base_width: 1920,
            base_height: 1080,
            output_width: 1920,
            output_height: 1080,
            fps_num: 60000,
            fps_den: 1001,
        };
        let mut ini = ini(&[
            ("SimpleOutput", "UseAdvanced", "true"),
            (
                "SimpleOutput",
                "x264Settings",
                "threads=2 bframes=3 keyint=600",
            ),
            ("SimpleOutput", "VBitrate", "6000"),
        ]);
        let bad = settings(video, &ini, None, "rtmp_custom");
        let fixed = apply(&bad, &changes(&bad), &mut ini, &mut Map::new());
        assert_eq!(check(&fixed), vec![]);
        assert_eq!((fixed.output_width, fixed.output_height), (1280, 720));
        assert_eq!((fixed.fps_num, fixed.fps_den), (60000, 1001));
        assert_eq!(
            ini[&("SimpleOutput".to_string(), "x264Settings".to_string())],
            "threads=2 profile=baseline tune=zerolatency keyint=60 bframes=0"
        );
        // Portrait fits 720x1280.
        let tall = VideoSettings {
            output_width: 1080,
            output_height: 1920,
            ..video
        };
        let fixed = recommended(&settings(tall, &ini, None, "rtmp_custom"));
        assert_eq!((fixed.output_width, fixed.output_height), (720, 1280));
    }

    #[test]
    fn codecs_of_obs_encoder_ids() {
        assert_eq!(codec_of("obs_x264"), "h264");
        assert_eq!(codec_of("jim_nvenc"), "h264");
        assert_eq!(codec_of("jim_hevc_nvenc"), "hevc");
        assert_eq!(codec_of("ffmpeg_svt_av1"), "av1");
        assert_eq!(
            codec_of("com.apple.videotoolbox.videoencoder.ave.avc"),
            "h264"
        );
        assert_eq!(codec_of("obs_x265"), "hevc");
    }
}
