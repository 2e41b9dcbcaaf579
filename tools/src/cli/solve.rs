//! `vrm-avatar solve`: Landmarks JSON to AvatarPose JSON with the solver and defaults the OBS
//! source uses (mirroring is the explicit `--mirror` of CONTRACTS.md).

use anyhow::{Context, Result, bail};
use obs_vrm_avatar::landmarks::LandmarksFile;
use obs_vrm_avatar::pose::AvatarPoseFile;
use obs_vrm_avatar::solver::{Solver, SolverSettings};
use obs_vrm_avatar::vrm::NormalizedRig;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SolveArgs {
    /// Landmarks JSON from `vrm-avatar track`.
    landmarks: PathBuf,
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    solver: SolverArgs,
    /// The avatar whose hands the fingers are solved for (default: the built-in avatar).
    #[arg(long)]
    vrm: Option<PathBuf>,
}

/// The solver's options, as the OBS source's settings have them.
#[derive(clap::Args)]
pub struct SolverArgs {
    /// The avatar mirrors the person (their right hand moves the avatar's left).
    #[arg(long)]
    mirror: bool,
    /// 0 = raw, 1 = steadiest (the OBS source's "Smoothing").
    #[arg(long, default_value_t = SolverSettings::default().smoothing)]
    smoothing: f32,
}

impl SolverArgs {
    /// The settings, or an error for a smoothing outside 0..1.
    pub fn settings(&self) -> Result<SolverSettings> {
        if !(0.0..=1.0).contains(&self.smoothing) {
            bail!("--smoothing {}: expected 0 to 1", self.smoothing);
        }
        Ok(SolverSettings {
            mirror: self.mirror,
            smoothing: self.smoothing,
            ..SolverSettings::default()
        })
    }
}

pub fn run(args: &SolveArgs) -> Result<()> {
    let settings = args.solver.settings()?;
    let text = std::fs::read_to_string(&args.landmarks)
        .with_context(|| format!("reading {}", args.landmarks.display()))?;
    let landmarks: LandmarksFile = serde_json::from_str(&text)
        .with_context(|| format!("{}: not Landmarks JSON", args.landmarks.display()))?;
    let rig = rig(args.vrm.as_ref())?;
    let mut solver = Solver::new(&rig, settings);
    let frames = landmarks
        .frames
        .iter()
        .map(|frame| solver.solve(frame, landmarks.width, landmarks.height))
        .collect();
    let json = serde_json::to_string(&AvatarPoseFile { frames })?;
    std::fs::write(&args.out, json).with_context(|| format!("writing {}", args.out.display()))?;
    Ok(())
}

fn rig(vrm: Option<&PathBuf>) -> Result<NormalizedRig> {
    let model = obs_vrm_avatar::default_avatar::load_avatar(vrm.map(PathBuf::as_path))?;
    let humanoid = model
        .humanoid
        .as_ref()
        .context("the avatar has no humanoid")?;
    Ok(NormalizedRig::new(&model.nodes, humanoid))
}
