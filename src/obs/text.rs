//! User-facing strings from `data/locale/<locale>.ini` (en-US as the fallback), loaded by libobs
//! for this module. Rust has no `OBS_MODULE_USE_DEFAULT_LOCALE`, so the exports live in module.rs.

use super::ffi;
use std::ffi::{CStr, c_char};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

static LOOKUP: AtomicPtr<ffi::lookup_t> = AtomicPtr::new(ptr::null_mut());

/// Loads the strings of `locale` over en-US, replacing any loaded before.
///
/// # Safety
/// `module` is this module's pointer and `locale` a valid C string (both from libobs).
pub unsafe fn load(module: *mut ffi::obs_module_t, locale: *const c_char) {
    // SAFETY: per this function's contract.
    let lookup = unsafe { ffi::obs_module_load_locale(module, c"en-US".as_ptr(), locale) };
    free_lookup(LOOKUP.swap(lookup, Ordering::AcqRel));
}

pub fn free() {
    free_lookup(LOOKUP.swap(ptr::null_mut(), Ordering::AcqRel));
}

fn free_lookup(lookup: *mut ffi::lookup_t) {
    if !lookup.is_null() {
        // SAFETY: the lookup came from obs_module_load_locale and is no longer shared.
        unsafe { ffi::text_lookup_destroy(lookup) };
    }
}

/// Looks `key` up; `out` receives a string owned by the lookup.
///
/// # Safety
/// `key` is a valid C string and `out` a valid pointer.
pub unsafe fn get(key: *const c_char, out: *mut *const c_char) -> bool {
    let lookup = LOOKUP.load(Ordering::Acquire);
    // SAFETY: per this function's contract; a null lookup is answered with false.
    !lookup.is_null() && unsafe { ffi::text_lookup_getstr(lookup, key, out) }
}

/// The localized text for `key`, or the key itself when it has none. The pointer stays valid
/// until the locale changes (as with `obs_module_text` in C plugins).
pub fn text(key: &'static CStr) -> *const c_char {
    let mut out: *const c_char = ptr::null();
    // SAFETY: key is a valid C string; out is a local.
    if unsafe { get(key.as_ptr(), &mut out) } && !out.is_null() {
        out
    } else {
        key.as_ptr()
    }
}
