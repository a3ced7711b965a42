//! Experiment orchestration for `hnn`: config -> data -> train -> evaluate -> report.
//!
//! [`run_experiment`] does one experiment end to end and writes a new run directory:
//!
//! ```text
//! <output_dir>/<name>/<UTC timestamp>-s<seed>/
//!   config.toml            the resolved config (every default filled in), written first
//!   meta.json              versions, device, threads, git commit, status, wall time
//!   log.txt                the run's log
//!   metrics.jsonl          loss curves: one line per logged step and model
//!   summary.json           final losses, energy MSE under both protocols, stage timings
//!   data/*.npy             the dataset (all trajectories, and the flattened splits)
//!   checkpoints/*.safetensors
//!   rollouts/*.npy         figure and protocol trajectories of truth and models
//!   plots/*.png            Figure-2-style row, loss curves, energy error per protocol
//! ```

pub mod cli;
pub mod config;
pub mod error;
pub mod eval;
pub mod plots;
pub mod reference;
pub mod table;
pub mod train;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use hnn_models::{Baseline, DynamicsModel, Hnn, ModelKind, resolve_device, save_checkpoint};
use hnn_physics::Hamiltonian;
use indicatif::{ProgressBar, ProgressStyle};
use ndarray_npy::WriteNpyExt;
use serde::Serialize;
use tch::{Device, Tensor, nn};

use crate::config::Config;
use crate::error::{BenchError, Result};
use crate::eval::{FigureRollout, ModelField, ProtocolOutcome, ProtocolRollouts};
use crate::train::{LossStats, TrainData, TrainOutcome};

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

/// Results of one model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    pub train_loss: LossStats,
    pub test_loss: LossStats,
    pub train_seconds: f64,
    pub steps_per_second: f64,
    pub checkpoint: PathBuf,
}

/// Wall time of each stage, in seconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub data: f64,
    pub train: BTreeMap<&'static str, f64>,
    /// Both energy protocols and the figure rollout.
    pub eval: f64,
    pub plots: f64,
    pub total: f64,
}

/// What `summary.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub experiment: String,
    pub system: String,
    pub seed: u64,
    pub run_dir: PathBuf,
    pub device: String,
    pub models: BTreeMap<&'static str, ModelSummary>,
    pub energy: BTreeMap<&'static str, ProtocolOutcome>,
    pub timings: Timings,
    pub paper: Option<reference::PaperRow>,
    pub official_cost_seconds: Option<reference::OfficialCost>,
}

/// Builds one model on `vs` under the path named after its kind.
pub fn build_model(
    kind: ModelKind,
    vs: &nn::VarStore,
    dim: i64,
    cfg: &Config,
) -> Result<Box<dyn DynamicsModel>> {
    let p = vs.root() / kind.as_str();
    Ok(match kind {
        ModelKind::Baseline => Box::new(Baseline::new(&p, dim, &cfg.model.mlp())?),
        ModelKind::Hnn => Box::new(Hnn::new(&p, dim, &cfg.model.mlp(), cfg.model.hnn_gradient)?),
    })
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BenchError + use<> {
    let path = path.to_path_buf();
    move |source| BenchError::Io { what, path, source }
}

fn write_file(path: &Path, contents: &[u8]) -> Result<()> {
    std::fs::write(path, contents).map_err(io_err("cannot write", path))
}

fn write_npy<A: WriteNpyExt>(path: &Path, a: &A) -> Result<()> {
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
    started_utc: &'a str,
    status: &'a str,
    error: Option<String>,
    wall_seconds: Option<f64>,
}

/// Runs one experiment end to end. The config must come from [`config::load`] (validated).
pub fn run_experiment(cfg: &Config, config_path: &Path, opts: &RunOptions) -> Result<RunSummary> {
    let device = resolve_device(&cfg.experiment.device)?;
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
    let meta = |status: &'static str, error: Option<String>, wall: Option<f64>| Meta {
        hnn_version: env!("CARGO_PKG_VERSION"),
        libtorch: env!("HNN_LIBTORCH_VERSION"),
        git_commit: commit.clone(),
        config_path,
        device: format!("{device:?}"),
        torch_threads: tch::get_num_threads(),
        rayon_threads: rayon::current_num_threads(),
        started_utc: &started,
        status,
        error,
        wall_seconds: wall,
    };
    let meta_path = run_dir.join("meta.json");
    write_file(
        &meta_path,
        &serde_json::to_vec_pretty(&meta("running", None, None)).expect("meta serialises"),
    )?;
    tracing::info!(run_dir = %run_dir.display(), device = ?device, "run started");

    let start = Instant::now();
    let result = run_stages(cfg, &run_dir, device, opts);
    let wall = start.elapsed().as_secs_f64();
    match result {
        Ok(mut summary) => {
            summary.timings.total = wall;
            write_file(
                &run_dir.join("summary.json"),
                &serde_json::to_vec_pretty(&summary).expect("summary serialises"),
            )?;
            write_file(
                &meta_path,
                &serde_json::to_vec_pretty(&meta("ok", None, Some(wall))).expect("meta serialises"),
            )?;
            Ok(summary)
        }
        Err(e) => {
            tracing::error!("run failed: {e}");
            let _ = std::fs::write(
                &meta_path,
                serde_json::to_vec_pretty(&meta("failed", Some(e.to_string()), Some(wall)))
                    .expect("meta serialises"),
            );
            Err(e)
        }
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

fn run_stages(
    cfg: &Config,
    run_dir: &Path,
    device: Device,
    opts: &RunOptions,
) -> Result<RunSummary> {
    let seed = cfg.experiment.seed;
    let system = cfg.system.build()?;
    let dim = system.dim();
    let mut timings = Timings::default();

    // 1. data
    let t = Instant::now();
    let data = hnn_physics::dataset::generate(system.as_ref(), &cfg.data, seed)?;
    timings.data = t.elapsed().as_secs_f64();
    data.write_npy(&run_dir.join("data"))?;
    let (x, dx) = data.train_samples();
    let (xt, dxt) = data.test_samples();
    tracing::info!(
        train = x.nrows(),
        test = xt.nrows(),
        seconds = format_args!("{:.3}", timings.data),
        "data generated"
    );
    let tensors = TrainData::from_arrays(&x, &dx, &xt, &dxt, device);

    // 2. training, one model after the other, each from the same seed
    let ckpt_dir = run_dir.join("checkpoints");
    std::fs::create_dir_all(&ckpt_dir).map_err(io_err("cannot create", &ckpt_dir))?;
    let metrics_path = run_dir.join("metrics.jsonl");
    let mut metrics =
        std::fs::File::create(&metrics_path).map_err(io_err("cannot create", &metrics_path))?;
    let mut trained: Vec<(ModelKind, nn::VarStore, Box<dyn DynamicsModel>)> = Vec::new();
    let mut models = BTreeMap::new();
    let mut outcomes: Vec<(ModelKind, TrainOutcome)> = Vec::new();
    for &kind in &cfg.train.models {
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(device);
        let model = build_model(kind, &vs, dim as i64, cfg)?;
        let pb = progress_bar(opts, cfg.train.steps as u64, kind.as_str());
        let mut write_err = None;
        let outcome = train::train(model.as_ref(), &vs, &tensors, &cfg.train, &pb, |row| {
            pb.suspend(|| {
                tracing::info!(
                    model = kind.as_str(),
                    step = row.step,
                    train_loss = format_args!("{:.4e}", row.train_loss),
                    test_loss = format_args!("{:.4e}", row.test_loss)
                )
            });
            let line = serde_json::json!({"model": kind.as_str(), "step": row.step, "train_loss": row.train_loss, "test_loss": row.test_loss});
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
        let ckpt = ckpt_dir.join(format!("{}.safetensors", kind.as_str()));
        save_checkpoint(&vs, &ckpt)?;
        tracing::info!(
            model = kind.as_str(),
            train_loss = format_args!("{:.4e} ± {:.1e}", outcome.train.mean, outcome.train.se),
            test_loss = format_args!("{:.4e} ± {:.1e}", outcome.test.mean, outcome.test.se),
            seconds = format_args!("{:.2}", outcome.seconds),
            "trained"
        );
        timings.train.insert(kind.as_str(), outcome.seconds);
        models.insert(
            kind.as_str(),
            ModelSummary {
                train_loss: outcome.train,
                test_loss: outcome.test,
                train_seconds: outcome.seconds,
                steps_per_second: outcome.steps_per_second,
                checkpoint: ckpt,
            },
        );
        outcomes.push((kind, outcome));
        trained.push((kind, vs, model));
    }
    let model_refs: Vec<(ModelKind, &dyn DynamicsModel)> =
        trained.iter().map(|(k, _, m)| (*k, m.as_ref())).collect();

    // 3. evaluation
    let t = Instant::now();
    let mut energy = BTreeMap::new();
    let mut protocol_rollouts = Vec::new();
    for (name, p) in [
        ("paper", &cfg.eval.paper),
        ("corrected", &cfg.eval.corrected),
    ] {
        if !p.enabled {
            continue;
        }
        let (outcome, rollouts) =
            eval::run_protocol(name, p, system.as_ref(), &model_refs, seed, device)?;
        for (model, e) in &outcome.models {
            tracing::info!(
                protocol = name,
                model,
                energy_mse = format_args!("{:.4e} ± {:.1e}", e.energy_mse.mean, e.energy_mse.se),
                failed = e.failed.len(),
                "energy MSE"
            );
        }
        energy.insert(name, outcome);
        protocol_rollouts.push((name, rollouts));
    }
    let figure =
        eval::figure_rollout(&cfg.eval.figure, system.as_ref(), &model_refs, seed, device)?;
    timings.eval = t.elapsed().as_secs_f64();
    tracing::info!(
        seconds = format_args!("{:.3}", timings.eval),
        "evaluation done"
    );

    write_rollouts(run_dir, dim, &figure, &protocol_rollouts)?;

    // 4. plots
    let t = Instant::now();
    let plot_dir = run_dir.join("plots");
    std::fs::create_dir_all(&plot_dir).map_err(io_err("cannot create", &plot_dir))?;
    if system.body_positions(&figure.truth[..dim]).is_some() {
        plot_orbits(&plot_dir, system.as_ref(), &figure)?;
    } else {
        plot_figure(
            &plot_dir.join("figure2.png"),
            system.as_ref(),
            &figure,
            &model_refs,
            device,
        )?;
    }
    plot_losses(&plot_dir.join("loss_curves.png"), &outcomes)?;
    for (name, outcome) in &energy {
        plot_protocol(&plot_dir.join(format!("energy_{name}.png")), name, outcome)?;
    }
    timings.plots = t.elapsed().as_secs_f64();

    let reference = reference::for_system(system.name());
    Ok(RunSummary {
        experiment: cfg.experiment.name.clone(),
        system: system.name().to_string(),
        seed,
        run_dir: run_dir.to_path_buf(),
        device: format!("{device:?}"),
        models,
        energy,
        timings,
        paper: reference.map(|r| r.0),
        official_cost_seconds: reference.map(|r| r.1),
    })
}

fn write_rollouts(
    run_dir: &Path,
    dim: usize,
    figure: &FigureRollout,
    protocols: &[(&str, ProtocolRollouts)],
) -> Result<()> {
    let dir = run_dir.join("rollouts");
    std::fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
    let n = figure.t.len();
    let arr =
        |v: &[f64]| ndarray::Array2::from_shape_vec((n, dim), v.to_vec()).expect("rollout shape");
    write_npy(
        &dir.join("figure_t.npy"),
        &ndarray::Array1::from(figure.t.clone()),
    )?;
    write_npy(&dir.join("figure_truth.npy"), &arr(&figure.truth))?;
    for (kind, r) in &figure.models {
        let a = match r {
            Ok(v) => arr(v),
            Err(_) => ndarray::Array2::from_elem((n, dim), f64::NAN),
        };
        write_npy(&dir.join(format!("figure_{}.npy", kind.as_str())), &a)?;
    }
    for (name, r) in protocols {
        write_npy(&dir.join(format!("{name}_t_truth.npy")), &r.t_truth)?;
        write_npy(&dir.join(format!("{name}_t_model.npy")), &r.t_model)?;
        write_npy(&dir.join(format!("{name}_truth.npy")), &r.truth)?;
        for (kind, a) in &r.models {
            write_npy(&dir.join(format!("{name}_{}.npy", kind.as_str())), a)?;
        }
    }
    Ok(())
}

fn color_of(kind: ModelKind) -> plotters::style::RGBColor {
    match kind {
        ModelKind::Baseline => plots::BASELINE,
        ModelKind::Hnn => plots::HNN,
    }
}

fn label_of(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Baseline => "Baseline NN",
        ModelKind::Hnn => "Hamiltonian NN",
    }
}

/// The truth and every model that finished the figure trajectory, with label and colour.
fn labelled_paths(fig: &FigureRollout) -> Vec<(&'static str, plotters::style::RGBColor, &[f64])> {
    std::iter::once(("Ground truth", plots::TRUTH, fig.truth.as_slice()))
        .chain(fig.models.iter().filter_map(|(k, r)| {
            r.as_ref()
                .ok()
                .map(|v| (label_of(*k), color_of(*k), v.as_slice()))
        }))
        .collect()
}

/// The paper's Figure 2 row for the example trajectory.
fn plot_figure(
    path: &Path,
    system: &dyn Hamiltonian,
    fig: &FigureRollout,
    models: &[(ModelKind, &dyn DynamicsModel)],
    device: Device,
) -> Result<()> {
    let dim = system.dim();
    let n = dim / 2;
    let qp = |v: &[f64]| -> (Vec<f64>, Vec<f64>) {
        (
            v.chunks(dim).map(|x| x[0]).collect(),
            v.chunks(dim).map(|x| x[n]).collect(),
        )
    };
    let paths = labelled_paths(fig);
    let phase: Vec<(Vec<f64>, Vec<f64>)> = paths.iter().map(|(_, _, v)| qp(v)).collect();
    let coord_mse: Vec<Vec<f64>> = paths
        .iter()
        .map(|(_, _, v)| {
            v.chunks(dim)
                .zip(fig.truth.chunks(dim))
                .map(|(a, b)| {
                    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / dim as f64
                })
                .collect()
        })
        .collect();
    let energies: Vec<Vec<f64>> = paths
        .iter()
        .map(|(_, _, v)| v.chunks(dim).map(|x| system.energy(x)).collect())
        .collect();
    let hnn = models
        .iter()
        .find(|(k, _)| *k == ModelKind::Hnn)
        .map(|(_, m)| *m);
    let conserved: Vec<Vec<f64>> = match hnn {
        Some(m) => paths
            .iter()
            .map(|(_, _, v)| {
                let x: Vec<f32> = v.iter().map(|&a| a as f32).collect();
                let x = Tensor::from_slice(&x)
                    .view([-1, dim as i64])
                    .to_device(device);
                let h = m
                    .conserved_quantity(&x)
                    .expect("an HNN has H")
                    .to_device(Device::Cpu);
                Vec::<f32>::try_from(&h)
                    .expect("f32")
                    .into_iter()
                    .map(f64::from)
                    .collect()
            })
            .collect(),
        None => vec![],
    };
    fn over_time<'a>(
        paths: &'a [(&'a str, plotters::style::RGBColor, &'a [f64])],
        ys: &'a [Vec<f64>],
        t: &'a [f64],
        skip_truth: bool,
    ) -> Vec<plots::Series<'a>> {
        paths
            .iter()
            .zip(ys)
            .skip(usize::from(skip_truth))
            .map(|((label, color, _), y)| plots::Series {
                label,
                color: *color,
                x: t,
                y,
            })
            .collect()
    }
    let series = |ys, skip| over_time(&paths, ys, &fig.t, skip);
    let mut panels = vec![
        plots::Panel {
            title: "Predictions",
            x_label: "q",
            y_label: "p",
            series: paths
                .iter()
                .zip(&phase)
                .map(|((label, color, _), (q, p))| plots::Series {
                    label,
                    color: *color,
                    x: q,
                    y: p,
                })
                .collect(),
            log_y: false,
        },
        plots::Panel {
            title: "MSE between coordinates",
            x_label: "time",
            y_label: "MSE",
            series: series(&coord_mse, true),
            log_y: false,
        },
    ];
    if hnn.is_some() {
        panels.push(plots::Panel {
            title: "Total HNN-conserved quantity",
            x_label: "time",
            y_label: "H_θ",
            series: series(&conserved, false),
            log_y: false,
        });
    }
    panels.push(plots::Panel {
        title: "Total energy",
        x_label: "time",
        y_label: "H",
        series: series(&energies, false),
        log_y: false,
    });
    let width = 420 * panels.len() as u32;
    plots::draw_row(path, &panels, width, 400)
}

/// The paper's Figure 3: each model's body paths, and kinetic, potential and total energy.
fn plot_orbits(dir: &Path, system: &dyn Hamiltonian, fig: &FigureRollout) -> Result<()> {
    use plotters::style::RGBColor;
    const BODY: [RGBColor; 6] = [
        RGBColor(40, 70, 220),
        RGBColor(220, 40, 40),
        RGBColor(30, 150, 60),
        RGBColor(200, 130, 0),
        RGBColor(130, 50, 170),
        RGBColor(0, 150, 160),
    ];
    let dim = system.dim();
    let paths = labelled_paths(fig);
    // body i of path m: (x(t), y(t))
    let bodies: Vec<Vec<(Vec<f64>, Vec<f64>)>> = paths
        .iter()
        .map(|(_, _, v)| {
            let pos: Vec<Vec<[f64; 2]>> = v
                .chunks(dim)
                .map(|x| system.body_positions(x).unwrap_or_default())
                .collect();
            let n = pos.first().map_or(0, |p| p.len());
            (0..n)
                .map(|i| {
                    (
                        pos.iter().map(|p| p[i][0]).collect(),
                        pos.iter().map(|p| p[i][1]).collect(),
                    )
                })
                .collect()
        })
        .collect();
    let names: Vec<String> = (0..bodies.first().map_or(0, |b| b.len()))
        .map(|i| format!("body {}", i + 1))
        .collect();
    let panels: Vec<plots::Panel<'_>> = paths
        .iter()
        .zip(&bodies)
        .map(|((label, _, _), bs)| plots::Panel {
            title: label,
            x_label: "x",
            y_label: "y",
            series: bs
                .iter()
                .enumerate()
                .map(|(i, (x, y))| plots::Series {
                    label: &names[i],
                    color: BODY[i % BODY.len()],
                    x,
                    y,
                })
                .collect(),
            log_y: false,
        })
        .collect();
    plots::draw_row(
        &dir.join("orbits.png"),
        &panels,
        420 * panels.len() as u32,
        420,
    )?;

    let parts: Vec<[Vec<f64>; 3]> = paths
        .iter()
        .map(|(_, _, v)| {
            let mut out = [Vec::new(), Vec::new(), Vec::new()];
            for x in v.chunks(dim) {
                let [k, p] = system.energy_parts(x).unwrap_or([f64::NAN, f64::NAN]);
                out[0].push(k);
                out[1].push(p);
                out[2].push(system.energy(x));
            }
            out
        })
        .collect();
    let titles = ["Kinetic energy", "Potential energy", "Total energy"];
    let panels: Vec<plots::Panel<'_>> = titles
        .iter()
        .enumerate()
        .map(|(j, title)| plots::Panel {
            title,
            x_label: "time",
            y_label: "energy",
            series: paths
                .iter()
                .zip(&parts)
                .map(|((label, color, _), e)| plots::Series {
                    label,
                    color: *color,
                    x: &fig.t,
                    y: &e[j],
                })
                .collect(),
            log_y: false,
        })
        .collect();
    plots::draw_row(&dir.join("orbit_energy.png"), &panels, 1260, 400)
}

fn plot_losses(path: &Path, outcomes: &[(ModelKind, TrainOutcome)]) -> Result<()> {
    struct Curves {
        label: &'static str,
        color: plotters::style::RGBColor,
        steps: Vec<f64>,
        train: Vec<f64>,
        test: Vec<f64>,
    }
    let curves: Vec<Curves> = outcomes
        .iter()
        .map(|(k, o)| Curves {
            label: label_of(*k),
            color: color_of(*k),
            steps: o.history.iter().map(|r| r.step as f64).collect(),
            train: o.history.iter().map(|r| r.train_loss).collect(),
            test: o.history.iter().map(|r| r.test_loss).collect(),
        })
        .collect();
    let panel = |title, pick: fn(&Curves) -> &[f64]| plots::Panel {
        title,
        x_label: "step",
        y_label: "MSE of dx/dt",
        series: curves
            .iter()
            .map(|c| plots::Series {
                label: c.label,
                color: c.color,
                x: &c.steps,
                y: pick(c),
            })
            .collect(),
        log_y: true,
    };
    plots::draw_row(
        path,
        &[
            panel("Train loss", |c| &c.train),
            panel("Test loss", |c| &c.test),
        ],
        900,
        400,
    )
}

fn plot_protocol(path: &Path, name: &str, outcome: &ProtocolOutcome) -> Result<()> {
    let xs: BTreeMap<&str, Vec<f64>> = outcome
        .models
        .iter()
        .map(|(m, e)| {
            let failed: Vec<usize> = e.failed.iter().map(|f| f.0).collect();
            (
                *m,
                (0..outcome.model_horizons.len())
                    .filter(|i| !failed.contains(i))
                    .map(|i| i as f64)
                    .collect(),
            )
        })
        .collect();
    let title = format!("Energy MSE per trajectory ({name} protocol)");
    let series = outcome
        .models
        .iter()
        .map(|(m, e)| {
            let kind = if *m == "hnn" {
                ModelKind::Hnn
            } else {
                ModelKind::Baseline
            };
            plots::Series {
                label: label_of(kind),
                color: color_of(kind),
                x: &xs[m],
                y: &e.per_trajectory,
            }
        })
        .collect();
    plots::draw_row(
        path,
        &[plots::Panel {
            title: &title,
            x_label: "trajectory",
            y_label: "energy MSE",
            series,
            log_y: true,
        }],
        700,
        400,
    )
}

/// A one-field helper so the model field can be used outside the crate (benchmarks).
pub fn model_field(model: &dyn DynamicsModel, device: Device) -> ModelField<'_> {
    ModelField { model, device }
}
