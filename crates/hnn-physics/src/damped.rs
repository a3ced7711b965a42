//! Mass-springs with friction: the [Re] reproduction's damped spring and the D-HNN authors' one.

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::{PhysicsError, Result, System};

/// The damped mass-spring of the \[Re\] study, `m x'' + beta x' + k x = 0`, with `q = x`,
/// `p = m x'`:
/// `dq/dt = p / m`, `dp/dt = -k q - beta p / m`; energy `k q^2 / 2 + p^2 / (2 m)`, which decays
/// at the rate `beta p^2 / m^2`. Trajectories start at rest at `q0 ~ U[x0[0], x0[1]]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DampedSpring {
    pub k: f64,
    pub m: f64,
    /// Friction coefficient `beta >= 0` (0 is the ideal spring).
    pub beta: f64,
    /// Range of the initial displacement.
    #[serde(deserialize_with = "crate::pair::pair")]
    pub x0: [f64; 2],
}

impl Default for DampedSpring {
    fn default() -> Self {
        Self {
            k: 1.0,
            m: 1.0,
            beta: 0.01,
            x0: [-5.0, 5.0],
        }
    }
}

impl DampedSpring {
    /// Closed form from rest at `q0` (under-, critically or over-damped).
    pub fn exact_from_rest(&self, q0: f64, t: f64) -> [f64; 2] {
        let (m, k, b) = (self.m, self.k, self.beta);
        let alpha = b / (2.0 * m);
        let disc = b * b - 4.0 * m * k;
        let decay = (-alpha * t).exp();
        let (x, v) = if disc < 0.0 {
            let w = (-disc).sqrt() / (2.0 * m);
            let (s, c) = (w * t).sin_cos();
            let c2 = alpha * q0 / w;
            // v = e^{-at} ((-a q0 + c2 w) cos + (-a c2 - q0 w) sin), and c2 w = a q0 from rest
            (
                decay * (q0 * c + c2 * s),
                decay * (-alpha * c2 - q0 * w) * s,
            )
        } else if disc == 0.0 {
            // x = (q0 + alpha q0 t) e^{-alpha t}
            (
                decay * q0 * (1.0 + alpha * t),
                decay * q0 * (alpha - alpha * (1.0 + alpha * t)),
            )
        } else {
            let w = disc.sqrt() / (2.0 * m);
            let (s, c) = ((w * t).sinh(), (w * t).cosh());
            let c2 = alpha * q0 / w;
            // as above with cosh and sinh: the cosh term vanishes from rest
            (
                decay * (q0 * c + c2 * s),
                decay * (-alpha * c2 + q0 * w) * s,
            )
        };
        [x, m * v]
    }
}

fn positive(name: &'static str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(PhysicsError::InvalidParameter {
            name,
            value: v.to_string(),
            reason: "must be positive and finite",
        })
    }
}

impl System for DampedSpring {
    fn name(&self) -> &str {
        "damped-spring"
    }
    fn dim(&self) -> usize {
        2
    }
    fn velocity_map(&self) -> Option<Vec<f64>> {
        Some(vec![1.0 / self.m])
    }
    fn energy(&self, x: &[f64]) -> f64 {
        0.5 * self.k * x[0] * x[0] + x[1] * x[1] / (2.0 * self.m)
    }
    fn time_derivative(&self, x: &[f64], dxdt: &mut [f64]) {
        let v = x[1] / self.m;
        dxdt[0] = v;
        dxdt[1] = -self.k * x[0] - self.beta * v;
    }
    fn sample_initial_state(&self, rng: &mut dyn RngCore) -> Vec<f64> {
        let [lo, hi] = self.x0;
        vec![lo + (hi - lo) * rng.random::<f64>(), 0.0]
    }
    fn validate(&self) -> Result<()> {
        positive("k", self.k)?;
        positive("m", self.m)?;
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(PhysicsError::InvalidParameter {
                name: "beta",
                value: self.beta.to_string(),
                reason: "the friction coefficient must be >= 0 and finite",
            });
        }
        let [lo, hi] = self.x0;
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(PhysicsError::InvalidParameter {
                name: "x0",
                value: format!("[{lo}, {hi}]"),
                reason: "expected [min, max] with min <= max",
            });
        }
        Ok(())
    }
    fn conservative(&self) -> bool {
        self.beta == 0.0
    }
}

/// The D-HNN authors' damped spring: `H = q^2 + p^2` with friction on `q` only,
/// `dq/dt = 2p - 2 gamma q`, `dp/dt = -2q` (their `gamma = 1`); energy `q^2 + p^2`.
/// Initial states (for rollouts) lie at a radius uniform in `radius`, uniform angle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QDampedSpring {
    pub gamma: f64,
    #[serde(deserialize_with = "crate::pair::pair")]
    pub radius: [f64; 2],
}

impl Default for QDampedSpring {
    fn default() -> Self {
        Self {
            gamma: 1.0,
            radius: [0.2, 1.2],
        }
    }
}

impl System for QDampedSpring {
    fn name(&self) -> &str {
        "q-damped-spring"
    }
    fn dim(&self) -> usize {
        2
    }
    fn energy(&self, x: &[f64]) -> f64 {
        x[0] * x[0] + x[1] * x[1]
    }
    fn time_derivative(&self, x: &[f64], dxdt: &mut [f64]) {
        dxdt[0] = 2.0 * x[1] - 2.0 * self.gamma * x[0];
        dxdt[1] = -2.0 * x[0];
    }
    fn sample_initial_state(&self, rng: &mut dyn RngCore) -> Vec<f64> {
        crate::rng::sample_on_annulus(rng, crate::Direction::Uniform, self.radius)
    }
    fn validate(&self) -> Result<()> {
        if !(self.gamma.is_finite() && self.gamma >= 0.0) {
            return Err(PhysicsError::InvalidParameter {
                name: "gamma",
                value: self.gamma.to_string(),
                reason: "must be >= 0 and finite",
            });
        }
        crate::rng::check_radius("radius", self.radius)
    }
    fn conservative(&self) -> bool {
        self.gamma == 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemField;
    use hnn_ode::Rk45;

    #[test]
    fn rk45_path_equals_the_closed_form() {
        for beta in [0.0, 0.01, 0.5, 2.0, 3.0] {
            let s = DampedSpring {
                beta,
                ..DampedSpring::default()
            };
            let q0 = 3.7;
            let t: Vec<f64> = (0..=40).map(|i| 0.5 * i as f64).collect();
            let sol = Rk45 {
                rtol: 1e-11,
                atol: 1e-11,
                ..Rk45::default()
            }
            .solve(&SystemField(&s), (0.0, 20.0), &[q0, 0.0], &t)
            .unwrap();
            for (k, &tk) in t.iter().enumerate() {
                let e = s.exact_from_rest(q0, tk);
                let y = sol.state(k);
                assert!(
                    (y[0] - e[0]).abs() < 1e-8 && (y[1] - e[1]).abs() < 1e-8,
                    "beta {beta}, t {tk}: {y:?} vs {e:?}"
                );
            }
        }
    }

    /// The closed form off the unit mass (the defaults' m = 1 hides a swapped product): each
    /// regime against RK45, with p = m v. Under-damped m = 2, k = 3, beta = 0.5; critical
    /// m = 0.5, k = 2, beta = 2 (beta^2 = 4 m k exactly); over-damped m = 2, k = 3, beta = 5.
    #[test]
    fn closed_form_off_the_unit_mass() {
        for (m, k, beta) in [(2.0, 3.0, 0.5), (0.5, 2.0, 2.0), (2.0, 3.0, 5.0)] {
            let s = DampedSpring {
                m,
                k,
                beta,
                ..DampedSpring::default()
            };
            let t: Vec<f64> = (0..=12).map(|i| 0.5 * i as f64).collect();
            let sol = Rk45 {
                rtol: 1e-11,
                atol: 1e-11,
                ..Rk45::default()
            }
            .solve(&SystemField(&s), (0.0, 6.0), &[1.3, 0.0], &t)
            .unwrap();
            for (i, &ti) in t.iter().enumerate() {
                let e = s.exact_from_rest(1.3, ti);
                let y = sol.state(i);
                assert!(
                    (y[0] - e[0]).abs() < 1e-8 && (y[1] - e[1]).abs() < 1e-8,
                    "m {m} k {k} beta {beta}, t {ti}: {y:?} vs {e:?}"
                );
            }
        }
    }

    /// k and m must be positive and finite, each named.
    #[test]
    fn stiffness_and_mass_are_checked() {
        for (k, m, name) in [
            (0.0, 1.0, "`k`"),
            (f64::INFINITY, 1.0, "`k`"),
            (1.0, -1.0, "`m`"),
            (1.0, f64::NAN, "`m`"),
        ] {
            let e = DampedSpring {
                k,
                m,
                ..DampedSpring::default()
            }
            .validate()
            .unwrap_err();
            assert!(e.to_string().contains(name), "{k} {m}: {e}");
        }
    }

    #[test]
    fn hand_computed_field_and_decaying_energy() {
        let s = DampedSpring {
            k: 2.0,
            m: 0.5,
            beta: 0.3,
            x0: [-1.0, 1.0],
        };
        let mut d = [0.0; 2];
        s.time_derivative(&[1.5, -0.4], &mut d);
        // v = -0.8; dq = -0.8; dp = -3 - 0.3 * -0.8 = -2.76
        assert!((d[0] + 0.8).abs() < 1e-15 && (d[1] + 2.76).abs() < 1e-15);
        assert_eq!(s.energy(&[1.5, -0.4]), 2.25 + 0.16);
        // dE/dt = -beta v^2 < 0 along the flow
        let q0 = 2.0;
        let e: Vec<f64> = (0..10)
            .map(|i| s.energy(&s.exact_from_rest(q0, i as f64)))
            .collect();
        assert!(e.windows(2).all(|w| w[1] < w[0]), "{e:?}");
        assert!(!s.conservative());
        assert!(DampedSpring { beta: 0.0, ..s }.conservative());
    }

    #[test]
    fn negative_friction_is_refused_by_name() {
        let e = DampedSpring {
            beta: -0.1,
            ..DampedSpring::default()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().contains("`beta`"), "{e}");
    }

    /// The rest of the [Re] spring by hand: its name, its energy off the unit mass
    /// (m = 2, k = 3 at (1.5, -0.4): 0.5 * 3 * 2.25 + 0.16 / 4 = 3.415), starts at rest inside
    /// `x0`, and `x0` read as [min, max] (equal ends allowed).
    #[test]
    fn re_spring_name_energy_starts_and_range() {
        let s = DampedSpring {
            k: 3.0,
            m: 2.0,
            beta: 0.1,
            x0: [2.0, 3.0],
        };
        assert_eq!(s.name(), "damped-spring");
        assert!((s.energy(&[1.5, -0.4]) - 3.415).abs() < 1e-14);
        let mut rng = crate::rng::stream(0, crate::rng::Purpose::Dataset, 0);
        for _ in 0..20 {
            let x = s.sample_initial_state(&mut rng);
            assert_eq!(x.len(), 2);
            assert!((2.0..=3.0).contains(&x[0]) && x[1] == 0.0, "{x:?}");
        }
        for (x0, ok) in [
            ([2.0, 3.0], true),
            ([2.0, 2.0], true),
            ([3.0, 2.0], false),
            ([f64::NAN, 2.0], false),
            ([1.0, f64::INFINITY], false),
        ] {
            let r = DampedSpring { x0, ..s }.validate();
            assert_eq!(r.is_ok(), ok, "{x0:?}");
            if let Err(e) = r {
                assert!(e.to_string().contains("`x0`"), "{e}");
            }
        }
    }

    /// The D-HNN authors' spring by hand off their gamma = 1: at (0.5, -1) with gamma = 0.5,
    /// dq/dt = 2p - 2 gamma q = -2.5, dp/dt = -2q = -1; energy q^2 + p^2 = 1.25; starts on the
    /// annulus; gamma >= 0 and finite; conservative exactly at gamma = 0.
    #[test]
    fn q_damped_spring_by_hand() {
        let s = QDampedSpring {
            gamma: 0.5,
            ..QDampedSpring::default()
        };
        assert_eq!(s.name(), "q-damped-spring");
        let mut d = [0.0; 2];
        s.time_derivative(&[0.5, -1.0], &mut d);
        assert_eq!(d, [-2.5, -1.0]);
        assert_eq!(s.energy(&[0.5, -1.0]), 1.25);
        assert_eq!(s.energy(&[-0.3, 0.4]), 0.09 + 0.16);
        let mut rng = crate::rng::stream(1, crate::rng::Purpose::Dataset, 0);
        for _ in 0..20 {
            let x = s.sample_initial_state(&mut rng);
            assert_eq!(x.len(), 2);
            assert!((0.2..=1.2).contains(&x[0].hypot(x[1])), "{x:?}");
        }
        for (gamma, ok) in [(0.0, true), (0.5, true), (-0.1, false), (f64::NAN, false)] {
            let r = QDampedSpring { gamma, ..s }.validate();
            assert_eq!(r.is_ok(), ok, "{gamma}");
        }
        assert!(
            QDampedSpring {
                radius: [1.0, 0.5],
                ..s
            }
            .validate()
            .is_err()
        );
        assert!(!s.conservative());
        assert!(QDampedSpring { gamma: 0.0, ..s }.conservative());
    }

    #[test]
    fn q_damped_field_is_the_authors() {
        let s = QDampedSpring::default();
        let mut d = [0.0; 2];
        s.time_derivative(&[0.5, -1.0], &mut d);
        assert_eq!(d, [-2.0 - 1.0, -1.0]);
    }
}
