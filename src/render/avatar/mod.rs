//! Draws a loaded VRM (or plain glTF) model with wgpu: GPU skinning and morph targets, MToon,
//! unlit and a lit fallback, MToon outlines, alpha modes opaque / mask / blend (blended
//! primitives sorted back to front), double-sided materials, expressions (morph, material color
//! and texture transform binds), tangent-space normal maps, mipmapped textures.

pub mod camera;
pub mod material;
pub mod skeleton;

use crate::pose::AvatarPose;
use crate::vrm::expressions::MaterialColorType;
use crate::vrm::gltf_data::{Filter, Wrap};
use crate::vrm::look_at::LookAtOutput;
use crate::vrm::{AlphaMode, VrmModel};
use camera::Camera;
use glam::{Mat4, Vec3};
use material::{MaterialParams, MaterialUniform, OutlineMode, TextureSpace};
use skeleton::Skeleton;
use std::collections::{BTreeSet, HashMap};
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
    /// Positions, normals, UV0, joints, weights.
    vertex_buffers: [wgpu::Buffer; 5],
    /// Tangents (slot 5) where the material has a normal texture.
    tangents: Option<wgpu::Buffer>,
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
    /// Bytes of its own GPU buffers (vertices, indices, morph deltas, tangents).
    bytes: u64,
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
    /// A normal-mapped material (never with `outline`): the shader's vs_mapped / fs_mapped with
    /// a tangent vertex buffer. Made only for models that have such materials.
    normal_mapped: bool,
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
    /// Bytes of model data uploaded to the GPU (textures with their mip levels, vertices,
    /// tangents, indices, morph deltas).
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

        // The model's materials, then glTF's default material for primitives without one.
        let params: Vec<MaterialParams> = model
            .materials
            .iter()
            .map(MaterialParams::new)
            .chain([MaterialParams::fallback()])
            .collect();
        let default_material = params.len() - 1;
        let (textures, texture_bytes) = upload_textures(device, queue, &model, &params);
        let stand_ins = StandIns {
            white: upload_texture(
                device,
                queue,
                1,
                1,
                &[255; 4],
                "white",
                TextureSpace::Srgb,
                false,
            )
            .0,
            flat_normal: upload_texture(
                device,
                queue,
                1,
                1,
                &[128, 128, 255, 255],
                "flat normal",
                TextureSpace::Normal,
                false,
            )
            .0,
        };
        let materials = params
            .into_iter()
            .map(|params| make_material(device, &layouts, &model, params, &textures, &stand_ins))
            .collect::<Vec<_>>();

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
                let material = primitive.material.unwrap_or(default_material);
                let normal_mapped = materials
                    .get(material)
                    .is_some_and(|m| m.params.textures.normal.is_some());
                primitives.push(upload_primitive(
                    device,
                    &layouts,
                    primitive,
                    PrimitiveSlot {
                        node: node_index,
                        mesh: mesh_index,
                        material,
                        skinned: skin.is_some() && primitive.joints0.is_some(),
                    },
                    joint_buffer,
                    normal_mapped,
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
        let any_normal_map = primitives.iter().any(|p| p.tangents.is_some());
        for blend in [false, true] {
            for double_sided in [false, true] {
                for z_write in [false, true] {
                    for (outline, normal_mapped) in [(false, false), (true, false), (false, true)] {
                        if normal_mapped && !any_normal_map {
                            continue;
                        }
                        let key = PipelineKey {
                            blend,
                            double_sided,
                            z_write,
                            outline,
                            normal_mapped,
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
        let mesh_bytes: u64 = primitives.iter().map(|p| p.bytes).sum();
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
            gpu_bytes: texture_bytes + mesh_bytes,
        }
    }

    /// Bytes of model data on the GPU (textures with their mip levels, vertices, tangents,
    /// indices, morph deltas).
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
        let mut order: Vec<(usize, i32, f32)> = self
            .primitives
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let m = &self.materials[p.material].params;
                let rank = match m.alpha_mode {
                    AlphaMode::Opaque => -2000,
                    AlphaMode::Mask => -1000,
                    AlphaMode::Blend => m.render_queue_offset + if m.z_write { 0 } else { -100 },
                };
                (i, rank, depth_of(p))
            })
            .collect();
        order.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.total_cmp(&b.2)));
        self.order.clear();
        for (i, _, _) in order {
            self.order.push((i, false));
            if self.materials[self.primitives[i].material].params.outline != OutlineMode::None {
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
                normal_mapped: !outline && p.tangents.is_some(),
            };
            pass.set_pipeline(&self.pipelines[&key]);
            pass.set_bind_group(1, &p.bind_group, &[]);
            pass.set_bind_group(2, &material.bind_group, &[]);
            for (slot, buffer) in p.vertex_buffers.iter().enumerate() {
                pass.set_vertex_buffer(slot as u32, buffer.slice(..));
            }
            if let (true, Some(tangents)) = (key.normal_mapped, &p.tangents) {
                pass.set_vertex_buffer(5, tangents.slice(..));
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
        let storage = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::VERTEX,
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
                    uniform(0, wgpu::ShaderStages::VERTEX),
                    storage(1),
                    storage(2),
                ],
            }),
            material: device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("avatar material"),
                entries: &[
                    uniform(0, both),
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
                    texture(7),
                ],
            }),
        }
    }
}

/// A texture, `mipmapped` with its full mip chain (made on the CPU); returns its view and GPU
/// bytes.
#[allow(clippy::too_many_arguments)]
fn upload_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    width: u32,
    height: u32,
    rgba: &[u8],
    label: &str,
    space: TextureSpace,
    mipmapped: bool,
) -> (wgpu::TextureView, u64) {
    let smaller = if mipmapped {
        material::mip_levels(width, height, rgba, space)
    } else {
        Vec::new()
    };
    let texture = device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: smaller.len() as u32 + 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: match space {
            // Colors are sRGB-encoded in glTF and VRM; the sampler decodes them.
            TextureSpace::Srgb => wgpu::TextureFormat::Rgba8UnormSrgb,
            TextureSpace::Normal => wgpu::TextureFormat::Rgba8Unorm,
        },
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    let mut bytes = 0;
    let levels = std::iter::once(rgba).chain(smaller.iter().map(Vec::as_slice));
    for (level, data) in levels.enumerate() {
        let (w, h) = ((width >> level).max(1), (height >> level).max(1));
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &texture,
                mip_level: level as u32,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            data,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(w * 4),
                rows_per_image: Some(h),
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
        bytes += data.len() as u64;
    }
    (texture.create_view(&Default::default()), bytes)
}

/// An uploaded image: in a color space, with a full mip chain or level 0 alone.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct TextureKey {
    image: usize,
    space: TextureSpace,
    mipmapped: bool,
}

/// Textures of the model: each image the materials use, once per way it is used (an image both
/// a color and a normal map, or sampled with and without mipmaps, is uploaded twice; images no
/// material uses, such as the VRM thumbnail, not at all).
type Textures = HashMap<TextureKey, wgpu::TextureView>;

/// The sampler of a material: its base color texture's (glTF has one per texture; every texture
/// of a material is sampled alike here), else glTF's default (trilinear, repeating).
fn material_sampler(model: &VrmModel, params: &MaterialParams) -> crate::vrm::gltf_data::Sampler {
    params
        .textures
        .base
        .and_then(|t| model.textures.get(t))
        .and_then(|t| t.sampler)
        .and_then(|s| model.samplers.get(s))
        .copied()
        .unwrap_or_default()
}

/// Uploads the images `materials` use, with mip chains; returns them and their GPU bytes.
fn upload_textures(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    model: &VrmModel,
    materials: &[MaterialParams],
) -> (Textures, u64) {
    let image = |t: Option<usize>| model.textures.get(t?).map(|t| t.image);
    let mut wanted = BTreeSet::new();
    for m in materials {
        let mipmapped = material_sampler(model, m).mipmap_filter.is_some();
        let key = |image, space| TextureKey {
            image,
            space,
            mipmapped,
        };
        let t = &m.textures;
        for color in [t.base, t.shade, t.emissive, t.matcap, t.rim] {
            wanted.extend(image(color).map(|i| key(i, TextureSpace::Srgb)));
        }
        wanted.extend(image(t.normal).map(|i| key(i, TextureSpace::Normal)));
    }
    let max = device.limits().max_texture_dimension_2d;
    let mut bytes = 0;
    let mut textures = HashMap::new();
    for key in wanted {
        let space = key.space;
        let Some(image) = model.images.get(key.image) else {
            continue;
        };
        let (view, size) = if image.width == 0
            || image.height == 0
            || image.width > max
            || image.height > max
            || image.rgba8.len() as u64 != u64::from(image.width) * u64::from(image.height) * 4
        {
            log::warn!(
                "image {:?} ({}x{}, {} bytes) cannot be uploaded (this GPU takes at most \
                 {max}x{max}): drawn plain",
                image.name,
                image.width,
                image.height,
                image.rgba8.len()
            );
            let texel = match space {
                TextureSpace::Srgb => [255; 4],
                TextureSpace::Normal => [128, 128, 255, 255],
            };
            upload_texture(device, queue, 1, 1, &texel, "stand-in", space, false)
        } else {
            upload_texture(
                device,
                queue,
                image.width,
                image.height,
                &image.rgba8,
                &image.name,
                space,
                key.mipmapped,
            )
        };
        bytes += size;
        textures.insert(key, view);
    }
    (textures, bytes)
}

/// What a material binds where it has no texture.
struct StandIns {
    white: wgpu::TextureView,
    /// (128, 128, 255): the unperturbed normal, bound where a material has no normal texture (only
    /// normal-mapped materials draw with the pipeline that samples it).
    flat_normal: wgpu::TextureView,
}

fn make_material(
    device: &wgpu::Device,
    layouts: &Layouts,
    model: &VrmModel,
    params: MaterialParams,
    textures: &Textures,
    stand_ins: &StandIns,
) -> GpuMaterial {
    let sampler_info = material_sampler(model, &params);
    let lookup = |texture: Option<usize>, space| {
        texture.and_then(|t| model.textures.get(t)).and_then(|t| {
            textures.get(&TextureKey {
                image: t.image,
                space,
                mipmapped: sampler_info.mipmap_filter.is_some(),
            })
        })
    };
    let view = |texture| lookup(texture, TextureSpace::Srgb).unwrap_or(&stand_ins.white);
    let filter = |f: Filter| match f {
        Filter::Nearest => wgpu::FilterMode::Nearest,
        Filter::Linear => wgpu::FilterMode::Linear,
    };
    let wrap = |w: Wrap| match w {
        Wrap::ClampToEdge => wgpu::AddressMode::ClampToEdge,
        Wrap::MirroredRepeat => wgpu::AddressMode::MirrorRepeat,
        Wrap::Repeat => wgpu::AddressMode::Repeat,
    };
    // glTF's minFilter NEAREST / LINEAR mean no mipmaps: such materials bind textures of one
    // level (see `upload_textures`). The mipmap modes, and textures without a sampler, filter
    // between levels.
    let mipmap_filter = match sampler_info.mipmap_filter {
        Some(Filter::Linear) => wgpu::MipmapFilterMode::Linear,
        _ => wgpu::MipmapFilterMode::Nearest,
    };
    let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some("material"),
        address_mode_u: wrap(sampler_info.wrap_s),
        address_mode_v: wrap(sampler_info.wrap_t),
        mag_filter: filter(sampler_info.mag_filter),
        min_filter: filter(sampler_info.min_filter),
        mipmap_filter,
        ..Default::default()
    });
    let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("material"),
        contents: bytemuck::bytes_of(&params.uniform),
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
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
            wgpu::BindGroupEntry {
                binding: 7,
                resource: wgpu::BindingResource::TextureView(
                    lookup(t.normal, TextureSpace::Normal).unwrap_or(&stand_ins.flat_normal),
                ),
            },
        ],
    });
    GpuMaterial {
        params,
        uniform,
        bind_group,
    }
}

/// Where a primitive is drawn from: its node and mesh, its material, whether it is skinned.
struct PrimitiveSlot {
    node: usize,
    mesh: usize,
    material: usize,
    skinned: bool,
}

fn upload_primitive(
    device: &wgpu::Device,
    layouts: &Layouts,
    primitive: &crate::vrm::Primitive,
    slot: PrimitiveSlot,
    joints: &wgpu::Buffer,
    normal_mapped: bool,
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
    // Tangents for normal maps: the file's, else computed. Morph targets move positions and
    // normals only; tangents stay at rest (glTF TANGENT morph deltas are not read; VRM 1.0 says
    // they are unused).
    let tangents = normal_mapped.then(|| {
        let tangents = primitive.tangents.clone().unwrap_or_else(|| {
            crate::vrm::gltf_data::compute_tangents(
                &primitive.positions,
                &normals,
                &uvs,
                &primitive.indices,
            )
        });
        vertex_buffer("tangents", bytemuck::cast_slice(&tangents))
    });
    let tangent_bytes = n as u64 * if tangents.is_some() { 16 } else { 0 };
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
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
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
    let vertices = n as u64;
    let bytes = vertices * (12 + 12 + 8 + 8 + 16)
        + primitive.indices.len() as u64 * 4
        + primitive.targets.len() as u64 * 2 * vertices * 16
        + tangent_bytes;
    GpuPrimitive {
        node: slot.node,
        mesh: slot.mesh,
        vertex_buffers,
        tangents,
        indices,
        index_count: primitive.indices.len() as u32,
        vertex_count: n as u32,
        target_count: primitive.targets.len(),
        draw_uniform,
        bind_group,
        material: slot.material,
        skinned: slot.skinned,
        center: if n == 0 {
            Vec3::ZERO
        } else {
            (min + max) * 0.5
        },
        bytes,
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
        attribute(5, wgpu::VertexFormat::Float32x4),
    ];
    let strides = [12, 12, 8, 8, 16, 16];
    let used = if key.normal_mapped { 6 } else { 5 };
    let buffers: Vec<Option<wgpu::VertexBufferLayout>> = attributes[..used]
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
            entry_point: Some(match (key.outline, key.normal_mapped) {
                (true, _) => "vs_outline",
                (false, true) => "vs_mapped",
                (false, false) => "vs_main",
            }),
            compilation_options: Default::default(),
            buffers: &buffers,
        },
        fragment: Some(wgpu::FragmentState {
            module: shader,
            entry_point: Some(match (key.outline, key.normal_mapped) {
                (true, _) => "fs_outline",
                (false, true) => "fs_mapped",
                (false, false) => "fs_main",
            }),
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
            Camera::framing(
                self.framing,
                self.renderer.skeleton().rig(),
                self.bounds,
                self.fov_y_deg,
                aspect,
            )
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

    fn testdata(path: &str) -> String {
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
        let model = crate::vrm::load_file(testdata(file)).unwrap();
        let mut r = OffscreenRenderer::new(Gpu::new().unwrap(), 640, 480);
        let mut scene = AvatarScene::new(&r.gpu().device, &r.gpu().queue, model, r.samples());
        scene.pose = pose;
        scene.framing = framing;
        let frame = r.render_blocking(&mut scene, t);
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/renders");
        std::fs::create_dir_all(&dir).unwrap();
        let file = std::fs::File::create(dir.join(format!("{name}.png"))).unwrap();
        let mut enc = png::Encoder::new(file, frame.width, frame.height);
        enc.set_color(png::ColorType::Rgba);
        enc.write_header()
            .unwrap()
            .write_image_data(&frame.tight_pixels())
            .unwrap();
        frame
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
    fn texture_transform_test_tiles_read_correct() {
        let frame = render_at(
            "gltf/TextureTransformTest/TextureTransformTest.gltf",
            AvatarPose::default(),
            "texture_transform_test",
            camera::Framing::FullBody,
            0.0,
        );
        // The top row shows the offset tiles: "Correct" checks, never the red "Error" image.
        let top = 0..frame.height / 2;
        assert_eq!(count(&frame, top.clone(), red), 0, "no Error tile");
        assert!(count(&frame, top, green) > 5_000);
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

    /// A plain glTF of one unit quad in the XY plane facing +Z (glTF UVs: v = 0 at the top),
    /// drawn with `material`; texture i shows `images[i]` (RGBA8) through `sampler`.
    fn quad_gltf(
        material: serde_json::Value,
        images: &[(u32, u32, Vec<u8>)],
        sampler: serde_json::Value,
    ) -> Vec<u8> {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let positions = [
            [-0.5f32, -0.5, 0.0],
            [0.5, -0.5, 0.0],
            [0.5, 0.5, 0.0],
            [-0.5, 0.5, 0.0],
        ];
        let uvs = [[0.0f32, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]];
        let mut bin: Vec<u8> = Vec::new();
        bin.extend(positions.iter().flatten().flat_map(|v| v.to_le_bytes()));
        bin.extend(
            [[0.0f32, 0.0, 1.0]; 4]
                .iter()
                .flatten()
                .flat_map(|v| v.to_le_bytes()),
        );
        bin.extend(uvs.iter().flatten().flat_map(|v| v.to_le_bytes()));
        bin.extend([0u16, 1, 2, 0, 2, 3].iter().flat_map(|v| v.to_le_bytes()));
        let images: Vec<serde_json::Value> = images
            .iter()
            .map(|(w, h, rgba)| {
                let mut png = Vec::new();
                image::RgbaImage::from_raw(*w, *h, rgba.clone())
                    .unwrap()
                    .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                    .unwrap();
                serde_json::json!({"uri": format!("data:image/png;base64,{}", b64(&png))})
            })
            .collect();
        let textures: Vec<serde_json::Value> = (0..images.len())
            .map(|i| serde_json::json!({"source": i, "sampler": 0}))
            .collect();
        let doc = serde_json::json!({
            "asset": {"version": "2.0"},
            "extensionsUsed": ["KHR_materials_unlit", "VRMC_materials_mtoon"],
            "buffers": [{
                "byteLength": bin.len(),
                "uri": format!("data:application/octet-stream;base64,{}", b64(&bin))
            }],
            "bufferViews": [
                {"buffer": 0, "byteOffset": 0, "byteLength": 48},
                {"buffer": 0, "byteOffset": 48, "byteLength": 48},
                {"buffer": 0, "byteOffset": 96, "byteLength": 32},
                {"buffer": 0, "byteOffset": 128, "byteLength": 12}
            ],
            "accessors": [
                {"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3"},
                {"bufferView": 1, "componentType": 5126, "count": 4, "type": "VEC3"},
                {"bufferView": 2, "componentType": 5126, "count": 4, "type": "VEC2"},
                {"bufferView": 3, "componentType": 5123, "count": 6, "type": "SCALAR"}
            ],
            "images": images,
            "samplers": [sampler],
            "textures": textures,
            "materials": [material],
            "meshes": [{"primitives": [{
                "attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                "indices": 3,
                "material": 0
            }]}],
            "nodes": [{"mesh": 0}],
            "scenes": [{"nodes": [0]}],
            "scene": 0
        });
        serde_json::to_vec(&doc).unwrap()
    }

    /// Renders a `quad_gltf` head on from `distance` with the default lighting.
    fn render_quad(
        r: &mut OffscreenRenderer,
        gltf: &[u8],
        distance: f32,
    ) -> crate::frame::RgbaFrame {
        let model = crate::vrm::load(gltf).unwrap();
        let mut scene = AvatarScene::new(&r.gpu().device, &r.gpu().queue, model, r.samples());
        scene.camera = Some(Camera {
            eye: Vec3::new(0.0, 0.0, distance),
            target: Vec3::ZERO,
            fov_y_deg: 30.0,
        });
        r.render_blocking(&mut scene, 0.0)
    }

    /// Mean encoded red of the central `size` x `size` pixels (all must be covered).
    fn center_red(frame: &crate::frame::RgbaFrame, size: u32) -> f64 {
        let (x0, y0) = ((frame.width - size) / 2, (frame.height - size) / 2);
        let mut sum = 0.0;
        for y in y0..y0 + size {
            for x in x0..x0 + size {
                let p = frame.pixel(x, y);
                assert_eq!(p[3], 255, "the quad covers the center");
                sum += p[0] as f64;
            }
        }
        sum / (size * size) as f64
    }

    /// A 4x4 normal map of one tangent-space normal.
    fn normal_map(n: [f32; 3]) -> (u32, u32, Vec<u8>) {
        let n = Vec3::from(n).normalize();
        let enc = |v: f32| ((v * 0.5 + 0.5) * 255.0).round() as u8;
        (4, 4, [enc(n.x), enc(n.y), enc(n.z), 255].repeat(16))
    }

    #[test]
    fn normal_maps_change_the_lit_shading() {
        let mut r = OffscreenRenderer::new(Gpu::new().unwrap(), 64, 64);
        let linear = serde_json::json!({"magFilter": 9729, "minFilter": 9987});
        let gray = serde_json::json!({"baseColorFactor": [0.5, 0.5, 0.5, 1.0]});
        let with_map = |kind: &serde_json::Value, scale: f32| {
            let mut m = serde_json::json!({
                "pbrMetallicRoughness": gray,
                "normalTexture": {"index": 0, "scale": scale}
            });
            if let Some(ext) = kind.as_object() {
                m["extensions"] = serde_json::Value::Object(ext.clone());
            }
            m
        };
        let mut brightness = |kind: serde_json::Value, normal: Option<([f32; 3], f32)>| {
            let (material, images) = match normal {
                None => {
                    let mut m = serde_json::json!({"pbrMetallicRoughness": gray});
                    if let Some(ext) = kind.as_object() {
                        m["extensions"] = serde_json::Value::Object(ext.clone());
                    }
                    (m, vec![])
                }
                Some((n, scale)) => (with_map(&kind, scale), vec![normal_map(n)]),
            };
            let frame = render_quad(&mut r, &quad_gltf(material, &images, linear.clone()), 2.0);
            center_red(&frame, 16)
        };
        // The key light comes from the front, up and to the right (+X +Y +Z).
        let pbr = serde_json::Value::Null;
        let none = brightness(pbr.clone(), None);
        let flat = brightness(pbr.clone(), Some(([0.0, 0.0, 1.0], 1.0)));
        // Green is up the image (+Y here, towards the light); red along u (+X); so a normal
        // tilted up turns to the light and one tilted along -u turns away.
        let up = brightness(pbr.clone(), Some(([0.0, 0.6, 0.8], 1.0)));
        let back = brightness(pbr.clone(), Some(([-0.6, 0.0, 0.8], 1.0)));
        let back_unscaled = brightness(pbr.clone(), Some(([-0.6, 0.0, 0.8], 0.0)));
        let back_half = brightness(pbr.clone(), Some(([-0.6, 0.0, 0.8], 0.5)));
        eprintln!("lit: none {none} flat {flat} up {up} back {back} half {back_half}");
        // A flat map is (almost: 128 is not exactly 0.5) no map at all.
        assert!((flat - none).abs() <= 1.0, "flat {flat} vs none {none}");
        assert!(up > flat + 2.0, "tilted to the light: {up} vs {flat}");
        assert!(back < flat - 15.0, "tilted away: {back} vs {flat}");
        // glTF's scale multiplies x and y: 0 flattens, 0.5 is in between.
        assert!(
            (back_unscaled - flat).abs() <= 1.0,
            "{back_unscaled} vs {flat}"
        );
        assert!(
            back < back_half - 5.0 && back_half < flat - 5.0,
            "{back_half}"
        );

        // MToon: the tilted normal moves the shading towards the shade color.
        let mtoon = serde_json::json!({"VRMC_materials_mtoon": {
            "specVersion": "1.0", "shadeColorFactor": [0.05, 0.05, 0.05],
            "shadingToonyFactor": 0.3
        }});
        let mtoon_none = brightness(mtoon.clone(), None);
        let mtoon_flat = brightness(mtoon.clone(), Some(([0.0, 0.0, 1.0], 1.0)));
        let mtoon_back = brightness(mtoon.clone(), Some(([-0.9, -0.4, 0.2], 1.0)));
        eprintln!("mtoon: none {mtoon_none} flat {mtoon_flat} back {mtoon_back}");
        assert!((mtoon_flat - mtoon_none).abs() <= 1.0);
        assert!(
            mtoon_back < mtoon_flat - 20.0,
            "{mtoon_back} vs {mtoon_flat}"
        );

        // Unlit ignores normal maps: the very same picture.
        let unlit = serde_json::json!({"KHR_materials_unlit": {}});
        let unlit_none = brightness(unlit.clone(), None);
        let unlit_back = brightness(unlit, Some(([-0.9, -0.4, 0.2], 1.0)));
        assert_eq!(unlit_none, unlit_back);
    }

    #[test]
    fn minified_textures_use_mipmaps_unless_the_sampler_says_otherwise() {
        // A one-texel black and white checkerboard, 256 texels across ~30 pixels: mipmapped, it
        // averages to an even gray; sampled from level 0 only, it aliases into noise.
        let size = 256u32;
        let checker: Vec<u8> = (0..size * size)
            .flat_map(|i| {
                let v = if (i % size + i / size).is_multiple_of(2) {
                    255
                } else {
                    0
                };
                [v, v, v, 255]
            })
            .collect();
        let material = serde_json::json!({
            "pbrMetallicRoughness": {"baseColorTexture": {"index": 0}},
            "extensions": {"KHR_materials_unlit": {}}
        });
        let mut r = OffscreenRenderer::new(Gpu::new().unwrap(), 64, 64);
        let mut spread = |sampler: serde_json::Value| {
            let gltf = quad_gltf(material.clone(), &[(size, size, checker.clone())], sampler);
            let frame = render_quad(&mut r, &gltf, 4.0);
            let reds: Vec<f64> = (26..38)
                .flat_map(|y| (26..38).map(move |x| (x, y)))
                .map(|(x, y)| frame.pixel(x, y)[0] as f64)
                .collect();
            let mean = reds.iter().sum::<f64>() / reds.len() as f64;
            let max_dev = reds.iter().map(|r| (r - mean).abs()).fold(0.0, f64::max);
            (mean, max_dev)
        };
        let (trilinear_mean, trilinear_dev) =
            spread(serde_json::json!({"magFilter": 9729, "minFilter": 9987}));
        let (default_mean, _) = spread(serde_json::json!({}));
        let (linear_mean, linear_dev) =
            spread(serde_json::json!({"magFilter": 9729, "minFilter": 9729}));
        eprintln!(
            "trilinear {trilinear_mean} +-{trilinear_dev}, default {default_mean}, \
             level 0 only {linear_mean} +-{linear_dev}"
        );
        // Half of linear white is sRGB 188 (averaging the encoded bytes would give 128).
        assert!((trilinear_mean - 188.0).abs() < 3.0 && trilinear_dev < 3.0);
        assert!(
            (default_mean - trilinear_mean).abs() < 0.5,
            "no sampler: trilinear"
        );
        assert!(
            linear_dev > 30.0,
            "LINEAR without mipmaps aliases: +-{linear_dev}"
        );
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
