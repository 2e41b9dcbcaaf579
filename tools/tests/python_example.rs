//! The README's Python example (Control it remotely), run as it stands against real OBS 29 with
//! `obsws-python` from PyPI (installed once into `target/release/obsws-venv`): only its password,
//! port and two file paths are filled in. It must run to its end, list the avatar, and leave OBS
//! playing the clip and speaking the line it asked for.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use vrm_avatar_tools::launcher::python::venv_python;
use vrm_avatar_tools::launcher::{LaunchOptions, ObsStudio, PluginFiles, retry_on_known_obs_fault};

const OBSWS: &str = "obsws-python==1.8.0";

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Python with obsws-python, set up once.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        venv_python(&target_dir().join("obsws-venv"), OBSWS, "obsws_python").unwrap()
    })
}

/// The README's first Python block after "Control it remotely".
fn readme_example() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split_once("### Control it remotely")
        .expect("the README's section")
        .1;
    let code = section.split_once("```python\n").expect("a Python block").1;
    code.split_once("```").unwrap().0.to_string()
}

#[test]
fn the_readmes_python_example_drives_the_avatar() {
    retry_on_known_obs_fault(
        "the_readmes_python_example_drives_the_avatar",
        the_readmes_python_example_drives_the_avatar_once,
    );
}

fn the_readmes_python_example_drives_the_avatar_once() {
    let python = python();
    let work = target_dir().join("python-example");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let line = work.join("line1.wav");
    let spoken = Command::new("espeak-ng")
        .args(["-v", "en-us", "-w"])
        .arg(&line)
        .arg("Good evening, and welcome to the show.")
        .status()
        .expect("espeak-ng");
    assert!(spoken.success());
    let clip = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata/vrm/vrma/test.vrma")
        .canonicalize()
        .unwrap();

    let plugin = PluginFiles::with_checkout(target_dir().join("libobs_vrm_avatar.so"));
    let mut obs =
        ObsStudio::start(&LaunchOptions::headless_720p30(&work.join("obs"), plugin)).unwrap();
    assert!(
        obs.wait_for_log("control API: vendor", Duration::from_secs(30)),
        "log:\n{}",
        obs.log_text()
    );
    obs.create_avatar_scene(
        "Show",
        "Host",
        json!({"input_kind": "none", "width": 320, "height": 180}),
    )
    .unwrap();
    obs.wait_for_drawn("Host", 1, Duration::from_secs(60))
        .unwrap();

    let example = readme_example();
    for placeholder in ["port=4455", "/srv/clips/wave.vrma", "/srv/tts/line1.wav"] {
        assert!(
            example.contains(placeholder),
            "the example has {placeholder}"
        );
    }
    let script = format!(
        "PASSWORD = {:?}\n{}",
        obs.ws_password,
        example
            .replace("port=4455", &format!("port={}", obs.ws_port))
            .replace("/srv/clips/wave.vrma", &clip.display().to_string())
            .replace("/srv/tts/line1.wav", &line.display().to_string())
    );
    let script_file = work.join("example.py");
    std::fs::write(&script_file, &script).unwrap();
    let started = Instant::now();
    let out = Command::new(python).arg(&script_file).output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "the example runs: {}{printed}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("'source': 'Host'") && printed.contains("'open':"),
        "it lists the avatar and prints the mouth: {printed}"
    );
    // It asked for a clip (3 s from when the render worker takes it up): seen playing.
    let get_state = |obs: &mut ObsStudio| {
        obs.ws
            .request(
                "CallVendorRequest",
                json!({"vendorName": "obs-vrm-avatar", "requestType": "GetState",
                       "requestData": {"source": "Host"}}),
            )
            .unwrap()["responseData"]
            .clone()
    };
    loop {
        let state = get_state(&mut obs);
        if state["animation"] == clip.display().to_string().as_str() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the clip plays: {state}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Its last call let `happy` go: it fades out.
    let fading = Instant::now();
    loop {
        let state = get_state(&mut obs);
        if state["expressions"]["happy"].as_f64().unwrap_or(1.0) < 0.01 {
            break;
        }
        assert!(
            fading.elapsed() < Duration::from_secs(3),
            "happy let go: {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("the README's example printed:\n{printed}");
    obs.quit_cleanly(Duration::from_secs(60))
        .expect("OBS quits cleanly");
}
