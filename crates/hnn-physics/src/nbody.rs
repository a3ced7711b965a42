use std::f64::consts::PI;

use rand::{Rng, RngCore};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::rng::{Direction, sample_on_annulus};
use crate::{Hamiltonian, PhysicsError, Result};

/// How initial orbits are drawn (the official two- and three-body generators).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrbitInit {
    /// Two bodies only: body 1 at a position whose two components are uniform in `radius`,
    /// body 2 mirrored through the origin; circular-orbit velocities perpendicular to the
    /// positions, all scaled by one common factor `1 + velocity_noise * N(0, 1)`.
    Mirrored,
    /// Any number of bodies on a regular polygon of radius uniform in `radius` and random
    /// rotation, with circular-orbit velocities; each velocity component then multiplied by
    /// its own `1 + velocity_noise * U[-1, 1]` (the three-body task for N = 3).
    Polygon,
}

/// Gravitational N-body problem in the plane, equal masses.
///
/// `H = sum_i |p_i|^2 / (2 m_i) - sum_{i<j} G m_i m_j / |r_i - r_j|`, every pair once (the
/// official code accumulates the potential outside its pair loop, which is wrong for N > 2).
///
/// State ordering, as the official code feeds its models:
/// `q = (x_1..x_N, y_1..y_N)`, `p = (px_1..px_N, py_1..py_N)` with `p = m v`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NBody {
    /// Number of bodies, at least 2.
    pub bodies: usize,
    /// Mass of every body.
    pub mass: f64,
    /// Gravitational constant.
    pub gravity: f64,
    pub init: OrbitInit,
    /// `Mirrored`: range of each position component; `Polygon`: range of the radius.
    #[serde(deserialize_with = "crate::pair::pair")]
    pub radius: [f64; 2],
    /// Size of the velocity perturbation (0.05 for two bodies, 0.2 for three officially).
    pub velocity_noise: f64,
}

impl Default for NBody {
    /// The official two-body task.
    fn default() -> Self {
        Self {
            bodies: 2,
            mass: 1.0,
            gravity: 1.0,
            init: OrbitInit::Mirrored,
            radius: [0.5, 1.5],
            velocity_noise: 0.05,
        }
    }
}

impl NBody {
    /// The official three-body task.
    pub fn three_body() -> Self {
        Self {
            bodies: 3,
            init: OrbitInit::Polygon,
            radius: [0.9, 1.2],
            velocity_noise: 0.2,
            ..Self::default()
        }
    }

    fn xy(&self, x: &[f64], i: usize) -> (f64, f64) {
        (x[i], x[self.bodies + i])
    }

    /// Kinetic energy.
    pub fn kinetic(&self, x: &[f64]) -> f64 {
        let p = &x[2 * self.bodies..];
        p.iter().map(|v| v * v).sum::<f64>() / (2.0 * self.mass)
    }

    /// Potential energy, summed over every pair once.
    pub fn potential(&self, x: &[f64]) -> f64 {
        let n = self.bodies;
        let gmm = self.gravity * self.mass * self.mass;
        let mut v = 0.0;
        for i in 0..n {
            let (xi, yi) = self.xy(x, i);
            for j in i + 1..n {
                let (xj, yj) = self.xy(x, j);
                v -= gmm / (xi - xj).hypot(yi - yj);
            }
        }
        v
    }

    /// Total momentum `(sum px, sum py)`.
    pub fn momentum(&self, x: &[f64]) -> [f64; 2] {
        let n = self.bodies;
        let p = &x[2 * n..];
        [p[..n].iter().sum(), p[n..].iter().sum()]
    }

    /// Total angular momentum about the origin.
    pub fn angular_momentum(&self, x: &[f64]) -> f64 {
        let n = self.bodies;
        (0..n)
            .map(|i| x[i] * x[3 * n + i] - x[n + i] * x[2 * n + i])
            .sum()
    }

    /// Speed of a circular orbit at radius `r` for N equal masses on a regular polygon.
    fn circular_speed(&self, r: f64) -> f64 {
        let n = self.bodies;
        let s: f64 = (1..n)
            .map(|k| 1.0 / (4.0 * (PI * k as f64 / n as f64).sin()))
            .sum();
        (self.gravity * self.mass * s / r).sqrt()
    }

    /// Builds a state from per-body positions and velocities.
    fn state(&self, pos: &[[f64; 2]], vel: &[[f64; 2]]) -> Vec<f64> {
        let n = self.bodies;
        let mut x = vec![0.0; 4 * n];
        for i in 0..n {
            x[i] = pos[i][0];
            x[n + i] = pos[i][1];
            x[2 * n + i] = self.mass * vel[i][0];
            x[3 * n + i] = self.mass * vel[i][1];
        }
        x
    }
}

fn rotate([x, y]: [f64; 2], theta: f64) -> [f64; 2] {
    let (s, c) = theta.sin_cos();
    [c * x - s * y, s * x + c * y]
}

/// Most bodies accepted (the paper's tasks have 2 and 3).
pub const MAX_BODIES: usize = 100;

impl Hamiltonian for NBody {
    fn validate(&self) -> Result<()> {
        let bad = |name, value: String, reason| {
            Err(PhysicsError::InvalidParameter {
                name,
                value,
                reason,
            })
        };
        if self.bodies < 2 {
            return bad(
                "bodies",
                self.bodies.to_string(),
                "an N-body system needs N >= 2",
            );
        }
        if self.bodies > MAX_BODIES {
            return bad(
                "bodies",
                self.bodies.to_string(),
                "at most 100 bodies: the pairwise field costs N^2 per evaluation and a state has 4N numbers",
            );
        }
        if self.init == OrbitInit::Mirrored && self.bodies != 2 {
            return bad(
                "init",
                "\"mirrored\"".into(),
                "mirrored orbits need exactly 2 bodies; use \"polygon\"",
            );
        }
        if !(self.mass.is_finite() && self.mass > 0.0) {
            return bad(
                "mass",
                self.mass.to_string(),
                "masses must be positive and finite",
            );
        }
        if !(self.gravity.is_finite() && self.gravity > 0.0) {
            return bad(
                "gravity",
                self.gravity.to_string(),
                "must be positive and finite",
            );
        }
        let [lo, hi] = self.radius;
        if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi) {
            return bad(
                "radius",
                format!("[{lo}, {hi}]"),
                "expected [min, max] with 0 < min <= max",
            );
        }
        if !(self.velocity_noise.is_finite() && self.velocity_noise >= 0.0) {
            return bad(
                "velocity_noise",
                self.velocity_noise.to_string(),
                "must be >= 0 and finite",
            );
        }
        Ok(())
    }
    fn velocity_map(&self) -> Option<Vec<f64>> {
        let n = Hamiltonian::dof(self);
        Some(
            (0..n * n)
                .map(|k| if k / n == k % n { 1.0 / self.mass } else { 0.0 })
                .collect(),
        )
    }
    fn name(&self) -> &str {
        match self.bodies {
            2 => "two-body",
            3 => "three-body",
            _ => "n-body",
        }
    }
    fn dof(&self) -> usize {
        2 * self.bodies
    }
    fn energy(&self, x: &[f64]) -> f64 {
        self.kinetic(x) + self.potential(x)
    }
    fn body_positions(&self, x: &[f64]) -> Option<Vec<[f64; 2]>> {
        Some(
            (0..self.bodies)
                .map(|i| [x[i], x[self.bodies + i]])
                .collect(),
        )
    }
    fn energy_parts(&self, x: &[f64]) -> Option<[f64; 2]> {
        Some([self.kinetic(x), self.potential(x)])
    }
    fn gradient(&self, x: &[f64], grad: &mut [f64]) {
        let n = self.bodies;
        let gmm = self.gravity * self.mass * self.mass;
        grad[..2 * n].fill(0.0);
        for i in 0..n {
            let (xi, yi) = self.xy(x, i);
            for j in i + 1..n {
                let (xj, yj) = self.xy(x, j);
                let (dx, dy) = (xi - xj, yi - yj);
                let r2 = dx * dx + dy * dy;
                let f = gmm / (r2 * r2.sqrt());
                grad[i] += f * dx;
                grad[j] -= f * dx;
                grad[n + i] += f * dy;
                grad[n + j] -= f * dy;
            }
        }
        for (g, p) in grad[2 * n..].iter_mut().zip(&x[2 * n..]) {
            *g = p / self.mass;
        }
    }
    fn sample_initial_state(&self, rng: &mut dyn RngCore) -> Vec<f64> {
        let n = self.bodies;
        let [lo, hi] = self.radius;
        match self.init {
            OrbitInit::Mirrored => {
                let p1 = [
                    lo + (hi - lo) * rng.random::<f64>(),
                    lo + (hi - lo) * rng.random::<f64>(),
                ];
                let r = p1[0].hypot(p1[1]);
                let speed = self.circular_speed(r);
                let dir = rotate([p1[0] / r, p1[1] / r], PI / 2.0);
                let z: f64 = rng.sample(StandardNormal);
                let k = speed * (1.0 + self.velocity_noise * z);
                let v1 = [dir[0] * k, dir[1] * k];
                self.state(&[p1, [-p1[0], -p1[1]]], &[v1, [-v1[0], -v1[1]]])
            }
            OrbitInit::Polygon => {
                let p = sample_on_annulus(rng, Direction::Square, self.radius);
                let p1 = [p[0], p[1]];
                let r = p1[0].hypot(p1[1]);
                let speed = self.circular_speed(r);
                let step = 2.0 * PI / n as f64;
                let pos: Vec<[f64; 2]> = (0..n).map(|k| rotate(p1, step * k as f64)).collect();
                let v1 = rotate([p1[0] / r * speed, p1[1] / r * speed], PI / 2.0);
                let vel: Vec<[f64; 2]> = (0..n)
                    .map(|k| {
                        let v = rotate(v1, step * k as f64);
                        let a = 1.0 + self.velocity_noise * (2.0 * rng.random::<f64>() - 1.0);
                        let b = 1.0 + self.velocity_noise * (2.0 * rng.random::<f64>() - 1.0);
                        [v[0] * a, v[1] * b]
                    })
                    .collect();
                self.state(&pos, &vel)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HamiltonianField;
    use crate::rng::{Purpose, stream};
    use hnn_ode::Rk45;

    /// Momenta by hand for two bodies, state (x1 x2, y1 y2, px1 px2, py1 py2) =
    /// (1 -2, 0.5 3, 0.3 -0.1, 0.7 0.2): P = (0.2, 0.9),
    /// L = 1 * 0.7 - 0.5 * 0.3 + (-2) * 0.2 - 3 * (-0.1) = 0.45.
    /// Three equal masses on a triangle of circumradius r: the pull of the other two, 2 G m^2
    /// / (3 r^2) * cos 30 deg, holds a circular orbit at v^2 = G m / (sqrt(3) r).
    #[test]
    fn circular_speed_of_the_triangle_by_hand() {
        let three = NBody::three_body();
        for r in [1.0, 2.5] {
            let want = (1.0 / (3f64.sqrt() * r)).sqrt();
            assert!((three.circular_speed(r) - want).abs() < 1e-14, "{r}");
        }
        // G m = 2 * 0.25 = 0.5
        let light = NBody {
            gravity: 2.0,
            mass: 0.25,
            ..three
        };
        let want = (0.5 / 3f64.sqrt()).sqrt();
        assert!((light.circular_speed(1.0) - want).abs() < 1e-14);
    }

    /// Two bodies by hand with G = 2, m = 0.5 (G m^2 = 0.5) at (0, 0) and (3, 4), momenta
    /// (0.3, 0.7) and (-0.1, 0.2): r = 5, so V = -0.1, T = 0.63 / (2 m) = 0.63, and
    /// dV/dx1 = G m^2 (x1 - x2) / r^3 = -0.012 (the second body's is the opposite),
    /// dV/dy1 = -0.016, dH/dp = p / m.
    #[test]
    fn two_bodies_by_hand() {
        let s = NBody {
            gravity: 2.0,
            mass: 0.5,
            ..NBody::default()
        };
        let x = [0.0, 3.0, 0.0, 4.0, 0.3, -0.1, 0.7, 0.2];
        let [t, v] = s.energy_parts(&x).unwrap();
        assert!(
            (t - 0.63).abs() < 1e-15 && (v + 0.1).abs() < 1e-15,
            "{t} {v}"
        );
        assert!((s.energy(&x) - 0.53).abs() < 1e-15);
        let mut g = [0.0; 8];
        s.gradient(&x, &mut g);
        let want = [-0.012, 0.012, -0.016, 0.016, 0.6, -0.2, 1.4, 0.4];
        for (a, b) in g.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{g:?}");
        }
        assert_eq!(s.body_positions(&x).unwrap(), vec![[0.0, 0.0], [3.0, 4.0]]);
        // the gradient overwrites every entry of its buffer (three bodies: 12 of them)
        let three = NBody::three_body();
        let y = three.sample_initial_state(&mut stream(4, Purpose::Dataset, 0));
        let (mut from_nan, mut from_zero) = ([f64::NAN; 12], [0.0; 12]);
        three.gradient(&y, &mut from_nan);
        three.gradient(&y, &mut from_zero);
        assert_eq!(from_nan, from_zero);
        assert_eq!(s.name(), "two-body");
        assert_eq!(NBody::three_body().name(), "three-body");
        let five = NBody {
            bodies: 5,
            init: OrbitInit::Polygon,
            ..NBody::default()
        };
        assert_eq!(five.name(), "n-body");
    }

    /// Each remaining check at its edge, by name.
    #[test]
    fn parameters_at_their_edges() {
        let d = NBody::default;
        for (sys, bad) in [
            (
                NBody {
                    gravity: 0.0,
                    ..d()
                },
                Some("gravity"),
            ),
            (
                NBody {
                    gravity: f64::INFINITY,
                    ..d()
                },
                Some("gravity"),
            ),
            (
                NBody {
                    radius: [0.0, 1.0],
                    ..d()
                },
                Some("radius"),
            ),
            (
                NBody {
                    radius: [1.0, 1.0],
                    ..d()
                },
                None,
            ),
            (
                NBody {
                    radius: [2.0, 1.0],
                    ..d()
                },
                Some("radius"),
            ),
            (
                NBody {
                    radius: [1.0, f64::NAN],
                    ..d()
                },
                Some("radius"),
            ),
            (
                NBody {
                    velocity_noise: 0.0,
                    ..d()
                },
                None,
            ),
            (
                NBody {
                    velocity_noise: -0.1,
                    ..d()
                },
                Some("velocity_noise"),
            ),
            (
                NBody {
                    velocity_noise: f64::NAN,
                    ..d()
                },
                Some("velocity_noise"),
            ),
        ] {
            match (sys.validate(), bad) {
                (Ok(()), None) => {}
                (Err(e), Some(key)) => {
                    assert!(e.to_string().contains(&format!("`{key}`")), "{e}")
                }
                (r, b) => panic!("{:?}: {r:?}, wanted {b:?}", sys.radius),
            }
        }
    }

    /// The mirrored start replayed from the same stream: body 1 at (lo + (hi - lo) u1,
    /// lo + (hi - lo) u2), moving at the circular speed times 1 + noise * z.
    #[test]
    fn mirrored_start_replayed_from_its_draws() {
        let s = NBody {
            radius: [1.0, 1.2],
            velocity_noise: 0.3,
            ..NBody::default()
        };
        for i in 0..5 {
            let mut rng = stream(9, Purpose::Dataset, i);
            let mut replay = rng.clone();
            let x = s.sample_initial_state(&mut rng);
            let u1: f64 = replay.random();
            let u2: f64 = replay.random();
            let z: f64 = replay.sample(StandardNormal);
            let w = 1.2 - 1.0;
            assert_eq!((x[0], x[2]), (1.0 + w * u1, 1.0 + w * u2));
            let r = x[0].hypot(x[2]);
            let speed = s.circular_speed(r) * (1.0 + 0.3 * z);
            assert!((x[4].hypot(x[6]) - speed.abs()).abs() < 1e-12, "{i}");
        }
    }

    #[test]
    fn momenta_by_hand() {
        let two = NBody::default();
        let x = [1.0, -2.0, 0.5, 3.0, 0.3, -0.1, 0.7, 0.2];
        let p = two.momentum(&x);
        assert!(
            (p[0] - 0.2).abs() < 1e-15 && (p[1] - 0.9).abs() < 1e-15,
            "{p:?}"
        );
        assert!((two.angular_momentum(&x) - 0.45).abs() < 1e-15);
    }

    #[test]
    fn potential_of_three_bodies_is_the_sum_over_the_three_pairs() {
        let s = NBody {
            mass: 1.5,
            gravity: 0.7,
            ..NBody::three_body()
        };
        // bodies at (0,0), (3,0), (0,4): pair distances 3, 4, 5
        let x = [0.0, 3.0, 0.0, 0.0, 0.0, 4.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
        let gmm = 0.7 * 1.5 * 1.5;
        let want = -gmm * (1.0 / 3.0 + 1.0 / 4.0 + 1.0 / 5.0);
        assert!(
            (s.potential(&x) - want).abs() < 1e-14,
            "{} vs {want}",
            s.potential(&x)
        );
        let ke = (0.01 + 0.04 + 0.09 + 0.16 + 0.25 + 0.36) / (2.0 * 1.5);
        assert!((s.energy(&x) - (want + ke)).abs() < 1e-14);
    }

    #[test]
    fn gradient_matches_central_differences() {
        for sys in [
            NBody::default(),
            NBody::three_body(),
            NBody {
                bodies: 5,
                init: OrbitInit::Polygon,
                mass: 0.8,
                ..NBody::default()
            },
        ] {
            let mut rng = stream(3, Purpose::Dataset, 1);
            let x = sys.sample_initial_state(&mut rng);
            crate::testing::assert_gradient_matches_energy(&sys, &x, 1e-6);
        }
    }

    #[test]
    fn rk45_ground_truth_conserves_energy_and_momenta() {
        for sys in [NBody::default(), NBody::three_body()] {
            let mut rng = stream(0, Purpose::Dataset, 0);
            let x0 = sys.sample_initial_state(&mut rng);
            let (e0, m0, l0) = (
                sys.energy(&x0),
                sys.momentum(&x0),
                sys.angular_momentum(&x0),
            );
            let t_end = if sys.bodies == 2 { 20.0 } else { 5.0 };
            let t_eval: Vec<f64> = (0..=50).map(|k| t_end * k as f64 / 50.0).collect();
            let sol = Rk45 {
                rtol: 1e-9,
                atol: 1e-9,
                ..Rk45::default()
            }
            .solve(&HamiltonianField(&sys), (0.0, t_end), &x0, &t_eval)
            .unwrap();
            for (k, t) in t_eval.iter().enumerate() {
                let x = sol.state(k);
                assert!(
                    (sys.energy(x) - e0).abs() < 1e-6,
                    "{} energy at t={}: {} vs {e0}",
                    sys.name(),
                    t,
                    sys.energy(x)
                );
                let m = sys.momentum(x);
                assert!(
                    (m[0] - m0[0]).abs() < 1e-7 && (m[1] - m0[1]).abs() < 1e-7,
                    "momentum {m:?} vs {m0:?}"
                );
                assert!((sys.angular_momentum(x) - l0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn official_initial_conditions() {
        // two-body: mirrored, speed 1/(2 sqrt r) up to the common noise factor, zero momentum
        let two = NBody {
            velocity_noise: 0.0,
            ..NBody::default()
        };
        let mut rng = stream(0, Purpose::Dataset, 4);
        let x = two.sample_initial_state(&mut rng);
        // q = (x1, x2, y1, y2), p = (px1, px2, py1, py2)
        assert_eq!((x[1], x[3]), (-x[0], -x[2]));
        assert!((0.5..=1.5).contains(&x[0]) && (0.5..=1.5).contains(&x[2]));
        let r = x[0].hypot(x[2]);
        assert!((x[4].hypot(x[6]) - 1.0 / (2.0 * r.sqrt())).abs() < 1e-12);
        assert!(
            (x[0] * x[4] + x[2] * x[6]).abs() < 1e-12,
            "velocity perpendicular to position"
        );
        assert_eq!(two.momentum(&x), [0.0, 0.0]);
        // three-body: equilateral triangle, speed sqrt(sin(pi/3) / (2 cos^2(pi/6))) / sqrt(r)
        let three = NBody {
            velocity_noise: 0.0,
            ..NBody::three_body()
        };
        let x = three.sample_initial_state(&mut rng);
        let r = x[0].hypot(x[3]);
        assert!((0.9..=1.2).contains(&r));
        let official = ((PI / 3.0).sin() / (2.0 * (PI / 6.0).cos().powi(2))).sqrt() / r.sqrt();
        for i in 0..3 {
            assert!((x[i].hypot(x[3 + i]) - r).abs() < 1e-12);
            assert!((x[6 + i].hypot(x[9 + i]) - official).abs() < 1e-12);
            // the corners of an equilateral triangle: each side r sqrt(3)
            let j = (i + 1) % 3;
            let side = (x[i] - x[j]).hypot(x[3 + i] - x[3 + j]);
            assert!((side - r * 3f64.sqrt()).abs() < 1e-12, "{side}");
        }
        // a circular orbit stays circular: radius constant along the exact flow
        let sol = Rk45 {
            rtol: 1e-10,
            atol: 1e-10,
            ..Rk45::default()
        }
        .solve(&HamiltonianField(&three), (0.0, 3.0), &x, &[3.0])
        .unwrap();
        assert!((sol.y[0].hypot(sol.y[3]) - r).abs() < 1e-6);
    }

    /// Each body's velocity components get their own factor `1 + noise * U[-1, 1]`, drawn in
    /// order (body 0 x, body 0 y, body 1 x, ...) after the position.
    #[test]
    fn polygon_velocity_noise_is_per_component() {
        let noisy = NBody::three_body();
        let clean = NBody {
            velocity_noise: 0.0,
            ..NBody::three_body()
        };
        let x = noisy.sample_initial_state(&mut stream(3, Purpose::Dataset, 0));
        let mut rng = stream(3, Purpose::Dataset, 0);
        let x0 = clean.sample_initial_state(&mut rng.clone());
        // replay: the position draws, then two uniforms per body
        let _ = sample_on_annulus(&mut rng, Direction::Square, noisy.radius);
        assert_eq!(x[..6], x0[..6], "positions carry no noise");
        for k in 0..3 {
            let a = 1.0 + 0.2 * (2.0 * rng.random::<f64>() - 1.0);
            let b = 1.0 + 0.2 * (2.0 * rng.random::<f64>() - 1.0);
            assert!((x[6 + k] - x0[6 + k] * a).abs() < 1e-12, "body {k} x");
            assert!((x[9 + k] - x0[9 + k] * b).abs() < 1e-12, "body {k} y");
        }
    }

    #[test]
    fn invalid_parameters_are_named() {
        for (sys, key) in [
            (
                NBody {
                    bodies: 1,
                    ..NBody::default()
                },
                "bodies",
            ),
            (
                NBody {
                    mass: 0.0,
                    ..NBody::default()
                },
                "mass",
            ),
            (
                NBody {
                    bodies: 3,
                    ..NBody::default()
                },
                "init",
            ),
            (
                NBody {
                    radius: [0.0, 1.0],
                    ..NBody::default()
                },
                "radius",
            ),
        ] {
            let e = sys.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}`")), "{e}");
        }
    }
}
