//! The dissipative HNN of Sosanya & Greydanus (2022): two scalar networks, `H` and `D`.

use tch::{Tensor, nn};

use crate::model::{even_dim, scalar_gradient, symplectic};
use crate::{DynamicsModel, FieldParts, GradientMethod, Mlp, MlpConfig, Result};

/// Field `J dH/dx + dD/dx`: `dq/dt = dH/dp + dD/dq`, `dp/dt = -dH/dq + dD/dp` (a Helmholtz split
/// into a rotational, energy-conserving part and an irrotational, dissipative one).
///
/// Variables: `p / "h" / "mlp"` and `p / "d" / "mlp"`.
#[derive(Debug)]
pub struct DissipativeHnn {
    h: Mlp,
    d: Mlp,
    dim: i64,
    gradient: GradientMethod,
}

impl DissipativeHnn {
    pub fn new(p: &nn::Path, dim: i64, cfg: &MlpConfig, gradient: GradientMethod) -> Result<Self> {
        even_dim(dim)?;
        Ok(Self {
            h: Mlp::new(&(p / "h" / "mlp"), dim, 1, cfg)?,
            d: Mlp::new(&(p / "d" / "mlp"), dim, 1, cfg)?,
            dim,
            gradient,
        })
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
        let gh = scalar_gradient(&self.h, x, self.gradient, train);
        let gd = scalar_gradient(&self.d, x, self.gradient, train);
        symplectic(&gh) + gd
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
