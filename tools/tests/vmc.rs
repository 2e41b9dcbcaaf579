//! `vrm-avatar vmc send` and `vmc record` against each other and against python-osc (PyPI), an
//! OSC implementation that owes nothing to ours: what we send is well formed and comes at the
//! promised rate; what a performer sends in Unity's space lands in the avatar pose's space.

mod common;

use common::{free_udp_port, out_dir, python_osc, vmc_script, vrm_avatar};
use glam::{Quat, Vec3};
use obs_vrm_avatar::pose::{AvatarPose, AvatarPoseFile};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Three frames of a wave: arm, head and hips move, expressions change, one custom name.
fn wave() -> AvatarPoseFile {
    let frames = (0..3)
        .map(|k| {
            let k = k as f32;
            let mut pose = AvatarPose {
                index: k as u64,
                t_ms: k as f64 * 33.3,
                ..AvatarPose::default()
            };
            pose.set_rotation("rightUpperArm", Quat::from_rotation_z(1.2 + 0.1 * k));
            pose.set_rotation("rightLowerArm", Quat::from_rotation_y(-0.4 * k));
            pose.set_rotation(
                "head",
                Quat::from_euler(glam::EulerRot::YXZ, 0.2 * k, -0.1, 0.05 * k),
            );
            pose.set_rotation("leftThumbMetacarpal", Quat::from_rotation_x(0.3));
            pose.hips_translation = Some([0.02 * k, -0.05, 0.01]);
            pose.expressions.insert("happy".into(), 0.5 * k);
            pose.expressions.insert("aa".into(), 0.3);
            pose.expressions.insert("JawOpen".into(), 0.1 * k);
            pose
        })
        .collect();
    AvatarPoseFile { frames }
}

fn write(dir: &Path, file: &AvatarPoseFile) -> String {
    let path = dir.join("wave.json");
    std::fs::write(&path, serde_json::to_string(file).unwrap()).unwrap();
    path.display().to_string()
}

fn same_pose(a: &AvatarPose, b: &AvatarPose) -> bool {
    let bones_match = b.bones.keys().all(|bone| {
        let want = b.rotation(bone).unwrap();
        a.rotation(bone)
            .is_some_and(|got| got.angle_between(want) < 1e-3)
    });
    let rest_at_rest = a
        .bones
        .keys()
        .filter(|bone| !b.bones.contains_key(*bone))
        .all(|bone| a.rotation(bone).unwrap().angle_between(Quat::IDENTITY) < 1e-3);
    let hips = (a.hips_offset() - b.hips_offset()).length() < 1e-4;
    let expressions = a.expressions.len() == b.expressions.len()
        && b.expressions
            .iter()
            .all(|(n, w)| a.expressions.get(n).is_some_and(|v| (v - w).abs() < 1e-5));
    bones_match && rest_at_rest && hips && expressions
}

/// `vmc record` on `port` for `seconds`, once it says it listens.
fn record(dir: &Path, port: u16, seconds: f64) -> Recording {
    let out = dir.join("recorded.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .args(["vmc", "record", "--seconds", &seconds.to_string(), "--port"])
        .arg(port.to_string())
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.starts_with("listening on"), "{ready}");
    Recording { child, lines }
}

struct Recording {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
}

/// The frames `vmc record` wrote, and what it said.
fn recorded(dir: &Path, recording: Recording) -> (Vec<AvatarPose>, String) {
    let Recording { mut child, lines } = recording;
    let said: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    let stderr = said.join("\n");
    assert!(status.success(), "{stderr}");
    let text = std::fs::read_to_string(dir.join("recorded.json")).unwrap();
    (
        serde_json::from_str::<AvatarPoseFile>(&text)
            .unwrap()
            .frames,
        stderr,
    )
}

#[test]
fn what_vmc_send_plays_vmc_record_gets_back() {
    for bundles in [true, false] {
        let dir = out_dir("vmc-test", if bundles { "bundles" } else { "loose" });
        let file = wave();
        let poses = write(&dir, &file);
        let port = free_udp_port();
        let recorder = record(&dir, port, 3.0);
        let to = format!("127.0.0.1:{port}");
        let mut args = vec!["vmc", "send", &poses, "--to", &to, "--fps", "30"];
        args.extend(["--loop", "--seconds", "1.5"]);
        if !bundles {
            args.push("--no-bundles");
        }
        let sent = vrm_avatar(&args);
        let said = String::from_utf8_lossy(&sent.stderr);
        assert!(sent.status.success(), "{said}");
        assert!(said.starts_with("sent 45 frames"), "{said}");
        let (frames, summary) = recorded(&dir, recorder);
        assert!(summary.contains(" 0 malformed"), "{summary}");
        // Each frame received is one of the frames sent, in order, none lost on loopback.
        assert_eq!(frames.len(), 45, "{summary}");
        for (k, got) in frames.iter().enumerate() {
            let want = &file.frames[k % 3];
            assert!(same_pose(got, want), "frame {k}: {got:?}\nwant {want:?}");
        }
        let dt = frames[44].t_ms - frames[0].t_ms;
        assert!(
            (dt - 44.0 * 1000.0 / 30.0).abs() < 150.0,
            "44 frames in {dt} ms"
        );
    }
}

/// What python-osc's listener saw while `vmc send` played at `fps`.
fn heard_by_python(bundles: bool, fps: u32, seconds: f64) -> Value {
    let dir = out_dir("vmc-test", &format!("python-listen-{bundles}"));
    let poses = write(&dir, &wave());
    let port = free_udp_port();
    let mut listener = Command::new(python_osc())
        .arg(vmc_script("listen.py"))
        .arg(port.to_string())
        .arg((seconds + 1.5).to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(listener.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.contains("listening"), "{ready}");
    let to = format!("127.0.0.1:{port}");
    let (fps_text, seconds_text) = (fps.to_string(), seconds.to_string());
    let mut args = vec!["vmc", "send", &poses, "--to", &to, "--fps", &fps_text];
    args.extend(["--loop", "--seconds", &seconds_text]);
    if !bundles {
        args.push("--no-bundles");
    }
    let sent = vrm_avatar(&args);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let report: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    listener.wait().unwrap();
    report
}

#[test]
fn python_osc_hears_well_formed_vmc_at_the_promised_rate() {
    for bundles in [true, false] {
        let report = heard_by_python(bundles, 60, 3.0);
        assert_eq!(report["unparsed"], 0, "{report}");
        let datagrams = report["datagrams"].as_u64().unwrap();
        let in_bundles = report["bundles"].as_u64().unwrap();
        if bundles {
            assert_eq!(in_bundles, datagrams, "{report}");
            assert!(report["max_datagram"].as_u64().unwrap() <= 1400, "{report}");
        } else {
            assert_eq!(in_bundles, 0, "{report}");
        }
        // The protocol's type tags.
        let tags = &report["tags"];
        assert_eq!(tags["/VMC/Ext/Bone/Pos"], serde_json::json!([",sfffffff"]));
        assert_eq!(tags["/VMC/Ext/Root/Pos"], serde_json::json!([",sfffffff"]));
        assert_eq!(tags["/VMC/Ext/Blend/Val"], serde_json::json!([",sf"]));
        assert_eq!(tags["/VMC/Ext/Blend/Apply"], serde_json::json!([","]));
        assert_eq!(tags["/VMC/Ext/OK"], serde_json::json!([",iiii"]));
        assert_eq!(tags["/VMC/Ext/T"], serde_json::json!([",f"]));
        // Unity's bone names (the built-in avatar's bones), VRM 0.x blend shape names.
        let bones: Vec<&str> = report["bones"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap())
            .collect();
        for bone in ["Hips", "Spine", "Head", "LeftUpperArm", "RightLowerArm"] {
            assert!(bones.contains(&bone), "{bones:?}");
        }
        assert!(
            bones
                .iter()
                .all(|b| b.chars().next().unwrap().is_ascii_uppercase())
        );
        assert_eq!(report["blends"], serde_json::json!(["A", "JawOpen", "Joy"]));
        // The left arm is not moved in the wave: at rest, identity, at its rest offset.
        let arm = report["first_bone"].as_array().unwrap();
        let q: Vec<f64> = arm[4..8].iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(q, vec![0.0, 0.0, 0.0, 1.0]);
        assert!(
            arm[1].as_f64().unwrap() < 0.0,
            "the left arm is at Unity's -X: {arm:?}"
        );
        // 60 frames a second: one Apply per frame, evenly.
        let applies: Vec<f64> = report["applies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_f64().unwrap())
            .collect();
        assert!(
            (175..=182).contains(&applies.len()),
            "{} frames",
            applies.len()
        );
        let span = applies.last().unwrap() - applies[0];
        let rate = (applies.len() - 1) as f64 / span;
        assert!((rate - 60.0).abs() < 2.0, "{rate:.1} frames/s");
        let mut gaps: Vec<f64> = applies.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_by(f64::total_cmp);
        let p95 = gaps[gaps.len() * 95 / 100];
        eprintln!(
            "python-osc heard {} frames at {rate:.1}/s (gap p50 {:.1} ms, p95 {:.1} ms), bundles {bundles}",
            applies.len(),
            gaps[gaps.len() / 2] * 1000.0,
            p95 * 1000.0
        );
        assert!(p95 < 0.030, "gap p95 {:.1} ms", p95 * 1000.0);
    }
}

#[test]
fn a_python_osc_performer_lands_in_the_pose_space() {
    for bundle in [false, true] {
        let dir = out_dir("vmc-test", &format!("python-perform-{bundle}"));
        let python = python_osc();
        let port = free_udp_port();
        let recorder = record(&dir, port, 2.5);
        let mut perform = Command::new(python);
        perform
            .arg(vmc_script("perform.py"))
            .arg(port.to_string())
            .arg("1");
        if bundle {
            perform.arg("--bundle");
        }
        assert!(perform.status().unwrap().success());
        let (frames, summary) = recorded(&dir, recorder);
        assert!(frames.len() >= 25, "{summary}");
        assert!(summary.contains(" 0 malformed"), "{summary}");
        let pose = frames.last().unwrap();
        // The lowered left arm: the pose's left arm (+X) points down.
        let arm = pose.rotation("leftUpperArm").unwrap();
        assert!((arm * Vec3::X - Vec3::NEG_Y).length() < 1e-4, "{arm}");
        // The head turned to the avatar's left: forward (+Z) turns towards +X by 30 degrees.
        let forward = pose.rotation("head").unwrap() * Vec3::Z;
        assert!(
            (forward.x.atan2(forward.z).to_degrees() - 30.0).abs() < 0.01,
            "{forward}"
        );
        // The root 1 m to Unity's +X is 1 m to the pose's -X; the hips 5 cm forward; the
        // height measured from the built-in avatar's rest hips.
        let offset = pose.hips_offset();
        assert!(
            (offset.x + 1.0).abs() < 1e-5 && (offset.z - 0.05).abs() < 1e-5,
            "{offset}"
        );
        assert_eq!(pose.expressions.get("happy"), Some(&1.0));
        assert_eq!(pose.expressions.get("aa"), Some(&0.5));
        assert_eq!(
            pose.expressions.get("JawOpen").map(|v| (v * 100.0).round()),
            Some(30.0)
        );
    }
}

#[test]
fn bad_arguments_are_one_line_errors() {
    let dir = out_dir("vmc-test", "errors");
    let poses = write(&dir, &wave());
    let empty = dir.join("empty.json");
    std::fs::write(&empty, r#"{"frames": []}"#).unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let out = dir.join("r.json");
    let out = out.to_str().unwrap();
    for (args, says) in [
        (
            vec!["vmc", "send", &poses, "--to", "my-pc:39539"],
            "is not an IP address",
        ),
        (
            vec!["vmc", "send", &poses, "--to", "127.0.0.1:x"],
            "is not a port",
        ),
        (
            vec!["vmc", "send", &poses, "--to", "127.0.0.1:9", "--fps", "0"],
            "--fps 0",
        ),
        (
            vec!["vmc", "send", &poses, "--to", "127.0.0.1"],
            "give the port too",
        ),
        (
            vec!["vmc", "send", "/no/such.json", "--to", "127.0.0.1:9"],
            "/no/such.json",
        ),
        (
            vec![
                "vmc",
                "send",
                empty.to_str().unwrap(),
                "--to",
                "127.0.0.1:9",
            ],
            "no frames",
        ),
        (
            vec![
                "vmc",
                "record",
                "--seconds",
                "1",
                "--out",
                out,
                "--port",
                &taken_port,
            ],
            "is in use",
        ),
        (
            vec![
                "vmc",
                "record",
                "--seconds",
                "1",
                "--out",
                out,
                "--bind",
                "lan",
            ],
            "not an IP address",
        ),
        (
            vec!["vmc", "record", "--seconds=-1", "--out", out],
            "--seconds -1",
        ),
    ] {
        let run = vrm_avatar(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.trim_end().lines().count() == 1,
            "{err}"
        );
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
