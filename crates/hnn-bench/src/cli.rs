//! The `hnn-bench` command line (also behind the root `hnn` runner).

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::{RunOptions, config};

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
    /// Run every config once per seed, overriding `experiment.seed`: a list such as `0,3,7`,
    /// an inclusive range such as `0-4`, or both (`0-4,10`). `table1.md` then adds the median
    /// and range of every number across the seeds.
    #[arg(long, value_name = "LIST", value_parser = parse_seeds)]
    pub seeds: Option<Seeds>,
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
    let mut experiments = Vec::new();
    for path in &paths {
        match config::load(path) {
            Ok(e) => match &args.seeds {
                None => experiments.push(e),
                Some(seeds) => experiments.extend(seeds.0.iter().map(|&s| e.with_seed(s))),
            },
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut failed = false;
    let mut finished: Vec<crate::summary::RunSummary> = Vec::new();
    for exp in &experiments {
        let cfg = &exp.config;
        let root = args
            .output_dir
            .clone()
            .unwrap_or_else(|| cfg.experiment.output_dir.clone());
        if !args.rerun
            && let Some(dir) = crate::table::find_finished_run(&root, exp)
        {
            tracing::info!(run_dir = %dir.display(), "reusing the finished run of {} (same resolved config; --rerun to run again)", exp.path.display());
            match crate::summary::RunSummary::read(&dir.join("summary.json")) {
                Ok(summary) => {
                    println!("{}", crate::table::report(&summary));
                    finished.push(summary);
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
        match crate::run_experiment(exp, &opts) {
            Ok(summary) => {
                let report = crate::table::report(&summary);
                let report_path = summary.run_dir.join("report.md");
                if let Err(e) = std::fs::write(&report_path, &report) {
                    eprintln!("error: cannot write {}: {e}", report_path.display());
                    failed = true;
                }
                println!("{report}");
                finished.push(summary);
            }
            Err(e) => {
                eprintln!("error: {} failed: {e}", exp.path.display());
                failed = true;
            }
        }
        *log_file.0.lock().expect("log file lock") = None;
    }
    if !finished.is_empty() {
        let root = args
            .output_dir
            .clone()
            .unwrap_or_else(|| experiments[0].config.experiment.output_dir.clone());
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

/// The seeds of `--seeds`, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Seeds(pub Vec<u64>);

/// At most this many runs per config from `--seeds` (a typo like `0-1000000` is refused rather
/// than queued).
const MAX_SEEDS: u64 = 1000;

/// Parses `--seeds`: comma-separated seeds and inclusive ranges `a-b`, no repeats.
fn parse_seeds(spec: &str) -> Result<Seeds, String> {
    let int = |t: &str| {
        t.trim().parse::<u64>().map_err(|_| {
            format!("{t:?} is not a non-negative integer (expected e.g. 0-4 or 0,3,7)")
        })
    };
    let mut seeds = Vec::new();
    for item in spec.split(',') {
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (int(a)?, int(b)?);
                if a > b {
                    return Err(format!("range {item:?} runs backwards"));
                }
                if b - a >= MAX_SEEDS {
                    return Err(format!("range {item:?} has more than {MAX_SEEDS} seeds"));
                }
                seeds.extend(a..=b);
            }
            None => seeds.push(int(item)?),
        }
    }
    if seeds.len() as u64 > MAX_SEEDS {
        return Err(format!("more than {MAX_SEEDS} seeds"));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(d) = seeds.iter().find(|s| !seen.insert(**s)) {
        return Err(format!("seed {d} is listed twice"));
    }
    Ok(Seeds(seeds))
}

#[cfg(test)]
mod tests {
    use super::parse_seeds;

    #[test]
    fn seeds_take_lists_and_inclusive_ranges() {
        assert_eq!(parse_seeds("0-4").unwrap().0, vec![0, 1, 2, 3, 4]);
        assert_eq!(parse_seeds("7,0-1, 3").unwrap().0, vec![7, 0, 1, 3]);
        assert!(parse_seeds("4-2").unwrap_err().contains("backwards"));
        assert!(
            parse_seeds("0-2,1")
                .unwrap_err()
                .contains("seed 1 is listed twice")
        );
        assert!(
            parse_seeds("a")
                .unwrap_err()
                .contains("\"a\" is not a non-negative integer")
        );
        assert!(parse_seeds("").is_err());
        assert!(
            parse_seeds("0-1000000")
                .unwrap_err()
                .contains("more than 1000 seeds")
        );
        assert!(parse_seeds("0-18446744073709551615").is_err());
    }
}
