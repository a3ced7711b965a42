//! Rollouts and energy MSE.
//!
//! A trained model becomes an [`hnn_ode::VectorField`] through [`ModelField`], whose batched
//! evaluation sends all running trajectories through the network at once; the RK45 solver
//! (scipy's algorithm) integrates truth and models alike.

use std::collections::BTreeMap;

use hnn_models::{DynamicsModel, ModelKind};
use hnn_ode::{IvpProblem, Rk45, Solution, VectorField};
use hnn_physics::dataset::linspace;
use hnn_physics::rng::{Purpose, stream};
use hnn_physics::{Hamiltonian, HamiltonianField};
use ndarray::Array3;
use rand::Rng;
use serde::Serialize;
use tch::{Device, Tensor};

use crate::config::{EnergyKind, InitialStates, ProtocolConfig};
use crate::error::{BenchError, Result};

/// A trained model as a vector field (`f64` states in, `f32` network, `f64` out).
pub struct ModelField<'a> {
    pub model: &'a dyn DynamicsModel,
    pub device: Device,
}

impl VectorField for ModelField<'_> {
    fn dim(&self) -> usize {
        self.model.dim() as usize
    }
    fn eval(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        self.eval_batch(&[t], y, dydt)
    }
    fn eval_batch(&self, ts: &[f64], ys: &[f64], dydts: &mut [f64]) {
        let d = self.dim() as i64;
        let x: Vec<f32> = ys.iter().map(|&v| v as f32).collect();
        let x = Tensor::from_slice(&x)
            .view([ts.len() as i64, d])
            .to_device(self.device);
        let dx = self
            .model
            .time_derivative(&x, false)
            .to_device(Device::Cpu)
            .view([-1]);
        let dx = Vec::<f32>::try_from(&dx).expect("f32 field output");
        for (o, v) in dydts.iter_mut().zip(dx) {
            *o = v as f64;
        }
    }
}

/// The energy a protocol compares.
pub fn energy(kind: EnergyKind, system: &dyn Hamiltonian, x: &[f64]) -> f64 {
    match kind {
        EnergyKind::True => system.energy(x),
        EnergyKind::Quadratic => x.iter().map(|v| v * v).sum(),
    }
}

/// Mean and standard error over contiguous groups (the notebooks' "bootstrap_conf":
/// population std of the group means / sqrt(groups)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GroupStats {
    pub mean: f64,
    pub se: f64,
}

pub fn group_stats(values: &[f64], groups: usize) -> GroupStats {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let size = values.len() / groups;
    if groups < 2 || size == 0 {
        return GroupStats { mean, se: f64::NAN };
    }
    let means: Vec<f64> = values
        .chunks(size)
        .take(groups)
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect();
    let gm = means.iter().sum::<f64>() / groups as f64;
    let var = means.iter().map(|m| (m - gm).powi(2)).sum::<f64>() / groups as f64;
    GroupStats {
        mean,
        se: var.sqrt() / (groups as f64).sqrt(),
    }
}

/// Energy MSE of one model under one protocol.
#[derive(Debug, Clone, Serialize)]
pub struct ModelEnergy {
    /// Mean over trajectories (and points) of `(E_true - E_model)^2`, with its group ±.
    pub energy_mse: GroupStats,
    pub per_trajectory: Vec<f64>,
    /// Mean squared distance between true and model states, over all points and trajectories.
    pub coordinate_mse: f64,
    /// Trajectories the solver could not finish, with the reason; they are left out of the
    /// statistics above (and are NaN in the rollouts).
    pub failed: Vec<(usize, String)>,
    pub field_evaluations: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProtocolOutcome {
    pub settings: ProtocolConfig,
    /// End time of each trajectory's model integration.
    pub model_horizons: Vec<f64>,
    pub models: BTreeMap<&'static str, ModelEnergy>,
    pub seconds: f64,
}

/// Rollouts of one protocol, for the `.npy` files.
///
/// # Shapes
/// `truth`, each model: `[trajectories, points, dim]`; times `[trajectories, points]`.
pub struct ProtocolRollouts {
    pub t_truth: ndarray::Array2<f64>,
    pub t_model: ndarray::Array2<f64>,
    pub truth: Array3<f64>,
    pub models: Vec<(ModelKind, Array3<f64>)>,
}

/// Draws the protocol's initial states (stream `Evaluation`, index `i`).
pub fn initial_states(p: &ProtocolConfig, system: &dyn Hamiltonian, seed: u64) -> Vec<Vec<f64>> {
    (0..p.trajectories)
        .map(|i| {
            let mut rng = stream(seed, Purpose::Evaluation, i as u64);
            match p.initial_states {
                InitialStates::System => system.sample_initial_state(&mut rng),
                InitialStates::Box => {
                    let [lo, hi] = p.box_range;
                    (0..system.dim())
                        .map(|_| {
                            let mag = lo + (hi - lo) * rng.random::<f64>();
                            if rng.random::<bool>() { mag } else { -mag }
                        })
                        .collect()
                }
            }
        })
        .collect()
}

fn to_array(
    sols: &[std::result::Result<Solution, hnn_ode::OdeError>],
    points: usize,
    dim: usize,
) -> Array3<f64> {
    let mut a = Array3::from_elem((sols.len(), points, dim), f64::NAN);
    for (i, s) in sols.iter().enumerate() {
        if let Ok(s) = s {
            for (k, chunk) in s.y.chunks(dim).enumerate() {
                for (c, &v) in chunk.iter().enumerate() {
                    a[[i, k, c]] = v;
                }
            }
        }
    }
    a
}

/// Runs one energy-MSE protocol for every model.
pub fn run_protocol(
    name: &str,
    p: &ProtocolConfig,
    system: &dyn Hamiltonian,
    models: &[(ModelKind, &dyn DynamicsModel)],
    seed: u64,
    device: Device,
) -> Result<(ProtocolOutcome, ProtocolRollouts)> {
    let start = std::time::Instant::now();
    let dim = system.dim();
    let x0s = initial_states(p, system, seed);
    let base = linspace(p.t_span[0], p.t_span[1], p.points);
    let n = p.trajectories;
    let (mut t_truth, mut t_model) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let s_truth = if p.compound_stretch {
            p.time_stretch.powi(i as i32)
        } else {
            1.0
        };
        let s_model = s_truth * p.time_stretch;
        t_truth.push(base.iter().map(|t| t * s_truth).collect::<Vec<f64>>());
        t_model.push(base.iter().map(|t| t * s_model).collect::<Vec<f64>>());
    }
    let solver = Rk45 {
        rtol: p.rtol,
        atol: p.atol,
        ..Rk45::default()
    };
    let problems = |times: &'_ [Vec<f64>]| -> Vec<(f64, f64)> {
        times.iter().map(|t| (t[0], t[t.len() - 1])).collect()
    };
    let spans_truth = problems(&t_truth);
    let truth_problems: Vec<IvpProblem<'_>> = (0..n)
        .map(|i| IvpProblem {
            t_span: spans_truth[i],
            y0: &x0s[i],
            t_eval: &t_truth[i],
        })
        .collect();
    let truth_sols = solver.solve_batch(&HamiltonianField(system), &truth_problems);
    for (i, s) in truth_sols.iter().enumerate() {
        if let Err(e) = s {
            return Err(BenchError::Truth {
                protocol: name.to_string(),
                trajectory: i,
                source: e.clone(),
            });
        }
    }
    let truth = to_array(&truth_sols, p.points, dim);
    let truth_energy: Vec<Vec<f64>> = truth_sols
        .iter()
        .map(|s| {
            s.as_ref()
                .expect("checked")
                .y
                .chunks(dim)
                .map(|x| energy(p.energy, system, x))
                .collect()
        })
        .collect();

    let spans_model = problems(&t_model);
    let model_problems: Vec<IvpProblem<'_>> = (0..n)
        .map(|i| IvpProblem {
            t_span: spans_model[i],
            y0: &x0s[i],
            t_eval: &t_model[i],
        })
        .collect();
    let mut outcomes = BTreeMap::new();
    let mut rollouts = Vec::new();
    for &(kind, model) in models {
        let sols = solver.solve_batch(&ModelField { model, device }, &model_problems);
        let mut per_traj = Vec::new();
        let mut failed = Vec::new();
        let (mut coord_sum, mut coord_n) = (0.0, 0usize);
        let mut fev = 0;
        for (i, s) in sols.iter().enumerate() {
            match s {
                Ok(sol) => {
                    fev += sol.stats.n_fev;
                    let truth_i = &truth_sols[i].as_ref().expect("checked").y;
                    let e: f64 = sol
                        .y
                        .chunks(dim)
                        .zip(&truth_energy[i])
                        .map(|(x, et)| (et - energy(p.energy, system, x)).powi(2))
                        .sum::<f64>()
                        / p.points as f64;
                    per_traj.push(e);
                    coord_sum += sol
                        .y
                        .iter()
                        .zip(truth_i)
                        .map(|(a, b)| (a - b).powi(2))
                        .sum::<f64>();
                    coord_n += sol.y.len();
                }
                Err(err) => {
                    tracing::warn!(
                        protocol = name,
                        model = kind.as_str(),
                        trajectory = i,
                        "integration failed: {err}"
                    );
                    failed.push((i, err.to_string()));
                }
            }
        }
        let energy_mse = if per_traj.is_empty() {
            GroupStats {
                mean: f64::NAN,
                se: f64::NAN,
            }
        } else if failed.is_empty() {
            group_stats(&per_traj, p.groups)
        } else {
            // groups are no longer aligned with the protocol's; report the plain mean and no ±
            GroupStats {
                mean: per_traj.iter().sum::<f64>() / per_traj.len() as f64,
                se: f64::NAN,
            }
        };
        outcomes.insert(
            kind.as_str(),
            ModelEnergy {
                energy_mse,
                per_trajectory: per_traj,
                coordinate_mse: coord_sum / coord_n.max(1) as f64,
                failed,
                field_evaluations: fev,
            },
        );
        rollouts.push((kind, to_array(&sols, p.points, dim)));
    }
    let to2 = |v: &[Vec<f64>]| {
        ndarray::Array2::from_shape_vec((n, p.points), v.concat()).expect("times shape")
    };
    Ok((
        ProtocolOutcome {
            settings: p.clone(),
            model_horizons: spans_model.iter().map(|s| s.1).collect(),
            models: outcomes,
            seconds: start.elapsed().as_secs_f64(),
        },
        ProtocolRollouts {
            t_truth: to2(&t_truth),
            t_model: to2(&t_model),
            truth,
            models: rollouts,
        },
    ))
}

/// One trajectory of truth and every model from `x0`, for the figure.
pub struct FigureRollout {
    pub t: Vec<f64>,
    pub truth: Vec<f64>,
    pub models: Vec<(ModelKind, std::result::Result<Vec<f64>, String>)>,
}

pub fn figure_rollout(
    cfg: &crate::config::FigureConfig,
    system: &dyn Hamiltonian,
    models: &[(ModelKind, &dyn DynamicsModel)],
    seed: u64,
    device: Device,
) -> Result<FigureRollout> {
    let t = linspace(cfg.t_span[0], cfg.t_span[1], cfg.points);
    let solver = Rk45 {
        rtol: cfg.rtol,
        atol: cfg.atol,
        ..Rk45::default()
    };
    let span = (cfg.t_span[0], cfg.t_span[1]);
    let x0 = if cfg.x0.is_empty() {
        // a stream index past any protocol's states
        system.sample_initial_state(&mut stream(seed, Purpose::Evaluation, u64::MAX))
    } else {
        cfg.x0.clone()
    };
    let truth = solver
        .solve(&HamiltonianField(system), span, &x0, &t)
        .map_err(|source| BenchError::Truth {
            protocol: "figure".into(),
            trajectory: 0,
            source,
        })?
        .y;
    let models = models
        .iter()
        .map(|&(kind, model)| {
            let r = solver
                .solve(&ModelField { model, device }, span, &x0, &t)
                .map(|s| s.y)
                .map_err(|e| e.to_string());
            (kind, r)
        })
        .collect();
    Ok(FigureRollout { t, truth, models })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_stats_match_numpy() {
        // np.std([np.mean(g) for g in np.split(x, 5)]) / sqrt(5) for x = 0..15
        let x: Vec<f64> = (0..15).map(|i| i as f64).collect();
        let s = group_stats(&x, 5);
        assert_eq!(s.mean, 7.0);
        // group means 1, 4, 7, 10, 13 -> population std sqrt(18)
        assert!((s.se - 18f64.sqrt() / 5f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn box_states_have_the_configured_magnitudes() {
        let sys = hnn_physics::MassSpring::default();
        let p = ProtocolConfig::paper();
        let xs = initial_states(&p, &sys, 0);
        assert_eq!(xs.len(), 15);
        let mut signs = 0;
        for x in &xs {
            for &v in x {
                assert!((0.2..=1.0).contains(&v.abs()));
                signs += (v > 0.0) as usize;
            }
        }
        assert!(
            signs > 5 && signs < 25,
            "both signs appear: {signs} positive of 30"
        );
        assert_eq!(xs, initial_states(&p, &sys, 0));
    }
}
