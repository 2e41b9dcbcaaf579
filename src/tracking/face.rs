//! Face: BlazeFace (short range) finds the face inside a ROI from the pose (or in the whole
//! image in face-only mode), the face mesh model gives 468 points on a ROI tracked from the
//! previous frame's mesh, and the iris model refines each eye and adds 5 iris points
//! (`face_landmarks_from_pose_cpu.pbtxt`, `iris_landmark_cpu.pbtxt`).

use super::detect::{Detection, Detector, FACE_DETECTOR};
use super::image::ImageView;
use super::image_to_tensor::{Border, TensorSpec};
use super::roi::NormRect;
use super::runtime::ModelPaths;
use super::{Stage, project, rect_around, sigmoid, tensor_points};
use crate::landmarks::FACE_MESH_POINTS;
use anyhow::{Result, ensure};

/// The face ROI from pose landmarks 0..=10 (nose, eyes, ears, mouth): their bounds turned
/// by the eyes, three times larger, square.
pub fn roi_from_pose(pose: &[[f32; 3]], w: f32, h: f32) -> NormRect {
    rect_around(&pose[..11], 5, 2, 0.0, w, h).transform(w, h, [3.0, 3.0], [0.0, 0.0], true)
}

/// The mesh ROI from a face detection: the bounds of its six keypoints turned by the
/// eyes, twice as large, nudged up, square.
pub fn roi_from_detection(d: &Detection, w: f32, h: f32) -> NormRect {
    let kps: Vec<[f32; 3]> = d.keypoints.iter().map(|k| [k[0], k[1], 0.0]).collect();
    rect_around(&kps, 0, 1, 0.0, w, h).transform(w, h, [2.0, 2.0], [0.0, -0.1], true)
}

/// The mesh ROI from the previous mesh: its bounds turned by the eye corners 33 and 263.
pub fn roi_from_mesh(mesh: &[[f32; 3]], w: f32, h: f32) -> NormRect {
    rect_around(mesh, 33, 263, 0.0, w, h).transform(w, h, [1.5, 1.5], [0.0, 0.0], true)
}

/// BlazeFace short range, run inside a ROI (the pose's head, or the whole frame).
pub fn detector(paths: &ModelPaths, threads: usize) -> Result<Detector> {
    Detector::load(paths, &FACE_DETECTOR, threads)
}

/// The face mesh model: 468 points on a ROI.
pub struct FaceMesh {
    stage: Stage,
}

impl FaceMesh {
    pub fn load(paths: &ModelPaths, threads: usize) -> Result<Self> {
        let spec = TensorSpec {
            width: 192,
            height: 192,
            keep_aspect_ratio: false,
            range: [0.0, 1.0],
            border: Border::Replicate,
        };
        Ok(FaceMesh {
            stage: Stage::load(paths, "face_landmark", spec, threads)?,
        })
    }

    /// The 468 mesh points, or `None` when the model sees no face on `roi`.
    pub fn run(&mut self, image: &ImageView, roi: &NormRect) -> Result<Option<Vec<[f32; 3]>>> {
        let (out, sampled) = self.stage.run(image, roi)?;
        ensure!(
            out.len() >= 2 && out[0].len() == FACE_MESH_POINTS * 3,
            "face_landmark: unexpected outputs"
        );
        if sigmoid(out[1][0]) <= 0.5 {
            return Ok(None);
        }
        Ok(Some(
            tensor_points(&out[0], FACE_MESH_POINTS, 3, 192.0, 1.0)
                .into_iter()
                .map(|p| project(p, &sampled, image))
                .collect(),
        ))
    }
}

/// The iris model, one session per eye so the two eyes can run at once.
pub struct Irises {
    pub first: Eye,
    pub second: Eye,
}

/// One eye's iris session.
pub struct Eye {
    stage: Stage,
    which: usize,
}

/// The two eyes: corner points of the mesh, the mesh points each eye's contour replaces,
/// and whether the eye is mirrored for the iris model (which knows only one eye).
const EYES: [([usize; 2], &[usize; 71], bool); 2] = [
    ([33, 133], &LEFT_EYE_CONTOUR, false),
    ([362, 263], &RIGHT_EYE_CONTOUR, true),
];

impl Eye {
    /// The iris model on this eye of a 468-point mesh.
    pub fn run(&mut self, image: &ImageView, mesh: &[[f32; 3]]) -> Result<EyePoints> {
        let (w, h) = (image.width as f32, image.height as f32);
        let (corners, _, mirrored) = EYES[self.which];
        let eye = [mesh[corners[0]], mesh[corners[1]]];
        let roi = rect_around(&eye, 0, 1, 0.0, w, h).transform(w, h, [2.3, 2.3], [0.0, 0.0], true);
        eye_points(&mut self.stage, image, &roi, mirrored)
    }
}

impl Irises {
    pub fn load(paths: &ModelPaths, threads: usize) -> Result<Self> {
        let spec = TensorSpec {
            width: 64,
            height: 64,
            keep_aspect_ratio: true,
            range: [0.0, 1.0],
            border: Border::Replicate,
        };
        let eye = |which| -> Result<Eye> {
            Ok(Eye {
                stage: Stage::load(paths, "iris_landmark", spec, threads)?,
                which,
            })
        };
        Ok(Irises {
            first: eye(0)?,
            second: eye(1)?,
        })
    }

    /// Refines the eye contours of a 468-point mesh and appends the 10 iris points (478 in
    /// all, MediaPipe's order). With `parallel` the second eye runs on a helper thread.
    pub fn refine(
        &mut self,
        image: &ImageView,
        mesh: &mut Vec<[f32; 3]>,
        parallel: bool,
    ) -> Result<()> {
        let (first, second) = (&mut self.first, &mut self.second);
        let (a, b) = if parallel {
            let shared: &[[f32; 3]] = mesh;
            std::thread::scope(|scope| {
                let job = scope.spawn(|| first.run(image, shared));
                let b = second.run(image, shared);
                let a = job
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the iris thread panicked")));
                (a, b)
            })
        } else {
            (first.run(image, mesh), second.run(image, mesh))
        };
        Self::apply(mesh, [a?, b?]);
        Ok(())
    }

    /// Puts both eyes' results into the mesh: contour points replaced, iris points appended.
    pub fn apply(mesh: &mut Vec<[f32; 3]>, eyes: [EyePoints; 2]) {
        let mut irises = Vec::with_capacity(10);
        for ((contour, iris), (_, indices, _)) in eyes.into_iter().zip(EYES) {
            for (i, p) in contour.into_iter().enumerate() {
                mesh[indices[i]] = p;
            }
            irises.extend(iris);
        }
        mesh.extend(irises);
    }
}

/// One eye's 71 contour and brow points and 5 iris points.
pub type EyePoints = (Vec<[f32; 3]>, Vec<[f32; 3]>);

/// Runs the iris model on one eye: the 71 eye contour and brow points and the 5 iris
/// points, in the image. A mirrored eye is mirrored in and out.
fn eye_points(
    stage: &mut Stage,
    image: &ImageView,
    roi: &NormRect,
    mirrored: bool,
) -> Result<EyePoints> {
    let (out, sampled) = if mirrored {
        stage.run_mirrored(image, roi)?
    } else {
        stage.run(image, roi)?
    };
    ensure!(
        out.len() >= 2 && out[0].len() == 71 * 3 && out[1].len() == 5 * 3,
        "iris_landmark: unexpected outputs"
    );
    let size = stage.input_size();
    let to_image = |p: [f32; 3]| {
        let x = if mirrored { 1.0 - p[0] } else { p[0] };
        project([x, p[1], p[2]], &sampled, image)
    };
    let contour = tensor_points(&out[0], 71, 3, size, 1.0)
        .into_iter()
        .map(to_image)
        .collect();
    let mut iris: Vec<[f32; 3]> = tensor_points(&out[1], 5, 3, size, 1.0)
        .into_iter()
        .map(to_image)
        .collect();
    if mirrored {
        // Mirroring swaps the iris's left and right rim points; keep MediaPipe's 478-point
        // order, where each index is on the same side of both irises.
        iris.swap(1, 3);
    }
    Ok((contour, iris))
}

/// The mesh points the iris model's 71 eye contour and brow points replace
/// (`update_face_landmarks_calculator.cc`), for the eye at corners 33/133.
const LEFT_EYE_CONTOUR: [usize; 71] = [
    33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173, 130, 25, 110, 24,
    23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190, 226, 31, 228, 229, 230, 231, 232, 233, 244,
    113, 225, 224, 223, 222, 221, 189, 35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121,
    128, 245, 156, 70, 63, 105, 66, 107, 55, 193,
];

/// The same for the eye at corners 362/263.
const RIGHT_EYE_CONTOUR: [usize; 71] = [
    263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398, 359, 255, 339,
    254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414, 446, 261, 448, 449, 450, 451,
    452, 453, 464, 342, 445, 444, 443, 442, 441, 413, 265, 353, 276, 283, 282, 295, 372, 340, 346,
    347, 348, 349, 350, 357, 465, 383, 300, 293, 334, 296, 336, 285, 417,
];

/// Face tracking state: the previous mesh, whose ROI the next frame uses.
#[derive(Default)]
pub struct FaceTrack {
    pub previous: Option<Vec<[f32; 3]>>,
}
