//! The VRM Avatar source tracking a person in real OBS (Debian's OBS 29 under Xvfb): a media
//! source plays `face_and_thumbs_up.mp4`, hidden in the scene, as the tracking input of a VRM
//! Avatar source showing Godette. The avatar must move far more than idle motion moves it, the
//! camera-to-texture latency must be measured (and logged), and OBS must stay up and quit
//! cleanly. Figures: `cargo test --release --test obs_tracking_e2e -- --nocapture`.

mod tracking_measures;

use tracking_measures::{
    OtherLoad, latency, movement, offline_frames, outline_changed, plugin_cores,
};

use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vrm_avatar_tools::launcher::{
    LaunchOptions, ObsStudio, PluginFiles, Screenshot, retry_on_known_obs_fault,
};

/// One OBS at a time (2 cores).
static ONE_OBS_AT_A_TIME: Mutex<()> = Mutex::new(());

const SCENE: &str = "Avatar Scene";
const CLIP: &str = "Clip";
const AVATAR: &str = "My Avatar";

fn testdata(path: &str) -> String {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata")
        .join(path)
        .canonicalize()
        .unwrap()
        .display()
        .to_string()
}

/// One OBS at a time, started in a fresh home with an empty scene.
fn start_with_scene(name: &str) -> (std::sync::MutexGuard<'static, ()>, ObsStudio) {
    let one = ONE_OBS_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut obs = start(name);
    obs.ws
        .request("CreateScene", json!({"sceneName": SCENE}))
        .unwrap();
    (one, obs)
}

fn start(name: &str) -> ObsStudio {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap().to_path_buf();
    let plugin = PluginFiles::with_checkout(dir.join("libobs_vrm_avatar.so"));
    let home = dir.join("obs-tracking-e2e").join(name);
    let _ = std::fs::remove_dir_all(&home);
    ObsStudio::start(&LaunchOptions::headless_720p30(&home, plugin)).expect("OBS starts")
}

/// Screenshots of the avatar every 300 ms or so over `seconds`.
fn screenshots(obs: &mut ObsStudio, seconds: u64) -> Vec<Screenshot> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut shots = vec![obs.screenshot(AVATAR).unwrap()];
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(300));
        shots.push(obs.screenshot(AVATAR).unwrap());
    }
    shots
}

/// The avatar's screenshot once it is drawn (a minute at most: on a loaded machine the
/// first frame takes a while).
fn drawn(obs: &mut ObsStudio) -> Screenshot {
    obs.wait_for_drawn(AVATAR, 10_000, Duration::from_secs(60))
        .unwrap()
}

fn set_avatar(obs: &mut ObsStudio, settings: Value) {
    obs.ws
        .request(
            "SetInputSettings",
            json!({"inputName": AVATAR, "inputSettings": settings}),
        )
        .unwrap();
}

#[test]
fn a_media_source_drives_the_avatar_in_real_obs() {
    retry_on_known_obs_fault(
        "a_media_source_drives_the_avatar_in_real_obs",
        a_media_source_drives_the_avatar_in_real_obs_once,
    );
}

fn a_media_source_drives_the_avatar_in_real_obs_once() {
    let (_one, mut obs) = start_with_scene("media");
    obs.ws
        .request(
            "CreateInput",
            json!({"sceneName": SCENE, "inputName": CLIP, "inputKind": "ffmpeg_source",
                   "inputSettings": {"local_file": testdata("people/video/face_and_thumbs_up.mp4"),
                                     "looping": true, "restart_on_activate": false}}),
        )
        .unwrap();
    // The camera's pixels are never shown: the clip is hidden; the avatar keeps it playing.
    let item = obs
        .ws
        .request(
            "GetSceneItemId",
            json!({"sceneName": SCENE, "sourceName": CLIP}),
        )
        .unwrap()["sceneItemId"]
        .clone();
    obs.ws
        .request(
            "SetSceneItemEnabled",
            json!({"sceneName": SCENE, "sceneItemId": item, "sceneItemEnabled": false}),
        )
        .unwrap();
    obs.ws
        .request(
            "CreateInput",
            json!({"sceneName": SCENE, "inputName": AVATAR, "inputKind": "vrm_avatar_source",
                   "inputSettings": {"vrm_path": testdata("vrm/vrm0/Godette_vrm_v4.vrm"),
                                     "input_kind": "none", "mirror": false}}),
        )
        .unwrap();
    obs.ws
        .request("SetCurrentProgramScene", json!({"sceneName": SCENE}))
        .unwrap();
    assert!(
        obs.wait_for_log("avatar ", Duration::from_secs(60)),
        "the avatar loads; log:\n{}",
        obs.log_text()
    );
    drawn(&mut obs);
    std::thread::sleep(Duration::from_secs(2));
    let idle_shots = screenshots(&mut obs, 5);
    let idle = movement(&idle_shots);

    set_avatar(
        &mut obs,
        json!({"input_kind": "source", "input_source": CLIP, "tracking_mode": "upper_body_hands"}),
    );
    assert!(
        obs.wait_for_log("tracking the source 'Clip'", Duration::from_secs(10)),
        "log:\n{}",
        obs.log_text()
    );
    assert!(
        obs.wait_for_log("camera-to-texture latency p50", Duration::from_secs(60)),
        "tracked frames reach the texture; log:\n{}",
        obs.log_text()
    );
    let load = OtherLoad::start(obs.pid().expect("OBS runs"));
    // Over the clip's 8 seconds the person raises a thumb in front of her face.
    let tracked_shots = screenshots(&mut obs, 9);
    let tracked = movement(&tracked_shots);
    let stats_before = obs.ws.request("GetStats", json!({})).unwrap();
    std::thread::sleep(Duration::from_secs(10));
    let stats_after = obs.ws.request("GetStats", json!({})).unwrap();
    let delta =
        |key: &str| stats_after[key].as_i64().unwrap() - stats_before[key].as_i64().unwrap();
    let log = obs.log_text();
    let (p50, p95) = latency(&log).expect("a latency line");
    let others = load.cores();
    let tracking_line = log
        .lines()
        .rev()
        .find(|l| l.contains("camera-to-texture latency"))
        .unwrap_or("")
        .to_string();
    eprintln!(
        "pixels moved: idle {idle}, tracked {tracked}; {tracking_line}\n\
         OBS over 10 s while tracking: {} of {} frames missed for rendering lag, average frame render {:.1} ms, CPU {:.0}%",
        delta("renderSkippedFrames"),
        delta("renderTotalFrames"),
        stats_after["averageFrameRenderTime"]
            .as_f64()
            .unwrap_or(0.0),
        stats_after["cpuUsage"].as_f64().unwrap_or(0.0),
    );
    assert!(
        tracked > 3 * idle.max(1000),
        "the avatar follows the person: {tracked} pixels moved tracked vs {idle} idle"
    );
    // The latency depends on the CPU the plugin's threads get, and they yield it on purpose
    // (nice 4 and 10): two busy loops beside this test (0.84 cores between them) took p95 from
    // 1.5 to 3.2 s. The floor stays; a failure says how busy the machine was, so that a loaded
    // machine is told from a slower plugin (stepping back under load is issue 22's).
    eprintln!("other work beside OBS: {others:.2} cores");
    assert!(
        p50 > 0.0 && p95 >= p50 && p95 < 2000.0,
        "latency p50 {p50} p95 {p95} ms with {others:.2} cores of other work beside OBS: {tracking_line}"
    );
    assert!(
        log.contains("face") && (log.contains("right hand") || log.contains("left hand")),
        "the face and a hand are tracked: {tracking_line}"
    );

    // Back to no input: the tracker is let go and OBS quits cleanly.
    set_avatar(&mut obs, json!({"input_kind": "none"}));
    std::thread::sleep(Duration::from_secs(1));
    let config = obs.config_dir.clone();
    let status = obs.quit(Duration::from_secs(60)).expect("OBS quits");
    assert!(status.success(), "OBS exits with status 0: {status}");
    assert!(
        !config.join("crashes").exists()
            || std::fs::read_dir(config.join("crashes"))
                .unwrap()
                .next()
                .is_none(),
        "no crash report"
    );

    // The live avatar takes the poses `vrm-avatar run` draws offline from the same clip: the
    // live screenshot whose outline differs most from idle has an offline frame far closer.
    let dir = config.join("../../offline-frames");
    let offline = offline_frames(
        &testdata("people/video/face_and_thumbs_up.mp4"),
        &testdata("vrm/vrm0/Godette_vrm_v4.vrm"),
        &dir,
    );
    assert!(offline.len() > 100, "{} offline frames", offline.len());
    assert_eq!(
        (offline[0].width, offline[0].height),
        (tracked_shots[0].width, tracked_shots[0].height)
    );
    let idle_pose = &idle_shots[0];
    let farthest = tracked_shots
        .iter()
        .max_by_key(|s| outline_changed(idle_pose, s))
        .unwrap();
    let from_idle = outline_changed(idle_pose, farthest);
    let (closest, from_offline) = offline
        .iter()
        .enumerate()
        .map(|(i, f)| (i, outline_changed(f, farthest)))
        .min_by_key(|(_, d)| *d)
        .unwrap();
    std::fs::write(dir.join("live_farthest_from_idle.png"), &farthest.png).unwrap();
    eprintln!(
        "the live pose farthest from idle: {from_idle} pixels from idle, {from_offline} from the closest offline frame ({closest}; both in {})",
        dir.display()
    );
    assert!(
        from_offline * 3 < from_idle,
        "live and offline agree: {from_offline} pixels from the closest offline frame ({closest}), {from_idle} from idle; see {}",
        dir.display()
    );
}

#[test]
fn a_camera_that_gives_no_picture_is_named_and_obs_runs_on() {
    retry_on_known_obs_fault(
        "a_camera_that_gives_no_picture_is_named_and_obs_runs_on",
        a_camera_that_gives_no_picture_is_named_and_obs_runs_on_once,
    );
}

fn a_camera_that_gives_no_picture_is_named_and_obs_runs_on_once() {
    let (_one, mut obs) = start_with_scene("camera");
    obs.ws
        .request(
            "CreateInput",
            json!({"sceneName": SCENE, "inputName": AVATAR, "inputKind": "vrm_avatar_source",
                   "inputSettings": {"input_kind": "camera", "camera_device": "/dev/video-missing"}}),
        )
        .unwrap();
    obs.ws
        .request("SetCurrentProgramScene", json!({"sceneName": SCENE}))
        .unwrap();
    assert!(
        obs.wait_for_log(
            "no picture from the camera /dev/video-missing",
            Duration::from_secs(30)
        ),
        "the missing camera is named; log:\n{}",
        obs.log_text()
    );
    // The capture source was made on the plugin's own thread, not OBS's graphics thread.
    assert!(
        obs.log_text().contains(
            "opened the camera /dev/video-missing (v4l2_input) on the thread 'vrm-avatar-capture'"
        ),
        "the capture source is made off the graphics thread; log:\n{}",
        obs.log_text()
    );
    // The avatar idles meanwhile.
    drawn(&mut obs);
    // The camera list is offered (at least "the first camera").
    let items = obs
        .ws
        .request(
            "GetInputPropertiesListPropertyItems",
            json!({"inputName": AVATAR, "propertyName": "camera_device"}),
        )
        .unwrap();
    assert!(
        !items["propertyItems"].as_array().unwrap().is_empty(),
        "{items}"
    );
    set_avatar(&mut obs, json!({"input_kind": "none"}));
    std::thread::sleep(Duration::from_secs(1));
    let status = obs.quit(Duration::from_secs(60)).expect("OBS quits");
    assert!(status.success(), "OBS exits with status 0: {status}");
}

#[test]
fn each_expression_of_the_avatar_gets_a_hotkey() {
    retry_on_known_obs_fault(
        "each_expression_of_the_avatar_gets_a_hotkey",
        each_expression_of_the_avatar_gets_a_hotkey_once,
    );
}

fn each_expression_of_the_avatar_gets_a_hotkey_once() {
    let (_one, mut obs) = start_with_scene("hotkeys");
    obs.ws
        .request(
            "CreateInput",
            json!({"sceneName": SCENE, "inputName": AVATAR, "inputKind": "vrm_avatar_source",
                   "inputSettings": {"input_kind": "none"}}),
        )
        .unwrap();
    obs.ws
        .request("SetCurrentProgramScene", json!({"sceneName": SCENE}))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let names = loop {
        let list = obs.ws.request("GetHotkeyList", json!({})).unwrap();
        let names: Vec<String> = list["hotkeys"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|h| h.as_str().map(String::from))
            .filter(|h| h.starts_with("vrm_avatar.expression."))
            .collect();
        if !names.is_empty() || Instant::now() > deadline {
            break names;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    // The built-in avatar's expressions, among them the visemes and blink.
    for expression in ["aa", "ih", "ou", "ee", "oh", "blink"] {
        assert!(
            names.contains(&format!("vrm_avatar.expression.{expression}")),
            "{names:?}"
        );
    }
    obs.ws
        .request(
            "TriggerHotkeyByName",
            json!({"hotkeyName": "vrm_avatar.expression.aa"}),
        )
        .unwrap();
    assert!(
        obs.wait_for_log("expression aa on", Duration::from_secs(10)),
        "the hotkey switches the expression on; log:\n{}",
        obs.log_text()
    );
    let status = obs.quit(Duration::from_secs(60)).expect("OBS quits");
    assert!(status.success(), "OBS exits with status 0: {status}");
}

#[test]
fn avatars_on_one_input_share_its_tracker_and_hidden_ones_rest() {
    retry_on_known_obs_fault(
        "avatars_on_one_input_share_its_tracker_and_hidden_ones_rest",
        avatars_on_one_input_share_its_tracker_and_hidden_ones_rest_once,
    );
}

fn avatars_on_one_input_share_its_tracker_and_hidden_ones_rest_once() {
    let (_one, mut obs) = start_with_scene("shared");
    obs.add_hidden_clip(
        SCENE,
        CLIP,
        std::path::Path::new(&testdata("people/video/face_and_thumbs_up.mp4")),
    )
    .unwrap();
    let mut items = Vec::new();
    for (name, x) in [(AVATAR, 0.0), ("Second Avatar", 640.0)] {
        let created = obs
            .ws
            .request(
                "CreateInput",
                json!({"sceneName": SCENE, "inputName": name, "inputKind": "vrm_avatar_source",
                       "inputSettings": {"input_kind": "source", "input_source": CLIP,
                                         "width": 640, "height": 360}}),
            )
            .unwrap();
        let item = created["sceneItemId"].clone();
        obs.ws
            .request(
                "SetSceneItemTransform",
                json!({"sceneName": SCENE, "sceneItemId": item, "sceneItemTransform": {"positionX": x}}),
            )
            .unwrap();
        items.push(item);
    }
    obs.ws
        .request("SetCurrentProgramScene", json!({"sceneName": SCENE}))
        .unwrap();
    // Both follow the person, through one tracker: its models load once.
    assert!(
        obs.wait_for_log("camera-to-texture latency p50", Duration::from_secs(60)),
        "the avatars track the clip; log:\n{}",
        obs.log_text()
    );
    let log = obs.log_text();
    assert_eq!(
        log.matches(&format!("tracking the source '{CLIP}'"))
            .count(),
        2,
        "both sources track the clip; log:\n{log}"
    );
    assert_eq!(
        log.matches("tracking ready (").count(),
        1,
        "one tracker for both; log:\n{log}"
    );
    let pid = obs.pid().unwrap();
    let shown = plugin_cores(pid, 4.0);
    assert!(shown > 0.2, "shown, the avatars work: {shown:.2} cores");

    // Hidden in every scene: no tracking and no rendering.
    for item in &items {
        obs.ws
            .request(
                "SetSceneItemEnabled",
                json!({"sceneName": SCENE, "sceneItemId": item, "sceneItemEnabled": false}),
            )
            .unwrap();
    }
    std::thread::sleep(Duration::from_secs(2));
    let hidden = plugin_cores(pid, 4.0);
    eprintln!("plugin threads: {shown:.2} cores shown, {hidden:.3} cores hidden");
    assert!(hidden < 0.03, "hidden avatars rest: {hidden:.3} cores");

    // Shown again, they track again.
    let before = obs.log_text().len();
    for item in &items {
        obs.ws
            .request(
                "SetSceneItemEnabled",
                json!({"sceneName": SCENE, "sceneItemId": item, "sceneItemEnabled": true}),
            )
            .unwrap();
    }
    assert!(
        tracks_again(&obs, before, Duration::from_secs(30)),
        "shown again, the avatars track again"
    );
    let status = obs.quit(Duration::from_secs(60)).expect("OBS quits");
    assert!(status.success(), "OBS exits with status 0, got {status}");
}

/// Waits up to `limit` for a camera-to-texture latency line logged after byte `from` of the log.
fn tracks_again(obs: &ObsStudio, from: usize, limit: Duration) -> bool {
    obs.wait_for_log_since(from, "camera-to-texture latency p50", limit)
}

/// One OBS with the clip hidden in the program scene, ready for an avatar to track it.
fn start_with_clip(name: &str) -> (std::sync::MutexGuard<'static, ()>, ObsStudio) {
    let (one, mut obs) = start_with_scene(name);
    obs.add_hidden_clip(
        SCENE,
        CLIP,
        std::path::Path::new(&testdata("people/video/face_and_thumbs_up.mp4")),
    )
    .unwrap();
    obs.ws
        .request("SetCurrentProgramScene", json!({"sceneName": SCENE}))
        .unwrap();
    (one, obs)
}

/// Adds the avatar, tracking the clip at 640x360.
fn add_tracking_avatar(obs: &mut ObsStudio) {
    obs.ws
        .request(
            "CreateInput",
            json!({"sceneName": SCENE, "inputName": AVATAR, "inputKind": "vrm_avatar_source",
                   "inputSettings": {"input_kind": "source", "input_source": CLIP,
                                     "width": 640, "height": 360}}),
        )
        .unwrap();
}

#[test]
fn removing_and_switching_scene_collections_while_tracking_are_clean() {
    retry_on_known_obs_fault(
        "removing_and_switching_scene_collections_while_tracking_are_clean",
        removing_and_switching_scene_collections_while_tracking_are_clean_once,
    );
}

fn removing_and_switching_scene_collections_while_tracking_are_clean_once() {
    let (_one, mut obs) = start_with_clip("switching");
    // Removed while its tracker is still loading its models.
    add_tracking_avatar(&mut obs);
    std::thread::sleep(Duration::from_millis(300));
    obs.ws
        .request("RemoveInput", json!({"inputName": AVATAR}))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while obs.ws.request("GetInputList", json!({})).unwrap()["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["inputName"] == AVATAR)
    {
        assert!(Instant::now() < deadline, "the removed source goes away");
        std::thread::sleep(Duration::from_millis(250));
    }
    add_tracking_avatar(&mut obs);
    assert!(
        tracks_again(&obs, 0, Duration::from_secs(60)),
        "the avatar tracks; log:\n{}",
        obs.log_text()
    );

    // Another scene collection while it tracks, and back: the avatar comes back with its
    // settings and tracks again.
    let original =
        obs.ws.request("GetSceneCollectionList", json!({})).unwrap()["currentSceneCollectionName"]
            .as_str()
            .unwrap()
            .to_string();
    obs.ws
        .request(
            "CreateSceneCollection",
            json!({"sceneCollectionName": "Another"}),
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let before = obs.log_text().len();
    obs.ws
        .request(
            "SetCurrentSceneCollection",
            json!({"sceneCollectionName": original}),
        )
        .unwrap();
    let settings = obs
        .ws
        .request("GetInputSettings", json!({"inputName": AVATAR}))
        .unwrap()["inputSettings"]
        .clone();
    assert_eq!(settings["input_source"], CLIP, "{settings}");
    assert!(
        tracks_again(&obs, before, Duration::from_secs(60)),
        "back in its collection the avatar tracks again; log:\n{}",
        obs.log_text()
    );
    let status = obs.quit(Duration::from_secs(60)).expect("OBS quits");
    assert!(status.success(), "OBS exits with status 0, got {status}");
}

/// What a camera unplugged and plugged back does, with a clip paused and played again (the
/// tracker sees the same thing: pictures stop, then come back). The log and the status name
/// the silent input, the avatar keeps moving on its own, and tracking resumes by itself.
#[test]
fn an_input_that_falls_silent_is_named_and_tracking_resumes() {
    retry_on_known_obs_fault(
        "an_input_that_falls_silent_is_named_and_tracking_resumes",
        an_input_that_falls_silent_is_named_and_tracking_resumes_once,
    );
}

fn an_input_that_falls_silent_is_named_and_tracking_resumes_once() {
    let (_one, mut obs) = start_with_clip("silent");
    add_tracking_avatar(&mut obs);
    assert!(
        tracks_again(&obs, 0, Duration::from_secs(60)),
        "the avatar tracks; log:\n{}",
        obs.log_text()
    );
    let media = |obs: &mut ObsStudio, action: &str| {
        obs.ws
            .request(
                "TriggerMediaInputAction",
                json!({"inputName": CLIP,
                       "mediaAction": format!("OBS_WEBSOCKET_MEDIA_INPUT_ACTION_{action}")}),
            )
            .unwrap();
    };

    let before = obs.log_text().len();
    media(&mut obs, "PAUSE");
    assert!(
        obs.wait_for_log_since(
            before,
            "no frames from the source 'Clip'",
            Duration::from_secs(15)
        ),
        "the silent input is named; log:\n{}",
        obs.log_text()
    );
    // Silent, the avatar still moves on its own (idle motion eased in), so nothing hangs.
    let shots = screenshots(&mut obs, 3);
    assert!(
        movement(&shots) > 0,
        "the avatar keeps moving while its input is silent"
    );

    let before = obs.log_text().len();
    media(&mut obs, "PLAY");
    assert!(
        obs.wait_for_log(
            "the source 'Clip' gives pictures again",
            Duration::from_secs(15)
        ),
        "the input's return is logged; log:\n{}",
        obs.log_text()
    );
    assert!(
        tracks_again(&obs, before, Duration::from_secs(30)),
        "tracking resumes by itself; log:\n{}",
        obs.log_text()
    );
    // Quitting while tracking is tested elsewhere; here the clip goes first (see remove_input).
    obs.remove_input(CLIP).unwrap();
    let status = obs.quit(Duration::from_secs(60)).expect("OBS quits");
    assert!(status.success(), "OBS exits with status 0, got {status}");
}

/// A source whose frames come in a pixel format the tracker does not convert (a 4:4:4 video:
/// OBS hands it over as I444) is named once in the log, not on every frame, and OBS runs on.
#[test]
fn every_pixel_format_obs_hands_over_is_tracked() {
    retry_on_known_obs_fault(
        "every_pixel_format_obs_hands_over_is_tracked",
        every_pixel_format_obs_hands_over_is_tracked_once,
    );
}

/// libobs's name of each format OBS 29's media source hands over, and the ffmpeg pixel format
/// it hands over as that (`convert_pixel_format` in libobs's media-playback). Y800, BGR3 and
/// AYUV come only from other sources (cameras, plugins), and P010 only where the GPU has P010
/// textures (without, as here, OBS decodes it to I010): `camera` unit tests cover those four.
const MEDIA_FORMATS: [(&str, &str); 17] = [
    ("I420", "yuv420p"),
    ("NV12", "nv12"),
    ("YVYU", "yvyu422"),
    ("YUY2", "yuyv422"),
    ("UYVY", "uyvy422"),
    ("RGBA", "rgba"),
    ("BGRA", "bgra"),
    ("BGRX", "bgr0"),
    ("I444", "yuv444p"),
    ("I422", "yuv422p"),
    ("I40A", "yuva420p"),
    ("I42A", "yuva422p"),
    ("YUVA", "yuva444p"),
    ("I010", "yuv420p10le"),
    ("I210", "yuv422p10le"),
    ("I412", "yuv444p12le"),
    ("YA2L", "yuva444p12le"),
];

/// The first log line after byte `from` that contains every one of `needles`, within `limit`.
fn log_line_after(
    obs: &ObsStudio,
    from: usize,
    needles: &[&str],
    limit: Duration,
) -> Option<String> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let log = obs.log_text();
        if let Some(line) = log
            .get(from..)
            .and_then(|new| new.lines().find(|l| needles.iter().all(|n| l.contains(n))))
        {
            return Some(line.to_string());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    None
}

fn every_pixel_format_obs_hands_over_is_tracked_once() {
    let (_one, mut obs) = start_with_scene("formats");
    // Raw frames at 320x180, 15 fps, 3 seconds: what OBS decodes is exactly this format.
    let clips: Vec<(&str, std::path::PathBuf)> = MEDIA_FORMATS
        .iter()
        .map(|&(name, pix_fmt)| {
            let clip = obs.config_dir.join(format!("{pix_fmt}.nut"));
            let made = std::process::Command::new("ffmpeg")
                .args(["-y", "-v", "error", "-ss", "2", "-i"])
                .arg(testdata("people/video/face_and_thumbs_up.mp4"))
                .args(["-t", "3", "-an", "-vf", "scale=320:180", "-r", "15"])
                .args(["-pix_fmt", pix_fmt, "-c:v", "rawvideo"])
                .arg(&clip)
                .status()
                .unwrap();
            assert!(made.success(), "ffmpeg makes a {pix_fmt} clip");
            (name, clip)
        })
        .collect();
    obs.add_hidden_clip(SCENE, CLIP, &clips[0].1).unwrap();
    obs.ws
        .request("SetCurrentProgramScene", json!({"sceneName": SCENE}))
        .unwrap();
    // The first clip's format is logged once, with the first frame through the tap, which may
    // come before the loop starts (a race that failed a loaded run): looked for from here.
    let mut from = obs.log_text().len();
    add_tracking_avatar(&mut obs);
    let mut missed = Vec::new();
    for (k, (name, clip)) in clips.iter().enumerate() {
        if k > 0 {
            from = obs.log_text().len();
            obs.ws
                .request(
                    "SetInputSettings",
                    json!({"inputName": CLIP, "inputSettings": {"local_file": clip}}),
                )
                .unwrap();
        }
        let handed = format!("the source 'Clip' hands over {name} frames of 320x180");
        if log_line_after(&obs, from, &[&handed], Duration::from_secs(20)).is_none() {
            missed.push(format!("{name}: never handed over"));
            continue;
        }
        // A tracking line about frames of this format only: one logged a while after it came.
        std::thread::sleep(Duration::from_millis(1500));
        let from = obs.log_text().len();
        let line = log_line_after(
            &obs,
            from,
            &["camera-to-texture latency", "(face"],
            Duration::from_secs(15),
        );
        eprintln!("{name}: {}", line.as_deref().unwrap_or("no face tracked"));
        if line.is_none() {
            missed.push(format!("{name}: no face tracked"));
        }
    }
    let log = obs.log_text();
    assert!(!log.contains("cannot be tracked"), "log:\n{log}");
    assert!(missed.is_empty(), "{missed:?}; log:\n{log}");
    // Quitting while the clip is tracked: the plugin lets go of it before OBS clears its scenes.
    let config_dir = obs.config_dir.clone();
    let status = obs.quit(Duration::from_secs(60)).expect("OBS quits");
    let log = vrm_avatar_tools::launcher::newest_log_text(&config_dir);
    // (OBS also logs "All scene data cleared" at start, before loading its scene collection.)
    let let_go = log.find("OBS is quitting: let go of 1 tracked input(s), stopped 1 tracker(s)");
    let cleared_after = let_go.and_then(|at| log[at..].find("All scene data cleared"));
    assert!(
        cleared_after.is_some(),
        "let go before the scenes are cleared; log:\n{log}"
    );
    assert!(status.success(), "OBS exits with status 0, got {status}");
}
