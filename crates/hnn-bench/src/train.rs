//! One training loop for every model and objective: Adam on an [`Objective`] that returns its
//! total loss and named parts, full-batch or minibatch.
//!
//! Minibatches are drawn on the CPU from the run's `Minibatch` random stream (a partial
//! Fisher-Yates shuffle per step), so one seed gives the same batches on any device.

use std::time::Instant;

use hnn_models::DynamicsModel;
use hnn_physics::rng::{Purpose, stream};
use indicatif::ProgressBar;
use rand::Rng;
use serde::{Deserialize, Serialize};
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
    /// The test loss of the zero field (`dx/dt = 0` everywhere): the mean of `dx²` on the test
    /// split, in double precision, as [`loss_stats`] averages. A model no better has learned
    /// nothing of the field.
    pub fn zero_field_test_loss(&self) -> f64 {
        let dx = tensor_f64(&self.dx_test);
        dx.iter().map(|v| v * v).sum::<f64>() / dx.len() as f64
    }

    /// The test loss of the constant field at the training targets' mean (per coordinate): a
    /// model no better has learned only an average drift.
    pub fn mean_field_test_loss(&self) -> f64 {
        let cols = self.dx.size().last().copied().unwrap_or(1).max(1) as usize;
        let train = tensor_f64(&self.dx);
        let rows = (train.len() / cols).max(1) as f64;
        let mut mean = vec![0.0; cols];
        for row in train.chunks(cols) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v / rows;
            }
        }
        let test = tensor_f64(&self.dx_test);
        let sq: f64 = test
            .chunks(cols)
            .flat_map(|row| row.iter().zip(&mean).map(|(v, m)| (v - m) * (v - m)))
            .sum();
        sq / test.len() as f64
    }

    /// The better of [`Self::zero_field_test_loss`] and [`Self::mean_field_test_loss`].
    pub fn trivial_field_test_loss(&self) -> f64 {
        self.zero_field_test_loss().min(self.mean_field_test_loss())
    }
}

/// `f64` rows to an `f32` tensor `[rows, cols]` on `device`.
pub fn tensor_f32(values: &[f64], cols: usize, device: Device) -> Tensor {
    let v: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_slice(&v)
        .view([(values.len() / cols.max(1)) as i64, cols as i64])
        .to_device(device)
}

/// An `f32` tensor back to `f64` values.
pub fn tensor_f64(t: &Tensor) -> Vec<f64> {
    let t = t
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view([-1]);
    Vec::<f32>::try_from(&t)
        .expect("an f32 tensor")
        .into_iter()
        .map(f64::from)
        .collect()
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
            let v: Vec<f64> = a.iter().copied().collect();
            tensor_f32(&v, a.ncols(), device)
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossStats {
    #[serde(deserialize_with = "crate::summary::f64_or_nan")]
    pub mean: f64,
    #[serde(deserialize_with = "crate::summary::f64_or_nan")]
    pub se: f64,
}

/// A loss and its named parts (the total is what the optimizer sees): scalars for one model,
/// one value per member (`[K]`) for a seed ensemble.
pub struct LossParts {
    pub total: Tensor,
    pub parts: Vec<(&'static str, Tensor)>,
}

impl LossParts {
    /// The values of a one-model loss.
    pub fn values(&self) -> LossValues {
        LossValues {
            total: self.total.double_value(&[]),
            parts: values(&self.parts),
        }
    }
}

/// A loss read back: its total and named parts.
#[derive(Debug, Clone, PartialEq)]
pub struct LossValues {
    pub total: f64,
    pub parts: Vec<(String, f64)>,
}

/// What the training loop minimises: the loss of one model, or of `K` models trained together
/// on one set of stacked weights (a seed ensemble, [`crate::ensemble::EnsembleObjective`]). The
/// loop knows nothing of ensembles, pixels or derivative targets.
pub trait Objective {
    /// Models trained together; each draws its own minibatches and is watched for divergence
    /// on its own loss.
    fn members(&self) -> usize {
        1
    }
    /// Training rows per member (minibatches index into them).
    fn train_rows(&self) -> i64;
    /// The loss on training rows `idx` (`None`: all of them), differentiable in the weights.
    /// With `K` members, `idx` holds each member's batch in turn, member `m`'s rows offset by
    /// `m * train_rows()`, and every tensor of the result is `[K]`.
    fn train_loss(&self, idx: Option<&Tensor>) -> LossParts;
    /// The loss on the whole test split, per member, without gradients.
    fn test_loss(&self) -> Vec<LossValues>;
    /// Member `m` is done (its divergence was noticed, or training ended): keep its weights as
    /// they are now.
    fn keep_member(&self, _m: usize) -> crate::error::Result<()> {
        Ok(())
    }
}

/// Mean squared error of the predicted `dx/dt`: one part, `"dx_mse"`.
pub struct StateObjective<'a> {
    pub model: &'a dyn DynamicsModel,
    pub data: &'a TrainData,
}

fn mse(pred: &Tensor, target: &Tensor) -> Tensor {
    (pred - target).square().mean(Kind::Float)
}

/// Rows per forward pass when a whole split is scored: a full three-body training split in one
/// pass held ~300 MB of activations for a number that needs none of them kept.
pub const STATS_CHUNK: i64 = 2048;

/// Loss statistics of `model` on `(x, dx)`, in chunks of [`STATS_CHUNK`] rows: the mean of
/// every element's squared error and its standard deviation / sqrt(rows), in double precision.
pub fn loss_stats(model: &dyn DynamicsModel, x: &Tensor, dx: &Tensor) -> LossStats {
    let n = x.size()[0];
    let mut sq = Vec::new();
    for (start, len) in row_chunks(n, STATS_CHUNK) {
        let pred = model.time_derivative(&x.narrow(0, start, len), false);
        sq.extend(tensor_f64(
            &(pred - dx.narrow(0, start, len)).square().detach(),
        ));
    }
    LossStats::of(&sq, n as usize)
}

/// `(start, len)` of consecutive chunks of at most `chunk` rows covering `0..n`.
pub fn row_chunks(n: i64, chunk: i64) -> impl Iterator<Item = (i64, i64)> {
    let chunk = chunk.max(1);
    (0..n)
        .step_by(chunk as usize)
        .map(move |start| (start, chunk.min(n - start)))
}

/// The mean squared error of `model`'s `dx/dt` on `(x, dx)`, computed in chunks of
/// [`STATS_CHUNK`] rows (each chunk's mean weighted by its rows, on the device: no host sync),
/// so that scoring a large split holds one chunk's activations, not the split's.
pub fn chunked_mse(model: &dyn DynamicsModel, x: &Tensor, dx: &Tensor) -> Tensor {
    let n = x.size()[0];
    if n <= STATS_CHUNK {
        return mse(&model.time_derivative(x, false), dx);
    }
    let mut total = Tensor::zeros([], (Kind::Float, x.device()));
    for (start, len) in row_chunks(n, STATS_CHUNK) {
        let part = mse(
            &model.time_derivative(&x.narrow(0, start, len), false),
            &dx.narrow(0, start, len),
        );
        total += part * (len as f64 / n as f64);
    }
    total
}

impl LossStats {
    /// The mean of `values` and their sample standard deviation / sqrt(`rows`) (a row may hold
    /// several values: one per coordinate).
    pub fn of(values: &[f64], rows: usize) -> Self {
        let m = values.len() as f64;
        let mean = values.iter().sum::<f64>() / m;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0).max(1.0);
        LossStats {
            mean,
            se: var.sqrt() / (rows as f64).sqrt(),
        }
    }
}

impl Objective for StateObjective<'_> {
    fn train_rows(&self) -> i64 {
        self.data.x.size()[0]
    }
    fn train_loss(&self, idx: Option<&Tensor>) -> LossParts {
        let ((pred, terms), target) = match idx {
            None => (
                self.model.training_output(&self.data.x),
                self.data.dx.shallow_clone(),
            ),
            Some(i) => (
                self.model.training_output(&self.data.x.index_select(0, i)),
                self.data.dx.index_select(0, i),
            ),
        };
        let loss = mse(&pred, &target);
        // not `+=`: tch's is in place, and would change the fit part it started from
        let total = terms
            .iter()
            .fold(loss.shallow_clone(), |sum, (_, term)| sum + term);
        let mut parts = vec![("dx_mse", loss)];
        parts.extend(terms);
        LossParts { total, parts }
    }
    fn test_loss(&self) -> Vec<LossValues> {
        let loss = chunked_mse(self.model, &self.data.x_test, &self.data.dx_test);
        let parts = LossParts {
            parts: vec![("dx_mse", loss.shallow_clone())],
            total: loss,
        };
        vec![parts.values()]
    }
}

impl StateObjective<'_> {
    /// Final `(train, test)` statistics of the `dx/dt` error.
    pub fn final_stats(&self) -> (LossStats, LossStats) {
        (
            loss_stats(self.model, &self.data.x, &self.data.dx),
            loss_stats(self.model, &self.data.x_test, &self.data.dx_test),
        )
    }
}

/// A logged point of the loss curves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    pub step: usize,
    /// Total loss of the step's (mini)batch before the update.
    pub train_loss: f64,
    /// Total loss on the whole test split after the update.
    pub test_loss: f64,
    /// Each named part on the batch and on the test split.
    pub train_parts: Vec<(String, f64)>,
    pub test_parts: Vec<(String, f64)>,
    /// The learning rate of the step.
    #[serde(default)]
    pub learning_rate: f64,
    /// Wall seconds since training began, when the row was logged (its test loss included).
    #[serde(default)]
    pub seconds: f64,
}

/// Where training was stopped because the loss ran away.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// The first step whose (mini)batch loss was not finite or above
    /// `divergence_factor` times the first step's loss.
    pub step: usize,
    /// The training loss at the step where the divergence was noticed (a log step, at most
    /// `log_every` steps later; NaN is written as `null`).
    #[serde(deserialize_with = "crate::summary::f64_or_nan")]
    pub loss: f64,
    /// The loss limit in force: `divergence_factor` times the first step's loss.
    #[serde(deserialize_with = "crate::summary::f64_or_nan")]
    pub limit: f64,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "diverged at step {} (loss not finite or above {:.3e}; {:.3e} when stopped)",
            self.step, self.limit, self.loss
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    pub history: Vec<LogRow>,
    /// `Some` when training stopped early on a runaway loss.
    pub diverged: Option<Divergence>,
    pub train: LossStats,
    pub test: LossStats,
    pub seconds: f64,
    pub steps_per_second: f64,
}

impl TrainOutcome {
    /// A member's training with its final statistics; `seconds` of the loop shared by
    /// `members` models trained together (each is given its share).
    pub fn of(
        m: MemberTraining,
        (train, test): (LossStats, LossStats),
        seconds: f64,
        members: usize,
    ) -> Self {
        Self {
            history: m.history,
            diverged: m.diverged,
            train,
            test,
            seconds: seconds / members as f64,
            steps_per_second: m.steps as f64 / seconds,
        }
    }
}

/// Draws minibatches: a persistent permutation of `0..n` whose first `b` entries are re-drawn
/// each step (partial Fisher-Yates), so every batch is a uniform draw without replacement.
pub struct Minibatches {
    perm: Vec<i64>,
    batch: usize,
    rng: rand_chacha::ChaCha8Rng,
}

impl Minibatches {
    pub fn new(n: usize, batch: usize, seed: u64) -> Self {
        Self {
            perm: (0..n as i64).collect(),
            batch,
            rng: stream(seed, Purpose::Minibatch, 0),
        }
    }

    /// The next batch's row indices.
    pub fn next_batch(&mut self) -> &[i64] {
        let n = self.perm.len();
        for i in 0..self.batch {
            let j = self.rng.random_range(i..n);
            self.perm.swap(i, j);
        }
        &self.perm[..self.batch]
    }
}

fn values(parts: &[(&'static str, Tensor)]) -> Vec<(String, f64)> {
    parts
        .iter()
        .map(|(n, t)| (n.to_string(), t.double_value(&[])))
        .collect()
}

/// The optimizer of every training: Adam over `vs` with the config's rate and (L2) decay.
fn adam(vs: &nn::VarStore, cfg: &TrainConfig) -> Result<nn::Optimizer, tch::TchError> {
    nn::Adam {
        wd: cfg.weight_decay,
        ..nn::Adam::default()
    }
    .build(vs, cfg.learning_rate)
}

/// How one model (one member) trained.
#[derive(Debug, Clone)]
pub struct MemberTraining {
    pub history: Vec<LogRow>,
    /// `Some` when training stopped early on a runaway loss.
    pub diverged: Option<Divergence>,
    /// Steps taken before it stopped.
    pub steps: usize,
}

/// What [`train`] returns: each member's training, and the loop's wall time.
#[derive(Debug, Clone)]
pub struct Trained {
    pub members: Vec<MemberTraining>,
    pub seconds: f64,
}

/// At most this many index entries are drawn ahead (32 MB of `i64`).
const BATCH_AHEAD_ENTRIES: usize = 1 << 22;

/// The minibatch index of each step: every member's draw (member `m`'s rows offset by `m * n`)
/// as one index. Indices are drawn on the CPU, in step order, for up to 256 steps at a time and
/// moved to the device in one copy, since a copy from the host's memory waits for the device:
/// on a GPU a copy per step would stall every step.
struct BatchQueue {
    batches: Vec<Minibatches>,
    n: i64,
    device: Device,
    ahead: Option<Tensor>,
    next: i64,
}

impl BatchQueue {
    fn new(batches: Vec<Minibatches>, n: i64, device: Device) -> Self {
        Self {
            batches,
            n,
            device,
            ahead: None,
            next: 0,
        }
    }

    /// The index of the next step, drawing `steps_left` (at most) more steps ahead when the
    /// ones drawn are used up.
    fn next_step(&mut self, steps_left: usize) -> Tensor {
        let drawn = self.ahead.as_ref().map_or(0, |t| t.size()[0]);
        if self.next == drawn {
            self.ahead = Some(self.draw(steps_left.max(1)));
            self.next = 0;
        }
        let idx = self.ahead.as_ref().expect("drawn above").get(self.next);
        self.next += 1;
        idx
    }

    fn draw(&mut self, steps_left: usize) -> Tensor {
        let per_step: usize = self.batches.iter().map(|b| b.batch).sum();
        let steps = steps_left
            .min(256)
            .min((BATCH_AHEAD_ENTRIES / per_step.max(1)).max(1));
        let mut idx = Vec::with_capacity(steps * per_step);
        for _ in 0..steps {
            for (m, batch) in self.batches.iter_mut().enumerate() {
                let offset = m as i64 * self.n;
                idx.extend(batch.next_batch().iter().map(|i| i + offset));
            }
        }
        Tensor::from_slice(&idx)
            .view([steps as i64, per_step as i64])
            .to_device(self.device)
    }
}

/// Trains the variables of `vs` on `objective` with Adam: the one training loop. Member `m`
/// draws the minibatches of `seeds[m]`, is watched for divergence on its own loss (against
/// `divergence_factor` times its first loss), and stops at the log step that notices its
/// divergence ([`Objective::keep_member`] then keeps its weights); the loop ends when every
/// member has stopped or after `cfg.steps`. `on_log(m, row)` sees member `m`'s logged rows.
pub fn train(
    objective: &dyn Objective,
    vs: &nn::VarStore,
    cfg: &TrainConfig,
    seeds: &[u64],
    progress: &ProgressBar,
    mut on_log: impl FnMut(usize, &LogRow),
) -> crate::error::Result<Trained> {
    let k = objective.members();
    assert_eq!(k, seeds.len(), "one seed per member");
    let mut opt = adam(vs, cfg).map_err(|e| hnn_models::ModelError::Config {
        key: "train",
        reason: e.to_string(),
    })?;
    let n = objective.train_rows();
    let full = cfg.batch_size == 0 || cfg.batch_size as i64 >= n;
    let b = cfg.batch_size.min(n as usize);
    let device = vs.device();
    let mut batches = BatchQueue::new(
        seeds
            .iter()
            .map(|&s| Minibatches::new(n as usize, b, s))
            .collect(),
        n,
        device,
    );
    let start = Instant::now();
    // Divergence watch without a host sync per step: each member's first bad step is kept on
    // the device (`never` until one happens) and read at log steps only.
    let never = i64::MAX;
    let mut first_bad = Tensor::full([k as i64], never, (Kind::Int64, device));
    let mut limit = Tensor::zeros([k as i64], (Kind::Float, device));
    let mut limits = vec![f64::INFINITY; k];
    let mut out: Vec<MemberTraining> = (0..k)
        .map(|_| MemberTraining {
            history: Vec::new(),
            diverged: None,
            steps: 0,
        })
        .collect();
    let mut active = vec![true; k];
    for step in 1..=cfg.steps {
        let loss = if full {
            objective.train_loss(None)
        } else {
            objective.train_loss(Some(&batches.next_step(cfg.steps + 1 - step)))
        };
        if step == 1 {
            // NaN or inf on the first step makes the limit NaN: every step is then bad.
            limits = tensor_f64(&loss.total.detach())
                .into_iter()
                .map(|l| cfg.divergence_factor * l)
                .collect();
            let l32: Vec<f32> = limits.iter().map(|&l| l as f32).collect();
            limit = Tensor::from_slice(&l32).to_device(device);
        }
        // `!(loss <= limit)` is true for NaN, inf and a runaway loss alike.
        let bad = loss.total.detach().le_tensor(&limit).logical_not();
        first_bad = first_bad.minimum(&Tensor::where_scalar(&bad, step as i64, never));
        opt.set_lr(cfg.rate_at(step));
        if loss.total.dim() == 0 {
            opt.backward_step(&loss.total);
        } else {
            opt.backward_step(&loss.total.sum(Kind::Float));
        }
        progress.inc(1);
        for (m, o) in out.iter_mut().enumerate() {
            if active[m] {
                o.steps = step;
            }
        }
        if step == 1 || step % cfg.log_every == 0 || step == cfg.steps {
            let train_total = tensor_f64(&loss.total.detach());
            let train_parts: Vec<(&str, Vec<f64>)> = loss
                .parts
                .iter()
                .map(|(name, t)| (*name, tensor_f64(&t.detach())))
                .collect();
            let test = objective.test_loss();
            let bad_steps =
                Vec::<i64>::try_from(&first_bad.to_device(Device::Cpu)).expect("an i64 tensor");
            for m in 0..k {
                if !active[m] {
                    continue;
                }
                let row = LogRow {
                    step,
                    train_loss: train_total[m],
                    test_loss: test[m].total,
                    train_parts: train_parts
                        .iter()
                        .map(|(name, v)| (name.to_string(), v[m]))
                        .collect(),
                    test_parts: test[m].parts.clone(),
                    learning_rate: cfg.rate_at(step),
                    seconds: start.elapsed().as_secs_f64(),
                };
                on_log(m, &row);
                if bad_steps[m] != never {
                    out[m].diverged = Some(Divergence {
                        step: bad_steps[m] as usize,
                        loss: row.train_loss,
                        limit: limits[m],
                    });
                    active[m] = false;
                    objective.keep_member(m)?;
                }
                out[m].history.push(row);
            }
            if !active.iter().any(|&a| a) {
                break;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    for m in (0..k).filter(|&m| active[m]) {
        objective.keep_member(m)?;
    }
    Ok(Trained {
        members: out,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LrSchedule;
    use crate::ensemble::EnsembleData;

    /// Training targets with mean (1, 0); test targets (1, 2) and (3, 0): the zero field leaves
    /// (1 + 4 + 9 + 0) / 4 = 3.5, the mean field ((0 + 4) + (4 + 0)) / 4 = 2.
    #[test]
    fn trivial_fields_by_hand() {
        let t = |v: &[f64]| tensor_f32(v, 2, Device::Cpu);
        let data = TrainData {
            x: t(&[0.0; 4]),
            dx: t(&[0.0, 1.0, 2.0, -1.0]),
            x_test: t(&[0.0; 4]),
            dx_test: t(&[1.0, 3.0, 3.0, 0.0]),
        };
        // zero field: (1 + 9 + 9 + 0) / 4; the training mean (1, 0): (0 + 9 + 4 + 0) / 4
        assert!((data.zero_field_test_loss() - 4.75).abs() < 1e-12);
        assert!((data.mean_field_test_loss() - 3.25).abs() < 1e-12);
        assert!((data.trivial_field_test_loss() - 3.25).abs() < 1e-12);
    }

    #[test]
    fn batches_drawn_ahead_are_the_batches_drawn_one_step_at_a_time() {
        let members = || vec![Minibatches::new(10, 3, 1), Minibatches::new(10, 3, 2)];
        let mut direct = members();
        let mut queue = BatchQueue::new(members(), 10, Device::Cpu);
        // 300 steps cross the 256-step draw
        for step in 1..=300usize {
            let mut want: Vec<i64> = direct[0].next_batch().to_vec();
            want.extend(direct[1].next_batch().iter().map(|i| i + 10));
            let got = Vec::<i64>::try_from(&queue.next_step(301 - step)).unwrap();
            assert_eq!(got, want, "step {step}");
        }
    }

    #[test]
    fn minibatches_are_distinct_rows_and_reproducible() {
        let mut a = Minibatches::new(50, 20, 3);
        let mut b = Minibatches::new(50, 20, 3);
        let mut seen = vec![0usize; 50];
        for _ in 0..100 {
            let x = a.next_batch().to_vec();
            assert_eq!(x, b.next_batch());
            let mut s = x.clone();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), 20);
            for i in x {
                seen[i as usize] += 1;
            }
        }
        // each row drawn 40 times on average
        assert!(seen.iter().all(|&c| c > 15 && c < 70), "{seen:?}");
        assert_ne!(
            Minibatches::new(50, 20, 4).next_batch(),
            Minibatches::new(50, 20, 3).next_batch()
        );
    }

    /// A one-weight objective that records how it is called and returns a scripted loss per
    /// step (times zero-gradient `w`, so only weight decay moves `w`).
    struct Scripted {
        w: Tensor,
        /// The loss's slope in `w` (0: only weight decay moves it).
        slope: f64,
        rows: i64,
        losses: Vec<f64>,
        calls: std::cell::RefCell<Vec<Option<i64>>>,
    }

    impl Scripted {
        fn new(vs: &nn::VarStore, rows: i64, losses: Vec<f64>) -> Self {
            let w = vs.root().var("w", &[1], nn::Init::Const(1.0));
            Self {
                w,
                slope: 0.0,
                rows,
                losses,
                calls: Default::default(),
            }
        }
    }

    impl Objective for Scripted {
        fn train_rows(&self) -> i64 {
            self.rows
        }
        fn train_loss(&self, idx: Option<&Tensor>) -> LossParts {
            let mut calls = self.calls.borrow_mut();
            calls.push(idx.map(|i| i.size()[0]));
            let v = self.losses[(calls.len() - 1).min(self.losses.len() - 1)];
            let total = (&self.w * self.slope).sum(Kind::Float) + v;
            LossParts {
                parts: vec![("scripted", total.shallow_clone())],
                total,
            }
        }
        fn test_loss(&self) -> Vec<LossValues> {
            vec![LossValues {
                total: 0.0,
                parts: vec![],
            }]
        }
    }

    fn cfg(steps: usize, batch_size: usize, weight_decay: f64) -> TrainConfig {
        TrainConfig {
            steps,
            batch_size,
            weight_decay,
            learning_rate: 0.1,
            log_every: 5,
            ..TrainConfig::default()
        }
    }

    fn run(obj: &Scripted, vs: &nn::VarStore, c: &TrainConfig) -> MemberTraining {
        alone(obj, vs, c, 0)
    }

    /// One model trained by the loop, with `seed`'s minibatches.
    fn alone(obj: &dyn Objective, vs: &nn::VarStore, c: &TrainConfig, seed: u64) -> MemberTraining {
        let trained = train(obj, vs, c, &[seed], &ProgressBar::hidden(), |_, _| {}).unwrap();
        trained.members.into_iter().next().unwrap()
    }

    /// `dx/dt = x`: predictions that are not zero, so an error's sign matters.
    struct Echo;
    impl DynamicsModel for Echo {
        fn name(&self) -> &'static str {
            "echo"
        }
        fn dim(&self) -> i64 {
            2
        }
        fn time_derivative(&self, x: &Tensor, _train: bool) -> Tensor {
            x.shallow_clone()
        }
    }

    /// Over more rows than one chunk, the statistics are those of all the squared errors:
    /// inputs (1, 2) predicted as themselves against targets (i mod 7, 1) give squared errors
    /// (1 - i mod 7)^2 and 1.
    #[test]
    fn loss_stats_over_chunks_equal_the_whole() {
        let n = STATS_CHUNK as usize + 1000;
        let dx: Vec<f64> = (0..n).flat_map(|i| [(i % 7) as f64, 1.0]).collect();
        let xs: Vec<f64> = (0..n).flat_map(|_| [1.0, 2.0]).collect();
        let x = tensor_f32(&xs, 2, Device::Cpu);
        let s = loss_stats(&Echo, &x, &tensor_f32(&dx, 2, Device::Cpu));
        let sq: Vec<f64> = dx.iter().zip(&xs).map(|(t, p)| (p - t) * (p - t)).collect();
        let mean = sq.iter().sum::<f64>() / sq.len() as f64;
        let var = sq.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (sq.len() - 1) as f64;
        assert!((s.mean - mean).abs() < 1e-12, "{} {mean}", s.mean);
        assert!((s.se - var.sqrt() / (n as f64).sqrt()).abs() < 1e-12);
    }

    /// Chunks cover every row once, the last one short.
    #[test]
    fn row_chunks_cover_the_rows() {
        assert_eq!(
            row_chunks(10, 4).collect::<Vec<_>>(),
            vec![(0, 4), (4, 4), (8, 2)]
        );
        assert_eq!(row_chunks(8, 4).collect::<Vec<_>>(), vec![(0, 4), (4, 4)]);
        assert_eq!(row_chunks(0, 4).count(), 0);
        assert_eq!(
            row_chunks(3, 0).collect::<Vec<_>>(),
            vec![(0, 1), (1, 1), (2, 1)]
        );
    }

    /// The test loss over more rows than one chunk is the mean over all of them: targets
    /// (i mod 5, 2) against a zero field give the mean of (i mod 5)^2 and 4.
    #[test]
    fn chunked_mse_is_the_mean_over_every_row() {
        let n = 2 * STATS_CHUNK as usize + 77;
        let dx: Vec<f64> = (0..n).flat_map(|i| [(i % 5) as f64, 2.0]).collect();
        let x = tensor_f32(&vec![0.0; 2 * n], 2, Device::Cpu);
        let got = chunked_mse(&crate::testing::Still, &x, &tensor_f32(&dx, 2, Device::Cpu))
            .double_value(&[]);
        let want = dx.iter().map(|v| v * v).sum::<f64>() / (2 * n) as f64;
        assert!((got - want).abs() < 1e-5 * want, "{got} {want}");
        // one chunk or less: the plain mean
        let small = chunked_mse(
            &crate::testing::Still,
            &x.narrow(0, 0, 3),
            &tensor_f32(&dx[..6], 2, Device::Cpu),
        )
        .double_value(&[]);
        assert!((small - (0.0 + 4.0 + 1.0 + 4.0 + 4.0 + 4.0) / 6.0).abs() < 1e-6);
    }

    #[test]
    fn minibatches_only_when_asked() {
        for (batch, want) in [(0, None), (4, Some(4)), (10, None)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let obj = Scripted::new(&vs, 10, vec![1.0]);
            run(&obj, &vs, &cfg(3, batch, 0.0));
            assert_eq!(*obj.calls.borrow(), vec![want; 3], "batch_size {batch}");
        }
    }

    /// `rows` states uniform in [-1, 1]² from `seed`'s data stream with targets `field(q, p)`,
    /// the first `train` rows for training and the rest for testing; `poison` sets one input
    /// value (by flat index) to NaN after the targets are taken.
    fn plane_data(
        seed: u64,
        rows: usize,
        train: usize,
        field: impl Fn(f64, f64) -> [f64; 2],
        poison: Option<usize>,
    ) -> TrainData {
        let mut rng = stream(seed, Purpose::Dataset, 0);
        let mut x: Vec<f64> = (0..2 * rows).map(|_| rng.random_range(-1.0..1.0)).collect();
        let dx: Vec<f64> = x.chunks(2).flat_map(|r| field(r[0], r[1])).collect();
        if let Some(i) = poison {
            x[i] = f64::NAN;
        }
        let t = |v: &[f64]| tensor_f32(v, 2, Device::Cpu);
        let n = 2 * train;
        TrainData {
            x: t(&x[..n]),
            dx: t(&dx[..n]),
            x_test: t(&x[n..]),
            dx_test: t(&dx[n..]),
        }
    }

    /// The dissipative HNN's prior enters the loss as its own logged part (total = fit +
    /// prior), and on a conservative field it shrinks the learned dissipative part: the same
    /// tiny D-HNN trained on a spring's exact field from the same weights ends with a smaller
    /// mean |dD/dx| / mean |J dH/dx| with the prior (λ = 1) than without, by more than 10x.
    #[test]
    fn the_dissipative_prior_is_a_logged_part_that_shrinks_the_dissipative_part() {
        tch::set_num_threads(1);
        let data = plane_data(7, 64, 48, |q, p| [p, -q], None);
        let cfg = TrainConfig {
            steps: 300,
            learning_rate: 1e-2,
            weight_decay: 0.0,
            log_every: 100,
            ..TrainConfig::default()
        };
        let ratio = |penalty: f64| {
            let spec = hnn_models::ModelSpec {
                mlp: hnn_models::MlpConfig {
                    hidden: vec![16, 16],
                    ..Default::default()
                },
                dissipation_penalty: penalty,
                ..Default::default()
            };
            let (vs, m) = crate::seeded_init(11, || {
                let vs = nn::VarStore::new(Device::Cpu);
                let m = hnn_models::build_model("dhnn", &vs.root(), 2, &spec).unwrap();
                (vs, m)
            });
            let obj = StateObjective {
                model: m.as_ref(),
                data: &data,
            };
            let out = alone(&obj, &vs, &cfg, 0);
            let row = &out.history[1];
            let names: Vec<&str> = row.train_parts.iter().map(|(n, _)| n.as_str()).collect();
            if penalty > 0.0 {
                assert_eq!(names, ["dx_mse", "dissipation"]);
                let sum: f64 = row.train_parts.iter().map(|(_, v)| v).sum();
                assert!(
                    (sum - row.train_loss).abs() < 1e-6 * row.train_loss,
                    "{row:?}"
                );
                assert!(row.train_parts[1].1 > 0.0);
            } else {
                assert_eq!(names, ["dx_mse"]);
            }
            // the test loss is the fit alone
            assert_eq!(row.test_parts.len(), 1);
            let parts = m.field_parts(&data.x).unwrap();
            let mean_abs = |t: &Tensor| t.abs().mean(Kind::Float).double_value(&[]);
            mean_abs(&parts.dissipative) / mean_abs(&parts.conservative)
        };
        let (free, with_prior) = (ratio(0.0), ratio(1.0));
        assert!(
            with_prior < 0.1 * free,
            "dissipative part {with_prior} with the prior, {free} without"
        );
    }

    /// Members of a D-HNN seed ensemble with the prior train and log as their single runs:
    /// the same parts, fit and prior, at every logged step.
    #[test]
    fn ensemble_members_carry_the_dissipative_prior() {
        tch::set_num_threads(1);
        let spec = hnn_models::ModelSpec {
            mlp: hnn_models::MlpConfig {
                hidden: vec![8, 8],
                ..Default::default()
            },
            dissipation_penalty: 0.5,
            ..Default::default()
        };
        let build = |seed: u64| {
            crate::seeded_init(seed, || {
                let vs = nn::VarStore::new(Device::Cpu);
                let m = hnn_models::build_model("dhnn", &vs.root(), 2, &spec).unwrap();
                (vs, m)
            })
        };
        let data = |seed: u64| plane_data(seed, 30, 20, |q, p| [p, -q - 0.3 * p], None);
        let cfg = TrainConfig {
            steps: 6,
            batch_size: 8,
            learning_rate: 1e-2,
            log_every: 3,
            ..TrainConfig::default()
        };
        let seeds = [1u64, 2];
        let datas: Vec<TrainData> = seeds.iter().map(|&s| data(s)).collect();
        let members: Vec<_> = seeds.iter().map(|&s| build(s)).collect();
        let out = train_stacked("dhnn", &spec, &members, &datas, &cfg, &seeds, |_, _| {});
        for (k, &seed) in seeds.iter().enumerate() {
            let (vs1, m1) = build(seed);
            let obj = StateObjective {
                model: m1.as_ref(),
                data: &datas[k],
            };
            let single = alone(&obj, &vs1, &cfg, seed);
            assert_eq!(single.history.len(), 3); // steps 1, 3, 6
            for (a, b) in single.history.iter().zip(&out[k].history) {
                assert_eq!(a.train_parts.len(), 2);
                for ((na, va), (nb, vb)) in a.train_parts.iter().zip(&b.train_parts) {
                    assert_eq!(na, nb);
                    assert!((va - vb).abs() <= 1e-4 * va.abs(), "{k} {na}: {va} vs {vb}");
                }
                let sum: f64 = b.train_parts.iter().map(|(_, v)| v).sum();
                assert!((sum - b.train_loss).abs() <= 1e-6 * b.train_loss);
            }
        }
    }

    /// Trains `members` (each its store and model) as one stacked ensemble of `name`; their
    /// stores get the trained weights back.
    fn train_stacked(
        name: &str,
        spec: &hnn_models::ModelSpec,
        members: &[(nn::VarStore, Box<dyn DynamicsModel>)],
        datas: &[TrainData],
        cfg: &TrainConfig,
        seeds: &[u64],
        on_log: impl FnMut(usize, &LogRow),
    ) -> Vec<MemberTraining> {
        let stores: Vec<&nn::VarStore> = members.iter().map(|(v, _)| v).collect();
        let vs = nn::VarStore::new(Device::Cpu);
        let stacked = hnn_models::ensemble::stack_members(&stores, &vs).unwrap();
        let model = hnn_models::ensemble::build_ensemble(name, &stacked, spec)
            .unwrap()
            .unwrap();
        let data = EnsembleData::stack(&datas.iter().collect::<Vec<_>>()).unwrap();
        let objective = crate::ensemble::EnsembleObjective {
            model: model.as_ref(),
            data: &data,
            stacked: &stacked,
            stores: &stores,
        };
        train(&objective, &vs, cfg, seeds, &ProgressBar::hidden(), on_log)
            .unwrap()
            .members
    }

    /// With a zero loss gradient only weight decay moves a weight: Adam's first step is then
    /// exactly `lr` against the sign of `wd * w`, and without decay nothing moves.
    #[test]
    fn weight_decay_reaches_adam() {
        for (wd, want) in [(0.5, 0.9), (0.0, 1.0)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let obj = Scripted::new(&vs, 10, vec![1.0]);
            run(&obj, &vs, &cfg(1, 0, wd));
            let w = obj.w.double_value(&[0]);
            assert!((w - want).abs() < 1e-6, "wd {wd}: w = {w}");
        }
    }

    /// A loss of slope 1 in `w` makes every Adam step exactly the step's rate (the moments of a
    /// constant gradient cancel): four steps at 0.1 move `w` by 0.4, and under the cosine
    /// schedule by 0.1 · (1 + 0.853553 + 0.5 + 0.146447) = 0.25 (rates 0.1, 0.0853553, 0.05,
    /// 0.0146447).
    #[test]
    fn the_schedule_sets_each_steps_rate() {
        for (schedule, want) in [(LrSchedule::Constant, 0.6), (LrSchedule::Cosine, 0.75)] {
            let vs = nn::VarStore::new(Device::Cpu);
            let mut obj = Scripted::new(&vs, 10, vec![1.0]);
            obj.slope = 1.0;
            let c = TrainConfig {
                lr_schedule: schedule,
                ..cfg(4, 0, 0.0)
            };
            run(&obj, &vs, &c);
            let w = obj.w.double_value(&[0]);
            assert!((w - want).abs() < 1e-6, "{schedule:?}: w = {w}");
        }
        let rates: Vec<f64> = (1..=4)
            .map(|s| LrSchedule::Cosine.rate(0.1, s, 4))
            .collect();
        for (r, want) in rates.iter().zip([0.1, 0.0853553, 0.05, 0.0146447]) {
            assert!((r - want).abs() < 1e-7, "{rates:?}");
        }
        assert_eq!(LrSchedule::Constant.rate(0.1, 3, 4), 0.1);
    }

    /// The divergence is dated to the step it happens, not the log step that notices it, and
    /// training stops there.
    #[test]
    fn divergence_is_caught_at_its_step() {
        let nan = f64::NAN;
        for (losses, step) in [
            (vec![1.0, 1.0, nan], 3),
            (vec![2.0, 500.0, 1999.0, 2001.0, 1.0], 4),
            (vec![nan], 1),
            (vec![1.0, f64::INFINITY], 2),
        ] {
            let vs = nn::VarStore::new(Device::Cpu);
            let obj = Scripted::new(&vs, 10, losses.clone());
            let out = run(&obj, &vs, &cfg(12, 0, 0.0));
            let d = out.diverged.expect("diverged");
            assert_eq!(d.step, step, "{losses:?}");
            assert_eq!(d.limit.is_nan(), losses[0].is_nan());
            // stopped at the first log step at or after it (1, 5, 10, ...)
            let stop = if step == 1 { 1 } else { step.div_ceil(5) * 5 };
            assert_eq!(obj.calls.borrow().len(), stop, "{losses:?}");
            assert_eq!(out.history.last().unwrap().step, stop);
        }
        let d = Divergence {
            step: 4,
            loss: f64::NAN,
            limit: 2000.0,
        };
        assert_eq!(
            d.to_string(),
            "diverged at step 4 (loss not finite or above 2.000e3; NaN when stopped)"
        );
        // a loss that stays under 1000x its start is no divergence
        let vs = nn::VarStore::new(Device::Cpu);
        let obj = Scripted::new(&vs, 10, vec![2.0, 1999.0, 0.5]);
        let out = run(&obj, &vs, &cfg(12, 0, 0.0));
        assert!(out.diverged.is_none());
        assert_eq!(obj.calls.borrow().len(), 12);
        // logged at step 1, every 5 steps and the last; each row with its named parts
        let steps: Vec<usize> = out.history.iter().map(|r| r.step).collect();
        assert_eq!(steps, vec![1, 5, 10, 12]);
        assert_eq!(out.history[0].train_loss, 2.0);
        assert_eq!(
            out.history[1].train_parts,
            vec![("scripted".to_string(), 0.5)]
        );
        assert!(out.history[1].test_parts.is_empty());
        assert_eq!(out.steps, 12);
        let stats = LossStats { mean: 0.0, se: 0.0 };
        let o = TrainOutcome::of(out, (stats, stats), 3.0, 2);
        // the loop's 3 s shared by 2 members; 12 steps in the loop's time
        assert_eq!((o.seconds, o.steps_per_second), (1.5, 4.0));
    }

    /// A member of a seed ensemble trains as its single run does (same minibatches, same
    /// Adam), and a member whose data are NaN diverges alone at step 1 without touching the
    /// others.
    #[test]
    fn ensemble_members_train_as_their_single_runs_and_diverge_alone() {
        tch::set_num_threads(1);
        let spec = hnn_models::ModelSpec {
            mlp: hnn_models::MlpConfig {
                hidden: vec![16, 16],
                ..Default::default()
            },
            ..Default::default()
        };
        let build = |seed: i64| {
            crate::seeded_init(seed as u64, || {
                let vs = nn::VarStore::new(Device::Cpu);
                let m = hnn_models::build_model("hnn", &vs.root(), 2, &spec).unwrap();
                (vs, m)
            })
        };
        // spring data, member 1's inputs poisoned with a NaN
        let data =
            |seed: u64, poison: bool| plane_data(seed, 40, 30, |q, p| [p, -q], poison.then_some(3));
        let c = TrainConfig {
            steps: 25,
            batch_size: 8,
            learning_rate: 1e-2,
            weight_decay: 1e-4,
            log_every: 10,
            // both loops follow the same schedule
            lr_schedule: LrSchedule::Cosine,
            ..TrainConfig::default()
        };
        let seeds = [3u64, 4, 5];
        // the members trained as one ensemble: their own stores (weights copied back) and runs
        let together =
            |datas: &[TrainData], cfg: &TrainConfig, on_log: &mut dyn FnMut(usize, &LogRow)| {
                let members: Vec<_> = seeds.iter().map(|&s| build(s as i64)).collect();
                let out = train_stacked("hnn", &spec, &members, datas, cfg, &seeds, |k, r| {
                    on_log(k, r)
                });
                (members, out)
            };
        // member k trained alone, as its single run
        let alone = |k: usize, data: &TrainData, cfg: &TrainConfig| {
            let (vs, single) = build(seeds[k] as i64);
            let obj = StateObjective {
                model: single.as_ref(),
                data,
            };
            let out = alone(&obj, &vs, cfg, seeds[k]);
            (vs, out)
        };
        let datas: Vec<TrainData> = seeds.iter().map(|&s| data(s, s == 4)).collect();
        let mut logged = [0; 3];
        let (members, out) = together(&datas, &c, &mut |k, _| logged[k] += 1);
        // the poisoned member: diverged at step 1, stopped at its first log step
        let d = out[1].diverged.as_ref().expect("member 1 diverged");
        assert_eq!((d.step, out[1].steps, logged[1]), (1, 1, 1));
        assert!(d.limit.is_nan());
        for k in [0usize, 2] {
            assert!(out[k].diverged.is_none());
            assert_eq!((out[k].steps, logged[k]), (25, 4)); // steps 1, 10, 20, 25
            let (single_vs, single) = alone(k, &datas[k], &c);
            for (a, b) in single.history.iter().zip(&out[k].history) {
                assert_eq!(a.step, b.step);
                let rel = (a.train_loss - b.train_loss).abs() / a.train_loss;
                assert!(rel < 1e-4, "member {k} step {}: {rel}", a.step);
                let rel = (a.test_loss - b.test_loss).abs() / a.test_loss;
                assert!(rel < 1e-4, "member {k} step {} test: {rel}", a.step);
                assert_eq!(b.train_parts, vec![("dx_mse".to_string(), b.train_loss)]);
                assert_eq!(b.test_parts, vec![("dx_mse".to_string(), b.test_loss)]);
            }
            // the trained weights were copied back into the member's own store
            let ens_vars = members[k].0.variables();
            for (name, v) in single_vs.variables() {
                let diff = (&v - &ens_vars[&name]).abs().max().double_value(&[]);
                assert!(diff < 1e-4, "member {k} {name}: {diff}");
            }
        }
        // a limit below the first loss (factor 0.5): every member diverges at step 1, each
        // against half its own first loss
        let strict = TrainConfig {
            divergence_factor: 0.5,
            ..c.clone()
        };
        let clean: Vec<TrainData> = seeds.iter().map(|&s| data(s, false)).collect();
        let (_, out) = together(&clean, &strict, &mut |_, _| {});
        for m in &out {
            let d = m.diverged.as_ref().expect("diverged");
            let first = m.history[0].train_loss;
            assert_eq!((d.step, m.steps), (1, 1));
            assert!(
                (d.limit - 0.5 * first).abs() < 1e-6 * first,
                "{d:?} {first}"
            );
        }
        // full batch (batch_size 0): every member sees all its rows, as its single run does
        let full = TrainConfig {
            batch_size: 0,
            steps: 2,
            ..c.clone()
        };
        let (_, out) = together(&clean, &full, &mut |_, _| {});
        for (k, m) in out.iter().enumerate() {
            assert!(m.diverged.is_none());
            let (_, single) = alone(k, &clean[k], &full);
            let (a, b) = (single.history[0].train_loss, m.history[0].train_loss);
            assert!((a - b).abs() < 1e-5 * a, "member {k}: {a} vs {b}");
        }
        // shapes that differ cannot be stacked
        let short = TrainData {
            x: datas[0].x.narrow(0, 0, 10),
            dx: datas[0].dx.narrow(0, 0, 10),
            x_test: datas[0].x_test.shallow_clone(),
            dx_test: datas[0].dx_test.shallow_clone(),
        };
        assert!(EnsembleData::stack(&[&datas[0], &short]).is_none());
    }
}
