//! Experiment configuration: one TOML file per experiment.
//!
//! Every section has `deny_unknown_fields` and defaults equal to the paper's settings for the
//! mass-spring task, so a config only states what differs. [`load`] parses and validates
//! before any work starts; every error names the file and the key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hnn_models::{DeviceChoice, GradientMethod, MlpConfig, ModelSpec};
use hnn_physics::dataset::DataSpec;
use serde::{Deserialize, Deserializer, Serialize};
use tch::Device;

use crate::error::{BenchError, Result};
pub use crate::tasks::SystemConfig;
use crate::tasks::{Refusal, Source};

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub experiment: ExperimentConfig,
    pub system: SystemConfig,
    #[serde(default)]
    pub data: DataSpec,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub eval: EvalConfig,
    /// The `[eval]` keys as written, so that a measured task can fill the rest from its own
    /// presets once its test segment is known.
    #[serde(skip)]
    given_eval: Option<toml::Table>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Name of the experiment; runs go to `<output_dir>/<name>/<timestamp>-s<seed>/`.
    pub name: String,
    /// Seed of every random stream (data, initialisation, minibatches, evaluation states).
    #[serde(default)]
    pub seed: u64,
    /// Root folder of run directories, relative to the working directory.
    #[serde(default = "default_output_dir")]
    pub output_dir: PathBuf,
    /// `"auto"`, `"cpu"`, `"cuda"` or `"cuda:N"`.
    #[serde(default = "default_device")]
    pub device: DeviceChoice,
    /// libtorch intra-op threads; 0 keeps libtorch's default (one per core).
    #[serde(default)]
    pub threads: usize,
    /// Key of the published numbers to put beside this run (`reference.toml`); unset: the
    /// system's name; `""`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// A record, not a setting: the CPU matrix-product path of the process that computes the
    /// run (`mkl-avx512-e1`, `mkl-nonintel-avx2`, ...; the environment variable
    /// `HNN_MKL_AVX512` chooses it). Filled in when the config is checked, so that a finished
    /// run is reused only by a process on the same path; a value written in a config is
    /// replaced by this process's, with a warning when they differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_matmul: Option<String>,
}

fn default_output_dir() -> PathBuf {
    PathBuf::from("runs")
}
fn default_device() -> DeviceChoice {
    DeviceChoice::Auto
}

/// A config validated once: the parsed file, its data source built, its device resolved.
#[derive(Clone)]
pub struct Experiment {
    pub config: Config,
    /// The file it came from (for messages and `meta.json`).
    pub path: PathBuf,
    pub device: Device,
    /// The checked `[system]`.
    pub source: Arc<dyn Source>,
}

impl std::fmt::Debug for Experiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Experiment")
            .field("path", &self.path)
            .field("device", &self.device)
            .field("source", &self.source.name())
            .field("config", &self.config)
            .finish()
    }
}

impl Experiment {
    /// The same experiment under another seed.
    pub fn with_seed(&self, seed: u64) -> Experiment {
        let mut e = self.clone();
        e.config.experiment.seed = seed;
        e
    }

    /// The key of the published numbers beside this run, if any.
    pub fn reference_key(&self) -> Option<String> {
        match &self.config.experiment.reference {
            Some(k) if k.is_empty() => None,
            Some(k) => Some(k.clone()),
            None => Some(self.source.name().to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Hidden layer widths of every MLP.
    pub hidden: Vec<i64>,
    pub activation: hnn_models::Activation,
    /// How the HNN (and the dissipative HNN) take `dH/dx`: `"explicit"` (layer-wise
    /// backpropagation, faster) or `"autograd"` (libtorch autograd with create_graph, as the
    /// official code). Same numbers.
    pub hnn_gradient: GradientMethod,
    /// The autoencoder of tasks seen through images (the pixel pendulum); unused otherwise.
    pub autoencoder: hnn_models::AutoencoderConfig,
    /// Weight `λ` of the dissipative HNN's prior `λ · mean((dD/dx)²)` on its training loss
    /// (logged as the loss part `"dissipation"`): among the splits `J∇H + ∇D` that fit the data
    /// it prefers the least dissipative. 0 (the default, left out of the resolved config so
    /// that runs from before it keep their keys) is the D-HNN authors' model.
    #[serde(skip_serializing_if = "is_zero")]
    pub dissipation_penalty: f64,
    /// How the Lagrangian NN's weights start: `"orthogonal"` (the default, as every other
    /// model) or `"authors"` (the LNN authors' scheme). Left out of the resolved config when
    /// default.
    #[serde(skip_serializing_if = "is_default")]
    pub lnn_init: hnn_models::LnnInit,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Default for ModelConfig {
    fn default() -> Self {
        let mlp = MlpConfig::default();
        Self {
            hidden: mlp.hidden,
            activation: mlp.activation,
            hnn_gradient: GradientMethod::default(),
            autoencoder: hnn_models::AutoencoderConfig::default(),
            dissipation_penalty: 0.0,
            lnn_init: hnn_models::LnnInit::default(),
        }
    }
}

impl ModelConfig {
    pub fn mlp(&self) -> MlpConfig {
        MlpConfig {
            hidden: self.hidden.clone(),
            activation: self.activation,
        }
    }

    /// What every registered model is built from.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            mlp: self.mlp(),
            gradient: self.hnn_gradient,
            dissipation_penalty: self.dissipation_penalty,
            velocity: None,
            lnn_init: self.lnn_init,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Which models to train, in order, by registered name (`hnn_models::MODELS`).
    pub models: Vec<String>,
    /// Adam steps.
    pub steps: usize,
    pub learning_rate: f64,
    /// L2 weight decay of Adam (PyTorch's `Adam(weight_decay=...)`).
    pub weight_decay: f64,
    /// Minibatch size; 0 means the full training set every step.
    pub batch_size: usize,
    /// Log train/test loss every this many steps (and at the first and the last step).
    pub log_every: usize,
    /// A model whose (mini)batch loss is not finite or exceeds this many times its first
    /// step's loss has diverged: training stops, the run says so, and the model is left out
    /// of evaluation and ratios.
    pub divergence_factor: f64,
    /// How the learning rate moves over the steps: constant (the paper's) or a cosine decay.
    #[serde(skip_serializing_if = "LrSchedule::is_constant")]
    pub lr_schedule: LrSchedule,
    /// What the models are trained to match: `"derivatives"` (the paper's: `dx/dt` targets) or
    /// `"rollout"` (observed states, through the integrator; `[train.rollout]`).
    #[serde(skip_serializing_if = "TrainObjective::is_derivatives")]
    pub objective: TrainObjective,
    /// The windows and integrator of `objective = "rollout"`.
    #[serde(skip_serializing_if = "RolloutConfig::is_default")]
    pub rollout: RolloutConfig,
}

/// What the models are trained to match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainObjective {
    /// The mean squared error of the predicted `dx/dt` against targets (the paper's).
    #[default]
    Derivatives,
    /// The mean squared error of the states reached by integrating the model's field from the
    /// first state of a window of observed states over their times (no derivative targets).
    Rollout,
}

impl TrainObjective {
    fn is_derivatives(&self) -> bool {
        *self == TrainObjective::Derivatives
    }
}

/// Training through the integrator: windows of `window` consecutive observed states of a
/// training trajectory, the model's field integrated from the first over their times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolloutConfig {
    /// States per window (the first is the start, the other `window - 1` are compared).
    pub window: usize,
    /// The fixed-step method differentiated through.
    pub integrator: RolloutIntegrator,
    /// Equal steps per interval between observed times.
    pub substeps: usize,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self {
            window: 5,
            integrator: RolloutIntegrator::Rk4,
            substeps: 1,
        }
    }
}

impl RolloutConfig {
    fn is_default(&self) -> bool {
        *self == RolloutConfig::default()
    }
}

/// A fixed-step method autograd can run through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutIntegrator {
    /// Classical Runge-Kutta: 4 field evaluations per step.
    Rk4,
    /// The implicit midpoint rule (symplectic for any H), its fixed point unrolled: 1 + 4 field
    /// evaluations per step.
    ImplicitMidpoint,
}

impl TrainConfig {
    /// The learning rate of step `step` (1-based) under the schedule.
    pub fn rate_at(&self, step: usize) -> f64 {
        self.lr_schedule.rate(self.learning_rate, step, self.steps)
    }
}

/// The learning rate at each Adam step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `learning_rate` at every step (the official code's).
    #[default]
    Constant,
    /// `learning_rate · (1 + cos(π (s − 1) / steps)) / 2` at step `s` (1-based): from the full
    /// rate at the first step to nearly zero at the last, so the final weights are not one
    /// jittering full-rate Adam step away from where the loss settled.
    Cosine,
}

impl LrSchedule {
    fn is_constant(&self) -> bool {
        *self == LrSchedule::Constant
    }

    /// The rate at `step` (1-based) of `steps`.
    pub fn rate(self, base: f64, step: usize, steps: usize) -> f64 {
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Cosine => {
                let progress = (step.saturating_sub(1)) as f64 / steps.max(1) as f64;
                base * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            models: vec!["baseline".into(), "hnn".into()],
            steps: 2000,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            batch_size: 0,
            log_every: 200,
            divergence_factor: 1e3,
            lr_schedule: LrSchedule::Constant,
            objective: TrainObjective::Derivatives,
            rollout: RolloutConfig::default(),
        }
    }
}

/// Which energy the energy MSE compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnergyKind {
    /// The system's true Hamiltonian.
    True,
    /// `sum(q^2) + sum(p^2)`, which the official notebooks use for every 1-D task.
    Quadratic,
}

/// How the models' rollouts are integrated (the truth always uses RK45).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Integrator {
    /// Adaptive Dormand-Prince at the protocol's `rtol`/`atol` (scipy's `solve_ivp`).
    Rk45,
    /// Classical fixed-step Runge-Kutta at `step`.
    Rk4,
    /// The implicit midpoint rule at `step`: symplectic for any Hamiltonian field, the learned
    /// one included.
    ImplicitMidpoint,
    /// Stormer-Verlet at `step`, for separable models (`H = T(p) + V(q)`, e.g. `"shnn"`).
    Leapfrog,
    /// Yoshida's fourth-order composition of leapfrog at `step`, for separable models.
    Yoshida4,
}

/// Where the initial states of an evaluation come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitialStates {
    /// Each coordinate uniform in `±[box[0], box[1]]` (the notebooks: `|q|, |p|` in [0.2, 1]).
    Box,
    /// The system's own data distribution ([`hnn_physics::Hamiltonian::sample_initial_state`]).
    System,
}

/// What the ± of a protocol groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupsOver {
    /// Contiguous groups of trajectories (the spring, pendulum and orbit notebooks).
    Trajectories,
    /// Contiguous blocks of time points, pooled over trajectories (the real pendulum's one
    /// trajectory in 5 blocks of 22).
    Points,
}

/// One energy-MSE protocol.
///
/// For a measured task, `trajectories` starting states are spread evenly along the test
/// segment, each rolled out over the next `points` measured times (the states and times are the
/// measurements; `initial_states`, `box`, `t_span` are not used, and a time stretch is refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolConfig {
    pub enabled: bool,
    /// Number of initial states.
    pub trajectories: usize,
    /// The ± is the standard deviation of the means of this many contiguous groups, divided by
    /// sqrt(groups).
    pub groups: usize,
    /// Whether the groups are of trajectories or of time points.
    pub groups_over: GroupsOver,
    pub initial_states: InitialStates,
    /// Range of `|coordinate|` for `initial_states = "box"`.
    #[serde(rename = "box", deserialize_with = "hnn_physics::pair::pair")]
    pub box_range: [f64; 2],
    /// Time interval of the ground truth (before any stretch).
    #[serde(deserialize_with = "hnn_physics::pair::pair")]
    pub t_span: [f64; 2],
    /// Output points per trajectory.
    pub points: usize,
    /// RK45 tolerances for the ground truth and the models.
    pub rtol: f64,
    pub atol: f64,
    /// The models are integrated over times multiplied by this factor (the notebooks use
    /// `1 + 0.9 * noise_std` = 1.09, "to compensate for noise effects"), and compared point by
    /// point with the unstretched ground truth.
    pub time_stretch: f64,
    /// Reproduce the notebooks' in-place mutation: trajectory `i`'s truth runs on times
    /// stretched `i` times and its models on times stretched `i + 1` times, so the horizon grows
    /// geometrically (21.8 to ~73 for the spring).
    pub compound_stretch: bool,
    pub energy: EnergyKind,
    /// How many of the finished rollouts get the time-reversal test (momenta flipped at the end,
    /// integrated as long again; about doubles the protocol's time; 0 = none).
    /// (Keys added after the first `summary.json` schema default when read back, so older runs
    /// stay readable.)
    #[serde(default)]
    pub reversibility: usize,
    /// How the models are integrated (`"rk45"`, `"rk4"`, `"implicit-midpoint"`, ...).
    #[serde(default = "default_integrator")]
    pub integrator: Integrator,
    /// Largest step of the fixed-step integrators (each interval between output times is cut
    /// into equal steps no longer than this).
    #[serde(default = "default_step")]
    pub step: f64,
}

fn default_integrator() -> Integrator {
    Integrator::Rk45
}
fn default_step() -> f64 {
    0.01
}

impl ProtocolConfig {
    /// The official notebooks' protocol (the spring notebook).
    pub fn paper() -> Self {
        Self {
            enabled: true,
            trajectories: 15,
            groups: 5,
            groups_over: GroupsOver::Trajectories,
            initial_states: InitialStates::Box,
            box_range: [0.2, 1.0],
            t_span: [0.0, 20.0],
            points: 100,
            rtol: 1e-12,
            atol: 1e-6,
            time_stretch: 1.09,
            compound_stretch: true,
            energy: EnergyKind::Quadratic,
            reversibility: 0,
            integrator: Integrator::Rk45,
            step: 0.01,
        }
    }

    /// The official protocol of a measured task: one rollout from the first test state over
    /// all `n_test` measured test times at scipy's default tolerances, the fitted energy, ± over
    /// 5 contiguous blocks of time points.
    pub fn measured_paper(n_test: usize) -> Self {
        Self {
            trajectories: 1,
            points: n_test,
            groups_over: GroupsOver::Points,
            rtol: 1e-3,
            atol: 1e-6,
            time_stretch: 1.0,
            compound_stretch: false,
            energy: EnergyKind::True,
            ..Self::paper()
        }
    }

    /// Rollouts from 20 starting states spread along a measured test segment, each over the
    /// next 30 measured times, at tight tolerances.
    pub fn measured_corrected() -> Self {
        Self {
            trajectories: 20,
            points: 30,
            ..Self::corrected()
        }
    }

    /// The pixel notebook's protocol: one rollout of 200 frames (time in frames) from a start
    /// `eval_start_angle` from rest, the models on times stretched by 0.98 (the notebook's
    /// fudge), scipy's default tolerances, the paper's energy `1.9 (1 - cos q) + p^2`, ± over
    /// 5 blocks of 40 frames.
    pub fn pixels_paper() -> Self {
        Self {
            trajectories: 1,
            points: 200,
            t_span: [0.0, 199.0],
            groups_over: GroupsOver::Points,
            rtol: 1e-3,
            atol: 1e-6,
            time_stretch: 0.98,
            compound_stretch: false,
            energy: EnergyKind::True,
            ..Self::paper()
        }
    }

    /// 20 rollouts of 100 frames from starts drawn as the dataset's, aligned labels, the
    /// rod's own energy, no stretch, tight tolerances.
    pub fn pixels_corrected() -> Self {
        Self {
            trajectories: 20,
            points: 100,
            t_span: [0.0, 99.0],
            rtol: 1e-7,
            atol: 1e-9,
            ..Self::corrected()
        }
    }

    /// A placeholder until the config is checked: there the long protocol becomes the
    /// corrected one as resolved for the task over [`LONG_HORIZON_FACTOR`] times the training
    /// horizon (10x the data's span and points; a pixel task: 10x a trial's samples), off by
    /// default (`eval.long.enabled = true`), the keys written winning.
    pub fn long() -> Self {
        Self {
            enabled: false,
            trajectories: 20,
            t_span: [0.0, 30.0],
            points: 300,
            ..Self::corrected()
        }
    }

    /// A protocol a reader can trust: the true H, a fixed horizon, the same times for truth and
    /// models, tight stated tolerances and more initial states.
    pub fn corrected() -> Self {
        Self {
            enabled: true,
            trajectories: 100,
            groups: 5,
            groups_over: GroupsOver::Trajectories,
            initial_states: InitialStates::Box,
            box_range: [0.2, 1.0],
            t_span: [0.0, 20.0],
            points: 100,
            rtol: 1e-9,
            atol: 1e-9,
            time_stretch: 1.0,
            compound_stretch: false,
            energy: EnergyKind::True,
            reversibility: 0,
            integrator: Integrator::Rk45,
            step: 0.01,
        }
    }
}

/// A protocol section as written: every key optional, filled from a preset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialProtocol {
    enabled: Option<bool>,
    trajectories: Option<usize>,
    groups: Option<usize>,
    groups_over: Option<GroupsOver>,
    initial_states: Option<InitialStates>,
    #[serde(
        rename = "box",
        default,
        deserialize_with = "hnn_physics::pair::option_pair"
    )]
    box_range: Option<[f64; 2]>,
    #[serde(default, deserialize_with = "hnn_physics::pair::option_pair")]
    t_span: Option<[f64; 2]>,
    points: Option<usize>,
    rtol: Option<f64>,
    atol: Option<f64>,
    time_stretch: Option<f64>,
    compound_stretch: Option<bool>,
    energy: Option<EnergyKind>,
    reversibility: Option<usize>,
    integrator: Option<Integrator>,
    step: Option<f64>,
}

impl PartialProtocol {
    fn over(self, d: ProtocolConfig) -> ProtocolConfig {
        ProtocolConfig {
            enabled: self.enabled.unwrap_or(d.enabled),
            trajectories: self.trajectories.unwrap_or(d.trajectories),
            groups: self.groups.unwrap_or(d.groups),
            groups_over: self.groups_over.unwrap_or(d.groups_over),
            initial_states: self.initial_states.unwrap_or(d.initial_states),
            box_range: self.box_range.unwrap_or(d.box_range),
            t_span: self.t_span.unwrap_or(d.t_span),
            points: self.points.unwrap_or(d.points),
            rtol: self.rtol.unwrap_or(d.rtol),
            atol: self.atol.unwrap_or(d.atol),
            time_stretch: self.time_stretch.unwrap_or(d.time_stretch),
            compound_stretch: self.compound_stretch.unwrap_or(d.compound_stretch),
            energy: self.energy.unwrap_or(d.energy),
            reversibility: self.reversibility.unwrap_or(d.reversibility),
            integrator: self.integrator.unwrap_or(d.integrator),
            step: self.step.unwrap_or(d.step),
        }
    }
}

fn paper_protocol<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<ProtocolConfig, D::Error> {
    Ok(PartialProtocol::deserialize(d)?.over(ProtocolConfig::paper()))
}
fn corrected_protocol<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<ProtocolConfig, D::Error> {
    Ok(PartialProtocol::deserialize(d)?.over(ProtocolConfig::corrected()))
}
fn long_protocol<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<ProtocolConfig, D::Error> {
    Ok(PartialProtocol::deserialize(d)?.over(ProtocolConfig::long()))
}

/// How many training horizons the `long` protocol covers.
pub const LONG_HORIZON_FACTOR: f64 = 10.0;

/// The example trajectory of the Figure-2-style plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FigureConfig {
    /// Initial state; empty means one drawn from the system's own distribution (seeded).
    pub x0: Vec<f64>,
    #[serde(deserialize_with = "hnn_physics::pair::pair")]
    pub t_span: [f64; 2],
    pub points: usize,
    pub rtol: f64,
    pub atol: f64,
}

impl Default for FigureConfig {
    fn default() -> Self {
        Self {
            x0: vec![1.0, 0.0],
            t_span: [0.0, 20.0],
            points: 2000,
            rtol: 1e-9,
            atol: 1e-9,
        }
    }
}

/// How much work one integration in an evaluation may take: a model whose field makes the
/// solver crawl (a barely trained or diverged network) becomes a recorded failure, not a hang.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Accepted RK45 steps per trajectory.
    pub max_steps: usize,
    /// Wall-clock seconds per batched solve (one model, or the truth, under one protocol).
    pub max_seconds: f64,
}

impl Budget {
    /// This budget with `factor` times the steps and seconds.
    pub fn scaled(&self, factor: f64) -> Budget {
        Budget {
            max_steps: (self.max_steps as f64 * factor).min(usize::MAX as f64 / 2.0) as usize,
            max_seconds: self.max_seconds * factor,
        }
    }

    /// An RK45 solver at these tolerances within this budget.
    pub fn solver(&self, rtol: f64, atol: f64) -> hnn_ode::Rk45 {
        hnn_ode::Rk45 {
            rtol,
            atol,
            max_steps: Some(self.max_steps),
            max_seconds: Some(self.max_seconds),
            ..hnn_ode::Rk45::default()
        }
    }
}

fn default_eval_max_steps() -> usize {
    10_000
}
fn default_eval_max_seconds() -> f64 {
    60.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Accepted RK45 steps allowed per trajectory, for the truth and for every model (the
    /// protocols here need at most a few thousand).
    #[serde(default = "default_eval_max_steps")]
    pub max_steps: usize,
    /// Wall-clock seconds allowed per batched solve (one model under one protocol).
    #[serde(default = "default_eval_max_seconds")]
    pub max_seconds: f64,
    #[serde(default = "ProtocolConfig::paper", deserialize_with = "paper_protocol")]
    pub paper: ProtocolConfig,
    #[serde(
        default = "ProtocolConfig::corrected",
        deserialize_with = "corrected_protocol"
    )]
    pub corrected: ProtocolConfig,
    /// The corrected protocol over 10x the training horizon (off unless enabled); its
    /// `t_span` and `points` follow the data unless written.
    #[serde(default = "ProtocolConfig::long", deserialize_with = "long_protocol")]
    pub long: ProtocolConfig,
    #[serde(default)]
    pub figure: FigureConfig,
}

impl EvalConfig {
    /// The protocols that run, by key: `eval.paper`, `eval.corrected`, and `eval.long` when
    /// enabled.
    pub fn protocols(&self) -> Vec<(&'static str, &ProtocolConfig)> {
        let mut all = vec![
            ("eval.paper", &self.paper),
            ("eval.corrected", &self.corrected),
        ];
        if self.long.enabled {
            all.push(("eval.long", &self.long));
        }
        all
    }

    pub fn budget(&self) -> Budget {
        Budget {
            max_steps: self.max_steps,
            max_seconds: self.max_seconds,
        }
    }
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            max_steps: default_eval_max_steps(),
            max_seconds: default_eval_max_seconds(),
            paper: ProtocolConfig::paper(),
            corrected: ProtocolConfig::corrected(),
            long: ProtocolConfig::long(),
            figure: FigureConfig::default(),
        }
    }
}

/// Most values (trajectories x points x coordinates) a dataset or an evaluation may hold:
/// 800 MB per copy in double precision, far above any task here, far below an allocation that
/// would abort the process.
pub const MAX_STORED_VALUES: u128 = 100_000_000;

/// Longest `experiment.name` (a folder name; file systems allow 255 bytes, and the run folder
/// and lock file names are built beside it).
const MAX_NAME_BYTES: usize = 100;

/// Reads, parses and validates a config file into a checked [`Experiment`].
pub fn load(path: &Path) -> Result<Experiment> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::ReadConfig {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// One `--set key=value`: a dotted key and a TOML value.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: toml::Value,
}

impl std::str::FromStr for Override {
    type Err = String;

    /// `key=value`, the value read as TOML (`1e-3`, `[0.0, 5.0]`, `"x"`), or as a plain string
    /// when it is not TOML (`--set system.kind=pendulum`).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (key, raw) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected key=value, e.g. train.learning_rate=1e-3"))?;
        let key = key.trim();
        if key.is_empty()
            || key.split('.').any(|part| {
                part.is_empty()
                    || !part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            })
        {
            return Err(format!(
                "{key:?} is not a dotted key like train.learning_rate"
            ));
        }
        let raw = raw.trim();
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        Ok(Override {
            key: key.to_string(),
            value,
        })
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// [`load`] with `--set` overrides applied to the file's keys before validation (an unknown key
/// or a bad value is refused like one written in the file, naming it).
pub fn load_with(path: &Path, sets: &[Override]) -> Result<Experiment> {
    if sets.is_empty() {
        return load(path);
    }
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::ReadConfig {
        path: path.to_path_buf(),
        source,
    })?;
    let note = sets
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let with_note = |e: BenchError| match e {
        BenchError::Config {
            path, key, reason, ..
        } => BenchError::Config {
            path,
            key,
            reason: format!("{reason} (with --set {note})"),
            line: None,
        },
        other => other,
    };
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        with_note(BenchError::Config {
            path: path.to_path_buf(),
            key: "(top level)".into(),
            reason: e.message().to_string(),
            line: None,
        })
    })?;
    for s in sets {
        let parts: Vec<&str> = s.key.split('.').collect();
        let mut t = &mut table;
        for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
            let entry = t
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = entry.as_table_mut().ok_or_else(|| {
                with_note(BenchError::Config {
                    path: path.to_path_buf(),
                    key: parts[..=i].join("."),
                    reason: "is a value, not a section: cannot set a key inside it".into(),
                    line: None,
                })
            })?;
        }
        t.insert(parts[parts.len() - 1].to_string(), s.value.clone());
    }
    let text = toml::to_string(&table).expect("a TOML table serialises");
    parse(&text, path).map_err(with_note)
}

/// Parses and validates config text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Experiment> {
    let de = toml::Deserializer::new(text);
    let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let mut key = e.path().to_string();
        let inner = e.into_inner();
        let mut reason = inner.message().trim().to_string();
        let mut line = inner.span().map(|s| line_of(text, s.start));
        // an error inside [system] carries its field's path in the message
        if key == "system"
            && let Some((field, rest)) = reason
                .strip_prefix('`')
                .and_then(|r| r.split_once("`: "))
                .map(|(f, r)| (f.to_string(), r.to_string()))
        {
            key = format!("system.{field}");
            reason = rest;
            line = line_of_key(text, "system", field.split('.').next().unwrap_or("")).or(line);
        }
        if key == "."
            && let Some(k) = line.and_then(|l| key_at_line(text, l))
        {
            key = k;
        }
        BenchError::Config {
            path: path.to_path_buf(),
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            reason,
            line,
        }
    })?;
    let mut config = config;
    let raw: toml::Table = text.parse().unwrap_or_default();
    config.given_eval = Some(
        raw.get("eval")
            .and_then(|e| e.as_table())
            .cloned()
            .unwrap_or_default(),
    );
    config.check(path)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The `[section]` a line belongs to, and the key it sets, as `section.key`.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line.checked_sub(1)?)?;
    let (k, _) = this.split_once('=')?;
    let k = k.trim().trim_matches('"');
    if k.is_empty() || k.starts_with('[') {
        return None;
    }
    let section = lines[..line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(['[', ']']).trim().to_string());
    Some(match section {
        Some(s) => format!("{s}.{k}"),
        None => k.to_string(),
    })
}

/// The line that sets `key` in `[section]`, if there is one.
fn line_of_key(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut inside = false;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            inside = t.trim_matches(['[', ']']).trim() == section;
        } else if inside
            && let Some((k, _)) = t.split_once('=')
            && k.trim().trim_matches('"') == key
        {
            return Some(i + 1);
        }
    }
    None
}

impl Config {
    /// Range checks of every value, the data source built (a measured file read and
    /// checksummed) and the device resolved, once; every error names the key.
    pub fn check(mut self, path: &Path) -> Result<Experiment> {
        let bad = |key: &str, reason: String| BenchError::Config {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
            line: None,
        };
        let e = &self.experiment;
        // letters and digits (any script) and - _ . + = , @, starting with a letter or digit: no
        // quotes, spaces, leading dashes, invisible or direction-changing characters
        let name_char = |c: char| c.is_alphanumeric() || "-_.+=,@".contains(c);
        if !e.name.starts_with(char::is_alphanumeric)
            || !e.name.chars().all(name_char)
            || e.name.len() > MAX_NAME_BYTES
        {
            return Err(bad(
                "experiment.name",
                format!(
                    "{:?} must be a folder name of 1 to {MAX_NAME_BYTES} bytes of letters, digits and - _ . + = , @, starting with a letter or digit",
                    e.name
                ),
            ));
        }
        if e.name.to_ascii_lowercase().ends_with(".md") {
            return Err(bad(
                "experiment.name",
                format!(
                    "{:?} ends in .md, the reports written beside the run folders (table1.md, speed.md); choose another name",
                    e.name
                ),
            ));
        }
        if e.threads > 1024 {
            return Err(bad(
                "experiment.threads",
                format!("{} is not a plausible thread count", e.threads),
            ));
        }
        if let Some(k) = &e.reference
            && !k.is_empty()
            && crate::reference::get(k).is_none()
        {
            return Err(bad(
                "experiment.reference",
                format!(
                    "{k:?} is not in reference.toml (known: {}; \"\" for none)",
                    crate::reference::all()
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let device = hnn_models::resolve_device(&e.device)
            .map_err(|err| bad("experiment.device", err.to_string()))?;
        self.experiment.cpu_matmul = Some(record_cpu_matmul(e.cpu_matmul.as_deref(), path));
        let source = self.system.check(path)?;
        if let Some(section) = self.system.0.with_paths(&crate::tasks::Context { path }) {
            self.system = SystemConfig(section);
        }
        let dim = source.dim();
        let model_dim = source.model_dim(&self.model);
        self.resolve_protocols(source.as_ref(), path)?;
        if source.uses_data() {
            self.check_data(dim, path)?;
        } else if self.data != DataSpec::default() {
            return Err(bad(
                "data",
                format!(
                    "a {} task takes its samples from [system]; remove the [data] section",
                    source.name()
                ),
            ));
        }
        self.model
            .mlp()
            .validate()
            .map_err(|err| bad("model.hidden", err.to_string()))?;
        if !source.has_autoencoder()
            && self.model.autoencoder != hnn_models::AutoencoderConfig::default()
        {
            return Err(bad(
                "model.autoencoder",
                "only a task seen through images (kind = \"pixel-pendulum\") has an autoencoder; this one would ignore it: remove the key".into(),
            ));
        }
        let weights: f64 = self
            .train
            .models
            .iter()
            .map(|m| hnn_models::model_weights(m, model_dim as i64, &self.model.spec()))
            .sum();
        if let Some(reason) =
            memory_shortfall(16.0 * weights, crate::runs::available_memory_bytes())
        {
            return Err(bad("model.hidden", reason));
        }
        source
            .check(&self)
            .map_err(|Refusal { key, reason }| bad(&key, reason))?;

        let t = &self.train;
        if t.models.is_empty() {
            return Err(bad(
                "train.models",
                format!(
                    "list at least one of {}",
                    hnn_models::MODELS
                        .iter()
                        .map(|m| format!("\"{}\"", m.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for m in &t.models {
            let info = hnn_models::check_model(m, model_dim)
                .map_err(|err| bad("train.models", err.to_string()))?;
            if info.needs_velocity {
                check_velocity_map(m, model_dim, source.as_ref())
                    .map_err(|e| bad("train.models", e))?;
            }
        }
        if t.models
            .iter()
            .enumerate()
            .any(|(i, m)| t.models[..i].contains(m))
        {
            return Err(bad("train.models", "a model is listed twice".into()));
        }
        if t.steps == 0 {
            return Err(bad("train.steps", "must be at least 1".into()));
        }
        // libtorch's Adam holds both in single precision
        let f32_max = f64::from(f32::MAX);
        // Adam's first step divides the rate by 1 - beta1 = 0.1, in single precision
        let lr_max = f32_max * 0.1;
        if !(t.learning_rate.is_finite() && t.learning_rate > 0.0 && t.learning_rate <= lr_max) {
            return Err(bad(
                "train.learning_rate",
                format!(
                    "{:e} must be positive and at most {lr_max:e} (Adam divides it by 1 - beta1 = 0.1 in single precision)",
                    t.learning_rate
                ),
            ));
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0 && t.weight_decay <= f32_max) {
            return Err(bad(
                "train.weight_decay",
                format!(
                    "{:e} must be >= 0 and at most {f32_max:e} (single precision)",
                    t.weight_decay
                ),
            ));
        }
        let penalty = self.model.dissipation_penalty;
        if !(penalty.is_finite() && penalty >= 0.0 && penalty <= f32_max) {
            return Err(bad(
                "model.dissipation_penalty",
                format!("{penalty:e} must be >= 0 and at most {f32_max:e} (single precision)"),
            ));
        }
        if penalty > 0.0 && !t.models.iter().any(|m| m == "dhnn") {
            return Err(bad(
                "model.dissipation_penalty",
                format!(
                    "{penalty:e} weighs the dissipative HNN's prior, and this config trains none on state data (train.models = {:?})",
                    t.models,
                ),
            ));
        }
        if self.model.lnn_init != hnn_models::LnnInit::default()
            && !t.models.iter().any(|m| m == "lnn")
        {
            return Err(bad(
                "model.lnn_init",
                format!(
                    "starts the Lagrangian NN's weights, and this config trains none (train.models = {:?})",
                    t.models,
                ),
            ));
        }
        if !(t.divergence_factor.is_finite() && t.divergence_factor > 1.0) {
            return Err(bad(
                "train.divergence_factor",
                format!("{} must be finite and above 1", t.divergence_factor),
            ));
        }
        if t.log_every == 0 {
            return Err(bad("train.log_every", "must be at least 1".into()));
        }
        let n_train = source.n_train(&self.data);
        if t.batch_size > n_train {
            return Err(bad(
                "train.batch_size",
                format!(
                    "{} is larger than the training set ({n_train} samples); use 0 for full batch",
                    t.batch_size
                ),
            ));
        }

        if t.objective == TrainObjective::Rollout {
            check_rollout(&t.rollout, source.as_ref(), &self.data)
                .map_err(|r| bad(&r.key, r.reason))?;
        }

        for (name, p) in self.eval.protocols() {
            let key = |k: &str| format!("{name}.{k}");
            if p.trajectories == 0 {
                return Err(bad(&key("trajectories"), "must be at least 1".into()));
            }
            let (grouped, what) = match p.groups_over {
                GroupsOver::Trajectories => (p.trajectories, "trajectories"),
                GroupsOver::Points => (p.points, "points"),
            };
            if p.groups == 0 || grouped % p.groups != 0 {
                return Err(bad(
                    &key("groups"),
                    format!("{} must be >= 1 and divide {what} = {grouped}", p.groups),
                ));
            }
            let [lo, hi] = p.box_range;
            if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
                return Err(bad(
                    &key("box"),
                    format!("[{lo}, {hi}]: expected [min, max] with 0 <= min <= max"),
                ));
            }
            let [t0, t1] = p.t_span;
            if !(t0.is_finite() && t1.is_finite() && t1 > t0) {
                return Err(bad(
                    &key("t_span"),
                    format!("[{t0}, {t1}]: expected [start, end] with end > start"),
                ));
            }
            if p.points < 2 {
                return Err(bad(
                    &key("points"),
                    format!("{} must be at least 2", p.points),
                ));
            }
            let values = (p.trajectories as u128) * (p.points as u128) * (dim as u128);
            if values > MAX_STORED_VALUES {
                return Err(bad(
                    &key("points"),
                    format!(
                        "{} trajectories x {} points x {dim} coordinates = {values} values is more than the {MAX_STORED_VALUES} an evaluation may hold",
                        p.trajectories, p.points
                    ),
                ));
            }
            if !(p.rtol.is_finite() && p.rtol >= 100.0 * f64::EPSILON && p.rtol < 1.0) {
                return Err(bad(
                    &key("rtol"),
                    format!(
                        "{} must be finite, >= 2.2e-14 and < 1 (a relative tolerance of 1 accepts any step)",
                        p.rtol
                    ),
                ));
            }
            if !(p.atol.is_finite() && p.atol > 0.0) {
                return Err(bad(
                    &key("atol"),
                    format!("{} must be positive and finite", p.atol),
                ));
            }
            if matches!(p.integrator, Integrator::Leapfrog | Integrator::Yoshida4) {
                let not: Vec<&String> = t
                    .models
                    .iter()
                    .filter(|m| !hnn_models::model_info(m).is_some_and(|i| i.separable))
                    .collect();
                if !not.is_empty() {
                    return Err(bad(
                        &key("integrator"),
                        format!(
                            "{:?} needs separable models (H = T(p) + V(q), such as \"shnn\"); not separable: {not:?}; use \"implicit-midpoint\" for any H",
                            p.integrator
                        ),
                    ));
                }
            }
            if !(p.step.is_finite() && p.step > 0.0) {
                return Err(bad(
                    &key("step"),
                    format!("{} must be positive and finite", p.step),
                ));
            }
            if p.integrator != Integrator::Rk45 && source.rollouts_span_t_span() {
                let budget = if name == "eval.long" {
                    self.eval.budget().scaled(LONG_HORIZON_FACTOR).max_steps
                } else {
                    self.eval.max_steps
                };
                fixed_steps_fit(p, budget).map_err(|reason| bad(&key("step"), reason))?;
            }
            if !(p.time_stretch.is_finite() && p.time_stretch > 0.0) {
                return Err(bad(
                    &key("time_stretch"),
                    format!("{} must be positive and finite", p.time_stretch),
                ));
            }
        }
        if self.eval.max_steps == 0 {
            return Err(bad("eval.max_steps", "must be at least 1".into()));
        }
        if !(self.eval.max_seconds.is_finite() && self.eval.max_seconds > 0.0) {
            return Err(bad(
                "eval.max_seconds",
                format!("{} must be positive and finite", self.eval.max_seconds),
            ));
        }
        let f = &self.eval.figure;
        if !f.x0.is_empty() && (f.x0.len() != dim || f.x0.iter().any(|v| !v.is_finite())) {
            return Err(bad(
                "eval.figure.x0",
                format!(
                    "expected {dim} finite numbers (or [] to draw one from the system), got {:?}",
                    f.x0
                ),
            ));
        }
        let [t0, t1] = f.t_span;
        if !(t0.is_finite() && t1.is_finite() && t1 > t0) {
            return Err(bad(
                "eval.figure.t_span",
                format!("[{t0}, {t1}]: expected [start, end] with end > start"),
            ));
        }
        if f.points < 2 || (f.points as u128) * (dim as u128) > MAX_STORED_VALUES {
            return Err(bad(
                "eval.figure.points",
                format!(
                    "{} must be at least 2 and at most {} for {dim} coordinates",
                    f.points,
                    MAX_STORED_VALUES / dim as u128
                ),
            ));
        }
        if !(f.rtol.is_finite() && f.rtol >= 100.0 * f64::EPSILON && f.rtol < 1.0) {
            return Err(bad(
                "eval.figure.rtol",
                format!(
                    "{} must be finite, >= 2.2e-14 and < 1 (a relative tolerance of 1 accepts any step)",
                    f.rtol
                ),
            ));
        }
        if !(f.atol.is_finite() && f.atol > 0.0) {
            return Err(bad(
                "eval.figure.atol",
                format!("{} must be positive and finite", f.atol),
            ));
        }
        Ok(Experiment {
            config: self,
            path: path.to_path_buf(),
            device,
            source,
        })
    }

    /// Each protocol from the task's presets (if it has them) under the keys written, and the
    /// long protocol: the corrected one as resolved for this task (its starts, tolerances,
    /// energy) over ten training horizons, the keys written winning.
    fn resolve_protocols(&mut self, source: &dyn Source, path: &Path) -> Result<()> {
        let bad = |key: &str, reason: String| BenchError::Config {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
            line: None,
        };
        let given = self.given_eval.take().unwrap_or_default();
        let section = |name: &str| {
            given
                .get(name)
                .cloned()
                .unwrap_or_else(|| toml::Value::Table(toml::Table::new()))
        };
        if let Some([paper_preset, corrected_preset]) = source.presets() {
            // the figure is the task's own data unless x0 is written (and then refused)
            if !given
                .get("figure")
                .and_then(|f| f.as_table())
                .is_some_and(|f| f.contains_key("x0"))
            {
                self.eval.figure.x0.clear();
            }
            self.eval.paper = PartialProtocol::deserialize(section("paper"))
                .map_err(|e| bad("eval.paper", e.to_string()))?
                .over(paper_preset);
            self.eval.corrected = PartialProtocol::deserialize(section("corrected"))
                .map_err(|e| bad("eval.corrected", e.to_string()))?
                .over(corrected_preset);
        }
        let mut long_base = ProtocolConfig {
            enabled: false,
            ..self.eval.corrected.clone()
        };
        if let Some((t_span, points)) = source.long_horizon(&self.data) {
            long_base.t_span = t_span;
            long_base.points = points;
        }
        self.eval.long = PartialProtocol::deserialize(section("long"))
            .map_err(|e| bad("eval.long", e.to_string()))?
            .over(long_base);
        Ok(())
    }

    /// `[data]` of a simulated task: its ranges, a grid only on a plane, and a size that fits.
    fn check_data(&self, dim: usize, path: &Path) -> Result<()> {
        let bad = |key: &str, reason: String| BenchError::Config {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
            line: None,
        };
        self.data
            .validate()
            .map_err(|err| physics_key("data", err, path))?;
        let grid = self.data.layout == hnn_physics::dataset::Layout::Grid;
        if grid && dim != 2 {
            return Err(bad(
                "data.layout",
                format!(
                    "\"grid\" needs a 2-D state (one q, one p); this system's state has {dim} numbers"
                ),
            ));
        }
        let values =
            (self.data.total_trajectories() as u128) * (self.data.points as u128) * (dim as u128);
        if values > MAX_STORED_VALUES {
            // a grid's size is its grid_points squared (the trajectories)
            let key = if grid {
                "data.grid_points"
            } else {
                "data.points"
            };
            return Err(bad(
                key,
                format!(
                    "{} trajectories x {} points x {dim} coordinates = {values} values is more than the {MAX_STORED_VALUES} a dataset may hold (8 bytes each, several copies)",
                    self.data.total_trajectories(),
                    self.data.points
                ),
            ));
        }
        Ok(())
    }

    /// The config as TOML, every default filled in (written first into each run directory).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a validated config serialises")
    }
}

/// That a fixed-step rollout over the protocol's horizon (`t_span` times `time_stretch`) takes
/// at most `max_steps` steps of at most `step`: a step too small to get there within the budget
/// would fail every trajectory, so it is refused before any work.
fn fixed_steps_fit(p: &ProtocolConfig, max_steps: usize) -> std::result::Result<(), String> {
    let horizon = (p.t_span[1] - p.t_span[0]).abs() * p.time_stretch;
    let steps = horizon / p.step;
    if steps > max_steps as f64 {
        return Err(format!(
            "{:e} over the horizon {horizon} ({:?} x time_stretch {}) is {steps:.3e} steps, more than the {max_steps} a trajectory may take (eval.max_steps); use a larger step or raise eval.max_steps",
            p.step, p.t_span, p.time_stretch
        ));
    }
    Ok(())
}

/// `train.objective = "rollout"`: windows of at least two states that fit in every training
/// trajectory of a task that has observed trajectories.
/// That the task declares the velocity map `dq/dt = V p` model `name` moves positions by, and
/// that the model accepts it (the Lagrangian NN needs it invertible): a trial build of the
/// model with a one-unit layer (the run seeds libtorch before every real build).
fn check_velocity_map(
    name: &str,
    dim: usize,
    source: &dyn Source,
) -> std::result::Result<(), String> {
    let Some(velocity) = source.velocity_map() else {
        return Err(format!(
            "\"{name}\" moves positions by the task's velocity map dq/dt = V p, and this {} task declares none",
            source.name()
        ));
    };
    let spec = ModelSpec {
        mlp: MlpConfig {
            hidden: vec![1],
            ..Default::default()
        },
        velocity: Some(velocity),
        ..Default::default()
    };
    let vs = tch::nn::VarStore::new(Device::Cpu);
    hnn_models::build_model(name, &vs.root(), dim as i64, &spec)
        .map(|_| ())
        .map_err(|e| format!("\"{name}\" on this {} task: {e}", source.name()))
}

fn check_rollout(
    r: &RolloutConfig,
    source: &dyn Source,
    data: &DataSpec,
) -> std::result::Result<(), Refusal> {
    if r.window < 2 {
        return Err(Refusal::new(
            "train.rollout.window",
            format!(
                "{} must be at least 2: a window's first state and one observed state to reach",
                r.window
            ),
        ));
    }
    if !(1..=1000).contains(&r.substeps) {
        return Err(Refusal::new(
            "train.rollout.substeps",
            format!("{} must be 1 to 1000", r.substeps),
        ));
    }
    let Some(lengths) = source.sequence_lengths(data) else {
        return Err(Refusal::new(
            "train.objective",
            format!(
                "\"rollout\" trains on windows of observed trajectories, and this {} task has none (a pixel task, or a grid layout); use \"derivatives\"",
                source.name()
            ),
        ));
    };
    let longest = lengths.iter().copied().max().unwrap_or(0);
    if r.window > longest {
        return Err(Refusal::new(
            "train.rollout.window",
            format!(
                "{} states is longer than every training trajectory (the longest has {longest} points)",
                r.window
            ),
        ));
    }
    let short = lengths.iter().filter(|&&l| l < r.window).count();
    if short > 0 {
        tracing::warn!(
            "train.rollout.window = {}: {short} of {} training trajectories are shorter and give no window (their samples are not trained on)",
            r.window,
            lengths.len()
        );
    }
    Ok(())
}

/// Why `need` bytes (four single-precision copies of every model's weights: weights,
/// gradients and Adam's two moments) cannot be had from `available`, if they cannot.
fn memory_shortfall(need: f64, available: Option<u64>) -> Option<String> {
    let available = available? as f64;
    (need > available).then(|| {
        format!(
            "training these models holds {:.1} GB of weights, gradients and Adam moments (16 bytes per weight), more than the {:.1} GB this process may still take (available memory, or ulimit -v)",
            need / 1e9,
            available / 1e9
        )
    })
}

/// This process's matrix-product path, for `experiment.cpu_matmul`; a different recorded value
/// (a run's config.toml read by a process on another path) is named in a warning.
fn record_cpu_matmul(given: Option<&str>, path: &Path) -> String {
    let current = crate::cpu_path::name();
    if let Some(given) = given.filter(|g| *g != current) {
        tracing::warn!(
            "{}: experiment.cpu_matmul = {given:?} is replaced by this process's path {current:?} (set HNN_MKL_AVX512 before the process starts to choose it)",
            path.display()
        );
    }
    current
}

pub fn physics_key(section: &str, err: hnn_physics::PhysicsError, path: &Path) -> BenchError {
    match err {
        hnn_physics::PhysicsError::InvalidParameter {
            name,
            value,
            reason,
        } => BenchError::Config {
            path: path.to_path_buf(),
            key: format!("{section}.{name}"),
            reason: format!("{value}: {reason}"),
            line: None,
        },
        other => BenchError::Config {
            path: path.to_path_buf(),
            key: section.to_string(),
            reason: other.to_string(),
            line: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::measured::MeasuredSource;

    /// `objective = "rollout"`: a window of 2 or more states that fits every training
    /// trajectory, an integrator autograd can run through, a task with trajectories.
    #[test]
    fn the_rollout_objective_is_checked() {
        let base = "[experiment]\nname = \"s\"\n[system]\nkind = \"mass-spring\"\n[train]\nobjective = \"rollout\"\n";
        let c = ok(base);
        assert_eq!(c.train.objective, TrainObjective::Rollout);
        assert_eq!(c.train.rollout, RolloutConfig::default());
        assert!(c.to_toml().contains("objective = \"rollout\""));
        // the default is left out of the resolved config (runs from before it keep their keys)
        assert!(!ok(MINIMAL).to_toml().contains("objective"));
        for (extra, key, words) in [
            (
                "[train.rollout]\nwindow = 1\n",
                "train.rollout.window",
                "at least 2",
            ),
            (
                "[train.rollout]\nwindow = 31\n",
                "train.rollout.window",
                "has 30 points",
            ),
            (
                "[train.rollout]\nsubsteps = 0\n",
                "train.rollout.substeps",
                "1 to 1000",
            ),
            (
                "[train.rollout]\nintegrator = \"rk45\"\n",
                "train.rollout.integrator",
                "rk4",
            ),
            (
                "[data]\nlayout = \"grid\"\n",
                "train.objective",
                "grid layout",
            ),
        ] {
            let e = err(&format!("{base}{extra}"));
            assert!(e.contains(key) && e.contains(words), "{extra}: {e}");
        }
        let pixels = "[experiment]\nname = \"p\"\n[system]\nkind = \"pixel-pendulum\"\n[train]\nobjective = \"rollout\"\n";
        assert!(err(pixels).contains("train.objective"));
    }

    /// `"node-so"` and `"lnn"` need the task's velocity map: the spring and the real pendulum
    /// declare one, the q-damped spring (friction on q) and written systems do not.
    #[test]
    fn the_second_order_node_needs_a_velocity_map() {
        let with = |kind: &str, extra: &str| {
            format!(
                "[experiment]\nname = \"s\"\n[system]\nkind = \"{kind}\"\n{extra}[train]\nmodels = [\"node-so\"]\n"
            )
        };
        let c = crate::config::parse(&with("mass-spring", ""), Path::new("t.toml")).unwrap();
        assert_eq!(c.source.velocity_map(), Some(vec![2.0]));
        let e = err(&with("q-damped-spring", ""));
        assert!(
            e.contains("train.models") && e.contains("velocity map"),
            "{e}"
        );
        let written = "hamiltonian = \"q^2 + p^2\"\nradius = [0.1, 1.0]\n";
        let e = err(&with("expression", written));
        assert!(e.contains("velocity map"), "{e}");
        // declared (and checked against the field: dq/dt = 2p here)
        let c = crate::config::parse(
            &with("expression", &format!("{written}velocity = [[2.0]]\n")),
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.source.velocity_map(), Some(vec![2.0]));
        let e = err(&with(
            "expression",
            &format!("{written}velocity = [[1.0]]\n"),
        ));
        assert!(
            e.contains("system.velocity") && e.contains("kinematics"),
            "{e}"
        );
        let e = err(&with(
            "expression",
            &format!("{written}velocity = [[1.0, 2.0]]\n"),
        ));
        assert!(
            e.contains("system.velocity") && e.contains("1 rows of 1"),
            "{e}"
        );
        // the Lagrangian NN reads q̇ = V p through the same map
        let lnn = |kind: &str| with(kind, "").replace("node-so", "lnn");
        assert!(crate::config::parse(&lnn("pendulum"), Path::new("t.toml")).is_ok());
        let e = err(&lnn("q-damped-spring"));
        assert!(e.contains("train.models") && e.contains("\"lnn\""), "{e}");
        // its initialisation key without an LNN to start
        let e =
            err(&with("pendulum", "")
                .replace("[train]", "[model]\nlnn_init = \"authors\"\n[train]"));
        assert!(e.contains("model.lnn_init"), "{e}");
    }

    /// Every config shipped under `configs/` (its subfolders too) passes the check, from
    /// whatever folder: the paths in them are relative to their own folder.
    #[test]
    fn every_shipped_config_is_valid() {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "toml") {
                    out.push(p);
                }
            }
        }
        let mut all = Vec::new();
        walk(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs"),
            &mut all,
        );
        assert!(all.len() >= 14, "{all:?}");
        for path in all {
            if let Err(e) = load(&path) {
                panic!("{}: {e}", path.display());
            }
        }
    }

    /// The section is kind `kind` with exactly the fields of `want`.
    fn assert_system<S: Serialize>(c: &SystemConfig, kind: &str, want: &S) {
        assert_eq!(c.kind(), kind);
        assert_eq!(c.0.to_table(), crate::tasks::table_of(want));
    }

    const MINIMAL: &str = "[experiment]\nname = \"spring\"\n[system]\nkind = \"mass-spring\"\n";

    fn ok(text: &str) -> Config {
        parse(text, Path::new("x.toml")).unwrap().config
    }

    fn err(text: &str) -> String {
        parse(text, Path::new("configs/x.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn minimal_config_gets_the_paper_defaults() {
        let c = ok(MINIMAL);
        // no dissipative prior, and none written into the resolved config (whose digest keys
        // finished runs), so runs from before the key existed are still reused
        assert_eq!(c.model.dissipation_penalty, 0.0);
        assert!(!c.to_toml().contains("dissipation_penalty"));
        let with = ok(&format!(
            "{MINIMAL}[model]\ndissipation_penalty = 0.01\n[train]\nmodels = [\"dhnn\"]\n"
        ));
        assert_eq!(with.model.spec().dissipation_penalty, 0.01);
        assert_eq!(ok(&with.to_toml()), with);
        // likewise a constant learning rate, the paper's
        assert_eq!(c.train.lr_schedule, LrSchedule::Constant);
        assert!(!c.to_toml().contains("lr_schedule"));
        let cosine = ok(&format!("{MINIMAL}[train]\nlr_schedule = \"cosine\"\n"));
        assert_eq!(cosine.train.lr_schedule, LrSchedule::Cosine);
        assert_eq!(ok(&cosine.to_toml()), cosine);
        let e = err(&format!("{MINIMAL}[train]\nlr_schedule = \"linear\"\n"));
        assert!(
            e.contains("lr_schedule") && e.contains("cosine") && e.contains("line 6"),
            "{e}"
        );
        assert_eq!(c.data, DataSpec::default());
        assert_eq!(c.train, TrainConfig::default());
        assert_eq!(c.eval.paper, ProtocolConfig::paper());
        assert_eq!(c.eval.corrected, ProtocolConfig::corrected());
        assert_system(
            &c.system,
            "mass-spring",
            &hnn_physics::MassSpring::default(),
        );
        // the resolved config parses back to itself
        assert_eq!(ok(&c.to_toml()), c);
    }

    #[test]
    fn partial_protocol_sections_keep_their_own_preset() {
        let c = ok(&format!(
            "{MINIMAL}[eval.corrected]\ntrajectories = 50\n[eval.paper]\npoints = 10\n"
        ));
        assert_eq!(c.eval.corrected.trajectories, 50);
        assert_eq!(c.eval.corrected.energy, EnergyKind::True);
        assert_eq!(c.eval.paper.points, 10);
        assert!(c.eval.paper.compound_stretch);
    }

    #[test]
    fn unknown_keys_are_named_with_file_and_line() {
        let e = err(&format!("{MINIMAL}[data]\ntrajectorys = 3\n"));
        assert!(
            e.contains("configs/x.toml") && e.contains("trajectorys") && e.contains("line 6"),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}[trian]\nsteps = 3\n"));
        assert!(e.contains("trian"), "{e}");
        let e = err("[experiment]\nname = \"s\"\n[system]\nkind = \"mass-spring\"\nk2 = 1\n");
        assert!(e.contains("k2"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let e = err(&format!("{MINIMAL}[train]\nsteps = \"many\"\n"));
        assert!(e.contains("train.steps") && e.contains("line 6"), "{e}");
        let e = err(&format!("{MINIMAL}[train]\nsteps = -5\n"));
        assert!(e.contains("train.steps"), "{e}");
        let e =
            err("[experiment]\nname = \"s\"\ndevice = \"gpu\"\n[system]\nkind = \"mass-spring\"\n");
        assert!(e.contains("experiment.device") && e.contains("gpu"), "{e}");
        let e = err("[experiment]\nname = \"s\"\n[system]\nkind = \"spring-thing\"\n");
        assert!(e.contains("system") && e.contains("spring-thing"), "{e}");
    }

    #[test]
    fn experiment_names_are_plain_folder_names() {
        let with_name = |name: &str| {
            format!("[experiment]\nname = {name:?}\n[system]\nkind = \"mass-spring\"\n")
        };
        for good in [
            "spring",
            "damped-beta-0.1",
            "run_2+x=y,z@a",
            "Pendel-Übung",
            "振り子",
        ] {
            ok(&with_name(good));
        }
        for bad in [
            "\"abc",
            " ",
            "-rf",
            ".hidden",
            "a/b",
            "a b",
            "",
            "a\u{202e}b",
            "a\u{200b}b",
            "table1.md",
        ] {
            let e = err(&with_name(bad));
            assert!(e.contains("experiment.name"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn memory_for_the_weights_is_checked_against_what_the_process_may_take() {
        // 1e9 weights x 16 bytes = 16 GB against 8 GB
        let e = memory_shortfall(16e9, Some(8_000_000_000)).unwrap();
        assert!(e.contains("16.0 GB") && e.contains("8.0 GB"), "{e}");
        assert_eq!(memory_shortfall(8e9, Some(8_000_000_000)), None);
        assert_eq!(memory_shortfall(16e9, None), None);
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        for (extra, key) in [
            ("[data]\ntrajectories = 0\n", "data.trajectories"),
            ("[data]\npoints = 0\n", "data.points"),
            (
                "[data]\nlayout = \"grid\"\ngrid_points = 3000\npoints = 10\n",
                "data.grid_points",
            ),
            ("[train]\nsteps = 0\n", "train.steps"),
            ("[train]\nlearning_rate = -1.0\n", "train.learning_rate"),
            ("[train]\nbatch_size = 100000\n", "train.batch_size"),
            ("[eval.paper]\nrtol = 0.0\n", "eval.paper.rtol"),
            ("[eval.paper]\nrtol = 1e10\n", "eval.paper.rtol"),
            ("[eval.corrected]\nrtol = 1e300\n", "eval.corrected.rtol"),
            ("[eval.figure]\nrtol = 1.0\n", "eval.figure.rtol"),
            ("[eval.corrected]\natol = -1e-9\n", "eval.corrected.atol"),
            ("[eval.corrected]\ngroups = 7\n", "eval.corrected.groups"),
            ("[model]\nhidden = []\n", "model.hidden"),
            ("[model.autoencoder]\nlatent = 3\n", "model.autoencoder"),
            (
                "[model]\ndissipation_penalty = -0.1\n[train]\nmodels = [\"dhnn\"]\n",
                "model.dissipation_penalty",
            ),
            (
                "[model]\ndissipation_penalty = nan\n[train]\nmodels = [\"dhnn\"]\n",
                "model.dissipation_penalty",
            ),
            // a prior for a model that is not trained would be silently dropped
            (
                "[model]\ndissipation_penalty = 0.1\n",
                "model.dissipation_penalty",
            ),
        ] {
            let e = err(&format!("{MINIMAL}{extra}"));
            assert!(
                e.contains(key) && e.contains("configs/x.toml"),
                "{key}: {e}"
            );
        }
        let e = err("[experiment]\nname = \"s\"\n[system]\nkind = \"mass-spring\"\nm = -1.0\n");
        assert!(e.contains("system.m"), "{e}");
    }

    #[test]
    fn the_pendulum_is_a_system_kind() {
        let c = ok("[experiment]\nname = \"p\"\n[system]\nkind = \"pendulum\"\ng = 9.8\n");
        let want = hnn_physics::Pendulum {
            g: 9.8,
            ..hnn_physics::Pendulum::default()
        };
        assert_system(&c.system, "pendulum", &want);
        let e = err("[experiment]\nname = \"p\"\n[system]\nkind = \"pendulum\"\ng = 0.0\n");
        assert!(e.contains("system.g"), "{e}");
    }

    #[test]
    fn n_body_systems_are_checked_before_any_work() {
        let base = "[experiment]\nname = \"o\"\n[system]\nkind = \"n-body\"\n";
        let c = ok(&format!("{base}[eval.figure]\nx0 = []\n"));
        assert_system(&c.system, "n-body", &hnn_physics::NBody::default());
        for (extra, key) in [
            ("bodies = 1\n", "system.bodies"),
            ("bodies = 100000\ninit = \"polygon\"\n", "system.bodies"),
            ("[data]\nlayout = \"grid\"\n", "data.layout"),
            ("mass = -1.0\n", "system.mass"),
            ("bodies = 3\n", "system.init"),
        ] {
            let e = err(&format!("{base}{extra}[eval.figure]\nx0 = []\n"));
            assert!(e.contains(key), "{key}: {e}");
        }
        // a 2-D x0 for an 8-D system
        let e = err(base);
        assert!(
            e.contains("eval.figure.x0") && e.contains("expected 8"),
            "{e}"
        );
    }

    /// A real-pendulum config; `extra` goes after the protocol keys of `[eval.paper]`.
    fn real(extra: &str) -> String {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/real_pend_h_1.txt");
        format!(
            "[experiment]\nname = \"r\"\n[system]\nkind = \"real-pendulum\"\npath = {:?}\nsha256 = \"45d92988198b89a5933f5a53e67aa819d06937516f71a462ac09e1307d8b3411\"\n[eval.figure]\nx0 = []\n[eval.corrected]\ntrajectories = 20\npoints = 30\n[eval.paper]\ntrajectories = 1\ngroups_over = \"points\"\ntime_stretch = 1.0\ncompound_stretch = false\n{extra}",
            data.display().to_string()
        )
    }

    /// A measured file of 10 rows is named as too short, not by the protocol it would fail.
    #[test]
    fn a_measured_file_too_short_for_its_protocols_is_named() {
        use sha2::Digest;
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/real_pend_h_1.txt");
        let text = std::fs::read_to_string(full).unwrap();
        let short: String = text.lines().take(11).map(|l| format!("{l}\n")).collect();
        let path = std::env::temp_dir().join(format!("hnn-short-{}.txt", std::process::id()));
        std::fs::write(&path, &short).unwrap();
        let sha: String = sha2::Sha256::digest(short.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let e = err(&format!(
            "[experiment]\nname = \"r\"\n[system]\nkind = \"real-pendulum\"\npath = {:?}\nsha256 = \"{sha}\"\n",
            path.display().to_string()
        ));
        assert!(
            e.contains("system.path") && e.contains("needs more rows"),
            "{e}"
        );
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_real_pendulum_loads_its_file_once_and_checks_it() {
        let e = parse(&real(""), Path::new("x")).unwrap();
        let m = e.source.as_any().downcast_ref::<MeasuredSource>();
        let m = m.expect("a measured source");
        assert_eq!((m.samples.train.len(), m.samples.test.len()), (445, 110));
        // first row by hand: t 5.0 -> 5.1667, forward differences over the actual step
        let (t, x) = (&m.file.t, &m.file.x);
        let dt = t[1] - t[0];
        assert!((m.samples.dx[0] - (x[2] - x[0]) / dt).abs() < 1e-12);
        assert!((m.samples.dx[1] - (x[3] - x[1]) / dt).abs() < 1e-12);
        assert_eq!(e.reference_key().as_deref(), Some("real-pendulum"));
        let bad_sum = real("").replace("45d9", "55d9");
        let m = err(&bad_sum);
        assert!(
            m.contains("system") && m.contains("sha256") && m.contains("real_pend_h_1.txt"),
            "{m}"
        );
        let m = err(&real("").replace("real_pend_h_1.txt", "missing.txt"));
        assert!(m.contains("missing.txt"), "{m}");
        for (extra, key) in [
            ("[data]\npoints = 10\n", "`data`"),
            ("points = 110\ngroups = 7\n", "eval.paper.groups"),
            ("points = 111\ngroups = 1\n", "eval.paper.points"),
            ("points = 91\ngroups = 1\n[eval.paper.x]\n", "eval.paper"),
            ("[train]\nmodels = [\"hnn\", \"lstm\"]\n", "train.models"),
        ] {
            let e = err(&real(extra));
            assert!(e.contains(key), "{key}: {e}");
        }
        let e = err(&real("").replace("trajectories = 20", "trajectories = 85"));
        assert!(
            e.contains("eval.corrected.trajectories") && e.contains("at most 81"),
            "{e}"
        );
        let e = err(&real("").replace("time_stretch = 1.0", "time_stretch = 1.09"));
        assert!(e.contains("eval.paper.time_stretch"), "{e}");
        let e = err(&real("").replace("x0 = []", "x0 = [1.0, 0.0]"));
        assert!(e.contains("eval.figure.x0"), "{e}");
        let e = err(&real("").replace("[system]", "reference = \"nope\"\n[system]"));
        assert!(
            e.contains("experiment.reference") && e.contains("real-pendulum"),
            "{e}"
        );
    }

    /// A measured task needs no protocol keys: its presets are the official protocol over the
    /// whole test segment and 20 starts of 30 points; keys written still win.
    #[test]
    fn a_measured_task_has_its_own_protocol_presets() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/real_pend_h_1.txt");
        let minimal = format!(
            "[experiment]\nname = \"r\"\n[system]\nkind = \"real-pendulum\"\npath = {:?}\nsha256 = \"45d92988198b89a5933f5a53e67aa819d06937516f71a462ac09e1307d8b3411\"\n",
            data.display().to_string()
        );
        let e = parse(&minimal, Path::new("x")).unwrap();
        let (p, c) = (&e.config.eval.paper, &e.config.eval.corrected);
        assert_eq!((p.trajectories, p.points, p.groups), (1, 110, 5));
        assert_eq!(p.groups_over, GroupsOver::Points);
        assert_eq!((p.rtol, p.atol, p.time_stretch), (1e-3, 1e-6, 1.0));
        assert!(!p.compound_stretch);
        assert_eq!(p.energy, EnergyKind::True);
        assert_eq!((c.trajectories, c.points, c.rtol), (20, 30, 1e-9));
        assert!(e.config.eval.figure.x0.is_empty());
        // the same resolved config as the explicit one of the test above
        let explicit = parse(&real(""), Path::new("x")).unwrap();
        assert_eq!(e.config.to_toml(), explicit.config.to_toml());
        // a written key wins over the preset
        let e = parse(
            &format!("{minimal}[eval.corrected]\npoints = 10\n"),
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(
            (
                e.config.eval.corrected.points,
                e.config.eval.corrected.trajectories
            ),
            (10, 20)
        );
        // a simulated task keeps the notebook presets
        let s = ok("[experiment]\nname = \"s\"\n[system]\nkind = \"mass-spring\"\n");
        assert_eq!(s.eval.paper, ProtocolConfig::paper());
    }

    #[test]
    fn separable_integrators_need_separable_models() {
        let base = "[experiment]\nname = \"s\"\n[system]\nkind = \"mass-spring\"\n";
        let e = err(&format!(
            "{base}[eval.corrected]\nintegrator = \"yoshida4\"\n"
        ));
        assert!(
            e.contains("eval.corrected.integrator") && e.contains("\"baseline\", \"hnn\""),
            "{e}"
        );
        let c = ok(&format!(
            "{base}[train]\nmodels = [\"shnn\"]\n[eval.corrected]\nintegrator = \"leapfrog\"\nstep = 0.05\n"
        ));
        assert_eq!(c.eval.corrected.integrator, Integrator::Leapfrog);
        assert_eq!(c.eval.paper.integrator, Integrator::Rk45);
        let e = err(&format!("{base}[eval.paper]\nintegrator = \"euler\"\n"));
        assert!(e.contains("eval.paper.integrator"), "{e}");
        let e = err(&format!("{base}[eval.paper]\nstep = 0.0\n"));
        assert!(e.contains("eval.paper.step"), "{e}");
    }

    /// The corrected protocol spans 20 time units: 2000 RK4 steps of 0.01 fit the default
    /// budget of 10000; steps of 1e-3 (20000) do not, unless the budget is raised; RK45 adapts.
    #[test]
    fn fixed_steps_must_reach_the_horizon_within_the_budget() {
        let base = "[experiment]\nname = \"s\"\n[system]\nkind = \"mass-spring\"\n";
        let rk4 = |step: &str, extra: &str| {
            format!("{base}{extra}[eval.corrected]\nintegrator = \"rk4\"\nstep = {step}\n")
        };
        ok(&rk4("0.01", ""));
        let e = err(&rk4("1e-3", ""));
        assert!(
            e.contains("eval.corrected.step") && e.contains("2.000e4 steps") && e.contains("10000"),
            "{e}"
        );
        ok(&rk4("1e-3", "[eval]\nmax_steps = 20000\n"));
        ok(&format!("{base}[eval.corrected]\nstep = 1e-9\n"));
    }

    #[test]
    fn damped_springs_name_their_keys() {
        let e =
            err("[experiment]\nname = \"d\"\n[system]\nkind = \"damped-spring\"\nbeta = -0.1\n");
        assert!(e.contains("system.beta"), "{e}");
        let c = ok("[experiment]\nname = \"d\"\n[system]\nkind = \"damped-spring\"\n");
        assert_system(
            &c.system,
            "damped-spring",
            &hnn_physics::DampedSpring::default(),
        );
    }

    #[test]
    fn missing_sections_are_reported() {
        let e = err("[experiment]\nname = \"s\"\n");
        assert!(e.contains("system"), "{e}");
    }
}

#[cfg(test)]
mod pixel_tests {
    use super::*;

    const PIXELS: &str = "[experiment]\nname = \"px\"\n[system]\nkind = \"pixel-pendulum\"\n";

    fn err(text: &str) -> String {
        parse(text, Path::new("px.toml")).unwrap_err().to_string()
    }

    /// The pixel task takes the notebook's protocol and the corrected one as presets, and
    /// its models live on the autoencoder's latent state.
    #[test]
    fn pixel_presets_and_latent_dimension() {
        let e = parse(PIXELS, Path::new("px.toml")).unwrap();
        assert_eq!(e.config.eval.paper, ProtocolConfig::pixels_paper());
        assert_eq!(e.config.eval.corrected, ProtocolConfig::pixels_corrected());
        assert_eq!(e.config.eval.paper.time_stretch, 0.98);
        assert!(e.config.eval.figure.x0.is_empty());
        assert_eq!(e.source.dim(), 2);
        assert_eq!(e.source.model_dim(&e.config.model), 2);
        let e = parse(
            &format!("{PIXELS}[eval.paper]\npoints = 40\nt_span = [0.0, 39.0]\n"),
            Path::new("px.toml"),
        )
        .unwrap();
        assert_eq!(e.config.eval.paper.points, 40);
        assert_eq!(e.config.eval.paper.time_stretch, 0.98);
    }

    #[test]
    fn bad_pixel_settings_name_their_key() {
        for (extra, key) in [
            ("frames = 3\n", "system.frames"),
            ("camera = { rows = [500, 400] }\n", "system.camera.rows"),
            ("camera = { side = 0 }\n", "system.camera.side"),
            ("eval_start_angle = [0.5, 0.1]\n", "system.eval_start_angle"),
            ("test_fraction = 0.0\n", "system.test_fraction"),
            (
                "[model]\nautoencoder = { latent = 3 }\n",
                "model.autoencoder.latent",
            ),
            (
                "[model]\nautoencoder = { hidden = 0 }\n",
                "model.autoencoder.hidden",
            ),
            ("[data]\ntrajectories = 3\n", "data"),
            ("[eval.paper]\npoints = 50\n", "eval.paper.t_span"),
            ("[eval.figure]\nx0 = [0.1, 0.0]\n", "eval.figure.x0"),
            ("[train]\nbatch_size = 16001\n", "train.batch_size"),
        ] {
            let e = err(&format!("{PIXELS}{extra}"));
            assert!(e.contains(&format!("`{key}`")), "{extra}: {e}");
        }
        // an odd latent state is fine for the baseline alone
        parse(
            &format!("{PIXELS}[model]\nautoencoder = {{ latent = 3 }}\n[train]\nmodels = [\"baseline\"]\n"),
            Path::new("px.toml"),
        )
        .unwrap();
    }
}

#[cfg(test)]
mod long_tests {
    use super::*;

    fn check(text: &str) -> Result<Experiment> {
        parse(text, Path::new("l.toml"))
    }

    const SPRING: &str = "[experiment]\nname = \"s\"\n[system]\nkind = \"mass-spring\"\n";

    /// The long protocol covers 10x the training horizon: the data's span and points by
    /// default, the keys written otherwise; the rest from the corrected protocol; off unless
    /// enabled.
    #[test]
    fn the_long_protocol_follows_the_training_horizon() {
        let e = check(SPRING).unwrap();
        let l = &e.config.eval.long;
        assert!(!l.enabled);
        assert_eq!((l.t_span, l.points), ([0.0, 30.0], 300));
        assert_eq!(l.rtol, ProtocolConfig::corrected().rtol);
        let e = check(&format!(
            "{SPRING}[data]\nt_span = [1.0, 5.0]\npoints = 12\n[eval.long]\nenabled = true\n"
        ))
        .unwrap();
        assert_eq!(
            (e.config.eval.long.t_span, e.config.eval.long.points),
            ([0.0, 40.0], 120)
        );
        // it is the corrected protocol as the task resolves it, starts and tolerances included
        let e = check(&format!(
            "{SPRING}[eval.corrected]\ninitial_states = \"system\"\nrtol = 1e-7\ntrajectories = 10\n"
        ))
        .unwrap();
        let l = &e.config.eval.long;
        assert_eq!(l.initial_states, InitialStates::System);
        assert_eq!((l.rtol, l.trajectories), (1e-7, 10));
        let e = check(&format!("{SPRING}[eval.long]\nt_span = [0.0, 7.0]\n")).unwrap();
        assert_eq!(
            (e.config.eval.long.t_span, e.config.eval.long.points),
            ([0.0, 7.0], 300)
        );
        let px = check(
            "[experiment]\nname = \"p\"\n[system]\nkind = \"pixel-pendulum\"\n[eval.long]\nenabled = true\n",
        )
        .unwrap();
        assert_eq!(
            (px.config.eval.long.t_span, px.config.eval.long.points),
            ([0.0, 999.0], 1000)
        );
        // checked like the others when enabled
        let e = check(&format!(
            "{SPRING}[eval.long]\nenabled = true\ngroups = 7\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("eval.long.groups"), "{e}");
    }

    #[test]
    fn the_long_protocol_gets_ten_times_the_budget() {
        let b = EvalConfig::default().budget().scaled(LONG_HORIZON_FACTOR);
        assert_eq!((b.max_steps, b.max_seconds), (100_000, 600.0));
    }

    #[test]
    fn a_measured_task_has_no_long_horizon() {
        let text = format!(
            "[experiment]\nname = \"r\"\n[system]\nkind = \"real-pendulum\"\npath = \"{}\"\nsha256 = \"45d92988198b89a5933f5a53e67aa819d06937516f71a462ac09e1307d8b3411\"\n[eval.long]\nenabled = true\n",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../datasets/real_pend_h_1.txt"
            )
        );
        let e = check(&text).unwrap_err().to_string();
        assert!(e.contains("eval.long.enabled"), "{e}");
    }
}
