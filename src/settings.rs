//! The `vrm_avatar_source` settings: keys (fixed by CONTRACTS.md), defaults and limits, in one place.

use std::ffi::CStr;

pub const SOURCE_ID: &CStr = c"vrm_avatar_source";

pub const VRM_PATH: &CStr = c"vrm_path";
pub const WIDTH: &CStr = c"width";
pub const HEIGHT: &CStr = c"height";
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

pub const DEFAULT_INPUT_KIND: &CStr = c"camera";
pub const DEFAULT_TRACKING_MODE: &CStr = c"upper_body_hands";
pub const DEFAULT_MIRROR: bool = true;
pub const DEFAULT_SMOOTHING: f64 = 0.5;

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
    }

    #[test]
    fn sizes_are_clamped() {
        assert_eq!(clamp_size(-5), MIN_SIZE);
        assert_eq!(clamp_size(0), MIN_SIZE);
        assert_eq!(clamp_size(1280), 1280);
        assert_eq!(clamp_size(1 << 40), MAX_SIZE);
    }
}
