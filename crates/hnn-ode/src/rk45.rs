//! Dormand-Prince 5(4), the algorithm of scipy's `solve_ivp(method="RK45")`.
//!
//! What is reproduced from scipy, so that the same tolerances give the same accuracy:
//! - the Butcher tableau, the 4th-order error estimate and the quartic dense output;
//! - the error norm: RMS over components of `err / (atol + max(|y|, |y_new|) * rtol)`;
//! - the initial step selection (Hairer, Norsett & Wanner, II.4) with `order = 4`;
//! - step control: factor `0.9 * norm^(-1/5)` clipped to `[0.2, 10]`, no growth right after a
//!   rejection, `max_step`, and the `10 * ulp(t)` minimum step;
//! - output at `t_eval` from the dense output of the step that covers each time.
//!
//! [`Rk45::solve_batch`] runs many problems in lock-step: every round evaluates the field once
//! per Runge-Kutta stage for all problems still running, but each problem keeps its own `t`,
//! step size and accept/reject history, so each result equals its stand-alone solve.

use crate::{OdeError, Result, VectorField};

const C: [f64; 6] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];
const A: [[f64; 5]; 6] = [
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
];
const B: [f64; 6] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
];
const E: [f64; 7] = [
    -71.0 / 57600.0,
    0.0,
    71.0 / 16695.0,
    -71.0 / 1920.0,
    17253.0 / 339200.0,
    -22.0 / 525.0,
    1.0 / 40.0,
];
/// Dense-output coefficients: `y(t_old + x h) = y_old + h * sum_j (K^T P)[:, j] x^(j+1)`.
const P: [[f64; 4]; 7] = [
    [
        1.0,
        -8048581381.0 / 2820520608.0,
        8663915743.0 / 2820520608.0,
        -12715105075.0 / 11282082432.0,
    ],
    [0.0, 0.0, 0.0, 0.0],
    [
        0.0,
        131558114200.0 / 32700410799.0,
        -68118460800.0 / 10900136933.0,
        87487479700.0 / 32700410799.0,
    ],
    [
        0.0,
        -1754552775.0 / 470086768.0,
        14199869525.0 / 1410260304.0,
        -10690763975.0 / 1880347072.0,
    ],
    [
        0.0,
        127303824393.0 / 49829197408.0,
        -318862633887.0 / 49829197408.0,
        701980252875.0 / 199316789632.0,
    ],
    [
        0.0,
        -282668133.0 / 205662961.0,
        2019193451.0 / 616988883.0,
        -1453857185.0 / 822651844.0,
    ],
    [
        0.0,
        40617522.0 / 29380423.0,
        -110615467.0 / 29380423.0,
        69997945.0 / 29380423.0,
    ],
];
const SAFETY: f64 = 0.9;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 10.0;
const ERROR_EXPONENT: f64 = -1.0 / 5.0;
const ORDER: f64 = 4.0;

/// Adaptive Dormand-Prince 5(4). Defaults are scipy's (`rtol = 1e-3`, `atol = 1e-6`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rk45 {
    pub rtol: f64,
    pub atol: f64,
    /// Largest step allowed (scipy's `max_step`, default unbounded).
    pub max_step: f64,
    /// First step size; `None` selects it as scipy does.
    pub first_step: Option<f64>,
    /// Give up after this many accepted steps per problem (`None`: no limit, as scipy).
    pub max_steps: Option<usize>,
    /// Give up on every problem still running once a solve (or a batch) has taken this many
    /// wall-clock seconds (`None`: no limit). Checked once per round of steps.
    pub max_seconds: Option<f64>,
}

impl Default for Rk45 {
    fn default() -> Self {
        Self {
            rtol: 1e-3,
            atol: 1e-6,
            max_step: f64::INFINITY,
            first_step: None,
            max_steps: None,
            max_seconds: None,
        }
    }
}

/// One initial value problem of a batch.
#[derive(Debug, Clone, Copy)]
pub struct IvpProblem<'a> {
    pub t_span: (f64, f64),
    pub y0: &'a [f64],
    /// Output times, inside `t_span` and ordered in the direction of integration.
    pub t_eval: &'a [f64],
}

/// A scalar function of the state whose zero crossings a solve records (scipy's `events`).
pub struct Event<'a> {
    /// `g(t, y)`; a crossing is a sign change between accepted steps, located on the dense
    /// output. As in scipy, a zero counts: `g(t0, y0) = 0` is a crossing at `t0` (a terminal
    /// event then stops there), and an exact zero at the end of a step is recorded at that
    /// time, once (scipy would record it again at the start of the next step).
    pub g: &'a dyn Fn(f64, &[f64]) -> f64,
    /// Stop the solve at the first crossing.
    pub terminal: bool,
    /// Only crossings from negative to positive (`> 0`), positive to negative (`< 0`), or
    /// both (`0`).
    pub direction: f64,
}

/// Everything a solve produced, finished or not (scipy's `OdeResult`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The requested times reached (all of them unless the solve failed or an event ended it)
    /// and the states there.
    pub solution: Solution,
    /// Why the solve stopped early, if it failed.
    pub error: Option<OdeError>,
    /// Per event: the crossings `(t, y)` in order.
    pub events: Vec<Vec<(f64, Vec<f64>)>>,
    /// The time the solve got to (the end of `t_span`, a terminal event, or where it failed).
    pub t_final: f64,
}

/// Work counters of one solve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolverStats {
    /// Field evaluations for this problem (stage and initial-step evaluations).
    pub n_fev: usize,
    pub n_accepted: usize,
    pub n_rejected: usize,
}

/// States at the requested times.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    pub t: Vec<f64>,
    /// `[t.len(), dim]` row-major.
    pub y: Vec<f64>,
    pub dim: usize,
    pub stats: SolverStats,
}

impl Solution {
    /// The state at output index `i`.
    pub fn state(&self, i: usize) -> &[f64] {
        &self.y[i * self.dim..(i + 1) * self.dim]
    }
}

fn rms(v: impl Iterator<Item = f64>, n: usize) -> f64 {
    (v.map(|x| x * x).sum::<f64>() / n as f64).sqrt()
}

/// Smallest step scipy allows at `t`: ten units in the last place, in the direction of travel.
fn min_step(t: f64, direction: f64) -> f64 {
    let next = if direction > 0.0 {
        next_up(t)
    } else {
        next_down(t)
    };
    10.0 * (next - t).abs()
}

fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let bits = x.to_bits();
    f64::from_bits(if x > 0.0 { bits + 1 } else { bits - 1 })
}

fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

#[derive(Debug)]
enum Status {
    Running,
    Done,
    Failed(OdeError),
}

struct Traj<'a> {
    problem: IvpProblem<'a>,
    direction: f64,
    t: f64,
    y: Vec<f64>,
    /// K[0..7] stacked, `[7, dim]`; K[0] is f(t, y), K[6] is f(t_new, y_new).
    k: Vec<f64>,
    y_new: Vec<f64>,
    h: f64,
    h_abs: f64,
    t_new: f64,
    min_step: f64,
    starting_step: bool,
    rejected: bool,
    next_eval: usize,
    out: Vec<f64>,
    stats: SolverStats,
    status: Status,
    /// Time of the first evaluation of the step being tried where the field returned NaN or
    /// inf at a finite state.
    field_failed_at: Option<f64>,
    /// Set when the last rejected step was not finite (the field failed, or the state or its
    /// error did): where the step size then underflows, the failure is `NonFinite` at this
    /// time, not `StepSizeUnderflow`.
    nonfinite_at: Option<f64>,
    /// Each event's value at the last accepted state.
    event_prev: Vec<f64>,
    /// Per event: whether `event_prev` is an exact zero already recorded as a crossing (at the
    /// end of the previous step), so the next step does not record it again.
    event_zero_recorded: Vec<bool>,
    event_hits: Vec<Vec<(f64, Vec<f64>)>>,
    /// Set when a terminal event ended the solve.
    stopped_at: Option<f64>,
}

impl Rk45 {
    fn validate(&self) -> Result<()> {
        let eps100 = 100.0 * f64::EPSILON;
        if !(self.rtol.is_finite() && self.rtol >= eps100) {
            return Err(OdeError::InvalidOption {
                name: "rtol",
                value: self.rtol,
                reason: "must be finite and at least 100 * machine epsilon (2.2e-14)",
            });
        }
        if !(self.atol.is_finite() && self.atol > 0.0) {
            return Err(OdeError::InvalidOption {
                name: "atol",
                value: self.atol,
                reason: "must be finite and positive",
            });
        }
        if self.max_step.is_nan() || self.max_step <= 0.0 {
            return Err(OdeError::InvalidOption {
                name: "max_step",
                value: self.max_step,
                reason: "must be positive",
            });
        }
        if let Some(h) = self.first_step
            && !(h.is_finite() && h > 0.0)
        {
            return Err(OdeError::InvalidOption {
                name: "first_step",
                value: h,
                reason: "must be finite and positive",
            });
        }
        if let Some(s) = self.max_seconds
            && !(s.is_finite() && s > 0.0)
        {
            return Err(OdeError::InvalidOption {
                name: "max_seconds",
                value: s,
                reason: "must be finite and positive",
            });
        }
        Ok(())
    }

    /// Solves one initial value problem.
    pub fn solve<F: VectorField>(
        &self,
        field: &F,
        t_span: (f64, f64),
        y0: &[f64],
        t_eval: &[f64],
    ) -> Result<Solution> {
        let problem = IvpProblem { t_span, y0, t_eval };
        self.solve_batch(field, &[problem])
            .pop()
            .unwrap_or_else(|| {
                Err(OdeError::InvalidTimes {
                    reason: "no problem".into(),
                })
            })
    }

    /// Solves many problems in lock-step, calling [`VectorField::eval_batch`] once per stage for
    /// all problems still running. One result per problem, in order; a failure of one problem
    /// (step-size underflow, say) does not stop the others.
    pub fn solve_batch<F: VectorField>(
        &self,
        field: &F,
        problems: &[IvpProblem<'_>],
    ) -> Vec<Result<Solution>> {
        self.solve_batch_with_events(field, problems, &[])
            .into_iter()
            .map(|o| match o.error {
                None => Ok(o.solution),
                Some(e) => Err(e),
            })
            .collect()
    }

    /// Solves one problem, recording the zero crossings of `events` (a terminal one ends the
    /// solve there), and returns what was computed even when it fails.
    pub fn solve_with_events<F: VectorField>(
        &self,
        field: &F,
        t_span: (f64, f64),
        y0: &[f64],
        t_eval: &[f64],
        events: &[Event<'_>],
    ) -> Outcome {
        let problem = IvpProblem { t_span, y0, t_eval };
        self.solve_batch_with_events(field, &[problem], events)
            .pop()
            .expect("one outcome per problem")
    }

    /// [`Rk45::solve_batch`] with events, one [`Outcome`] per problem: on failure, the output
    /// times reached so far and the error, as scipy returns them.
    pub fn solve_batch_with_events<F: VectorField>(
        &self,
        field: &F,
        problems: &[IvpProblem<'_>],
        events: &[Event<'_>],
    ) -> Vec<Outcome> {
        let d = field.dim();
        if let Err(e) = self.validate() {
            return problems
                .iter()
                .map(|p| Outcome {
                    solution: Solution {
                        t: Vec::new(),
                        y: Vec::new(),
                        dim: d,
                        stats: SolverStats::default(),
                    },
                    error: Some(e.clone()),
                    events: vec![Vec::new(); events.len()],
                    t_final: p.t_span.0,
                })
                .collect();
        }
        let started_at = std::time::Instant::now();
        let mut trajs: Vec<Traj<'_>> = problems.iter().map(|p| self.init_traj(d, *p)).collect();
        for tr in &mut trajs {
            tr.event_prev = events.iter().map(|e| (e.g)(tr.t, &tr.y)).collect();
            tr.event_zero_recorded = vec![false; events.len()];
            tr.event_hits = vec![Vec::new(); events.len()];
        }

        // f(t0, y0) for every valid problem.
        let started: Vec<usize> = running(&trajs);
        self.eval_into(
            field,
            &mut trajs,
            &started,
            |_, tr, y| {
                y.copy_from_slice(&tr.y);
                tr.t
            },
            0,
        );
        for &i in &started {
            let tr = &mut trajs[i];
            if tr.k[..d].iter().any(|v| !v.is_finite()) {
                tr.status = Status::Failed(OdeError::NonFinite { t: tr.t });
            }
        }

        // Initial step (scipy's select_initial_step), unless given.
        let running_now = running(&trajs);
        if let Some(h0) = self.first_step {
            // one past the end is cut to it by the step itself, as every step is
            for &i in &running_now {
                trajs[i].h_abs = h0;
            }
        } else {
            self.select_initial_steps(field, &mut trajs, &running_now);
        }

        // Main loop: one attempted step for every running problem per round.
        loop {
            let active = running(&trajs);
            if active.is_empty() {
                break;
            }
            if let Some(limit) = self.max_seconds
                && started_at.elapsed().as_secs_f64() > limit
            {
                for &i in &active {
                    let tr = &mut trajs[i];
                    tr.status = Status::Failed(OdeError::TimeBudget {
                        t: tr.t,
                        seconds: limit,
                    });
                }
                break;
            }
            for &i in &active {
                self.begin_attempt(&mut trajs[i]);
            }
            let active = running(&trajs);
            for s in 1..6 {
                self.eval_into(
                    field,
                    &mut trajs,
                    &active,
                    |_, tr, y| {
                        y.copy_from_slice(&tr.y);
                        for (j, &a) in A[s][..s].iter().enumerate() {
                            if a != 0.0 {
                                let kj = &tr.k[j * d..(j + 1) * d];
                                for (yi, &kji) in y.iter_mut().zip(kj) {
                                    *yi += tr.h * a * kji;
                                }
                            }
                        }
                        tr.t + C[s] * tr.h
                    },
                    s,
                );
            }
            for &i in &active {
                let tr = &mut trajs[i];
                tr.y_new.copy_from_slice(&tr.y);
                for (j, &b) in B.iter().enumerate() {
                    if b != 0.0 {
                        let kj = &tr.k[j * d..(j + 1) * d];
                        for (yi, &kji) in tr.y_new.iter_mut().zip(kj) {
                            *yi += tr.h * b * kji;
                        }
                    }
                }
            }
            self.eval_into(
                field,
                &mut trajs,
                &active,
                |_, tr, y| {
                    y.copy_from_slice(&tr.y_new);
                    tr.t + tr.h
                },
                6,
            );
            for &i in &active {
                self.finish_attempt(&mut trajs[i], d, events);
            }
        }

        trajs
            .into_iter()
            .map(|tr| {
                let reached = tr.next_eval;
                let error = match tr.status {
                    Status::Done => None,
                    Status::Failed(e) => Some(e),
                    Status::Running => Some(OdeError::InvalidTimes {
                        reason: "solver stopped while running".into(),
                    }),
                };
                Outcome {
                    solution: Solution {
                        t: tr.problem.t_eval[..reached].to_vec(),
                        y: tr.out,
                        dim: d,
                        stats: tr.stats,
                    },
                    error,
                    events: tr.event_hits,
                    t_final: tr.stopped_at.unwrap_or(tr.t),
                }
            })
            .collect()
    }

    fn init_traj<'a>(&self, d: usize, problem: IvpProblem<'a>) -> Traj<'a> {
        let (t0, t1) = problem.t_span;
        let direction = if t1 >= t0 { 1.0 } else { -1.0 };
        let mut tr = Traj {
            problem,
            direction,
            t: t0,
            y: problem.y0.to_vec(),
            k: vec![0.0; 7 * d],
            y_new: vec![0.0; d],
            h: 0.0,
            h_abs: 0.0,
            t_new: t0,
            min_step: 0.0,
            starting_step: true,
            rejected: false,
            next_eval: 0,
            out: Vec::with_capacity(problem.t_eval.len() * d),
            stats: SolverStats::default(),
            status: Status::Running,
            field_failed_at: None,
            nonfinite_at: None,
            event_prev: Vec::new(),
            event_zero_recorded: Vec::new(),
            event_hits: Vec::new(),
            stopped_at: None,
        };
        if let Err(e) = check_problem(d, &problem, direction) {
            tr.status = Status::Failed(e);
        }
        tr
    }

    /// Evaluates the field for the listed problems into stage `slot`. `make` writes a problem's
    /// state straight into its row of the batch and returns the time.
    fn eval_into<F: VectorField>(
        &self,
        field: &F,
        trajs: &mut [Traj<'_>],
        idx: &[usize],
        make: impl Fn(usize, &Traj<'_>, &mut [f64]) -> f64,
        slot: usize,
    ) {
        if idx.is_empty() {
            return;
        }
        let d = field.dim();
        let mut ys = vec![0.0; idx.len() * d];
        let ts: Vec<f64> = idx
            .iter()
            .zip(ys.chunks_exact_mut(d))
            .map(|(&i, y)| make(i, &trajs[i], y))
            .collect();
        let mut dys = vec![0.0; idx.len() * d];
        field.eval_batch(&ts, &ys, &mut dys);
        // (a field of dimension 0 has empty rows: nothing to check)
        let row = d.max(1);
        for (((&i, y), dy), &t) in idx
            .iter()
            .zip(ys.chunks_exact(row))
            .zip(dys.chunks_exact(row))
            .zip(&ts)
        {
            let tr = &mut trajs[i];
            tr.k[slot * d..(slot + 1) * d].copy_from_slice(dy);
            tr.stats.n_fev += 1;
            // The field itself failed (finite state in, NaN or inf out): no smaller step helps.
            // (A state that overflowed in a too-large step is left to the step control.)
            if tr.field_failed_at.is_none()
                && y.iter().all(|v| v.is_finite())
                && dy.iter().any(|v| !v.is_finite())
            {
                tr.field_failed_at = Some(t);
            }
        }
    }

    fn select_initial_steps<F: VectorField>(
        &self,
        field: &F,
        trajs: &mut [Traj<'_>],
        idx: &[usize],
    ) {
        let d = field.dim();
        let mut h0s = vec![0.0; trajs.len()];
        let mut d1s = vec![0.0; trajs.len()];
        for &i in idx {
            let tr = &trajs[i];
            let interval = (tr.problem.t_span.1 - tr.problem.t_span.0).abs();
            let d0 = rms(
                tr.y.iter().map(|y| y / (self.atol + y.abs() * self.rtol)),
                d,
            );
            let d1 = rms(
                tr.k[..d]
                    .iter()
                    .zip(&tr.y)
                    .map(|(f, y)| f / (self.atol + y.abs() * self.rtol)),
                d,
            );
            let h0 = if d0 < 1e-5 || d1 < 1e-5 {
                1e-6
            } else {
                0.01 * d0 / d1
            };
            h0s[i] = h0.min(interval);
            d1s[i] = d1;
        }
        // f1 = f(t0 + h0, y0 + h0 f0), held in stage slot 1 until the first step overwrites it.
        self.eval_into(
            field,
            trajs,
            idx,
            |i, tr, y1| {
                let h0 = h0s[i] * tr.direction;
                for ((out, y), f) in y1.iter_mut().zip(&tr.y).zip(&tr.k[..d]) {
                    *out = y + h0 * f;
                }
                tr.t + h0
            },
            1,
        );
        for &i in idx {
            let tr = &mut trajs[i];
            let (h0, d1) = (h0s[i], d1s[i]);
            let d2 = rms(
                (0..d).map(|c| (tr.k[d + c] - tr.k[c]) / (self.atol + tr.y[c].abs() * self.rtol)),
                d,
            ) / h0;
            let h1 = if d1 <= 1e-15 && d2 <= 1e-15 {
                (h0 * 1e-3).max(1e-6)
            } else {
                (0.01 / d1.max(d2)).powf(1.0 / (ORDER + 1.0))
            };
            // (scipy also caps it at the span; every step is cut at the end anyway, so that
            // cap changes nothing here)
            tr.h_abs = (100.0 * h0).min(h1).min(self.max_step);
        }
    }

    fn begin_attempt(&self, tr: &mut Traj<'_>) {
        let t_bound = tr.problem.t_span.1;
        if tr.starting_step {
            tr.min_step = min_step(tr.t, tr.direction);
            if tr.h_abs > self.max_step {
                tr.h_abs = self.max_step;
            } else if tr.h_abs < tr.min_step {
                tr.h_abs = tr.min_step;
            }
            tr.starting_step = false;
            tr.rejected = false;
        }
        if tr.h_abs < tr.min_step {
            tr.status = Status::Failed(match tr.nonfinite_at {
                Some(t) => OdeError::NonFinite { t },
                None => OdeError::StepSizeUnderflow {
                    t: tr.t,
                    h: tr.h_abs,
                },
            });
            return;
        }
        let mut t_new = tr.t + tr.h_abs * tr.direction;
        if tr.direction * (t_new - t_bound) > 0.0 {
            t_new = t_bound;
        }
        tr.t_new = t_new;
        tr.h = t_new - tr.t;
        tr.h_abs = tr.h.abs();
    }

    fn finish_attempt(&self, tr: &mut Traj<'_>, d: usize, events: &[Event<'_>]) {
        // A field that fails inside the step (NaN or inf at a finite trial state, as
        // y' = -sqrt(y) past y = 0) rejects the step like any non-finite error estimate: scipy's
        // error norm is NaN there, and its step shrinks by MIN_FACTOR.
        if let Some(t) = tr.field_failed_at.take() {
            tr.h_abs *= MIN_FACTOR;
            tr.rejected = true;
            tr.stats.n_rejected += 1;
            tr.nonfinite_at = Some(t);
            return;
        }
        let h = tr.h;
        let mut sum = 0.0;
        for c in 0..d {
            let mut err = 0.0;
            for (j, &e) in E.iter().enumerate() {
                err += e * tr.k[j * d + c];
            }
            err *= h;
            let scale = self.atol + tr.y[c].abs().max(tr.y_new[c].abs()) * self.rtol;
            sum += (err / scale).powi(2);
        }
        let error_norm = (sum / d as f64).sqrt();
        if error_norm < 1.0 {
            let mut factor = if error_norm == 0.0 {
                MAX_FACTOR
            } else {
                MAX_FACTOR.min(SAFETY * error_norm.powf(ERROR_EXPONENT))
            };
            if tr.rejected {
                factor = factor.min(1.0);
            }
            tr.h_abs *= factor;
            self.accept(tr, d, events);
        } else {
            // NaN from a state that overflowed compares false above and lands here: the step
            // shrinks, as in scipy.
            let f = SAFETY * error_norm.powf(ERROR_EXPONENT);
            tr.h_abs *= if f > MIN_FACTOR { f } else { MIN_FACTOR };
            tr.rejected = true;
            tr.stats.n_rejected += 1;
            tr.nonfinite_at = (!error_norm.is_finite()).then_some(tr.t_new);
        }
    }

    /// The dense-output state at `te` inside the step `(t_old, t_old + h]` just taken.
    fn interpolate(tr: &Traj<'_>, d: usize, t_old: f64, h: f64, te: f64, out: &mut Vec<f64>) {
        let x = (te - t_old) / h;
        let powers = [x, x * x, x * x * x, x * x * x * x];
        for c in 0..d {
            let mut acc = 0.0;
            for (j, pj) in P.iter().enumerate() {
                let kjc = tr.k[j * d + c];
                if kjc != 0.0 {
                    acc += kjc
                        * (pj[0] * powers[0]
                            + pj[1] * powers[1]
                            + pj[2] * powers[2]
                            + pj[3] * powers[3]);
                }
            }
            out.push(tr.y[c] + h * acc);
        }
    }

    /// Records the events crossed in the step `(t_old, t_old + h]` and returns the time of the
    /// first terminal one. Roots are bracketed on the dense output and narrowed by the
    /// Illinois variant of regula falsi to a few ulps of t.
    fn locate_events(
        tr: &mut Traj<'_>,
        d: usize,
        t_old: f64,
        h: f64,
        events: &[Event<'_>],
    ) -> Option<f64> {
        let t_new = t_old + h;
        let mut found: Vec<(usize, f64)> = Vec::new();
        let mut y = Vec::with_capacity(d);
        for (i, ev) in events.iter().enumerate() {
            let (g0, g1) = (tr.event_prev[i], (ev.g)(t_new, &tr.y_new));
            // scipy's find_active_events: a zero at either end of the step counts (so a zero
            // at t0 is a crossing at t0), except one already recorded at the end of the last
            // step, which scipy would record a second time
            let up = g0 <= 0.0 && g1 >= 0.0;
            let down = g0 >= 0.0 && g1 <= 0.0;
            let active = if ev.direction > 0.0 {
                up
            } else if ev.direction < 0.0 {
                down
            } else {
                up || down
            };
            if !active || (g0 == 0.0 && tr.event_zero_recorded[i]) {
                continue;
            }
            // a zero at an end is the root (brentq returns that end)
            if g0 == 0.0 || g1 == 0.0 {
                found.push((i, if g0 == 0.0 { t_old } else { t_new }));
                continue;
            }
            let g = |t: f64, y: &mut Vec<f64>| {
                y.clear();
                Self::interpolate(tr, d, t_old, h, t, y);
                (ev.g)(t, y)
            };
            let (mut a, mut ga, mut b, mut gb) = (t_old, g0, t_new, g1);
            let mut side = 0i8;
            for _ in 0..200 {
                if (b - a).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs()).max(1.0) {
                    break;
                }
                let c = (a * gb - b * ga) / (gb - ga);
                let c = if c.is_finite() && (c - a) * (c - b) < 0.0 {
                    c
                } else {
                    0.5 * (a + b)
                };
                let gc = g(c, &mut y);
                if gc == 0.0 {
                    a = c;
                    b = c;
                    break;
                }
                if (gc < 0.0) == (ga < 0.0) {
                    a = c;
                    ga = gc;
                    if side == -1 {
                        gb *= 0.5;
                    }
                    side = -1;
                } else {
                    b = c;
                    gb = gc;
                    if side == 1 {
                        ga *= 0.5;
                    }
                    side = 1;
                }
            }
            // the end of the bracket on the far side of the crossing
            found.push((i, if ga == 0.0 { a } else { b }));
        }
        // in the order they are met
        found.sort_by(|x, y| x.1.total_cmp(&y.1));
        if tr.direction < 0.0 {
            found.reverse();
        }
        let stop = found
            .iter()
            .find(|(i, _)| events[*i].terminal)
            .map(|&(_, t)| t);
        for (i, t) in found {
            if stop.is_some_and(|s| tr.direction * (t - s) > 0.0) {
                continue;
            }
            let mut y = Vec::with_capacity(d);
            Self::interpolate(tr, d, t_old, h, t, &mut y);
            tr.event_hits[i].push((t, y));
        }
        for (i, ev) in events.iter().enumerate() {
            let g1 = (ev.g)(t_new, &tr.y_new);
            tr.event_zero_recorded[i] =
                g1 == 0.0 && tr.event_hits[i].last().is_some_and(|(t, _)| *t == t_new);
            tr.event_prev[i] = g1;
        }
        stop
    }

    fn accept(&self, tr: &mut Traj<'_>, d: usize, events: &[Event<'_>]) {
        tr.nonfinite_at = None;
        let t_old = tr.t;
        let h = tr.t_new - t_old;
        tr.stats.n_accepted += 1;
        let stop = if events.is_empty() {
            None
        } else {
            Self::locate_events(tr, d, t_old, h, events)
        };
        // Dense output over (t_old, t_new] (up to a terminal event) for the requested times.
        let t_new = stop.unwrap_or(tr.t_new);
        while tr.next_eval < tr.problem.t_eval.len() {
            let te = tr.problem.t_eval[tr.next_eval];
            if tr.direction * (te - t_new) > 0.0 {
                break;
            }
            let mut out = std::mem::take(&mut tr.out);
            Self::interpolate(tr, d, t_old, h, te, &mut out);
            tr.out = out;
            tr.next_eval += 1;
        }
        if let Some(t) = stop {
            tr.stopped_at = Some(t);
            tr.t = tr.t_new;
            std::mem::swap(&mut tr.y, &mut tr.y_new);
            tr.status = Status::Done;
            return;
        }
        let t_new = tr.t_new;
        tr.t = t_new;
        std::mem::swap(&mut tr.y, &mut tr.y_new);
        tr.k.copy_within(6 * d..7 * d, 0);
        tr.starting_step = true;
        if tr.y.iter().chain(&tr.k[..d]).any(|v| !v.is_finite()) {
            tr.status = Status::Failed(OdeError::NonFinite { t: tr.t });
        } else if tr.direction * (tr.t - tr.problem.t_span.1) >= 0.0 {
            tr.status = Status::Done;
        } else if let Some(max) = self.max_steps
            && tr.stats.n_accepted >= max
        {
            tr.status = Status::Failed(OdeError::TooManySteps {
                t: tr.t,
                max_steps: max,
            });
        }
    }
}

fn running(trajs: &[Traj<'_>]) -> Vec<usize> {
    trajs
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.status, Status::Running))
        .map(|(i, _)| i)
        .collect()
}

fn check_problem(d: usize, p: &IvpProblem<'_>, direction: f64) -> Result<()> {
    if p.y0.len() != d {
        return Err(OdeError::DimensionMismatch {
            expected: d,
            got: p.y0.len(),
        });
    }
    let (t0, t1) = p.t_span;
    if !(t0.is_finite() && t1.is_finite()) || t0 == t1 {
        return Err(OdeError::InvalidTimes {
            reason: format!("t_span ({t0}, {t1}) must be finite and of non-zero length"),
        });
    }
    if p.y0.iter().any(|v| !v.is_finite()) {
        return Err(OdeError::NonFinite { t: t0 });
    }
    let (lo, hi) = (t0.min(t1), t0.max(t1));
    for (i, &te) in p.t_eval.iter().enumerate() {
        if !(lo..=hi).contains(&te) {
            return Err(OdeError::InvalidTimes {
                reason: format!("t_eval[{i}] = {te} is outside t_span ({t0}, {t1})"),
            });
        }
        if i > 0 && direction * (te - p.t_eval[i - 1]) <= 0.0 {
            return Err(OdeError::InvalidTimes {
                reason: format!(
                    "t_eval is not strictly ordered in the direction of integration at index {i}"
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scipy's `10 * |nextafter(t, direction * inf) - t|`: the gap below a power of two is half
    /// the gap above it, so the direction matters there.
    #[test]
    fn min_step_is_ten_ulps_in_the_direction_of_travel() {
        let eps = f64::EPSILON;
        assert_eq!(min_step(1.0, 1.0), 10.0 * eps);
        assert_eq!(min_step(1.0, -1.0), 5.0 * eps);
        assert_eq!(min_step(-1.0, 1.0), 5.0 * eps);
        assert_eq!(min_step(3.0, -1.0), 20.0 * eps);
        assert_eq!(min_step(0.0, 1.0), 10.0 * f64::from_bits(1));
        assert_eq!(next_up(f64::INFINITY), f64::INFINITY);
        assert!(next_up(f64::NAN).is_nan());
        assert_eq!(next_down(1.0), 1.0 - eps / 2.0);
    }
}
