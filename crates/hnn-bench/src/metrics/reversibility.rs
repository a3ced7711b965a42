//! Time reversibility of the learned flow.

use super::{Evidence, Metric, Needs};

/// Mean over the reversed rollouts of `|R φ R φ x(0) − x(0)| / |x(0)|`: each rollout continued
/// from its end with the momenta flipped (`R`), as long again, then flipped back. Exact
/// reversibility, 0, is what a Hamiltonian flow with an even energy in `p` has.
pub struct Reversibility;

impl Metric for Reversibility {
    fn name(&self) -> &'static str {
        "reversibility"
    }
    fn column(&self) -> &'static str {
        "reversibility"
    }
    fn legend(&self) -> String {
        "Reversibility: |R φ R φ x(0) − x(0)| / |x(0)|, the rollout continued from its end with momenta flipped, then flipped back (`eval.<protocol>.reversibility` rollouts; a dash when off)".into()
    }
    fn needs(&self) -> Needs {
        Needs {
            reversal: true,
            ..Needs::default()
        }
    }
    fn score(&self, e: &Evidence<'_>) -> Option<f64> {
        let errors = e.reversal_errors?;
        (!errors.is_empty()).then(|| errors.iter().sum::<f64>() / errors.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::testing::evidence;

    #[test]
    fn mean_of_the_reversal_errors() {
        let mut e = evidence(&[], None);
        assert_eq!(Reversibility.score(&e), None);
        e.reversal_errors = Some(&[]);
        assert_eq!(Reversibility.score(&e), None);
        e.reversal_errors = Some(&[1e-3, 3e-3]);
        assert_eq!(Reversibility.score(&e), Some(2e-3));
    }
}
