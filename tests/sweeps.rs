//! Sweeps without copied configs (`--set`), split over processes (`--shard`) and put together
//! afterwards (`hnn-bench table`).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

mod common;
use common::{bin, root, run_with, temp_dir};

fn smoke() -> PathBuf {
    root().join("tests/smoke.toml")
}

fn run(out: &Path, extra: &[&str]) -> Output {
    run_with(&smoke(), out, extra)
}

/// The table up to its timing section (wall times and run paths differ between runs).
fn numbers(table: &str) -> String {
    table.split("## Wall seconds").next().unwrap().to_string()
}

#[test]
fn set_overrides_keys_and_is_validated_like_the_file() {
    let dir = temp_dir("set");
    let out = dir.join("out");
    let o = run(
        &out,
        &[
            "--set",
            "train.steps=7",
            "--set",
            "system.k=3.0",
            "--set",
            "experiment.name=smoke-k3",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let runs: Vec<_> = std::fs::read_dir(out.join("smoke-k3")).unwrap().collect();
    assert_eq!(runs.len(), 1);
    let config =
        std::fs::read_to_string(runs[0].as_ref().unwrap().path().join("config.toml")).unwrap();
    assert!(config.contains("steps = 7"), "{config}");
    assert!(config.contains("k = 3.0"), "{config}");
    for (set, message) in [
        ("train.stepz=7", "unknown field `stepz`"),
        ("train.steps=-1", "train.steps"),
        ("system.radius=[0.1, 0.2, 0.3]", "system.radius"),
        ("train.steps", "expected key=value"),
        ("train..steps=1", "not a dotted key"),
        ("train.steps.x=1", "train.steps"),
    ] {
        let o = run(&dir.join("bad"), &["--set", set]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{set}: {err}");
        assert!(err.contains(message), "{set}: {err}");
        assert!(!dir.join("bad").exists(), "{set}: nothing may be written");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn three_shards_in_parallel_make_the_table_of_one_process() {
    let dir = temp_dir("shard");
    let (one, many) = (dir.join("one"), dir.join("many"));
    let o = run(&one, &["--seeds", "0-3", "--set", "train.steps=10"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shards: Vec<_> = ["1/3", "2/3", "3/3"]
        .iter()
        .map(|s| {
            bin()
                .arg("--config")
                .arg(smoke())
                .arg("--output-dir")
                .arg(&many)
                .args([
                    "--no-progress",
                    "--seeds",
                    "0-3",
                    "--set",
                    "train.steps=10",
                    "--shard",
                    s,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in shards {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // four runs, each computed once; shard 1 had seeds 0 and 3
    assert_eq!(std::fs::read_dir(many.join("smoke")).unwrap().count(), 4);
    assert!(many.join("table1-shard-1-of-3.md").exists());
    let t = bin()
        .args(["table", "--output-dir"])
        .arg(&many)
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stderr));
    assert!(String::from_utf8_lossy(&t.stdout).contains("4 runs"));
    let a = std::fs::read_to_string(one.join("table1.md")).unwrap();
    let b = std::fs::read_to_string(many.join("table1.md")).unwrap();
    assert_eq!(numbers(&a), numbers(&b));
    assert!(a.contains("| smoke | 0, 1, 2, 3 | hnn |"), "{a}");
    // a shard run again reuses its runs; bad shards are refused before any work
    let o = run(
        &many,
        &[
            "--seeds",
            "0-3",
            "--set",
            "train.steps=10",
            "--shard",
            "2/3",
        ],
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("reusing"));
    for bad in ["0/0", "3/2", "x"] {
        let o = run(&dir.join("bad"), &["--shard", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(!dir.join("bad").exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `hnn-bench speed` sets each finished run's stages against the measured matrix-product
/// rate: one row per stage, the training rows with their work and a ratio.
#[test]
fn speed_tables_the_stages_of_finished_runs() {
    let out = common::temp_dir("speed");
    assert!(run(&out, &[]).status.success());
    let o = common::bin()
        .args(["speed", "--output-dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("speed.md")).unwrap();
    assert!(
        text.contains("GFLOP/s per core measured now") && text.contains("GFLOP/s, "),
        "{text}"
    );
    for stage in [
        "| data |",
        "| train baseline |",
        "| train hnn |",
        "| evaluation |",
    ] {
        assert!(text.contains(stage), "{stage}: {text}");
    }
    // the smoke spring trains 30 full-batch steps on 3 x 10 samples: 30 * 30 * 487200 FLOP
    // for the HNN = 0.44 GFLOP, printed to one decimal
    let row = text
        .lines()
        .find(|l| l.starts_with("| smoke (seed 0, ") && l.contains("| train hnn |"))
        .expect("the HNN's training row");
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells[4], "0.4", "{row}");
    // the physical floor's ratio and the GEMM floor's
    assert!(cells[6].ends_with('x') && cells[8].ends_with('x'), "{row}");
    // the official code's time is for the published setting, which the smoke run is not
    assert_eq!(cells[10], "—", "{row}");
    // an empty folder is an error
    let empty = common::temp_dir("speed-empty");
    let o = common::bin()
        .args(["speed", "--output-dir"])
        .arg(&empty)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&empty);
}

/// `--seeds` with `--ensemble on` trains each batchable model's seeds as one batched network:
/// every seed still gets its own finished run directory and log, with the numbers of its
/// single run; a model without a batched form falls back to one seed at a time and says so.
#[test]
fn a_seed_ensemble_gives_each_seed_the_numbers_of_its_single_run() {
    let dir = temp_dir("ensemble");
    let models = "train.models=[\"baseline\", \"hnn\", \"shnn\"]";
    let args = |mode: &'static str| ["--seeds", "0-2", "--set", models, "--ensemble", mode];
    let on = run(&dir.join("on"), &args("on"));
    assert!(
        on.status.success(),
        "{}",
        String::from_utf8_lossy(&on.stderr)
    );
    let off = run(&dir.join("off"), &args("off"));
    assert!(
        off.status.success(),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    let summaries = |sub: &str| {
        let mut v: Vec<hnn_bench::summary::RunSummary> =
            std::fs::read_dir(dir.join(sub).join("smoke"))
                .unwrap()
                .map(|e| {
                    let d = e.unwrap().path();
                    let meta: serde_json::Value = serde_json::from_str(
                        &std::fs::read_to_string(d.join("meta.json")).unwrap(),
                    )
                    .unwrap();
                    assert_eq!(meta["status"], "ok");
                    let log = std::fs::read_to_string(d.join("log.txt")).unwrap();
                    if sub == "on" {
                        assert_eq!(meta["ensemble_seeds"], serde_json::json!([0, 1, 2]));
                        assert_eq!(meta["peak_rss_scope"], "ensemble");
                        assert!(
                            log.contains("training hnn for seeds [0, 1, 2] as one batched network"),
                            "{log}"
                        );
                        assert!(
                            log.contains("shnn cannot be trained as a seed ensemble"),
                            "{log}"
                        );
                    } else {
                        assert!(meta.get("ensemble_seeds").is_none());
                        assert!(!log.contains("batched"), "{log}");
                    }
                    hnn_bench::summary::RunSummary::read(&d.join("summary.json")).unwrap()
                })
                .collect();
        v.sort_by_key(|s| s.seed);
        v
    };
    let (a, b) = (summaries("on"), summaries("off"));
    assert_eq!(a.len(), 3);
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-4 * y.abs().max(1e-12);
    for (sa, sb) in a.iter().zip(&b) {
        assert_eq!(sa.seed, sb.seed);
        for (ma, mb) in sa.models.iter().zip(&sb.models) {
            assert_eq!(ma.name, mb.name);
            assert!(
                close(ma.test_loss.mean, mb.test_loss.mean),
                "seed {} {}: {} vs {}",
                sa.seed,
                ma.name,
                ma.test_loss.mean,
                mb.test_loss.mean
            );
            let (ea, eb) = (
                sa.energy_mse("corrected", &ma.name).unwrap(),
                sb.energy_mse("corrected", &mb.name).unwrap(),
            );
            assert!(close(ea, eb), "seed {} {}: {ea} vs {eb}", sa.seed, ma.name);
        }
    }
    // the seeds differ from each other
    assert_ne!(a[0].models[1].test_loss.mean, a[1].models[1].test_loss.mean);
    // a config given twice: its second pass reuses the first's runs (and must not wait on
    // its own locks)
    let again = smoke();
    let twice = run(
        &dir.join("twice"),
        &[
            "--config",
            again.to_str().unwrap(),
            "--seeds",
            "0-1",
            "--ensemble",
            "on",
            "--set",
            "train.steps=5",
        ],
    );
    assert!(
        twice.status.success(),
        "{}",
        String::from_utf8_lossy(&twice.stderr)
    );
    assert_eq!(
        std::fs::read_dir(dir.join("twice/smoke")).unwrap().count(),
        2
    );
    let o = run(
        &dir.join("bad"),
        &["--seeds", "0-1", "--ensemble", "sometimes"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.join("bad").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--jobs 2` computes two runs at a time: each run's log holds its own lines only, every run
/// finishes, and the table is the one of a one-job run; `--jobs 0` is refused before any work.
#[test]
fn parallel_jobs_keep_logs_per_run_and_give_the_same_table() {
    let dir = temp_dir("jobs");
    let args = |jobs: &'static str| {
        [
            "--seeds",
            "0-3",
            "--ensemble",
            "off",
            "--jobs",
            jobs,
            "--set",
            "train.steps=20",
        ]
    };
    let two = run(&dir.join("two"), &args("2"));
    assert!(
        two.status.success(),
        "{}",
        String::from_utf8_lossy(&two.stderr)
    );
    let one = run(&dir.join("one"), &args("1"));
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
    let table = |sub: &str| std::fs::read_to_string(dir.join(sub).join("table1.md")).unwrap();
    assert_eq!(numbers(&table("two")), numbers(&table("one")));
    let runs: Vec<_> = std::fs::read_dir(dir.join("two/smoke")).unwrap().collect();
    assert_eq!(runs.len(), 4);
    for r in runs {
        let d = r.unwrap().path();
        let seed: u64 = d
            .to_string_lossy()
            .rsplit("-s")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let log = std::fs::read_to_string(d.join("log.txt")).unwrap();
        assert!(log.contains(&format!("seed={seed} ")), "{log}");
        for other in (0..4).filter(|&s| s != seed) {
            assert!(
                !log.contains(&format!("seed={other} ")),
                "seed {seed}'s log: {log}"
            );
        }
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap();
        assert_eq!(meta["status"], "ok");
        assert_eq!(meta["peak_rss_scope"], "process");
    }
    let o = run(&dir.join("bad"), &["--jobs", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--jobs"));
    assert!(!dir.join("bad").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
