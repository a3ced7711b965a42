use std::path::PathBuf;

use thiserror::Error;

/// Errors of an experiment run.
#[derive(Debug, Error)]
pub enum BenchError {
    #[error("cannot read config file {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An input file or argument other than a config that cannot be used.
    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },
    /// A config key with an unusable value (or an unknown key).
    #[error("config file {path}{}: key `{key}`: {reason}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Config {
        path: PathBuf,
        key: String,
        reason: String,
        line: Option<usize>,
    },
    #[error(transparent)]
    Physics(#[from] hnn_physics::PhysicsError),
    #[error(transparent)]
    Model(#[from] hnn_models::ModelError),
    #[error("{what} at {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Npy {
        path: PathBuf,
        #[source]
        source: ndarray_npy::WriteNpyError,
    },
    #[error("plotting {path}: {reason}")]
    Plot { path: PathBuf, reason: String },
    /// An energy edit could not be done or did not reach its target.
    #[error("energy edit: {reason}")]
    Edit { reason: String },
    /// A TorchScript export could not be made or did not match the model.
    #[error("export: {reason}")]
    Export { reason: String },
    /// The run panicked; the batch goes on with the next run.
    #[error("the run stopped on an internal error: {message}")]
    Panic { message: String },
    /// Integrating the ground truth for an evaluation failed (model failures are recorded).
    #[error("{protocol} protocol: ground truth of trajectory {trajectory} failed: {source}")]
    Truth {
        protocol: String,
        trajectory: usize,
        #[source]
        source: hnn_ode::OdeError,
    },
}

impl BenchError {
    /// A panic inside a run (libtorch, for instance, panics where it cannot allocate).
    pub fn panic(message: String) -> Self {
        BenchError::Panic { message }
    }
}

pub type Result<T, E = BenchError> = std::result::Result<T, E>;
