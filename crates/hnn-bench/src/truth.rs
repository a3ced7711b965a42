//! What a task gives evaluation: the ground truth as data (times and states per trajectory, an
//! optional energy), what its figure shows, and how a model's own coordinates map to the
//! truth's. A leaf: it imports nothing of the crate, so tasks, evaluation and plots all depend
//! on it and not on each other.

use std::sync::Arc;

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

/// How a model's own coordinates relate to the truth's, for models that do not live on the
/// states (an autoencoder's latent space): where the model starts from a truth trajectory,
/// and what its states are in the truth's coordinates.
pub trait Embedding {
    /// The model's state at the start of trajectory `i` of `truth`.
    fn start(&self, truth: &Truth, i: usize) -> Vec<f64>;
    /// Model states `[n, model dim]` in the truth's coordinates `[n, truth dim]`.
    fn to_truth(&self, path: &[f64]) -> Vec<f64>;
    /// Model states as frames (`[n, side^2]`), for models that see images.
    fn render(&self, _path: &[f64]) -> Option<Vec<f32>> {
        None
    }
    /// R² of each truth coordinate under a fitted readout (`to_truth`), if it has one.
    fn readout_r2(&self) -> Option<Vec<f64>> {
        None
    }
}
