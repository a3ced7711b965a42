//! Property tests of the integrators against closed forms and against scipy itself.

use hnn_ode::{
    FnField, ImplicitMidpoint, IvpProblem, Leapfrog, OdeError, Rk4, Rk45, SeparableField,
    VectorField, Yoshida4,
};

/// The official mass-spring, H = q^2 + p^2: dq/dt = 2p, dp/dt = -2q.
/// From (1, 0): q = cos 2t, p = -sin 2t.
fn spring() -> FnField<impl Fn(f64, &[f64], &mut [f64])> {
    FnField::new(2, |_t, y: &[f64], dy: &mut [f64]| {
        dy[0] = 2.0 * y[1];
        dy[1] = -2.0 * y[0];
    })
}

fn van_der_pol() -> FnField<impl Fn(f64, &[f64], &mut [f64])> {
    FnField::new(2, |_t, y: &[f64], dy: &mut [f64]| {
        dy[0] = y[1];
        dy[1] = (1.0 - y[0] * y[0]) * y[1] - y[0];
    })
}

#[test]
fn rk45_matches_spring_closed_form_at_tight_tolerance() {
    let t_eval: Vec<f64> = (0..=400).map(|i| i as f64 * 0.05).collect();
    let solver = Rk45 {
        rtol: 1e-9,
        atol: 1e-9,
        ..Rk45::default()
    };
    let sol = solver
        .solve(&spring(), (0.0, 20.0), &[1.0, 0.0], &t_eval)
        .unwrap();
    let mut worst: f64 = 0.0;
    for (i, &t) in sol.t.iter().enumerate() {
        let y = sol.state(i);
        worst = worst
            .max((y[0] - (2.0 * t).cos()).abs())
            .max((y[1] + (2.0 * t).sin()).abs());
    }
    assert!(worst < 1e-7, "max deviation from the closed form {worst:e}");
    // and the tolerance is actually what bounds it: a loose solve is much worse
    let loose = Rk45::default()
        .solve(&spring(), (0.0, 20.0), &[1.0, 0.0], &[20.0])
        .unwrap();
    assert!((loose.y[0] - 40f64.cos()).abs() > 1e-5);
}

/// Reference values printed by scipy 1.17.1:
/// `solve_ivp(f, (0, 20), [1, 0], rtol=..., atol=..., t_eval=[0, 7.3, 20])` and friends.
/// Same algorithm means the same number of field evaluations and the same states to rounding.
#[test]
fn rk45_reproduces_scipy_step_for_step() {
    /// (rtol, atol, scipy's nfev, state at t = 7.3, state at t = 20)
    type Case = (f64, f64, usize, [f64; 2], [f64; 2]);
    let cases: [Case; 3] = [
        (
            1e-3,
            1e-6,
            272,
            [-0.45032261684563174, -0.893059156660759],
            [-0.6754058497713673, -0.7368650173855225],
        ),
        (
            1e-6,
            1e-9,
            1436,
            [-0.44648481783267735, -0.8947892939693866],
            [-0.6669362766639394, -0.7451082540629155],
        ),
        (
            1e-12,
            1e-6,
            962,
            [-0.446484985503948, -0.8947869744556282],
            [-0.6669346090845912, -0.745101995393774],
        ),
    ];
    for (rtol, atol, nfev, at_7_3, at_20) in cases {
        let solver = Rk45 {
            rtol,
            atol,
            ..Rk45::default()
        };
        let sol = solver
            .solve(&spring(), (0.0, 20.0), &[1.0, 0.0], &[0.0, 7.3, 20.0])
            .unwrap();
        assert_eq!(
            sol.stats.n_fev, nfev,
            "nfev at rtol {rtol:e}, atol {atol:e}"
        );
        for (got, want) in [(sol.state(1), at_7_3), (sol.state(2), at_20)] {
            for c in 0..2 {
                assert!(
                    (got[c] - want[c]).abs() < 1e-12,
                    "rtol {rtol:e}: {got:?} vs scipy {want:?}"
                );
            }
        }
        assert_eq!(sol.state(0), &[1.0, 0.0]);
    }
    // A nonlinear field, forwards and backwards.
    let solver = Rk45 {
        rtol: 1e-5,
        atol: 1e-8,
        ..Rk45::default()
    };
    let fwd = solver
        .solve(&van_der_pol(), (0.0, 15.0), &[2.0, 0.0], &[15.0])
        .unwrap();
    assert_eq!(fwd.stats.n_fev, 692);
    assert!(
        (fwd.y[0] - 0.830391344010018).abs() < 1e-11
            && (fwd.y[1] + 1.3134082045179114).abs() < 1e-11
    );
    let back = solver
        .solve(&van_der_pol(), (15.0, 0.0), &[2.0, 0.0], &[10.0, 0.0])
        .unwrap();
    assert_eq!(back.stats.n_fev, 428);
    let want = [
        [0.7271197744979032, -0.8094064870714288],
        [-0.0008132389008221634, 0.01207547983277435],
    ];
    for (i, w) in want.iter().enumerate() {
        for (got, w) in back.state(i).iter().zip(w) {
            assert!(
                (got - w).abs() < 1e-11,
                "{:?} vs scipy {w:?}",
                back.state(i)
            );
        }
    }
}

#[test]
fn rk45_batch_equals_separate_solves() {
    let starts = [[1.0, 0.0], [0.3, -0.7], [2.0, 1.0], [-0.1, 0.05]];
    let spans = [(0.0, 5.0), (0.0, 9.0), (1.0, 3.0), (0.0, 0.5)];
    let evals: Vec<Vec<f64>> = spans
        .iter()
        .map(|&(a, b)| (0..=10).map(|i| a + (b - a) * i as f64 / 10.0).collect())
        .collect();
    let problems: Vec<IvpProblem<'_>> = (0..4)
        .map(|i| IvpProblem {
            t_span: spans[i],
            y0: &starts[i],
            t_eval: &evals[i],
        })
        .collect();
    let solver = Rk45 {
        rtol: 1e-7,
        atol: 1e-9,
        ..Rk45::default()
    };
    let field = van_der_pol();
    let batch = solver.solve_batch(&field, &problems);
    for (i, res) in batch.into_iter().enumerate() {
        let alone = solver
            .solve(&field, spans[i], &starts[i], &evals[i])
            .unwrap();
        assert_eq!(res.unwrap(), alone, "problem {i}");
    }
}

/// Counts batched calls, to check the batch solver really evaluates problems together.
struct Counting<F> {
    inner: F,
    calls: std::cell::Cell<usize>,
}
impl<F: VectorField> VectorField for Counting<F> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn eval(&self, t: f64, y: &[f64], d: &mut [f64]) {
        self.inner.eval(t, y, d)
    }
    fn eval_batch(&self, ts: &[f64], ys: &[f64], ds: &mut [f64]) {
        self.calls.set(self.calls.get() + 1);
        self.inner.eval_batch(ts, ys, ds)
    }
}

#[test]
fn rk45_batch_makes_one_field_call_per_stage() {
    let field = Counting {
        inner: spring(),
        calls: std::cell::Cell::new(0),
    };
    let starts: Vec<[f64; 2]> = (0..16).map(|i| [1.0 + 0.01 * i as f64, 0.0]).collect();
    let problems: Vec<IvpProblem<'_>> = starts
        .iter()
        .map(|y0| IvpProblem {
            t_span: (0.0, 10.0),
            y0,
            t_eval: &[10.0],
        })
        .collect();
    let out = Rk45::default().solve_batch(&field, &problems);
    let max_fev = out
        .iter()
        .map(|r| r.as_ref().unwrap().stats.n_fev)
        .max()
        .unwrap();
    assert_eq!(
        field.calls.get(),
        max_fev,
        "one batched call per stage, not one per problem"
    );
}

#[test]
fn rk45_reports_step_size_underflow_with_t_and_h() {
    // dy/dt = y^2 from y(0) = 1 blows up at t = 1; scipy stops at t = 0.99992864...
    let blow = FnField::new(1, |_t, y: &[f64], d: &mut [f64]| d[0] = y[0] * y[0]);
    match Rk45::default().solve(&blow, (0.0, 2.0), &[1.0], &[2.0]) {
        Err(OdeError::StepSizeUnderflow { t, h }) => {
            assert!((t - 0.9999286400563745).abs() < 1e-9, "t = {t}");
            assert!(h < 1e-14, "h = {h:e}");
        }
        other => panic!("expected StepSizeUnderflow, got {other:?}"),
    }
}

#[test]
fn rk45_rejects_bad_options_and_times() {
    let f = spring();
    let bad_rtol = Rk45 {
        rtol: 0.0,
        ..Rk45::default()
    };
    assert!(matches!(
        bad_rtol.solve(&f, (0.0, 1.0), &[1.0, 0.0], &[1.0]),
        Err(OdeError::InvalidOption { name: "rtol", .. })
    ));
    let bad_atol = Rk45 {
        atol: -1.0,
        ..Rk45::default()
    };
    assert!(matches!(
        bad_atol.solve(&f, (0.0, 1.0), &[1.0, 0.0], &[1.0]),
        Err(OdeError::InvalidOption { name: "atol", .. })
    ));
    // every option at its boundary: zero is refused where a positive value is needed, NaN
    // and infinities wherever a finite one is
    let refused = |solver: Rk45, name: &str| match solver.solve(&f, (0.0, 1.0), &[1.0, 0.0], &[1.0])
    {
        Err(OdeError::InvalidOption { name: n, .. }) => assert_eq!(n, name),
        other => panic!("{solver:?}: {other:?}"),
    };
    let d = Rk45::default();
    for span in [(0.0, f64::INFINITY), (f64::NAN, 1.0), (1.0, 1.0)] {
        assert!(
            matches!(
                d.solve(&f, span, &[1.0, 0.0], &[]),
                Err(OdeError::InvalidTimes { .. })
            ),
            "{span:?}"
        );
    }
    refused(Rk45 { atol: 0.0, ..d }, "atol");
    refused(Rk45 { rtol: 1e-15, ..d }, "rtol");
    for bad in [0.0, -1.0, f64::NAN] {
        refused(Rk45 { max_step: bad, ..d }, "max_step");
    }
    for bad in [0.0, -0.1, f64::INFINITY, f64::NAN] {
        refused(
            Rk45 {
                first_step: Some(bad),
                ..d
            },
            "first_step",
        );
        refused(
            Rk45 {
                max_seconds: Some(bad),
                ..d
            },
            "max_seconds",
        );
    }
    // the smallest accepted values
    let edge = Rk45 {
        rtol: 100.0 * f64::EPSILON,
        atol: f64::MIN_POSITIVE,
        first_step: Some(1e-3),
        max_seconds: Some(1e-300),
        ..d
    };
    assert!(!matches!(
        edge.solve(&f, (0.0, 1e-3), &[1.0, 0.0], &[1e-3]),
        Err(OdeError::InvalidOption { .. })
    ));
    let ok = Rk45::default();
    assert!(matches!(
        ok.solve(&f, (0.0, 1.0), &[1.0, 0.0], &[2.0]),
        Err(OdeError::InvalidTimes { .. })
    ));
    assert!(matches!(
        ok.solve(&f, (0.0, 1.0), &[1.0, 0.0], &[0.5, 0.2]),
        Err(OdeError::InvalidTimes { .. })
    ));
    // strictly ordered: a repeated time is refused too, forwards and backwards
    assert!(matches!(
        ok.solve(&f, (0.0, 1.0), &[1.0, 0.0], &[0.5, 0.5]),
        Err(OdeError::InvalidTimes { .. })
    ));
    assert!(matches!(
        ok.solve(&f, (1.0, 0.0), &[1.0, 0.0], &[0.5, 0.5]),
        Err(OdeError::InvalidTimes { .. })
    ));
    assert!(matches!(
        ok.solve(&f, (0.0, 1.0), &[1.0], &[1.0]),
        Err(OdeError::DimensionMismatch {
            expected: 2,
            got: 1
        })
    ));
}

/// A field that returns NaN past t = 0.5 is reported as what it is, with the time, not as a
/// step-size underflow.
#[test]
fn rk45_reports_a_non_finite_field_with_its_time() {
    let f = FnField::new(1, |t, y: &[f64], dy: &mut [f64]| {
        dy[0] = if t > 0.5 { f64::NAN } else { -y[0] };
    });
    match Rk45::default().solve(&f, (0.0, 1.0), &[1.0], &[1.0]) {
        Err(OdeError::NonFinite { t }) => assert!(t > 0.5 && t <= 1.0, "t = {t}"),
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

/// y' = -sqrt(y) from y = 1 reaches y = 0 at t = 2 (y = (1 - t/2)^2): a step that overshoots
/// makes a trial state negative and the field NaN there. scipy rejects such a step and shrinks
/// it; so does this solver, which returns all 21 outputs on [0, 2] at the default tolerances
/// (it stopped at t = 1.68 with `NonFinite` when a non-finite trial stage was fatal).
#[test]
fn rk45_rejects_a_step_whose_trial_stage_is_not_finite() {
    let f = FnField::new(1, |_t, y: &[f64], dy: &mut [f64]| dy[0] = -y[0].sqrt());
    let t_eval: Vec<f64> = (0..=20).map(|i| i as f64 * 0.1).collect();
    let sol = Rk45::default()
        .solve(&f, (0.0, 2.0), &[1.0], &t_eval)
        .expect("scipy's semantics: a non-finite trial is a rejected step");
    assert_eq!(sol.t.len(), 21);
    assert!(sol.stats.n_rejected > 0);
    for (t, y) in sol.t.iter().zip(&sol.y) {
        let exact = (1.0 - t / 2.0).powi(2);
        assert!((y - exact).abs() < 1e-3, "t = {t}: {y} against {exact}");
    }
}

/// A field that is NaN at every finite state shrinks the step to underflow, and is then
/// reported as what it is: `NonFinite`, not a step-size underflow.
#[test]
fn rk45_reports_a_field_that_is_never_finite_as_non_finite() {
    let f = FnField::new(1, |t, _y: &[f64], dy: &mut [f64]| {
        dy[0] = if t > 0.0 { f64::NAN } else { 1.0 };
    });
    match Rk45::default().solve(&f, (0.0, 1.0), &[1.0], &[1.0]) {
        Err(OdeError::NonFinite { t }) => assert!(t > 0.0 && t < 1e-3, "t = {t}"),
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

/// A boxed trait object is a field as it is.
#[test]
fn boxed_fields_solve_directly() {
    let b: Box<dyn VectorField> = Box::new(spring());
    let sol = Rk45::default()
        .solve(&b, (0.0, 1.0), &[1.0, 0.0], &[1.0])
        .unwrap();
    assert!((sol.y[0] - 2f64.cos()).abs() < 1e-2);
}

/// With the first step and the largest step both 1/8 and a loose tolerance, [0, 1] takes exactly
/// eight accepted steps: a budget of eight finishes, seven stops at t = 7/8.
#[test]
fn rk45_step_budget_counts_accepted_steps_exactly() {
    let solver = |max_steps| Rk45 {
        rtol: 1e-2,
        atol: 1e-2,
        first_step: Some(0.125),
        max_step: 0.125,
        max_steps: Some(max_steps),
        ..Rk45::default()
    };
    let sol = solver(8)
        .solve(&spring(), (0.0, 1.0), &[1.0, 0.0], &[1.0])
        .unwrap();
    assert_eq!((sol.stats.n_accepted, sol.stats.n_rejected), (8, 0));
    match solver(7).solve(&spring(), (0.0, 1.0), &[1.0, 0.0], &[1.0]) {
        Err(OdeError::TooManySteps { t, max_steps: 7 }) => assert_eq!(t, 0.875),
        other => panic!("expected TooManySteps, got {other:?}"),
    }
}

/// A wall-clock budget stops every running problem of a batch with a typed error; problems
/// finished before it are kept.
#[test]
fn rk45_time_budget_stops_running_problems() {
    let solver = Rk45 {
        rtol: 1e-12,
        atol: 1e-12,
        max_seconds: Some(1e-9),
        ..Rk45::default()
    };
    let t = [1e6];
    let problems = [
        IvpProblem {
            t_span: (0.0, 1e6),
            y0: &[1.0, 0.0],
            t_eval: &t,
        },
        IvpProblem {
            t_span: (0.0, 1e6),
            y0: &[0.0, 1.0],
            t_eval: &t,
        },
    ];
    for r in solver.solve_batch(&spring(), &problems) {
        match r {
            Err(OdeError::TimeBudget { t, seconds }) => {
                assert!(t < 1e6);
                assert_eq!(seconds, 1e-9);
            }
            other => panic!("expected TimeBudget, got {other:?}"),
        }
    }
    let bad = Rk45 {
        max_seconds: Some(0.0),
        ..Rk45::default()
    };
    assert!(matches!(
        bad.solve(&spring(), (0.0, 1.0), &[1.0, 0.0], &[1.0]),
        Err(OdeError::InvalidOption {
            name: "max_seconds",
            ..
        })
    ));
}

/// RK4 on dy/dt = f(t) is Simpson's rule, exact for cubics: y = t^4 from y(1) = 1 lands on
/// (1 + 3h)^4 exactly, and only with the stages at t, t + h/2, t + h/2, t + h.
#[test]
fn rk4_evaluates_its_stages_at_the_right_times() {
    let f = FnField::new(1, |t, _y: &[f64], dy: &mut [f64]| dy[0] = 4.0 * t * t * t);
    let h = 0.25;
    let y = Rk4 { h }.integrate(&f, 1.0, &[1.0], 3).unwrap();
    for (k, v) in y.iter().enumerate() {
        let t: f64 = 1.0 + h * k as f64;
        assert!(
            (v - t.powi(4)).abs() < 1e-12,
            "step {k}: {v} vs {}",
            t.powi(4)
        );
    }
}

#[test]
fn rk4_is_fourth_order() {
    let err = |h: f64| {
        let n = (5.0 / h).round() as usize;
        let out = Rk4 { h }.integrate(&spring(), 0.0, &[1.0, 0.0], n).unwrap();
        let y = &out[2 * n..];
        ((y[0] - 10f64.cos()).powi(2) + (y[1] + 10f64.sin()).powi(2)).sqrt()
    };
    let (e1, e2, e3) = (err(0.05), err(0.025), err(0.0125));
    for ratio in [e1 / e2, e2 / e3] {
        assert!(
            (14.0..18.5).contains(&ratio),
            "error ratio {ratio} when h halves (errors {e1:e} {e2:e} {e3:e})"
        );
    }
}

#[test]
fn rk4_batch_equals_single() {
    let y0s = [1.0, 0.0, 0.2, 0.4, -1.0, 0.5];
    let batch = Rk4 { h: 0.01 }
        .integrate_batch(&van_der_pol(), 0.0, &y0s, 100)
        .unwrap();
    for i in 0..3 {
        let alone = Rk4 { h: 0.01 }
            .integrate(&van_der_pol(), 0.0, &y0s[2 * i..2 * i + 2], 100)
            .unwrap();
        for step in 0..=100 {
            assert_eq!(
                &batch[step * 6 + 2 * i..step * 6 + 2 * i + 2],
                &alone[2 * step..2 * step + 2]
            );
        }
    }
}

struct SpringSep;
impl SeparableField for SpringSep {
    fn dof(&self) -> usize {
        1
    }
    fn velocity(&self, p: &[f64], dq: &mut [f64]) {
        dq[0] = 2.0 * p[0];
    }
    fn force(&self, q: &[f64], dp: &mut [f64]) {
        dp[0] = -2.0 * q[0];
    }
}

#[test]
fn leapfrog_energy_error_stays_bounded() {
    let h = 0.05;
    let n = 100_000;
    let out = Leapfrog { h }
        .integrate(&SpringSep, &[1.0], &[0.0], n)
        .unwrap();
    let energy_err = |i: usize| (out[2 * i].powi(2) + out[2 * i + 1].powi(2) - 1.0).abs();
    let early = (0..10_000).map(energy_err).fold(0.0, f64::max);
    let late = (90_000..=n).map(energy_err).fold(0.0, f64::max);
    // O(h^2) oscillation, no secular drift over 5000 periods.
    assert!(
        early < 0.01 && late < 0.01,
        "early {early:e}, late {late:e}"
    );
    assert!(
        late < 1.05 * early,
        "energy error grew from {early:e} to {late:e}"
    );
    // RK4 with the same step drifts: its error keeps growing.
    let rk = Rk4 { h }.integrate(&spring(), 0.0, &[1.0, 0.0], n).unwrap();
    let rk_err = |i: usize| (rk[2 * i].powi(2) + rk[2 * i + 1].powi(2) - 1.0).abs();
    assert!(
        rk_err(n) > 5.0 * rk_err(10_000),
        "RK4 should drift: {:e} vs {:e}",
        rk_err(n),
        rk_err(10_000)
    );
    // Time-reversible: stepping back returns to the start.
    let last = &out[2 * n..];
    let back = Leapfrog { h: -h }
        .integrate(&SpringSep, &last[..1], &last[1..], n)
        .unwrap();
    assert!((back[2 * n] - 1.0).abs() < 1e-8 && back[2 * n + 1].abs() < 1e-8);
}

/// The official pendulum H = 3 (1 - cos q) + p^2 as a separable field.
struct Pendulum;
impl SeparableField for Pendulum {
    fn dof(&self) -> usize {
        1
    }
    fn velocity(&self, p: &[f64], dqdt: &mut [f64]) {
        dqdt[0] = 2.0 * p[0];
    }
    fn force(&self, q: &[f64], dpdt: &mut [f64]) {
        dpdt[0] = -3.0 * q[0].sin();
    }
}

fn pendulum_energy(x: &[f64]) -> f64 {
    3.0 * (1.0 - x[0].cos()) + x[1] * x[1]
}

fn pendulum_field() -> FnField<impl Fn(f64, &[f64], &mut [f64])> {
    FnField::new(2, |_t, y: &[f64], dy: &mut [f64]| {
        dy[0] = 2.0 * y[1];
        dy[1] = -3.0 * y[0].sin();
    })
}

/// The spring H = q^2 + p^2 as a separable field.
struct Spring;
impl SeparableField for Spring {
    fn dof(&self) -> usize {
        1
    }
    fn velocity(&self, p: &[f64], dqdt: &mut [f64]) {
        dqdt[0] = 2.0 * p[0];
    }
    fn force(&self, q: &[f64], dpdt: &mut [f64]) {
        dpdt[0] = -2.0 * q[0];
    }
}

/// Error at t = 2 from (1, 0) against q = cos 2t, p = -sin 2t.
fn spring_error(last: &[f64]) -> f64 {
    (last[0] - 4f64.cos()).hypot(last[1] + 4f64.sin())
}

#[test]
fn yoshida_is_fourth_order() {
    let err = |h: f64| {
        let n = (2.0 / h).round() as usize;
        let y = Yoshida4 { h }
            .integrate(&Spring, &[1.0], &[0.0], n)
            .unwrap();
        spring_error(&y[2 * n..])
    };
    let ratio = err(0.1) / err(0.05);
    assert!(
        (13.0..19.0).contains(&ratio),
        "error ratio {ratio} (16 for order 4)"
    );
    let (w1, w0) = Yoshida4::weights();
    assert!((2.0 * w1 + w0 - 1.0).abs() < 1e-15);
    assert!(
        (2.0 * w1.powi(3) + w0.powi(3)).abs() < 1e-14,
        "third-order condition"
    );
}

#[test]
fn implicit_midpoint_is_second_order() {
    let err = |h: f64| {
        let n = (2.0 / h).round() as usize;
        let solver = ImplicitMidpoint {
            h,
            ..ImplicitMidpoint::default()
        };
        let y = solver.integrate(&spring(), 0.0, &[1.0, 0.0], n).unwrap();
        spring_error(&y[2 * n..])
    };
    let ratio = err(0.02) / err(0.01);
    assert!(
        (3.7..4.3).contains(&ratio),
        "error ratio {ratio} (4 for order 2)"
    );
}

/// 10^5 steps of the pendulum at h = 0.05 (800 periods): the energy error of both symplectic
/// methods stays bounded, where RK4's drifts.
#[test]
fn symplectic_methods_keep_the_energy_bounded_over_long_runs() {
    let (n, h) = (100_000, 0.05);
    let x0 = [1.5, 0.0];
    let e0 = pendulum_energy(&x0);
    let worst = |y: &[f64]| {
        y.chunks(2)
            .map(|x| (pendulum_energy(x) - e0).abs())
            .fold(0.0f64, f64::max)
    };
    let yo = Yoshida4 { h }
        .integrate(&Pendulum, &x0[..1], &x0[1..], n)
        .unwrap();
    let im = ImplicitMidpoint {
        h,
        ..ImplicitMidpoint::default()
    }
    .integrate(&pendulum_field(), 0.0, &x0, n)
    .unwrap();
    let rk = Rk4 { h }.integrate(&pendulum_field(), 0.0, &x0, n).unwrap();
    let (w_yo, w_im, w_rk) = (worst(&yo), worst(&im), worst(&rk));
    assert!(w_yo < 1e-4, "Yoshida {w_yo:e}");
    assert!(w_im < 1e-2, "implicit midpoint {w_im:e}");
    // bounded: the second half is no worse than the first
    let half = |y: &[f64], a: usize, b: usize| worst(&y[2 * a..2 * b]);
    assert!(half(&im, n / 2, n + 1) < 1.5 * half(&im, 0, n / 2));
    // RK4 at this step loses energy steadily: its error at the end dwarfs its early error
    let rk_end = (pendulum_energy(&rk[2 * n..]) - e0).abs();
    assert!(rk_end > 10.0 * half(&rk, 0, 1000), "RK4 {w_rk:e}");
}

/// On a linear system the implicit midpoint rule keeps quadratic invariants exactly: q^2 + p^2
/// of the spring moves only by round-off and the iteration tolerance over 10^4 steps.
#[test]
fn implicit_midpoint_conserves_quadratic_invariants_to_round_off() {
    let solver = ImplicitMidpoint {
        h: 0.1,
        tol: 1e-15,
        max_iter: 100,
    };
    let y = solver
        .integrate_batch(&spring(), 0.0, &[1.0, 0.0, 0.3, -0.4], 10_000)
        .unwrap();
    for (k, x) in y.chunks(4).enumerate() {
        assert!((x[0] * x[0] + x[1] * x[1] - 1.0).abs() < 1e-12, "step {k}");
        assert!((x[2] * x[2] + x[3] * x[3] - 0.25).abs() < 1e-12, "step {k}");
    }
}

#[test]
fn implicit_midpoint_fails_with_a_typed_error_when_the_iteration_diverges() {
    let stiff = FnField::new(1, |_t, y: &[f64], dy: &mut [f64]| dy[0] = -1e4 * y[0]);
    let solver = ImplicitMidpoint {
        h: 0.1,
        ..ImplicitMidpoint::default()
    };
    match solver.integrate(&stiff, 0.0, &[1.0], 3) {
        Err(OdeError::NoConvergence { t, iterations, .. }) => {
            assert_eq!((t, iterations), (0.0, 50));
        }
        Err(OdeError::NonFinite { .. }) => {}
        other => panic!("expected NoConvergence, got {other:?}"),
    }
    let bad = ImplicitMidpoint {
        h: 0.0,
        ..ImplicitMidpoint::default()
    };
    assert!(matches!(
        bad.integrate(&spring(), 0.0, &[1.0, 0.0], 1),
        Err(OdeError::InvalidOption { name: "h", .. })
    ));
}

/// Events on the spring q = cos 2t: the zeros of q at pi/4 + k pi/2, located on the dense output
/// to 1e-10, filtered by direction, and a terminal one ends the solve there.
#[test]
fn rk45_locates_events_on_the_dense_output() {
    use hnn_ode::Event;
    use std::f64::consts::PI;
    let solver = Rk45 {
        rtol: 1e-12,
        atol: 1e-12,
        ..Rk45::default()
    };
    let q = |_t: f64, y: &[f64]| y[0];
    let t_eval: Vec<f64> = (0..=50).map(|i| i as f64 * 0.1).collect();
    let events = [
        Event {
            g: &q,
            terminal: false,
            direction: 0.0,
        },
        Event {
            g: &q,
            terminal: false,
            direction: 1.0,
        },
        Event {
            g: &q,
            terminal: false,
            direction: -1.0,
        },
    ];
    let o = solver.solve_with_events(&spring(), (0.0, 5.0), &[1.0, 0.0], &t_eval, &events);
    assert!(o.error.is_none());
    assert_eq!(o.solution.t.len(), 51);
    let times = |k: usize| o.events[k].iter().map(|e| e.0).collect::<Vec<_>>();
    let roots = [PI / 4.0, 3.0 * PI / 4.0, 5.0 * PI / 4.0];
    assert_eq!(times(0).len(), 3);
    for (t, r) in times(0).iter().zip(roots) {
        assert!((t - r).abs() < 1e-10, "{t} vs {r}");
    }
    // q falls through zero first, then rises, then falls
    assert_eq!(times(1).len(), 1);
    assert!((times(1)[0] - roots[1]).abs() < 1e-10);
    assert_eq!(times(2).len(), 2);
    // the state at a crossing: q = 0, p = -sin(pi/2) = -1
    let (_, y) = &o.events[0][0];
    assert!(y[0].abs() < 1e-10 && (y[1] + 1.0).abs() < 1e-10, "{y:?}");
    // terminal: the solve ends at the first zero, with the output times before it
    let stop = [Event {
        g: &q,
        terminal: true,
        direction: 0.0,
    }];
    let o = solver.solve_with_events(&spring(), (0.0, 5.0), &[1.0, 0.0], &t_eval, &stop);
    assert!(o.error.is_none());
    assert!((o.t_final - PI / 4.0).abs() < 1e-10);
    assert_eq!(o.solution.t.len(), 8, "0.0 to 0.7");
    assert_eq!(o.solution.y.len(), 16);
}

/// Zeros count, as in scipy: the spring from rest in p (p = -sin 2t) has its p-event at t0, a
/// terminal one stops there at once, the direction of a zero at t0 is where g goes next, and an
/// exact zero at the end of a step is recorded once.
#[test]
fn rk45_events_at_exact_zeros_follow_scipy() {
    use hnn_ode::Event;
    use std::f64::consts::PI;
    let solver = Rk45 {
        rtol: 1e-10,
        atol: 1e-10,
        ..Rk45::default()
    };
    let p = |_t: f64, y: &[f64]| y[1];
    let t_eval: Vec<f64> = (0..=50).map(|i| i as f64 * 0.1).collect();
    let event = |terminal, direction| Event {
        g: &p,
        terminal,
        direction,
    };
    let events = [event(false, 0.0), event(false, 1.0), event(false, -1.0)];
    let o = solver.solve_with_events(&spring(), (0.0, 5.0), &[1.0, 0.0], &t_eval, &events);
    assert!(o.error.is_none());
    let times = |k: usize| o.events[k].iter().map(|e| e.0).collect::<Vec<_>>();
    let close = |got: Vec<f64>, want: &[f64]| {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{got:?} vs {want:?}");
        }
    };
    close(times(0), &[0.0, PI / 2.0, PI, 1.5 * PI]);
    // p leaves 0 downwards at t0: a falling crossing there, rising ones at pi/2 and 3pi/2
    close(times(1), &[PI / 2.0, 1.5 * PI]);
    close(times(2), &[0.0, PI]);
    let o = solver.solve_with_events(
        &spring(),
        (0.0, 5.0),
        &[1.0, 0.0],
        &t_eval,
        &[event(true, 0.0)],
    );
    assert!(o.error.is_none());
    assert_eq!(o.t_final, 0.0);
    assert_eq!(o.solution.t, vec![0.0]);
    // y' = 1 from y = -1 in steps of exactly 0.5: y = 0 at the end of the second step, once
    let line = FnField::new(1, |_t, _y: &[f64], dy: &mut [f64]| dy[0] = 1.0);
    let fixed = Rk45 {
        first_step: Some(0.5),
        max_step: 0.5,
        ..Rk45::default()
    };
    let y = |_t: f64, y: &[f64]| y[0];
    let at_zero = [Event {
        g: &y,
        terminal: false,
        direction: 0.0,
    }];
    let o = fixed.solve_with_events(&line, (0.0, 2.0), &[-1.0], &[2.0], &at_zero);
    assert!(o.error.is_none());
    let hits: Vec<f64> = o.events[0].iter().map(|e| e.0).collect();
    assert_eq!(hits, vec![1.0]);
}

/// A failed solve returns what it computed, as scipy does: the output times reached before the
/// step budget ran out, and the error.
#[test]
fn rk45_failure_keeps_the_partial_solution() {
    let solver = Rk45 {
        rtol: 1e-2,
        atol: 1e-2,
        first_step: Some(0.125),
        max_step: 0.125,
        max_steps: Some(4),
        ..Rk45::default()
    };
    let t_eval = [0.0, 0.25, 0.5, 0.75, 1.0];
    let o = solver.solve_with_events(&spring(), (0.0, 1.0), &[1.0, 0.0], &t_eval, &[]);
    assert!(matches!(
        o.error,
        Some(OdeError::TooManySteps { max_steps: 4, .. })
    ));
    assert_eq!(o.solution.t, vec![0.0, 0.25, 0.5]);
    assert_eq!(o.solution.y.len(), 6);
    assert_eq!(o.t_final, 0.5);
    assert!((o.solution.y[4] - 1f64.cos()).abs() < 1e-2);
}

#[test]
fn separable_batches_equal_single_solves() {
    let q0s = [1.5, -0.3, 0.2];
    let p0s = [0.0, 0.8, -1.1];
    for integrate in [
        |q: &[f64], p: &[f64], n| Leapfrog { h: 0.05 }.integrate_batch(&Pendulum, q, p, n),
        |q: &[f64], p: &[f64], n| Yoshida4 { h: 0.05 }.integrate_batch(&Pendulum, q, p, n),
    ] {
        let batch = integrate(&q0s, &p0s, 40).unwrap();
        assert_eq!(batch.len(), 41 * 3 * 2);
        for k in 0..3 {
            let one = integrate(&q0s[k..=k], &p0s[k..=k], 40).unwrap();
            for s in 0..=40 {
                assert_eq!(
                    batch[(s * 3 + k) * 2..(s * 3 + k) * 2 + 2],
                    one[s * 2..s * 2 + 2]
                );
            }
        }
    }
}

/// Two uncoupled springs, H = (q1² + p1²)/2 + 2 (q2² + p2²): a separable field with two degrees
/// of freedom, so batches of it index q and p by dof.
struct TwoSprings;
impl SeparableField for TwoSprings {
    fn dof(&self) -> usize {
        2
    }
    fn velocity(&self, p: &[f64], dqdt: &mut [f64]) {
        dqdt[0] = p[0];
        dqdt[1] = 4.0 * p[1];
    }
    fn force(&self, q: &[f64], dpdt: &mut [f64]) {
        dpdt[0] = -q[0];
        dpdt[1] = -4.0 * q[1];
    }
}

#[test]
fn separable_batches_of_several_degrees_of_freedom() {
    // two states of (q1, q2, p1, p2); frequencies 1 and 4
    let q0s = [1.0, 0.0, 0.0, 0.5];
    let p0s = [0.0, 0.5, 0.3, 0.0];
    let (h, n) = (0.01, 100);
    for batch in [
        Yoshida4 { h }
            .integrate_batch(&TwoSprings, &q0s, &p0s, n)
            .unwrap(),
        Leapfrog { h }
            .integrate_batch(&TwoSprings, &q0s, &p0s, n)
            .unwrap(),
    ] {
        // [steps + 1, 2 states, (q1, q2, p1, p2)]
        assert_eq!(batch.len(), (n + 1) * 2 * 4);
        let last = &batch[n * 8..];
        let t: f64 = 1.0;
        // state 0: q1 = cos t, q2 = 0.5/4 sin 4t... from p2 = 0.5: q2 = (4 * 0.5 / 4) sin 4t
        let want0 = [
            t.cos(),
            0.5 * (4.0 * t).sin(),
            -t.sin(),
            0.5 * (4.0 * t).cos(),
        ];
        // state 1: q1 = 0.3 sin t, q2 = 0.5 cos 4t
        let want1 = [
            0.3 * t.sin(),
            0.5 * (4.0 * t).cos(),
            0.3 * t.cos(),
            -0.5 * (4.0 * t).sin(),
        ];
        for (got, want) in last.chunks(4).zip([want0, want1]) {
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-3, "{got:?} vs {want:?}");
            }
        }
    }
    // q and p of different lengths, or not a whole number of states: refused
    for (q, p) in [(&q0s[..], &p0s[..3]), (&q0s[..3], &p0s[..3])] {
        assert!(matches!(
            Leapfrog { h }.integrate_batch(&TwoSprings, q, p, 1),
            Err(OdeError::DimensionMismatch { expected: 2, .. })
        ));
    }
}

/// Fields behind references and boxes, as callers hold them (`&dyn`, `Box<dyn>`), evaluate
/// and solve as the field itself.
#[test]
fn fields_behind_references_and_boxes_are_the_field() {
    let f = spring();
    let r: &dyn VectorField = &f;
    let b: Box<dyn VectorField> = Box::new(spring());
    let (mut d1, mut d2, mut d3) = ([0.0; 2], [0.0; 2], [0.0; 2]);
    f.eval(0.0, &[0.3, 0.4], &mut d1);
    (&r).eval(0.0, &[0.3, 0.4], &mut d2);
    b.eval(0.0, &[0.3, 0.4], &mut d3);
    assert_eq!(d1, [0.8, -0.6]);
    assert_eq!((d1, d1), (d2, d3));
    assert_eq!(((&r).dim(), b.dim()), (2, 2));
    let mut batch = [0.0; 4];
    (&r).eval_batch(&[0.0, 0.0], &[0.3, 0.4, 1.0, 0.0], &mut batch);
    assert_eq!(batch, [0.8, -0.6, 0.0, -2.0]);
    let solver = Rk45::default();
    let a = solver.solve(&f, (0.0, 1.0), &[1.0, 0.0], &[1.0]).unwrap();
    let c = solver.solve(&r, (0.0, 1.0), &[1.0, 0.0], &[1.0]).unwrap();
    assert_eq!(a, c);
}

/// Unit drift in q and a force that turns NaN past q = 0.35: the separable integrators report
/// the time of the step that produced it (q = 0.4 after 4 steps of 0.1).
#[test]
fn separable_integrators_report_non_finite_states_with_their_time() {
    struct Cliff;
    impl SeparableField for Cliff {
        fn dof(&self) -> usize {
            1
        }
        fn velocity(&self, _p: &[f64], dqdt: &mut [f64]) {
            dqdt[0] = 1.0;
        }
        fn force(&self, q: &[f64], dpdt: &mut [f64]) {
            dpdt[0] = if q[0] > 0.35 { f64::NAN } else { 0.0 };
        }
    }
    for r in [
        Leapfrog { h: 0.1 }.integrate(&Cliff, &[0.0], &[0.0], 10),
        Yoshida4 { h: 0.1 }.integrate(&Cliff, &[0.0], &[0.0], 10),
    ] {
        match r {
            Err(OdeError::NonFinite { t }) => assert!((t - 0.4).abs() < 1e-12, "t = {t}"),
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }
}

/// On dy/dt = 2t the midpoint rule is exact (it samples the slope at t + h/2): y = t² from
/// y(1) = 1 to round-off, which pins the step times the rule uses.
#[test]
fn implicit_midpoint_uses_the_midpoint_time() {
    let f = FnField::new(1, |t, _y: &[f64], dy: &mut [f64]| dy[0] = 2.0 * t);
    let y = ImplicitMidpoint {
        h: 0.25,
        ..ImplicitMidpoint::default()
    }
    .integrate(&f, 1.0, &[1.0], 4)
    .unwrap();
    for (k, v) in y.iter().enumerate() {
        let t = 1.0 + 0.25 * k as f64;
        assert!((v - t * t).abs() < 1e-12, "step {k}: {v}");
    }
}

/// The fixed-point tolerance is relative to 1 + |y|: a state of size 1e6 converges at the
/// default 1e-12 (an absolute 1e-12 would be below its rounding).
#[test]
fn implicit_midpoint_tolerance_is_relative() {
    let y = ImplicitMidpoint {
        h: 0.01,
        ..ImplicitMidpoint::default()
    }
    .integrate(&spring(), 0.0, &[1e6, 0.0], 10)
    .unwrap();
    assert!((y[20] - 1e6 * 0.2f64.cos()).abs() < 1e6 * 1e-4);
    // on the spring at h = 0.01 each iteration shrinks the error a hundredfold, and the
    // explicit Euler guess starts it at h^2 |y| = 200 (absolute): relative to 1 + |y| the
    // differences are 2e-6 after two iterations and 2e-8 after three, under a 1e-6 tolerance
    let three = ImplicitMidpoint {
        h: 0.01,
        tol: 1e-6,
        max_iter: 3,
    };
    assert!(three.integrate(&spring(), 0.0, &[1e6, 0.0], 10).is_ok());
    let two = ImplicitMidpoint {
        max_iter: 2,
        ..three
    };
    assert!(matches!(
        two.integrate(&spring(), 0.0, &[1e6, 0.0], 10),
        Err(OdeError::NoConvergence { .. })
    ));
}

/// Fixed-step methods report a field that turns NaN past t = 0.32 at the time they met it:
/// RK4 after the step ending at 0.4, the midpoint rule at its midpoint 0.35.
#[test]
fn fixed_step_methods_date_a_non_finite_field() {
    let f = FnField::new(1, |t, _y: &[f64], dy: &mut [f64]| {
        dy[0] = if t > 0.32 { f64::NAN } else { 1.0 };
    });
    match (Rk4 { h: 0.1 }).integrate(&f, 0.0, &[0.0], 10) {
        Err(OdeError::NonFinite { t }) => assert!((t - 0.4).abs() < 1e-12, "t = {t}"),
        other => panic!("expected NonFinite, got {other:?}"),
    }
    let mid = ImplicitMidpoint {
        h: 0.1,
        ..ImplicitMidpoint::default()
    };
    match mid.integrate(&f, 0.0, &[0.0], 10) {
        Err(OdeError::NonFinite { t }) => assert!((t - 0.35).abs() < 1e-12, "t = {t}"),
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

#[test]
fn fixed_step_methods_refuse_bad_options_and_shapes() {
    let f = spring();
    for h in [0.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            Rk4 { h }.integrate(&f, 0.0, &[1.0, 0.0], 1),
            Err(OdeError::InvalidOption { name: "h", .. })
        ));
    }
    assert!(matches!(
        Rk4 { h: 0.1 }.integrate(&f, 0.0, &[1.0, 0.0, 3.0], 1),
        Err(OdeError::DimensionMismatch {
            expected: 2,
            got: 3
        })
    ));
    let mid = ImplicitMidpoint::default();
    assert!(matches!(
        mid.integrate(&f, 0.0, &[1.0, 0.0, 3.0], 1),
        Err(OdeError::DimensionMismatch {
            expected: 2,
            got: 3
        })
    ));
    for tol in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let bad = ImplicitMidpoint {
            tol,
            ..ImplicitMidpoint::default()
        };
        assert!(
            matches!(
                bad.integrate(&f, 0.0, &[1.0, 0.0], 1),
                Err(OdeError::InvalidOption { name: "tol", .. })
            ),
            "tol {tol}"
        );
    }
    let none = ImplicitMidpoint {
        max_iter: 0,
        ..ImplicitMidpoint::default()
    };
    assert!(matches!(
        none.integrate(&f, 0.0, &[1.0, 0.0], 1),
        Err(OdeError::InvalidOption {
            name: "max_iter",
            ..
        })
    ));
}

/// Dormand-Prince evaluates its six stages at t + c·h with c = (0, 1/5, 3/10, 4/5, 8/9, 1),
/// then the field at the accepted end (first stage of the next step). A field that records
/// its times shows them for two steps of h = 0.5 (every step is accepted: the field is zero).
/// The autonomous fields of the other tests cannot tell the nodes apart.
#[test]
fn rk45_evaluates_its_stages_at_the_dormand_prince_nodes() {
    let times = std::sync::Mutex::new(Vec::new());
    let f = FnField::new(1, |t, _y: &[f64], dy: &mut [f64]| {
        times.lock().unwrap().push(t);
        dy[0] = 0.0;
    });
    let solver = Rk45 {
        first_step: Some(0.5),
        max_step: 0.5,
        ..Rk45::default()
    };
    solver.solve(&f, (0.0, 1.0), &[1.0], &[1.0]).unwrap();
    let nodes = [0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];
    let want: Vec<f64> = std::iter::once(0.0)
        .chain(nodes.iter().map(|c| c * 0.5))
        .chain(nodes.iter().map(|c| 0.5 + c * 0.5))
        .collect();
    let got = times.into_inner().unwrap();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-15, "{got:?} vs {want:?}");
    }
}

/// A trial step whose stage state overflows (the field is finite wherever the state is) is
/// rejected and shrunk by the step control, as in scipy, not reported as a failing field:
/// `dy/dt = 1e307` from 0 over [0, 10] with a first step of 10 (stage sums near 3e308).
#[test]
fn rk45_shrinks_a_step_whose_state_overflowed() {
    let f = FnField::new(1, |_t, y: &[f64], dy: &mut [f64]| {
        dy[0] = if y[0].is_finite() { 1e307 } else { f64::NAN };
    });
    let solver = Rk45 {
        first_step: Some(10.0),
        ..Rk45::default()
    };
    let sol = solver.solve(&f, (0.0, 10.0), &[0.0], &[10.0]).unwrap();
    assert!((sol.y[0] - 1e308).abs() < 1e294, "{:e}", sol.y[0]);
    assert!(sol.stats.n_rejected >= 1, "{:?}", sol.stats);
}

/// The field's evaluation times of a solve (the first few).
fn evaluation_times(
    f: impl Fn(f64, f64) -> f64,
    t_span: (f64, f64),
    y0: f64,
    solver: Rk45,
) -> Vec<f64> {
    let times = std::sync::Mutex::new(Vec::new());
    let field = FnField::new(1, |t, y: &[f64], dy: &mut [f64]| {
        times.lock().unwrap().push(t);
        dy[0] = f(t, y[0]);
    });
    solver.solve(&field, t_span, &[y0], &[t_span.1]).unwrap();
    times.into_inner().unwrap()
}

/// scipy's initial step (Hairer, Norsett & Wanner II.4), by hand on dy/dt = -2y from y = 1 at
/// the default tolerances: every scale is `s = atol + rtol = 1.001e-3`, so `d0 = 1/s`,
/// `d1 = 2/s`, the probe step `h0 = 0.01 d0/d1 = 0.005` (where the field is evaluated second),
/// `d2 = |f1 - f0| / s / h0 = 4/s` with `f1 = -2 (1 - 2 h0)`, and the first step
/// `h = min(100 h0, (0.01 / max(d1, d2))^(1/5))`, whose second stage sits at `h / 5`.
#[test]
fn rk45_initial_step_by_hand() {
    let decay = |_t: f64, y: f64| -2.0 * y;
    let s: f64 = 1e-6 + 1e-3;
    let times = evaluation_times(decay, (0.0, 10.0), 1.0, Rk45::default());
    assert!((times[1] - 0.005).abs() < 1e-15, "{times:?}");
    let h = (100.0 * 0.005f64).min((0.01 / (4.0 / s)).powf(0.2));
    assert!(
        (times[2] - h / 5.0).abs() < 1e-15,
        "{} vs {}",
        times[2],
        h / 5.0
    );
    // the probe never passes the end of a short span away from t = 0
    let times = evaluation_times(decay, (10.0, 10.001), 1.0, Rk45::default());
    assert!((times[1] - 10.001).abs() < 1e-12, "{times:?}");
    // a zero derivative or a zero state at the start: the probe step is 1e-6
    let times = evaluation_times(|t, _| t, (0.0, 1.0), 1.0, Rk45::default());
    assert_eq!(times[1], 1e-6);
    // dy/dt = t: d1 = 0 but d2 = (1e-6 / s) / 1e-6 = 1/s, so h = min(100 h0, (0.01 s)^(1/5))
    assert!((times[2] - 1e-4 / 5.0).abs() < 1e-18, "{times:?}");
    let times = evaluation_times(|_, _| 1.0, (0.0, 1.0), 0.0, Rk45::default());
    assert_eq!(times[1], 1e-6);
    // a zero field: d1 = d2 = 0, so h = max(h0 / 1000, 1e-6) = 1e-6
    let times = evaluation_times(|_, _| 0.0, (0.0, 1.0), 1.0, Rk45::default());
    assert!((times[2] - 1e-6 / 5.0).abs() < 1e-21, "{times:?}");
}

/// The same on two coordinates, dy/dt = (-2 y1, -3 y2) from (1, 1): `d1 = sqrt(6.5)/s`,
/// `h0 = 0.01 / sqrt(6.5)`, `f1 - f0 = (4 h0, 9 h0)` so `d2 = sqrt(48.5)/s`.
#[test]
fn rk45_initial_step_by_hand_in_two_dimensions() {
    let times = std::sync::Mutex::new(Vec::new());
    let field = FnField::new(2, |t, y: &[f64], dy: &mut [f64]| {
        times.lock().unwrap().push(t);
        dy[0] = -2.0 * y[0];
        dy[1] = -3.0 * y[1];
    });
    Rk45::default()
        .solve(&field, (0.0, 10.0), &[1.0, 1.0], &[10.0])
        .unwrap();
    let times = times.into_inner().unwrap();
    let s: f64 = 1e-6 + 1e-3;
    let h0 = 0.01 / 6.5f64.sqrt();
    assert!((times[1] - h0).abs() < 1e-15, "{times:?}");
    let h = (100.0 * h0).min((0.01 / (48.5f64.sqrt() / s)).powf(0.2));
    assert!(
        (times[2] - h / 5.0).abs() < 1e-15,
        "{} vs {}",
        times[2],
        h / 5.0
    );
}

/// A first step below scipy's minimum (10 ulps of t) is raised to it, not refused: from t = 1
/// the first step is 10 eps, its second stage at 1 + 2 eps; the solve then grows its steps.
#[test]
fn rk45_raises_a_tiny_first_step_to_the_minimum() {
    let solver = Rk45 {
        first_step: Some(1e-300),
        rtol: 1e-8,
        atol: 1e-10,
        ..Rk45::default()
    };
    let times = evaluation_times(|_, y| -y, (1.0, 2.0), 1.0, solver);
    assert_eq!(times[1], 1.0 + 2.0 * f64::EPSILON);
    let field = FnField::new(1, |_t, y: &[f64], dy: &mut [f64]| dy[0] = -y[0]);
    let sol = solver.solve(&field, (1.0, 2.0), &[1.0], &[2.0]).unwrap();
    assert!((sol.y[0] - (-1f64).exp()).abs() < 1e-7, "{}", sol.y[0]);
}

/// Each crossing is narrowed by the Illinois variant of regula falsi: a handful of dense-output
/// evaluations per root (bisection to the same few ulps would take about fifty), and the time
/// returned is the end of the final bracket on the far side of the crossing, so the recorded
/// state has already crossed.
#[test]
fn rk45_event_roots_are_few_evaluations_and_on_the_far_side() {
    use hnn_ode::Event;
    use std::cell::Cell;
    let calls = Cell::new(0usize);
    let q = |_t: f64, y: &[f64]| {
        calls.set(calls.get() + 1);
        y[0]
    };
    let events = [Event {
        g: &q,
        terminal: false,
        direction: 0.0,
    }];
    let solver = Rk45 {
        rtol: 1e-10,
        atol: 1e-10,
        ..Rk45::default()
    };
    let o = solver.solve_with_events(&spring(), (0.0, 5.0), &[1.0, 0.0], &[5.0], &events);
    assert!(o.error.is_none());
    let roots = &o.events[0];
    assert_eq!(roots.len(), 3);
    // g is evaluated at the start and twice per accepted step; the rest is root finding
    let searching = calls.get() - 1 - 2 * o.solution.stats.n_accepted;
    assert!(searching <= 3 * 8, "{searching} evaluations for 3 roots");
    // q falls through zero at pi/4 and 5 pi/4, rises at 3 pi/4: q is past zero at each
    for (k, (t, y)) in roots.iter().enumerate() {
        let falling = k != 1;
        assert!(
            if falling { y[0] <= 0.0 } else { y[0] >= 0.0 },
            "crossing {k} at {t}: q = {:e}",
            y[0]
        );
        assert!(y[0].abs() < 1e-9, "{y:?}");
    }
    // a strongly convex g (e^{40 t} - 2 across one long step) holds one end of a plain
    // regula falsi bracket fixed, a concave one (0.5 - e^{-40 t}) the other; with the Illinois
    // halving on either side each still takes few evaluations; both cross at ln 2 / 40
    let convex = |t: f64| (40.0 * t).exp() - 2.0;
    let concave = |t: f64| 0.5 - (-40.0 * t).exp();
    for g in [&convex as &dyn Fn(f64) -> f64, &concave] {
        calls.set(0);
        let counted = |t: f64, _y: &[f64]| {
            calls.set(calls.get() + 1);
            g(t)
        };
        let events = [Event {
            g: &counted,
            terminal: true,
            direction: 0.0,
        }];
        let o =
            Rk45::default().solve_with_events(&spring(), (0.0, 1.0), &[1.0, 0.0], &[1.0], &events);
        let searching = calls.get() - 1 - 2 * o.solution.stats.n_accepted;
        assert!(
            (o.t_final - 2f64.ln() / 40.0).abs() < 1e-14,
            "{}",
            o.t_final
        );
        assert!(searching <= 12, "{searching} evaluations");
    }
}

/// A terminal event ends the solve and is itself recorded; a crossing of another event later
/// in the same step is not (the solve never got there), one earlier is.
#[test]
fn rk45_terminal_event_is_recorded_and_later_ones_are_not() {
    use hnn_ode::Event;
    let at_zero = |_t: f64, y: &[f64]| y[0];
    // q = cos 2t falls through 0.001 just before pi/4, through -0.001 just after
    let before = |_t: f64, y: &[f64]| y[0] - 1e-3;
    let after = |_t: f64, y: &[f64]| y[0] + 1e-3;
    let events = [
        Event {
            g: &after,
            terminal: false,
            direction: 0.0,
        },
        Event {
            g: &at_zero,
            terminal: true,
            direction: 0.0,
        },
        Event {
            g: &before,
            terminal: false,
            direction: 0.0,
        },
    ];
    for solver in [
        Rk45::default(),
        Rk45 {
            rtol: 1e-10,
            atol: 1e-10,
            ..Rk45::default()
        },
    ] {
        let o = solver.solve_with_events(&spring(), (0.0, 5.0), &[1.0, 0.0], &[5.0], &events);
        assert!(o.error.is_none());
        // at the loose tolerance the dense output puts the root 1e-4 off pi/4
        let quarter = std::f64::consts::FRAC_PI_4;
        assert!((o.t_final - quarter).abs() < 1e-3, "{}", o.t_final);
        assert!(o.events[0].is_empty(), "{:?}", o.events[0]);
        assert_eq!(o.events[1].len(), 1);
        assert_eq!(o.events[1][0].0, o.t_final);
        assert_eq!(o.events[2].len(), 1);
        assert!(o.events[2][0].0 < o.t_final);
    }
}

/// Backwards in time, the crossings of one step are ordered in the direction of travel: from
/// t = 0 down to -5, q = cos 2t falls through 0.001 (at t = -acos(0.001) / 2) before it reaches
/// zero; both end the solve, and the first one met does.
#[test]
fn rk45_events_backwards_are_ordered_in_the_direction_of_travel() {
    use hnn_ode::Event;
    let at_zero = |_t: f64, y: &[f64]| y[0];
    let first = |_t: f64, y: &[f64]| y[0] - 1e-3;
    let events = [
        Event {
            g: &at_zero,
            terminal: true,
            direction: 0.0,
        },
        Event {
            g: &first,
            terminal: true,
            direction: 0.0,
        },
    ];
    let o =
        Rk45::default().solve_with_events(&spring(), (0.0, -5.0), &[1.0, 0.0], &[-5.0], &events);
    assert!(o.error.is_none());
    let want = -(1e-3f64).acos() / 2.0;
    assert!((o.t_final - want).abs() < 1e-3, "{} vs {want}", o.t_final);
    assert!(o.events[0].is_empty(), "{:?}", o.events[0]);
    assert_eq!(o.events[1].len(), 1);
    assert_eq!(o.events[1][0].0, o.t_final);
}
