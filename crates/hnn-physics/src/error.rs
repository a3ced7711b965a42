use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PhysicsError {
    /// A physical or dataset parameter is out of range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: String,
        reason: &'static str,
    },
    /// Integrating one trajectory of a dataset failed.
    #[error("integrating trajectory {trajectory} failed: {source}")]
    Integration {
        trajectory: usize,
        #[source]
        source: hnn_ode::OdeError,
    },
    #[error("writing {path}: {source}")]
    WriteNpy {
        path: PathBuf,
        #[source]
        source: ndarray_npy::WriteNpyError,
    },
    #[error("reading {path}: {source}")]
    ReadNpy {
        path: PathBuf,
        #[source]
        source: ndarray_npy::ReadNpyError,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = PhysicsError> = std::result::Result<T, E>;
