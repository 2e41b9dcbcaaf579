//! VMC into real OBS (Debian's OBS 29 under Xvfb): a VRM Avatar source with `input_kind` =
//! `vmc` follows `vrm-avatar vmc send` and draws what `vrm-avatar render --pose` draws offline;
//! blend shapes sent by name show; when the sender stops the avatar eases back to idle; a
//! flood of malformed datagrams changes nothing, logs a bounded number of lines and never
//! stalls OBS; a second avatar on the same port says the port is in use; OBS quits cleanly.
//! Prints the VMC-to-texture latency and OBS's CPU at 60 Hz input (the README's figures):
//! `cargo test --release --test vmc_obs_e2e -- --nocapture`.

mod common;

use common::{drawn, eye_blue, free_udp_port, iou, out_dir, png_rgba, state, vrm_avatar};
use glam::Quat;
use obs_vrm_avatar::pose::{AvatarPose, AvatarPoseFile};
use obs_vrm_avatar::vmc::{Rest, Sender};
use serde_json::json;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vrm_avatar_tools::launcher::{
    LaunchOptions, ObsStudio, PluginFiles, cpu_seconds, retry_on_known_obs_fault,
};

const SCENE: &str = "VMC Scene";
const AVATAR: &str = "Marionette";
const SECOND: &str = "Second Marionette";

/// The right arm raised high, the head turned and tilted, happy: far from idle.
fn cheer() -> AvatarPose {
    let mut pose = AvatarPose::default();
    // The right arm points to -X at rest: a turn about -Z raises it.
    pose.set_rotation("rightUpperArm", Quat::from_rotation_z(-1.3));
    pose.set_rotation("rightLowerArm", Quat::from_rotation_z(-0.4));
    pose.set_rotation("head", Quat::from_euler(glam::EulerRot::YXZ, 0.5, 0.0, 0.2));
    pose.expressions.insert("happy".into(), 1.0);
    pose
}

/// How far (degrees) the right upper arm of `pose` is turned from `to`.
fn arm_from(pose: &AvatarPose, to: Quat) -> f64 {
    let arm = pose.rotation("rightUpperArm").unwrap_or(Quat::IDENTITY);
    f64::from(arm.angle_between(to).to_degrees())
}

fn raised() -> Quat {
    cheer().rotation("rightUpperArm").unwrap()
}

/// `vrm-avatar vmc send --loop`, killed when dropped (a failed test leaves none behind).
struct Sending(Child);

impl Sending {
    fn stop(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn send(poses: &Path, port: u16, fps: u32) -> Sending {
    let to = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .args(["vmc", "send"])
        .arg(poses)
        .args(["--to", &to, "--fps", &fps.to_string(), "--loop"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Sending(child)
}

fn until(obs: &mut ObsStudio, limit: Duration, what: &str, done: impl Fn(&AvatarPose) -> bool) {
    let start = Instant::now();
    loop {
        let (_, pose) = state(obs, AVATAR);
        if done(&pose) {
            return;
        }
        assert!(start.elapsed() < limit, "{what} within {limit:?}: {pose:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What python-osc heard on `port` for `seconds` (`tools/tests/vmc/listen.py`).
fn listen(port: u16, seconds: f64) -> serde_json::Value {
    use std::io::BufRead;
    let mut child = Command::new(common::python_osc())
        .arg(common::vmc_script("listen.py"))
        .arg(port.to_string())
        .arg(seconds.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().unwrap().unwrap();
    assert!(ready.contains("listening"), "{ready}");
    let report = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    child.wait().unwrap();
    report
}

/// OBS's CPU time over `seconds` (cores).
fn cpu(obs: &ObsStudio, seconds: f64) -> f64 {
    let stat = format!("/proc/{}/stat", obs.pid().unwrap());
    let before = cpu_seconds(Path::new(&stat)).unwrap();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    (cpu_seconds(Path::new(&stat)).unwrap() - before) / seconds
}

/// Datagrams no sender should send: random bytes, VMC bundles cut short or with an integer
/// where a float belongs, a 60 KB bundle of wrongly typed bones, bundles nested thousands
/// deep, OSC arrays.
fn malformed(count: usize) -> Vec<Vec<u8>> {
    let good = Sender { bundles: true }.datagrams(&cheer(), &Rest::default(), 0.0);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut deep = Vec::new();
    for level in 0..3000u32 {
        deep.extend_from_slice(b"#bundle\0\0\0\0\0\0\0\0\x01");
        deep.extend_from_slice(&(59_980 - 20 * level).to_be_bytes());
    }
    let mut huge = b"#bundle\0\0\0\0\0\0\0\0\x01".to_vec();
    while huge.len() < 60_000 {
        let m = b"/VMC/Ext/Bone/Pos\0\0\0,iiiiiiii\0\0\0\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05\x00\x00\x00\x06\x00\x00\x00\x07\x00\x00\x00\x08";
        huge.extend_from_slice(&(m.len() as u32).to_be_bytes());
        huge.extend_from_slice(m);
    }
    let mut arrays = b"/VMC/Ext/T\0\0,".to_vec();
    arrays.extend(std::iter::repeat_n(b'[', 30_000));
    arrays.extend_from_slice(b"\0\0\0\0");
    (0..count)
        .map(|i| match i % 6 {
            0 => (0..random() % 1500).map(|_| random() as u8).collect(),
            // Cut short at a place no OSC element can end (sizes are multiples of four).
            1 => {
                let d = &good[i % good.len()];
                let mut cut = 1 + random() as usize % (d.len() - 1);
                if (d.len() - cut).is_multiple_of(4) {
                    cut -= 1;
                }
                d[..cut].to_vec()
            }
            // Wrongly typed: an integer where the protocol has a float, same length.
            2 => {
                let mut d = good[i % good.len()].clone();
                let at = d
                    .windows(9)
                    .position(|w| w == b",sfffffff")
                    .expect("a bone in every bundle");
                d[at + 2 + random() as usize % 7] = b'i';
                d
            }
            3 => huge.clone(),
            4 => deep.clone(),
            _ => arrays.clone(),
        })
        .collect()
}

#[test]
fn vmc_drives_the_avatar_in_real_obs() {
    retry_on_known_obs_fault(
        "vmc_drives_the_avatar_in_real_obs",
        vmc_drives_the_avatar_once,
    );
}

fn vmc_drives_the_avatar_once() {
    let work = out_dir("vmc-obs-e2e", "run");
    let target = common::target_dir();
    let plugin = PluginFiles::with_checkout(target.join("libobs_vrm_avatar.so"));
    let mut obs =
        ObsStudio::start(&LaunchOptions::headless_720p30(&work.join("obs"), plugin)).unwrap();
    let port = free_udp_port();
    obs.create_avatar_scene(
        SCENE,
        AVATAR,
        json!({"input_kind": "vmc", "vmc_port": port, "width": 320, "height": 180}),
    )
    .unwrap();
    obs.wait_for_drawn(AVATAR, 5_000, Duration::from_secs(60))
        .unwrap();
    assert!(
        obs.wait_for_log(
            &format!("VMC: listening on 127.0.0.1:{port}"),
            Duration::from_secs(10)
        ),
        "{}",
        obs.log_text()
    );
    let mut idle_shot = obs.screenshot(AVATAR).unwrap();
    for _ in 0..5 {
        if eye_blue(&idle_shot) >= 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        idle_shot = obs.screenshot(AVATAR).unwrap();
    }
    let (_, idle) = state(&mut obs, AVATAR);
    let idle_arm = idle.rotation("rightUpperArm").unwrap_or(Quat::IDENTITY);
    assert!(arm_from(&idle, raised()) > 60.0, "idle's arm is not raised");

    // A pose sent over VMC is drawn as `vrm-avatar render --pose` draws it.
    let poses = work.join("cheer.json");
    let file = AvatarPoseFile {
        frames: vec![cheer()],
    };
    std::fs::write(&poses, serde_json::to_string(&file).unwrap()).unwrap();
    let sender = send(&poses, port, 60);
    until(
        &mut obs,
        Duration::from_secs(10),
        "the sent arm and face",
        |p| arm_from(p, raised()) < 1.0 && p.expressions.get("happy").is_some_and(|w| *w > 0.999),
    );
    let (live_state, _) = state(&mut obs, AVATAR);
    assert!(
        live_state["expressions"]["happy"].as_f64().unwrap() > 0.999,
        "Joy arrives as happy: {live_state}"
    );
    std::thread::sleep(Duration::from_millis(700));
    let live = obs.screenshot(AVATAR).unwrap();
    std::fs::write(work.join("live.png"), &live.png).unwrap();
    let offline = |name: &str, poses: &Path| {
        let out = work.join(name);
        let run = vrm_avatar(&[
            "render",
            "--default",
            "--pose",
            poses.to_str().unwrap(),
            "--width",
            "320",
            "--height",
            "180",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        drawn(&png_rgba(&out).2)
    };
    let posed = offline("offline.png", &poses);
    std::fs::write(work.join("rest.json"), r#"{"frames": [{"bones": {}}]}"#).unwrap();
    let rest = offline("offline-rest.png", &work.join("rest.json"));
    let live_mask = drawn(&live.rgba);
    let (same, other) = (iou(&live_mask, &posed), iou(&live_mask, &rest));
    eprintln!(
        "silhouette IoU with the offline render of the pose {same:.3}, of the rest pose {other:.3}"
    );
    assert!(
        same > 0.9,
        "OBS draws the sent pose as render --pose does: IoU {same:.3}"
    );
    assert!(
        same > other + 0.05,
        "and not the rest pose: {same:.3} vs {other:.3}"
    );
    let (open, shut) = (eye_blue(&idle_shot), eye_blue(&live));
    assert!(
        open >= 6 && shut * 3 < open,
        "happy shuts the eyes: {open} -> {shut} iris pixels"
    );
    // The source sends what it shows: python-osc hears the raised arm at OBS's frame rate.
    let relay = free_udp_port();
    obs.set_input_settings(
        AVATAR,
        json!({"vmc_send": true, "vmc_send_to": format!("127.0.0.1:{relay}"), "vmc_send_bundles": false}),
    )
    .unwrap();
    let heard = listen(relay, 2.0);
    obs.set_input_settings(AVATAR, json!({"vmc_send": false}))
        .unwrap();
    assert_eq!(heard["unparsed"], 0, "{heard}");
    assert_eq!(heard["bundles"], 0, "loose messages when bundles are off");
    let applies = heard["applies"].as_array().unwrap().len();
    assert!(
        (45..=75).contains(&applies),
        "{applies} frames in 2 s at 30 fps"
    );
    let arm: Vec<f32> = heard["last_bones"]["RightUpperArm"].as_array().unwrap()[3..7]
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let sent_back = obs_vrm_avatar::vmc::rotation_from_unity(Quat::from_slice(&arm));
    let off = f64::from(sent_back.angle_between(raised()).to_degrees());
    eprintln!(
        "the source relayed {applies} frames in 2 s; its right arm {off:.2} degrees from the pose received"
    );
    assert!(off < 1.0, "{heard}");
    let avatars = common::vendor(&mut obs, "GetAvatars", json!({}));
    assert_eq!(avatars["avatars"][0]["tracking"], true, "{avatars}");
    assert_eq!(avatars["avatars"][0]["input_kind"], "vmc");

    // The receive-to-texture delay and OBS's CPU at 60 Hz input, against no input.
    let from = obs.log_text().len();
    assert!(
        obs.wait_for_log_since(
            from,
            "receiving VMC; VMC-to-texture latency p50",
            Duration::from_secs(15)
        ),
        "{}",
        obs.log_text()
    );
    let log = obs.log_text();
    let line = log[from..]
        .lines()
        .find(|l| l.contains("VMC-to-texture latency"))
        .unwrap()
        .to_string();
    eprintln!(
        "at 60 Hz: {}",
        line.split("receiving VMC; ").nth(1).unwrap_or(&line)
    );
    let receiving = cpu(&obs, 10.0);

    // The sender stops: after half a second of silence the avatar eases back to idle.
    sender.stop();
    let stopped = Instant::now();
    let mut arms = Vec::new();
    while stopped.elapsed() < Duration::from_millis(2_000) {
        let (_, pose) = state(&mut obs, AVATAR);
        arms.push((
            stopped.elapsed().as_millis(),
            arm_from(&pose, raised()),
            arm_from(&pose, idle_arm),
        ));
        std::thread::sleep(Duration::from_millis(15));
    }
    let between = arms
        .iter()
        .filter(|(_, from_sent, from_idle)| *from_sent > 2.0 && *from_idle > 5.0)
        .count();
    let left = arms
        .iter()
        .find(|(_, from_sent, _)| *from_sent > 2.0)
        .map(|(t, _, _)| *t);
    eprintln!(
        "after the sender stopped the arm left the sent pose at {left:?} ms, {between} samples between"
    );
    assert!(between >= 3, "eased, not snapped: {arms:?}");
    assert!(left.is_some_and(|t| (400..=900).contains(&t)), "{arms:?}");
    assert!(arms.last().unwrap().2 < 5.0, "back to idle: {arms:?}");
    let (_, back) = state(&mut obs, AVATAR);
    assert_eq!(back.expressions.get("happy").copied().unwrap_or(0.0), 0.0);
    let quiet = cpu(&obs, 10.0);
    eprintln!(
        "OBS CPU: {receiving:.3} cores receiving VMC at 60 Hz, {quiet:.3} idle (ratio {:.2})",
        receiving / quiet
    );

    // A flood of malformed datagrams changes nothing and never stalls OBS.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let garbage = malformed(12_000);
    let flood = std::thread::spawn(move || {
        let start = Instant::now();
        for d in &garbage {
            let _ = socket.send_to(d, ("127.0.0.1", port));
        }
        start.elapsed()
    });
    let mut answers = Vec::new();
    while !flood.is_finished() {
        let asked = Instant::now();
        let (_, pose) = state(&mut obs, AVATAR);
        answers.push(asked.elapsed());
        assert!(
            arm_from(&pose, idle_arm) < 5.0,
            "garbage moved the avatar: {pose:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = flood.join().unwrap();
    answers.sort();
    let slowest = answers.last().copied().unwrap_or_default();
    eprintln!("12000 malformed datagrams in {took:?}; GetState answered in at most {slowest:?}");
    assert!(
        slowest < Duration::from_millis(500),
        "OBS stalled: {slowest:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let log = obs.log_text();
    let refused = log
        .lines()
        .filter(|l| l.contains("VMC: refused a datagram"))
        .count();
    assert!(
        (1..=5).contains(&refused),
        "{refused} lines of refused datagrams"
    );
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("further refused datagrams"))
            .count(),
        1
    );
    // Good motion still comes through.
    let sender = send(&poses, port, 30);
    until(
        &mut obs,
        Duration::from_secs(10),
        "the sent arm again",
        |p| arm_from(p, raised()) < 1.0,
    );
    sender.stop();

    // A second avatar on the same port says it is in use.
    obs.ws
        .request(
            "CreateInput",
            json!({"sceneName": SCENE, "inputName": SECOND, "inputKind": "vrm_avatar_source",
                   "inputSettings": {"input_kind": "vmc", "vmc_port": port, "width": 64, "height": 64}}),
        )
        .unwrap();
    assert!(
        obs.wait_for_log(
            &format!("VMC: port {port} is in use"),
            Duration::from_secs(10)
        ),
        "{}",
        obs.log_text()
    );
    obs.set_input_settings(SECOND, json!({"input_kind": "none"}))
        .unwrap();
    // OBS 29 can hang quitting right after a source was added over obs-websocket (seen once
    // here: its destroy thread blocked in obs-websocket's event broadcast, no frame of this
    // module in any thread); a pause first, as `vrm-avatar soak` pauses after a removal.
    std::thread::sleep(Duration::from_secs(2));
    obs.quit_cleanly(Duration::from_secs(60))
        .expect("OBS quits cleanly");
}
