//! Draws a loaded VRM (or plain glTF) model with wgpu: GPU skinning and morph targets, MToon,
//! unlit and a lit fallback, MToon outlines, alpha modes opaque / mask / blend (blended
//! primitives sorted back to front), double-sided materials, expressions (morph, material color
//! and texture transform binds).

pub mod camera;
pub mod material;
pub mod skeleton;
#[cfg(test)]
mod texture_transform_sample;

use crate::pose::AvatarPose;
use crate::vrm::expressions::MaterialColorType;
use crate::vrm::gltf_data::{Filter, Wrap};
use crate::vrm::look_at::LookAtOutput;
use crate::vrm::{AlphaMode, VrmModel};
use camera::Camera;
use glam::{Mat4, Vec3};
use material::{MaterialParams, MaterialUniform, OutlineMode};
use skeleton::Skeleton;
use std::collections::HashMap;
use wgpu::util::DeviceExt;

/// Morph targets a primitive blends at once (the strongest win when more are active).
const MAX_ACTIVE_MORPHS: usize = 16;

/// Key light, ambient light and their colors (linear RGB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lighting {
    /// Direction the key light shines towards (world space).
    pub direction: Vec3,
    pub color: Vec3,
    pub intensity: f32,
    pub ambient: Vec3,
}

impl Default for Lighting {
    /// A soft key light from the front, a little above and to the side, as streamers light faces.
    fn default() -> Self {
        Self {
            direction: Vec3::new(-0.3, -0.4, -1.0).normalize(),
            color: Vec3::ONE,
            intensity: 0.9,
            ambient: Vec3::splat(0.25),
        }
    }
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FrameUniform {
    view_proj: [[f32; 4]; 4],
    camera_pos: [f32; 4],
    light_dir: [f32; 4],
    light_color: [f32; 4],
    ambient: [f32; 4],
    misc: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DrawUniform {
    world: [[f32; 4]; 4],
    counts: [u32; 4],
    morphs: [[u32; 4]; MAX_ACTIVE_MORPHS / 2],
}

struct GpuPrimitive {
    node: usize,
    mesh: usize,
    vertex_buffers: [wgpu::Buffer; 5],
    indices: wgpu::Buffer,
    index_count: u32,
    vertex_count: u32,
    target_count: usize,
    draw_uniform: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    material: usize,
    skinned: bool,
    /// Bounding-box center in the primitive's own space, for sorting blended primitives.
    center: Vec3,
}

struct GpuMaterial {
    params: MaterialParams,
    uniform: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct PipelineKey {
    blend: bool,
    double_sided: bool,
    z_write: bool,
    outline: bool,
}

pub struct AvatarRenderer {
    skeleton: Skeleton,
    model: VrmModel,
    primitives: Vec<GpuPrimitive>,
    materials: Vec<GpuMaterial>,
    /// One joint-matrix buffer per skin.
    joints: Vec<wgpu::Buffer>,
    frame_uniform: wgpu::Buffer,
    frame_bind_group: wgpu::BindGroup,
    pipelines: HashMap<PipelineKey, wgpu::RenderPipeline>,
    /// Draw order of this frame: (primitive, outline pass).
    order: Vec<(usize, bool)>,
    world: Vec<Mat4>,
    /// Bytes of model data uploaded to the GPU (textures, vertices, indices, morph deltas).
    gpu_bytes: u64,
}

impl AvatarRenderer {
    /// Uploads `model` for drawing into targets of `format` with `samples` MSAA samples.
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        model: VrmModel,
        format: wgpu::TextureFormat,
        depth_format: wgpu::TextureFormat,
        samples: u32,
    ) -> Self {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("avatar"),
            source: wgpu::ShaderSource::Wgsl(include_str!("avatar.wgsl").into()),
        });
        let layouts = Layouts::new(device);
        let frame_uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("avatar frame"),
            size: size_of::<FrameUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let frame_bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("avatar frame"),
            layout: &layouts.frame,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: frame_uniform.as_entire_binding(),
            }],
        });

        let textures = upload_images(device, queue, &model);
        let white = color_texture(device, queue, 1, 1, &[255; 4], "white");
        let materials = model
            .materials
            .iter()
            .map(|m| {
                let params = MaterialParams::new(m);
                make_material(device, &layouts, &model, params, &textures, &white)
            })
            .collect::<Vec<_>>();
        let default_material = materials.len();
        let mut materials = materials;
        materials.push(make_material(
            device,
            &layouts,
            &model,
            MaterialParams::fallback(),
            &textures,
            &white,
        ));

        let joints = model
            .skins
            .iter()
            .map(|skin| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("joints"),
                    size: (skin.joints.len().max(1) * 64) as u64,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect::<Vec<_>>();
        let identity_joints = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("no joints"),
            contents: bytemuck::cast_slice(&Mat4::IDENTITY.to_cols_array()),
            usage: wgpu::BufferUsages::STORAGE,
        });

        let mut primitives = Vec::new();
        for (node_index, node) in model.nodes.iter().enumerate() {
            let Some(mesh_index) = node.mesh else {
                continue;
            };
            let skin = node.skin.filter(|&s| s < joints.len());
            for primitive in &model.meshes[mesh_index].primitives {
                let joint_buffer = skin.map_or(&identity_joints, |s| &joints[s]);
                primitives.push(upload_primitive(
                    device,
                    &layouts,
                    primitive,
                    node_index,
                    mesh_index,
                    skin.is_some() && primitive.joints0.is_some(),
                    joint_buffer,
                    default_material,
                ));
            }
        }

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
        for blend in [false, true] {
            for double_sided in [false, true] {
                for z_write in [false, true] {
                    for outline in [false, true] {
                        let key = PipelineKey {
                            blend,
                            double_sided,
                            z_write,
                            outline,
                        };
                        pipelines.insert(
                            key,
                            make_pipeline(
                                device,
                                &pipeline_layout,
                                &shader,
                                key,
                                format,
                                depth_format,
                                samples,
                            ),
                        );
                    }
                }
            }
        }
        let skeleton = Skeleton::new(&model);
        let world = skeleton.world_matrices(&skeleton.local_transforms(&AvatarPose::default()));
        let image_bytes: u64 = model.images.iter().map(|i| i.rgba8.len() as u64).sum();
        let mesh_bytes: u64 = primitives
            .iter()
            .map(|p| {
                let n = p.vertex_count as u64;
                n * (12 + 12 + 8 + 8 + 16)
                    + p.index_count as u64 * 4
                    + p.target_count as u64 * 2 * n * 16
            })
            .sum();
        Self {
            skeleton,
            model,
            primitives,
            materials,
            joints,
            frame_uniform,
            frame_bind_group,
            pipelines,
            order: Vec::new(),
            world,
            gpu_bytes: image_bytes + mesh_bytes,
        }
    }

    /// Bytes of model data on the GPU (textures, vertices, indices, morph deltas).
    pub fn gpu_bytes(&self) -> u64 {
        self.gpu_bytes
    }

    pub fn model(&self) -> &VrmModel {
        &self.model
    }

    pub fn skeleton(&self) -> &Skeleton {
        &self.skeleton
    }

    /// World matrices of the last prepared pose (the rest pose before the first).
    pub fn world_matrices(&self) -> &[Mat4] {
        &self.world
    }

    /// Poses the model, applies expressions and uploads everything a draw needs.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        &mut self,
        queue: &wgpu::Queue,
        world: Vec<Mat4>,
        pose: &AvatarPose,
        camera: &Camera,
        lighting: &Lighting,
        size: (u32, u32),
        time_s: f32,
    ) {
        self.world = world;
        let aspect = size.0 as f32 / size.1.max(1) as f32;
        let projection = camera.projection(aspect);
        let view_proj = projection * camera.view();
        let light = lighting.color * lighting.intensity;
        queue.write_buffer(
            &self.frame_uniform,
            0,
            bytemuck::bytes_of(&FrameUniform {
                view_proj: view_proj.to_cols_array_2d(),
                camera_pos: camera.eye.extend(1.0).into(),
                light_dir: lighting
                    .direction
                    .normalize_or(Vec3::NEG_Z)
                    .extend(0.0)
                    .into(),
                light_color: light.extend(1.0).into(),
                ambient: lighting.ambient.extend(size.1 as f32).into(),
                misc: [time_s, projection.y_axis.y, 0.0, 0.0],
            }),
        );

        for (skin, buffer) in self.model.skins.iter().zip(&self.joints) {
            let matrices: Vec<[f32; 16]> = skin
                .joints
                .iter()
                .zip(&skin.inverse_bind_matrices)
                .map(|(&j, ibm)| (self.world[j] * *ibm).to_cols_array())
                .collect();
            if !matrices.is_empty() {
                queue.write_buffer(buffer, 0, bytemuck::cast_slice(&matrices));
            }
        }

        // Expressions: morph weights per node, material colors and UV transforms per material.
        let resolved = self.model.expressions.resolve(&pose.expressions);
        let morph_weights = self.model.expressions.morph_weights(&self.model, &resolved);
        for p in &self.primitives {
            let mut active: Vec<(usize, f32)> = morph_weights
                .get(p.node)
                .into_iter()
                .flatten()
                .copied()
                .enumerate()
                .chain(
                    // The mesh's own default weights where no expression drives the node.
                    self.model.meshes[p.mesh]
                        .weights
                        .iter()
                        .copied()
                        .enumerate()
                        .filter(|_| morph_weights.get(p.node).is_none_or(|w| w.is_empty())),
                )
                .filter(|&(i, w)| i < p.target_count && w.abs() > 1e-4 && w.is_finite())
                .collect();
            active.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            active.truncate(MAX_ACTIVE_MORPHS);
            let mut uniform = DrawUniform {
                world: if p.skinned {
                    Mat4::IDENTITY
                } else {
                    self.world[p.node]
                }
                .to_cols_array_2d(),
                counts: [p.vertex_count, active.len() as u32, p.skinned as u32, 0],
                morphs: [[0; 4]; MAX_ACTIVE_MORPHS / 2],
            };
            for (k, (index, weight)) in active.into_iter().enumerate() {
                let slot = &mut uniform.morphs[k / 2];
                slot[(k % 2) * 2] = index as u32;
                slot[(k % 2) * 2 + 1] = weight.to_bits();
            }
            queue.write_buffer(&p.draw_uniform, 0, bytemuck::bytes_of(&uniform));
        }

        let mut uniforms: Vec<MaterialUniform> =
            self.materials.iter().map(|m| m.params.uniform).collect();
        for (expression, &w) in self.model.expressions.list.iter().zip(&resolved) {
            if w == 0.0 {
                continue;
            }
            for bind in &expression.material_color_binds {
                let Some(u) = uniforms.get_mut(bind.material) else {
                    continue;
                };
                let base = self.materials[bind.material].params.uniform;
                let (value, from): (&mut [f32; 4], [f32; 4]) = match bind.kind {
                    MaterialColorType::Color => (&mut u.base_color, base.base_color),
                    MaterialColorType::EmissionColor => (&mut u.emissive, base.emissive),
                    MaterialColorType::ShadeColor => (&mut u.shade_color, base.shade_color),
                    MaterialColorType::MatcapColor => (&mut u.matcap, base.matcap),
                    MaterialColorType::RimColor => (&mut u.rim, base.rim),
                    MaterialColorType::OutlineColor => (&mut u.outline_color, base.outline_color),
                };
                // Only the color channels move; w holds other parameters except for base color.
                let channels = if bind.kind == MaterialColorType::Color {
                    4
                } else {
                    3
                };
                for c in 0..channels {
                    value[c] += (bind.target[c] - from[c]) * w;
                }
            }
            for bind in &expression.texture_transform_binds {
                let Some(u) = uniforms.get_mut(bind.material) else {
                    continue;
                };
                let base = self.materials[bind.material].params.uniform.uv_offset_scale;
                // Binds give target values; the expression moves the material towards them.
                u.uv_offset_scale[0] += (bind.offset[0] - base[0]) * w;
                u.uv_offset_scale[1] += (bind.offset[1] - base[1]) * w;
                u.uv_offset_scale[2] += (bind.scale[0] - base[2]) * w;
                u.uv_offset_scale[3] += (bind.scale[1] - base[3]) * w;
            }
        }
        for (m, u) in self.materials.iter().zip(&uniforms) {
            queue.write_buffer(&m.uniform, 0, bytemuck::bytes_of(u));
        }

        // Opaque, then mask, then blended back to front (by MToon render queue, then depth).
        let view = camera.view();
        let depth_of = |p: &GpuPrimitive| {
            let center = if p.skinned {
                p.center
            } else {
                self.world[p.node].transform_point3(p.center)
            };
            view.transform_point3(center).z
        };
        // (primitive, rank, distance key, blended). Depth decides what shows of opaque and mask
        // materials, so they go front to back, and their outline hulls after all of them: a CPU
        // rasterizer then shades few hidden pixels. Blended ones go back to front.
        let mut order: Vec<(usize, i32, f32, bool)> = self
            .primitives
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let m = &self.materials[p.material].params;
                let blend = m.alpha_mode == AlphaMode::Blend;
                let rank = match m.alpha_mode {
                    AlphaMode::Opaque => -2000,
                    AlphaMode::Mask => -1000,
                    AlphaMode::Blend => m.render_queue_offset + if m.z_write { 0 } else { -100 },
                };
                let z = depth_of(p);
                (i, rank, if blend { z } else { -z }, blend)
            })
            .collect();
        order.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.total_cmp(&b.2)));
        let has_outline = |i: usize| {
            self.materials[self.primitives[i].material].params.outline != OutlineMode::None
        };
        self.order.clear();
        let (blend, solid): (Vec<&(usize, i32, f32, bool)>, Vec<_>) =
            order.iter().partition(|o| o.3);
        self.order.extend(solid.iter().map(|o| (o.0, false)));
        self.order.extend(
            solid
                .iter()
                .filter(|o| has_outline(o.0))
                .map(|o| (o.0, true)),
        );
        for &&(i, ..) in &blend {
            self.order.push((i, false));
            if has_outline(i) {
                self.order.push((i, true));
            }
        }
    }

    pub fn draw(&self, pass: &mut wgpu::RenderPass<'_>) {
        pass.set_bind_group(0, &self.frame_bind_group, &[]);
        for &(i, outline) in &self.order {
            let p = &self.primitives[i];
            let material = &self.materials[p.material];
            let params = &material.params;
            let key = PipelineKey {
                blend: params.alpha_mode == AlphaMode::Blend,
                double_sided: params.double_sided,
                z_write: params.z_write,
                outline,
            };
            pass.set_pipeline(&self.pipelines[&key]);
            pass.set_bind_group(1, &p.bind_group, &[]);
            pass.set_bind_group(2, &material.bind_group, &[]);
            for (slot, buffer) in p.vertex_buffers.iter().enumerate() {
                pass.set_vertex_buffer(slot as u32, buffer.slice(..));
            }
            pass.set_index_buffer(p.indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..p.index_count, 0, 0..1);
        }
    }
}

struct Layouts {
    frame: wgpu::BindGroupLayout,
    draw: wgpu::BindGroupLayout,
    material: wgpu::BindGroupLayout,
}

impl Layouts {
    fn new(device: &wgpu::Device) -> Self {
        let uniform = |binding, visibility| wgpu::BindGroupLayoutEntry {
            binding,
            visibility,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let storage = |binding, visibility| wgpu::BindGroupLayoutEntry {
            binding,
            visibility,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: true },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let texture = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::FRAGMENT,
            ty: wgpu::BindingType::Texture {
                sample_type: wgpu::TextureSampleType::Float { filterable: true },
                view_dimension: wgpu::TextureViewDimension::D2,
                multisampled: false,
            },
            count: None,
        };
        let both = wgpu::ShaderStages::VERTEX_FRAGMENT;
        Self {
            frame: device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("avatar frame"),
                entries: &[uniform(0, both)],
            }),
            draw: device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("avatar draw"),
                entries: &[
                    storage(0, wgpu::ShaderStages::VERTEX),
                    storage(1, wgpu::ShaderStages::VERTEX),
                    storage(2, wgpu::ShaderStages::VERTEX),
                ],
            }),
            material: device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("avatar material"),
                entries: &[
                    storage(0, both),
                    wgpu::BindGroupLayoutEntry {
                        binding: 1,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                        count: None,
                    },
                    texture(2),
                    texture(3),
                    texture(4),
                    texture(5),
                    texture(6),
                ],
            }),
        }
    }
}

fn color_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    width: u32,
    height: u32,
    rgba: &[u8],
    label: &str,
) -> wgpu::TextureView {
    device
        .create_texture_with_data(
            queue,
            &wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                // Every texture the shader samples holds colors (sRGB-encoded in glTF and VRM).
                format: wgpu::TextureFormat::Rgba8UnormSrgb,
                usage: wgpu::TextureUsages::TEXTURE_BINDING,
                view_formats: &[],
            },
            wgpu::util::TextureDataOrder::LayerMajor,
            rgba,
        )
        .create_view(&Default::default())
}

fn upload_images(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    model: &VrmModel,
) -> Vec<wgpu::TextureView> {
    let max = device.limits().max_texture_dimension_2d;
    model
        .images
        .iter()
        .map(|image| {
            if image.width == 0 || image.height == 0 || image.width > max || image.height > max {
                log::warn!(
                    "image {:?} is {}x{}; this GPU takes at most {max}: drawn white",
                    image.name,
                    image.width,
                    image.height
                );
                return color_texture(device, queue, 1, 1, &[255; 4], "stand-in");
            }
            color_texture(
                device,
                queue,
                image.width,
                image.height,
                &image.rgba8,
                &image.name,
            )
        })
        .collect()
}

fn make_material(
    device: &wgpu::Device,
    layouts: &Layouts,
    model: &VrmModel,
    params: MaterialParams,
    images: &[wgpu::TextureView],
    white: &wgpu::TextureView,
) -> GpuMaterial {
    let view = |texture: Option<usize>| {
        texture
            .and_then(|t| model.textures.get(t))
            .and_then(|t| images.get(t.image))
            .unwrap_or(white)
    };
    let sampler_info = params
        .textures
        .base
        .and_then(|t| model.textures.get(t))
        .and_then(|t| t.sampler)
        .and_then(|s| model.samplers.get(s))
        .copied()
        .unwrap_or_default();
    let filter = |f: Filter| match f {
        Filter::Nearest => wgpu::FilterMode::Nearest,
        Filter::Linear => wgpu::FilterMode::Linear,
    };
    let wrap = |w: Wrap| match w {
        Wrap::ClampToEdge => wgpu::AddressMode::ClampToEdge,
        Wrap::MirroredRepeat => wgpu::AddressMode::MirrorRepeat,
        Wrap::Repeat => wgpu::AddressMode::Repeat,
    };
    let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some("material"),
        address_mode_u: wrap(sampler_info.wrap_s),
        address_mode_v: wrap(sampler_info.wrap_t),
        mag_filter: filter(sampler_info.mag_filter),
        min_filter: filter(sampler_info.min_filter),
        ..Default::default()
    });
    let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("material"),
        contents: bytemuck::bytes_of(&params.uniform),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
    });
    let t = &params.textures;
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("material"),
        layout: &layouts.material,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: uniform.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Sampler(&sampler),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: wgpu::BindingResource::TextureView(view(t.base)),
            },
            wgpu::BindGroupEntry {
                binding: 3,
                resource: wgpu::BindingResource::TextureView(view(t.shade)),
            },
            wgpu::BindGroupEntry {
                binding: 4,
                resource: wgpu::BindingResource::TextureView(view(t.emissive)),
            },
            wgpu::BindGroupEntry {
                binding: 5,
                resource: wgpu::BindingResource::TextureView(view(t.matcap)),
            },
            wgpu::BindGroupEntry {
                binding: 6,
                resource: wgpu::BindingResource::TextureView(view(t.rim)),
            },
        ],
    });
    GpuMaterial {
        params,
        uniform,
        bind_group,
    }
}

#[allow(clippy::too_many_arguments)]
fn upload_primitive(
    device: &wgpu::Device,
    layouts: &Layouts,
    primitive: &crate::vrm::Primitive,
    node: usize,
    mesh: usize,
    skinned: bool,
    joints: &wgpu::Buffer,
    default_material: usize,
) -> GpuPrimitive {
    let n = primitive.positions.len();
    let vertex_buffer = |label: &str, bytes: &[u8]| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: if bytes.is_empty() { &[0; 16] } else { bytes },
            usage: wgpu::BufferUsages::VERTEX,
        })
    };
    let normals = primitive
        .normals
        .clone()
        .unwrap_or_else(|| flat_normals(&primitive.positions, &primitive.indices));
    let uvs = primitive.uv0.clone().unwrap_or_else(|| vec![[0.0; 2]; n]);
    let joint_ids = primitive.joints0.clone().unwrap_or_else(|| vec![[0; 4]; n]);
    let weights = primitive
        .weights0
        .clone()
        .unwrap_or_else(|| vec![[1.0, 0.0, 0.0, 0.0]; n]);
    let vertex_buffers = [
        vertex_buffer("positions", bytemuck::cast_slice(&primitive.positions)),
        vertex_buffer("normals", bytemuck::cast_slice(&normals)),
        vertex_buffer("uv0", bytemuck::cast_slice(&uvs)),
        vertex_buffer("joints0", bytemuck::cast_slice(&joint_ids)),
        vertex_buffer("weights0", bytemuck::cast_slice(&weights)),
    ];
    let indices = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("indices"),
        contents: bytemuck::cast_slice(if primitive.indices.is_empty() {
            &[0u32; 4][..]
        } else {
            &primitive.indices
        }),
        usage: wgpu::BufferUsages::INDEX,
    });
    let mut deltas: Vec<[f32; 4]> = Vec::with_capacity(primitive.targets.len() * 2 * n);
    for target in &primitive.targets {
        // The loader makes every target as long as the positions; pad defensively all the same.
        deltas.extend(
            target
                .positions
                .iter()
                .take(n)
                .map(|p| [p[0], p[1], p[2], 0.0]),
        );
        deltas.resize(deltas.len() + n - target.positions.len().min(n), [0.0; 4]);
        match &target.normals {
            Some(normals) => {
                deltas.extend(normals.iter().take(n).map(|v| [v[0], v[1], v[2], 0.0]));
                deltas.resize(deltas.len() + n - normals.len().min(n), [0.0; 4]);
            }
            None => deltas.resize(deltas.len() + n, [0.0; 4]),
        }
    }
    if deltas.is_empty() {
        deltas.push([0.0; 4]);
    }
    let morph_deltas = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("morph deltas"),
        contents: bytemuck::cast_slice(&deltas),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let draw_uniform = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("draw"),
        size: size_of::<DrawUniform>() as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("draw"),
        layout: &layouts.draw,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: draw_uniform.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: joints.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: morph_deltas.as_entire_binding(),
            },
        ],
    });
    let (min, max) = primitive.positions.iter().fold(
        (Vec3::splat(f32::MAX), Vec3::splat(f32::MIN)),
        |(lo, hi), p| (lo.min(Vec3::from(*p)), hi.max(Vec3::from(*p))),
    );
    GpuPrimitive {
        node,
        mesh,
        vertex_buffers,
        indices,
        index_count: primitive.indices.len() as u32,
        vertex_count: n as u32,
        target_count: primitive.targets.len(),
        draw_uniform,
        bind_group,
        material: primitive.material.unwrap_or(default_material),
        skinned,
        center: if n == 0 {
            Vec3::ZERO
        } else {
            (min + max) * 0.5
        },
    }
}

/// Normals for a primitive that has none (glTF: flat shading); averaged where vertices are shared.
fn flat_normals(positions: &[[f32; 3]], indices: &[u32]) -> Vec<[f32; 3]> {
    let mut normals = vec![Vec3::ZERO; positions.len()];
    for tri in indices.chunks_exact(3) {
        let [a, b, c] = [0, 1, 2].map(|k| Vec3::from(positions[tri[k] as usize]));
        let n = (b - a).cross(c - a);
        for &k in tri {
            normals[k as usize] += n;
        }
    }
    normals
        .into_iter()
        .map(|n| n.normalize_or(Vec3::Y).into())
        .collect()
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
            compilation_options: Default::default(),
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

/// An avatar as the offscreen renderer's scene: the model, its current pose, the camera and lights.
pub struct AvatarScene {
    pub renderer: AvatarRenderer,
    pub pose: AvatarPose,
    /// An explicit camera; None frames the avatar with `framing`.
    pub camera: Option<Camera>,
    pub framing: camera::Framing,
    /// Applied to the framed camera only: how much closer it comes (1 = the framing itself),
    /// how far up it moves (meters), for a framing between upper body and full body, and how
    /// far the avatar moves sideways in the picture (meters, positive to the right), to leave
    /// room for the rest of a scene.
    pub zoom: f32,
    pub height_offset: f32,
    pub side_offset: f32,
    pub fov_y_deg: f32,
    pub lighting: Lighting,
    /// Rest-pose bounds of everything drawn (model space), for framing models without a humanoid.
    bounds: (Vec3, Vec3),
    springs: crate::vrm::SpringBones,
    /// Time of the last prepared frame, for the spring bones' time step.
    last_t: Option<f32>,
}

impl AvatarScene {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue, model: VrmModel, samples: u32) -> Self {
        let renderer = AvatarRenderer::new(
            device,
            queue,
            model,
            crate::render::target::OffscreenTarget::FORMAT,
            crate::render::target::OffscreenTarget::DEPTH,
            samples,
        );
        let bounds = rest_bounds(renderer.model(), renderer.world_matrices());
        let springs = crate::vrm::SpringBones::new(renderer.model());
        Self {
            renderer,
            pose: AvatarPose::default(),
            camera: None,
            framing: camera::Framing::UpperBody,
            zoom: 1.0,
            height_offset: 0.0,
            side_offset: 0.0,
            fov_y_deg: 30.0,
            lighting: Lighting::default(),
            bounds,
            springs,
            last_t: None,
        }
    }

    /// The pose and its expressions for this frame, and the world matrices after the spec's
    /// per-frame order: humanoid, lookAt, expressions, node constraints, spring bones (`dt` s).
    fn evaluate(&mut self, dt: f32) -> (AvatarPose, Vec<Mat4>) {
        let pose = with_look_at(self.renderer.model(), &self.pose).into_owned();
        let skeleton = self.renderer.skeleton();
        let mut local = skeleton.local_transforms(&pose);
        skeleton.constrain(&mut local);
        let world = self.springs.update(self.renderer.model(), &mut local, dt);
        (pose, world)
    }

    /// Steps the spring bones `frames` times 1/60 s with the current pose, so that hair hangs
    /// as it would after a moment of stillness (`vrm-avatar render --settle-frames`).
    pub fn settle(&mut self, frames: u32) {
        for _ in 0..frames {
            self.evaluate(crate::vrm::spring_bone::STEP_S);
        }
    }

    /// The camera for an output of `aspect` (width / height).
    pub fn current_camera(&self, aspect: f32) -> Camera {
        self.camera.unwrap_or_else(|| {
            let framed = Camera::framing(
                self.framing,
                self.renderer.skeleton().rig(),
                self.bounds,
                self.fov_y_deg,
                aspect,
            );
            // The camera moves the other way from where the avatar should go.
            let right = (framed.target - framed.eye)
                .cross(Vec3::Y)
                .normalize_or_zero();
            let shift = Vec3::Y * self.height_offset - right * self.side_offset;
            Camera {
                eye: framed.target
                    + (framed.eye - framed.target) / self.zoom.clamp(0.1, 10.0)
                    + shift,
                target: framed.target + shift,
                ..framed
            }
        })
    }
}

impl crate::render::Scene for AvatarScene {
    fn prepare(&mut self, queue: &wgpu::Queue, size: (u32, u32), t_seconds: f32) {
        let dt = self.last_t.map_or(0.0, |last| t_seconds - last);
        self.last_t = Some(t_seconds);
        let (pose, world) = self.evaluate(dt);
        let camera = self.current_camera(size.0 as f32 / size.1.max(1) as f32);
        self.renderer.prepare(
            queue,
            world,
            &pose,
            &camera,
            &self.lighting,
            size,
            t_seconds,
        );
    }

    fn draw(&self, pass: &mut wgpu::RenderPass<'_>) {
        self.renderer.draw(pass);
    }
}

/// The pose with its gaze applied as the model's lookAt says: eye bone rotations or lookAt
/// expression weights (what the pose sets explicitly wins).
fn with_look_at<'a>(model: &VrmModel, pose: &'a AvatarPose) -> std::borrow::Cow<'a, AvatarPose> {
    let (Some(gaze), Some(look_at)) = (pose.look_at, model.look_at) else {
        return std::borrow::Cow::Borrowed(pose);
    };
    let mut pose = pose.clone();
    match look_at.apply(gaze.yaw_deg, gaze.pitch_deg) {
        LookAtOutput::Bones { left, right } => {
            for (bone, rotation) in [("leftEye", left), ("rightEye", right)] {
                if !pose.bones.contains_key(bone) {
                    pose.set_rotation(bone, rotation);
                }
            }
        }
        LookAtOutput::Expressions(weights) => {
            for (name, weight) in weights {
                pose.expressions.entry(name.to_string()).or_insert(weight);
            }
        }
    }
    std::borrow::Cow::Owned(pose)
}

/// Bounds of the drawn vertices at rest: skinned vertices are already in model space in the
/// bind pose; others move with their node.
fn rest_bounds(model: &VrmModel, world: &[Mat4]) -> (Vec3, Vec3) {
    let mut lo = Vec3::splat(f32::MAX);
    let mut hi = Vec3::splat(f32::MIN);
    for (i, node) in model.nodes.iter().enumerate() {
        let Some(mesh) = node.mesh else { continue };
        let m = if node.skin.is_some() {
            Mat4::IDENTITY
        } else {
            world[i]
        };
        for p in model.meshes[mesh]
            .primitives
            .iter()
            .flat_map(|p| &p.positions)
        {
            let v = m.transform_point3(Vec3::from(*p));
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if lo.x > hi.x {
        (Vec3::splat(-0.5), Vec3::splat(0.5))
    } else {
        (lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Gpu, OffscreenRenderer};

    pub(super) fn testdata(path: &str) -> String {
        format!("{}/../shared/testdata/{path}", env!("CARGO_MANIFEST_DIR"))
    }

    /// Renders `file` with `pose` and writes the PNG under target/ for a look.
    fn render(file: &str, pose: AvatarPose, name: &str) -> crate::frame::RgbaFrame {
        render_at(file, pose, name, camera::Framing::UpperBody, 0.0)
    }

    /// Renders `file` at time `t` and writes the PNG under target/renders for a look.
    fn render_at(
        file: &str,
        pose: AvatarPose,
        name: &str,
        framing: camera::Framing,
        t: f32,
    ) -> crate::frame::RgbaFrame {
        render_framed(file, pose, name, framing, t).0
    }

    /// [`render_at`], with the camera it framed the model with.
    pub(super) fn render_framed(
        file: &str,
        pose: AvatarPose,
        name: &str,
        framing: camera::Framing,
        t: f32,
    ) -> (crate::frame::RgbaFrame, Camera) {
        let model = crate::vrm::load_file(testdata(file)).unwrap();
        let mut r = OffscreenRenderer::new(Gpu::new().unwrap(), 640, 480);
        let mut scene = AvatarScene::new(&r.gpu().device, &r.gpu().queue, model, r.samples());
        scene.pose = pose;
        scene.framing = framing;
        let frame = r.render_blocking(&mut scene, t);
        let camera = scene.current_camera(frame.width as f32 / frame.height as f32);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/renders");
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join(format!("{name}.png"))).unwrap();
        let mut enc = png::Encoder::new(file, frame.width, frame.height);
        enc.set_color(png::ColorType::Rgba);
        enc.write_header()
            .unwrap()
            .write_image_data(&frame.tight_pixels())
            .unwrap();
        (frame, camera)
    }

    /// Pixels in rows `rows` whose color passes `keep` (color in encoded sRGB, opaque only).
    fn count(
        frame: &crate::frame::RgbaFrame,
        rows: std::ops::Range<u32>,
        keep: impl Fn([u8; 4]) -> bool,
    ) -> usize {
        rows.flat_map(|y| (0..frame.width).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = frame.pixel(x, y);
                p[3] == 255 && keep(p)
            })
            .count()
    }

    fn red(p: [u8; 4]) -> bool {
        p[0] > 150 && p[1] < 90 && p[2] < 90
    }

    fn green(p: [u8; 4]) -> bool {
        p[1] > 100 && p[0] < 90 && p[2] < 90
    }

    #[test]
    fn the_spec_is_binary_samples_show_their_green_checks() {
        // Each sample paints red (or crosses) where an implementation gets isBinary and overrides
        // wrong; the weights cover happy below and above 0.5, with and without blink.
        for sample in ["Overrides", "Overridden"] {
            let file = format!("vrm/vrm1/VRMC_vrm_expressions_isBinary_{sample}.vrm");
            for (happy, blink) in [(0.8, 1.0), (0.3, 1.0), (1.0, 0.0), (0.0, 0.6)] {
                let mut pose = AvatarPose::default();
                pose.expressions.insert("happy".into(), happy);
                pose.expressions.insert("blink".into(), blink);
                let name = format!("isBinary_{sample}_{happy}_{blink}");
                let frame = render_at(&file, pose, &name, camera::Framing::FullBody, 0.0);
                let all = 0..frame.height;
                assert_eq!(count(&frame, all.clone(), red), 0, "{name}: no red");
                assert!(
                    count(&frame, all, green) > 5_000,
                    "{name}: the green check plane"
                );
            }
        }
    }

    #[test]
    fn mtoon_uv_animation_scrolls_and_rotates() {
        let file = "vrm/vrm1/VRMC_materials_mtoon_UV_Animation_Test.vrm";
        let at = |t: f32| {
            render_at(
                file,
                AvatarPose::default(),
                &format!("uv_animation_{t}"),
                camera::Framing::FullBody,
                t,
            )
        };
        let (a, b) = (at(0.0), at(0.05));
        // Centroid of the dark arrow pixels in a band of rows.
        let centroid = |f: &crate::frame::RgbaFrame, rows: std::ops::Range<u32>| {
            let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
            for y in rows {
                for x in 0..f.width {
                    let p = f.pixel(x, y);
                    if p[3] == 255 && p[0] < 60 && p[1] < 60 && p[2] < 60 {
                        sx += x as f64;
                        sy += y as f64;
                        n += 1.0;
                    }
                }
            }
            assert!(n > 100.0, "an arrow in the band");
            (sx / n, sy / n)
        };
        let h = a.height;
        let (rot, up, left) = (0..h / 3, h / 3..2 * h / 3, 2 * h / 3..h);
        // Scroll Y moves the up arrow up the screen; scroll X moves the left arrow left.
        assert!(centroid(&b, up.clone()).1 < centroid(&a, up).1 - 1.0);
        assert!(centroid(&b, left.clone()).0 < centroid(&a, left).0 - 1.0);
        // The rotation quad turns: its pixels change.
        let band = |f: &crate::frame::RgbaFrame| {
            rot.clone()
                .flat_map(|y| (0..f.width).map(move |x| (x, y)))
                .map(|(x, y)| f.pixel(x, y))
                .collect::<Vec<_>>()
        };
        assert!(band(&a) != band(&b), "the rotation quad turns");
    }

    #[test]
    fn godette_renders_upper_body_on_transparent() {
        let frame = render(
            "vrm/vrm0/Godette_vrm_v4.vrm",
            AvatarPose::default(),
            "godette_rest",
        );
        let pixels = frame.tight_pixels();
        let opaque = pixels.chunks(4).filter(|p| p[3] == 255).count();
        let clear = pixels.chunks(4).filter(|p| p[3] == 0).count();
        assert!(opaque > 20_000, "{opaque} opaque pixels");
        assert!(clear > 20_000, "{clear} clear pixels");
    }

    fn differing_pixels(a: &crate::frame::RgbaFrame, b: &crate::frame::RgbaFrame) -> usize {
        a.tight_pixels()
            .chunks(4)
            .zip(b.tight_pixels().chunks(4))
            .filter(|(x, y)| x.iter().zip(*y).any(|(p, q)| p.abs_diff(*q) > 8))
            .count()
    }

    #[test]
    fn expressions_and_bone_rotations_change_the_picture() {
        let file = "vrm/vrm0/Godette_vrm_v4.vrm";
        let rest = render(file, AvatarPose::default(), "godette_rest2");
        let with = |name: &str, value: f32| {
            let mut pose = AvatarPose::default();
            pose.expressions.insert(name.into(), value);
            pose
        };
        let blink = render(file, with("blink", 1.0), "godette_blink");
        let aa = render(file, with("aa", 1.0), "godette_aa");
        let mut turned = AvatarPose::default();
        turned.set_rotation("head", glam::Quat::from_rotation_y(30f32.to_radians()));
        turned.set_rotation(
            "leftUpperArm",
            glam::Quat::from_rotation_z(-70f32.to_radians()),
        );
        turned.set_rotation(
            "rightUpperArm",
            glam::Quat::from_rotation_z(70f32.to_radians()),
        );
        let posed = render(file, turned, "godette_head30_arms_down");
        // Blink and aa touch the eyes and mouth only: a small but clear part of the frame.
        for (name, frame) in [("blink", &blink), ("aa", &aa)] {
            let d = differing_pixels(&rest, frame);
            assert!((300..40_000).contains(&d), "{name} changes {d} pixels");
        }
        assert!(differing_pixels(&blink, &aa) > 300);
        assert!(differing_pixels(&rest, &posed) > 20_000);
        // The same input renders the same picture.
        assert_eq!(
            differing_pixels(&rest, &render(file, AvatarPose::default(), "godette_rest3")),
            0
        );
    }

    #[test]
    fn gaze_turns_the_eyes_of_the_built_in_avatar() {
        let render_gaze = |yaw: f32| {
            let model = crate::vrm::load(crate::default_avatar::default_avatar_vrm()).unwrap();
            let mut r = OffscreenRenderer::new(Gpu::new().unwrap(), 640, 480);
            let mut scene = AvatarScene::new(&r.gpu().device, &r.gpu().queue, model, r.samples());
            scene.pose.look_at = Some(crate::pose::LookAtAngles {
                yaw_deg: yaw,
                pitch_deg: 0.0,
            });
            r.render_blocking(&mut scene, 0.0)
        };
        let (ahead, left) = (render_gaze(0.0), render_gaze(40.0));
        let changed = differing_pixels(&ahead, &left);
        assert!(
            (20..20_000).contains(&changed),
            "the irises move: {changed} pixels"
        );
    }

    #[test]
    fn the_side_offset_moves_the_avatar_right_in_the_picture() {
        let model = crate::vrm::load_file(testdata("vrm/vrm0/Godette_vrm_v4.vrm")).unwrap();
        let mut r = OffscreenRenderer::new(Gpu::new().unwrap(), 320, 180);
        let mut scene = AvatarScene::new(&r.gpu().device, &r.gpu().queue, model, r.samples());
        let mut centre_x = |side_offset: f32| {
            scene.side_offset = side_offset;
            let frame = r.render_blocking(&mut scene, 0.0);
            let covered: Vec<u32> = (0..frame.height)
                .flat_map(|y| (0..frame.width).map(move |x| (x, y)))
                .filter(|&(x, y)| frame.pixel(x, y)[3] > 127)
                .map(|(x, _)| x)
                .collect();
            covered.iter().sum::<u32>() as f32 / covered.len().max(1) as f32
        };
        let (centred, right, left) = (centre_x(0.0), centre_x(0.3), centre_x(-0.3));
        assert!(
            (centred - 160.0).abs() < 15.0,
            "framed in the middle: {centred}"
        );
        assert!(right > centred + 30.0, "to the right: {centred} -> {right}");
        assert!(left < centred - 30.0, "to the left: {centred} -> {left}");
    }

    #[test]
    fn with_msaa_the_avatar_has_smooth_premultiplied_edges() {
        let model = crate::vrm::load_file(testdata("vrm/vrm0/Godette_vrm_v4.vrm")).unwrap();
        let mut r = OffscreenRenderer::with_samples(Gpu::new().unwrap(), 320, 240, 4);
        let mut scene = AvatarScene::new(&r.gpu().device, &r.gpu().queue, model, r.samples());
        let frame = r.render_blocking(&mut scene, 0.0);
        let pixels = frame.tight_pixels();
        let partial = pixels.chunks(4).filter(|p| p[3] > 0 && p[3] < 255).count();
        assert!(partial > 100, "{partial} partly covered edge pixels");
        let lin = |c: u8| ((c as f32 / 255.0 + 0.055) / 1.055).powf(2.4);
        assert!(
            pixels
                .chunks(4)
                .all(|p| p[..3].iter().all(|&c| lin(c) <= p[3] as f32 / 255.0 + 0.02)),
            "premultiplied"
        );
    }
}
