use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    /// `device = "cuda"` was asked for but libtorch sees no CUDA device.
    #[error(
        "device `{requested}` requested but CUDA is not available (libtorch sees no GPU or is the CPU-only build; run scripts/setup-libtorch.sh --cuda on a GPU machine)"
    )]
    CudaUnavailable { requested: String },
    /// A device string that is not `auto`, `cpu`, `cuda` or `cuda:N`.
    #[error("unknown device `{0}` (expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\")")]
    UnknownDevice(String),
    /// A model name that the registry does not know.
    #[error("unknown model \"{name}\" (known: {known})")]
    UnknownModel { name: String, known: String },
    /// A layer size or dimension is out of range.
    #[error("invalid model configuration `{key}`: {reason}")]
    Config { key: &'static str, reason: String },
    #[error("checkpoint {path}: {source}")]
    Checkpoint {
        path: PathBuf,
        #[source]
        source: tch::TchError,
    },
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
