use hnn_ode::SeparableField;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::rng::{Direction, check_radius, sample_on_annulus};
use crate::{Hamiltonian, PhysicsError, Result};

/// Ideal mass-spring, `H = k q^2 / 2 + p^2 / (2 m)`.
///
/// The defaults `k = 2`, `m = 1/2` give the official code's `H = q^2 + p^2` (the paper writes
/// `q^2/2 + p^2/2`). Initial states lie at a radius drawn uniformly from `radius` (`[0.1, 1]`
/// officially, so `H` in `[0.01, 1]`) in a direction drawn as `direction` says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MassSpring {
    /// Spring constant.
    pub k: f64,
    /// Mass.
    pub m: f64,
    /// Range `[min, max]` of the initial radius `sqrt(q^2 + p^2)`.
    #[serde(deserialize_with = "crate::pair::pair")]
    pub radius: [f64; 2],
    /// Distribution of the initial direction.
    pub direction: Direction,
}

impl Default for MassSpring {
    fn default() -> Self {
        Self {
            k: 2.0,
            m: 0.5,
            radius: [0.1, 1.0],
            direction: Direction::Square,
        }
    }
}

impl MassSpring {
    /// Angular frequency `sqrt(k / m)`.
    pub fn omega(&self) -> f64 {
        (self.k / self.m).sqrt()
    }

    /// Closed-form solution from `x0 = (q0, p0)` at time `t`.
    pub fn exact(&self, x0: [f64; 2], t: f64) -> [f64; 2] {
        let w = self.omega();
        let (s, c) = (w * t).sin_cos();
        let [q0, p0] = x0;
        [q0 * c + p0 / (self.m * w) * s, p0 * c - self.m * w * q0 * s]
    }
}

impl Hamiltonian for MassSpring {
    fn validate(&self) -> Result<()> {
        let bad = |name, value: f64, reason| PhysicsError::InvalidParameter {
            name,
            value: value.to_string(),
            reason,
        };
        if !(self.k.is_finite() && self.k > 0.0) {
            return Err(bad(
                "k",
                self.k,
                "the spring constant must be positive and finite",
            ));
        }
        if !(self.m.is_finite() && self.m > 0.0) {
            return Err(bad("m", self.m, "the mass must be positive and finite"));
        }
        check_radius("radius", self.radius)
    }
    fn velocity_map(&self) -> Option<Vec<f64>> {
        Some(vec![1.0 / self.m])
    }
    fn name(&self) -> &str {
        "mass-spring"
    }
    fn dof(&self) -> usize {
        1
    }
    fn energy(&self, x: &[f64]) -> f64 {
        0.5 * self.k * x[0] * x[0] + x[1] * x[1] / (2.0 * self.m)
    }
    fn gradient(&self, x: &[f64], grad: &mut [f64]) {
        grad[0] = self.k * x[0];
        grad[1] = x[1] / self.m;
    }
    fn sample_initial_state(&self, rng: &mut dyn RngCore) -> Vec<f64> {
        sample_on_annulus(rng, self.direction, self.radius)
    }
}

impl SeparableField for MassSpring {
    fn dof(&self) -> usize {
        1
    }
    fn velocity(&self, p: &[f64], dqdt: &mut [f64]) {
        dqdt[0] = p[0] / self.m;
    }
    fn force(&self, q: &[f64], dpdt: &mut [f64]) {
        dpdt[0] = -self.k * q[0];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, stream};
    use std::f64::consts::PI;

    #[test]
    fn gradient_matches_central_differences() {
        let s = MassSpring {
            k: 3.0,
            m: 0.7,
            ..MassSpring::default()
        };
        for x in [[0.3, -0.4], [1.2, 0.9], [-2.0, 0.1]] {
            crate::testing::assert_gradient_matches_energy(&s, &x, 1e-8);
        }
    }

    #[test]
    fn exact_solution_conserves_energy_and_matches_field() {
        let s = MassSpring::default();
        let x0 = [0.6, -0.3];
        let e0 = s.energy(&x0);
        for t in [0.1, 1.0, 7.5] {
            assert!((s.energy(&s.exact(x0, t)) - e0).abs() < 1e-12);
        }
        // derivative of the closed form at t = 0 equals the field
        let h = 1e-6;
        let (a, b) = (s.exact(x0, h), s.exact(x0, -h));
        let mut f = [0.0; 2];
        s.time_derivative(&x0, &mut f);
        for i in 0..2 {
            assert!(((a[i] - b[i]) / (2.0 * h) - f[i]).abs() < 1e-8);
        }
    }

    #[test]
    fn initial_states_have_the_configured_radius_and_direction_law() {
        for direction in [Direction::Square, Direction::Uniform] {
            let s = MassSpring {
                direction,
                ..MassSpring::default()
            };
            let mut rng = stream(0, Purpose::Dataset, 0);
            let mut diagonal = 0;
            let n = 20_000;
            for _ in 0..n {
                let x = s.sample_initial_state(&mut rng);
                let r = x[0].hypot(x[1]);
                assert!((0.1..=1.0).contains(&r), "radius {r}");
                // within 22.5 degrees of a diagonal: half of all directions if uniform
                let a = x[1].atan2(x[0]).rem_euclid(PI / 2.0);
                diagonal += usize::from((a - PI / 4.0).abs() < PI / 8.0);
            }
            let frac = diagonal as f64 / n as f64;
            match direction {
                Direction::Uniform => assert!((frac - 0.5).abs() < 0.02, "{frac}"),
                // square-normalised: the fraction of the square within pi/8 of a diagonal, 1 - tan(pi/8)
                Direction::Square => assert!((frac - 0.586).abs() < 0.02, "{frac}"),
            }
        }
    }

    #[test]
    fn validation_names_the_parameter() {
        let err = MassSpring {
            m: 0.0,
            ..MassSpring::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("`m`"), "{err}");
        let err = MassSpring {
            radius: [1.0, 0.5],
            ..MassSpring::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("radius"), "{err}");
        // finite but not positive, and positive but not finite: both refused
        for k in [-1.0, 0.0, f64::INFINITY, f64::NAN] {
            let err = MassSpring {
                k,
                ..MassSpring::default()
            }
            .validate()
            .unwrap_err();
            assert!(err.to_string().contains("`k`"), "{k}: {err}");
        }
        for m in [-2.0, f64::INFINITY] {
            let err = MassSpring {
                m,
                ..MassSpring::default()
            }
            .validate()
            .unwrap_err();
            assert!(err.to_string().contains("`m`"), "{m}: {err}");
        }
    }

    /// The separable split that leapfrog integrates is Hamilton's field, by hand for k = 3,
    /// m = 2: dq/dt = p / m, dp/dt = -k q; and the official name.
    #[test]
    fn separable_split_by_hand() {
        let s = MassSpring {
            k: 3.0,
            m: 2.0,
            ..MassSpring::default()
        };
        assert_eq!(SeparableField::dof(&s), 1);
        let (mut v, mut f) = ([f64::NAN], [f64::NAN]);
        s.velocity(&[0.9], &mut v);
        s.force(&[0.4], &mut f);
        assert!(
            (v[0] - 0.45).abs() < 1e-15 && (f[0] + 1.2).abs() < 1e-15,
            "{v:?} {f:?}"
        );
        let mut dx = [0.0; 2];
        s.time_derivative(&[0.4, 0.9], &mut dx);
        assert_eq!(dx, [v[0], f[0]]);
        assert_eq!(s.name(), "mass-spring");
    }

    /// The closed form with m * omega != 1 (the defaults have m * omega = 1, which hides a
    /// swapped product): k = 3, m = 2 from (0.4, 0.9) at t = 1.7, computed by hand in Python.
    #[test]
    fn exact_solution_by_hand_off_the_defaults() {
        let s = MassSpring {
            k: 3.0,
            m: 2.0,
            ..MassSpring::default()
        };
        let [q, p] = s.exact([0.4, 0.9], 1.7);
        assert!((q - 0.1247246809663565).abs() < 1e-14, "{q}");
        assert!((p + 1.2948600402155606).abs() < 1e-14, "{p}");
    }
}
