//! libtorch-backed models for `hnn`.
//!
//! Every model maps a batch of states to their time derivatives through one trait,
//! [`DynamicsModel`], so training and evaluation never branch on the model kind:
//! - [`Baseline`]: an [`Mlp`] that outputs `dx/dt` directly;
//! - [`Hnn`]: an [`Mlp`] that outputs a scalar `H(q, p)`; its field is `(dH/dp, -dH/dq)`;
//! - [`DissipativeHnn`]: two scalar MLPs `H` and `D`, field `J dH/dx + dD/dx`;
//! - [`SeparableHnn`]: `H = T(p) + V(q)` from two MLPs, for explicit symplectic integrators;
//! - [`SecondOrderNode`]: `dq/dt` from the task's kinematics, one MLP for `dp/dt` (NODE+SO);
//! - [`Lnn`]: an MLP `L(q, q̇)` and the Euler-Lagrange equation ([`euler_lagrange`]);
//! - [`LatentModel`]: the pixel [`Autoencoder`] with any of the above on its latent state.
//!
//! Models are open: [`MODELS`] registers each by name, [`build_model`] builds one from a name
//! and a [`ModelSpec`], and everything downstream sees only names and the trait.
//!
//! Models are built on a [`tch::nn::Path`] (each layer on its own named sub-path, so checkpoint
//! keys are stable) and saved as `.safetensors` through [`save_checkpoint`].

mod checkpoint;
pub mod cpu;
mod device;
mod dhnn;
pub mod ensemble;
mod error;
mod latent;
mod lnn;
mod mlp;
mod model;
mod node_so;
mod shnn;

pub use checkpoint::{
    CHECKPOINT_FORMAT, METADATA_KEY, checkpoint_metadata, load_checkpoint, model_metadata,
    save_checkpoint,
};
pub use device::{DeviceChoice, resolve_device};
pub use dhnn::DissipativeHnn;
pub use error::{ModelError, Result};
pub use latent::{
    Autoencoder, AutoencoderConfig, LATENT_WEIGHT, LatentLosses, LatentModel,
    autoencoder_train_flops,
};
pub use lnn::{Acceleration, Lnn, LnnInit, euler_lagrange};
pub use mlp::{Activation, LayerInit, LayerShape, MAX_HIDDEN_WEIGHTS, MAX_WIDTH, Mlp, MlpConfig};
pub use model::{
    Baseline, DynamicsModel, EnsembleBuild, FieldParts, GradientMethod, Hnn, MODELS, ModelInfo,
    ModelSpec, build_model, check_model, flops, mlp_macs, model_info, model_weights,
};
pub use node_so::SecondOrderNode;
pub use shnn::SeparableHnn;
pub use tch;
