//! The IVS ingest rules: [`check`] over the settings, each broken rule a [`Violation`].

use super::{
    MAX_AUDIO_BITRATE_KBPS, MAX_BITRATE_KBPS, MAX_FPS, MAX_LONG_SIDE, MAX_SHORT_SIDE, MIN_FPS,
    MIN_SHORT_SIDE, ObsSettings, Protocol, RECOMMENDED_BITRATE_KBPS, Severity, Violation, codec_of,
};

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

/// Every IVS rule `settings` break, errors first (in the order a streamer fixes them: the
/// service, the H.264 stream, the picture, the rate, the audio), then the warnings.
pub fn check(settings: &ObsSettings) -> Vec<Violation> {
    let mut out = Vec::new();
    service(settings, &mut out);
    h264_stream(settings, &mut out);
    picture(settings, &mut out);
    rate(settings, &mut out);
    audio(settings, &mut out);
    recommendations(settings, &mut out);
    out
}

/// A custom RTMP(S) or WHIP service.
fn service(settings: &ObsSettings, out: &mut Vec<Violation>) {
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
}

/// H.264 Baseline with IDRs every 1-2 s and no B-frames.
fn h264_stream(settings: &ObsSettings, out: &mut Vec<Violation>) {
    let v = &settings.video;
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
}

/// Frame rate and output size.
fn picture(settings: &ObsSettings, out: &mut Vec<Violation>) {
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
}

/// Video bitrate and rate control.
fn rate(settings: &ObsSettings, out: &mut Vec<Violation>) {
    let v = &settings.video;
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
}

/// Audio codec for the protocol, bitrate, sample rate and channels.
fn audio(settings: &ObsSettings, out: &mut Vec<Violation>) {
    let protocol = settings.protocol();
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
}

/// What IVS recommends beyond its limits.
fn recommendations(settings: &ObsSettings, out: &mut Vec<Violation>) {
    let v = &settings.video;
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
}

pub(super) fn long_short(w: u32, h: u32) -> (u32, u32) {
    (w.max(h), w.min(h))
}
