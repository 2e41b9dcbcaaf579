//! The `vrm_avatar_source` settings: keys (fixed by CONTRACTS.md), defaults and limits, in one place.

use std::ffi::CStr;

pub const SOURCE_ID: &CStr = c"vrm_avatar_source";

pub const VRM_PATH: &CStr = c"vrm_path";
pub const WIDTH: &CStr = c"width";
pub const HEIGHT: &CStr = c"height";

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
    fn sizes_are_clamped() {
        assert_eq!(clamp_size(-5), MIN_SIZE);
        assert_eq!(clamp_size(0), MIN_SIZE);
        assert_eq!(clamp_size(1280), 1280);
        assert_eq!(clamp_size(1 << 40), MAX_SIZE);
    }
}
