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
pub mod edit;
pub mod error;
pub mod eval;
pub mod metrics;
pub mod pixels;
pub mod plots;
pub mod reference;
pub mod render;
pub mod runs;
pub mod speed;
pub mod summary;
pub mod table;
pub mod task;
#[cfg(test)]
mod testing;
pub mod train;

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
use crate::task::View;
use crate::train::LogRow;

/// Called with the new run directory before any stage runs.
pub type RunDirHook = Box<dyn Fn(&Path) -> std::io::Result<()>>;

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
    tch::manual_seed(exp.config.experiment.seed as i64);
    let model = hnn_models::build_model(name, &vs.root(), dim, &exp.config.model.spec())?;
    vs.set_device(device);
    Ok(model)
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
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Creates a new, empty run directory; never reuses an existing one.
pub fn create_run_dir(root: &Path, name: &str, seed: u64) -> Result<PathBuf> {
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
            Ok(()) => return Ok(dir),
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
    libtorch: &'static str,
    git_commit: Option<String>,
    config_path: &'a Path,
    device: String,
    torch_threads: i32,
    rayon_threads: usize,
    /// The process computing the run.
    pid: u32,
    started_utc: &'a str,
    status: &'a str,
    error: Option<String>,
    wall_seconds: Option<f64>,
    /// Peak resident memory in MiB (Linux), once the run has ended.
    peak_rss_mb: Option<f64>,
    /// `run`: counted from this run's start; `process`: since the process started (earlier
    /// runs of a batch included) where the count cannot be reset.
    peak_rss_scope: &'static str,
}

/// Runs one experiment end to end. The experiment must come from [`config::load`] (checked).
///
/// Whatever happens after the run directory exists, `meta.json` ends up saying it: `ok` or
/// `diverged` with `summary.json` and `report.md` in place (each written atomically), `failed`
/// with the error (a panic included), or `interrupted` (by the signal handler of
/// [`runs::install_signal_handlers`]).
pub fn run_experiment(exp: &Experiment, opts: &RunOptions) -> Result<RunSummary> {
    let cfg = &exp.config;
    let device = exp.device;
    let root = opts
        .output_dir
        .clone()
        .unwrap_or_else(|| cfg.experiment.output_dir.clone());
    let run_dir = create_run_dir(&root, &cfg.experiment.name, cfg.experiment.seed)?;
    write_file(&run_dir.join("config.toml"), cfg.to_toml().as_bytes())?;
    if let Some(hook) = &opts.on_run_dir {
        hook(&run_dir).map_err(io_err("cannot open the log file in", &run_dir))?;
    }
    if cfg.experiment.threads > 0 {
        tch::set_num_threads(cfg.experiment.threads as i32);
    }
    let started = utc_stamp();
    let commit = git_commit();
    let config_path = exp.path.as_path();
    let peak_is_per_run = runs::reset_peak_rss();
    let meta = |status: &'static str, error: Option<String>, wall: Option<f64>| Meta {
        peak_rss_mb: wall
            .and(runs::peak_rss_bytes())
            .map(|b| b as f64 / (1024.0 * 1024.0)),
        peak_rss_scope: if peak_is_per_run { "run" } else { "process" },
        hnn_version: env!("CARGO_PKG_VERSION"),
        libtorch: env!("HNN_LIBTORCH_VERSION"),
        git_commit: commit.clone(),
        config_path,
        device: format!("{device:?}"),
        torch_threads: tch::get_num_threads(),
        rayon_threads: rayon::current_num_threads(),
        pid: std::process::id(),
        started_utc: &started,
        status,
        error,
        wall_seconds: wall,
    };
    let meta_path = run_dir.join("meta.json");
    let running = serde_json::to_value(meta("running", None, None)).expect("meta serialises");
    runs::write_atomic(
        &meta_path,
        &serde_json::to_vec_pretty(&running).expect("meta serialises"),
    )?;
    runs::set_current(&meta_path, running);
    tracing::info!(run_dir = %run_dir.display(), device = ?device, "run started");

    let start = Instant::now();
    let stages = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_stages(exp, &run_dir, opts)
    }))
    .unwrap_or_else(|payload| Err(BenchError::panic(runs::panic_message(payload.as_ref()))));
    let wall = start.elapsed().as_secs_f64();
    runs::finish_current(|| {
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
                tracing::error!("run failed: {e}");
                ("failed", Some(e.to_string()))
            }
        };
        let written = runs::write_atomic(
            &meta_path,
            &serde_json::to_vec_pretty(&meta(status, note, Some(wall))).expect("meta serialises"),
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

/// A number for `metrics.jsonl`: JSON has no NaN or infinity, and `null` would not say which,
/// so those are written as the strings `"NaN"`, `"inf"` and `"-inf"`.
pub fn json_number(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!(x)
    } else if x.is_nan() {
        "NaN".into()
    } else if x > 0.0 {
        "inf".into()
    } else {
        "-inf".into()
    }
}

fn progress_bar(opts: &RunOptions, len: u64, label: &str) -> ProgressBar {
    if !opts.progress {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{prefix:>9} [{bar:36}] {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_prefix(label.to_string());
    pb
}

fn run_stages(exp: &Experiment, run_dir: &Path, opts: &RunOptions) -> Result<RunSummary> {
    let cfg = &exp.config;
    let seed = cfg.experiment.seed;
    let device = exp.device;
    let mut timings = Timings::default();

    // 1. data
    let t = Instant::now();
    let task = task::build(exp)?;
    timings.data = t.elapsed().as_secs_f64();
    task.write_data(&run_dir.join("data"))?;
    let (n_train, n_test) = task.sizes();
    tracing::info!(
        task = task.name(),
        train = n_train,
        test = n_test,
        seconds = format_args!("{:.3}", timings.data),
        "data ready"
    );

    // 2. training, one model after the other, each from the same seed
    let ckpt_dir = run_dir.join("checkpoints");
    std::fs::create_dir_all(&ckpt_dir).map_err(io_err("cannot create", &ckpt_dir))?;
    let metrics_path = run_dir.join("metrics.jsonl");
    let mut metrics =
        std::fs::File::create(&metrics_path).map_err(io_err("cannot create", &metrics_path))?;
    let mut trained: Vec<(String, nn::VarStore, Box<dyn task::Learner>)> = Vec::new();
    let mut models = Vec::new();
    let mut histories: Vec<(String, Vec<LogRow>)> = Vec::new();
    for name in &cfg.train.models {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let learner = task.learner(name, &mut vs, exp, device)?;
        let pb = progress_bar(opts, cfg.train.steps as u64, name);
        let mut write_err = None;
        let outcome = train::train(learner.as_ref(), &vs, &cfg.train, seed, &pb, |row| {
            pb.suspend(|| {
                tracing::info!(
                    model = name.as_str(),
                    step = row.step,
                    train_loss = format_args!("{:.4e}", row.train_loss),
                    test_loss = format_args!("{:.4e}", row.test_loss)
                )
            });
            let parts = |v: &[(String, f64)]| {
                v.iter()
                    .map(|(k, x)| (k.clone(), json_number(*x)))
                    .collect::<serde_json::Map<_, _>>()
            };
            let line = serde_json::json!({
                "model": name, "step": row.step,
                "train_loss": json_number(row.train_loss),
                "test_loss": json_number(row.test_loss),
                "train": parts(&row.train_parts), "test": parts(&row.test_parts),
            });
            if let Err(e) = writeln!(metrics, "{line}") {
                write_err.get_or_insert(e);
            }
        })
        .map_err(|e| hnn_models::ModelError::Config {
            key: "train",
            reason: e.to_string(),
        })?;
        pb.finish_and_clear();
        if let Some(e) = write_err {
            return Err(io_err("cannot write", &metrics_path)(e));
        }
        let ckpt = ckpt_dir.join(format!("{name}.safetensors"));
        save_checkpoint(&vs, &ckpt)?;
        if let Some(d) = &outcome.diverged {
            tracing::error!(
                model = name.as_str(),
                "{d}: training stopped; the model is left out of evaluation (train.divergence_factor = {})",
                cfg.train.divergence_factor
            );
        }
        let probe = outcome.diverged.is_none().then(|| learner.probe());
        let dissipative_ratio = probe
            .as_ref()
            .and_then(|(x, _)| eval::dissipative_ratio(learner.field(), x));
        tracing::info!(
            model = name.as_str(),
            train_loss = format_args!("{:.4e} ± {:.1e}", outcome.train.mean, outcome.train.se),
            test_loss = format_args!("{:.4e} ± {:.1e}", outcome.test.mean, outcome.test.se),
            seconds = format_args!("{:.2}", outcome.seconds),
            dissipative_ratio,
            "trained"
        );
        timings.train.insert(name.clone(), outcome.seconds);
        models.push(ModelSummary {
            name: name.clone(),
            train_loss: outcome.train,
            test_loss: outcome.test,
            train_seconds: outcome.seconds,
            steps_per_second: outcome.steps_per_second,
            checkpoint: ckpt,
            dissipative_ratio,
            diverged: outcome.diverged.clone(),
            energy_fit: probe
                .as_ref()
                .and_then(|(x, states)| energy_fit(learner.field(), task.as_ref(), x, states)),
        });
        histories.push((name.clone(), outcome.history));
        if outcome.diverged.is_none() {
            trained.push((name.clone(), vs, learner));
        }
    }

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
        let models = eval_models(&trained, &embeddings);
        let (outcome, rollouts) = eval::run_protocol(name, p, &truth, &models, device, budget);
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
        &eval_models(&trained, &embeddings),
        device,
        budget,
    );
    timings.eval = t.elapsed().as_secs_f64();
    tracing::info!(
        seconds = format_args!("{:.3}", timings.eval),
        "evaluation done"
    );

    write_rollouts(run_dir, &figure, &protocol_rollouts)?;

    // 4. plots
    let t = Instant::now();
    let plot_dir = run_dir.join("plots");
    std::fs::create_dir_all(&plot_dir).map_err(io_err("cannot create", &plot_dir))?;
    match task.view() {
        View::Bodies { n } => plots::orbits::draw(&plot_dir, &figure, n)?,
        View::Phase { q, p } => plots::figure::draw(&plot_dir.join("figure2.png"), &figure, q, p)?,
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
        seed,
        run_dir: run_dir.to_path_buf(),
        device: format!("{device:?}"),
        models,
        energy,
        timings,
    })
}

/// The trained models as evaluation sees them, with their embeddings for one protocol.
fn eval_models<'a>(
    trained: &'a [(String, nn::VarStore, Box<dyn task::Learner>)],
    embeddings: &'a [Option<Box<dyn eval::Embedding + 'a>>],
) -> Vec<eval::EvalModel<'a>> {
    trained
        .iter()
        .zip(embeddings)
        .map(|((n, _, l), e)| eval::EvalModel {
            name: n.as_str(),
            field: l.field(),
            embedding: e.as_deref(),
        })
        .collect()
}

/// The affine fit of a model's learned energy to the task's true one on the test inputs.
fn energy_fit(
    model: &dyn DynamicsModel,
    task: &dyn task::Task,
    x: &tch::Tensor,
    x_f64: &ndarray::Array2<f64>,
) -> Option<metrics::AffineFit> {
    let learned = train::tensor_f64(&model.energy(x)?);
    let energy = task.energy()?;
    let truth: Vec<f64> = x_f64
        .rows()
        .into_iter()
        .map(|r| energy(&r.to_vec()))
        .collect();
    Some(metrics::affine_fit(&truth, &learned))
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
