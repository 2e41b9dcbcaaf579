//! The Linux packages as a user installs them: the .deb with dpkg (system-wide) and the per-user
//! tarball's install.sh, each followed by real OBS under Xvfb that is pointed at no plugin folder
//! (it must find the module and the module its models and ONNX Runtime by themselves), then
//! removal that leaves no file behind. A broken install (a model or the runtime deleted) is named
//! in the OBS log and OBS runs on.
//!
//! These tests install system-wide (they need root, as scripts/test.sh runs them). They run one
//! at a time, and a guard removes the package even when a test fails, so nothing installed here
//! meets the other test binaries (a system-wide and a per-user `obs-vrm-avatar` would clash).

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use vrm_avatar_tools::launcher::{
    LaunchOptions, ObsStudio, PluginFiles, PluginSetup, retry_on_known_obs_fault,
};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const PACKAGE: &str = "obs-vrm-avatar";
const SYSTEM_DATA: &str = "/usr/share/obs/obs-plugins/obs-vrm-avatar";
const ORT_LIB: &str = "libonnxruntime.so.1.31.1";

/// `target/<profile>/`, where cargo put the plugin module and the command line.
fn target_profile_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrm-avatar"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn checkout() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("the command starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{command:?} failed:\n{text}");
    text
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "these tests install a package system-wide: run them as root (scripts/test.sh does)"
    );
}

/// Builds a package with one of the installer scripts from this test build's outputs; returns
/// the file it names on its line `KIND: PATH (SIZE)`.
fn build_package(script: &str, kind: &str) -> PathBuf {
    let out_dir = target_profile_dir().join("packages");
    let text = run(Command::new("bash")
        .arg(checkout().join("installer").join(script))
        .args(["--no-build", "--out"])
        .arg(&out_dir)
        .env("CARGO_TARGET_DIR", target_profile_dir().parent().unwrap()));
    let path = text
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{kind}: ")))
        .and_then(|rest| rest.rsplit_once(" ("))
        .map(|(path, _)| PathBuf::from(path))
        .unwrap_or_else(|| panic!("{script} names its package as '{kind}: PATH':\n{text}"));
    assert!(path.is_file(), "{}", path.display());
    path
}

fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| build_package("build-deb.sh", "deb"))
}

fn package_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Runs dpkg, waiting up to two minutes while another package manager holds its lock (apt run
/// by someone else on the machine), and checks that it succeeds.
fn dpkg<S: AsRef<std::ffi::OsStr>>(args: &[S]) {
    let mut tries = 0;
    loop {
        let out = Command::new("dpkg").args(args).output().expect("dpkg runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return;
        }
        tries += 1;
        assert!(
            stderr.contains("lock") && tries < 60,
            "dpkg {:?} failed:\n{}{stderr}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stdout)
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The installed .deb; dropping it removes the package (also when a test fails).
struct InstalledDeb {
    files: Vec<PathBuf>,
}

impl InstalledDeb {
    fn install(deb: &Path) -> InstalledDeb {
        require_root();
        if package_installed() {
            // Left by a run that was killed before its guard ran.
            dpkg(&["-r", PACKAGE]);
        }
        let listing = run(Command::new("dpkg-deb").arg("-c").arg(deb));
        let files = listing
            .lines()
            .filter(|l| l.starts_with('-'))
            .filter_map(|l| l.split_whitespace().last())
            .map(|p| PathBuf::from(p.trim_start_matches('.')))
            .collect();
        dpkg(&["-i".as_ref(), deb.as_os_str()]);
        InstalledDeb { files }
    }

    /// `dpkg -r`, then checks that no file of the package is left.
    fn remove(self) {
        dpkg(&["-r", PACKAGE]);
        let left: Vec<&PathBuf> = self.files.iter().filter(|f| f.exists()).collect();
        assert!(left.is_empty(), "dpkg -r left {left:?}");
        for dir in [SYSTEM_DATA, "/usr/share/doc/obs-vrm-avatar"] {
            assert!(!Path::new(dir).exists(), "dpkg -r left {dir}");
        }
    }
}

impl Drop for InstalledDeb {
    fn drop(&mut self) {
        if package_installed() {
            let _ = Command::new("dpkg").args(["-r", PACKAGE]).output();
        }
    }
}

/// OBS in a throwaway HOME named `name`, with the plugin set up by `plugin`.
fn start_obs(name: &str, plugin: &PluginSetup) -> ObsStudio {
    let home = target_profile_dir().join("obs-e2e").join(name);
    // The plugin files are not used by start_with: nothing of this build is copied in.
    let unused = PluginFiles {
        module: PathBuf::new(),
        locale_dir: PathBuf::new(),
        models_dir: None,
    };
    let opts = LaunchOptions::headless_720p30(&home, unused);
    ObsStudio::start_with(&opts, plugin).expect("OBS starts and answers over obs-websocket")
}

/// The installed plugin tracks for real (not only says "ready"): the avatar of
/// [`check_obs_runs_the_plugin`] follows a clip, with only the installed models to find (the
/// module has no path of the checkout).
fn check_live_tracking(obs: &mut ObsStudio) {
    let clip = std::path::Path::new(vrm_avatar_tools::launcher::CHECKOUT)
        .join("../shared/testdata/people/video/face_and_thumbs_up.mp4");
    obs.add_hidden_clip("Avatar Scene", "Clip", &clip).unwrap();
    obs.ws
        .request(
            "SetInputSettings",
            json!({"inputName": "My Avatar",
                   "inputSettings": {"input_kind": "source", "input_source": "Clip"}}),
        )
        .unwrap();
    assert!(
        obs.wait_for_log("camera-to-texture latency p50", Duration::from_secs(90)),
        "the installed plugin tracks the clip; log:\n{}",
        obs.log_text()
    );
    // Quit without a playing clip (OBS 29 may crash on its way out with one).
    obs.ws
        .request("RemoveInput", json!({"inputName": "Clip"}))
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
}

/// The source kind is listed, a source of it works, its properties build, and the log has
/// `tracking` as the module's tracking line.
fn check_obs_runs_the_plugin(obs: &mut ObsStudio, tracking: &str) {
    let kinds = obs
        .ws
        .request("GetInputKindList", json!({"unversioned": true}))
        .unwrap();
    let kinds: Vec<&str> = kinds["inputKinds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    assert!(
        kinds.contains(&"vrm_avatar_source"),
        "vrm_avatar_source is listed: {kinds:?}\nlog:\n{}",
        obs.log_text()
    );
    let log = obs.log_text();
    let version = format!(
        "[obs-vrm-avatar] version {} loaded",
        env!("CARGO_PKG_VERSION")
    );
    assert!(log.contains(&version), "{version}\nlog:\n{log}");
    // The tracking check loads eight models first: allow a minute on a busy machine.
    assert!(
        obs.wait_for_log(tracking, Duration::from_secs(60)),
        "the log says {tracking:?}; log:\n{}",
        obs.log_text()
    );
    let log = obs.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[obs-vrm-avatar] tracking "))
        .collect();
    assert_eq!(lines.len(), 1, "one tracking line: {lines:#?}\nlog:\n{log}");
    obs.create_avatar_scene("Avatar Scene", "My Avatar", json!({}))
        .unwrap();
    // get_properties builds the status lines (OBS asks for them when a client lists properties).
    let _ = obs.ws.request(
        "GetInputPropertiesListPropertyItems",
        json!({"inputName": "My Avatar", "propertyName": "width"}),
    );
    let mut drawn = false;
    for _ in 0..60 {
        let shot = obs.screenshot("My Avatar").unwrap();
        if shot.rgba.chunks(4).any(|p| p[3] == 255) {
            drawn = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(drawn, "the source draws; log:\n{}", obs.log_text());
    assert!(
        !obs.log_text().contains("[obs-vrm-avatar] panic"),
        "no panic; log:\n{}",
        obs.log_text()
    );
}

fn quit_cleanly(obs: ObsStudio) {
    let crashes = obs.config_dir.join("crashes");
    let status = obs.quit(Duration::from_secs(60)).expect("OBS quits");
    assert!(status.success(), "OBS exits with status 0, got {status}");
    assert!(
        !crashes.exists() || std::fs::read_dir(&crashes).unwrap().next().is_none(),
        "no crash report"
    );
}

#[test]
fn the_deb_installs_where_obs_finds_it_tracks_and_removes_cleanly() {
    retry_on_known_obs_fault(
        "the_deb_installs_where_obs_finds_it_tracks_and_removes_cleanly",
        the_deb_installs_where_obs_finds_it_tracks_and_removes_cleanly_once,
    );
}

fn the_deb_installs_where_obs_finds_it_tracks_and_removes_cleanly_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let deb = deb();
    let field = |name: &str| run(Command::new("dpkg-deb").args(["-f"]).arg(deb).arg(name));
    assert_eq!(field("Version").trim(), env!("CARGO_PKG_VERSION"));
    let depends = field("Depends");
    assert!(
        depends.contains("obs-studio") && depends.contains("libc6") && depends.contains("libobs0"),
        "{depends}"
    );

    let installed = InstalledDeb::install(deb);
    for file in [
        "/usr/lib/x86_64-linux-gnu/obs-plugins/obs-vrm-avatar.so",
        "/usr/bin/vrm-avatar",
        "/usr/share/obs/obs-plugins/obs-vrm-avatar/locale/en-US.ini",
        "/usr/share/obs/obs-plugins/obs-vrm-avatar/locale/ja-JP.ini",
        "/usr/share/obs/obs-plugins/obs-vrm-avatar/models/face_landmark.onnx",
        "/usr/share/obs/obs-plugins/obs-vrm-avatar/models/libonnxruntime.so.1.31.1",
        "/usr/share/doc/obs-vrm-avatar/THIRD-PARTY-NOTICES.txt",
        "/usr/share/doc/obs-vrm-avatar/copyright",
    ] {
        assert!(
            installed.files.iter().any(|f| f == Path::new(file)),
            "the package holds {file}"
        );
    }
    // The installed module finds its files from where OBS loaded it: no path of this checkout
    // is in it (the build tree's copy has one only in its debug info, which packages drop).
    let module = std::fs::read("/usr/lib/x86_64-linux-gnu/obs-plugins/obs-vrm-avatar.so").unwrap();
    let checkout = std::fs::canonicalize(vrm_avatar_tools::launcher::CHECKOUT).unwrap();
    let checkout = checkout.to_str().unwrap().as_bytes();
    assert!(
        !module.windows(checkout.len()).any(|w| w == checkout),
        "the installed module holds no path of the checkout"
    );
    let version = run(Command::new("/usr/bin/vrm-avatar").arg("--version"));
    assert_eq!(
        version.trim(),
        format!("vrm-avatar {}", env!("CARGO_PKG_VERSION"))
    );

    let mut obs = start_obs("installer-deb", &PluginSetup::System);
    check_obs_runs_the_plugin(
        &mut obs,
        &format!(
            "[obs-vrm-avatar] tracking ready: 8 models in {SYSTEM_DATA}/models, ONNX Runtime {SYSTEM_DATA}/models/{ORT_LIB}"
        ),
    );
    check_live_tracking(&mut obs);
    quit_cleanly(obs);
    installed.remove();
}

#[test]
fn a_broken_deb_install_names_the_missing_model_or_runtime_and_obs_runs_on() {
    retry_on_known_obs_fault(
        "a_broken_deb_install_names_the_missing_model_or_runtime_and_obs_runs_on",
        a_broken_deb_install_names_the_missing_model_or_runtime_and_obs_runs_on_once,
    );
}

fn a_broken_deb_install_names_the_missing_model_or_runtime_and_obs_runs_on_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let broken = [
        (
            "pose_landmark_full.onnx",
            format!(
                "[obs-vrm-avatar] tracking unavailable: missing model pose_landmark_full.onnx in {SYSTEM_DATA}/models"
            ),
        ),
        (
            ORT_LIB,
            format!(
                "[obs-vrm-avatar] tracking unavailable: ONNX Runtime library not found in {SYSTEM_DATA}/models"
            ),
        ),
    ];
    for (file, line) in broken {
        let installed = InstalledDeb::install(deb());
        std::fs::remove_file(Path::new(SYSTEM_DATA).join("models").join(file)).unwrap();
        let mut obs = start_obs("installer-deb-broken", &PluginSetup::System);
        check_obs_runs_the_plugin(&mut obs, &line);
        assert!(obs.running(), "OBS runs on");
        quit_cleanly(obs);
        installed.remove();
    }
}

#[test]
fn the_tarball_installs_per_user_tracks_and_uninstalls_cleanly() {
    retry_on_known_obs_fault(
        "the_tarball_installs_per_user_tracks_and_uninstalls_cleanly",
        the_tarball_installs_per_user_tracks_and_uninstalls_cleanly_once,
    );
}

fn the_tarball_installs_per_user_tracks_and_uninstalls_cleanly_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tarball = build_package("build-tarball.sh", "tarball");
    let unpacked = target_profile_dir().join("installer-test/tarball");
    let _ = std::fs::remove_dir_all(&unpacked);
    std::fs::create_dir_all(&unpacked).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked));
    let top = unpacked.join(format!(
        "obs-vrm-avatar-{}-linux-x86_64",
        env!("CARGO_PKG_VERSION")
    ));
    let install = top.join("install.sh");
    for file in [
        "plugin/bin/64bit/obs-vrm-avatar.so",
        "plugin/data/locale/en-US.ini",
        "plugin/data/models/hand_recrop.onnx",
        "plugin/data/models/libonnxruntime.so.1.31.1",
        "plugin/THIRD-PARTY-NOTICES.txt",
        "vrm-avatar",
    ] {
        assert!(top.join(file).is_file(), "the tarball holds {file}");
    }

    let mut obs = start_obs("installer-tarball", &PluginSetup::PerUserScript(&install));
    let home = target_profile_dir().join("obs-e2e/installer-tarball");
    let plugin_dir = home.join(".config/obs-studio/plugins/obs-vrm-avatar");
    // Removes the per-user install even when the test fails.
    struct Uninstall<'a>(&'a Path, &'a Path);
    impl Drop for Uninstall<'_> {
        fn drop(&mut self) {
            let _ = Command::new(self.0)
                .arg("--uninstall")
                .env("HOME", self.1)
                .env_remove("XDG_CONFIG_HOME")
                .output();
        }
    }
    let _uninstall = Uninstall(&install, &home);
    check_obs_runs_the_plugin(
        &mut obs,
        &format!(
            "[obs-vrm-avatar] tracking ready: 8 models in {models}, ONNX Runtime {models}/{ORT_LIB}",
            models = plugin_dir.join("data/models").display()
        ),
    );
    check_live_tracking(&mut obs);
    quit_cleanly(obs);

    let uninstall = run(Command::new(&install)
        .arg("--uninstall")
        .env("HOME", &home)
        .env_remove("XDG_CONFIG_HOME"));
    assert!(uninstall.contains("removed"), "{uninstall}");
    assert!(!plugin_dir.exists(), "{} is gone", plugin_dir.display());
    assert!(
        !home.join(".config/obs-studio/plugins").exists(),
        "no empty plugins folder is left"
    );
}
