//! The tap: a filter of this plugin's, put on the input the avatars track while they track it.
//! OBS hands it each of the input's frames (on its graphics thread, in the input's tick); it
//! copies one for the tracker when the tracker is ready and hands the frame on untouched, so the
//! input keeps every frame wherever else it is shown. (`obs_source_get_frame`, used before, takes
//! the frame away from the input's own drawing: a face cam shown beside the avatar stuttered.)
//!
//! OBS saves a source's filters with the scene collection and lists them in its Filters dialog,
//! private or not; a tap that outlives its tracker (a crash, a duplicated source) has nothing to
//! feed, passes frames through, and is removed when a scene collection finishes loading.

use super::ffi;
use super::text::text;
use crate::camera::{CameraFormat, CameraFrame};
use crate::pipeline::TrackingControl;
use crate::pipeline::tracking_worker::TRACKING_WIDTH;
use parking_lot::Mutex;
use std::ffi::{CStr, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// The filter type; disabled, so that OBS does not offer it in its "add filter" menu.
const TAP_ID: &CStr = c"vrm_avatar_tracking_tap";

/// What a tap feeds and what it saw, shared by the tap and the avatars that track the input.
pub struct Feed {
    /// The input as log lines name it ("the source 'Cam'").
    what: String,
    pub control: Arc<TrackingControl>,
    /// Avatars on screen that follow the input: frames are copied only while there is one.
    showing: AtomicUsize,
    /// Set when the user removed the tap (OBS's Filters dialog): it is put back.
    removed: AtomicBool,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    last_frame: Option<Instant>,
    /// The pixel format and size frames last came in, logged when they change.
    format: Option<(u32, u32, u32)>,
    /// Why the last frame could not be copied (logged once when it starts).
    copy_error: Option<String>,
}

impl Feed {
    pub fn new(what: String, control: Arc<TrackingControl>) -> Arc<Feed> {
        Arc::new(Feed {
            what,
            control,
            showing: AtomicUsize::new(0),
            removed: AtomicBool::new(false),
            seen: Mutex::new(Seen::default()),
        })
    }

    /// One avatar that follows the input is shown (`true`) or hidden again.
    pub fn show(&self, shown: bool) {
        if shown {
            self.showing.fetch_add(1, Ordering::SeqCst);
        } else {
            let _ = self
                .showing
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        }
    }

    /// When the input last handed over a frame.
    pub fn last_frame(&self) -> Option<Instant> {
        self.seen.lock().last_frame
    }

    /// Why the input's frames cannot be tracked, while that lasts.
    pub fn copy_error(&self) -> Option<String> {
        self.seen.lock().copy_error.clone()
    }

    /// Whether the user removed the tap (and it has not been put back).
    pub fn removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    /// [`Feed::removed`], cleared.
    pub fn take_removed(&self) -> bool {
        self.removed.swap(false, Ordering::SeqCst)
    }

    fn frame(&self, frame: &ffi::obs_source_frame) {
        let mut seen = self.seen.lock();
        seen.last_frame = Some(Instant::now());
        let format = (frame.format, frame.width, frame.height);
        if seen.format != Some(format) {
            seen.format = Some(format);
            let name = CameraFormat::from_obs(format.0)
                .map_or_else(|name| name, |f| format!("{f:?}").to_uppercase());
            log::info!(
                "{} hands over {name} frames of {}x{}",
                self.what,
                format.1,
                format.2
            );
        }
        if self.showing.load(Ordering::SeqCst) == 0 || !self.control.wants_frame() {
            return;
        }
        match copy_frame(frame) {
            Ok(copy) => {
                self.control.submit(copy);
                if seen.copy_error.take().is_some() {
                    log::info!("{} can be tracked again", self.what);
                }
            }
            Err(why) if seen.copy_error.as_ref() != Some(&why) => {
                log::warn!("{}: {why}", self.what);
                seen.copy_error = Some(why);
            }
            Err(_) => {}
        }
    }
}

/// The frame copied for the tracker, at about tracking size.
fn copy_frame(f: &ffi::obs_source_frame) -> Result<CameraFrame, String> {
    let format = CameraFormat::from_obs(f.format).map_err(|name| {
        format!("its pixel format {name} cannot be tracked yet (every format of OBS 29 can)")
    })?;
    let needs = crate::camera::plane_needs(format, f.width as usize, f.height as usize);
    let rows: Vec<usize> = needs.iter().map(|&(_, rows)| rows).collect();
    let mut planes = Vec::with_capacity(rows.len());
    for (k, &n) in rows.iter().enumerate() {
        if f.data[k].is_null() {
            return Err(format!("plane {k} is missing"));
        }
        let stride = f.linesize[k] as usize;
        // SAFETY: libobs allocates `linesize * rows` bytes for each plane of this format; OBS
        // holds the frame while it hands it to the filter.
        let data = unsafe { std::slice::from_raw_parts(f.data[k], stride * n) };
        planes.push((data, stride));
    }
    // The tracker converts to at most TRACKING_WIDTH pixels wide, averaging blocks: a frame
    // more than twice as wide is copied with blocks left out (a 4K camera: a third of each
    // side), so OBS's graphics thread does not copy tens of megabytes per frame.
    let step = (f.width / (2 * TRACKING_WIDTH)).max(1);
    CameraFrame::copy_decimated(f.width, f.height, format, &planes, step, f.color_matrix)
}

/// A tap's own data: the feed, while the tap is one of this run's.
struct TapData {
    feed: Mutex<Option<Arc<Feed>>>,
}

/// A tap on an input, removed from it when dropped.
pub struct Tap {
    /// Strong references to the input and to the filter.
    parent: *mut ffi::obs_source_t,
    filter: *mut ffi::obs_source_t,
}

// SAFETY: counted OBS source references; libobs sources may be used from any thread.
unsafe impl Send for Tap {}

impl Tap {
    /// Puts a tap feeding `feed` on `parent` (a strong reference is taken); None when the input
    /// hands over no frames of its own (not a camera or media source).
    pub fn add(parent: *mut ffi::obs_source_t, feed: &Arc<Feed>) -> Option<Tap> {
        // SAFETY: `parent` is a live source the caller holds.
        let flags = unsafe { ffi::obs_source_get_output_flags(parent) };
        if flags & ffi::OBS_SOURCE_ASYNC == 0 {
            return None;
        }
        // SAFETY: a registered id and a static name; the result is a strong reference or null.
        let filter = unsafe {
            ffi::obs_source_create_private(TAP_ID.as_ptr(), text(c"TrackingTap"), ptr_null())
        };
        if filter.is_null() {
            return None;
        }
        // SAFETY: our filter's data is the TapData its create returned.
        if let Some(data) =
            unsafe { (ffi::obs_obj_get_data(filter.cast()) as *const TapData).as_ref() }
        {
            *data.feed.lock() = Some(Arc::clone(feed));
        }
        // SAFETY: both are live; OBS takes its own reference to the filter.
        unsafe { ffi::obs_source_filter_add(parent, filter) };
        Some(Tap {
            // SAFETY: a new strong reference to the live parent, released in drop.
            parent: unsafe { ffi::obs_source_get_ref(parent) },
            filter,
        })
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        // SAFETY: the references taken in add, released once; after filter_remove returns OBS
        // no longer calls the filter (it removes it under the lock it calls filters under).
        unsafe {
            if let Some(data) =
                (ffi::obs_obj_get_data(self.filter.cast()) as *const TapData).as_ref()
            {
                data.feed.lock().take();
            }
            ffi::obs_source_filter_remove(self.parent, self.filter);
            ffi::obs_source_release(self.filter);
            ffi::obs_source_release(self.parent);
        }
    }
}

fn ptr_null() -> *mut ffi::obs_data_t {
    std::ptr::null_mut()
}

pub fn register() {
    let info = ffi::obs_source_info {
        id: TAP_ID.as_ptr(),
        type_: ffi::obs_source_type_OBS_SOURCE_TYPE_FILTER,
        output_flags: ffi::OBS_SOURCE_ASYNC_VIDEO | ffi::OBS_SOURCE_CAP_DISABLED,
        get_name: Some(get_name),
        create: Some(create),
        destroy: Some(destroy),
        filter_video: Some(filter_video),
        filter_remove: Some(filter_remove),
        ..Default::default()
    };
    // SAFETY: libobs copies the struct; the id string is static.
    unsafe { ffi::obs_register_source_s(&info, size_of::<ffi::obs_source_info>()) };
}

unsafe extern "C" fn get_name(_type_data: *mut c_void) -> *const std::ffi::c_char {
    super::guard("tap get_name", c"VRM Avatar tracking".as_ptr(), || {
        text(c"TrackingTap")
    })
}

unsafe extern "C" fn create(
    _settings: *mut ffi::obs_data_t,
    _source: *mut ffi::obs_source_t,
) -> *mut c_void {
    super::guard("tap create", std::ptr::null_mut(), || {
        Box::into_raw(Box::new(TapData {
            feed: Mutex::new(None),
        }))
        .cast()
    })
}

unsafe extern "C" fn destroy(data: *mut c_void) {
    super::guard("tap destroy", (), || {
        if !data.is_null() {
            // SAFETY: the box made in create, freed once.
            drop(unsafe { Box::from_raw(data.cast::<TapData>()) });
        }
    })
}

/// Each frame of the input: copied when the tracker is ready, always handed on untouched.
unsafe extern "C" fn filter_video(
    data: *mut c_void,
    frame: *mut ffi::obs_source_frame,
) -> *mut ffi::obs_source_frame {
    super::guard("tap filter_video", frame, || {
        // SAFETY: our data while the filter lives; OBS holds the frame during this call.
        if let (Some(data), Some(f)) =
            unsafe { ((data as *const TapData).as_ref(), frame.as_ref()) }
            && let Some(feed) = data.feed.lock().clone()
        {
            feed.frame(f);
        }
        frame
    })
}

/// The user removed the tap from its input (OBS's Filters dialog).
unsafe extern "C" fn filter_remove(data: *mut c_void, _parent: *mut ffi::obs_source_t) {
    super::guard("tap filter_remove", (), || {
        // SAFETY: our data while the filter lives.
        if let Some(data) = unsafe { (data as *const TapData).as_ref() }
            && let Some(feed) = data.feed.lock().take()
        {
            feed.removed.store(true, Ordering::SeqCst);
        }
    })
}

/// Removes every tap that is not one of this run's (saved with a scene collection, or copied
/// with a duplicated source) from the public sources.
pub fn remove_orphans() -> usize {
    unsafe extern "C" fn each_filter(
        parent: *mut ffi::obs_source_t,
        filter: *mut ffi::obs_source_t,
        orphans: *mut c_void,
    ) {
        // SAFETY: OBS passes live sources; `orphans` is the Vec below.
        unsafe {
            let id = ffi::obs_source_get_id(filter);
            if !id.is_null() && CStr::from_ptr(id) == TAP_ID {
                let data = ffi::obs_obj_get_data(filter.cast()) as *const TapData;
                if data.as_ref().is_none_or(|d| d.feed.lock().is_none()) {
                    let orphans = &mut *(orphans as *mut Vec<(usize, usize)>);
                    orphans.push((
                        ffi::obs_source_get_ref(parent) as usize,
                        ffi::obs_source_get_ref(filter) as usize,
                    ));
                }
            }
        }
    }
    unsafe extern "C" fn each_source(orphans: *mut c_void, source: *mut ffi::obs_source_t) -> bool {
        // SAFETY: a live source; filters are listed under its own lock.
        unsafe { ffi::obs_source_enum_filters(source, Some(each_filter), orphans) };
        true
    }
    let mut orphans: Vec<(usize, usize)> = Vec::new();
    // SAFETY: the callbacks only collect strong references, removed below outside OBS's locks.
    unsafe { ffi::obs_enum_sources(Some(each_source), (&mut orphans as *mut Vec<_>).cast()) };
    for &(parent, filter) in &orphans {
        let (parent, filter) = (
            parent as *mut ffi::obs_source_t,
            filter as *mut ffi::obs_source_t,
        );
        // SAFETY: the references taken above, released once.
        unsafe {
            ffi::obs_source_filter_remove(parent, filter);
            ffi::obs_source_release(filter);
            ffi::obs_source_release(parent);
        }
    }
    orphans.len()
}
