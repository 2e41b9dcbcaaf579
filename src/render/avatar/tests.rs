//! Renders of real avatars (Godette, the spec samples) checked pixel by pixel.

use super::*;
use crate::pose::AvatarPose;
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

#[test]
fn materials_read_only_what_changes_the_picture() {
    // Each material's pipeline leaves out texture samples and the alpha test where they cannot
    // change a pixel (material::Shading). The pictures must be the same as with everything read,
    // with expressions that move material colors and texture transforms as well.
    let files = [
        ("vrm/vrm0/Godette_vrm_v4.vrm", false),
        ("vrm/vrm0/Godette_vrm_v4.vrm", true),
        ("vrm/vrm0/sphere.vrm", false),
        ("vrm/vrm0/simple_morph_skinned.vrm", false),
        ("vrm/vrm1/VRMC_materials_mtoon_UV_Animation_Test.vrm", false),
        (
            "vrm/vrm1/VRMC_vrm_expressions_isBinary_Overrides.vrm",
            false,
        ),
        ("vrm/vrm1/debug_robot.vrm", false),
    ];
    let mut total = [0usize; 7];
    for (file, dressed) in files {
        let mut pose = AvatarPose::default();
        pose.expressions
            .extend(["happy", "aa", "blink"].map(|e| (e.to_string(), 1.0)));
        let mut frames = Vec::new();
        let mut counts = [0usize; 7];
        for everything in [false, true] {
            let mut model = crate::vrm::load_file(testdata(file)).unwrap();
            if dressed {
                dress_up(&mut model);
            }
            let mut r = OffscreenRenderer::new(Gpu::new().unwrap(), 320, 240);
            let mut scene = AvatarScene::new(&r.gpu().device, &r.gpu().queue, model, r.samples());
            if everything {
                scene.renderer.read_everything(&r.gpu().device, r.samples());
            } else {
                counts = scene.renderer.shading_counts();
            }
            scene.pose = pose.clone();
            frames.push(r.render_blocking(&mut scene, 0.5));
        }
        let worst = frames[0]
            .tight_pixels()
            .iter()
            .zip(frames[1].tight_pixels().iter())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(
            worst <= 1,
            "{file} ({dressed}): a channel differs by {worst}"
        );
        eprintln!(
            "{file} ({dressed}): no base texture, shade own/base, emissive, matcap, rim, alpha test: {counts:?}"
        );
        for (t, c) in total.iter_mut().zip(counts) {
            *t += c;
        }
    }
    // Both sides of each choice are drawn: Godette's shade textures are its base images, and
    // dressed up its materials keep their own shade, emissive, matcap and rim textures.
    assert!(total.iter().all(|&c| c >= 2), "{total:?}");
}

/// Gives every MToon 0.x material of `model` its own shade, matcap, rim and emission textures,
/// a rim color, an emission color and an alpha test: what the test files do not have.
fn dress_up(model: &mut crate::vrm::VrmModel) {
    let textures = model.textures.len() as u64;
    assert!(textures >= 2);
    for m in &mut model.materials {
        let Some(p) = m.vrm0_properties.as_mut() else {
            continue;
        };
        let main = p["textureProperties"]["_MainTex"].as_u64().unwrap_or(0);
        let other = (main + 1) % textures;
        p["textureProperties"]["_ShadeTexture"] = other.into();
        p["textureProperties"]["_SphereAdd"] = main.into();
        p["textureProperties"]["_RimTexture"] = other.into();
        p["textureProperties"]["_EmissionMap"] = other.into();
        p["vectorProperties"]["_EmissionColor"] = serde_json::json!([0.3, 0.1, 0.05, 1.0]);
        p["vectorProperties"]["_RimColor"] = serde_json::json!([0.2, 0.2, 0.4, 1.0]);
        m.alpha_mode = crate::vrm::AlphaMode::Mask;
        m.alpha_cutoff = 0.5;
    }
}
