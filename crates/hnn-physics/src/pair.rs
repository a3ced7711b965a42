//! Strict reading of two-number settings (`t_span = [start, end]`, `radius = [min, max]`).
//!
//! serde reads a fixed-size array from TOML by taking its first elements and ignoring the rest,
//! so `t_span = [0.0, 1.0, 3.0]` would silently run as `[0, 1]`. These read a list and refuse
//! any length but two, naming what was expected.

use serde::de::Error;
use serde::{Deserialize, Deserializer};

fn exactly_two<E: Error>(v: Vec<f64>) -> Result<[f64; 2], E> {
    <[f64; 2]>::try_from(v.as_slice())
        .map_err(|_| E::invalid_length(v.len(), &"exactly 2 numbers, as in [0.0, 1.0]"))
}

/// `#[serde(deserialize_with = "hnn_physics::pair::pair")]` on a `[f64; 2]` field.
pub fn pair<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 2], D::Error> {
    exactly_two(Vec::<f64>::deserialize(d)?)
}

/// The same for an `Option<[f64; 2]>` field (with `#[serde(default)]`).
pub fn option_pair<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[f64; 2]>, D::Error> {
    Option::<Vec<f64>>::deserialize(d)?
        .map(exactly_two)
        .transpose()
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct S {
        #[serde(deserialize_with = "super::pair")]
        span: [f64; 2],
        #[serde(default, deserialize_with = "super::option_pair")]
        other: Option<[f64; 2]>,
    }

    #[test]
    fn two_numbers_exactly() {
        let s: S = toml::from_str("span = [0.0, 2.5]").unwrap();
        assert_eq!((s.span, s.other), ([0.0, 2.5], None));
        let s: S = toml::from_str("span = [1, 2]\nother = [3.0, 4.0]").unwrap();
        assert_eq!((s.span, s.other), ([1.0, 2.0], Some([3.0, 4.0])));
        for bad in [
            "span = [0.0, 1.0, 3.0]",
            "span = [0.0]",
            "span = [0.0, 1.0]\nother = [1.0, 2.0, 3.0]",
        ] {
            let e = toml::from_str::<S>(bad).unwrap_err().to_string();
            assert!(e.contains("expected exactly 2 numbers"), "{bad}: {e}");
        }
    }
}
