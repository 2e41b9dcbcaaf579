//! The avatar's render pipelines: one per combination of what a material asks for.

use super::material::{KIND_LIT, KIND_MTOON, MaterialParams};
use super::upload::Layouts;
use crate::vrm::expressions::MaterialColorType;
use std::collections::HashMap;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) struct PipelineKey {
    pub(super) blend: bool,
    pub(super) double_sided: bool,
    pub(super) z_write: bool,
    pub(super) outline: bool,
    pub(super) shading: Shading,
}

/// Where a material's shade color comes from (avatar.wgsl's `SHADE_SOURCE`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum ShadeSource {
    White = 0,
    OwnTexture = 1,
    /// The shade texture is the base color's image (VRoid's usual MToon 0.x): one sample less.
    BaseTexel = 2,
}

/// What a material's fragment shader reads and tests, fixed per pipeline through avatar.wgsl's
/// override constants. On a CPU rasterizer each texture sample costs on every pixel, a white
/// placeholder's as much as a real one's, and a shader that may discard loses early depth tests.
/// Leaving out what cannot change the picture draws the same pixels for less.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) struct Shading {
    pub(super) shade: ShadeSource,
    pub(super) emissive_texture: bool,
    pub(super) matcap_texture: bool,
    pub(super) rim_texture: bool,
    pub(super) rim_light: bool,
    pub(super) alpha_test: bool,
}

impl Shading {
    /// Everything read and tested: the shader's defaults.
    #[cfg(test)]
    pub(super) const ALL: Shading = Shading {
        shade: ShadeSource::OwnTexture,
        emissive_texture: true,
        matcap_texture: true,
        rim_texture: true,
        rim_light: true,
        alpha_test: true,
    };

    /// What `params` needs. `image` resolves a texture to its image (`None`: drawn white);
    /// `bound` says whether an expression moves that color of this material.
    pub(super) fn of(
        params: &MaterialParams,
        image: impl Fn(Option<usize>) -> Option<usize>,
        bound: impl Fn(MaterialColorType) -> bool,
    ) -> Shading {
        let u = &params.uniform;
        let t = &params.textures;
        let mtoon = u.emissive[3] == KIND_MTOON;
        let lit = u.emissive[3] == KIND_LIT;
        let color = |c: [f32; 4]| c[..3].iter().any(|&v| v != 0.0);
        let shade = match image(t.shade) {
            Some(_) if !mtoon => ShadeSource::White,
            None => ShadeSource::White,
            shade if shade == image(t.base) => ShadeSource::BaseTexel,
            Some(_) => ShadeSource::OwnTexture,
        };
        // A term that is zero whatever the texture holds needs no sample.
        let emissive_texture = (mtoon || lit)
            && image(t.emissive).is_some()
            && (color(u.emissive) || bound(MaterialColorType::EmissionColor));
        let matcap_texture = mtoon && image(t.matcap).is_some() && u.anim[1] != 0.0;
        let rim_light =
            mtoon && (matcap_texture || color(u.rim) || bound(MaterialColorType::RimColor));
        Shading {
            shade,
            emissive_texture,
            matcap_texture,
            rim_texture: rim_light && image(t.rim).is_some(),
            rim_light,
            alpha_test: u.shade_color[3] >= 0.0,
        }
    }

    fn constants(&self) -> [(&'static str, f64); 6] {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        [
            ("SHADE_SOURCE", self.shade as u32 as f64),
            ("EMISSIVE_TEXTURE", flag(self.emissive_texture)),
            ("MATCAP_TEXTURE", flag(self.matcap_texture)),
            ("RIM_TEXTURE", flag(self.rim_texture)),
            ("RIM_LIGHT", flag(self.rim_light)),
            ("ALPHA_TEST", flag(self.alpha_test)),
        ]
    }
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
