//! Integrators for `hnn`, in `f64` and free of libtorch.
//!
//! - [`VectorField`]: the right-hand side `dy/dt = f(t, y)`, written into a caller's buffer,
//!   with an optional batched form so a neural field can evaluate many states in one call.
//! - [`Rk4`]: the classical fixed-step fourth-order Runge-Kutta method.
//! - [`Rk45`]: adaptive Dormand-Prince 5(4) with dense output, step for step the algorithm of
//!   scipy's `solve_ivp(method="RK45")` (same tableau, error norm, initial step selection and
//!   step-size control), so the same `rtol`/`atol` give the same accuracy. [`Rk45::solve_batch`]
//!   advances many initial states in lock-step, each with its own step size, and evaluates the
//!   field for all of them at once.
//! - [`Leapfrog`]: the symplectic Stormer-Verlet method for separable Hamiltonians, and
//!   [`Yoshida4`], its fourth-order composition.
//! - [`ImplicitMidpoint`]: symplectic for any Hamiltonian field (a learned one included),
//!   solved by batched fixed-point iteration to a stated tolerance.
//! - [`FixedStep`]: the one interface of the four fixed-step methods, so a caller picks one at
//!   run time (`Box<dyn FixedStep<F>>`); [`Rk45`] is the adaptive path.
//!
//! ```
//! use hnn_ode::{FnField, Rk45};
//! // Harmonic oscillator dq/dt = p, dp/dt = -q from (1, 0): q(t) = cos t.
//! let field = FnField::new(2, |_t, y: &[f64], dy: &mut [f64]| {
//!     dy[0] = y[1];
//!     dy[1] = -y[0];
//! });
//! let solver = Rk45 { rtol: 1e-9, atol: 1e-9, ..Rk45::default() };
//! let sol = solver.solve(&field, (0.0, 3.0), &[1.0, 0.0], &[0.0, 1.5, 3.0]).unwrap();
//! assert!((sol.state(2)[0] - 3.0f64.cos()).abs() < 1e-7);
//! ```

mod error;
mod field;
mod fixed;
mod leapfrog;
mod rk4;
mod rk45;
mod symplectic;

pub use error::{OdeError, Result};
pub use field::{FnField, VectorField};
pub use fixed::FixedStep;
pub use leapfrog::{Leapfrog, SeparableField};
pub use rk4::Rk4;
pub use rk45::{Event, IvpProblem, Outcome, Rk45, Solution, SolverStats};
pub use symplectic::{ImplicitMidpoint, Yoshida4};
