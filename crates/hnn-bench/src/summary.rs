//! `summary.json`: one typed schema, written and read back through the same types.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::eval::{ModelEnergy, ProtocolOutcome};
use crate::train::LossStats;

/// JSON has no NaN or infinity (serde_json writes `null`): read `null` back as NaN.
pub fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// [`f64_or_nan`] for every element.
pub fn vec_f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

/// Results of one model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Registered model name.
    pub name: String,
    pub train_loss: LossStats,
    pub test_loss: LossStats,
    pub train_seconds: f64,
    pub steps_per_second: f64,
    pub checkpoint: PathBuf,
    /// Mean `|dD/dx|` over mean `|J dH/dx|` on the test inputs (models with a dissipative part).
    pub dissipative_ratio: Option<f64>,
    /// Set when training stopped on a runaway loss; such a model is not evaluated.
    #[serde(default)]
    pub diverged: Option<crate::train::Divergence>,
    /// Identifiability of a learned energy: the fit `H_learned ≈ a · E_true + b` on the test
    /// inputs (models with an energy, tasks with one).
    #[serde(default)]
    pub energy_fit: Option<crate::metrics::AffineFit>,
    /// The model's own counts over training and evaluation (e.g. the Lagrangian NN's
    /// `mass_matrix_solves` and `mass_matrix_ill_conditioned`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub diagnostics: BTreeMap<String, u64>,
    /// Why the model is degenerate, when it is: its test loss within 5% of a constant field's
    /// (`dx/dt = 0`, or the training targets' mean) or above (a collapsed model, or data that
    /// show nothing); its learned energy constant to rounding; or every rollout of an
    /// evaluation protocol failed. Marked in the tables and left out of every ratio, however
    /// good its energy error looks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degenerate: Option<String>,
}

/// Wall time of each stage, in seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timings {
    pub data: f64,
    /// Training time per model.
    pub train: BTreeMap<String, f64>,
    /// Every energy protocol and the figure rollout.
    pub eval: f64,
    pub plots: f64,
    pub total: f64,
}

/// What `summary.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub experiment: String,
    /// The task's name (the system, or `real-pendulum`).
    pub task: String,
    /// Key of the published numbers in `reference.toml`, if any.
    pub reference: Option<String>,
    /// Whether this run's setting is the published one of `reference` (they are shown beside
    /// it only then).
    #[serde(default)]
    pub setting: Option<crate::published::SettingCheck>,
    pub seed: u64,
    pub run_dir: PathBuf,
    pub device: String,
    /// Every model of the run, in training order.
    pub models: Vec<ModelSummary>,
    /// Outcome per protocol name.
    pub energy: BTreeMap<String, ProtocolOutcome>,
    pub timings: Timings,
}

impl RunSummary {
    pub fn model(&self, name: &str) -> Option<&ModelSummary> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn model_energy(&self, protocol: &str, model: &str) -> Option<&ModelEnergy> {
        self.energy.get(protocol)?.models.get(model)
    }

    /// Energy MSE (mean) of a model under a protocol.
    pub fn energy_mse(&self, protocol: &str, model: &str) -> Option<f64> {
        Some(self.model_energy(protocol, model)?.energy_mse?.mean)
    }

    /// The published numbers of this run's setting: `None` unless the run's resolved config
    /// matches the setting they were published for ([`crate::published`]).
    pub fn reference(&self) -> Option<&'static crate::reference::Reference> {
        if !self.setting.as_ref()?.matches() {
            return None;
        }
        crate::reference::get(self.reference.as_deref()?)
    }

    /// Why the run's `reference.toml` entry is not shown beside it, if it has one and it is not.
    pub fn reference_withheld(&self) -> Option<String> {
        let key = self.reference.as_deref()?;
        crate::reference::get(key)?;
        match &self.setting {
            Some(c) => c.why_not_shown(key),
            None => Some(format!(
                "Published numbers ({key}) are not shown: this run's setting was not compared with theirs."
            )),
        }
    }

    /// Reads `summary.json` back.
    /// Reads a `summary.json`; one written before metrics were objects gets its scores from
    /// the fields it kept them in ([`crate::metrics::upgrade_legacy`]).
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let mut s: Self = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        // written before runs were compared with the published setting: compare now
        if s.setting.is_none()
            && let (Some(key), Some(dir)) = (&s.reference, path.parent())
        {
            s.setting = crate::published::check_run_dir(dir, key);
        }
        for outcome in s.energy.values_mut() {
            for (name, m) in outcome.models.iter_mut() {
                let fit = s
                    .models
                    .iter()
                    .find(|x| &x.name == name)
                    .and_then(|x| x.energy_fit);
                crate::metrics::upgrade_legacy(
                    &mut m.scores,
                    &m.metrics.legacy,
                    m.reversibility_error,
                    fit,
                );
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `summary.json` written before the rollout metrics, divergence marks, integrator keys
    /// and identifiability fits existed still reads back (a real pendulum D-HNN run at commit
    /// 999dcd0), so finished runs stay reusable and tabulable.
    #[test]
    fn an_older_summary_still_reads() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/summary-999dcd0.json");
        let s = RunSummary::read(&path).unwrap();
        assert_eq!((s.experiment.as_str(), s.seed), ("real-pendulum-dhnn", 0));
        let p = &s.energy["paper"];
        assert_eq!(p.settings.integrator, crate::config::Integrator::Rk45);
        assert_eq!(p.settings.reversibility, 0);
        let d = &p.models["dhnn"];
        assert!((d.energy_mse.unwrap().mean - 3.0e-4).abs() < 1e-5);
        assert!(d.scores.is_empty() && d.metrics.horizon.is_nan());
        assert!(s.model("dhnn").unwrap().diverged.is_none());
        assert!(s.model("hnn").unwrap().energy_fit.is_none());
    }
}
