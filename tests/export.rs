//! A trained run used without this code: the checkpoints' metadata, and `hnn export`'s
//! TorchScript files loaded through libtorch's own loader (`tch::CModule`, what
//! `torch.jit.load` is in Python) against the model rebuilt from its checkpoint.

use std::path::Path;

use hnn_models::tch::{self, CModule, Device, Kind, Tensor, nn};

mod common;
use common::{bin, root, run_with, temp_dir};

/// Model `name` of the run in `dir`, rebuilt and loaded from its checkpoint.
fn rebuilt(dir: &Path, name: &str) -> (nn::VarStore, Box<dyn hnn_models::DynamicsModel>) {
    let exp = hnn_bench::config::load(&dir.join("config.toml")).unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = hnn_bench::build_model(name, &mut vs, 2, &exp, Device::Cpu).unwrap();
    let ckpt = dir.join("checkpoints").join(format!("{name}.safetensors"));
    hnn_models::load_checkpoint(&mut vs, &ckpt).unwrap();
    (vs, model)
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a - b).abs().max().double_value(&[])
}

#[test]
fn exported_fields_match_the_models_and_checkpoints_describe_them() {
    tch::set_num_threads(1);
    let out = temp_dir("export");
    let o = run_with(
        &root().join("tests/smoke.toml"),
        &out,
        &["--set", r#"train.models=["hnn","dhnn","node-so"]"#],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = std::fs::read_dir(out.join("smoke"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    // every checkpoint says what it is
    for name in ["hnn", "dhnn", "node-so"] {
        let ckpt = dir.join("checkpoints").join(format!("{name}.safetensors"));
        let meta = hnn_models::checkpoint_metadata(&ckpt).unwrap().unwrap();
        assert_eq!(meta["model"], name);
        assert_eq!(meta["format"], hnn_models::CHECKPOINT_FORMAT);
        assert_eq!(meta["state"], serde_json::json!(["q", "p"]));
        assert_eq!(meta["dtype"], "float32");
        assert_eq!(meta["task"], "mass-spring");
    }
    // H = q^2 + p^2: dq/dt = dH/dp = 2 p
    let node = hnn_models::checkpoint_metadata(&dir.join("checkpoints/node-so.safetensors"))
        .unwrap()
        .unwrap();
    assert_eq!(node["velocity"], serde_json::json!([[2.0]]));

    // every checkpoint by default
    let o = bin().arg("export").arg("--run").arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(dir.join("export/node-so.field.pt").is_file());
    assert!(!dir.join("export/node-so.energy.pt").exists());
    // the LNN is refused by name, before anything is looked up
    let o = bin()
        .args(["export", "--model", "lnn", "--run"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("lnn") && stderr.contains("hnn_load.py"),
        "{stderr}"
    );
    assert!(!dir.join("export/lnn.field.pt").exists());

    // a batch size the trace never saw, in and near the training region
    let x = Tensor::from_slice(&[
        0.3f32, -0.7, 1.1, 0.2, -0.4, 0.9, 0.0, 0.0, 2.5, -1.5, -0.05, 0.6, 1.0, 1.0,
    ])
    .view([7, 2]);
    for name in ["hnn", "dhnn"] {
        let (_vs, model) = rebuilt(&dir, name);
        let field = CModule::load(dir.join(format!("export/{name}.field.pt"))).unwrap();
        let want = model.time_derivative(&x, false);
        let got = field.forward_ts(&[&x]).unwrap();
        assert_eq!(got.kind(), Kind::Float);
        let scale = want.abs().max().double_value(&[]);
        assert!(scale > 0.0);
        assert!(max_abs_diff(&got, &want) <= 1e-6 * scale, "{name} field");
        let energy = CModule::load(dir.join(format!("export/{name}.energy.pt"))).unwrap();
        let h = energy.forward_ts(&[&x]).unwrap();
        let want_h = model.energy(&x).unwrap();
        assert!(max_abs_diff(&h, &want_h) <= 1e-6 * want_h.abs().max().double_value(&[]));
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn export_of_a_missing_model_names_it_and_writes_nothing() {
    let out = temp_dir("export-missing");
    let o = bin()
        .args(["export", "--run"])
        .arg(&out)
        .args(["--model", "hnn"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("config.toml"), "{stderr}");
    assert!(!out.join("export").exists());
    std::fs::remove_dir_all(&out).unwrap();
}
