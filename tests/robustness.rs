//! Runs that go wrong, one test per class: a diverging model, an evaluation over budget, inputs
//! that once panicked or aborted after validation, settings of the wrong length, signals, reused
//! runs with a missing report, and two processes on the same run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{bin, root, run_with as run, temp_dir};

fn smoke() -> String {
    std::fs::read_to_string(root().join("tests/smoke.toml")).unwrap()
}

/// The smoke config with `line` (a `key = value`) placed under `[section]`.
fn smoke_with(dir: &Path, section: &str, line: &str) -> PathBuf {
    let header = format!("[{section}]");
    let text = smoke();
    let key = line.split('=').next().unwrap().trim();
    let mut out = Vec::new();
    let mut inside = false;
    let mut placed = false;
    for l in text.lines() {
        if l.starts_with('[') {
            if inside && !placed {
                out.push(line.to_string());
                placed = true;
            }
            inside = l.trim() == header;
        }
        if inside && l.split('=').next().unwrap().trim() == key {
            out.push(line.to_string());
            placed = true;
            continue;
        }
        out.push(l.to_string());
    }
    if !placed {
        if !inside {
            out.push(header);
        }
        out.push(line.to_string());
    }
    let p = dir.join("config.toml");
    std::fs::write(&p, out.join("\n") + "\n").unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn run_dirs(out: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(out.join("smoke")) else {
        return vec![];
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

/// A finished smoke run of `steps` steps in a fresh folder for test `tag`: (the folder, the
/// config, the output folder, the run directory).
fn finished_smoke_run(tag: &str, steps: u32) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let config = smoke_with(&dir, "train", &format!("steps = {steps}"));
    let out = dir.join("out");
    assert!(run(&config, &out, &[]).status.success());
    let d = run_dirs(&out)[0].clone();
    (dir, config, out, d)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_diverging_model_is_stopped_marked_and_left_out() {
    let dir = temp_dir("diverge");
    let config = smoke_with(&dir, "train", "learning_rate = 1e30");
    let o = run(&config, &dir.join("out"), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("model hnn diverged at step"), "{err}");
    let d = &run_dirs(&dir.join("out"))[0];
    assert_eq!(json(&d.join("meta.json"))["status"], "diverged");
    let s = json(&d.join("summary.json"));
    for m in s["models"].as_array().unwrap() {
        let step = m["diverged"]["step"].as_u64().unwrap();
        assert!((1..=10).contains(&step), "{m}");
        // not evaluated: no energy entry, so no ratio either
        assert!(s["energy"]["paper"]["models"][m["name"].as_str().unwrap()].is_null());
    }
    // the loss curve has null there (JSON has no NaN; pandas reads it as one)
    let metrics = std::fs::read_to_string(d.join("metrics.jsonl")).unwrap();
    assert!(metrics.contains("\"train_loss\":null"), "{metrics}");
    let report = std::fs::read_to_string(d.join("report.md")).unwrap();
    assert!(report.contains("diverged at step"), "{report}");
    let table = std::fs::read_to_string(dir.join("out/table1.md")).unwrap();
    assert!(table.contains("**diverged at step"), "{table}");
    // a finished diverged run is a result like any other: reused, still reported
    let o = run(&config, &dir.join("out"), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("reusing"));
    assert_eq!(run_dirs(&dir.join("out")).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A collapsed model (weight decay 1 pins every weight near 0) sits at the zero field's test
/// loss, with an energy error of ~1e-12 from a constant H: it is marked degenerate in the
/// summary, the report and the table, and set in no ratio; trained normally, nothing is.
#[test]
fn a_collapsed_model_is_marked_degenerate_not_near_perfect() {
    let dir = temp_dir("degenerate");
    let o = run(
        &root().join("tests/smoke.toml"),
        &dir.join("out"),
        &["--set", "train.weight_decay=1", "--set", "train.steps=300"],
    );
    let err = stderr(&o);
    assert!(err.contains("degenerate: test loss"), "{err}");
    let d = &run_dirs(&dir.join("out"))[0];
    let s = json(&d.join("summary.json"));
    for m in s["models"].as_array().unwrap() {
        assert!(m["degenerate"].as_str().is_some(), "{m}");
    }
    let table = std::fs::read_to_string(dir.join("out/table1.md")).unwrap();
    assert!(table.contains("| hnn (**degenerate**"), "{table}");
    let report = std::fs::read_to_string(d.join("report.md")).unwrap();
    assert!(report.contains("**hnn: degenerate**"), "{report}");
    assert!(
        !report.contains("baseline/HNN energy-MSE ratio"),
        "{report}"
    );
    // the same config trained without the collapse: nothing is flagged, the ratio is there
    let o = run(
        &root().join("tests/smoke.toml"),
        &dir.join("healthy"),
        &["--set", "train.steps=200"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let d = &run_dirs(&dir.join("healthy"))[0];
    let s = json(&d.join("summary.json"));
    for m in s["models"].as_array().unwrap() {
        assert!(m["degenerate"].is_null(), "{m}");
    }
    // and every stage's time is recorded
    let t = &s["timings"];
    for stage in [&t["data"], &t["train"]["hnn"], &t["eval"]] {
        assert!(stage.as_f64().is_some_and(|x| x > 0.0), "{t}");
    }
    let report = std::fs::read_to_string(d.join("report.md")).unwrap();
    assert!(!report.contains(": degenerate**"), "{report}");
    assert!(report.contains("baseline/HNN energy-MSE ratio"), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_evaluation_over_its_budget_fails_with_a_clear_error() {
    let dir = temp_dir("budget");
    let config = smoke_with(&dir, "eval", "max_steps = 3");
    let o = run(&config, &dir.join("out"), &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ground truth of trajectory 0 failed: more than 3 steps"),
        "{err}"
    );
    let d = &run_dirs(&dir.join("out"))[0];
    let meta = json(&d.join("meta.json"));
    assert_eq!(meta["status"], "failed");
    assert!(
        meta["error"]
            .as_str()
            .unwrap()
            .contains("more than 3 steps")
    );
    // a failed run is not reused
    let o = run(&config, &dir.join("out"), &[]);
    assert!(!stderr(&o).contains("reusing"));
    assert_eq!(run_dirs(&dir.join("out")).len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each of these once passed validation and then panicked or aborted the process (leaving
/// `meta.json` "running"); now each is refused up front, naming the key.
#[test]
fn inputs_that_used_to_crash_are_refused_before_any_work() {
    let dir = temp_dir("crash");
    for (section, line, key) in [
        ("train", "learning_rate = 1e300", "train.learning_rate"),
        ("train", "learning_rate = 1e38", "train.learning_rate"),
        ("train", "weight_decay = 1e300", "train.weight_decay"),
        ("model", "hidden = [100000, 100000]", "model.hidden"),
        ("data", "points = 1000000000000", "data.points"),
        (
            "eval.corrected",
            "trajectories = 100000000",
            "eval.corrected.points",
        ),
        (
            "experiment",
            &format!("name = \"{}\"", "x".repeat(300)),
            "experiment.name",
        ),
        ("experiment", "name = \"a\\u0000b\"", "experiment.name"),
        // names of the reports written beside the run folders
        ("experiment", "name = \"table1.md\"", "experiment.name"),
        ("experiment", "name = \"speed.md\"", "experiment.name"),
        ("eval.paper", "rtol = 1e10", "eval.paper.rtol"),
    ] {
        let config = smoke_with(&dir, section, line);
        let o = run(&config, &dir.join("out"), &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{line}: {err}");
        assert!(err.contains(&format!("key `{key}`")), "{line}: {err}");
        assert!(!err.contains("panicked"), "{line}: {err}");
        assert!(!dir.join("out").exists(), "{line}: nothing may be written");
    }
    let o = run(
        &root().join("tests/smoke.toml"),
        &dir.join("out"),
        &["--seeds", "9223372036854775808"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("above the largest seed"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("out").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Layers within the weight limit whose training state does not fit in what the process may
/// take (here `ulimit -v` 8 GB) are refused before any work, naming the key.
#[cfg(target_os = "linux")]
#[test]
fn models_too_large_for_the_memory_limit_are_refused_before_any_work() {
    let dir = temp_dir("memory");
    let out = dir.join("out");
    let o = Command::new("bash")
        .arg("-c")
        .arg("ulimit -v 8000000 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_hnn"))
        .arg("--config")
        .arg(root().join("tests/smoke.toml"))
        .args(["--set", "model.hidden=[65536, 16384]", "--output-dir"])
        .arg(&out)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("key `model.hidden`") && err.contains("34.4 GB"),
        "{err}"
    );
    assert!(!out.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn settings_of_the_wrong_length_or_type_name_their_key_and_line() {
    let dir = temp_dir("length");
    for (section, line, key) in [
        ("data", "t_span = [0.0, 1.0, 3.0]", "data.t_span"),
        (
            "eval.paper",
            "t_span = [0.0, 1.0, 3.0]",
            "eval.paper.t_span",
        ),
        (
            "eval.corrected",
            "box = [0.2, 1.0, 3.0]",
            "eval.corrected.box",
        ),
        ("eval.figure", "t_span = [0.0]", "eval.figure.t_span"),
        ("system", "radius = [0.1, 0.2, 0.3]", "system.radius"),
        ("system", "direction = \"diagonal\"", "system.direction"),
        ("train", "steps = 99999999999999999999", "train.steps"),
    ] {
        let config = smoke_with(&dir, section, line);
        let text = std::fs::read_to_string(&config).unwrap();
        let line_no = text.lines().position(|l| l == line).unwrap() + 1;
        let o = run(&config, &dir.join("out"), &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{line}: {err}");
        assert!(
            err.contains(&format!("line {line_no}: key `{key}`")),
            "{line}: {err}"
        );
        assert!(!dir.join("out").exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(unix)]
#[test]
fn a_signal_marks_the_run_interrupted_and_it_is_never_reused() {
    let dir = temp_dir("signal");
    let out = dir.join("out");
    let config = smoke_with(&dir, "train", "steps = 1000000");
    for (signal, code) in [("INT", 2), ("TERM", 15), ("HUP", 1)] {
        let mut child = bin()
            .arg("--config")
            .arg(&config)
            .arg("--output-dir")
            .arg(&out)
            .arg("--no-progress")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let n = run_dirs(&out).len();
        // the run has started once its directory has a meta.json
        wait_for("the run to start", || {
            run_dirs(&out)
                .get(n)
                .is_some_and(|d| d.join("meta.json").exists())
        });
        std::thread::sleep(Duration::from_millis(300));
        let k = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(k.success());
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(code), "{signal}: {status:?}");
        let meta = json(&run_dirs(&out)[n].join("meta.json"));
        assert_eq!(meta["status"], "interrupted", "{signal}");
        assert_eq!(meta["error"], format!("interrupted by SIG{signal}"));
    }
    // `runs` lists the three as unfinished, exits 1; `--clean` removes them
    let list = bin()
        .args(["runs", "--output-dir"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.status.code(), Some(1), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("interrupted "))
            .count(),
        3,
        "{text}"
    );
    let clean = bin()
        .args(["runs", "--clean", "--output-dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(clean.status.success());
    assert!(run_dirs(&out).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Under `nohup` (SIGHUP ignored by the parent) a hangup leaves the run going; a SIGTERM then
/// still marks it interrupted.
#[cfg(unix)]
#[test]
fn a_hangup_that_nohup_ignores_stays_ignored() {
    let dir = temp_dir("nohup");
    let out = dir.join("out");
    let config = smoke_with(&dir, "train", "steps = 1000000");
    let mut child = Command::new("nohup")
        .arg(env!("CARGO_BIN_EXE_hnn"))
        .arg("--config")
        .arg(&config)
        .arg("--output-dir")
        .arg(&out)
        .arg("--no-progress")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the run to start", || {
        run_dirs(&out)
            .first()
            .is_some_and(|d| d.join("meta.json").exists())
    });
    let pid = child.id().to_string();
    let kill = |signal: &str| {
        let k = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(&pid)
            .status()
            .unwrap();
        assert!(k.success());
    };
    kill("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGHUP ended a run under nohup"
    );
    assert_eq!(
        json(&run_dirs(&out)[0].join("meta.json"))["status"],
        "running"
    );
    kill("TERM");
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "{status:?}");
    let meta = json(&run_dirs(&out)[0].join("meta.json"));
    assert_eq!(meta["error"], "interrupted by SIGTERM");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A signal during a seed ensemble's shared training marks every member's run interrupted.
#[cfg(unix)]
#[test]
fn a_signal_marks_every_member_of_a_seed_ensemble_interrupted() {
    let dir = temp_dir("signal-ensemble");
    let out = dir.join("out");
    let config = smoke_with(&dir, "train", "steps = 1000000");
    let mut child = bin()
        .arg("--config")
        .arg(&config)
        .args([
            "--seeds",
            "0-2",
            "--ensemble",
            "on",
            "--no-progress",
            "--output-dir",
        ])
        .arg(&out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // every member is open once the third has its meta.json
    wait_for("the ensemble to start", || {
        run_dirs(&out)
            .get(2)
            .is_some_and(|d| d.join("meta.json").exists())
    });
    std::thread::sleep(Duration::from_millis(300));
    let k = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(k.success());
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "{status:?}");
    let dirs = run_dirs(&out);
    assert_eq!(dirs.len(), 3);
    for d in &dirs {
        let meta = json(&d.join("meta.json"));
        assert_eq!(meta["status"], "interrupted", "{}", d.display());
        assert_eq!(meta["ensemble_seeds"], serde_json::json!([0, 1, 2]));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_reused_run_gets_its_missing_report_back() {
    let (dir, config, out, d) = finished_smoke_run("report", 5);
    let report = std::fs::read_to_string(d.join("report.md")).unwrap();
    std::fs::write(d.join("report.md"), "").unwrap();
    let o = run(&config, &out, &[]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("rebuilt it from summary.json"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("report.md")).unwrap(),
        report
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A finished run computed by other code, another libtorch or another thread count is not
/// reused, and the log says why.
#[test]
fn a_run_from_another_build_or_thread_count_is_not_reused() {
    let (dir, config, out, d) = finished_smoke_run("identity", 5);
    let original = std::fs::read_to_string(d.join("meta.json")).unwrap();
    let reused = run(&config, &out, &[]);
    assert!(stderr(&reused).contains("reusing"), "{}", stderr(&reused));
    assert_eq!(run_dirs(&out).len(), 1);
    for (key, value, why) in [
        (
            "code_hash",
            serde_json::json!("0000000000000000"),
            "computed by other code",
        ),
        (
            "libtorch",
            serde_json::json!("1.0.0 cpu"),
            "libtorch 1.0.0 cpu there",
        ),
        (
            "torch_threads",
            serde_json::json!(7),
            "7 libtorch threads there",
        ),
    ] {
        let mut meta: serde_json::Value = serde_json::from_str(&original).unwrap();
        meta[key] = value;
        std::fs::write(d.join("meta.json"), meta.to_string()).unwrap();
        let o = run(&config, &out, &[]);
        assert!(o.status.success());
        assert!(
            stderr(&o).contains("not reusing") && stderr(&o).contains(why),
            "{}",
            stderr(&o)
        );
        // the fresh run is the newest; remove it so the next case meets the edited one again
        let dirs = run_dirs(&out);
        assert_eq!(dirs.len(), 2, "{key}");
        std::fs::remove_dir_all(dirs.iter().find(|p| **p != d).unwrap()).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An output folder that is a symbolic link to nothing is named as such.
#[cfg(unix)]
#[test]
fn a_dangling_output_link_is_named() {
    let dir = temp_dir("dangling");
    let link = dir.join("runs");
    std::os::unix::fs::symlink(dir.join("gone"), &link).unwrap();
    let o = run(&root().join("tests/smoke.toml"), &link, &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("symbolic link to") && stderr(&o).contains("does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("gone").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A finished run whose summary.json is corrupt is not reused silently, and `runs` lists it as
/// `corrupt`.
#[test]
fn a_corrupt_summary_is_named_not_silently_recomputed() {
    let (dir, config, out, d) = finished_smoke_run("corrupt", 5);
    std::fs::write(d.join("summary.json"), "{ not json").unwrap();
    let o = run(&config, &out, &[]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("summary.json is unreadable"),
        "{}",
        stderr(&o)
    );
    let list = bin()
        .args(["runs", "--output-dir"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.lines().any(|l| l.starts_with("corrupt ")), "{text}");
    assert_eq!(list.status.code(), Some(1), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_identical_commands_compute_the_run_once() {
    let dir = temp_dir("twice");
    let config = smoke_with(&dir, "train", "steps = 50");
    let out = dir.join("out");
    let spawn = || {
        bin()
            .arg("--config")
            .arg(&config)
            .arg("--output-dir")
            .arg(&out)
            .arg("--no-progress")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    assert_eq!(run_dirs(&out).len(), 1);
    let logs = stderr(&a) + &stderr(&b);
    assert_eq!(logs.matches("run started").count(), 1, "{logs}");
    assert_eq!(logs.matches("reusing").count(), 1, "{logs}");
    // both tables list the one run
    let table = std::fs::read_to_string(out.join("table1.md")).unwrap();
    assert!(table.contains("smoke (seed 0)"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `hnn-bench edit` moves a state to a learned-energy target along the gradient flow of H_θ and
/// the learned flow keeps it there; models without an energy and missing checkpoints are
/// refused with the reason.
#[test]
fn energy_editing_reaches_its_target_on_a_trained_run() {
    let (dir, _, _, d) = finished_smoke_run("edit", 200);
    let edit = |extra: &[&str]| {
        bin()
            .args(["edit", "--run"])
            .arg(&d)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = edit(&["--add", "0.3", "--x0", "0.5,-0.2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = json(&d.join("edit/hnn-add0.3/edit.json"));
    let (start, target) = (
        e["energy_start"].as_f64().unwrap(),
        e["target"].as_f64().unwrap(),
    );
    assert!((target - start - 0.3).abs() < 1e-12);
    assert!(e["target_error"].as_f64().unwrap() < 1e-8, "{e}");
    assert!(
        (e["energy_end"].as_f64().unwrap() - target).abs() < 1e-6,
        "{e}"
    );
    // along the normalised gradient flow H_θ moves at unit rate: the edit takes 0.3
    assert!((e["edit_time"].as_f64().unwrap() - 0.3).abs() < 1e-6, "{e}");
    assert!(d.join("edit/hnn-add0.3/energy_edit.png").is_file());
    // an absolute target, down in energy
    let down = target - 0.5;
    let o = edit(&["--target", &down.to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = json(&d.join(format!("edit/hnn-{down}/edit.json")));
    assert!(e["target_error"].as_f64().unwrap() < 1e-8, "{e}");
    let o = edit(&["--model", "baseline", "--target", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no learned energy"), "{}", stderr(&o));
    let o = edit(&["--model", "dhnn", "--target", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("dhnn.safetensors"), "{}", stderr(&o));
    // a run without a figure start (a measured run, or one drawn): --x0 is asked for by name
    let config_path = d.join("config.toml");
    let text = std::fs::read_to_string(&config_path).unwrap();
    let start = text.find("\nx0 = [").expect("the figure start") + 1;
    let end = start + text[start..].find(']').unwrap() + 1;
    let drawn = format!("{}x0 = []{}", &text[..start], &text[end..]);
    std::fs::write(&config_path, drawn).unwrap();
    let o = edit(&["--target", "1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no start state") && stderr(&o).contains("--x0 and 2 numbers"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
