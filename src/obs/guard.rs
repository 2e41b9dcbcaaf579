//! The panic guard around every entry point OBS calls: a panic is logged with the plugin's
//! prefix and the callback returns a safe default, so OBS never aborts because of this plugin
//! (unwinding out of an `extern "C"` function aborts the process).

use crate::pipeline::worker::panic_text;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Test hook: `VRM_AVATAR_TEST_PANIC=update,video_render` makes each named callback panic
/// once, so the end-to-end tests can prove the guard works inside real OBS.
fn inject_test_panic(callback: &str) {
    static TARGETS: OnceLock<Vec<(String, AtomicBool)>> = OnceLock::new();
    let targets = TARGETS.get_or_init(|| {
        let list = std::env::var("VRM_AVATAR_TEST_PANIC").unwrap_or_default();
        list.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| (s.trim().to_string(), AtomicBool::new(false)))
            .collect()
    });
    if let Some((_, fired)) = targets.iter().find(|(name, _)| name == callback)
        && !fired.swap(true, Ordering::Relaxed)
    {
        panic!("test panic injected into {callback} (VRM_AVATAR_TEST_PANIC)");
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
