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
