//! Models that learn dynamics in the latent space of an autoencoder (the pixel pendulum).
//!
//! [`Autoencoder`] is the official pixel network: `input -> h -> h (residual) -> h (residual)
//! -> latent`, ReLU, and the mirrored decoder, every weight orthogonally initialised.
//! [`LatentModel`] composes it with any registered [`DynamicsModel`] on the latent state, and
//! [`LatentModel::losses`] gives the three parts of the official objective per sample.

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

use crate::{DynamicsModel, ModelError, ModelSpec, Result, build_model};

/// Sizes of an [`Autoencoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AutoencoderConfig {
    /// Width of the hidden layers.
    pub hidden: i64,
    /// Latent dimension (even for models with `q` and `p` halves).
    pub latent: i64,
}

impl Default for AutoencoderConfig {
    fn default() -> Self {
        Self {
            hidden: 200,
            latent: 2,
        }
    }
}

/// Weight of the latent-step term in the official objective.
pub const LATENT_WEIGHT: f64 = 0.1;

/// The official pixel autoencoder.
///
/// Encoder layers at `p / "enc0"` .. `"enc3"`, decoder `p / "dec0"` .. `"dec3"`; layers 1 and 2
/// of each are residual: `h = h + relu(W h + b)`.
#[derive(Debug)]
pub struct Autoencoder {
    enc: Vec<nn::Linear>,
    dec: Vec<nn::Linear>,
}

impl Autoencoder {
    pub fn new(p: &nn::Path, input: i64, cfg: &AutoencoderConfig) -> Result<Self> {
        let AutoencoderConfig { hidden, latent } = *cfg;
        for (key, v, max) in [
            ("autoencoder.hidden", hidden, 1 << 14),
            ("autoencoder.latent", latent, 1 << 10),
            ("input", input, 1 << 20),
        ] {
            if !(1..=max).contains(&v) {
                return Err(ModelError::Config {
                    key,
                    reason: format!("expected 1 to {max}, got {v}"),
                });
            }
        }
        let lc = nn::LinearConfig {
            ws_init: nn::Init::Orthogonal { gain: 1.0 },
            bs_init: None,
            bias: true,
        };
        let layers = |name: &str, sizes: [i64; 5]| -> Vec<nn::Linear> {
            (0..4)
                .map(|i| nn::linear(p / format!("{name}{i}"), sizes[i], sizes[i + 1], lc))
                .collect()
        };
        Ok(Self {
            enc: layers("enc", [input, hidden, hidden, hidden, latent]),
            dec: layers("dec", [latent, hidden, hidden, hidden, input]),
        })
    }

    fn run(layers: &[nn::Linear], x: &Tensor) -> Tensor {
        let lin = |i: usize, h: &Tensor| h.linear(&layers[i].ws, layers[i].bs.as_ref());
        let mut h = lin(0, x).relu();
        h = &h + lin(1, &h).relu();
        h = &h + lin(2, &h).relu();
        lin(3, &h)
    }

    /// # Shapes
    /// `x: [batch, input]` -> `[batch, latent]`
    pub fn encode(&self, x: &Tensor) -> Tensor {
        Self::run(&self.enc, x)
    }

    /// # Shapes
    /// `z: [batch, latent]` -> `[batch, input]`
    pub fn decode(&self, z: &Tensor) -> Tensor {
        Self::run(&self.dec, z)
    }
}

/// The three parts of the official pixel objective, per sample.
///
/// # Shapes
/// each `[batch]`
pub struct LatentLosses {
    /// Mean over pixels of `(x - decode(encode(x)))^2`.
    pub reconstruction: Tensor,
    /// Mean over latent halves of `(z_p - (z_q' - z_q))^2`: the second half of the latent is
    /// the change of the first over one frame (canonical coordinates).
    pub canonical: Tensor,
    /// Mean over the latent of `(z' - (z + f(z)))^2`: one Euler step of the latent field
    /// (time unit one frame) lands on the next observation's code.
    pub latent: Tensor,
}

impl LatentLosses {
    /// `reconstruction + canonical + 0.1 latent`, per sample.
    pub fn total(&self) -> Tensor {
        &self.reconstruction + &self.canonical + LATENT_WEIGHT * &self.latent
    }
}

/// An autoencoder and a registered dynamics model on its latent state.
pub struct LatentModel {
    pub autoencoder: Autoencoder,
    /// The latent field, any registered model (`baseline`, `hnn`, `dhnn`, ...).
    pub field: Box<dyn DynamicsModel>,
}

impl LatentModel {
    /// Builds the autoencoder at `p / "autoencoder"` and model `name` at `p / name`.
    pub fn new(
        p: &nn::Path,
        name: &str,
        input: i64,
        ae: &AutoencoderConfig,
        spec: &ModelSpec,
    ) -> Result<Self> {
        let autoencoder = Autoencoder::new(&(p / "autoencoder"), input, ae)?;
        let field = build_model(name, p, ae.latent, spec)?;
        Ok(Self { autoencoder, field })
    }

    /// The objective's parts on observations `x` and their successors `x_next`.
    ///
    /// # Shapes
    /// `x`, `x_next`: `[batch, input]`
    pub fn losses(&self, x: &Tensor, x_next: &Tensor, train: bool) -> LatentLosses {
        // two encoder passes, as the official code; one pass over both concatenated measures
        // the same within noise (`cargo bench -p hnn-models -- pixel`)
        let z = self.autoencoder.encode(x);
        let z_next = self.autoencoder.encode(x_next);
        let x_hat = self.autoencoder.decode(&z);
        let reconstruction = (x - x_hat).square().mean_dim(1, false, Kind::Float);
        let n = z.size()[1] / 2;
        let (w, dw) = (z.narrow(1, 0, n), z.narrow(1, n, z.size()[1] - n));
        let w_next = z_next.narrow(1, 0, n);
        let canonical = (dw - (w_next - &w))
            .square()
            .mean_dim(1, false, Kind::Float);
        let step = &z + self.field.time_derivative(&z, train);
        let latent = (z_next - step).square().mean_dim(1, false, Kind::Float);
        LatentLosses {
            reconstruction,
            canonical,
            latent,
        }
    }
}

/// Floating-point operations per sample of one training step of the autoencoder part of a
/// [`LatentModel`] (the latent field's come from [`crate::flops`]): the encoder runs on the
/// observation and its successor, the decoder once; two operations per multiply-add, a
/// training step three times the forward work.
pub fn autoencoder_train_flops(input: i64, cfg: &AutoencoderConfig) -> f64 {
    let h = [cfg.hidden, cfg.hidden, cfg.hidden];
    let enc = crate::mlp_macs(input, cfg.latent, &h);
    let dec = crate::mlp_macs(cfg.latent, input, &h);
    3.0 * 2.0 * (2.0 * enc + dec)
}

#[cfg(test)]
mod tests {
    use tch::Device;

    use super::*;

    /// The residual wiring by hand: with every layer's weights and biases set, the encoder is
    /// `relu(W0 x + b0) = h0; h1 = h0 + relu(W1 h0 + b1); h2 = h1 + relu(W2 h1 + b2); W3 h2 + b3`.
    #[test]
    fn residual_wiring_equals_a_hand_computation() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = AutoencoderConfig {
            hidden: 2,
            latent: 1,
        };
        let ae = Autoencoder::new(&vs.root(), 2, &cfg).unwrap();
        tch::no_grad(|| {
            let set = |l: &nn::Linear, w: &[f32], b: &[f32], rows: i64| {
                let mut ws = l.ws.shallow_clone();
                ws.copy_(&Tensor::from_slice(w).view([rows, -1]));
                let mut bs = l.bs.as_ref().unwrap().shallow_clone();
                bs.copy_(&Tensor::from_slice(b));
            };
            set(&ae.enc[0], &[1.0, 0.0, 0.0, -1.0], &[0.0, 0.0], 2); // h0 = relu(x1, -x2)
            set(&ae.enc[1], &[0.0, 1.0, 1.0, 0.0], &[0.0, -1.0], 2); // swap, shift
            set(&ae.enc[2], &[1.0, 1.0, 0.0, 0.0], &[-3.0, 0.5], 2);
            set(&ae.enc[3], &[2.0, -1.0], &[0.25], 1);
        });
        // x = (2, -3): h0 = (2, 3); W1 h0 + b1 = (3, 1) -> h1 = (5, 4);
        // W2 h1 + b2 = (6, 0.5) -> h2 = (11, 4.5); z = 22 - 4.5 + 0.25 = 17.75
        // x = (-1, 1): h0 = (0, 0); relu(0, -1) = 0 -> h1 = 0; relu(-3, 0.5) -> h2 = (0, 0.5);
        // z = -0.5 + 0.25 = -0.25
        let x = Tensor::from_slice(&[2.0f32, -3.0, -1.0, 1.0]).view([2, 2]);
        let z = Vec::<f32>::try_from(ae.encode(&x).view([-1])).unwrap();
        assert_eq!(z, vec![17.75, -0.25]);
    }

    /// A latent field that is zero, to check the loss parts by hand.
    struct Zero;
    impl DynamicsModel for Zero {
        fn name(&self) -> &'static str {
            "zero"
        }
        fn dim(&self) -> i64 {
            2
        }
        fn time_derivative(&self, x: &Tensor, _train: bool) -> Tensor {
            x.zeros_like()
        }
    }

    /// The loss parts on a tiny batch, by hand: an identity-like autoencoder on 2 inputs.
    #[test]
    fn loss_parts_equal_a_hand_computation() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = AutoencoderConfig {
            hidden: 2,
            latent: 2,
        };
        let ae = Autoencoder::new(&vs.root(), 2, &cfg).unwrap();
        // encoder and decoder: relu(x) through zeroed residual layers, then identity, so on
        // non-negative inputs encode(x) = x and decode(z) = relu(z) (for z >= 0, z)
        tch::no_grad(|| {
            for (k, l) in ae.enc.iter().chain(&ae.dec).enumerate() {
                let mut ws = l.ws.shallow_clone();
                let eye = Tensor::eye(2, (Kind::Float, Device::Cpu));
                ws.copy_(&if k % 4 == 1 || k % 4 == 2 {
                    eye.zeros_like()
                } else {
                    eye
                });
                let mut bs = l.bs.as_ref().unwrap().shallow_clone();
                bs.copy_(&Tensor::zeros([2], (Kind::Float, Device::Cpu)));
            }
        });
        let m = LatentModel {
            autoencoder: ae,
            field: Box::new(Zero),
        };
        // decoder of z = (1, 2) under the residual zero layers: relu(z) + relu(0) + relu(0)
        // = z, then identity: reconstruction 0 for non-negative x
        let x = Tensor::from_slice(&[1.0f32, 2.0, 0.5, 0.0]).view([2, 2]);
        let x_next = Tensor::from_slice(&[2.0f32, 4.0, 0.5, 1.0]).view([2, 2]);
        let l = m.losses(&x, &x_next, false);
        let v = |t: &Tensor| Vec::<f32>::try_from(t).unwrap();
        assert_eq!(v(&l.reconstruction), vec![0.0, 0.0]);
        // canonical: (z_p - (z_q' - z_q))^2 = (2 - (2 - 1))^2 = 1; (0 - 0)^2 = 0
        assert_eq!(v(&l.canonical), vec![1.0, 0.0]);
        // latent: mean((z' - z)^2) = ((1)^2 + (2)^2) / 2 = 2.5; (0 + 1) / 2 = 0.5
        assert_eq!(v(&l.latent), vec![2.5, 0.5]);
        assert_eq!(v(&l.total()), vec![1.25, 0.05]);
    }

    #[test]
    fn bad_sizes_name_their_key() {
        let vs = nn::VarStore::new(Device::Cpu);
        let e = Autoencoder::new(
            &vs.root(),
            4,
            &AutoencoderConfig {
                hidden: 0,
                latent: 2,
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("autoencoder.hidden"), "{e}");
        let e = LatentModel::new(
            &vs.root(),
            "hnn",
            4,
            &AutoencoderConfig {
                hidden: 8,
                latent: 3,
            },
            &ModelSpec::default(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("even"), "{e}");
    }
}
