//! What `obs_tracking_e2e` measures of the avatar and of OBS: pictures that changed, the
//! offline renderer's frames to compare with, the latency the log reports, the CPU the
//! plugin's threads use (a module of that test, kept apart to keep the test file short).

use std::path::PathBuf;
use std::time::Duration;
use vrm_avatar_tools::launcher::{Screenshot, cpu_seconds};

/// The most pixels that differ clearly from the first screenshot.
pub fn movement(shots: &[Screenshot]) -> usize {
    shots
        .iter()
        .map(|s| changed(&shots[0], s))
        .max()
        .unwrap_or(0)
}

/// Every frame `vrm-avatar run` draws offline from `clip` with `vrm` (the source's defaults,
/// unmirrored), as screenshots.
pub fn offline_frames(clip: &str, vrm: &str, dir: &std::path::Path) -> Vec<Screenshot> {
    let _ = std::fs::remove_dir_all(dir);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vrm-avatar"))
        .args(["run", clip, "--vrm", vrm, "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vrm-avatar run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let mut decoder =
                png::Decoder::new(std::io::BufReader::new(std::fs::File::open(file).unwrap()));
            decoder.set_transformations(
                png::Transformations::normalize_to_color8() | png::Transformations::ALPHA,
            );
            let mut reader = decoder.read_info().unwrap();
            let mut rgba = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut rgba).unwrap();
            rgba.truncate(info.buffer_size());
            Screenshot {
                png: Vec::new(),
                width: info.width,
                height: info.height,
                rgba,
            }
        })
        .collect()
}

/// Pixels inside the avatar's outline in one picture and outside it in the other: the pose,
/// whatever the colour conversions on the way to the picture.
pub fn outline_changed(a: &Screenshot, b: &Screenshot) -> usize {
    a.rgba
        .chunks(4)
        .zip(b.rgba.chunks(4))
        .filter(|(p, q)| (p[3] > 127) != (q[3] > 127))
        .count()
}

/// Pixels that differ clearly (a channel by more than 40) between two pictures.
fn changed(a: &Screenshot, b: &Screenshot) -> usize {
    a.rgba
        .chunks(4)
        .zip(b.rgba.chunks(4))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > 40))
        .count()
}

/// `(p50, p95)` of the last latency line in the log.
pub fn latency(log: &str) -> Option<(f64, f64)> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("camera-to-texture latency p50"))?;
    let after = |key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((after("latency p50 ")?, after("p95 ")?))
}

/// CPU seconds used so far by the OBS threads this plugin started: its workers and what they
/// start. ONNX Runtime's threads take their creator's name; Mesa names its rasterizer threads
/// `llvmpipe-N`, and those the render worker starts inherit its nice value (10; OBS's own
/// rasterizer threads run at 0).
pub fn plugin_cpu_seconds(pid: u32) -> f64 {
    let mut seconds = 0.0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the name (which may hold spaces) start with the state; nice is the 17th.
        let nice = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(16)?.parse::<i32>().ok());
        let renderers = comm.starts_with("llvmpipe-") && nice == Some(10);
        if !comm.starts_with("vrm-avatar") && !renderers {
            continue;
        }
        // A thread that ended meanwhile has no stat to read.
        seconds += cpu_seconds(&task.path().join("stat")).unwrap_or(0.0);
    }
    seconds
}

/// Cores the plugin's threads keep busy over `seconds`.
pub fn plugin_cores(pid: u32, seconds: f64) -> f64 {
    let before = plugin_cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs_f64(seconds));
    (plugin_cpu_seconds(pid) - before) / seconds
}

/// Busy and idle CPU seconds of the whole machine so far, from `/proc/stat`.
fn machine_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    let busy: f64 = ticks.iter().take(8).sum::<f64>() - ticks[3] - ticks[4];
    // SAFETY: sysconf has no preconditions.
    busy / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// How busy the machine is with work other than OBS's process, from one moment on: whether
/// the plugin's niced threads had the CPU a latency figure assumes.
pub struct OtherLoad {
    pid: u32,
    from: std::time::Instant,
    machine: f64,
    obs: f64,
}

impl OtherLoad {
    pub fn start(pid: u32) -> OtherLoad {
        OtherLoad {
            pid,
            from: std::time::Instant::now(),
            machine: machine_cpu_seconds(),
            obs: obs_cpu_seconds(pid),
        }
    }

    /// Cores kept busy since the start by everything but OBS (this test included).
    pub fn cores(&self) -> f64 {
        let machine = machine_cpu_seconds() - self.machine;
        let obs = obs_cpu_seconds(self.pid) - self.obs;
        ((machine - obs) / self.from.elapsed().as_secs_f64()).max(0.0)
    }
}

fn obs_cpu_seconds(pid: u32) -> f64 {
    cpu_seconds(std::path::Path::new(&format!("/proc/{pid}/stat"))).unwrap_or(0.0)
}
