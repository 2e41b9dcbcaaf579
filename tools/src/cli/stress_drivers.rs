//! `vrm-avatar stress-drivers`: the stability experiment behind the README's "Two software
//! drivers in one process". Threads each open their own wgpu device on a chosen backend (Vulkan:
//! Mesa's lavapipe; GL: Mesa's llvmpipe, the driver OBS draws with on a machine without a GPU)
//! and compile, draw and finish one new pipeline after another, as fast as they can, so that
//! both drivers run LLVM at the same time far more often than in OBS. A process that survives
//! prints its counts; a corrupted heap ends it (glibc's checks, or `MALLOC_CHECK_=3` with
//! `libc_malloc_debug.so.0` preloaded).

use anyhow::{Result, bail};
use obs_vrm_avatar::render::gpu::Gpu;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The picture size each iteration uploads, draws and reads back (OBS's 720p canvas).
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 720;

/// The driver a thread stresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Vulkan,
    Gl,
}

impl Driver {
    fn backends(self) -> wgpu::Backends {
        match self {
            Driver::Vulkan => wgpu::Backends::VULKAN,
            Driver::Gl => wgpu::Backends::GL,
        }
    }
}

/// Runs `vulkan` + `gl` threads for `seconds`; the counts per thread, and each thread's error
/// (a device that could not be opened stressed nothing: the command then exits 1).
pub fn run(vulkan: usize, gl: usize, seconds: f64) -> Result<Value> {
    if vulkan + gl == 0 {
        bail!("--vulkan and --gl are both 0: nothing to stress");
    }
    if !seconds.is_finite() || seconds <= 0.0 {
        bail!("--seconds must be a number above 0");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = std::iter::repeat_n(Driver::Vulkan, vulkan)
        .chain(std::iter::repeat_n(Driver::Gl, gl))
        .enumerate()
        .map(|(k, driver)| {
            let stop = Arc::clone(&stop);
            let count = Arc::new(AtomicU64::new(0));
            let counted = Arc::clone(&count);
            let handle = std::thread::Builder::new()
                .name(format!("stress-{k}"))
                .spawn(move || churn(driver, k as u32, &stop, &counted))
                .expect("spawn");
            (driver, count, handle)
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        std::thread::sleep(Duration::from_millis(200));
        if threads.iter().all(|(_, _, h)| h.is_finished()) {
            break;
        }
    }
    stop.store(true, Ordering::Release);
    let mut out = Vec::new();
    for (driver, count, handle) in threads {
        let result = handle.join().unwrap_or_else(|_| Err("panicked".into()));
        out.push(json!({
            "driver": format!("{driver:?}"),
            "pipelines": count.load(Ordering::Acquire),
            "error": result.err(),
        }));
    }
    Ok(json!({"seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0, "threads": out}))
}

/// One device; again and again: a new shader (a new constant, so no cache can answer) and
/// pipeline, a 1280x720 picture uploaded, drawn and read back, waited for.
fn churn(driver: Driver, id: u32, stop: &AtomicBool, count: &AtomicU64) -> Result<(), String> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = driver.backends();
    let gpu = Gpu::with_instance(desc).map_err(|e| e.to_string())?;
    let device = &gpu.device;
    let extent = wgpu::Extent3d {
        width: WIDTH,
        height: HEIGHT,
        depth_or_array_layers: 1,
    };
    let texture = |usage| {
        device.create_texture(&wgpu::TextureDescriptor {
            label: Some("stress"),
            size: extent,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage,
            view_formats: &[],
        })
    };
    // What OBS does with a source's frame (an upload, a draw that samples it) and what the
    // plugin does with its own (a draw, a copy back to memory), every iteration.
    let picture = texture(wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST);
    let target = texture(wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC);
    let picture_view = picture.create_view(&Default::default());
    let view = target.create_view(&Default::default());
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("stress readback"),
        size: (WIDTH * 4 * HEIGHT) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut pixels = vec![0u8; (WIDTH * 4 * HEIGHT) as usize];
    let mut n: u64 = 0;
    while !stop.load(Ordering::Acquire) {
        let constant = (id as f64 * 1e6 + n as f64) * 1e-7;
        let source = format!(
            "@group(0) @binding(0) var picture: texture_2d<f32>;
             @vertex fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {{
                 let x = f32(i & 1u) * 4.0 - 1.0; let y = f32(i >> 1u) * 4.0 - 1.0;
                 return vec4<f32>(x, y * (1.0 - {constant:.9}), 0.0, 1.0); }}
             @fragment fn fs(@builtin(position) p: vec4<f32>) -> @location(0) vec4<f32> {{
                 let c = textureLoad(picture, vec2<i32>(p.xy), 0);
                 return vec4<f32>(c.rgb * sin(p.x * {constant:.9}), 1.0); }}"
        );
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: None,
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: None,
            layout: None,
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: Default::default(),
            depth_stencil: None,
            multisample: Default::default(),
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                targets: &[Some(wgpu::TextureFormat::Rgba8Unorm.into())],
            }),
            multiview_mask: None,
            cache: None,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(&picture_view),
            }],
        });
        pixels
            .iter_mut()
            .step_by(4093)
            .for_each(|p| *p = p.wrapping_add(n as u8));
        gpu.queue.write_texture(
            picture.as_image_copy(),
            &pixels,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(WIDTH * 4),
                rows_per_image: Some(HEIGHT),
            },
            extent,
        );
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: None,
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                depth_stencil_attachment: None,
                timestamp_writes: None,
                occlusion_query_set: None,
                multiview_mask: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.draw(0..3, 0..1);
        }
        encoder.copy_texture_to_buffer(
            target.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(WIDTH * 4),
                    rows_per_image: Some(HEIGHT),
                },
            },
            extent,
        );
        let index = gpu.queue.submit([encoder.finish()]);
        readback.map_async(wgpu::MapMode::Read, .., |_| {});
        device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(Duration::from_secs(30)),
            })
            .map_err(|e| e.to_string())?;
        if let Ok(mapped) = readback.get_mapped_range(..) {
            pixels[0] ^= mapped[mapped.len() / 2];
        }
        readback.unmap();
        n += 1;
        count.store(n, Ordering::Release);
    }
    Ok(())
}
