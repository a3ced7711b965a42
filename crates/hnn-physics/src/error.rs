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
    /// A data file whose contents are not what the loader expects.
    #[error("data file {path}{}: {reason}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    DataFile {
        path: PathBuf,
        line: Option<usize>,
        reason: String,
    },
    /// A data file whose sha256 is not the recorded one.
    #[error(
        "data file {path}: sha256 is {actual}, expected {expected} (the file changed or is not the recorded one)"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// A system written as expressions that cannot be used; `key` is the section's key
    /// (`hamiltonian`, `constants.m`, ...), `reason` names the column or the state.
    #[error("`{key}`: {reason}")]
    Expression { key: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = PhysicsError> = std::result::Result<T, E>;
