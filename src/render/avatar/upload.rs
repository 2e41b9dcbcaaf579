//! Model data onto the GPU: bind group layouts, textures, materials, vertex and morph buffers.

use super::material::MaterialParams;
use super::material::Shading;
use super::{DrawUniform, GpuMaterial, GpuPrimitive};
use crate::vrm::VrmModel;
use crate::vrm::expressions::MaterialColorType;
use crate::vrm::gltf_data::{Filter, Wrap};
use glam::{Mat4, Vec3};
use wgpu::util::DeviceExt;

/// The bind group layouts: per frame (camera, light), per draw (node, morphs, joints), per
/// material.
pub(super) struct Layouts {
    pub(super) frame: wgpu::BindGroupLayout,
    pub(super) draw: wgpu::BindGroupLayout,
    pub(super) material: wgpu::BindGroupLayout,
}

impl Layouts {
    pub(super) fn new(device: &wgpu::Device) -> Self {
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
    bound: impl Fn(MaterialColorType) -> bool,
) -> GpuMaterial {
    // A texture's image, `None` where it is drawn white (no texture, or a bad index).
    let image = |texture: Option<usize>| {
        texture
            .and_then(|t| model.textures.get(t))
            .map(|t| t.image)
            .filter(|&i| i < images.len())
    };
    let view = |texture: Option<usize>| image(texture).map_or(white, |i| &images[i]);
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
    let shading = Shading::of(&params, image, bound);
    GpuMaterial {
        params,
        shading,
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

/// Every material's bind group and uniform (textures decoded once), and a fallback last for
/// primitives without one.
pub(super) fn upload_materials(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    layouts: &Layouts,
    model: &VrmModel,
) -> Vec<GpuMaterial> {
    let textures = upload_images(device, queue, model);
    let white = color_texture(device, queue, 1, 1, &[255; 4], "white");
    let materials = model
        .materials
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let params = MaterialParams::new(m);
            let bound = |kind| {
                model.expressions.list.iter().any(|e| {
                    e.material_color_binds
                        .iter()
                        .any(|b| b.material == i && b.kind == kind)
                })
            };
            make_material(device, layouts, model, params, &textures, &white, bound)
        })
        .collect::<Vec<_>>();
    let mut materials = materials;
    materials.push(make_material(
        device,
        layouts,
        model,
        MaterialParams::fallback(),
        &textures,
        &white,
        |_| false,
    ));
    materials
}

/// One joint-matrix buffer per skin, and every primitive of every node that draws a mesh.
pub(super) fn upload_meshes(
    device: &wgpu::Device,
    layouts: &Layouts,
    model: &VrmModel,
    default_material: usize,
) -> (Vec<wgpu::Buffer>, Vec<GpuPrimitive>) {
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
                layouts,
                primitive,
                node_index,
                mesh_index,
                skin.is_some() && primitive.joints0.is_some(),
                joint_buffer,
                default_material,
            ));
        }
    }
    (joints, primitives)
}
