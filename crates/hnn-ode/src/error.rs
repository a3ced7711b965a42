use thiserror::Error;

/// Errors of the integrators. Each carries the numbers needed to locate the failure.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OdeError {
    /// The adaptive step size fell below `10 * ulp(t)` (scipy's "required step size is less
    /// than spacing between numbers").
    #[error(
        "step size underflow at t = {t}: h = {h:e} is below the spacing of floating-point numbers near t"
    )]
    StepSizeUnderflow { t: f64, h: f64 },
    /// The solver exceeded its step budget.
    #[error(
        "more than {max_steps} steps without reaching the end of the interval (stopped at t = {t})"
    )]
    TooManySteps { t: f64, max_steps: usize },
    /// The solve exceeded its wall-clock budget.
    #[error(
        "wall-clock budget of {seconds} s used up before the end of the interval (stopped at t = {t})"
    )]
    TimeBudget { t: f64, seconds: f64 },
    /// The state became NaN or infinite, or the field returned NaN or infinity at a finite
    /// state (at time `t`).
    #[error("non-finite state or derivative at t = {t}")]
    NonFinite { t: f64 },
    /// An implicit step's equation did not converge.
    #[error(
        "implicit step at t = {t} did not converge in {iterations} iterations (residual {residual:e}): use a smaller step"
    )]
    NoConvergence {
        t: f64,
        iterations: usize,
        residual: f64,
    },
    /// A tolerance or step option is out of range.
    #[error("invalid solver option `{name}` = {value:e}: {reason}")]
    InvalidOption {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    /// The time span or the requested output times are unusable.
    #[error("invalid times: {reason}")]
    InvalidTimes { reason: String },
    /// A buffer does not have the length the field's dimension implies.
    #[error("dimension mismatch: expected {expected} values, got {got}")]
    DimensionMismatch { expected: usize, got: usize },
}

pub type Result<T, E = OdeError> = std::result::Result<T, E>;
