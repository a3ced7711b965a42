//! Datasets of `(x, dx/dt)` pairs sampled along trajectories of a [`System`].
//!
//! As in the official code: each trajectory starts from [`System::sample_initial_state`],
//! is integrated with RK45 (scipy's algorithm) and sampled at `points` evenly spaced times on
//! `t_span`; Gaussian noise of standard deviation `noise_std` is added to every input
//! coordinate, while the targets are the exact, noise-free time derivatives at the true states.
//! Train and test sets are split by whole trajectories. The `grid` layout (the D-HNN authors'
//! damped spring) instead samples the field on a regular grid of the `(q, p)` plane.

use std::path::Path;

use hnn_ode::Rk45;
use ndarray::{Array1, Array2, Array3, Axis};
use ndarray_npy::WriteNpyExt;
use rand::Rng;
use rand::seq::SliceRandom;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rng::{Purpose, stream};
use crate::{PhysicsError, Result, System, SystemField};

/// Which trajectories form the test set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestPosition {
    /// The last trajectories (spring and pendulum: the second half).
    Last,
    /// The first trajectories (the orbit tasks).
    First,
    /// A random subset (seeded), e.g. of the points of a grid.
    Shuffled,
}

/// Where the samples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Points along integrated trajectories (every task of the paper).
    Trajectories,
    /// The field on a `grid_points x grid_points` grid of `grid_range^2` in the `(q, p)` plane,
    /// each point its own one-point "trajectory" (2-D systems only; `t_span`, `points`, `rtol`
    /// and `atol` are not used).
    Grid,
}

/// How to generate a dataset. The defaults are the official mass-spring settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSpec {
    /// Number of trajectories (train + test).
    pub trajectories: usize,
    /// Time interval of every trajectory.
    #[serde(deserialize_with = "crate::pair::pair")]
    pub t_span: [f64; 2],
    /// Evenly spaced samples per trajectory, including both ends of `t_span`.
    pub points: usize,
    /// Standard deviation of the Gaussian noise added to the inputs (not to the targets).
    pub noise_std: f64,
    /// RK45 relative tolerance of the ground-truth integration.
    pub rtol: f64,
    /// RK45 absolute tolerance (the official code leaves scipy's default 1e-6).
    pub atol: f64,
    /// Fraction of the trajectories held out for testing.
    pub test_fraction: f64,
    /// Whether the test trajectories are the first, the last or a random subset.
    pub test_position: TestPosition,
    /// Trajectories (default) or a grid of states.
    pub layout: Layout,
    /// Grid points per axis (`layout = "grid"`).
    pub grid_points: usize,
    /// Range of `q` and of `p` on the grid (`layout = "grid"`).
    #[serde(deserialize_with = "crate::pair::pair")]
    pub grid_range: [f64; 2],
}

impl Default for DataSpec {
    fn default() -> Self {
        Self {
            trajectories: 50,
            t_span: [0.0, 3.0],
            points: 30,
            noise_std: 0.1,
            rtol: 1e-10,
            atol: 1e-6,
            test_fraction: 0.5,
            test_position: TestPosition::Last,
            layout: Layout::Trajectories,
            grid_points: 25,
            grid_range: [-1.2, 1.2],
        }
    }
}

impl DataSpec {
    /// Checks every field; the error names the offending one.
    pub fn validate(&self) -> Result<()> {
        let bad = |name, value: String, reason| {
            Err(PhysicsError::InvalidParameter {
                name,
                value,
                reason,
            })
        };
        if self.trajectories < 2 {
            return bad(
                "trajectories",
                self.trajectories.to_string(),
                "need at least 2 (one train, one test)",
            );
        }
        let [t0, t1] = self.t_span;
        if !(t0.is_finite() && t1.is_finite() && t1 > t0) {
            return bad(
                "t_span",
                format!("[{t0}, {t1}]"),
                "expected [start, end] with end > start",
            );
        }
        if self.points < 2 {
            return bad(
                "points",
                self.points.to_string(),
                "need at least 2 samples per trajectory",
            );
        }
        if !(self.noise_std.is_finite() && self.noise_std >= 0.0) {
            return bad(
                "noise_std",
                self.noise_std.to_string(),
                "must be finite and >= 0",
            );
        }
        if !(self.rtol.is_finite() && self.rtol >= 100.0 * f64::EPSILON && self.rtol < 1.0) {
            return bad(
                "rtol",
                self.rtol.to_string(),
                "must be finite, >= 2.2e-14 and < 1 (a relative tolerance of 1 accepts any step)",
            );
        }
        if !(self.atol.is_finite() && self.atol > 0.0) {
            return bad("atol", self.atol.to_string(), "must be finite and > 0");
        }
        if self.layout == Layout::Grid {
            if !(2..=10_000).contains(&self.grid_points) {
                return bad(
                    "grid_points",
                    self.grid_points.to_string(),
                    "need between 2 and 10000 points per axis",
                );
            }
            let [lo, hi] = self.grid_range;
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return bad(
                    "grid_range",
                    format!("[{lo}, {hi}]"),
                    "expected [min, max] with min < max",
                );
            }
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return bad(
                "test_fraction",
                self.test_fraction.to_string(),
                "must be strictly between 0 and 1",
            );
        }
        let n_test = self.test_trajectories();
        if n_test == 0 || n_test == self.total_trajectories() {
            return bad(
                "test_fraction",
                self.test_fraction.to_string(),
                "leaves no train or no test trajectory for this number of trajectories",
            );
        }
        Ok(())
    }

    /// Number of trajectories (grid: one per grid point).
    pub fn total_trajectories(&self) -> usize {
        match self.layout {
            Layout::Trajectories => self.trajectories,
            Layout::Grid => self.grid_points * self.grid_points,
        }
    }

    /// Samples per trajectory (grid: 1).
    pub fn points_per_trajectory(&self) -> usize {
        match self.layout {
            Layout::Trajectories => self.points,
            Layout::Grid => 1,
        }
    }

    /// Number of test trajectories.
    pub fn test_trajectories(&self) -> usize {
        (self.total_trajectories() as f64 * self.test_fraction).round() as usize
    }

    /// Number of training samples.
    pub fn train_samples(&self) -> usize {
        (self.total_trajectories() - self.test_trajectories()) * self.points_per_trajectory()
    }

    /// The sample times of every trajectory.
    pub fn times(&self) -> Vec<f64> {
        match self.layout {
            Layout::Trajectories => linspace(self.t_span[0], self.t_span[1], self.points),
            Layout::Grid => vec![0.0],
        }
    }
}

/// `n` evenly spaced values from `a` to `b` inclusive (numpy's `linspace`).
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    match n {
        0 => vec![],
        1 => vec![a],
        _ => {
            let step = (b - a) / (n - 1) as f64;
            (0..n)
                .map(|i| if i == n - 1 { b } else { a + step * i as f64 })
                .collect()
        }
    }
}

/// A generated dataset.
///
/// # Shapes
/// `states`, `x`, `dx`: `[trajectories, points, 2 * dof]`; `t`: `[points]`.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub t: Array1<f64>,
    /// Noise-free states along each trajectory.
    pub states: Array3<f64>,
    /// Model inputs: the states plus noise.
    pub x: Array3<f64>,
    /// Targets: exact time derivatives at the noise-free states.
    pub dx: Array3<f64>,
    /// Trajectory indices of the training set, in order.
    pub train: Vec<usize>,
    /// Trajectory indices of the test set, in order.
    pub test: Vec<usize>,
}

impl Dataset {
    /// Inputs and targets of the given trajectories, flattened to `[n * points, dim]`.
    pub fn samples(&self, trajectories: &[usize]) -> (Array2<f64>, Array2<f64>) {
        let x = self.x.select(Axis(0), trajectories);
        let dx = self.dx.select(Axis(0), trajectories);
        let (n, p, d) = x.dim();
        let x = x
            .into_shape_with_order((n * p, d))
            .expect("contiguous after select");
        let dx = dx
            .into_shape_with_order((n * p, d))
            .expect("contiguous after select");
        (x, dx)
    }

    /// Training inputs and targets, `[n_train * points, dim]` each.
    pub fn train_samples(&self) -> (Array2<f64>, Array2<f64>) {
        self.samples(&self.train)
    }

    /// Test inputs and targets, `[n_test * points, dim]` each.
    pub fn test_samples(&self) -> (Array2<f64>, Array2<f64>) {
        self.samples(&self.test)
    }

    /// Writes `t.npy`, `states.npy`, `x.npy`, `dx.npy` (all trajectories), the flattened
    /// `x_train.npy`, `dx_train.npy`, `x_test.npy`, `dx_test.npy`, and `trajectories.npz`
    /// (see [`Dataset::write_npz`]) into `dir`.
    pub fn write_npy(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|source| PhysicsError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let (xtr, dxtr) = self.train_samples();
        let (xte, dxte) = self.test_samples();
        write(dir, "t.npy", |w| self.t.write_npy(w))?;
        write(dir, "states.npy", |w| self.states.write_npy(w))?;
        write(dir, "x.npy", |w| self.x.write_npy(w))?;
        write(dir, "dx.npy", |w| self.dx.write_npy(w))?;
        write(dir, "x_train.npy", |w| xtr.write_npy(w))?;
        write(dir, "dx_train.npy", |w| dxtr.write_npy(w))?;
        write(dir, "x_test.npy", |w| xte.write_npy(w))?;
        write(dir, "dx_test.npy", |w| dxte.write_npy(w))?;
        self.write_npz(&dir.join("trajectories.npz"))
    }

    /// Writes `t`, `x` (the inputs) and `dxdt` (the targets) as one `.npz`: the format of a
    /// trajectory file ([`crate::trajectories`]), so a run's data can be trained on again.
    pub fn write_npz(&self, path: &Path) -> Result<()> {
        let io = |source| PhysicsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::create(path).map_err(io)?;
        let mut npz = ndarray_npy::NpzWriter::new(std::io::BufWriter::new(file));
        let npz_err = |e: ndarray_npy::WriteNpzError| PhysicsError::DataFile {
            path: path.to_path_buf(),
            line: None,
            reason: format!("cannot write: {e}"),
        };
        npz.add_array("t", &self.t).map_err(npz_err)?;
        npz.add_array("x", &self.x).map_err(npz_err)?;
        npz.add_array("dxdt", &self.dx).map_err(npz_err)?;
        npz.finish().map_err(npz_err)?;
        Ok(())
    }
}

fn write(
    dir: &Path,
    name: &str,
    f: impl FnOnce(std::io::BufWriter<std::fs::File>) -> Result<(), ndarray_npy::WriteNpyError>,
) -> Result<()> {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).map_err(|source| PhysicsError::Io {
        path: path.clone(),
        source,
    })?;
    f(std::io::BufWriter::new(file)).map_err(|source| PhysicsError::WriteNpy { path, source })
}

/// Accepted RK45 steps allowed for one training trajectory: the tasks here need a few hundred;
/// a `t_span` or a system parameter that asks for more than this fails with a clear error
/// instead of running for hours.
pub const MAX_STEPS_PER_TRAJECTORY: usize = 1_000_000;

/// Generates a dataset in parallel. Trajectory `i` draws its initial state and its noise from
/// stream `i` of `seed`, so the result is the same for any number of threads.
pub fn generate(system: &dyn System, spec: &DataSpec, seed: u64) -> Result<Dataset> {
    spec.validate()?;
    let d = system.dim();
    let t = spec.times();
    let n_traj = spec.total_trajectories();
    if spec.layout == Layout::Grid && d != 2 {
        return Err(PhysicsError::InvalidParameter {
            name: "layout",
            value: "\"grid\"".into(),
            reason: "a grid needs a 2-D state (one q, one p)",
        });
    }
    let grid = linspace(spec.grid_range[0], spec.grid_range[1], spec.grid_points);
    let solver = Rk45 {
        rtol: spec.rtol,
        atol: spec.atol,
        max_steps: Some(MAX_STEPS_PER_TRAJECTORY),
        ..Rk45::default()
    };
    let field = SystemField(system);
    // Each trajectory is written straight into its rows of the three arrays (no per-trajectory
    // copies held until the end: three-body's 5000 trajectories would hold them twice).
    let (points, row) = (t.len(), t.len() * d);
    let mut states = vec![0.0; n_traj * row];
    let mut x = vec![0.0; n_traj * row];
    let mut dx = vec![0.0; n_traj * row];
    states
        .par_chunks_mut(row)
        .zip(x.par_chunks_mut(row))
        .zip(dx.par_chunks_mut(row))
        .enumerate()
        .try_for_each(|(i, ((states, x), dx))| -> Result<()> {
            let mut rng = stream(seed, Purpose::Dataset, i as u64);
            match spec.layout {
                Layout::Trajectories => {
                    let y0 = system.sample_initial_state(&mut rng);
                    let y = solver
                        .solve(&field, (spec.t_span[0], spec.t_span[1]), &y0, &t)
                        .map_err(|source| PhysicsError::Integration {
                            trajectory: i,
                            source,
                        })?
                        .y;
                    states.copy_from_slice(&y);
                }
                // row-major over (q, p): q varies slowest
                Layout::Grid => states
                    .copy_from_slice(&[grid[i / spec.grid_points], grid[i % spec.grid_points]]),
            }
            for (s, ds) in states.chunks(d).zip(dx.chunks_mut(d)) {
                system.time_derivative(s, ds);
            }
            // Noise coordinate by coordinate, as the official code does (all q, then all p).
            x.copy_from_slice(states);
            for c in 0..d {
                for k in 0..points {
                    let z: f64 = rng.sample(StandardNormal);
                    x[k * d + c] += spec.noise_std * z;
                }
            }
            Ok(())
        })?;
    let shape = (n_traj, points, d);
    let array = |v: Vec<f64>| Array3::from_shape_vec(shape, v).expect("dataset shape");
    let (states, x, dx) = (array(states), array(x), array(dx));
    let n_test = spec.test_trajectories();
    let mut all: Vec<usize> = (0..n_traj).collect();
    let (train, test) = match spec.test_position {
        TestPosition::Last => (
            all[..n_traj - n_test].to_vec(),
            all[n_traj - n_test..].to_vec(),
        ),
        TestPosition::First => (all[n_test..].to_vec(), all[..n_test].to_vec()),
        TestPosition::Shuffled => {
            let mut rng = stream(seed, Purpose::Split, 0);
            all.shuffle(&mut rng);
            let (mut test, mut train) = (all[..n_test].to_vec(), all[n_test..].to_vec());
            test.sort_unstable();
            train.sort_unstable();
            (train, test)
        }
    };
    tracing::debug!(trajectories = n_traj, points = t.len(), "dataset generated");
    Ok(Dataset {
        t: Array1::from(t),
        states,
        x,
        dx,
        train,
        test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MassSpring, System};
    use ndarray::s;

    #[test]
    fn spring_dataset_follows_the_closed_form() {
        let spring = MassSpring::default();
        let spec = DataSpec {
            rtol: 1e-10,
            atol: 1e-10,
            ..DataSpec::default()
        };
        let data = generate(&spring, &spec, 0).unwrap();
        assert_eq!(data.x.dim(), (50, 30, 2));
        assert_eq!((data.train.len(), data.test.len()), (25, 25));
        assert_eq!(data.train[0], 0);
        assert_eq!(data.test[0], 25);
        for i in 0..50 {
            let x0 = [data.states[[i, 0, 0]], data.states[[i, 0, 1]]];
            let r = x0[0].hypot(x0[1]);
            assert!((0.1..=1.0).contains(&r));
            for k in 0..30 {
                let exact = spring.exact(x0, data.t[k]);
                for (c, e) in exact.iter().enumerate() {
                    assert!((data.states[[i, k, c]] - e).abs() < 1e-8);
                }
                // targets are the noise-free field: dq = 2p, dp = -2q
                assert!((data.dx[[i, k, 0]] - 2.0 * data.states[[i, k, 1]]).abs() < 1e-12);
                assert!((data.dx[[i, k, 1]] + 2.0 * data.states[[i, k, 0]]).abs() < 1e-12);
            }
        }
        // noise has the configured size
        let noise = &data.x - &data.states;
        let std = (noise.mapv(|v| v * v).sum() / noise.len() as f64).sqrt();
        assert!((std - 0.1).abs() < 0.01, "noise std {std}");
        let (xtr, dxtr) = data.train_samples();
        assert_eq!(xtr.dim(), (750, 2));
        assert_eq!(dxtr.row(30), data.dx.slice(s![1, 0, ..]));
    }

    /// `test_position` picks which trajectories are tested, and the flattened samples follow
    /// the split: 10 trajectories, 30% test.
    #[test]
    fn test_position_picks_the_first_or_the_last_trajectories() {
        let spring = MassSpring::default();
        let spec = |test_position| DataSpec {
            trajectories: 10,
            points: 3,
            test_fraction: 0.3,
            test_position,
            ..DataSpec::default()
        };
        let last = generate(&spring, &spec(TestPosition::Last), 0).unwrap();
        assert_eq!(
            (last.train.clone(), last.test.clone()),
            ((0..7).collect(), vec![7, 8, 9])
        );
        let first = generate(&spring, &spec(TestPosition::First), 0).unwrap();
        assert_eq!(
            (first.train.clone(), first.test.clone()),
            ((3..10).collect(), vec![0, 1, 2])
        );
        // same trajectories either way; the samples are the split's rows in order
        assert_eq!(first.x, last.x);
        let (x_test, _) = first.test_samples();
        assert_eq!(x_test.nrows(), 9);
        assert_eq!(x_test.row(0), first.x.slice(s![0, 0, ..]));
        assert_eq!(x_test.row(8), first.x.slice(s![2, 2, ..]));
        let (x_train, _) = first.train_samples();
        assert_eq!(x_train.row(0), first.x.slice(s![3, 0, ..]));
    }

    /// The noise is drawn after the initial state from the trajectory's own stream, coordinate
    /// by coordinate (every point's q, then every point's p), as the official code adds it.
    #[test]
    fn noise_is_drawn_coordinate_by_coordinate() {
        let spring = MassSpring::default();
        let spec = DataSpec {
            trajectories: 2,
            points: 4,
            noise_std: 0.5,
            ..DataSpec::default()
        };
        let data = generate(&spring, &spec, 7).unwrap();
        for i in 0..2 {
            let mut rng = stream(7, Purpose::Dataset, i as u64);
            let x0 = spring.sample_initial_state(&mut rng);
            assert_eq!(x0, data.states.slice(s![i, 0, ..]).to_vec());
            for c in 0..2 {
                for k in 0..4 {
                    let z: f64 = rng.sample(StandardNormal);
                    let noise = data.x[[i, k, c]] - data.states[[i, k, c]];
                    assert!(
                        (noise - 0.5 * z).abs() < 1e-12,
                        "trajectory {i}, point {k}, coordinate {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn generation_does_not_depend_on_thread_count() {
        let spring = MassSpring::default();
        let spec = DataSpec::default();
        let run = |threads| {
            crate::testing::with_threads(threads, || generate(&spring, &spec, 7).unwrap())
        };
        let (a, b) = (run(1), run(2));
        assert_eq!(a.x, b.x);
        assert_eq!(a.dx, b.dx);
        // the same for the three-body system
        let three = crate::NBody::three_body();
        let spec3 = DataSpec {
            trajectories: 40,
            t_span: [0.0, 5.0],
            points: 20,
            noise_std: 0.0,
            rtol: 1e-9,
            ..DataSpec::default()
        };
        let on = |threads| {
            crate::testing::with_threads(threads, || generate(&three, &spec3, 0).unwrap())
        };
        let (c1, c2) = (on(1), on(2));
        assert_eq!(c1.x, c2.x);
        assert!(c1.x.iter().all(|v| v.is_finite()));
        // and a different seed gives different data
        let c = generate(&spring, &spec, 8).unwrap();
        assert_ne!(a.x, c.x);
    }

    /// `H = p^2/2 - q^4`: `dp/dt = 4 q^3` blows up in finite time from `q = 1`.
    struct Blowup;
    impl crate::Hamiltonian for Blowup {
        fn name(&self) -> &str {
            "blow-up"
        }
        fn dof(&self) -> usize {
            1
        }
        fn energy(&self, x: &[f64]) -> f64 {
            0.5 * x[1] * x[1] - x[0].powi(4)
        }
        fn gradient(&self, x: &[f64], g: &mut [f64]) {
            g[0] = -4.0 * x[0].powi(3);
            g[1] = x[1];
        }
        fn sample_initial_state(&self, _rng: &mut dyn rand::RngCore) -> Vec<f64> {
            vec![1.0, 1.0]
        }
    }

    #[test]
    fn a_failed_integration_is_an_error_naming_the_trajectory_and_time() {
        let spec = DataSpec {
            trajectories: 4,
            t_span: [0.0, 3.0],
            ..DataSpec::default()
        };
        let err = generate(&Blowup, &spec, 0).unwrap_err();
        match &err {
            PhysicsError::Integration {
                trajectory,
                source: hnn_ode::OdeError::StepSizeUnderflow { t, .. },
            } => {
                assert!(*trajectory < 4);
                // q' = p, p' = 4 q^3 from (1, 1) reaches infinity near t = 0.65
                assert!(*t > 0.3 && *t < 1.0, "t = {t}");
            }
            other => panic!("expected an integration error, got {other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("trajectory") && msg.contains("at t ="),
            "{msg}"
        );
    }

    #[test]
    fn invalid_specs_name_the_field() {
        for (spec, key) in [
            (
                DataSpec {
                    trajectories: 0,
                    ..DataSpec::default()
                },
                "trajectories",
            ),
            (
                DataSpec {
                    points: 1,
                    ..DataSpec::default()
                },
                "points",
            ),
            (
                DataSpec {
                    t_span: [1.0, 1.0],
                    ..DataSpec::default()
                },
                "t_span",
            ),
            (
                DataSpec {
                    noise_std: -0.1,
                    ..DataSpec::default()
                },
                "noise_std",
            ),
            (
                DataSpec {
                    rtol: 0.0,
                    ..DataSpec::default()
                },
                "rtol",
            ),
            (
                DataSpec {
                    rtol: 1.0,
                    ..DataSpec::default()
                },
                "rtol",
            ),
            (
                DataSpec {
                    test_fraction: 1.0,
                    ..DataSpec::default()
                },
                "test_fraction",
            ),
        ] {
            let err = spec.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{err}");
        }
    }

    /// Each check at its edge: the last accepted value passes, the first refused one names its
    /// field and says why (which also tells a fraction refused as out of range from one that
    /// leaves a split empty).
    #[test]
    fn settings_at_their_edges() {
        let d = DataSpec::default;
        let grid = || DataSpec {
            layout: Layout::Grid,
            ..d()
        };
        let cases: Vec<(DataSpec, Option<(&str, &str)>)> = vec![
            (DataSpec { points: 2, ..d() }, None),
            (DataSpec { atol: 0.0, ..d() }, Some(("atol", "> 0"))),
            (
                DataSpec {
                    atol: f64::INFINITY,
                    ..d()
                },
                Some(("atol", "> 0")),
            ),
            (
                DataSpec {
                    atol: 1e-300,
                    ..d()
                },
                None,
            ),
            // grid settings only matter for a grid
            (
                DataSpec {
                    grid_points: 0,
                    ..d()
                },
                None,
            ),
            (
                DataSpec {
                    grid_points: 1,
                    ..grid()
                },
                Some(("grid_points", "between 2")),
            ),
            (
                DataSpec {
                    grid_points: 2,
                    grid_range: [-1.0, 1.0],
                    test_fraction: 0.5,
                    ..grid()
                },
                None,
            ),
            (
                DataSpec {
                    grid_range: [1.0, 1.0],
                    ..grid()
                },
                Some(("grid_range", "min < max")),
            ),
            (
                DataSpec {
                    grid_range: [f64::NAN, 1.0],
                    ..grid()
                },
                Some(("grid_range", "min < max")),
            ),
            (
                DataSpec {
                    grid_range: [0.0, f64::INFINITY],
                    ..grid()
                },
                Some(("grid_range", "min < max")),
            ),
            (
                DataSpec {
                    test_fraction: 0.0,
                    ..d()
                },
                Some(("test_fraction", "strictly between")),
            ),
            (
                DataSpec {
                    test_fraction: 1.0,
                    ..d()
                },
                Some(("test_fraction", "strictly between")),
            ),
            (
                DataSpec {
                    test_fraction: 1.5,
                    ..d()
                },
                Some(("test_fraction", "strictly between")),
            ),
            (
                DataSpec {
                    test_fraction: f64::NAN,
                    ..d()
                },
                Some(("test_fraction", "strictly between")),
            ),
            // 2 trajectories: 0.1 rounds to no test trajectory, 0.9 to no training one
            (
                DataSpec {
                    trajectories: 2,
                    test_fraction: 0.1,
                    ..d()
                },
                Some(("test_fraction", "leaves no train")),
            ),
            (
                DataSpec {
                    trajectories: 2,
                    test_fraction: 0.9,
                    ..d()
                },
                Some(("test_fraction", "leaves no train")),
            ),
            (
                DataSpec {
                    trajectories: 2,
                    test_fraction: 0.5,
                    ..d()
                },
                None,
            ),
        ];
        for (spec, want) in cases {
            match (spec.validate(), want) {
                (Ok(()), None) => {}
                (Err(e), Some((key, why))) => {
                    let e = e.to_string();
                    assert!(e.contains(&format!("`{key}`")) && e.contains(why), "{e}");
                }
                (r, w) => panic!(
                    "{:?} {:?}: {r:?}, wanted {w:?}",
                    spec.layout, spec.test_fraction
                ),
            }
        }
    }

    /// Sizes by hand: 10 trajectories of 30 points with a fifth for testing leave 8 x 30
    /// training samples; a 5 x 5 grid is 25 one-point trajectories, 5 of them for testing.
    #[test]
    fn sizes_by_hand() {
        let spec = DataSpec {
            trajectories: 10,
            points: 30,
            test_fraction: 0.2,
            ..DataSpec::default()
        };
        assert_eq!(
            (spec.total_trajectories(), spec.points_per_trajectory()),
            (10, 30)
        );
        assert_eq!((spec.test_trajectories(), spec.train_samples()), (2, 240));
        let grid = DataSpec {
            layout: Layout::Grid,
            grid_points: 5,
            test_fraction: 0.2,
            ..DataSpec::default()
        };
        assert_eq!(
            (grid.total_trajectories(), grid.points_per_trajectory()),
            (25, 1)
        );
        assert_eq!((grid.test_trajectories(), grid.train_samples()), (5, 20));
        assert_eq!(grid.times(), vec![0.0]);
    }

    #[test]
    fn npy_files_round_trip() {
        let data = generate(
            &MassSpring::default(),
            &DataSpec {
                trajectories: 4,
                ..DataSpec::default()
            },
            1,
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("hnn-physics-npy-{}", std::process::id()));
        data.write_npy(&dir).unwrap();
        let x: Array2<f64> = ndarray_npy::read_npy(dir.join("x_train.npy")).unwrap();
        assert_eq!(x, data.train_samples().0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn grid_layout_samples_the_field_and_splits_at_random() {
        let sys = crate::QDampedSpring::default();
        let spec = DataSpec {
            layout: Layout::Grid,
            noise_std: 0.0,
            test_fraction: 0.15,
            test_position: TestPosition::Shuffled,
            ..DataSpec::default()
        };
        let data = generate(&sys, &spec, 0).unwrap();
        // the D-HNN authors' 531 / 94 split of a 25 x 25 grid
        assert_eq!((data.train.len(), data.test.len()), (531, 94));
        assert_eq!(data.x.dim(), (625, 1, 2));
        // point 26 = (q index 1, p index 1) = (-1.1, -1.1); dq = 2p - 2q = 0, dp = -2q = 2.2
        assert!((data.x[[26, 0, 0]] + 1.1).abs() < 1e-12);
        assert!(data.dx[[26, 0, 0]].abs() < 1e-12 && (data.dx[[26, 0, 1]] - 2.2).abs() < 1e-12);
        // point 27 = (q index 1, p index 2) = (-1.1, -1.0): q varies slowest;
        // dq = 2p - 2q = 0.2, dp = 2.2
        assert!(
            (data.x[[27, 0, 0]] + 1.1).abs() < 1e-12 && (data.x[[27, 0, 1]] + 1.0).abs() < 1e-12
        );
        assert!(
            (data.dx[[27, 0, 0]] - 0.2).abs() < 1e-12 && (data.dx[[27, 0, 1]] - 2.2).abs() < 1e-12
        );
        assert_eq!(generate(&sys, &spec, 0).unwrap().test, data.test);
        assert_ne!(generate(&sys, &spec, 1).unwrap().test, data.test);
    }

    #[test]
    fn linspace_matches_numpy() {
        assert_eq!(linspace(0.0, 3.0, 4), vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(linspace(0.0, 1.0, 1), vec![0.0]);
        assert!(linspace(0.0, 1.0, 0).is_empty());
        // the end is exactly `b`, as numpy makes it, where a + step * (n - 1) rounds past it
        // (-2.2 + 0.71666... * 6 = 2.1000000000000005)
        let v = linspace(-2.2, 2.1, 7);
        assert_eq!(v.len(), 7);
        assert_eq!(v[6], 2.1);
        assert_eq!(v[5], -2.2 + ((2.1 - -2.2) / 6.0) * 5.0);
    }
}
