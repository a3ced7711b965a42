//! Relative error of the rollouts, over every point but the (shared) start.

use super::{Evidence, Metric, geometric_mean, relative_error};

/// Geometric mean over rollouts and points of `|x̂ − x| / (|x̂| + |x|)`, the start left out.
pub struct RelativeError;

impl Metric for RelativeError {
    fn name(&self) -> &'static str {
        "relative_error"
    }
    fn column(&self) -> &'static str {
        "relative error (geo. mean)"
    }
    fn legend(&self) -> String {
        "Relative error: geometric mean over trajectories and points of |x̂ − x| / (|x̂| + |x|), the start left out".into()
    }
    fn score(&self, e: &Evidence<'_>) -> Option<f64> {
        if e.rollouts.is_empty() {
            return None;
        }
        let mut all = Vec::new();
        for r in e.rollouts {
            let rel = relative_error(r.truth, r.model, e.dim);
            all.extend_from_slice(&rel[1.min(rel.len())..]);
        }
        Some(geometric_mean(&all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{evidence, two_rollouts};

    /// Over the second points only: 1e-16 (exact, floored) and 1 / (1 + sqrt 2).
    #[test]
    fn geometric_mean_past_the_start() {
        let r = 1.0 / (1.0 + 2f64.sqrt());
        let v = two_rollouts(|rs| RelativeError.score(&evidence(rs, None))).unwrap();
        assert!((v - (1e-16 * r).sqrt()).abs() < 1e-20, "{v}");
    }
}
