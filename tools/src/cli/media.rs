//! Frames of an image or video file for the offline commands: images through the `image`
//! crate, videos decoded by an `ffmpeg` child process into raw RGB (ffmpeg applies the
//! video's rotation metadata, as players do).

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

/// One decoded RGB frame.
pub struct RgbFrame {
    pub index: u64,
    pub t_ms: f64,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// An image file (one frame) or a video file (its frames in order).
pub struct MediaInput {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    source: Source,
    next_index: u64,
}

enum Source {
    Image(Option<Vec<u8>>),
    Video { child: Child, stdout: ChildStdout },
}

/// Largest side accepted, against absurd inputs.
const MAX_SIDE: u32 = 8192;

impl MediaInput {
    pub fn open(path: &Path) -> Result<MediaInput> {
        Self::open_scaled(path, None)
    }

    /// Opens `path` with every frame resized (bilinear) to `size`, e.g. for benchmarks at a
    /// fixed camera resolution.
    pub fn open_scaled(path: &Path, size: Option<(u32, u32)>) -> Result<MediaInput> {
        if !path.is_file() {
            bail!("{}: no such file", path.display());
        }
        match image::ImageReader::open(path)
            .and_then(|r| r.with_guessed_format())
            .map(|r| r.format())
        {
            Ok(Some(_)) => Self::open_image(path, size),
            _ => Self::open_video(path, size),
        }
    }

    fn open_image(path: &Path, size: Option<(u32, u32)>) -> Result<MediaInput> {
        let img = image::open(path)
            .with_context(|| format!("{}: cannot decode image", path.display()))?;
        let mut rgb = img.to_rgb8();
        if let Some((w, h)) = size {
            check_size(path, w, h)?;
            rgb = image::imageops::resize(&rgb, w, h, image::imageops::FilterType::Triangle);
        }
        let (width, height) = rgb.dimensions();
        check_size(path, width, height)?;
        Ok(MediaInput {
            width,
            height,
            fps: 0.0,
            source: Source::Image(Some(rgb.into_raw())),
            next_index: 0,
        })
    }

    fn open_video(path: &Path, size: Option<(u32, u32)>) -> Result<MediaInput> {
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .arg("stream=width,height,avg_frame_rate,r_frame_rate:stream_side_data=rotation")
            .args(["-of", "json"])
            .arg(path)
            .output()
            .context("running ffprobe (apt-get install ffmpeg)")?;
        let json: Value = serde_json::from_slice(&probe.stdout).unwrap_or(Value::Null);
        let stream = &json["streams"][0];
        let (Some(mut width), Some(mut height)) =
            (stream["width"].as_u64(), stream["height"].as_u64())
        else {
            bail!(
                "{}: not an image or a video ffmpeg can read",
                path.display()
            );
        };
        let rotation = stream["side_data_list"]
            .as_array()
            .and_then(|l| l.iter().find_map(|d| d["rotation"].as_i64()))
            .unwrap_or(0);
        if rotation.rem_euclid(180) == 90 {
            std::mem::swap(&mut width, &mut height);
        }
        let (width, height) = size.unwrap_or((width as u32, height as u32));
        check_size(path, width, height)?;
        let rate = |key: &str| {
            let s = stream[key].as_str().unwrap_or("0/0");
            let (n, d) = s.split_once('/').unwrap_or((s, "1"));
            let (n, d): (f64, f64) = (n.parse().unwrap_or(0.0), d.parse().unwrap_or(0.0));
            if d > 0.0 { n / d } else { 0.0 }
        };
        let fps = [rate("avg_frame_rate"), rate("r_frame_rate"), 30.0]
            .into_iter()
            .find(|r| *r > 0.0 && r.is_finite())
            .unwrap_or(30.0);
        let mut child = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(path)
            .args(["-vf", &format!("scale={width}:{height}:flags=bilinear")])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("running ffmpeg (apt-get install ffmpeg)")?;
        let stdout = child.stdout.take().context("ffmpeg's output")?;
        Ok(MediaInput {
            width,
            height,
            fps,
            source: Source::Video { child, stdout },
            next_index: 0,
        })
    }

    /// Whether this is a still image rather than a video.
    pub fn is_still(&self) -> bool {
        matches!(self.source, Source::Image(_))
    }

    /// The next frame, `None` at the end. A truncated video ends at its last whole frame.
    pub fn next_frame(&mut self) -> Result<Option<RgbFrame>> {
        let index = self.next_index;
        let rgb = match &mut self.source {
            Source::Image(data) => match data.take() {
                Some(d) => d,
                None => return Ok(None),
            },
            Source::Video { stdout, .. } => {
                let mut buf = vec![0u8; self.width as usize * self.height as usize * 3];
                let mut filled = 0;
                while filled < buf.len() {
                    match stdout
                        .read(&mut buf[filled..])
                        .context("reading ffmpeg's output")?
                    {
                        0 => return Ok(None),
                        n => filled += n,
                    }
                }
                buf
            }
        };
        self.next_index += 1;
        let t_ms = if self.fps > 0.0 {
            index as f64 * 1000.0 / self.fps
        } else {
            0.0
        };
        Ok(Some(RgbFrame {
            index,
            t_ms,
            width: self.width,
            height: self.height,
            rgb,
        }))
    }
}

impl Drop for MediaInput {
    fn drop(&mut self) {
        if let Source::Video { child, .. } = &mut self.source {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn check_size(path: &Path, width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        bail!(
            "{}: unsupported size {width}x{height} (1 to {MAX_SIDE} pixels a side)",
            path.display()
        );
    }
    Ok(())
}
