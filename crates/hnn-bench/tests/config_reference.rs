//! The configuration reference in `crates/hnn-bench/README.md` cannot drift from the config
//! types: every key of every shipped config, resolved (all defaults filled in, every system
//! kind), is named in its tables.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.toml` under `dir`, recursively.
fn configs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            configs(&p, out);
        } else if p.extension().is_some_and(|x| x == "toml") {
            out.push(p);
        }
    }
}

fn flatten(prefix: &str, t: &toml::Table, out: &mut BTreeSet<String>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            _ => {
                out.insert(key);
            }
        }
    }
}

/// The section `## Configuration reference` of the README, up to the next `## `.
fn reference_section() -> String {
    let text = std::fs::read_to_string(manifest().join("README.md")).unwrap();
    let start = text
        .find("## Configuration reference")
        .expect("the README has a configuration reference");
    let rest = &text[start + 3..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

/// The keys a table row's first cell names: `` `a.b` ``, and shorthands `` `.c` `` after it
/// (`a.c`).
fn row_keys(cell: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut parent = String::new();
    for (i, token) in cell.split('`').enumerate() {
        if i % 2 == 0 || token.is_empty() {
            continue;
        }
        if let Some(short) = token.strip_prefix('.') {
            keys.push(format!("{parent}{short}"));
        } else {
            parent = token
                .rsplit_once('.')
                .map_or(String::new(), |(p, _)| format!("{p}."));
            keys.push(token.trim_end_matches(".*").to_string());
        }
    }
    keys
}

#[test]
fn every_resolved_key_is_documented() {
    let section = reference_section();
    let first_cells: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l[1..].split(" | ").next().unwrap())
        .collect();
    let documented: BTreeSet<String> = first_cells.iter().flat_map(|c| row_keys(c)).collect();
    let mut files = Vec::new();
    configs(&manifest().join("../../configs"), &mut files);
    assert!(files.len() >= 10, "{files:?}");
    let mut keys = BTreeSet::new();
    for f in &files {
        let exp = hnn_bench::config::load(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let table: toml::Table = exp.config.to_toml().parse().unwrap();
        flatten("", &table, &mut keys);
    }
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| {
            // a protocol's keys are in the protocols' table by their own name
            if let Some(rest) = ["eval.paper.", "eval.corrected.", "eval.long."]
                .iter()
                .find_map(|p| k.strip_prefix(p))
            {
                return !documented.contains(rest.split('.').next().unwrap());
            }
            // a key, or a table documented as a whole (`system.camera`, `model.autoencoder`)
            !k.match_indices('.')
                .map(|(i, _)| &k[..i])
                .chain([k.as_str()])
                .any(|prefix| documented.contains(prefix))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keys of the resolved configs that crates/hnn-bench/README.md's configuration reference does not name: {missing:?}"
    );
}

#[test]
fn shorthand_cells_expand_against_their_first_key() {
    assert_eq!(
        row_keys("`system.bodies`, `.mass`, `.gravity` (n-body)"),
        ["system.bodies", "system.mass", "system.gravity"]
    );
    assert_eq!(row_keys("`eval.paper.*`"), ["eval.paper"]);
    assert_eq!(
        row_keys("`trajectories`, `groups`"),
        ["trajectories", "groups"]
    );
}
