//! Training through the integrator (`train.objective = "rollout"`): windows of `k` consecutive
//! observed states of the training trajectories; from each window's first state the model's
//! field is integrated over the window's own times with a fixed-step method inside autograd,
//! and the loss is the mean squared error of the states reached against the observed ones. No
//! derivative targets are used.
//!
//! Cost per training step: `(k - 1) * substeps` integrator steps of 4 field evaluations (RK4)
//! or 5 (implicit midpoint, its fixed point unrolled: one Euler predictor and 4 iterations) per
//! window, each differentiated through, against 1 evaluation per sample for `dx/dt` targets.

use ndarray::Array2;
use tch::{Device, Kind, Tensor, nn};

use crate::config::{Experiment, RolloutConfig, RolloutIntegrator};
use crate::error::Result;
use crate::tasks::{Learner, Samples};
use crate::train::{LossParts, LossStats, LossValues, Objective, StateObjective, TrainData};
use hnn_models::DynamicsModel;

/// One observed trajectory: its times and states (`[t.len(), dim]` row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub t: Vec<f64>,
    pub x: Vec<f64>,
}

/// The observed trajectories of the training and the test split.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sequences {
    pub train: Vec<Sequence>,
    pub test: Vec<Sequence>,
}

/// Fixed-point iterations of the implicit midpoint rule, after an Euler predictor.
const MIDPOINT_ITERATIONS: usize = 4;

/// Windows per pass when the test split is evaluated.
const TEST_CHUNK: i64 = 1024;

/// Every window of `k` consecutive states of `sequences`.
///
/// # Shapes
/// `start: [W, dim]`, `targets: [W, k - 1, dim]`, `dt: [W, k - 1, 1]`
struct Windows {
    start: Tensor,
    targets: Tensor,
    dt: Tensor,
}

impl Windows {
    fn new(sequences: &[Sequence], k: usize, dim: usize, device: Device) -> Self {
        let (mut start, mut targets, mut dt) = (Vec::new(), Vec::new(), Vec::new());
        for s in sequences {
            let n = s.t.len();
            for first in 0..(n + 1).saturating_sub(k) {
                start.extend(
                    s.x[first * dim..(first + 1) * dim]
                        .iter()
                        .map(|&v| v as f32),
                );
                targets.extend(
                    s.x[(first + 1) * dim..(first + k) * dim]
                        .iter()
                        .map(|&v| v as f32),
                );
                dt.extend((first..first + k - 1).map(|j| (s.t[j + 1] - s.t[j]) as f32));
            }
        }
        let w = (start.len() / dim) as i64;
        let (d, k1) = (dim as i64, k as i64 - 1);
        Self {
            start: Tensor::from_slice(&start).view([w, d]).to_device(device),
            targets: Tensor::from_slice(&targets)
                .view([w, k1, d])
                .to_device(device),
            dt: Tensor::from_slice(&dt).view([w, k1, 1]).to_device(device),
        }
    }

    fn rows(&self) -> i64 {
        self.start.size()[0]
    }

    fn select(&self, idx: &Tensor) -> Self {
        Self {
            start: self.start.index_select(0, idx),
            targets: self.targets.index_select(0, idx),
            dt: self.dt.index_select(0, idx),
        }
    }

    fn narrow(&self, from: i64, len: i64) -> Self {
        Self {
            start: self.start.narrow(0, from, len),
            targets: self.targets.narrow(0, from, len),
            dt: self.dt.narrow(0, from, len),
        }
    }
}

/// The states the model's field reaches from each window's start at each of its observed
/// times (`[W, k - 1, dim]`); `first` is the field at the starts, already evaluated.
fn integrate(
    model: &dyn DynamicsModel,
    w: &Windows,
    cfg: &RolloutConfig,
    first: Option<Tensor>,
) -> Tensor {
    let f = |x: &Tensor| model.time_derivative(x, true);
    let mut x = w.start.shallow_clone();
    let mut at_x = first;
    let mut reached = Vec::new();
    for j in 0..w.targets.size()[1] {
        let h = w.dt.select(1, j) / cfg.substeps as f64;
        for _ in 0..cfg.substeps {
            let k1 = at_x.take().unwrap_or_else(|| f(&x));
            x = match cfg.integrator {
                RolloutIntegrator::Rk4 => {
                    let k2 = f(&(&x + &h * 0.5 * &k1));
                    let k3 = f(&(&x + &h * 0.5 * &k2));
                    let k4 = f(&(&x + &h * &k3));
                    &x + &h / 6.0 * (k1 + k2 * 2.0 + k3 * 2.0 + k4)
                }
                RolloutIntegrator::ImplicitMidpoint => {
                    let mut y = &x + &h * &k1;
                    for _ in 0..MIDPOINT_ITERATIONS {
                        y = &x + &h * f(&((&x + &y) * 0.5));
                    }
                    y
                }
            };
        }
        reached.push(x.shallow_clone());
    }
    Tensor::stack(&reached, 1)
}

fn state_mse(reached: &Tensor, targets: &Tensor) -> Tensor {
    (reached - targets).square().mean(Kind::Float)
}

/// A model on the states, trained through the integrator on windows of observed states. Its
/// reported train and test losses stay the `dx/dt` error on the task's samples (the tables'
/// metric for every model); the rollout loss is logged as the part `"state_mse"`.
pub struct RolloutLearner {
    model: Box<dyn DynamicsModel>,
    cfg: RolloutConfig,
    train: Windows,
    test: Windows,
    /// The task's `dx/dt` samples: final statistics and the probe.
    derivatives: TrainData,
    x_test: Array2<f64>,
}

impl RolloutLearner {
    /// Builds model `name` for the windows of `sequences`.
    pub fn new(
        name: &str,
        samples: &Samples,
        sequences: &Sequences,
        vs: &mut nn::VarStore,
        exp: &Experiment,
        device: Device,
    ) -> Result<Self> {
        let dim = samples.x.ncols();
        let model = crate::build_model(name, vs, dim as i64, exp, device)?;
        let cfg = exp.config.train.rollout;
        let test = Windows::new(&sequences.test, cfg.window, dim, device);
        if test.rows() == 0 {
            tracing::warn!(
                model = name,
                "train.rollout.window = {}: no test trajectory is that long, so the logged test loss is NaN (not computed); the reported dx/dt losses are unaffected",
                cfg.window
            );
        }
        Ok(Self {
            model,
            cfg,
            train: Windows::new(&sequences.train, cfg.window, dim, device),
            test,
            derivatives: TrainData::from_arrays(
                &samples.x,
                &samples.dx,
                &samples.x_test,
                &samples.dx_test,
                device,
            ),
            x_test: samples.x_test.clone(),
        })
    }

    fn derivative_objective(&self) -> StateObjective<'_> {
        StateObjective {
            model: self.model.as_ref(),
            data: &self.derivatives,
        }
    }
}

impl Objective for RolloutLearner {
    fn train_rows(&self) -> i64 {
        self.train.rows()
    }
    fn train_loss(&self, idx: Option<&Tensor>) -> LossParts {
        let w = match idx {
            None => self.train.narrow(0, self.train.rows()),
            Some(i) => self.train.select(i),
        };
        // the field at the starts through the model's training form, for its own terms
        let (first, terms) = self.model.training_output(&w.start);
        let loss = state_mse(
            &integrate(self.model.as_ref(), &w, &self.cfg, Some(first)),
            &w.targets,
        );
        let total = terms
            .iter()
            .fold(loss.shallow_clone(), |sum, (_, term)| sum + term);
        let mut parts = vec![("state_mse", loss)];
        parts.extend(terms);
        LossParts { total, parts }
    }
    fn test_loss(&self) -> Vec<LossValues> {
        let n = self.test.rows();
        if n == 0 {
            // no window fits a test trajectory: not computed, never a zero
            return vec![LossValues {
                total: f64::NAN,
                parts: vec![("state_mse".to_string(), f64::NAN)],
            }];
        }
        let mut sum = 0.0;
        for (from, len) in crate::train::row_chunks(n, TEST_CHUNK) {
            let w = self.test.narrow(from, len);
            let reached = integrate(self.model.as_ref(), &w, &self.cfg, None).detach();
            sum += state_mse(&reached, &w.targets).double_value(&[]) * len as f64;
        }
        let mse = sum / n as f64;
        vec![LossValues {
            total: mse,
            parts: vec![("state_mse".to_string(), mse)],
        }]
    }
}

impl Learner for RolloutLearner {
    fn final_stats(&self) -> (LossStats, LossStats) {
        self.derivative_objective().final_stats()
    }
    fn field(&self) -> &dyn DynamicsModel {
        self.model.as_ref()
    }
    fn probe(&self) -> (Tensor, Array2<f64>) {
        (self.derivatives.x_test.shallow_clone(), self.x_test.clone())
    }
    fn trivial_field_test_loss(&self) -> Option<f64> {
        Some(self.derivatives.trivial_field_test_loss())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dx/dt = x`, with no weights: the flow is `exp(t) x`.
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

    fn sequence() -> Sequence {
        // four observed states at uneven times
        Sequence {
            t: vec![0.0, 0.1, 0.3, 0.4],
            x: vec![1.0, 2.0, 1.1, 2.1, 1.3, 2.5, 1.4, 2.6],
        }
    }

    #[test]
    fn windows_are_every_run_of_k_states() {
        let w = Windows::new(&[sequence()], 3, 2, Device::Cpu);
        assert_eq!(w.rows(), 2);
        assert_eq!(
            Vec::<f32>::try_from(&w.start.view([-1])).unwrap(),
            [1.0, 2.0, 1.1, 2.1]
        );
        let dt = Vec::<f32>::try_from(&w.dt.view([-1])).unwrap();
        let want = [0.1, 0.2, 0.2, 0.1];
        assert!(
            dt.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{dt:?}"
        );
        let targets = Vec::<f32>::try_from(&w.targets.view([-1])).unwrap();
        assert_eq!(targets, [1.1, 2.1, 1.3, 2.5, 1.3, 2.5, 1.4, 2.6]);
        // a window longer than the trajectory has no place in it
        assert_eq!(Windows::new(&[sequence()], 5, 2, Device::Cpu).rows(), 0);
    }

    /// A two-step window under `dx/dt = x`: one RK4 step multiplies by `1 + h + h²/2 + h³/6 +
    /// h⁴/24`, so the loss is known by hand.
    #[test]
    fn a_two_step_window_by_hand() {
        let w = Windows::new(&[sequence()], 3, 2, Device::Cpu).narrow(0, 1);
        let g = |h: f64| 1.0 + h + h * h / 2.0 + h.powi(3) / 6.0 + h.powi(4) / 24.0;
        let (x0, y1, y2) = ([1.0, 2.0], [1.1, 2.1], [1.3, 2.5]);
        let mut want = 0.0;
        for d in 0..2 {
            let r1 = g(0.1) * x0[d];
            let r2 = g(0.2) * r1;
            want += (r1 - y1[d]).powi(2) + (r2 - y2[d]).powi(2);
        }
        want /= 4.0;
        let cfg = RolloutConfig::default();
        let got = state_mse(&integrate(&Echo, &w, &cfg, None), &w.targets).double_value(&[]);
        assert!((got - want).abs() < 1e-6 * want, "{got} vs {want}");
        // two substeps per interval: closer to the exact exp(t) flow
        let fine = RolloutConfig { substeps: 2, ..cfg };
        let reached = integrate(&Echo, &w, &fine, None);
        let exact = 0.3f64.exp() * 2.0;
        let last = reached.double_value(&[0, 1, 1]);
        assert!((last - exact).abs() < 1e-6, "{last} vs {exact}");
        // the implicit midpoint rule: (1 + h/2) / (1 - h/2) per step, to the error of its
        // unrolled fixed point (each iteration shrinks it by h L / 2 = 0.1 here, from an Euler
        // predictor's ~h²/2: about 5e-6 at the end)
        let mid = RolloutConfig {
            integrator: RolloutIntegrator::ImplicitMidpoint,
            ..cfg
        };
        let reached = integrate(&Echo, &w, &mid, None);
        let cayley = |h: f64| (1.0 + h / 2.0) / (1.0 - h / 2.0);
        let want = cayley(0.1) * cayley(0.2) * 2.0;
        let got = reached.double_value(&[0, 1, 1]);
        assert!((got - want).abs() < 2e-5, "{got} vs {want}");
    }

    /// NODE+SO through the integrator, by hand: with its network's output layer zeroed,
    /// `dp/dt = 0` and `dq/dt = V p`, so RK4 is exact: `q(t) = q0 + V p0 t`, `p(t) = p0`.
    /// Window `(1, 2) -> (1.1, 2.1) -> (1.3, 2.5)` at times 0, 0.1, 0.3 with `V = 0.5`: reached
    /// `(1.1, 2)` and `(1.3, 2)`, so the loss is `(0 + 0.01 + 0 + 0.25) / 4`.
    #[test]
    fn a_two_step_window_of_the_second_order_node_by_hand() {
        let vs = tch::nn::VarStore::new(Device::Cpu);
        let model = hnn_models::SecondOrderNode::new(
            &vs.root(),
            2,
            &hnn_models::MlpConfig::default(),
            Some(&[0.5]),
        )
        .unwrap();
        tch::no_grad(|| {
            let mut last = vs.variables()["mlp.l2.weight"].shallow_clone();
            let _ = last.zero_();
        });
        let w = Windows::new(&[sequence()], 3, 2, Device::Cpu).narrow(0, 1);
        let reached = integrate(&model, &w, &RolloutConfig::default(), None);
        let got = state_mse(&reached, &w.targets).double_value(&[]);
        let want = (0.01 + 0.25) / 4.0;
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }

    /// With no window in the test trajectories the logged test loss is NaN (not computed),
    /// never 0; with one it is the state error of that window.
    #[test]
    fn a_test_split_without_windows_is_not_computed() {
        let x = Array2::from_shape_vec((1, 2), vec![1.0, 2.0]).unwrap();
        let learner = |test: &[Sequence]| RolloutLearner {
            model: Box::new(Echo),
            cfg: RolloutConfig::default(),
            train: Windows::new(&[sequence()], 3, 2, Device::Cpu),
            test: Windows::new(test, 3, 2, Device::Cpu),
            derivatives: TrainData::from_arrays(&x, &x, &x, &x, Device::Cpu),
            x_test: x.clone(),
        };
        let none = learner(&[]).test_loss();
        assert!(none[0].total.is_nan() && none[0].parts[0].1.is_nan());
        let one = learner(&[sequence()]).test_loss();
        assert!(one[0].total > 0.0 && one[0].total.is_finite(), "{one:?}");
    }
}
