//! `hnn-bench speed`: each finished run's stages against this machine's two floors.
//!
//! For every finished run under an output folder (the latest of each resolved config): wall
//! seconds per stage from `summary.json`; the stage's floating-point work from the resolved
//! config ([`hnn_models::flops`]: training steps x samples per step x operations per sample;
//! evaluation: field evaluations x operations per evaluation); and two floors, measured here in
//! the same invocation on the run's own thread count (`meta.json`):
//! - the **physical floor**: that work at the cores' fp32 FMA peak
//!   ([`hnn_models::cpu::fma_peak_gflops`], one core's peak times the run's threads);
//! - the **GEMM floor**: that work at libtorch's matrix-product rate at the stage's layer shape
//!   ([`Shape`]: the batch times the widest layer).
//!
//! Beside them, the run's peak RSS and the official implementation's time on this kind of
//! machine (`reference.toml`). Data generation integrates analytic fields or renders frames: no
//! matrix products, no floor.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hnn_models::cpu::{FmaPeak, fma_peaks, matmul_gflops};

use crate::config;
use crate::summary::RunSummary;
use crate::tasks::pixels::PixelSource;

/// An `[m, k] x [k, n]` matrix product: the layer shape whose rate bounds a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shape {
    pub m: i64,
    pub k: i64,
    pub n: i64,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.m, self.k, self.n)
    }
}

/// One stage of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub task: String,
    pub stage: String,
    pub wall: f64,
    /// Floating-point operations (`None`: no floor for this stage).
    pub flops: Option<f64>,
    /// The product shape whose libtorch rate is this stage's GEMM floor.
    pub shape: Option<Shape>,
    /// The run's libtorch threads.
    pub threads: i32,
    pub peak_rss_mb: Option<f64>,
    pub official: Option<f64>,
}

/// The rates the floors divide by, measured in this process.
#[derive(Debug, Clone, Default)]
pub struct Rates {
    /// One core's fp32 FMA peak of each vector width, widest first (none on a CPU without
    /// AVX2+FMA); the widest is the physical floor.
    pub peaks: Vec<FmaPeak>,
    /// libtorch's GFLOP/s by (threads, shape).
    pub gemm: BTreeMap<(i32, Shape), f64>,
}

impl Rates {
    /// Measures the FMA peak, and libtorch's rate at every (threads, shape) the stages need.
    pub fn measure(stages: &[Stage]) -> Self {
        let mut rates = Rates {
            peaks: fma_peaks(1.0),
            gemm: BTreeMap::new(),
        };
        let before = tch::get_num_threads();
        for s in stages {
            if let Some(shape) = s.shape
                && !rates.gemm.contains_key(&(s.threads, shape))
            {
                tch::set_num_threads(s.threads);
                let rate = matmul_gflops(shape.m, shape.k, shape.n, 1.0);
                rates.gemm.insert((s.threads, shape), rate);
            }
        }
        tch::set_num_threads(before);
        rates
    }

    /// The physical floor of `flops` on `threads` cores, in seconds.
    fn physical(&self, flops: f64, threads: i32) -> Option<f64> {
        self.peaks
            .first()
            .map(|p| flops / (p.gflops * f64::from(threads) * 1e9))
    }

    /// The GEMM floor of `flops` at `shape` on `threads`, in seconds.
    fn gemm(&self, flops: f64, threads: i32, shape: Shape) -> Option<f64> {
        self.gemm.get(&(threads, shape)).map(|r| flops / (r * 1e9))
    }
}

/// Rows per training step (the batch, or the whole training set) and training passes of the
/// field per row: one per sample for `dx/dt` targets; for `train.objective = "rollout"` the rows
/// are windows, each taking `(k - 1) * substeps` integrator steps of 4 (RK4) or 5 (implicit
/// midpoint) field evaluations, every one differentiated through (counted as one training
/// pass each).
fn training_rows(exp: &config::Experiment) -> (f64, f64) {
    let cfg = &exp.config;
    let (rows, passes) = match cfg.train.objective {
        config::TrainObjective::Derivatives => (exp.source.n_train(&cfg.data), 1.0),
        config::TrainObjective::Rollout => {
            let r = &cfg.train.rollout;
            let k = r.window;
            let windows = exp
                .source
                .sequence_lengths(&cfg.data)
                .unwrap_or_default()
                .iter()
                .map(|&len| (len + 1).saturating_sub(k))
                .sum();
            let evals = match r.integrator {
                config::RolloutIntegrator::Rk4 => 4.0,
                config::RolloutIntegrator::ImplicitMidpoint => 5.0,
            };
            (windows, (k - 1) as f64 * r.substeps as f64 * evals)
        }
    };
    let per_step = if cfg.train.batch_size == 0 {
        rows
    } else {
        cfg.train.batch_size.min(rows)
    };
    (per_step as f64, passes)
}

/// The stages of one finished run.
pub fn stages(dir: &Path, summary: &RunSummary) -> Result<Vec<Stage>, String> {
    let exp = config::load(&dir.join("config.toml")).map_err(|e| e.to_string())?;
    let cfg = &exp.config;
    let dim = exp.source.model_dim(&cfg.model) as i64;
    let spec = cfg.model.spec();
    let (per_step, passes) = training_rows(&exp);
    let width = spec.mlp.hidden.iter().copied().max().unwrap_or(1);
    let pixels = exp.source.as_any().downcast_ref::<PixelSource>();
    let (extra, train_shape) = match pixels.map(|p| &p.0) {
        Some(p) => {
            let input = (p.frames * p.camera.pixels()) as i64;
            let ae = &cfg.model.autoencoder;
            let shape = Shape {
                m: per_step as i64,
                k: input,
                n: ae.hidden,
            };
            (hnn_models::autoencoder_train_flops(input, ae), shape)
        }
        _ => (
            0.0,
            Shape {
                m: per_step as i64,
                k: width,
                n: width,
            },
        ),
    };
    let meta: serde_json::Value = std::fs::read(dir.join("meta.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let threads = meta["torch_threads"]
        .as_i64()
        .and_then(|t| i32::try_from(t).ok())
        .filter(|t| *t > 0)
        .unwrap_or_else(tch::get_num_threads);
    // the official code's times belong to the setting they were measured for, like every
    // published number: shown only beside a run of that setting
    let official = summary.reference().and_then(|r| r.official_seconds);
    let path = meta["cpu_matmul"]
        .as_str()
        .unwrap_or("mkl-nonintel-avx2 (before the record)");
    let busy = if meta["cores_busy_at_start"] == true {
        ", cores busy at start"
    } else {
        ""
    };
    let task = format!(
        "{} (seed {}, {path}{busy})",
        summary.experiment, summary.seed
    );
    let stage =
        |name: String, wall: f64, flops: Option<f64>, shape: Option<Shape>, official| Stage {
            task: task.clone(),
            stage: name,
            wall,
            flops,
            shape,
            threads,
            peak_rss_mb: meta["peak_rss_mb"].as_f64(),
            official,
        };
    let mut out = vec![stage(
        "data".into(),
        summary.timings.data,
        None,
        None,
        official.map(|o| o.data),
    )];
    let mut eval_flops = 0.0;
    for m in &summary.models {
        let f = hnn_models::flops(&m.name, dim, &spec);
        let steps = m
            .diverged
            .as_ref()
            .map_or(cfg.train.steps, |d| d.step)
            .min(cfg.train.steps) as f64;
        out.push(stage(
            format!("train {}", m.name),
            m.train_seconds,
            f.map(|(t, _)| steps * per_step * (passes * t + extra)),
            Some(train_shape),
            official.and_then(|o| o.train(&m.name)),
        ));
        if let Some((_, e)) = f {
            for p in summary.energy.values() {
                if let Some(me) = p.models.get(&m.name) {
                    eval_flops += me.field_evaluations as f64 * e;
                }
            }
        }
    }
    let eval_shape = Shape {
        m: 200,
        k: width,
        n: width,
    };
    out.push(stage(
        "evaluation".into(),
        summary.timings.eval,
        Some(eval_flops),
        Some(eval_shape),
        official.map(|o| o.eval),
    ));
    Ok(out)
}

/// The markdown table of `stages` against the floors at `rates`; `path` names this process's
/// matrix-product path (the one the GEMM rates were measured on).
pub fn table(stages: &[Stage], rates: &Rates, path: &str) -> String {
    let mut out = String::from("# Speed against this machine's floors\n\n");
    match rates.peaks.first() {
        Some(p) => {
            let others: String = rates.peaks[1..]
                .iter()
                .map(|o| format!("; {} {:.1} GFLOP/s", o.isa, o.gflops))
                .collect();
            let _ = writeln!(
                out,
                "Physical floor: the stage's matrix-product work at the fp32 FMA peak, {:.1} GFLOP/s per core measured now ({}: 12 independent FMA chains{others}), times the run's libtorch threads.",
                p.gflops, p.isa
            );
        }
        None => out
            .push_str("Physical floor: none (this CPU has no AVX2+FMA to measure a peak with).\n"),
    }
    let _ = writeln!(
        out,
        "GEMM floor: the same work at libtorch's fp32 matrix-product rate measured now at the stage's layer shape (batch x widest layer), on {path}:"
    );
    for ((threads, shape), rate) in &rates.gemm {
        let per_core = rates
            .peaks
            .first()
            .map(|p| {
                format!(
                    ", {:.2} of the physical peak",
                    rate / (p.gflops * f64::from(*threads))
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- {shape} on {threads} threads: {rate:.1} GFLOP/s{per_core}"
        );
    }
    out.push_str("\nWork: training steps x samples x operations per sample; evaluation: field evaluations x operations each (`hnn_models::flops`; element-wise work is not counted). Official: the official implementation's time on this kind of machine (`reference.toml`), beside runs of the setting it was measured for.\n\n| task | stage | wall s | GFLOP | physical floor s | wall / physical | GEMM floor s | wall / GEMM | peak RSS MB | official s |\n|---|---|---|---|---|---|---|---|---|---|\n");
    let num =
        |v: Option<f64>, digits: usize| v.map_or("—".to_string(), |x| format!("{x:.digits$}"));
    let ratio = |wall: f64, floor: Option<f64>| {
        floor
            .filter(|f| *f > 0.0)
            .map_or("—".into(), |f| format!("{:.1}x", wall / f))
    };
    for s in stages {
        let physical = s.flops.and_then(|f| rates.physical(f, s.threads));
        let gemm = s
            .flops
            .zip(s.shape)
            .and_then(|(f, shape)| rates.gemm(f, s.threads, shape));
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            s.task,
            s.stage,
            s.wall,
            num(s.flops.map(|f| f / 1e9), 1),
            num(physical, 2),
            ratio(s.wall, physical),
            num(gemm, 2),
            ratio(s.wall, gemm),
            num(s.peak_rss_mb, 0),
            num(s.official, 1),
        );
    }
    out
}

/// The finished runs under `root` (the latest of each resolved config), with their summaries.
pub fn finished_runs(root: &Path) -> Result<Vec<(PathBuf, RunSummary)>, String> {
    let entries = crate::runs::list(root).map_err(|e| e.to_string())?;
    let mut latest: std::collections::BTreeMap<String, PathBuf> = Default::default();
    for e in entries.iter().filter(|e| e.finished()) {
        if let Ok(toml) = std::fs::read_to_string(e.dir.join("config.toml")) {
            latest.insert(crate::runs::config_key(&toml), e.dir.clone());
        }
    }
    let mut out = Vec::new();
    for dir in latest.into_values() {
        let s = RunSummary::read(&dir.join("summary.json")).map_err(|e| e.to_string())?;
        out.push((dir, s));
    }
    out.sort_by(|a, b| (&a.1.experiment, a.1.seed).cmp(&(&b.1.experiment, b.1.seed)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spring's official data (25 training trajectories of 30 points): 750 samples a step
    /// for `dx/dt` targets; 25 x 26 windows of 5 states a step, each 4 RK4 steps of 4 passes,
    /// through the integrator; a batch caps either.
    #[test]
    fn training_rows_follow_the_objective() {
        let parse = |extra: &str| {
            let text = format!(
                "[experiment]\nname = \"s\"\n[system]\nkind = \"mass-spring\"\n[train]\n{extra}"
            );
            config::parse(&text, Path::new("s.toml")).unwrap()
        };
        assert_eq!(training_rows(&parse("")), (750.0, 1.0));
        assert_eq!(
            training_rows(&parse("objective = \"rollout\"\n")),
            (650.0, 16.0)
        );
        let midpoint = "objective = \"rollout\"\nbatch_size = 100\n[train.rollout]\nintegrator = \"implicit-midpoint\"\nsubsteps = 2\n";
        assert_eq!(training_rows(&parse(midpoint)), (100.0, 40.0));
    }

    #[test]
    fn the_table_divides_work_by_both_floors() {
        let shape = Shape {
            m: 750,
            k: 200,
            n: 200,
        };
        let s = Stage {
            task: "spring (seed 0)".into(),
            stage: "train hnn".into(),
            wall: 5.0,
            flops: Some(200e9),
            shape: Some(shape),
            threads: 2,
            peak_rss_mb: Some(300.0),
            official: Some(51.0),
        };
        let data = Stage {
            stage: "data".into(),
            flops: None,
            shape: None,
            ..s.clone()
        };
        let rates = Rates {
            peaks: vec![FmaPeak {
                gflops: 100.0,
                isa: "AVX-512",
            }],
            gemm: [((2, shape), 50.0)].into_iter().collect(),
        };
        let t = table(&[data, s], &rates, "mkl-avx512-e1");
        // 200 GFLOP at 2 x 100 GFLOP/s: a 1 s physical floor, 5x; at 50 GFLOP/s: 4 s, 1.25x
        assert!(
            t.contains("| spring (seed 0) | train hnn | 5.00 | 200.0 | 1.00 | 5.0x | 4.00 | 1.2x | 300 | 51.0 |"),
            "{t}"
        );
        assert!(
            t.contains("| spring (seed 0) | data | 5.00 | — | — | — | — | — | 300 | 51.0 |"),
            "{t}"
        );
        // the GEMM rate at its shape, as a share of the peak of its threads: 50 / 200
        assert!(
            t.contains("- 750x200x200 on 2 threads: 50.0 GFLOP/s, 0.25 of the physical peak"),
            "{t}"
        );
    }
}
