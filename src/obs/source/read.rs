//! Reading the source's settings: every value checked and clamped to [`settings::SETTINGS`].

use super::super::ffi;
use super::Source;
use crate::pipeline::ViewSettings;
use crate::settings;
use crate::solver::SolverSettings;
use crate::tracking::holistic::TrackingMode;
use std::ffi::CStr;

pub(super) fn read_vrm_path(settings: *mut ffi::obs_data_t) -> Option<std::path::PathBuf> {
    // SAFETY: settings is the valid obs_data_t that OBS passed to the callback; the returned
    // string lives as long as the settings and is copied at once.
    let value = unsafe { ffi::obs_data_get_string(settings, settings::VRM_PATH.as_ptr()) };
    if value.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string from libobs.
    settings::vrm_path(&unsafe { std::ffi::CStr::from_ptr(value) }.to_string_lossy())
}

pub(super) fn read_size(settings: *mut ffi::obs_data_t) -> (u32, u32) {
    // SAFETY: settings is the valid obs_data_t that OBS passed to the callback.
    unsafe {
        (
            settings::clamp_size(ffi::obs_data_get_int(settings, settings::WIDTH.as_ptr())),
            settings::clamp_size(ffi::obs_data_get_int(settings, settings::HEIGHT.as_ptr())),
        )
    }
}

/// A string setting (empty when unset).
pub(super) fn read_string(settings: *mut ffi::obs_data_t, key: &CStr) -> String {
    // SAFETY: settings is the valid obs_data_t OBS passed to the callback; the string is copied.
    unsafe {
        let value = ffi::obs_data_get_string(settings, key.as_ptr());
        if value.is_null() {
            String::new()
        } else {
            CStr::from_ptr(value).to_string_lossy().into_owned()
        }
    }
}

/// The input, tracking mode and solver settings the source's settings ask for.
pub(super) fn read_tracking(
    settings: *mut ffi::obs_data_t,
) -> (settings::Input, TrackingMode, SolverSettings) {
    let input = settings::input(
        &read_string(settings, settings::INPUT_KIND),
        &read_string(settings, settings::INPUT_SOURCE),
        &read_string(settings, settings::CAMERA_DEVICE),
    );
    let mode = TrackingMode::parse(&read_string(settings, settings::TRACKING_MODE))
        .unwrap_or(TrackingMode::UpperBodyHands);
    // SAFETY: as above.
    let (mirror, smoothing) = unsafe {
        (
            ffi::obs_data_get_bool(settings, settings::MIRROR.as_ptr()),
            ffi::obs_data_get_double(settings, settings::SMOOTHING.as_ptr()),
        )
    };
    let solver = SolverSettings {
        mirror,
        smoothing: settings::clamp_smoothing(smoothing),
        ..SolverSettings::default()
    };
    (input, mode, solver)
}

/// The framing, lighting and background the settings ask for (out-of-range values clamped to
/// the ranges of [`settings::SETTINGS`]).
pub(super) fn read_view(settings: *mut ffi::obs_data_t) -> ViewSettings {
    // SAFETY: settings is the valid obs_data_t OBS passed to the callback.
    let number = |key: &CStr| {
        settings::clamp_float(key, unsafe {
            ffi::obs_data_get_double(settings, key.as_ptr())
        })
    };
    // SAFETY: as above.
    let colour = unsafe { ffi::obs_data_get_int(settings, settings::BACKGROUND_COLOR.as_ptr()) };
    ViewSettings {
        full_body: read_string(settings, settings::FRAMING) == "full_body",
        zoom: number(settings::ZOOM),
        height_offset: number(settings::CAMERA_HEIGHT),
        side_offset: number(settings::CAMERA_OFFSET),
        fov_deg: number(settings::FOV_DEG),
        light_yaw_deg: number(settings::LIGHT_YAW_DEG),
        light_pitch_deg: number(settings::LIGHT_PITCH_DEG),
        light_intensity: number(settings::LIGHT_INTENSITY),
        ambient: number(settings::AMBIENT),
        background: (read_string(settings, settings::BACKGROUND) == "color").then_some([
            colour as u8,
            (colour >> 8) as u8,
            (colour >> 16) as u8,
        ]),
    }
}

/// Applies what the settings ask for tracking.
pub(super) fn apply_tracking(source: &Source, settings: *mut ffi::obs_data_t) {
    source.control.set_view(read_view(settings));
    source
        .control
        .direction
        .set_default_expression(&read_string(settings, settings::DEFAULT_EXPRESSION));
    let hold = read_string(settings, settings::EXPRESSION_HOTKEYS) == "hold";
    source
        .hotkey_hold
        .store(hold, std::sync::atomic::Ordering::Relaxed);
    *source.wanted_voice.lock() = read_string(settings, settings::VOICE_SOURCE);
    source
        .control
        .set_performance(settings::Performance::parse(&read_string(
            settings,
            settings::PERFORMANCE,
        )));
    source
        .control
        .set_mouth(settings::MouthMode::parse(&read_string(
            settings,
            settings::MOUTH,
        )));
    // SAFETY: settings is the valid obs_data_t OBS passed to the callback.
    let volume = settings::clamp_float(settings::SPEECH_VOLUME, unsafe {
        ffi::obs_data_get_double(settings, settings::SPEECH_VOLUME.as_ptr())
    });
    // The speech takes it at its next tick (see `send_events`).
    *source.speech_volume.lock() = volume;
    // SAFETY: as above.
    let (port, send, bundles) = unsafe {
        (
            ffi::obs_data_get_int(settings, settings::VMC_PORT.as_ptr()),
            ffi::obs_data_get_bool(settings, settings::VMC_SEND.as_ptr()),
            ffi::obs_data_get_bool(settings, settings::VMC_SEND_BUNDLES.as_ptr()),
        )
    };
    // Only addresses are set here: the VMC worker binds, the render worker sends.
    source.vmc.listen(settings::vmc_listen(
        &read_string(settings, settings::INPUT_KIND),
        &read_string(settings, settings::VMC_BIND),
        port,
    ));
    source.control.set_vmc_send(
        settings::vmc_send_to(send, &read_string(settings, settings::VMC_SEND_TO))
            .map(|to| crate::pipeline::VmcSendSettings { to, bundles }),
    );
    let (input, mode, solver) = read_tracking(settings);
    source.control.set_solver_settings(solver);
    *source.wanted.lock() = (input, mode);
}

pub(super) fn output_fps() -> u32 {
    let mut video = ffi::obs_video_info::default();
    // SAFETY: obs_get_video_info fills the struct; it is false when video is not set up.
    if unsafe { ffi::obs_get_video_info(&mut video) } && video.fps_den > 0 {
        video.fps_num.div_ceil(video.fps_den).clamp(1, 240)
    } else {
        30
    }
}
