//! Experiment orchestration for `hnn`: config -> data -> train -> evaluate -> report.
//!
//! [`run_experiment`] does one experiment end to end and writes a new run directory:
//!
//! ```text
//! <output_dir>/<name>/<UTC timestamp>-s<seed>/
//!   config.toml            the resolved config (every default filled in), written first
//!   meta.json              versions, device, threads, git commit, status, wall time
//!   log.txt                the run's log
//!   metrics.jsonl          loss curves: one line per logged step and model, every loss part
//!   summary.json           final losses, energy MSE per protocol, stage timings ([`summary::RunSummary`])
//!   data/*.npy             the dataset (all trajectories, and the flattened splits)
//!   checkpoints/*.safetensors
//!   rollouts/*.npy         figure and protocol trajectories of truth and models
//!   plots/*.png            Figure-2-style row, loss curves, energy error per protocol
//! ```

pub mod cli;
pub mod config;
pub mod cpu_path;
pub mod edit;
pub mod ensemble;
pub mod error;
pub mod eval;
pub mod export;
pub mod metrics;
pub mod plots;
pub mod published;
pub mod reference;
pub mod render;
pub mod runs;
pub mod speed;
pub mod summary;
pub mod table;
pub mod tasks;
#[cfg(test)]
mod testing;
pub mod train;
pub mod truth;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hnn_models::{DynamicsModel, save_checkpoint};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray_npy::WriteNpyExt;
use serde::Serialize;
use tch::{Device, nn};

use crate::config::Experiment;
use crate::error::{BenchError, Result};
use crate::eval::{FigureRollout, ProtocolRollouts};
use crate::summary::{ModelSummary, RunSummary, Timings};
use crate::train::LogRow;
use crate::truth::View;

/// Called with the new run directory before any stage runs.
pub type RunDirHook = Box<dyn Fn(&Path) -> std::io::Result<()> + Send + Sync>;

/// How to run, beyond the config.
#[derive(Default)]
pub struct RunOptions {
    /// Replaces `experiment.output_dir`.
    pub output_dir: Option<PathBuf>,
    /// Draw progress bars (they are hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Called once the run directory exists (the binary attaches its log file here).
    pub on_run_dir: Option<RunDirHook>,
}

/// Builds model `name` on `vs` (under the path named after it), its weights drawn on the CPU
/// from libtorch's generator seeded with `seed`, then moved to `device`: one seed gives the same
/// initial weights on every device.
pub fn build_model(
    name: &str,
    vs: &mut nn::VarStore,
    dim: i64,
    exp: &Experiment,
    device: Device,
) -> Result<Box<dyn DynamicsModel>> {
    let spec = hnn_models::ModelSpec {
        velocity: exp.source.velocity_map(),
        ..exp.config.model.spec()
    };
    let model = seeded_init(exp.config.experiment.seed, || {
        hnn_models::build_model(name, &vs.root(), dim, &spec)
    })?;
    vs.set_device(device);
    Ok(model)
}

/// libtorch's CPU generator is one per process: runs building models on several threads
/// (`--jobs`) take turns, so each model's weights come from its own seed alone.
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `init` (which draws initial weights from libtorch's generator) with the generator
/// seeded with `seed` and no other thread drawing from it meanwhile.
pub fn seeded_init<T>(seed: u64, init: impl FnOnce() -> T) -> T {
    let _turn = INIT.lock().unwrap_or_else(|e| e.into_inner());
    tch::manual_seed(seed as i64);
    init()
}

pub(crate) fn io_err(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> BenchError + use<> {
    let path = path.to_path_buf();
    move |source| BenchError::Io { what, path, source }
}

fn write_file(path: &Path, contents: &[u8]) -> Result<()> {
    std::fs::write(path, contents).map_err(io_err("cannot write", path))
}

pub(crate) fn write_npy<A: WriteNpyExt>(path: &Path, a: &A) -> Result<()> {
    let file = std::fs::File::create(path).map_err(io_err("cannot create", path))?;
    a.write_npy(std::io::BufWriter::new(file))
        .map_err(|source| BenchError::Npy {
            path: path.to_path_buf(),
            source,
        })
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn utc_stamp() -> String {
    let (date, time) = utc_now();
    format!("{}-{}", date.replace('-', ""), time.replace(':', ""))
}

/// Now in ISO 8601, `2026-12-05T00:43:58Z`.
pub(crate) fn utc_iso() -> String {
    let (date, time) = utc_now();
    format!("{date}T{time}Z")
}

/// Today's date `YYYY-MM-DD` and the time `HH:MM:SS`, UTC.
fn utc_now() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Creates a new run directory holding only its [`runs::MARKER`] (with the run's lock `key`);
/// never reuses an existing one.
pub fn create_run_dir(root: &Path, name: &str, seed: u64, key: &str) -> Result<PathBuf> {
    let parent = root.join(name);
    std::fs::create_dir_all(&parent).map_err(io_err("cannot create the output folder", &parent))?;
    let stem = format!("{}-s{seed}", utc_stamp());
    for n in 0.. {
        let dir = if n == 0 {
            parent.join(&stem)
        } else {
            parent.join(format!("{stem}-{n}"))
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                runs::write_marker(&dir, key)?;
                return Ok(dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("cannot create the run directory", &dir)(e)),
        }
    }
    unreachable!("unbounded loop returns")
}

fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[derive(Serialize)]
struct Meta<'a> {
    hnn_version: &'static str,
    /// A hash of the workspace's library sources at build time (see [`table::Identity`]).
    code_hash: &'static str,
    libtorch: &'static str,
    git_commit: Option<String>,
    config_path: &'a Path,
    device: String,
    torch_threads: i32,
    rayon_threads: usize,
    /// The CPU matrix-product path (`hnn_models::cpu::MatmulPath::name`) and the fp32 rate of a
    /// 200 x 200 x 200 product measured when the run started; on several threads, that rate's
    /// share of the cores' FMA peak, and whether it showed them busy with another process
    /// ([`cpu_path::BUSY_SHARE`]).
    cpu_matmul: String,
    matmul_gflops_at_start: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    matmul_share_of_peak_at_start: Option<f64>,
    cores_busy_at_start: bool,
    /// The process computing the run.
    pid: u32,
    started_utc: &'a str,
    status: &'a str,
    error: Option<String>,
    wall_seconds: Option<f64>,
    /// Peak resident memory in MiB (Linux), once the run has ended.
    peak_rss_mb: Option<f64>,
    /// `run`: counted from this run's start; `ensemble`: from the start of the seed ensemble
    /// the run was trained in (all its members together); `process`: since the process started
    /// (earlier runs of a batch included) where the count cannot be reset.
    peak_rss_scope: &'static str,
    /// The seeds of the ensemble whose batched training this run shared, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    ensemble_seeds: Option<&'a [u64]>,
}

/// A run directory being computed: written `running` on open, marked on close.
struct OpenRun {
    run_dir: PathBuf,
    meta_path: PathBuf,
    started: String,
    commit: Option<String>,
    config_path: PathBuf,
    device: Device,
    rss_scope: &'static str,
    ensemble_seeds: Option<Vec<u64>>,
    start_rate: cpu_path::StartRate,
    start: Instant,
}

impl OpenRun {
    fn meta(&self, status: &'static str, error: Option<String>, wall: Option<f64>) -> Meta<'_> {
        Meta {
            peak_rss_mb: wall
                .and(runs::peak_rss_bytes())
                .map(|b| b as f64 / (1024.0 * 1024.0)),
            peak_rss_scope: self.rss_scope,
            hnn_version: env!("CARGO_PKG_VERSION"),
            code_hash: env!("HNN_CODE_HASH"),
            libtorch: env!("HNN_LIBTORCH_VERSION"),
            git_commit: self.commit.clone(),
            config_path: &self.config_path,
            device: format!("{:?}", self.device),
            torch_threads: tch::get_num_threads(),
            rayon_threads: rayon::current_num_threads(),
            cpu_matmul: cpu_path::name(),
            matmul_gflops_at_start: self.start_rate.gflops,
            matmul_share_of_peak_at_start: self.start_rate.share_of_peak,
            cores_busy_at_start: self.start_rate.cores_busy,
            pid: std::process::id(),
            started_utc: &self.started,
            status,
            error,
            wall_seconds: wall,
            ensemble_seeds: self.ensemble_seeds.as_deref(),
        }
    }

    /// Creates the run directory with its config and a `running` meta, registered for the
    /// signal handler. `rss_scope`: see [`Meta::peak_rss_scope`] (the caller resets the count).
    fn open(
        exp: &Experiment,
        opts: &RunOptions,
        rss_scope: &'static str,
        ensemble_seeds: Option<Vec<u64>>,
    ) -> Result<Self> {
        let cfg = &exp.config;
        let root = opts
            .output_dir
            .clone()
            .unwrap_or_else(|| cfg.experiment.output_dir.clone());
        let key = runs::config_key(&cfg.to_toml());
        let run_dir = create_run_dir(&root, &cfg.experiment.name, cfg.experiment.seed, &key)?;
        write_file(&run_dir.join("config.toml"), cfg.to_toml().as_bytes())?;
        if let Some(hook) = &opts.on_run_dir {
            hook(&run_dir).map_err(io_err("cannot open the log file in", &run_dir))?;
        }
        if cfg.experiment.threads > 0 {
            tch::set_num_threads(cfg.experiment.threads as i32);
        }
        let open = OpenRun {
            meta_path: run_dir.join("meta.json"),
            run_dir,
            started: utc_iso(),
            commit: git_commit(),
            config_path: exp.path.clone(),
            device: exp.device,
            rss_scope,
            ensemble_seeds,
            start_rate: cpu_path::log_at_start(),
            start: Instant::now(),
        };
        let running =
            serde_json::to_value(open.meta("running", None, None)).expect("meta serialises");
        runs::write_meta_reserved(
            &open.meta_path,
            &serde_json::to_vec_pretty(&running).expect("meta serialises"),
        )?;
        runs::set_current(&open.meta_path, running);
        tracing::info!(run_dir = %open.run_dir.display(), device = ?exp.device, seed = cfg.experiment.seed, "run started");
        Ok(open)
    }

    /// Writes the outcome of the stages: `summary.json` and `report.md` (atomically) and the
    /// final `meta.json` status, with the signal handler held off.
    fn close(self, stages: Result<RunSummary>) -> Result<RunSummary> {
        let wall = self.start.elapsed().as_secs_f64();
        let run_dir = self.run_dir.clone();
        let meta_path = self.meta_path.clone();
        runs::finish_current(&meta_path, || {
            let result = stages.and_then(|mut summary| {
                summary.timings.total = wall;
                runs::write_atomic(
                    &run_dir.join("summary.json"),
                    &serde_json::to_vec_pretty(&summary).expect("summary serialises"),
                )?;
                runs::write_atomic(
                    &run_dir.join("report.md"),
                    table::report(&summary).as_bytes(),
                )?;
                Ok(summary)
            });
            let (status, note) = match &result {
                Ok(summary) => {
                    let diverged: Vec<String> = summary
                        .models
                        .iter()
                        .filter_map(|m| m.diverged.as_ref().map(|d| format!("{}: {d}", m.name)))
                        .collect();
                    if diverged.is_empty() {
                        ("ok", None)
                    } else {
                        ("diverged", Some(diverged.join("; ")))
                    }
                }
                Err(e) => {
                    tracing::error!(run_dir = %run_dir.display(), "run failed: {e}");
                    ("failed", Some(e.to_string()))
                }
            };
            let written = runs::write_meta(
                &meta_path,
                &serde_json::to_vec_pretty(&self.meta(status, note, Some(wall)))
                    .expect("meta serialises"),
            );
            match (result, written) {
                (Ok(summary), Ok(())) => Ok(summary),
                (Ok(_), Err(e)) => {
                    // the run is done but cannot be marked so: say it, and leave it unreused
                    let _ = std::fs::remove_file(run_dir.join("summary.json"));
                    Err(e)
                }
                (Err(e), _) => Err(e),
            }
        })
    }
}

/// Runs `f`, turning a panic into [`BenchError::Panic`].
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(BenchError::panic(runs::panic_message(payload.as_ref()))))
}

/// Runs one experiment end to end. The experiment must come from [`config::load`] (checked).
///
/// Whatever happens after the run directory exists, `meta.json` ends up saying it: `ok` or
/// `diverged` with `summary.json` and `report.md` in place (each written atomically), `failed`
/// with the error (a panic included), or `interrupted` (by the signal handler of
/// [`runs::install_signal_handlers`]).
pub fn run_experiment(exp: &Experiment, opts: &RunOptions) -> Result<RunSummary> {
    let scope = if runs::reset_peak_rss() {
        "run"
    } else {
        "process"
    };
    let run = OpenRun::open(exp, opts, scope, None)?;
    let stages = guarded(|| run_stages(exp, &run.run_dir, opts));
    run.close(stages)
}

/// Runs the seeds `exps` of one config (identical but for `experiment.seed`) with every model
/// that can be batched trained as one seed ensemble ([`hnn_models::ensemble`]): member `k`
/// starts from the weights and draws the minibatches of its single run, and everything else
/// (data, checkpoints, evaluation, plots, the run directory) is per seed as in
/// [`run_experiment`]. Models that cannot be batched train one seed after the other, and the
/// log says so. A failure or panic of one seed's stage fails that run only; one inside the
/// shared training fails the runs that shared it.
///
/// Returns one result per experiment, in order.
pub fn run_ensemble(exps: &[Experiment], opts: &RunOptions) -> Vec<Result<RunSummary>> {
    let seeds: Vec<u64> = exps.iter().map(|e| e.config.experiment.seed).collect();
    let scope = if runs::reset_peak_rss() {
        "ensemble"
    } else {
        "process"
    };
    let mut results: Vec<Option<Result<RunSummary>>> = (0..exps.len()).map(|_| None).collect();
    // open every run, then its data stage
    let mut live: Vec<(usize, OpenRun, RunState)> = Vec::new();
    for (i, exp) in exps.iter().enumerate() {
        let run = match OpenRun::open(exp, opts, scope, Some(seeds.clone())) {
            Ok(r) => r,
            Err(e) => {
                results[i] = Some(Err(e));
                continue;
            }
        };
        match guarded(|| RunState::prepare(exp, &run.run_dir)) {
            Ok(state) => live.push((i, run, state)),
            Err(e) => results[i] = Some(run.close(Err(e))),
        }
    }
    let models = exps
        .first()
        .map(|e| e.config.train.models.clone())
        .unwrap_or_default();
    for name in &models {
        // every live run's model, built as its single run builds it
        let mut built = Vec::new();
        let mut still = Vec::new();
        for (i, run, state) in live {
            let exp = &exps[i];
            let made = guarded(|| {
                let mut vs = nn::VarStore::new(Device::Cpu);
                let learner = state.task.learner(name, &mut vs, exp, exp.device)?;
                Ok((vs, learner))
            });
            match made {
                Ok(m) => {
                    built.push(m);
                    still.push((i, run, state));
                }
                Err(e) => {
                    drop(state);
                    results[i] = Some(run.close(Err(e)));
                }
            }
        }
        live = still;
        if live.is_empty() {
            break;
        }
        let shared = guarded(|| train_members(name, exps, &mut live, built, opts));
        if let Err(e) = shared {
            let message = e.to_string();
            for (i, run, _) in live.drain(..) {
                results[i] = Some(run.close(Err(BenchError::panic(format!(
                    "the seed ensemble's training of {name} failed: {message}"
                )))));
            }
            break;
        }
        // a member whose bookkeeping failed is closed with its error
        let mut still = Vec::new();
        for (i, run, mut state) in live {
            match state.failed.take() {
                Some(e) => results[i] = Some(run.close(Err(e))),
                None => still.push((i, run, state)),
            }
        }
        live = still;
    }
    for (i, run, state) in live {
        let exp = &exps[i];
        let stages = guarded(|| state.finish(exp, &run.run_dir, opts));
        results[i] = Some(run.close(stages));
    }
    results
        .into_iter()
        .map(|r| r.expect("every run has a result"))
        .collect()
}

/// Trains model `name` of every live run: as one batched ensemble where the family and the
/// data allow it, else one run after the other. `built[k]` is run `k`'s store and learner.
fn train_members(
    name: &str,
    exps: &[Experiment],
    live: &mut [(usize, OpenRun, RunState)],
    built: Vec<(nn::VarStore, Box<dyn tasks::Learner>)>,
    opts: &RunOptions,
) -> Result<()> {
    let exp = &exps[live[0].0];
    let cfg = &exp.config;
    let k = live.len();
    let batchable = hnn_models::model_info(name).is_some_and(|m| m.ensemble.is_some());
    let data: Option<Vec<&train::TrainData>> = built.iter().map(|(_, l)| l.state_data()).collect();
    let stacked_data = data
        .as_deref()
        .filter(|_| k >= 2 && batchable)
        .and_then(ensemble::EnsembleData::stack);
    let Some(data) = stacked_data else {
        if k >= 2 {
            let why = if !batchable {
                "its family has no batched form"
            } else {
                "its objective is not the state loss, or the seeds' data differ in shape"
            };
            tracing::warn!(
                model = name,
                "{name} cannot be trained as a seed ensemble ({why}); training its {k} seeds one after the other"
            );
        }
        for ((i, _, state), (vs, learner)) in live.iter_mut().zip(built) {
            if let Err(e) = guarded(|| state.train_single(&exps[*i], name, vs, learner, opts)) {
                state.failed = Some(e);
            }
        }
        return Ok(());
    };
    let seeds: Vec<u64> = live.iter().map(|(_, _, s)| s.seed).collect();
    let device = exp.device;
    let vs = nn::VarStore::new(device);
    let stores: Vec<&nn::VarStore> = built.iter().map(|(v, _)| v).collect();
    let stacked = hnn_models::ensemble::stack_members(&stores, &vs)?;
    let model = hnn_models::ensemble::build_ensemble(name, &stacked, &cfg.model.spec())
        .expect("the family is batchable")?;
    tracing::info!(
        model = name,
        members = k,
        "training {name} for seeds {seeds:?} as one batched network"
    );
    let pb = progress_bar(
        opts,
        cfg.train.steps as u64,
        &format!("{name} x{k}"),
        "steps",
    );
    let objective = ensemble::EnsembleObjective {
        model: model.as_ref(),
        data: &data,
        stacked: &stacked,
        stores: &stores,
    };
    let trained = train::train(&objective, &vs, &cfg.train, &seeds, &pb, |m, row| {
        let state = &mut live[m].2;
        pb.suspend(|| log_row(name, state.seed, row));
        if m == 0 {
            pb.set_message(format!("seed {}: {}", state.seed, loss_message(row)));
        }
        state.write_metrics(name, row);
    })?;
    pb.finish_and_clear();
    drop(model);
    drop(vs);
    for (((i, _, state), (vs, learner)), m) in live.iter_mut().zip(built).zip(trained.members) {
        let recorded = guarded(|| {
            let outcome = train::TrainOutcome::of(m, learner.final_stats(), trained.seconds, k);
            state.record(&exps[*i], name, vs, learner, outcome)
        });
        if let Err(e) = recorded {
            state.failed = Some(e);
        }
    }
    Ok(())
}

/// A model whose test loss is above this fraction of a trivial field's has learned next to
/// nothing of the field (under 5% of what the trivial field leaves).
const DEGENERATE_FRACTION: f64 = 0.95;

/// Why a trained model is degenerate: its test loss within 5% of the better trivial field's
/// (zero, or the training targets' mean), or above. An HNN whose learned energy is constant to
/// rounding has the zero field, so it is caught here; [`constant_energy`] catches the models
/// whose other parts carry the field.
fn degenerate(outcome: &train::TrainOutcome, learner: &dyn tasks::Learner) -> Option<String> {
    if outcome.diverged.is_some() {
        return None;
    }
    degenerate_reason(outcome.test.mean, learner.trivial_field_test_loss()?)
}

/// Why an evaluated model is degenerate after evaluation: every trajectory of one of its
/// protocols failed, so it has no rollout at all to be judged by (its scores are empty, not
/// good).
fn every_rollout_failed(
    name: &str,
    energy: &BTreeMap<String, eval::ProtocolOutcome>,
) -> Option<String> {
    energy.iter().find_map(|(protocol, outcome)| {
        let e = outcome.models.get(name)?;
        let n = outcome.model_horizons.len();
        (n > 0 && e.failed.len() >= n).then(|| {
            let first = e
                .failed
                .first()
                .map_or(String::new(), |f| format!(" (the first: {})", f.reason));
            format!("every one of the {n} {protocol} rollouts failed{first}")
        })
    })
}

/// [`degenerate`] on the numbers: a test loss not below [`DEGENERATE_FRACTION`] of the trivial
/// fields' (a NaN loss included).
fn degenerate_reason(test: f64, trivial: f64) -> Option<String> {
    let learned = test.is_finite() && test < DEGENERATE_FRACTION * trivial;
    (!learned).then(|| {
        format!("test loss {test:.4e} against {trivial:.4e} for a constant field (zero or the training mean)")
    })
}

/// A model's own counts ([`hnn_models::DynamicsModel::diagnostics`]) so far, each logged; a
/// warning when a count of trouble (a name ending in `ill_conditioned`) is not zero.
fn diagnostics(name: &str, seed: u64, model: &dyn DynamicsModel) -> BTreeMap<String, u64> {
    let counts = model.diagnostics();
    for (key, n) in &counts {
        if key.ends_with("ill_conditioned") && *n > 0 {
            tracing::warn!(
                model = name,
                seed,
                "{key} = {n}: the model's mass matrix was singular or ill-conditioned there, so its accelerations are unreliable"
            );
        }
    }
    counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// A number for `metrics.jsonl`: JSON has no NaN or infinity, so those are `null` (what
/// pandas and `json.loads` read as missing or NaN, keeping the column numeric).
pub fn json_number(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(x)
    } else {
        serde_json::Value::Null
    }
}

/// A bar of `len` `unit`s (steps, rollouts) labelled `label`, with the rate in whole units
/// per second (one decimal below 10) and the time left.
fn progress_bar(opts: &RunOptions, len: u64, label: &str, unit: &'static str) -> ProgressBar {
    if !opts.progress {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{{prefix:>9}} [{{bar:36}}] {{pos}}/{{len}} {unit}  {{rate}}  eta {{eta}}  {{msg}}"
        ))
        .expect("valid template")
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate_text(s.per_sec()));
            },
        )
        .progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    pb
}

/// `1234/s`, `18/s`, `2.5/s`, `0.3/s`: whole numbers from 10 up; `—/s` before the first.
fn rate_text(per_sec: f64) -> String {
    if !(per_sec.is_finite() && per_sec > 0.0) {
        "—/s".into()
    } else if per_sec >= 10.0 {
        format!("{per_sec:.0}/s")
    } else {
        format!("{per_sec:.1}/s")
    }
}

/// The training bar's message: the last logged losses.
fn loss_message(row: &LogRow) -> String {
    format!("train {:.3e}  test {:.3e}", row.train_loss, row.test_loss)
}

fn run_stages(exp: &Experiment, run_dir: &Path, opts: &RunOptions) -> Result<RunSummary> {
    let mut state = RunState::prepare(exp, run_dir)?;
    // 2. training, one model after the other, each from the same seed
    for name in &exp.config.train.models {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let learner = state.task.learner(name, &mut vs, exp, exp.device)?;
        state.train_single(exp, name, vs, learner, opts)?;
    }
    state.finish(exp, run_dir, opts)
}

/// Logs a training row.
fn log_row(name: &str, seed: u64, row: &LogRow) {
    tracing::info!(
        model = name,
        seed,
        step = row.step,
        train_loss = format_args!("{:.4e}", row.train_loss),
        test_loss = format_args!("{:.4e}", row.test_loss)
    )
}

/// A run between its stages: its task and data, and what training has produced so far.
struct RunState {
    seed: u64,
    task: Box<dyn tasks::Task>,
    timings: Timings,
    ckpt_dir: PathBuf,
    metrics_path: PathBuf,
    metrics: std::fs::File,
    /// The first failed write to `metrics.jsonl`, reported when the model is recorded.
    metrics_err: Option<std::io::Error>,
    trained: Vec<(String, nn::VarStore, Box<dyn tasks::Learner>)>,
    models: Vec<ModelSummary>,
    histories: Vec<(String, Vec<LogRow>)>,
    /// Set when recording a model of an ensemble member failed.
    failed: Option<BenchError>,
}

impl RunState {
    /// Stage 1: the data, written into the run directory.
    fn prepare(exp: &Experiment, run_dir: &Path) -> Result<Self> {
        let t = Instant::now();
        let task = exp.source.build(exp)?;
        let mut timings = Timings {
            data: t.elapsed().as_secs_f64(),
            ..Timings::default()
        };
        task.write_data(&run_dir.join("data"))?;
        let (n_train, n_test) = task.sizes();
        tracing::info!(
            task = task.name(),
            seed = exp.config.experiment.seed,
            train = n_train,
            test = n_test,
            seconds = format_args!("{:.3}", timings.data),
            "data ready"
        );
        timings.train.clear();
        let ckpt_dir = run_dir.join("checkpoints");
        std::fs::create_dir_all(&ckpt_dir).map_err(io_err("cannot create", &ckpt_dir))?;
        let metrics_path = run_dir.join("metrics.jsonl");
        let metrics =
            std::fs::File::create(&metrics_path).map_err(io_err("cannot create", &metrics_path))?;
        Ok(Self {
            seed: exp.config.experiment.seed,
            task,
            timings,
            ckpt_dir,
            metrics_path,
            metrics,
            metrics_err: None,
            trained: Vec::new(),
            models: Vec::new(),
            histories: Vec::new(),
            failed: None,
        })
    }

    /// One line of `metrics.jsonl`: the logged step of model `name`, every loss part.
    fn write_metrics(&mut self, name: &str, row: &LogRow) {
        let parts = |v: &[(String, f64)]| {
            v.iter()
                .map(|(k, x)| (k.clone(), json_number(*x)))
                .collect::<serde_json::Map<_, _>>()
        };
        let line = serde_json::json!({
            "model": name, "step": row.step,
            "train_loss": json_number(row.train_loss),
            "test_loss": json_number(row.test_loss),
            "learning_rate": json_number(row.learning_rate),
            "seconds": json_number(row.seconds),
            "train": parts(&row.train_parts), "test": parts(&row.test_parts),
        });
        if let Err(e) = writeln!(self.metrics, "{line}") {
            self.metrics_err.get_or_insert(e);
        }
    }

    /// Stage 2 for one model alone: trains it, then [`RunState::record`]s it.
    fn train_single(
        &mut self,
        exp: &Experiment,
        name: &str,
        vs: nn::VarStore,
        learner: Box<dyn tasks::Learner>,
        opts: &RunOptions,
    ) -> Result<()> {
        let cfg = &exp.config;
        let pb = progress_bar(opts, cfg.train.steps as u64, name, "steps");
        let seed = self.seed;
        let trained = train::train(learner.as_ref(), &vs, &cfg.train, &[seed], &pb, |_, row| {
            pb.suspend(|| log_row(name, seed, row));
            pb.set_message(loss_message(row));
            self.write_metrics(name, row);
        })?;
        pb.finish_and_clear();
        let member = trained.members.into_iter().next().expect("one member");
        let outcome = train::TrainOutcome::of(member, learner.final_stats(), trained.seconds, 1);
        self.record(exp, name, vs, learner, outcome)
    }

    /// A trained model: its checkpoint, its summary and loss curve, and (unless it diverged)
    /// its place among the models to evaluate.
    fn record(
        &mut self,
        exp: &Experiment,
        name: &str,
        vs: nn::VarStore,
        learner: Box<dyn tasks::Learner>,
        outcome: train::TrainOutcome,
    ) -> Result<()> {
        if let Some(e) = self.metrics_err.take() {
            return Err(io_err("cannot write", &self.metrics_path)(e));
        }
        let train_cfg = &exp.config.train;
        let ckpt = self.ckpt_dir.join(format!("{name}.safetensors"));
        save_checkpoint(
            &vs,
            &ckpt,
            &export::checkpoint_metadata(exp, self.task.as_ref(), name, &vs)?,
        )?;
        if let Some(d) = &outcome.diverged {
            tracing::error!(
                model = name,
                seed = self.seed,
                "{d}: training stopped; the model is left out of evaluation (train.divergence_factor = {})",
                train_cfg.divergence_factor
            );
        }
        let probe = outcome.diverged.is_none().then(|| learner.probe());
        let learned = probe
            .as_ref()
            .and_then(|(x, _)| learned_energy(learner.field(), x));
        let degenerate = degenerate(&outcome, learner.as_ref())
            .or_else(|| learned.as_deref().and_then(constant_energy));
        if let Some(why) = &degenerate {
            tracing::warn!(
                model = name,
                seed = self.seed,
                "degenerate: {why}; it is marked so and left out of every ratio"
            );
        }
        let dissipative_ratio = probe
            .as_ref()
            .and_then(|(x, _)| eval::dissipative_ratio(learner.field(), x));
        tracing::info!(
            model = name,
            seed = self.seed,
            train_loss = format_args!("{:.4e} ± {:.1e}", outcome.train.mean, outcome.train.se),
            test_loss = format_args!("{:.4e} ± {:.1e}", outcome.test.mean, outcome.test.se),
            seconds = format_args!("{:.2}", outcome.seconds),
            dissipative_ratio,
            "trained"
        );
        self.timings.train.insert(name.to_string(), outcome.seconds);
        self.models.push(ModelSummary {
            name: name.to_string(),
            train_loss: outcome.train,
            test_loss: outcome.test,
            train_seconds: outcome.seconds,
            steps_per_second: outcome.steps_per_second,
            checkpoint: ckpt,
            dissipative_ratio,
            diverged: outcome.diverged.clone(),
            energy_fit: probe
                .as_ref()
                .zip(learned.as_deref())
                .and_then(|((_, states), h)| energy_fit(self.task.as_ref(), states, h)),
            diagnostics: diagnostics(name, self.seed, learner.field()),
            degenerate,
        });
        self.histories.push((name.to_string(), outcome.history));
        if outcome.diverged.is_none() {
            self.trained.push((name.to_string(), vs, learner));
        }
        Ok(())
    }

    /// Stages 3 and 4: evaluation of the trained models and the plots.
    fn finish(self, exp: &Experiment, run_dir: &Path, opts: &RunOptions) -> Result<RunSummary> {
        let RunState {
            task,
            mut timings,
            trained,
            models,
            histories,
            seed,
            ..
        } = self;
        let cfg = &exp.config;
        let device = exp.device;
        // 3. evaluation
        let t = Instant::now();
        let budget = cfg.eval.budget();
        let mut energy = BTreeMap::new();
        let mut protocol_rollouts = Vec::new();
        for (name, p, budget) in [
            ("paper", &cfg.eval.paper, budget),
            ("corrected", &cfg.eval.corrected, budget),
            // ten training horizons: ten times the steps and seconds per solve
            (
                "long",
                &cfg.eval.long,
                budget.scaled(config::LONG_HORIZON_FACTOR),
            ),
        ] {
            if !p.enabled {
                continue;
            }
            let truth = task.protocol(name, p, seed, budget)?;
            let embeddings: Vec<_> = trained.iter().map(|(_, _, l)| l.embedding(name)).collect();
            let evaluated = eval_models(&trained, &embeddings, &models);
            let total = truth.trajectories.len() * evaluated.len();
            tracing::info!(
                protocol = name,
                trajectories = truth.trajectories.len(),
                models = evaluated.len(),
                "rolling out"
            );
            let pb = progress_bar(opts, total as u64, name, "rollouts");
            let (outcome, rollouts) = eval::run_protocol_observed(
                name,
                p,
                &truth,
                &evaluated,
                device,
                budget,
                &mut |model, n| {
                    pb.inc(n as u64);
                    pb.set_message(format!("{model} done"));
                },
            );
            pb.finish_and_clear();
            for (model, e) in &outcome.models {
                if let Some(mse) = e.energy_mse {
                    tracing::info!(
                        protocol = name,
                        model = model.as_str(),
                        energy_mse = format_args!("{:.4e} ± {:.1e}", mse.mean, mse.se),
                        failed = e.failed.len(),
                        "energy MSE"
                    );
                }
            }
            energy.insert(name.to_string(), outcome);
            protocol_rollouts.push((name, rollouts));
        }
        let figure_truth = task.figure(&cfg.eval.figure, seed, budget)?;
        let parts = task.energy_parts();
        let embeddings: Vec<_> = trained
            .iter()
            .map(|(_, _, l)| l.embedding("figure"))
            .collect();
        let figure = eval::figure_rollout(
            &cfg.eval.figure,
            &figure_truth,
            parts.as_ref(),
            &eval_models(&trained, &embeddings, &models),
            device,
            budget,
        );
        timings.eval = t.elapsed().as_secs_f64();
        tracing::info!(
            seconds = format_args!("{:.3}", timings.eval),
            "evaluation done"
        );
        let mut models = models;
        for (name, _, learner) in &trained {
            if let Some(m) = models.iter_mut().find(|m| &m.name == name) {
                m.diagnostics = diagnostics(name, seed, learner.field());
            }
        }
        for m in models.iter_mut().filter(|m| m.degenerate.is_none()) {
            m.degenerate = every_rollout_failed(&m.name, &energy);
            if let Some(why) = &m.degenerate {
                tracing::warn!(
                    model = m.name.as_str(),
                    seed,
                    "degenerate: {why}; it is marked so and left out of every ratio"
                );
            }
        }

        write_rollouts(run_dir, &figure, &protocol_rollouts)?;

        // 4. plots
        let t = Instant::now();
        let plot_dir = run_dir.join("plots");
        std::fs::create_dir_all(&plot_dir).map_err(io_err("cannot create", &plot_dir))?;
        match task.view() {
            View::Bodies { n } => plots::orbits::draw(&plot_dir, &figure, n)?,
            View::Phase { q, p } => {
                plots::figure::draw(&plot_dir.join("figure2.png"), &figure, q, p)?
            }
            View::Frames { q, p, side } => {
                plots::figure::draw(&plot_dir.join("figure4_phase.png"), &figure, q, p)?;
                plots::frames::draw_grid(&plot_dir.join("figure4_frames.png"), &figure, side, 8)?;
                plots::frames::draw_gif(&plot_dir.join("rollouts.gif"), &figure, side)?;
                plots::frames::draw_latent(&plot_dir.join("figure4_latent.png"), &figure)?;
            }
        }
        plots::losses::draw(&plot_dir.join("loss_curves.png"), &histories)?;
        for (name, outcome) in &energy {
            plots::energy::draw(&plot_dir.join(format!("energy_{name}.png")), name, outcome)?;
        }
        for (name, rollouts) in &protocol_rollouts {
            let t: Vec<f64> = rollouts
                .t_truth
                .row(0)
                .iter()
                .map(|v| v - rollouts.t_truth[[0, 0]])
                .collect();
            if let Some(outcome) = energy.get(*name) {
                plots::rollout::draw(&plot_dir.join(format!("rollout_{name}.png")), outcome, &t)?;
            }
        }
        timings.plots = t.elapsed().as_secs_f64();

        Ok(RunSummary {
            experiment: cfg.experiment.name.clone(),
            task: task.name().to_string(),
            reference: exp.reference_key(),
            setting: exp.reference_key().and_then(|key| {
                let resolved: toml::Table = cfg.to_toml().parse().ok()?;
                published::check(&resolved, &key)
            }),
            seed,
            run_dir: run_dir.to_path_buf(),
            device: format!("{device:?}"),
            models,
            energy,
            timings,
        })
    }
}

/// The trained models as evaluation sees them, with their embeddings for one protocol.
fn eval_models<'a>(
    trained: &'a [(String, nn::VarStore, Box<dyn tasks::Learner>)],
    embeddings: &'a [Option<Box<dyn truth::Embedding + 'a>>],
    summaries: &[ModelSummary],
) -> Vec<eval::EvalModel<'a>> {
    trained
        .iter()
        .zip(embeddings)
        .map(|((n, _, l), e)| eval::EvalModel {
            name: n.as_str(),
            field: l.field(),
            embedding: e.as_deref(),
            energy_fit: summaries
                .iter()
                .find(|m| &m.name == n)
                .and_then(|m| m.energy_fit),
        })
        .collect()
}

/// A model's learned energy at the test inputs `x` (models with one).
fn learned_energy(model: &dyn DynamicsModel, x: &tch::Tensor) -> Option<Vec<f64>> {
    // in chunks of rows, like the loss statistics
    let mut learned = Vec::new();
    for (start, len) in train::row_chunks(x.size()[0], train::STATS_CHUNK) {
        learned.extend(train::tensor_f64(&model.energy(&x.narrow(0, start, len))?));
    }
    Some(learned)
}

/// The affine fit of a model's learned energy `learned` to the task's true one at the test
/// states `x_f64`.
fn energy_fit(
    task: &dyn tasks::Task,
    x_f64: &ndarray::Array2<f64>,
    learned: &[f64],
) -> Option<metrics::AffineFit> {
    let energy = task.energy()?;
    let truth: Vec<f64> = x_f64
        .rows()
        .into_iter()
        .map(|r| energy(&r.to_vec()))
        .collect();
    Some(metrics::affine_fit(&truth, learned))
}

/// A learned energy whose spread over the test inputs is within this many single-precision
/// roundings of its size is constant: its gradient, the HNN's field, is rounding noise.
const CONSTANT_ENERGY_ROUNDINGS: f64 = 16.0;

/// Why a learned energy is degenerate: constant to rounding over the test inputs (within
/// [`CONSTANT_ENERGY_ROUNDINGS`] × f32 ε of its largest magnitude). A dissipative model can
/// fit the field with its other part while its `H` stays flat; its energy error then means
/// nothing. Non-finite values are not judged here (the test loss is).
fn constant_energy(learned: &[f64]) -> Option<String> {
    if learned.len() < 2 || learned.iter().any(|h| !h.is_finite()) {
        return None;
    }
    let lo = learned.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = learned.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let scale = lo.abs().max(hi.abs());
    (hi - lo <= CONSTANT_ENERGY_ROUNDINGS * f64::from(f32::EPSILON) * scale).then(|| {
        format!(
            "its learned energy is constant to rounding over the {} test inputs ({lo:.7e} to {hi:.7e})",
            learned.len()
        )
    })
}

fn write_rollouts(
    run_dir: &Path,
    figure: &FigureRollout,
    protocols: &[(&str, ProtocolRollouts)],
) -> Result<()> {
    let dir = run_dir.join("rollouts");
    std::fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
    let (n, dim) = (figure.t.len(), figure.dim);
    write_npy(
        &dir.join("figure_t.npy"),
        &ndarray::Array1::from(figure.t.clone()),
    )?;
    for path in &figure.paths {
        let a = if path.states.len() == n * dim {
            ndarray::Array2::from_shape_vec((n, dim), path.states.clone()).expect("rollout shape")
        } else {
            ndarray::Array2::from_elem((n, dim), f64::NAN)
        };
        write_npy(&dir.join(format!("figure_{}.npy", path.name)), &a)?;
    }
    for (name, r) in protocols {
        write_npy(&dir.join(format!("{name}_t_truth.npy")), &r.t_truth)?;
        write_npy(&dir.join(format!("{name}_t_model.npy")), &r.t_model)?;
        write_npy(&dir.join(format!("{name}_truth.npy")), &r.truth)?;
        for (model, a) in &r.models {
            write_npy(&dir.join(format!("{name}_{model}.npy")), a)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_learned_energy_flat_to_rounding_is_degenerate() {
        // 16 f32 roundings of 1.0 are 1.9e-6
        assert!(constant_energy(&[1.0, 1.0 + 1e-7, 1.0 - 1e-6]).is_some());
        assert!(constant_energy(&[-13.8, -13.8, -13.8]).is_some());
        assert!(constant_energy(&[0.0, 0.0]).is_some());
        assert_eq!(constant_energy(&[1.0, 1.00001]), None);
        assert_eq!(constant_energy(&[0.0, 1e-30]), None);
        // not judged: one value, or a non-finite one
        assert_eq!(constant_energy(&[2.0]), None);
        assert_eq!(constant_energy(&[2.0, f64::NAN]), None);
        let why = constant_energy(&[3.0, 3.0]).unwrap();
        assert!(
            why.contains("constant to rounding over the 2 test inputs"),
            "{why}"
        );
    }

    #[test]
    fn a_model_whose_every_rollout_failed_is_degenerate() {
        let failure = |i| eval::Failure {
            trajectory: i,
            reason: "step size underflow".into(),
        };
        let protocol = |failed: Vec<eval::Failure>| eval::ProtocolOutcome {
            settings: config::ProtocolConfig::paper(),
            model_horizons: vec![1.0; 3],
            models: BTreeMap::from([(
                "hnn".to_string(),
                eval::ModelEnergy {
                    energy_mse: None,
                    per_trajectory: Vec::new(),
                    coordinate_mse: f64::NAN,
                    failed,
                    field_evaluations: 0,
                    metrics: Default::default(),
                    scores: BTreeMap::new(),
                    reversibility_error: None,
                    readout_r2: None,
                },
            )]),
            seconds: 0.0,
            metrics_seconds: 0.0,
        };
        let mut energy = BTreeMap::new();
        energy.insert("paper".to_string(), protocol(vec![failure(0), failure(2)]));
        assert_eq!(every_rollout_failed("hnn", &energy), None);
        energy.insert(
            "corrected".to_string(),
            protocol((0..3).map(failure).collect()),
        );
        let why = every_rollout_failed("hnn", &energy).unwrap();
        assert_eq!(
            why,
            "every one of the 3 corrected rollouts failed (the first: step size underflow)"
        );
        assert_eq!(every_rollout_failed("baseline", &energy), None);
        // a protocol with no trajectories has no failed rollouts to speak of
        let mut empty = BTreeMap::new();
        let mut none = protocol(Vec::new());
        none.model_horizons.clear();
        empty.insert("paper".to_string(), none);
        assert_eq!(every_rollout_failed("hnn", &empty), None);
    }

    /// The models that read `q̇ = V p` get the task's velocity map (the spring's `V = 1/m`)
    /// from the run's config: without it they refuse to build.
    #[test]
    fn models_that_need_the_velocity_map_are_given_it() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/smoke.toml");
        let exp = config::load(&path).unwrap();
        for name in ["lnn", "node-so"] {
            let mut vs = nn::VarStore::new(Device::Cpu);
            let built = build_model(name, &mut vs, 2, &exp, Device::Cpu);
            assert!(built.is_ok(), "{name}: {:?}", built.err());
        }
    }

    #[test]
    fn degenerate_is_within_five_percent_of_a_constant_field() {
        assert_eq!(degenerate_reason(0.5, 1.0), None);
        assert_eq!(degenerate_reason(0.949, 1.0), None);
        let why = degenerate_reason(0.95, 1.0).unwrap();
        assert!(
            why.starts_with("test loss 9.5000e-1 against 1.0000e0"),
            "{why}"
        );
        assert!(degenerate_reason(2.0, 1.0).is_some());
        assert!(degenerate_reason(f64::NAN, 1.0).is_some());
        assert!(degenerate_reason(f64::INFINITY, 1.0).is_some());
        // 0.95 x 2 = 1.9: 1.5 learned something of a field twice as large
        assert_eq!(degenerate_reason(1.5, 2.0), None);
    }

    #[test]
    fn rates_read_as_whole_units_from_ten() {
        assert_eq!(rate_text(18.8723), "19/s");
        assert_eq!(rate_text(1234.4), "1234/s");
        assert_eq!(rate_text(2.54), "2.5/s");
        assert_eq!(rate_text(0.0), "—/s");
        assert_eq!(rate_text(f64::NAN), "—/s");
    }

    /// Non-finite numbers are JSON's `null`, finite ones themselves; times are ISO 8601 and
    /// run folders keep their compact stamp.
    #[test]
    fn metrics_numbers_and_times() {
        assert_eq!(json_number(1.5), serde_json::json!(1.5));
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(json_number(x).is_null());
        }
        let iso = utc_iso();
        let b = iso.as_bytes();
        assert_eq!(iso.len(), 20, "{iso}");
        assert!(b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[19] == b'Z');
        assert_eq!(utc_stamp().len(), 15);
    }
}
