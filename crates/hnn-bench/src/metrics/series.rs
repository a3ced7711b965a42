//! Pointwise errors over rollouts and their curves over time: small functions of truth and
//! model trajectories that never integrate anything themselves (the rollouts come from
//! [`crate::eval`]). The scores built on them are [`super::Metric`]s.
//!
//! Trajectories are row-major `[points, dim]` slices; `t` holds the comparison times.

use serde::{Deserialize, Serialize};

fn norm(v: impl Iterator<Item = f64>) -> f64 {
    v.map(|x| x * x).sum::<f64>().sqrt()
}

/// Squared distance per point, averaged over coordinates.
pub fn coordinate_mse(truth: &[f64], model: &[f64], dim: usize) -> Vec<f64> {
    truth
        .chunks(dim)
        .zip(model.chunks(dim))
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / dim as f64)
        .collect()
}

/// `|x̂ - x| / (|x̂| + |x|)` per point: 0 for a perfect rollout, 1 at most; 0 where both are 0.
pub fn relative_error(truth: &[f64], model: &[f64], dim: usize) -> Vec<f64> {
    truth
        .chunks(dim)
        .zip(model.chunks(dim))
        .map(|(a, b)| {
            let den = norm(a.iter().copied()) + norm(b.iter().copied());
            if den == 0.0 {
                0.0
            } else {
                norm(a.iter().zip(b).map(|(x, y)| x - y)) / den
            }
        })
        .collect()
}

/// Geometric mean, with values floored at `1e-16` (machine precision) so an exact point does
/// not send it to zero.
pub fn geometric_mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    (values.iter().map(|v| v.max(1e-16).ln()).sum::<f64>() / values.len() as f64).exp()
}

/// Valid prediction time: the last time before the relative error first exceeds `threshold`
/// (so 0 if the first point already does), or the last time if it never does.
pub fn valid_prediction_time(t: &[f64], rel_err: &[f64], threshold: f64) -> f64 {
    match rel_err.iter().position(|&e| e.is_nan() || e > threshold) {
        Some(0) => 0.0,
        Some(k) => t[k - 1] - t[0],
        None => t.last().map_or(0.0, |&l| l - t[0]),
    }
}

/// `|E(x̂(t)) - E(x(0))| / |E(x(0))|` per point, against the truth's initial energy.
pub fn energy_drift(
    energy: &dyn Fn(&[f64]) -> f64,
    truth0: &[f64],
    model: &[f64],
    dim: usize,
) -> Vec<f64> {
    let e0 = energy(truth0);
    model
        .chunks(dim)
        .map(|x| (energy(x) - e0).abs() / e0.abs())
        .collect()
}

/// Least-squares fit `learned ≈ a · truth + b` and its coefficient of determination.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AffineFit {
    pub a: f64,
    pub b: f64,
    #[serde(deserialize_with = "crate::summary::f64_or_nan")]
    pub r2: f64,
}

/// How well a learned energy is an affine function of the true one (an HNN's H is identifiable
/// only up to scale and offset): `R² = 1` when it is exactly one.
pub fn affine_fit(truth: &[f64], learned: &[f64]) -> AffineFit {
    let n = truth.len().min(learned.len()) as f64;
    let mx = truth.iter().sum::<f64>() / n;
    let my = learned.iter().sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in truth.iter().zip(learned) {
        sxx += (x - mx) * (x - mx);
        sxy += (x - mx) * (y - my);
        syy += (y - my) * (y - my);
    }
    let a = sxy / sxx;
    let b = my - a * mx;
    let r2 = if syy == 0.0 {
        f64::NAN
    } else {
        sxy * sxy / (sxx * syy)
    };
    AffineFit { a, b, r2 }
}

/// A model's curves over time under one protocol, over its finished trajectories, and the
/// horizon they span. The default (what a run written before these curves reads back as) is
/// all missing: NaN and empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutMetrics {
    /// The horizon of the rollouts (mean over trajectories).
    #[serde(deserialize_with = "crate::summary::f64_or_nan")]
    pub horizon: f64,
    /// Per point index, means over trajectories: coordinate MSE, relative error, energy drift.
    #[serde(deserialize_with = "crate::summary::vec_f64_or_nan")]
    pub coordinate_mse_over_time: Vec<f64>,
    #[serde(deserialize_with = "crate::summary::vec_f64_or_nan")]
    pub relative_error_over_time: Vec<f64>,
    #[serde(default, deserialize_with = "crate::summary::vec_f64_or_nan")]
    pub energy_drift_over_time: Vec<f64>,
    /// Scores that runs written before [`super::METRICS`] kept here, read back (never
    /// written) so that [`super::upgrade_legacy`] moves them into the scores.
    #[serde(flatten, skip_serializing)]
    pub legacy: LegacyScores,
}

/// The scalar scores `summary.json` held in its rollout metrics before metrics were objects.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct LegacyScores {
    #[serde(default)]
    pub valid_time: Option<f64>,
    #[serde(default)]
    pub relative_error_geomean: Option<f64>,
    #[serde(default)]
    pub energy_drift_final: Option<f64>,
}

/// A true energy as the metrics take it.
pub type EnergyRef<'a> = &'a dyn Fn(&[f64]) -> f64;

impl Default for RolloutMetrics {
    fn default() -> Self {
        Self {
            horizon: f64::NAN,
            coordinate_mse_over_time: Vec::new(),
            relative_error_over_time: Vec::new(),
            energy_drift_over_time: Vec::new(),
            legacy: LegacyScores::default(),
        }
    }
}

/// One finished rollout as the metrics see it.
pub struct Rollout<'a> {
    pub t: &'a [f64],
    pub truth: &'a [f64],
    pub model: &'a [f64],
}

/// The curves of a model over its finished rollouts.
pub fn rollout_series(
    rollouts: &[Rollout<'_>],
    dim: usize,
    energy: Option<EnergyRef<'_>>,
) -> RolloutMetrics {
    if rollouts.is_empty() {
        return RolloutMetrics::default();
    }
    let n = rollouts.len() as f64;
    let points = rollouts.iter().map(|r| r.t.len()).min().unwrap_or(0);
    let mut out = RolloutMetrics {
        coordinate_mse_over_time: vec![0.0; points],
        relative_error_over_time: vec![0.0; points],
        energy_drift_over_time: if energy.is_some() {
            vec![0.0; points]
        } else {
            Vec::new()
        },
        ..RolloutMetrics::default()
    };
    let mut horizon = 0.0;
    for r in rollouts {
        let rel = relative_error(r.truth, r.model, dim);
        horizon += r.t.last().copied().unwrap_or(0.0) - r.t[0];
        for (acc, v) in out.relative_error_over_time.iter_mut().zip(&rel) {
            *acc += v / n;
        }
        for (acc, v) in out
            .coordinate_mse_over_time
            .iter_mut()
            .zip(coordinate_mse(r.truth, r.model, dim))
        {
            *acc += v / n;
        }
        if let Some(e) = energy {
            let drift = energy_drift(e, &r.truth[..dim], r.model, dim);
            for (acc, v) in out.energy_drift_over_time.iter_mut().zip(&drift) {
                *acc += v / n;
            }
        }
    }
    out.horizon = horizon / n;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointwise_errors_by_hand() {
        // truth (3, 4) and (0, 0); model (0, 0) and (0, 0)
        let truth = [3.0, 4.0, 0.0, 0.0];
        let model = [0.0, 0.0, 0.0, 0.0];
        assert_eq!(coordinate_mse(&truth, &model, 2), vec![12.5, 0.0]);
        // |(3,4)| / (5 + 0) = 1; both zero: 0
        assert_eq!(relative_error(&truth, &model, 2), vec![1.0, 0.0]);
        // model (3, 0) against truth (3, 4): |(0,4)| / (5 + 3) = 0.5
        assert_eq!(relative_error(&[3.0, 4.0], &[3.0, 0.0], 2), vec![0.5]);
        assert!((geometric_mean(&[1.0, 4.0]) - 2.0).abs() < 1e-15);
        assert!((geometric_mean(&[0.0, 1e-16]) - 1e-16).abs() < 1e-30);
        assert!(geometric_mean(&[]).is_nan());
    }

    #[test]
    fn valid_prediction_time_is_the_last_time_under_the_threshold() {
        let t = [0.0, 0.5, 1.0, 1.5];
        assert_eq!(
            valid_prediction_time(&t, &[0.0, 0.01, 0.03, 0.0], 0.025),
            0.5
        );
        assert_eq!(valid_prediction_time(&t, &[0.1, 0.0, 0.0, 0.0], 0.025), 0.0);
        assert_eq!(valid_prediction_time(&t, &[0.0; 4], 0.025), 1.5);
        // NaN is past any threshold
        assert_eq!(
            valid_prediction_time(&t, &[0.0, f64::NAN, 0.0, 0.0], 0.025),
            0.0
        );
        // measured from the first time, also when the threshold is never passed
        assert_eq!(
            valid_prediction_time(&[2.0, 3.0, 4.0], &[0.0, 0.0, 1.0], 0.025),
            1.0
        );
        assert_eq!(
            valid_prediction_time(&[2.0, 3.0, 4.5], &[0.0; 3], 0.025),
            2.5
        );
        // reaching the threshold is not exceeding it
        assert_eq!(
            valid_prediction_time(&t, &[0.0, 0.025, 0.026, 0.0], 0.025),
            0.5
        );
    }

    #[test]
    fn energy_drift_is_relative_to_the_true_start() {
        let e = |x: &[f64]| x[0] * x[0] + x[1] * x[1];
        // truth starts at energy 4; the model's energies 4, 5, 2
        let model = [2.0, 0.0, 2.0, 1.0, 1.0, 1.0];
        assert_eq!(
            energy_drift(&e, &[0.0, 2.0], &model, 2),
            vec![0.0, 0.25, 0.5]
        );
    }

    #[test]
    fn affine_fit_recovers_scale_offset_and_r2() {
        let truth = [0.0, 1.0, 2.0, 3.0];
        let learned: Vec<f64> = truth.iter().map(|x| 2.0 * x - 1.0).collect();
        let f = affine_fit(&truth, &learned);
        assert!((f.a - 2.0).abs() < 1e-12 && (f.b + 1.0).abs() < 1e-12);
        assert!((f.r2 - 1.0).abs() < 1e-12);
        // y = (0, 1, 0, 1) against x = (0, 1, 2, 3): slope 0.2, r^2 = 0.2
        let f = affine_fit(&truth, &[0.0, 1.0, 0.0, 1.0]);
        assert!((f.a - 0.2).abs() < 1e-12 && (f.b - 0.2).abs() < 1e-12);
        assert!((f.r2 - 0.2).abs() < 1e-12, "{}", f.r2);
        assert!(affine_fit(&truth, &[1.0; 4]).r2.is_nan());
    }

    #[test]
    fn curves_average_over_trajectories() {
        let e = |x: &[f64]| x[0] * x[0] + x[1] * x[1];
        let m = crate::metrics::testing::two_rollouts(|r| rollout_series(r, 2, Some(&e)));
        // relative error of the bad point: 1 / (1 + sqrt 2)
        let r = 1.0 / (1.0 + 2f64.sqrt());
        assert_eq!(m.horizon, 1.0);
        assert_eq!(m.coordinate_mse_over_time, vec![0.0, 0.25]);
        assert!((m.relative_error_over_time[1] - r / 2.0).abs() < 1e-15);
        // energy 2 against 1 at the end of the bad one: drift 1, mean 0.5
        assert_eq!(m.energy_drift_over_time, vec![0.0, 0.5]);
        // horizons are measured from each rollout's own start
        let (late, truth) = ([5.0, 7.5], [1.0, 0.0, 1.0, 0.0]);
        let one = [Rollout {
            t: &late,
            truth: &truth,
            model: &truth,
        }];
        let m = rollout_series(&one, 2, None);
        assert_eq!(m.horizon, 2.5);
        assert!(m.energy_drift_over_time.is_empty());
        assert!(rollout_series(&[], 2, None).horizon.is_nan());
    }
}
