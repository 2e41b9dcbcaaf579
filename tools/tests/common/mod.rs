//! Helpers the end-to-end tests share (`mod common;` in a test file).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// A file of `../shared/testdata`.
pub fn testdata(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("../shared/testdata")
        .join(path)
}

/// `target/release` (or debug): where the tests' binaries are.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// An empty folder for one test's files, under the target folder.
pub fn out_dir(group: &str, name: &str) -> PathBuf {
    let dir = target_dir().join(group).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `vrm-avatar` with `args` to its end.
pub fn vrm_avatar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .args(args)
        .output()
        .unwrap()
}

/// A UDP port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Python with python-osc from PyPI (an independent OSC implementation), set up once in
/// `target/release/python-osc-venv`.
pub fn python_osc() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        vrm_avatar_tools::launcher::python::venv_python(
            &target_dir().join("python-osc-venv"),
            "python-osc==1.10.2",
            "pythonosc",
        )
        .unwrap()
    })
}

/// A script of `tools/tests/vmc/`.
pub fn vmc_script(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vmc")).join(name)
}

/// A vendor request of the plugin's control API; its response data.
pub fn vendor(
    obs: &mut vrm_avatar_tools::launcher::ObsStudio,
    kind: &str,
    data: serde_json::Value,
) -> serde_json::Value {
    let mut call = serde_json::json!({"vendorName": "obs-vrm-avatar", "requestType": kind});
    // obs-websocket refuses an empty `requestData`: a request without data leaves it out.
    if data.as_object().is_some_and(|d| !d.is_empty()) {
        call["requestData"] = data;
    }
    obs.ws
        .request("CallVendorRequest", call)
        .unwrap_or_else(|e| panic!("{kind}: {e:#}"))["responseData"]
        .clone()
}

/// `GetState` of the avatar `source`, its pose parsed.
pub fn state(
    obs: &mut vrm_avatar_tools::launcher::ObsStudio,
    source: &str,
) -> (serde_json::Value, obs_vrm_avatar::pose::AvatarPose) {
    let state = vendor(obs, "GetState", serde_json::json!({"source": source}));
    assert_eq!(state["ok"], true, "{state}");
    let pose = serde_json::from_str(state["pose"].as_str().unwrap()).unwrap();
    (state, pose)
}

/// The pixels drawn (alpha over half) of RGBA bytes.
pub fn drawn(rgba: &[u8]) -> Vec<bool> {
    rgba.chunks(4).map(|p| p[3] > 128).collect()
}

/// Intersection over union of two silhouettes.
pub fn iou(a: &[bool], b: &[bool]) -> f64 {
    assert_eq!(a.len(), b.len());
    let both = a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    let either = a.iter().zip(b).filter(|(x, y)| **x || **y).count();
    both as f64 / either.max(1) as f64
}

/// The RGBA pixels of a PNG file.
pub fn png_rgba(path: &Path) -> (u32, u32, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// Pixels of the built-in avatar's blue irises: blue, in the top third of the frame (the
/// collar, also blue, is lower). `happy` shuts the eyes.
pub fn eye_blue(shot: &vrm_avatar_tools::launcher::Screenshot) -> usize {
    (0..shot.height * 35 / 100)
        .flat_map(|y| (0..shot.width).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let [r, g, b, a] = shot.pixel(x, y);
            a > 200 && b > 150 && r < 130 && g < 190 && b > g + 30
        })
        .count()
}
