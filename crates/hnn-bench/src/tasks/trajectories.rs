//! Your own data (`kind = "trajectories"`): a `.npz` or `.csv` of trajectories of any number and
//! dimension ([`hnn_physics::trajectories`]). Training samples are the file's derivatives, or
//! finite differences over each trajectory's own times; train and test are whole
//! trajectories, split at random under `split_seed` (the same split for every model seed); the
//! truth of every protocol is the held-out trajectories, each model rolled out from a
//! trajectory's first state over its own times. The energy of the energy metrics is an optional
//! expression over the state; without one those metrics are absent.
//!
//! ```toml
//! [system]
//! kind = "trajectories"
//! path = "../datasets/damped-double-well.npz"  # relative to the config file's folder
//! sha256 = "..."                               # optional: checked when given
//! targets = "central"                          # without dxdt: "central" or "forward" differences
//! test_fraction = 0.2                          # of the trajectories
//! energy = "p^2/2 + q^4/4 - q^2/2"             # optional, over q, p or q1..qn, p1..pn
//! constants = {}                               # of the energy expression
//! velocity = [[1.0]]                           # optional: dq/dt = V p, for "node-so"
//! ```

use std::any::Any;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hnn_physics::dataset::DataSpec;
use hnn_physics::expression::Formula;
use hnn_physics::rng::{Purpose, stream};
use hnn_physics::trajectories::{self, Targets, Trajectories, Trajectory};
use ndarray::Array2;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tch::{Device, nn};

use crate::config::{Budget, Config, EnergyKind, Experiment, FigureConfig, ProtocolConfig};
use crate::error::Result;
use crate::tasks::rollout::{Sequence, Sequences};
use crate::tasks::{
    Context, Kind, Learner, Refusal, Samples, Section, Source, Task, energy_of, read_section,
    state_learner, table_of, velocity_rows,
};
use crate::truth::{EnergyFn, Truth, TruthTrajectory, View};

pub const KIND: Kind = Kind {
    name: "trajectories",
    read: |_, table| Ok(Arc::new(read_section::<TrajectoriesConfig>(table)?)),
};

/// The `[system]` section of a trajectory file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrajectoriesConfig {
    /// The task's name in logs and reports (default: the file's stem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The `.npz` or `.csv`, relative to the config file's folder.
    pub path: PathBuf,
    /// Its sha256 (hex), checked on every load when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Targets when the file has no `dxdt`.
    #[serde(default = "default_targets")]
    pub targets: Targets,
    /// Fraction of the trajectories held out for testing (at least one on each side).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Seed of the split (kept apart from `experiment.seed`, so that a seed ensemble varies the
    /// models, not the held-out trajectories).
    #[serde(default)]
    pub split_seed: u64,
    /// The energy of the energy metrics, an expression over the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub constants: BTreeMap<String, f64>,
    /// The kinematics `dq/dt = V p` of the file's states (`n` rows of `n`), for `"node-so"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Vec<Vec<f64>>>,
}

fn default_targets() -> Targets {
    Targets::Central
}
fn default_test_fraction() -> f64 {
    0.2
}

impl Section for TrajectoriesConfig {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    fn to_table(&self) -> toml::Table {
        table_of(self)
    }
    fn check(&self, cx: &Context) -> Result<Arc<dyn Source>> {
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(cx.bad(
                "test_fraction",
                format!("{}: must be between 0 and 1", self.test_fraction),
            ));
        }
        let path = cx.resolve(&self.path);
        let file = trajectories::load(&path, self.sha256.as_deref())
            .map_err(|err| crate::config::physics_key("system", err, cx.path))?;
        if !file.unread.is_empty() {
            tracing::warn!(
                "{}: arrays {:?} are not read (only t, x and dxdt are)",
                path.display(),
                file.unread
            );
        }
        let name = match &self.name {
            Some(n) => n.clone(),
            None => path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("trajectories")
                .to_string(),
        };
        let energy = match &self.energy {
            Some(text) => {
                let f = Formula::over_state("energy", text, file.dim / 2, &self.constants)
                    .map_err(|err| match err {
                        hnn_physics::PhysicsError::Expression { key, reason } => {
                            cx.bad(&key, reason)
                        }
                        other => crate::config::physics_key("system", other, cx.path),
                    })?;
                Some(Arc::new(f))
            }
            None if !self.constants.is_empty() => {
                return Err(cx.bad(
                    "constants",
                    "constants are for the energy expression, and there is none",
                ));
            }
            None => None,
        };
        let split = split(file.list.len(), self.test_fraction, self.split_seed)
            .ok_or_else(|| {
                cx.bad(
                    "test_fraction",
                    format!(
                        "{} of {} trajectories leaves no trajectory on one side: the split needs at least one to train on and one to test",
                        self.test_fraction,
                        file.list.len()
                    ),
                )
            })?;
        if self.targets == Targets::Central
            && let Some(short) = file.list.iter().find(|t| t.dxdt.is_none() && t.len() < 3)
        {
            return Err(cx.bad(
                "targets",
                format!(
                    "central differences need 3 points, and {} of {} has {}; use targets = \"forward\"",
                    short.label,
                    path.display(),
                    short.len()
                ),
            ));
        }
        let velocity = match &self.velocity {
            Some(rows) => Some(velocity_rows(cx, rows, file.dim / 2)?),
            None => None,
        };
        let mut source = TrajectoriesSource::new(name, file, split, self.targets, energy);
        source.velocity = velocity;
        Ok(Arc::new(source))
    }
    fn with_paths(&self, cx: &Context) -> Option<Arc<dyn Section>> {
        Some(Arc::new(TrajectoriesConfig {
            path: cx.absolute(&self.path),
            ..self.clone()
        }))
    }
}

/// Train and test trajectory indices (each in file order): a seeded shuffle, the first
/// `round(fraction * n)` (at least one) held out; `None` when a side would be empty.
fn split(n: usize, fraction: f64, seed: u64) -> Option<(Vec<usize>, Vec<usize>)> {
    let n_test = ((fraction * n as f64).round() as usize).max(1);
    if n_test >= n {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut stream(seed, Purpose::Split, 0));
    let (mut test, mut train) = (order[..n_test].to_vec(), order[n_test..].to_vec());
    test.sort_unstable();
    train.sort_unstable();
    Some((train, test))
}

/// A checked trajectory file, split, with its samples.
pub struct TrajectoriesSource {
    name: String,
    file: Trajectories,
    train: Vec<usize>,
    test: Vec<usize>,
    samples: Arc<Samples>,
    energy: Option<Arc<Formula>>,
    velocity: Option<Vec<f64>>,
}

impl TrajectoriesSource {
    fn new(
        name: String,
        file: Trajectories,
        (train, test): (Vec<usize>, Vec<usize>),
        targets: Targets,
        energy: Option<Arc<Formula>>,
    ) -> Self {
        let stack = |idx: &[usize]| {
            let (mut x, mut dx) = (Vec::new(), Vec::new());
            for &i in idx {
                let (a, b) = trajectories::samples(&file.list[i], file.dim, targets);
                x.extend(a);
                dx.extend(b);
            }
            let rows = x.len() / file.dim;
            (
                Array2::from_shape_vec((rows, file.dim), x).expect("whole rows"),
                Array2::from_shape_vec((rows, file.dim), dx).expect("whole rows"),
            )
        };
        let (x, dx) = stack(&train);
        let (x_test, dx_test) = stack(&test);
        let observed = |idx: &[usize]| {
            idx.iter()
                .map(|&i| Sequence {
                    t: file.list[i].t.clone(),
                    x: file.list[i].x.clone(),
                })
                .collect()
        };
        let samples = Arc::new(Samples {
            x,
            dx,
            x_test,
            dx_test,
            sequences: Some(Sequences {
                train: observed(&train),
                test: observed(&test),
            }),
        });
        Self {
            name,
            file,
            train,
            test,
            samples,
            energy,
            velocity: None,
        }
    }

    fn test_trajectories(&self) -> impl Iterator<Item = &Trajectory> {
        self.test.iter().map(|&i| &self.file.list[i])
    }

    /// The most points of a held-out trajectory, and its duration.
    fn longest(&self) -> (usize, f64) {
        self.test_trajectories()
            .map(|t| (t.len(), t.t[t.len() - 1] - t.t[0]))
            .fold((0, 0.0), |(n, d), (m, e)| (n.max(m), d.max(e)))
    }
}

/// The largest number of groups, at most 5, that divides `n` evenly.
fn groups_for(n: usize) -> usize {
    (1..=5).rev().find(|g| n.is_multiple_of(*g)).unwrap_or(1)
}

impl Source for TrajectoriesSource {
    fn rollouts_span_t_span(&self) -> bool {
        false
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        self.file.dim
    }
    fn n_train(&self, _data: &DataSpec) -> usize {
        self.samples.x.nrows()
    }
    fn uses_data(&self) -> bool {
        false
    }
    /// Both protocols: every held-out trajectory, whole, scored by the energy written in
    /// `[system]` (when there is one); `paper` integrates the models at scipy's default
    /// tolerances (what the official code does with measured data), `corrected` at tight ones.
    fn presets(&self) -> Option<[ProtocolConfig; 2]> {
        let (points, duration) = self.longest();
        let n = self.test.len();
        let corrected = ProtocolConfig {
            trajectories: n,
            groups: groups_for(n),
            points,
            t_span: [0.0, duration],
            time_stretch: 1.0,
            compound_stretch: false,
            energy: EnergyKind::True,
            ..ProtocolConfig::corrected()
        };
        let paper = ProtocolConfig {
            rtol: 1e-3,
            atol: 1e-6,
            ..corrected.clone()
        };
        Some([paper, corrected])
    }
    fn long_horizon(&self, _data: &DataSpec) -> Option<([f64; 2], usize)> {
        None
    }
    fn sequence_lengths(&self, _data: &DataSpec) -> Option<Vec<usize>> {
        Some(
            self.train
                .iter()
                .map(|&i| self.file.list[i].len())
                .collect(),
        )
    }
    fn check(&self, config: &Config) -> std::result::Result<(), Refusal> {
        let n_test = self.test.len();
        if config.eval.long.enabled {
            return Err(Refusal::new(
                "eval.long.enabled",
                "the truth of a trajectory file is its held-out trajectories: there is no longer horizon to compare with",
            ));
        }
        for (name, p) in config.eval.protocols() {
            if p.time_stretch != 1.0 || p.compound_stretch {
                return Err(Refusal::new(
                    format!("{name}.time_stretch"),
                    "the truth is known only at the file's times: use time_stretch = 1 and compound_stretch = false",
                ));
            }
            if p.trajectories > n_test {
                return Err(Refusal::new(
                    format!("{name}.trajectories"),
                    format!(
                        "{} is more than the {n_test} held-out trajectories",
                        p.trajectories
                    ),
                ));
            }
        }
        if !config.eval.figure.x0.is_empty() {
            return Err(Refusal::new(
                "eval.figure.x0",
                "a trajectory file's figure is its first held-out trajectory; set x0 = []",
            ));
        }
        Ok(())
    }
    fn build(&self, _exp: &Experiment) -> Result<Box<dyn Task>> {
        Ok(Box::new(TrajectoriesTask {
            name: self.name.clone(),
            dim: self.file.dim,
            samples: self.samples.clone(),
            test: self.test_trajectories().cloned().collect(),
            train: self.train.clone(),
            test_index: self.test.clone(),
            energy: self.energy.clone(),
        }))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The run-time side: samples, and the held-out trajectories as truth.
struct TrajectoriesTask {
    name: String,
    dim: usize,
    samples: Arc<Samples>,
    test: Vec<Trajectory>,
    train: Vec<usize>,
    test_index: Vec<usize>,
    energy: Option<Arc<Formula>>,
}

impl TrajectoriesTask {
    /// Held-out trajectory `i`, its first `points` points, time from its start.
    fn truth(&self, i: usize, points: usize) -> TruthTrajectory {
        let tr = &self.test[i];
        let n = points.min(tr.len());
        let t: Vec<f64> = tr.t[..n].iter().map(|v| v - tr.t[0]).collect();
        let states = tr.x[..n * self.dim].to_vec();
        TruthTrajectory {
            x0: states[..self.dim].to_vec(),
            t_model: t.clone(),
            t,
            states,
        }
    }
}

impl Task for TrajectoriesTask {
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        self.dim
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
        let index =
            |v: &[usize]| ndarray::Array1::from(v.iter().map(|&i| i as i64).collect::<Vec<_>>());
        crate::write_npy(&dir.join("train_trajectories.npy"), &index(&self.train))?;
        crate::write_npy(&dir.join("test_trajectories.npy"), &index(&self.test_index))?;
        Ok(())
    }
    fn protocol(
        &self,
        _name: &str,
        p: &ProtocolConfig,
        _seed: u64,
        _budget: Budget,
    ) -> Result<Truth> {
        Ok(Truth {
            dim: self.dim,
            trajectories: (0..p.trajectories)
                .map(|i| self.truth(i, p.points))
                .collect(),
            energy: energy_of(p.energy, self.energy()),
            observed: None,
        })
    }
    fn figure(&self, _f: &FigureConfig, _seed: u64, _budget: Budget) -> Result<Truth> {
        Ok(Truth {
            dim: self.dim,
            trajectories: vec![self.truth(0, usize::MAX)],
            energy: self.energy(),
            observed: None,
        })
    }
    fn energy(&self) -> Option<EnergyFn> {
        let f = self.energy.clone()?;
        Some(Arc::new(move |x: &[f64]| f.eval(x)))
    }
    fn view(&self) -> View {
        View::Phase {
            q: 0,
            p: self.dim / 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EvalConfig;

    #[test]
    fn the_split_is_by_whole_trajectories_and_seeded() {
        let (train, test) = split(10, 0.3, 4).unwrap();
        assert_eq!((train.len(), test.len()), (7, 3));
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert!(train.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(split(10, 0.3, 4), Some((train, test.clone())));
        let others: Vec<Vec<usize>> = (0..8).map(|s| split(10, 0.3, s).unwrap().1).collect();
        assert!(
            others.iter().any(|t| *t != test),
            "the seed moves the split"
        );
        // at least one on each side
        assert_eq!(split(10, 0.01, 0).unwrap().1.len(), 1);
        assert!(split(2, 0.9, 0).is_none() && split(1, 0.5, 0).is_none());
        assert_eq!((groups_for(10), groups_for(8), groups_for(7)), (5, 4, 1));
    }

    /// Three trajectories of a CSV, one held out: its truth is itself from its first state
    /// with time from its start; `points` cuts it; no energy without an expression.
    #[test]
    fn held_out_trajectories_are_the_truth() {
        let dir = std::env::temp_dir().join(format!("hnn-traj-task-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut csv = String::from("trajectory,t,q,p\n");
        for id in 0..3 {
            for k in 0..4 {
                let t = 1.0 + 0.5 * k as f64;
                csv += &format!("{id},{t},{},{}\n", id * 10 + k, -(k as i64));
            }
        }
        std::fs::write(dir.join("three.csv"), csv).unwrap();
        let text = "[experiment]\nname = \"t\"\n[system]\nkind = \"trajectories\"\n\
                    path = \"three.csv\"\ntest_fraction = 0.3\n[eval.figure]\nx0 = []\n";
        let config = dir.join("t.toml");
        let exp = crate::config::parse(text, &config).unwrap();
        // presets: every held-out trajectory, whole; scipy's tolerances for the paper
        let paper = &exp.config.eval.paper;
        assert_eq!(
            (paper.trajectories, paper.points, paper.t_span),
            (1, 4, [0.0, 1.5])
        );
        assert_eq!((paper.rtol, exp.config.eval.corrected.rtol), (1e-3, 1e-9));
        let src = exp
            .source
            .as_any()
            .downcast_ref::<TrajectoriesSource>()
            .unwrap();
        let held = src.test[0];
        let task = exp.source.build(&exp).unwrap();
        // central differences: two interior points of each of the two training trajectories
        assert_eq!(task.sizes(), (4, 2));
        let budget = EvalConfig::default().budget();
        let mut p = paper.clone();
        p.points = 3;
        let truth = task.protocol("paper", &p, 0, budget).unwrap();
        let tr = &truth.trajectories[0];
        assert_eq!(tr.t, vec![0.0, 0.5, 1.0]);
        assert_eq!(tr.x0, vec![held as f64 * 10.0, 0.0]);
        assert_eq!(tr.states[4..], [held as f64 * 10.0 + 2.0, -2.0]);
        assert!(truth.energy.is_none() && task.energy().is_none());
        let fig = task.figure(&exp.config.eval.figure, 0, budget).unwrap();
        assert_eq!(fig.trajectories[0].t.len(), 4);
        assert_eq!(task.view(), View::Phase { q: 0, p: 1 });
        // the resolved config names the file by its absolute path
        let resolved = exp.config.to_toml();
        let abs = dir.join("three.csv").canonicalize().unwrap();
        assert!(resolved.contains(&abs.display().to_string()), "{resolved}");
        // more trajectories than are held out, and a figure start, are refused
        for (extra, key) in [
            (
                "[eval.paper]\ntrajectories = 2\n",
                "eval.paper.trajectories",
            ),
            (
                "[eval.corrected]\ntime_stretch = 1.1\n",
                "eval.corrected.time_stretch",
            ),
        ] {
            let e = crate::config::parse(&format!("{text}{extra}"), &config).unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
        }
        let e = crate::config::parse(&text.replace("x0 = []", "x0 = [1.0, 0.0]"), &config);
        assert!(e.unwrap_err().to_string().contains("eval.figure.x0"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
