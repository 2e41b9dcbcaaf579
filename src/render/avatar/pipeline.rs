//! The avatar's render pipelines: one per combination of what a material asks for.

use super::material::Shading;
use super::upload::Layouts;
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) struct PipelineKey {
    pub(super) blend: bool,
    pub(super) double_sided: bool,
    pub(super) z_write: bool,
    pub(super) outline: bool,
    pub(super) shading: Shading,
}

fn make_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    shader: &wgpu::ShaderModule,
    key: PipelineKey,
    format: wgpu::TextureFormat,
    depth_format: wgpu::TextureFormat,
    samples: u32,
) -> wgpu::RenderPipeline {
    let attribute = |location, format| {
        [wgpu::VertexAttribute {
            format,
            offset: 0,
            shader_location: location,
        }]
    };
    let attributes = [
        attribute(0, wgpu::VertexFormat::Float32x3),
        attribute(1, wgpu::VertexFormat::Float32x3),
        attribute(2, wgpu::VertexFormat::Float32x2),
        attribute(3, wgpu::VertexFormat::Uint16x4),
        attribute(4, wgpu::VertexFormat::Float32x4),
    ];
    let strides = [12, 12, 8, 8, 16];
    let buffers: Vec<Option<wgpu::VertexBufferLayout>> = attributes
        .iter()
        .zip(strides)
        .map(|(a, stride)| {
            Some(wgpu::VertexBufferLayout {
                array_stride: stride,
                step_mode: wgpu::VertexStepMode::Vertex,
                attributes: a,
            })
        })
        .collect();
    let premultiplied = wgpu::BlendState {
        color: wgpu::BlendComponent {
            src_factor: wgpu::BlendFactor::One,
            dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
            operation: wgpu::BlendOperation::Add,
        },
        alpha: wgpu::BlendComponent {
            src_factor: wgpu::BlendFactor::One,
            dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
            operation: wgpu::BlendOperation::Add,
        },
    };
    let cull = if key.outline {
        // The spec: outlines always cull front faces.
        Some(wgpu::Face::Front)
    } else if key.double_sided {
        None
    } else {
        Some(wgpu::Face::Back)
    };
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("avatar"),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: shader,
            entry_point: Some(if key.outline { "vs_outline" } else { "vs_main" }),
            compilation_options: Default::default(),
            buffers: &buffers,
        },
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some(if key.outline { "fs_outline" } else { "fs_main" }),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &key.shading.constants(),
                ..Default::default()
            },
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend: key.blend.then_some(premultiplied),
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        primitive: wgpu::PrimitiveState {
            topology: wgpu::PrimitiveTopology::TriangleList,
            front_face: wgpu::FrontFace::Ccw,
            cull_mode: cull,
            ..Default::default()
        },
        depth_stencil: Some(wgpu::DepthStencilState {
            format: depth_format,
            depth_write_enabled: Some(key.z_write),
            depth_compare: Some(wgpu::CompareFunction::LessEqual),
            stencil: Default::default(),
            bias: Default::default(),
        }),
        multisample: wgpu::MultisampleState {
            count: samples,
            ..Default::default()
        },
        multiview_mask: None,
        cache: None,
    })
}

/// The pipelines for `keys` (those the model's materials use), each built once.
pub(super) fn make_pipelines(
    device: &wgpu::Device,
    layouts: &Layouts,
    keys: impl IntoIterator<Item = PipelineKey>,
    format: wgpu::TextureFormat,
    depth_format: wgpu::TextureFormat,
    samples: u32,
) -> HashMap<PipelineKey, wgpu::RenderPipeline> {
    let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("avatar"),
        source: wgpu::ShaderSource::Wgsl(include_str!("avatar.wgsl").into()),
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("avatar"),
        bind_group_layouts: &[
            Some(&layouts.frame),
            Some(&layouts.draw),
            Some(&layouts.material),
        ],
        immediate_size: 0,
    });
    let mut pipelines = HashMap::new();
    for key in keys {
        pipelines.entry(key).or_insert_with(|| {
            make_pipeline(
                device,
                &pipeline_layout,
                &shader,
                key,
                format,
                depth_format,
                samples,
            )
        });
    }
    pipelines
}
