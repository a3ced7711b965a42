//! Systems written as text: a Hamiltonian `H(q, p)` and an optional dissipation `D(q, p)`,
//! with named constants, differentiated exactly.
//!
//! The field is the D-HNN's `dx/dt = J ∇H + ∇D`: `dq/dt = ∂H/∂p + ∂D/∂q`, `dp/dt = -∂H/∂q +
//! ∂D/∂p` (friction `-γ p` on the momentum is `D = -γ p^2 / 2`). Coordinates are `q, p` (one
//! degree of freedom) or `q1..qn, p1..pn`; every other name is a constant or one of the
//! functions and constants of `exmex` (`sin`, `exp`, `sqrt`, `PI`, `E`, ...).
//!
//! Parsing and the derivatives are `exmex`'s: it parses to a flat expression and
//! differentiates it symbolically (`partial`), so gradients are exact expressions, evaluated
//! like `H` itself, with no step size. A first pass of ours ([`lex`]) gives every syntax error
//! its column and refuses the two forms whose meaning in `exmex` is not the usual one.

pub mod lex;

use std::collections::BTreeMap;

use exmex::prelude::*;
use exmex::{Differentiate, FloatOpsFactory, MakeOperators};
use rand::{Rng, RngCore};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::rng::{Direction, Purpose, sample_on_annulus, stream};
use crate::{PhysicsError, Result, System};

/// Stack of the thread that parses and differentiates (address space, touched only as needed).
const DERIVATIVE_STACK_BYTES: usize = 256 << 20;

/// Most names (coordinates and constants) one expression may use.
const MAX_NAMES: usize = 64;

/// How initial states are drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Initial {
    /// A direction drawn as `direction` says (in the `2n`-cube or uniformly on the sphere),
    /// scaled to a radius uniform in `[min, max]`: with one degree of freedom, exactly the
    /// draws of the built-in spring and pendulum.
    Radius {
        radius: [f64; 2],
        direction: Direction,
    },
    /// A direction as above, then the first point along it from the origin where `H` equals
    /// an energy uniform in `[min, max]` (a direction along which `H` never reaches it is drawn
    /// again).
    Energy {
        energy: [f64; 2],
        direction: Direction,
    },
    /// Each coordinate uniform in its own `[min, max]`, by coordinate name (every coordinate
    /// once).
    Ranges(BTreeMap<String, [f64; 2]>),
}

/// An expression over the state and named constants, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Formula {
    flat: FlatEx<f64>,
    /// Per variable of `flat` (in its order): a coordinate's index, or a constant's value.
    slots: Vec<Slot>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Coordinate(usize),
    Constant(f64),
}

/// The coordinate names of `n` degrees of freedom, in state order.
pub fn coordinate_names(n: usize) -> Vec<String> {
    if n == 1 {
        return vec!["q".into(), "p".into()];
    }
    let q = (1..=n).map(|i| format!("q{i}"));
    let p = (1..=n).map(|i| format!("p{i}"));
    q.chain(p).collect()
}

/// Which coordinate a name is: `Some((is_p, index))` for `q`/`p` (index 0) and `q1`.. (1-based).
fn coordinate(name: &str) -> Option<(bool, usize)> {
    let (is_p, rest) = match name.split_at_checked(1)? {
        ("q", rest) => (false, rest),
        ("p", rest) => (true, rest),
        _ => return None,
    };
    if rest.is_empty() {
        return Some((is_p, 0));
    }
    if rest.starts_with('0') || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok().map(|i| (is_p, i))
}

fn expression_error(key: &str, text: &str, reason: String) -> PhysicsError {
    PhysicsError::Expression {
        key: key.to_string(),
        reason: format!("{text:?}: {reason}"),
    }
}

/// What `exmex` knows by name: its functions and its constants.
fn builtins() -> (Vec<String>, Vec<String>) {
    let ops = FloatOpsFactory::<f64>::make();
    let functions = ops
        .iter()
        .filter(|o| o.has_unary() && o.repr().chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|o| o.repr().to_string())
        .collect();
    let constants = ops
        .iter()
        .filter(|o| o.constant().is_some())
        .map(|o| o.repr().to_string())
        .collect();
    (functions, constants)
}

/// An expression read and checked: its tokens, and the names of coordinates it uses.
struct Read {
    text: String,
    coordinates: Vec<String>,
}

/// Tokenizes and checks `text` (the value of `key`), every name known.
fn read(key: &str, text: &str, constants: &BTreeMap<String, f64>) -> Result<Read> {
    let (functions, builtin_constants) = builtins();
    let is_function = |n: &str| functions.iter().any(|f| f == n);
    let at = |e: lex::SyntaxError| {
        expression_error(key, text, format!("column {}: {}", e.column, e.reason))
    };
    let tokens = lex::tokens(text).map_err(at)?;
    lex::check(text, &tokens, &is_function).map_err(at)?;
    let mut coordinates = Vec::new();
    for t in &tokens {
        let lex::TokenKind::Ident(name) = &t.kind else {
            continue;
        };
        if coordinate(name).is_some() {
            if !coordinates.contains(name) {
                coordinates.push(name.clone());
            }
        } else if !(is_function(name)
            || builtin_constants.contains(name)
            || constants.contains_key(name))
        {
            return Err(at(lex::SyntaxError {
                column: t.column,
                reason: format!(
                    "unknown name `{name}`: not a coordinate (q, p or q1..qn, p1..pn), a constant of this section ({}) or a function",
                    if constants.is_empty() {
                        "none".to_string()
                    } else {
                        constants.keys().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
            }));
        }
    }
    Ok(Read {
        text: lex::normalized(&tokens),
        coordinates,
    })
}

/// The degrees of freedom the coordinate names imply: `q, p` or `q1..qn, p1..pn`, every `q_i`
/// with its `p_i`.
fn degrees_of_freedom(key: &str, names: &[String]) -> Result<usize> {
    let bad = |reason: String| PhysicsError::Expression {
        key: key.to_string(),
        reason,
    };
    let parsed: Vec<(bool, usize)> = names.iter().filter_map(|n| coordinate(n)).collect();
    let plain = parsed.iter().any(|(_, i)| *i == 0);
    let numbered = parsed.iter().any(|(_, i)| *i > 0);
    if plain && numbered {
        return Err(bad(
            "mixes q/p with numbered coordinates (q1, p1, ...): use q and p for one degree of freedom, q1..qn and p1..pn for n".into(),
        ));
    }
    let n = parsed.iter().map(|(_, i)| *i).max().unwrap_or(0).max(1);
    if n > MAX_NAMES / 2 {
        return Err(bad(format!(
            "{n} degrees of freedom: at most {} are supported",
            MAX_NAMES / 2
        )));
    }
    for name in coordinate_names(n) {
        if !names.contains(&name) {
            let pair = if name.starts_with('q') {
                name.replacen('q', "p", 1)
            } else {
                name.replacen('p', "q", 1)
            };
            return Err(bad(format!(
                "the coordinates do not pair up: `{name}` does not appear (its partner `{pair}` {}); every q_i needs its p_i (add `+ 0*{name}` if H truly does not depend on it)",
                if names.contains(&pair) {
                    "does"
                } else {
                    "does not either"
                }
            )));
        }
    }
    Ok(n)
}

/// Constants that can be told from coordinates and built-ins, with finite values.
fn check_constant_values(constants: &BTreeMap<String, f64>) -> Result<()> {
    let (functions, builtin_constants) = builtins();
    for (name, value) in constants {
        let bad = |reason: String| PhysicsError::Expression {
            key: format!("constants.{name}"),
            reason,
        };
        if coordinate(name).is_some() {
            return Err(bad(format!("`{name}` is a coordinate's name")));
        }
        if builtin_constants.contains(name) || functions.contains(name) {
            return Err(bad(format!(
                "`{name}` is a built-in constant or function of the expressions (PI, E, e, TAU, sin, ...)"
            )));
        }
        if !value.is_finite() {
            return Err(bad(format!("{value} is not finite")));
        }
    }
    Ok(())
}

/// Every constant appears in one of `reads` (a constant nobody uses is a typo).
fn check_constants_used(
    constants: &BTreeMap<String, f64>,
    reads: &[&Read],
    what: &str,
) -> Result<()> {
    for name in constants.keys() {
        let used = |r: &&Read| r.text.split(' ').any(|w| w == name);
        if !reads.iter().any(used) {
            return Err(PhysicsError::Expression {
                key: format!("constants.{name}"),
                reason: format!("is not used by {what}"),
            });
        }
    }
    Ok(())
}

impl Formula {
    /// A function of the state of `dof` degrees of freedom written as text (the energy of a
    /// trajectory file, say): `key` names it in errors; it may use any of the coordinates.
    pub fn over_state(
        key: &str,
        text: &str,
        dof: usize,
        constants: &BTreeMap<String, f64>,
    ) -> Result<Self> {
        check_constant_values(constants)?;
        let r = read(key, text, constants)?;
        let names = coordinate_names(dof);
        if let Some(extra) = r.coordinates.iter().find(|c| !names.contains(c)) {
            return Err(PhysicsError::Expression {
                key: key.to_string(),
                reason: format!(
                    "uses `{extra}`, which is not a coordinate of this state ({})",
                    names.join(", ")
                ),
            });
        }
        check_constants_used(constants, &[&r], &format!("`{key}`"))?;
        Self::parse(key, &r, dof, constants)
    }

    /// Parses `read` (checked already) over the coordinates of `n` degrees of freedom.
    fn parse(key: &str, read: &Read, n: usize, constants: &BTreeMap<String, f64>) -> Result<Self> {
        let flat = exmex::parse::<f64>(&read.text)
            .map_err(|e| expression_error(key, &read.text, e.to_string()))?;
        if flat.var_names().len() > MAX_NAMES {
            return Err(expression_error(
                key,
                &read.text,
                format!("uses more than {MAX_NAMES} names"),
            ));
        }
        let names = coordinate_names(n);
        let slots = flat
            .var_names()
            .iter()
            .map(|v| match names.iter().position(|c| c == v) {
                Some(i) => Slot::Coordinate(i),
                None => Slot::Constant(constants[v]),
            })
            .collect();
        Ok(Self { flat, slots })
    }

    /// The value at state `x`.
    pub fn eval(&self, x: &[f64]) -> f64 {
        let mut values = [0.0; MAX_NAMES];
        let values = &mut values[..self.slots.len()];
        for (v, s) in values.iter_mut().zip(&self.slots) {
            *v = match *s {
                Slot::Coordinate(i) => x[i],
                Slot::Constant(c) => c,
            };
        }
        self.flat.eval(values).unwrap_or(f64::NAN)
    }

    /// `∂/∂x_i` for each of the `dim` coordinates (`None` where the expression does not use it).
    fn gradient(&self, key: &str, dim: usize) -> Result<Vec<Option<Formula>>> {
        (0..dim)
            .map(|i| {
                let Some(var) = self.slots.iter().position(|s| *s == Slot::Coordinate(i)) else {
                    return Ok(None);
                };
                let flat = self.flat.clone().partial(var).map_err(|e| {
                    expression_error(
                        key,
                        &self.flat.to_string(),
                        format!("cannot be differentiated: {e}"),
                    )
                })?;
                Ok(Some(Formula {
                    flat,
                    slots: self.slots.clone(),
                }))
            })
            .collect()
    }
}

/// What an expression system is made of, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpressionSpec {
    /// Its name in logs, file names and reports.
    pub name: String,
    pub hamiltonian: String,
    pub dissipation: Option<String>,
    pub constants: BTreeMap<String, f64>,
    pub initial: Initial,
}

/// A system written as expressions, with exact gradients.
#[derive(Debug, Clone)]
pub struct ExpressionSystem {
    name: String,
    dof: usize,
    h: Formula,
    grad_h: Vec<Option<Formula>>,
    /// The dissipation's gradient (absent: a conservative system).
    grad_d: Option<Vec<Option<Formula>>>,
    initial: Initial,
    /// The declared kinematics `dq/dt = V p`, checked ([`ExpressionSystem::with_velocity`]).
    velocity: Option<Vec<f64>>,
}

impl ExpressionSystem {
    /// Reads, checks and differentiates the expressions; then draws 100 initial states (a
    /// fixed stream) and checks that `H` and the field are finite at each. Errors name the
    /// key (`hamiltonian`, `dissipation`, `constants.<name>`, `radius`, ...).
    pub fn new(spec: &ExpressionSpec) -> Result<Self> {
        // exmex differentiates recursively, with frames large enough in a debug build to
        // overflow a 2 MB thread stack on a few-term H: this runs on a thread of its own
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .stack_size(DERIVATIVE_STACK_BYTES)
                .spawn_scoped(scope, || Self::build(spec))
                .expect("a thread to differentiate on")
                .join()
                .expect("differentiation does not panic")
        })
    }

    fn build(spec: &ExpressionSpec) -> Result<Self> {
        check_constant_values(&spec.constants)?;
        let h_read = read("hamiltonian", &spec.hamiltonian, &spec.constants)?;
        let d_read = match &spec.dissipation {
            Some(d) => Some(read("dissipation", d, &spec.constants)?),
            None => None,
        };
        let dof = degrees_of_freedom("hamiltonian", &h_read.coordinates)?;
        let names = coordinate_names(dof);
        if let Some(d) = &d_read
            && let Some(extra) = d.coordinates.iter().find(|c| !names.contains(c))
        {
            return Err(PhysicsError::Expression {
                key: "dissipation".into(),
                reason: format!(
                    "uses `{extra}`, which is not a coordinate of the Hamiltonian ({})",
                    names.join(", ")
                ),
            });
        }
        let mut reads = vec![&h_read];
        reads.extend(d_read.as_ref());
        check_constants_used(
            &spec.constants,
            &reads,
            "the hamiltonian or the dissipation",
        )?;
        let h = Formula::parse("hamiltonian", &h_read, dof, &spec.constants)?;
        let grad_h = h.gradient("hamiltonian", 2 * dof)?;
        let grad_d = match &d_read {
            Some(r) => {
                let d = Formula::parse("dissipation", r, dof, &spec.constants)?;
                Some(d.gradient("dissipation", 2 * dof)?)
            }
            None => None,
        };
        let system = Self {
            name: spec.name.clone(),
            dof,
            h,
            grad_h,
            grad_d,
            initial: spec.initial.clone(),
            velocity: None,
        };
        system.check_initial()?;
        system.check_sampled_states()?;
        Ok(system)
    }

    /// Degrees of freedom.
    pub fn dof(&self) -> usize {
        self.dof
    }

    /// This system with the kinematics `dq/dt = V p` declared (`V`: `n x n`, row-major), after
    /// checking that the field's `dq/dt` is `V p` at 100 states drawn from its distribution.
    pub fn with_velocity(mut self, v: Vec<f64>) -> Result<Self> {
        let n = self.dof;
        let bad = |reason: String| PhysicsError::Expression {
            key: "velocity".into(),
            reason,
        };
        if v.len() != n * n || !v.iter().all(|x| x.is_finite()) {
            return Err(bad(format!(
                "expected {n} rows of {n} finite numbers (dq/dt = V p), got {} numbers",
                v.len()
            )));
        }
        let mut rng = stream(0, Purpose::Evaluation, u64::MAX - 2);
        let mut dx = vec![0.0; 2 * n];
        for _ in 0..100 {
            let x = self.sample(&mut rng);
            System::time_derivative(&self, &x, &mut dx);
            for i in 0..n {
                let vp: f64 = (0..n).map(|j| v[i * n + j] * x[n + j]).sum();
                if (dx[i] - vp).abs() > 1e-9 * (1.0 + dx[i].abs()) {
                    return Err(bad(format!(
                        "at the state {x:?} the field's dq/dt is {:?}, and V p gives {vp} for coordinate {}: V is not this system's kinematics",
                        &dx[..n],
                        i + 1
                    )));
                }
            }
        }
        self.velocity = Some(v);
        Ok(self)
    }

    /// `∇H` at `x`, into `grad`.
    pub fn grad_h(&self, x: &[f64], grad: &mut [f64]) {
        for (g, f) in grad.iter_mut().zip(&self.grad_h) {
            *g = f.as_ref().map_or(0.0, |f| f.eval(x));
        }
    }

    fn check_initial(&self) -> Result<()> {
        let dim = 2 * self.dof;
        let bad = |key: &str, value: String, reason: &str| PhysicsError::Expression {
            key: key.to_string(),
            reason: format!("{value}: {reason}"),
        };
        match &self.initial {
            Initial::Radius { radius, .. } => crate::rng::check_radius("radius", *radius),
            Initial::Energy {
                energy: [lo, hi], ..
            } => {
                let h0 = self.h.eval(&vec![0.0; dim]);
                if !(lo.is_finite() && hi.is_finite() && lo <= hi && *lo > h0) {
                    return Err(bad(
                        "energy",
                        format!("[{lo}, {hi}]"),
                        &format!(
                            "expected [min, max] with H(0) = {h0} < min <= max (states are found along rays from the origin)"
                        ),
                    ));
                }
                Ok(())
            }
            Initial::Ranges(ranges) => {
                let names = coordinate_names(self.dof);
                if let Some(extra) = ranges.keys().find(|k| !names.contains(k)) {
                    return Err(bad(
                        &format!("ranges.{extra}"),
                        format!("`{extra}`"),
                        &format!("is not a coordinate ({})", names.join(", ")),
                    ));
                }
                for name in &names {
                    let Some([lo, hi]) = ranges.get(name) else {
                        return Err(bad(
                            "ranges",
                            format!("no range for `{name}`"),
                            &format!("give one per coordinate ({dim}: {})", names.join(", ")),
                        ));
                    };
                    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                        return Err(bad(
                            &format!("ranges.{name}"),
                            format!("[{lo}, {hi}]"),
                            "expected [min, max] with min <= max, finite",
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// `H` and the field are finite at 100 states drawn from the initial distribution.
    fn check_sampled_states(&self) -> Result<()> {
        let mut rng = stream(0, Purpose::Evaluation, u64::MAX - 1);
        let mut dx = vec![0.0; 2 * self.dof];
        for _ in 0..100 {
            let x = self.sample(&mut rng);
            let which = if !x.iter().all(|v| v.is_finite()) {
                Some("initial-state draw (no state along a drawn direction has the energy)")
            } else if !self.h.eval(&x).is_finite() {
                Some("hamiltonian")
            } else {
                System::time_derivative(self, &x, &mut dx);
                (!dx.iter().all(|v| v.is_finite())).then_some("gradient")
            };
            if let Some(what) = which {
                return Err(PhysicsError::Expression {
                    key: if what == "gradient" || what == "hamiltonian" {
                        "hamiltonian".into()
                    } else {
                        "energy".into()
                    },
                    reason: format!(
                        "the {what} is not finite at the sampled state {} = {x:?}",
                        coordinate_names(self.dof).join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// A unit direction in the `2n`-dimensional state space.
    fn direction(&self, rng: &mut dyn RngCore, direction: Direction) -> Vec<f64> {
        let dim = 2 * self.dof;
        loop {
            let v: Vec<f64> = match direction {
                Direction::Square => (0..dim).map(|_| 2.0 * rng.random::<f64>() - 1.0).collect(),
                Direction::Uniform => (0..dim).map(|_| rng.sample(StandardNormal)).collect(),
            };
            let norm = v.iter().map(|c| c * c).sum::<f64>().sqrt();
            if norm > 0.0 {
                return v.into_iter().map(|c| c / norm).collect();
            }
        }
    }

    fn sample(&self, rng: &mut dyn RngCore) -> Vec<f64> {
        match &self.initial {
            Initial::Radius { radius, direction } if self.dof == 1 => {
                sample_on_annulus(rng, *direction, *radius)
            }
            Initial::Radius { radius, direction } => {
                let d = self.direction(rng, *direction);
                let r = radius[0] + (radius[1] - radius[0]) * rng.random::<f64>();
                d.into_iter().map(|c| c * r).collect()
            }
            Initial::Energy { energy, direction } => {
                for _ in 0..1000 {
                    let d = self.direction(rng, *direction);
                    let e = energy[0] + (energy[1] - energy[0]) * rng.random::<f64>();
                    if let Some(s) = self.first_crossing(&d, e) {
                        return d.into_iter().map(|c| c * s).collect();
                    }
                }
                vec![f64::NAN; 2 * self.dof]
            }
            Initial::Ranges(ranges) => coordinate_names(self.dof)
                .iter()
                .map(|name| {
                    let [lo, hi] = ranges[name];
                    lo + (hi - lo) * rng.random::<f64>()
                })
                .collect(),
        }
    }

    /// The smallest `s > 0` with `H(s d) = e`, if `H` reaches `e` along `d` before `s = 1e4`:
    /// marched in steps of 2% from `s = 1e-6`, then bisected to the last bit.
    fn first_crossing(&self, d: &[f64], e: f64) -> Option<f64> {
        let at = |s: f64| {
            let x: Vec<f64> = d.iter().map(|c| c * s).collect();
            self.h.eval(&x)
        };
        let (mut lo, mut hi) = (0.0, 1e-6);
        while at(hi) < e {
            if !at(hi).is_finite() || hi > 1e4 {
                return None;
            }
            lo = hi;
            hi *= 1.02;
        }
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi {
                break;
            }
            if at(mid) < e {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(hi)
    }
}

impl System for ExpressionSystem {
    fn name(&self) -> &str {
        &self.name
    }
    fn dim(&self) -> usize {
        2 * self.dof
    }
    fn energy(&self, x: &[f64]) -> f64 {
        self.h.eval(x)
    }
    fn time_derivative(&self, x: &[f64], dxdt: &mut [f64]) {
        let n = self.dof;
        let mut grad = [0.0; MAX_NAMES];
        let grad = &mut grad[..2 * n];
        self.grad_h(x, grad);
        for i in 0..n {
            dxdt[i] = grad[n + i];
            dxdt[n + i] = -grad[i];
        }
        if let Some(grad_d) = &self.grad_d {
            for (dx, f) in dxdt.iter_mut().zip(grad_d) {
                if let Some(f) = f {
                    *dx += f.eval(x);
                }
            }
        }
    }
    fn sample_initial_state(&self, rng: &mut dyn RngCore) -> Vec<f64> {
        self.sample(rng)
    }
    fn validate(&self) -> Result<()> {
        Ok(())
    }
    fn conservative(&self) -> bool {
        self.grad_d.is_none()
    }
    fn velocity_map(&self) -> Option<Vec<f64>> {
        self.velocity.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{DataSpec, generate};
    use crate::{MassSpring, Pendulum, QDampedSpring};

    fn spec(h: &str, constants: &[(&str, f64)], initial: Initial) -> ExpressionSpec {
        ExpressionSpec {
            name: "expression".into(),
            hamiltonian: h.into(),
            dissipation: None,
            constants: constants.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            initial,
        }
    }

    fn radius(radius: [f64; 2], direction: Direction) -> Initial {
        Initial::Radius { radius, direction }
    }

    fn refused(s: &ExpressionSpec) -> (String, String) {
        match ExpressionSystem::new(s) {
            Err(PhysicsError::Expression { key, reason }) => (key, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// The largest difference between two datasets' states and targets.
    fn max_difference(a: &dyn System, b: &dyn System, data: &DataSpec) -> f64 {
        let (da, db) = (generate(a, data, 7).unwrap(), generate(b, data, 7).unwrap());
        let pairs = [(da.train_samples(), db.train_samples())];
        let mut worst: f64 = 0.0;
        for ((xa, dxa), (xb, dxb)) in pairs {
            for (u, v) in xa.iter().chain(&dxa).zip(xb.iter().chain(&dxb)) {
                worst = worst.max((u - v).abs());
            }
        }
        worst
    }

    /// The spring, the pendulum and the q-damped spring written as expressions reproduce the
    /// built-in systems' datasets (same draws, same integration) to 1e-12.
    #[test]
    fn written_systems_reproduce_the_built_in_datasets() {
        let data = DataSpec {
            trajectories: 6,
            points: 30,
            noise_std: 0.1,
            ..DataSpec::default()
        };
        let spring = ExpressionSystem::new(&spec(
            "k*q^2/2 + p^2/(2*m)",
            &[("k", 2.0), ("m", 0.5)],
            radius([0.1, 1.0], Direction::Square),
        ))
        .unwrap();
        let d = max_difference(&spring, &MassSpring::default(), &data);
        assert!(d < 1e-12, "spring: {d}");
        let pendulum = ExpressionSystem::new(&spec(
            "2*m*g*l*(1 - cos(q)) + l^2*p^2/(2*m)",
            &[("g", 3.0), ("m", 0.5), ("l", 1.0)],
            radius([1.3, 2.3], Direction::Square),
        ))
        .unwrap();
        let d = max_difference(&pendulum, &Pendulum::default(), &data);
        assert!(d < 1e-12, "pendulum: {d}");
        let mut damped = spec(
            "q^2 + p^2",
            &[("gamma", 1.0)],
            radius([0.2, 1.2], Direction::Uniform),
        );
        damped.dissipation = Some("-gamma*q^2".into());
        let damped = ExpressionSystem::new(&damped).unwrap();
        assert!(!damped.conservative() && spring.conservative());
        let d = max_difference(&damped, &QDampedSpring::default(), &data);
        assert!(d < 1e-12, "q-damped spring: {d}");
    }

    /// The double pendulum's gradient against central differences of its H, at random states.
    #[test]
    fn gradients_are_the_derivatives_of_h() {
        let h = "(m2*l2^2*p1^2 + (m1+m2)*l1^2*p2^2 - 2*m2*l1*l2*p1*p2*cos(q1-q2)) / (2*m2*l1^2*l2^2*(m1 + m2*sin(q1-q2)^2)) - (m1+m2)*g*l1*cos(q1) - m2*g*l2*cos(q2)";
        let constants = [
            ("m1", 1.0),
            ("m2", 0.7),
            ("l1", 1.0),
            ("l2", 1.3),
            ("g", 9.81),
        ];
        let s = ExpressionSystem::new(&spec(
            h,
            &constants,
            Initial::Ranges(
                coordinate_names(2)
                    .into_iter()
                    .map(|c| (c, [-1.0, 1.0]))
                    .collect(),
            ),
        ))
        .unwrap();
        assert_eq!((s.dof(), System::dim(&s)), (2, 4));
        let mut rng = stream(1, Purpose::Dataset, 0);
        for _ in 0..20 {
            let x = s.sample_initial_state(&mut rng);
            let mut grad = [0.0; 4];
            s.grad_h(&x, &mut grad);
            for i in 0..4 {
                let step = 1e-6;
                let mut up = x.clone();
                let mut down = x.clone();
                up[i] += step;
                down[i] -= step;
                let fd = (s.energy(&up) - s.energy(&down)) / (2.0 * step);
                assert!(
                    (grad[i] - fd).abs() < 1e-7 * (1.0 + fd.abs()),
                    "{i}: {grad:?} vs {fd}"
                );
            }
        }
    }

    /// Energy draws lie on the asked level set: Hénon-Heiles below its escape energy.
    #[test]
    fn energy_draws_have_the_energy_drawn() {
        let h = "(p1^2 + p2^2)/2 + (q1^2 + q2^2)/2 + q1^2*q2 - q2^3/3";
        let s = ExpressionSystem::new(&spec(
            h,
            &[],
            Initial::Energy {
                energy: [0.05, 0.15],
                direction: Direction::Uniform,
            },
        ))
        .unwrap();
        let mut rng = stream(3, Purpose::Dataset, 0);
        for _ in 0..200 {
            let x = s.sample_initial_state(&mut rng);
            let e = s.energy(&x);
            assert!((0.05 - 1e-12..=0.15 + 1e-12).contains(&e), "{e} at {x:?}");
        }
        // below H(0) = 0 there is nothing to find
        let (key, reason) = refused(&spec(
            h,
            &[],
            Initial::Energy {
                energy: [-1.0, 0.1],
                direction: Direction::Uniform,
            },
        ));
        assert_eq!(key, "energy");
        assert!(reason.contains("H(0) = 0"), "{reason}");
    }

    /// A declared velocity map is checked against the field: the spring's `1/m` passes, a
    /// wrong one is refused naming a state; the double pendulum (velocity depends on q) has
    /// none that passes.
    #[test]
    fn a_declared_velocity_map_must_be_the_kinematics() {
        let spring = || {
            ExpressionSystem::new(&spec(
                "k*q^2/2 + p^2/(2*m)",
                &[("k", 2.0), ("m", 0.5)],
                radius([0.1, 1.0], Direction::Square),
            ))
            .unwrap()
        };
        let ok = spring().with_velocity(vec![2.0]).unwrap();
        assert_eq!(ok.velocity_map(), Some(vec![2.0]));
        let e = spring().with_velocity(vec![1.0]).unwrap_err().to_string();
        assert!(
            e.contains("`velocity`") && e.contains("not this system's kinematics"),
            "{e}"
        );
        let e = spring()
            .with_velocity(vec![1.0, 0.0])
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 rows of 1"), "{e}");
    }

    #[test]
    fn bad_systems_are_refused_naming_the_key() {
        let r = || radius([0.1, 1.0], Direction::Square);
        for (h, constants, key, words) in [
            ("q^2 + (p", vec![], "hamiltonian", "column 7"),
            ("q^2 + p^2 + w*q", vec![], "hamiltonian", "unknown name `w`"),
            (
                "q1^2 + p1^2 + q2^2",
                vec![],
                "hamiltonian",
                "`p2` does not appear",
            ),
            ("q^2 + p1^2", vec![], "hamiltonian", "mixes"),
            ("q^2 + p^2", vec![("k", 1.0)], "constants.k", "not used"),
            (
                "q^2 + p^2 + q*p",
                vec![("p", 1.0)],
                "constants.p",
                "coordinate",
            ),
            ("q^2 + e*p^2", vec![("e", 1.0)], "constants.e", "built-in"),
            (
                "log(q) + p^2",
                vec![],
                "hamiltonian",
                "not finite at the sampled state q, p",
            ),
            ("floor(q) + p^2", vec![], "hamiltonian", "differentiated"),
        ] {
            let (k, reason) = refused(&spec(h, &constants, r()));
            assert_eq!(k, key, "{h}: {reason}");
            assert!(reason.contains(words), "{h}: {reason}");
        }
        let mut d = spec("q^2 + p^2", &[], r());
        d.dissipation = Some("-q2^2".into());
        assert_eq!(refused(&d).0, "dissipation");
        let ranges = |r: &[(&str, [f64; 2])]| {
            Initial::Ranges(r.iter().map(|(k, v)| (k.to_string(), *v)).collect())
        };
        let (k, _) = refused(&spec("q^2 + p^2", &[], ranges(&[("q", [0.0, 1.0])])));
        assert_eq!(k, "ranges");
        let two = [("q", [0.0, 1.0]), ("p", [1.0, 0.0])];
        assert_eq!(refused(&spec("q^2 + p^2", &[], ranges(&two))).0, "ranges.p");
        let three = [("q", [0.0, 1.0]), ("p", [0.0, 1.0]), ("q2", [0.0, 1.0])];
        assert_eq!(
            refused(&spec("q^2 + p^2", &[], ranges(&three))).0,
            "ranges.q2"
        );
    }
}
