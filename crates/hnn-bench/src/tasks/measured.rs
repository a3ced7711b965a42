//! A measured trajectory (`kind = "real-pendulum"`): one text file of `trial t q p` rows,
//! checksummed; training samples are finite differences along it, and the truth of every
//! protocol is its measured test segment.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hnn_physics::dataset::DataSpec;
use hnn_physics::measured::{self, Differences};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use tch::{Device, nn};

use crate::config::{Budget, Config, Experiment, FigureConfig, ProtocolConfig};
use crate::error::Result;
use crate::tasks::rollout::{Sequence, Sequences};
use crate::tasks::{
    Context, Kind, Learner, Refusal, Samples, Section, Source, Task, energy_of, read_section,
    spread_starts, state_learner, table_of,
};
use crate::truth::{EnergyFn, Truth, TruthTrajectory, View};

pub const KIND: Kind = Kind {
    name: "real-pendulum",
    read: |_, table| Ok(Arc::new(read_section::<MeasuredConfig>(table)?)),
};

/// A measured pendulum trajectory (`kind = "real-pendulum"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuredConfig {
    /// The data file, relative to the config file's folder.
    pub path: PathBuf,
    /// Its sha256 (hex); checked on every load.
    pub sha256: String,
    /// The evaluation energy `k (1 - cos q) + p^2` (the official code's fitted `k = 2.4`).
    #[serde(default = "default_energy_k")]
    pub energy_k: f64,
    /// Finite differences for the targets: `"forward"` (official) or `"central"`.
    #[serde(default = "default_differences")]
    pub differences: Differences,
    /// Fraction of the rows before the test segment (the official `test_split = 0.8`).
    #[serde(default = "default_train_fraction")]
    pub train_fraction: f64,
}

fn default_energy_k() -> f64 {
    2.4
}
fn default_differences() -> Differences {
    Differences::Forward
}
fn default_train_fraction() -> f64 {
    0.8
}

/// A measured trajectory, loaded, checksummed and turned into samples.
#[derive(Debug, Clone)]
pub struct MeasuredSource {
    pub file: measured::Measured,
    pub samples: measured::Samples,
    pub energy_k: f64,
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
            sequences: Some(Sequences {
                train: runs(&s.train, s),
                test: runs(&s.test, s),
            }),
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
        state_learner(name, &self.samples, vs, exp, device)
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

impl Section for MeasuredConfig {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    fn to_table(&self) -> toml::Table {
        table_of(self)
    }
    fn check(&self, cx: &Context) -> Result<Arc<dyn Source>> {
        if !(self.energy_k.is_finite() && self.energy_k > 0.0) {
            return Err(cx.bad(
                "energy_k",
                format!("{}: must be positive and finite", self.energy_k),
            ));
        }
        let path = cx.resolve(&self.path);
        let file = measured::load(&path, &self.sha256)
            .map_err(|err| crate::config::physics_key("system", err, cx.path))?;
        let samples = measured::samples(&file, self.differences, self.train_fraction)
            .map_err(|err| crate::config::physics_key("system", err, cx.path))?;
        // a file too short for its protocols is named as such, not by the protocol keys its
        // presets would then fail
        let groups = ProtocolConfig::paper().groups;
        if samples.test.len() < groups {
            return Err(cx.bad(
                "path",
                format!(
                    "this file gives {} test samples ({} for training), fewer than the {groups} groups its paper protocol scores: it needs more rows",
                    samples.test.len(),
                    samples.train.len()
                ),
            ));
        }
        Ok(Arc::new(MeasuredSource {
            file,
            samples,
            energy_k: self.energy_k,
        }))
    }
    fn with_paths(&self, cx: &Context) -> Option<Arc<dyn Section>> {
        Some(Arc::new(MeasuredConfig {
            path: cx.absolute(&self.path),
            ..self.clone()
        }))
    }
}

impl Source for MeasuredSource {
    fn rollouts_span_t_span(&self) -> bool {
        false
    }
    fn name(&self) -> &str {
        KIND.name
    }
    fn dim(&self) -> usize {
        2
    }
    fn n_train(&self, _data: &DataSpec) -> usize {
        self.samples.train.len()
    }
    fn uses_data(&self) -> bool {
        false
    }
    fn presets(&self) -> Option<[ProtocolConfig; 2]> {
        Some([
            ProtocolConfig::measured_paper(self.samples.test.len()),
            ProtocolConfig::measured_corrected(),
        ])
    }
    fn long_horizon(&self, _data: &DataSpec) -> Option<([f64; 2], usize)> {
        None
    }
    /// The file's `p` is the measured angular velocity: `dq/dt = p`.
    fn velocity_map(&self) -> Option<Vec<f64>> {
        Some(vec![1.0])
    }
    fn sequence_lengths(&self, _data: &DataSpec) -> Option<Vec<usize>> {
        let runs = runs(&self.samples.train, &self.samples);
        Some(runs.iter().map(|r| r.t.len()).collect())
    }
    fn check(&self, config: &Config) -> std::result::Result<(), Refusal> {
        check_segments(self.samples.test.len(), config)
    }
    fn build(&self, exp: &Experiment) -> Result<Box<dyn Task>> {
        let _ = exp;
        Ok(Box::new(MeasuredTask::new(Arc::new(self.clone()))))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The runs of consecutive rows among `idx`, each an observed trajectory.
fn runs(idx: &[usize], s: &measured::Samples) -> Vec<Sequence> {
    let mut out: Vec<Sequence> = Vec::new();
    for (k, &i) in idx.iter().enumerate() {
        if k == 0 || idx[k - 1] + 1 != i {
            out.push(Sequence {
                t: Vec::new(),
                x: Vec::new(),
            });
        }
        let last = out.last_mut().expect("a run was started");
        last.t.push(s.t[i]);
        last.x.extend_from_slice(s.state(i));
    }
    out
}

/// The checks of a task whose truth is a measured test segment of `n_test` points: protocols
/// fit in it at the measured times, no longer horizon, the figure from its first state.
pub fn check_segments(n_test: usize, config: &Config) -> std::result::Result<(), Refusal> {
    if config.eval.long.enabled {
        return Err(Refusal::new(
            "eval.long.enabled",
            "a measured task's truth is its test segment: there is no longer horizon to compare with",
        ));
    }
    for (name, p) in config.eval.protocols() {
        let key = |k: &str| format!("{name}.{k}");
        if p.time_stretch != 1.0 || p.compound_stretch {
            return Err(Refusal::new(
                key("time_stretch"),
                "a measured task has truth only at the measured times: use time_stretch = 1 and compound_stretch = false",
            ));
        }
        if p.points > n_test {
            return Err(Refusal::new(
                key("points"),
                format!(
                    "{} is longer than the test segment ({n_test} points)",
                    p.points
                ),
            ));
        }
        if p.points >= 2 && p.trajectories > n_test - p.points + 1 {
            return Err(Refusal::new(
                key("trajectories"),
                format!(
                    "{} starting states of {} points each do not fit in the test segment ({n_test} points: at most {})",
                    p.trajectories,
                    p.points,
                    n_test - p.points + 1
                ),
            ));
        }
    }
    if !config.eval.figure.x0.is_empty() {
        return Err(Refusal::new(
            "eval.figure.x0",
            "a measured task's figure is its test segment from the first test state; set x0 = []",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::EvalConfig;
    use hnn_physics::measured::Measured;

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
}
