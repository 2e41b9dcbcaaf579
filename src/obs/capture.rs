//! Cameras' private capture sources, made and let go on a thread of the plugin's: creating one
//! opens the device and releasing the last reference closes it (v4l2 joins its capture thread),
//! and neither may run on OBS's graphics thread, where the tracked input is followed. Taps are
//! let go there too: destroying a source takes libobs's source-list lock, which the graphics
//! thread holds while it waits for a source's lock of ours.

use super::ffi;
use parking_lot::Mutex;
use std::ffi::CString;
use std::sync::{Arc, mpsc};

enum State {
    Pending,
    Ready(*mut ffi::obs_source_t),
    Failed,
    /// Let go before it was made: the thread releases it as soon as it is.
    Cancelled,
}

// SAFETY: a counted OBS source reference; libobs sources may be referenced from any thread.
unsafe impl Send for State {}

/// The registry's strong reference to one capture source, being made or made.
pub struct Capture(Arc<Mutex<State>>);

/// A look at a capture being made, for one user.
pub struct Watch(Arc<Mutex<State>>);

enum Job {
    /// Make a capture source for this device.
    Open(String, Arc<Mutex<State>>),
    /// Release this reference.
    Release(SourceRef),
    /// Drop this (an OBS object's owner) here, holding no lock of the plugin's.
    Drop(Box<dyn Send>),
}

struct SourceRef(*mut ffi::obs_source_t);
// SAFETY: as for State.
unsafe impl Send for SourceRef {}

/// The platform's camera capture source and the setting that names its device.
pub const CAMERA_KIND: (&std::ffi::CStr, &std::ffi::CStr) = if cfg!(windows) {
    (c"dshow_input", c"video_device_id")
} else if cfg!(target_os = "macos") {
    (c"av_capture_input", c"device")
} else {
    (c"v4l2_input", c"device_id")
};

/// A private capture source of the platform's kind on `device`, never shown anywhere; null
/// when the platform has no capture source.
fn camera_source(device: &str) -> *mut ffi::obs_source_t {
    let Ok(c_device) = CString::new(device) else {
        return std::ptr::null_mut();
    };
    // SAFETY: the settings object is created, handed to the new source (which copies it) and
    // released; all strings are valid C strings.
    unsafe {
        let settings = ffi::obs_data_create();
        ffi::obs_data_set_string(settings, CAMERA_KIND.1.as_ptr(), c_device.as_ptr());
        let source = ffi::obs_source_create_private(
            CAMERA_KIND.0.as_ptr(),
            c"VRM Avatar camera".as_ptr(),
            settings,
        );
        ffi::obs_data_release(settings);
        source
    }
}

static JOBS: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);

fn send(job: Job) {
    let mut jobs = JOBS.lock();
    if jobs.is_none() {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("vrm-avatar-capture".into())
            .spawn(move || {
                for job in rx {
                    let run = std::panic::AssertUnwindSafe(|| run(job));
                    if std::panic::catch_unwind(run).is_err() {
                        log::error!("panic while making or closing a camera capture source");
                    }
                }
            });
        match thread {
            Ok(handle) => crate::pipeline::worker::retire("capture", handle),
            Err(err) => {
                log::error!("cannot start the camera capture thread: {err}");
                return;
            }
        }
        *jobs = Some(tx);
    }
    if let Some(tx) = jobs.as_ref() {
        let _ = tx.send(job);
    }
}

fn run(job: Job) {
    let (device, state) = match job {
        Job::Release(SourceRef(source)) => {
            // SAFETY: a strong reference handed over to be released once.
            unsafe { ffi::obs_source_release(source) };
            return;
        }
        Job::Drop(owner) => {
            drop(owner);
            return;
        }
        Job::Open(device, state) => (device, state),
    };
    let source = camera_source(&device);
    let mut state = state.lock();
    match *state {
        State::Cancelled if !source.is_null() => {
            // SAFETY: the reference just made, which nobody wants any more.
            unsafe { ffi::obs_source_release(source) };
        }
        State::Pending if source.is_null() => *state = State::Failed,
        State::Pending => {
            log::info!(
                "opened the camera {device} ({}) on the thread '{}'",
                CAMERA_KIND.0.to_string_lossy(),
                std::thread::current().name().unwrap_or("unnamed")
            );
            *state = State::Ready(source);
        }
        _ => {}
    }
}

impl Capture {
    /// No capture (a source tracked by name).
    pub fn none() -> Capture {
        Capture(Arc::new(Mutex::new(State::Failed)))
    }

    /// Starts making a capture source for `device` on the capture thread.
    pub fn open(device: &str) -> Capture {
        let state = Arc::new(Mutex::new(State::Pending));
        send(Job::Open(device.to_string(), Arc::clone(&state)));
        Capture(state)
    }

    pub fn watch(&self) -> Watch {
        Watch(Arc::clone(&self.0))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        match std::mem::replace(&mut *state, State::Cancelled) {
            State::Ready(source) => send(Job::Release(SourceRef(source))),
            State::Failed => *state = State::Failed,
            _ => {}
        }
    }
}

impl Watch {
    /// A new strong reference to the capture source once it is made (`Ok(None)` until then);
    /// Err when it could not be made.
    pub fn source(&self) -> Result<Option<*mut ffi::obs_source_t>, ()> {
        match *self.0.lock() {
            State::Pending => Ok(None),
            // SAFETY: the registry's reference is alive while the state says Ready.
            State::Ready(source) => Ok(Some(unsafe { ffi::obs_source_get_ref(source) })),
            State::Failed | State::Cancelled => Err(()),
        }
    }
}

/// Drops `owner` on the capture thread, after what it was given before.
pub fn drop_there(owner: impl Send + 'static) {
    send(Job::Drop(Box::new(owner)));
}

/// Ends the capture thread once it has done what it was given (module unload; it is joined with
/// the other retired workers).
pub fn stop() {
    JOBS.lock().take();
}
