//! Analytic Hamiltonian systems and dataset generation for `hnn` (no libtorch).
//!
//! - [`Hamiltonian`]: degrees of freedom, energy, exact gradient and sampling of initial
//!   states. Adding a system is one file implementing it (see [`MassSpring`]).
//! - [`System`]: any simulated system (a field and its true energy); every [`Hamiltonian`] is
//!   one, and [`DampedSpring`] is one that loses energy.
//! - [`expression`]: systems written as text, `H` and a dissipation `D` over `q, p`, with
//!   exact gradients.
//! - [`trajectories`]: trajectory files of any shape (`.npz`, `.csv`), checked, and their
//!   training samples.
//! - [`measured`]: measured trajectories from text files, checksummed, with finite-difference
//!   samples.
//! - [`HamiltonianField`]: the symplectic field `(dH/dp, -dH/dq)` of a system as an
//!   [`hnn_ode::VectorField`].
//! - [`dataset`]: trajectories integrated with the scipy-equivalent RK45, Gaussian noise on the
//!   inputs, exact noise-free targets, split by trajectory; every trajectory draws from its own
//!   random stream derived from `(seed, index)`, so generation is parallel and the data do not
//!   depend on the number of threads.

mod damped;
pub mod dataset;
mod error;
pub mod expression;
mod hamiltonian;
pub mod measured;
mod nbody;
pub mod pair;
mod pendulum;
pub mod rng;
mod spring;
mod system;
#[cfg(test)]
mod testing;
pub mod trajectories;

pub use damped::{DampedSpring, QDampedSpring};
pub use error::{PhysicsError, Result};
pub use expression::{ExpressionSpec, ExpressionSystem, Initial};
pub use hamiltonian::{Hamiltonian, HamiltonianField};
pub use nbody::{NBody, OrbitInit};
pub use pendulum::Pendulum;
pub use rng::Direction;
pub use spring::MassSpring;
pub use system::{System, SystemField};
