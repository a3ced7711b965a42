use crate::{OdeError, Result};

/// A separable Hamiltonian `H(q, p) = T(p) + V(q)` as the two halves of its flow.
pub trait SeparableField {
    /// Degrees of freedom (length of `q` and of `p`).
    fn dof(&self) -> usize;
    /// `dq/dt = dT/dp` at momentum `p`.
    fn velocity(&self, p: &[f64], dqdt: &mut [f64]);
    /// `dp/dt = -dV/dq` at position `q`.
    fn force(&self, q: &[f64], dpdt: &mut [f64]);
}

/// Stormer-Verlet (velocity Verlet, kick-drift-kick): second order, symplectic and
/// time-reversible, so the energy error of a separable system stays bounded instead of drifting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leapfrog {
    /// Step size (negative to integrate backwards).
    pub h: f64,
}

impl Leapfrog {
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
        let n = field.dof();
        for got in [q0.len(), p0.len()] {
            if got != n {
                return Err(OdeError::DimensionMismatch { expected: n, got });
            }
        }
        check_step(self.h)?;
        let h = self.h;
        let (mut q, mut p) = (q0.to_vec(), p0.to_vec());
        let (mut force, mut vel) = (vec![0.0; n], vec![0.0; n]);
        let mut out = Vec::with_capacity(2 * n * (n_steps + 1));
        out.extend_from_slice(&q);
        out.extend_from_slice(&p);
        field.force(&q, &mut force);
        for step in 0..n_steps {
            kick_drift_kick(field, &mut q, &mut p, h, &mut force, &mut vel);
            if q.iter().chain(&p).any(|v| !v.is_finite()) {
                return Err(OdeError::NonFinite {
                    t: (step + 1) as f64 * h,
                });
            }
            out.extend_from_slice(&q);
            out.extend_from_slice(&p);
        }
        Ok(out)
    }
}

/// A fixed step must be finite and non-zero.
pub(crate) fn check_step(h: f64) -> Result<()> {
    if !h.is_finite() || h == 0.0 {
        return Err(OdeError::InvalidOption {
            name: "h",
            value: h,
            reason: "must be finite and non-zero",
        });
    }
    Ok(())
}

/// One kick-drift-kick step of size `h`; `force` holds the force at `q` on entry and on exit.
pub(crate) fn kick_drift_kick<F: SeparableField + ?Sized>(
    field: &F,
    q: &mut [f64],
    p: &mut [f64],
    h: f64,
    force: &mut [f64],
    vel: &mut [f64],
) {
    for (pi, fi) in p.iter_mut().zip(force.iter()) {
        *pi += 0.5 * h * fi;
    }
    field.velocity(p, vel);
    for (qi, vi) in q.iter_mut().zip(vel.iter()) {
        *qi += h * vi;
    }
    field.force(q, force);
    for (pi, fi) in p.iter_mut().zip(force.iter()) {
        *pi += 0.5 * h * fi;
    }
}
