//! Reproducible random streams.
//!
//! Every random quantity of a run comes from a ChaCha8 generator keyed by the run's seed and
//! selected by a stream number, so that item `i` of a parallel loop always sees the same numbers
//! whatever the thread count or the order in which items run.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Purposes of random streams, so two uses of one seed never share numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Initial state and noise of a training/test trajectory.
    Dataset = 1,
    /// Initial states of the evaluation protocols.
    Evaluation = 2,
}

/// The generator for item `index` of `purpose` under `seed`.
pub fn stream(seed: u64, purpose: Purpose, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((purpose as u64) << 48) ^ index);
    rng
}
