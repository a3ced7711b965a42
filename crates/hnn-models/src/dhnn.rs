//! The dissipative HNN of Sosanya & Greydanus (2022): two scalar networks, `H` and `D`.

use tch::{Tensor, nn};

use crate::model::{even_dim, scalar_gradient, symplectic};
use crate::{DynamicsModel, FieldParts, GradientMethod, Mlp, MlpConfig, Result};

/// Field `J dH/dx + dD/dx`: `dq/dt = dH/dp + dD/dq`, `dp/dt = -dH/dq + dD/dp` (a Helmholtz split
/// into a rotational, energy-conserving part and an irrotational, dissipative one).
///
/// The split is not unique: for a harmonic `D` (such as `D = qp`), `dD/dx` is also `J dH'/dx`
/// for the harmonic conjugate `H'`, so a field that conserves energy can be learned partly as
/// "dissipation". An optional prior, `λ · mean((dD/dx)²)` added to the training loss
/// ([`Self::with_dissipation_penalty`]), picks among the splits that fit the data the one with
/// the least dissipative part; `λ = 0` (the default) is the authors' model.
///
/// Variables: `p / "h" / "mlp"` and `p / "d" / "mlp"`.
#[derive(Debug)]
pub struct DissipativeHnn {
    h: Mlp,
    d: Mlp,
    dim: i64,
    gradient: GradientMethod,
    penalty: f64,
}

impl DissipativeHnn {
    pub fn new(p: &nn::Path, dim: i64, cfg: &MlpConfig, gradient: GradientMethod) -> Result<Self> {
        even_dim(dim)?;
        Ok(Self {
            h: Mlp::new(&(p / "h" / "mlp"), dim, 1, cfg)?,
            d: Mlp::new(&(p / "d" / "mlp"), dim, 1, cfg)?,
            dim,
            gradient,
            penalty: 0.0,
        })
    }

    /// Adds the prior `penalty · mean((dD/dx)²)` to training losses (a loss part named
    /// `"dissipation"`); 0 leaves the loss as the authors'.
    pub fn with_dissipation_penalty(mut self, penalty: f64) -> Self {
        self.penalty = penalty;
        self
    }

    /// `(dH/dx, dD/dx)`, kept differentiable in the weights when `train`.
    fn gradients(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        (
            scalar_gradient(&self.h, x, self.gradient, train),
            scalar_gradient(&self.d, x, self.gradient, train),
        )
    }

    /// Switches how the input gradients are computed (the weights are unchanged).
    pub fn set_gradient_method(&mut self, gradient: GradientMethod) {
        self.gradient = gradient;
    }

    /// The learned dissipation potential `D(x)`, detached.
    ///
    /// # Shapes
    /// `x: [batch, dim]` -> `[batch]`
    pub fn dissipation(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.d.forward(x).squeeze_dim(1))
    }
}

impl DynamicsModel for DissipativeHnn {
    fn name(&self) -> &'static str {
        "dhnn"
    }
    fn dim(&self) -> i64 {
        self.dim
    }
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor {
        let (gh, gd) = self.gradients(x, train);
        symplectic(&gh) + gd
    }
    fn training_output(&self, x: &Tensor) -> (Tensor, Vec<(&'static str, Tensor)>) {
        let (gh, gd) = self.gradients(x, true);
        let terms = dissipation_terms(&gd, self.penalty, &[]);
        (symplectic(&gh) + gd, terms)
    }
    fn energy(&self, x: &Tensor) -> Option<Tensor> {
        Some(tch::no_grad(|| self.h.forward(x).squeeze_dim(1)))
    }
    fn energy_gradient(&self, x: &Tensor) -> Option<Tensor> {
        Some(scalar_gradient(&self.h, x, self.gradient, false))
    }
    fn field_parts(&self, x: &Tensor) -> Option<FieldParts> {
        Some(FieldParts {
            conservative: symplectic(&scalar_gradient(&self.h, x, self.gradient, false)),
            dissipative: scalar_gradient(&self.d, x, self.gradient, false),
        })
    }
}

/// The prior's loss term `penalty · mean((dD/dx)²)` over the axes `over` (all when empty),
/// named `"dissipation"`; none when `penalty` is 0.
pub(crate) fn dissipation_terms(
    gd: &Tensor,
    penalty: f64,
    over: &[i64],
) -> Vec<(&'static str, Tensor)> {
    if penalty == 0.0 {
        return Vec::new();
    }
    let sq = gd.square();
    let mean = if over.is_empty() {
        sq.mean(tch::Kind::Float)
    } else {
        sq.mean_dim(over, false, tch::Kind::Float)
    };
    vec![("dissipation", mean * penalty)]
}
