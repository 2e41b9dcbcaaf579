//! `vrm-avatar inspect` and `vrm-avatar render` (CONTRACTS.md): what a VRM holds, and one frame
//! of it drawn to an RGBA PNG with the same renderer and framing as the OBS source.

use anyhow::{Context, Result, bail};
use glam::Vec3;
use obs_vrm_avatar::pose::AvatarPoseFile;
use obs_vrm_avatar::render::avatar::AvatarScene;
use obs_vrm_avatar::render::avatar::camera::{Camera, Framing};
use obs_vrm_avatar::render::{Gpu, OffscreenRenderer};
use obs_vrm_avatar::vrm::VrmModel;
use std::path::{Path, PathBuf};

/// The avatar file, or the built-in default when `None` (the loader's errors name the file).
fn load_model(file: Option<&Path>) -> Result<VrmModel> {
    Ok(obs_vrm_avatar::default_avatar::load_avatar(file)?)
}

pub fn inspect(file: &Path) -> Result<()> {
    use std::io::Write;
    let model = load_model(Some(file))?;
    let text = serde_json::to_string_pretty(&obs_vrm_avatar::vrm::inspect_json(&model))?;
    match writeln!(std::io::stdout(), "{text}") {
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

pub struct RenderOptions {
    pub file: Option<PathBuf>,
    pub out: PathBuf,
    pub pose: Option<PathBuf>,
    pub frame: usize,
    pub animation: Option<PathBuf>,
    pub time: f32,
    pub expressions: Vec<(String, f32)>,
    pub width: u32,
    pub height: u32,
    pub eye: Option<Vec3>,
    pub target: Option<Vec3>,
    pub fov_deg: f32,
    pub full_body: bool,
    pub settle_frames: u32,
}

pub fn render(opts: &RenderOptions) -> Result<()> {
    if !(1..=obs_vrm_avatar::settings::MAX_SIZE).contains(&opts.width)
        || !(1..=obs_vrm_avatar::settings::MAX_SIZE).contains(&opts.height)
    {
        bail!(
            "--width and --height must be 1..={}",
            obs_vrm_avatar::settings::MAX_SIZE
        );
    }
    let model = load_model(opts.file.as_deref())?;
    let mut pose = match &opts.pose {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let mut file: AvatarPoseFile = serde_json::from_str(&text)
                .with_context(|| format!("{}: not AvatarPose JSON", path.display()))?;
            if opts.frame >= file.frames.len() {
                bail!(
                    "{}: --frame {} but the file has {} frames",
                    path.display(),
                    opts.frame,
                    file.frames.len()
                );
            }
            file.frames.swap_remove(opts.frame)
        }
        None => Default::default(),
    };
    if let Some(path) = &opts.animation {
        let clip = obs_vrm_avatar::vrm::animation::load_animation_file(path)
            .with_context(|| format!("--animation {}", path.display()))?;
        if !opts.time.is_finite() || opts.time < 0.0 {
            bail!("--time must be 0 or more seconds");
        }
        let hips = obs_vrm_avatar::vrm::animation::rest_hips_height(&model);
        pose = clip.sample(opts.time, hips);
    }
    for (name, weight) in &opts.expressions {
        pose.expressions.insert(name.clone(), *weight);
    }
    let gpu = Gpu::new()?;
    let mut renderer = OffscreenRenderer::new(gpu, opts.width, opts.height);
    let mut scene = AvatarScene::new(
        &renderer.gpu().device,
        &renderer.gpu().queue,
        model,
        renderer.samples(),
    );
    scene.pose = pose;
    scene.fov_y_deg = opts.fov_deg;
    scene.framing = if opts.full_body {
        Framing::FullBody
    } else {
        Framing::UpperBody
    };
    if opts.eye.is_some() || opts.target.is_some() {
        let framed = scene.current_camera(opts.width as f32 / opts.height as f32);
        scene.camera = Some(Camera {
            eye: opts.eye.unwrap_or(framed.eye),
            target: opts.target.unwrap_or(framed.target),
            fov_y_deg: opts.fov_deg,
        });
    }
    scene.settle(opts.settle_frames);
    let frame = renderer.render_blocking(&mut scene, 0.0);
    let file = std::fs::File::create(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), frame.width, frame.height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_source_srgb(png::SrgbRenderingIntent::Perceptual);
    encoder
        .write_header()?
        .write_image_data(&unpremultiply(frame.tight_pixels()))?;
    Ok(())
}

/// PNG holds straight alpha; the renderer's output is premultiplied (in encoded sRGB terms, which
/// is what OBS and image viewers composite with).
pub(super) fn unpremultiply(mut pixels: Vec<u8>) -> Vec<u8> {
    for p in pixels.chunks_exact_mut(4) {
        let a = p[3] as u32;
        if a != 0 && a != 255 {
            for c in &mut p[..3] {
                *c = ((*c as u32 * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
    pixels
}

/// `X,Y,Z` as a vector.
pub fn parse_vec3(text: &str) -> Result<Vec3, String> {
    let parts: Vec<f32> = text
        .split(',')
        .map(|p| p.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{text:?} is not X,Y,Z"))?;
    match parts[..] {
        [x, y, z] if x.is_finite() && y.is_finite() && z.is_finite() => Ok(Vec3::new(x, y, z)),
        _ => Err(format!("{text:?} is not X,Y,Z")),
    }
}

/// `NAME=WEIGHT` for `--expression`.
pub fn parse_expression(text: &str) -> Result<(String, f32), String> {
    let (name, weight) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=WEIGHT"))?;
    let weight: f32 = weight
        .trim()
        .parse()
        .ok()
        .filter(|w: &f32| w.is_finite())
        .ok_or_else(|| format!("{text:?}: the weight is not a number"))?;
    Ok((name.trim().to_string(), weight))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse_or_say_why_not() {
        assert_eq!(parse_vec3("0, 1.4,2").unwrap(), Vec3::new(0.0, 1.4, 2.0));
        assert!(parse_vec3("1,2").is_err() && parse_vec3("a,b,c").is_err());
        assert_eq!(parse_expression("aa=0.5").unwrap(), ("aa".into(), 0.5));
        assert!(parse_expression("aa").is_err() && parse_expression("aa=x").is_err());
    }

    #[test]
    fn unpremultiply_restores_straight_color() {
        assert_eq!(unpremultiply(vec![64, 32, 0, 128]), vec![128, 64, 0, 128]);
        assert_eq!(unpremultiply(vec![0, 0, 0, 0]), vec![0, 0, 0, 0]);
    }
}
