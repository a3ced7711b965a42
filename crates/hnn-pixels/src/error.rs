use thiserror::Error;

#[derive(Debug, Error)]
pub enum PixelError {
    /// A setting out of range, named by its config key.
    #[error("invalid `{key}` = {value}: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: String,
    },
    /// The rejection sampler found no start in the requested angle range.
    #[error(
        "no starting state with an angle from rest in ({lo}, {hi}) after {tries} draws (trial {trial})"
    )]
    NoStart {
        lo: f64,
        hi: f64,
        tries: usize,
        trial: usize,
    },
}

pub type Result<T, E = PixelError> = std::result::Result<T, E>;

pub(crate) fn invalid(
    key: &'static str,
    value: impl std::fmt::Display,
    reason: &str,
) -> PixelError {
    PixelError::Invalid {
        key,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}
