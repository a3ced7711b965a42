//! A second-order neural ODE (Gruver et al., ICLR 2022, "NODE+SO"): `dq/dt` is given by the
//! state through the task's velocity map `dq/dt = V p` (the kinematics, not learned), and one
//! network learns only `dp/dt(q, p)`. The first-order neural ODE is the baseline MLP.

use tch::{Tensor, nn};

use crate::model::even_dim;
use crate::{DynamicsModel, Mlp, MlpConfig, ModelError, Result};

/// Field `dq/dt = p Vᵀ`, `dp/dt = mlp(q, p)`; variables `p / "mlp"` (input the state, output
/// `n`). `V` is not a variable: it is the task's, stored with the model as a constant.
#[derive(Debug)]
pub struct SecondOrderNode {
    mlp: Mlp,
    /// `V` transposed, `[n, n]`.
    velocity_t: Tensor,
    dim: i64,
}

impl SecondOrderNode {
    /// `velocity`: the task's `V`, `n x n` row-major (`None`: the task declares no velocity
    /// map, and the model cannot be built).
    pub fn new(p: &nn::Path, dim: i64, cfg: &MlpConfig, velocity: Option<&[f64]>) -> Result<Self> {
        even_dim(dim)?;
        let n = dim / 2;
        let velocity_t = velocity_matrix("node-so", velocity, n)?
            .transpose(0, 1)
            .to_kind(tch::Kind::Float)
            .contiguous()
            .to_device(p.device());
        Ok(Self {
            mlp: Mlp::new(&(p / "mlp"), dim, n, cfg)?,
            velocity_t,
            dim,
        })
    }
}

/// The task's velocity map `V` as an `[n, n]` double tensor, for model `model`.
pub(crate) fn velocity_matrix(model: &str, velocity: Option<&[f64]>, n: i64) -> Result<Tensor> {
    let v = velocity.ok_or_else(|| ModelError::Config {
        key: "velocity",
        reason: format!(
            "\"{model}\" needs the task's velocity map dq/dt = V p, and this task declares none"
        ),
    })?;
    if v.len() as i64 != n * n {
        return Err(ModelError::Config {
            key: "velocity",
            reason: format!(
                "a velocity map of {} numbers for {n} degrees of freedom",
                v.len()
            ),
        });
    }
    Ok(Tensor::from_slice(v).view([n, n]))
}

impl DynamicsModel for SecondOrderNode {
    fn name(&self) -> &'static str {
        "node-so"
    }
    fn dim(&self) -> i64 {
        self.dim
    }
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor {
        let n = self.dim / 2;
        let p = x.narrow(1, n, n);
        let velocity_t = self.velocity_t.to_device(x.device()).to_kind(x.kind());
        let field = || Tensor::cat(&[p.matmul(&velocity_t), self.mlp.forward(x)], 1);
        if train { field() } else { tch::no_grad(field) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// `dq/dt` is exactly `V p`, whatever the weights; `dp/dt` is the network's.
    #[test]
    fn positions_move_by_the_velocity_map() {
        let vs = nn::VarStore::new(Device::Cpu);
        let v = [2.0, 0.0, 0.5, 1.0];
        let m = SecondOrderNode::new(&vs.root(), 4, &MlpConfig::default(), Some(&v)).unwrap();
        let x = Tensor::from_slice(&[0.3f32, -0.2, 1.0, 2.0, 0.0, 0.0, -1.0, 4.0]).view([2, 4]);
        let dx = m.time_derivative(&x, false);
        let got = Vec::<f32>::try_from(&dx.narrow(1, 0, 2).reshape([-1])).unwrap();
        // row 0: p = (1, 2): V p = (2, 0.5 + 2); row 1: p = (-1, 4): (-2, -0.5 + 4)
        assert_eq!(got, [2.0, 2.5, -2.0, 3.5]);
        assert_eq!(dx.size(), vec![2, 4]);
        // 3 layers: weights, biases but on the last; V is not a variable
        assert_eq!(vs.variables().len(), 5);
        let e = SecondOrderNode::new(&vs.root(), 4, &MlpConfig::default(), None).unwrap_err();
        assert!(e.to_string().contains("velocity map"), "{e}");
    }
}
