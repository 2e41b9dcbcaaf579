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
