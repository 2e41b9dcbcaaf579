//! `vrm-avatar bench-obs`: the VRM Avatar source live in real OBS on this machine. Two OBS runs
//! with the same scene, one without and one with the source (tracking a video that stands in
//! for the camera): OBS's own graphics-thread profile (median, 99th percentile), OBS's CPU,
//! frames missed, and from the source itself its graphics-thread time per frame (mean, p50,
//! p95) and the measured camera-to-texture latency (p50, p95).

use crate::launcher::{LaunchOptions, ObsStudio, PluginFiles, cpu_seconds, newest_log_text};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The live setup `bench-obs` and `soak` share.
pub struct LiveSetup {
    pub plugin: PluginFiles,
    /// The video the source tracks (a looping, hidden media source).
    pub input: PathBuf,
    /// The source's tracking mode (its `tracking_mode` setting).
    pub mode: String,
    /// The source's `performance` setting (auto, quality, light).
    pub performance: String,
    /// The source's output size.
    pub size: (u32, u32),
    /// OBS's preview on.
    pub preview: bool,
}

impl LiveSetup {
    /// The tracking mode checked and the input's full path.
    pub fn checked_input(&self) -> Result<PathBuf> {
        if obs_vrm_avatar::tracking::holistic::TrackingMode::parse(&self.mode).is_none() {
            bail!("--mode {}: not a tracking mode", self.mode);
        }
        if !["auto", "quality", "light"].contains(&self.performance.as_str()) {
            bail!(
                "--performance {}: not auto, quality or light",
                self.performance
            );
        }
        self.input
            .canonicalize()
            .with_context(|| format!("--input {}", self.input.display()))
    }

    /// Launch options for OBS in `home` with this setup's preview.
    /// The VRM Avatar source's settings: tracking `clip` in this mode and size.
    pub fn avatar_settings(&self, clip: &str) -> serde_json::Value {
        json!({"input_kind": "source", "input_source": clip, "tracking_mode": self.mode,
               "performance": self.performance,
               "width": self.size.0, "height": self.size.1})
    }

    pub fn launch(&self, home: &Path, env: Vec<(String, String)>) -> LaunchOptions {
        LaunchOptions {
            preview: self.preview,
            env,
            ..LaunchOptions::headless_720p30(home, self.plugin.clone())
        }
    }
}

pub struct BenchObsOptions {
    pub live: LiveSetup,
    pub out: PathBuf,
    /// Measured seconds per run, after the warm-up.
    pub seconds: u64,
    /// Cores kept busy by spinning threads during both runs.
    pub busy_cores: usize,
}

/// Threads that spin at normal priority until dropped (a game's stand-in).
struct Busy {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Busy {
    fn start(cores: usize) -> Busy {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..cores)
            .map(|_| {
                let stop = std::sync::Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        Busy { stop, threads }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

const SCENE: &str = "Bench";
const SOURCE: &str = "VRM Avatar";
const CLIP: &str = "Tracking clip";
/// Models load, the GPU device starts and the tracker settles before measuring.
const WARM_UP: Duration = Duration::from_secs(8);

pub fn run(opts: &BenchObsOptions) -> Result<Value> {
    let input = opts.live.checked_input()?;
    std::fs::create_dir_all(&opts.out)?;
    let out = opts.out.canonicalize()?;
    let without = measure(opts, &out.join("without"), &input, false)?;
    let with = measure(opts, &out.join("with"), &input, true)?;
    Ok(json!({
        "machine": machine(),
        "input": input.display().to_string(),
        "seconds": opts.seconds,
        "obs": {"width": 1280, "height": 720, "fps": 30, "preview": opts.live.preview},
        "busy_cores": opts.busy_cores,
        "source": {"tracking_mode": opts.live.mode, "performance": opts.live.performance, "width": opts.live.size.0, "height": opts.live.size.1},
        "without_source": without,
        "with_source": with,
    }))
}

fn measure(opts: &BenchObsOptions, home: &Path, input: &Path, with_source: bool) -> Result<Value> {
    let _busy = Busy::start(opts.busy_cores);
    let mut obs = ObsStudio::start(&opts.live.launch(home, Vec::new()))?;
    obs.ws.request("CreateScene", json!({"sceneName": SCENE}))?;
    obs.ws.request(
        "CreateInput",
        json!({"sceneName": SCENE, "inputName": "Background", "inputKind": "color_source_v3",
               "inputSettings": {"color": 0xFF40_2A24u32, "width": 1280, "height": 720}}),
    )?;
    // The clip exists in both runs; only the avatar makes it play (as a camera would be).
    obs.add_hidden_clip(SCENE, CLIP, input)?;
    if with_source {
        obs.ws.request(
            "CreateInput",
            json!({"sceneName": SCENE, "inputName": SOURCE, "inputKind": "vrm_avatar_source",
                   "inputSettings": opts.live.avatar_settings(CLIP)}),
        )?;
    }
    obs.ws
        .request("SetCurrentProgramScene", json!({"sceneName": SCENE}))?;
    std::thread::sleep(WARM_UP);

    let pid = obs.pid().context("OBS is running")?;
    let log_start = obs.log_text().len();
    let before = obs.ws.request("GetStats", json!({}))?;
    let cpu_before = process_cpu(pid)?;
    let threads_before = thread_cpu(pid);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(opts.seconds));
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = (process_cpu(pid)? - cpu_before) / elapsed;
    let threads = thread_cores(&threads_before, &thread_cpu(pid), cpu, elapsed);
    let after = obs.ws.request("GetStats", json!({}))?;
    let measured_log = obs.log_text()[log_start..].to_string();
    let config_dir = obs.config_dir.clone();
    obs.remove_input(CLIP)?;
    let quit = match obs.quit(Duration::from_secs(60)) {
        Ok(status) if status.success() => "clean".to_string(),
        Ok(status) => bail!("OBS exited with {status}"),
        // One of OBS 29's own crashes on its way out (obs-websocket's server thread, Qt's
        // widgets) comes after the measurement: the figures stand, and the report says so.
        // Anything else, any crash with a frame of the plugin in it above all, is an error.
        Err(error) => match crate::launcher::faults::known_obs_fault(&error.to_string()) {
            Some(fault) => {
                eprintln!("bench-obs: OBS crashed on its way out: {fault} (OBS's own)\n{error:#}");
                format!(
                    "crashed on its way out: {fault} (OBS 29's own; the profiler summary is lost)"
                )
            }
            None => return Err(error),
        },
    };
    let log = newest_log_text(&config_dir);
    let delta = |key: &str| after[key].as_i64().unwrap_or(0) - before[key].as_i64().unwrap_or(0);
    let mut result = json!({
        "obs_cpu_cores": round3(cpu),
        "obs_cpu_cores_by_thread": threads,
        "frames_rendered": delta("renderTotalFrames"),
        "frames_missed_render_lag": delta("renderSkippedFrames"),
        // Missed before the measurement: OBS's start, the scene's first frames, a source's start.
        "frames_missed_render_lag_warm_up": before["renderSkippedFrames"].as_i64().unwrap_or(0),
        "frames_skipped_encoder": delta("outputSkippedFrames"),
        "obs_average_frame_render_ms": after["averageFrameRenderTime"],
        "obs_profile": profile(&log),
        "quit": quit,
    });
    if with_source {
        result["source_graphics_thread"] = last_figures(
            &measured_log,
            "graphics thread time per frame: ",
            &["mean", "p50", "p95"],
        )
        .context("the source logged no graphics-thread time")?;
        result["camera_to_texture_latency"] =
            last_figures(&measured_log, "camera-to-texture latency ", &["p50", "p95"])
                .context("the source logged no camera-to-texture latency (is it tracking?)")?;
        result["tracking_fps"] =
            last_number_before(&measured_log, " fps (").map_or(Value::Null, |v| json!(v));
        // Every step the source took on its load ladder, warm-up included ("HH:MM:SS.mmm: ...").
        result["steps"] = json!(
            log.lines()
                .filter(|l| l.contains("stepped back ") || l.contains("full quality again"))
                .map(|l| l.replace("[obs-vrm-avatar] ", ""))
                .collect::<Vec<_>>()
        );
        result["latency_stages_p50"] = measured_log
            .lines()
            .rev()
            .find_map(|l| l.split_once("p50 by stage: ").map(|(_, s)| s.to_string()))
            .map_or(Value::Null, Value::String);
    }
    Ok(result)
}

/// CPU seconds the process has used (user + system), from /proc.
fn process_cpu(pid: u32) -> Result<f64> {
    cpu_seconds(Path::new(&format!("/proc/{pid}/stat"))).context("reading /proc/PID/stat")
}

/// CPU seconds of OBS's threads now, summed by name with the digits left out (`llvmpipe-0`
/// and `llvmpipe-1` are `llvmpipe-#`; Linux keeps 15 characters of a name). Mesa gives each GL
/// context its own `llvmpipe-#` threads: those started after the plugin's render worker draw
/// for the plugin (`llvmpipe-# (plugin)`), the others for OBS (`llvmpipe-# (OBS)`).
fn thread_cpu(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut threads = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let path = task.path();
            let tid: u64 = task.file_name().to_string_lossy().parse().unwrap_or(0);
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if let Some(seconds) = cpu_seconds(&path.join("stat")) {
                threads.push((tid, name.trim().to_string(), seconds));
            }
        }
    }
    by_thread_name(&threads)
}

/// [`thread_cpu`]'s sums from (thread id, name, CPU seconds).
fn by_thread_name(threads: &[(u64, String, f64)]) -> std::collections::BTreeMap<String, f64> {
    let render_worker = threads
        .iter()
        .filter(|(_, name, _)| name == "vrm-avatar-rend")
        .map(|(tid, ..)| *tid)
        .min();
    let mut by_name = std::collections::BTreeMap::new();
    for (tid, name, seconds) in threads {
        let mut name: String = name
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        if name == "llvmpipe-#" {
            let plugin = render_worker.is_some_and(|r| *tid > r);
            name.push_str(if plugin { " (plugin)" } else { " (OBS)" });
        }
        *by_name.entry(name).or_insert(0.0) += seconds;
    }
    by_name
}

/// Cores each thread name used between two [`thread_cpu`] readings, the busiest first; what
/// threads that ended in between used (the tracker's per-frame helpers) is `ended threads`.
fn thread_cores(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    process_cores: f64,
    seconds: f64,
) -> Value {
    let mut cores: Vec<(String, f64)> = after
        .iter()
        .map(|(name, s)| {
            (
                name.clone(),
                (s - before.get(name).unwrap_or(&0.0)) / seconds,
            )
        })
        .filter(|(_, c)| *c >= 0.005)
        .collect();
    let seen: f64 = cores.iter().map(|(_, c)| c).sum();
    cores.push(("ended threads".into(), (process_cores - seen).max(0.0)));
    cores.sort_by(|a, b| b.1.total_cmp(&a.1));
    Value::Object(
        cores
            .into_iter()
            .take(10)
            .map(|(name, c)| (name, json!(round3(c))))
            .collect(),
    )
}

/// OBS's profiler summary written at exit: median and 99th percentile (ms) of the graphics
/// thread and of the parts the source adds to.
fn profile(log: &str) -> Value {
    let section = log
        .split("== Profiler Results")
        .nth(1)
        .and_then(|s| s.split("== Profiler Time Between Calls").next())
        .unwrap_or("");
    let mut out = serde_json::Map::new();
    for name in [
        "obs_graphics_thread",
        "tick_sources",
        "render_main_texture",
        "render_displays",
    ] {
        let Some(line) = section.lines().find(|l| {
            l.split_once(": ").is_some_and(|(_, rest)| {
                rest.trim_start_matches([' ', '┃', '┣', '┗'])
                    .starts_with(name)
            })
        }) else {
            continue;
        };
        // OBS writes a no-break space before "ms".
        let number = |key: &str| {
            let (_, rest) = line.split_once(key)?;
            let digits: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            digits.parse::<f64>().ok()
        };
        out.insert(
            name.into(),
            json!({"median_ms": number("median="), "p99_ms": number("99th percentile=")}),
        );
    }
    Value::Object(out)
}

/// From the last log line holding `marker`: the number after each of `names` ("p50 12 ms").
fn last_figures(log: &str, marker: &str, names: &[&str]) -> Option<Value> {
    let line = log.lines().rev().find(|l| l.contains(marker))?;
    let text = line.split_once(marker)?.1;
    let mut out = serde_json::Map::new();
    for name in names {
        let value = text
            .split_once(&format!("{name} "))?
            .1
            .split(" ms")
            .next()?
            .trim()
            .parse::<f64>()
            .ok()?;
        out.insert(format!("{name}_ms"), json!(value));
    }
    Some(Value::Object(out))
}

/// The number just before `marker` in the last line holding it ("... 15.5 fps (face)").
fn last_number_before(log: &str, marker: &str) -> Option<f64> {
    log.lines().rev().find_map(|l| {
        let (before, _) = l.split_once(marker)?;
        before.split_whitespace().last()?.parse().ok()
    })
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub(super) fn machine() -> Value {
    let obs = std::process::Command::new("obs")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    json!({
        "cpu": super::bench::cpu_name(),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "obs": obs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_obs_profiler_and_the_sources_figures() {
        let log = "\
12:00:00.000: == Profiler Results =============================
12:00:00.000: obs_graphics_thread(33.3333 ms): min=0.179 ms, median=17.116 ms, max=67.28 ms, 99th percentile=67.28 ms, 94.8718% below 33.333 ms
12:00:00.000:  ┣tick_sources: min=0\u{a0}ms, median=0.026\u{a0}ms, max=31.623\u{a0}ms, 99th percentile=31.623\u{a0}ms
12:00:00.000:  ┃   ┃ ┗render_main_texture: min=0.036 ms, median=0.19 ms, max=10.787 ms, 99th percentile=10.787 ms
12:00:00.000: == Profiler Time Between Calls ==================
12:00:00.000: obs_graphics_thread(33.3333 ms): min=27.784 ms, median=33.334 ms
";
        let p = profile(log);
        assert_eq!(p["obs_graphics_thread"]["median_ms"], 17.116);
        assert_eq!(p["tick_sources"]["p99_ms"], 31.623);
        assert_eq!(p["render_main_texture"]["median_ms"], 0.19);
        assert!(p.get("render_displays").is_none());

        let source = "[obs-vrm-avatar] graphics thread time per frame: mean 0.120 ms, p50 0.100 ms, p95 0.300 ms, max 0.900 ms (300 frames)\n\
            [obs-vrm-avatar] 'Clip': tracking (face) 15.5 fps (face); camera-to-texture latency p50 80 ms, p95 120 ms (300 frames); p50 by stage: tracking 40 ms";
        assert_eq!(
            last_figures(
                source,
                "graphics thread time per frame: ",
                &["mean", "p50", "p95"]
            ),
            Some(json!({"mean_ms": 0.12, "p50_ms": 0.1, "p95_ms": 0.3}))
        );
        assert_eq!(
            last_figures(source, "camera-to-texture latency ", &["p50", "p95"]),
            Some(json!({"p50_ms": 80.0, "p95_ms": 120.0}))
        );
        assert_eq!(last_number_before(source, " fps ("), Some(15.5));
        assert_eq!(last_figures(source, "not there", &["p50"]), None);
    }

    #[test]
    fn cpu_by_thread_name_adds_up_to_the_process() {
        let map = |pairs: &[(&str, f64)]| {
            pairs
                .iter()
                .map(|(n, s)| (n.to_string(), *s))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let before = map(&[("llvmpipe-#", 10.0), ("vrm-avatar-trac", 4.0)]);
        let after = map(&[
            ("llvmpipe-#", 40.0),
            ("vrm-avatar-trac", 16.0),
            ("vrm-avatar-rend", 3.0),
            ("idle", 0.01),
        ]);
        // 30 s; the process used 1.6 cores: 0.1 of them in threads that ended meanwhile.
        let cores = thread_cores(&before, &after, 1.6, 30.0);
        assert_eq!(
            cores,
            json!({"llvmpipe-#": 1.0, "vrm-avatar-trac": 0.4, "vrm-avatar-rend": 0.1,
                   "ended threads": 0.1})
        );
        // Drawing threads started after the render worker's are the plugin's.
        let threads = [
            (10, "llvmpipe-0", 1.0),
            (11, "llvmpipe-1", 2.0),
            (20, "vrm-avatar-rend", 0.5),
            (21, "llvmpipe-0", 4.0),
            (22, "llvmpipe-1", 8.0),
        ]
        .map(|(tid, name, s)| (tid, name.to_string(), s));
        assert_eq!(
            by_thread_name(&threads),
            map(&[
                ("llvmpipe-# (OBS)", 3.0),
                ("vrm-avatar-rend", 0.5),
                ("llvmpipe-# (plugin)", 12.0)
            ])
        );
        // This process's own threads are found and named.
        let own = thread_cpu(std::process::id());
        assert!(
            !own.is_empty() && own.values().all(|s| *s >= 0.0),
            "{own:?}"
        );
    }
}
