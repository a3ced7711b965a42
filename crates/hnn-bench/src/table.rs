//! Reusing finished runs, and the Table 1 that puts several runs beside the paper's numbers.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::Config;

/// The newest finished run (`meta.json` status `ok`, a `summary.json`) of this experiment under
/// `root` whose resolved `config.toml` equals this config's, if any.
pub fn find_finished_run(root: &Path, cfg: &Config) -> Option<PathBuf> {
    let want = cfg.to_toml();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(&cfg.experiment.name))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter().rev().find(|d| {
        let same_config = std::fs::read_to_string(d.join("config.toml")).is_ok_and(|c| c == want);
        let ok = std::fs::read_to_string(d.join("meta.json"))
            .ok()
            .and_then(|m| serde_json::from_str::<Value>(&m).ok())
            .is_some_and(|m| m["status"] == "ok");
        same_config && ok && d.join("summary.json").is_file()
    })
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn pm(v: &Value) -> String {
    match (num(&v["mean"]), num(&v["se"])) {
        (Some(m), Some(s)) => format!("{m:.3e} ± {s:.1e}"),
        (Some(m), None) => format!("{m:.3e}"),
        _ => "—".into(),
    }
}

fn paper(s: &Value, field: &str, j: usize) -> String {
    let p = &s["paper"];
    match (num(&p[field][j]), num(&p[format!("{field}_se")][j])) {
        (Some(m), Some(se)) => format!("{m:.3e} ± {se:.1e}"),
        (Some(m), None) => format!("{m:.3e}"),
        _ => "—".into(),
    }
}

/// Table 1 in markdown from `(run directory, summary.json)` pairs.
pub fn table1(runs: &[(PathBuf, Value)]) -> String {
    let mut out = String::from("# Table 1: ours beside the paper\n\n");
    out += "Losses: mean squared error of dx/dt ± std / sqrt(samples). Energy: MSE between true and \
            predicted energy along integrated trajectories ± std of group means / sqrt(groups). \
            The paper's values are from REFERENCE.md section 1.\n\n";
    out += "| task | model | train loss | paper | test loss | paper | energy MSE, paper protocol | paper | energy MSE, corrected protocol |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for (_, s) in runs {
        let task = format!(
            "{} (seed {})",
            s["experiment"].as_str().unwrap_or("?"),
            s["seed"]
        );
        let Some(models) = s["models"].as_object() else {
            continue;
        };
        for name in ["baseline", "hnn"] {
            let Some(m) = models.get(name) else { continue };
            let j = usize::from(name == "hnn");
            let energy = |p: &str| pm(&s["energy"][p]["models"][name]["energy_mse"]);
            out += &format!(
                "| {task} | {name} | {} | {} | {} | {} | {} | {} | {} |\n",
                pm(&m["train_loss"]),
                paper(s, "train_loss", j),
                pm(&m["test_loss"]),
                paper(s, "test_loss", j),
                energy("paper"),
                paper(s, "energy_mse", j),
                energy("corrected"),
            );
        }
    }
    out += "\n## Baseline/HNN energy-MSE ratio\n\n| task | ours, paper protocol | paper | ours, corrected protocol |\n|---|---|---|---|\n";
    for (_, s) in runs {
        let ratio = |p: &str| {
            let e = &s["energy"][p]["models"];
            match (
                num(&e["baseline"]["energy_mse"]["mean"]),
                num(&e["hnn"]["energy_mse"]["mean"]),
            ) {
                (Some(b), Some(h)) if h > 0.0 => format!("{:.0}x", b / h),
                _ => "—".into(),
            }
        };
        let theirs = match (
            num(&s["paper"]["energy_mse"][0]),
            num(&s["paper"]["energy_mse"][1]),
        ) {
            (Some(b), Some(h)) => format!("{:.0}x", b / h),
            _ => "—".into(),
        };
        out += &format!(
            "| {} | {} | {theirs} | {} |\n",
            s["experiment"].as_str().unwrap_or("?"),
            ratio("paper"),
            ratio("corrected")
        );
    }
    out += "\n## Wall seconds per stage (official implementation on this machine: REFERENCE.md section 7)\n\n";
    out += "| task | data | official | train baseline | official | train HNN | official | evaluation | official | total |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|\n";
    let mut total = 0.0;
    for (_, s) in runs {
        let t = &s["timings"];
        let o = &s["official_cost_seconds"];
        let f = |v: &Value| {
            num(v)
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| "—".into())
        };
        total += num(&t["total"]).unwrap_or(0.0);
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s["experiment"].as_str().unwrap_or("?"),
            f(&t["data"]),
            f(&o["data"]),
            f(&t["train"]["baseline"]),
            f(&o["train_baseline"]),
            f(&t["train"]["hnn"]),
            f(&o["train_hnn"]),
            f(&t["eval"]),
            f(&o["eval"]),
            f(&t["total"]),
        );
    }
    out += &format!("\nSum of the runs' wall times: {total:.1} s.\n\nRuns:\n");
    for (dir, _) in runs {
        out += &format!("- {}\n", dir.display());
    }
    out
}
