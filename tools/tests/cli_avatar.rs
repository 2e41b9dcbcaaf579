//! `vrm-avatar inspect`, `render` and `bench` as a user runs them (CONTRACTS.md).

use std::path::PathBuf;
use std::process::{Command, Output};

fn testdata(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata")
        .join(path)
}

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_vrm-avatar"))
        .parent()
        .unwrap()
        .join("cli-test")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .args(args)
        .output()
        .unwrap()
}

fn rgba(path: &PathBuf) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn inspect_reports_godette_and_refuses_broken_files_in_one_line() {
    let out = run(&[
        "inspect",
        testdata("vrm/vrm0/Godette_vrm_v4.vrm").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["spec_version"], "0.0");
    assert_eq!(json["humanoid_bones"].as_array().unwrap().len(), 45);
    assert_eq!(json["morph_targets"], 15);
    assert_eq!(json["look_at"], "expression");
    for key in [
        "title",
        "expressions",
        "meshes",
        "materials",
        "spring_joints",
        "spring_colliders",
        "constraints",
        "license",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }

    let dir = out_dir("inspect");
    let bytes = std::fs::read(testdata("vrm/vrm0/Godette_vrm_v4.vrm")).unwrap();
    let broken = dir.join("truncated.vrm");
    std::fs::write(&broken, &bytes[..bytes.len() / 2]).unwrap();
    // One small mesh drawn by 5000 nodes: past the per-avatar budget of draws, refused from the
    // JSON before anything is decoded or uploaded.
    let crowd = dir.join("crowd.gltf");
    let nodes = vec![r#"{"mesh":0}"#; 5000].join(",");
    std::fs::write(
        &crowd,
        format!(
            r#"{{"asset":{{"version":"2.0"}},
            "buffers":[{{"byteLength":36,"uri":"data:application/octet-stream;base64,{zeros}"}}],
            "bufferViews":[{{"buffer":0,"byteLength":36}}],
            "accessors":[{{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3","min":[0,0,0],"max":[0,0,0]}}],
            "meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}}}}]}}],
            "nodes":[{nodes}]}}"#,
            zeros = "A".repeat(48)
        ),
    )
    .unwrap();
    let out = run(&["inspect", crowd.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("model too large: 5000 primitives drawn by the nodes (at most 4096)"),
        "{err}"
    );
    for bad in [broken, dir.join("missing.vrm"), crowd] {
        let out = run(&["inspect", bad.to_str().unwrap(), "--json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.starts_with("error: ") && err.trim_end().lines().count() == 1,
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn render_poses_godette_from_pose_json_and_the_default_avatar() {
    let dir = out_dir("render");
    let godette = testdata("vrm/vrm0/Godette_vrm_v4.vrm");
    let pose = dir.join("pose.json");
    // The head turned 30 degrees about +Y (to the avatar's left), as AvatarPose JSON.
    let (s, c) = (15f32.to_radians().sin(), 15f32.to_radians().cos());
    std::fs::write(
        &pose,
        format!(r#"{{"frames": [{{"index": 0, "t_ms": 0, "bones": {{}}}}, {{"index": 1, "t_ms": 33, "bones": {{"head": [0, {s}, 0, {c}]}}, "expressions": {{"blink": 1}}}}]}}"#),
    )
    .unwrap();
    let render = |name: &str, extra: &[&str]| {
        let out_png = dir.join(name);
        let mut args = vec![
            "render",
            godette.to_str().unwrap(),
            "--width",
            "320",
            "--height",
            "240",
            "--out",
            out_png.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        rgba(&out_png)
    };
    let rest = render(
        "rest.png",
        &["--pose", pose.to_str().unwrap(), "--frame", "0"],
    );
    let turned = render(
        "turned.png",
        &["--pose", pose.to_str().unwrap(), "--frame", "1"],
    );
    let aa = render("aa.png", &["--expression", "aa=1"]);
    assert_eq!((rest.0, rest.1), (320, 240));
    let differ = |a: &[u8], b: &[u8]| a.chunks(4).zip(b.chunks(4)).filter(|(p, q)| p != q).count();
    assert!(
        rest.2.chunks(4).any(|p| p[3] == 0),
        "transparent background"
    );
    assert!(differ(&rest.2, &turned.2) > 2_000, "the head turns");
    assert!(differ(&rest.2, &aa.2) > 50, "the mouth opens");
    // Spring bones: after a second of stillness with the head turned, the hair has moved.
    let settled = render(
        "settled.png",
        &[
            "--pose",
            pose.to_str().unwrap(),
            "--frame",
            "1",
            "--settle-frames",
            "60",
        ],
    );
    assert!(
        differ(&turned.2, &settled.2) > 200,
        "the hair settles under gravity"
    );

    let out = run(&[
        "render",
        "--pose",
        pose.to_str().unwrap(),
        "--frame",
        "7",
        godette.to_str().unwrap(),
        "--out",
        dir.join("x.png").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--frame 7"));

    let default_png = dir.join("default.png");
    let out = run(&[
        "render",
        "--default",
        "--width",
        "320",
        "--height",
        "240",
        "--out",
        default_png.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, _, pixels) = rgba(&default_png);
    assert!(
        pixels.chunks(4).filter(|p| p[3] == 255).count() > 5_000,
        "the built-in avatar shows"
    );
}

#[test]
fn bench_reports_stage_timings_and_the_machine() {
    let out = run(&[
        "bench", "--json", "--frames", "10", "--width", "320", "--height", "180",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for stage in ["load", "render_readback", "spring_update"] {
        for key in ["mean_ms", "p50_ms", "p95_ms"] {
            assert!(
                json["stages"][stage][key].as_f64().unwrap() > 0.0,
                "{stage} {key}"
            );
        }
    }
    assert!(json["machine"]["adapter"].is_string());
    assert!(json["memory"]["gpu_model_bytes"].as_u64().unwrap() > 0);
}

/// A frame must not compile shaders. Lavapipe recompiles a shader when a uniform that steers its
/// control flow changes between draws; Mesa's disk cache hid that as 16 ms a frame. Without the
/// cache such a frame takes over a second against a few milliseconds, so the bound is loose.
#[test]
fn frames_compile_no_shaders() {
    let vrm = testdata("vrm/vrm0/Godette_vrm_v4.vrm");
    let out = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .args([
            "bench", "--json", "--frames", "8", "--width", "160", "--height", "90",
        ])
        .arg("--vrm")
        .arg(&vrm)
        .env("MESA_SHADER_CACHE_DISABLE", "true")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p50 = json["stages"]["render_readback"]["p50_ms"]
        .as_f64()
        .unwrap();
    assert!(
        p50 < 300.0,
        "a frame took {p50} ms: shaders compile per frame"
    );
}

#[test]
fn render_draws_a_vrm_animation_at_a_time() {
    let dir = out_dir("animation");
    let godette = testdata("vrm/vrm0/Godette_vrm_v4.vrm");
    let clip = testdata("vrm/vrma/test.vrma");
    let render = |name: &str, time: &str| {
        let out_png = dir.join(name);
        let out = run(&[
            "render",
            godette.to_str().unwrap(),
            "--animation",
            clip.to_str().unwrap(),
            "--time",
            time,
            "--full-body",
            "--width",
            "320",
            "--height",
            "240",
            "--out",
            out_png.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        rgba(&out_png).2
    };
    let differ = |a: &[u8], b: &[u8]| a.chunks(4).zip(b.chunks(4)).filter(|(p, q)| p != q).count();
    // 0.5 s: the right arm hangs down; 1.5 s: T-pose and happy; 2 s: T-pose, neutral.
    let (down, happy, neutral) = (
        render("down.png", "0.5"),
        render("happy.png", "1.5"),
        render("neutral.png", "2"),
    );
    let arm = differ(&down, &neutral);
    let face = differ(&happy, &neutral);
    assert!(arm > 500, "the arm moves: {arm} pixels");
    assert!(
        face > 20 && face < arm,
        "the face alone changes: {face} pixels"
    );

    for (bad, says) in [
        (godette.to_str().unwrap(), "not a VRM Animation"),
        ("/nonexistent.vrma", "/nonexistent.vrma"),
    ] {
        let out = run(&[
            "render",
            "--default",
            "--animation",
            bad,
            "--out",
            dir.join("x.png").to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says) && err.lines().count() == 1, "{err}");
    }
}
