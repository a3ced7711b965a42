//! Whether a run may be put beside published numbers: only when its resolved config matches
//! the published setting on every key that changes results.
//!
//! Each entry of `reference.toml` is the setting of one shipped config (below). A run's
//! resolved config is compared with that config, resolved the same way, key by key; keys that
//! do not change a run's numbers ([`IGNORED`]: names, paths, the seed, where and on how many
//! threads it runs, which models, the figure) are left out. Any other difference, and the
//! report shows no published column and names the keys instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The shipped config that defines each `reference.toml` entry's setting, by file name under
/// `configs/`, and its text (compiled in, so the comparison does not depend on the working
/// directory).
const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "mass-spring",
        "spring.toml",
        include_str!("../../../configs/spring.toml"),
    ),
    (
        "pendulum",
        "pendulum.toml",
        include_str!("../../../configs/pendulum.toml"),
    ),
    (
        "real-pendulum",
        "real-pendulum.toml",
        include_str!("../../../configs/real-pendulum.toml"),
    ),
    (
        "real-pendulum-dhnn",
        "real-pendulum-dhnn.toml",
        include_str!("../../../configs/real-pendulum-dhnn.toml"),
    ),
    (
        "two-body",
        "two-body.toml",
        include_str!("../../../configs/two-body.toml"),
    ),
    (
        "three-body",
        "three-body.toml",
        include_str!("../../../configs/three-body.toml"),
    ),
    (
        "pixels",
        "pixels.toml",
        include_str!("../../../configs/pixels.toml"),
    ),
    (
        "damped-spring",
        "damped-spring.toml",
        include_str!("../../../configs/damped-spring.toml"),
    ),
    (
        "q-damped-spring",
        "q-damped-spring.toml",
        include_str!("../../../configs/q-damped-spring.toml"),
    ),
];

/// Keys (and whole sections, ending in `.`) that do not change a run's numbers.
pub const IGNORED: &[&str] = &[
    "experiment.name",
    "experiment.seed",
    "experiment.output_dir",
    "experiment.device",
    "experiment.threads",
    "experiment.cpu_matmul",
    "experiment.reference",
    "system.path",
    "train.models",
    "train.log_every",
    "eval.max_steps",
    "eval.max_seconds",
    "eval.long.",
    "eval.figure.",
];

/// How a run's setting compares with the published one of its `reference.toml` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingCheck {
    /// The shipped config that defines the published setting (`configs/spring.toml`).
    pub config: String,
    /// `key = run value (published: value)` for each key that differs; empty: it matches.
    pub differences: Vec<String>,
    /// Why the published setting could not be resolved, if it could not (then nothing is
    /// shown beside the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl SettingCheck {
    pub fn matches(&self) -> bool {
        self.differences.is_empty() && self.unavailable.is_none()
    }

    /// One line for a report: why no published numbers are shown, or `None` if they are.
    pub fn why_not_shown(&self, key: &str) -> Option<String> {
        if let Some(why) = &self.unavailable {
            return Some(format!(
                "Published numbers ({key}) are not shown: their setting ({}) could not be resolved: {why}.",
                self.config
            ));
        }
        if self.differences.is_empty() {
            return None;
        }
        const SHOWN: usize = 8;
        let mut keys: Vec<String> = self.differences.iter().take(SHOWN).cloned().collect();
        if self.differences.len() > SHOWN {
            keys.push(format!("and {} more", self.differences.len() - SHOWN));
        }
        Some(format!(
            "Published numbers ({key}) are not shown: this run's setting differs from theirs ({}) on {}.",
            self.config,
            keys.join("; ")
        ))
    }
}

/// Compares a run's resolved config (its `config.toml`) with the setting of entry `key`;
/// `None` when `key` has no shipped config.
pub fn check(run_config: &toml::Table, key: &str) -> Option<SettingCheck> {
    let (file, resolved) = published_setting(key)?;
    let config = format!("configs/{file}");
    Some(match resolved {
        Ok(published) => SettingCheck {
            config,
            differences: differences(run_config, published),
            unavailable: None,
        },
        Err(why) => SettingCheck {
            config,
            differences: Vec::new(),
            unavailable: Some(why.clone()),
        },
    })
}

/// [`check`] for a run directory's `config.toml`.
pub fn check_run_dir(run_dir: &Path, key: &str) -> Option<SettingCheck> {
    let path = run_dir.join("config.toml");
    let table = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| t.parse::<toml::Table>().map_err(|e| e.to_string()));
    match table {
        Ok(t) => check(&t, key),
        Err(e) => published_setting(key).map(|(file, _)| SettingCheck {
            config: format!("configs/{file}"),
            differences: Vec::new(),
            unavailable: Some(format!("{}: {e}", path.display())),
        }),
    }
}

type Resolved = Result<toml::Table, String>;

/// The shipped config of entry `key` and its resolved table (or why it failed), once.
fn published_setting(key: &str) -> Option<(&'static str, &'static Resolved)> {
    static RESOLVED: OnceLock<BTreeMap<&'static str, Resolved>> = OnceLock::new();
    let all = RESOLVED.get_or_init(|| {
        SETTINGS
            .iter()
            .map(|(k, file, text)| (*k, resolve(file, text)))
            .collect()
    });
    let (_, file, _) = SETTINGS.iter().find(|(k, _, _)| *k == key)?;
    Some((file, &all[key]))
}

/// Where the shipped configs were when this binary was built (their data files are named
/// relative to it).
fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

fn resolve(file: &str, text: &str) -> Resolved {
    let exp = crate::config::parse(text, &configs_dir().join(file)).map_err(|e| e.to_string())?;
    exp.config
        .to_toml()
        .parse::<toml::Table>()
        .map_err(|e| e.to_string())
}

/// Every result-changing key on which `run` and `published` differ, in key order.
pub fn differences(run: &toml::Table, published: &toml::Table) -> Vec<String> {
    let (a, b) = (flatten(run), flatten(published));
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| !ignored(k))
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&toml::Value>| v.map_or("(unset)".into(), inline);
            format!("{k} = {} (published: {})", show(a.get(k)), show(b.get(k)))
        })
        .collect()
}

fn ignored(key: &str) -> bool {
    IGNORED.iter().any(|i| {
        if i.ends_with('.') {
            key.starts_with(i)
        } else {
            key == *i
        }
    })
}

/// `section.key` -> value for every leaf of `t` (arrays are leaves).
fn flatten(t: &toml::Table) -> BTreeMap<String, toml::Value> {
    fn walk(prefix: &str, t: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) => walk(&key, inner, out),
                leaf => {
                    out.insert(key, leaf.clone());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", t, &mut out);
    out
}

/// A value as it would be written inline in TOML.
fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(file: &str) -> toml::Table {
        let text = std::fs::read_to_string(configs_dir().join(file)).unwrap();
        resolve(file, &text).unwrap()
    }

    #[test]
    fn every_reference_entry_has_a_shipped_config_that_resolves_and_matches_itself() {
        for key in crate::reference::all().keys() {
            let (file, r) = published_setting(key).unwrap_or_else(|| panic!("{key}"));
            let table = r.as_ref().unwrap_or_else(|e| panic!("{file}: {e}"));
            let c = check(table, key).unwrap();
            assert!(c.matches(), "{key}: {:?}", c.differences);
        }
        assert_eq!(SETTINGS.len(), crate::reference::all().len());
    }

    #[test]
    fn a_changed_result_key_is_named_and_ignored_keys_are_not() {
        let mut run = resolved("spring.toml");
        let set = |t: &mut toml::Table, section: &str, key: &str, v: toml::Value| {
            t.get_mut(section)
                .and_then(|s| s.as_table_mut())
                .unwrap()
                .insert(key.into(), v);
        };
        set(&mut run, "experiment", "seed", 7.into());
        set(&mut run, "experiment", "threads", 1.into());
        set(&mut run, "train", "log_every", 10.into());
        let c = check(&run, "mass-spring").unwrap();
        assert!(c.matches(), "{:?}", c.differences);
        assert!(c.why_not_shown("mass-spring").is_none());

        set(&mut run, "train", "steps", 300.into());
        let c = check(&run, "mass-spring").unwrap();
        assert_eq!(c.differences, ["train.steps = 300 (published: 2000)"]);
        let why = c.why_not_shown("mass-spring").unwrap();
        assert!(
            why.contains("configs/spring.toml") && why.contains("train.steps"),
            "{why}"
        );
        // another task's setting differs on the system
        let c = check(&run, "pendulum").unwrap();
        assert!(
            c.differences.iter().any(|d| d.starts_with("system.kind")),
            "{:?}",
            c.differences
        );
    }

    #[test]
    fn keys_only_one_side_has_are_differences() {
        let a: toml::Table = "[x]\na = 1\nb = [1, 2]\n".parse().unwrap();
        let b: toml::Table = "[x]\na = 1\n[eval.figure]\nx0 = [1.0]\n".parse().unwrap();
        assert_eq!(differences(&a, &b), ["x.b = [1, 2] (published: (unset))"]);
        assert!(ignored("eval.figure.x0") && ignored("train.models") && !ignored("train.steps"));
        assert!(!ignored("eval.paper.points") && !ignored("experiment.names"));
    }
}
