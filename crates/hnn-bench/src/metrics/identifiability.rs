//! Identifiability of a learned energy.

use super::{Evidence, Metric, Needs};

/// R² of the fit `H_learned ≈ a · E_true + b` on the test inputs: an energy is learned only up
/// to scale and offset, so 1 means the model found the true one.
pub struct Identifiability;

impl Metric for Identifiability {
    fn name(&self) -> &'static str {
        "h_fit_r2"
    }
    fn column(&self) -> &'static str {
        "H fit R²"
    }
    fn legend(&self) -> String {
        "H fit R²: of H_learned ≈ a·E_true + b on the test inputs (models with a learned energy; the slope a is in summary.json's energy_fit)".into()
    }
    fn needs(&self) -> Needs {
        Needs {
            true_energy: true,
            learned_energy: true,
            ..Needs::default()
        }
    }
    fn score(&self, e: &Evidence<'_>) -> Option<f64> {
        Some(e.energy_fit?.r2)
    }
    fn format(&self, value: f64) -> String {
        format!("{value:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{affine_fit, testing::evidence};

    #[test]
    fn the_fits_r2() {
        let mut e = evidence(&[], None);
        assert_eq!(Identifiability.score(&e), None);
        e.energy_fit = Some(affine_fit(&[0.0, 1.0, 2.0, 3.0], &[0.0, 1.0, 0.0, 1.0]));
        assert!((Identifiability.score(&e).unwrap() - 0.2).abs() < 1e-12);
    }
}
