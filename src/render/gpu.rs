//! Picks a GPU adapter and opens a device. Machines without a GPU get Mesa's lavapipe (a Vulkan
//! driver on the CPU); the choice is logged so that a support log says what rendered.

use std::fmt;

pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// The newest error the device reported outside any error scope (validation, out of
    /// memory); wgpu's default would panic instead.
    errors: std::sync::Arc<parking_lot::Mutex<Option<String>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuError {
    /// No adapter at all (no GPU driver and no software Vulkan such as lavapipe).
    NoAdapter,
    Device(String),
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NoAdapter => write!(
                f,
                "no GPU adapter found (install a Vulkan driver; on Linux without a GPU: mesa-vulkan-drivers)"
            ),
            GpuError::Device(why) => write!(f, "the GPU adapter refused to open a device: {why}"),
        }
    }
}

impl std::error::Error for GpuError {}

/// Higher is preferred: a real GPU first, the CPU fallback last.
fn preference(kind: wgpu::DeviceType) -> u8 {
    match kind {
        wgpu::DeviceType::DiscreteGpu => 4,
        wgpu::DeviceType::IntegratedGpu => 3,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 1,
        wgpu::DeviceType::Other => 0,
    }
}

/// Whether Mesa's OpenGL driver is mapped into the process (`/proc/self/maps`): OBS on Linux
/// draws through it then, and asking GL for an adapter goes to Mesa's EGL, whose surfaceless
/// display is the plugin's own (never OBS's).
fn mesa_gl_loaded(maps: &str) -> bool {
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter_map(|path| path.rsplit('/').next())
        .any(|name| name.ends_with("_dri.so") || name.starts_with("libgallium"))
}

impl Gpu {
    /// Opens the best adapter of the platform's primary backends (Vulkan, Metal, DX12).
    /// `WGPU_BACKEND` narrows the backends, as everywhere in wgpu.
    pub fn new() -> Result<Gpu, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::PRIMARY;
        Self::with_instance(desc.with_env())
    }

    /// The device for rendering inside OBS's process. Where OBS itself draws on the CPU (Mesa's
    /// llvmpipe through OpenGL, as on every machine without a GPU), the avatar is drawn through
    /// wgpu's GL backend on that same driver, and Vulkan is never touched: a second software
    /// driver in the process (Mesa's lavapipe, with its own copy of Mesa's LLVM-based shader
    /// compiler beside llvmpipe's) is what the README's "Stability" section contains. Elsewhere,
    /// as [`Gpu::new`]. `WGPU_BACKEND` overrides the choice, as everywhere in wgpu.
    pub fn beside_obs() -> Result<Gpu, GpuError> {
        if std::env::var_os("WGPU_BACKEND").is_some() {
            return Self::new();
        }
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        if cfg!(target_os = "linux") && mesa_gl_loaded(&maps) {
            let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
            desc.backends = wgpu::Backends::GL;
            let instance = wgpu::Instance::new(desc);
            let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::GL));
            if let Some(adapter) = adapters
                .into_iter()
                .find(|a| a.get_info().device_type == wgpu::DeviceType::Cpu)
            {
                log::info!(
                    "OpenGL here is Mesa's software driver (as OBS's): drawing through it, not Vulkan"
                );
                match Self::open(adapter) {
                    Ok(gpu) => return Ok(gpu),
                    Err(err) => log::warn!("{err}; trying Vulkan"),
                }
            }
        }
        Self::new()
    }

    pub fn with_instance(desc: wgpu::InstanceDescriptor) -> Result<Gpu, GpuError> {
        let backends = desc.backends;
        let instance = wgpu::Instance::new(desc);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        for adapter in &adapters {
            let info = adapter.get_info();
            log::debug!(
                "GPU adapter available: {} ({:?}, {:?})",
                info.name,
                info.device_type,
                info.backend
            );
        }
        let adapter = adapters
            .into_iter()
            .max_by_key(|a| preference(a.get_info().device_type))
            .ok_or(GpuError::NoAdapter)?;
        Self::open(adapter)
    }

    fn open(adapter: wgpu::Adapter) -> Result<Gpu, GpuError> {
        let info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("obs-vrm-avatar"),
            required_limits: wgpu::Limits::downlevel_defaults().using_resolution(adapter.limits()),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        log::info!(
            "rendering on {} ({:?}, {:?}, driver {} {})",
            info.name,
            info.device_type,
            info.backend,
            info.driver,
            info.driver_info
        );
        let errors = std::sync::Arc::new(parking_lot::Mutex::new(None));
        let slot = std::sync::Arc::clone(&errors);
        device.on_uncaptured_error(std::sync::Arc::new(move |error: wgpu::Error| {
            let text = error.to_string().replace('\n', " ");
            let mut last = slot.lock();
            // Logged once per kind of error, not once per frame.
            if last.as_deref() != Some(text.as_str()) {
                log::error!("the GPU refused work: {text}");
            }
            *last = Some(text);
        }));
        Ok(Gpu {
            device,
            queue,
            info,
            errors,
        })
    }

    /// The newest error the device reported since the last call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.errors.lock().take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_backend_means_a_clear_error_not_a_panic() {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::empty();
        let err = Gpu::with_instance(desc)
            .err()
            .expect("no adapter without backends");
        assert_eq!(err, GpuError::NoAdapter);
        assert!(err.to_string().contains("mesa-vulkan-drivers"));
    }

    #[test]
    fn mesa_gl_is_found_in_the_process_map() {
        let obs = "7f00-7f10 r-xp 00000000 fe:01 123 /usr/lib/x86_64-linux-gnu/dri/swrast_dri.so\n\
                   7f20-7f30 r-xp 00000000 fe:01 124 /usr/lib/x86_64-linux-gnu/libLLVM-15.so.1";
        assert!(mesa_gl_loaded(obs));
        assert!(mesa_gl_loaded(
            "7f00-7f10 r-xp 0 fe:01 1 /usr/lib/x86_64-linux-gnu/libgallium-24.2.8.so"
        ));
        let nvidia = "7f00-7f10 r-xp 0 fe:01 1 /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0\n\
                      7f20-7f30 rw-p 0 00:00 0 [heap]";
        assert!(!mesa_gl_loaded(nvidia));
        assert!(!mesa_gl_loaded(""));
    }

    #[test]
    fn a_real_gpu_is_preferred_over_the_cpu_fallback() {
        assert!(preference(wgpu::DeviceType::DiscreteGpu) > preference(wgpu::DeviceType::Cpu));
        assert!(preference(wgpu::DeviceType::IntegratedGpu) > preference(wgpu::DeviceType::Cpu));
    }

    #[test]
    fn a_gpu_error_is_reported_not_a_panic() {
        let gpu = Gpu::new().expect("an adapter (lavapipe without a GPU)");
        // A buffer bigger than the device allows is a validation error.
        let _ = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("too big"),
            size: gpu.device.limits().max_buffer_size.saturating_add(4),
            usage: wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let error = gpu.take_error().expect("the error is reported");
        assert!(!error.is_empty());
        assert_eq!(gpu.take_error(), None, "taken once");
    }
}
