//! The control API's vendor events, sent to obs-websocket's clients (CONTRACTS.md). Kept apart
//! from the requests so that the sources, which send events, and the requests, which reach the
//! sources, do not import each other.

use super::calldata::CallData;
use super::ffi;
use serde_json::Value;
use std::ffi::{CStr, CString, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

/// obs-websocket's proc handler and our vendor in it, once registered.
static PROC_HANDLER: AtomicPtr<ffi::proc_handler_t> = AtomicPtr::new(ptr::null_mut());
static VENDOR_HANDLE: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// The vendor is registered with obs-websocket: events may be sent.
pub fn registered(ph: *mut ffi::proc_handler_t, vendor: *mut c_void) {
    PROC_HANDLER.store(ph, Ordering::Release);
    VENDOR_HANDLE.store(vendor, Ordering::Release);
}

/// Sends vendor event `kind` with `data` to obs-websocket's clients (nothing without it).
pub fn emit(kind: &CStr, data: &Value) {
    let (ph, vendor) = (
        PROC_HANDLER.load(Ordering::Acquire),
        VENDOR_HANDLE.load(Ordering::Acquire),
    );
    if ph.is_null() || vendor.is_null() {
        return;
    }
    let Ok(text) = CString::new(data.to_string()) else {
        return;
    };
    // SAFETY: a valid C string; the data is released after the call, which copies it.
    unsafe {
        let data = ffi::obs_data_create_from_json(text.as_ptr());
        if data.is_null() {
            return;
        }
        let mut cd = CallData::new();
        cd.set_ptr(c"vendor", vendor);
        cd.set_string(c"type", kind);
        cd.set_ptr(c"data", data as *mut c_void);
        cd.call(ph, c"vendor_event_emit");
        ffi::obs_data_release(data);
    }
}
