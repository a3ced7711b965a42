use crate::{OdeError, Result, VectorField};

/// Classical fixed-step fourth-order Runge-Kutta.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rk4 {
    /// Step size (negative to integrate backwards).
    pub h: f64,
}

impl Rk4 {
    /// Integrates one initial state for `n_steps` steps from `t0`.
    ///
    /// # Shapes
    /// Returns `[n_steps + 1, dim]` row-major, the initial state first.
    pub fn integrate<F: VectorField>(
        &self,
        field: &F,
        t0: f64,
        y0: &[f64],
        n_steps: usize,
    ) -> Result<Vec<f64>> {
        self.integrate_batch(field, t0, y0, n_steps)
    }

    /// Integrates `n` initial states at once, evaluating the field on the whole batch.
    ///
    /// # Shapes
    /// `y0s` is `[n, dim]`; returns `[n_steps + 1, n, dim]` row-major.
    pub fn integrate_batch<F: VectorField>(
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
        if !self.h.is_finite() || self.h == 0.0 {
            return Err(OdeError::InvalidOption {
                name: "h",
                value: self.h,
                reason: "must be finite and non-zero",
            });
        }
        let m = y0s.len();
        let n = m / d;
        let h = self.h;
        let mut out = Vec::with_capacity(m * (n_steps + 1));
        out.extend_from_slice(y0s);
        let mut y = y0s.to_vec();
        let (mut k1, mut k2, mut k3, mut k4) =
            (vec![0.0; m], vec![0.0; m], vec![0.0; m], vec![0.0; m]);
        let mut tmp = vec![0.0; m];
        let mut ts = vec![t0; n];
        for step in 0..n_steps {
            let t = t0 + step as f64 * h;
            ts.fill(t);
            field.eval_batch(&ts, &y, &mut k1);
            axpy(&mut tmp, &y, 0.5 * h, &k1);
            ts.fill(t + 0.5 * h);
            field.eval_batch(&ts, &tmp, &mut k2);
            axpy(&mut tmp, &y, 0.5 * h, &k2);
            field.eval_batch(&ts, &tmp, &mut k3);
            axpy(&mut tmp, &y, h, &k3);
            ts.fill(t + h);
            field.eval_batch(&ts, &tmp, &mut k4);
            for i in 0..m {
                y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
            }
            if y.iter().any(|v| !v.is_finite()) {
                return Err(OdeError::NonFinite { t: t + h });
            }
            out.extend_from_slice(&y);
        }
        Ok(out)
    }
}

/// `out = y + a * k`
fn axpy(out: &mut [f64], y: &[f64], a: f64, k: &[f64]) {
    for ((o, &yi), &ki) in out.iter_mut().zip(y).zip(k) {
        *o = yi + a * ki;
    }
}
