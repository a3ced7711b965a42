//! Energy drift at the end of the rollouts.

use super::{Evidence, Metric, Needs, energy_drift};

/// Mean over rollouts of `|E(x̂(T)) − E(x(0))| / |E(x(0))|` at the last point.
pub struct EnergyDrift;

impl Metric for EnergyDrift {
    fn name(&self) -> &'static str {
        "energy_drift"
    }
    fn column(&self) -> &'static str {
        "energy drift at the end"
    }
    fn legend(&self) -> String {
        "Energy drift: |E(x̂(T)) − E(x(0))| / |E(x(0))| at the last point, mean over trajectories"
            .into()
    }
    fn needs(&self) -> Needs {
        Needs {
            true_energy: true,
            ..Needs::default()
        }
    }
    fn score(&self, e: &Evidence<'_>) -> Option<f64> {
        let energy = e.energy?;
        if e.rollouts.is_empty() {
            return None;
        }
        let n = e.rollouts.len() as f64;
        let mut total = 0.0;
        for r in e.rollouts {
            let drift = energy_drift(energy, &r.truth[..e.dim], r.model, e.dim);
            total += drift.last().copied().unwrap_or(f64::NAN) / n;
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::{evidence, two_rollouts};

    /// Energy 2 against 1 at the end of the bad rollout: drift 1, mean 0.5; none without an
    /// energy.
    #[test]
    fn mean_drift_at_the_end() {
        let e = |x: &[f64]| x[0] * x[0] + x[1] * x[1];
        assert_eq!(
            two_rollouts(|r| EnergyDrift.score(&evidence(r, Some(&e)))),
            Some(0.5)
        );
        assert_eq!(
            two_rollouts(|r| EnergyDrift.score(&evidence(r, None))),
            None
        );
    }
}
