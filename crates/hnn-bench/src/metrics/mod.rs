//! Scores of a trained model: each a type implementing [`Metric`] (its name, what it needs, and
//! how it scores that evidence), registered in [`METRICS`]. Evaluation gathers the evidence the
//! registered metrics need once per model and protocol, `summary.json` keeps every score by
//! name (`energy.<protocol>.models.<model>.scores`), and the tables take their columns from the
//! list. Adding a metric: its file in this folder and one line in [`METRICS`].

use std::collections::BTreeMap;

mod energy_drift;
mod identifiability;
mod relative_error;
mod reversibility;
mod series;
mod valid_time;

pub use energy_drift::EnergyDrift;
pub use identifiability::Identifiability;
pub use relative_error::RelativeError;
pub use reversibility::Reversibility;
pub use series::*;
pub use valid_time::{VPT_THRESHOLD, ValidTime};

/// Every metric a run scores, in table order.
pub const METRICS: &[&dyn Metric] = &[
    &ValidTime,
    &RelativeError,
    &EnergyDrift,
    &Reversibility,
    &Identifiability,
];

/// What a metric needs beyond the model's finished rollouts against the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The task's true energy.
    pub true_energy: bool,
    /// Rollouts integrated back from their ends with the momenta flipped (an extra
    /// integration per rollout, `eval.<protocol>.reversibility` of them).
    pub reversal: bool,
    /// The model's learned energy on the test inputs, fitted to the true one.
    pub learned_energy: bool,
}

/// What evaluation hands every metric for one model under one protocol.
pub struct Evidence<'a> {
    /// The model's finished rollouts against the truth.
    pub rollouts: &'a [Rollout<'a>],
    pub dim: usize,
    pub energy: Option<EnergyRef<'a>>,
    /// Per reversed rollout, `|R φ R φ x(0) − x(0)| / |x(0)|` (`None`: none was asked for or
    /// the state has no momenta to flip; empty: none came back).
    pub reversal_errors: Option<&'a [f64]>,
    /// The fit `H_learned ≈ a · E_true + b` on the test inputs (models with an energy, tasks
    /// with one).
    pub energy_fit: Option<AffineFit>,
}

/// One score of a trained model.
pub trait Metric: Sync {
    /// Key in `summary.json`'s scores.
    fn name(&self) -> &'static str;
    /// Column header in the tables.
    fn column(&self) -> &'static str;
    /// One sentence for the tables' legend: what the number is.
    fn legend(&self) -> String;
    fn needs(&self) -> Needs {
        Needs::default()
    }
    /// The score, or `None` where the evidence does not allow one.
    fn score(&self, evidence: &Evidence<'_>) -> Option<f64>;
    /// The score as the tables print it.
    fn format(&self, value: f64) -> String {
        format!("{value:.2e}")
    }
}

/// Every registered metric's score on `evidence`; a metric with no finite score is left out.
pub fn scores(evidence: &Evidence<'_>) -> BTreeMap<String, f64> {
    METRICS
        .iter()
        .filter_map(|m| {
            let v = m.score(evidence)?;
            v.is_finite().then(|| (m.name().to_string(), v))
        })
        .collect()
}

/// Whether any registered metric needs `need`.
pub fn needed(need: impl Fn(Needs) -> bool) -> bool {
    METRICS.iter().any(|m| need(m.needs()))
}

/// The registered metric called `name`.
pub fn metric(name: &str) -> Option<&'static dyn Metric> {
    METRICS.iter().copied().find(|m| m.name() == name)
}

/// Scores of a run written before metrics were objects, from the fields it kept them in
/// (`metrics.valid_time`, `metrics.relative_error_geomean`, `metrics.energy_drift_final`,
/// `reversibility_error`, and the model's `energy_fit`); nothing when it already has scores.
pub fn upgrade_legacy(
    scores: &mut BTreeMap<String, f64>,
    legacy: &LegacyScores,
    reversibility: Option<f64>,
    energy_fit: Option<AffineFit>,
) {
    if !scores.is_empty() {
        return;
    }
    let old = [
        (ValidTime.name(), legacy.valid_time),
        (RelativeError.name(), legacy.relative_error_geomean),
        (EnergyDrift.name(), legacy.energy_drift_final),
        (Reversibility.name(), reversibility),
        (Identifiability.name(), energy_fit.map(|f| f.r2)),
    ];
    for (name, v) in old {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            scores.insert(name.to_string(), v);
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// One perfect rollout and one off by `(0, 1)` at the second point of the truth `(1, 0)`,
    /// over times 0 and 1.
    pub fn two_rollouts<R>(f: impl FnOnce(&[Rollout<'_>]) -> R) -> R {
        let t = [0.0, 1.0];
        let truth = [1.0, 0.0, 1.0, 0.0];
        let bad = [1.0, 0.0, 1.0, 1.0];
        f(&[
            Rollout {
                t: &t,
                truth: &truth,
                model: &truth,
            },
            Rollout {
                t: &t,
                truth: &truth,
                model: &bad,
            },
        ])
    }

    pub fn evidence<'a>(
        rollouts: &'a [Rollout<'a>],
        energy: Option<EnergyRef<'a>>,
    ) -> Evidence<'a> {
        Evidence {
            rollouts,
            dim: 2,
            energy,
            reversal_errors: None,
            energy_fit: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are unique keys, and a score that is not finite is left out.
    #[test]
    fn registry_names_are_unique_and_scores_finite() {
        for (i, m) in METRICS.iter().enumerate() {
            assert!(
                METRICS[..i].iter().all(|o| o.name() != m.name()),
                "{}",
                m.name()
            );
            assert!(metric(m.name()).is_some());
        }
        let s = scores(&testing::evidence(&[], None));
        assert!(s.is_empty(), "{s:?}");
        assert!(needed(|n| n.reversal));
    }

    /// A run from before: its old fields become scores; a run with scores is left alone.
    #[test]
    fn legacy_fields_become_scores() {
        let legacy = LegacyScores {
            valid_time: Some(2.0),
            relative_error_geomean: Some(0.1),
            energy_drift_final: None,
        };
        let mut s = BTreeMap::new();
        upgrade_legacy(&mut s, &legacy, Some(1e-3), None);
        assert_eq!(s.len(), 3);
        assert_eq!((s["valid_time"], s["reversibility"]), (2.0, 1e-3));
        let mut kept = BTreeMap::from([("valid_time".to_string(), 5.0)]);
        upgrade_legacy(&mut kept, &legacy, None, None);
        assert_eq!(kept.len(), 1);
    }
}
