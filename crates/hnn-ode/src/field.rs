/// The right-hand side of `dy/dt = f(t, y)` for a state of fixed dimension.
///
/// Implementors write into the caller's buffer, so the integrators allocate nothing per step.
/// A field that can evaluate many states at once (a neural network, say) overrides
/// [`VectorField::eval_batch`]; the batched integrators call only that.
///
/// ```
/// use hnn_ode::VectorField;
/// struct Decay;
/// impl VectorField for Decay {
///     fn dim(&self) -> usize { 1 }
///     fn eval(&self, _t: f64, y: &[f64], dydt: &mut [f64]) { dydt[0] = -y[0]; }
/// }
/// let mut d = [0.0];
/// Decay.eval(0.0, &[2.0], &mut d);
/// assert_eq!(d, [-2.0]);
/// ```
pub trait VectorField {
    /// Dimension of the state.
    fn dim(&self) -> usize;

    /// `dydt = f(t, y)`; both slices have length [`dim`](VectorField::dim).
    fn eval(&self, t: f64, y: &[f64], dydt: &mut [f64]);

    /// Evaluates `ts.len()` states at once.
    ///
    /// # Shapes
    /// `ys` and `dydts` are row-major `[ts.len(), dim]`.
    fn eval_batch(&self, ts: &[f64], ys: &[f64], dydts: &mut [f64]) {
        let d = self.dim();
        for (i, &t) in ts.iter().enumerate() {
            self.eval(t, &ys[i * d..(i + 1) * d], &mut dydts[i * d..(i + 1) * d]);
        }
    }
}

impl<F: VectorField + ?Sized> VectorField for &F {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn eval(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        (**self).eval(t, y, dydt)
    }
    fn eval_batch(&self, ts: &[f64], ys: &[f64], dydts: &mut [f64]) {
        (**self).eval_batch(ts, ys, dydts)
    }
}

impl<F: VectorField + ?Sized> VectorField for Box<F> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn eval(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        (**self).eval(t, y, dydt)
    }
    fn eval_batch(&self, ts: &[f64], ys: &[f64], dydts: &mut [f64]) {
        (**self).eval_batch(ts, ys, dydts)
    }
}

/// A [`VectorField`] from a closure `f(t, y, dydt)`.
pub struct FnField<F> {
    dim: usize,
    f: F,
}

impl<F: Fn(f64, &[f64], &mut [f64])> FnField<F> {
    pub fn new(dim: usize, f: F) -> Self {
        Self { dim, f }
    }
}

impl<F: Fn(f64, &[f64], &mut [f64])> VectorField for FnField<F> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        (self.f)(t, y, dydt)
    }
}
