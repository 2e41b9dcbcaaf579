//! Draws a loaded VRM (or plain glTF) model with wgpu: GPU skinning and morph targets, MToon,
//! unlit and a lit fallback, MToon outlines, alpha modes opaque / mask / blend (blended
//! primitives sorted back to front), double-sided materials, expressions (morph, material color
//! and texture transform binds).

pub mod camera;
pub mod material;
mod pipeline;
mod scene;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod texture_transform_sample;
mod upload;

pub use scene::AvatarScene;

use crate::vrm::expressions::MaterialColorType;
use crate::vrm::{AlphaMode, Posed, VrmModel};
use camera::Camera;
use glam::{Mat4, Vec3};
use material::{MaterialParams, MaterialUniform, OutlineMode};
use pipeline::PipelineKey;
use std::collections::HashMap;
use std::sync::Arc;

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
    shading: material::Shading,
    uniform: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
}

impl GpuMaterial {
    fn pipeline_key(&self, outline: bool) -> PipelineKey {
        let params = &self.params;
        PipelineKey {
            blend: params.alpha_mode == AlphaMode::Blend,
            double_sided: params.double_sided,
            z_write: params.z_write,
            outline,
            shading: self.shading,
        }
    }
}

pub struct AvatarRenderer {
    model: Arc<VrmModel>,
    primitives: Vec<GpuPrimitive>,
    materials: Vec<GpuMaterial>,
    /// One joint-matrix buffer per skin.
    joints: Vec<wgpu::Buffer>,
    frame_uniform: wgpu::Buffer,
    frame_bind_group: wgpu::BindGroup,
    pipelines: HashMap<PipelineKey, wgpu::RenderPipeline>,
    /// Draw order of this frame: (primitive, outline pass).
    order: Vec<(usize, bool)>,
    /// Bytes of model data uploaded to the GPU (textures, vertices, indices, morph deltas).
    gpu_bytes: u64,
}

impl AvatarRenderer {
    /// Uploads `model` for drawing into targets of `format` with `samples` MSAA samples.
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        model: Arc<VrmModel>,
        format: wgpu::TextureFormat,
        depth_format: wgpu::TextureFormat,
        samples: u32,
    ) -> Self {
        let layouts = upload::Layouts::new(device);
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

        let materials = upload::upload_materials(device, queue, &layouts, &model);
        let default_material = materials.len() - 1;

        let (joints, primitives) =
            upload::upload_meshes(device, &layouts, &model, default_material);

        let keys = primitives.iter().flat_map(|p| {
            let material = &materials[p.material];
            let outline = material.params.outline != OutlineMode::None;
            [
                Some(material.pipeline_key(false)),
                outline.then(|| material.pipeline_key(true)),
            ]
        });
        let pipelines = pipeline::make_pipelines(
            device,
            &layouts,
            keys.flatten(),
            format,
            depth_format,
            samples,
        );
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
            model,
            primitives,
            materials,
            joints,
            frame_uniform,
            frame_bind_group,
            pipelines,
            order: Vec::new(),
            gpu_bytes: image_bytes + mesh_bytes,
        }
    }

    /// Every material reads every texture and tests alpha, as before [`material::Shading`]
    /// (the tests' reference picture).
    #[cfg(test)]
    pub(super) fn read_everything(&mut self, device: &wgpu::Device, samples: u32) {
        let layouts = upload::Layouts::new(device);
        for m in &mut self.materials {
            m.shading = material::Shading::ALL;
        }
        let keys: Vec<PipelineKey> = self
            .materials
            .iter()
            .flat_map(|m| [m.pipeline_key(false), m.pipeline_key(true)])
            .collect();
        self.pipelines = pipeline::make_pipelines(
            device,
            &layouts,
            keys,
            crate::render::target::OffscreenTarget::FORMAT,
            crate::render::target::OffscreenTarget::DEPTH,
            samples,
        );
    }

    /// How many materials read each texture: (no base texture, shade, shade from the base
    /// texel, emissive, matcap, rim, alpha test).
    #[cfg(test)]
    pub(super) fn shading_counts(&self) -> [usize; 7] {
        use material::ShadeSource;
        let count = |f: &dyn Fn(&material::Shading) -> bool| {
            self.materials.iter().filter(|m| f(&m.shading)).count()
        };
        [
            count(&|s| !s.base_texture),
            count(&|s| s.shade == ShadeSource::OwnTexture),
            count(&|s| s.shade == ShadeSource::BaseTexel),
            count(&|s| s.emissive_texture),
            count(&|s| s.matcap_texture),
            count(&|s| s.rim_texture),
            count(&|s| s.alpha_test),
        ]
    }

    /// Bytes of model data on the GPU (textures, vertices, indices, morph deltas).
    pub fn gpu_bytes(&self) -> u64 {
        self.gpu_bytes
    }

    pub fn model(&self) -> &VrmModel {
        &self.model
    }

    /// Uploads everything a draw of `posed` needs (the avatar stepped by [`crate::vrm::Instance`]): the
    /// frame's camera and light, joint matrices, morph weights, expression-driven material
    /// values, and the draw order.
    pub fn prepare(
        &mut self,
        queue: &wgpu::Queue,
        posed: &Posed,
        camera: &Camera,
        lighting: &Lighting,
        size: (u32, u32),
        time_s: f32,
    ) {
        self.write_frame(queue, camera, lighting, size, time_s);
        self.write_joints(queue, &posed.world);
        self.write_draws(queue, posed);
        self.write_materials(queue, &posed.expressions);
        self.sort(camera, &posed.world);
    }

    fn write_frame(
        &self,
        queue: &wgpu::Queue,
        camera: &Camera,
        lighting: &Lighting,
        size: (u32, u32),
        time_s: f32,
    ) {
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
    }

    /// Skinning matrices of every skin from the nodes' world matrices.
    fn write_joints(&self, queue: &wgpu::Queue, world: &[Mat4]) {
        for (skin, buffer) in self.model.skins.iter().zip(&self.joints) {
            let matrices: Vec<[f32; 16]> = skin
                .joints
                .iter()
                .zip(&skin.inverse_bind_matrices)
                .map(|(&j, ibm)| (world[j] * *ibm).to_cols_array())
                .collect();
            if !matrices.is_empty() {
                queue.write_buffer(buffer, 0, bytemuck::cast_slice(&matrices));
            }
        }
    }

    /// Per primitive: its world matrix and its strongest morph targets.
    fn write_draws(&self, queue: &wgpu::Queue, posed: &Posed) {
        for p in &self.primitives {
            let mut active: Vec<(usize, f32)> = posed
                .morph_weights
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
                        .filter(|_| posed.morph_weights.get(p.node).is_none_or(|w| w.is_empty())),
                )
                .filter(|&(i, w)| i < p.target_count && w.abs() > 1e-4 && w.is_finite())
                .collect();
            active.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            active.truncate(MAX_ACTIVE_MORPHS);
            let mut uniform = DrawUniform {
                world: if p.skinned {
                    Mat4::IDENTITY
                } else {
                    posed.world[p.node]
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
    }

    /// Material colors and UV transforms moved by the weighted expressions.
    fn write_materials(&self, queue: &wgpu::Queue, expressions: &[f32]) {
        let mut uniforms: Vec<MaterialUniform> =
            self.materials.iter().map(|m| m.params.uniform).collect();
        for (expression, &w) in self.model.expressions.list.iter().zip(expressions) {
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
    }

    /// The draw order of this frame.
    fn sort(&mut self, camera: &Camera, world: &[Mat4]) {
        // Opaque, then mask, then blended back to front (by MToon render queue, then depth).
        let view = camera.view();
        let depth_of = |p: &GpuPrimitive| {
            let center = if p.skinned {
                p.center
            } else {
                world[p.node].transform_point3(p.center)
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
            pass.set_pipeline(&self.pipelines[&material.pipeline_key(outline)]);
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
