//! The pixel pendulum as a task: frames rendered by `hnn-pixels`, models that are an
//! autoencoder with a registered field on its latent state, and evaluation through the
//! autoencoder (encode the first observation, integrate the latent field, decode, re-encode,
//! map to `(angle, 0.25 dangle/dt)` with a linear readout fitted on the training set).
//!
//! Protocol `paper` (the official notebook) fits the readout as the notebook does (Adam, lr
//! 1e-3, 4001 steps, batch 400) and scores the paper's energy `1.9 (1 - cos q) + p^2` on the
//! configured labels; every other protocol fits it in closed form (least squares, R² logged)
//! on aligned labels and scores the rod's own energy ([`hnn_pixels::gym::label_energy`]).

use std::any::Any;
use std::cell::OnceCell;
use std::path::Path;
use std::sync::Arc;

use hnn_models::{DynamicsModel, LatentModel};
use hnn_physics::rng::{Purpose, stream};
use hnn_pixels::gym::{label_energy, paper_energy, sample_start};
use hnn_pixels::{Labels, PixelData, PixelDataConfig, PixelSamples};
use ndarray::Array2;
use rand::Rng;
use tch::{Device, Kind, Tensor, nn};

use hnn_physics::dataset::DataSpec;
use serde::{Deserialize, Serialize};

use crate::config::{
    Budget, Config, Experiment, FigureConfig, LONG_HORIZON_FACTOR, MAX_STORED_VALUES, ModelConfig,
    ProtocolConfig,
};
use crate::error::{BenchError, Result};
use crate::tasks::{Context, Learner, Refusal, Section, Source, Task, read_section, table_of};
use crate::train::{LossParts, LossStats, LossValues, Objective, tensor_f64};
use crate::truth::{Embedding, EnergyFn, Observed, Truth, TruthTrajectory, View};

/// The pixel pendulum (`kind = "pixel-pendulum"`): Gym's pendulum rendered to frames, the
/// official dataset (the official notebook). Its models are an autoencoder with a registered
/// model on the latent state (`[model.autoencoder]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PixelConfig {
    /// Trials of `steps` frames each (each gives `steps - 3` samples).
    pub trials: usize,
    pub steps: usize,
    /// Frames per observation: 2 (the paper's) or 1.
    pub frames: usize,
    /// `"paper"`: labels one Gym step ahead of the last frame (the official pairing);
    /// `"aligned"`: the state the last frame shows.
    pub labels: hnn_pixels::Labels,
    /// Open range of the start's `|angle from rest|` for the dataset's trials.
    #[serde(deserialize_with = "hnn_physics::pair::pair")]
    pub start_angle: [f64; 2],
    /// The same for the `paper` protocol's and the figure's rollout (the notebook's).
    #[serde(deserialize_with = "hnn_physics::pair::pair")]
    pub eval_start_angle: [f64; 2],
    /// Fraction of the samples (the first ones) in the test set.
    pub test_fraction: f64,
    pub camera: hnn_pixels::Camera,
}

impl Default for PixelConfig {
    fn default() -> Self {
        let d = hnn_pixels::PixelDataConfig::default();
        Self {
            trials: d.trials,
            steps: d.steps,
            frames: d.frames,
            labels: d.labels,
            start_angle: d.start_angle,
            eval_start_angle: [std::f64::consts::PI / 11.0, std::f64::consts::PI / 10.0],
            test_fraction: d.test_fraction,
            camera: d.camera,
        }
    }
}

impl PixelConfig {
    pub fn data(&self) -> hnn_pixels::PixelDataConfig {
        hnn_pixels::PixelDataConfig {
            trials: self.trials,
            steps: self.steps,
            frames: self.frames,
            labels: self.labels,
            start_angle: self.start_angle,
            test_fraction: self.test_fraction,
            camera: self.camera,
        }
    }
}

/// Rows per forward pass when a whole split goes through the autoencoder.
const CHUNK: i64 = 2000;

/// Frames and sample windows of one split, on the training device.
struct Split {
    /// `[n_frames, side^2]`
    frames: Tensor,
    /// `[n, F]` rows of `frames`
    obs: Tensor,
    next: Tensor,
}

impl Split {
    fn new(s: &PixelSamples, device: Device) -> Self {
        let frames = Tensor::from_slice(s.frames.as_slice().expect("standard layout"))
            .view([s.frames.nrows() as i64, s.frames.ncols() as i64])
            .to_device(device);
        let idx = |a: &Array2<i64>| {
            Tensor::from_slice(a.as_slice().expect("standard layout"))
                .view([a.nrows() as i64, a.ncols() as i64])
                .to_device(device)
        };
        Self {
            frames,
            obs: idx(&s.obs),
            next: idx(&s.next),
        }
    }

    fn shallow(&self) -> Self {
        Self {
            frames: self.frames.shallow_clone(),
            obs: self.obs.shallow_clone(),
            next: self.next.shallow_clone(),
        }
    }

    fn rows(&self) -> i64 {
        self.obs.size()[0]
    }

    /// Observations of window rows `w` (`[b, F]`) as `[b, F * side^2]`.
    fn gather(&self, w: &Tensor) -> Tensor {
        let b = w.size()[0];
        self.frames.index_select(0, &w.view([-1])).view([b, -1])
    }

    /// `(observation, target)` of samples `idx` (all when `None`).
    fn batch(&self, idx: Option<&Tensor>) -> (Tensor, Tensor) {
        match idx {
            None => (self.gather(&self.obs), self.gather(&self.next)),
            Some(i) => (
                self.gather(&self.obs.index_select(0, i)),
                self.gather(&self.next.index_select(0, i)),
            ),
        }
    }

    /// Samples `start..start + len`.
    fn range(&self, start: i64, len: i64) -> (Tensor, Tensor) {
        (
            self.gather(&self.obs.narrow(0, start, len)),
            self.gather(&self.next.narrow(0, start, len)),
        )
    }
}

/// The pixel pendulum's data and truths.
pub struct PixelTask {
    cfg: Arc<PixelConfig>,
    data_cfg: PixelDataConfig,
    data: PixelData,
    tensors: OnceCell<(Device, Split, Split)>,
}

impl PixelTask {
    /// Renders the dataset (the run's data stage).
    pub fn new(cfg: &Arc<PixelConfig>, seed: u64) -> Result<Self> {
        let data_cfg = cfg.data();
        let data = hnn_pixels::dataset::generate(&data_cfg, seed).map_err(pixel_err)?;
        Ok(Self {
            cfg: cfg.clone(),
            data_cfg,
            data,
            tensors: OnceCell::new(),
        })
    }

    fn splits(&self, device: Device) -> (Split, Split) {
        let (d, train, test) = self.tensors.get_or_init(|| {
            (
                device,
                Split::new(&self.data.train, device),
                Split::new(&self.data.test, device),
            )
        });
        assert_eq!(*d, device, "one device per run");
        (train.shallow(), test.shallow())
    }

    /// `n` fresh rollouts of `points` samples each from starts in `angle` (stream
    /// `Evaluation`), with their labels and frames.
    fn rollouts(
        &self,
        what: &str,
        p: &ProtocolConfig,
        angle: [f64; 2],
        labels: Labels,
        energy: EnergyFn,
        seed: u64,
    ) -> Result<Truth> {
        let cam = &self.data_cfg.camera;
        let frames = self.data_cfg.frames;
        let mut trajectories = Vec::new();
        let mut observed = Observed {
            side: cam.side as usize,
            start: Vec::new(),
            frames: Vec::new(),
        };
        for i in 0..p.trajectories {
            let s = eval_rollout(&self.cfg, angle, labels, p.points, seed, i).map_err(|e| {
                BenchError::Input {
                    path: format!("the {what} protocol's trajectory {i}").into(),
                    reason: e.to_string(),
                }
            })?;
            let t: Vec<f64> = (0..p.points).map(|k| k as f64).collect();
            let states: Vec<f64> = s.labels.iter().copied().collect();
            trajectories.push(TruthTrajectory {
                x0: states[..2].to_vec(),
                t_model: t.iter().map(|v| v * p.time_stretch).collect(),
                t,
                states,
            });
            observed.start.push(s.observation(0));
            observed.frames.push(
                s.obs
                    .column(frames - 1)
                    .iter()
                    .flat_map(|&r| s.frames.row(r as usize).to_vec())
                    .collect(),
            );
        }
        Ok(Truth {
            dim: 2,
            trajectories,
            energy: Some(energy),
            observed: Some(observed),
        })
    }
}

/// Fresh evaluation rollout `i` under `seed` (stream `Evaluation`, index `i`): a start drawn
/// by the dataset's rejection rule with its angle from rest in `angle`, then `points` samples.
/// The protocols, the figure and energy editing all start from these.
pub fn eval_rollout(
    cfg: &PixelConfig,
    angle: [f64; 2],
    labels: Labels,
    points: usize,
    seed: u64,
    i: usize,
) -> hnn_pixels::Result<PixelSamples> {
    let mut rng = stream(seed, Purpose::Evaluation, i as u64);
    let start = sample_start(&mut rng, angle, i)?;
    Ok(PixelSamples::of_rollout(
        start,
        points + 3,
        cfg.frames,
        labels,
        &cfg.camera,
    ))
}

/// A dataset error past validation (a start range the rejection sampler cannot meet).
fn pixel_err(e: hnn_pixels::PixelError) -> BenchError {
    BenchError::Input {
        path: "the pixel dataset".into(),
        reason: e.to_string(),
    }
}

impl Task for PixelTask {
    fn name(&self) -> &str {
        "pixel-pendulum"
    }
    fn dim(&self) -> usize {
        2
    }
    fn write_data(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(crate::io_err("cannot create", dir))?;
        for (name, s) in [("train", &self.data.train), ("test", &self.data.test)] {
            // frames are k / 255 exactly: stored as the 8-bit levels
            let levels = s.frames.mapv(|v| (v * 255.0).round() as u8);
            crate::write_npy(&dir.join(format!("{name}_frames_u8.npy")), &levels)?;
            crate::write_npy(&dir.join(format!("{name}_obs.npy")), &s.obs)?;
            crate::write_npy(&dir.join(format!("{name}_next.npy")), &s.next)?;
            crate::write_npy(&dir.join(format!("{name}_labels.npy")), &s.labels)?;
        }
        Ok(())
    }
    fn protocol(
        &self,
        name: &str,
        p: &ProtocolConfig,
        seed: u64,
        _budget: Budget,
    ) -> Result<Truth> {
        if name == "paper" {
            self.rollouts(
                name,
                p,
                self.cfg.eval_start_angle,
                self.cfg.labels,
                Arc::new(|x: &[f64]| paper_energy([x[0], x[1]])),
                seed,
            )
        } else {
            self.rollouts(
                name,
                p,
                self.cfg.start_angle,
                Labels::Aligned,
                Arc::new(|x: &[f64]| label_energy([x[0], x[1]])),
                seed,
            )
        }
    }
    fn figure(&self, f: &FigureConfig, seed: u64, _budget: Budget) -> Result<Truth> {
        let p = ProtocolConfig {
            trajectories: 1,
            points: f.points,
            time_stretch: 1.0,
            ..ProtocolConfig::pixels_paper()
        };
        self.rollouts(
            "figure",
            &p,
            self.cfg.eval_start_angle,
            Labels::Aligned,
            Arc::new(|x: &[f64]| label_energy([x[0], x[1]])),
            seed,
        )
    }
    fn energy(&self) -> Option<EnergyFn> {
        Some(Arc::new(|x: &[f64]| label_energy([x[0], x[1]])))
    }
    fn view(&self) -> View {
        View::Frames {
            q: 0,
            p: 1,
            side: self.data_cfg.camera.side as usize,
        }
    }
    fn sizes(&self) -> (usize, usize) {
        (self.data.train.len(), self.data.test.len())
    }
    fn learner(
        &self,
        name: &str,
        vs: &mut nn::VarStore,
        exp: &Experiment,
        device: Device,
    ) -> Result<Box<dyn Learner>> {
        let input = (self.data_cfg.frames * self.data_cfg.camera.pixels()) as i64;
        let model = crate::seeded_init(exp.config.experiment.seed, || {
            LatentModel::new(
                &vs.root(),
                name,
                input,
                &exp.config.model.autoencoder,
                &exp.config.model.spec(),
            )
        })?;
        vs.set_device(device);
        let (train, test) = self.splits(device);
        Ok(Box::new(PixelLearner {
            model,
            train,
            test,
            train_labels: self.data.train.labels.clone(),
            train_shown: self.data.train.shown.clone(),
            test_labels: self.data.test.labels.clone(),
            seed: exp.config.experiment.seed,
            device,
            train_codes: OnceCell::new(),
        }))
    }
}

/// A latent model and the pixel objective.
pub struct PixelLearner {
    model: LatentModel,
    train: Split,
    test: Split,
    train_labels: Array2<f64>,
    train_shown: Array2<f64>,
    test_labels: Array2<f64>,
    seed: u64,
    device: Device,
    /// Latent codes of the training observations, encoded once after training for every
    /// readout fit.
    train_codes: OnceCell<Vec<f64>>,
}

fn parts(l: &hnn_models::LatentLosses) -> LossParts {
    let total = l.total().mean(Kind::Float);
    LossParts {
        parts: vec![
            ("reconstruction", l.reconstruction.mean(Kind::Float)),
            ("canonical", l.canonical.mean(Kind::Float)),
            ("latent", l.latent.mean(Kind::Float)),
        ],
        total,
    }
}

impl PixelLearner {
    /// Per-sample totals of a whole split (detached), in chunks.
    fn totals(&self, s: &Split) -> Vec<f64> {
        let mut out = Vec::with_capacity(s.rows() as usize);
        for (start, len) in crate::train::row_chunks(s.rows(), CHUNK) {
            let (x, xn) = s.range(start, len);
            out.extend(tensor_f64(
                &self.model.losses(&x, &xn, false).total().detach(),
            ));
        }
        out
    }

    /// Latent codes of a whole split's observations, `[n, latent]` (f64, row-major).
    fn codes(&self, s: &Split) -> Vec<f64> {
        let mut out = Vec::new();
        for (start, len) in crate::train::row_chunks(s.rows(), CHUNK) {
            let x = s.gather(&s.obs.narrow(0, start, len));
            out.extend(tensor_f64(&tch::no_grad(|| {
                self.model.autoencoder.encode(&x)
            })));
        }
        out
    }
}

fn stats(v: &[f64]) -> LossStats {
    LossStats::of(v, v.len())
}

impl Objective for PixelLearner {
    fn train_rows(&self) -> i64 {
        self.train.rows()
    }
    fn train_loss(&self, idx: Option<&Tensor>) -> LossParts {
        let (x, xn) = self.train.batch(idx);
        parts(&self.model.losses(&x, &xn, true))
    }
    fn test_loss(&self) -> Vec<LossValues> {
        let (x, xn) = self.test.batch(None);
        vec![parts(&self.model.losses(&x, &xn, false)).values()]
    }
}

impl Learner for PixelLearner {
    fn final_stats(&self) -> (LossStats, LossStats) {
        (
            stats(&self.totals(&self.train)),
            stats(&self.totals(&self.test)),
        )
    }
    fn field(&self) -> &dyn DynamicsModel {
        self.model.field.as_ref()
    }
    fn probe(&self) -> (Tensor, Array2<f64>) {
        let z = self.codes(&self.test);
        let latent = self.model.field.dim();
        let t = Tensor::from_slice(&z.iter().map(|&v| v as f32).collect::<Vec<_>>())
            .view([-1, latent])
            .to_device(self.device);
        (t, self.test_labels.clone())
    }
    fn embedding(&self, protocol: &str) -> Option<Box<dyn Embedding + '_>> {
        let latent = self.model.field.dim() as usize;
        let z = self.train_codes.get_or_init(|| self.codes(&self.train));
        let readout = if protocol == "paper" {
            Readout::adam(z, &self.train_labels, latent, self.seed)
        } else {
            Readout::least_squares(z, &self.train_shown, latent)
        };
        tracing::info!(
            protocol,
            model = self.model.field.name(),
            r2_q = format_args!("{:.4}", readout.r2[0]),
            r2_p = format_args!("{:.4}", readout.r2[1]),
            "latent readout fitted on the training set"
        );
        Some(Box::new(PixelEmbedding {
            learner: self,
            readout,
        }))
    }
}

/// An affine map from latent codes to `(q, p)` labels, `y = W z + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Readout {
    /// `[2][latent]`
    pub w: Vec<[f64; 2]>,
    pub b: [f64; 2],
    /// Coefficient of determination of each output on the fitting data.
    pub r2: [f64; 2],
}

impl Readout {
    pub fn apply(&self, z: &[f64]) -> [f64; 2] {
        let mut y = self.b;
        for (k, zk) in z.iter().enumerate() {
            y[0] += self.w[k][0] * zk;
            y[1] += self.w[k][1] * zk;
        }
        y
    }

    fn with_r2(mut self, z: &[f64], y: &Array2<f64>, latent: usize) -> Self {
        for j in 0..2 {
            let col = y.column(j);
            let mean = col.mean().unwrap_or(0.0);
            let (mut ss_res, mut ss_tot) = (0.0, 0.0);
            for (i, zi) in z.chunks(latent).enumerate() {
                ss_res += (self.apply(zi)[j] - col[i]).powi(2);
                ss_tot += (col[i] - mean).powi(2);
            }
            self.r2[j] = 1.0 - ss_res / ss_tot;
        }
        self
    }

    /// Least squares with an intercept (normal equations).
    pub fn least_squares(z: &[f64], y: &Array2<f64>, latent: usize) -> Self {
        let m = latent + 1;
        let mut a = vec![0.0; m * m];
        let mut rhs = vec![[0.0; 2]; m];
        for (i, zi) in z.chunks(latent).enumerate() {
            let row: Vec<f64> = zi.iter().copied().chain([1.0]).collect();
            for r in 0..m {
                for c in 0..m {
                    a[r * m + c] += row[r] * row[c];
                }
                rhs[r][0] += row[r] * y[[i, 0]];
                rhs[r][1] += row[r] * y[[i, 1]];
            }
        }
        let sol = solve(a, rhs, m);
        Self {
            w: sol[..latent].to_vec(),
            b: sol[latent],
            r2: [f64::NAN; 2],
        }
        .with_r2(z, y, latent)
    }

    /// The notebook's fit: `Linear(latent, 2)` with PyTorch's initialisation, Adam at lr 1e-3,
    /// 4001 steps on random batches of 400, mean squared error.
    pub fn adam(z: &[f64], y: &Array2<f64>, latent: usize, seed: u64) -> Self {
        let n = y.nrows();
        let mut rng = stream(seed, Purpose::Evaluation, u64::MAX - 1);
        let bound = 1.0 / (latent as f64).sqrt();
        // parameters: w (latent x 2) then b (2)
        let np = 2 * latent + 2;
        let mut theta: Vec<f64> = (0..np).map(|_| rng.random_range(-bound..bound)).collect();
        let (mut m1, mut m2) = (vec![0.0; np], vec![0.0; np]);
        let (lr, b1, b2, eps): (f64, f64, f64, f64) = (1e-3, 0.9, 0.999, 1e-8);
        let batch = 400.min(n);
        let mut perm: Vec<usize> = (0..n).collect();
        for step in 1..=4001 {
            for i in 0..batch {
                let j = rng.random_range(i..n);
                perm.swap(i, j);
            }
            let mut g = vec![0.0; np];
            for &i in &perm[..batch] {
                let zi = &z[i * latent..(i + 1) * latent];
                for o in 0..2 {
                    let mut pred = theta[2 * latent + o];
                    for k in 0..latent {
                        pred += theta[2 * k + o] * zi[k];
                    }
                    // d/dpred of the mean over batch and both outputs
                    let r = 2.0 * (pred - y[[i, o]]) / (2 * batch) as f64;
                    for k in 0..latent {
                        g[2 * k + o] += r * zi[k];
                    }
                    g[2 * latent + o] += r;
                }
            }
            let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
            for k in 0..np {
                m1[k] = b1 * m1[k] + (1.0 - b1) * g[k];
                m2[k] = b2 * m2[k] + (1.0 - b2) * g[k] * g[k];
                theta[k] -= lr * (m1[k] / c1) / ((m2[k] / c2).sqrt() + eps);
            }
        }
        Self {
            w: (0..latent)
                .map(|k| [theta[2 * k], theta[2 * k + 1]])
                .collect(),
            b: [theta[2 * latent], theta[2 * latent + 1]],
            r2: [f64::NAN; 2],
        }
        .with_r2(z, y, latent)
    }
}

/// Gaussian elimination with partial pivoting of `a x = rhs` for two right-hand sides.
fn solve(mut a: Vec<f64>, mut rhs: Vec<[f64; 2]>, m: usize) -> Vec<[f64; 2]> {
    for col in 0..m {
        let piv = (col..m)
            .max_by(|&i, &j| a[i * m + col].abs().total_cmp(&a[j * m + col].abs()))
            .expect("non-empty");
        for c in 0..m {
            a.swap(col * m + c, piv * m + c);
        }
        rhs.swap(col, piv);
        let d = a[col * m + col];
        for r in col + 1..m {
            let f = a[r * m + col] / d;
            for c in col..m {
                a[r * m + c] -= f * a[col * m + c];
            }
            let pivot_row = rhs[col];
            for (v, p) in rhs[r].iter_mut().zip(pivot_row) {
                *v -= f * p;
            }
        }
    }
    let mut x = vec![[0.0; 2]; m];
    for r in (0..m).rev() {
        for o in 0..2 {
            let s: f64 = (r + 1..m).map(|c| a[r * m + c] * x[c][o]).sum();
            x[r][o] = (rhs[r][o] - s) / a[r * m + r];
        }
    }
    x
}

/// Evaluation through the autoencoder: encode the truth's first observation; read latent
/// states back by decoding, re-encoding and the fitted readout.
struct PixelEmbedding<'a> {
    learner: &'a PixelLearner,
    readout: Readout,
}

impl PixelEmbedding<'_> {
    fn latent(&self) -> i64 {
        self.learner.model.field.dim()
    }

    fn tensor(&self, path: &[f64]) -> Tensor {
        Tensor::from_slice(&path.iter().map(|&v| v as f32).collect::<Vec<_>>())
            .view([-1, self.latent()])
            .to_device(self.learner.device)
    }
}

impl Embedding for PixelEmbedding<'_> {
    fn start(&self, truth: &Truth, i: usize) -> Vec<f64> {
        let obs = &truth
            .observed
            .as_ref()
            .expect("a pixel truth has frames")
            .start[i];
        let x = Tensor::from_slice(obs)
            .view([1, -1])
            .to_device(self.learner.device);
        tensor_f64(&tch::no_grad(|| self.learner.model.autoencoder.encode(&x)))
    }
    fn to_truth(&self, path: &[f64]) -> Vec<f64> {
        let ae = &self.learner.model.autoencoder;
        let z = tch::no_grad(|| ae.encode(&ae.decode(&self.tensor(path))));
        tensor_f64(&z)
            .chunks(self.latent() as usize)
            .flat_map(|zi| self.readout.apply(zi))
            .collect()
    }
    fn readout_r2(&self) -> Option<Vec<f64>> {
        Some(self.readout.r2.to_vec())
    }
    fn render(&self, path: &[f64]) -> Option<Vec<f32>> {
        let x = tch::no_grad(|| self.learner.model.autoencoder.decode(&self.tensor(path)));
        // the last frame of each decoded observation
        let (cols, pixels) = (x.size()[1], self.learner.train.frames.size()[1]);
        let last = x.narrow(1, cols - pixels, pixels);
        Some(tensor_f64(&last).into_iter().map(|v| v as f32).collect())
    }
}

pub const KIND: super::Kind = super::Kind {
    name: "pixel-pendulum",
    read: |_, table| Ok(Arc::new(read_section::<PixelConfig>(table)?)),
};

impl Section for PixelConfig {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    fn to_table(&self) -> toml::Table {
        table_of(self)
    }
    fn check(&self, cx: &Context) -> Result<Arc<dyn Source>> {
        let [lo, hi] = self.eval_start_angle;
        if !(0.0 <= lo && lo < hi && hi <= std::f64::consts::PI) {
            return Err(cx.bad(
                "eval_start_angle",
                format!("[{lo}, {hi}]: expected [min, max] with 0 <= min < max <= pi"),
            ));
        }
        self.data().validate().map_err(|err| match err {
            hnn_pixels::PixelError::Invalid { key, value, reason } => {
                cx.bad(key, format!("{value}: {reason}"))
            }
            other => BenchError::Config {
                path: cx.path.to_path_buf(),
                key: "system".into(),
                reason: other.to_string(),
                line: None,
            },
        })?;
        Ok(Arc::new(PixelSource(Arc::new(self.clone()))))
    }
}

/// A checked pixel section.
pub struct PixelSource(pub Arc<PixelConfig>);

impl Source for PixelSource {
    fn name(&self) -> &str {
        KIND.name
    }
    fn dim(&self) -> usize {
        2
    }
    fn model_dim(&self, model: &ModelConfig) -> usize {
        model.autoencoder.latent.max(0) as usize
    }
    fn n_train(&self, _data: &DataSpec) -> usize {
        let d = self.0.data();
        d.trials * d.per_trial() - d.n_test()
    }
    fn uses_data(&self) -> bool {
        false
    }
    fn has_autoencoder(&self) -> bool {
        true
    }
    fn presets(&self) -> Option<[ProtocolConfig; 2]> {
        Some([
            ProtocolConfig::pixels_paper(),
            ProtocolConfig::pixels_corrected(),
        ])
    }
    fn long_horizon(&self, _data: &DataSpec) -> Option<([f64; 2], usize)> {
        let n = (LONG_HORIZON_FACTOR * self.0.data().per_trial() as f64) as usize;
        Some(([0.0, n as f64 - 1.0], n))
    }
    fn check(&self, config: &Config) -> std::result::Result<(), Refusal> {
        check_models(&self.0, config)?;
        for (name, p) in config.eval.protocols() {
            check_protocol(&self.0, name, p)?;
        }
        if !config.eval.figure.x0.is_empty() {
            return Err(Refusal::new(
                "eval.figure.x0",
                "a pixel task's figure is the paper protocol's rollout; set x0 = []",
            ));
        }
        Ok(())
    }
    fn build(&self, exp: &Experiment) -> Result<Box<dyn Task>> {
        Ok(Box::new(PixelTask::new(
            &self.0,
            exp.config.experiment.seed,
        )?))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The autoencoder's sizes, a latent state a field can live on, and no dissipation prior.
fn check_models(p: &PixelConfig, config: &Config) -> std::result::Result<(), Refusal> {
    let _ = p;
    let ae = config.model.autoencoder;
    let latent = ae.latent.max(0) as usize;
    for m in &config.train.models {
        if let Err(err) = hnn_models::check_model(m, latent)
            && latent % 2 == 1
        {
            return Err(Refusal::new(
                "model.autoencoder.latent",
                format!("{latent} is odd, and {err}"),
            ));
        }
    }
    hnn_models::Autoencoder::new(
        &tch::nn::VarStore::new(tch::Device::Cpu).root(),
        1,
        &hnn_models::AutoencoderConfig { hidden: 1, ..ae },
    )
    .map_err(|err| Refusal::new("model.autoencoder.latent", err.to_string()))?;
    if !(1..=1 << 14).contains(&ae.hidden) {
        return Err(Refusal::new(
            "model.autoencoder.hidden",
            format!("{} must be 1 to {}", ae.hidden, 1 << 14),
        ));
    }
    let penalty = config.model.dissipation_penalty;
    if penalty > 0.0 {
        return Err(Refusal::new(
            "model.dissipation_penalty",
            format!(
                "{penalty:e} weighs the dissipative HNN's prior, and this config trains none on state data (train.models = {:?}, on pixels)",
                config.train.models
            ),
        ));
    }
    Ok(())
}

/// A protocol's truth has one point per frame, and its frames fit in memory.
fn check_protocol(
    p: &PixelConfig,
    name: &str,
    proto: &ProtocolConfig,
) -> std::result::Result<(), Refusal> {
    let key = |k: &str| format!("{name}.{k}");
    if proto.t_span != [0.0, proto.points as f64 - 1.0] {
        return Err(Refusal::new(
            key("t_span"),
            format!(
                "{:?}: a pixel task's truth has one point per frame; use [0, points - 1] = [0, {}]",
                proto.t_span,
                proto.points as f64 - 1.0
            ),
        ));
    }
    let frames = (proto.trajectories as u128) * (proto.points as u128 + 3);
    if frames * (p.camera.pixels() as u128) > MAX_STORED_VALUES {
        return Err(Refusal::new(
            key("points"),
            format!(
                "{} trajectories x {} frames of {} pixels is more than the {MAX_STORED_VALUES} values an evaluation may hold",
                proto.trajectories,
                proto.points,
                p.camera.pixels()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both fits recover an exact affine map; least squares to rounding, Adam to its lr.
    #[test]
    fn readouts_recover_an_affine_map() {
        let n = 500;
        let mut rng = stream(1, Purpose::Evaluation, 0);
        let z: Vec<f64> = (0..2 * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let y = Array2::from_shape_fn((n, 2), |(i, o)| {
            let (a, b) = (z[2 * i], z[2 * i + 1]);
            if o == 0 {
                0.5 * a - 0.2 * b + 0.1
            } else {
                -0.3 * a + 0.8 * b - 0.05
            }
        });
        let ls = Readout::least_squares(&z, &y, 2);
        assert!((ls.w[0][0] - 0.5).abs() < 1e-12 && (ls.w[1][1] - 0.8).abs() < 1e-12);
        assert!((ls.b[1] + 0.05).abs() < 1e-12);
        assert!(ls.r2.iter().all(|r| (r - 1.0).abs() < 1e-12));
        let ad = Readout::adam(&z, &y, 2, 0);
        assert!((ad.w[0][0] - 0.5).abs() < 0.02, "{:?}", ad.w);
        assert!(ad.r2.iter().all(|r| *r > 0.99), "{:?}", ad.r2);
        assert_eq!(ad, Readout::adam(&z, &y, 2, 0));
    }
}
