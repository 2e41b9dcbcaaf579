//! What a VRM Avatar source does, for the control API's `GetState` (CONTRACTS.md).

use super::super::ffi;
use super::Source;
use crate::motion::mouth_of;
use crate::settings;
use serde_json::{Value, json};
use std::ffi::{CStr, CString, c_void};

/// `GetState {source}`: expressions, mouth, gaze, whether the voice is heard, tracking rate and
/// latency, and the pose of the last frame mixed.
///
/// obs-websocket carries responses as OBS data, which has no null and no arrays of numbers: a
/// null field is left out, and `pose` (whose bones are arrays) is its AvatarPose JSON as text.
pub fn get_state(request: &Value) -> Result<Value, String> {
    let name = request
        .get("source")
        .and_then(Value::as_str)
        .ok_or("`source` (the name of a VRM Avatar source) is missing")?;
    with_source(name, |source| {
        let state = source.control.state();
        let pose = &state.pose;
        let (fps, latency) = match source.control.tracking() {
            Some(tracking) => (tracking.stats().fps, source.latency.lock().p50_ms()),
            None => (0.0, None),
        };
        json!({
            "expressions": pose.expressions,
            "mouth": mouth_of(pose),
            "look_at": pose.look_at,
            "animation": null,
            "speaking": state.speaking,
            "tracking_fps": fps,
            "latency_ms": latency,
            "pose": serde_json::to_string(pose).unwrap_or_default(),
        })
    })
}

/// Runs `f` on the VRM Avatar source named `name`, holding a reference to it meanwhile.
fn with_source<T>(name: &str, f: impl FnOnce(&Source) -> T) -> Result<T, String> {
    let c_name = CString::new(name).map_err(|_| format!("'{name}' is not a source name"))?;
    // SAFETY: a valid C string; the result is a strong reference or null.
    let source = unsafe { ffi::obs_get_source_by_name(c_name.as_ptr()) };
    if source.is_null() {
        return Err(format!("there is no source named '{name}'"));
    }
    // SAFETY: `source` is the strong reference just taken, released below; while it is held
    // OBS does not destroy the source, so its data (our `Source`) stays valid.
    unsafe {
        let id = ffi::obs_source_get_id(source);
        let ours = !id.is_null() && CStr::from_ptr(id) == settings::SOURCE_ID;
        let data = ffi::obs_obj_get_data(source as *mut c_void) as *const Source;
        let result = match data.as_ref() {
            Some(data) if ours => Ok(f(data)),
            _ => Err(format!("'{name}' is not a VRM Avatar source")),
        };
        ffi::obs_source_release(source);
        result
    }
}
