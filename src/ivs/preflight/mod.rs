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

mod fix;
mod profile;
mod rules;
mod writer;

pub use fix::{Change, changes, recommended};
pub use profile::{X264, codec_of};
pub use rules::check;
pub use writer::{ProfileWriter, apply, write_changes};

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value, json};
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
