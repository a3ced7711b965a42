//! Reproducible random streams.
//!
//! Every random quantity of a run comes from a ChaCha8 generator keyed by the run's seed and
//! selected by a stream number, so that item `i` of a parallel loop always sees the same numbers
//! whatever the thread count or the order in which items run.

use std::f64::consts::PI;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Purposes of random streams, so two uses of one seed never share numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Initial state and noise of a training/test trajectory.
    Dataset = 1,
    /// Initial states of the evaluation protocols.
    Evaluation = 2,
    /// Which samples form the test set (shuffled splits).
    Split = 3,
    /// Minibatch permutations of training.
    Minibatch = 4,
}

/// The generator for item `index` of `purpose` under `seed`.
pub fn stream(seed: u64, purpose: Purpose, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((purpose as u64) << 48) ^ index);
    rng
}

/// How the direction of an initial state in the `(q, p)` plane is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The official code's: a point uniform in the square `[-1, 1]^2`, rescaled to the radius.
    /// Directions are not uniform: the diagonals are about twice as likely as the axes.
    Square,
    /// A uniformly random angle.
    Uniform,
}

/// Checks a `[min, max]` radius range (`0 <= min <= max`, finite), naming the parameter.
pub fn check_radius(name: &'static str, [lo, hi]: [f64; 2]) -> crate::Result<()> {
    if lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi {
        Ok(())
    } else {
        Err(crate::PhysicsError::InvalidParameter {
            name,
            value: format!("[{lo}, {hi}]"),
            reason: "expected [min, max] with 0 <= min <= max",
        })
    }
}

/// A point of the `(q, p)` plane at a radius uniform in `[radius[0], radius[1]]`, in a direction
/// drawn as `direction` says; draws in the official code's order (direction, then radius).
pub fn sample_on_annulus(
    rng: &mut dyn RngCore,
    direction: Direction,
    radius: [f64; 2],
) -> Vec<f64> {
    let (c, s) = match direction {
        Direction::Uniform => {
            let angle = rng.random::<f64>() * 2.0 * PI;
            (angle.cos(), angle.sin())
        }
        Direction::Square => loop {
            let (x, y) = (
                2.0 * rng.random::<f64>() - 1.0,
                2.0 * rng.random::<f64>() - 1.0,
            );
            let n = x.hypot(y);
            if n > 0.0 {
                break (x / n, y / n);
            }
        },
    };
    let [lo, hi] = radius;
    let r = lo + (hi - lo) * rng.random::<f64>();
    vec![r * c, r * s]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams differ across purposes and indices, the largest indices included (the ones
    /// some protocols use), so no two uses of a seed share numbers.
    #[test]
    fn streams_are_distinct_by_purpose_and_index() {
        let first = |p, i| stream(5, p, i).random::<u64>();
        let all = [
            first(Purpose::Dataset, 0),
            first(Purpose::Dataset, 1),
            first(Purpose::Dataset, 2),
            first(Purpose::Evaluation, 0),
            first(Purpose::Split, 0),
            first(Purpose::Minibatch, 0),
            first(Purpose::Dataset, u64::MAX),
            first(Purpose::Evaluation, u64::MAX),
            first(Purpose::Evaluation, u64::MAX - 1),
        ];
        for a in 0..all.len() {
            for b in a + 1..all.len() {
                assert_ne!(all[a], all[b], "streams {a} and {b}");
            }
        }
        assert_eq!(first(Purpose::Split, 7), first(Purpose::Split, 7));
    }

    /// Uniform directions reach every quadrant.
    #[test]
    fn uniform_directions_cover_the_circle() {
        let mut rng = stream(2, Purpose::Evaluation, 0);
        let mut quadrants = [0; 4];
        for _ in 0..400 {
            let x = sample_on_annulus(&mut rng, Direction::Uniform, [1.0, 1.0]);
            assert!((x[0].hypot(x[1]) - 1.0).abs() < 1e-12);
            quadrants[usize::from(x[0] < 0.0) + 2 * usize::from(x[1] < 0.0)] += 1;
        }
        assert!(quadrants.iter().all(|&c| c > 60), "{quadrants:?}");
    }
}
