//! End-to-end tests of the runner binary on the tiny config `tests/smoke.toml`.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{bin, root, run_with, temp_dir};

fn run(config: &Path, out: &Path) -> Output {
    run_with(config, out, &[])
}

fn run_dirs(out: &Path, name: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(out.join(name)) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// The entry of model `name` in a summary's model list.
fn model<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["models"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .unwrap_or(&serde_json::Value::Null)
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn smoke_run_writes_a_complete_run_directory() {
    let out = temp_dir("smoke");
    let o = run(&root().join("tests/smoke.toml"), &out);
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dirs = run_dirs(&out, "smoke");
    assert_eq!(dirs.len(), 1);
    let d = &dirs[0];
    for f in [
        "config.toml",
        "meta.json",
        "log.txt",
        "metrics.jsonl",
        "summary.json",
        "report.md",
        "data/x_train.npy",
        "data/dx_test.npy",
        "checkpoints/baseline.safetensors",
        "checkpoints/hnn.safetensors",
        "rollouts/figure_truth.npy",
        "rollouts/paper_hnn.npy",
        "rollouts/corrected_baseline.npy",
        "plots/figure2.png",
        "plots/figure2.svg",
        "plots/loss_curves.png",
        "plots/loss_curves.svg",
        "plots/energy_paper.png",
        "plots/rollout_corrected.png",
    ] {
        let p = d.join(f);
        assert!(
            p.is_file() && p.metadata().unwrap().len() > 0,
            "missing or empty {}",
            p.display()
        );
    }
    let s = summary(d);
    for m in ["baseline", "hnn"] {
        let loss = model(&s, m)["test_loss"]["mean"].as_f64().unwrap();
        assert!(loss.is_finite() && loss > 0.0);
        for p in ["paper", "corrected"] {
            let e = s["energy"][p]["models"][m]["energy_mse"]["mean"]
                .as_f64()
                .unwrap();
            assert!(e.is_finite() && e >= 0.0, "{p} {m}: {e}");
        }
    }
    // steps 1, 10, 20, 30 logged for each model
    let lines = std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 8);
    let log = std::fs::read_to_string(d.join("log.txt")).unwrap();
    assert!(
        log.contains("trained") && log.contains("energy MSE"),
        "{log}"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["status"], "ok");
    // libtorch alone takes tens of MiB; a tiny run stays far below a GiB
    let rss = meta["peak_rss_mb"].as_f64().unwrap();
    assert!((20.0..1024.0).contains(&rss), "peak RSS {rss} MiB");
    assert_eq!(meta["peak_rss_scope"], "run");
    // the resolved config is complete and re-runnable
    let resolved = std::fs::read_to_string(d.join("config.toml")).unwrap();
    assert!(resolved.contains("compound_stretch") && resolved.contains("weight_decay"));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn same_config_and_seed_reproduce_the_numbers_and_never_overwrite() {
    let out = temp_dir("repro");
    let cfg = root().join("tests/smoke.toml");
    for _ in 0..2 {
        let o = run_with(&cfg, &out, &["--rerun"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let dirs = run_dirs(&out, "smoke");
    assert_eq!(dirs.len(), 2, "a second run gets its own directory");
    let (a, b) = (summary(&dirs[0]), summary(&dirs[1]));
    assert_eq!(
        model(&a, "hnn")["train_loss"],
        model(&b, "hnn")["train_loss"]
    );
    assert_eq!(
        model(&a, "baseline")["test_loss"],
        model(&b, "baseline")["test_loss"]
    );
    assert_eq!(
        a["energy"]["paper"]["models"],
        b["energy"]["paper"]["models"]
    );
    let x1 = std::fs::read(dirs[0].join("data/x.npy")).unwrap();
    let x2 = std::fs::read(dirs[1].join("data/x.npy")).unwrap();
    assert_eq!(x1, x2);
    std::fs::remove_dir_all(&out).unwrap();
}

fn expect_rejected(config_text: Option<&str>, must_contain: &[&str]) {
    let out = temp_dir("bad");
    let cfg = out.join("bad.toml");
    if let Some(text) = config_text {
        std::fs::write(&cfg, text).unwrap();
    }
    let o = run(&cfg, &out.join("runs"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "should fail: {stderr}");
    for s in must_contain.iter().chain(&["bad.toml"]) {
        assert!(stderr.contains(s), "stderr lacks {s:?}: {stderr}");
    }
    assert!(
        !out.join("runs").exists(),
        "no output may be written for a bad config"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn bad_configs_fail_before_any_work_naming_file_and_key() {
    let base = std::fs::read_to_string(root().join("tests/smoke.toml")).unwrap();
    expect_rejected(
        Some(&base.replace("[train]\n", "[train]\nstepz = 3\n")),
        &["stepz"],
    );
    expect_rejected(
        Some(&base.replace("steps = 30", "steps = \"30\"")),
        &["train.steps"],
    );
    expect_rejected(
        Some(&base.replace("steps = 30", "steps = -30")),
        &["train.steps"],
    );
    expect_rejected(
        Some(&base.replace("trajectories = 6", "trajectories = 0")),
        &["data.trajectories"],
    );
    expect_rejected(Some(&format!("{base}\n[eval.extra]\nx = 1\n")), &["extra"]);
    expect_rejected(
        Some(&base.replace("points = 10", "points = 10\nrtol = -1.0")),
        &["data.rtol"],
    );
    expect_rejected(Some("this is not = toml ["), &["bad.toml"]);
    expect_rejected(None, &["cannot read config file"]);
}

#[test]
fn a_bad_config_among_several_stops_everything() {
    let out = temp_dir("several");
    let bad = out.join("bad.toml");
    std::fs::write(&bad, "[experiment]\nname = \"x\"\n").unwrap();
    let o = bin()
        .args(["--no-progress", "--output-dir"])
        .arg(out.join("runs"))
        .arg("--config")
        .arg(root().join("tests/smoke.toml"))
        .arg("--config")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("system"));
    assert!(
        !out.join("runs").exists(),
        "the good config must not have run either"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn two_body_smoke_run_trains_on_minibatches_and_draws_orbits() {
    let out = temp_dir("orbits");
    let o = run(&root().join("tests/smoke-two-body.toml"), &out);
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dirs = run_dirs(&out, "smoke-two-body");
    assert_eq!(dirs.len(), 1);
    let d = &dirs[0];
    for f in [
        "plots/orbits.png",
        "plots/orbit_energy.png",
        "rollouts/paper_hnn.npy",
        "checkpoints/hnn.safetensors",
    ] {
        assert!(d.join(f).is_file(), "missing {f}");
    }
    assert!(
        !d.join("plots/figure2.png").exists(),
        "orbits get Figure 3, not the phase-space row"
    );
    let s = summary(d);
    assert_eq!(s["task"], "two-body");
    let e = s["energy"]["paper"]["models"]["hnn"]["energy_mse"]["mean"]
        .as_f64()
        .unwrap();
    assert!(e.is_finite() && e >= 0.0);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn finished_runs_are_reused_and_a_table_covers_a_directory_of_configs() {
    let out = temp_dir("resume");
    let configs = out.join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    for f in ["smoke.toml", "smoke-two-body.toml"] {
        std::fs::copy(root().join("tests").join(f), configs.join(f)).unwrap();
    }
    // first only the spring: as if a batch was interrupted after it
    let o = run(&configs.join("smoke.toml"), &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // then the whole directory: the spring run is reused, the orbit run is new
    let o = run(&configs, &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("reusing"), "{stderr}");
    assert_eq!(run_dirs(&out, "smoke").len(), 1);
    assert_eq!(run_dirs(&out, "smoke-two-body").len(), 1);
    let table = std::fs::read_to_string(out.join("table1.md")).unwrap();
    for s in [
        "smoke (seed 0)",
        "smoke-two-body (seed 0)",
        "energy MSE, corrected protocol",
        // 30 steps is not the published setting: the spring's published numbers stay out
        "smoke (seed 0): Published numbers (mass-spring) are not shown",
        "data.trajectories = 6 (published: 50)",
    ] {
        assert!(table.contains(s), "table lacks {s:?}:\n{table}");
    }
    assert!(!table.contains("3.713e-2"), "{table}");
    // a changed config is not a finished run of the new config
    let changed = std::fs::read_to_string(configs.join("smoke.toml"))
        .unwrap()
        .replace("steps = 30", "steps = 31");
    std::fs::write(configs.join("smoke.toml"), changed).unwrap();
    let o = run(&configs.join("smoke.toml"), &out);
    assert!(o.status.success());
    assert_eq!(run_dirs(&out, "smoke").len(), 2);
    // an empty directory is an error
    let empty = out.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = run(&empty, &out);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no .toml files"));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn seeds_flag_runs_each_seed_and_the_table_spans_them() {
    let out = temp_dir("seeds");
    let config = root().join("tests/smoke.toml");
    let o = run_with(&config, &out, &["--seeds", "0-1,5"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dirs = run_dirs(&out, "smoke");
    let mut seeds: Vec<u64> = dirs
        .iter()
        .map(|d| summary(d)["seed"].as_u64().unwrap())
        .collect();
    seeds.sort();
    assert_eq!(seeds, vec![0, 1, 5]);
    // different seeds give different data and weights
    let loss = |d: &PathBuf| model(&summary(d), "hnn")["test_loss"]["mean"].as_f64();
    assert_ne!(loss(&dirs[0]), loss(&dirs[1]));
    let table = std::fs::read_to_string(out.join("table1.md")).unwrap();
    for s in [
        "smoke (seed 1)",
        "smoke (seed 5)",
        "## Across seeds",
        "| smoke | 0, 1, 5 | hnn |",
    ] {
        assert!(table.contains(s), "table lacks {s:?}:\n{table}");
    }
    // a malformed list is refused before any work
    let o = run_with(&config, &out.join("bad"), &["--seeds", "3-1"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("runs backwards"));
    assert!(!out.join("bad").exists());
    std::fs::remove_dir_all(&out).unwrap();
}

/// The long-horizon protocol, asked for with `--set`, rolls the models out over 10x the
/// training horizon (the smoke data span [0, 3] with 10 points: [0, 30], 100 points) and
/// gets its own rollout-metrics section in `table1.md`.
#[test]
fn the_long_horizon_protocol_runs_over_ten_training_horizons() {
    let out = common::temp_dir("long");
    let o = common::run_with(
        &common::root().join("tests/smoke.toml"),
        &out,
        &[
            "--set",
            "eval.long.enabled=true",
            "--set",
            "eval.long.trajectories=5",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = run_dirs(&out, "smoke").remove(0);
    let s = summary(&dir);
    let long = &s["energy"]["long"];
    assert_eq!(long["settings"]["t_span"], serde_json::json!([0.0, 30.0]));
    assert_eq!(long["settings"]["points"], 100);
    assert_eq!(long["model_horizons"].as_array().unwrap().len(), 5);
    assert!(
        long["models"]["hnn"]["energy_mse"]["mean"]
            .as_f64()
            .unwrap()
            .is_finite()
    );
    let table = std::fs::read_to_string(out.join("table1.md")).unwrap();
    assert!(
        table.contains("## Rollout metrics, long horizon"),
        "{table}"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// `train.objective = "rollout"` trains on windows of observed states through the integrator:
/// the logged loss is the state error, the reported losses stay the `dx/dt` error, and a seed
/// ensemble of it trains its seeds one after the other (its objective is not batchable).
#[test]
fn the_rollout_objective_trains_without_derivative_targets() {
    let out = temp_dir("rollout");
    let o = run_with(
        &root().join("tests/smoke.toml"),
        &out,
        &[
            "--set",
            "train.objective=rollout",
            "--set",
            "train.rollout.window=4",
            "--seeds",
            "0-1",
            "--ensemble",
            "on",
        ],
    );
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("cannot be trained as a seed ensemble"),
        "{stderr}"
    );
    let dirs = run_dirs(&out, "smoke");
    assert_eq!(dirs.len(), 2);
    let metrics = std::fs::read_to_string(dirs[0].join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("state_mse"), "{metrics}");
    assert!(!metrics.contains("dx_mse"), "{metrics}");
    let s = summary(&dirs[0]);
    let hnn = model(&s, "hnn");
    assert!(
        hnn["test_loss"]["mean"].as_f64().is_some_and(|v| v > 0.0),
        "{hnn}"
    );
    let config = std::fs::read_to_string(dirs[0].join("config.toml")).unwrap();
    assert!(config.contains("objective = \"rollout\"") && config.contains("window = 4"));
}

/// The models beyond 2019 run end to end on the smoke spring: the Lagrangian NN and NODE+SO
/// are trained, evaluated and scored, the LNN's mass-matrix counts reach `summary.json` and
/// `report.md`, and every registered metric has its score. (300 steps: the smoke config's 30
/// leave an LNN whose accelerations are so large that evaluation crawls to its budget.)
#[test]
fn lagrangian_and_second_order_models_run_end_to_end() {
    let out = temp_dir("lnn");
    let o = run_with(
        &root().join("tests/smoke.toml"),
        &out,
        &[
            "--set",
            r#"train.models=["node-so","lnn"]"#,
            "--set",
            "train.steps=300",
        ],
    );
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dir = &run_dirs(&out, "smoke")[0];
    let s = summary(dir);
    let lnn = model(&s, "lnn");
    let d = &lnn["diagnostics"];
    assert!(d["mass_matrix_solves"].as_u64().unwrap() > 0, "{lnn}");
    // one degree of freedom: a 1 x 1 mass matrix is singular only when exactly zero
    assert_eq!(d["mass_matrix_ill_conditioned"].as_u64(), Some(0), "{lnn}");
    assert!(model(&s, "node-so")["diagnostics"].is_null());
    let scores = &s["energy"]["corrected"]["models"]["lnn"]["scores"];
    for name in ["valid_time", "relative_error", "energy_drift", "h_fit_r2"] {
        assert!(scores[name].as_f64().is_some(), "{name}: {scores}");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("mass_matrix_solves"), "{report}");
}
