//! Fuzz target: see `targets::camera_frame` in `fuzz/targets.rs`.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::camera_frame(data));
