//! The camera side of a VRM Avatar source: the OBS video source it tracks (a media source, a
//! camera source), the copy of that source's newest frame for the tracker (on OBS's graphics
//! thread: a memcpy when the tracker is ready for a frame, never inference), and the trackers
//! shared by every VRM Avatar source that tracks the same input.

use super::ffi;
use crate::camera::{CameraFormat, CameraFrame, Plane};
use crate::pipeline::{TrackingControl, spawn_tracking_worker};
use crate::tracking::holistic::TrackingMode;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// One tracker per tracked input, with the number of VRM Avatar sources using it.
struct Shared {
    control: Arc<TrackingControl>,
    users: usize,
}

static SHARED: Mutex<BTreeMap<String, Shared>> = Mutex::new(BTreeMap::new());
/// Workers of trackers no source uses any more, joined at module unload.
static STOPPED: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// The tracker of input `name`, started on first use (its models load on its own thread).
fn acquire(name: &str, mode: TrackingMode) -> Option<Arc<TrackingControl>> {
    let mut shared = SHARED.lock();
    if let Some(entry) = shared.get_mut(name) {
        entry.users += 1;
        entry.control.set_mode(mode);
        return Some(Arc::clone(&entry.control));
    }
    let control = TrackingControl::new(mode);
    match spawn_tracking_worker(Arc::clone(&control), None) {
        Ok(handle) => STOPPED.lock().push(handle),
        Err(err) => {
            log::error!("cannot start the tracking thread: {err}");
            return None;
        }
    }
    shared.insert(
        name.to_string(),
        Shared {
            control: Arc::clone(&control),
            users: 1,
        },
    );
    Some(control)
}

fn release(name: &str) {
    let mut shared = SHARED.lock();
    if let Some(entry) = shared.get_mut(name) {
        entry.users -= 1;
        if entry.users == 0 {
            entry.control.stop();
            shared.remove(name);
        }
    }
}

/// Stops every tracker and waits (bounded) for their threads: module unload.
pub fn stop_all() {
    for (_, entry) in std::mem::take(&mut *SHARED.lock()) {
        entry.control.stop();
    }
    super::source::join_bounded(std::mem::take(&mut *STOPPED.lock()), "tracking");
}

/// The input a source tracks now. Touched only on OBS's graphics thread (video_tick) and in
/// destroy.
pub struct Input {
    attached: Option<Attached>,
}

struct Attached {
    name: String,
    /// A strong reference to the tracked OBS source.
    source: *mut ffi::obs_source_t,
    /// Whether this VRM source has made the tracked one active and showing (so a media
    /// source plays and a camera captures while the avatar is on screen).
    holding: bool,
    control: Arc<TrackingControl>,
}

// SAFETY: the OBS source pointer is a counted reference, used under the owner's lock.
unsafe impl Send for Input {}

impl Input {
    pub fn new() -> Input {
        Input { attached: None }
    }

    /// Follows the wanted input (None: no tracking) and copies its newest frame for the
    /// tracker while `showing`. Returns the tracker to follow.
    pub fn tick(
        &mut self,
        wanted: Option<&str>,
        mode: TrackingMode,
        showing: bool,
    ) -> Option<Arc<TrackingControl>> {
        if self.attached.as_ref().map(|a| a.name.as_str()) != wanted {
            self.detach();
            if let Some(name) = wanted {
                self.attach(name, mode);
            }
        }
        let attached = self.attached.as_mut()?;
        attached.control.set_mode(mode);
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
            attached.holding = showing;
        }
        if showing && attached.control.wants_frame() {
            // SAFETY: as above; the frame is released right after the copy.
            unsafe {
                let frame = ffi::obs_source_get_frame(attached.source);
                if !frame.is_null() {
                    let copy = copy_frame(&*frame);
                    ffi::obs_source_release_frame(attached.source, frame);
                    match copy {
                        Ok(copy) => attached.control.submit(copy),
                        Err(why) => log::warn!("'{}': {why}", attached.name),
                    }
                }
            }
        }
        Some(Arc::clone(&attached.control))
    }

    fn attach(&mut self, name: &str, mode: TrackingMode) {
        let Ok(c_name) = CString::new(name) else {
            return;
        };
        // SAFETY: a valid C string; the result is a strong reference or null.
        let source = unsafe { ffi::obs_get_source_by_name(c_name.as_ptr()) };
        if source.is_null() {
            return;
        }
        let Some(control) = acquire(name, mode) else {
            // SAFETY: releasing the reference just taken.
            unsafe { ffi::obs_source_release(source) };
            return;
        };
        log::info!("tracking the source '{name}'");
        self.attached = Some(Attached {
            name: name.to_string(),
            source,
            holding: false,
            control,
        });
    }

    /// Lets go of the tracked source (and of its tracker when no other source uses it).
    pub fn detach(&mut self) {
        if let Some(a) = self.attached.take() {
            // SAFETY: the strong reference taken in attach, released once.
            unsafe {
                if a.holding {
                    ffi::obs_source_dec_active(a.source);
                    ffi::obs_source_dec_showing(a.source);
                }
                ffi::obs_source_release(a.source);
            }
            release(&a.name);
        }
    }
}

/// Copies an OBS async frame into a [`CameraFrame`] (planes cut to what the format needs).
fn copy_frame(f: &ffi::obs_source_frame) -> Result<CameraFrame, String> {
    let (h, ch) = (f.height as usize, (f.height as usize).div_ceil(2));
    let (format, rows): (CameraFormat, &[usize]) = match f.format {
        ffi::video_format_VIDEO_FORMAT_NV12 => (CameraFormat::Nv12, &[h, ch]),
        ffi::video_format_VIDEO_FORMAT_I420 => (CameraFormat::I420, &[h, ch, ch]),
        ffi::video_format_VIDEO_FORMAT_YUY2 => (CameraFormat::Yuy2, &[h]),
        ffi::video_format_VIDEO_FORMAT_UYVY => (CameraFormat::Uyvy, &[h]),
        ffi::video_format_VIDEO_FORMAT_RGBA => (CameraFormat::Rgba, &[h]),
        ffi::video_format_VIDEO_FORMAT_BGRA => (CameraFormat::Bgra, &[h]),
        ffi::video_format_VIDEO_FORMAT_BGRX => (CameraFormat::Bgrx, &[h]),
        other => return Err(format!("video format {other} cannot be tracked yet")),
    };
    let mut planes = Vec::with_capacity(rows.len());
    for (k, &n) in rows.iter().enumerate() {
        if f.data[k].is_null() {
            return Err(format!("plane {k} is missing"));
        }
        let stride = f.linesize[k] as usize;
        // SAFETY: libobs allocates `linesize * rows` bytes for each plane of this format.
        let data = unsafe { std::slice::from_raw_parts(f.data[k], stride * n) }.to_vec();
        planes.push(Plane { data, stride });
    }
    let frame = CameraFrame {
        width: f.width,
        height: f.height,
        format,
        planes,
        color_matrix: f.color_matrix,
        arrived: Instant::now(),
    };
    frame.validate()?;
    Ok(frame)
}
