//! Energy editing: move a state to a chosen value of a model's learned energy by following the
//! gradient flow of `H_θ`, then let the learned Hamiltonian flow carry it on (the paper's
//! "adding energy").
//!
//! From `x0` the model's own flow runs for `before`; then `dx/dt = s ∇H_θ / |∇H_θ|²` with
//! `s = sign(target − H_θ)`, along which `H_θ` changes at unit rate, until a terminal event
//! finds `H_θ = target` on the dense output; then the model's flow runs for `after`. The
//! network runs in double precision here, so the target is met to the solver's tolerance.

use std::path::{Path, PathBuf};

use hnn_models::DynamicsModel;
use hnn_ode::{Event, OdeError, Rk45, VectorField};
use serde::Serialize;
use tch::{Device, Kind, Tensor, nn};

use crate::config;
use crate::error::{BenchError, Result};
use crate::plots::{Panel, Series, draw_row, model_style};
use crate::tasks::pixels::{PixelConfig, PixelSource};

/// What `hnn-bench edit` does.
#[derive(Debug, Clone)]
pub struct EditOptions {
    pub run_dir: PathBuf,
    pub model: String,
    pub target: Target,
    /// Start state; `None`: the run's figure start (`eval.figure.x0`).
    pub x0: Option<Vec<f64>>,
    pub before: f64,
    pub after: f64,
}

/// The learned-energy value to reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// This value of `H_θ`.
    Value(f64),
    /// `H_θ` where the edit starts, plus this (`H_θ` is learned up to a constant).
    Add(f64),
}

impl Target {
    fn label(self) -> String {
        match self {
            Target::Value(v) => format!("{v}"),
            Target::Add(d) => format!("add{d}"),
        }
    }
}

/// The three phases of an edit and what they reached.
#[derive(Debug, Clone, Serialize)]
pub struct EditOutcome {
    pub model: String,
    pub x0: Vec<f64>,
    pub energy_start: f64,
    pub target: f64,
    /// `H_θ` where the gradient flow stopped, and its distance to the target.
    pub energy_reached: f64,
    pub target_error: f64,
    /// `H_θ` at the end of the flow after the edit (kept by the learned flow).
    pub energy_end: f64,
    /// Time spent on the gradient flow (= |target − H_θ(start)| along the exact flow).
    pub edit_time: f64,
    pub output_dir: PathBuf,
}

/// The model in double precision as the two fields of an edit.
struct DoubleField<'a> {
    model: &'a dyn DynamicsModel,
    dim: usize,
    /// `None`: the model's flow; `Some(s)`: the normalised gradient flow of `H_θ` with sign s.
    gradient: Option<f64>,
}

fn tensor(ys: &[f64], dim: usize) -> Tensor {
    Tensor::from_slice(ys).view([(ys.len() / dim) as i64, dim as i64])
}

fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.contiguous().view([-1]).to_kind(Kind::Double)).expect("f64 tensor")
}

impl VectorField for DoubleField<'_> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn eval(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        self.eval_batch(&[t], y, dydt)
    }
    fn eval_batch(&self, _ts: &[f64], ys: &[f64], dydts: &mut [f64]) {
        let x = tensor(ys, self.dim);
        let f = match self.gradient {
            None => self.model.time_derivative(&x, false),
            Some(s) => {
                let g = self
                    .model
                    .energy_gradient(&x)
                    .expect("checked: the model has an energy");
                let n2 = g.square().sum_dim_intlist(1, true, Kind::Double);
                g * s / n2
            }
        };
        for (o, v) in dydts.iter_mut().zip(values(&f)) {
            *o = v;
        }
    }
}

fn learned_energy(model: &dyn DynamicsModel, x: &[f64], dim: usize) -> f64 {
    values(
        &model
            .energy(&tensor(x, dim))
            .expect("checked: the model has an energy"),
    )[0]
}

/// A pixel run's autoencoder, loaded from the edited model's checkpoint.
struct PixelDecoder {
    ae: hnn_models::Autoencoder,
    cfg: std::sync::Arc<PixelConfig>,
    _vs: nn::VarStore,
}

impl PixelDecoder {
    fn load(
        cfg: &std::sync::Arc<PixelConfig>,
        exp: &config::Experiment,
        ckpt: &Path,
    ) -> Result<Self> {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let input = (cfg.frames * cfg.camera.pixels()) as i64;
        let ae = hnn_models::Autoencoder::new(
            &(vs.root() / "autoencoder"),
            input,
            &exp.config.model.autoencoder,
        )?;
        hnn_models::load_checkpoint(&mut vs, ckpt)?;
        Ok(Self {
            ae,
            cfg: cfg.clone(),
            _vs: vs,
        })
    }

    /// The latent code of the paper protocol's first observation (its start and frames).
    fn start(&self, seed: u64) -> Result<Vec<f64>> {
        let obs = crate::tasks::pixels::eval_rollout(
            &self.cfg,
            self.cfg.eval_start_angle,
            hnn_pixels::Labels::Aligned,
            1,
            seed,
            0,
        )
        .map_err(|e| edit_err(e.to_string()))?
        .observation(0);
        let x = Tensor::from_slice(&obs).view([1, -1]);
        Ok(values(&tch::no_grad(|| self.ae.encode(&x))))
    }

    /// The last frame of each decoded latent state, `[n, side, side]`.
    fn decode(&self, latent: &[f64], dim: usize) -> ndarray::Array3<f32> {
        let z: Vec<f32> = latent.iter().map(|&v| v as f32).collect();
        let x = tch::no_grad(|| {
            self.ae
                .decode(&Tensor::from_slice(&z).view([-1, dim as i64]))
        });
        let side = self.cfg.camera.side as usize;
        let pixels = side * side;
        let cols = x.size()[1] as usize;
        let last = x
            .narrow(1, (cols - pixels) as i64, pixels as i64)
            .contiguous();
        let v = Vec::<f32>::try_from(last.view([-1])).expect("f32 frames");
        ndarray::Array3::from_shape_vec((v.len() / pixels, side, side), v).expect("frame shape")
    }
}

fn edit_err(reason: String) -> BenchError {
    BenchError::Edit { reason }
}

/// `n >= 2` evenly spaced output times from `t0` to `t1`, the last exactly `t1`: the solver
/// refuses an output time outside its span, and `t0 + (t1 - t0) * (n - 1) / (n - 1)` can land
/// one ulp past `t1` (it did, for a horizon of 1.735658164009461).
fn output_times(t0: f64, t1: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            if i + 1 == n {
                t1
            } else {
                t0 + (t1 - t0) * i as f64 / (n - 1) as f64
            }
        })
        .collect()
}
/// Runs an edit on a finished run's checkpoint; writes `edit/<model>-<target>/` in the run
/// directory: `path.npy` (`[points, 1 + dim]`: t, then the state), `edit.json`, `energy_edit.png`.
pub fn edit_energy(o: &EditOptions) -> Result<EditOutcome> {
    let exp = config::load(&o.run_dir.join("config.toml"))?;
    // the state of the learned field: a pixel run's latent state
    let dim = exp.source.model_dim(&exp.config.model);
    let info = hnn_models::check_model(&o.model, dim)?;
    let ckpt = o
        .run_dir
        .join("checkpoints")
        .join(format!("{}.safetensors", info.name));
    if !ckpt.is_file() {
        return Err(edit_err(format!(
            "{} has no checkpoint of model {:?} ({} is missing)",
            o.run_dir.display(),
            o.model,
            ckpt.display()
        )));
    }
    let (Target::Value(t) | Target::Add(t)) = o.target;
    if !(t.is_finite() && o.before >= 0.0 && o.after >= 0.0) {
        return Err(edit_err(
            "--target must be finite and --before/--after non-negative".into(),
        ));
    }
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = crate::build_model(&o.model, &mut vs, dim as i64, &exp, Device::Cpu)?;
    hnn_models::load_checkpoint(&mut vs, &ckpt)?;
    vs.set_kind(Kind::Double);
    let model = model.as_ref();
    // a pixel run: its autoencoder, to start from a rendered observation and decode the path
    let pixels = match exp.source.as_any().downcast_ref::<PixelSource>() {
        Some(p) => Some(PixelDecoder::load(&p.0, &exp, &ckpt)?),
        None => None,
    };
    let x0 = match (&o.x0, &pixels) {
        (Some(x), _) => x.clone(),
        (None, Some(px)) => px.start(exp.config.experiment.seed)?,
        (None, None) => exp.config.eval.figure.x0.clone(),
    };
    if o.x0.is_none() && x0.is_empty() {
        return Err(edit_err(format!(
            "this run has no start state to edit from (its eval.figure.x0 is empty: a measured run, or one whose figure start was drawn); give one with --x0 and {dim} numbers"
        )));
    }
    if x0.len() != dim || x0.iter().any(|v| !v.is_finite()) {
        return Err(edit_err(format!(
            "--x0 needs {dim} finite numbers, got {x0:?}"
        )));
    }
    if model.energy(&tensor(&x0, dim)).is_none() {
        return Err(edit_err(format!(
            "model {:?} has no learned energy to edit (use an HNN-type model)",
            o.model
        )));
    }
    let tight = Rk45 {
        rtol: 1e-10,
        atol: 1e-10,
        max_steps: Some(100_000),
        ..Rk45::default()
    };
    let flow = DoubleField {
        model,
        dim,
        gradient: None,
    };
    let mut path: Vec<(f64, Vec<f64>)> = Vec::new();

    // 1. the learned flow before the edit
    let mut start = x0.clone();
    if o.before > 0.0 {
        let t = output_times(0.0, o.before, 200);
        let s = tight
            .solve(&flow, (0.0, o.before), &x0, &t)
            .map_err(|e| edit_err(format!("the flow before the edit failed: {e}")))?;
        for (i, &ti) in s.t.iter().enumerate() {
            path.push((ti, s.state(i).to_vec()));
        }
        start = s.state(s.t.len() - 1).to_vec();
    }
    let e_start = learned_energy(model, &start, dim);
    let target = match o.target {
        Target::Value(v) => v,
        Target::Add(d) => e_start + d,
    };
    let delta = target - e_start;

    // 2. the gradient flow to the target: H_θ changes at unit rate, so it takes |delta|
    let reach = delta.abs();
    let t_edit0 = o.before;
    let mut reached = start.clone();
    let mut edit_time = 0.0;
    if reach > 0.0 {
        let grad = DoubleField {
            model,
            dim,
            gradient: Some(delta.signum()),
        };
        let scale = start.iter().map(|v| v * v).sum::<f64>().sqrt().max(1.0);
        let limit = 20.0 * scale;
        let at_target = |_t: f64, y: &[f64]| learned_energy(model, y, dim) - target;
        let too_far = |_t: f64, y: &[f64]| y.iter().map(|v| v * v).sum::<f64>().sqrt() - limit;
        let events = [
            Event {
                g: &at_target,
                terminal: true,
                direction: 0.0,
            },
            Event {
                g: &too_far,
                terminal: true,
                direction: 1.0,
            },
        ];
        let horizon = 2.0 * reach;
        let t = output_times(0.0, horizon, 400);
        let out = tight.solve_with_events(&grad, (0.0, horizon), &start, &t, &events);
        for (i, &ti) in out.solution.t.iter().enumerate() {
            path.push((t_edit0 + ti, out.solution.state(i).to_vec()));
        }
        let last = || {
            out.solution
                .y
                .chunks(dim)
                .last()
                .map(<[f64]>::to_vec)
                .unwrap_or_else(|| start.clone())
        };
        if let Some(e) = &out.error {
            let why = match e {
                OdeError::StepSizeUnderflow { .. }
                | OdeError::TooManySteps { .. }
                | OdeError::NonFinite { .. } => {
                    "the flow stalls (|∇H_θ| → 0 near a critical point of the learned energy)"
                }
                _ => "the solver failed",
            };
            return Err(edit_err(format!(
                "energy target {target} not reached from H_θ = {e_start}: {why}: {e}; last state {:?}",
                last()
            )));
        }
        if let Some((t, y)) = out.events[1].first() {
            return Err(edit_err(format!(
                "energy target {target} not reached: the gradient flow left the region |x| <= {limit} at t = {t} (H_θ = {}), far outside the training data; last state {y:?}",
                learned_energy(model, y, dim)
            )));
        }
        let Some((t, y)) = out.events[0].first() else {
            return Err(edit_err(format!(
                "energy target {target} not reached within t = {horizon} of gradient flow (H_θ went from {e_start} to {}); last state {:?}",
                learned_energy(model, &last(), dim),
                last()
            )));
        };
        path.push((t_edit0 + t, y.clone()));
        reached = y.clone();
        edit_time = *t;
    }
    let e_reached = learned_energy(model, &reached, dim);

    // 3. the learned flow after the edit
    let t_after0 = t_edit0 + edit_time;
    let mut end = reached.clone();
    if o.after > 0.0 {
        let t = output_times(0.0, o.after, 200);
        let s = tight
            .solve(&flow, (0.0, o.after), &reached, &t)
            .map_err(|e| edit_err(format!("the flow after the edit failed: {e}")))?;
        for (i, &ti) in s.t.iter().enumerate() {
            path.push((t_after0 + ti, s.state(i).to_vec()));
        }
        end = s.state(s.t.len() - 1).to_vec();
    }

    let dir = o
        .run_dir
        .join("edit")
        .join(format!("{}-{}", o.model, o.target.label()));
    std::fs::create_dir_all(&dir).map_err(crate::io_err("cannot create", &dir))?;
    let mut flat = Vec::with_capacity(path.len() * (dim + 1));
    for (t, x) in &path {
        flat.push(*t);
        flat.extend_from_slice(x);
    }
    let arr = ndarray::Array2::from_shape_vec((path.len(), dim + 1), flat).expect("path shape");
    crate::write_npy(&dir.join("path.npy"), &arr)?;
    let outcome = EditOutcome {
        model: o.model.clone(),
        x0,
        energy_start: e_start,
        target,
        energy_reached: e_reached,
        target_error: (e_reached - target).abs(),
        energy_end: learned_energy(model, &end, dim),
        edit_time,
        output_dir: dir.clone(),
    };
    crate::runs::write_atomic(
        &dir.join("edit.json"),
        &serde_json::to_vec_pretty(&outcome).expect("edit outcome serialises"),
    )?;
    if let Some(px) = &pixels {
        let latent: Vec<f64> = path.iter().flat_map(|(_, x)| x.iter().copied()).collect();
        let frames = px.decode(&latent, dim);
        let npy = dir.join("frames.npy");
        crate::write_npy(&npy, &frames)?;
        // ten frames along the path: before, during and after the edit
        let n = frames.shape()[0];
        let picks: Vec<usize> = (0..10).map(|i| i * (n - 1) / 9).collect();
        let strip = frames.select(ndarray::Axis(0), &picks);
        let png = dir.join("frames.png");
        let labels: Vec<String> = picks
            .iter()
            .map(|&k| format!("t = {:.2}", path[k].0))
            .collect();
        crate::render::contact_sheet(&strip, &labels)
            .save(&png)
            .map_err(|e| BenchError::Plot {
                path: png.clone(),
                reason: e.to_string(),
            })?;
    }
    draw(
        &dir.join("energy_edit.png"),
        &o.model,
        &path,
        model,
        dim,
        t_edit0,
        t_after0,
    )?;
    Ok(outcome)
}

/// One phase's columns for the plot: q, p, t, `H_θ`.
struct Columns {
    q: Vec<f64>,
    p: Vec<f64>,
    t: Vec<f64>,
    h: Vec<f64>,
}

/// Phase portrait of the first (q, p) pair and `H_θ` over time, the three phases coloured.
fn draw(
    path: &Path,
    name: &str,
    points: &[(f64, Vec<f64>)],
    model: &dyn DynamicsModel,
    dim: usize,
    t_edit: f64,
    t_after: f64,
) -> Result<()> {
    let (label, color) = model_style(name);
    let phase = |lo: f64, hi: f64| -> Vec<&(f64, Vec<f64>)> {
        points
            .iter()
            .filter(|(t, _)| *t >= lo && *t <= hi)
            .collect()
    };
    let parts = [
        (
            format!("{label}: before"),
            color,
            phase(f64::NEG_INFINITY, t_edit),
        ),
        (
            "gradient flow of H_θ".to_string(),
            plotters::style::RGBColor(230, 140, 20),
            phase(t_edit, t_after),
        ),
        (
            format!("{label}: after"),
            plotters::style::RGBColor(20, 160, 90),
            phase(t_after, f64::INFINITY),
        ),
    ];
    let half = dim / 2;
    let xs: Vec<Columns> = parts
        .iter()
        .map(|(_, _, pts)| Columns {
            q: pts.iter().map(|(_, x)| x[0]).collect(),
            p: pts.iter().map(|(_, x)| x[half]).collect(),
            t: pts.iter().map(|(t, _)| *t).collect(),
            h: pts
                .iter()
                .map(|(_, x)| learned_energy(model, x, dim))
                .collect(),
        })
        .collect();
    let series = |f: fn(&Columns) -> (&[f64], &[f64])| {
        parts
            .iter()
            .zip(&xs)
            .filter(|(_, v)| !v.q.is_empty())
            .map(|((l, c, _), v)| {
                let (x, y) = f(v);
                Series {
                    label: l,
                    color: *c,
                    x,
                    y,
                }
            })
            .collect::<Vec<_>>()
    };
    draw_row(
        path,
        &[
            Panel {
                title: "Phase space (first q, p)",
                x_label: "q",
                y_label: "p",
                series: series(|v| (&v.q, &v.p)),
                log_y: false,
                equal_aspect: true,
                markers: false,
            },
            Panel {
                title: "Learned energy H_θ",
                x_label: "t",
                y_label: "H_θ",
                series: series(|v| (&v.t, &v.h)),
                log_y: false,
                equal_aspect: false,
                markers: false,
            },
        ],
        1000,
        420,
    )
}

#[cfg(test)]
mod tests {
    use super::output_times;

    /// The horizon where the spelled-out formula overshot: its last time is one ulp past the
    /// end, which the solver refuses; the output times end exactly at the end.
    #[test]
    fn output_times_end_exactly_at_the_span_end() {
        let end = 1.735658164009461;
        let naive = (end - 0.0) * 399.0 / 399.0;
        assert!(naive > end, "the case this guards against: {naive}");
        let t = output_times(0.0, end, 400);
        assert_eq!((t.len(), t[0], t[399]), (400, 0.0, end));
        assert!(t.windows(2).all(|w| w[0] < w[1] && w[1] <= end));
        assert_eq!(t[1], end / 399.0);
        assert_eq!(output_times(2.0, 3.0, 3), vec![2.0, 2.5, 3.0]);
    }
}
