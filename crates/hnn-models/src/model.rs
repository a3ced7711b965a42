use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use crate::{Mlp, MlpConfig, ModelError, Result};

/// The model families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Baseline,
    Hnn,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Baseline => "baseline",
            ModelKind::Hnn => "hnn",
        }
    }
}

/// How an [`Hnn`] differentiates `H` with respect to its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GradientMethod {
    /// Explicit backpropagation through the MLP's layers ([`Mlp::input_gradient`]): the same
    /// numbers as autograd with far fewer graph nodes.
    #[default]
    Explicit,
    /// libtorch autograd with `create_graph` (the official implementation's way).
    Autograd,
}

/// A learned vector field: a batch of states to their time derivatives.
///
/// Training and evaluation code only sees this trait.
pub trait DynamicsModel {
    fn kind(&self) -> ModelKind;

    /// State dimension.
    fn dim(&self) -> i64;

    /// Predicted `dx/dt`.
    ///
    /// With `train = true` the result keeps what a loss needs to backpropagate into the
    /// weights; with `false` it is detached.
    ///
    /// # Shapes
    /// `x: [batch, dim]` -> `[batch, dim]`
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor;

    /// The scalar the model conserves, if it has one (an HNN's learned `H`).
    ///
    /// # Shapes
    /// `x: [batch, dim]` -> `[batch]`
    fn conserved_quantity(&self, _x: &Tensor) -> Option<Tensor> {
        None
    }
}

/// Baseline: an MLP that predicts `dx/dt` directly.
#[derive(Debug)]
pub struct Baseline {
    mlp: Mlp,
    dim: i64,
}

impl Baseline {
    pub fn new(p: &nn::Path, dim: i64, cfg: &MlpConfig) -> Result<Self> {
        Ok(Self {
            mlp: Mlp::new(&(p / "mlp"), dim, dim, cfg)?,
            dim,
        })
    }
}

impl DynamicsModel for Baseline {
    fn kind(&self) -> ModelKind {
        ModelKind::Baseline
    }
    fn dim(&self) -> i64 {
        self.dim
    }
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor {
        if train {
            self.mlp.forward(x)
        } else {
            tch::no_grad(|| self.mlp.forward(x))
        }
    }
}

/// Hamiltonian Neural Network: an MLP `H_theta(q, p)` with the field `(dH/dp, -dH/dq)`.
#[derive(Debug)]
pub struct Hnn {
    mlp: Mlp,
    dim: i64,
    gradient: GradientMethod,
}

impl Hnn {
    pub fn new(p: &nn::Path, dim: i64, cfg: &MlpConfig, gradient: GradientMethod) -> Result<Self> {
        if dim % 2 != 0 {
            return Err(ModelError::Config {
                key: "dim",
                reason: format!("an HNN needs an even state dimension (q and p), got {dim}"),
            });
        }
        Ok(Self {
            mlp: Mlp::new(&(p / "mlp"), dim, 1, cfg)?,
            dim,
            gradient,
        })
    }

    /// Switches how `dH/dx` is computed (the weights are unchanged).
    pub fn set_gradient_method(&mut self, gradient: GradientMethod) {
        self.gradient = gradient;
    }

    /// `dH/dx` for a batch.
    fn grad_h(&self, x: &Tensor, train: bool) -> Tensor {
        match self.gradient {
            GradientMethod::Explicit => {
                if train {
                    self.mlp.input_gradient(x)
                } else {
                    tch::no_grad(|| self.mlp.input_gradient(x))
                }
            }
            GradientMethod::Autograd => {
                let xg = x.detach().set_requires_grad(true);
                let h = self.mlp.forward(&xg).sum(tch::Kind::Float);
                let g = Tensor::run_backward(&[h], &[&xg], train, train).remove(0);
                if train { g } else { g.detach() }
            }
        }
    }
}

impl DynamicsModel for Hnn {
    fn kind(&self) -> ModelKind {
        ModelKind::Hnn
    }
    fn dim(&self) -> i64 {
        self.dim
    }
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor {
        let g = self.grad_h(x, train); // [batch, 2n]
        let n = self.dim / 2;
        let dh_dq = g.narrow(1, 0, n);
        let dh_dp = g.narrow(1, n, n);
        Tensor::cat(&[dh_dp, -dh_dq], 1)
    }
    fn conserved_quantity(&self, x: &Tensor) -> Option<Tensor> {
        Some(tch::no_grad(|| self.mlp.forward(x).squeeze_dim(1)))
    }
}

/// Saves all variables of `vs` (format chosen by the extension; use `.safetensors`).
pub fn save_checkpoint(vs: &nn::VarStore, path: &Path) -> Result<()> {
    vs.save(path).map_err(|source| ModelError::Checkpoint {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads variables saved by [`save_checkpoint`] into an identically built `vs`.
pub fn load_checkpoint(vs: &mut nn::VarStore, path: &Path) -> Result<()> {
    vs.load(path).map_err(|source| ModelError::Checkpoint {
        path: path.to_path_buf(),
        source,
    })
}
