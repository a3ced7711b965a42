//! Tasks: where training samples and evaluation truth come from.
//!
//! A [`Task`] supplies training samples, the ground truth of each evaluation protocol as data
//! ([`Truth`]: times and states per trajectory, and an optional energy function), and what its
//! plots can show ([`View`]). [`build`] is the one place that matches on the kind of source;
//! `run_stages` and the evaluation only see the trait.

use std::path::Path;
use std::sync::Arc;

use hnn_models::DynamicsModel;
use hnn_ode::{IvpProblem, Rk45};
use hnn_physics::dataset::{Dataset, linspace};
use hnn_physics::rng::{Purpose, stream};
use hnn_physics::{System, SystemField};
use ndarray::Array2;
use rand::Rng;
use tch::{Device, Tensor, nn};

use crate::config::{
    Budget, EnergyKind, Experiment, FigureConfig, InitialStates, MeasuredSource, ProtocolConfig,
    Source,
};
use crate::error::{BenchError, Result};
use crate::eval::Embedding;
use crate::train::{LossParts, LossStats, Objective, StateObjective, TrainData};

/// An energy function of a state.
pub type EnergyFn = Arc<dyn Fn(&[f64]) -> f64 + Send + Sync>;
/// Kinetic and potential energy of a state.
pub type PartsFn = Arc<dyn Fn(&[f64]) -> [f64; 2] + Send + Sync>;

/// One ground-truth trajectory, and where and when the models start and are compared.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthTrajectory {
    /// Times of the truth.
    pub t: Vec<f64>,
    /// `[t.len(), dim]` row-major.
    pub states: Vec<f64>,
    /// The models' initial state.
    pub x0: Vec<f64>,
    /// The times at which the models' states are compared with `states` (equal to `t` unless
    /// a protocol stretches model time).
    pub t_model: Vec<f64>,
}

/// The ground truth of one evaluation: trajectories and the energy they are scored by.
#[derive(Clone, Default)]
pub struct Truth {
    pub dim: usize,
    pub trajectories: Vec<TruthTrajectory>,
    pub energy: Option<EnergyFn>,
    /// What models that see images instead of states observe (the pixel pendulum).
    pub observed: Option<Observed>,
}

/// Images of a truth, per trajectory: what a model observes at the start, and the frame of
/// every point (for figures).
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Side of a square frame.
    pub side: usize,
    /// Per trajectory, the observation at its start (`frames * side^2` values).
    pub start: Vec<Vec<f32>>,
    /// Per trajectory, the frame of each point (`[points, side^2]`).
    pub frames: Vec<Vec<f32>>,
}

/// What a task's figure shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Phase space of coordinate `q` against `p`.
    Phase { q: usize, p: usize },
    /// `n` bodies in the plane, state `(x_1..x_n, y_1..y_n, ...)`.
    Bodies { n: usize },
    /// Phase space as [`View::Phase`], and frames of `side x side` pixels (Figure 4).
    Frames { q: usize, p: usize, side: usize },
}

/// Training samples: inputs and target derivatives, `[rows, dim]` each.
pub struct Samples {
    pub x: Array2<f64>,
    pub dx: Array2<f64>,
    pub x_test: Array2<f64>,
    pub dx_test: Array2<f64>,
}

/// A source of training samples and evaluation truth.
pub trait Task {
    /// The task's name in logs and `summary.json`.
    fn name(&self) -> &str;
    fn dim(&self) -> usize;
    /// Writes the task's data as `.npy` into `dir`.
    fn write_data(&self, dir: &Path) -> Result<()>;
    /// The ground truth of an energy protocol.
    fn protocol(&self, name: &str, p: &ProtocolConfig, seed: u64, budget: Budget) -> Result<Truth>;
    /// The ground truth of the example figure (one trajectory).
    fn figure(&self, f: &FigureConfig, seed: u64, budget: Budget) -> Result<Truth>;
    /// The true energy, if the task knows one.
    fn energy(&self) -> Option<EnergyFn>;
    /// Kinetic and potential energy, if the task separates them.
    fn energy_parts(&self) -> Option<PartsFn> {
        None
    }
    fn view(&self) -> View;
    /// Training and test sizes (in samples), for the log.
    fn sizes(&self) -> (usize, usize);
    /// Builds model `name` on `vs` (initial weights drawn on the CPU from the run's seed, then
    /// moved to `device`) together with what it is trained on.
    fn learner(
        &self,
        name: &str,
        vs: &mut nn::VarStore,
        exp: &Experiment,
        device: Device,
    ) -> Result<Box<dyn Learner>>;
}

/// A model as a run trains and evaluates it: its objective, the vector field that evaluation
/// integrates, and how that field's coordinates relate to the truth's.
pub trait Learner: Objective {
    /// The learned field (for a latent model, the field on the latent state).
    fn field(&self) -> &dyn DynamicsModel;
    /// The field's inputs on the test split `[n, field dim]` and the true states there
    /// `[n, truth dim]` (for the dissipative ratio and the fit of the learned energy).
    fn probe(&self) -> (Tensor, Array2<f64>);
    /// How protocol `protocol` starts the field from the truth and reads its states back;
    /// `None` when the field lives in the truth's own coordinates.
    fn embedding(&self, _protocol: &str) -> Option<Box<dyn Embedding + '_>> {
        None
    }
    /// The `(x, dx)` data of a model trained on states by the mean squared error of `dx/dt`
    /// (what seed ensembles batch); `None` for any other objective.
    fn state_data(&self) -> Option<&TrainData> {
        None
    }
}

/// A model on the states themselves, trained on the mean squared error of `dx/dt`.
pub struct StateLearner {
    pub model: Box<dyn DynamicsModel>,
    pub data: TrainData,
    x_test: Array2<f64>,
}

impl StateLearner {
    /// Builds model `name` for `samples`.
    pub fn new(
        name: &str,
        samples: &Samples,
        vs: &mut nn::VarStore,
        exp: &Experiment,
        device: Device,
    ) -> Result<Self> {
        let model = crate::build_model(name, vs, samples.x.ncols() as i64, exp, device)?;
        let data = TrainData::from_arrays(
            &samples.x,
            &samples.dx,
            &samples.x_test,
            &samples.dx_test,
            device,
        );
        Ok(Self {
            model,
            data,
            x_test: samples.x_test.clone(),
        })
    }

    fn objective(&self) -> StateObjective<'_> {
        StateObjective {
            model: self.model.as_ref(),
            data: &self.data,
        }
    }
}

impl Objective for StateLearner {
    fn train_rows(&self) -> i64 {
        self.objective().train_rows()
    }
    fn train_loss(&self, idx: Option<&Tensor>) -> LossParts {
        self.objective().train_loss(idx)
    }
    fn test_loss(&self) -> LossParts {
        self.objective().test_loss()
    }
    fn final_stats(&self) -> (LossStats, LossStats) {
        self.objective().final_stats()
    }
}

impl Learner for StateLearner {
    fn field(&self) -> &dyn DynamicsModel {
        self.model.as_ref()
    }
    fn probe(&self) -> (Tensor, Array2<f64>) {
        (self.data.x_test.shallow_clone(), self.x_test.clone())
    }
    fn state_data(&self) -> Option<&TrainData> {
        Some(&self.data)
    }
}

/// Builds the task of an experiment (generating simulated data: the run's data stage).
pub fn build(exp: &Experiment) -> Result<Box<dyn Task>> {
    Ok(match &exp.source {
        Source::Simulated(system) => {
            let data = hnn_physics::dataset::generate(
                system.as_ref(),
                &exp.config.data,
                exp.config.experiment.seed,
            )?;
            Box::new(SimulatedTask::new(system.clone(), data))
        }
        Source::Measured(m) => Box::new(MeasuredTask::new(m.clone())),
        Source::Pixels(p) => Box::new(crate::pixels::PixelTask::new(
            p,
            exp.config.experiment.seed,
        )?),
    })
}

fn energy_of(kind: EnergyKind, true_energy: Option<EnergyFn>) -> Option<EnergyFn> {
    match kind {
        EnergyKind::True => true_energy,
        EnergyKind::Quadratic => Some(Arc::new(|x: &[f64]| x.iter().map(|v| v * v).sum())),
    }
}

/// Data integrated from a [`System`].
pub struct SimulatedTask {
    system: Arc<dyn System>,
    data: Dataset,
    samples: Samples,
}

impl SimulatedTask {
    /// The training and test samples.
    pub fn samples(&self) -> &Samples {
        &self.samples
    }

    pub fn new(system: Arc<dyn System>, data: Dataset) -> Self {
        let (x, dx) = data.train_samples();
        let (x_test, dx_test) = data.test_samples();
        Self {
            system,
            data,
            samples: Samples {
                x,
                dx,
                x_test,
                dx_test,
            },
        }
    }
}

/// Draws a protocol's initial states (stream `Evaluation`, index `i`).
pub fn initial_states(p: &ProtocolConfig, system: &dyn System, seed: u64) -> Vec<Vec<f64>> {
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

/// The truth and model times of trajectory `i`: the notebooks' stretch quirks included.
pub fn protocol_times(p: &ProtocolConfig, i: usize) -> (Vec<f64>, Vec<f64>) {
    let base = linspace(p.t_span[0], p.t_span[1], p.points);
    let s_truth = if p.compound_stretch {
        p.time_stretch.powi(i as i32)
    } else {
        1.0
    };
    let s_model = s_truth * p.time_stretch;
    (
        base.iter().map(|t| t * s_truth).collect(),
        base.iter().map(|t| t * s_model).collect(),
    )
}

impl SimulatedTask {
    fn integrate(
        &self,
        what: &str,
        solver: &Rk45,
        starts: &[Vec<f64>],
        times: &[(Vec<f64>, Vec<f64>)],
    ) -> Result<Vec<TruthTrajectory>> {
        let problems: Vec<IvpProblem<'_>> = starts
            .iter()
            .zip(times)
            .map(|(x0, (t, _))| IvpProblem {
                t_span: (t[0], t[t.len() - 1]),
                y0: x0,
                t_eval: t,
            })
            .collect();
        let sols = solver.solve_batch(&SystemField(self.system.as_ref()), &problems);
        sols.into_iter()
            .zip(starts.iter().zip(times))
            .enumerate()
            .map(|(i, (s, (x0, (t, tm))))| {
                let s = s.map_err(|source| BenchError::Truth {
                    protocol: what.to_string(),
                    trajectory: i,
                    source,
                })?;
                Ok(TruthTrajectory {
                    t: t.clone(),
                    states: s.y,
                    x0: x0.clone(),
                    t_model: tm.clone(),
                })
            })
            .collect()
    }
}

impl Task for SimulatedTask {
    fn name(&self) -> &str {
        self.system.name()
    }
    fn dim(&self) -> usize {
        self.system.dim()
    }
    fn sizes(&self) -> (usize, usize) {
        (self.samples.x.nrows(), self.samples.x_test.nrows())
    }
    fn learner(
        &self,
        name: &str,
        vs: &mut nn::VarStore,
        exp: &Experiment,
        device: Device,
    ) -> Result<Box<dyn Learner>> {
        Ok(Box::new(StateLearner::new(
            name,
            &self.samples,
            vs,
            exp,
            device,
        )?))
    }
    fn write_data(&self, dir: &Path) -> Result<()> {
        Ok(self.data.write_npy(dir)?)
    }
    fn protocol(&self, name: &str, p: &ProtocolConfig, seed: u64, budget: Budget) -> Result<Truth> {
        let starts = initial_states(p, self.system.as_ref(), seed);
        let times: Vec<_> = (0..p.trajectories).map(|i| protocol_times(p, i)).collect();
        let solver = budget.solver(p.rtol, p.atol);
        Ok(Truth {
            dim: self.dim(),
            trajectories: self.integrate(name, &solver, &starts, &times)?,
            energy: energy_of(p.energy, self.energy()),
            observed: None,
        })
    }
    fn figure(&self, f: &FigureConfig, seed: u64, budget: Budget) -> Result<Truth> {
        let x0 = if f.x0.is_empty() {
            // a stream index past any protocol's states
            self.system
                .sample_initial_state(&mut stream(seed, Purpose::Evaluation, u64::MAX))
        } else {
            f.x0.clone()
        };
        let t = linspace(f.t_span[0], f.t_span[1], f.points);
        let solver = budget.solver(f.rtol, f.atol);
        Ok(Truth {
            dim: self.dim(),
            trajectories: self.integrate("figure", &solver, &[x0], &[(t.clone(), t)])?,
            energy: self.energy(),
            observed: None,
        })
    }
    fn energy(&self) -> Option<EnergyFn> {
        let s = self.system.clone();
        Some(Arc::new(move |x: &[f64]| s.energy(x)))
    }
    fn energy_parts(&self) -> Option<PartsFn> {
        let probe = vec![1.0; self.dim()];
        self.system.energy_parts(&probe)?;
        let s = self.system.clone();
        Some(Arc::new(move |x: &[f64]| {
            s.energy_parts(x).unwrap_or([f64::NAN; 2])
        }))
    }
    fn view(&self) -> View {
        let probe = vec![0.0; self.dim()];
        match self.system.body_positions(&probe) {
            Some(b) => View::Bodies { n: b.len() },
            None => View::Phase {
                q: 0,
                p: self.dim() / 2,
            },
        }
    }
}

/// A measured trajectory: samples are finite differences, truth is the measured test segment.
pub struct MeasuredTask {
    src: Arc<MeasuredSource>,
    samples: Samples,
}

impl MeasuredTask {
    pub fn new(src: Arc<MeasuredSource>) -> Self {
        let s = &src.samples;
        let rows = |idx: &[usize], v: &[f64]| {
            let flat: Vec<f64> = idx.iter().flat_map(|&i| [v[2 * i], v[2 * i + 1]]).collect();
            Array2::from_shape_vec((idx.len(), 2), flat).expect("two columns")
        };
        let samples = Samples {
            x: rows(&s.train, &s.x),
            dx: rows(&s.train, &s.dx),
            x_test: rows(&s.test, &s.x),
            dx_test: rows(&s.test, &s.dx),
        };
        Self { src, samples }
    }

    /// Test rows `start..start + len` as a trajectory with time measured from its start.
    fn segment(&self, start: usize, len: usize) -> TruthTrajectory {
        let s = &self.src.samples;
        let rows = &s.test[start..start + len];
        let t0 = s.t[rows[0]];
        let t: Vec<f64> = rows.iter().map(|&i| s.t[i] - t0).collect();
        let states: Vec<f64> = rows.iter().flat_map(|&i| s.state(i).to_vec()).collect();
        TruthTrajectory {
            x0: states[..2].to_vec(),
            t_model: t.clone(),
            t,
            states,
        }
    }
}

/// `n` start indices spread evenly over `0..=last` (`[0]` for one).
pub fn spread_starts(n: usize, last: usize) -> Vec<usize> {
    if n <= 1 {
        return vec![0];
    }
    (0..n)
        .map(|k| ((k * last) as f64 / (n - 1) as f64).round() as usize)
        .collect()
}

impl Task for MeasuredTask {
    fn name(&self) -> &str {
        "real-pendulum"
    }
    fn dim(&self) -> usize {
        2
    }
    fn sizes(&self) -> (usize, usize) {
        (self.samples.x.nrows(), self.samples.x_test.nrows())
    }
    fn learner(
        &self,
        name: &str,
        vs: &mut nn::VarStore,
        exp: &Experiment,
        device: Device,
    ) -> Result<Box<dyn Learner>> {
        Ok(Box::new(StateLearner::new(
            name,
            &self.samples,
            vs,
            exp,
            device,
        )?))
    }
    fn write_data(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(crate::io_err("cannot create", dir))?;
        let s = &self.samples;
        crate::write_npy(&dir.join("x_train.npy"), &s.x)?;
        crate::write_npy(&dir.join("dx_train.npy"), &s.dx)?;
        crate::write_npy(&dir.join("x_test.npy"), &s.x_test)?;
        crate::write_npy(&dir.join("dx_test.npy"), &s.dx_test)?;
        let t = ndarray::Array1::from(self.src.samples.t.clone());
        crate::write_npy(&dir.join("t.npy"), &t)
    }
    fn protocol(
        &self,
        _name: &str,
        p: &ProtocolConfig,
        _seed: u64,
        _budget: Budget,
    ) -> Result<Truth> {
        let n_test = self.src.samples.test.len();
        let trajectories = spread_starts(p.trajectories, n_test - p.points)
            .into_iter()
            .map(|s| self.segment(s, p.points))
            .collect();
        Ok(Truth {
            dim: 2,
            trajectories,
            energy: energy_of(p.energy, self.energy()),
            observed: None,
        })
    }
    fn figure(&self, _f: &FigureConfig, _seed: u64, _budget: Budget) -> Result<Truth> {
        Ok(Truth {
            dim: 2,
            trajectories: vec![self.segment(0, self.src.samples.test.len())],
            energy: self.energy(),
            observed: None,
        })
    }
    fn energy(&self) -> Option<EnergyFn> {
        let k = self.src.energy_k;
        Some(Arc::new(move |x: &[f64]| {
            k * (1.0 - x[0].cos()) + x[1] * x[1]
        }))
    }
    fn view(&self) -> View {
        View::Phase { q: 0, p: 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::EvalConfig;
    use hnn_physics::measured::{self, Differences, Measured};

    /// The smoke spring (`H = q² + p²`, so `q = q0 cos 2t + p0 sin 2t`, `p = p0 cos 2t - q0
    /// sin 2t`) as a task, through the config and [`build`].
    fn spring_task(extra: &str) -> (Experiment, Box<dyn Task>) {
        let text = format!(
            "[experiment]\nname = \"t\"\nseed = 3\n[system]\nkind = \"mass-spring\"\n\
             [data]\ntrajectories = 4\npoints = 5\n{extra}"
        );
        let exp = crate::config::parse(&text, Path::new("t.toml")).unwrap();
        let task = build(&exp).unwrap();
        (exp, task)
    }

    fn system_of(exp: &Experiment) -> &dyn System {
        match &exp.source {
            Source::Simulated(s) => s.as_ref(),
            _ => panic!("a simulated task"),
        }
    }

    fn spring_flow(x0: &[f64], t: f64) -> [f64; 2] {
        let (c, s) = ((2.0 * t).cos(), (2.0 * t).sin());
        [x0[0] * c + x0[1] * s, x0[1] * c - x0[0] * s]
    }

    #[test]
    fn a_simulated_protocol_is_the_system_integrated_from_its_drawn_starts() {
        let (exp, task) = spring_task("");
        assert_eq!((task.name(), task.dim()), ("mass-spring", 2));
        // 4 trajectories of 5 points, split 50/50 (the default)
        assert_eq!(task.sizes(), (10, 10));
        let mut p = ProtocolConfig::corrected();
        p.trajectories = 3;
        p.points = 7;
        p.t_span = [0.0, 1.5];
        p.time_stretch = 1.2;
        let budget = EvalConfig::default().budget();
        let truth = task.protocol("corrected", &p, 11, budget).unwrap();
        assert_eq!((truth.dim, truth.trajectories.len()), (2, 3));
        let starts = initial_states(&p, system_of(&exp), 11);
        for (tr, x0) in truth.trajectories.iter().zip(&starts) {
            assert_eq!(&tr.x0, x0);
            assert_eq!(tr.t, linspace(0.0, 1.5, 7));
            // the models' clock runs 1.2 times as fast; the truth's does not
            assert!((tr.t_model[6] - 1.8).abs() < 1e-12);
            for (k, &t) in tr.t.iter().enumerate() {
                let want = spring_flow(x0, t);
                let got = &tr.states[2 * k..2 * k + 2];
                assert!(
                    (got[0] - want[0]).abs() < 1e-7 && (got[1] - want[1]).abs() < 1e-7,
                    "t = {t}: {got:?} vs {want:?}"
                );
            }
        }
        // the true energy, and the quadratic one when asked for (equal for this spring)
        let e = truth.energy.as_ref().unwrap();
        assert_eq!(e(&[0.5, 2.0]), 4.25);
        // the spring does not split its energy
        assert!(task.energy_parts().is_none());
        assert_eq!(task.energy().unwrap()(&[1.0, -1.0]), 2.0);
        assert_eq!(task.view(), View::Phase { q: 0, p: 1 });
        // a model on the states: its objective sees the training rows, its probe the test split
        let mut vs = nn::VarStore::new(Device::Cpu);
        let learner = task.learner("hnn", &mut vs, &exp, Device::Cpu).unwrap();
        assert_eq!(learner.train_rows(), 10);
        let (x, truth_x) = learner.probe();
        assert_eq!((x.size(), truth_x.dim()), (vec![10, 2], (10, 2)));
        assert_eq!(learner.state_data().unwrap().x_test.size(), vec![10, 2]);
        assert!(learner.embedding("corrected").is_none());
        assert_eq!(learner.field().dim(), 2);
        let (train, test) = learner.final_stats();
        assert!(train.mean > 0.0 && test.mean > 0.0);
        let l = learner.test_loss();
        assert_eq!(l.parts[0].0, "dx_mse");
        assert!((l.total.double_value(&[]) - test.mean).abs() < 1e-5 * test.mean);
        let idx = Tensor::from_slice(&[0i64, 3]);
        assert_eq!(learner.train_loss(Some(&idx)).parts.len(), 1);
        // the data as .npy: the splits the learner trains on
        let dir = std::env::temp_dir().join(format!("hnn-task-sim-{}", std::process::id()));
        task.write_data(&dir).unwrap();
        let x: Array2<f64> = ndarray_npy::read_npy(dir.join("x_train.npy")).unwrap();
        let dx: Array2<f64> = ndarray_npy::read_npy(dir.join("dx_test.npy")).unwrap();
        assert_eq!((x.dim(), dx.dim()), ((10, 2), (10, 2)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_simulated_figure_starts_where_asked_or_from_its_own_stream() {
        let (exp, task) = spring_task("");
        let budget = EvalConfig::default().budget();
        let f = FigureConfig {
            x0: vec![0.3, -0.4],
            t_span: [0.5, 2.0],
            points: 4,
            ..FigureConfig::default()
        };
        let truth = task.figure(&f, 0, budget).unwrap();
        let tr = &truth.trajectories[0];
        assert_eq!(tr.t, vec![0.5, 1.0, 1.5, 2.0]);
        assert_eq!(tr.t_model, tr.t);
        // the state at t = 0.5 is the start: the figure's x0 is at t_span[0]
        assert_eq!(&tr.states[..2], &[0.3, -0.4]);
        let want = spring_flow(&[0.3, -0.4], 1.5);
        assert!((tr.states[6] - want[0]).abs() < 1e-7 && (tr.states[7] - want[1]).abs() < 1e-7);
        let drawn = task
            .figure(
                &FigureConfig {
                    x0: Vec::new(),
                    ..f
                },
                5,
                budget,
            )
            .unwrap();
        let want =
            system_of(&exp).sample_initial_state(&mut stream(5, Purpose::Evaluation, u64::MAX));
        assert_eq!(drawn.trajectories[0].x0, want);
    }

    /// Box starts: each coordinate's magnitude uniform in `[lo, hi]` with a random sign, one
    /// evaluation stream per trajectory; system starts: the system's own draw on that stream.
    #[test]
    fn box_starts_fill_the_box_with_both_signs() {
        let (exp, _) = spring_task("");
        let system = system_of(&exp);
        let mut p = ProtocolConfig::corrected();
        p.trajectories = 400;
        p.box_range = [0.5, 0.7];
        let starts = initial_states(&p, system, 1);
        let all: Vec<f64> = starts.iter().flatten().copied().collect();
        assert_eq!(all.len(), 800);
        assert!(all.iter().all(|v| (0.5..=0.7).contains(&v.abs())));
        let negative = all.iter().filter(|v| **v < 0.0).count();
        assert!((300..500).contains(&negative), "{negative} of 800 negative");
        let mean = all.iter().map(|v| v.abs()).sum::<f64>() / 800.0;
        assert!((mean - 0.6).abs() < 0.01, "{mean}");
        // trajectory i is stream i, whatever the count
        p.trajectories = 2;
        assert_eq!(initial_states(&p, system, 1), starts[..2].to_vec());
        p.initial_states = InitialStates::System;
        let drawn = initial_states(&p, system, 1);
        let want = system.sample_initial_state(&mut stream(1, Purpose::Evaluation, 1));
        assert_eq!(drawn[1], want);
    }

    #[test]
    fn bodies_are_drawn_as_bodies() {
        let (_, task) = spring_task("");
        assert_eq!(task.view(), View::Phase { q: 0, p: 1 });
        let text = "[experiment]\nname = \"t\"\n[system]\nkind = \"n-body\"\nbodies = 2\n\
                    [data]\ntrajectories = 2\npoints = 3\n[eval.figure]\nx0 = []\n";
        let exp = crate::config::parse(text, Path::new("t.toml")).unwrap();
        let task = build(&exp).unwrap();
        assert_eq!(task.view(), View::Bodies { n: 2 });
        // kinetic and potential: those of the system, summing to its energy
        let x = [1.0, -1.0, 0.0, 0.5, 0.1, -0.1, 0.3, 0.2];
        let parts = task.energy_parts().unwrap()(&x);
        assert_eq!(Some(parts), system_of(&exp).energy_parts(&x));
        assert!((parts[0] + parts[1] - task.energy().unwrap()(&x)).abs() < 1e-12);
        assert!(parts[0] > 0.0 && parts[1] < 0.0, "{parts:?}");
    }

    /// A measured file of 12 rows with uneven times, split in half: segments are runs of test
    /// rows with time from their first row, the figure is the whole test segment.
    #[test]
    fn measured_segments_by_hand() {
        let t: Vec<f64> = vec![0.0, 0.1, 0.3, 0.4, 0.6, 0.7, 1.0, 1.1, 1.3, 1.6, 1.7, 2.0];
        let x: Vec<f64> = (0..12)
            .flat_map(|i| [0.1 * i as f64, -0.2 * i as f64])
            .collect();
        let file = Measured {
            path: "m.txt".into(),
            sha256: String::new(),
            t,
            x,
        };
        let samples = measured::samples(&file, Differences::Forward, 0.5).unwrap();
        let test = samples.test.clone();
        let src = Arc::new(MeasuredSource {
            file,
            samples,
            energy_k: 2.4,
        });
        let task = MeasuredTask::new(src.clone());
        assert_eq!((task.name(), task.dim()), ("real-pendulum", 2));
        assert_eq!(task.sizes(), (src.samples.train.len(), test.len()));
        assert!(test.len() >= 4, "{test:?}");
        // the rows are the samples' own, in split order
        let first_test = test[0];
        assert_eq!(
            task.samples.x_test.row(0).to_vec(),
            src.samples.state(first_test).to_vec()
        );
        assert_eq!(
            task.samples.dx_test[[1, 1]],
            src.samples.dx[2 * test[1] + 1]
        );
        let train_last = *src.samples.train.last().unwrap();
        let last = task.samples.x.nrows() - 1;
        assert_eq!(task.samples.dx[[last, 0]], src.samples.dx[2 * train_last]);
        let mut p = ProtocolConfig::measured_corrected();
        p.trajectories = 2;
        p.points = 3;
        let budget = EvalConfig::default().budget();
        let truth = task.protocol("corrected", &p, 0, budget).unwrap();
        assert_eq!(truth.trajectories.len(), 2);
        // the two starts: the first test row and the last one with 3 points after it
        for (tr, start) in truth.trajectories.iter().zip([0, test.len() - 3]) {
            let rows = &test[start..start + 3];
            let t0 = src.samples.t[rows[0]];
            let want_t: Vec<f64> = rows.iter().map(|&i| src.samples.t[i] - t0).collect();
            assert_eq!(tr.t, want_t);
            assert_eq!(tr.t_model, want_t);
            assert_eq!(tr.x0, src.samples.state(rows[0]).to_vec());
            assert_eq!(&tr.states[4..6], src.samples.state(rows[2]));
            assert_eq!(tr.t[0], 0.0);
        }
        // k (1 - cos q) + p^2 at k = 2.4
        let e = truth.energy.as_ref().unwrap();
        assert!((e(&[0.5, 3.0]) - (2.4 * (1.0 - 0.5f64.cos()) + 9.0)).abs() < 1e-15);
        let fig = task.figure(&FigureConfig::default(), 0, budget).unwrap();
        assert_eq!(fig.trajectories[0].t.len(), test.len());
        assert_eq!(task.view(), View::Phase { q: 0, p: 1 });
        // the data as .npy: the splits, and every measured time
        let dir = std::env::temp_dir().join(format!("hnn-task-measured-{}", std::process::id()));
        task.write_data(&dir).unwrap();
        let read = |name: &str| -> Array2<f64> { ndarray_npy::read_npy(dir.join(name)).unwrap() };
        assert_eq!(read("x_train.npy"), task.samples.x);
        assert_eq!(read("dx_train.npy"), task.samples.dx);
        assert_eq!(read("x_test.npy"), task.samples.x_test);
        assert_eq!(read("dx_test.npy"), task.samples.dx_test);
        let t: ndarray::Array1<f64> = ndarray_npy::read_npy(dir.join("t.npy")).unwrap();
        assert_eq!(t.to_vec(), src.samples.t);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn starts_spread_over_the_segment() {
        assert_eq!(spread_starts(1, 80), vec![0]);
        assert_eq!(spread_starts(3, 80), vec![0, 40, 80]);
        assert_eq!(spread_starts(5, 10), vec![0, 3, 5, 8, 10]);
    }

    /// `energy = "quadratic"` is sum(q^2) + sum(p^2) whatever the system; `"true"` its H.
    #[test]
    fn protocol_energy_is_the_one_asked_for() {
        let pend = hnn_physics::Pendulum::default();
        let h: EnergyFn = Arc::new(move |x: &[f64]| hnn_physics::System::energy(&pend, x));
        let x = [0.5, 2.0];
        let quad = energy_of(EnergyKind::Quadratic, Some(h.clone())).unwrap();
        assert_eq!(quad(&x), 0.25 + 4.0);
        let tru = energy_of(EnergyKind::True, Some(h)).unwrap();
        // official pendulum: 2 m g l (1 - cos q) + l^2 p^2 / (2 m) with m = 1/2, l = 1, g = 3
        assert!((tru(&x) - (3.0 * (1.0 - 0.5f64.cos()) + 4.0)).abs() < 1e-12);
        assert!(energy_of(EnergyKind::True, None).is_none());
    }

    #[test]
    fn notebook_stretch_compounds_per_trajectory() {
        let p = ProtocolConfig::paper();
        let (t0, m0) = protocol_times(&p, 0);
        assert_eq!(t0.last(), Some(&20.0));
        assert!((m0.last().unwrap() - 21.8).abs() < 1e-12);
        let (t14, m14) = protocol_times(&p, 14);
        // truth on times x 1.09^14, models x 1.09^15 (= 72.85 at the end)
        assert!((t14.last().unwrap() - 20.0 * 1.09f64.powi(14)).abs() < 1e-9);
        assert!(
            (m14.last().unwrap() - 72.8496).abs() < 1e-3,
            "{}",
            m14.last().unwrap()
        );
    }
}
