//! ONNX Runtime, loaded at run time (`ort`'s `load-dynamic`) from the shared library of the
//! `onnxruntime` wheel, and the models MediaPipe ships, converted by `scripts/models.sh`.
//! A missing or wrong library or model is an error that says what and where, never a panic.

use anyhow::{Context, Result, anyhow, bail};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};

/// The ONNX Runtime release the `onnxruntime==1.31.1` wheels ship and `ort`'s `api-31`
/// expects, under the name each platform's wheel gives it.
pub const ORT_LIB_NAME: &str = if cfg!(windows) {
    "onnxruntime.dll"
} else if cfg!(target_os = "macos") {
    "libonnxruntime.1.31.1.dylib"
} else {
    "libonnxruntime.so.1.31.1"
};
/// Every model the tracker loads (`<name>.onnx`), as `scripts/models.sh` makes them.
pub const MODEL_NAMES: [&str; 8] = [
    "pose_detection",
    "pose_landmark_full",
    "face_detection_short_range",
    "face_landmark",
    "iris_landmark",
    "palm_detection_full",
    "hand_landmark_full",
    "hand_recrop",
];
/// An installed plugin's data folder below the executable's (`/usr/bin` -> `/usr/share/...`),
/// where the Linux package puts the models.
const INSTALLED_DATA: &str = "../share/obs/obs-plugins/obs-vrm-avatar";
/// Names a different ONNX Runtime library file.
pub const ORT_LIB_ENV: &str = "VRM_AVATAR_ORT_LIB";
/// Names a different models folder.
pub const MODELS_ENV: &str = "VRM_AVATAR_MODELS";

/// Models folders the running program knows of, searched by [`ModelPaths::locate`].
static SEARCHED: parking_lot::Mutex<Vec<PathBuf>> = parking_lot::Mutex::new(Vec::new());

/// Makes [`ModelPaths::locate`] look in `models_dir` too (after `$VRM_AVATAR_MODELS`, before the
/// places next to the executable), once however often it is named.
pub fn search_models_in(models_dir: PathBuf) {
    let mut searched = SEARCHED.lock();
    if !searched.contains(&models_dir) {
        searched.push(models_dir);
    }
}

/// Where the models and the runtime library are.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPaths {
    pub models_dir: PathBuf,
    pub ort_lib: PathBuf,
}

impl ModelPaths {
    /// Looks in order: an explicit folder, `$VRM_AVATAR_MODELS`, the folders the running
    /// program named with [`search_models_in`] (the OBS module: its data folder's `models/`,
    /// where the readiness check looks; the command line: the checkout's), `models/` next to
    /// the executable, the installed plugin's (`../share/obs/obs-plugins/obs-vrm-avatar/models`
    /// from the executable). No build-time path: an installed module finds its own files. The
    /// library is
    /// `$VRM_AVATAR_ORT_LIB` (an error when that is not a file), or the one in the models
    /// folder, or one next to the executable.
    pub fn locate(explicit_dir: Option<&Path>) -> Result<ModelPaths> {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(dir) = explicit_dir {
            candidates.push(dir.to_path_buf());
        } else {
            if let Some(dir) = std::env::var_os(MODELS_ENV) {
                candidates.push(dir.into());
            }
            candidates.extend(SEARCHED.lock().iter().cloned());
            if let Some(exe) = &exe_dir {
                candidates.push(exe.join("models"));
                candidates.push(exe.join(INSTALLED_DATA).join("models"));
            }
            #[cfg(test)]
            candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
        }
        let models_dir = candidates
            .iter()
            .find(|d| d.join("face_landmark.onnx").is_file())
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "tracking models not found (looked in {}); run scripts/models.sh",
                    list(&candidates)
                )
            })?;
        let mut libs: Vec<PathBuf> = Vec::new();
        if let Some(lib) = std::env::var_os(ORT_LIB_ENV).filter(|l| !l.is_empty()) {
            // A library the user named is used or refused, never passed over in silence.
            let lib = PathBuf::from(lib);
            if !lib.is_file() {
                bail!(
                    "ONNX Runtime library {} (from ${ORT_LIB_ENV}) is not a file",
                    lib.display()
                );
            }
            libs.push(lib);
        }
        libs.push(models_dir.join(ORT_LIB_NAME));
        if let Some(exe) = &exe_dir {
            libs.push(exe.join(ORT_LIB_NAME));
        }
        if cfg!(target_os = "macos") {
            // A bundle keeps libraries with the code: Contents/Resources/models ->
            // Contents/Frameworks (as the readiness check).
            libs.push(models_dir.join("../../Frameworks").join(ORT_LIB_NAME));
        }
        let ort_lib = libs.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
            anyhow!(
                "ONNX Runtime library not found (looked for {}); run scripts/models.sh",
                list(&libs)
            )
        })?;
        Ok(ModelPaths {
            models_dir,
            ort_lib,
        })
    }

    pub fn model(&self, name: &str) -> PathBuf {
        self.models_dir.join(format!("{name}.onnx"))
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The process's ONNX Runtime environment. ONNX Runtime allows one library per process, so
/// the first library that loads stays; a failed load can be retried with another path.
static ENVIRONMENT: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

fn environment(lib: &Path) -> Result<Environment> {
    let mut slot = ENVIRONMENT.lock();
    if let Some((_, env)) = slot.as_ref() {
        return Ok(env.clone());
    }
    let env = ort::init_from(lib)
        .map_err(|e| anyhow!("cannot load ONNX Runtime: {e}"))?
        .with_name("obs-vrm-avatar")
        .build()
        .map_err(|e| anyhow!("cannot start ONNX Runtime from {}: {e}", lib.display()))?;
    *slot = Some((lib.to_path_buf(), env.clone()));
    Ok(env)
}

/// One model session with a float NHWC input.
pub struct Model {
    name: String,
    session: Session,
    input_shape: Vec<usize>,
}

impl Model {
    /// Loads `<models_dir>/<name>.onnx` on `threads` intra-op threads (no spinning, so an
    /// idle tracker leaves the cores to OBS and the game).
    pub fn load(paths: &ModelPaths, name: &str, threads: usize) -> Result<Model> {
        let env = environment(&paths.ort_lib)?;
        let file = paths.model(name);
        if !file.is_file() {
            bail!("model {} is missing; run scripts/models.sh", file.display());
        }
        let options = |e: ort::Error<_>| anyhow!("{name}: session options: {e}");
        let session = Session::builder(&env)
            .map_err(|e| anyhow!("{name}: {e}"))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(options)?
            .with_intra_threads(threads.max(1))
            .map_err(options)?
            .with_inter_threads(1)
            .map_err(options)?
            .with_intra_op_spinning(false)
            .map_err(options)?
            .with_flush_to_zero()
            .map_err(options)?
            .commit_from_file(&file)
            .map_err(|e| anyhow!("cannot load model {}: {e}", file.display()))?;
        let input = session
            .inputs()
            .first()
            .ok_or_else(|| anyhow!("{name}: the model has no input"))?;
        let input_shape: Vec<usize> = input
            .dtype()
            .tensor_shape()
            .map(|s| s.iter().map(|&d| d.max(1) as usize).collect())
            .ok_or_else(|| anyhow!("{name}: the input is not a tensor"))?;
        Ok(Model {
            name: name.to_string(),
            session,
            input_shape,
        })
    }

    /// The input's shape with unknown dimensions taken as 1 (the batch).
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Runs the model on one input; the outputs come back in the model's output order.
    pub fn run(&mut self, input: &[f32]) -> Result<Vec<Vec<f32>>> {
        let expected: usize = self.input_shape.iter().product();
        if input.len() != expected {
            bail!(
                "{}: input has {} values, the model takes {expected}",
                self.name,
                input.len()
            );
        }
        let shape: Vec<i64> = self.input_shape.iter().map(|&d| d as i64).collect();
        let tensor = TensorRef::from_array_view((shape, input))
            .map_err(|e| anyhow!("{}: input tensor: {e}", self.name))?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(|e| anyhow!("{}: inference failed: {e}", self.name))?;
        outputs
            .values()
            .map(|v| {
                v.try_extract_tensor::<f32>()
                    .map(|(_, data)| data.to_vec())
                    .map_err(|e| anyhow!("{e}"))
            })
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("{}: reading outputs", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_models_folder_is_a_clear_error() {
        let err = ModelPaths::locate(Some(Path::new("/nonexistent/models")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/models") && err.contains("scripts/models.sh"));
    }
}
