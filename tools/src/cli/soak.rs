//! `vrm-avatar soak`: hours of live tracking in real OBS (under Xvfb), as a streamer would run
//! it, watched from outside: whether OBS crashes (with the threads' backtraces from its core
//! file), how its resident memory grows after the warm-up, how many frames it misses, and
//! whether it then quits cleanly. Extra environment (`--env`) runs the same soak with glibc's
//! malloc checking, AddressSanitizer or a part of the plugin switched off, for bisecting.

use super::bench_obs::LiveSetup;
use super::valgrind;
use crate::launcher::ObsStudio;
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

pub struct SoakOptions {
    pub live: LiveSetup,
    pub out: PathBuf,
    /// The avatar (None: the built-in one).
    pub vrm: Option<PathBuf>,
    pub minutes: f64,
    /// Seconds between samples of memory and OBS's frame counters.
    pub sample_seconds: u64,
    /// Memory growth is counted from here on (models, caches and the GPU device settle first).
    pub warm_up: Duration,
    /// Extra environment for OBS (`KEY=VALUE`).
    pub env: Vec<(String, String)>,
    /// OBS under Valgrind's memcheck (its errors summed up in the report).
    pub valgrind: bool,
}

const SCENE: &str = "Soak";
const SOURCE: &str = "VRM Avatar";
const CLIP: &str = "Tracking clip";

/// One sample of OBS while it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub seconds: f64,
    pub rss_mb: f64,
    pub missed_frames: i64,
    pub rendered_frames: i64,
}

/// Runs the soak; the report is also written to `out/soak.json` (after every sample, so a
/// killed run leaves what it saw). Err only when the soak could not be set up.
pub fn run(opts: &SoakOptions) -> Result<Value> {
    let input = opts.live.checked_input()?;
    if !opts.minutes.is_finite() || opts.minutes <= 0.0 {
        bail!("--minutes must be a number above 0");
    }
    let vrm = match &opts.vrm {
        Some(path) => Some(
            path.canonicalize()
                .with_context(|| format!("--vrm {}", path.display()))?,
        ),
        None => None,
    };
    std::fs::create_dir_all(&opts.out)?;
    let out = opts.out.canonicalize()?;
    let mut launch = opts.live.launch(&out.join("obs"), opts.env.clone());
    if opts.valgrind {
        for entry in std::fs::read_dir(&out)?.flatten() {
            if entry.file_name().to_string_lossy().starts_with("valgrind.") {
                std::fs::remove_file(entry.path())?;
            }
        }
        launch.wrapper = valgrind::wrapper(&out);
    }
    let mut obs = ObsStudio::start(&launch)?;
    obs.ws.request("CreateScene", json!({"sceneName": SCENE}))?;
    obs.add_hidden_clip(SCENE, CLIP, &input)?;
    let mut settings = opts.live.avatar_settings(CLIP);
    if let Some(vrm) = &vrm {
        settings["vrm_path"] = json!(vrm.display().to_string());
    }
    obs.ws.request(
        "CreateInput",
        json!({"sceneName": SCENE, "inputName": SOURCE, "inputKind": "vrm_avatar_source",
               "inputSettings": settings}),
    )?;
    obs.ws
        .request("SetCurrentProgramScene", json!({"sceneName": SCENE}))?;
    let pid = obs.pid().context("OBS is running")?;

    let config = json!({
        "input": input.display().to_string(),
        "vrm": vrm.as_ref().map(|p| p.display().to_string()),
        "minutes": opts.minutes,
        "warm_up_s": opts.warm_up.as_secs(),
        "tracking_mode": opts.live.mode,
        "size": [opts.live.size.0, opts.live.size.1],
        "preview": opts.live.preview,
        "env": opts.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "valgrind": opts.valgrind,
        "machine": super::bench_obs::machine(),
    });
    let started = Instant::now();
    let length = Duration::from_secs_f64(opts.minutes * 60.0);
    let mut samples: Vec<Sample> = Vec::new();
    let mut crash: Option<Value> = None;
    let mut drivers = std::collections::BTreeSet::new();
    let report_file = out.join("soak.json");
    let memcheck = |report: Value| {
        if opts.valgrind {
            with_memcheck(report, &out.join(format!("valgrind.{pid}.log")))
        } else {
            report
        }
    };
    let mut next_sample = started;
    loop {
        let elapsed = started.elapsed();
        if let Some(ended) = obs.exited() {
            crash = Some(ended_early(elapsed, ended));
            break;
        }
        if elapsed >= length {
            break;
        }
        if Instant::now() >= next_sample {
            next_sample += Duration::from_secs(opts.sample_seconds.max(1));
            drivers.extend(graphics_libraries(pid));
            if let Some(sample) = take_sample(&mut obs, pid, elapsed) {
                eprintln!(
                    "soak: {:.1} min, OBS {:.0} MB resident, {} of {} frames missed",
                    sample.seconds / 60.0,
                    sample.rss_mb,
                    sample.missed_frames,
                    sample.rendered_frames
                );
                samples.push(sample);
                write_report(
                    &report_file,
                    &memcheck(report(
                        &config,
                        elapsed,
                        &samples,
                        opts.warm_up,
                        &drivers,
                        &crash,
                        None,
                    )),
                )?;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let ran = started.elapsed();
    let quit = match crash {
        Some(_) => Value::Null,
        None => match quit(obs, if opts.valgrind { 600 } else { 60 }) {
            Ok(()) => json!({"clean": true}),
            Err(Quit::Ended(ended)) => {
                // OBS ended between the last look and the quit, or while the clip was removed.
                crash = Some(ended_early(started.elapsed(), ended));
                Value::Null
            }
            Err(Quit::Failed(err)) => json!({"clean": false, "details": format!("{err:#}")}),
        },
    };
    let report = memcheck(report(
        &config,
        ran,
        &samples,
        opts.warm_up,
        &drivers,
        &crash,
        Some(quit),
    ));
    write_report(&report_file, &report)?;
    Ok(report)
}

/// Memory and frame counters now; None when OBS did not answer (it may be ending).
fn take_sample(obs: &mut ObsStudio, pid: u32, elapsed: Duration) -> Option<Sample> {
    let rss_mb = resident_mb(pid)?;
    let stats = obs.ws.request("GetStats", json!({})).ok()?;
    Some(Sample {
        seconds: round1(elapsed.as_secs_f64()),
        rss_mb,
        missed_frames: stats["renderSkippedFrames"].as_i64().unwrap_or(0),
        rendered_frames: stats["renderTotalFrames"].as_i64().unwrap_or(0),
    })
}

/// The report's `crash` for an OBS that ended before it was asked to quit.
fn ended_early(after: Duration, ended: std::result::Result<ExitStatus, String>) -> Value {
    json!({
        "after_s": round1(after.as_secs_f64()),
        "details": match ended {
            Ok(status) => format!("OBS exited by itself ({status})"),
            Err(details) => details,
        },
    })
}

/// Why a quit was not clean.
enum Quit {
    /// OBS had already ended (crashed, or exited by itself) before it was asked to quit.
    Ended(std::result::Result<ExitStatus, String>),
    /// The quit itself failed: a crash on the way out (with backtraces), a hang, an exit status.
    Failed(anyhow::Error),
}

/// Quits OBS as the tests do: the playing clip removed first, then a pause so OBS's own
/// shutdown does not race the removal (OBS 29 crashes in its Qt widgets otherwise).
fn quit(mut obs: ObsStudio, wait_s: u64) -> std::result::Result<(), Quit> {
    if let Some(ended) = obs.exited() {
        return Err(Quit::Ended(ended));
    }
    if let Err(err) = obs.remove_input(CLIP) {
        return Err(match obs.exited() {
            Some(ended) => Quit::Ended(ended),
            None => Quit::Failed(err),
        });
    }
    std::thread::sleep(Duration::from_secs(2));
    match obs.quit(Duration::from_secs(wait_s)) {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(Quit::Failed(anyhow::anyhow!("OBS exited with {status}"))),
        Err(err) => Err(Quit::Failed(err)),
    }
}

/// The Mesa drivers and LLVM libraries mapped into process `pid` (file names from
/// `/proc/PID/maps`): which software rasterizers share the process.
fn graphics_libraries(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap_or_default();
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter_map(|path| path.rsplit('/').next())
        .filter(|name| {
            name.contains("_dri.so")
                || name.starts_with("libvulkan_")
                || name.starts_with("libLLVM")
        })
        .map(str::to_string)
        .collect()
}

/// The resident set of process `pid` in MB (`VmRSS` in `/proc/PID/status`).
fn resident_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(round1(kb / 1024.0))
}

/// Resident memory growth after the warm-up: the last sample against the first one at or past
/// `warm_up`, and the least-squares slope over those samples (MB per hour). None before the
/// warm-up has passed.
pub fn growth_after_warm_up(samples: &[Sample], warm_up: Duration) -> Option<(f64, f64)> {
    let after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.seconds >= warm_up.as_secs_f64())
        .collect();
    let (first, last) = (after.first()?, after.last()?);
    let n = after.len() as f64;
    let mean_t = after.iter().map(|s| s.seconds).sum::<f64>() / n;
    let mean_m = after.iter().map(|s| s.rss_mb).sum::<f64>() / n;
    let var: f64 = after.iter().map(|s| (s.seconds - mean_t).powi(2)).sum();
    let cov: f64 = after
        .iter()
        .map(|s| (s.seconds - mean_t) * (s.rss_mb - mean_m))
        .sum();
    let slope = if var > 0.0 { cov / var * 3600.0 } else { 0.0 };
    Some((round1(last.rss_mb - first.rss_mb), round1(slope)))
}

fn report(
    config: &Value,
    ran: Duration,
    samples: &[Sample],
    warm_up: Duration,
    drivers: &std::collections::BTreeSet<String>,
    crash: &Option<Value>,
    quit: Option<Value>,
) -> Value {
    let last = samples.last();
    let growth = growth_after_warm_up(samples, warm_up);
    json!({
        "config": config,
        "ran_minutes": round1(ran.as_secs_f64() / 60.0),
        "crash": crash,
        "rss_mb": {
            "first": samples.first().map(|s| s.rss_mb),
            "last": last.map(|s| s.rss_mb),
            "max": samples.iter().map(|s| s.rss_mb).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v)))),
            "growth_after_warm_up": growth.map(|g| g.0),
            "slope_after_warm_up_per_hour": growth.map(|g| g.1),
        },
        "frames": {
            "rendered": last.map(|s| s.rendered_frames),
            "missed_render_lag": last.map(|s| s.missed_frames),
        },
        "quit": quit,
        "graphics_libraries": drivers,
        "samples": samples.iter().map(|s| json!([s.seconds, s.rss_mb, s.missed_frames])).collect::<Vec<_>>(),
    })
}

/// The report with memcheck's errors so far from OBS's Valgrind log.
fn with_memcheck(mut report: Value, log: &Path) -> Value {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut summary = valgrind::summary(&text);
    summary["log"] = json!(log.display().to_string());
    report["valgrind"] = summary;
    report
}

fn write_report(path: &Path, report: &Value) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    writeln!(file, "{report:#}")?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(seconds: f64, rss_mb: f64) -> Sample {
        Sample {
            seconds,
            rss_mb,
            missed_frames: 0,
            rendered_frames: 0,
        }
    }

    #[test]
    fn growth_counts_only_after_the_warm_up() {
        // 100 MB of start-up, then 1 MB a minute.
        let samples: Vec<Sample> = (0..=20)
            .map(|m| {
                let t = m as f64 * 60.0;
                sample(
                    t,
                    if m < 5 {
                        100.0 + 20.0 * m as f64
                    } else {
                        300.0 + (m - 5) as f64
                    },
                )
            })
            .collect();
        let warm_up = Duration::from_secs(300);
        let (growth, slope) = growth_after_warm_up(&samples, warm_up).unwrap();
        assert_eq!(growth, 15.0);
        assert!((slope - 60.0).abs() < 0.1, "{slope}");
        assert_eq!(growth_after_warm_up(&samples[..5], warm_up), None);
    }
}
