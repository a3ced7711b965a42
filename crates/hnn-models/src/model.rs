use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use crate::{Mlp, MlpConfig, ModelError, Result};

/// How a model differentiates a learned scalar (`H`, `D`) with respect to its input.
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

/// The two parts of a field that has them: `conservative = J dH/dx`, `dissipative = dD/dx`.
///
/// # Shapes
/// each `[batch, dim]`
pub struct FieldParts {
    pub conservative: Tensor,
    pub dissipative: Tensor,
}

/// A learned vector field: a batch of states to their time derivatives.
///
/// Training and evaluation code only sees this trait (and the registry's names). Models are
/// `Send` so a run can hand them to another thread.
pub trait DynamicsModel: Send {
    /// The registry name (`"baseline"`, `"hnn"`, ...).
    fn name(&self) -> &'static str;

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

    /// The learned energy `H_theta(x)`, detached, if the model has one.
    ///
    /// # Shapes
    /// `x: [batch, dim]` -> `[batch]`
    fn energy(&self, _x: &Tensor) -> Option<Tensor> {
        None
    }

    /// `dH_theta/dx`, detached, if the model has a learned energy.
    ///
    /// # Shapes
    /// `x: [batch, dim]` -> `[batch, dim]`
    fn energy_gradient(&self, _x: &Tensor) -> Option<Tensor> {
        None
    }

    /// The conservative and dissipative parts of the field, detached, for models built from
    /// both (the dissipative HNN).
    fn field_parts(&self, _x: &Tensor) -> Option<FieldParts> {
        None
    }

    /// Predicted `dx/dt` for training (kept differentiable in the weights) and the model's
    /// own penalty terms on the same states, by name (e.g. the dissipative HNN's prior on its
    /// dissipative part), each a scalar to add to the loss. Default: [`Self::time_derivative`]
    /// and no terms.
    ///
    /// # Shapes
    /// `x: [batch, dim]` -> `([batch, dim], [(name, [])])`
    fn training_output(&self, x: &Tensor) -> (Tensor, Vec<(&'static str, Tensor)>) {
        (self.time_derivative(x, true), Vec::new())
    }

    /// For a separable model `H = T(p) + V(q)`: `dq/dt = dT/dp` from the momenta alone,
    /// detached (what leapfrog and Yoshida need).
    ///
    /// # Shapes
    /// `p: [batch, dim / 2]` -> `[batch, dim / 2]`
    fn velocity(&self, _p: &Tensor) -> Option<Tensor> {
        None
    }

    /// For a separable model: `dp/dt = -dV/dq` from the positions alone, detached.
    fn force(&self, _q: &Tensor) -> Option<Tensor> {
        None
    }

    /// Counts the model keeps over its life, by name (e.g. the Lagrangian NN's singular mass
    /// matrices), for the run's summary; none by default.
    fn diagnostics(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// Settings every registered model is built from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelSpec {
    pub mlp: MlpConfig,
    pub gradient: GradientMethod,
    /// Weight `λ` of the dissipative HNN's prior `λ · mean((dD/dx)²)` on training batches
    /// (0: none, the D-HNN authors' model). See [`crate::DissipativeHnn`].
    pub dissipation_penalty: f64,
    /// The task's velocity map `dq/dt = V p` (`n x n`, row-major), for models whose positions
    /// move by the kinematics (`"node-so"`); `None` where the task declares none.
    pub velocity: Option<Vec<f64>>,
    /// How the Lagrangian NN's weights start.
    pub lnn_init: crate::LnnInit,
}

/// One registered model family.
pub struct ModelInfo {
    /// Name in configs, checkpoints, `summary.json` and tables.
    pub name: &'static str,
    /// Name in plot legends.
    pub label: &'static str,
    /// How the field is made from the networks, for checkpoints' metadata (networks by their
    /// variable path; `x = (q, p)`).
    pub field: &'static str,
    /// The nonlinearity the family always uses, whatever `model.activation` says.
    pub activation: Option<crate::Activation>,
    /// Colour in plots (RGB).
    pub color: [u8; 3],
    /// Whether the state must split into `q` and `p` halves (an even dimension).
    pub canonical: bool,
    /// Whether its field is separable (`H = T(p) + V(q)`), so leapfrog and Yoshida apply.
    pub separable: bool,
    /// Whether it needs the task's velocity map ([`ModelSpec::velocity`]).
    pub needs_velocity: bool,
    pub build: fn(&nn::Path, i64, &ModelSpec) -> Result<Box<dyn DynamicsModel>>,
    /// Builds `K` members as one batched network from their stacked variables
    /// ([`crate::ensemble`]); `None`: seed ensembles of this family train one seed at a time.
    pub ensemble: Option<EnsembleBuild>,
}

/// How a family builds its batched ensemble from stacked member variables.
pub type EnsembleBuild =
    fn(&crate::ensemble::Stacked, &ModelSpec) -> Result<Box<dyn crate::ensemble::EnsembleModel>>;

/// Every model that configs can name. Adding a model: its file in this crate and one entry here.
pub const MODELS: &[ModelInfo] = &[
    ModelInfo {
        name: "baseline",
        label: "Baseline NN",
        field: "dx/dt = mlp(x)",
        activation: None,
        color: [220, 40, 40],
        canonical: false,
        separable: false,
        needs_velocity: false,
        build: |p, dim, spec| Ok(Box::new(Baseline::new(p, dim, &spec.mlp)?)),
        ensemble: Some(crate::ensemble::baseline),
    },
    ModelInfo {
        name: "hnn",
        label: "Hamiltonian NN",
        field: "H = mlp(x); dx/dt = (dH/dp, -dH/dq)",
        activation: None,
        color: [40, 70, 220],
        canonical: true,
        separable: false,
        needs_velocity: false,
        build: |p, dim, spec| Ok(Box::new(Hnn::new(p, dim, &spec.mlp, spec.gradient)?)),
        ensemble: Some(crate::ensemble::hnn),
    },
    ModelInfo {
        name: "dhnn",
        label: "Dissipative HNN",
        field: "H = h.mlp(x), D = d.mlp(x); dx/dt = (dH/dp, -dH/dq) + dD/dx",
        activation: None,
        color: [30, 150, 60],
        canonical: true,
        separable: false,
        needs_velocity: false,
        build: |p, dim, spec| {
            Ok(Box::new(
                crate::DissipativeHnn::new(p, dim, &spec.mlp, spec.gradient)?
                    .with_dissipation_penalty(spec.dissipation_penalty),
            ))
        },
        ensemble: Some(crate::ensemble::dhnn),
    },
    ModelInfo {
        name: "shnn",
        label: "Separable HNN",
        field: "H = t.mlp(p) + v.mlp(q); dx/dt = (dH/dp, -dH/dq)",
        activation: None,
        color: [150, 60, 200],
        canonical: true,
        separable: true,
        needs_velocity: false,
        build: |p, dim, spec| {
            Ok(Box::new(crate::SeparableHnn::new(
                p,
                dim,
                &spec.mlp,
                spec.gradient,
            )?))
        },
        ensemble: None,
    },
    ModelInfo {
        name: "node-so",
        label: "NODE+SO",
        field: "dx/dt = (V p, mlp(x)), V = velocity",
        activation: None,
        color: [230, 140, 20],
        canonical: true,
        separable: false,
        needs_velocity: true,
        build: |p, dim, spec| {
            Ok(Box::new(crate::SecondOrderNode::new(
                p,
                dim,
                &spec.mlp,
                spec.velocity.as_deref(),
            )?))
        },
        ensemble: None,
    },
    ModelInfo {
        name: "lnn",
        label: "Lagrangian NN",
        field: "L = mlp(q, qd), qd = V p; dx/dt = (qd, V^-1 qdd), qdd = pinv(M) (dL/dq - C qd), M_ij = d2L/dqd_i dqd_j, C_ij = d2L/dqd_i dq_j, pinv dropping eigenvalues below 10 n eps max|eig|, V = velocity",
        activation: Some(crate::lnn::ACTIVATION),
        color: [120, 80, 40],
        canonical: true,
        separable: false,
        needs_velocity: true,
        build: |p, dim, spec| {
            Ok(Box::new(crate::Lnn::new(
                p,
                dim,
                &spec.mlp,
                spec.velocity.as_deref(),
                spec.lnn_init,
            )?))
        },
        ensemble: None,
    },
];

/// The registry entry of `name`.
pub fn model_info(name: &str) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| m.name == name)
}

/// Checks that model `name` exists and fits a state of dimension `dim`.
pub fn check_model(name: &str, dim: usize) -> Result<&'static ModelInfo> {
    let info = model_info(name).ok_or_else(|| ModelError::UnknownModel {
        name: name.to_string(),
        known: MODELS
            .iter()
            .map(|m| format!("\"{}\"", m.name))
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    if info.canonical && !dim.is_multiple_of(2) {
        return Err(ModelError::Config {
            key: "dim",
            reason: format!(
                "model \"{name}\" needs an even state dimension (q and p), the task has {dim}"
            ),
        });
    }
    Ok(info)
}

/// Builds model `name` under `p / name` (so checkpoint keys start with the model's name).
pub fn build_model(
    name: &str,
    p: &nn::Path,
    dim: i64,
    spec: &ModelSpec,
) -> Result<Box<dyn DynamicsModel>> {
    let info = check_model(name, dim.max(0) as usize)?;
    (info.build)(&(p / info.name), dim, spec)
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
    fn name(&self) -> &'static str {
        "baseline"
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

/// `d mlp(x) / dx` for a scalar-output MLP, kept differentiable in the weights when `train`.
pub(crate) fn scalar_gradient<N: crate::mlp::ScalarNet + ?Sized>(
    net: &N,
    x: &Tensor,
    method: GradientMethod,
    train: bool,
) -> Tensor {
    match method {
        GradientMethod::Explicit => {
            if train {
                net.input_gradient(x)
            } else {
                tch::no_grad(|| net.input_gradient(x))
            }
        }
        GradientMethod::Autograd => {
            // a state that is itself differentiable (a step of an integrator trained
            // through) keeps its graph; data enter as a fresh leaf
            let xg = if train && x.requires_grad() {
                x.shallow_clone()
            } else {
                x.detach().set_requires_grad(true)
            };
            let h = net.forward(&xg).sum(tch::Kind::Float);
            let g = Tensor::run_backward(&[h], &[&xg], train, train).remove(0);
            if train { g } else { g.detach() }
        }
    }
}

/// `J g = (g_p, -g_q)` for `g = (g_q, g_p)` on the last axis.
///
/// # Shapes
/// `g: [.., batch, 2n]` -> the same
pub(crate) fn symplectic(g: &Tensor) -> Tensor {
    let axis = g.dim() as i64 - 1;
    let n = g.size()[axis as usize] / 2;
    Tensor::cat(&[g.narrow(axis, n, n), -g.narrow(axis, 0, n)], axis)
}

pub(crate) fn even_dim(dim: i64) -> Result<()> {
    if dim % 2 != 0 {
        return Err(ModelError::Config {
            key: "dim",
            reason: format!("needs an even state dimension (q and p), got {dim}"),
        });
    }
    Ok(())
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
        even_dim(dim)?;
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
}

impl DynamicsModel for Hnn {
    fn name(&self) -> &'static str {
        "hnn"
    }
    fn dim(&self) -> i64 {
        self.dim
    }
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor {
        symplectic(&scalar_gradient(&self.mlp, x, self.gradient, train))
    }
    fn energy(&self, x: &Tensor) -> Option<Tensor> {
        Some(tch::no_grad(|| self.mlp.forward(x).squeeze_dim(1)))
    }
    fn energy_gradient(&self, x: &Tensor) -> Option<Tensor> {
        Some(scalar_gradient(&self.mlp, x, self.gradient, false))
    }
}

/// Multiply-adds of one forward pass of an MLP `input -> hidden... -> output` (biases left out).
pub fn mlp_macs(input: i64, output: i64, hidden: &[i64]) -> f64 {
    let mut sizes = vec![input];
    sizes.extend_from_slice(hidden);
    sizes.push(output);
    sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum()
}

/// Weights of model `name` on a `dim`-dimensional state (biases left out): what training holds
/// four single-precision copies of (weights, gradients, Adam's two moments). Unknown names count
/// as one network from the state to its derivative.
pub fn model_weights(name: &str, dim: i64, spec: &ModelSpec) -> f64 {
    let h = &spec.mlp.hidden;
    match name {
        "hnn" => mlp_macs(dim, 1, h),
        "dhnn" => 2.0 * mlp_macs(dim, 1, h),
        "shnn" => 2.0 * mlp_macs(dim / 2, 1, h),
        "node-so" => mlp_macs(dim, dim / 2, h),
        "lnn" => mlp_macs(dim, 1, h),
        _ => mlp_macs(dim, dim, h),
    }
}

/// The arithmetic floor of model `name` on a `dim`-dimensional state: floating-point operations
/// per sample of one training step, and per state of one field evaluation.
///
/// Two operations per multiply-add of the layers' matrix products; a training step is three
/// times its forward work (forward, gradient to the inputs, gradient to the weights). A model
/// whose field is a gradient (`dH/dx`) runs a second pass through its layers to get it, so its
/// field costs twice its forward pass and its training step three times that. Element-wise
/// work is left out: it is the part this floor does not count.
pub fn flops(name: &str, dim: i64, spec: &ModelSpec) -> Option<(f64, f64)> {
    let h = &spec.mlp.hidden;
    let gradient_model = |input: i64| {
        let field = 2.0 * 2.0 * mlp_macs(input, 1, h);
        (3.0 * field, field)
    };
    match name {
        "baseline" => {
            let forward = 2.0 * mlp_macs(dim, dim, h);
            Some((3.0 * forward, forward))
        }
        "hnn" => Some(gradient_model(dim)),
        "dhnn" => {
            let (t, e) = gradient_model(dim);
            Some((2.0 * t, 2.0 * e))
        }
        "shnn" => {
            let (t, e) = gradient_model(dim / 2);
            Some((2.0 * t, 2.0 * e))
        }
        "node-so" => {
            let forward = 2.0 * mlp_macs(dim, dim / 2, h);
            Some((3.0 * forward, forward))
        }
        "lnn" => {
            // forward, the gradient (one pass back), and per degree of freedom one row of the
            // Hessian by double backward (a pass back through the gradient's graph: two)
            let forward = 2.0 * mlp_macs(dim, 1, h);
            let field = forward * (2.0 + dim as f64);
            Some((3.0 * field, field))
        }
        _ => None,
    }
}

#[cfg(test)]
mod flop_tests {
    use super::*;

    /// By hand for the paper's 2 -> 200 -> 200 -> out network: 2*200 + 200*200 + 200*out.
    #[test]
    fn flops_by_hand() {
        assert_eq!(mlp_macs(2, 2, &[200, 200]), 400.0 + 40_000.0 + 400.0);
        let spec = ModelSpec::default();
        // baseline: forward 2 * 40800, training 3x that
        assert_eq!(flops("baseline", 2, &spec), Some((244_800.0, 81_600.0)));
        // HNN: 2 -> 200 -> 200 -> 1 is 40600 MACs; field 4x, training 12x
        assert_eq!(flops("hnn", 2, &spec), Some((487_200.0, 162_400.0)));
        assert_eq!(flops("dhnn", 2, &spec), Some((974_400.0, 324_800.0)));
        // two 1 -> 200 -> 200 -> 1 networks of 40400 MACs
        assert_eq!(
            flops("shnn", 2, &spec),
            Some((2.0 * 12.0 * 40_400.0, 2.0 * 4.0 * 40_400.0))
        );
        // LNN: forward 2 * 40600, its field (2 + dim) forwards' worth, training 3x that
        assert_eq!(flops("lnn", 2, &spec), Some((974_400.0, 324_800.0)));
        assert_eq!(flops("nope", 2, &spec), None);
    }
}
