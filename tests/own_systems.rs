//! Your own system and your own data, end to end through the runner: a Hamiltonian written in
//! the config, a trajectory file (the shipped example, and a run's own data exported and read
//! back), and bad input refused before any run directory exists.

use std::path::{Path, PathBuf};

mod common;
use common::{bin, root, run_with, temp_dir};

/// The smoke config with its `[system]` replaced by `system` and its name by `name`.
fn smoke_with(name: &str, system: &str) -> String {
    let smoke = std::fs::read_to_string(root().join("tests/smoke.toml")).unwrap();
    let start = smoke.find("[system]").unwrap();
    let end = start + smoke[start..].find("\n[data]").unwrap();
    format!("{}{system}{}", &smoke[..start], &smoke[end..])
        .replace("name = \"smoke\"", &format!("name = \"{name}\""))
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

fn only_run(out: &Path, name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out.join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn succeeds(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The models of a summary without the fields that name the run's folder or time it.
fn results(s: &serde_json::Value) -> Vec<(String, String, String)> {
    s["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].to_string(),
                m["train_loss"].to_string(),
                m["test_loss"].to_string(),
            )
        })
        .collect()
}

/// The smoke spring written as an expression gives the built-in run's numbers exactly.
#[test]
fn a_written_spring_is_the_built_in_spring() {
    let out = temp_dir("own-expr");
    let config = write(
        &out,
        "written.toml",
        &smoke_with(
            "written",
            "[system]\nkind = \"expression\"\nname = \"mass-spring\"\n\
             hamiltonian = \"k*q^2/2 + p^2/(2*m)\"\nconstants = { k = 2.0, m = 0.5 }\n\
             radius = [0.1, 1.0]\n",
        ),
    );
    succeeds(&run_with(&config, &out, &[]));
    succeeds(&run_with(&root().join("tests/smoke.toml"), &out, &[]));
    let written = summary(&only_run(&out, "written"));
    let built_in = summary(&only_run(&out, "smoke"));
    assert_eq!(results(&written), results(&built_in));
    for protocol in ["paper", "corrected"] {
        assert_eq!(
            written["energy"][protocol]["models"].to_string(),
            built_in["energy"][protocol]["models"].to_string()
        );
    }
}

/// The shipped example file trains and evaluates; without an energy expression the energy
/// metrics are absent, not zero.
#[test]
fn a_trajectory_file_trains_and_evaluates() {
    let out = temp_dir("own-traj");
    let data = root().join("datasets/damped-double-well.npz");
    let system = |energy: &str| {
        format!(
            "[system]\nkind = \"trajectories\"\npath = {:?}\ntest_fraction = 0.25\n{energy}",
            data.display().to_string()
        )
    };
    let tiny = "[train]\nsteps = 20\nlog_every = 10\n[eval.figure]\nx0 = []\n";
    let strip = |s: String| {
        // the trajectories kind takes no [data], [eval.*] protocols nor a figure start
        let cut = s.find("\n[data]").unwrap();
        s[..cut].to_string() + "\n"
    };
    let with = strip(smoke_with(
        "with-energy",
        &system("energy = \"p^2/2 + (q^2 - 1)^2/4\"\n"),
    ));
    let without = strip(smoke_with("no-energy", &system("")));
    for (name, text) in [("with-energy", with), ("no-energy", without)] {
        let config = write(&out, &format!("{name}.toml"), &(text + tiny));
        succeeds(&run_with(&config, &out, &[]));
        let s = summary(&only_run(&out, name));
        let hnn = &s["energy"]["corrected"]["models"]["hnn"];
        let energy = &hnn["energy_mse"];
        let per_trajectory = hnn["per_trajectory"].as_array().map(|v| v.len());
        // 40 trajectories, 10 held out, whole; their states are compared either way
        let horizon = hnn["metrics"]["horizon"].as_f64();
        assert_eq!(horizon, Some(10.0), "{hnn}");
        if name == "with-energy" {
            let mean = energy["mean"].as_f64();
            assert!(mean.is_some_and(|e| e > 0.0), "{energy}");
            assert_eq!(per_trajectory, Some(10), "{hnn}");
        } else {
            assert!(energy.is_null(), "{energy}");
            assert_eq!(per_trajectory, Some(0), "{hnn}");
        }
    }
}

/// `hnn-bench data` writes a simulated run's data as a trajectory file, which a
/// `kind = "trajectories"` config then trains on: every sample of the file, none twice.
#[test]
fn a_runs_data_round_trips_through_npz() {
    let out = temp_dir("own-roundtrip");
    let data = out.join("data");
    let o = bin()
        .args(["data", "--config"])
        .arg(root().join("tests/smoke.toml"))
        .arg("--out")
        .arg(&data)
        .output()
        .unwrap();
    succeeds(&o);
    let npz = data.join("trajectories.npz");
    assert!(npz.is_file());
    // a second call never overwrites
    let again = bin()
        .args(["data", "--config"])
        .arg(root().join("tests/smoke.toml"))
        .arg("--out")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let text = String::from(
        "[experiment]\nname = \"back\"\nthreads = 1\ndevice = \"cpu\"\n\
         [system]\nkind = \"trajectories\"\npath = \"data/trajectories.npz\"\n\
         test_fraction = 0.5\nenergy = \"q^2 + p^2\"\n\
         [train]\nsteps = 20\nlog_every = 10\n[eval.figure]\nx0 = []\n",
    );
    // the path is relative to the config's folder, wherever the runner is started
    let config = write(&out, "back.toml", &text);
    let o = bin()
        .current_dir(std::env::temp_dir())
        .arg("--config")
        .arg(&config)
        .arg("--output-dir")
        .arg(&out)
        .arg("--no-progress")
        .output()
        .unwrap();
    succeeds(&o);
    let run = only_run(&out, "back");
    // smoke: 6 trajectories of 10 points, split 3/3 by whole trajectories
    for split in ["x_train", "x_test"] {
        assert_eq!(npy_shape(&run.join(format!("data/{split}.npy"))), "(30, 2)");
    }
}

/// The shape in a `.npy` header, as numpy writes it: `(rows, columns)`.
fn npy_shape(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let header = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]).to_string();
    let start = header.find("'shape': ").unwrap() + 9;
    let end = start + header[start..].find(')').unwrap() + 1;
    header[start..end].to_string()
}

/// Bad systems and files are refused before any work: exit 2, the key and what is wrong, no
/// run directory.
#[test]
fn bad_systems_and_files_are_refused_naming_the_key() {
    let out = temp_dir("own-bad");
    let csv = write(&out, "ragged.csv", "trajectory,t,q,p\na,0,1,2\na,1,2\n");
    let expr = |rest: &str| format!("[system]\nkind = \"expression\"\nradius = [0.1, 1.0]\n{rest}");
    for (name, system, words) in [
        (
            "parse",
            expr("hamiltonian = \"q^2 + (p\"\n"),
            vec!["system.hamiltonian", "column 7", "never closed"],
        ),
        (
            "unknown",
            expr("hamiltonian = \"q^2 + w*p^2\"\n"),
            vec!["system.hamiltonian", "unknown name `w`"],
        ),
        (
            "pairs",
            expr("hamiltonian = \"q1^2 + p1^2 + q2^2\"\n"),
            vec!["system.hamiltonian", "`p2` does not appear"],
        ),
        (
            "ragged",
            format!(
                "[system]\nkind = \"trajectories\"\npath = {:?}\n",
                csv.display().to_string()
            ),
            vec!["ragged.csv", "line 3"],
        ),
        (
            "checksum",
            format!(
                "[system]\nkind = \"trajectories\"\npath = {:?}\nsha256 = \"00\"\n",
                root()
                    .join("datasets/damped-double-well.npz")
                    .display()
                    .to_string()
            ),
            vec!["sha256"],
        ),
        (
            "split",
            format!(
                "[system]\nkind = \"trajectories\"\npath = {:?}\ntest_fraction = 0.999\n",
                root()
                    .join("datasets/damped-double-well.npz")
                    .display()
                    .to_string()
            ),
            vec!["system.test_fraction", "at least one to train on"],
        ),
    ] {
        let mut text = smoke_with(name, &system);
        if system.contains("trajectories") {
            text = text[..text.find("\n[data]").unwrap()].to_string() + "\n";
        }
        let config = write(&out, &format!("{name}.toml"), &text);
        let o = run_with(&config, &out, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {err}");
        for w in words {
            assert!(err.contains(w), "{name}: {w:?} not in {err}");
        }
        assert!(!out.join(name).exists(), "{name}: a run directory was made");
    }
}
