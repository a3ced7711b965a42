//! Valid prediction time (Botev et al. 2021).

use super::{Evidence, Metric, relative_error, valid_prediction_time};

/// Threshold of the normalised error that ends the valid prediction time.
pub const VPT_THRESHOLD: f64 = 0.025;

/// Mean over rollouts of the time until the relative error first exceeds [`VPT_THRESHOLD`].
pub struct ValidTime;

impl Metric for ValidTime {
    fn name(&self) -> &'static str {
        "valid_time"
    }
    fn column(&self) -> &'static str {
        "valid time"
    }
    fn legend(&self) -> String {
        format!(
            "Valid time: until the relative error |x̂ − x| / (|x̂| + |x|) first exceeds {VPT_THRESHOLD}, mean over trajectories (out of the horizon)"
        )
    }
    fn score(&self, e: &Evidence<'_>) -> Option<f64> {
        if e.rollouts.is_empty() {
            return None;
        }
        let total: f64 = e
            .rollouts
            .iter()
            .map(|r| {
                valid_prediction_time(r.t, &relative_error(r.truth, r.model, e.dim), VPT_THRESHOLD)
            })
            .sum();
        Some(total / e.rollouts.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{evidence, two_rollouts};

    /// The bad rollout's second point is off by 1 / (1 + sqrt 2) > 0.025: valid for 0 and 1.
    #[test]
    fn mean_of_each_rollouts_valid_time() {
        let v = two_rollouts(|r| ValidTime.score(&evidence(r, None)));
        assert_eq!(v, Some(0.5));
        assert_eq!(ValidTime.score(&evidence(&[], None)), None);
    }
}
