//! The Lagrangian Neural Network (Cranmer, Greydanus, Hoyer, Battaglia, Spergel, Ho, 2020): one
//! network learns a scalar `L(q, q̇)`, and the motion is the Euler-Lagrange equation
//! `q̈ = (∇q̇∇q̇ᵀL)⁻¹ (∇qL − (∇q∇q̇ᵀL) q̇)`, by double backward.
//!
//! Tasks are in `(q, p)`. The model reads `q̇ = V p` through the task's velocity map (the same
//! one [`crate::SecondOrderNode`] uses) and returns `dq/dt = V p`, `dp/dt = V⁻¹ q̈`, so it is
//! trained and evaluated in the task's own coordinates like every other model.
//!
//! The authors' choices:
//! - softplus activations, kept whatever `model.activation` says: the Euler-Lagrange equation
//!   needs a second derivative that does not vanish;
//! - their initialisation (zero biases; normal weights of standard deviation `s / sqrt(w)`, `w`
//!   the layer's larger side, `s` = 2.2 for the input layer, 0.58·i for hidden layer `i`, `w`
//!   for the output layer) is [`LnnInit::Authors`], not the default: on the two-body task it
//!   left the loss at the zero model's for 2000 steps, where the orthogonal start every other
//!   model here uses trains (measured; crates/hnn-bench/RESULTS.md);
//! - their pseudo-inverse of `∇q̇∇q̇ᵀL` (`jnp.linalg.pinv`, whose default drops eigenvalues of
//!   magnitude at most `10 n ε` times the largest), here by eigendecomposition of the
//!   symmetric matrix.
//!
//! Nothing forces a learned `∇q̇∇q̇ᵀL` to be positive definite, so near-singular ones happen:
//! every solve whose matrix is ill-conditioned (condition number above `0.01 / ε`) or lost a
//! direction to the cutoff is counted ([`DynamicsModel::diagnostics`]) and reported with the
//! run.

use std::cell::Cell;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

use crate::mlp::{LayerInit, LayerShape};
use crate::model::even_dim;
use crate::{Activation, DynamicsModel, Mlp, MlpConfig, ModelError, Result};

/// Field `dq/dt = V p`, `dp/dt = V⁻¹ q̈(q, V p)`; variables `p / "mlp"` (input `(q, q̇)`,
/// output the scalar `L`).
#[derive(Debug)]
pub struct Lnn {
    mlp: Mlp,
    /// `Vᵀ`, `[n, n]`.
    velocity_t: Tensor,
    /// `(V⁻¹)ᵀ`, `[n, n]`.
    inverse_t: Tensor,
    dim: i64,
    solves: Cell<u64>,
    ill_conditioned: Cell<u64>,
    rank_deficient: Cell<u64>,
}

/// The Lagrangian NN's nonlinearity, whatever `model.activation` says: smooth to every order,
/// with a second derivative that never vanishes (the authors' choice).
pub const ACTIVATION: Activation = Activation::Softplus;

impl Lnn {
    /// `velocity`: the task's `V`, `n x n` row-major (`None`: the task declares no velocity
    /// map, and the model cannot be built).
    pub fn new(
        p: &nn::Path,
        dim: i64,
        cfg: &MlpConfig,
        velocity: Option<&[f64]>,
        init: LnnInit,
    ) -> Result<Self> {
        even_dim(dim)?;
        let n = dim / 2;
        let v = crate::node_so::velocity_matrix("lnn", velocity, n)?;
        let inverse = Tensor::f_linalg_inv(&v).ok().filter(|m| {
            let worst = m.abs().max().double_value(&[]);
            worst.is_finite()
        });
        let inverse = inverse.ok_or_else(|| ModelError::Config {
            key: "velocity",
            reason: "\"lnn\" needs an invertible velocity map dq/dt = V p (p = V⁻¹ q̇)".into(),
        })?;
        let as_t = |m: &Tensor| {
            m.transpose(0, 1)
                .to_kind(Kind::Float)
                .contiguous()
                .to_device(p.device())
        };
        let cfg = MlpConfig {
            activation: ACTIVATION,
            ..cfg.clone()
        };
        Ok(Self {
            mlp: Mlp::with_init(&(p / "mlp"), dim, 1, &cfg, |l| match init {
                LnnInit::Orthogonal => LayerInit::ORTHOGONAL,
                LnnInit::Authors => authors_init(l),
            })?,
            velocity_t: as_t(&v),
            inverse_t: as_t(&inverse),
            dim,
            solves: Cell::new(0),
            ill_conditioned: Cell::new(0),
            rank_deficient: Cell::new(0),
        })
    }

    /// `(q, q̇)` of states `x = (q, p)`, in `x`'s kind.
    fn coordinates(&self, x: &Tensor) -> (Tensor, Tensor) {
        let n = self.dim / 2;
        let vt = self.velocity_t.to_device(x.device()).to_kind(x.kind());
        (x.narrow(1, 0, n), x.narrow(1, n, n).matmul(&vt))
    }
}

/// How the Lagrangian NN's weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LnnInit {
    /// Orthogonal weights and PyTorch's default biases, as every other model here: the
    /// comparison's default.
    #[default]
    Orthogonal,
    /// The LNN authors' scheme (zero biases; normal weights of standard deviation 2.2, 0.58·i
    /// and `w` over `sqrt(w)` by layer), tuned for their double pendulum.
    Authors,
}

/// The LNN authors' initialisation (their `custom_init`): zero biases, normal weights with
/// standard deviation `s / sqrt(w)`, `w = max(fan_in, fan_out)`, `s` = 2.2 (input layer),
/// 0.58·i (hidden layer `i`), `w` (output layer).
fn authors_init(l: LayerShape) -> LayerInit {
    let w = l.fan_in.max(l.fan_out) as f64;
    let scale = if l.index == 0 {
        2.2
    } else if l.index + 1 == l.layers {
        w
    } else {
        0.58 * l.index as f64
    };
    LayerInit {
        weights: nn::Init::Randn {
            mean: 0.0,
            stdev: scale / w.sqrt(),
        },
        biases: Some(nn::Init::Const(0.0)),
    }
}

/// The Euler-Lagrange acceleration of a Lagrangian, and how many of its mass matrices were
/// singular or ill-conditioned.
pub struct Acceleration {
    /// `q̈`, `[batch, n]`.
    pub qdd: Tensor,
    /// Samples whose `∇q̇∇q̇ᵀL` has a condition number above `0.01 / ε` or is not finite.
    pub ill_conditioned: i64,
    /// Samples where the pseudo-inverse dropped a direction (an eigenvalue of magnitude at
    /// most `10 n ε` times the largest: the cutoff of the authors' `pinv`), or whose matrix was
    /// not finite (then `q̈ = 0` there).
    pub rank_deficient: i64,
}

/// `q̈ = (∇q̇∇q̇ᵀL)⁻¹ (∇qL − (∇q∇q̇ᵀL) q̇)` for the Lagrangian `lagrangian(z)` of `z = (q, q̇)`
/// (`[batch, 2n]` to `[batch]` or `[batch, 1]`), by double backward in `q`'s kind.
///
/// With `train` the result stays differentiable in whatever `lagrangian` depends on (its
/// weights) and in `q` and `q̇` when they carry a graph themselves (a state of an integrator
/// trained through); without, it is detached. Runs with gradients on whatever the caller's
/// mode.
///
/// # Shapes
/// `q, qdot: [batch, n]` -> `qdd: [batch, n]`
pub fn euler_lagrange(
    lagrangian: &dyn Fn(&Tensor) -> Tensor,
    q: &Tensor,
    qdot: &Tensor,
    train: bool,
) -> Acceleration {
    tch::with_grad(|| {
        let n = q.size()[1];
        let z = Tensor::cat(&[q, qdot], 1);
        let z = if train && z.requires_grad() {
            z
        } else {
            z.detach().set_requires_grad(true)
        };
        let l = lagrangian(&z);
        let l = l.sum(l.kind());
        let g = gradient(&l, &z, true);
        // row i of the Hessian: d(dL/dq̇_i)/dz = (∂²L/∂q̇_i∂q, ∂²L/∂q̇_i∂q̇)
        let rows: Vec<Tensor> = (0..n)
            .map(|i| gradient(&g.narrow(1, n + i, 1).sum(g.kind()), &z, train))
            .collect();
        let hessian = Tensor::stack(&rows, 1); // [batch, n, 2n]
        let mixed = hessian.narrow(2, 0, n); // ∂²L/∂q̇∂q
        let mass = hessian.narrow(2, n, n); // ∂²L/∂q̇∂q̇
        let qdot_z = z.narrow(1, n, n);
        let force = g.narrow(1, 0, n) - mixed.matmul(&qdot_z.unsqueeze(2)).squeeze_dim(2);
        let ill_conditioned = count_ill_conditioned(&mass);
        let (qdd, rank_deficient) = pseudo_solve(&mass, &force);
        Acceleration {
            qdd: if train { qdd } else { qdd.detach() },
            ill_conditioned,
            rank_deficient,
        }
    })
}

/// `d(scalar)/dz`, zero where the scalar does not depend on `z`; kept differentiable when
/// `create_graph`.
fn gradient(scalar: &Tensor, z: &Tensor, create_graph: bool) -> Tensor {
    if !scalar.requires_grad() {
        return z.zeros_like();
    }
    let g = Tensor::run_backward(&[scalar], &[z], true, create_graph).remove(0);
    if g.defined() { g } else { z.zeros_like() }
}

/// `M⁺ f` for symmetric `M` `[batch, n, n]` and `f` `[batch, n]`, by eigendecomposition, with
/// eigenvalues of magnitude at most `10 n ε` times the largest dropped (the cutoff of the
/// authors' `jnp.linalg.pinv`), and how many samples lost a direction that way. A matrix that
/// is not finite counts as rank-deficient and gives zero.
fn pseudo_solve(mass: &Tensor, force: &Tensor) -> (Tensor, i64) {
    let n = mass.size()[1];
    let eps = epsilon(mass.kind());
    let finite = mass.isfinite().flatten(1, 2).all_dim(1, false);
    let safe = mass.where_self(&finite.view([-1, 1, 1]), &mass.zeros_like());
    let sym = (&safe + safe.transpose(1, 2)) * 0.5;
    let (lambda, u) = sym.linalg_eigh("L");
    let magnitude = lambda.abs();
    let cutoff = magnitude.amax(&[1][..], true) * (10.0 * n as f64 * eps);
    let keep = magnitude.gt_tensor(&cutoff);
    let ones = lambda.ones_like();
    let inverse = lambda.where_self(&keep, &ones).reciprocal() * keep.to_kind(lambda.kind());
    let coefficients = u.transpose(1, 2).matmul(&force.unsqueeze(2)).squeeze_dim(2) * inverse;
    let qdd = u.matmul(&coefficients.unsqueeze(2)).squeeze_dim(2);
    let dropped = tch::no_grad(|| {
        keep.all_dim(1, false)
            .logical_and(&finite)
            .logical_not()
            .sum(Kind::Int64)
            .int64_value(&[])
    });
    (qdd, dropped)
}

fn epsilon(kind: Kind) -> f64 {
    if kind == Kind::Double {
        f64::EPSILON
    } else {
        f32::EPSILON as f64
    }
}

/// Matrices `[batch, n, n]` (symmetric) whose condition number exceeds `0.01 / ε` of their
/// kind, or that are not finite.
fn count_ill_conditioned(mass: &Tensor) -> i64 {
    tch::no_grad(|| {
        let eps = epsilon(mass.kind());
        let finite = mass.isfinite().flatten(1, 2).all_dim(1, false);
        let safe = mass.where_self(&mass.isfinite(), &mass.zeros_like());
        let eig = safe.linalg_eigvalsh("L").abs(); // [batch, n]
        let (largest, smallest) = (eig.amax(&[1][..], false), eig.amin(&[1][..], false));
        // cond > 0.01 / eps  <=>  smallest * 0.01 < largest * eps (and a zero matrix is bad)
        let good = (smallest * 0.01)
            .gt_tensor(&(&largest * eps))
            .logical_and(&largest.gt(0.0));
        let good = good.logical_and(&finite);
        good.logical_not().sum(Kind::Int64).int64_value(&[])
    })
}

impl DynamicsModel for Lnn {
    fn name(&self) -> &'static str {
        "lnn"
    }
    fn dim(&self) -> i64 {
        self.dim
    }
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor {
        let (q, qdot) = self.coordinates(x);
        let acc = euler_lagrange(&|z| self.mlp.forward(z), &q, &qdot, train);
        self.solves.set(self.solves.get() + x.size()[0] as u64);
        self.ill_conditioned
            .set(self.ill_conditioned.get() + acc.ill_conditioned as u64);
        self.rank_deficient
            .set(self.rank_deficient.get() + acc.rank_deficient as u64);
        let inverse_t = self.inverse_t.to_device(x.device()).to_kind(x.kind());
        let qdot = if train { qdot } else { qdot.detach() };
        Tensor::cat(&[qdot, acc.qdd.matmul(&inverse_t)], 1)
    }
    /// The learned energy `E = q̇ · ∂L/∂q̇ − L` (the Hamiltonian of `L`).
    fn energy(&self, x: &Tensor) -> Option<Tensor> {
        let (q, qdot) = self.coordinates(x);
        let z = Tensor::cat(&[&q, &qdot], 1)
            .detach()
            .set_requires_grad(true);
        let n = self.dim / 2;
        Some(tch::with_grad(|| {
            let l = self.mlp.forward(&z).squeeze_dim(1);
            let g = gradient(&l.sum(l.kind()), &z, false);
            let e = (g.narrow(1, n, n) * z.narrow(1, n, n)).sum_dim_intlist(1, false, l.kind()) - l;
            e.detach()
        }))
    }
    fn diagnostics(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("mass_matrix_solves", self.solves.get()),
            ("mass_matrix_ill_conditioned", self.ill_conditioned.get()),
            ("mass_matrix_rank_deficient", self.rank_deficient.get()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn f64s(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(&t.to_kind(Kind::Double).reshape([-1])).unwrap()
    }

    fn states(rows: &[[f64; 2]]) -> (Tensor, Tensor) {
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let x = Tensor::from_slice(&flat).view([-1, 2]);
        (x.narrow(1, 0, 1), x.narrow(1, 1, 1))
    }

    /// `L = m q̇²/2 − k q²/2`: `q̈ = −k q / m`, to rounding in double precision.
    #[test]
    fn spring_lagrangian_gives_the_true_field() {
        let (m, k) = (0.5, 3.0);
        let l = |z: &Tensor| {
            let (q, v) = (z.narrow(1, 0, 1), z.narrow(1, 1, 1));
            (v.square() * (m / 2.0) - q.square() * (k / 2.0)).squeeze_dim(1)
        };
        let (q, v) = states(&[[0.3, -1.2], [-2.0, 0.7], [1e-3, 4.0]]);
        let acc = euler_lagrange(&l, &q, &v, false);
        assert_eq!(acc.ill_conditioned, 0);
        for (got, q) in f64s(&acc.qdd).iter().zip(f64s(&q)) {
            assert!((got + k * q / m).abs() < 1e-10, "{got} vs {}", -k * q / m);
        }
    }

    /// The paper's pendulum `H = 2mgl(1 − cos q) + l²p²/(2m)` has `q̇ = l²p/m` and
    /// `L = m q̇²/(2l²) − 2mgl(1 − cos q)`: `q̈ = −2 g l³ sin q`, so `dp/dt = m q̈ / l² = −dH/dq`.
    #[test]
    fn pendulum_lagrangian_gives_the_true_field() {
        let (m, g, l_) = (1.3, 3.0, 0.8);
        let l = |z: &Tensor| {
            let (q, v) = (z.narrow(1, 0, 1), z.narrow(1, 1, 1));
            let kinetic = v.square() * (m / (2.0 * l_ * l_));
            let potential = (q.cos().neg() + 1.0) * (2.0 * m * g * l_);
            (kinetic - potential).squeeze_dim(1)
        };
        let (q, v) = states(&[[0.3, -1.2], [2.9, 0.7], [-1.0, 4.0]]);
        let acc = euler_lagrange(&l, &q, &v, false);
        for (got, q) in f64s(&acc.qdd).iter().zip(f64s(&q)) {
            let want = -2.0 * g * l_.powi(3) * q.sin();
            assert!((got - want).abs() < 1e-10, "{got} vs {want}");
            let dp = got * m / (l_ * l_);
            let want_dp = -2.0 * m * g * l_ * q.sin();
            assert!((dp - want_dp).abs() < 1e-10);
        }
    }

    /// The double pendulum (unit masses and lengths): a mass matrix that depends on `q` and a
    /// mixed term `∇q∇q̇ᵀL q̇` that does not vanish, against its closed-form accelerations.
    #[test]
    fn double_pendulum_lagrangian_gives_the_closed_form() {
        let g = 9.8;
        let l = |z: &Tensor| {
            let (t1, t2) = (z.narrow(1, 0, 1), z.narrow(1, 1, 1));
            let (w1, w2) = (z.narrow(1, 2, 1), z.narrow(1, 3, 1));
            let kinetic = w1.square() + w2.square() * 0.5 + &w1 * &w2 * (&t1 - &t2).cos();
            let potential = t1.cos() * (-2.0 * g) - t2.cos() * g;
            (kinetic - potential).squeeze_dim(1)
        };
        let rows = [[0.3, -1.1, 0.5, 2.0], [2.0, 0.4, -1.5, 0.2]];
        let flat: Vec<f64> = rows.iter().flatten().copied().collect();
        let x = Tensor::from_slice(&flat).view([-1, 4]);
        let acc = euler_lagrange(&l, &x.narrow(1, 0, 2), &x.narrow(1, 2, 2), false);
        let got = f64s(&acc.qdd);
        for (r, [t1, t2, w1, w2]) in rows.iter().enumerate() {
            let (a1, a2) = (0.5 * (t1 - t2).cos(), (t1 - t2).cos());
            let f1 = -0.5 * w2 * w2 * (t1 - t2).sin() - g * t1.sin();
            let f2 = w1 * w1 * (t1 - t2).sin() - g * t2.sin();
            let g1 = (f1 - a1 * f2) / (1.0 - a1 * a2);
            let g2 = (f2 - a2 * f1) / (1.0 - a1 * a2);
            assert!((got[2 * r] - g1).abs() < 1e-10, "{} vs {g1}", got[2 * r]);
            assert!(
                (got[2 * r + 1] - g2).abs() < 1e-10,
                "{} vs {g2}",
                got[2 * r + 1]
            );
        }
    }

    /// A Lagrangian linear in `q̇` (no mass) and one that ignores a velocity: every sample is
    /// counted, none is hidden.
    #[test]
    fn singular_mass_matrices_are_counted() {
        let (q, v) = states(&[[0.3, -1.2], [2.9, 0.7]]);
        let linear = |z: &Tensor| {
            (z.narrow(1, 1, 1) * 2.0 - z.narrow(1, 0, 1).square()).sum_dim_intlist(
                1,
                false,
                Kind::Double,
            )
        };
        let acc = euler_lagrange(&linear, &q, &v, false);
        assert_eq!((acc.ill_conditioned, acc.rank_deficient), (2, 2));
        // no mass at all: the pseudo-inverse keeps nothing
        assert_eq!(f64s(&acc.qdd), [0.0, 0.0]);
        let x = Tensor::from_slice(&[0.1, 0.2, 0.3, 0.4]).view([1, 4]);
        let one_mass = |z: &Tensor| {
            z.narrow(1, 2, 1).square().squeeze_dim(1) - z.narrow(1, 0, 1).cos().squeeze_dim(1)
        };
        let acc = euler_lagrange(&one_mass, &x.narrow(1, 0, 2), &x.narrow(1, 2, 2), false);
        assert_eq!((acc.ill_conditioned, acc.rank_deficient), (1, 1));
        // the kept direction: 2 q̈₁ = ∂L/∂q₁ = sin q₁; the dropped one gives 0
        let got = f64s(&acc.qdd);
        assert!(
            (got[0] - 0.1f64.sin() / 2.0).abs() < 1e-12 && got[1] == 0.0,
            "{got:?}"
        );
    }

    /// A 2 -> 2 -> 1 softplus network with set weights on the spring's `q̇ = 2p`: the model's
    /// field against the Euler-Lagrange equation worked by hand.
    #[test]
    fn tiny_network_matches_the_hand_computed_equation() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = MlpConfig {
            hidden: vec![2],
            ..MlpConfig::default()
        };
        let model = Lnn::new(&vs.root(), 2, &cfg, Some(&[2.0]), LnnInit::Authors).unwrap();
        // z_k = a_k q + b_k v + c_k, L = Σ w_k softplus(z_k)
        let (a, b, c, w) = ([0.7, -0.4], [1.1, 0.9], [0.2, -0.3], [1.5, 0.8]);
        let set = |name: &str, values: &[f64], shape: &[i64]| {
            let vals: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            tch::no_grad(|| {
                let mut var = vs.variables()[name].shallow_clone();
                var.copy_(&Tensor::from_slice(&vals).view(shape));
            });
        };
        set("mlp.l0.weight", &[a[0], b[0], a[1], b[1]], &[2, 2]);
        set("mlp.l0.bias", &c, &[2]);
        set("mlp.l1.weight", &w, &[1, 2]);
        let (q, p) = (0.4, -0.6);
        let v = 2.0 * p;
        let sigmoid = |z: f64| 1.0 / (1.0 + (-z).exp());
        let (mut lq, mut lvv, mut lvq, mut energy) = (0.0, 0.0, 0.0, 0.0);
        for k in 0..2 {
            let z = a[k] * q + b[k] * v + c[k];
            let (s, ds) = (sigmoid(z), sigmoid(z) * (1.0 - sigmoid(z)));
            lq += w[k] * s * a[k];
            lvv += w[k] * ds * b[k] * b[k];
            lvq += w[k] * ds * b[k] * a[k];
            energy += v * w[k] * s * b[k] - w[k] * (1.0 + z.exp()).ln();
        }
        let qdd = (lq - lvq * v) / lvv;
        let x = Tensor::from_slice(&[q as f32, p as f32]).view([1, 2]);
        let got = f64s(&model.time_derivative(&x, false));
        assert!((got[0] - v).abs() < 1e-6, "{got:?}");
        // dp/dt = V⁻¹ q̈ = q̈ / 2
        assert!(
            (got[1] - qdd / 2.0).abs() < 1e-5 * qdd.abs().max(1.0),
            "{got:?} vs {}",
            qdd / 2.0
        );
        assert_eq!((model.name(), model.dim()), ("lnn", 2));
        let e = f64s(&model.energy(&x).unwrap())[0];
        assert!((e - energy).abs() < 1e-5, "{e} vs {energy}");
        assert_eq!(
            model.diagnostics(),
            vec![
                ("mass_matrix_solves", 1),
                ("mass_matrix_ill_conditioned", 0),
                ("mass_matrix_rank_deficient", 0)
            ]
        );
    }

    /// Training keeps the field differentiable in the weights (a third-order graph), with the
    /// same values as evaluation's; a singular velocity map is refused.
    #[test]
    fn training_output_backpropagates_to_the_weights() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Lnn::new(
            &vs.root(),
            4,
            &MlpConfig::default(),
            Some(&[1.0, 0.0, 0.5, 2.0]),
            LnnInit::Orthogonal,
        )
        .unwrap();
        let x = Tensor::randn([5, 4], (Kind::Float, Device::Cpu));
        let train = model.time_derivative(&x, true);
        let eval = model.time_derivative(&x, false);
        assert!(train.requires_grad() && !eval.requires_grad());
        assert!(f64s(&(&train - &eval)).iter().all(|d| d.abs() < 1e-6));
        train.square().sum(Kind::Float).backward();
        let grads: f64 = vs
            .trainable_variables()
            .iter()
            .map(|v| v.grad().abs().sum(Kind::Float).double_value(&[]))
            .sum();
        assert!(grads.is_finite() && grads > 0.0);
        let e = Lnn::new(
            &vs.root(),
            2,
            &MlpConfig::default(),
            Some(&[0.0]),
            LnnInit::Orthogonal,
        )
        .unwrap_err();
        assert!(e.to_string().contains("invertible"), "{e}");
    }

    /// The thresholds follow the dtype's ε: condition 1e12 is ill-conditioned in f32 (above
    /// 0.01/ε ≈ 8e4) but not in f64 (4.5e13); 1e14 is in f64 too. The pseudo-inverse drops
    /// an eigenvalue at 3e-15 of the largest in f64 (under 10·n·ε = 4.4e-15 for n = 2).
    #[test]
    fn thresholds_follow_the_dtype() {
        let diag = |a: f64, b: f64, kind: Kind| {
            Tensor::from_slice(&[a, 0.0, 0.0, b])
                .view([1, 2, 2])
                .to_kind(kind)
        };
        assert_eq!(count_ill_conditioned(&diag(1.0, 1e-12, Kind::Double)), 0);
        assert_eq!(count_ill_conditioned(&diag(1.0, 1e-14, Kind::Double)), 1);
        assert_eq!(count_ill_conditioned(&diag(1.0, 1e-6, Kind::Float)), 1);
        assert_eq!(count_ill_conditioned(&diag(1.0, 1e-3, Kind::Float)), 0);
        let force = Tensor::from_slice(&[1.0, 1.0]).view([1, 2]);
        let (qdd, dropped) = pseudo_solve(&diag(1.0, 3e-15, Kind::Double), &force);
        assert_eq!((f64s(&qdd), dropped), (vec![1.0, 0.0], 1));
        let (qdd, dropped) = pseudo_solve(&diag(1.0, 1e-14, Kind::Double), &force);
        assert_eq!(dropped, 0);
        assert!((f64s(&qdd)[1] - 1e14).abs() < 1.0);
    }

    /// A network blind to velocity has no mass: every solve is counted, call after call.
    #[test]
    fn the_model_counts_its_singular_solves() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = MlpConfig {
            hidden: vec![2],
            ..MlpConfig::default()
        };
        let model = Lnn::new(&vs.root(), 2, &cfg, Some(&[1.0]), LnnInit::Orthogonal).unwrap();
        tch::no_grad(|| {
            let w = vs.variables()["mlp.l0.weight"].shallow_clone();
            let _ = w.narrow(1, 1, 1).zero_();
        });
        let x = Tensor::from_slice(&[0.1f32, 0.2, -0.3, 0.4]).view([2, 2]);
        for _ in 0..2 {
            let _ = model.time_derivative(&x, false);
        }
        assert_eq!(
            model.diagnostics(),
            vec![
                ("mass_matrix_solves", 4),
                ("mass_matrix_ill_conditioned", 4),
                ("mass_matrix_rank_deficient", 4)
            ]
        );
    }

    /// The authors' scales: 2.2, 0.58·i and `w` over `sqrt(w)`.
    #[test]
    fn authors_initialisation_scales() {
        let std = |index, layers, fan_in, fan_out| match authors_init(LayerShape {
            index,
            layers,
            fan_in,
            fan_out,
        })
        .weights
        {
            nn::Init::Randn { stdev, .. } => stdev,
            _ => unreachable!(),
        };
        assert!((std(0, 3, 2, 200) - 2.2 / 200f64.sqrt()).abs() < 1e-15);
        assert!((std(1, 3, 200, 200) - 0.58 / 200f64.sqrt()).abs() < 1e-15);
        assert!((std(2, 4, 200, 200) - 1.16 / 200f64.sqrt()).abs() < 1e-15);
        assert!((std(2, 3, 200, 1) - 200f64.sqrt()).abs() < 1e-12);
    }
}
