//! Reusing finished runs, and the markdown that puts runs beside the published numbers: one
//! run's `report.md` and the several-run `table1.md`, both from typed [`RunSummary`]s.

use std::path::{Path, PathBuf};

use crate::config::Experiment;
use crate::reference::{ModelReference, Reference};
use crate::summary::RunSummary;

/// The newest finished run (`meta.json` status `ok`, a readable `summary.json`) of this
/// experiment under `root` whose resolved `config.toml` equals this config's, if any.
pub fn find_finished_run(root: &Path, exp: &Experiment) -> Option<PathBuf> {
    let want = exp.config.to_toml();
    let here = Identity::of_this_process(exp);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join(&exp.config.experiment.name))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.into_iter().rev().find(|d| {
        let same_config = std::fs::read_to_string(d.join("config.toml")).is_ok_and(|c| c == want);
        let meta = std::fs::read_to_string(d.join("meta.json"))
            .ok()
            .and_then(|m| serde_json::from_str::<serde_json::Value>(&m).ok());
        let ok = meta
            .as_ref()
            .is_some_and(|m| m["status"] == "ok" || m["status"] == "diverged");
        if !(same_config && ok) {
            return false;
        }
        if let Err(e) = RunSummary::read(&d.join("summary.json")) {
            tracing::warn!(
                run_dir = %d.display(),
                "not reusing this finished run of the same config: its summary.json is unreadable ({e})"
            );
            return false;
        }
        let theirs = meta.as_ref().map(Identity::of_run).unwrap_or_default();
        let differences = here.differences(&theirs);
        if !differences.is_empty() {
            tracing::info!(
                run_dir = %d.display(),
                "not reusing this finished run of the same config: {}",
                differences.join("; ")
            );
        }
        differences.is_empty()
    })
}

/// What besides the resolved config changes a run's numbers: the code (a hash of the library
/// sources at build time), libtorch's version and libtorch's thread count. (The matrix-product
/// path is in the resolved config, `experiment.cpu_matmul`.) A finished run is reused only by a
/// process with the same identity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identity {
    pub code_hash: Option<String>,
    pub libtorch: Option<String>,
    pub threads: Option<i64>,
}

impl Identity {
    /// The identity a run of `exp` computed by this process would have.
    pub fn of_this_process(exp: &Experiment) -> Self {
        let threads = match exp.config.experiment.threads {
            0 => i64::from(tch::get_num_threads()),
            t => t as i64,
        };
        Identity {
            code_hash: Some(env!("HNN_CODE_HASH").to_string()),
            libtorch: Some(env!("HNN_LIBTORCH_VERSION").to_string()),
            threads: Some(threads),
        }
    }

    /// The identity recorded in a run's `meta.json` (fields missing in older runs are `None`).
    pub fn of_run(meta: &serde_json::Value) -> Self {
        Identity {
            code_hash: meta["code_hash"].as_str().map(str::to_string),
            libtorch: meta["libtorch"].as_str().map(str::to_string),
            threads: meta["torch_threads"].as_i64(),
        }
    }

    /// What differs between this identity and `other`'s, one phrase each.
    pub fn differences(&self, other: &Identity) -> Vec<String> {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "not recorded".into());
        let mut out = Vec::new();
        if self.code_hash != other.code_hash {
            out.push(format!(
                "computed by other code (code hash {} there, {} here)",
                show(&other.code_hash),
                show(&self.code_hash)
            ));
        }
        if self.libtorch != other.libtorch {
            out.push(format!(
                "libtorch {} there, {} here",
                show(&other.libtorch),
                show(&self.libtorch)
            ));
        }
        if self.threads != other.threads {
            let n = |t: Option<i64>| t.map_or("not recorded".into(), |t| t.to_string());
            out.push(format!(
                "{} libtorch threads there, {} here",
                n(other.threads),
                n(self.threads)
            ));
        }
        out
    }
}

const PROTOCOLS: [&str; 2] = ["paper", "corrected"];

/// `mean ± se` with `digits` decimals in the mean; "—" without a finite mean.
fn pm(mean: Option<f64>, se: Option<f64>, digits: usize) -> String {
    match (mean.filter(|m| m.is_finite()), se.filter(|s| s.is_finite())) {
        (Some(m), Some(s)) => format!("{m:.digits$e} ± {s:.1e}"),
        (Some(m), None) => format!("{m:.digits$e}"),
        _ => "—".into(),
    }
}

fn published(
    r: Option<&ModelReference>,
    pick: fn(&ModelReference) -> [Option<f64>; 2],
    digits: usize,
) -> String {
    r.map_or("—".into(), |m| {
        let [v, se] = pick(m);
        pm(v, se, digits)
    })
}

fn ref_model<'a>(s: &RunSummary, model: &str) -> Option<&'a ModelReference>
where
    'static: 'a,
{
    s.reference()?.model(model)
}

/// Energy MSE with its ± (`digits` decimals), and how many trajectories failed if any did.
fn energy_cell(s: &RunSummary, protocol: &str, model: &str, digits: usize) -> String {
    let Some(e) = s.model_energy(protocol, model) else {
        return "—".into();
    };
    let mut cell = pm(
        e.energy_mse.map(|g| g.mean),
        e.energy_mse.map(|g| g.se),
        digits,
    );
    if !e.failed.is_empty() {
        cell += &format!(" ({} failed)", e.failed.len());
    }
    cell
}

/// Energy-MSE ratio `a / b` under a protocol.
fn ratio(s: &RunSummary, protocol: &str, a: &str, b: &str) -> Option<f64> {
    let degenerate = |m: &str| s.model(m).is_some_and(|m| m.degenerate.is_some());
    if degenerate(a) || degenerate(b) {
        return None;
    }
    let (x, y) = (s.energy_mse(protocol, a)?, s.energy_mse(protocol, b)?);
    (y > 0.0 && x.is_finite()).then(|| x / y)
}

fn published_ratio(s: &RunSummary, a: &str, b: &str) -> Option<f64> {
    let r = s.reference()?;
    Some(r.model(a)?.energy_mse? / r.model(b)?.energy_mse?)
}

/// A ratio as "445x" from 10 up, "1.7x" from 1, and with two significant digits below 1
/// ("0.50x", "0.034x"), so a model that wins by a factor of 30 does not print as "0.0x";
/// beyond 1e5 either way in powers of ten ("4.7e6x", "1.3e-6x"), not as a run of digits.
fn ratio_text(r: f64) -> String {
    if !r.is_finite() {
        "—".into()
    } else if r >= 1e5 || (r > 0.0 && r < 1e-3) {
        format!("{r:.1e}x")
    } else if r >= 10.0 {
        format!("{r:.0}x")
    } else if r >= 1.0 || r <= 0.0 {
        format!("{r:.1}x")
    } else {
        let digits = (1.0 - r.log10().floor()) as usize;
        format!("{r:.digits$}x")
    }
}

fn times(r: Option<f64>) -> String {
    r.map_or_else(|| "—".into(), ratio_text)
}

fn secs(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".into(), |x| format!("{x:.digits$}"))
}

/// The official code's wall seconds, from `reference.toml`.
fn official(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |x| format!("{x}"))
}

fn loss_ref(m: &ModelReference) -> [Option<f64>; 2] {
    [m.train_loss, None]
}
fn test_ref(m: &ModelReference) -> [Option<f64>; 2] {
    [m.test_loss, None]
}
fn energy_ref(m: &ModelReference) -> [Option<f64>; 2] {
    [m.energy_mse, m.energy_mse_se]
}

/// What to say beside a model's name: that it diverged, or the size of its dissipative part.
fn model_note(s: &RunSummary, model: &str) -> String {
    match s.model(model) {
        Some(m) if m.diverged.is_some() => {
            let d = m.diverged.as_ref().expect("checked");
            format!(" (**diverged at step {}**, not evaluated)", d.step)
        }
        Some(m) if m.degenerate.is_some() => {
            " (**degenerate**: see the report; in no ratio)".into()
        }
        Some(m) => m.dissipative_ratio.map_or(String::new(), |r| {
            // no `|` here: this note sits in a table cell, where a pipe splits the cell
            format!(" (dissipative part {:.1}%)", 100.0 * r)
        }),
        None => String::new(),
    }
}

/// One run's markdown report: its numbers beside the published ones, and each stage's wall time
/// beside the official code's.
pub fn report(s: &RunSummary) -> String {
    let mut out = format!(
        "## {} (seed {}) — {}\n\n",
        s.experiment,
        s.seed,
        s.run_dir.display()
    );
    out += "| model | train loss | test loss | energy MSE, paper protocol | energy MSE, corrected protocol |\n";
    out += "|---|---|---|---|---|\n";
    let reference = s.reference();
    for m in &s.models {
        let loss = |v: &crate::train::LossStats| pm(Some(v.mean), Some(v.se), 4);
        out += &format!(
            "| {}{} | {} | {} | {} | {} |\n",
            m.name,
            model_note(s, &m.name),
            loss(&m.train_loss),
            loss(&m.test_loss),
            energy_cell(s, "paper", &m.name, 4),
            energy_cell(s, "corrected", &m.name, 4),
        );
        if let Some(r) = reference.and_then(|r| r.model(&m.name)) {
            out += &format!(
                "| {} (published) | {} | {} | {} | |\n",
                m.name,
                published(Some(r), loss_ref, 4),
                published(Some(r), test_ref, 4),
                published(Some(r), energy_ref, 4),
            );
        }
    }
    if let Some(r) = reference {
        out += &format!("\nPublished: {}.\n", r.source);
    }
    if let Some(why) = s.reference_withheld() {
        out += &format!("\n{why}\n");
    }
    for m in &s.models {
        if let Some(d) = &m.diverged {
            out += &format!(
                "\n**{}: {d}.** Its checkpoint is kept for inspection; it was not evaluated and is left out of every ratio.\n",
                m.name
            );
        }
    }
    for m in &s.models {
        if let Some(why) = &m.degenerate {
            out += &format!(
                "\n**{}: degenerate** ({why}): its energy error and scores say nothing of a learned field; it is left out of every ratio.\n",
                m.name
            );
        }
    }
    for m in &s.models {
        if !m.diagnostics.is_empty() {
            let counts: Vec<String> = m
                .diagnostics
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            out += &format!("\n{}: {}\n", m.name, counts.join(", "));
        }
    }
    for m in &s.models {
        if let Some(d) = m.dissipative_ratio {
            out += &format!(
                "\n{}: dissipative part |∇D| / |J∇H| on the test set = {:.2}%\n",
                m.name,
                100.0 * d
            );
        }
    }
    for protocol in PROTOCOLS {
        for m in &s.models {
            if m.name == "hnn" {
                continue;
            }
            if let Some(r) = ratio(s, protocol, &m.name, "hnn") {
                // the published ratios are of the paper's protocol
                let beside = match (protocol, published_ratio(s, &m.name, "hnn")) {
                    ("paper", Some(p)) => format!(" (published: {})", ratio_text(p)),
                    _ => String::new(),
                };
                out += &format!(
                    "\n{}/HNN energy-MSE ratio, {protocol} protocol: {}{beside}",
                    m.name,
                    times(Some(r)),
                );
            }
        }
    }
    out += &stage_times(s, reference.and_then(|r| r.official_seconds));
    out
}

/// The wall time of each stage, beside the official code's where the run is of its setting.
fn stage_times(s: &RunSummary, o: Option<crate::reference::OfficialSeconds>) -> String {
    let t = &s.timings;
    let row = |stage: &str, ours: String, theirs: Option<f64>| match o {
        Some(_) => format!("| {stage} | {ours} | {} |\n", official(theirs)),
        None => format!("| {stage} | {ours} |\n"),
    };
    let mut out = match o {
        Some(_) => "\n\n| stage | wall seconds | official code here (crates/hnn-bench/reference.toml) |\n|---|---|---|\n".to_string(),
        None => "\n\n| stage | wall seconds |\n|---|---|\n".to_string(),
    };
    out += &row("data", secs(Some(t.data), 3), o.map(|o| o.data));
    for m in &s.models {
        out += &row(
            &format!("train {}", m.name),
            secs(t.train.get(&m.name).copied(), 2),
            o.and_then(|o| o.train(&m.name)),
        );
    }
    out += &row("evaluation", secs(Some(t.eval), 3), o.map(|o| o.eval));
    out += &row("plots", secs(Some(t.plots), 3), None);
    out += &row("total", secs(Some(t.total), 2), None);
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
fn by_experiment(runs: &[RunSummary]) -> Vec<(&str, Vec<&RunSummary>)> {
    let mut groups: Vec<(&str, Vec<&RunSummary>)> = Vec::new();
    for s in runs {
        match groups.iter_mut().find(|(n, _)| *n == s.experiment) {
            Some((_, g)) => g.push(s),
            None => groups.push((&s.experiment, vec![s])),
        }
    }
    groups
}

/// The experiments run under more than one seed, with their runs.
fn seeded_groups(runs: &[RunSummary]) -> Vec<(&str, Vec<&RunSummary>)> {
    by_experiment(runs)
        .into_iter()
        .filter(|(_, g)| g.len() > 1)
        .collect()
}

/// Every model name that ran in any of the runs, in order of first appearance.
fn model_names<'a>(runs: impl IntoIterator<Item = &'a RunSummary>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for s in runs {
        for m in &s.models {
            if !names.contains(&m.name) {
                names.push(m.name.clone());
            }
        }
    }
    names
}

/// The across-seeds section: for each experiment run under more than one seed, the median and
/// range of every number.
fn across_seeds(runs: &[RunSummary]) -> String {
    let groups = seeded_groups(runs);
    if groups.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Across seeds: median [min – max]\n\nA single seed's result is one draw; these show \
         how far the same config moves from seed to seed.\n\n",
    );
    out += "| task | seeds | model | train loss | test loss | published test loss | energy MSE, paper protocol | published | energy MSE, corrected protocol |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for (task, g) in &groups {
        let seeds: Vec<String> = g.iter().map(|s| s.seed.to_string()).collect();
        for model in model_names(g.iter().copied()) {
            let col = |f: &dyn Fn(&RunSummary) -> Option<f64>| {
                spread(g.iter().filter_map(|s| f(s)).collect(), sci)
            };
            let r = ref_model(g[0], &model);
            out += &format!(
                "| {task} | {} | {model} | {} | {} | {} | {} | {} | {} |\n",
                seeds.join(", "),
                col(&|s| s.model(&model).map(|m| m.train_loss.mean)),
                col(&|s| s.model(&model).map(|m| m.test_loss.mean)),
                published(r, test_ref, 3),
                col(&|s| s.energy_mse("paper", &model)),
                published(r, energy_ref, 3),
                col(&|s| s.energy_mse("corrected", &model)),
            );
        }
    }
    out += "\n| task | ratio | paper protocol | published | corrected protocol |\n|---|---|---|---|---|\n";
    for (task, g) in &groups {
        for model in model_names(g.iter().copied()) {
            if model == "hnn" {
                continue;
            }
            out += &format!(
                "| {task} | {model}/HNN | {} | {} | {} |\n",
                spread(
                    g.iter()
                        .filter_map(|s| ratio(s, "paper", &model, "hnn"))
                        .collect(),
                    ratio_text
                ),
                times(published_ratio(g[0], &model, "hnn")),
                spread(
                    g.iter()
                        .filter_map(|s| ratio(s, "corrected", &model, "hnn"))
                        .collect(),
                    ratio_text
                ),
            );
        }
    }
    out
}

/// Every registered metric ([`crate::metrics::METRICS`]) of every model under `protocol`.
fn rollout_metrics(runs: &[RunSummary], protocol: &str, title: &str) -> String {
    let metrics = crate::metrics::METRICS;
    let legend: Vec<String> = metrics.iter().map(|m| m.legend()).collect();
    let mut out = format!(
        "\n## Rollout metrics, {title}\n\n{}.\n\n| task | model | horizon | {} |\n|---|---|---|{}\n",
        legend.join(". "),
        metrics
            .iter()
            .map(|m| m.column())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(metrics.len()),
    );
    let mut any = false;
    for s in runs {
        let Some(p) = s.energy.get(protocol) else {
            continue;
        };
        for m in &s.models {
            let Some(e) = p.models.get(&m.name) else {
                continue;
            };
            any = true;
            let cells: Vec<String> = metrics
                .iter()
                .map(|metric| {
                    e.scores
                        .get(metric.name())
                        .map_or("—".into(), |&v| metric.format(v))
                })
                .collect();
            let horizon = e.metrics.horizon;
            out += &format!(
                "| {} (seed {}) | {} | {} | {} |\n",
                s.experiment,
                s.seed,
                m.name,
                if horizon.is_finite() {
                    sci(horizon)
                } else {
                    "—".into()
                },
                cells.join(" | "),
            );
        }
    }
    if any { out } else { String::new() }
}

/// Every registered metric under the corrected protocol, median [min – max] over the seeds of
/// each experiment run under more than one.
fn metrics_across_seeds(runs: &[RunSummary]) -> String {
    let groups = seeded_groups(runs);
    if groups.is_empty() {
        return String::new();
    }
    let metrics = crate::metrics::METRICS;
    let mut out = format!(
        "\n## Rollout metrics across seeds, corrected protocol: median [min – max]\n\n| task | model | energy MSE | {} |\n|---|---|---|{}\n",
        metrics
            .iter()
            .map(|m| m.column())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(metrics.len()),
    );
    for (task, g) in &groups {
        for model in model_names(g.iter().copied()) {
            let score = |name: &str| -> Vec<f64> {
                g.iter()
                    .filter_map(|s| {
                        s.model_energy("corrected", &model)?
                            .scores
                            .get(name)
                            .copied()
                    })
                    .collect()
            };
            let cells: Vec<String> = metrics
                .iter()
                .map(|m| spread(score(m.name()), |v| m.format(v)))
                .collect();
            let mse = g
                .iter()
                .filter_map(|s| s.energy_mse("corrected", &model))
                .collect();
            out += &format!(
                "| {task} | {model} | {} | {} |\n",
                spread(mse, sci),
                cells.join(" | ")
            );
        }
    }
    out
}

/// Table 1 in markdown from finished runs, ordered by experiment name and seed (so a sharded
/// sweep and a single process give the same table).
pub fn table1(runs: &[RunSummary]) -> String {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| (a.experiment.as_str(), a.seed).cmp(&(b.experiment.as_str(), b.seed)));
    let runs = &sorted[..];
    let mut out = String::from("# Table 1: ours beside the published numbers\n\n");
    out += "Losses: mean squared error of dx/dt ± std / sqrt(samples). Energy: MSE between true and \
            predicted energy along integrated trajectories ± std of group means / sqrt(groups). \
            Published values (`crates/hnn-bench/reference.toml`) stand only beside runs of the \
            setting they were published for; the paper protocol is the one they were measured \
            with.\n\n";
    out += "| task | model | train loss | published | test loss | published | energy MSE, paper protocol | published | energy MSE, corrected protocol |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for s in runs {
        let task = format!("{} (seed {})", s.experiment, s.seed);
        for m in &s.models {
            let r = ref_model(s, &m.name);
            out += &format!(
                "| {task} | {}{} | {} | {} | {} | {} | {} | {} | {} |\n",
                m.name,
                model_note(s, &m.name),
                pm(Some(m.train_loss.mean), Some(m.train_loss.se), 3),
                published(r, loss_ref, 3),
                pm(Some(m.test_loss.mean), Some(m.test_loss.se), 3),
                published(r, test_ref, 3),
                energy_cell(s, "paper", &m.name, 3),
                published(r, energy_ref, 3),
                energy_cell(s, "corrected", &m.name, 3),
            );
        }
    }
    let withheld: Vec<String> = runs
        .iter()
        .filter_map(|s| {
            let why = s.reference_withheld()?;
            Some(format!("- {} (seed {}): {why}\n", s.experiment, s.seed))
        })
        .collect();
    if !withheld.is_empty() {
        out += "\n";
        out += &withheld.concat();
    }
    let names = model_names(runs);
    for protocol in PROTOCOLS {
        out += &format!(
            "\n## Energy MSE by model, {protocol} protocol\n\n| task | {} | {} |\n|---|{}\n",
            names.join(" | "),
            names
                .iter()
                .filter(|n| *n != "hnn")
                .map(|n| match protocol {
                    "paper" => format!("{n}/HNN (published)"),
                    _ => format!("{n}/HNN"),
                })
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(names.len() + names.iter().filter(|n| *n != "hnn").count())
        );
        for s in runs {
            let cells: Vec<String> = names
                .iter()
                .map(|n| {
                    s.energy_mse(protocol, n)
                        .filter(|v| v.is_finite())
                        .map_or("—".into(), sci)
                })
                .collect();
            let ratios: Vec<String> = names
                .iter()
                .filter(|n| *n != "hnn")
                .map(|n| {
                    let ours = times(ratio(s, protocol, n, "hnn"));
                    match (protocol, published_ratio(s, n, "hnn")) {
                        ("paper", Some(p)) => format!("{ours} ({})", ratio_text(p)),
                        _ => ours,
                    }
                })
                .collect();
            out += &format!(
                "| {} (seed {}) | {} | {} |\n",
                s.experiment,
                s.seed,
                cells.join(" | "),
                ratios.join(" | ")
            );
        }
    }
    out += &rollout_metrics(runs, "corrected", "corrected protocol");
    out += &rollout_metrics(
        runs,
        "long",
        "long horizon (10x the training horizon, `eval.long`)",
    );
    out += &across_seeds(runs);
    out += &metrics_across_seeds(runs);
    out += "\n## Wall seconds per stage (official implementation on this kind of machine, from reference.toml, in brackets)\n\n";
    out += &format!(
        "| task | data | {} | evaluation | total |\n|---|---|{}---|---|\n",
        names
            .iter()
            .map(|n| format!("train {n}"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(names.len())
    );
    let mut total = 0.0;
    for s in runs {
        let t = &s.timings;
        let o = s.reference().and_then(|r| r.official_seconds);
        let with = |ours: Option<f64>, theirs: Option<f64>, digits| match theirs {
            Some(x) => format!("{} ({})", secs(ours, digits), official(Some(x))),
            None => secs(ours, digits),
        };
        total += t.total;
        let train: Vec<String> = names
            .iter()
            .map(|n| with(t.train.get(n).copied(), o.and_then(|o| o.train(n)), 2))
            .collect();
        out += &format!(
            "| {} (seed {}) | {} | {} | {} | {} |\n",
            s.experiment,
            s.seed,
            with(Some(t.data), o.map(|o| o.data), 3),
            train.join(" | "),
            with(Some(t.eval), o.map(|o| o.eval), 2),
            secs(Some(t.total), 2),
        );
    }
    out += &format!("\nSum of the runs' wall times: {total:.1} s.\n");
    let mut keys: Vec<&str> = Vec::new();
    for s in runs {
        if let Some(r) = s.reference() {
            for a in &r.also {
                if !keys.contains(&a.as_str()) {
                    keys.push(a);
                }
            }
        }
    }
    if !keys.is_empty() {
        out += "\n## Published elsewhere (other protocols; not comparable cell by cell)\n";
        for k in keys {
            if let Some(r) = crate::reference::get(k) {
                out += &elsewhere(k, r);
            }
        }
    }
    out += "\nRuns:\n";
    for s in runs {
        out += &format!("- {}\n", s.run_dir.display());
    }
    out
}

fn elsewhere(key: &str, r: &Reference) -> String {
    let mut out = format!(
        "\n`{key}`: {}\n\n| model | train loss | test loss | energy MSE |\n|---|---|---|---|\n",
        r.source
    );
    for (name, m) in &r.models {
        out += &format!(
            "| {name} | {} | {} | {} |\n",
            published(Some(m), loss_ref, 3),
            published(Some(m), test_ref, 3),
            published(Some(m), energy_ref, 3)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Failure, GroupStats, ModelEnergy, ProtocolOutcome};
    use crate::summary::{ModelSummary, Timings};
    use crate::train::LossStats;
    use std::collections::BTreeMap;

    #[test]
    fn ratios_keep_two_digits_below_one() {
        assert_eq!(ratio_text(445.4), "445x");
        assert_eq!(ratio_text(10.0), "10x");
        assert_eq!(ratio_text(1.74), "1.7x");
        assert_eq!(ratio_text(0.5), "0.50x");
        assert_eq!(ratio_text(0.0344), "0.034x");
        assert_eq!(ratio_text(0.0), "0.0x");
        assert_eq!(ratio_text(99_999.0), "99999x");
        assert_eq!(ratio_text(4_719_494.0), "4.7e6x");
        assert_eq!(ratio_text(0.001), "0.0010x");
        assert_eq!(ratio_text(1.3e-6), "1.3e-6x");
        assert_eq!(ratio_text(f64::NAN), "—");
    }

    fn model(name: &str, test: f64) -> ModelSummary {
        ModelSummary {
            name: name.into(),
            train_loss: LossStats { mean: 1.0, se: 0.1 },
            test_loss: LossStats {
                mean: test,
                se: 0.1 * test,
            },
            train_seconds: 1.0,
            steps_per_second: 1.0,
            checkpoint: PathBuf::new(),
            dissipative_ratio: None,
            diagnostics: Default::default(),
            degenerate: None,
            diverged: None,
            energy_fit: None,
        }
    }

    fn energy(m: f64) -> ModelEnergy {
        ModelEnergy {
            energy_mse: Some(GroupStats {
                mean: m,
                se: 0.1 * m,
            }),
            per_trajectory: vec![m],
            coordinate_mse: 0.0,
            failed: vec![],
            field_evaluations: 0,
            metrics: crate::metrics::RolloutMetrics {
                horizon: 20.0,
                ..Default::default()
            },
            scores: BTreeMap::from([
                ("valid_time".to_string(), 2.5),
                ("relative_error".to_string(), 0.1 * m),
                ("energy_drift".to_string(), m),
                ("reversibility".to_string(), 1e-3),
            ]),
            reversibility_error: None,
            readout_r2: None,
        }
    }

    fn run(seed: u64, hnn_test: f64, base_energy: f64, hnn_energy: f64) -> RunSummary {
        let protocol = || ProtocolOutcome {
            settings: crate::config::ProtocolConfig::paper(),
            model_horizons: vec![1.0],
            models: BTreeMap::from([
                ("baseline".to_string(), energy(base_energy)),
                ("hnn".to_string(), energy(hnn_energy)),
            ]),
            seconds: 0.0,
            metrics_seconds: 0.0,
        };
        RunSummary {
            experiment: "toy".into(),
            task: "toy".into(),
            reference: None,
            setting: None,
            seed,
            run_dir: PathBuf::from(format!("runs/toy/s{seed}")),
            device: "Cpu".into(),
            models: vec![model("baseline", 2.0), model("hnn", hnn_test)],
            energy: BTreeMap::from([
                ("paper".to_string(), protocol()),
                ("corrected".to_string(), protocol()),
            ]),
            timings: Timings::default(),
        }
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
        assert!(
            t.contains("| toy | baseline/HNN | 100x [10x – 500x] | — |"),
            "{t}"
        );
        // small ratios keep a decimal
        let small = table1(&[run(0, 1.0, 1.67, 1.0), run(1, 1.0, 12.0, 1.0)]);
        assert!(
            small.contains("| toy | baseline/HNN | 6.8x [1.7x – 12x] | — |"),
            "{small}"
        );
        // every metric across seeds: valid time 2.5 in each; relative error 0.1 x energy MSE
        assert!(
            t.contains("| toy | hnn | 1.00e0 [1.00e0 – 2.00e0] | 2.50e0 [2.50e0 – 2.50e0] | 1.00e-1 [1.00e-1 – 2.00e-1] |"),
            "{t}"
        );
        // one seed: no across-seeds section
        assert!(!table1(&runs[..1]).contains("Across seeds"));
    }

    /// A degenerate model (no better than `dx/dt = 0`) is marked and in no ratio, however
    /// small its energy error.
    #[test]
    fn a_degenerate_model_is_marked_and_in_no_ratio() {
        let mut r = run(0, 1.0, 10.0, 1e-12);
        assert_eq!(ratio(&r, "corrected", "baseline", "hnn"), Some(1e13));
        r.models[1].degenerate = Some("test loss 1.71 against the zero field's 1.71".into());
        assert_eq!(ratio(&r, "corrected", "baseline", "hnn"), None);
        let t = table1(&[r.clone()]);
        assert!(t.contains("| hnn (**degenerate**"), "{t}");
        assert!(!t.contains("10000000000000x"), "{t}");
        let rep = report(&r);
        assert!(rep.contains("**hnn: degenerate**"), "{rep}");
    }

    #[test]
    fn every_model_that_ran_gets_a_column() {
        let mut r = run(0, 1.0, 10.0, 1.0);
        r.models.push(model("dhnn", 0.5));
        for p in r.energy.values_mut() {
            p.models.insert("dhnn".into(), energy(0.25));
        }
        r.models[2].dissipative_ratio = Some(0.031);
        let t = table1(&[r.clone()]);
        assert!(
            t.contains(
                "| task | baseline | hnn | dhnn | baseline/HNN (published) | dhnn/HNN (published) |\n|---|---|---|---|---|---|\n"
            ),
            "{t}"
        );
        assert!(
            t.contains("| toy (seed 0) | 1.00e1 | 1.00e0 | 2.50e-1 | 10x | 0.25x |"),
            "{t}"
        );
        assert!(t.contains("| dhnn (dissipative part 3.1%) |"), "{t}");
        // every row of every table has as many cells as its header
        for table in t.split("\n\n") {
            let rows: Vec<&str> = table.lines().filter(|l| l.starts_with('|')).collect();
            if let Some(head) = rows.first() {
                let cells = |l: &str| l.matches('|').count();
                assert!(rows.iter().all(|r| cells(r) == cells(head)), "{table}");
            }
        }
        assert!(t.contains("## Rollout metrics, corrected protocol"), "{t}");
        assert!(
            t.contains(
                "| toy (seed 0) | dhnn | 2.00e1 | 2.50e0 | 2.50e-2 | 2.50e-1 | 1.00e-3 | — |"
            ),
            "{t}"
        );
        assert!(t.contains("train dhnn"), "{t}");
    }

    #[test]
    fn report_marks_failed_trajectories_and_missing_values() {
        let mut s = run(0, 1.0, 10.0, 1.0);
        let hnn = s
            .energy
            .get_mut("paper")
            .unwrap()
            .models
            .get_mut("hnn")
            .unwrap();
        hnn.failed = vec![Failure {
            trajectory: 3,
            reason: "x".into(),
        }];
        s.energy.remove("corrected");
        let r = report(&s);
        assert!(r.contains("(1 failed)"), "{r}");
        assert!(
            r.contains(
                "| baseline | 1.0000e0 ± 1.0e-1 | 2.0000e0 ± 2.0e-1 | 1.0000e1 ± 1.0e0 | — |"
            ),
            "{r}"
        );
        assert!(
            r.contains("baseline/HNN energy-MSE ratio, paper protocol: 10x\n"),
            "{r}"
        );
        assert!(!r.contains("published"), "{r}");
    }

    #[test]
    fn published_numbers_only_beside_their_setting_and_ratios_of_their_protocol() {
        let mut s = run(0, 1.0, 10.0, 1.0);
        s.reference = Some("mass-spring".into());
        s.setting = Some(crate::published::SettingCheck {
            config: "configs/spring.toml".into(),
            differences: vec!["train.steps = 300 (published: 2000)".into()],
            unavailable: None,
        });
        let r = report(&s);
        assert!(
            !r.contains("(published)") && !r.contains("official code here"),
            "{r}"
        );
        assert!(
            r.contains("Published numbers (mass-spring) are not shown: this run's setting differs from theirs (configs/spring.toml) on train.steps = 300 (published: 2000)."),
            "{r}"
        );
        assert!(!table1(std::slice::from_ref(&s)).contains("3.842e-4"));

        s.setting.as_mut().unwrap().differences.clear();
        let r = report(&s);
        assert!(
            r.contains("| hnn (published) |") && r.contains("3.8416e-4"),
            "{r}"
        );
        // published 1.7077e-1 / 3.8416e-4 = 445x, beside the paper protocol's ratio only
        assert!(r.contains("paper protocol: 10x (published: 445x)"), "{r}");
        assert!(r.contains("corrected protocol: 10x\n"), "{r}");
        assert!(r.contains("| train baseline | — | 44 |"), "{r}");
        assert!(table1(&[s]).contains("3.842e-4"));
    }

    #[test]
    fn summaries_round_trip_with_nan_values() {
        let mut s = run(0, 1.0, 10.0, 1.0);
        s.models[0].test_loss.mean = f64::NAN;
        let json = serde_json::to_string(&s).unwrap();
        let back: RunSummary = serde_json::from_str(&json).unwrap();
        assert!(back.models[0].test_loss.mean.is_nan());
        assert_eq!(back.energy_mse("paper", "hnn"), Some(1.0));
    }
}
