use hnn_ode::SeparableField;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::rng::{Direction, check_radius, sample_on_annulus};
use crate::{Hamiltonian, PhysicsError, Result};

/// Ideal pendulum in the paper's form (Eq. 5), `H = 2 m g l (1 - cos q) + l^2 p^2 / (2 m)`.
///
/// The defaults `m = 1/2`, `l = 1`, `g = 3` give the official code's
/// `H = 3 (1 - cos q) + p^2`. Initial states lie at a radius uniform in `radius`
/// (`[1.3, 2.3]` officially) of the `(q, p)` plane, in a direction drawn as `direction` says.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Pendulum {
    /// Gravitational acceleration.
    pub g: f64,
    /// Mass.
    pub m: f64,
    /// Length.
    pub l: f64,
    /// Range `[min, max]` of the initial radius `sqrt(q^2 + p^2)`.
    #[serde(deserialize_with = "crate::pair::pair")]
    pub radius: [f64; 2],
    /// Distribution of the initial direction.
    pub direction: Direction,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self {
            g: 3.0,
            m: 0.5,
            l: 1.0,
            radius: [1.3, 2.3],
            direction: Direction::Square,
        }
    }
}

impl Pendulum {
    /// Small-angle angular frequency: `omega^2 = V''(0) * T''(0) = (2 m g l) (l^2 / m)`.
    pub fn small_angle_omega(&self) -> f64 {
        (2.0 * self.m * self.g * self.l * self.l * self.l / self.m).sqrt()
    }
}

impl Hamiltonian for Pendulum {
    fn validate(&self) -> Result<()> {
        for (name, v) in [("g", self.g), ("m", self.m), ("l", self.l)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(PhysicsError::InvalidParameter {
                    name,
                    value: v.to_string(),
                    reason: "must be positive and finite",
                });
            }
        }
        check_radius("radius", self.radius)
    }
    fn velocity_map(&self) -> Option<Vec<f64>> {
        Some(vec![self.l * self.l / self.m])
    }
    fn name(&self) -> &str {
        "pendulum"
    }
    fn dof(&self) -> usize {
        1
    }
    fn energy(&self, x: &[f64]) -> f64 {
        2.0 * self.m * self.g * self.l * (1.0 - x[0].cos())
            + self.l * self.l * x[1] * x[1] / (2.0 * self.m)
    }
    fn gradient(&self, x: &[f64], grad: &mut [f64]) {
        grad[0] = 2.0 * self.m * self.g * self.l * x[0].sin();
        grad[1] = self.l * self.l * x[1] / self.m;
    }
    fn sample_initial_state(&self, rng: &mut dyn RngCore) -> Vec<f64> {
        sample_on_annulus(rng, self.direction, self.radius)
    }
}

impl SeparableField for Pendulum {
    fn dof(&self) -> usize {
        1
    }
    fn velocity(&self, p: &[f64], dqdt: &mut [f64]) {
        dqdt[0] = self.l * self.l * p[0] / self.m;
    }
    fn force(&self, q: &[f64], dpdt: &mut [f64]) {
        dpdt[0] = -2.0 * self.m * self.g * self.l * q[0].sin();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::HamiltonianField;
    use hnn_ode::{Leapfrog, Rk45};

    #[test]
    fn defaults_are_the_official_hamiltonian() {
        let p = Pendulum::default();
        for x in [[0.3f64, -0.4], [2.0, 1.1], [-1.2, 0.0]] {
            let official = 3.0 * (1.0 - x[0].cos()) + x[1] * x[1];
            assert!((p.energy(&x) - official).abs() < 1e-14);
        }
    }

    /// omega^2 = 2 g l^3 (the mass cancels): 2 * 9.8 * 0.7^3 = 6.7228 for a non-unit length.
    #[test]
    fn small_angle_frequency_by_hand() {
        let p = Pendulum {
            g: 9.8,
            m: 1.3,
            l: 0.7,
            ..Pendulum::default()
        };
        assert!((p.small_angle_omega() - 6.7228f64.sqrt()).abs() < 1e-12);
    }

    /// Zero, negative and non-finite parameters are refused by name; the name and the start
    /// distribution are the official ones (a state of two numbers on the annulus).
    #[test]
    fn parameters_name_and_starts() {
        for (g, m, l, bad) in [
            (0.0, 0.5, 1.0, "g"),
            (3.0, 0.0, 1.0, "m"),
            (3.0, 0.5, -1.0, "l"),
        ] {
            let p = Pendulum {
                g,
                m,
                l,
                ..Pendulum::default()
            };
            let err = p.validate().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
        assert!(Pendulum::default().validate().is_ok());
        assert_eq!(Pendulum::default().name(), "pendulum");
        let mut rng = crate::rng::stream(0, crate::rng::Purpose::Dataset, 0);
        for _ in 0..20 {
            let x = Pendulum::default().sample_initial_state(&mut rng);
            assert_eq!(x.len(), 2);
            let r = x[0].hypot(x[1]);
            assert!((1.3..=2.3).contains(&r), "{r}");
        }
    }

    #[test]
    fn gradient_matches_central_differences() {
        let p = Pendulum {
            g: 9.8,
            m: 1.3,
            l: 0.7,
            ..Pendulum::default()
        };
        for x in [[0.3, -0.4], [2.5, 0.9], [-3.0, 0.1]] {
            crate::testing::assert_gradient_matches_energy(&p, &x, 1e-7);
        }
    }

    #[test]
    fn energy_is_conserved_by_rk45_and_leapfrog() {
        let p = Pendulum::default();
        let x0 = [2.0, 0.5]; // a large swing
        let e0 = p.energy(&x0);
        let sol = Rk45 {
            rtol: 1e-10,
            atol: 1e-10,
            ..Rk45::default()
        }
        .solve(&HamiltonianField(&p), (0.0, 30.0), &x0, &[10.0, 20.0, 30.0])
        .unwrap();
        for i in 0..3 {
            assert!((p.energy(sol.state(i)) - e0).abs() < 1e-8);
        }
        let lf = Leapfrog { h: 0.01 }
            .integrate(&p, &x0[..1], &x0[1..], 3000)
            .unwrap();
        let worst = lf
            .chunks(2)
            .map(|x| (p.energy(x) - e0).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-3, "{worst}");
    }

    #[test]
    fn small_oscillations_have_the_linear_period() {
        let p = Pendulum::default();
        let w = p.small_angle_omega(); // sqrt(6) for the defaults
        assert!((w - 6f64.sqrt()).abs() < 1e-12);
        let t = 2.0 * std::f64::consts::PI / w;
        let sol = Rk45 {
            rtol: 1e-10,
            atol: 1e-12,
            ..Rk45::default()
        }
        .solve(&HamiltonianField(&p), (0.0, t), &[1e-4, 0.0], &[t])
        .unwrap();
        assert!(
            (sol.y[0] - 1e-4).abs() < 1e-11 && sol.y[1].abs() < 1e-10,
            "{:?}",
            sol.y
        );
    }

    /// The separable split (what leapfrog integrates) is the Hamiltonian field itself, also
    /// away from the official m = l = g = 1 where an l or an l^2 would hide.
    #[test]
    fn separable_field_equals_the_hamiltonian_field() {
        let pend = Pendulum {
            m: 0.6,
            l: 1.7,
            g: 2.3,
            ..Pendulum::default()
        };
        for x in [[0.4, -1.3], [-2.0, 0.7]] {
            let mut grad = [0.0; 2];
            pend.gradient(&x, &mut grad);
            let (mut v, mut f) = ([0.0], [0.0]);
            pend.velocity(&x[1..], &mut v);
            pend.force(&x[..1], &mut f);
            assert!((v[0] - grad[1]).abs() < 1e-12);
            assert!((f[0] + grad[0]).abs() < 1e-12);
            // by hand: dH/dp = l^2 p / m, -dH/dq = -2 m g l sin q
            assert!((v[0] - 1.7 * 1.7 * x[1] / 0.6).abs() < 1e-12);
            assert!((f[0] + 2.0 * 0.6 * 2.3 * 1.7 * x[0].sin()).abs() < 1e-12);
        }
    }

    #[test]
    fn validation_names_the_parameter() {
        let err = Pendulum {
            l: -1.0,
            ..Pendulum::default()
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("`l`"), "{err}");
    }
}
