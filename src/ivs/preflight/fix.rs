//! The fix: IVS's [`recommended`] settings and the [`Change`]s to OBS's profile that make them.

use serde_json::{Map, Value, json};

use super::rules::long_short;
use super::{
    MAX_AUDIO_BITRATE_KBPS, MAX_FPS, MAX_LONG_SIDE, MAX_SHORT_SIDE, MIN_FPS, MIN_SHORT_SIDE,
    ObsSettings, OutputMode, Protocol, RECOMMENDED_BITRATE_KBPS, X264, codec_of,
};

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
