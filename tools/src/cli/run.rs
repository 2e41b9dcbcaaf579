//! `vrm-avatar run`: the whole pipeline offline, as the OBS source runs it (tracker, solver with
//! the source's defaults, renderer with its upper-body framing), every frame of a video drawn
//! to PNG files in a folder, or encoded to an MP4 by ffmpeg (over black: MP4 has no alpha).

use super::media::MediaInput;
use anyhow::{Context, Result, anyhow, bail};
use obs_vrm_avatar::render::avatar::AvatarScene;
use obs_vrm_avatar::render::{Gpu, OffscreenRenderer};
use obs_vrm_avatar::solver::Solver;
use obs_vrm_avatar::tracking::holistic::{Tracker, TrackingMode};
use obs_vrm_avatar::tracking::image::ImageView;
use obs_vrm_avatar::tracking::runtime::ModelPaths;
use obs_vrm_avatar::vrm::NormalizedRig;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(clap::Args)]
pub struct RunArgs {
    /// A video (or image) of a person.
    input: PathBuf,
    /// The avatar (omit with --default).
    #[arg(long, required_unless_present = "default")]
    vrm: Option<PathBuf>,
    /// The built-in avatar.
    #[arg(long, conflicts_with = "vrm")]
    default: bool,
    /// OUT.mp4, or a folder for frame_00000.png ...
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    solver: super::solve::SolverArgs,
    #[arg(long, default_value = "upper_body_hands")]
    mode: String,
    #[arg(long, default_value_t = 1280)]
    width: u32,
    #[arg(long, default_value_t = 720)]
    height: u32,
    #[arg(long)]
    max_frames: Option<u64>,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let mode = TrackingMode::parse(&args.mode)
        .ok_or_else(|| anyhow!("--mode {}: not a tracking mode", args.mode))?;
    let settings = args.solver.settings()?;
    if !(16..=obs_vrm_avatar::settings::MAX_SIZE).contains(&args.width)
        || !(16..=obs_vrm_avatar::settings::MAX_SIZE).contains(&args.height)
    {
        bail!(
            "--width and --height must be 16..={}",
            obs_vrm_avatar::settings::MAX_SIZE
        );
    }
    let mut input = MediaInput::open(&args.input)?;
    let paths = ModelPaths::locate(None)?;
    let mut tracker = Tracker::new(&paths, mode, 1, false)?;
    let model = obs_vrm_avatar::default_avatar::load_avatar(args.vrm.as_deref())?;
    let rig = model
        .humanoid
        .as_ref()
        .map(|h| NormalizedRig::new(&model.nodes, h))
        .context("the avatar has no humanoid")?;
    let mut solver = Solver::new(&rig, settings);
    let mut renderer = OffscreenRenderer::new(Gpu::new()?, args.width, args.height);
    let mut scene = AvatarScene::new(
        &renderer.gpu().device,
        &renderer.gpu().queue,
        model,
        renderer.samples(),
    );
    let mut sink = Sink::open(&args.out, args.width, args.height, input.fps)?;
    let mut count = 0u64;
    while args.max_frames.is_none_or(|m| count < m) {
        let Some(frame) = input.next_frame()? else {
            break;
        };
        let view = ImageView::rgb(frame.width, frame.height, &frame.rgb)?;
        let landmarks = tracker
            .track(&view, frame.index, frame.t_ms)
            .with_context(|| format!("frame {}", frame.index))?;
        scene.pose = solver.solve(&landmarks, frame.width, frame.height);
        let rendered = renderer.render_blocking(&mut scene, (frame.t_ms / 1000.0) as f32);
        sink.write(count, &rendered.tight_pixels())?;
        count += 1;
    }
    sink.finish()?;
    eprintln!("drew {count} frames into {}", args.out.display());
    Ok(())
}

/// Where frames go: PNG files in a folder, or ffmpeg encoding an MP4.
enum Sink {
    Folder(PathBuf, u32, u32),
    Ffmpeg(std::process::Child),
}

impl Sink {
    fn open(out: &std::path::Path, width: u32, height: u32, fps: f64) -> Result<Sink> {
        if out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mp4"))
        {
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let child = Command::new("ffmpeg")
                .args([
                    "-loglevel",
                    "error",
                    "-y",
                    "-f",
                    "rawvideo",
                    "-pix_fmt",
                    "rgba",
                ])
                .args([
                    "-s",
                    &format!("{width}x{height}"),
                    "-r",
                    &format!("{:.3}", fps.max(1.0)),
                ])
                .args(["-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
                .arg(out)
                .stdin(Stdio::piped())
                .spawn()
                .context("starting ffmpeg (apt-get install ffmpeg)")?;
            Ok(Sink::Ffmpeg(child))
        } else {
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            Ok(Sink::Folder(out.to_path_buf(), width, height))
        }
    }

    /// `rgba`: premultiplied, so over black it is already the composited colour.
    fn write(&mut self, index: u64, rgba: &[u8]) -> Result<()> {
        match self {
            Sink::Folder(dir, width, height) => {
                let path = dir.join(format!("frame_{index:05}.png"));
                let file = std::fs::File::create(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), *width, *height);
                encoder.set_color(png::ColorType::Rgba);
                encoder
                    .write_header()?
                    .write_image_data(&super::render::unpremultiply(rgba.to_vec()))?;
                Ok(())
            }
            Sink::Ffmpeg(child) => child
                .stdin
                .as_mut()
                .context("ffmpeg's input")?
                .write_all(rgba)
                .context("ffmpeg stopped taking frames"),
        }
    }

    fn finish(self) -> Result<()> {
        if let Sink::Ffmpeg(mut child) = self {
            drop(child.stdin.take());
            let status = child.wait()?;
            if !status.success() {
                bail!("ffmpeg failed ({status})");
            }
        }
        Ok(())
    }
}
