//! Reading a profile into [`ObsSettings`]: OBS's encoder ids and their codecs, channel layouts
//! and x264's custom options.

use serde_json::{Value, json};

use super::{AudioEncoder, ObsSettings, OutputMode, VideoEncoder, VideoSettings};

impl ObsSettings {
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
