//! libtorch-backed models for `hnn`.
//!
//! Every model maps a batch of states to their time derivatives through one trait,
//! [`DynamicsModel`], so training and evaluation never branch on the model kind:
//! - [`Baseline`]: an [`Mlp`] that outputs `dx/dt` directly;
//! - [`Hnn`]: an [`Mlp`] that outputs a scalar `H(q, p)`; its field is `(dH/dp, -dH/dq)`.
//!
//! Models are built on a [`tch::nn::Path`] (each layer on its own named sub-path, so checkpoint
//! keys are stable) and saved as `.safetensors` through [`save_checkpoint`].

mod device;
mod error;
mod mlp;
mod model;

pub use device::{DeviceChoice, resolve_device};
pub use error::{ModelError, Result};
pub use mlp::{Activation, Mlp, MlpConfig};
pub use model::{
    Baseline, DynamicsModel, GradientMethod, Hnn, ModelKind, load_checkpoint, save_checkpoint,
};
pub use tch;
