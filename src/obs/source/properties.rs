//! The source's defaults and properties, built from [`settings::SETTINGS`], and the buttons' callbacks.

use super::super::{ffi, guard, readiness, text::text};
use super::source;
use crate::settings;
use std::ffi::{CStr, CString, c_void};
use std::ptr;

pub(super) unsafe extern "C" fn get_defaults(settings: *mut ffi::obs_data_t) {
    guard("get_defaults", (), || {
        for setting in settings::SETTINGS {
            let key = setting.key.as_ptr();
            // SAFETY: settings is valid for the call; OBS copies keys and strings.
            unsafe {
                match setting.kind {
                    settings::Kind::Path(d)
                    | settings::Kind::Text(d)
                    | settings::Kind::Choice { default: d, .. } => {
                        ffi::obs_data_set_default_string(settings, key, d.as_ptr())
                    }
                    settings::Kind::Bool(d) => ffi::obs_data_set_default_bool(settings, key, d),
                    settings::Kind::Int { default, .. } | settings::Kind::Color(default) => {
                        ffi::obs_data_set_default_int(settings, key, default)
                    }
                    settings::Kind::Float { default, .. } => {
                        ffi::obs_data_set_default_double(settings, key, default)
                    }
                }
            }
        }
    })
}

pub(super) unsafe extern "C" fn get_properties(data: *mut c_void) -> *mut ffi::obs_properties_t {
    guard("get_properties", ptr::null_mut(), || unsafe {
        // SAFETY: every call gets valid C strings; OBS copies names and descriptions.
        let props = ffi::obs_properties_create();
        for key in [
            settings::VRM_PATH,
            settings::WIDTH,
            settings::HEIGHT,
            settings::PERFORMANCE,
        ] {
            add_setting(props, key);
        }
        add_tracking_properties(props);
        for key in [
            settings::VMC_PORT,
            settings::VMC_BIND,
            settings::VMC_SEND,
            settings::VMC_SEND_TO,
            settings::VMC_SEND_BUNDLES,
        ] {
            add_setting(props, key);
        }
        add_voice_properties(props);
        add_view_properties(props);
        if let Some(source) = source(data) {
            add_expression_properties(props, &source.control.expressions().1);
            add_status(props, c"status", c"Status", &source.status_line(), false);
        }
        let tracking = readiness::status();
        let unavailable = matches!(tracking, readiness::Readiness::Unavailable(_));
        add_status(
            props,
            c"tracking_status",
            c"Tracking",
            &tracking.text(),
            unavailable,
        );
        props
    })
}

/// A read-only line "<localized label>: <text>", styled as an error when `error`.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
pub(super) unsafe fn add_status(
    props: *mut ffi::obs_properties_t,
    name: &CStr,
    label_key: &'static CStr,
    status: &str,
    error: bool,
) {
    // SAFETY: text() returns a valid C string; OBS copies the name and description.
    unsafe {
        let label = CStr::from_ptr(text(label_key)).to_string_lossy();
        let line = CString::new(status_markup(&label, status).replace('\0', " "))
            .expect("NULs were replaced");
        let property = ffi::obs_properties_add_text(
            props,
            name.as_ptr(),
            line.as_ptr(),
            ffi::obs_text_type_OBS_TEXT_INFO,
        );
        if error {
            ffi::obs_property_text_set_info_type(
                property,
                ffi::obs_text_info_type_OBS_TEXT_INFO_ERROR,
            );
        }
    }
}

/// The status line as Qt rich text. OBS shows it in a label that renders anything that looks
/// like HTML, and error texts carry file contents (a VRM's names, a path), so every special
/// character is escaped, and the line is wrapped in a tag so that Qt reads the escapes as such.
fn status_markup(label: &str, status: &str) -> String {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    format!("<span>{}: {}</span>", escape(label), escape(status))
}

/// The tracking properties: input kind and source, mode, mirror, smoothing, calibrate, reset.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
pub(super) unsafe fn add_tracking_properties(props: *mut ffi::obs_properties_t) {
    // SAFETY: OBS copies every name, description and item; the strings are valid C strings.
    unsafe {
        add_setting(props, settings::INPUT_KIND);
        let cameras = add_setting(props, settings::CAMERA_DEVICE);
        add_items(cameras, super::super::tracking_input::cameras());
        let sources = add_setting(props, settings::INPUT_SOURCE);
        add_items(
            sources,
            source_names(ffi::OBS_SOURCE_ASYNC_VIDEO)
                .into_iter()
                .map(|n| (n.clone(), n)),
        );
        for key in [
            settings::TRACKING_MODE,
            settings::MIRROR,
            settings::SMOOTHING,
        ] {
            add_setting(props, key);
        }
        ffi::obs_properties_add_button(
            props,
            c"calibrate".as_ptr(),
            text(c"Calibrate"),
            Some(calibrate_clicked),
        );
        ffi::obs_properties_add_button(
            props,
            c"reset".as_ptr(),
            text(c"Reset"),
            Some(reset_clicked),
        );
    }
}

/// Names of the OBS sources with all of `flags` in their output flags: async video (cameras,
/// media) can be tracked; audio (mic and aux inputs, media, ...) can be a voice.
pub(super) fn source_names(flags: u32) -> Vec<String> {
    struct Search {
        flags: u32,
        names: Vec<String>,
    }
    unsafe extern "C" fn collect(param: *mut c_void, source: *mut ffi::obs_source_t) -> bool {
        // SAFETY: param is the Search passed below; source is valid during the enumeration.
        unsafe {
            let search = &mut *(param as *mut Search);
            let flags = ffi::obs_source_get_output_flags(source);
            if flags & search.flags == search.flags {
                let name = ffi::obs_source_get_name(source);
                if !name.is_null() {
                    search
                        .names
                        .push(CStr::from_ptr(name).to_string_lossy().into_owned());
                }
            }
        }
        true
    }
    let mut search = Search {
        flags,
        names: Vec::new(),
    };
    // SAFETY: the callback only reads each source and pushes into `search`, which outlives
    // the call.
    unsafe { ffi::obs_enum_sources(Some(collect), &mut search as *mut Search as *mut c_void) };
    search.names
}

/// The voice (lip sync) source and who moves the mouth.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
pub(super) unsafe fn add_voice_properties(props: *mut ffi::obs_properties_t) {
    // SAFETY: per the contract.
    unsafe {
        let list = add_setting(props, settings::VOICE_SOURCE);
        add_items(
            list,
            source_names(ffi::OBS_SOURCE_AUDIO)
                .into_iter()
                .map(|n| (n.clone(), n)),
        );
        add_setting(props, settings::MOUTH);
        add_setting(props, settings::SPEECH_VOLUME);
    }
}

pub(super) unsafe extern "C" fn calibrate_clicked(
    _props: *mut ffi::obs_properties_t,
    _property: *mut ffi::obs_property_t,
    data: *mut c_void,
) -> bool {
    guard("calibrate", false, || {
        // SAFETY: OBS passes the source's data to its properties' buttons.
        if let Some(source) = unsafe { source(data) } {
            source.control.calibrate();
            log::info!("calibrating on the next frame (neutral face, open hands)");
        }
        false
    })
}

pub(super) unsafe extern "C" fn reset_clicked(
    _props: *mut ffi::obs_properties_t,
    _property: *mut ffi::obs_property_t,
    data: *mut c_void,
) -> bool {
    guard("reset", false, || {
        // SAFETY: as above.
        if let Some(source) = unsafe { source(data) } {
            source.control.reset();
            log::info!("tracking reset: calibration forgotten");
        }
        false
    })
}

/// The expression shown by default and how the expression hotkeys work.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
pub(super) unsafe fn add_expression_properties(
    props: *mut ffi::obs_properties_t,
    names: &[String],
) {
    // SAFETY: per the contract.
    unsafe {
        let list = add_setting(props, settings::DEFAULT_EXPRESSION);
        add_items(list, names.iter().map(|n| (n.clone(), n.clone())));
        add_setting(props, settings::EXPRESSION_HOTKEYS);
    }
}

/// The property of setting `key` as [`settings::SETTINGS`] describes it (a drop-down gets its
/// fixed items; the caller may add more); returns it.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
pub(super) unsafe fn add_setting(
    props: *mut ffi::obs_properties_t,
    key: &CStr,
) -> *mut ffi::obs_property_t {
    let setting = settings::setting(key);
    let (key, label) = (setting.key.as_ptr(), text(setting.label));
    // SAFETY: OBS copies the name, description and items.
    unsafe {
        match setting.kind {
            settings::Kind::Path(_) => ffi::obs_properties_add_path(
                props,
                key,
                label,
                ffi::obs_path_type_OBS_PATH_FILE,
                text(c"VRMFileFilter"),
                ptr::null(),
            ),
            settings::Kind::Choice { items, .. } => {
                let list = ffi::obs_properties_add_list(
                    props,
                    key,
                    label,
                    ffi::obs_combo_type_OBS_COMBO_TYPE_LIST,
                    ffi::obs_combo_format_OBS_COMBO_FORMAT_STRING,
                );
                for (value, item) in items {
                    ffi::obs_property_list_add_string(list, text(item), value.as_ptr());
                }
                list
            }
            settings::Kind::Text(_) => {
                ffi::obs_properties_add_text(props, key, label, ffi::obs_text_type_OBS_TEXT_DEFAULT)
            }
            settings::Kind::Bool(_) => ffi::obs_properties_add_bool(props, key, label),
            settings::Kind::Int { min, max, step, .. } => {
                ffi::obs_properties_add_int(props, key, label, min as i32, max as i32, step as i32)
            }
            settings::Kind::Float { min, max, step, .. } => {
                ffi::obs_properties_add_float_slider(props, key, label, min, max, step)
            }
            settings::Kind::Color(_) => ffi::obs_properties_add_color(props, key, label),
        }
    }
}

/// Adds `(value, label)` items that are not localized (device and source names).
///
/// # Safety
/// `list` is a string list property being built.
pub(super) unsafe fn add_items(
    list: *mut ffi::obs_property_t,
    items: impl IntoIterator<Item = (String, String)>,
) {
    for (value, label) in items {
        if let (Ok(value), Ok(label)) = (CString::new(value), CString::new(label)) {
            // SAFETY: OBS copies both strings.
            unsafe { ffi::obs_property_list_add_string(list, label.as_ptr(), value.as_ptr()) };
        }
    }
}

/// Framing, field of view, key light, ambient light and background.
///
/// # Safety
/// `props` is a valid properties object being built in `get_properties`.
pub(super) unsafe fn add_view_properties(props: *mut ffi::obs_properties_t) {
    // SAFETY: per the contract.
    unsafe {
        for key in [
            settings::FRAMING,
            settings::ZOOM,
            settings::CAMERA_HEIGHT,
            settings::CAMERA_OFFSET,
            settings::FOV_DEG,
            settings::LIGHT_YAW_DEG,
            settings::LIGHT_PITCH_DEG,
            settings::LIGHT_INTENSITY,
            settings::AMBIENT,
            settings::BACKGROUND,
            settings::BACKGROUND_COLOR,
        ] {
            add_setting(props, key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_from_a_file_cannot_inject_markup() {
        let line = status_markup(
            "Status",
            "error: cannot load <img src=x onerror=y>&<b>big</b>.vrm: \"bad\"",
        );
        assert_eq!(
            line,
            "<span>Status: error: cannot load &lt;img src=x onerror=y&gt;&amp;&lt;b&gt;big&lt;/b&gt;.vrm: &quot;bad&quot;</span>"
        );
        assert_eq!(
            status_markup("Tracking", "ready"),
            "<span>Tracking: ready</span>"
        );
    }
}
