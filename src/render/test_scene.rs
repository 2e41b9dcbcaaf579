//! A simple lit 3D test scene: a turning cube with a colored face each. It stands where the
//! avatar will be drawn, so that the frame path (worker, readback, OBS upload) is tested end to end.

use glam::camera::rh;
use glam::{Mat4, Vec3};
use wgpu::util::DeviceExt;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Vertex {
    position: [f32; 3],
    normal: [f32; 3],
    color: [f32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Uniforms {
    view_proj_model: [[f32; 4]; 4],
    model: [[f32; 4]; 4],
    /// Direction the key light shines towards (world space); w unused.
    light_dir: [f32; 4],
}

const SHADER: &str = r#"
struct Uniforms { view_proj_model: mat4x4<f32>, model: mat4x4<f32>, light_dir: vec4<f32> };
@group(0) @binding(0) var<uniform> u: Uniforms;

struct VsOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) normal: vec3<f32>,
    @location(1) color: vec3<f32>,
};

@vertex
fn vs_main(@location(0) position: vec3<f32>, @location(1) normal: vec3<f32>, @location(2) color: vec3<f32>) -> VsOut {
    var out: VsOut;
    out.clip = u.view_proj_model * vec4<f32>(position, 1.0);
    out.normal = (u.model * vec4<f32>(normal, 0.0)).xyz;
    out.color = color;
    return out;
}

@fragment
fn fs_main(v: VsOut) -> @location(0) vec4<f32> {
    let lambert = max(dot(normalize(v.normal), -normalize(u.light_dir.xyz)), 0.0);
    // Linear light out; the sRGB target encodes it. Opaque, so premultiplied as is.
    return vec4<f32>(v.color * (0.25 + 0.75 * lambert), 1.0);
}
"#;

pub struct TestScene {
    pipeline: wgpu::RenderPipeline,
    vertices: wgpu::Buffer,
    vertex_count: u32,
    uniforms: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

/// Two triangles per face, one color per face (linear RGB).
fn cube() -> Vec<Vertex> {
    let faces: [([f32; 3], [f32; 3]); 6] = [
        ([1.0, 0.0, 0.0], [0.9, 0.2, 0.2]),
        ([-1.0, 0.0, 0.0], [0.2, 0.8, 0.3]),
        ([0.0, 1.0, 0.0], [0.2, 0.4, 0.9]),
        ([0.0, -1.0, 0.0], [0.9, 0.8, 0.2]),
        ([0.0, 0.0, 1.0], [0.8, 0.3, 0.8]),
        ([0.0, 0.0, -1.0], [0.2, 0.8, 0.8]),
    ];
    let mut out = Vec::with_capacity(36);
    for (normal, color) in faces {
        let n = Vec3::from(normal);
        // Two axes spanning the face, ordered so that triangles wind counter-clockwise seen from outside.
        let u = if n.y.abs() > 0.5 { Vec3::X } else { Vec3::Y };
        let v = n.cross(u);
        let corner = |a: f32, b: f32| (n + u * a + v * b) * 0.5;
        for (a, b) in [
            (-1.0, -1.0),
            (1.0, -1.0),
            (1.0, 1.0),
            (-1.0, -1.0),
            (1.0, 1.0),
            (-1.0, 1.0),
        ] {
            out.push(Vertex {
                position: corner(a, b).into(),
                normal,
                color,
            });
        }
    }
    out
}

impl TestScene {
    pub fn new(device: &wgpu::Device, format: wgpu::TextureFormat, samples: u32) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("test scene"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let vertex_data = cube();
        let vertices = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("cube"),
            contents: bytemuck::cast_slice(&vertex_data),
            usage: wgpu::BufferUsages::VERTEX,
        });
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("test scene uniforms"),
            size: size_of::<Uniforms>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: None,
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }],
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: uniforms.as_entire_binding(),
            }],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: None,
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("test scene"),
            layout: Some(&pipeline_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: size_of::<Vertex>() as u64,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x3],
                })],
            },
            primitive: wgpu::PrimitiveState { cull_mode: Some(wgpu::Face::Back), ..Default::default() },
            depth_stencil: Some(wgpu::DepthStencilState {
                format: super::target::OffscreenTarget::DEPTH,
                depth_write_enabled: Some(true),
                depth_compare: Some(wgpu::CompareFunction::Less),
                stencil: Default::default(),
                bias: Default::default(),
            }),
            multisample: wgpu::MultisampleState { count: samples, ..Default::default() },
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[Some(format.into())],
            }),
            multiview_mask: None,
            cache: None,
        });
        Self {
            pipeline,
            vertices,
            vertex_count: vertex_data.len() as u32,
            uniforms,
            bind_group,
        }
    }
}

impl super::Scene for TestScene {
    /// Updates the camera and the cube's turn for time `t_seconds`.
    fn prepare(&mut self, queue: &wgpu::Queue, size: (u32, u32), t_seconds: f32) {
        let aspect = size.0 as f32 / size.1.max(1) as f32;
        let model =
            Mat4::from_rotation_y(t_seconds * 0.9) * Mat4::from_rotation_x(0.5 + t_seconds * 0.4);
        let view = rh::view::look_at_mat4(Vec3::new(0.0, 0.0, 3.2), Vec3::ZERO, Vec3::Y);
        // wgpu's clip space has depth 0..1 and Y up, the "directx" convention.
        let proj = rh::proj::directx::perspective(35f32.to_radians(), aspect, 0.1, 100.0);
        let uniforms = Uniforms {
            view_proj_model: (proj * view * model).to_cols_array_2d(),
            model: model.to_cols_array_2d(),
            light_dir: [-0.4, -0.6, -1.0, 0.0],
        };
        queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(&uniforms));
    }

    fn draw(&self, pass: &mut wgpu::RenderPass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.set_vertex_buffer(0, self.vertices.slice(..));
        pass.draw(0..self.vertex_count, 0..1);
    }
}
