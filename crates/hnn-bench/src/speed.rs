//! `hnn-bench speed`: each finished run's stages against this machine's arithmetic floor.
//!
//! For every finished run under an output folder (the latest of each resolved config): wall
//! seconds per stage from `summary.json`; the stage's floating-point work from the resolved
//! config ([`hnn_models::flops`]: training steps x samples per step x operations per sample;
//! evaluation: field evaluations x operations per evaluation); the floor, that work at the fp32
//! matrix-product rate measured here in the same invocation; their ratio; the run's peak RSS
//! (`meta.json`); and the official implementation's time on this machine (REFERENCE.md §7).
//! Data generation integrates analytic fields or renders frames: no matrix products, no floor.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tch::{Device, Kind, Tensor};

use crate::config::{self, Source};
use crate::summary::RunSummary;

/// GFLOP/s of a square fp32 matrix product of side `n` on this process's libtorch threads:
/// the best of five timings of at least `seconds / 5` each after a warm-up (the best, so that
/// another process's burst lowers the figure as little as possible; on a busy machine the
/// floor is still too low and ratios below 1 show it).
pub fn gemm_rate(n: i64, seconds: f64) -> f64 {
    let a = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let _ = a.matmul(&b);
    (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut reps = 0u32;
            while reps < 2 || start.elapsed().as_secs_f64() < seconds / 5.0 {
                let _ = a.matmul(&b);
                reps += 1;
            }
            2.0 * (n as f64).powi(3) * f64::from(reps) / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max)
}

/// One stage of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub task: String,
    pub stage: String,
    pub wall: f64,
    /// Floating-point operations (`None`: no floor for this stage).
    pub flops: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    pub official: Option<f64>,
}

/// Training samples per step of an experiment (the batch, or the whole training set).
fn samples_per_step(exp: &config::Experiment) -> f64 {
    let cfg = &exp.config;
    let n_train = exp.source.n_train(&cfg.data);
    if cfg.train.batch_size == 0 {
        n_train as f64
    } else {
        cfg.train.batch_size.min(n_train) as f64
    }
}

/// The stages of one finished run.
pub fn stages(dir: &Path, summary: &RunSummary) -> Result<Vec<Stage>, String> {
    let exp = config::load(&dir.join("config.toml")).map_err(|e| e.to_string())?;
    let cfg = &exp.config;
    let dim = exp.source.model_dim(&cfg.model) as i64;
    let spec = cfg.model.spec();
    let per_step = samples_per_step(&exp);
    let extra = match &exp.source {
        Source::Pixels(p) => hnn_models::autoencoder_train_flops(
            (p.frames * p.camera.pixels()) as i64,
            &cfg.model.autoencoder,
        ),
        _ => 0.0,
    };
    let meta: serde_json::Value = std::fs::read(dir.join("meta.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let rss = meta["peak_rss_mb"].as_f64();
    let official = summary
        .reference
        .as_deref()
        .and_then(crate::reference::get)
        .and_then(|r| r.official_seconds);
    let task = format!("{} (seed {})", summary.experiment, summary.seed);
    let mut out = vec![Stage {
        task: task.clone(),
        stage: "data".into(),
        wall: summary.timings.data,
        flops: None,
        peak_rss_mb: rss,
        official: official.map(|o| o.data),
    }];
    let mut eval_flops = 0.0;
    for m in &summary.models {
        let f = hnn_models::flops(&m.name, dim, &spec);
        let steps = m
            .diverged
            .as_ref()
            .map_or(cfg.train.steps, |d| d.step)
            .min(cfg.train.steps) as f64;
        out.push(Stage {
            task: task.clone(),
            stage: format!("train {}", m.name),
            wall: m.train_seconds,
            flops: f.map(|(t, _)| steps * per_step * (t + extra)),
            peak_rss_mb: rss,
            official: official.and_then(|o| o.train(&m.name)),
        });
        if let Some((_, e)) = f {
            for p in summary.energy.values() {
                if let Some(me) = p.models.get(&m.name) {
                    eval_flops += me.field_evaluations as f64 * e;
                }
            }
        }
    }
    out.push(Stage {
        task,
        stage: "evaluation".into(),
        wall: summary.timings.eval,
        flops: Some(eval_flops),
        peak_rss_mb: rss,
        official: official.map(|o| o.eval),
    });
    Ok(out)
}

/// The markdown table of `stages` at `rate` GFLOP/s.
pub fn table(stages: &[Stage], rate: f64, threads: i32) -> String {
    let mut out = format!(
        "# Speed against this machine's floor\n\nfp32 matrix-product rate measured now: {rate:.1} GFLOP/s on {threads} libtorch threads. Floor = the stage's matrix-product work at that rate (training: steps x samples x operations per sample; evaluation: field evaluations x operations each; `hnn_models::flops`). Official: REFERENCE.md §7 on this kind of machine.\n\n| task | stage | wall s | GFLOP | floor s | wall / floor | peak RSS MB | official s |\n|---|---|---|---|---|---|---|---|\n"
    );
    let num =
        |v: Option<f64>, digits: usize| v.map_or("—".to_string(), |x| format!("{x:.digits$}"));
    for s in stages {
        let floor = s.flops.map(|f| f / (rate * 1e9));
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {} | {} | {} | {} | {} |",
            s.task,
            s.stage,
            s.wall,
            num(s.flops.map(|f| f / 1e9), 1),
            num(floor, 2),
            floor
                .filter(|f| *f > 0.0)
                .map_or("—".into(), |f| format!("{:.1}x", s.wall / f)),
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

    #[test]
    fn the_table_divides_work_by_the_rate() {
        let s = Stage {
            task: "spring (seed 0)".into(),
            stage: "train hnn".into(),
            wall: 5.0,
            flops: Some(200e9),
            peak_rss_mb: Some(300.0),
            official: Some(51.0),
        };
        let data = Stage {
            stage: "data".into(),
            flops: None,
            ..s.clone()
        };
        let t = table(&[data, s], 100.0, 2);
        // 200 GFLOP at 100 GFLOP/s: a 2 s floor, 2.5x
        assert!(
            t.contains("| spring (seed 0) | train hnn | 5.00 | 200.0 | 2.00 | 2.5x | 300 | 51.0 |"),
            "{t}"
        );
        assert!(
            t.contains("| spring (seed 0) | data | 5.00 | — | — | — | 300 | 51.0 |"),
            "{t}"
        );
    }

    #[test]
    fn gemm_rate_is_positive() {
        tch::set_num_threads(1);
        let r = gemm_rate(64, 0.01);
        assert!(r.is_finite() && r > 0.0, "{r}");
    }
}
