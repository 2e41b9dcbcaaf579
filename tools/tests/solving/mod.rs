//! What the solver's end-to-end tests share: the `vrm-avatar` program, a folder for their
//! files, and the library's solver run over landmarks as the OBS source runs it (a module of
//! those tests, not a test of its own).

use obs_vrm_avatar::landmarks::LandmarksFile;
use obs_vrm_avatar::pose::AvatarPose;
use obs_vrm_avatar::solver::{Solver, SolverSettings};
use obs_vrm_avatar::vrm::NormalizedRig;
use std::path::PathBuf;
use std::process::Command;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
}

/// `name` beside the program, created.
pub fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_vrm-avatar"))
        .parent()
        .unwrap()
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The built-in avatar's rig.
pub fn rig() -> NormalizedRig {
    let model = obs_vrm_avatar::default_avatar::load_avatar(None).unwrap();
    NormalizedRig::new(&model.nodes, model.humanoid.as_ref().unwrap())
}

/// Every frame solved in order by one solver with the source's other defaults.
pub fn solve(landmarks: &LandmarksFile, mirror: bool, smoothing: f32) -> Vec<AvatarPose> {
    let settings = SolverSettings {
        mirror,
        smoothing,
        ..SolverSettings::default()
    };
    let mut solver = Solver::new(&rig(), settings);
    landmarks
        .frames
        .iter()
        .map(|f| solver.solve(f, landmarks.width, landmarks.height))
        .collect()
}
