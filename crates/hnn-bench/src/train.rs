//! One training loop for every [`DynamicsModel`]: Adam on the mean squared error between the
//! predicted and the target time derivatives, full-batch or minibatch.

use std::time::Instant;

use hnn_models::DynamicsModel;
use indicatif::ProgressBar;
use serde::Serialize;
use tch::{Device, Kind, Tensor, nn, nn::OptimizerConfig};

use crate::config::TrainConfig;

/// Training and test tensors (`f32` on the training device).
///
/// # Shapes
/// `x`, `dx`: `[n_train, dim]`; `x_test`, `dx_test`: `[n_test, dim]`.
pub struct TrainData {
    pub x: Tensor,
    pub dx: Tensor,
    pub x_test: Tensor,
    pub dx_test: Tensor,
}

impl TrainData {
    /// From `f64` arrays, row-major `[n, dim]`.
    pub fn from_arrays(
        x: &ndarray::Array2<f64>,
        dx: &ndarray::Array2<f64>,
        x_test: &ndarray::Array2<f64>,
        dx_test: &ndarray::Array2<f64>,
        device: Device,
    ) -> Self {
        let t = |a: &ndarray::Array2<f64>| {
            let v: Vec<f32> = a.iter().map(|&v| v as f32).collect();
            Tensor::from_slice(&v)
                .view([a.nrows() as i64, a.ncols() as i64])
                .to_device(device)
        };
        Self {
            x: t(x),
            dx: t(dx),
            x_test: t(x_test),
            dx_test: t(dx_test),
        }
    }
}

/// Mean of the per-element squared error over a split and its standard error:
/// `std(all squared errors) / sqrt(number of samples)`, as the official `train.py` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LossStats {
    pub mean: f64,
    pub se: f64,
}

/// A logged point of the loss curves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LogRow {
    pub step: usize,
    /// Loss of the step's (mini)batch before the update.
    pub train_loss: f64,
    /// Loss on the whole test split after the update.
    pub test_loss: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    pub history: Vec<LogRow>,
    pub train: LossStats,
    pub test: LossStats,
    pub seconds: f64,
    pub steps_per_second: f64,
}

fn mse(pred: &Tensor, target: &Tensor) -> Tensor {
    (pred - target).square().mean(Kind::Float)
}

/// Loss statistics of `model` on `(x, dx)`.
pub fn loss_stats(model: &dyn DynamicsModel, x: &Tensor, dx: &Tensor) -> LossStats {
    let pred = model.time_derivative(x, false);
    let dist = (pred - dx).square();
    let n = dist.size()[0] as f64;
    LossStats {
        mean: dist.mean(Kind::Double).double_value(&[]),
        se: dist.std(true).double_value(&[]) / n.sqrt(),
    }
}

/// Trains `model` (whose variables live in `vs`) with Adam. `on_log` sees every logged row.
/// Randomness (minibatches) comes from libtorch's generator: seed it before calling.
pub fn train(
    model: &dyn DynamicsModel,
    vs: &nn::VarStore,
    data: &TrainData,
    cfg: &TrainConfig,
    progress: &ProgressBar,
    mut on_log: impl FnMut(&LogRow),
) -> Result<TrainOutcome, tch::TchError> {
    let mut opt = nn::Adam {
        wd: cfg.weight_decay,
        ..nn::Adam::default()
    }
    .build(vs, cfg.learning_rate)?;
    let n = data.x.size()[0];
    let device = data.x.device();
    let mut history = Vec::new();
    let start = Instant::now();
    for step in 1..=cfg.steps {
        let (x, dx) = if cfg.batch_size == 0 || cfg.batch_size as i64 >= n {
            (data.x.shallow_clone(), data.dx.shallow_clone())
        } else {
            let idx =
                Tensor::randperm(n, (Kind::Int64, device)).narrow(0, 0, cfg.batch_size as i64);
            (data.x.index_select(0, &idx), data.dx.index_select(0, &idx))
        };
        let loss = mse(&model.time_derivative(&x, true), &dx);
        opt.backward_step(&loss);
        if step == 1 || step % cfg.log_every == 0 || step == cfg.steps {
            let train_loss = loss.double_value(&[]);
            let test_loss =
                mse(&model.time_derivative(&data.x_test, false), &data.dx_test).double_value(&[]);
            let row = LogRow {
                step,
                train_loss,
                test_loss,
            };
            on_log(&row);
            history.push(row);
        }
        progress.inc(1);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(TrainOutcome {
        history,
        train: loss_stats(model, &data.x, &data.dx),
        test: loss_stats(model, &data.x_test, &data.dx_test),
        seconds,
        steps_per_second: cfg.steps as f64 / seconds,
    })
}
