//! The CPU matrix-product path (`hnn_models::cpu`) in the built runner: the vendor hook is in
//! its dynamic symbol table, the path follows `HNN_MKL_AVX512` and the CPU, every run records
//! it, and a tiny training gives the same losses on either path.

use std::path::{Path, PathBuf};

use hnn_models::cpu::{CpuFeatures, Switch, VendorAnswer, vendor_answer};
use object::{Object, ObjectSymbol};

mod common;
use common::{bin, root, temp_dir};

/// Runs the smoke config into `out` with the switch set to `value`; returns its run directory.
fn smoke_with_switch(value: &str, out: &Path) -> PathBuf {
    let o = bin()
        .env(Switch::VAR, value)
        .args(["--config"])
        .arg(root().join("tests/smoke.toml"))
        .arg("--output-dir")
        .arg(out)
        .arg("--no-progress")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = std::fs::read_dir(out.join("smoke"))
        .unwrap()
        .next()
        .unwrap();
    dir.unwrap().path()
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn the_runner_exports_the_vendor_hook_in_its_dynamic_symbol_table() {
    let data = std::fs::read(env!("CARGO_BIN_EXE_hnn")).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let exported = file
        .dynamic_symbols()
        .any(|s| s.name() == Ok("mkl_serv_intel_cpu_true") && s.is_definition());
    assert!(
        exported,
        "mkl_serv_intel_cpu_true is not exported by the runner"
    );
}

#[test]
fn a_tiny_training_gives_the_same_losses_on_both_paths_and_records_each() {
    let features = CpuFeatures::detect();
    let (on, off) = (temp_dir("cpu-path-on"), temp_dir("cpu-path-off"));
    let (on, off) = (
        smoke_with_switch("auto", &on),
        smoke_with_switch("off", &off),
    );
    for (dir, switch) in [(&on, Switch::Auto), (&off, Switch::Off)] {
        let recorded = json(dir.join("meta.json"))["cpu_matmul"]
            .as_str()
            .unwrap()
            .to_string();
        let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
        assert!(
            config.contains(&format!("cpu_matmul = \"{recorded}\"")),
            "{config}"
        );
        // The answer "Intel" on an AVX-512 CPU must land MKL on its AVX-512 branch; without
        // AVX-512 (or switched off) MKL's own choice, which is never an AVX-512 branch on a CPU
        // without it.
        if vendor_answer(features, switch) == VendorAnswer::Intel {
            assert!(recorded.starts_with("mkl-avx512"), "{recorded}");
        } else if !features.avx512() {
            assert!(!recorded.starts_with("mkl-avx512"), "{recorded}");
        }
    }
    let (a, b) = (
        json(on.join("summary.json")),
        json(off.join("summary.json")),
    );
    for (ma, mb) in a["models"]
        .as_array()
        .unwrap()
        .iter()
        .zip(b["models"].as_array().unwrap())
    {
        for key in ["train_loss", "test_loss"] {
            let (x, y) = (
                ma[key]["mean"].as_f64().unwrap(),
                mb[key]["mean"].as_f64().unwrap(),
            );
            assert!(
                (x - y).abs() <= 1e-5 * y.abs(),
                "{} {key}: {x} with the fast path, {y} without",
                ma["name"]
            );
        }
    }
}

#[test]
fn a_bad_switch_value_is_refused_before_any_work() {
    let out = temp_dir("cpu-path-bad");
    let o = bin()
        .env(Switch::VAR, "fast")
        .arg("--config")
        .arg(root().join("tests/smoke.toml"))
        .arg("--output-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("HNN_MKL_AVX512=\"fast\"") && err.contains("\"off\""),
        "{err}"
    );
    assert!(!out.join("smoke").exists(), "a run directory was created");
}
