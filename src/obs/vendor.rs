//! The control API: the `obs-vrm-avatar` vendor of obs-websocket (CONTRACTS.md, "Control
//! API"). Registered through obs-websocket's own proc handler when obs-websocket is loaded, with
//! no link to it (its `obs-websocket-api.h` is static inline functions over these procs); without
//! it the plugin works the same. Requests run on obs-websocket's thread, are checked by
//! [`crate::control`] and only set or read what the workers act on; events are sent from the
//! sources' ticks.

use super::calldata::CallData;
use super::{ffi, guard};
use serde_json::{Value, json};
use std::ffi::{CStr, CString, c_void};
use std::sync::atomic::Ordering;

pub const VENDOR: &CStr = c"obs-vrm-avatar";

/// obs-websocket's `struct obs_websocket_request_callback`.
#[repr(C)]
struct RequestCallback {
    callback: unsafe extern "C" fn(*mut ffi::obs_data_t, *mut ffi::obs_data_t, *mut c_void),
    priv_data: *mut c_void,
}

/// Registers the vendor and its requests when obs-websocket is loaded (call from
/// `obs_module_post_load`, after every module's load).
pub fn register() {
    // SAFETY: libobs's global proc handler exists while OBS runs.
    let global = unsafe { ffi::obs_get_proc_handler() };
    if global.is_null() {
        return;
    }
    let mut cd = CallData::new();
    if !cd.call(global, c"obs_websocket_api_get_ph") {
        log::info!("obs-websocket is not loaded: no control API");
        return;
    }
    let ph = cd.ptr(c"ph") as *mut ffi::proc_handler_t;
    if ph.is_null() {
        return;
    }
    let mut cd = CallData::new();
    cd.set_string(c"name", VENDOR);
    cd.call(ph, c"vendor_register");
    let vendor = cd.ptr(c"vendor");
    if vendor.is_null() {
        log::warn!("obs-websocket refused the vendor {VENDOR:?}: no control API");
        return;
    }
    super::vendor_events::registered(ph, vendor);
    for (index, name) in crate::control::REQUESTS.iter().enumerate() {
        let Ok(name) = CString::new(*name) else {
            continue;
        };
        let name = name.as_c_str();
        let callback = RequestCallback {
            callback: on_request,
            priv_data: index as *mut c_void,
        };
        let mut cd = CallData::new();
        cd.set_ptr(c"vendor", vendor);
        cd.set_string(c"type", name);
        // obs-websocket copies the struct during the call.
        cd.set_ptr(
            c"callback",
            &callback as *const RequestCallback as *mut c_void,
        );
        cd.call(ph, c"vendor_request_register");
        if !cd.bool(c"success") {
            log::warn!("obs-websocket refused the request {name:?}");
        }
    }
    log::info!(
        "control API: vendor {VENDOR:?} with {} request(s)",
        crate::control::REQUESTS.len()
    );
}

/// obs-websocket's thread: answers request number `index` of [`REQUESTS`].
unsafe extern "C" fn on_request(
    request: *mut ffi::obs_data_t,
    response: *mut ffi::obs_data_t,
    index: *mut c_void,
) {
    guard("vendor_request", (), || {
        let Some(kind) = crate::control::REQUESTS.get(index as usize) else {
            return;
        };
        // SAFETY: obs-websocket passes valid request and response data for the call.
        let request = unsafe { read_json(request) };
        let outcome = crate::control::parse(kind, &request)
            .and_then(|request| super::source::execute(&request));
        if let Err(error) = &outcome {
            log_refusal(kind, error);
        }
        let answer = match outcome {
            Ok(Value::Object(mut data)) => {
                data.insert("ok".into(), Value::Bool(true));
                Value::Object(data)
            }
            Ok(_) => json!({"ok": true}),
            Err(error) => json!({"ok": false, "error": error}),
        };
        // SAFETY: as above.
        unsafe { write_json(response, &answer) };
    })
}

/// Logs a refused request, at most [`MAX_REFUSALS_LOGGED`] times in a run (a script that gets it
/// wrong in a loop must not fill the log; the client gets every answer).
fn log_refusal(kind: &str, error: &str) {
    use std::sync::atomic::AtomicU32;
    static LOGGED: AtomicU32 = AtomicU32::new(0);
    let n = LOGGED.fetch_add(1, Ordering::Relaxed);
    if n < MAX_REFUSALS_LOGGED {
        log::warn!("control API: {kind} refused: {error}");
    } else if n == MAX_REFUSALS_LOGGED {
        log::warn!("control API: more requests refused; no more are logged");
    }
}

const MAX_REFUSALS_LOGGED: u32 = 20;

/// The request data as JSON (null when there is none).
unsafe fn read_json(data: *mut ffi::obs_data_t) -> Value {
    if data.is_null() {
        return Value::Null;
    }
    // SAFETY: valid data; the string lives as long as the data and is parsed at once.
    let text = unsafe { ffi::obs_data_get_json(data) };
    if text.is_null() {
        return Value::Null;
    }
    // SAFETY: a NUL-terminated string from libobs.
    serde_json::from_str(&unsafe { CStr::from_ptr(text) }.to_string_lossy()).unwrap_or_default()
}

/// Puts every field of `value` into the response data.
unsafe fn write_json(response: *mut ffi::obs_data_t, value: &Value) {
    let Ok(text) = CString::new(value.to_string()) else {
        return;
    };
    // SAFETY: a valid C string; the data made from it is applied and released here.
    unsafe {
        let data = ffi::obs_data_create_from_json(text.as_ptr());
        if !data.is_null() {
            ffi::obs_data_apply(response, data);
            ffi::obs_data_release(data);
        }
    }
}
