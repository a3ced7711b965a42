//! Published numbers that runs are put beside: one data file, `reference.toml`, keyed by task.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A model's published numbers; each may be missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelReference {
    pub train_loss: Option<f64>,
    pub test_loss: Option<f64>,
    pub energy_mse: Option<f64>,
    pub energy_mse_se: Option<f64>,
}

/// Wall seconds of the official code's stages on a 2-core CPU like ours (crates/hnn-bench/reference.toml).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficialSeconds {
    pub data: f64,
    pub train_baseline: f64,
    pub train_hnn: f64,
    pub eval: f64,
}

impl OfficialSeconds {
    /// The official training time of a model we also have, by our model name.
    pub fn train(&self, model: &str) -> Option<f64> {
        match model {
            "baseline" => Some(self.train_baseline),
            "hnn" => Some(self.train_hnn),
            _ => None,
        }
    }
}

/// One task's published numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub source: String,
    #[serde(default)]
    pub official_seconds: Option<OfficialSeconds>,
    #[serde(default)]
    pub also: Vec<String>,
    pub models: BTreeMap<String, ModelReference>,
}

impl Reference {
    pub fn model(&self, name: &str) -> Option<&ModelReference> {
        self.models.get(name)
    }
}

/// Every entry of `reference.toml`, parsed once.
pub fn all() -> &'static BTreeMap<String, Reference> {
    static TABLE: OnceLock<BTreeMap<String, Reference>> = OnceLock::new();
    TABLE.get_or_init(|| {
        toml::from_str(include_str!("../reference.toml")).expect("reference.toml is valid (tested)")
    })
}

/// The entry of `key`, if there is one.
pub fn get(key: &str) -> Option<&'static Reference> {
    all().get(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_parses_and_every_also_exists() {
        let all = all();
        assert_eq!(
            all["mass-spring"].model("hnn").unwrap().energy_mse,
            Some(3.8416e-4)
        );
        assert_eq!(
            all["real-pendulum"]
                .model("baseline")
                .unwrap()
                .energy_mse_se,
            Some(6.9e-2)
        );
        for r in all.values() {
            for a in &r.also {
                assert!(all.contains_key(a), "{a}");
            }
        }
    }
}
