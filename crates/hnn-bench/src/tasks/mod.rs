//! Task kinds: where a run's training samples and evaluation truth come from.
//!
//! A kind of task is one module here and one line in [`KINDS`]. The module owns its `[system]`
//! section (a serde type with its defaults), its validation into a checked [`Source`] (the
//! linfa pattern: a checked type out of an unchecked one), its protocol presets and its
//! construction of a [`Task`], the run-time side: training samples, the ground truth of each
//! evaluation protocol as data ([`Truth`]) and what its plots show ([`View`]). Config checking,
//! `run_stages`, evaluation and plots only see these traits; nothing outside this folder
//! matches on the kind.
//!
//! | kind | module |
//! |---|---|
//! | `mass-spring`, `pendulum`, `n-body`, `damped-spring`, `q-damped-spring` | [`simulated`]: a system of `hnn-physics` integrated with RK45 |
//! | `real-pendulum` | [`measured`]: one measured trajectory from a text file |
//! | `pixel-pendulum` | [`pixels`]: rendered frames and an autoencoder |
//! | `trajectories` | [`trajectories`]: your own `.npz` or `.csv` of trajectories |
//! | `expression` | [`expression`]: a system written in the config, simulated as the built-in ones |

pub mod expression;
pub mod learner;
pub mod measured;
pub mod pixels;
pub mod rollout;
pub mod simulated;
pub mod trajectories;

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hnn_models::DynamicsModel;
use hnn_physics::dataset::DataSpec;
use hnn_physics::{DampedSpring, MassSpring, NBody, Pendulum, QDampedSpring};
use ndarray::Array2;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tch::{Device, Tensor, nn};

use crate::config::{
    Budget, Config, EnergyKind, Experiment, FigureConfig, ModelConfig, ProtocolConfig,
};
use crate::error::{BenchError, Result};
use crate::train::{Objective, TrainData};
use crate::truth::{Embedding, EnergyFn, PartsFn, Truth, View};

pub use learner::{Samples, StateLearner, state_learner};

/// Every kind of task, by its `system.kind`. A new kind: a module in this folder and one line
/// here.
pub const KINDS: &[Kind] = &[
    simulated::kind::<MassSpring>("mass-spring"),
    simulated::kind::<Pendulum>("pendulum"),
    simulated::kind::<NBody>("n-body"),
    simulated::kind::<DampedSpring>("damped-spring"),
    simulated::kind::<QDampedSpring>("q-damped-spring"),
    measured::KIND,
    pixels::KIND,
    expression::KIND,
    trajectories::KIND,
];

/// Reads the `[system]` keys other than `kind` of the kind named first; the error is "`key`:
/// reason".
pub type ReadSection =
    fn(&'static str, toml::Table) -> std::result::Result<Arc<dyn Section>, String>;

/// A registered kind: its name in `system.kind` and how its section is read.
pub struct Kind {
    pub name: &'static str,
    pub read: ReadSection,
}

/// A `[system]` section as written, every default filled in: not yet checked.
pub trait Section: Send + Sync {
    /// Its `system.kind`.
    fn kind(&self) -> &'static str;
    /// Its keys and values (without `kind`), for the resolved config.
    fn to_table(&self) -> toml::Table;
    /// Checks every value (reading and checksumming any file it names) into the checked
    /// source of a run; errors name the key.
    fn check(&self, cx: &Context) -> Result<Arc<dyn Source>>;
    /// The section with every file path made absolute (resolved against the config's
    /// folder), for the resolved config a run writes; `None`: it names no file.
    fn with_paths(&self, _cx: &Context) -> Option<Arc<dyn Section>> {
        None
    }
}

/// What a section is checked in: the config file (for messages, and the folder that relative
/// paths resolve against).
pub struct Context<'a> {
    pub path: &'a Path,
}

impl Context<'_> {
    /// A refusal of `key` (under `system.`).
    pub fn bad(&self, key: &str, reason: impl Into<String>) -> BenchError {
        BenchError::Config {
            path: self.path.to_path_buf(),
            key: format!("system.{key}"),
            reason: reason.into(),
            line: None,
        }
    }

    /// `file` as written in the config: relative paths are relative to the config's folder.
    pub fn resolve(&self, file: &Path) -> PathBuf {
        if file.is_absolute() {
            return file.to_path_buf();
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(file),
            _ => file.to_path_buf(),
        }
    }

    /// `file` resolved and made absolute, for the resolved config a run writes (it is read
    /// again from the run's own folder).
    pub fn absolute(&self, file: &Path) -> PathBuf {
        let path = self.resolve(file);
        path.canonicalize()
            .or_else(|_| std::path::absolute(&path))
            .unwrap_or(path)
    }
}

/// A config key and why its value is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub key: String,
    pub reason: String,
}

impl Refusal {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A checked `[system]`: what config checking needs to know of the task, and how the run's data
/// stage builds it.
pub trait Source: Send + Sync + Any {
    /// The task's name in logs, `summary.json` and the published-numbers key.
    fn name(&self) -> &str;
    /// Dimension of the true state.
    fn dim(&self) -> usize;
    /// Dimension of the state the models learn a field on.
    fn model_dim(&self, _model: &ModelConfig) -> usize {
        self.dim()
    }
    /// Training samples of a run with `data`.
    fn n_train(&self, data: &DataSpec) -> usize;
    /// Whether its samples follow `[data]` (a simulated system); otherwise `[data]` must be
    /// absent.
    fn uses_data(&self) -> bool {
        true
    }
    /// Whether its models include an autoencoder (`[model.autoencoder]`).
    fn has_autoencoder(&self) -> bool {
        false
    }
    /// Its own paper and corrected protocols, which the keys written then override; `None`:
    /// the shared defaults. A task with presets starts its figure from its own data.
    fn presets(&self) -> Option<[ProtocolConfig; 2]> {
        None
    }
    /// The `long` protocol's `t_span` and `points` (ten training horizons); `None`: there is
    /// no longer horizon to compare with.
    fn long_horizon(&self, data: &DataSpec) -> Option<([f64; 2], usize)>;
    /// Whether a protocol's rollouts span its `t_span` (times `time_stretch`); `false` for
    /// tasks whose truth is observed, where each rollout spans its own observed times.
    fn rollouts_span_t_span(&self) -> bool {
        true
    }
    /// The kinematics `dq/dt = V p` of its state (`V`: `n x n`, row-major), for models that
    /// move positions by it (`"node-so"`); `None`: the task declares none.
    fn velocity_map(&self) -> Option<Vec<f64>> {
        None
    }
    /// Points of each observed training trajectory (the windows of `train.objective =
    /// "rollout"` fit in them); `None`: the task has no observed trajectories.
    fn sequence_lengths(&self, _data: &DataSpec) -> Option<Vec<usize>> {
        None
    }
    /// Checks of the whole config that only this kind makes (after its presets are applied).
    fn check(&self, _config: &Config) -> std::result::Result<(), Refusal> {
        Ok(())
    }
    /// Builds the task (the run's data stage: generating, rendering or splitting its data).
    fn build(&self, exp: &Experiment) -> Result<Box<dyn Task>>;
    /// For the few tools that need a kind's own settings (`edit` and `speed` on pixels).
    fn as_any(&self) -> &dyn Any;
}

/// The `[system]` section: a registered kind's own section.
#[derive(Clone)]
pub struct SystemConfig(pub Arc<dyn Section>);

impl SystemConfig {
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }
    /// Checks the section into the run's source.
    pub fn check(&self, path: &Path) -> Result<Arc<dyn Source>> {
        self.0.check(&Context { path })
    }
}

impl std::fmt::Debug for SystemConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.kind(), self.0.to_table())
    }
}

impl PartialEq for SystemConfig {
    fn eq(&self, other: &Self) -> bool {
        self.kind() == other.kind() && self.0.to_table() == other.0.to_table()
    }
}

impl Serialize for SystemConfig {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let table = self.0.to_table();
        let mut map = s.serialize_map(Some(table.len() + 1))?;
        map.serialize_entry("kind", self.kind())?;
        for (k, v) in &table {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Read by hand rather than derived: serde's tagged enums buffer the section and lose the path
/// of an error inside it (`system` instead of `system.direction`). Here each kind's fields are
/// read with their path, which `config::parse` turns into the key it names.
impl<'de> Deserialize<'de> for SystemConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let kind = match table.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`kind`: expected a string, got {other}"
                )));
            }
            None => return Err(D::Error::missing_field("kind")),
        };
        let Some(entry) = KINDS.iter().find(|k| k.name == kind) else {
            let names: &'static [&'static str] = KIND_NAMES;
            return Err(D::Error::unknown_variant(&kind, names));
        };
        (entry.read)(entry.name, table)
            .map(SystemConfig)
            .map_err(D::Error::custom)
    }
}

const KIND_NAMES: &[&str] = &{
    let mut names = [""; KINDS.len()];
    let mut i = 0;
    while i < KINDS.len() {
        names[i] = KINDS[i].name;
        i += 1;
    }
    names
};

/// Reads a section's keys as `T`, the error naming the key's path ("`a.b`: reason").
pub fn read_section<T: DeserializeOwned>(table: toml::Table) -> std::result::Result<T, String> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        format!("`{path}`: {}", e.into_inner())
    })
}

/// `velocity = [[..], ..]` as written: `n` rows of `n` numbers, flattened row-major; the error
/// names the key.
pub fn velocity_rows(cx: &Context, rows: &[Vec<f64>], n: usize) -> Result<Vec<f64>> {
    if rows.len() != n
        || rows.iter().any(|r| r.len() != n)
        || rows.iter().flatten().any(|v| !v.is_finite())
    {
        return Err(cx.bad(
            "velocity",
            format!(
                "{rows:?}: expected {n} rows of {n} finite numbers, the matrix V of dq/dt = V p"
            ),
        ));
    }
    Ok(rows.iter().flatten().copied().collect())
}

/// A section's fields as a TOML table.
pub fn table_of<T: Serialize>(section: &T) -> toml::Table {
    toml::Table::try_from(section).expect("a section serialises to a TOML table")
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
    /// Final `(train, test)` statistics of the reported loss.
    fn final_stats(&self) -> (crate::train::LossStats, crate::train::LossStats);
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
    /// The test loss the better of two trivial fields would report: `dx/dt = 0`, or the
    /// training targets' mean everywhere (`None` where the reported loss is not the `dx/dt`
    /// error, as on pixels).
    fn trivial_field_test_loss(&self) -> Option<f64> {
        None
    }
    /// The `(x, dx)` data of a model trained on states by the mean squared error of `dx/dt`
    /// (what seed ensembles batch); `None` for any other objective.
    fn state_data(&self) -> Option<&TrainData> {
        None
    }
}

/// The energy a protocol scores: the task's own, or the notebooks' `sum(x^2)`.
pub fn energy_of(kind: EnergyKind, true_energy: Option<EnergyFn>) -> Option<EnergyFn> {
    match kind {
        EnergyKind::True => true_energy,
        EnergyKind::Quadratic => Some(Arc::new(|x: &[f64]| x.iter().map(|v| v * v).sum())),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
