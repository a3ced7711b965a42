//! A trained model for use outside this code: the metadata every checkpoint carries, and
//! `hnn-bench export`, which writes a run's learned field (and energy) as TorchScript.
//!
//! # Checkpoint metadata
//! Besides the model's keys ([`hnn_models::model_metadata`]: `format`, `model`, `field`, `dim`,
//! `hidden`, `activation`, `velocity`), a run's checkpoints carry:
//!
//! | key | value |
//! |---|---|
//! | `state` | the names of the model's state coordinates, in order (`["q", "p"]`; two-body: `x1, x2, y1, y2, px1, px2, py1, py2`) |
//! | `inputs` | `"state"`, or `"latent"` where the model reads an autoencoder's code (pixels) |
//! | `dtype` | the variables' precision (`"float32"`) |
//! | `task`, `seed`, `hnn_version` | where the weights came from |
//! | `autoencoder` | a pixel run's `[model.autoencoder]` and its `input` width |
//!
//! Read it with `json.loads(header["__metadata__"]["hnn"])` from the safetensors header, or
//! [`hnn_models::checkpoint_metadata`]; `scripts/hnn_load.py` rebuilds a model from it.
//!
//! # TorchScript
//! [`export`] traces `dx/dt = f(x)` (and `H(x)` for models with a learned energy) into files
//! that `torch.jit.load` runs without this code. Tracing records the operations of the
//! model's explicit input gradient, so models that need autograd at evaluation (the Lagrangian
//! NN's Hessian) are refused. Every export is checked before it is kept: the files are loaded
//! back and run on states of another batch size than the traced one, against the model.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use tch::{CModule, Device, Kind, Tensor, nn};

use crate::config::{self, Experiment};
use crate::error::{BenchError, Result};
use crate::tasks::Task;
use crate::truth::View;

/// The metadata of model `name`'s checkpoint in a run of `exp` on `task` (module docs).
pub fn checkpoint_metadata(
    exp: &Experiment,
    task: &dyn Task,
    name: &str,
    vs: &nn::VarStore,
) -> Result<Map<String, Value>> {
    let model_dim = exp.source.model_dim(&exp.config.model);
    let spec = hnn_models::ModelSpec {
        velocity: exp.source.velocity_map(),
        ..exp.config.model.spec()
    };
    let mut meta = hnn_models::model_metadata(name, model_dim as i64, &spec)?;
    let latent = exp.source.has_autoencoder();
    let state = if latent {
        canonical_names(model_dim)
    } else {
        state_names(&task.view(), task.dim())
    };
    meta.insert("state".into(), json!(state));
    meta.insert(
        "inputs".into(),
        json!(if latent { "latent" } else { "state" }),
    );
    meta.insert("dtype".into(), json!(dtype_name(vs)));
    meta.insert("task".into(), json!(task.name()));
    meta.insert("seed".into(), json!(exp.config.experiment.seed));
    meta.insert("hnn_version".into(), json!(env!("CARGO_PKG_VERSION")));
    if latent {
        let mut ae = serde_json::to_value(exp.config.model.autoencoder)
            .expect("the autoencoder config serialises");
        if let Value::Object(m) = &mut ae {
            m.insert("input".into(), json!(task.dim()));
        }
        meta.insert("autoencoder".into(), ae);
    }
    Ok(meta)
}

/// The names of a task's state coordinates in order, from how it is viewed.
pub fn state_names(view: &View, dim: usize) -> Vec<String> {
    match view {
        View::Bodies { n } => ["x", "y", "px", "py"]
            .iter()
            .flat_map(|c| (1..=*n).map(move |i| format!("{c}{i}")))
            .collect(),
        View::Phase { .. } | View::Frames { .. } => canonical_names(dim),
    }
}

/// `q, p` or `q1..qn, p1..pn` for an even `dim`; `x1..x_dim` otherwise.
fn canonical_names(dim: usize) -> Vec<String> {
    if dim.is_multiple_of(2) {
        hnn_physics::expression::coordinate_names(dim / 2)
    } else {
        (1..=dim).map(|i| format!("x{i}")).collect()
    }
}

fn dtype_name(vs: &nn::VarStore) -> &'static str {
    match vs.variables().values().next().map(|t| t.kind()) {
        Some(Kind::Double) => "float64",
        Some(Kind::Half) => "float16",
        Some(Kind::BFloat16) => "bfloat16",
        _ => "float32",
    }
}

/// What [`export`] wrote.
#[derive(Debug)]
pub struct Exported {
    pub model: String,
    /// `forward(x: [batch, dim]) -> dx/dt: [batch, dim]`.
    pub field: PathBuf,
    /// `forward(x: [batch, dim]) -> H: [batch]`, for models with a learned energy.
    pub energy: Option<PathBuf>,
    /// The largest difference between the files and the model on the check's states, relative
    /// to the largest value.
    pub max_error: f64,
}

/// Largest relative difference accepted between an exported file and the model.
pub const EXPORT_TOLERANCE: f64 = 1e-6;

/// Writes model `model` of the run in `run_dir` as TorchScript into `out`
/// (`<model>.field.pt`, `<model>.energy.pt`), each checked against the model first.
pub fn export(run_dir: &Path, model: &str, out: &Path) -> Result<Exported> {
    let mut exp = config::load(&run_dir.join("config.toml"))?;
    let dim = exp.source.model_dim(&exp.config.model) as i64;
    let info = hnn_models::check_model(model, dim as usize)?;
    if info.name == "lnn" {
        return Err(export_err(
            "model \"lnn\" needs autograd's second derivatives at every evaluation, which a traced TorchScript file cannot hold; rebuild it in Python with scripts/hnn_load.py instead".into(),
        ));
    }
    let ckpt = run_dir
        .join("checkpoints")
        .join(format!("{}.safetensors", info.name));
    if !ckpt.is_file() {
        return Err(export_err(format!(
            "{} has no checkpoint of model \"{model}\" ({} is missing)",
            run_dir.display(),
            ckpt.display()
        )));
    }
    // the same weights; the explicit gradient is made of operations a trace records
    exp.config.model.hnn_gradient = hnn_models::GradientMethod::Explicit;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = crate::build_model(info.name, &mut vs, dim, &exp, Device::Cpu)?;
    hnn_models::load_checkpoint(&mut vs, &ckpt)?;
    vs.freeze();
    let kind = vs
        .variables()
        .values()
        .next()
        .map_or(Kind::Float, |t| t.kind());
    std::fs::create_dir_all(out).map_err(crate::io_err("cannot create", out))?;

    let field = out.join(format!("{}.field.pt", info.name));
    let mut error = trace_checked(&field, dim, kind, &mut |x| net.time_derivative(x, false))?;
    let has_energy = net
        .energy(&Tensor::zeros([1, dim], (kind, Device::Cpu)))
        .is_some();
    let energy = if has_energy {
        let path = out.join(format!("{}.energy.pt", info.name));
        let e = trace_checked(&path, dim, kind, &mut |x| {
            net.energy(x).expect("the model has an energy")
        })?;
        error = error.max(e);
        Some(path)
    } else {
        None
    };
    Ok(Exported {
        model: info.name.to_string(),
        field,
        energy,
        max_error: error,
    })
}

/// Traces `f` on a batch of 3 states, writes it to `path` (through a temporary file), loads it
/// back and compares it with `f` on 17 other states; refuses (writing nothing) when they differ
/// by more than [`EXPORT_TOLERANCE`] of the largest value. Returns that difference.
fn trace_checked(
    path: &Path,
    dim: i64,
    kind: Kind,
    f: &mut dyn FnMut(&Tensor) -> Tensor,
) -> Result<f64> {
    let states = |n: i64, seed: i64| {
        tch::manual_seed(seed);
        Tensor::randn([n, dim], (kind, Device::Cpu))
    };
    let traced = CModule::create_by_tracing("HnnExport", "forward", &[states(3, 1)], &mut |xs| {
        vec![f(&xs[0])]
    })
    .map_err(|e| export_err(format!("tracing failed: {}", first_line(&e))))?;
    let tmp = path.with_extension("pt.partial");
    traced.save(&tmp).map_err(|e| {
        export_err(format!(
            "cannot write {}: {}",
            tmp.display(),
            first_line(&e)
        ))
    })?;
    let mut check = || -> Result<f64> {
        let loaded = CModule::load(&tmp).map_err(|e| {
            export_err(format!("cannot load {}: {}", tmp.display(), first_line(&e)))
        })?;
        let x = states(17, 2);
        let got = loaded.forward_ts(&[&x]).map_err(|e| {
            export_err(format!(
                "the exported file does not run: {}",
                first_line(&e)
            ))
        })?;
        let want = f(&x);
        let scale = want.abs().max().double_value(&[]).max(f64::MIN_POSITIVE);
        let diff = if got.size() == want.size() {
            (&got - &want).abs().max().double_value(&[]) / scale
        } else {
            f64::INFINITY
        };
        if diff.is_nan() || diff > EXPORT_TOLERANCE {
            return Err(export_err(format!(
                "the traced file differs from the model by {diff:.1e} of its largest value on new states (tolerance {EXPORT_TOLERANCE:e}); not exported"
            )));
        }
        Ok(diff)
    };
    match check() {
        Ok(diff) => {
            std::fs::rename(&tmp, path).map_err(crate::io_err("cannot write", path))?;
            Ok(diff)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn export_err(reason: String) -> BenchError {
    BenchError::Export { reason }
}

fn first_line(e: &tch::TchError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_follow_each_layout() {
        assert_eq!(state_names(&View::Phase { q: 0, p: 1 }, 2), ["q", "p"]);
        assert_eq!(
            state_names(&View::Phase { q: 0, p: 2 }, 4),
            ["q1", "q2", "p1", "p2"]
        );
        assert_eq!(
            state_names(&View::Bodies { n: 2 }, 8),
            ["x1", "x2", "y1", "y2", "px1", "px2", "py1", "py2"]
        );
        assert_eq!(canonical_names(3), ["x1", "x2", "x3"]);
    }
}
