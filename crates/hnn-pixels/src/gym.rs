//! Gym's `Pendulum-v0` with zero torque.
//!
//! A uniform rod (`m = l = 1`, `g = 10`) whose angle `theta` Gym measures from the upright
//! position; one step of `dt = 0.05` is semi-implicit Euler:
//! `thdot += 3g/(2l) sin(theta) dt; theta += thdot dt; thdot = clip(thdot, -8, 8)` (the angle
//! moves with the unclipped speed, as in Gym).

use std::f64::consts::PI;

use rand::Rng;

use crate::error::{PixelError, Result};

pub const GRAVITY: f64 = 10.0;
pub const MASS: f64 = 1.0;
pub const LENGTH: f64 = 1.0;
pub const DT: f64 = 0.05;
pub const MAX_SPEED: f64 = 8.0;
/// The official labels' momentum: `p = 0.25 dtheta/dt`.
pub const MOMENTUM_SCALE: f64 = 0.25;
/// Rejection draws before giving up on a start range.
pub const MAX_DRAWS: usize = 1_000_000;

/// Gym's state: `theta` from the upright position (not wrapped) and its rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PendulumState {
    pub theta: f64,
    pub thdot: f64,
}

impl PendulumState {
    /// One Gym step with zero torque.
    pub fn step(self) -> Self {
        let accel = 3.0 * GRAVITY / (2.0 * LENGTH) * self.theta.sin();
        let thdot = self.thdot + accel * DT;
        let theta = self.theta + thdot * DT;
        Self {
            theta,
            thdot: thdot.clamp(-MAX_SPEED, MAX_SPEED),
        }
    }

    /// The angle from the hanging rest position in `(-pi, pi]`, positive towards `+x` (the
    /// official `get_theta`).
    pub fn angle_from_rest(self) -> f64 {
        wrap(self.theta - PI)
    }

    /// The official label `(angle from rest, 0.25 dtheta/dt)`.
    pub fn label(self) -> [f64; 2] {
        [self.angle_from_rest(), MOMENTUM_SCALE * self.thdot]
    }

    /// The state of a label.
    pub fn from_label([q, p]: [f64; 2]) -> Self {
        Self {
            theta: q + PI,
            thdot: p / MOMENTUM_SCALE,
        }
    }
}

/// An angle wrapped into `(-pi, pi]`.
pub fn wrap(a: f64) -> f64 {
    let w = (a + PI).rem_euclid(2.0 * PI) - PI;
    if w == -PI { PI } else { w }
}

/// The rod's energy in label coordinates, scaled so that `p^2` has weight one:
/// `E = (1/2) I w^2 + m g (l/2) (1 - cos q)` with `I = m l^2 / 3` and `w = 4 p` is
/// `(8/3) p^2 + 5 (1 - cos q)`; divided by `8/3`, `p^2 + 1.875 (1 - cos q)`
/// (`1.875 = 3g/(2l) * 2 * 0.25^2`). The paper's evaluation uses `1.9 (1 - cos q) + p^2`,
/// this rounded.
pub fn label_energy([q, p]: [f64; 2]) -> f64 {
    let k = 3.0 * GRAVITY / (2.0 * LENGTH) * 2.0 * MOMENTUM_SCALE * MOMENTUM_SCALE;
    k * (1.0 - q.cos()) + p * p
}

/// The paper's evaluation energy `1.9 (1 - cos q) + p^2`.
pub fn paper_energy([q, p]: [f64; 2]) -> f64 {
    1.9 * (1.0 - q.cos()) + p * p
}

/// Gym's reset (`theta ~ U[-pi, pi]`, `thdot ~ U[-1, 1]`) repeated until
/// `lo < |angle from rest| < hi`, the official rule for the pixel dataset.
pub fn sample_start(rng: &mut impl Rng, [lo, hi]: [f64; 2], trial: usize) -> Result<PendulumState> {
    for _ in 0..MAX_DRAWS {
        let theta = rng.random_range(-PI..PI);
        let thdot = rng.random_range(-1.0..1.0);
        let s = PendulumState { theta, thdot };
        let a = s.angle_from_rest().abs();
        if lo < a && a < hi {
            return Ok(s);
        }
    }
    Err(PixelError::NoStart {
        lo,
        hi,
        tries: MAX_DRAWS,
        trial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step by hand: theta = pi + 0.3 (0.3 past hanging), thdot = 0.5:
    /// accel = 15 sin(pi + 0.3) = -15 sin 0.3 = -4.43280...; thdot = 0.5 - 0.221640... =
    /// 0.278359...; theta = pi + 0.3 + 0.0139179...
    #[test]
    fn step_equals_the_hand_computation() {
        let s = PendulumState {
            theta: PI + 0.3,
            thdot: 0.5,
        }
        .step();
        let thdot = 0.5 - 15.0 * 0.3f64.sin() * 0.05;
        assert!((thdot - 0.278_359_9).abs() < 1e-6, "{thdot}");
        assert!((s.thdot - thdot).abs() < 1e-15);
        assert!((s.theta - (PI + 0.3 + thdot * 0.05)).abs() < 1e-15);
        assert!((s.angle_from_rest() - 0.313_918).abs() < 1e-6);
    }

    /// The angle moves with the unclipped speed; only the stored speed is clipped.
    #[test]
    fn speed_is_clipped_after_the_angle_moves() {
        let s = PendulumState {
            theta: PI / 2.0,
            thdot: 7.9,
        }
        .step();
        // 7.9 + 15 * 0.05 = 8.65
        assert!((s.theta - (PI / 2.0 + 8.65 * 0.05)).abs() < 1e-12);
        assert_eq!(s.thdot, 8.0);
        let s = PendulumState {
            theta: -PI / 2.0,
            thdot: -7.9,
        }
        .step();
        assert_eq!(s.thdot, -8.0);
    }

    #[test]
    fn labels_wrap_and_invert() {
        for (theta, want) in [
            (PI, 0.0),
            (PI + 0.2, 0.2),
            (PI - 0.2, -0.2),
            (3.0 * PI + 0.1, 0.1),
            (0.0, PI),
        ] {
            let s = PendulumState { theta, thdot: 2.0 };
            assert!((s.angle_from_rest() - want).abs() < 1e-12, "{theta}");
            assert_eq!(s.label()[1], 0.5);
        }
        let s = PendulumState::from_label([0.3, -0.1]);
        assert!((s.label()[0] - 0.3).abs() < 1e-15 && (s.label()[1] + 0.1).abs() < 1e-15);
    }

    /// The semi-implicit Euler step is symplectic: over 200 steps (about 6 periods) the label
    /// energy stays within O(w dt) ~ 20% of its start and does not drift.
    #[test]
    fn label_energy_is_the_rods_energy() {
        assert!((label_energy([0.0, 0.5]) - 0.25).abs() < 1e-15);
        assert!((label_energy([PI / 2.0, 0.0]) - 1.875).abs() < 1e-15);
        // at a point where no term vanishes: 1 - cos(pi/3) = 0.5, p^2 = 0.09
        assert!((label_energy([PI / 3.0, -0.3]) - (0.9375 + 0.09)).abs() < 1e-15);
        assert!((paper_energy([PI / 3.0, -0.3]) - (0.95 + 0.09)).abs() < 1e-15);
        let mut s = PendulumState::from_label([0.3, 0.0]);
        let e0 = label_energy(s.label());
        let mut worst: f64 = 0.0;
        for _ in 0..200 {
            s = s.step();
            worst = worst.max((label_energy(s.label()) - e0).abs() / e0);
        }
        assert!(worst < 0.25, "{worst}");
    }

    #[test]
    fn starts_obey_the_rejection_rule() {
        let mut rng = hnn_physics::rng::stream(0, hnn_physics::rng::Purpose::Dataset, 0);
        for trial in 0..200 {
            let s = sample_start(&mut rng, [0.0, PI / 6.0], trial).unwrap();
            assert!(s.angle_from_rest().abs() < PI / 6.0);
            assert!(s.thdot.abs() <= 1.0);
        }
        let e = sample_start(&mut rng, [1.0, 1.0], 7).unwrap_err();
        assert!(e.to_string().contains("trial 7"), "{e}");
    }
}
