//! A Python virtual environment with one package from PyPI, for tests that check the project
//! against an independent implementation or run a documented example as a user would.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Python of the virtual environment at `venv` with `requirement` installed (e.g.
/// `obsws-python==1.8.0`), made when `module` does not import there yet; an environment that
/// already has it is reused as is.
pub fn venv_python(venv: &Path, requirement: &str, module: &str) -> Result<PathBuf> {
    let python = venv.join("bin/python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    let status = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(venv)
        .status()
        .context("python3 (apt-get install python3-venv)")?;
    if !status.success() {
        bail!("python3 -m venv {} failed", venv.display());
    }
    let out = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            requirement,
        ])
        .output()
        .context("pip")?;
    if !out.status.success() {
        bail!(
            "pip install {requirement}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if !ready(&python) {
        bail!("{requirement} was installed but {module} does not import");
    }
    Ok(python)
}
