//! One interface for the fixed-step methods, so a caller picks one at run time
//! (`Box<dyn FixedStep<F>>`) and integrates any of them the same way.

use crate::{ImplicitMidpoint, Leapfrog, Result, Rk4, SeparableField, VectorField, Yoshida4};

/// A fixed-step integrator of a batch of states.
///
/// The general methods ([`Rk4`], [`ImplicitMidpoint`]) take any [`VectorField`]; the
/// separable ones ([`Leapfrog`], [`Yoshida4`]) a [`SeparableField`], whose states are
/// `(q..., p...)` each. A field that is both (a separable learned model) works with all four.
pub trait FixedStep<F: ?Sized> {
    /// `n_steps` steps of size `h` (negative to integrate backwards) from `y0s` at `t0`; the
    /// method's own step size is not used.
    ///
    /// # Shapes
    /// `y0s`: `[n, dim]`; returns every step's states, `[n_steps + 1, n, dim]` row-major.
    fn steps(&self, field: &F, t0: f64, h: f64, y0s: &[f64], n_steps: usize) -> Result<Vec<f64>>;
}

impl<F: VectorField> FixedStep<F> for Rk4 {
    fn steps(&self, field: &F, t0: f64, h: f64, y0s: &[f64], n_steps: usize) -> Result<Vec<f64>> {
        Rk4 { h }.integrate_batch(field, t0, y0s, n_steps)
    }
}

impl<F: VectorField + ?Sized> FixedStep<F> for ImplicitMidpoint {
    fn steps(&self, field: &F, t0: f64, h: f64, y0s: &[f64], n_steps: usize) -> Result<Vec<f64>> {
        ImplicitMidpoint { h, ..*self }.integrate_batch(field, t0, y0s, n_steps)
    }
}

/// `[n, 2 dof]` states as their `q` and `p` halves, `[n, dof]` each.
fn halves(dof: usize, y0s: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut q, mut p) = (
        Vec::with_capacity(y0s.len() / 2),
        Vec::with_capacity(y0s.len() / 2),
    );
    for x in y0s.chunks(2 * dof.max(1)) {
        let k = x.len().min(dof);
        q.extend_from_slice(&x[..k]);
        p.extend_from_slice(&x[k..]);
    }
    (q, p)
}

impl<F: SeparableField + ?Sized> FixedStep<F> for Leapfrog {
    fn steps(&self, field: &F, _t0: f64, h: f64, y0s: &[f64], n_steps: usize) -> Result<Vec<f64>> {
        let (q, p) = halves(field.dof(), y0s);
        Leapfrog { h }.integrate_batch(field, &q, &p, n_steps)
    }
}

impl<F: SeparableField + ?Sized> FixedStep<F> for Yoshida4 {
    fn steps(&self, field: &F, _t0: f64, h: f64, y0s: &[f64], n_steps: usize) -> Result<Vec<f64>> {
        let (q, p) = halves(field.dof(), y0s);
        Yoshida4 { h }.integrate_batch(field, &q, &p, n_steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `H = (q² + p²) / 2`, as a general and as a separable field.
    struct Oscillator;
    impl VectorField for Oscillator {
        fn dim(&self) -> usize {
            2
        }
        fn eval(&self, _t: f64, y: &[f64], dy: &mut [f64]) {
            dy[0] = y[1];
            dy[1] = -y[0];
        }
    }
    impl SeparableField for Oscillator {
        fn dof(&self) -> usize {
            1
        }
        fn velocity(&self, p: &[f64], dq: &mut [f64]) {
            dq[0] = p[0];
        }
        fn force(&self, q: &[f64], dp: &mut [f64]) {
            dp[0] = -q[0];
        }
    }

    /// Every method, chosen at run time behind the trait, follows the closed form
    /// `(q, p)(t) = (cos t, -sin t)` from two starts with its own order: halving the step
    /// divides the error by 2^order.
    #[test]
    fn every_method_behind_the_trait_converges_at_its_order() {
        let methods: Vec<(&str, Box<dyn FixedStep<Oscillator>>, i32)> = vec![
            ("rk4", Box::new(Rk4 { h: 0.0 }), 4),
            (
                "implicit midpoint",
                Box::new(ImplicitMidpoint {
                    tol: 1e-14,
                    ..ImplicitMidpoint::default()
                }),
                2,
            ),
            ("leapfrog", Box::new(Leapfrog { h: 0.0 }), 2),
            ("yoshida4", Box::new(Yoshida4 { h: 0.0 }), 4),
        ];
        // two states: (1, 0) and (0, 2); the second is the first's flow scaled and shifted
        let y0 = [1.0, 0.0, 0.0, 2.0];
        let t: f64 = 2.0;
        let exact = [t.cos(), -t.sin(), 2.0 * t.sin(), 2.0 * t.cos()];
        for (name, m, order) in methods {
            let err = |n: usize| {
                let out = m.steps(&Oscillator, 0.0, t / n as f64, &y0, n).unwrap();
                assert_eq!(out.len(), (n + 1) * 4, "{name}");
                assert_eq!(&out[..4], &y0, "{name}: the start comes first");
                out[n * 4..]
                    .iter()
                    .zip(exact)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max)
            };
            let ratio = err(20) / err(40);
            let want = 2f64.powi(order);
            assert!(
                (ratio / want - 1.0).abs() < 0.15,
                "{name}: error ratio {ratio}, expected ~{want}"
            );
        }
    }

    #[test]
    fn halves_split_each_state() {
        let (q, p) = halves(2, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(q, vec![1.0, 2.0, 5.0, 6.0]);
        assert_eq!(p, vec![3.0, 4.0, 7.0, 8.0]);
    }
}
