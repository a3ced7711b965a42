//! The `hnn-bench` command line (also behind the root `hnn` runner).

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::{RunOptions, RunSummary, config};

/// Train and evaluate baseline and Hamiltonian neural networks on a physical system.
#[derive(Debug, Parser)]
#[command(name = "hnn-bench", version)]
pub struct Args {
    /// Experiment config (TOML), or a directory of them; repeat to run several in order.
    /// After the runs, `table1.md` beside them puts every result next to the paper's.
    #[arg(long = "config", short = 'c', required = true, value_name = "FILE|DIR")]
    pub configs: Vec<PathBuf>,
    /// Run again even when a finished run with the same resolved config exists (by default
    /// such a run is reused, so an interrupted batch resumes where it stopped).
    #[arg(long)]
    pub rerun: bool,
    /// Write run directories here instead of each config's `experiment.output_dir`.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Do not draw progress bars.
    #[arg(long)]
    pub no_progress: bool,
    /// Log filter for stderr and log.txt (tracing's EnvFilter syntax), e.g. "debug".
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub log: String,
}

/// The current run's log file; events go there once a run directory exists.
#[derive(Clone, Default)]
struct LogFile(Arc<Mutex<Option<File>>>);

struct LogFileWriter<'a>(&'a LogFile);

impl Write for LogFileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self
            .0
            .0
            .lock()
            .map(|mut g| g.as_mut().map(|f| f.write_all(buf)))
        {
            Ok(Some(r)) => r.map(|_| buf.len()),
            _ => Ok(buf.len()),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter<'a>;
    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(self)
    }
}

fn init_tracing(spec: &str) -> Result<LogFile, String> {
    let log_file = LogFile::default();
    let filter =
        || tracing_subscriber::EnvFilter::try_new(spec).map_err(|e| format!("--log {spec:?}: {e}"));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false)
                .with_filter(filter()?),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(log_file.clone())
                .with_ansi(false)
                .with_target(false)
                .with_filter(filter()?),
        )
        .init();
    Ok(log_file)
}

/// Parses the arguments, validates every config, then runs them in order.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let log_file = match init_tracing(&args.log) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let paths = match expand(&args.configs) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Validate everything before any work, so a typo in the last config costs nothing.
    let mut configs = Vec::new();
    for path in &paths {
        match config::load(path).and_then(|c| {
            hnn_models::resolve_device(&c.experiment.device).map_err(|e| {
                crate::error::BenchError::Config {
                    path: path.clone(),
                    key: "experiment.device".into(),
                    reason: e.to_string(),
                    line: None,
                }
            })?;
            Ok(c)
        }) {
            Ok(c) => configs.push((path.clone(), c)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut failed = false;
    let mut finished: Vec<(PathBuf, serde_json::Value)> = Vec::new();
    for (path, cfg) in &configs {
        let root = args
            .output_dir
            .clone()
            .unwrap_or_else(|| cfg.experiment.output_dir.clone());
        if !args.rerun
            && let Some(dir) = crate::table::find_finished_run(&root, cfg)
        {
            tracing::info!(run_dir = %dir.display(), "reusing the finished run of {} (same resolved config; --rerun to run again)", path.display());
            match std::fs::read_to_string(dir.join("summary.json"))
                .map_err(|e| e.to_string())
                .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
            {
                Ok(summary) => {
                    if let Ok(report) = std::fs::read_to_string(dir.join("report.md")) {
                        println!("{report}");
                    }
                    finished.push((dir, summary));
                    continue;
                }
                Err(e) => tracing::warn!(
                    "cannot read {}/summary.json ({e}); running again",
                    dir.display()
                ),
            }
        }
        let slot = log_file.clone();
        let opts = RunOptions {
            output_dir: args.output_dir.clone(),
            progress: !args.no_progress,
            on_run_dir: Some(Box::new(move |dir: &Path| {
                let f = File::create(dir.join("log.txt"))?;
                *slot.0.lock().expect("log file lock") = Some(f);
                Ok(())
            })),
        };
        match crate::run_experiment(cfg, path, &opts) {
            Ok(summary) => {
                let report = report(&summary);
                let report_path = summary.run_dir.join("report.md");
                if let Err(e) = std::fs::write(&report_path, &report) {
                    eprintln!("error: cannot write {}: {e}", report_path.display());
                    failed = true;
                }
                println!("{report}");
                finished.push((
                    summary.run_dir.clone(),
                    serde_json::to_value(&summary).expect("summary serialises"),
                ));
            }
            Err(e) => {
                eprintln!("error: {} failed: {e}", path.display());
                failed = true;
            }
        }
        *log_file.0.lock().expect("log file lock") = None;
    }
    if !finished.is_empty() {
        let root = args
            .output_dir
            .clone()
            .unwrap_or_else(|| configs[0].1.experiment.output_dir.clone());
        let path = root.join("table1.md");
        match std::fs::write(&path, crate::table::table1(&finished)) {
            Ok(()) => tracing::info!(path = %path.display(), "table written"),
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Config files, with each directory replaced by its `*.toml` files in name order.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read config directory {}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            if files.is_empty() {
                return Err(format!(
                    "config directory {} has no .toml files",
                    p.display()
                ));
            }
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn pm(mean: f64, se: f64) -> String {
    if se.is_finite() {
        format!("{mean:.4e} ± {se:.1e}")
    } else {
        format!("{mean:.4e}")
    }
}

/// A markdown report: our numbers beside the paper's, and stage times beside the official code's.
pub fn report(s: &RunSummary) -> String {
    let mut out = format!(
        "## {} (seed {}) — {}\n\n",
        s.experiment,
        s.seed,
        s.run_dir.display()
    );
    out += "| model | train loss | test loss | energy MSE, paper protocol | energy MSE, corrected protocol |\n";
    out += "|---|---|---|---|---|\n";
    for (name, m) in &s.models {
        let e = |p: &str| {
            s.energy
                .get(p)
                .and_then(|o| o.models.get(name))
                .map(|e| {
                    let failed = if e.failed.is_empty() {
                        String::new()
                    } else {
                        format!(" ({} failed)", e.failed.len())
                    };
                    pm(e.energy_mse.mean, e.energy_mse.se) + &failed
                })
                .unwrap_or_else(|| "—".into())
        };
        out += &format!(
            "| {name} | {} | {} | {} | {} |\n",
            pm(m.train_loss.mean, m.train_loss.se),
            pm(m.test_loss.mean, m.test_loss.se),
            e("paper"),
            e("corrected")
        );
        if let Some(p) = &s.paper {
            let j = usize::from(*name == "hnn");
            out += &format!(
                "| {name} (paper) | {:.4e} | {:.4e} | {} | |\n",
                p.train_loss[j],
                p.test_loss[j],
                pm(p.energy_mse[j], p.energy_mse_se[j])
            );
        }
    }
    if let (Some(b), Some(h)) = (
        s.energy.get("paper").and_then(|o| {
            Some((
                o.models.get("baseline")?.energy_mse.mean,
                o.models.get("hnn")?.energy_mse.mean,
            ))
        }),
        s.paper,
    ) {
        out += &format!(
            "\nBaseline/HNN energy-MSE ratio, paper protocol: {:.0}x (paper: {:.0}x)\n",
            b.0 / b.1,
            h.energy_mse[0] / h.energy_mse[1]
        );
    }
    if let Some(c) = s.energy.get("corrected").and_then(|o| {
        Some((
            o.models.get("baseline")?.energy_mse.mean,
            o.models.get("hnn")?.energy_mse.mean,
        ))
    }) {
        out += &format!(
            "Baseline/HNN energy-MSE ratio, corrected protocol: {:.0}x\n",
            c.0 / c.1
        );
    }
    out += "\n| stage | wall seconds | official code here (REFERENCE.md §7) |\n|---|---|---|\n";
    let off = s.official_cost_seconds;
    let cell = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_else(|| "—".into());
    out += &format!(
        "| data | {:.3} | {} |\n",
        s.timings.data,
        cell(off.map(|o| o.data))
    );
    for (name, secs) in &s.timings.train {
        let o = off.map(|o| {
            if *name == "hnn" {
                o.train_hnn
            } else {
                o.train_baseline
            }
        });
        out += &format!("| train {name} | {secs:.2} | {} |\n", cell(o));
    }
    out += &format!(
        "| evaluation | {:.3} | {} |\n",
        s.timings.eval,
        cell(off.map(|o| o.eval))
    );
    out += &format!(
        "| plots | {:.3} | |\n| total | {:.2} | |\n",
        s.timings.plots, s.timings.total
    );
    out
}
