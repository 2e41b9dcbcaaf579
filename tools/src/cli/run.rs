//! `vrm-avatar run`: the whole pipeline offline, as the OBS source runs it (tracker, solver with
//! the source's defaults, the source's motion mixer, renderer with its upper-body framing),
//! every frame of a video drawn to PNG files in a folder, or encoded to an MP4 by ffmpeg (over
//! black: MP4 has no alpha). With `--audio` the voice moves the mouth as the source's `mouth` =
//! `auto` does, and the MP4 carries the sound.

use super::media::MediaInput;
use anyhow::{Context, Result, anyhow, bail};
use obs_vrm_avatar::motion::{CLIP_FADE_MS, ClipPlayer, Mixer, Offers};
use obs_vrm_avatar::pose::AvatarPose;
use obs_vrm_avatar::render::avatar::AvatarScene;
use obs_vrm_avatar::render::{Gpu, OffscreenRenderer};
use obs_vrm_avatar::settings::MouthMode;
use obs_vrm_avatar::solver::{IdleMotion, Solver};
use obs_vrm_avatar::tracking::holistic::{Tracker, TrackingMode};
use obs_vrm_avatar::tracking::image::ImageView;
use obs_vrm_avatar::tracking::runtime::ModelPaths;
use obs_vrm_avatar::voice::{Activity, HOP_MS, LipSync, Mouth, Voice};
use obs_vrm_avatar::vrm::NormalizedRig;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

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
    /// A voice (WAV, any audio file, or a video's sound) that moves the mouth while it is
    /// heard, from the first frame on. An MP4 output carries this sound (cut or padded with
    /// silence to the video's length); a folder of PNGs gets the mouth but no sound. INPUT's
    /// own sound is not used unless named here.
    #[arg(long)]
    audio: Option<PathBuf>,
    /// A VRM Animation clip (.vrma) played from the first frame through the source's mixer:
    /// what it has tracks for moves over the camera, then it fades back to the camera.
    #[arg(long)]
    animation: Option<PathBuf>,
    /// Loop --animation.
    #[arg(long = "loop", requires = "animation")]
    looping: bool,
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
    // Decoded first: a bad file fails before anything is tracked or written.
    let voice = match &args.audio {
        Some(path) => {
            let samples = super::lipsync::decode(path).context("--audio")?;
            Some(VoiceTrack::new(LipSync::analyse(
                super::lipsync::RATE,
                &samples,
            )))
        }
        None => None,
    };
    let clip = match &args.animation {
        Some(path) => Some(
            obs_vrm_avatar::vrm::animation::load_animation_file(path)
                .with_context(|| format!("--animation {}", path.display()))?,
        ),
        None => None,
    };
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
    let mut sink = Sink::open(
        &args.out,
        args.width,
        args.height,
        input.fps,
        args.audio.as_deref(),
    )?;
    let hips_height = obs_vrm_avatar::vrm::animation::rest_hips_height(scene.renderer.model());
    let clip = clip.map(|clip| {
        let file = args.animation.as_deref().unwrap_or(Path::new("")).display();
        ClipPlayer::new(
            Arc::new(clip),
            file.to_string(),
            args.looping,
            CLIP_FADE_MS,
            0.0,
        )
    });
    let mut mixing = Mixing::new(voice, clip, hips_height);
    let mut count = 0u64;
    while args.max_frames.is_none_or(|m| count < m) {
        let Some(frame) = input.next_frame()? else {
            break;
        };
        let view = ImageView::rgb(frame.width, frame.height, &frame.rgb)?;
        let landmarks = tracker
            .track(&view, frame.index, frame.t_ms)
            .with_context(|| format!("frame {}", frame.index))?;
        let camera = solver.solve(&landmarks, frame.width, frame.height);
        scene.pose = mixing.pose(camera, frame.t_ms);
        let rendered = renderer.render_blocking(&mut scene, (frame.t_ms / 1000.0) as f32);
        sink.write(count, &rendered.tight_pixels())?;
        count += 1;
    }
    sink.finish()?;
    eprintln!("drew {count} frames into {}", args.out.display());
    Ok(())
}

/// Each frame's pose, mixed as the OBS source's render worker mixes it: idle life under the
/// camera, and the voice on the mouth while it is heard (`mouth` = `auto`).
struct Mixing {
    idle: IdleMotion,
    mixer: Mixer,
    voice: Option<VoiceTrack>,
    clip: Option<ClipPlayer>,
    hips_height: Option<f32>,
    settled: bool,
}

/// How long the mixer settles on the first frame (longer than any of its hand-overs), and in
/// how many steps (each shorter than the longest it takes at once, 100 ms).
const SETTLE_MS: f64 = 1000.0;
const SETTLE_STEPS: u32 = 20;

impl Mixing {
    fn new(
        voice: Option<VoiceTrack>,
        clip: Option<ClipPlayer>,
        hips_height: Option<f32>,
    ) -> Mixing {
        Mixing {
            idle: IdleMotion::new(0x5eed),
            mixer: Mixer::default(),
            voice,
            clip,
            hips_height,
            settled: false,
        }
    }

    /// The pose to draw at `t_ms` (increasing between calls) for the solved `camera` pose.
    fn pose(&mut self, camera: AvatarPose, t_ms: f64) -> AvatarPose {
        let offers = Offers {
            idle: self.idle.pose((t_ms / 1000.0) as f32),
            camera: Some(camera),
            vmc: None,
            clip: self.clip.as_ref().and_then(|c| {
                let pose = c.pose(t_ms, self.hips_height)?;
                Some((pose, c.fade_ms()))
            }),
            voice: self.voice.as_mut().map(|v| v.at(t_ms)),
            chosen: None,
            mouth: MouthMode::Auto,
        };
        if !self.settled {
            // The recording is tracked from its first frame: the mixer settles on that frame's
            // offers first, so it is drawn as tracked (a still image is nothing else) rather
            // than fading in from idle as the live source does when its camera starts.
            self.settled = true;
            for step in (1..=SETTLE_STEPS).rev() {
                let before_ms = t_ms - SETTLE_MS * step as f64 / SETTLE_STEPS as f64;
                offers.clone().mix(&mut self.mixer, before_ms);
            }
        }
        offers.mix(&mut self.mixer, t_ms)
    }
}

/// A recording's mouth frames, heard at the video's frame times as the live source hears its
/// voice: each frame once and in order (so [`Activity`]'s hold matches the source's), and after
/// the recording as if it went on in silence.
struct VoiceTrack {
    frames: Vec<Mouth>,
    activity: Activity,
    /// How many frames `activity` has heard.
    heard: usize,
}

impl VoiceTrack {
    fn new(frames: Vec<Mouth>) -> VoiceTrack {
        VoiceTrack {
            frames,
            activity: Activity::default(),
            heard: 0,
        }
    }

    /// The voice at `t_ms` (not earlier than the last call's): the last frame that ended at or
    /// before it (frame k ends at (k + 1) hops); shut before the first one ends and from a hop
    /// after the last one.
    fn at(&mut self, t_ms: f64) -> Voice {
        let ended = (t_ms.max(0.0) / HOP_MS as f64).floor() as usize;
        while self.heard < ended.min(self.frames.len()) {
            let end_ms = ((self.heard + 1) * HOP_MS as usize) as f64;
            self.activity.update(&self.frames[self.heard], end_ms);
            self.heard += 1;
        }
        let mouth = match ended {
            0 => Mouth::default(),
            k => self.frames.get(k - 1).copied().unwrap_or_default(),
        };
        Voice {
            mouth,
            speaking: self.activity.speaking(t_ms),
        }
    }
}

/// Where frames go: PNG files in a folder, or ffmpeg encoding an MP4.
enum Sink {
    Folder(PathBuf, u32, u32),
    Ffmpeg(std::process::Child),
}

impl Sink {
    /// `audio`: the sound an MP4 carries (a folder of PNGs has none).
    fn open(out: &Path, width: u32, height: u32, fps: f64, audio: Option<&Path>) -> Result<Sink> {
        if out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mp4"))
        {
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let mut ffmpeg = Command::new("ffmpeg");
            ffmpeg
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
                .args(["-i", "-"]);
            if let Some(audio) = audio {
                // The video's length rules: the sound is padded with silence (`apad`) and
                // `-shortest` ends it with the last frame, so a longer recording is cut and a
                // shorter one is followed by silence.
                ffmpeg.arg("-i").arg(audio).args([
                    "-map",
                    "0:v:0",
                    "-map",
                    "1:a:0",
                    "-c:a",
                    "aac",
                    "-af",
                    "apad",
                    "-shortest",
                ]);
            }
            let child = ffmpeg
                .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mouth(oh: f32) -> Mouth {
        Mouth {
            open: oh,
            oh,
            ..Mouth::default()
        }
    }

    #[test]
    fn a_video_frame_hears_the_last_mouth_frame_that_ended() {
        // Frames end at 10, 20, 30, 40 and 50 ms; only the third is loud enough to be heard.
        let (quiet, loud) = (mouth(0.05), mouth(0.8));
        let mut track = VoiceTrack::new(vec![mouth(0.01), mouth(0.02), loud, quiet, quiet]);
        assert_eq!(track.at(0.0), Voice::default(), "shut before a frame ended");
        assert_eq!(track.at(9.9).mouth, Mouth::default());
        assert_eq!(track.at(10.0).mouth, mouth(0.01));
        assert_eq!(track.at(29.9).mouth, mouth(0.02));
        assert!(!track.at(29.9).speaking);
        // A video frame between hops skips none: the loud frame (ends at 30) is heard at 45.
        assert_eq!(
            track.at(45.0),
            Voice {
                mouth: quiet,
                speaking: true
            }
        );
        assert_eq!(
            track.at(59.9).mouth,
            quiet,
            "the last frame until a hop after its end"
        );
        // After the recording: shut, and heard for Activity's hold after the loud frame.
        assert_eq!(
            track.at(60.0),
            Voice {
                mouth: Mouth::default(),
                speaking: true
            }
        );
        assert!(track.at(629.9).speaking);
        assert!(!track.at(630.0).speaking);
    }

    /// The mouth of the poses mixed at 25 frames a second, camera mouth open `aa` 0.6.
    fn mouths(voice: Option<VoiceTrack>, frames: u32) -> Vec<Mouth> {
        let mut camera = AvatarPose::default();
        camera.expressions.insert("aa".into(), 0.6);
        let mut mixing = Mixing::new(voice, None, None);
        (0..frames)
            .map(|i| {
                let pose = mixing.pose(camera.clone(), i as f64 * 40.0);
                obs_vrm_avatar::motion::mouth_of(&pose)
            })
            .collect()
    }

    fn near(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn the_voice_moves_the_mouth_while_heard_then_hands_it_back() {
        // Half a second of an open `oh`, then the recording ends.
        let voice = VoiceTrack::new(vec![mouth(0.8); 50]);
        let with = mouths(Some(voice), 50);
        let without = mouths(None, 50);
        // 0.4 s: the voice's mouth, not the camera's.
        assert!(
            near(with[10].oh, 0.8) && near(with[10].aa, 0.0),
            "{:?}",
            with[10]
        );
        // 0.8 s: the recording ended but the hold lasts: the voice keeps the mouth, shut.
        assert!(near(with[20].open, 0.0), "{:?}", with[20]);
        // 1.6 s: the voice is not heard; the camera has the mouth again.
        assert!(
            near(with[40].aa, 0.6) && near(with[40].oh, 0.0),
            "{:?}",
            with[40]
        );
        // Without --audio the camera's mouth all along, from the first frame.
        assert!(without.iter().all(|m| near(m.aa, 0.6) && near(m.oh, 0.0)));
        // The first frame is already the camera's (a still image is nothing else).
        assert!(near(with[0].aa, 0.6), "{:?}", with[0]);
    }
}
