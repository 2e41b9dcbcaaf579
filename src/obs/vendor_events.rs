//! The control API's vendor events, sent to obs-websocket's clients (CONTRACTS.md). Kept apart
//! from the requests so that the sources, which send events, and the requests, which reach the
//! sources, do not import each other.

use super::calldata::CallData;
use super::ffi;
use serde_json::Value;
use std::ffi::{CStr, CString, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// obs-websocket's proc handler and our vendor in it, once registered.
static PROC_HANDLER: AtomicPtr<ffi::proc_handler_t> = AtomicPtr::new(ptr::null_mut());
static VENDOR_HANDLE: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());
/// The number of the next event. obs-websocket sends each event from a thread pool, so two sent
/// in the same moment (a cut speech's end and the next one's start) can reach a client in either
/// order; `seq` lets it put them back.
static SEQ: AtomicU64 = AtomicU64::new(1);

/// The vendor is registered with obs-websocket: events may be sent.
pub fn registered(ph: *mut ffi::proc_handler_t, vendor: *mut c_void) {
    PROC_HANDLER.store(ph, Ordering::Release);
    VENDOR_HANDLE.store(vendor, Ordering::Release);
}

/// Sends vendor event `kind` with `data` (an object) and its `seq` to obs-websocket's clients
/// (nothing without it).
pub fn emit(kind: &CStr, data: &Value) {
    let (ph, vendor) = (
        PROC_HANDLER.load(Ordering::Acquire),
        VENDOR_HANDLE.load(Ordering::Acquire),
    );
    if ph.is_null() || vendor.is_null() {
        return;
    }
    let Ok(text) = CString::new(numbered(data, SEQ.fetch_add(1, Ordering::Relaxed)).to_string())
    else {
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

/// `data` with `seq` added.
fn numbered(data: &Value, seq: u64) -> Value {
    let mut data = data.clone();
    if let Some(fields) = data.as_object_mut() {
        fields.insert("seq".into(), seq.into());
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_carry_their_number() {
        assert_eq!(
            numbered(&json!({"source": "a", "file": "b"}), 7),
            json!({"source": "a", "file": "b", "seq": 7})
        );
    }
}
