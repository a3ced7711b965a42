//! A seed ensemble as an objective: the `K` members of one model family, their weights stacked
//! into one batched network (`hnn_models::ensemble`), trained by the one loop
//! ([`crate::train::train`]) as `K` models at once. Member `k` sees only its own data and its
//! own minibatches, and its weights go back to its own store when it is done.

use hnn_models::ensemble::{EnsembleModel, Stacked, unstack_member};
use tch::{Kind, Tensor, nn};

use crate::train::{
    LossParts, LossValues, Objective, STATS_CHUNK, TrainData, row_chunks, tensor_f64,
};

/// The training data of `K` ensemble members, stacked: member `k`'s training rows are rows
/// `k * n .. (k + 1) * n` of `x` and `dx`.
///
/// # Shapes
/// `x`, `dx`: `[K * n, dim]`; `x_test`, `dx_test`: `[K, n_test, dim]`.
pub struct EnsembleData {
    pub x: Tensor,
    pub dx: Tensor,
    pub x_test: Tensor,
    pub dx_test: Tensor,
    /// Training rows per member.
    pub n: i64,
}

impl EnsembleData {
    /// Stacks the members' data; `None` when their shapes differ (such members cannot share
    /// one batched network).
    pub fn stack(members: &[&TrainData]) -> Option<Self> {
        let first = members.first()?;
        let shapes = |d: &TrainData| (d.x.size(), d.dx.size(), d.x_test.size(), d.dx_test.size());
        if members.iter().any(|d| shapes(d) != shapes(first)) {
            return None;
        }
        let cat = |f: fn(&TrainData) -> &Tensor| {
            Tensor::cat(&members.iter().map(|d| f(d)).collect::<Vec<_>>(), 0)
        };
        let stack = |f: fn(&TrainData) -> &Tensor| {
            Tensor::stack(&members.iter().map(|d| f(d)).collect::<Vec<_>>(), 0)
        };
        Some(Self {
            x: cat(|d| &d.x),
            dx: cat(|d| &d.dx),
            x_test: stack(|d| &d.x_test),
            dx_test: stack(|d| &d.dx_test),
            n: first.x.size()[0],
        })
    }

    fn members(&self) -> i64 {
        self.x_test.size()[0]
    }
}

/// Per-member mean squared error of `pred` against `target`, both `[K, rows, dim]` -> `[K]`.
fn member_mse(pred: &Tensor, target: &Tensor) -> Tensor {
    (pred - target)
        .square()
        .mean_dim(&[1i64, 2][..], false, Kind::Float)
}

/// The mean squared error of `dx/dt` of every member on its own data, with the family's own
/// penalty terms: the state objective of `K` models at once.
pub struct EnsembleObjective<'a> {
    pub model: &'a dyn EnsembleModel,
    pub data: &'a EnsembleData,
    /// The stacked weights, and each member's own store they go back to.
    pub stacked: &'a Stacked,
    pub stores: &'a [&'a nn::VarStore],
}

impl EnsembleObjective<'_> {
    /// Every member's mean squared error on its test split, in chunks of rows so that the
    /// activations of `K` members never exceed those of one [`STATS_CHUNK`]-row pass.
    fn test_mse(&self) -> Vec<f64> {
        let data = self.data;
        let (k, n) = (data.members(), data.x_test.size()[1]);
        let mut sums = vec![0.0; k as usize];
        for (start, len) in row_chunks(n, STATS_CHUNK / k) {
            let mse = tch::no_grad(|| {
                member_mse(
                    &self
                        .model
                        .time_derivative(&data.x_test.narrow(1, start, len), false),
                    &data.dx_test.narrow(1, start, len),
                )
            });
            for (s, v) in sums.iter_mut().zip(tensor_f64(&mse)) {
                *s += v * len as f64;
            }
        }
        sums.into_iter().map(|s| s / n as f64).collect()
    }
}

impl Objective for EnsembleObjective<'_> {
    fn members(&self) -> usize {
        self.data.members() as usize
    }
    fn train_rows(&self) -> i64 {
        self.data.n
    }
    fn train_loss(&self, idx: Option<&Tensor>) -> LossParts {
        let (k, dim) = (self.data.members(), self.data.x.size()[1]);
        let (xb, dxb) = match idx {
            None => (
                self.data.x.view([k, self.data.n, dim]),
                self.data.dx.view([k, self.data.n, dim]),
            ),
            Some(i) => (
                self.data.x.index_select(0, i).view([k, -1, dim]),
                self.data.dx.index_select(0, i).view([k, -1, dim]),
            ),
        };
        let (pred, terms) = self.model.training_output(&xb);
        let fit = member_mse(&pred, &dxb);
        // not `+=`: tch's is in place, and would change the fit part it started from
        let total = terms
            .iter()
            .fold(fit.shallow_clone(), |sum, (_, term)| sum + term);
        let mut parts = vec![("dx_mse", fit)];
        parts.extend(terms);
        LossParts { total, parts }
    }
    fn test_loss(&self) -> Vec<LossValues> {
        self.test_mse()
            .into_iter()
            .map(|mse| LossValues {
                total: mse,
                parts: vec![("dx_mse".to_string(), mse)],
            })
            .collect()
    }
    fn keep_member(&self, m: usize) -> crate::error::Result<()> {
        Ok(unstack_member(self.stacked, m as i64, self.stores[m])?)
    }
}
