//! The pixel pendulum of the HNN paper (Table 1, row 5) without Gym.
//!
//! - [`gym`]: the dynamics of Gym's `Pendulum-v0` exactly (semi-implicit Euler, speed clip,
//!   zero torque) and the official rejection rule for starting states;
//! - [`render`]: its frames as the official code saw them after preprocessing (a 1000x1000
//!   render, the crop around the hanging rod, red minus green, a triangle-filter down-sampling
//!   to 28x28), drawn here from the geometry with no display server;
//! - [`dataset`]: the official dataset (200 trials x 103 steps, observations of one or two
//!   frames and the next one as target, labels with or without the official one-step lead),
//!   parallel and identical for any thread count.
//!
//! No libtorch: frames are plain `f32` arrays.

pub mod dataset;
pub mod error;
pub mod gym;
pub mod render;

pub use dataset::{Labels, PixelData, PixelDataConfig, PixelSamples};
pub use error::{PixelError, Result};
pub use gym::PendulumState;
pub use render::Camera;
