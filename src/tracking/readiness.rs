//! Whether an installed plugin can track: the models and ONNX Runtime in the module's data
//! folder, where the packages put them. OBS loads the module from anywhere (a package, a
//! per-user folder, a macOS bundle), so they are found relative to the module, never by a
//! build-time path. The OBS module runs [`check`] once at load on a background thread
//! (`obs::readiness`).

use super::runtime::{MODEL_NAMES, Model, ModelPaths, ORT_LIB_NAME};
use std::path::Path;

/// What the check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Readiness {
    /// The check has not finished yet.
    Checking,
    /// Everything loads; says what from where.
    Ready(String),
    /// Something is missing or does not load; says what and where.
    Unavailable(String),
}

impl Readiness {
    /// The text for the log and the status line (after the localized "Tracking" label).
    pub fn text(&self) -> String {
        match self {
            Readiness::Checking => "checking the models and ONNX Runtime...".into(),
            Readiness::Ready(what) => format!("ready: {what}"),
            Readiness::Unavailable(why) => format!("unavailable: {why}"),
        }
    }
}

/// Where an installed plugin keeps the models and the runtime: `<data>/models/*.onnx` and the
/// library in `<data>/models/`, or on macOS in the bundle's `Contents/Frameworks` (`<data>` is
/// `Contents/Resources` there; code signing wants libraries with the code). Only checks that
/// the files are there; says which are missing.
pub fn installed_paths(data_dir: &Path) -> Result<ModelPaths, String> {
    paths_in(data_dir, cfg!(target_os = "macos"))
}

/// [`installed_paths`] for a macOS bundle (`bundle`) or a plain data folder.
fn paths_in(data_dir: &Path, bundle: bool) -> Result<ModelPaths, String> {
    let models_dir = data_dir.join("models");
    let missing: Vec<String> = MODEL_NAMES
        .iter()
        .map(|name| format!("{name}.onnx"))
        .filter(|file| !models_dir.join(file).is_file())
        .collect();
    match missing.as_slice() {
        [] => {}
        [one] => return Err(format!("missing model {one} in {}", models_dir.display())),
        many => {
            return Err(format!(
                "missing models {} in {}",
                many.join(", "),
                models_dir.display()
            ));
        }
    }
    let mut libs = vec![models_dir.join(ORT_LIB_NAME)];
    if bundle {
        libs.push(data_dir.join("../Frameworks").join(ORT_LIB_NAME));
    }
    let ort_lib = libs.iter().find(|lib| lib.is_file()).ok_or_else(|| {
        format!(
            "ONNX Runtime library not found in {} ({ORT_LIB_NAME})",
            libs.iter()
                .filter_map(|lib| lib.parent().map(|dir| dir.display().to_string()))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    })?;
    Ok(ModelPaths {
        models_dir,
        ort_lib: ort_lib.clone(),
    })
}

/// Finds the files, loads ONNX Runtime and every model once (one thread each, then dropped),
/// so that a truncated model or a wrong library shows now rather than when tracking starts.
pub fn check(data_dir: &Path) -> Readiness {
    let paths = match installed_paths(data_dir) {
        Ok(paths) => paths,
        Err(why) => return Readiness::Unavailable(why),
    };
    for name in MODEL_NAMES {
        if let Err(err) = Model::load(&paths, name, 1) {
            return Readiness::Unavailable(format!("{err:#}").replace('\n', " "));
        }
    }
    Readiness::Ready(format!(
        "{} models in {}, ONNX Runtime {}",
        MODEL_NAMES.len(),
        paths.models_dir.display(),
        paths.ort_lib.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh folder under the system's temporary directory.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "vrm-avatar-readiness-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("models")).unwrap();
        dir
    }

    /// A data folder laid out as the packages install it, linking the checkout's real models
    /// and library (made by scripts/models.sh).
    fn installed_copy(name: &str) -> PathBuf {
        let real = ModelPaths::locate(None).expect("scripts/models.sh has made models/");
        let dir = scratch(name);
        for model in MODEL_NAMES {
            let file = format!("{model}.onnx");
            std::os::unix::fs::symlink(real.models_dir.join(&file), dir.join("models").join(file))
                .unwrap();
        }
        std::os::unix::fs::symlink(&real.ort_lib, dir.join("models").join(ORT_LIB_NAME)).unwrap();
        dir
    }

    #[test]
    fn an_empty_data_folder_names_every_missing_model_and_where() {
        let dir = scratch("empty");
        let err = installed_paths(&dir).unwrap_err();
        let models = dir.join("models");
        assert!(
            err.starts_with("missing models pose_detection.onnx, "),
            "{err}"
        );
        assert!(err.ends_with(&format!(" in {}", models.display())), "{err}");
        assert_eq!(err.matches(".onnx").count(), MODEL_NAMES.len(), "{err}");
        assert_eq!(
            check(&dir),
            Readiness::Unavailable(err),
            "check says the same"
        );
    }

    #[test]
    fn one_missing_model_or_the_missing_library_is_named() {
        let dir = installed_copy("one-missing");
        assert!(installed_paths(&dir).is_ok());
        std::fs::remove_file(dir.join("models/iris_landmark.onnx")).unwrap();
        assert_eq!(
            installed_paths(&dir).unwrap_err(),
            format!(
                "missing model iris_landmark.onnx in {}",
                dir.join("models").display()
            )
        );
        let dir = installed_copy("no-runtime");
        std::fs::remove_file(dir.join("models").join(ORT_LIB_NAME)).unwrap();
        let err = installed_paths(&dir).unwrap_err();
        assert!(
            err.starts_with(&format!(
                "ONNX Runtime library not found in {}",
                dir.join("models").display()
            )) && err.ends_with(&format!("({ORT_LIB_NAME})")),
            "{err}"
        );
    }

    #[test]
    fn a_macos_bundle_keeps_the_library_in_frameworks() {
        let bundle = installed_copy("bundle");
        let resources = bundle.join("Contents/Resources");
        std::fs::create_dir_all(bundle.join("Contents/Frameworks")).unwrap();
        std::fs::create_dir_all(&resources).unwrap();
        std::fs::rename(bundle.join("models"), resources.join("models")).unwrap();
        std::fs::rename(
            resources.join("models").join(ORT_LIB_NAME),
            bundle.join("Contents/Frameworks").join(ORT_LIB_NAME),
        )
        .unwrap();
        assert!(
            paths_in(&resources, false).is_err(),
            "only a bundle looks there"
        );
        let paths = paths_in(&resources, true).unwrap();
        assert_eq!(
            paths.ort_lib,
            resources.join("../Frameworks").join(ORT_LIB_NAME)
        );
    }

    #[test]
    fn a_complete_install_loads_every_model_and_a_broken_model_is_reported() {
        let dir = installed_copy("complete");
        match check(&dir) {
            Readiness::Ready(what) => assert!(
                what.starts_with(&format!("8 models in {}", dir.join("models").display())),
                "{what}"
            ),
            other => panic!("expected ready, got {other:?}"),
        }
        let truncated = dir.join("models/hand_recrop.onnx");
        std::fs::remove_file(&truncated).unwrap();
        std::fs::write(&truncated, b"not an onnx model").unwrap();
        match check(&dir) {
            Readiness::Unavailable(why) => assert!(
                why.starts_with(&format!("cannot load model {}", truncated.display())),
                "{why}"
            ),
            other => panic!("expected unavailable, got {other:?}"),
        }
    }

    #[test]
    fn the_status_text_says_ready_or_unavailable() {
        assert_eq!(Readiness::Ready("x".into()).text(), "ready: x");
        assert_eq!(
            Readiness::Unavailable("missing model a.onnx in /d".into()).text(),
            "unavailable: missing model a.onnx in /d"
        );
    }
}
