//! Fuzz target: see `targets::vmc_datagram` in `fuzz/targets.rs`.
#![no_main]

#[path = "../targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::vmc_datagram(data));
