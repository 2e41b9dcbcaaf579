//! `vrm-avatar bench --json`: per-stage timings (mean, p50, p95) of what the pipeline has today,
//! on this machine: avatar load, render + readback, spring bones, and memory per loaded avatar.

use anyhow::Result;
use obs_vrm_avatar::render::avatar::AvatarScene;
use obs_vrm_avatar::render::{Gpu, OffscreenRenderer};
use obs_vrm_avatar::solver::IdleMotion;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct BenchOptions {
    pub vrm: Option<PathBuf>,
    pub frames: usize,
    pub width: u32,
    pub height: u32,
}

/// mean, p50 and p95 of durations, in milliseconds.
fn summary(samples: &mut [Duration]) -> Value {
    samples.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let at = |q: f64| ms(samples[((samples.len() - 1) as f64 * q).round() as usize]);
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    json!({"mean_ms": ms(mean), "p50_ms": at(0.5), "p95_ms": at(0.95), "n": samples.len()})
}

/// Resident memory of this process in bytes (Linux), for memory per loaded avatar.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(0) as u64)
}

/// The CPU's model name (Linux), for the machine a benchmark ran on.
pub(crate) fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default()
}

fn machine(gpu: &Gpu) -> Value {
    json!({
        "cpu": cpu_name(),
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "adapter": gpu.info.name,
        "adapter_type": format!("{:?}", gpu.info.device_type),
        "backend": format!("{:?}", gpu.info.backend),
    })
}

pub fn run(opts: &BenchOptions) -> Result<Value> {
    let frames = opts.frames.max(10);
    let path = opts.vrm.as_deref();

    let mut load = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        obs_vrm_avatar::default_avatar::load_avatar(path)?;
        load.push(started.elapsed());
    }

    let gpu = Gpu::new()?;
    let machine = machine(&gpu);
    let before = resident_bytes();
    let model = obs_vrm_avatar::default_avatar::load_avatar(path)?;
    let mut renderer = OffscreenRenderer::new(gpu, opts.width, opts.height);
    let mut scene = AvatarScene::new(
        &renderer.gpu().device,
        &renderer.gpu().queue,
        model,
        renderer.samples(),
    );
    let cpu_bytes = resident_bytes()
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before));
    let mut idle = IdleMotion::new(1);

    // Latency: pose, draw and read back one frame, waiting for it.
    let mut latency = Vec::new();
    for i in 0..frames + 5 {
        let t = i as f32 / 30.0;
        let started = Instant::now();
        scene.pose = idle.pose(t);
        renderer.render_blocking(&mut scene, t);
        if i >= 5 {
            latency.push(started.elapsed());
        }
    }
    // Throughput: as the render worker runs, with readback pipelined.
    let started = Instant::now();
    let mut done = 0;
    let mut i = 0;
    while done < frames {
        let t = i as f32 / 30.0;
        scene.pose = idle.pose(t);
        renderer.render(&mut scene, t);
        i += 1;
        done += renderer.finished_frames(None).len();
    }
    let fps = frames as f64 / started.elapsed().as_secs_f64();

    // Spring bones alone (CPU), one 1/30 s update per frame (two fixed 1/60 s steps).
    let model = obs_vrm_avatar::default_avatar::load_avatar(path)?;
    let skeleton = obs_vrm_avatar::vrm::skeleton::Skeleton::new(&model);
    let mut springs = obs_vrm_avatar::vrm::SpringBones::new(&model);
    let mut spring_update = Vec::new();
    for i in 0..frames {
        let mut local = skeleton.local_transforms(&idle.pose(i as f32 / 30.0));
        let started = Instant::now();
        springs.update(&model, &mut local, 1.0 / 30.0);
        spring_update.push(started.elapsed());
    }

    Ok(json!({
        "machine": machine,
        "avatar": path.map_or("built-in".to_string(), |p| p.display().to_string()),
        "size": [opts.width, opts.height],
        "stages": {
            "load": summary(&mut load),
            "render_readback": summary(&mut latency),
            "spring_update": summary(&mut spring_update),
        },
        "spring_joints": springs.joint_count(),
        "render_fps_pipelined": (fps * 10.0).round() / 10.0,
        "memory": {
            "gpu_model_bytes": scene.renderer.gpu_bytes(),
            "cpu_resident_bytes": cpu_bytes,
        },
    }))
}
