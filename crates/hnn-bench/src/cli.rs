//! The `hnn-bench` command line (also behind the root `hnn` runner).

use std::collections::HashMap;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use clap::Parser;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::{RunOptions, config};

/// Train and evaluate baseline and Hamiltonian neural networks on a physical system.
#[derive(Debug, Parser)]
#[command(name = "hnn-bench", version, args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Experiment config (TOML), or a directory of them; repeat to run several in order.
    /// After the runs, `table1.md` beside them puts every result next to the paper's.
    #[arg(long = "config", short = 'c', value_name = "FILE|DIR")]
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
    /// Override a config key for every config, as if written in the file: `--set
    /// train.learning_rate=1e-3 --set system.beta=0.1` (repeatable; dotted keys; values in TOML,
    /// plain words taken as strings). Validated like the file.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<config::Override>,
    /// Run only shard I of N of the (config x seed) list, in order: entries I, I + N, I + 2N, ...
    /// (1-based). Shards sharing one --output-dir never compute the same run; each writes
    /// `table1-shard-I-of-N.md`, and `hnn-bench table` builds the whole table.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// With --seeds: train a config's seeds as one batched network per model (a seed
    /// ensemble: baseline, hnn and dhnn on state data), or one run after the other. `auto`
    /// batches where it was measured to win: on CUDA, and minibatch training on the CPU
    /// (full-batch training on the CPU is GEMM-bound and runs ~10% slower batched).
    #[arg(long, value_enum, default_value_t = EnsembleMode::Auto)]
    pub ensemble: EnsembleMode,
    /// Compute this many runs (or seed ensembles) at a time, each with its share of the
    /// cores as libtorch threads (unless `experiment.threads` is set); default: one job per
    /// two cores, so every run gets two threads (the numbers of a run depend on its thread
    /// count). Progress bars are off with more than one job; logs stay per run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub jobs: Option<u16>,
    /// Do not draw progress bars.
    #[arg(long)]
    pub no_progress: bool,
    /// Log filter for stderr and log.txt (tracing's EnvFilter syntax), e.g. "debug".
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub log: String,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the run directories under an output folder with their status, unfinished ones
    /// (failed, interrupted, stale: its process is gone) marked; `--clean` removes those.
    Runs {
        /// The output folder (`experiment.output_dir`, or `--output-dir` of the runs).
        #[arg(long, value_name = "DIR", default_value = "runs")]
        output_dir: PathBuf,
        /// Remove the run directories that did not finish and are not being computed.
        #[arg(long)]
        clean: bool,
    },
    /// Move a state to a chosen value of a model's learned energy along the gradient flow of
    /// `H_θ`, between two stretches of the model's own flow (the paper's "adding energy"), on a
    /// finished run's checkpoint. Writes `<run>/edit/<model>-<target>/`: path.npy, edit.json,
    /// energy_edit.png.
    Edit {
        /// The run directory (with config.toml and checkpoints/).
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
        /// A model of the run with a learned energy (hnn, dhnn, shnn).
        #[arg(long, default_value = "hnn")]
        model: String,
        /// The learned-energy value to reach.
        #[arg(
            long,
            allow_negative_numbers = true,
            required_unless_present = "add",
            conflicts_with = "add"
        )]
        target: Option<f64>,
        /// Or: add this much to the learned energy where the edit starts (H_θ is learned up
        /// to a constant).
        #[arg(long, allow_negative_numbers = true)]
        add: Option<f64>,
        /// Start state, comma-separated (default: the run's eval.figure.x0); for a pixel run,
        /// a latent state.
        #[arg(
            long,
            value_name = "Q,P",
            allow_negative_numbers = true,
            value_delimiter = ','
        )]
        x0: Option<Vec<f64>>,
        /// Time on the model's flow before the edit.
        #[arg(long, default_value_t = 5.0)]
        before: f64,
        /// Time on the model's flow after the edit.
        #[arg(long, default_value_t = 5.0)]
        after: f64,
    },
    /// Write a finished run's learned fields as TorchScript, which `torch.jit.load` runs
    /// without this code: `<model>.field.pt` (`x -> dx/dt`, `[batch, dim]`) and, for models
    /// with a learned energy, `<model>.energy.pt` (`x -> H`, `[batch]`). Each file is loaded
    /// back and checked against the model before it is kept.
    Export {
        /// The run directory (with config.toml and checkpoints/).
        #[arg(long, value_name = "DIR")]
        run: PathBuf,
        /// The models to export (repeat the flag); default: every checkpoint of the run.
        #[arg(long)]
        model: Vec<String>,
        /// Where to write the files (default: `<run>/export`).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Render the pixel pendulum's frames for given angles (a 1-D .npy of angles from rest, in
    /// radians) into a new folder: frames.npy ([n, side, side], the dataset's frames) and a
    /// contact sheet frames.png.
    Render {
        /// The angles file.
        #[arg(long, value_name = "FILE")]
        angles: PathBuf,
        /// The folder to create.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Side of the square frames.
        #[arg(long, default_value_t = 28)]
        side: u32,
    },
    /// Each finished run's stages under an output folder against this machine's two floors,
    /// measured first on each run's thread count: the physical one (the cores' fp32 FMA peak)
    /// and libtorch's matrix-product rate at the stage's layer shape. Wall time, GFLOP, both
    /// floors and ratios, peak RSS and the official code's time. Writes `speed.md` there and
    /// prints it.
    Speed {
        /// The output folder the runs were written to.
        #[arg(long, value_name = "DIR", default_value = "runs")]
        output_dir: PathBuf,
    },
    /// Generate (or load) a config's data without training and write it into a new folder:
    /// the `.npy` files of a run's `data/`, and for a simulated system `trajectories.npz`
    /// (`t`, `x`, `dxdt`), the format `kind = "trajectories"` reads.
    Data {
        /// The experiment config.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Override a config key, as for a run.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<crate::config::Override>,
        /// The folder to create.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Write `table1.md` from every finished run under an output folder (the latest of each
    /// resolved config), running nothing: the end of a sharded sweep.
    Table {
        /// The output folder the runs were written to.
        #[arg(long, value_name = "DIR", default_value = "runs")]
        output_dir: PathBuf,
    },
}

/// `--ensemble`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EnsembleMode {
    Auto,
    On,
    Off,
}

impl EnsembleMode {
    /// Whether the seeds of `exp`'s config train as one batched network.
    pub fn batches(self, exp: &config::Experiment) -> bool {
        match self {
            EnsembleMode::On => true,
            EnsembleMode::Off => false,
            EnsembleMode::Auto => {
                let b = exp.config.train.batch_size;
                exp.device.is_cuda() || (b > 0 && b < exp.source.n_train(&exp.config.data))
            }
        }
    }
}

/// `--shard I/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("{s:?}: expected I/N with 1 <= I <= N, e.g. 2/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (index, count) = (
        i.trim().parse::<usize>().map_err(|_| bad())?,
        n.trim().parse::<usize>().map_err(|_| bad())?,
    );
    if index == 0 || index > count || count > 100_000 {
        return Err(bad());
    }
    Ok(Shard { index, count })
}

/// `hnn-bench table`: the table of every finished run under `root`.
fn aggregate(root: &Path) -> ExitCode {
    let summaries = match latest_finished(root) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if summaries.is_empty() {
        eprintln!("error: no finished runs under {}", root.display());
        return ExitCode::FAILURE;
    }
    let path = root.join("table1.md");
    match crate::runs::write_atomic(&path, crate::table::table1(&summaries).as_bytes()) {
        Ok(()) => {
            println!("{} runs -> {}", summaries.len(), path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn speed(root: &Path) -> ExitCode {
    let runs = match crate::speed::finished_runs(root) {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => {
            eprintln!("error: no finished runs under {}", root.display());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut stages = Vec::new();
    for (dir, s) in &runs {
        match crate::speed::stages(dir, s) {
            Ok(v) => stages.extend(v),
            Err(e) => eprintln!("warning: {}: {e}; left out", dir.display()),
        }
    }
    let rates = crate::speed::Rates::measure(&stages);
    let text = crate::speed::table(&stages, &rates, &crate::cpu_path::path().describe());
    let path = root.join("speed.md");
    if let Err(e) = crate::runs::write_atomic(&path, text.as_bytes()) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    print!("{text}");
    ExitCode::SUCCESS
}

/// The log files of the runs in progress, by the thread computing them (one run, or every
/// member of a seed ensemble, per thread); an event goes to the files of its thread, or, from
/// a thread of no run (rayon's, say), to every open file when only one thread has runs.
#[derive(Clone, Default)]
struct LogFile(Arc<Mutex<HashMap<ThreadId, Vec<File>>>>);

impl LogFile {
    fn open(&self, file: File) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(std::thread::current().id())
            .or_default()
            .push(file);
    }
    fn close_this_thread(&self) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&std::thread::current().id());
    }
}

struct LogFileWriter<'a>(&'a LogFile);

impl Write for LogFileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Ok(mut map) = self.0.0.lock() else {
            return Ok(buf.len());
        };
        let only = map.len() == 1;
        let files = match map.get_mut(&std::thread::current().id()) {
            Some(files) => files,
            None if only => map.values_mut().next().expect("one entry"),
            None => return Ok(buf.len()),
        };
        for f in files.iter_mut() {
            f.write_all(buf)?;
        }
        Ok(buf.len())
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

/// Log times as `2026-12-05T03:14:28Z`: whole seconds, UTC.
struct UtcSeconds;

impl tracing_subscriber::fmt::time::FormatTime for UtcSeconds {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        w.write_str(&crate::utc_iso())
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
                .with_timer(UtcSeconds)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false)
                .with_filter(filter()?),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(log_file.clone())
                .with_timer(UtcSeconds)
                .with_ansi(false)
                .with_target(false)
                .with_filter(filter()?),
        )
        .init();
    Ok(log_file)
}

/// `hnn-bench runs`: one line per run directory; exit 1 when some did not finish.
/// `export`: each model's TorchScript files, or why not; exit status 2 if any model failed.
fn export_models(run: &Path, models: &[String], out: Option<&Path>) -> ExitCode {
    let models = if models.is_empty() {
        match checkpoint_names(run) {
            Ok(m) if !m.is_empty() => m,
            Ok(_) => {
                eprintln!("error: {} has no checkpoints", run.display());
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        models.to_vec()
    };
    let out = out.map_or_else(|| run.join("export"), Path::to_path_buf);
    let mut failed = false;
    for model in &models {
        match crate::export::export(run, model, &out) {
            Ok(e) => {
                let energy = e
                    .energy
                    .map(|p| format!(" and {}", p.display()))
                    .unwrap_or_default();
                println!(
                    "{}: {}{energy} (checked on new states: largest difference {:.1e} of the largest value)",
                    e.model,
                    e.field.display(),
                    e.max_error
                );
            }
            Err(e) => {
                eprintln!("error: {model}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

/// The model names of a run's `checkpoints/*.safetensors`, sorted.
fn checkpoint_names(run: &Path) -> std::io::Result<Vec<String>> {
    let dir = run.join("checkpoints");
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".safetensors").map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

fn list_runs(root: &Path, clean: bool) -> ExitCode {
    let result = if clean {
        crate::runs::clean(root)
    } else {
        crate::runs::list(root)
    };
    let entries = match result {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for e in &entries {
        let error = e
            .error
            .as_deref()
            .map(|m| format!("  ({m})"))
            .unwrap_or_default();
        let verb = if clean { "removed " } else { "" };
        println!("{verb}{:<12} {}{error}", e.status, e.dir.display());
    }
    let unfinished = entries
        .iter()
        .filter(|e| !e.finished() && e.status != "running")
        .count();
    if clean {
        println!("{} unfinished run directories removed", entries.len());
        ExitCode::SUCCESS
    } else if unfinished > 0 {
        println!(
            "{unfinished} of {} runs did not finish (`hnn-bench runs --clean` removes them)",
            entries.len()
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A finished run's summary, with its `report.md` rebuilt when missing or empty (a run killed
/// while writing it under an older version).
/// The summary of the latest finished run of each resolved config under `root`; a run whose
/// summary cannot be read is named in a warning and left out.
fn latest_finished(root: &Path) -> Result<Vec<crate::summary::RunSummary>, String> {
    let entries = crate::runs::list(root).map_err(|e| e.to_string())?;
    let mut latest: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for e in entries.iter().filter(|e| e.finished()) {
        let Ok(toml) = std::fs::read_to_string(e.dir.join("config.toml")) else {
            continue;
        };
        latest.insert(crate::runs::config_key(&toml), e.dir.clone());
    }
    let mut summaries = Vec::new();
    for dir in latest.values() {
        match reuse(dir) {
            Ok(s) => summaries.push(s),
            Err(e) => eprintln!("warning: {e}; left out"),
        }
    }
    Ok(summaries)
}

fn reuse(dir: &Path) -> Result<crate::summary::RunSummary, String> {
    let summary = crate::summary::RunSummary::read(&dir.join("summary.json"))
        .map_err(|e| format!("cannot read {}/summary.json ({e})", dir.display()))?;
    let report_path = dir.join("report.md");
    if std::fs::metadata(&report_path).map_or(true, |m| m.len() == 0) {
        crate::runs::write_atomic(&report_path, crate::table::report(&summary).as_bytes())
            .map_err(|e| e.to_string())?;
        tracing::warn!(path = %report_path.display(), "report.md was missing or empty; rebuilt it from summary.json");
    }
    Ok(summary)
}

/// Parses the arguments, validates every config, then runs them in order.
pub fn main() -> ExitCode {
    hnn_models::cpu::keep_freed_heap();
    let args = Args::parse();
    if let Err(e) = crate::cpu_path::check_switch() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    match &args.command {
        Some(Command::Runs { output_dir, clean }) => return list_runs(output_dir, *clean),
        Some(Command::Table { output_dir }) => return aggregate(output_dir),
        Some(Command::Speed { output_dir }) => return speed(output_dir),
        Some(Command::Data { config, sets, out }) => {
            return match write_data(config, sets, out) {
                Ok(()) => {
                    println!("{}", out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Render { angles, out, side }) => {
            return match crate::render::render(angles, out, *side) {
                Ok(r) => {
                    println!(
                        "{} frames: {} and {}",
                        r.count,
                        r.frames.display(),
                        r.sheet.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Edit {
            run,
            model,
            target,
            add,
            x0,
            before,
            after,
        }) => {
            tch::set_num_threads(1);
            let opts = crate::edit::EditOptions {
                run_dir: run.clone(),
                model: model.clone(),
                target: match (target, add) {
                    (Some(t), _) => crate::edit::Target::Value(*t),
                    (None, a) => crate::edit::Target::Add(a.unwrap_or(0.0)),
                },
                x0: x0.clone(),
                before: *before,
                after: *after,
            };
            return match crate::edit::edit_energy(&opts) {
                Ok(o) => {
                    println!(
                        "{}: H_θ {:.10} -> {:.10} (target {}, off by {:.1e}) in t = {:.4}; {:.10} after the flow; {}",
                        o.model,
                        o.energy_start,
                        o.energy_reached,
                        o.target,
                        o.target_error,
                        o.edit_time,
                        o.energy_end,
                        o.output_dir.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Some(Command::Export { run, model, out }) => {
            tch::set_num_threads(1);
            return export_models(run, model, out.as_deref());
        }
        None => {}
    }
    if args.configs.is_empty() {
        eprintln!("error: give at least one --config FILE|DIR (or the `runs` subcommand)");
        return ExitCode::from(2);
    }
    let log_file = match init_tracing(&args.log) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = crate::runs::install_signal_handlers() {
        eprintln!("error: cannot install signal handlers: {e}");
        return ExitCode::from(2);
    }
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
        match config::load_with(path, &args.sets) {
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
    if let Some(shard) = args.shard {
        let all = experiments.len();
        experiments = experiments
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % shard.count == shard.index - 1)
            .map(|(_, e)| e)
            .collect();
        tracing::info!(
            "shard {}/{}: {} of {all} runs",
            shard.index,
            shard.count,
            experiments.len()
        );
        if experiments.is_empty() {
            println!(
                "shard {}/{} has no runs (only {all} in the list)",
                shard.index, shard.count
            );
            return ExitCode::SUCCESS;
        }
    }
    let slot = log_file.clone();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.map_or((cores / 2).max(1), usize::from);
    let opts = RunOptions {
        output_dir: args.output_dir.clone(),
        progress: !args.no_progress && jobs == 1,
        on_run_dir: Some(Box::new(move |dir: &Path| {
            slot.open(File::create(dir.join("log.txt"))?);
            Ok(())
        })),
    };
    // Seeds of one config run together (a seed ensemble); anything else one by one.
    let ensembles = args.seeds.is_some();
    let mut groups: Vec<Vec<&config::Experiment>> = Vec::new();
    for exp in &experiments {
        match groups.last_mut() {
            // (a config given twice starts a new group: one group must not lock a run twice)
            Some(g)
                if ensembles
                    && g[0].path == exp.path
                    && args.ensemble.batches(exp)
                    && g.iter()
                        .all(|e| e.config.experiment.seed != exp.config.experiment.seed) =>
            {
                g.push(exp)
            }
            _ => groups.push(vec![exp]),
        }
    }
    // each job's libtorch threads, from the jobs asked for (not from how many groups there
    // are, so a run's thread count does not depend on what else is on the command line); a
    // config's `experiment.threads` still wins
    let threads = (cores / jobs).max(1) as i32;
    let jobs = jobs.min(groups.len()).max(1);
    if jobs > 1 {
        crate::runs::set_concurrent();
        tracing::info!(
            "{} run groups on {jobs} jobs of {threads} libtorch threads each",
            groups.len()
        );
    }
    let queue = Mutex::new(groups.into_iter());
    let outcome = Mutex::new((false, Vec::<crate::summary::RunSummary>::new()));
    let work = || {
        tch::set_num_threads(threads);
        loop {
            let Some(group) = queue.lock().unwrap_or_else(|e| e.into_inner()).next() else {
                break;
            };
            let (group_failed, summaries) = run_group(&args, group, &opts);
            log_file.close_this_thread();
            let mut o = outcome.lock().unwrap_or_else(|e| e.into_inner());
            o.0 |= group_failed;
            o.1.extend(summaries);
        }
    };
    if jobs == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(work);
            }
        });
    }
    let (mut failed, finished) = outcome.into_inner().unwrap_or_else(|e| e.into_inner());
    if !finished.is_empty() {
        let root = args
            .output_dir
            .clone()
            .unwrap_or_else(|| experiments[0].config.experiment.output_dir.clone());
        // one shard tables its own runs (`hnn-bench table` joins the shards); otherwise the
        // table covers every finished run under the folder, so no run's rows are lost
        let (path, runs) = match args.shard {
            None => {
                let mut all = latest_finished(&root).unwrap_or_else(|e| {
                    tracing::warn!("cannot list the runs under {}: {e}", root.display());
                    Vec::new()
                });
                // runs of this invocation written elsewhere (their own experiment.output_dir)
                for f in finished {
                    if !all.iter().any(|s| s.run_dir == f.run_dir) {
                        all.push(f);
                    }
                }
                (root.join("table1.md"), all)
            }
            Some(s) => (
                root.join(format!("table1-shard-{}-of-{}.md", s.index, s.count)),
                finished,
            ),
        };
        match crate::runs::write_atomic(&path, crate::table::table1(&runs).as_bytes()) {
            Ok(()) => tracing::info!(path = %path.display(), "table written"),
            Err(e) => {
                eprintln!("error: {e}");
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

/// Computes (or reuses) the runs of one group: a seed ensemble, or a single run. Returns
/// whether something failed, and the finished runs' summaries.
fn run_group(
    args: &Args,
    group: Vec<&config::Experiment>,
    opts: &RunOptions,
) -> (bool, Vec<crate::summary::RunSummary>) {
    let mut failed = false;
    let mut finished = Vec::new();
    // One process per run: a second one waits here, then reuses what the first computed.
    let mut locks = Vec::new();
    let mut to_run: Vec<config::Experiment> = Vec::new();
    for exp in group {
        let root = args
            .output_dir
            .clone()
            .unwrap_or_else(|| exp.config.experiment.output_dir.clone());
        match crate::runs::RunLock::acquire(&root, exp) {
            Ok(l) => locks.push(l),
            Err(e) => {
                eprintln!("error: {}: {e}", exp.path.display());
                failed = true;
                continue;
            }
        };
        if !args.rerun
            && let Some(dir) = crate::table::find_finished_run(&root, exp)
        {
            tracing::info!(run_dir = %dir.display(), "reusing the finished run of {} (same resolved config; --rerun to run again)", exp.path.display());
            match reuse(&dir) {
                Ok(summary) => {
                    println!("{}", crate::table::report(&summary));
                    failed |= report_divergence(exp, &summary);
                    finished.push(summary);
                    continue;
                }
                Err(e) => tracing::warn!("{e}; running again"),
            }
        }
        to_run.push(exp.clone());
    }
    let results = if to_run.len() >= 2 {
        crate::run_ensemble(&to_run, opts)
    } else {
        to_run
            .iter()
            .map(|exp| crate::run_experiment(exp, opts))
            .collect()
    };
    for (exp, result) in to_run.iter().zip(results) {
        match result {
            Ok(summary) => {
                println!("{}", crate::table::report(&summary));
                failed |= report_divergence(exp, &summary);
                finished.push(summary);
            }
            Err(e) => {
                eprintln!(
                    "error: {} (seed {}) failed: {e}",
                    exp.path.display(),
                    exp.config.experiment.seed
                );
                failed = true;
            }
        }
    }
    drop(locks);
    (failed, finished)
}

/// Says on stderr which models of a finished run diverged; true if any did.
fn report_divergence(exp: &crate::config::Experiment, s: &crate::summary::RunSummary) -> bool {
    let mut any = false;
    for m in &s.models {
        if let Some(d) = &m.diverged {
            eprintln!(
                "error: {} (seed {}): model {} {d}; it is marked so in {}",
                exp.path.display(),
                s.seed,
                m.name,
                s.run_dir.join("summary.json").display()
            );
            any = true;
        }
    }
    any
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

/// Seeds are written into the resolved config, and TOML integers are 64-bit signed.
const MAX_SEED: u64 = i64::MAX as u64;

/// Parses `--seeds`: comma-separated seeds and inclusive ranges `a-b`, no repeats.
fn parse_seeds(spec: &str) -> Result<Seeds, String> {
    let int = |t: &str| {
        t.trim()
            .parse::<u64>()
            .map_err(|_| {
                format!("{t:?} is not a non-negative integer (expected e.g. 0-4 or 0,3,7)")
            })
            .and_then(|v| {
                if v > MAX_SEED {
                    Err(format!(
                        "seed {v} is above the largest seed {MAX_SEED} (2^63 - 1)"
                    ))
                } else {
                    Ok(v)
                }
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

/// `data`: the config's data stage alone, written into a new folder (first into a temporary
/// sibling, renamed when complete, so a failure leaves nothing behind).
fn write_data(config: &Path, sets: &[crate::config::Override], out: &Path) -> crate::Result<()> {
    let exp = crate::config::load_with(config, sets)?;
    if out.exists() || out.is_symlink() {
        return Err(crate::error::BenchError::Io {
            path: out.to_path_buf(),
            what: "will not overwrite",
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        });
    }
    let task = exp.source.build(&exp)?;
    let name = out.file_name().map(|n| n.to_string_lossy().to_string());
    let tmp = out.with_file_name(format!(
        ".{}.partial-{}",
        name.unwrap_or_else(|| "data".into()),
        std::process::id()
    ));
    let written = task.write_data(&tmp).and_then(|()| {
        std::fs::rename(&tmp, out).map_err(crate::io_err("cannot rename into", out))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::{Shard, parse_seeds, parse_shard};

    #[test]
    fn shards_are_one_based_and_within_the_count() {
        assert_eq!(parse_shard("2/3"), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(parse_shard("1/1"), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/0", "3/2", "0/3", "a/b", "2", "1/0", "-1/3"] {
            assert!(
                parse_shard(bad).unwrap_err().contains("expected I/N"),
                "{bad}"
            );
        }
    }

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
        assert!(
            parse_seeds("9223372036854775808")
                .unwrap_err()
                .contains("above the largest seed 9223372036854775807")
        );
        assert_eq!(
            parse_seeds("9223372036854775807").unwrap().0,
            vec![i64::MAX as u64]
        );
    }
}
