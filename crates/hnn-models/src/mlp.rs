use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use crate::{ModelError, Result};

/// Nonlinearity between hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Tanh,
    /// `log(1 + e^z)`: smooth to every order, with a second derivative that never vanishes
    /// (the Lagrangian NN's choice, after its authors).
    Softplus,
}

/// Sizes of an [`Mlp`]. The paper's network is `input -> 200 -> 200 -> output`, tanh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MlpConfig {
    /// Widths of the hidden layers.
    pub hidden: Vec<i64>,
    pub activation: Activation,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: vec![200, 200],
            activation: Activation::Tanh,
        }
    }
}

impl MlpConfig {
    pub fn validate(&self) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.iter().any(|&h| h <= 0) {
            return Err(ModelError::Config {
                key: "hidden",
                reason: format!(
                    "expected at least one positive layer width, got {:?}",
                    self.hidden
                ),
            });
        }
        // Widths multiply: 100000 x 100000 is 40 GB of weights before Adam doubles it twice.
        let weights: i64 = self
            .hidden
            .windows(2)
            .map(|w| w[0].saturating_mul(w[1]))
            .fold(0i64, i64::saturating_add);
        if self.hidden.iter().any(|&h| h > MAX_WIDTH) || weights > MAX_HIDDEN_WEIGHTS {
            return Err(ModelError::Config {
                key: "hidden",
                reason: format!(
                    "{:?} is too large: at most {MAX_WIDTH} units per layer and {MAX_HIDDEN_WEIGHTS} weights between hidden layers (here {weights}), since training keeps four copies (weights, gradients, two Adam moments) in single precision",
                    self.hidden
                ),
            });
        }
        Ok(())
    }
}

/// Where a layer sits in an [`Mlp`], for [`Mlp::with_init`].
#[derive(Debug, Clone, Copy)]
pub struct LayerShape {
    /// 0 for the input layer, `layers - 1` for the output layer.
    pub index: usize,
    pub layers: usize,
    pub fan_in: i64,
    pub fan_out: i64,
}

/// How a layer's weights and biases start.
#[derive(Debug, Clone, Copy)]
pub struct LayerInit {
    pub weights: nn::Init,
    /// `None`: PyTorch's `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`.
    pub biases: Option<nn::Init>,
}

impl LayerInit {
    /// Orthogonal weights, PyTorch's default biases (the HNN authors' choice).
    pub const ORTHOGONAL: Self = Self {
        weights: nn::Init::Orthogonal { gain: 1.0 },
        biases: None,
    };
}

/// Widest hidden layer accepted.
pub const MAX_WIDTH: i64 = 1 << 16;
/// Most weights between hidden layers accepted (4 GB per copy in single precision).
pub const MAX_HIDDEN_WEIGHTS: i64 = 1 << 30;

/// A multilayer perceptron with orthogonally initialised weights and no bias on the last layer.
///
/// Layers live at `p / "l0"`, `p / "l1"`, ...; biases keep PyTorch's default
/// `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` initialisation.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<nn::Linear>,
    activation: Activation,
}

impl Mlp {
    pub fn new(p: &nn::Path, input_dim: i64, output_dim: i64, cfg: &MlpConfig) -> Result<Self> {
        Self::with_init(p, input_dim, output_dim, cfg, |_| LayerInit::ORTHOGONAL)
    }

    /// An MLP whose layer `i` of `n` (weights `[fan_out, fan_in]`) starts from `init(shape)`.
    pub fn with_init(
        p: &nn::Path,
        input_dim: i64,
        output_dim: i64,
        cfg: &MlpConfig,
        init: impl Fn(LayerShape) -> LayerInit,
    ) -> Result<Self> {
        cfg.validate()?;
        if input_dim <= 0 || output_dim <= 0 {
            return Err(ModelError::Config {
                key: "dim",
                reason: format!("input {input_dim} and output {output_dim} must be positive"),
            });
        }
        let mut sizes = vec![input_dim];
        sizes.extend(&cfg.hidden);
        sizes.push(output_dim);
        let n = sizes.len() - 1;
        let layers = (0..n)
            .map(|i| {
                let start = init(LayerShape {
                    index: i,
                    layers: n,
                    fan_in: sizes[i],
                    fan_out: sizes[i + 1],
                });
                let lc = nn::LinearConfig {
                    ws_init: start.weights,
                    bs_init: start.biases,
                    bias: i + 1 < n,
                };
                nn::linear(p / format!("l{i}"), sizes[i], sizes[i + 1], lc)
            })
            .collect();
        Ok(Self {
            layers,
            activation: cfg.activation,
        })
    }

    fn act(&self, z: &Tensor) -> Tensor {
        self.activation.apply(z)
    }

    /// # Shapes
    /// `x: [batch, input]` -> `[batch, output]`
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let last = self.layers.len() - 1;
        let mut h = x.shallow_clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = h.linear(&l.ws, l.bs.as_ref());
            if i < last {
                h = self.act(&h);
            }
        }
        h
    }

    /// Gradient of the (scalar) output with respect to the input, by explicit backpropagation
    /// through the layers. The result is an ordinary differentiable expression of the weights,
    /// so a loss on it trains with plain first-order autograd.
    ///
    /// # Shapes
    /// `x: [batch, input]` -> `[batch, input]`; requires `output = 1`.
    pub fn input_gradient(&self, x: &Tensor) -> Tensor {
        let last = self.layers.len() - 1;
        // forward, keeping the activations
        let mut h = x.shallow_clone();
        let mut acts: Vec<Tensor> = Vec::with_capacity(last);
        for l in &self.layers[..last] {
            let a = self.act(&h.linear(&l.ws, l.bs.as_ref()));
            acts.push(a.shallow_clone());
            h = a;
        }
        let weights: Vec<&Tensor> = self.layers.iter().map(|l| &l.ws).collect();
        backprop_to_input(self.activation, &acts, &weights)
    }
}

impl Activation {
    pub(crate) fn apply(self, z: &Tensor) -> Tensor {
        match self {
            Activation::Tanh => z.tanh(),
            Activation::Softplus => z.softplus(),
        }
    }

    /// `g` times the activation's derivative, from its output `a` (tanh: `g * (1 - a^2)`), as
    /// one libtorch operation (`tanh_backward`, whose own derivative is one more), where the
    /// spelled-out product costs three, and their backward passes more.
    pub(crate) fn backward_at_output(self, g: &Tensor, a: &Tensor) -> Tensor {
        match self {
            Activation::Tanh => Tensor::tanh_backward(g, a),
            // softplus'(z) = sigmoid(z) = 1 - e^(-a)
            Activation::Softplus => g * (-a).expm1().neg(),
        }
    }
}

/// The input gradient of a scalar-output MLP from the activations `acts[i]` (the output of
/// hidden layer `i`) and every layer's weights as stored (`[out, in]`, or `[K, out, in]` for a
/// stacked ensemble: the products broadcast over the leading member axis).
/// `dH/da_{L-1} = w_L`, then back through each hidden layer.
pub(crate) fn backprop_to_input(act: Activation, acts: &[Tensor], weights: &[&Tensor]) -> Tensor {
    let last = weights.len() - 1;
    let top = &acts[last - 1]; // [.., batch, hidden]
    // `expand_as`, not `expand` to a size: a traced graph (`hnn-bench export`) keeps the
    // batch size free
    let mut g = act.backward_at_output(&weights[last].expand_as(top), top);
    for i in (0..last).rev() {
        g = g.matmul(weights[i]); // [.., batch, fan_in]
        if i > 0 {
            g = act.backward_at_output(&g, &acts[i - 1]);
        }
    }
    g
}

/// A network with a scalar output and its explicit input gradient ([`Mlp`], or a stacked
/// ensemble of them), for [`crate::model`]'s `scalar_gradient`.
pub(crate) trait ScalarNet {
    fn forward(&self, x: &Tensor) -> Tensor;
    fn input_gradient(&self, x: &Tensor) -> Tensor;
}

impl ScalarNet for Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        Mlp::forward(self, x)
    }
    fn input_gradient(&self, x: &Tensor) -> Tensor {
        Mlp::input_gradient(self, x)
    }
}
