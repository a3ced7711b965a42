//! A separable HNN: `H(q, p) = T(p) + V(q)` from two networks, so that leapfrog and Yoshida's
//! method can integrate the learned field symplectically with explicit steps.

use tch::{Tensor, nn};

use crate::model::{even_dim, scalar_gradient};
use crate::{DynamicsModel, GradientMethod, Mlp, MlpConfig, Result};

/// Field `dq/dt = dT/dp`, `dp/dt = -dV/dq`; variables `p / "t" / "mlp"` (input `p`) and
/// `p / "v" / "mlp"` (input `q`).
#[derive(Debug)]
pub struct SeparableHnn {
    t: Mlp,
    v: Mlp,
    dim: i64,
    gradient: GradientMethod,
}

impl SeparableHnn {
    pub fn new(p: &nn::Path, dim: i64, cfg: &MlpConfig, gradient: GradientMethod) -> Result<Self> {
        even_dim(dim)?;
        Ok(Self {
            t: Mlp::new(&(p / "t" / "mlp"), dim / 2, 1, cfg)?,
            v: Mlp::new(&(p / "v" / "mlp"), dim / 2, 1, cfg)?,
            dim,
            gradient,
        })
    }

    fn halves(&self, x: &Tensor) -> (Tensor, Tensor) {
        let n = self.dim / 2;
        (x.narrow(1, 0, n), x.narrow(1, n, n))
    }
}

impl DynamicsModel for SeparableHnn {
    fn name(&self) -> &'static str {
        "shnn"
    }
    fn dim(&self) -> i64 {
        self.dim
    }
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor {
        let (q, p) = self.halves(x);
        let dt = scalar_gradient(&self.t, &p, self.gradient, train);
        let dv = scalar_gradient(&self.v, &q, self.gradient, train);
        Tensor::cat(&[dt, -dv], 1)
    }
    fn energy(&self, x: &Tensor) -> Option<Tensor> {
        let (q, p) = self.halves(x);
        Some(tch::no_grad(|| {
            (self.t.forward(&p) + self.v.forward(&q)).squeeze_dim(1)
        }))
    }
    fn energy_gradient(&self, x: &Tensor) -> Option<Tensor> {
        let (q, p) = self.halves(x);
        Some(Tensor::cat(
            &[
                scalar_gradient(&self.v, &q, self.gradient, false),
                scalar_gradient(&self.t, &p, self.gradient, false),
            ],
            1,
        ))
    }
    fn velocity(&self, p: &Tensor) -> Option<Tensor> {
        Some(scalar_gradient(&self.t, p, self.gradient, false))
    }
    fn force(&self, q: &Tensor) -> Option<Tensor> {
        Some(-scalar_gradient(&self.v, q, self.gradient, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The field is (dT/dp, -dV/dq) of the two networks, its split halves agree with it, and
    /// the learned energy is T + V.
    #[test]
    fn field_energy_and_split_agree() {
        tch::set_num_threads(1);
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = MlpConfig {
            hidden: vec![8],
            ..MlpConfig::default()
        };
        let m = SeparableHnn::new(&vs.root(), 4, &cfg, GradientMethod::Explicit).unwrap();
        let x = Tensor::randn([5, 4], (Kind::Float, Device::Cpu));
        let f = m.time_derivative(&x, false);
        let (q, p) = (x.narrow(1, 0, 2), x.narrow(1, 2, 2));
        let v = m.velocity(&p).unwrap();
        let fo = m.force(&q).unwrap();
        assert!(f.narrow(1, 0, 2).allclose(&v, 1e-6, 1e-6, false));
        assert!(f.narrow(1, 2, 2).allclose(&fo, 1e-6, 1e-6, false));
        // autograd on H = T(p) + V(q) gives the same gradient
        let xg = x.detach().set_requires_grad(true);
        let h = m.t.forward(&xg.narrow(1, 2, 2)) + m.v.forward(&xg.narrow(1, 0, 2));
        let g = Tensor::run_backward(&[h.sum(Kind::Float)], &[&xg], false, false);
        assert!(g[0].allclose(&m.energy_gradient(&x).unwrap(), 1e-5, 1e-6, false));
        // a field that does not depend on q through T nor on p through V
        let e = m.energy(&x).unwrap();
        assert_eq!(e.size(), vec![5]);
        assert!(SeparableHnn::new(&vs.root(), 3, &cfg, GradientMethod::Explicit).is_err());
    }
}
