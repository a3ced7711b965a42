//! Simulated systems: a [`System`] of `hnn-physics` whose trajectories RK45 integrates, both for
//! the training data (`[data]`) and for the ground truth of every protocol. The built-in
//! analytic systems are kinds of this module, each the system's own serde type as its section
//! ([`kind`]); other kinds that build a [`System`] (written in the config) reuse
//! [`SimulatedSource`].

use std::any::Any;
use std::path::Path;
use std::sync::Arc;

use hnn_ode::{IvpProblem, Rk45};
use hnn_physics::dataset::{DataSpec, Dataset, linspace};
use hnn_physics::rng::{Purpose, stream};
use hnn_physics::{System, SystemField};
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tch::{Device, nn};

use crate::config::{
    Budget, Experiment, FigureConfig, InitialStates, LONG_HORIZON_FACTOR, ProtocolConfig,
};
use crate::error::{BenchError, Result};
use crate::tasks::rollout::{Sequence, Sequences};
use crate::tasks::{
    Context, Kind, Learner, Samples, Section, Source, Task, energy_of, read_section, state_learner,
    table_of,
};
use crate::truth::{EnergyFn, PartsFn, Truth, TruthTrajectory, View};

/// The kind `name` whose section is the system type `S` itself (its fields and defaults).
pub const fn kind<S>(name: &'static str) -> Kind
where
    S: System + Serialize + DeserializeOwned + Clone + 'static,
{
    Kind {
        name,
        read: read::<S>,
    }
}

fn read<S>(name: &'static str, table: toml::Table) -> std::result::Result<Arc<dyn Section>, String>
where
    S: System + Serialize + DeserializeOwned + Clone + 'static,
{
    let system: S = read_section(table)?;
    Ok(Arc::new(AnalyticSection { name, system }))
}

/// The section of a built-in system: the system's parameters.
struct AnalyticSection<S> {
    name: &'static str,
    system: S,
}

impl<S> Section for AnalyticSection<S>
where
    S: System + Serialize + DeserializeOwned + Clone + 'static,
{
    fn kind(&self) -> &'static str {
        self.name
    }
    fn to_table(&self) -> toml::Table {
        table_of(&self.system)
    }
    fn check(&self, cx: &Context) -> Result<Arc<dyn Source>> {
        self.system
            .validate()
            .map_err(|err| crate::config::physics_key("system", err, cx.path))?;
        Ok(Arc::new(SimulatedSource(Arc::new(self.system.clone()))))
    }
}

/// A checked system: its data come from `[data]`, its truth from integrating it.
pub struct SimulatedSource(pub Arc<dyn System>);

impl Source for SimulatedSource {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn n_train(&self, data: &DataSpec) -> usize {
        data.train_samples()
    }
    fn long_horizon(&self, data: &DataSpec) -> Option<([f64; 2], usize)> {
        let [t0, t1] = data.t_span;
        Some((
            [0.0, LONG_HORIZON_FACTOR * (t1 - t0)],
            (LONG_HORIZON_FACTOR * data.points as f64) as usize,
        ))
    }
    fn velocity_map(&self) -> Option<Vec<f64>> {
        self.0.velocity_map()
    }
    fn sequence_lengths(&self, data: &DataSpec) -> Option<Vec<usize>> {
        let trajectories = data.layout == hnn_physics::dataset::Layout::Trajectories;
        let n_train = data.total_trajectories() - data.test_trajectories();
        trajectories.then(|| vec![data.points; n_train])
    }
    fn build(&self, exp: &Experiment) -> Result<Box<dyn Task>> {
        let data = hnn_physics::dataset::generate(
            self.0.as_ref(),
            &exp.config.data,
            exp.config.experiment.seed,
        )?;
        Ok(Box::new(SimulatedTask::new(self.0.clone(), data)))
    }
    fn as_any(&self) -> &dyn Any {
        self
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
        let sequences = Sequences {
            train: sequences(&data, &data.train),
            test: sequences(&data, &data.test),
        };
        Self {
            system,
            data,
            samples: Samples {
                x,
                dx,
                x_test,
                dx_test,
                sequences: Some(sequences),
            },
        }
    }
}

/// Trajectories `idx` of a dataset: their inputs (noise included) at the sample times.
fn sequences(data: &Dataset, idx: &[usize]) -> Vec<Sequence> {
    idx.iter()
        .map(|&i| Sequence {
            t: data.t.to_vec(),
            x: data
                .x
                .index_axis(ndarray::Axis(0), i)
                .iter()
                .copied()
                .collect(),
        })
        .collect()
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
        state_learner(name, &self.samples, vs, exp, device)
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::{EvalConfig, ProtocolConfig};
    use ndarray::Array2;
    use tch::Tensor;

    /// The smoke spring (`H = q² + p²`, so `q = q0 cos 2t + p0 sin 2t`, `p = p0 cos 2t - q0
    /// sin 2t`) as a task, through the config and [`build`].
    fn spring_task(extra: &str) -> (Experiment, Box<dyn Task>) {
        let text = format!(
            "[experiment]\nname = \"t\"\nseed = 3\n[system]\nkind = \"mass-spring\"\n\
             [data]\ntrajectories = 4\npoints = 5\n{extra}"
        );
        let exp = crate::config::parse(&text, Path::new("t.toml")).unwrap();
        let task = exp.source.build(&exp).unwrap();
        (exp, task)
    }

    fn system_of(exp: &Experiment) -> &dyn System {
        let source = exp.source.as_any().downcast_ref::<SimulatedSource>();
        source.expect("a simulated task").0.as_ref()
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
        assert_eq!((l.len(), l[0].parts[0].0.as_str()), (1, "dx_mse"));
        assert!((l[0].total - test.mean).abs() < 1e-5 * test.mean);
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
        let task = exp.source.build(&exp).unwrap();
        assert_eq!(task.view(), View::Bodies { n: 2 });
        // kinetic and potential: those of the system, summing to its energy
        let x = [1.0, -1.0, 0.0, 0.5, 0.1, -0.1, 0.3, 0.2];
        let parts = task.energy_parts().unwrap()(&x);
        assert_eq!(Some(parts), system_of(&exp).energy_parts(&x));
        assert!((parts[0] + parts[1] - task.energy().unwrap()(&x)).abs() < 1e-12);
        assert!(parts[0] > 0.0 && parts[1] < 0.0, "{parts:?}");
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
