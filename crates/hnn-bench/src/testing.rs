//! Models shared by the unit tests.

use hnn_models::DynamicsModel;

/// A "model" on a 2-D state whose field is zero: its rollout stays at its start, and its
/// squared errors are the targets squared.
pub(crate) struct Still;

impl DynamicsModel for Still {
    fn name(&self) -> &'static str {
        "still"
    }
    fn dim(&self) -> i64 {
        2
    }
    fn time_derivative(&self, x: &tch::Tensor, _train: bool) -> tch::Tensor {
        x.zeros_like()
    }
}
