//! The README's main job (`vrm-avatar demo`, headless) and `vrm-avatar install`, run as a user runs
//! them: the built binary, real OBS under Xvfb, real x264 recording checked with ffprobe.

use std::path::{Path, PathBuf};
use std::process::Command;
use vrm_avatar_tools::launcher::probe_video;

fn target_profile_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrm-avatar"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn png_size_and_pixels(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    let channels = info.color_type.samples();
    let rgba = buf
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2], if channels == 4 { p[3] } else { 255 }])
        .collect();
    (info.width, info.height, rgba)
}

#[test]
fn headless_demo_writes_screenshots_and_a_recording_and_quits_cleanly() {
    let out = target_profile_dir().join("obs-e2e/demo");
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .args(["demo", "--headless", "--seconds", "4", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "demo exits 0\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    eprintln!("{stdout}");

    // The scene: the avatar source over the demo's opaque background.
    let (w, h, scene) = png_size_and_pixels(&out.join("scene.png"));
    assert_eq!((w, h), (1280, 720));
    let background = &scene[..4];
    let drawn = scene.chunks(4).filter(|p| *p != background).count();
    assert!(
        drawn > 20_000,
        "the source is drawn over the background ({drawn} pixels differ)"
    );
    // The source alone keeps its transparency.
    let (_, _, source) = png_size_and_pixels(&out.join("source.png"));
    assert!(source.chunks(4).any(|p| p[3] == 0) && source.chunks(4).any(|p| p[3] == 255));
    // OBS's window as the user sees it (the Xvfb screen), with the preview showing the scene.
    let (w, h, screen) = png_size_and_pixels(&out.join("obs-window.png"));
    assert_eq!((w, h), (1920, 1080));
    let colors: std::collections::HashSet<&[u8]> = screen.chunks(4).collect();
    assert!(
        colors.len() > 1000,
        "a window with a picture, not a blank screen ({} colors)",
        colors.len()
    );

    let video = probe_video(&out.join("recording.mp4")).unwrap();
    assert_eq!(video.codec, "h264");
    assert_eq!((video.width, video.height), (1280, 720));
    assert!(
        (3.0..6.0).contains(&video.duration_s) && video.frames >= 90,
        "about 4 s at 30 fps: {video:?}"
    );
    assert!(stdout.contains("recording:") && stdout.contains("OBS while recording:"));
    // Running it again starts from a clean profile and replaces the outputs (idempotent).
    assert!(!out.join("obs-home/.config/obs-studio/crashes").exists());
}

#[test]
fn install_puts_the_module_and_locales_in_obs_per_user_layout() {
    let config = target_profile_dir().join("install-test/obs-studio");
    let _ = std::fs::remove_dir_all(&config);
    for _ in 0..2 {
        // Twice: installing over an existing install works.
        let run = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
            .args(["install", "--obs-config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    let root = config.join("plugins/obs-vrm-avatar");
    let module = root.join("bin/64bit/obs-vrm-avatar.so");
    assert_eq!(
        std::fs::read(&module).unwrap(),
        std::fs::read(target_profile_dir().join("libobs_vrm_avatar.so")).unwrap()
    );
    for locale in ["en-US.ini", "ja-JP.ini"] {
        assert!(root.join("data/locale").join(locale).is_file(), "{locale}");
    }
    assert!(!root.join("bin/64bit/obs-vrm-avatar.so.partial").exists());

    let missing = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .args(["install", "--module", "/nonexistent.so", "--obs-config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("/nonexistent.so") && err.lines().count() == 1,
        "{err}"
    );
}
