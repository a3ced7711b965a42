//! The pixel pendulum end to end on a tiny dataset: the run, its three-part loss in the
//! metrics, both protocols through the autoencoder, the Figure 4 frames and the GIF; and bad
//! pixel settings refused before any work.

mod common;

use common::{root, run_with, temp_dir};

#[test]
fn a_small_pixel_run_writes_everything() {
    let out = temp_dir("pixels");
    let o = run_with(&root().join("tests/smoke-pixels.toml"), &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let parent = out.join("smoke-pixels");
    let run = std::fs::read_dir(&parent)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["task"], "pixel-pendulum");
    for protocol in ["paper", "corrected"] {
        for model in ["baseline", "hnn"] {
            let e = &summary["energy"][protocol]["models"][model];
            let mse = e["energy_mse"]["mean"].as_f64().unwrap();
            assert!(mse.is_finite() && mse > 0.0, "{protocol} {model}: {e}");
            assert_eq!(e["failed"].as_array().unwrap().len(), 0);
            let r2 = e["readout_r2"].as_array().unwrap();
            assert_eq!(r2.len(), 2);
            assert!(r2.iter().all(|r| r.as_f64().unwrap() <= 1.0), "{r2:?}");
        }
    }
    // the paper protocol: 200 points by default, 40 here, on times stretched by 0.98
    let horizon = summary["energy"]["paper"]["model_horizons"][0]
        .as_f64()
        .unwrap();
    assert!((horizon - 0.98 * 39.0).abs() < 1e-9, "{horizon}");
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    for part in ["reconstruction", "canonical", "latent"] {
        assert!(first["train"][part].as_f64().is_some(), "{first}");
        assert!(first["test"][part].as_f64().is_some(), "{first}");
    }
    // the logged total is reconstruction + canonical + 0.1 latent
    let t = &first["test"];
    let total = t["reconstruction"].as_f64().unwrap()
        + t["canonical"].as_f64().unwrap()
        + 0.1 * t["latent"].as_f64().unwrap();
    let logged = first["test_loss"].as_f64().unwrap();
    assert!(
        (total - logged).abs() < 1e-6 * logged.abs().max(1e-6),
        "{total} {logged}"
    );
    for f in [
        "plots/figure4_frames.png",
        "plots/figure4_phase.png",
        "plots/figure4_latent.png",
        "plots/rollouts.gif",
        "data/train_frames_u8.npy",
        "data/test_labels.npy",
        "checkpoints/hnn.safetensors",
    ] {
        let len = std::fs::metadata(run.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{f} missing or empty");
    }
    // energy editing in the latent space, from the paper protocol's first observation, with
    // the path decoded to frames
    let o = common::bin()
        .args(["edit", "--add", "0.02", "--run"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let edit = run.join("edit/hnn-add0.02");
    for f in ["frames.npy", "frames.png", "path.npy", "energy_edit.png"] {
        assert!(edit.join(f).is_file(), "{f}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_pixel_settings_stop_before_any_work() {
    let out = temp_dir("pixels-bad");
    let text = std::fs::read_to_string(root().join("tests/smoke-pixels.toml")).unwrap();
    for (from, to, key) in [
        ("trials = 8", "trials = 8\nframes = 3", "system.frames"),
        (
            "[train]",
            "[model]\nautoencoder = { latent = 3 }\n[train]",
            "model.autoencoder.latent",
        ),
    ] {
        let cfg = out.join("bad.toml");
        std::fs::write(&cfg, text.replacen(from, to, 1)).unwrap();
        let o = run_with(&cfg, &out, &[]);
        assert_eq!(o.status.code(), Some(2), "{key}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(key) && err.contains("bad.toml"),
            "{key}: {err}"
        );
        assert!(!out.join("smoke-pixels").exists(), "{key}: a run directory");
    }
    let _ = std::fs::remove_dir_all(&out);
}
