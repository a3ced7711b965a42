//! Any system whose trajectories can be simulated: conservative or not.

use hnn_ode::VectorField;
use rand::RngCore;

use crate::Hamiltonian;

/// A dynamical system in a state space of fixed dimension, with a true energy.
///
/// Every [`Hamiltonian`] is a `System` (and a conservative one). A system with friction, such as
/// [`crate::DampedSpring`], implements `System` directly: its field is not Hamilton's equations
/// and its [`energy`](System::energy) decays along the true flow.
pub trait System: Send + Sync {
    /// Short name used in logs and file names.
    fn name(&self) -> &str;

    /// State dimension (`q` first, then `p`).
    fn dim(&self) -> usize;

    /// The true total energy `E(x)` (conserved only when [`conservative`](System::conservative)).
    fn energy(&self, x: &[f64]) -> f64;

    /// The true field `dx/dt` at `x`.
    fn time_derivative(&self, x: &[f64], dxdt: &mut [f64]);

    /// Draws an initial state from the system's data distribution.
    fn sample_initial_state(&self, rng: &mut dyn RngCore) -> Vec<f64>;

    /// Checks the system's parameters; the error names the offending one.
    fn validate(&self) -> crate::Result<()>;

    /// Whether the true flow conserves [`energy`](System::energy).
    fn conservative(&self) -> bool;

    /// Positions of the bodies in the plane (`None`: not a system of bodies).
    fn body_positions(&self, _x: &[f64]) -> Option<Vec<[f64; 2]>> {
        None
    }

    /// Kinetic and potential energy, for systems that separate them.
    fn energy_parts(&self, _x: &[f64]) -> Option<[f64; 2]> {
        None
    }

    /// The kinematics `dq/dt = V p`, when the true field moves positions by a constant matrix
    /// of the momenta (`V`: `n x n`, row-major); `None` otherwise.
    fn velocity_map(&self) -> Option<Vec<f64>> {
        None
    }
}

impl<H: Hamiltonian + ?Sized> System for H {
    fn name(&self) -> &str {
        Hamiltonian::name(self)
    }
    fn dim(&self) -> usize {
        Hamiltonian::dim(self)
    }
    fn energy(&self, x: &[f64]) -> f64 {
        Hamiltonian::energy(self, x)
    }
    fn time_derivative(&self, x: &[f64], dxdt: &mut [f64]) {
        Hamiltonian::time_derivative(self, x, dxdt)
    }
    fn sample_initial_state(&self, rng: &mut dyn RngCore) -> Vec<f64> {
        Hamiltonian::sample_initial_state(self, rng)
    }
    fn validate(&self) -> crate::Result<()> {
        Hamiltonian::validate(self)
    }
    fn conservative(&self) -> bool {
        true
    }
    fn body_positions(&self, x: &[f64]) -> Option<Vec<[f64; 2]>> {
        Hamiltonian::body_positions(self, x)
    }
    fn energy_parts(&self, x: &[f64]) -> Option<[f64; 2]> {
        Hamiltonian::energy_parts(self, x)
    }
    fn velocity_map(&self) -> Option<Vec<f64>> {
        Hamiltonian::velocity_map(self)
    }
}

/// The true field of a [`System`], for the integrators.
pub struct SystemField<'a, S: ?Sized>(pub &'a S);

impl<S: System + ?Sized> VectorField for SystemField<'_, S> {
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
    use crate::{DampedSpring, NBody};

    /// A Hamiltonian seen as a `System` is the same system: name, energy, validation, parts,
    /// bodies, and conservative; a system of its own keeps the trait's "none" defaults.
    #[test]
    fn hamiltonians_are_systems_unchanged() {
        let two = NBody::default();
        let sys: &dyn System = &two;
        let x = [0.0, 3.0, 0.0, 4.0, 0.3, -0.1, 0.7, 0.2];
        assert_eq!(sys.name(), "two-body");
        assert_eq!(sys.energy(&x), Hamiltonian::energy(&two, &x));
        assert_ne!(sys.energy(&x), 0.0);
        assert_eq!(sys.energy_parts(&x), Hamiltonian::energy_parts(&two, &x));
        assert_eq!(sys.body_positions(&x), Some(vec![[0.0, 0.0], [3.0, 4.0]]));
        assert!(sys.conservative());
        assert!(sys.validate().is_ok());
        let bad: &dyn System = &NBody {
            mass: -1.0,
            ..NBody::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("`mass`"));
        let damped: &dyn System = &DampedSpring::default();
        assert!(damped.body_positions(&[1.0, 0.0]).is_none());
        assert!(damped.energy_parts(&[1.0, 0.0]).is_none());
    }

    /// Where a system declares its kinematics `dq/dt = V p`, the true field's `dq/dt` is exactly
    /// that, at any state; the q-damped spring (friction on q) declares none.
    #[test]
    fn velocity_maps_are_the_true_kinematics() {
        use crate::{MassSpring, Pendulum, QDampedSpring};
        let systems: Vec<Box<dyn System>> = vec![
            Box::new(MassSpring {
                m: 0.7,
                ..MassSpring::default()
            }),
            Box::new(Pendulum {
                l: 1.3,
                m: 0.4,
                ..Pendulum::default()
            }),
            Box::new(NBody {
                bodies: 3,
                mass: 2.0,
                ..NBody::default()
            }),
            Box::new(DampedSpring {
                m: 1.5,
                ..DampedSpring::default()
            }),
        ];
        for sys in &systems {
            let v = sys.velocity_map().expect("declared");
            let (dim, n) = (sys.dim(), sys.dim() / 2);
            assert_eq!(v.len(), n * n);
            let x: Vec<f64> = (0..dim).map(|i| 0.3 + 0.17 * i as f64).collect();
            let mut dx = vec![0.0; dim];
            sys.time_derivative(&x, &mut dx);
            for i in 0..n {
                let vp: f64 = (0..n).map(|j| v[i * n + j] * x[n + j]).sum();
                assert!(
                    (dx[i] - vp).abs() < 1e-12,
                    "{}: {i}: {} vs {vp}",
                    sys.name(),
                    dx[i]
                );
            }
        }
        assert!(QDampedSpring::default().velocity_map().is_none());
    }
}
