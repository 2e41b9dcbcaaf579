//! A short run of `vrm-avatar soak`: real OBS (Debian's OBS 29 under Xvfb) with a VRM Avatar
//! source showing Godette and tracking a looping clip of a person, with glibc's malloc checking
//! on (a corrupted heap aborts OBS at once instead of minutes later). OBS must not crash, its
//! resident memory must stay flat after the warm-up, it must quit cleanly, and only one Mesa
//! software driver may be mapped into it (the README's "Stability": the avatar draws through
//! OBS's own llvmpipe, never through a second copy in lavapipe). The hour-long soaks are the
//! same command (README).

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata")
        .join(path)
}

#[test]
fn three_minutes_of_tracking_in_obs_with_malloc_checking() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_vrm-avatar"));
    let out = bin.parent().unwrap().join("soak-e2e");
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(&bin)
        .args([
            "soak",
            "--minutes",
            "3",
            "--warm-up-seconds",
            "60",
            "--sample-seconds",
            "5",
        ])
        .arg("--input")
        .arg(testdata("people/video/face_and_thumbs_up.mp4"))
        .arg("--vrm")
        .arg(testdata("vrm/vrm0/Godette_vrm_v4.vrm"))
        .args(["--env", "MALLOC_CHECK_=3"])
        .args([
            "--env",
            "LD_PRELOAD=/lib/x86_64-linux-gnu/libc_malloc_debug.so.0",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("vrm-avatar runs");
    let report = std::fs::read_to_string(out.join("soak.json")).unwrap_or_default();
    assert!(
        run.status.success(),
        "soak failed: {}\n{report}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_str(&report).expect("soak.json");
    println!(
        "soak: {} min, RSS {} -> {} MB, growth after warm-up {} MB (trend {} MB an hour), missed {} of {} frames",
        report["ran_minutes"],
        report["rss_mb"]["first"],
        report["rss_mb"]["last"],
        report["rss_mb"]["growth_after_warm_up"],
        report["rss_mb"]["slope_after_warm_up_per_hour"],
        report["frames"]["missed_render_lag"],
        report["frames"]["rendered"]
    );
    assert!(
        report["crash"].is_null(),
        "OBS crashed:\n{}",
        report["crash"]["details"].as_str().unwrap_or("")
    );
    assert!(report["ran_minutes"].as_f64().unwrap() >= 2.9, "{report:#}");
    assert_eq!(report["quit"]["clean"], true, "{:#}", report["quit"]);
    // The trend of every sample after the warm-up, not the last sample less the first: resident
    // memory swings by 10 MB within 5 s here (llvmpipe's and the allocator's buffers), so two
    // samples alone failed a loaded run at 20.0 MB.
    let slope = report["rss_mb"]["slope_after_warm_up_per_hour"]
        .as_f64()
        .unwrap();
    let growth = slope * 2.0 / 60.0;
    assert!(
        growth < 20.0,
        "resident memory grew {growth:.1} MB in 2 minutes (trend {slope} MB an hour)"
    );
    let libraries: Vec<&str> = report["graphics_libraries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        libraries.iter().any(|l| l.contains("_dri.so")),
        "OBS draws through a Mesa GL driver here: {libraries:?}"
    );
    assert!(
        !libraries.iter().any(|l| l.starts_with("libvulkan_lvp")),
        "lavapipe was loaded beside OBS's llvmpipe: {libraries:?}"
    );
    let log = std::fs::read_dir(out.join("obs/.config/obs-studio/logs"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(
        log.contains("tracking (upper_body_hands)"),
        "the avatar tracked the clip"
    );
}
