//! A model on the states themselves, trained on the mean squared error of `dx/dt`: the
//! learner of every task whose samples are states and their time derivatives.

use ndarray::Array2;
use tch::{Device, Tensor, nn};

use crate::config::{Experiment, TrainObjective};
use crate::error::Result;
use crate::tasks::Learner;
use crate::tasks::rollout::{RolloutLearner, Sequences};
use crate::train::{LossParts, LossStats, LossValues, Objective, StateObjective, TrainData};
use hnn_models::DynamicsModel;

/// Training samples: inputs and target derivatives, `[rows, dim]` each, and the observed
/// trajectories they come from (for training through the integrator), when the task has them.
pub struct Samples {
    pub x: Array2<f64>,
    pub dx: Array2<f64>,
    pub x_test: Array2<f64>,
    pub dx_test: Array2<f64>,
    pub sequences: Option<Sequences>,
}

/// Model `name` on the states with the objective `train.objective` asks for: `dx/dt` targets,
/// or observed states through the integrator.
pub fn state_learner(
    name: &str,
    samples: &Samples,
    vs: &mut nn::VarStore,
    exp: &Experiment,
    device: Device,
) -> Result<Box<dyn Learner>> {
    Ok(match (exp.config.train.objective, &samples.sequences) {
        (TrainObjective::Rollout, Some(seq)) => {
            Box::new(RolloutLearner::new(name, samples, seq, vs, exp, device)?)
        }
        (TrainObjective::Rollout, None) => {
            unreachable!("the config check refuses a rollout objective without trajectories")
        }
        (TrainObjective::Derivatives, _) => {
            Box::new(StateLearner::new(name, samples, vs, exp, device)?)
        }
    })
}

/// A model on the states themselves, trained on the mean squared error of `dx/dt`.
pub struct StateLearner {
    pub model: Box<dyn DynamicsModel>,
    pub data: TrainData,
    x_test: Array2<f64>,
}

impl StateLearner {
    /// Builds model `name` for `samples`.
    pub fn new(
        name: &str,
        samples: &Samples,
        vs: &mut nn::VarStore,
        exp: &Experiment,
        device: Device,
    ) -> Result<Self> {
        let model = crate::build_model(name, vs, samples.x.ncols() as i64, exp, device)?;
        let data = TrainData::from_arrays(
            &samples.x,
            &samples.dx,
            &samples.x_test,
            &samples.dx_test,
            device,
        );
        Ok(Self {
            model,
            data,
            x_test: samples.x_test.clone(),
        })
    }

    fn objective(&self) -> StateObjective<'_> {
        StateObjective {
            model: self.model.as_ref(),
            data: &self.data,
        }
    }
}

impl Objective for StateLearner {
    fn train_rows(&self) -> i64 {
        self.objective().train_rows()
    }
    fn train_loss(&self, idx: Option<&Tensor>) -> LossParts {
        self.objective().train_loss(idx)
    }
    fn test_loss(&self) -> Vec<LossValues> {
        self.objective().test_loss()
    }
}

impl Learner for StateLearner {
    fn final_stats(&self) -> (LossStats, LossStats) {
        self.objective().final_stats()
    }
    fn field(&self) -> &dyn DynamicsModel {
        self.model.as_ref()
    }
    fn probe(&self) -> (Tensor, Array2<f64>) {
        (self.data.x_test.shallow_clone(), self.x_test.clone())
    }
    fn trivial_field_test_loss(&self) -> Option<f64> {
        Some(self.data.trivial_field_test_loss())
    }
    fn state_data(&self) -> Option<&TrainData> {
        Some(&self.data)
    }
}
