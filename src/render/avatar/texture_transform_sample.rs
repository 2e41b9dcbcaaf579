//! Checks Khronos' `TextureTransformTest` sample tile by tile from the rendered frame.
//!
//! The expected picture comes from the file, not from the renderer: each quad's texture and
//! KHR_texture_transform are read from the glTF JSON, the transform is built as the extension's
//! spec writes it (translation * rotation * scale, rotation turning UVs counter-clockwise) and
//! the PNG is sampled there. Geometry (node matrices, quad corners and UVs) comes from the loader.
//! The sample's README: the top row (offset U, V, UV on `UV.png`) shows the quadrant checks
//! "U", "V" and "UV", never the yellow "not supported" quadrant; in the bottom row (rotation,
//! scale, all three on `Arrow.png`) each arrow points at its green "Correct" marker, not at the
//! yellow (transform ignored) or red (rotation reversed) one.

use super::camera::Framing;
use super::tests::{render_framed, testdata};
use crate::frame::RgbaFrame;
use crate::vrm::gltf_data::world_rest_matrices;
use glam::{Mat3, Mat4, Vec2, Vec3};
use serde_json::Value;

const DIR: &str = "gltf/TextureTransformTest";
/// Largest channel difference between a rendered pixel and its texel (the lit quads come out
/// about 2 % brighter than the texture).
const TOLERANCE: i32 = 40;
/// Pixels this close to a quad's edge mix with what lies around it.
const EDGE_PX: f32 = 3.0;
const NOT_SUPPORTED: [u8; 3] = [192, 192, 0];
const ERROR: [u8; 3] = [192, 0, 0];

/// The texture a quad's material samples and where: the image and the UV matrix.
struct Lookup {
    image: image::RgbaImage,
    clamp: bool,
    uv: Mat3,
}

impl Lookup {
    fn from_json(json: &Value, material: usize) -> Lookup {
        let info = &json["materials"][material]["pbrMetallicRoughness"]["baseColorTexture"];
        let texture = &json["textures"][index(&info["index"])];
        let uri = json["images"][index(&texture["source"])]["uri"]
            .as_str()
            .unwrap();
        let image = image::open(testdata(&format!("{DIR}/{uri}")))
            .unwrap()
            .to_rgba8();
        // The sample's sampler clamps in both directions; textures without one repeat.
        let clamp = texture["sampler"]
            .as_u64()
            .is_some_and(|s| json["samplers"][s as usize]["wrapS"] == 33071);
        let t = &info["extensions"]["KHR_texture_transform"];
        let pair = |key: &str, default: f32| {
            t[key].as_array().map_or(Vec2::splat(default), |a| {
                Vec2::new(a[0].as_f64().unwrap() as f32, a[1].as_f64().unwrap() as f32)
            })
        };
        let (offset, scale) = (pair("offset", 0.0), pair("scale", 1.0));
        let (s, c) = (t["rotation"].as_f64().unwrap_or(0.0) as f32).sin_cos();
        // The spec's matrices, written row by row there: [c s 0; -s c 0; 0 0 1] for rotation.
        let translation = Mat3::from_cols(Vec3::X, Vec3::Y, offset.extend(1.0));
        let rotation = Mat3::from_cols(Vec3::new(c, -s, 0.0), Vec3::new(s, c, 0.0), Vec3::Z);
        let uv = translation * rotation * Mat3::from_diagonal(scale.extend(1.0));
        Lookup { image, clamp, uv }
    }

    /// The texel `(dx, dy)` texels away from the one under `uv` (before the transform).
    fn texel(&self, uv: Vec2, dx: i32, dy: i32) -> [u8; 3] {
        let uv = self.uv.transform_point2(uv);
        let at = |t: f32, n: u32, d: i32| {
            let i = (t * n as f32).floor() as i32 + d;
            if self.clamp {
                i.clamp(0, n as i32 - 1) as u32
            } else {
                i.rem_euclid(n as i32) as u32
            }
        };
        let (w, h) = self.image.dimensions();
        let p = self.image.get_pixel(at(uv.x, w, dx), at(uv.y, h, dy)).0;
        [p[0], p[1], p[2]]
    }

    /// The texel under `uv` where its neighbours share its colour; None on the image's own edges
    /// (a check mark's outline, the arrow's), where filtering blends.
    fn plain_texel(&self, uv: Vec2) -> Option<[u8; 3]> {
        let c = self.texel(uv, 0, 0);
        (-3..=3)
            .flat_map(|dx| (-3..=3).map(move |dy| (dx, dy)))
            .all(|(dx, dy)| close(self.texel(uv, dx, dy), c))
            .then_some(c)
    }
}

fn index(v: &Value) -> usize {
    v.as_u64().unwrap() as usize
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    (0..3).all(|i| (a[i] as i32 - b[i] as i32).abs() <= TOLERANCE)
}

/// A drawn quad of the sample: its node's name, world matrix, on-screen rectangle (min, max).
struct Quad {
    node: usize,
    name: String,
    world: Mat4,
    rect: (Vec2, Vec2),
}

impl Quad {
    fn contains(&self, p: Vec2, margin: f32) -> bool {
        p.cmpge(self.rect.0 - margin).all() && p.cmple(self.rect.1 + margin).all()
    }

    fn center(&self) -> Vec2 {
        (self.rect.0 + self.rect.1) * 0.5
    }
}

fn rendered(frame: &RgbaFrame, p: Vec2) -> Option<[u8; 3]> {
    let (x, y) = (p.x.floor() as i64, p.y.floor() as i64);
    if x < 0 || y < 0 || x >= frame.width as i64 || y >= frame.height as i64 {
        return None;
    }
    let c = frame.pixel(x as u32, y as u32);
    (c[3] == 255).then_some([c[0], c[1], c[2]])
}

/// The arrow drawn inside `tile` (markers left out): its tip and unit direction on screen, from
/// its dark pixels' principal axis, and how many pixels it has.
fn arrow(frame: &RgbaFrame, tile: &Quad, markers: &[&Quad]) -> Option<(Vec2, Vec2, usize)> {
    let (lo, hi) = (tile.rect.0.ceil(), tile.rect.1.floor());
    let dark: Vec<Vec2> = (lo.y as u32..hi.y as u32)
        .flat_map(|y| (lo.x as u32..hi.x as u32).map(move |x| Vec2::new(x as f32, y as f32)))
        .filter(|&p| !markers.iter().any(|m| m.contains(p, EDGE_PX)))
        .filter(|&p| rendered(frame, p).is_some_and(|c| c.iter().all(|&v| v < 80)))
        .collect();
    if dark.len() < 100 {
        return None;
    }
    let mean = dark.iter().sum::<Vec2>() / dark.len() as f32;
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for d in dark.iter().map(|p| *p - mean) {
        xx += d.x * d.x;
        yy += d.y * d.y;
        xy += d.x * d.y;
    }
    let axis = Vec2::from_angle(0.5 * f32::atan2(2.0 * xy, xx - yy));
    let along = |p: &Vec2| (*p - mean).dot(axis);
    let (min, max) =
        (dark.iter().map(along)).fold((f32::MAX, f32::MIN), |(a, b), t| (a.min(t), b.max(t)));
    // The head is the wider end: compare the spread across the axis of each end's fifth.
    let width = |end: &dyn Fn(f32) -> bool| {
        (dark.iter().filter(|p| end(along(p))))
            .map(|p| axis.perp_dot(*p - mean))
            .fold((f32::MAX, f32::MIN), |(a, b), t| (a.min(t), b.max(t)))
    };
    let fifth = (max - min) * 0.2;
    let (lo, hi) = (width(&|t| t < min + fifth), width(&|t| t > max - fifth));
    let (direction, reach) = if hi.1 - hi.0 >= lo.1 - lo.0 {
        (axis, max)
    } else {
        (-axis, -min)
    };
    Some((mean + direction * reach, direction, dark.len()))
}

/// A marker's name, its distance ahead of an arrow's tip and off the arrow's line, in pixels.
type Reach<'a> = (&'a str, f32, f32);

/// The first of `markers` that a ray from `tip` along `direction` runs into: its name and how far
/// the tip stops short of its edge; with each marker's distance ahead of the tip and off the ray,
/// in pixels.
fn pointed_at<'a>(
    tip: Vec2,
    direction: Vec2,
    markers: &[&'a Quad],
) -> (Option<(&'a str, f32)>, Vec<Reach<'a>>) {
    let reach: Vec<Reach> = markers
        .iter()
        .map(|m| {
            let to = m.center() - tip;
            (
                m.name.as_str(),
                to.dot(direction),
                direction.perp_dot(to).abs(),
            )
        })
        .collect();
    let hit = markers
        .iter()
        .zip(&reach)
        .filter_map(|(m, &(name, ahead, off))| {
            let half = (m.rect.1 - m.rect.0).min_element() * 0.5;
            (off <= half && ahead >= -half).then_some((name, ahead - half))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1));
    (hit, reach)
}

#[test]
fn every_tile_of_texture_transform_test_reads_correct() {
    let file = format!("{DIR}/TextureTransformTest.gltf");
    let (frame, camera) = render_framed(
        &file,
        Default::default(),
        "texture_transform_test",
        Framing::FullBody,
        0.0,
    );
    let json: Value = serde_json::from_slice(&std::fs::read(testdata(&file)).unwrap()).unwrap();
    let model = crate::vrm::load_file(testdata(&file)).unwrap();
    let world = world_rest_matrices(&model.nodes);
    let clip = camera.projection(frame.width as f32 / frame.height as f32) * camera.view();
    let to_px = |p: Vec3| {
        let n = clip.project_point3(p);
        Vec2::new(
            (n.x + 1.0) * 0.5 * frame.width as f32,
            (1.0 - n.y) * 0.5 * frame.height as f32,
        )
    };
    let quads: Vec<Quad> = (model.nodes.iter().enumerate())
        .filter_map(|(i, node)| {
            let corners = model.meshes[node.mesh?].primitives[0].positions.iter();
            let px: Vec<Vec2> = corners
                .map(|p| to_px(world[i].transform_point3(Vec3::from(*p))))
                .collect();
            let lo = px.iter().fold(Vec2::MAX, |a, p| a.min(*p));
            let hi = px.iter().fold(Vec2::MIN, |a, p| a.max(*p));
            Some(Quad {
                node: i,
                name: node.name.clone(),
                world: world[i],
                rect: (lo, hi),
            })
        })
        .collect();
    assert_eq!(quads.len(), 12, "the sample's six tiles and six markers");
    let depth = |q: &Quad| q.world.w_axis.z;
    let mut failures = Vec::new();

    // Every quad, tile or marker, shows its texture under its transform wherever nothing
    // nearer (a marker) covers it.
    for quad in &quads {
        let prim = &model.meshes[model.nodes[quad.node].mesh.unwrap()].primitives[0];
        let lookup = Lookup::from_json(&json, prim.material.unwrap());
        let (uvs, pos) = (prim.uv0.as_ref().unwrap(), &prim.positions);
        let (mut checked, mut wrong, mut first) = (0, 0, None);
        // Points on a barycentric grid of each triangle: a few per pixel of a tile.
        const N: u32 = 48;
        for tri in prim.indices.chunks(3) {
            let [a, b, c] = [0, 1, 2].map(|k| tri[k] as usize);
            for (i, j) in (0..=N).flat_map(|i| (0..=N - i).map(move |j| (i, j))) {
                let (wa, wb) = (i as f32 / N as f32, j as f32 / N as f32);
                let wc = 1.0 - wa - wb;
                let mix = |p: Vec3, q: Vec3, r: Vec3| p * wa + q * wb + r * wc;
                let [pa, pb, pc] = [a, b, c].map(|k| Vec3::from(pos[k]));
                let [ua, ub, uc] = [a, b, c].map(|k| Vec2::from(uvs[k]).extend(0.0));
                let p = to_px(quad.world.transform_point3(mix(pa, pb, pc)));
                let uv = mix(ua, ub, uc).truncate();
                let covered = quads
                    .iter()
                    .any(|o| depth(o) > depth(quad) && o.contains(p, EDGE_PX));
                if covered || !quad.contains(p, -EDGE_PX) {
                    continue;
                }
                let (Some(expected), Some(got)) = (lookup.plain_texel(uv), rendered(&frame, p))
                else {
                    continue;
                };
                checked += 1;
                if !close(expected, got) {
                    wrong += 1;
                    first.get_or_insert((p, uv, got, expected));
                }
            }
        }
        println!("{}: {checked} points checked, {wrong} wrong", quad.name);
        // Right, at most a quarter percent differ (a marker's antialiased corner).
        if checked < 100 || wrong * 100 > checked {
            let first = first.map_or(String::new(), |(p, uv, got, expected)| {
                format!(
                    "; first at pixel ({:.0}, {:.0}), uv ({:.3}, {:.3}): rendered {got:?}, \
                     expected {expected:?}",
                    p.x, p.y, uv.x, uv.y
                )
            });
            failures.push(format!(
                "tile \"{}\": {wrong} of {checked} points differ from its texture under its \
                 KHR_texture_transform{first}",
                quad.name
            ));
        }
    }

    // The yellow "not supported" and red "error" images show only on their own markers: never
    // in a tile (the offset tiles' "not supported" quadrant, an arrow tile's background).
    for tile in quads.iter().filter(|q| depth(q) == 0.0) {
        let markers: Vec<&Quad> = quads.iter().filter(|o| depth(o) > 0.0).collect();
        for (color, what) in [(NOT_SUPPORTED, "not supported"), (ERROR, "error")] {
            let (lo, hi) = (tile.rect.0.ceil(), tile.rect.1.floor());
            let seen = (lo.y as u32..hi.y as u32)
                .flat_map(|y| {
                    (lo.x as u32..hi.x as u32).map(move |x| Vec2::new(x as f32, y as f32))
                })
                .filter(|&p| !markers.iter().any(|m| m.contains(p, EDGE_PX)))
                .filter(|&p| rendered(&frame, p).is_some_and(|c| close(c, color)))
                .count();
            if seen > 0 {
                failures.push(format!(
                    "tile \"{}\": {seen} pixels of the {what} image",
                    tile.name
                ));
            }
        }
    }

    // Each arrow tile's arrow points at its "Correct" marker, not at its other markers.
    for tile in quads.iter().filter(|q| depth(q) == 0.0) {
        let children = &model.nodes[tile.node].children;
        let markers: Vec<&Quad> = quads
            .iter()
            .filter(|q| children.contains(&q.node))
            .collect();
        if markers.is_empty() {
            continue;
        }
        let Some((tip, direction, dark)) = arrow(&frame, tile, &markers) else {
            failures.push(format!("tile \"{}\": no arrow drawn", tile.name));
            continue;
        };
        let (hit, reach) = pointed_at(tip, direction, &markers);
        println!(
            "{}: arrow of {dark} pixels, tip at {tip}, each marker (ahead, off the ray) in \
             pixels: {reach:?}",
            tile.name
        );
        // Drawn right, the tip stops just short of the marker; a tenth of the tile is leeway.
        let near = (tile.rect.1.x - tile.rect.0.x) * 0.1;
        if !hit.is_some_and(|(name, short)| name.ends_with("- Correct") && short <= near) {
            failures.push(format!(
                "tile \"{}\": the arrow points at {hit:?} (marker, pixels short of it), not \
                 at its Correct marker (tip {tip}, direction {direction}; each marker (ahead, \
                 off the ray) in pixels: {reach:?})",
                tile.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
