//! Fixed-step geometric integrators beyond leapfrog: Yoshida's fourth-order composition for
//! separable Hamiltonians and the implicit midpoint rule for any field.

use crate::leapfrog::{SeparableField, check_step, compose};
use crate::{OdeError, Result, VectorField};

/// Yoshida's fourth-order symmetric composition of three leapfrog steps (`w1 h, w0 h, w1 h`
/// with `w1 = 1 / (2 - 2^(1/3))`, `w0 = 1 - 2 w1`): symplectic and time-reversible like
/// leapfrog, with a global error of order four.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Yoshida4 {
    /// Step size (negative to integrate backwards).
    pub h: f64,
}

impl Yoshida4 {
    /// The composition weights `(w1, w0)`.
    pub fn weights() -> (f64, f64) {
        let w1 = 1.0 / (2.0 - 2f64.cbrt());
        (w1, 1.0 - 2.0 * w1)
    }

    /// Integrates from `(q0, p0)` for `n_steps` steps.
    ///
    /// # Shapes
    /// Returns states `[n_steps + 1, 2 * dof]` row-major as `(q..., p...)`.
    pub fn integrate<F: SeparableField + ?Sized>(
        &self,
        field: &F,
        q0: &[f64],
        p0: &[f64],
        n_steps: usize,
    ) -> Result<Vec<f64>> {
        self.integrate_batch(field, q0, p0, n_steps)
    }

    /// Many states at once; shapes as [`crate::Leapfrog::integrate_batch`].
    pub fn integrate_batch<F: SeparableField + ?Sized>(
        &self,
        field: &F,
        q0s: &[f64],
        p0s: &[f64],
        n_steps: usize,
    ) -> Result<Vec<f64>> {
        check_step(self.h)?;
        let (w1, w0) = Self::weights();
        compose(
            field,
            q0s,
            p0s,
            n_steps,
            &[w1 * self.h, w0 * self.h, w1 * self.h],
        )
    }
}

/// The implicit midpoint rule `y' = y + h f(t + h/2, (y + y') / 2)`: second order, symplectic
/// for every Hamiltonian field (a learned, non-separable H included) and exact on quadratic
/// invariants of linear systems. Each step solves its equation by fixed-point iteration, all
/// states of a batch together, until no component moves by more than `tol (1 + |y|)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImplicitMidpoint {
    /// Step size (negative to integrate backwards).
    pub h: f64,
    /// Convergence tolerance of the fixed-point iteration, relative to `1 + |y|`.
    pub tol: f64,
    /// Iterations allowed per step before [`OdeError::NoConvergence`].
    pub max_iter: usize,
}

impl Default for ImplicitMidpoint {
    fn default() -> Self {
        Self {
            h: 0.01,
            tol: 1e-12,
            max_iter: 50,
        }
    }
}

impl ImplicitMidpoint {
    /// Integrates one state for `n_steps` steps from `t0`; returns `[n_steps + 1, dim]`.
    pub fn integrate<F: VectorField + ?Sized>(
        &self,
        field: &F,
        t0: f64,
        y0: &[f64],
        n_steps: usize,
    ) -> Result<Vec<f64>> {
        self.integrate_batch(field, t0, y0, n_steps)
    }

    /// Integrates `n` states at once, one batched field evaluation per iteration.
    ///
    /// # Shapes
    /// `y0s` is `[n, dim]`; returns `[n_steps + 1, n, dim]` row-major.
    pub fn integrate_batch<F: VectorField + ?Sized>(
        &self,
        field: &F,
        t0: f64,
        y0s: &[f64],
        n_steps: usize,
    ) -> Result<Vec<f64>> {
        let d = field.dim();
        if d == 0 || !y0s.len().is_multiple_of(d) {
            return Err(OdeError::DimensionMismatch {
                expected: d,
                got: y0s.len(),
            });
        }
        check_step(self.h)?;
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(OdeError::InvalidOption {
                name: "tol",
                value: self.tol,
                reason: "must be finite and positive",
            });
        }
        if self.max_iter == 0 {
            return Err(OdeError::InvalidOption {
                name: "max_iter",
                value: 0.0,
                reason: "must be at least 1",
            });
        }
        let (m, h) = (y0s.len(), self.h);
        let n = m / d;
        let mut out = Vec::with_capacity(m * (n_steps + 1));
        out.extend_from_slice(y0s);
        let mut y = y0s.to_vec();
        let (mut f, mut mid, mut next) = (vec![0.0; m], vec![0.0; m], vec![0.0; m]);
        for step in 0..n_steps {
            let t = t0 + step as f64 * h;
            // explicit Euler as the first guess
            field.eval_batch(&vec![t; n], &y, &mut f);
            for i in 0..m {
                next[i] = y[i] + h * f[i];
            }
            let tm = vec![t + 0.5 * h; n];
            let mut converged = false;
            let mut residual = f64::INFINITY;
            for _ in 0..self.max_iter {
                for i in 0..m {
                    mid[i] = 0.5 * (y[i] + next[i]);
                }
                field.eval_batch(&tm, &mid, &mut f);
                residual = 0.0f64;
                let mut finite = true;
                for i in 0..m {
                    let v = y[i] + h * f[i];
                    // f64::max skips NaN: a NaN field would look converged without this flag
                    finite &= v.is_finite();
                    residual = residual.max((v - next[i]).abs() / (1.0 + y[i].abs()));
                    next[i] = v;
                }
                if !finite || !residual.is_finite() {
                    return Err(OdeError::NonFinite { t: t + 0.5 * h });
                }
                if residual <= self.tol {
                    converged = true;
                    break;
                }
            }
            if !converged {
                return Err(OdeError::NoConvergence {
                    t,
                    iterations: self.max_iter,
                    residual,
                });
            }
            std::mem::swap(&mut y, &mut next);
            out.extend_from_slice(&y);
        }
        Ok(out)
    }
}
