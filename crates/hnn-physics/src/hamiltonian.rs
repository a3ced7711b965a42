use hnn_ode::VectorField;
use rand::RngCore;

/// A conservative system in canonical coordinates, state `x = (q_1..q_n, p_1..p_n)`.
///
/// ```
/// use hnn_physics::{Hamiltonian, MassSpring};
/// let spring = MassSpring::default(); // the official H = q^2 + p^2
/// assert_eq!(spring.energy(&[0.6, 0.8]), 1.0);
/// let mut dx = [0.0; 2];
/// spring.time_derivative(&[1.0, 0.0], &mut dx);
/// assert_eq!(dx, [0.0, -2.0]); // (dH/dp, -dH/dq)
/// ```
pub trait Hamiltonian: Send + Sync {
    /// Short name used in logs and file names.
    fn name(&self) -> &str;

    /// Degrees of freedom `n`; the state has `2n` components.
    fn dof(&self) -> usize;

    /// Total energy `H(x)`.
    fn energy(&self, x: &[f64]) -> f64;

    /// Exact gradient `dH/dx` (`[dH/dq..., dH/dp...]`) into `grad`.
    fn gradient(&self, x: &[f64], grad: &mut [f64]);

    /// Checks the system's parameters; the error names the offending one.
    fn validate(&self) -> crate::Result<()> {
        Ok(())
    }

    /// Draws an initial state from the system's data distribution.
    fn sample_initial_state(&self, rng: &mut dyn RngCore) -> Vec<f64>;

    /// Positions of the bodies in the plane, for plots of their paths (`None`: not a system
    /// of bodies).
    fn body_positions(&self, _x: &[f64]) -> Option<Vec<[f64; 2]>> {
        None
    }

    /// Kinetic and potential energy, for systems that separate them.
    fn energy_parts(&self, _x: &[f64]) -> Option<[f64; 2]> {
        None
    }

    /// The kinematics `dq/dt = dH/dp = V p` when `H` is quadratic in `p` with a constant
    /// matrix (`V`: `n x n`, row-major); `None` otherwise.
    fn velocity_map(&self) -> Option<Vec<f64>> {
        None
    }

    /// State dimension `2n`.
    fn dim(&self) -> usize {
        2 * self.dof()
    }

    /// Hamilton's equations: `dq/dt = dH/dp`, `dp/dt = -dH/dq`.
    fn time_derivative(&self, x: &[f64], dxdt: &mut [f64]) {
        let n = self.dof();
        let mut grad = vec![0.0; 2 * n];
        self.gradient(x, &mut grad);
        for i in 0..n {
            dxdt[i] = grad[n + i];
            dxdt[n + i] = -grad[i];
        }
    }
}

/// The Hamiltonian vector field of a system, for the integrators.
pub struct HamiltonianField<'a, H: ?Sized>(pub &'a H);

impl<H: Hamiltonian + ?Sized> VectorField for HamiltonianField<'_, H> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn eval(&self, _t: f64, y: &[f64], dydt: &mut [f64]) {
        self.0.time_derivative(y, dydt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MassSpring;

    /// The integrators' view of a system is Hamilton's equations: for the official spring
    /// `H = q^2 + p^2`, at (0.3, -0.7): `dq/dt = 2p = -1.4`, `dp/dt = -2q = -0.6`.
    #[test]
    fn the_field_is_hamiltons_equations() {
        let spring = MassSpring::default();
        let field = HamiltonianField(&spring);
        assert_eq!(field.dim(), 2);
        let mut dydt = [f64::NAN; 2];
        field.eval(0.0, &[0.3, -0.7], &mut dydt);
        assert!(
            (dydt[0] + 1.4).abs() < 1e-15 && (dydt[1] + 0.6).abs() < 1e-15,
            "{dydt:?}"
        );
    }

    /// A system that only gives its energy and gradient: no bodies to draw, no energy parts,
    /// and a state of two coordinates per degree of freedom.
    #[test]
    fn the_defaults_claim_nothing() {
        struct Free;
        impl Hamiltonian for Free {
            fn name(&self) -> &str {
                "free"
            }
            fn dof(&self) -> usize {
                3
            }
            fn energy(&self, x: &[f64]) -> f64 {
                x[3..].iter().map(|p| p * p / 2.0).sum()
            }
            fn gradient(&self, x: &[f64], grad: &mut [f64]) {
                grad[..3].fill(0.0);
                grad[3..].copy_from_slice(&x[3..]);
            }
            fn sample_initial_state(&self, _rng: &mut dyn RngCore) -> Vec<f64> {
                vec![0.0; 6]
            }
        }
        let x = [1.0, 2.0, 3.0, 0.5, -0.5, 2.0];
        assert_eq!(Free.dim(), 6);
        assert!(Free.body_positions(&x).is_none());
        assert!(Free.energy_parts(&x).is_none());
        let mut dx = [0.0; 6];
        Free.time_derivative(&x, &mut dx);
        assert_eq!(dx, [0.5, -0.5, 2.0, 0.0, 0.0, 0.0]);
    }
}
