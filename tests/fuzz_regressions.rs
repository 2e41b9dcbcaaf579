//! Every input kept in `fuzz/regressions/<target>/` (crashes the fuzzers found, and seeds that
//! reach far) goes through its fuzz target again, with the normal test build: a bug fixed once
//! stays fixed. `scripts/fuzz.sh` adds a crash it finds there.

#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == ".keep") {
            continue;
        }
        eprintln!("{target}: {}", path.display());
        run(&std::fs::read(&path).unwrap());
        n += 1;
    }
    n
}

#[test]
fn vrm_inputs_the_fuzzer_kept_load_or_fail_cleanly() {
    assert!(replay("load_vrm", targets::vrm_file) > 0);
}

#[test]
fn pose_json_inputs_the_fuzzer_kept_parse_or_fail_cleanly() {
    assert!(replay("pose_json", targets::pose_json) > 0);
}

#[test]
fn token_inputs_the_fuzzer_kept_parse_or_fail_cleanly() {
    assert!(replay("token_text", targets::token_text) > 0);
}

#[test]
fn camera_inputs_the_fuzzer_kept_convert_or_fail_cleanly() {
    assert!(replay("camera_frame", targets::camera_frame) > 0);
}

#[test]
fn vmc_datagrams_the_fuzzer_kept_are_taken_or_refused_cleanly() {
    assert!(replay("vmc_datagram", targets::vmc_datagram) > 0);
}
