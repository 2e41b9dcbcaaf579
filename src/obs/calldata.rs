//! A libobs calldata on the stack (for proc handlers such as obs-websocket's).

use super::ffi;
use std::ffi::{CStr, c_void};
use std::ptr;

/// A calldata on the stack, freed when dropped (`calldata_free` is inline in libobs).
pub struct CallData(ffi::calldata_t);

impl CallData {
    pub fn new() -> CallData {
        CallData(ffi::calldata_t::default())
    }

    pub fn set_string(&mut self, name: &CStr, value: &CStr) {
        let bytes = value.to_bytes_with_nul();
        // SAFETY: libobs copies `bytes.len()` bytes into the calldata.
        unsafe {
            ffi::calldata_set_data(
                &mut self.0,
                name.as_ptr(),
                bytes.as_ptr() as *const c_void,
                bytes.len(),
            )
        };
    }

    pub fn set_ptr(&mut self, name: &CStr, value: *mut c_void) {
        // SAFETY: libobs copies the pointer's bytes.
        unsafe {
            ffi::calldata_set_data(
                &mut self.0,
                name.as_ptr(),
                &value as *const *mut c_void as *const c_void,
                size_of::<*mut c_void>(),
            )
        };
    }

    pub fn ptr(&self, name: &CStr) -> *mut c_void {
        let mut out: *mut c_void = ptr::null_mut();
        // SAFETY: copies at most a pointer's bytes into `out`.
        unsafe {
            ffi::calldata_get_data(
                &self.0,
                name.as_ptr(),
                &mut out as *mut *mut c_void as *mut c_void,
                size_of::<*mut c_void>(),
            )
        };
        out
    }

    pub fn bool(&self, name: &CStr) -> bool {
        let mut out = false;
        // SAFETY: copies at most a bool's bytes into `out`.
        unsafe {
            ffi::calldata_get_data(
                &self.0,
                name.as_ptr(),
                &mut out as *mut bool as *mut c_void,
                size_of::<bool>(),
            )
        };
        out
    }

    /// Calls `proc` of `handler` with this calldata; false when there is no such proc.
    pub fn call(&mut self, handler: *mut ffi::proc_handler_t, proc: &CStr) -> bool {
        // SAFETY: a valid handler and calldata; the proc reads and writes the calldata only.
        unsafe { ffi::proc_handler_call(handler, proc.as_ptr(), &mut self.0) }
    }
}

impl Drop for CallData {
    fn drop(&mut self) {
        if !self.0.fixed && !self.0.stack.is_null() {
            // SAFETY: the stack libobs allocated for this calldata, freed once.
            unsafe { ffi::bfree(self.0.stack as *mut c_void) };
        }
    }
}
