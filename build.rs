//! Generates the libobs bindings for `src/obs/` (feature `obs`).
//!
//! bindgen runs over the system's libobs and obs-frontend-api headers (Debian's `libobs-dev`,
//! found with pkg-config or in `/usr/include/obs`, or `LIBOBS_INCLUDE_DIR`). When the headers or
//! libclang are missing, the checked-in `src/obs/bindings_generated.rs` is used instead, so the
//! crate still builds. `VRM_AVATAR_UPDATE_BINDINGS=1` rewrites that file from the headers;
//! `VRM_AVATAR_CHECKED_IN_BINDINGS=1` forces the fallback (to test it).

use std::env;
use std::path::{Path, PathBuf};

const CHECKED_IN: &str = "src/obs/bindings_generated.rs";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={CHECKED_IN}");
    for var in [
        "LIBOBS_INCLUDE_DIR",
        "VRM_AVATAR_UPDATE_BINDINGS",
        "VRM_AVATAR_CHECKED_IN_BINDINGS",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if env::var_os("CARGO_FEATURE_OBS").is_none() {
        return;
    }
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("obs_bindings.rs");

    let generated = if env::var_os("VRM_AVATAR_CHECKED_IN_BINDINGS").is_some() {
        None
    } else {
        include_dirs().and_then(|dirs| generate(&dirs))
    };
    match generated {
        Some(text) => {
            std::fs::write(&out, &text).expect("write bindings to OUT_DIR");
            if env::var_os("VRM_AVATAR_UPDATE_BINDINGS").is_some() {
                std::fs::write(CHECKED_IN, &text).expect("update checked-in bindings");
            }
        }
        None => {
            println!(
                "cargo:warning=libobs headers or libclang not found: using the checked-in {CHECKED_IN} (libobs 29.0.2)"
            );
            std::fs::copy(CHECKED_IN, &out).expect("copy checked-in bindings");
        }
    }

    // Windows and macOS link differently (import library / dynamic lookup); see installer/.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-cdylib-link-arg=-undefined");
        println!("cargo:rustc-cdylib-link-arg=dynamic_lookup");
    } else {
        println!("cargo:rustc-link-lib=dylib=obs");
        // The Tools menu item and the stream service (src/obs/frontend.rs): OBS's Qt frontend.
        println!("cargo:rustc-link-lib=dylib=obs-frontend-api");
    }
}

/// Include directories of the libobs headers, if they are installed.
fn include_dirs() -> Option<Vec<PathBuf>> {
    if let Some(dir) = env::var_os("LIBOBS_INCLUDE_DIR") {
        return Some(vec![PathBuf::from(dir)]);
    }
    if let Ok(out) = std::process::Command::new("pkg-config")
        .args(["--cflags-only-I", "libobs"])
        .output()
        && out.status.success()
    {
        let dirs: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|flag| flag.strip_prefix("-I"))
            .map(PathBuf::from)
            .collect();
        if dirs.iter().any(|d| d.join("obs-module.h").exists()) {
            return Some(dirs);
        }
    }
    let debian = Path::new("/usr/include/obs");
    debian
        .join("obs-module.h")
        .exists()
        .then(|| vec![debian.to_path_buf()])
}

fn generate(include_dirs: &[PathBuf]) -> Option<String> {
    let header = "#include <obs-module.h>\n\
                  #include <obs-frontend-api.h>\n\
                  #include <graphics/graphics.h>\n\
                  #include <util/text-lookup.h>\n\
                  #include <util/base.h>\n\
                  #include <util/bmem.h>\n\
                  #include <util/config-file.h>\n";
    let includes: Vec<String> = include_dirs
        .iter()
        .map(|d| format!("-I{}", d.display()))
        .collect();
    // clang-sys panics when libclang cannot be loaded; that means "fall back", not "fail the build".
    let result = std::panic::catch_unwind(|| {
        bindgen::Builder::default()
            .header_contents("obs_wrapper.h", header)
            .clang_args(&includes)
            .clang_arg("-DHAVE_OBSCONFIG_H")
            .rust_edition(bindgen::RustEdition::Edition2024)
            .allowlist_function(
                "obs_.*|gs_.*|blog|bfree|bzalloc|text_lookup_.*|config_(get|set)_(string|uint)|config_save_safe|proc_handler_call|calldata_(set|get)_data",
            )
            .allowlist_type("obs_.*|gs_.*|calldata_t")
            .allowlist_var("OBS_.*|LIBOBS_API_.*|LOG_.*|GS_.*")
            // Defined by this module itself (src/obs/module.rs), not imported from libobs.
            .blocklist_function(
                "obs_current_module|obs_module_(set_pointer|ver|load|unload|post_load|set_locale|free_locale|get_string|name|description|author|text)",
            )
            .default_enum_style(bindgen::EnumVariation::Consts)
            .layout_tests(false)
            .derive_default(true)
            .generate_comments(false)
            .generate()
    });
    match result {
        Ok(Ok(bindings)) => Some(format!(
            "// Generated by build.rs with bindgen from the libobs 29.0.2 headers. Do not edit.\n{bindings}"
        )),
        Ok(Err(err)) => {
            println!("cargo:warning=bindgen failed on the libobs headers: {err}");
            None
        }
        Err(_) => None,
    }
}
