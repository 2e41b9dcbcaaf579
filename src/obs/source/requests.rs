//! The control API's requests on VRM Avatar sources (CONTRACTS.md, "Control API"). Each one
//! reads or sets what the workers act on and returns: files are only glanced at (their header),
//! avatars and clips are loaded by the render worker.

use super::super::ffi;
use super::Source;
use super::read::read_string;
use crate::control::Request;
use crate::motion::mouth_of;
use crate::settings;
use serde_json::{Value, json};
use std::ffi::{CStr, CString, c_void};
use std::path::Path;

/// Carries out `request` (already checked by [`crate::control::parse`]): the response data
/// besides `ok`, or one sentence naming what was wrong.
pub fn execute(request: &Request) -> Result<Value, String> {
    if let Request::GetAvatars = request {
        return Ok(json!({ "avatars": avatars() }));
    }
    let name = request.source().unwrap_or_default();
    with_source(name, |source| match request {
        Request::GetState { .. } => Ok(state(source)),
        Request::SetExpression {
            name,
            weight,
            fade_ms,
            ..
        } => {
            let (_, names) = source.control.expressions();
            if !names.iter().any(|n| n == name) {
                return Err(format!(
                    "the avatar has no expression '{name}' (it has {})",
                    list(&names)
                ));
            }
            source
                .control
                .direction
                .set_expression(name, *weight, *fade_ms);
            Ok(json!({}))
        }
        Request::ClearExpressions { fade_ms, .. } => {
            source.control.direction.clear_expressions(*fade_ms);
            Ok(json!({}))
        }
        Request::SetLookAt { look, .. } => {
            source.control.direction.set_look(*look);
            Ok(json!({}))
        }
        Request::PlayAnimation {
            file,
            looping,
            fade_ms,
            ..
        } => {
            let duration_ms = crate::vrm::animation::probe_animation_file(file)
                .map_err(|e| format!("cannot play {}: {e}", file.display()))?;
            source
                .control
                .direction
                .play(file.clone(), *looping, *fade_ms);
            Ok(json!({ "duration_ms": duration_ms }))
        }
        Request::StopAnimation { fade_ms, .. } => {
            source.control.direction.stop_clip(*fade_ms);
            Ok(json!({}))
        }
        Request::Speak { file, .. } => {
            let (_, duration_ms) = crate::voice::sound_file::probe_sound(file)
                .map_err(|e| format!("cannot speak: {e}"))?;
            speak(source, file)?;
            Ok(json!({ "duration_ms": duration_ms }))
        }
        Request::StopSpeaking { .. } => {
            if let Some(speech) = source.speech.lock().as_mut() {
                speech.stop();
            }
            Ok(json!({}))
        }
        Request::LoadAvatar { vrm_path, .. } => {
            crate::vrm::probe_file(vrm_path)
                .map_err(|e| format!("cannot load {}: {e}", vrm_path.display()))?;
            set_vrm_path(source, vrm_path)?;
            Ok(json!({}))
        }
        Request::Calibrate { .. } => {
            source.control.calibrate();
            Ok(json!({}))
        }
        Request::GetAvatars => Err("`GetAvatars` names no source".into()),
    })?
}

/// Plays `file` as the avatar's speech, making the speech source on the first call.
fn speak(source: &Source, file: &Path) -> Result<(), String> {
    let mut slot = source.speech.lock();
    if slot.is_none() {
        let owner = name_of(source);
        let mut speech =
            super::super::speech::Speech::new(&owner).map_err(|e| format!("cannot speak: {e}"))?;
        speech.set_volume(*source.speech_volume.lock());
        source.control.set_speech(Some(speech.voice()));
        *slot = Some(speech);
    }
    slot.as_mut().map_or(Ok(()), |speech| speech.speak(file))
}

/// Up to ten names, then how many more.
fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    let shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
    match names.len() - shown.len() {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// `GetState`: expressions, mouth, gaze, the clip playing, whether the voice is heard, tracking
/// rate and latency, how far it stepped back to spare OBS (`stepped_back`: 0 = not at all,
/// `stepped_back_why`: what it does less of and why), and the pose of the last frame mixed.
///
/// obs-websocket carries responses as OBS data, which has no null and no arrays of numbers: a
/// null field is left out, and `pose` (whose bones are arrays) is its AvatarPose JSON as text.
fn state(source: &Source) -> Value {
    let state = source.control.state();
    let pose = &state.pose;
    let (fps, latency) = match source.control.tracking() {
        Some(tracking) => (tracking.stats().fps, source.latency.lock().p50_ms()),
        None => (0.0, None),
    };
    let (stepped_back, stepped_back_why) = source.control.stepped_back();
    json!({
        "stepped_back": stepped_back,
        "stepped_back_why": stepped_back_why,
        "expressions": pose.expressions,
        "mouth": mouth_of(pose),
        "look_at": pose.look_at,
        "animation": state.animation,
        "speaking": state.speaking,
        "tracking_fps": fps,
        "latency_ms": latency,
        "pose": serde_json::to_string(pose).unwrap_or_default(),
    })
}

/// Whether the source's tracker sees a person now, or a VMC performer moves it.
pub(super) fn tracking(source: &Source) -> bool {
    let tracked = source.control.tracking().is_some_and(|t| {
        let stats = t.stats();
        stats.face || stats.body
    });
    tracked || source.vmc.latest(std::time::Instant::now()).is_some()
}

/// Sets the source's `vrm_path` setting as the properties would (OBS applies it on its next
/// tick; the render worker then loads it and reports `AvatarLoaded`).
fn set_vrm_path(source: &Source, path: &Path) -> Result<(), String> {
    let text = CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| "`vrm_path` holds a NUL character".to_string())?;
    // SAFETY: a valid source and a data object created and released here.
    unsafe {
        let data = ffi::obs_data_create();
        ffi::obs_data_set_string(data, settings::VRM_PATH.as_ptr(), text.as_ptr());
        ffi::obs_source_update(source.obs_source.0, data);
        ffi::obs_data_release(data);
    }
    Ok(())
}

/// `GetAvatars`: every VRM Avatar source.
fn avatars() -> Vec<Value> {
    unsafe extern "C" fn each(param: *mut c_void, source: *mut ffi::obs_source_t) -> bool {
        super::super::guard("GetAvatars", true, || {
            // SAFETY: `param` is the Vec below, alive during the enumeration; `source` is
            // valid during the callback.
            let out = unsafe { &mut *(param as *mut Vec<Value>) };
            if let Some(ours) = unsafe { ours(source) } {
                out.push(describe(source, ours));
            }
            true
        })
    }
    let mut out: Vec<Value> = Vec::new();
    // SAFETY: the callback only reads each source while OBS holds it.
    unsafe { ffi::obs_enum_sources(Some(each), &mut out as *mut Vec<Value> as *mut c_void) };
    out
}

/// One entry of `GetAvatars`.
fn describe(obs_source: *mut ffi::obs_source_t, source: &Source) -> Value {
    // SAFETY: a valid source; its settings are released after reading.
    let (vrm_path, input_kind, showing) = unsafe {
        let settings = ffi::obs_source_get_settings(obs_source);
        let vrm_path = read_string(settings, settings::VRM_PATH);
        let kind = read_string(settings, settings::INPUT_KIND);
        ffi::obs_data_release(settings);
        (vrm_path, kind, ffi::obs_source_showing(obs_source))
    };
    json!({
        "source": name_of(source),
        "vrm_path": vrm_path,
        "title": source.control.title(),
        "input_kind": input_kind,
        "tracking": tracking(source),
        "showing": showing,
    })
}

/// The source's name in OBS ("" if it has none).
pub(super) fn name_of(source: &Source) -> String {
    // SAFETY: the source is alive while `source` is; the name is copied at once.
    unsafe {
        let name = ffi::obs_source_get_name(source.obs_source.0);
        if name.is_null() {
            return String::new();
        }
        CStr::from_ptr(name).to_string_lossy().into_owned()
    }
}

/// Our data when `source` is a VRM Avatar source.
///
/// # Safety
/// `source` is a valid source, held while the result is used.
unsafe fn ours<'a>(source: *mut ffi::obs_source_t) -> Option<&'a Source> {
    // SAFETY: per the contract.
    unsafe {
        let id = ffi::obs_source_get_id(source);
        if id.is_null() || CStr::from_ptr(id) != settings::SOURCE_ID {
            return None;
        }
        (ffi::obs_obj_get_data(source as *mut c_void) as *const Source).as_ref()
    }
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
        let result = match ours(source) {
            Some(data) => Ok(f(data)),
            None => Err(format!("'{name}' is not a VRM Avatar source")),
        };
        ffi::obs_source_release(source);
        result
    }
}
