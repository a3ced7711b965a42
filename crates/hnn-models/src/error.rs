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
    /// (The message keeps libtorch's first line; its C++ backtrace stays in `source`.)
    #[error("checkpoint {}: {}", .path.display(), first_line(.source))]
    Checkpoint {
        path: PathBuf,
        #[source]
        source: tch::TchError,
    },
    /// A checkpoint file that cannot be written or read as one.
    #[error("checkpoint {}: {reason}", .path.display())]
    CheckpointFile { path: PathBuf, reason: String },
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// The first line of a libtorch error (its message; the rest is a C++ backtrace).
fn first_line(e: &tch::TchError) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default().trim_end();
    if first.len() < text.trim_end().len() {
        format!("{first} [...]")
    } else {
        first.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_errors_keep_libtorch_first_line_only() {
        let e = ModelError::Checkpoint {
            path: "runs/x/checkpoints/hnn.safetensors".into(),
            source: tch::TchError::Torch(
                "size mismatch for l0.weight\nException raised from copy_ at ...\nframe #0: ..."
                    .into(),
            ),
        };
        assert_eq!(
            e.to_string(),
            "checkpoint runs/x/checkpoints/hnn.safetensors: Internal torch error: size mismatch for l0.weight [...]"
        );
    }
}
