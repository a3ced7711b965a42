//! Reusing finished runs, and the markdown that puts runs beside the paper's numbers: one run's
//! `report.md` and the several-run `table1.md`, both read from `summary.json`.

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

const MODELS: [&str; 2] = ["baseline", "hnn"];

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn name(s: &Value) -> &str {
    s["experiment"].as_str().unwrap_or("?")
}

/// `mean ± se` with `digits` decimals in the mean; "—" without a mean.
fn pm_digits(mean: Option<f64>, se: Option<f64>, digits: usize) -> String {
    match (mean, se) {
        (Some(m), Some(s)) => format!("{m:.digits$e} ± {s:.1e}"),
        (Some(m), None) => format!("{m:.digits$e}"),
        _ => "—".into(),
    }
}

/// `mean ± se` of a `{mean, se}` object, as Table 1 prints it.
fn pm(v: &Value) -> String {
    pm_digits(num(&v["mean"]), num(&v["se"]), 3)
}

/// The paper's value of `field` for model `j` (0 baseline, 1 HNN), with its ± where it has one.
fn paper_digits(s: &Value, field: &str, j: usize, digits: usize) -> String {
    let p = &s["paper"];
    pm_digits(num(&p[field][j]), num(&p[format!("{field}_se")][j]), digits)
}

fn paper(s: &Value, field: &str, j: usize) -> String {
    paper_digits(s, field, j, 3)
}

fn energy<'a>(s: &'a Value, protocol: &str, model: &str) -> &'a Value {
    &s["energy"][protocol]["models"][model]
}

/// Energy MSE with its ± (`digits` decimals), and how many trajectories failed if any did.
fn energy_cell(s: &Value, protocol: &str, model: &str, digits: usize) -> String {
    let e = energy(s, protocol, model);
    let failed = e["failed"].as_array().map_or(0, Vec::len);
    let mse = &e["energy_mse"];
    let mut cell = pm_digits(num(&mse["mean"]), num(&mse["se"]), digits);
    if failed > 0 {
        cell += &format!(" ({failed} failed)");
    }
    cell
}

/// Baseline/HNN energy-MSE ratio under a protocol.
fn ratio(s: &Value, protocol: &str) -> Option<f64> {
    let b = num(&energy(s, protocol, "baseline")["energy_mse"]["mean"])?;
    let h = num(&energy(s, protocol, "hnn")["energy_mse"]["mean"])?;
    (h > 0.0).then(|| b / h)
}

fn paper_ratio(s: &Value) -> Option<f64> {
    Some(num(&s["paper"]["energy_mse"][0])? / num(&s["paper"]["energy_mse"][1])?)
}

/// A ratio as "1.7x" below 10 and "445x" above.
fn ratio_text(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.1}x")
    } else {
        format!("{r:.0}x")
    }
}

fn times(r: Option<f64>) -> String {
    r.map_or_else(|| "—".into(), ratio_text)
}

/// Our wall seconds with `digits` decimals.
fn secs(v: &Value, digits: usize) -> String {
    num(v).map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

/// The official code's wall seconds, as REFERENCE.md gives them.
fn official(v: &Value) -> String {
    num(v).map_or_else(|| "—".into(), |x| format!("{x}"))
}

/// One run's markdown report: its numbers beside the paper's, and each stage's wall time beside
/// the official code's.
pub fn report(run_dir: &Path, s: &Value) -> String {
    let mut out = format!(
        "## {} (seed {}) — {}\n\n",
        name(s),
        s["seed"],
        run_dir.display()
    );
    out += "| model | train loss | test loss | energy MSE, paper protocol | energy MSE, corrected protocol |\n";
    out += "|---|---|---|---|---|\n";
    let has_paper = s["paper"].is_object();
    for model in MODELS {
        let m = &s["models"][model];
        if !m.is_object() {
            continue;
        }
        let loss = |v: &Value| pm_digits(num(&v["mean"]), num(&v["se"]), 4);
        out += &format!(
            "| {model} | {} | {} | {} | {} |\n",
            loss(&m["train_loss"]),
            loss(&m["test_loss"]),
            energy_cell(s, "paper", model, 4),
            energy_cell(s, "corrected", model, 4),
        );
        if has_paper {
            let j = usize::from(model == "hnn");
            out += &format!(
                "| {model} (paper) | {} | {} | {} | |\n",
                paper_digits(s, "train_loss", j, 4),
                paper_digits(s, "test_loss", j, 4),
                paper_digits(s, "energy_mse", j, 4),
            );
        }
    }
    if let Some(r) = ratio(s, "paper") {
        out += &format!(
            "\nBaseline/HNN energy-MSE ratio, paper protocol: {} (paper: {})\n",
            times(Some(r)),
            times(paper_ratio(s))
        );
    }
    if let Some(r) = ratio(s, "corrected") {
        out += &format!(
            "Baseline/HNN energy-MSE ratio, corrected protocol: {}\n",
            times(Some(r))
        );
    }
    let t = &s["timings"];
    let o = &s["official_cost_seconds"];
    out += "\n| stage | wall seconds | official code here (REFERENCE.md §7) |\n|---|---|---|\n";
    out += &format!(
        "| data | {} | {} |\n",
        secs(&t["data"], 3),
        official(&o["data"])
    );
    for model in MODELS {
        if t["train"][model].is_number() {
            out += &format!(
                "| train {model} | {} | {} |\n",
                secs(&t["train"][model], 2),
                official(&o[format!("train_{model}")])
            );
        }
    }
    out += &format!(
        "| evaluation | {} | {} |\n| plots | {} | |\n| total | {} | |\n",
        secs(&t["eval"], 3),
        official(&o["eval"]),
        secs(&t["plots"], 3),
        secs(&t["total"], 2)
    );
    out
}

/// `median [min – max]` of the values, or the single value.
fn spread(mut v: Vec<f64>, fmt: impl Fn(f64) -> String) -> String {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return "—".into();
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    };
    if n == 1 {
        fmt(median)
    } else {
        format!("{} [{} – {}]", fmt(median), fmt(v[0]), fmt(v[n - 1]))
    }
}

fn sci(x: f64) -> String {
    format!("{x:.2e}")
}

/// Runs grouped by experiment name, in order of first appearance.
fn by_experiment(runs: &[(PathBuf, Value)]) -> Vec<(&str, Vec<&Value>)> {
    let mut groups: Vec<(&str, Vec<&Value>)> = Vec::new();
    for (_, s) in runs {
        match groups.iter_mut().find(|(n, _)| *n == name(s)) {
            Some((_, g)) => g.push(s),
            None => groups.push((name(s), vec![s])),
        }
    }
    groups
}

/// The across-seeds section: for each experiment run under more than one seed, the median and
/// range of every Table 1 number.
fn across_seeds(runs: &[(PathBuf, Value)]) -> String {
    let groups: Vec<_> = by_experiment(runs)
        .into_iter()
        .filter(|(_, g)| g.len() > 1)
        .collect();
    if groups.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Across seeds: median [min – max]\n\nA single seed's result is one draw; these show \
         how far the same config moves from seed to seed.\n\n",
    );
    out += "| task | seeds | model | train loss | test loss | paper's test loss | energy MSE, paper protocol | paper's | energy MSE, corrected protocol |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for (task, g) in &groups {
        let seeds: Vec<String> = g.iter().map(|s| s["seed"].to_string()).collect();
        for model in MODELS {
            if !g.iter().any(|s| s["models"][model].is_object()) {
                continue;
            }
            let j = usize::from(model == "hnn");
            let col = |f: &dyn Fn(&Value) -> Option<f64>| {
                spread(g.iter().filter_map(|s| f(s)).collect(), sci)
            };
            out += &format!(
                "| {task} | {} | {model} | {} | {} | {} | {} | {} | {} |\n",
                seeds.join(", "),
                col(&|s| num(&s["models"][model]["train_loss"]["mean"])),
                col(&|s| num(&s["models"][model]["test_loss"]["mean"])),
                paper(g[0], "test_loss", j),
                col(&|s| num(&energy(s, "paper", model)["energy_mse"]["mean"])),
                paper(g[0], "energy_mse", j),
                col(&|s| num(&energy(s, "corrected", model)["energy_mse"]["mean"])),
            );
        }
    }
    out += "\n| task | ratio, paper protocol | paper | ratio, corrected protocol |\n|---|---|---|---|\n";
    for (task, g) in &groups {
        out += &format!(
            "| {task} | {} | {} | {} |\n",
            spread(
                g.iter().filter_map(|s| ratio(s, "paper")).collect(),
                ratio_text
            ),
            times(paper_ratio(g[0])),
            spread(
                g.iter().filter_map(|s| ratio(s, "corrected")).collect(),
                ratio_text
            ),
        );
    }
    out
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
        let task = format!("{} (seed {})", name(s), s["seed"]);
        for model in MODELS {
            let m = &s["models"][model];
            if !m.is_object() {
                continue;
            }
            let j = usize::from(model == "hnn");
            out += &format!(
                "| {task} | {model} | {} | {} | {} | {} | {} | {} | {} |\n",
                pm(&m["train_loss"]),
                paper(s, "train_loss", j),
                pm(&m["test_loss"]),
                paper(s, "test_loss", j),
                energy_cell(s, "paper", model, 3),
                paper(s, "energy_mse", j),
                energy_cell(s, "corrected", model, 3),
            );
        }
    }
    out += "\n## Baseline/HNN energy-MSE ratio\n\n| task | ours, paper protocol | paper | ours, corrected protocol |\n|---|---|---|---|\n";
    for (_, s) in runs {
        out += &format!(
            "| {} (seed {}) | {} | {} | {} |\n",
            name(s),
            s["seed"],
            times(ratio(s, "paper")),
            times(paper_ratio(s)),
            times(ratio(s, "corrected"))
        );
    }
    out += &across_seeds(runs);
    out += "\n## Wall seconds per stage (official implementation on this machine: REFERENCE.md section 7)\n\n";
    out += "| task | data | official | train baseline | official | train HNN | official | evaluation | official | total |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|\n";
    let mut total = 0.0;
    for (_, s) in runs {
        let t = &s["timings"];
        let o = &s["official_cost_seconds"];
        total += num(&t["total"]).unwrap_or(0.0);
        out += &format!(
            "| {} (seed {}) | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            name(s),
            s["seed"],
            secs(&t["data"], 3),
            official(&o["data"]),
            secs(&t["train"]["baseline"], 2),
            official(&o["train_baseline"]),
            secs(&t["train"]["hnn"], 2),
            official(&o["train_hnn"]),
            secs(&t["eval"], 2),
            official(&o["eval"]),
            secs(&t["total"], 2),
        );
    }
    out += &format!("\nSum of the runs' wall times: {total:.1} s.\n\nRuns:\n");
    for (dir, _) in runs {
        out += &format!("- {}\n", dir.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(seed: u64, hnn_test: f64, base_energy: f64, hnn_energy: f64) -> (PathBuf, Value) {
        let loss = |m: f64| json!({"mean": m, "se": 0.1 * m});
        let e = |m: f64| json!({"energy_mse": {"mean": m, "se": 0.1 * m}, "failed": []});
        let s = json!({
            "experiment": "toy", "seed": seed,
            "models": {
                "baseline": {"train_loss": loss(1.0), "test_loss": loss(2.0)},
                "hnn": {"train_loss": loss(0.5), "test_loss": loss(hnn_test)},
            },
            "energy": {
                "paper": {"models": {"baseline": e(base_energy), "hnn": e(hnn_energy)}},
                "corrected": {"models": {"baseline": e(base_energy), "hnn": e(hnn_energy)}},
            },
            "timings": {"data": 0.1, "train": {"baseline": 1.0, "hnn": 2.0}, "eval": 0.5, "plots": 0.2, "total": 3.8},
            "paper": null, "official_cost_seconds": null,
        });
        (PathBuf::from(format!("runs/toy/s{seed}")), s)
    }

    #[test]
    fn across_seeds_gives_median_and_range_per_experiment() {
        let runs = vec![
            run(0, 3.0, 10.0, 1.0),
            run(1, 1.0, 100.0, 1.0),
            run(2, 2.0, 1000.0, 2.0),
        ];
        let t = table1(&runs);
        assert!(t.contains("## Across seeds"), "{t}");
        // HNN test loss: median 2, range 1 to 3
        assert!(t.contains("2.00e0 [1.00e0 – 3.00e0]"), "{t}");
        // ratios 10x, 100x, 500x
        assert!(t.contains("| toy | 100x [10x – 500x] | — |"), "{t}");
        // small ratios keep a decimal
        let small = table1(&[run(0, 1.0, 1.67, 1.0), run(1, 1.0, 12.0, 1.0)]);
        assert!(small.contains("| toy | 6.8x [1.7x – 12x] | — |"), "{small}");
        // one seed: no across-seeds section
        assert!(!table1(&runs[..1]).contains("Across seeds"));
    }

    #[test]
    fn report_marks_failed_trajectories_and_missing_values() {
        let (dir, mut s) = run(0, 1.0, 10.0, 1.0);
        s["energy"]["paper"]["models"]["hnn"]["failed"] = json!([{"index": 3, "reason": "x"}]);
        s["energy"]["corrected"] = Value::Null;
        let r = report(&dir, &s);
        assert!(r.contains("(1 failed)"), "{r}");
        assert!(
            r.contains(
                "| baseline | 1.0000e0 ± 1.0e-1 | 2.0000e0 ± 2.0e-1 | 1.0000e1 ± 1.0e0 | — |"
            ),
            "{r}"
        );
        assert!(r.contains("ratio, paper protocol: 10x (paper: —)"), "{r}");
    }
}
