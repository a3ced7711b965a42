//! Helpers shared by the integration tests: the runner binary, temporary folders, one run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `hnn` runner (the `hnn-bench` command line).
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hnn"))
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty folder for one test (per test process).
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hnn-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `config` into `out` without progress bars, with `extra` arguments.
pub fn run_with(config: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .arg("--config")
        .arg(config)
        .arg("--output-dir")
        .arg(out)
        .arg("--no-progress")
        .args(extra)
        .output()
        .unwrap()
}
