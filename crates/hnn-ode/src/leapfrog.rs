use crate::{OdeError, Result};

/// A separable Hamiltonian `H(q, p) = T(p) + V(q)` as the two halves of its flow.
pub trait SeparableField {
    /// Degrees of freedom (length of `q` and of `p`).
    fn dof(&self) -> usize;
    /// `dq/dt = dT/dp` at momentum `p`.
    fn velocity(&self, p: &[f64], dqdt: &mut [f64]);
    /// `dp/dt = -dV/dq` at position `q`.
    fn force(&self, q: &[f64], dpdt: &mut [f64]);

    /// [`SeparableField::velocity`] for many momenta at once, row-major `[n, dof]` (a neural
    /// field overrides this to make one call).
    fn velocity_batch(&self, ps: &[f64], dqdts: &mut [f64]) {
        let n = self.dof();
        for (p, v) in ps.chunks(n).zip(dqdts.chunks_mut(n)) {
            self.velocity(p, v);
        }
    }

    /// [`SeparableField::force`] for many positions at once, row-major `[n, dof]`.
    fn force_batch(&self, qs: &[f64], dpdts: &mut [f64]) {
        let n = self.dof();
        for (q, f) in qs.chunks(n).zip(dpdts.chunks_mut(n)) {
            self.force(q, f);
        }
    }
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
        compose(field, q0, p0, n_steps, &[self.h])
    }

    /// Integrates many states at once, one batched force and velocity evaluation per stage.
    ///
    /// # Shapes
    /// `q0s`, `p0s`: `[n, dof]`; returns `[n_steps + 1, n, 2 * dof]` row-major, each state as
    /// `(q..., p...)`.
    pub fn integrate_batch<F: SeparableField + ?Sized>(
        &self,
        field: &F,
        q0s: &[f64],
        p0s: &[f64],
        n_steps: usize,
    ) -> Result<Vec<f64>> {
        compose(field, q0s, p0s, n_steps, &[self.h])
    }
}

/// Steps of kick-drift-kick substeps of the given sizes (one for leapfrog, three for Yoshida)
/// on a batch of states; see [`Leapfrog::integrate_batch`] for the shapes.
pub(crate) fn compose<F: SeparableField + ?Sized>(
    field: &F,
    q0s: &[f64],
    p0s: &[f64],
    n_steps: usize,
    substeps: &[f64],
) -> Result<Vec<f64>> {
    let n = field.dof();
    if n == 0 || !q0s.len().is_multiple_of(n) || q0s.len() != p0s.len() {
        return Err(OdeError::DimensionMismatch {
            expected: n,
            got: q0s.len().max(p0s.len()),
        });
    }
    for &h in substeps {
        check_step(h)?;
    }
    let m = q0s.len();
    let states = m / n;
    let (mut q, mut p) = (q0s.to_vec(), p0s.to_vec());
    let (mut force, mut vel) = (vec![0.0; m], vec![0.0; m]);
    let mut out = Vec::with_capacity(2 * m * (n_steps + 1));
    let push = |out: &mut Vec<f64>, q: &[f64], p: &[f64]| {
        for k in 0..states {
            out.extend_from_slice(&q[k * n..(k + 1) * n]);
            out.extend_from_slice(&p[k * n..(k + 1) * n]);
        }
    };
    push(&mut out, &q, &p);
    field.force_batch(&q, &mut force);
    let h_total: f64 = substeps.iter().sum();
    for step in 0..n_steps {
        for &h in substeps {
            kick_drift_kick(field, &mut q, &mut p, h, &mut force, &mut vel);
        }
        if q.iter().chain(&p).any(|v| !v.is_finite()) {
            return Err(OdeError::NonFinite {
                t: (step + 1) as f64 * h_total,
            });
        }
        push(&mut out, &q, &p);
    }
    Ok(out)
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

/// One kick-drift-kick step of size `h` on a batch; `force` holds the force at `q` on entry
/// and on exit.
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
    field.velocity_batch(p, vel);
    for (qi, vi) in q.iter_mut().zip(vel.iter()) {
        *qi += h * vi;
    }
    field.force_batch(q, force);
    for (pi, fi) in p.iter_mut().zip(force.iter()) {
        *pi += 0.5 * h * fi;
    }
}
