//! The camera side of a VRM Avatar source: the OBS video source it tracks (a media source, a
//! camera source), the tap on it that copies frames for the tracker (`tap.rs`), and the
//! trackers shared by every VRM Avatar source that tracks the same input.

use super::capture::{CAMERA_KIND, Capture, Watch};
use super::ffi;
use super::tap::{Feed, Tap};
use crate::pipeline::{TrackingControl, spawn_tracking_worker};
use crate::settings;
use crate::tracking::holistic::TrackingMode;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// One tracker per tracked input, with the number of VRM Avatar sources using it.
struct Shared {
    feed: Arc<Feed>,
    users: usize,
    /// The tap on the input, once the input is there (dropped before the capture, so that the
    /// capture thread lets go of a camera last).
    tap: Option<Tap>,
    /// A camera's private capture source (one per device, however many avatars track it).
    capture: Capture,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Before the capture (dropped after this), on the capture thread, which holds no lock.
        if let Some(tap) = self.tap.take() {
            super::capture::drop_there(tap);
        }
    }
}

/// The key trackers are shared by: sources tracking the same input share one tracker.
fn key(wanted: &settings::Input) -> String {
    match wanted {
        settings::Input::Source(name) => format!("source:{name}"),
        settings::Input::Camera(device) => format!("camera:{device}"),
        settings::Input::None => "none".into(),
    }
}

/// The cameras of this machine: `(device id as the capture source takes it, name)`. On Linux
/// from sysfs, without asking v4l2_input (whose properties need a source instance: asking its
/// type with none crashes OBS 29). Elsewhere only "the first camera" is offered for now.
pub fn cameras() -> Vec<(String, String)> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    let Ok(entries) = std::fs::read_dir("/sys/class/video4linux") else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|entry| {
            let node = entry.file_name().to_string_lossy().into_owned();
            node.starts_with("video").then(|| {
                let name = std::fs::read_to_string(entry.path().join("name"))
                    .map(|n| n.trim().to_string())
                    .unwrap_or_else(|_| node.clone());
                (format!("/dev/{node}"), format!("{name} (/dev/{node})"))
            })
        })
        .collect();
    out.sort();
    out
}

static SHARED: Mutex<BTreeMap<String, Shared>> = Mutex::new(BTreeMap::new());

/// The tracker of input `name`, started on first use (its models load on its own thread),
/// and a watch on the input's capture source when it is a camera (being made off this thread).
fn acquire(
    wanted: &settings::Input,
    mode: TrackingMode,
    capture: impl FnOnce() -> Capture,
) -> Option<(Arc<Feed>, Watch)> {
    let name = key(wanted);
    let mut shared = SHARED.lock();
    if let Some(entry) = shared.get_mut(&name) {
        entry.users += 1;
        entry.feed.control.set_mode(mode);
        return Some((Arc::clone(&entry.feed), entry.capture.watch()));
    }
    let capture = capture();
    let control = TrackingControl::new(mode);
    match spawn_tracking_worker(Arc::clone(&control), None) {
        // Joined at module unload, after stop_all.
        Ok(handle) => crate::pipeline::worker::retire("tracking", handle),
        Err(err) => {
            log::error!("cannot start the tracking thread: {err}");
            return None;
        }
    }
    let watch = capture.watch();
    let feed = Feed::new(describe(wanted), control);
    shared.insert(
        name,
        Shared {
            feed: Arc::clone(&feed),
            users: 1,
            tap: None,
            capture,
        },
    );
    Some((feed, watch))
}

/// Puts the tap on the input `source` of `wanted` unless it has one (or puts it back when the
/// user removed it); false when the input hands over no frames of its own.
fn tap_into(wanted: &settings::Input, source: *mut ffi::obs_source_t) -> bool {
    let mut shared = SHARED.lock();
    let Some(entry) = shared.get_mut(&key(wanted)) else {
        return false;
    };
    if entry.feed.take_removed() {
        log::info!(
            "the tracking filter on {} was removed: put back",
            describe(wanted)
        );
        if let Some(tap) = entry.tap.take() {
            super::capture::drop_there(tap);
        }
    }
    if entry.tap.is_none() {
        entry.tap = Tap::add(source, &entry.feed);
    }
    entry.tap.is_some()
}

fn release(name: &str) {
    let mut shared = SHARED.lock();
    if let Some(entry) = shared.get_mut(name) {
        entry.users -= 1;
        if entry.users == 0 {
            entry.feed.control.stop();
            shared.remove(name);
        }
    }
}

/// Set when OBS starts quitting: inputs are let go and not taken up again.
static QUITTING: AtomicBool = AtomicBool::new(false);

/// Every source's input, so that all of them can be let go when OBS quits.
static LIVE: Mutex<Vec<Weak<Mutex<Input>>>> = Mutex::new(Vec::new());

/// A new source's input, known to [`quit`].
pub fn new_input() -> Arc<Mutex<Input>> {
    let input = Arc::new(Mutex::new(Input::new()));
    let mut live = LIVE.lock();
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(&input));
    input
}

/// OBS is quitting (its frontend says so before it clears its scenes): every tracked input is
/// let go (its reference, the active and showing counts this plugin added, and its tap) and
/// every tracker stopped, so that OBS's own teardown meets no reference, count or busy thread of
/// ours. Returns how many inputs were let go and how many trackers stopped.
pub fn quit() -> (usize, usize) {
    QUITTING.store(true, Ordering::SeqCst);
    let inputs: Vec<Arc<Mutex<Input>>> = LIVE.lock().iter().filter_map(Weak::upgrade).collect();
    let trackers = SHARED.lock().len();
    let mut let_go = 0;
    for input in inputs {
        let mut input = input.lock();
        let_go += usize::from(input.attached.is_some());
        input.detach();
    }
    // The taps come off here, on OBS's UI thread (where the frontend's quit event comes) and
    // before it clears its scenes, not on the capture thread while it does (outside the lock).
    let taps: Vec<Tap> = SHARED
        .lock()
        .values_mut()
        .filter_map(|entry| entry.tap.take())
        .collect();
    drop(taps);
    stop_all();
    (let_go, trackers)
}

/// Stops every tracker (module unload; their threads are joined with the other retired workers).
pub fn stop_all() {
    for (_, entry) in std::mem::take(&mut *SHARED.lock()) {
        entry.feed.control.stop();
    }
}

/// The input a source tracks now. Touched only on OBS's graphics thread (video_tick) and in
/// destroy.
pub struct Input {
    attached: Option<Attached>,
    /// The last attempt to attach: a missing input is looked for again every few seconds,
    /// not on every frame (listing cameras asks the system).
    tried: Option<(settings::Input, Instant)>,
}

struct Attached {
    wanted: settings::Input,
    /// Whether the log has been told that no frames come.
    warned: bool,
    attached_at: Instant,
    /// A strong reference to the tracked OBS source; null while a camera's capture source is
    /// being made (`waiting`).
    source: *mut ffi::obs_source_t,
    waiting: Option<Watch>,
    /// Whether the input has this run's tap (it may not: not a camera or media source).
    tapped: bool,
    /// Whether this VRM source has made the tracked one active and showing (so a media
    /// source plays and a camera captures while the avatar is on screen).
    holding: bool,
    feed: Arc<Feed>,
}

// SAFETY: the OBS source pointer is a counted reference, used under the owner's lock.
unsafe impl Send for Input {}

impl Input {
    pub fn new() -> Input {
        Input {
            attached: None,
            tried: None,
        }
    }

    /// Follows the wanted input (`None`: no tracking) and copies its newest frame for the
    /// tracker while `showing`. Returns the tracker to follow.
    pub fn tick(
        &mut self,
        wanted: &settings::Input,
        mode: TrackingMode,
        showing: bool,
    ) -> Option<Arc<TrackingControl>> {
        if QUITTING.load(Ordering::SeqCst) {
            self.detach();
            return None;
        }
        let wanted = (*wanted != settings::Input::None).then_some(wanted);
        // A tracked source the user deleted is let go, and looked up again by name only after
        // a while: OBS removes every source when it clears a scene collection or quits, and
        // taking one up again then would hold and activate a source on its way out.
        // SAFETY: the attached pointer is a strong reference.
        if let Some(a) = self.attached.as_ref()
            && !a.source.is_null()
            && unsafe { ffi::obs_source_removed(a.source) }
        {
            self.tried = Some((a.wanted.clone(), Instant::now()));
            self.detach();
        }
        if self.attached.as_ref().map(|a| &a.wanted) != wanted {
            self.detach();
            if let Some(wanted) = wanted {
                let due = self
                    .tried
                    .as_ref()
                    .is_none_or(|(last, at)| last != wanted || at.elapsed() >= RETRY_AFTER);
                if due {
                    self.tried = Some((wanted.clone(), Instant::now()));
                    self.attach(wanted, mode);
                }
            }
        }
        let attached = self.attached.as_mut()?;
        attached.feed.control.set_mode(mode);
        if let Some(waiting) = &attached.waiting {
            match waiting.source() {
                Ok(Some(source)) => {
                    attached.source = source;
                    attached.waiting = None;
                }
                Ok(None) => return Some(Arc::clone(&attached.feed.control)),
                Err(()) => {
                    log::warn!(
                        "cannot create a {} capture source for {}",
                        CAMERA_KIND.0.to_string_lossy(),
                        describe(&attached.wanted)
                    );
                    let wanted = attached.wanted.clone();
                    self.detach();
                    self.tried = Some((wanted, Instant::now()));
                    return None;
                }
            }
        }
        if !attached.tapped || attached.feed.removed() {
            attached.tapped = tap_into(&attached.wanted, attached.source);
        }
        if showing != attached.holding {
            // SAFETY: `source` is a strong reference held since attach.
            unsafe {
                if showing {
                    ffi::obs_source_inc_showing(attached.source);
                    ffi::obs_source_inc_active(attached.source);
                } else {
                    ffi::obs_source_dec_active(attached.source);
                    ffi::obs_source_dec_showing(attached.source);
                }
            }
            attached.feed.show(showing);
            attached.holding = showing;
        }
        let control = Arc::clone(&attached.feed.control);
        let warned = attached.warned;
        match self.silence() {
            Some(trouble) if !warned => {
                log::warn!("{trouble}");
                if let Some(a) = self.attached.as_mut() {
                    a.warned = true;
                }
            }
            None if warned => {
                if let Some(a) = self.attached.as_mut() {
                    log::info!("{} gives pictures again", describe(&a.wanted));
                    a.warned = false;
                }
            }
            _ => {}
        }
        Some(control)
    }

    fn attach(&mut self, wanted: &settings::Input, mode: TrackingMode) {
        let (feed, source, waiting) = match wanted {
            settings::Input::None => return,
            settings::Input::Source(name) => {
                let Ok(c_name) = CString::new(name.as_str()) else {
                    return;
                };
                // SAFETY: a valid C string; the result is a strong reference or null.
                let source = unsafe { ffi::obs_get_source_by_name(c_name.as_ptr()) };
                if source.is_null() {
                    return;
                }
                // A removed source can still be found by name until its last reference goes.
                // SAFETY: `source` is the strong reference just taken; released if not kept.
                if unsafe { ffi::obs_source_removed(source) } {
                    unsafe { ffi::obs_source_release(source) };
                    return;
                }
                let Some((feed, _)) = acquire(wanted, mode, Capture::none) else {
                    // SAFETY: releasing the reference just taken.
                    unsafe { ffi::obs_source_release(source) };
                    return;
                };
                (feed, source, None)
            }
            settings::Input::Camera(device) => {
                // Without a camera nothing starts (no tracker, no capture).
                let Some(device) = camera_device(device) else {
                    return;
                };
                let Some((feed, watch)) = acquire(wanted, mode, || Capture::open(&device)) else {
                    return;
                };
                (feed, std::ptr::null_mut(), Some(watch))
            }
        };
        log::info!("tracking {}", describe(wanted));
        self.attached = Some(Attached {
            wanted: wanted.clone(),
            warned: false,
            attached_at: Instant::now(),
            source,
            waiting,
            tapped: false,
            holding: false,
            feed,
        });
    }

    /// A problem with the input the user should hear about (the status line): frames it cannot
    /// track, or no frames for a while.
    pub fn trouble(&self) -> Option<String> {
        let a = self.attached.as_ref()?;
        match a.feed.copy_error() {
            Some(why) => Some(format!("{} cannot be tracked: {why}", describe(&a.wanted))),
            None => self.silence(),
        }
    }

    /// No frames from the input for a while (logged once when it starts).
    fn silence(&self) -> Option<String> {
        let a = self.attached.as_ref()?;
        let since = a
            .feed
            .last_frame()
            .map_or(a.attached_at, |last| last.max(a.attached_at));
        if !a.holding || since.elapsed() < NO_FRAMES_AFTER {
            return None;
        }
        Some(match &a.wanted {
            settings::Input::Camera(_) => format!(
                "no picture from {} for {} s: is it plugged in, or used by another program?",
                describe(&a.wanted),
                since.elapsed().as_secs()
            ),
            settings::Input::Source(_) | settings::Input::None => format!(
                "no frames from {} for {} s: is it playing? (only camera and media sources can be tracked)",
                describe(&a.wanted),
                since.elapsed().as_secs()
            ),
        })
    }

    /// Lets go of the tracked source (and of its tracker when no other source uses it).
    pub fn detach(&mut self) {
        if let Some(a) = self.attached.take() {
            // SAFETY: the strong reference taken in attach, released once.
            unsafe {
                if a.holding {
                    ffi::obs_source_dec_active(a.source);
                    ffi::obs_source_dec_showing(a.source);
                    a.feed.show(false);
                }
                if !a.source.is_null() {
                    ffi::obs_source_release(a.source);
                }
            }
            release(&key(&a.wanted));
        }
    }
}

/// How often a missing input (a camera not plugged in, a source not created yet) is looked for.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// How long without frames before the status says so.
const NO_FRAMES_AFTER: std::time::Duration = std::time::Duration::from_secs(3);

fn describe(wanted: &settings::Input) -> String {
    match wanted {
        settings::Input::Source(name) => format!("the source '{name}'"),
        settings::Input::Camera(device) if device.is_empty() => "the first camera".into(),
        settings::Input::Camera(device) => format!("the camera {device}"),
        settings::Input::None => "no input".into(),
    }
}

/// The device to capture: the one named, or (`""`) the first the platform lists; None when
/// there is no camera.
fn camera_device(device: &str) -> Option<String> {
    if device.is_empty() {
        cameras().into_iter().next().map(|(id, _)| id)
    } else {
        Some(device.to_string())
    }
}
