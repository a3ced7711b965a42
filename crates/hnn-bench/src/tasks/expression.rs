//! A system written in the config (`kind = "expression"`): `hamiltonian = "..."` over `q, p`
//! or `q1..qn, p1..pn`, an optional `dissipation`, named `constants`, and one way of drawing
//! initial states. It is then simulated exactly as a built-in system ([`SimulatedSource`]):
//! `[data]`, noise, splits and protocols as for any of them.
//!
//! ```toml
//! [system]
//! kind = "expression"
//! name = "spring"                            # in logs and reports (default "expression")
//! hamiltonian = "k*q^2/2 + p^2/(2*m)"
//! dissipation = "-gamma*p^2/2"               # optional: dx/dt = J grad H + grad D
//! constants = { k = 2.0, m = 0.5, gamma = 0.1 }
//! radius = [0.1, 1.0]                        # or energy = [min, max], or ranges = { q = [..], p = [..] }
//! direction = "square"                       # with radius or energy: "square" (default) or "uniform"
//! velocity = [[2.0]]                         # optional: dq/dt = V p, for "node-so" (checked)
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use hnn_physics::{Direction, ExpressionSpec, ExpressionSystem, Initial, PhysicsError};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::tasks::simulated::SimulatedSource;
use crate::tasks::{Context, Kind, Section, Source, read_section, table_of, velocity_rows};

pub const KIND: Kind = Kind {
    name: "expression",
    read: |_, table| Ok(Arc::new(read_section::<ExpressionConfig>(table)?)),
};

/// The `[system]` section of a system written as expressions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpressionConfig {
    /// The system's name in logs, reports and `summary.json`.
    #[serde(default = "default_name")]
    pub name: String,
    /// `H` over the coordinates and the constants.
    pub hamiltonian: String,
    /// `D`, whose gradient is added to the field (`J ∇H + ∇D`); absent: conservative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dissipation: Option<String>,
    #[serde(default)]
    pub constants: BTreeMap<String, f64>,
    /// Initial states at a radius uniform in `[min, max]` from the origin.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "hnn_physics::pair::option_pair"
    )]
    pub radius: Option<[f64; 2]>,
    /// Initial states where `H` is uniform in `[min, max]`, along random rays from the origin.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "hnn_physics::pair::option_pair"
    )]
    pub energy: Option<[f64; 2]>,
    /// Initial states with each coordinate uniform in its own `[min, max]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<BTreeMap<String, Vec<f64>>>,
    /// How the direction of a radius or energy draw is drawn (default `"square"`, the official
    /// code's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// The kinematics `dq/dt = V p` (`n` rows of `n`), for `"node-so"`; checked against the
    /// field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Vec<Vec<f64>>>,
}

fn default_name() -> String {
    "expression".into()
}

impl ExpressionConfig {
    /// The one way of drawing initial states this section gives.
    fn initial(&self, cx: &Context) -> Result<Initial> {
        let direction = self.direction.unwrap_or(Direction::Square);
        let given = [
            self.radius.is_some(),
            self.energy.is_some(),
            self.ranges.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(cx.bad(
                "radius",
                "give exactly one of radius = [min, max], energy = [min, max] or ranges = { q = [min, max], p = [min, max] } for the initial states",
            ));
        }
        if self.ranges.is_some() && self.direction.is_some() {
            return Err(cx.bad(
                "direction",
                "applies to radius and energy draws; ranges draw each coordinate on its own",
            ));
        }
        if let Some(radius) = self.radius {
            return Ok(Initial::Radius { radius, direction });
        }
        if let Some(energy) = self.energy {
            return Ok(Initial::Energy { energy, direction });
        }
        let mut ranges = BTreeMap::new();
        for (name, range) in self.ranges.iter().flatten() {
            let pair = <[f64; 2]>::try_from(range.as_slice()).map_err(|_| {
                cx.bad(
                    &format!("ranges.{name}"),
                    format!("{range:?}: expected exactly 2 numbers, as in [-1.0, 1.0]"),
                )
            })?;
            ranges.insert(name.clone(), pair);
        }
        Ok(Initial::Ranges(ranges))
    }
}

impl Section for ExpressionConfig {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    fn to_table(&self) -> toml::Table {
        table_of(self)
    }
    fn check(&self, cx: &Context) -> Result<Arc<dyn Source>> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(cx.bad(
                "name",
                format!("{:?}: letters, digits, - and _ only", self.name),
            ));
        }
        let spec = ExpressionSpec {
            name: self.name.clone(),
            hamiltonian: self.hamiltonian.clone(),
            dissipation: self.dissipation.clone(),
            constants: self.constants.clone(),
            initial: self.initial(cx)?,
        };
        let system = ExpressionSystem::new(&spec).map_err(|err| match err {
            PhysicsError::Expression { key, reason } => cx.bad(&key, reason),
            other => crate::config::physics_key("system", other, cx.path),
        })?;
        let system = match &self.velocity {
            Some(rows) => {
                let v = velocity_rows(cx, rows, system.dof())?;
                system.with_velocity(v).map_err(|err| match err {
                    PhysicsError::Expression { key, reason } => cx.bad(&key, reason),
                    other => crate::config::physics_key("system", other, cx.path),
                })?
            }
            None => system,
        };
        Ok(Arc::new(SimulatedSource(Arc::new(system))))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn parse(system: &str) -> Result<crate::config::Experiment, String> {
        let text = format!(
            "[experiment]\nname = \"e\"\n[system]\nkind = \"expression\"\n{system}[eval.figure]\nx0 = []\n"
        );
        crate::config::parse(&text, Path::new("e.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_two_degree_system_from_ranges() {
        let e = parse(
            "name = \"hh\"\nhamiltonian = \"(p1^2 + p2^2)/2 + (q1^2 + q2^2)/2 + q1^2*q2 - q2^3/3\"\n\
             ranges = { q1 = [-0.1, 0.1], q2 = [-0.1, 0.1], p1 = [-0.1, 0.1], p2 = [-0.1, 0.1] }\n",
        )
        .unwrap();
        assert_eq!((e.source.name(), e.source.dim()), ("hh", 4));
        // the resolved config parses back to itself
        let again = crate::config::parse(&e.config.to_toml(), Path::new("e.toml")).unwrap();
        assert_eq!(again.config, e.config);
    }

    #[test]
    fn the_initial_states_are_given_one_way() {
        let h = "hamiltonian = \"q^2 + p^2\"\n";
        for (extra, key, words) in [
            ("", "system.radius", "exactly one"),
            (
                "radius = [0.1, 1.0]\nenergy = [0.1, 1.0]\n",
                "system.radius",
                "exactly one",
            ),
            (
                "ranges = { q = [0.0, 1.0], p = [0.0, 1.0] }\ndirection = \"uniform\"\n",
                "system.direction",
                "ranges draw",
            ),
            (
                "ranges = { q = [0.0], p = [0.0, 1.0] }\n",
                "system.ranges.q",
                "exactly 2",
            ),
            (
                "radius = [0.1, 1.0]\nname = \"a b\"\n",
                "system.name",
                "letters",
            ),
            ("radius = [1.0, 0.1]\n", "system.radius", "min <= max"),
        ] {
            let e = parse(&format!("{h}{extra}")).unwrap_err();
            assert!(e.contains(key) && e.contains(words), "{extra}: {e}");
        }
    }
}
