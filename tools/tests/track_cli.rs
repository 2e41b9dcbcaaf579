//! `vrm-avatar track` on bad and awkward input, as a user runs it (CONTRACTS.md): a bad input is
//! one line `error: ...` on stderr and status 2, never a panic (101); a part not found is `null`,
//! never made-up landmarks. Every input is generated at test time from the shared test data.

use image::{GenericImageView, GrayImage, Luma, RgbImage};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata")
        .join(path)
}

/// A fresh folder for one test's inputs and outputs, next to the binary.
fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_vrm-avatar"))
        .parent()
        .unwrap()
        .join("track-cli-test")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `vrm-avatar track INPUT --out OUT` with `extra` arguments and `env` variables.
fn track(input: &Path, out: &Path, extra: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"));
    cmd.arg("track")
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra);
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().unwrap()
}

/// Status 2, and stderr is exactly one non-empty line `error: ...` holding each of `mentions`.
fn assert_one_line_error(out: &Output, mentions: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "panicked: {err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {err:?}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].len() > "error: ".len(),
        "{err:?}"
    );
    for m in mentions {
        assert!(lines[0].contains(m), "{m:?} not in {err:?}");
    }
}

/// Status 0; returns the Landmarks JSON, checked against CONTRACTS.md.
fn assert_tracked(out: &Output, json_path: &Path) -> Value {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let json: Value = serde_json::from_slice(&std::fs::read(json_path).unwrap()).unwrap();
    check_landmarks(&json);
    json
}

/// Points of a part: `count` arrays of `dims` finite numbers (serde_json writes NaN as null).
fn check_points(part: &Value, count: usize, dims: usize, what: &str) {
    let points = part.as_array().unwrap_or_else(|| panic!("{what}: {part}"));
    assert_eq!(points.len(), count, "{what}");
    for p in points {
        let p = p.as_array().unwrap_or_else(|| panic!("{what}: {p}"));
        assert_eq!(p.len(), dims, "{what}");
        for v in p {
            assert!(
                v.as_f64().is_some_and(f64::is_finite),
                "{what}: not a finite number: {v}"
            );
        }
    }
}

/// The Landmarks JSON's shape: every part null or whole, every number finite.
fn check_landmarks(json: &Value) {
    assert!(json["source"].is_string(), "{json}");
    assert!(json["width"].as_u64().is_some_and(|w| w > 0));
    assert!(json["height"].as_u64().is_some_and(|h| h > 0));
    for (i, frame) in json["frames"].as_array().unwrap().iter().enumerate() {
        assert_eq!(frame["index"].as_u64(), Some(i as u64));
        assert!(frame["t_ms"].as_f64().is_some_and(f64::is_finite));
        let pose = &frame["pose"];
        if !pose.is_null() {
            check_points(&pose["image"], 33, 4, "pose.image");
            check_points(&pose["world"], 33, 4, "pose.world");
        }
        if !frame["face"].is_null() {
            check_points(&frame["face"], 478, 3, "face");
        }
        for hand in ["left_hand", "right_hand"] {
            if !frame[hand].is_null() {
                check_points(&frame[hand], 21, 3, hand);
            }
        }
    }
}

fn frames(json: &Value) -> &Vec<Value> {
    json["frames"].as_array().unwrap()
}

const PARTS: [&str; 4] = ["pose", "face", "left_hand", "right_hand"];

/// Which parts a frame has, for messages.
fn found(frame: &Value) -> Vec<&'static str> {
    PARTS.into_iter().filter(|p| !frame[*p].is_null()).collect()
}

/// Runs ffmpeg quietly; panics when it fails.
fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg (apt-get install ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn portrait() -> image::DynamicImage {
    image::open(testdata("people/images/portrait.jpg")).unwrap()
}

/// An empty `.jpg` and an empty `.mp4` are refused in one line naming the file, and no
/// Landmarks file is left behind.
#[test]
fn empty_files_are_one_line_errors_naming_the_file() {
    let dir = out_dir("empty");
    for name in ["empty.jpg", "empty.mp4"] {
        let input = dir.join(name);
        std::fs::write(&input, b"").unwrap();
        let json = dir.join(format!("{name}.json"));
        let out = track(&input, &json, &[], &[]);
        assert_one_line_error(&out, &[name]);
        assert!(!json.exists(), "{name}: an output was written");
    }
}

/// A truncated JPEG and random bytes named `.mp4` are refused in one line, without output.
#[test]
fn corrupt_image_and_garbage_video_are_one_line_errors() {
    let dir = out_dir("corrupt");
    let jpeg = std::fs::read(testdata("people/images/portrait.jpg")).unwrap();
    let truncated = dir.join("truncated.jpg");
    std::fs::write(&truncated, &jpeg[..100]).unwrap();
    // Deterministic noise (an LCG), not a header ffmpeg could recognise.
    let mut state = 0x2545_f491_u32;
    let garbage: Vec<u8> = (0..64 * 1024)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    let video = dir.join("garbage.mp4");
    std::fs::write(&video, garbage).unwrap();
    for input in [truncated, video] {
        let json = input.with_extension("json");
        let out = track(&input, &json, &[], &[]);
        let name = input.file_name().unwrap().to_str().unwrap();
        assert_one_line_error(&out, &[name]);
        assert!(!json.exists(), "{name}: an output was written");
    }
}

/// A video cut in half by bytes never panics: either the frames before the cut (at least one,
/// all valid) with status 0, or a one-line error. Both the original layout (index at the end,
/// so the cut loses it) and a faststart copy (index first, so frames stay decodable).
#[test]
fn a_truncated_video_gives_its_readable_frames_or_one_line() {
    let dir = out_dir("truncated_video");
    let original = testdata("people/video/pose_1.mp4");
    let faststart = dir.join("faststart.mp4");
    ffmpeg(&[
        "-i",
        original.to_str().unwrap(),
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        faststart.to_str().unwrap(),
    ]);
    for (name, whole) in [("half.mp4", original), ("half_faststart.mp4", faststart)] {
        let bytes = std::fs::read(&whole).unwrap();
        let input = dir.join(name);
        std::fs::write(&input, &bytes[..bytes.len() / 2]).unwrap();
        let json_path = input.with_extension("json");
        let out = track(&input, &json_path, &["--mode", "face"], &[]);
        match out.status.code() {
            Some(0) => {
                let json = assert_tracked(&out, &json_path);
                let n = frames(&json).len();
                assert!(n >= 1, "{name}: status 0 with no frames");
                eprintln!("{name}: status 0, {n} frames read");
            }
            _ => {
                assert_one_line_error(&out, &[name]);
                eprintln!("{name}: {}", String::from_utf8_lossy(&out.stderr).trim());
            }
        }
    }
}

/// A grayscale PNG is read (as gray RGB) and its face found.
#[test]
fn a_grayscale_png_is_tracked() {
    let dir = out_dir("grayscale");
    let input = dir.join("portrait_gray.png");
    portrait().to_luma8().save(&input).unwrap();
    let json_path = dir.join("gray.json");
    let out = track(&input, &json_path, &["--mode", "face"], &[]);
    let json = assert_tracked(&out, &json_path);
    assert_eq!(frames(&json).len(), 1);
    assert_eq!(frames(&json)[0]["face"].as_array().map(Vec::len), Some(478));
}

/// An odd-sized image (333x517, no multiple of 2 or 4) keeps its size in the JSON and its
/// face is found.
#[test]
fn an_odd_sized_image_keeps_its_size_and_face() {
    let dir = out_dir("odd_size");
    let input = dir.join("portrait_333x517.png");
    // The face of portrait.jpg (820x1024) lies in x 304..502, y 102..345.
    portrait().crop_imm(240, 0, 333, 517).save(&input).unwrap();
    let json_path = dir.join("odd.json");
    let out = track(&input, &json_path, &["--mode", "face"], &[]);
    let json = assert_tracked(&out, &json_path);
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(333), Some(517))
    );
    assert_eq!(frames(&json).len(), 1);
    assert_eq!(frames(&json)[0]["face"].as_array().map(Vec::len), Some(478));
}

/// Images of 1x1 and 2x3 pixels are tracked without a crash and nothing is found in them.
#[test]
fn tiny_images_find_nothing() {
    let dir = out_dir("tiny");
    for (w, h) in [(1, 1), (2, 3)] {
        let input = dir.join(format!("tiny_{w}x{h}.png"));
        RgbImage::from_pixel(w, h, image::Rgb([128, 100, 90]))
            .save(&input)
            .unwrap();
        let json_path = input.with_extension("json");
        let out = track(&input, &json_path, &["--mode", "full_body"], &[]);
        let json = assert_tracked(&out, &json_path);
        assert_eq!(
            (json["width"].as_u64(), json["height"].as_u64()),
            (Some(w as u64), Some(h as u64))
        );
        assert_eq!(frames(&json).len(), 1);
        assert!(
            found(&frames(&json)[0]).is_empty(),
            "{w}x{h}: {:?}",
            found(&frames(&json)[0])
        );
    }
}

/// With nobody in view (a flat gray image, ffmpeg's test pattern video) every part of every
/// frame is null: no made-up landmarks.
#[test]
fn nobody_in_view_gives_null_parts() {
    let dir = out_dir("nobody");
    let gray = dir.join("gray.png");
    GrayImage::from_pixel(640, 480, Luma([128]))
        .save(&gray)
        .unwrap();
    let pattern = dir.join("testsrc.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48:rate=10",
        "-frames:v",
        "10",
        "-pix_fmt",
        "yuv420p",
        pattern.to_str().unwrap(),
    ]);
    for (input, expected_frames) in [(gray, 1), (pattern, 10)] {
        let json_path = input.with_extension("json");
        let out = track(&input, &json_path, &["--mode", "full_body"], &[]);
        let json = assert_tracked(&out, &json_path);
        assert_eq!(frames(&json).len(), expected_frames, "{}", input.display());
        for frame in frames(&json) {
            assert!(found(frame).is_empty(), "{}: {frame}", input.display());
        }
    }
}

/// A portrait turned 90 degrees is tracked without a crash (whether the face is found is
/// printed, not asserted: MediaPipe's detector is trained on upright faces).
#[test]
fn a_rotated_portrait_does_not_crash() {
    let dir = out_dir("rotated");
    let input = dir.join("portrait_rot90.png");
    portrait().rotate90().save(&input).unwrap();
    for mode in ["face", "full_body"] {
        let json_path = dir.join(format!("{mode}.json"));
        let out = track(&input, &json_path, &["--mode", mode], &[]);
        let json = assert_tracked(&out, &json_path);
        assert_eq!(frames(&json).len(), 1);
        eprintln!(
            "rotated portrait, mode {mode}: found {:?}",
            found(&frames(&json)[0])
        );
    }
}

/// A person half out of frame (the left half of pose.jpg): whatever is found lies near the
/// image (normalized x, y in -0.5..1.5) and no number is NaN or infinite.
#[test]
fn a_person_half_out_of_frame_stays_near_the_image() {
    let dir = out_dir("half_out");
    let pose = image::open(testdata("people/images/pose.jpg")).unwrap();
    let (w, h) = pose.dimensions();
    let input = dir.join("pose_left_half.png");
    pose.crop_imm(0, 0, w / 2, h).save(&input).unwrap();
    let json_path = dir.join("half.json");
    let out = track(&input, &json_path, &["--mode", "full_body"], &[]);
    let json = assert_tracked(&out, &json_path);
    assert_eq!(frames(&json).len(), 1);
    let frame = &frames(&json)[0];
    eprintln!("left half of pose.jpg: found {:?}", found(frame));
    let image_points = [
        &frame["pose"]["image"],
        &frame["face"],
        &frame["left_hand"],
        &frame["right_hand"],
    ];
    for points in image_points.into_iter().filter_map(Value::as_array) {
        for p in points {
            let (x, y) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
            assert!(
                (-0.5..=1.5).contains(&x) && (-0.5..=1.5).contains(&y),
                "point {p} far outside the image"
            );
        }
    }
}

/// A models folder that does not exist is one line that says how to get the models.
#[test]
fn a_missing_models_folder_is_one_line() {
    let dir = out_dir("no_models");
    let input = dir.join("gray.png");
    GrayImage::from_pixel(64, 48, Luma([128]))
        .save(&input)
        .unwrap();
    let json = dir.join("out.json");
    let out = track(&input, &json, &["--models", "/nonexistent"], &[]);
    assert_one_line_error(&out, &["/nonexistent", "scripts/models.sh"]);
    assert!(!json.exists());
}

/// `$VRM_AVATAR_ORT_LIB` naming a file that is not a library, or no file at all, is one line
/// about ONNX Runtime, not a fall-back to another library.
#[test]
fn a_wrong_onnx_runtime_library_is_one_line() {
    let dir = out_dir("bad_ort");
    let input = dir.join("gray.png");
    GrayImage::from_pixel(64, 48, Luma([128]))
        .save(&input)
        .unwrap();
    let not_a_lib = dir.join("libonnxruntime.so");
    std::fs::write(&not_a_lib, b"this is not a shared library\n".repeat(100)).unwrap();
    let missing = dir.join("missing/libonnxruntime.so");
    for lib in [&not_a_lib, &missing, &dir] {
        let json = dir.join("out.json");
        let out = track(&input, &json, &[], &[("VRM_AVATAR_ORT_LIB", lib)]);
        assert_one_line_error(&out, &["ONNX Runtime", lib.to_str().unwrap()]);
        assert!(!json.exists(), "{}", lib.display());
    }
}

/// An unknown `--mode` is one line listing the modes, before any input is read.
#[test]
fn an_unknown_mode_is_one_line() {
    let dir = out_dir("bad_mode");
    let input = dir.join("gray.png");
    GrayImage::from_pixel(64, 48, Luma([128]))
        .save(&input)
        .unwrap();
    let json = dir.join("out.json");
    let out = track(&input, &json, &["--mode", "torso"], &[]);
    assert_one_line_error(&out, &["torso", "upper_body_hands"]);
    assert!(!json.exists());
}
