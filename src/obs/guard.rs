//! The panic guard around every entry point OBS calls: a panic is logged with the plugin's
//! prefix and the callback returns a safe default, so OBS never aborts because of this plugin
//! (unwinding out of an `extern "C"` function aborts the process).

use crate::pipeline::worker::{inject_test_panic, panic_text};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `body`; on a panic logs it and returns `fallback`.
pub fn guard<R>(callback: &'static str, fallback: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(|| {
        inject_test_panic(callback);
        body()
    })) {
        Ok(value) => value,
        Err(panic) => {
            log::error!(
                "panic in {callback}: {}; OBS keeps running",
                panic_text(&*panic)
            );
            fallback
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_fallback() {
        assert_eq!(guard("test", 7, || -> i32 { panic!("boom") }), 7);
        assert_eq!(guard("test", 7, || 3), 3);
    }

    #[test]
    fn string_payloads_are_kept() {
        let value = guard("test", String::from("fallback"), || {
            panic!("{}", String::from("formatted"))
        });
        assert_eq!(value, "fallback");
    }
}
