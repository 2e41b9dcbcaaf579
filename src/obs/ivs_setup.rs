//! Tools -> IVS Stage Setup...: the one-step Amazon IVS setup inside OBS. Its form is the
//! properties window of a private source type (`vrm_avatar_ivs_setup`, hidden from Add Source):
//! a participant token (WHIP) or an RTMPS URL and stream key, and three buttons: Check (token
//! and preflight, each violation with its fix), Apply (the stream service) and Fix (IVS's
//! recommended output settings). The buttons work on OBS's UI thread and change nothing while
//! OBS streams; secrets appear only masked, and leave the form once applied.

use super::frontend::{self, on_ui_thread};
use super::{ffi, guard, text::text};
use crate::ivs::preflight::{self, Severity};
use crate::ivs::setup::{self, StreamService};
use parking_lot::Mutex;
use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

pub const SETUP_ID: &CStr = c"vrm_avatar_ivs_setup";
const TOKEN: &CStr = c"token";
const RTMP_URL: &CStr = c"rtmp_url";
const STREAM_KEY: &CStr = c"stream_key";
const STATUS: &CStr = c"status";

/// Test hook: lists the type (no OBS_SOURCE_CAP_DISABLED) so that obs-websocket's CreateInput,
/// which refuses hidden types, can make an instance whose buttons the end-to-end tests press.
const TEST_LISTED: &str = "VRM_AVATAR_TEST_IVS_SETUP_LISTED";

/// The instance the Tools menu opens, created on first use and released when OBS exits.
static MENU_INSTANCE: AtomicPtr<ffi::obs_source_t> = AtomicPtr::new(ptr::null_mut());

/// How the status is shown (and logged); ordered by gravity.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Info,
    Warning,
    Error,
}

struct Setup {
    source: *mut ffi::obs_source_t,
    /// The last result shown under the buttons.
    status: Mutex<(Level, String)>,
}

pub fn register() {
    let listed = std::env::var_os(TEST_LISTED).is_some();
    let info = ffi::obs_source_info {
        id: SETUP_ID.as_ptr(),
        type_: ffi::obs_source_type_OBS_SOURCE_TYPE_INPUT,
        output_flags: if listed {
            0
        } else {
            ffi::OBS_SOURCE_CAP_DISABLED
        },
        get_name: Some(get_name),
        create: Some(create),
        destroy: Some(destroy),
        get_properties: Some(get_properties),
        ..Default::default()
    };
    // SAFETY: libobs copies the struct; the id string is static. The menu text is copied by
    // the frontend.
    unsafe {
        ffi::obs_register_source_s(&info, size_of::<ffi::obs_source_info>());
        ffi::obs_frontend_add_tools_menu_item(
            text(c"IVSStageSetupMenu"),
            Some(open_from_menu),
            ptr::null_mut(),
        );
        ffi::obs_frontend_add_event_callback(Some(on_frontend_event), ptr::null_mut());
    }
    // SAFETY: text() returns a valid C string that lives until the locale changes.
    let menu = unsafe { CStr::from_ptr(text(c"IVSStageSetupMenu")) };
    log::info!(
        "added Tools menu item '{}' ({}{})",
        menu.to_string_lossy(),
        SETUP_ID.to_string_lossy(),
        if listed { ", listed for tests" } else { "" }
    );
}

unsafe extern "C" fn open_from_menu(_data: *mut c_void) {
    guard("ivs_setup_menu", (), || {
        let mut source = MENU_INSTANCE.load(Ordering::Acquire);
        if source.is_null() {
            // SAFETY: a registered id and valid C strings; the reference is kept until exit.
            source = unsafe {
                ffi::obs_source_create_private(
                    SETUP_ID.as_ptr(),
                    text(c"IVSStageSetup"),
                    ptr::null_mut(),
                )
            };
            if source.is_null() {
                log::error!("OBS could not create the IVS Stage Setup form");
                return;
            }
            MENU_INSTANCE.store(source, Ordering::Release);
        }
        // SAFETY: the menu callback runs on the UI thread; the source is alive.
        unsafe { ffi::obs_frontend_open_source_properties(source) };
        log::info!("IVS Stage Setup opened");
    })
}

unsafe extern "C" fn on_frontend_event(event: ffi::obs_frontend_event, _data: *mut c_void) {
    guard("ivs_setup_event", (), || {
        if event == ffi::obs_frontend_event_OBS_FRONTEND_EVENT_EXIT {
            let source = MENU_INSTANCE.swap(ptr::null_mut(), Ordering::AcqRel);
            if !source.is_null() {
                // SAFETY: our own reference, released before libobs frees its sources.
                unsafe { ffi::obs_source_release(source) };
            }
        }
    })
}

unsafe extern "C" fn get_name(_type_data: *mut c_void) -> *const c_char {
    guard("ivs_setup_get_name", c"IVS Stage Setup".as_ptr(), || {
        text(c"IVSStageSetup")
    })
}

unsafe extern "C" fn create(
    _settings: *mut ffi::obs_data_t,
    source: *mut ffi::obs_source_t,
) -> *mut c_void {
    guard("ivs_setup_create", ptr::null_mut(), || {
        // SAFETY: text() returns a valid C string.
        let hint = unsafe { CStr::from_ptr(text(c"IVSHint")) }
            .to_string_lossy()
            .into_owned();
        Box::into_raw(Box::new(Setup {
            source,
            status: Mutex::new((Level::Info, hint)),
        })) as *mut c_void
    })
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    guard("ivs_setup_destroy", (), || {
        if !data.is_null() {
            // SAFETY: OBS calls destroy once, after every other callback of this source.
            drop(unsafe { Box::from_raw(data as *mut Setup) });
        }
    })
}

/// # Safety
/// `data` is null or a pointer returned by `create` and not yet destroyed.
unsafe fn setup<'a>(data: *mut c_void) -> Option<&'a Setup> {
    // SAFETY: per the contract.
    unsafe { (data as *const Setup).as_ref() }
}

unsafe extern "C" fn get_properties(data: *mut c_void) -> *mut ffi::obs_properties_t {
    guard("ivs_setup_get_properties", ptr::null_mut(), || unsafe {
        // SAFETY: valid C strings; OBS copies names and descriptions.
        let props = ffi::obs_properties_create();
        let info = |name: &CStr| {
            let p = ffi::obs_properties_add_text(
                props,
                name.as_ptr(),
                c"".as_ptr(),
                ffi::obs_text_type_OBS_TEXT_INFO,
            );
            ffi::obs_property_text_set_info_word_wrap(p, true);
            p
        };
        let intro = CStr::from_ptr(text(c"IVSIntro")).to_string_lossy();
        show(info(c"intro"), Level::Info, &intro);
        let field = |name: &CStr, label: &'static CStr, kind| {
            ffi::obs_properties_add_text(props, name.as_ptr(), text(label), kind);
        };
        field(TOKEN, c"IVSToken", ffi::obs_text_type_OBS_TEXT_PASSWORD);
        field(RTMP_URL, c"IVSRtmpUrl", ffi::obs_text_type_OBS_TEXT_DEFAULT);
        field(
            STREAM_KEY,
            c"IVSStreamKey",
            ffi::obs_text_type_OBS_TEXT_PASSWORD,
        );
        for ((name, label, _, _), clicked) in BUTTONS.iter().zip(CLICKED) {
            ffi::obs_properties_add_button(props, name.as_ptr(), text(label), clicked);
        }
        if let Some(setup) = setup(data) {
            let (level, status) = setup.status.lock().clone();
            show(info(STATUS), level, &status);
        }
        props
    })
}

/// Shows `text` in an info property, colored by `level`.
///
/// # Safety
/// `property` is a valid text property.
unsafe fn show(property: *mut ffi::obs_property_t, level: Level, text: &str) {
    // Plain text for Qt's label: '<' would start rich text.
    let text = CString::new(text.replace('\0', " ").replace('<', "‹")).expect("NULs were replaced");
    let kind = match level {
        Level::Info => ffi::obs_text_info_type_OBS_TEXT_INFO_NORMAL,
        Level::Warning => ffi::obs_text_info_type_OBS_TEXT_INFO_WARNING,
        Level::Error => ffi::obs_text_info_type_OBS_TEXT_INFO_ERROR,
    };
    // SAFETY: per the contract; libobs copies the description.
    unsafe {
        ffi::obs_property_set_description(property, text.as_ptr());
        ffi::obs_property_text_set_info_type(property, kind);
    }
}

/// A button: runs `action` on the UI thread, shows and logs its result, refreshes the form.
/// The window redraws the properties it has (`props`) rather than asking for new ones, so the
/// status is written into them too.
fn press(
    name: &'static str,
    props: *mut ffi::obs_properties_t,
    data: *mut c_void,
    action: Action,
) -> bool {
    guard(name, false, || {
        // SAFETY: data comes from create (OBS passes the source's data to its buttons).
        let Some(setup) = (unsafe { setup(data) }) else {
            return false;
        };
        let (level, status) = on_ui_thread(name, (Level::Error, String::new()), || action(setup));
        match level {
            Level::Info => log::info!("IVS Stage Setup: {status}"),
            _ => log::warn!("IVS Stage Setup: {status}"),
        }
        // SAFETY: OBS passes the properties the button belongs to.
        unsafe {
            let property = ffi::obs_properties_get(props, STATUS.as_ptr());
            if !property.is_null() {
                show(property, level, &status);
            }
        }
        *setup.status.lock() = (level, status);
        true
    })
}

type Action = fn(&Setup) -> (Level, String);

/// The form's buttons: property name, label, name in the log, and what pressing it does.
const BUTTONS: [(&CStr, &CStr, &str, Action); 3] = [
    (c"check", c"IVSCheck", "ivs_setup_check", check),
    (c"apply", c"IVSApply", "ivs_setup_apply", apply),
    (c"fix", c"IVSFix", "ivs_setup_fix", fix),
];

/// OBS's click callback for `BUTTONS[I]`.
unsafe extern "C" fn on_button<const I: usize>(
    props: *mut ffi::obs_properties_t,
    _property: *mut ffi::obs_property_t,
    data: *mut c_void,
) -> bool {
    let (_, _, name, action) = BUTTONS[I];
    press(name, props, data, action)
}

const CLICKED: [ffi::obs_property_clicked_t; 3] = [
    Some(on_button::<0>),
    Some(on_button::<1>),
    Some(on_button::<2>),
];

/// The form's fields: token, RTMPS URL, stream key.
fn form(setup: &Setup) -> [String; 3] {
    // SAFETY: the source is alive while its buttons run; strings are copied at once.
    unsafe {
        let settings = ffi::obs_source_get_settings(setup.source);
        let field = |key: &CStr| {
            let value = ffi::obs_data_get_string(settings, key.as_ptr());
            if value.is_null() {
                String::new()
            } else {
                CStr::from_ptr(value).to_string_lossy().trim().to_string()
            }
        };
        let fields = [field(TOKEN), field(RTMP_URL), field(STREAM_KEY)];
        ffi::obs_data_release(settings);
        fields
    }
}

/// Clears the secrets from the form once OBS's service holds them.
fn clear_secrets(setup: &Setup) {
    // SAFETY: the source is alive while its buttons run.
    unsafe {
        let settings = ffi::obs_source_get_settings(setup.source);
        ffi::obs_data_set_string(settings, TOKEN.as_ptr(), c"".as_ptr());
        ffi::obs_data_set_string(settings, STREAM_KEY.as_ptr(), c"".as_ptr());
        ffi::obs_data_release(settings);
    }
}

/// The preflight over the current profile, as text and the level it deserves.
fn preflight_report() -> (Level, String) {
    match frontend::read_output_settings() {
        Ok(settings) => {
            let violations = preflight::check(&settings);
            let level = if violations.iter().any(|v| v.severity == Severity::Error) {
                Level::Error
            } else if violations.is_empty() {
                Level::Info
            } else {
                Level::Warning
            };
            (level, setup::report(&violations))
        }
        Err(err) => (
            Level::Error,
            format!("cannot read OBS's output settings: {err:#}"),
        ),
    }
}

fn streaming_refusal(what: &str) -> (Level, String) {
    (
        Level::Warning,
        format!(
            "OBS is streaming: stop the stream first. {what} not changed (a live stream is never changed)."
        ),
    )
}

fn check(setup: &Setup) -> (Level, String) {
    let [token, _, _] = form(setup);
    let mut lines = Vec::new();
    if !token.is_empty() {
        lines.push(setup::token_summary(&token));
    }
    let (service_type, server) = frontend::streaming_service();
    lines.push(if server.is_empty() {
        format!("Stream service: {service_type}")
    } else {
        format!("Stream service: {service_type}, server {server}")
    });
    if frontend::streaming_active() {
        lines.push("OBS is streaming: changes wait until the stream stops.".into());
    }
    let (level, report) = preflight_report();
    lines.push(report);
    (level, lines.join("\n"))
}

fn apply(setup: &Setup) -> (Level, String) {
    let [token, rtmp_url, stream_key] = form(setup);
    let service = match StreamService::from_form(&token, &rtmp_url, &stream_key) {
        Ok(service) => service,
        Err(err) => return (Level::Error, format!("{err:#}; nothing was changed.")),
    };
    if service.type_id == setup::WHIP
        && let Some(why) = setup::whip_unsupported(
            &frontend::obs_version(),
            frontend::has_service_type(setup::WHIP),
        )
    {
        return (
            Level::Error,
            format!(
                "{why}; update OBS, or publish over RTMPS with the stage's RTMPS URL and a stream key. Nothing was changed."
            ),
        );
    }
    if frontend::streaming_active() {
        return streaming_refusal("The stream service was");
    }
    if let Err(err) = frontend::set_streaming_service(&service) {
        return (Level::Error, format!("{err:#}; nothing was changed."));
    }
    clear_secrets(setup);
    let mut lines = vec![format!("Applied: {}.", service.describe())];
    lines.extend(service.warnings.iter().map(|w| format!("Warning: {w}")));
    let (level, report) = preflight_report();
    lines.push(report);
    let level = if service.warnings.is_empty() {
        level
    } else {
        level.max(Level::Warning)
    };
    (level, lines.join("\n"))
}

fn fix(_setup: &Setup) -> (Level, String) {
    if frontend::streaming_active() {
        return streaming_refusal("The output settings were");
    }
    let current = match frontend::read_output_settings() {
        Ok(current) => current,
        Err(err) => {
            return (
                Level::Error,
                format!("cannot read OBS's output settings: {err:#}"),
            );
        }
    };
    let written = frontend::ProfileConfig::current().and_then(|mut profile| {
        preflight::write_changes(&preflight::changes(&current), &mut profile)
    });
    let notes = match written {
        Ok(notes) => notes,
        Err(err) => return (Level::Error, format!("fixing the output settings: {err:#}")),
    };
    let (level, report) = preflight_report();
    (
        level,
        format!(
            "Fixed the output settings for IVS: {}.\n{report}",
            notes.join("; ")
        ),
    )
}
