//! Seed ensembles: `K` models of one registered family trained as one network.
//!
//! Every weight of the `K` members is stacked along a leading member axis (a `[out, in]` layer
//! weight becomes `[K, out, in]`), layers run as batched matrix products, and one optimizer
//! step updates every member. Members never mix: member `k`'s outputs depend on member `k`'s
//! weights and inputs only, so a member that diverges (NaN) leaves the others untouched.
//!
//! The members are built one by one exactly as single runs build them ([`stack_members`] takes
//! their variable stores), so member `k` starts from its single run's weights bit for bit, and
//! [`unstack_member`] copies trained weights back into such a store for everything after
//! training (checkpoints, evaluation) to run unchanged.

use std::collections::BTreeMap;

use tch::{Tensor, nn};

use crate::mlp::{ScalarNet, backprop_to_input};
use crate::model::{scalar_gradient, symplectic};

use crate::{Activation, GradientMethod, ModelError, ModelSpec, Result};

/// `K` members of one model family as one batched network.
pub trait EnsembleModel {
    /// Number of members `K`.
    fn members(&self) -> i64;

    /// Every member's predicted `dx/dt` on its own batch of states.
    ///
    /// # Shapes
    /// `x: [K, batch, dim]` -> `[K, batch, dim]`
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor;

    /// [`crate::DynamicsModel::training_output`] per member: the training field and every
    /// member's penalty terms (`[K]` each).
    ///
    /// # Shapes
    /// `x: [K, batch, dim]` -> `([K, batch, dim], [(name, [K])])`
    fn training_output(&self, x: &Tensor) -> (Tensor, Vec<(&'static str, Tensor)>) {
        (self.time_derivative(x, true), Vec::new())
    }
}

/// The stacked variables of an ensemble by their members' variable names
/// (`"hnn.mlp.l0.weight"` -> `[K, 200, 2]`).
pub struct Stacked {
    vars: BTreeMap<String, Tensor>,
    members: i64,
}

impl Stacked {
    fn get(&self, name: &str) -> Result<&Tensor> {
        self.vars.get(name).ok_or_else(|| ModelError::Config {
            key: "ensemble",
            reason: format!("no stacked variable {name:?}"),
        })
    }
}

/// Stacks the variables of `members` (identically built stores, same names and shapes) into
/// new variables of `vs` under the same names, member `k` at index `k` of a leading axis.
pub fn stack_members(members: &[&nn::VarStore], vs: &nn::VarStore) -> Result<Stacked> {
    let Some(first) = members.first() else {
        return Err(ModelError::Config {
            key: "ensemble",
            reason: "an ensemble needs at least one member".into(),
        });
    };
    let names: BTreeMap<String, Tensor> = first.variables().into_iter().collect();
    let mut vars = BTreeMap::new();
    for (name, v0) in &names {
        let mut parts = Vec::with_capacity(members.len());
        for (k, m) in members.iter().enumerate() {
            let v = m
                .variables()
                .remove(name)
                .ok_or_else(|| ModelError::Config {
                    key: "ensemble",
                    reason: format!("member {k} has no variable {name:?}"),
                })?;
            if v.size() != v0.size() {
                return Err(ModelError::Config {
                    key: "ensemble",
                    reason: format!(
                        "member {k}'s {name:?} is {:?}, member 0's {:?}",
                        v.size(),
                        v0.size()
                    ),
                });
            }
            parts.push(v.detach().to_device(vs.device()));
        }
        let stacked = Tensor::stack(&parts, 0);
        let mut path = vs.root();
        let segments: Vec<&str> = name.split('.').collect();
        for s in &segments[..segments.len() - 1] {
            path = path / *s;
        }
        let var = path.var_copy(segments[segments.len() - 1], &stacked);
        vars.insert(name.clone(), var);
    }
    Ok(Stacked {
        vars,
        members: members.len() as i64,
    })
}

/// Copies member `k`'s weights out of the ensemble into `member`, a store built like the ones
/// [`stack_members`] took (its tensors are updated in place, so a model built on it sees them).
pub fn unstack_member(stacked: &Stacked, k: i64, member: &nn::VarStore) -> Result<()> {
    tch::no_grad(|| {
        for (name, mut v) in member.variables() {
            let src = stacked.get(&name)?.get(k);
            v.copy_(&src.to_device(v.device()));
        }
        Ok(())
    })
}

/// One stacked layer: weights `[K, out, in]`, bias `[K, 1, out]` (none on the last layer).
struct StackedLayer {
    /// The weights transposed, `[K, in, out]`, as the batched product takes them.
    wt: Tensor,
    /// The weights as stored, `[K, out, in]`, for the input gradient.
    w: Tensor,
    b: Option<Tensor>,
}

/// [`crate::Mlp`] with `K` members: the same layers, names and activation.
pub struct StackedMlp {
    layers: Vec<StackedLayer>,
    activation: Activation,
}

impl StackedMlp {
    /// The stacked MLP whose members' layers live at `prefix.l0`, `prefix.l1`, ...
    pub fn new(stacked: &Stacked, prefix: &str, activation: Activation) -> Result<Self> {
        let mut layers = Vec::new();
        while let Some(w) = stacked
            .vars
            .get(&format!("{prefix}.l{}.weight", layers.len()))
        {
            let b = stacked
                .vars
                .get(&format!("{prefix}.l{}.bias", layers.len()))
                .map(|b| b.unsqueeze(1));
            layers.push(StackedLayer {
                wt: w.transpose(1, 2),
                w: w.shallow_clone(),
                b,
            });
        }
        if layers.len() < 2 {
            return Err(ModelError::Config {
                key: "ensemble",
                reason: format!("no stacked MLP at {prefix:?}"),
            });
        }
        Ok(Self { layers, activation })
    }

    fn act(&self, z: &Tensor) -> Tensor {
        self.activation.apply(z)
    }

    fn layer(l: &StackedLayer, h: &Tensor) -> Tensor {
        match &l.b {
            Some(b) => b.baddbmm(h, &l.wt, 1, 1),
            None => h.bmm(&l.wt),
        }
    }

    /// # Shapes
    /// `x: [K, batch, input]` -> `[K, batch, output]`
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let last = self.layers.len() - 1;
        let mut h = x.shallow_clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = Self::layer(l, &h);
            if i < last {
                h = self.act(&h);
            }
        }
        h
    }

    /// [`crate::Mlp::input_gradient`] per member.
    ///
    /// # Shapes
    /// `x: [K, batch, input]` -> `[K, batch, input]`; requires `output = 1`.
    pub fn input_gradient(&self, x: &Tensor) -> Tensor {
        let last = self.layers.len() - 1;
        let mut h = x.shallow_clone();
        let mut acts: Vec<Tensor> = Vec::with_capacity(last);
        for l in &self.layers[..last] {
            let a = self.act(&Self::layer(l, &h));
            acts.push(a.shallow_clone());
            h = a;
        }
        let weights: Vec<&Tensor> = self.layers.iter().map(|l| &l.w).collect();
        backprop_to_input(self.activation, &acts, &weights)
    }
}

impl ScalarNet for StackedMlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        StackedMlp::forward(self, x)
    }
    fn input_gradient(&self, x: &Tensor) -> Tensor {
        StackedMlp::input_gradient(self, x)
    }
}

struct EnsembleBaseline {
    mlp: StackedMlp,
    members: i64,
}

impl EnsembleModel for EnsembleBaseline {
    fn members(&self) -> i64 {
        self.members
    }
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor {
        if train {
            self.mlp.forward(x)
        } else {
            tch::no_grad(|| self.mlp.forward(x))
        }
    }
}

/// An HNN ensemble (`d = None`) or a dissipative HNN one (`J dH/dx + dD/dx`, with its prior's
/// weight `penalty`).
struct EnsembleGradient {
    h: StackedMlp,
    d: Option<StackedMlp>,
    gradient: GradientMethod,
    penalty: f64,
    members: i64,
}

impl EnsembleModel for EnsembleGradient {
    fn members(&self) -> i64 {
        self.members
    }
    fn time_derivative(&self, x: &Tensor, train: bool) -> Tensor {
        match self.parts(x, train) {
            (field, Some(gd)) => field + gd,
            (field, None) => field,
        }
    }
    fn training_output(&self, x: &Tensor) -> (Tensor, Vec<(&'static str, Tensor)>) {
        match self.parts(x, true) {
            (field, Some(gd)) => {
                let terms = crate::dhnn::dissipation_terms(&gd, self.penalty, &[1, 2]);
                (field + gd, terms)
            }
            (field, None) => (field, Vec::new()),
        }
    }
}

impl EnsembleGradient {
    /// `(J dH/dx, dD/dx)` per member (no second part for an HNN), kept differentiable in the
    /// weights when `train`.
    fn parts(&self, x: &Tensor, train: bool) -> (Tensor, Option<Tensor>) {
        let field = symplectic(&scalar_gradient(&self.h, x, self.gradient, train));
        let gd = self
            .d
            .as_ref()
            .map(|d| scalar_gradient(d, x, self.gradient, train));
        (field, gd)
    }
}

/// The baseline ensemble (for [`crate::MODELS`]).
pub(crate) fn baseline(s: &Stacked, spec: &ModelSpec) -> Result<Box<dyn EnsembleModel>> {
    Ok(Box::new(EnsembleBaseline {
        mlp: StackedMlp::new(s, "baseline.mlp", spec.mlp.activation)?,
        members: s.members,
    }))
}

/// The HNN ensemble (for [`crate::MODELS`]).
pub(crate) fn hnn(s: &Stacked, spec: &ModelSpec) -> Result<Box<dyn EnsembleModel>> {
    Ok(Box::new(EnsembleGradient {
        h: StackedMlp::new(s, "hnn.mlp", spec.mlp.activation)?,
        d: None,
        gradient: spec.gradient,
        penalty: 0.0,
        members: s.members,
    }))
}

/// The dissipative HNN ensemble (for [`crate::MODELS`]).
pub(crate) fn dhnn(s: &Stacked, spec: &ModelSpec) -> Result<Box<dyn EnsembleModel>> {
    Ok(Box::new(EnsembleGradient {
        h: StackedMlp::new(s, "dhnn.h.mlp", spec.mlp.activation)?,
        d: Some(StackedMlp::new(s, "dhnn.d.mlp", spec.mlp.activation)?),
        gradient: spec.gradient,
        penalty: spec.dissipation_penalty,
        members: s.members,
    }))
}

/// Builds the ensemble of model `name` over the stacked members, if the family can be batched.
pub fn build_ensemble(
    name: &str,
    stacked: &Stacked,
    spec: &ModelSpec,
) -> Option<Result<Box<dyn EnsembleModel>>> {
    let build = crate::model_info(name)?.ensemble?;
    Some(build(stacked, spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DynamicsModel, build_model};
    use tch::{Device, Kind};

    fn member(name: &str, seed: i64, dim: i64) -> (nn::VarStore, Box<dyn DynamicsModel>) {
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let spec = ModelSpec {
            mlp: crate::MlpConfig {
                hidden: vec![7, 5],
                ..Default::default()
            },
            ..Default::default()
        };
        let m = build_model(name, &vs.root(), dim, &spec).unwrap();
        (vs, m)
    }

    /// Each member of a stacked network computes what its single model computes, for every
    /// batchable family and both gradient methods.
    #[test]
    fn members_compute_what_their_single_models_compute() {
        tch::set_num_threads(1);
        for name in ["baseline", "hnn", "dhnn"] {
            for gradient in [GradientMethod::Explicit, GradientMethod::Autograd] {
                let singles: Vec<_> = (0..3).map(|s| member(name, 10 + s, 4)).collect();
                let vs = nn::VarStore::new(Device::Cpu);
                let stores: Vec<&nn::VarStore> = singles.iter().map(|(v, _)| v).collect();
                let stacked = stack_members(&stores, &vs).unwrap();
                let spec = ModelSpec {
                    gradient,
                    ..Default::default()
                };
                let ens = build_ensemble(name, &stacked, &spec).unwrap().unwrap();
                assert_eq!(ens.members(), 3);
                let x = Tensor::randn([3, 6, 4], (Kind::Float, Device::Cpu));
                let y = ens.time_derivative(&x, false);
                assert_eq!(y.size(), [3, 6, 4]);
                for (k, (_, m)) in singles.iter().enumerate() {
                    let want = m.time_derivative(&x.get(k as i64), false);
                    let diff = (y.get(k as i64) - want).abs().max().double_value(&[]);
                    assert!(diff < 1e-5, "{name} {gradient:?} member {k}: {diff}");
                }
            }
        }
        assert!(
            build_ensemble(
                "shnn",
                &Stacked {
                    vars: BTreeMap::new(),
                    members: 0
                },
                &ModelSpec::default()
            )
            .is_none()
        );
    }

    /// The dissipative HNN's prior: each member's training field and its `"dissipation"` term
    /// equal its single model's, and that term is `λ · mean((dD/dx)²)` of the model's own
    /// dissipative part; with `λ = 0` there is no term, in an ensemble or alone.
    #[test]
    fn members_carry_the_dissipative_prior() {
        tch::set_num_threads(1);
        let spec = |penalty| ModelSpec {
            mlp: crate::MlpConfig {
                hidden: vec![7, 5],
                ..Default::default()
            },
            dissipation_penalty: penalty,
            ..Default::default()
        };
        let x = Tensor::randn([2, 6, 4], (Kind::Float, Device::Cpu));
        let singles: Vec<_> = (0..2)
            .map(|s| {
                tch::manual_seed(20 + s);
                let vs = nn::VarStore::new(Device::Cpu);
                let m = build_model("dhnn", &vs.root(), 4, &spec(0.3)).unwrap();
                (vs, m)
            })
            .collect();
        let vs = nn::VarStore::new(Device::Cpu);
        let stores: Vec<&nn::VarStore> = singles.iter().map(|(v, _)| v).collect();
        let stacked = stack_members(&stores, &vs).unwrap();
        let ens = build_ensemble("dhnn", &stacked, &spec(0.3))
            .unwrap()
            .unwrap();
        let (field, terms) = ens.training_output(&x);
        assert_eq!(terms.len(), 1);
        assert_eq!((terms[0].0, terms[0].1.size()), ("dissipation", vec![2]));
        for (k, (_, m)) in singles.iter().enumerate() {
            let xk = x.get(k as i64);
            let (f1, t1) = m.training_output(&xk);
            let diff = (field.get(k as i64) - &f1).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "member {k} field: {diff}");
            let diff = (&f1 - m.time_derivative(&xk, false))
                .abs()
                .max()
                .double_value(&[]);
            assert!(diff < 1e-6, "member {k} training field vs field: {diff}");
            let gd = m.field_parts(&xk).unwrap().dissipative;
            let by_hand = 0.3 * gd.square().mean(Kind::Float).double_value(&[]);
            assert_eq!(t1.len(), 1);
            let single = t1[0].1.double_value(&[]);
            assert!(
                (single - by_hand).abs() < 1e-7 * by_hand.max(1e-3),
                "{single} vs {by_hand}"
            );
            let member = terms[0].1.double_value(&[k as i64]);
            assert!(
                (member - by_hand).abs() < 1e-5 * by_hand.max(1e-3),
                "{member} vs {by_hand}"
            );
        }
        // no prior: no term
        let ens = build_ensemble("dhnn", &stacked, &spec(0.0))
            .unwrap()
            .unwrap();
        assert!(ens.training_output(&x).1.is_empty());
        let (_, plain) = &member("dhnn", 3, 4);
        assert!(plain.training_output(&x.get(0)).1.is_empty());
    }

    /// Stacking keeps each member's weights bit for bit, and unstacking writes a member's
    /// slice back into a store in place.
    #[test]
    fn stacking_and_unstacking_keep_weights_exactly() {
        let a = member("hnn", 1, 2);
        let b = member("hnn", 2, 2);
        let vs = nn::VarStore::new(Device::Cpu);
        let stacked = stack_members(&[&a.0, &b.0], &vs).unwrap();
        for (name, v) in b.0.variables() {
            assert!(stacked.vars[&name].get(1).equal(&v), "{name}");
        }
        // scale member 1 in the ensemble, copy it into a's store: a now holds 2 * b
        tch::no_grad(|| {
            for v in stacked.vars.values() {
                let _ = v.get(1).f_mul_(&Tensor::from(2.0f32)).unwrap();
            }
        });
        unstack_member(&stacked, 1, &a.0).unwrap();
        for (name, v) in a.0.variables() {
            let want = b.0.variables()[&name].shallow_clone() * 2.0;
            assert!(v.equal(&want), "{name}");
        }
        // a member with other shapes is refused, naming the variable
        let c = member("baseline", 3, 2);
        let err = stack_members(&[&a.0, &c.0], &nn::VarStore::new(Device::Cpu))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("member 1 has no variable"), "{err}");
    }
}
