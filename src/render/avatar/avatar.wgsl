// Avatar shading: GPU skinning and morph targets in the vertex stage; MToon 1.0 (the spec's
// formulas), unlit and a simple lit fallback for other glTF materials in the fragment stage;
// the MToon outline as a second pass with front faces culled. Output is premultiplied alpha in
// linear light (the sRGB target encodes it).

struct Frame {
    view_proj: mat4x4<f32>,
    camera_pos: vec4<f32>,
    // Direction the key light shines towards (world space), and its color * intensity.
    light_dir: vec4<f32>,
    light_color: vec4<f32>,
    // Ambient (GI) color; w = viewport height in pixels.
    ambient: vec4<f32>,
    // x = time in seconds, y = projection[1][1].
    misc: vec4<f32>,
};

struct Draw {
    // World matrix of the node for unskinned meshes (identity when skinned: joints carry it).
    world: mat4x4<f32>,
    // x = vertex count, y = active morph targets, z = skinned (0/1).
    counts: vec4<u32>,
    // Active morph targets: index in x, weight bits in y (packed as u32 pairs).
    morphs: array<vec4<u32>, 8>,
};

struct Material {
    base_color: vec4<f32>,
    // rgb shade color, w = alpha cutoff (negative: no alpha test).
    shade_color: vec4<f32>,
    // rgb emissive (already times strength), w = kind: 0 MToon, 1 unlit, 2 lit fallback.
    emissive: vec4<f32>,
    // x shading shift, y shading toony, z GI equalization, w rim lighting mix.
    shading: vec4<f32>,
    // rgb parametric rim color, w fresnel power.
    rim: vec4<f32>,
    // rgb matcap factor, w rim lift.
    matcap: vec4<f32>,
    // rgb outline color, w outline lighting mix.
    outline_color: vec4<f32>,
    // x outline width (m or ratio of screen height), y mode (0 none, 1 world, 2 screen),
    // z uv scroll x speed, w uv scroll y speed.
    outline: vec4<f32>,
    // x uv rotation speed, y has matcap texture, z opaque (alpha forced to 1), w unused.
    anim: vec4<f32>,
    // KHR_texture_transform of the base color texture: (offset.xy, scale.xy), rotation in x below.
    uv_offset_scale: vec4<f32>,
    uv_rotation: vec4<f32>,
};

// What a material's fragment shader reads, fixed per pipeline (material.rs, `Shading`): a
// software rasterizer pays for every texture sample of every pixel, white placeholders included,
// and a shader that may discard loses early depth testing. The defaults read everything.
// The shade color's source: 0 none (white), 1 its own texture, 2 the base color's texel.
override SHADE_SOURCE: u32 = 1u;
// False where the base color has no texture (drawn white): the built-in avatar's flat colors.
override BASE_TEXTURE: bool = true;
override EMISSIVE_TEXTURE: bool = true;
override MATCAP_TEXTURE: bool = true;
override RIM_TEXTURE: bool = true;
// MToon's rim term (matcap and parametric rim) can be other than zero.
override RIM_LIGHT: bool = true;
override ALPHA_TEST: bool = true;

@group(0) @binding(0) var<uniform> frame: Frame;

// Per-draw and per-material values are read-only storage, not uniforms: lavapipe recompiles a
// shader whenever a uniform that steers a branch or loop differs from the last draw's (uniform
// inlining), which cost about 16 ms a frame at any size there. Storage is never inlined.
@group(1) @binding(0) var<storage, read> draw: Draw;
@group(1) @binding(1) var<storage, read> joints: array<mat4x4<f32>>;
// Morph deltas: for target t and vertex v, position at [t * 2 * n + v], normal at [(t * 2 + 1) * n + v].
@group(1) @binding(2) var<storage, read> morph_deltas: array<vec4<f32>>;

@group(2) @binding(0) var<storage, read> material: Material;
@group(2) @binding(1) var tex_sampler: sampler;
@group(2) @binding(2) var base_tex: texture_2d<f32>;
@group(2) @binding(3) var shade_tex: texture_2d<f32>;
@group(2) @binding(4) var emissive_tex: texture_2d<f32>;
@group(2) @binding(5) var matcap_tex: texture_2d<f32>;
@group(2) @binding(6) var rim_tex: texture_2d<f32>;

struct VertexIn {
    @builtin(vertex_index) index: u32,
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) uv: vec2<f32>,
    @location(3) joint_ids: vec4<u32>,
    @location(4) weights: vec4<f32>,
};

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world_pos: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) uv: vec2<f32>,
};

struct Posed {
    position: vec3<f32>,
    normal: vec3<f32>,
};

fn pose_vertex(v: VertexIn) -> Posed {
    var p = v.position;
    var n = v.normal;
    let vertex_count = draw.counts.x;
    for (var i = 0u; i < draw.counts.y; i++) {
        let slot = draw.morphs[i / 2u];
        let morph = select(slot.x, slot.z, i % 2u == 1u);
        let weight = bitcast<f32>(select(slot.y, slot.w, i % 2u == 1u));
        p += morph_deltas[morph * 2u * vertex_count + v.index].xyz * weight;
        n += morph_deltas[(morph * 2u + 1u) * vertex_count + v.index].xyz * weight;
    }
    var m = draw.world;
    if (draw.counts.z == 1u) {
        m = joints[v.joint_ids.x] * v.weights.x + joints[v.joint_ids.y] * v.weights.y
          + joints[v.joint_ids.z] * v.weights.z + joints[v.joint_ids.w] * v.weights.w;
    }
    let world = m * vec4<f32>(p, 1.0);
    // Skinning matrices here carry no shear worth a normal matrix; renormalize after.
    let world_n = (m * vec4<f32>(n, 0.0)).xyz;
    return Posed(world.xyz / world.w, safe_normalize(world_n));
}

fn safe_normalize(v: vec3<f32>) -> vec3<f32> {
    let len = length(v);
    return select(vec3<f32>(0.0, 1.0, 0.0), v / len, len > 1e-8);
}

@vertex
fn vs_main(v: VertexIn) -> VertexOut {
    let posed = pose_vertex(v);
    var out: VertexOut;
    out.clip = frame.view_proj * vec4<f32>(posed.position, 1.0);
    out.world_pos = posed.position;
    out.normal = posed.normal;
    out.uv = texture_uv(v.uv);
    return out;
}

@vertex
fn vs_outline(v: VertexIn) -> VertexOut {
    let posed = pose_vertex(v);
    var width = material.outline.x;
    var position = posed.position;
    if (material.outline.y == 2.0) {
        // Screen mode: a ratio of the screen height, constant on screen.
        let clip = frame.view_proj * vec4<f32>(position, 1.0);
        width = width * clip.w / frame.misc.y;
    }
    position += posed.normal * width;
    var out: VertexOut;
    out.clip = frame.view_proj * vec4<f32>(position, 1.0);
    out.world_pos = position;
    out.normal = posed.normal;
    out.uv = texture_uv(v.uv);
    return out;
}

// MToon UV animation, then KHR_texture_transform: affine in the UV, so done per vertex (the
// interpolated result is the same) rather than per pixel.
fn texture_uv(uv_in: vec2<f32>) -> vec2<f32> {
    let t = frame.misc.x;
    let angle = material.anim.x * t;
    let c = cos(angle);
    let s = sin(angle);
    var uv = uv_in - vec2<f32>(0.5);
    uv = vec2<f32>(c * uv.x + s * uv.y, -s * uv.x + c * uv.y) + vec2<f32>(0.5);
    uv += vec2<f32>(material.outline.z, material.outline.w) * t;
    let r = material.uv_rotation.x;
    let rc = cos(r);
    let rs = sin(r);
    let scaled = uv * material.uv_offset_scale.zw;
    return vec2<f32>(rc * scaled.x + rs * scaled.y, -rs * scaled.x + rc * scaled.y) + material.uv_offset_scale.xy;
}

struct Shaded {
    color: vec3<f32>,
    alpha: f32,
};

fn shade(v: VertexOut, front: bool) -> Shaded {
    // Every texture is sampled first, in uniform control flow, as WGSL requires.
    let uv = v.uv;
    var n = normalize(v.normal);
    if (!front) {
        n = -n;
    }
    var view = vec3<f32>(0.0, 0.0, 1.0);
    var matcap_uv = vec2<f32>(0.5);
    if (RIM_LIGHT) {
        view = normalize(frame.camera_pos.xyz - v.world_pos);
        let world_view_x = safe_normalize(vec3<f32>(view.z, 0.0, -view.x));
        let world_view_y = cross(view, world_view_x);
        matcap_uv = vec2<f32>(dot(world_view_x, n), -dot(world_view_y, n)) * 0.495 + 0.5;
    }
    var base_texel = vec4<f32>(1.0);
    if (BASE_TEXTURE) {
        base_texel = textureSample(base_tex, tex_sampler, uv);
    }
    let base = material.base_color * base_texel;
    var shade_sample = vec3<f32>(1.0);
    if (SHADE_SOURCE == 1u) {
        shade_sample = textureSample(shade_tex, tex_sampler, uv).rgb;
    } else if (SHADE_SOURCE == 2u) {
        shade_sample = base_texel.rgb;
    }
    var emissive = material.emissive.rgb;
    if (EMISSIVE_TEXTURE) {
        emissive *= textureSample(emissive_tex, tex_sampler, uv).rgb;
    }
    var matcap_sample = vec3<f32>(0.0);
    if (MATCAP_TEXTURE) {
        matcap_sample = textureSample(matcap_tex, tex_sampler, matcap_uv).rgb;
    }
    var rim_sample = vec3<f32>(1.0);
    if (RIM_TEXTURE) {
        rim_sample = textureSample(rim_tex, tex_sampler, uv).rgb;
    }

    if (ALPHA_TEST && material.shade_color.w >= 0.0 && base.a < material.shade_color.w) {
        discard;
    }
    let alpha = select(base.a, 1.0, material.anim.z == 1.0);
    let l = -normalize(frame.light_dir.xyz);
    let kind = material.emissive.w;
    if (kind == 1.0) {
        return Shaded(base.rgb, alpha);
    }
    if (kind == 2.0) {
        let lambert = max(dot(n, l), 0.0);
        let color = base.rgb * (frame.light_color.rgb * lambert + frame.ambient.rgb) + emissive;
        return Shaded(color, alpha);
    }
    // MToon 1.0.
    let shade_color = material.shade_color.rgb * shade_sample;
    let toony = material.shading.y;
    var shading = dot(n, l) + material.shading.x;
    shading = clamp((shading - (-1.0 + toony)) / max(2.0 - 2.0 * toony, 1e-5), 0.0, 1.0);
    var color = mix(shade_color, base.rgb, shading) * frame.light_color.rgb;
    // GI from a uniform ambient light: equalized or not, it is the same color.
    color += frame.ambient.rgb * base.rgb;
    if (RIM_LIGHT) {
        var rim = material.matcap.rgb * matcap_sample * material.anim.y;
        rim += pow(clamp(1.0 - dot(n, view) + material.matcap.w, 0.0, 1.0), max(material.rim.w, 1e-5)) * material.rim.rgb;
        rim *= rim_sample;
        rim *= mix(vec3<f32>(1.0), frame.light_color.rgb * shading + frame.ambient.rgb, material.shading.w);
        color += rim;
    }
    color += emissive;
    return Shaded(color, alpha);
}

@fragment
fn fs_main(v: VertexOut, @builtin(front_facing) front: bool) -> @location(0) vec4<f32> {
    let s = shade(v, front);
    return vec4<f32>(s.color * s.alpha, s.alpha);
}

@fragment
fn fs_outline(v: VertexOut, @builtin(front_facing) front: bool) -> @location(0) vec4<f32> {
    let s = shade(v, true);
    let color = material.outline_color.rgb * mix(vec3<f32>(1.0), s.color, material.outline_color.w);
    return vec4<f32>(color * s.alpha, s.alpha);
}
