//! Checkpoints: a model's variables as `.safetensors`, with what it takes to rebuild the model
//! without this code in the file's header.
//!
//! The header's `__metadata__` holds one key, [`METADATA_KEY`] (`"hnn"`), whose value is a JSON
//! object (one key, so the header's bytes do not depend on a hash map's order):
//!
//! | key | value |
//! |---|---|
//! | `format` | [`CHECKPOINT_FORMAT`] |
//! | `model` | the registry name (`"hnn"`, ...) |
//! | `field` | how the field is made from the networks ([`crate::ModelInfo::field`]) |
//! | `dim` | the state dimension the model reads |
//! | `hidden`, `activation` | every MLP's hidden widths and nonlinearity |
//! | `velocity` | the task's `dq/dt = V p` as rows, for models that use it |
//!
//! plus what the caller adds (the task's state layout, dtype, seed, ...; `hnn-bench` documents
//! its keys). Variables are named by their path: `hnn.mlp.l0.weight` is the first layer of the
//! HNN's MLP, `[fan_out, fan_in]` as in `torch.nn.Linear`; the last layer of every MLP has no
//! bias.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, View};
use serde_json::{Map, Value, json};
use tch::{Device, Kind, Tensor, nn};

use crate::{ModelError, ModelSpec, Result, model_info};

/// The `format` value of checkpoints written by [`save_checkpoint`].
pub const CHECKPOINT_FORMAT: &str = "hnn-checkpoint/1";
/// The one key of the safetensors `__metadata__` map, whose value is the JSON metadata.
pub const METADATA_KEY: &str = "hnn";

/// The model's part of a checkpoint's metadata: `format`, `model`, `field`, `dim`, `hidden`,
/// `activation` and, for a model that reads the task's velocity map, `velocity`.
pub fn model_metadata(name: &str, dim: i64, spec: &ModelSpec) -> Result<Map<String, Value>> {
    let info = model_info(name).ok_or_else(|| ModelError::UnknownModel {
        name: name.to_string(),
        known: String::new(),
    })?;
    let mut meta = Map::new();
    meta.insert("format".into(), json!(CHECKPOINT_FORMAT));
    meta.insert("model".into(), json!(info.name));
    meta.insert("field".into(), json!(info.field));
    meta.insert("dim".into(), json!(dim));
    meta.insert("hidden".into(), json!(spec.mlp.hidden));
    let activation = info.activation.unwrap_or(spec.mlp.activation);
    meta.insert("activation".into(), json!(activation));
    if info.needs_velocity
        && let Some(v) = &spec.velocity
    {
        let n = (dim / 2).max(1) as usize;
        let rows: Vec<&[f64]> = v.chunks(n).collect();
        meta.insert("velocity".into(), json!(rows));
    }
    Ok(meta)
}

/// Saves all variables of `vs` to `path` (`.safetensors`) with `metadata` in the header.
pub fn save_checkpoint(
    vs: &nn::VarStore,
    path: &Path,
    metadata: &Map<String, Value>,
) -> Result<()> {
    let fail = |reason: String| ModelError::CheckpointFile {
        path: path.to_path_buf(),
        reason,
    };
    let views = vs
        .variables()
        .into_iter()
        .map(|(name, t)| Ok((name, HostTensor::of(&t).map_err(&fail)?)))
        .collect::<Result<Vec<_>>>()?;
    let header = HashMap::from([(
        METADATA_KEY.to_string(),
        Value::Object(metadata.clone()).to_string(),
    )]);
    safetensors::tensor::serialize_to_file(views, &Some(header), path)
        .map_err(|e| fail(e.to_string()))
}

/// Loads variables saved by [`save_checkpoint`] into an identically built `vs`.
pub fn load_checkpoint(vs: &mut nn::VarStore, path: &Path) -> Result<()> {
    vs.load(path).map_err(|source| ModelError::Checkpoint {
        path: path.to_path_buf(),
        source,
    })
}

/// The metadata [`save_checkpoint`] wrote; `None` for a checkpoint without it (written before
/// checkpoints carried metadata, or by other code).
pub fn checkpoint_metadata(path: &Path) -> Result<Option<Map<String, Value>>> {
    let fail = |reason: String| ModelError::CheckpointFile {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| fail(format!("not a safetensors file ({e})")))?;
    let Some(text) = header.metadata().as_ref().and_then(|m| m.get(METADATA_KEY)) else {
        return Ok(None);
    };
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        _ => Err(fail(format!(
            "the header's \"{METADATA_KEY}\" metadata is not a JSON object"
        ))),
    }
}

/// A variable copied to host memory, as safetensors writes it.
struct HostTensor {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl HostTensor {
    fn of(t: &Tensor) -> std::result::Result<Self, String> {
        let t = t.detach().to_device(Device::Cpu).contiguous();
        let dtype = match t.kind() {
            Kind::Float => Dtype::F32,
            Kind::Double => Dtype::F64,
            Kind::Half => Dtype::F16,
            Kind::BFloat16 => Dtype::BF16,
            other => return Err(format!("cannot save a variable of kind {other:?}")),
        };
        let numel = t.numel();
        let mut bytes = vec![0u8; numel * t.kind().elt_size_in_bytes()];
        t.f_copy_data_u8(&mut bytes, numel)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            dtype,
            shape: t.size().iter().map(|&d| d as usize).collect(),
            bytes,
        })
    }
}

impl View for HostTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ModelSpec, build_model};

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hnn-ckpt-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("m.safetensors")
    }

    #[test]
    fn metadata_round_trips_and_weights_load() {
        let spec = ModelSpec::default();
        let vs = nn::VarStore::new(Device::Cpu);
        let model = build_model("hnn", &vs.root(), 2, &spec).unwrap();
        let mut meta = model_metadata("hnn", 2, &spec).unwrap();
        meta.insert("state".into(), json!(["q", "p"]));
        let path = tmp("round");
        save_checkpoint(&vs, &path, &meta).unwrap();
        let read = checkpoint_metadata(&path).unwrap().unwrap();
        assert_eq!(read, meta);
        assert_eq!(read["format"], json!(CHECKPOINT_FORMAT));
        assert_eq!(read["hidden"], json!([200, 200]));
        assert_eq!(read["activation"], json!("tanh"));
        assert!(read.get("velocity").is_none());

        let mut vs2 = nn::VarStore::new(Device::Cpu);
        let model2 = build_model("hnn", &vs2.root(), 2, &spec).unwrap();
        load_checkpoint(&mut vs2, &path).unwrap();
        let x = Tensor::from_slice(&[0.3f32, -0.7, 1.1, 0.2]).view([2, 2]);
        let (a, b) = (
            model.time_derivative(&x, false),
            model2.time_derivative(&x, false),
        );
        assert_eq!(
            Vec::<f32>::try_from(a.view([-1])).unwrap(),
            Vec::<f32>::try_from(b.view([-1])).unwrap()
        );
    }

    #[test]
    fn same_variables_give_the_same_bytes() {
        // two stores (two hash maps, two iteration orders) holding the same values
        let spec = ModelSpec::default();
        let build = || {
            let vs = nn::VarStore::new(Device::Cpu);
            build_model("dhnn", &vs.root(), 4, &spec).unwrap();
            vs
        };
        let first = build();
        let mut second = build();
        second.copy(&first).unwrap();
        let meta = model_metadata("dhnn", 4, &spec).unwrap();
        let (a, b) = (tmp("bytes-a"), tmp("bytes-b"));
        save_checkpoint(&first, &a, &meta).unwrap();
        save_checkpoint(&second, &b, &meta).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn velocity_rows_only_for_models_that_read_them() {
        let spec = ModelSpec {
            velocity: Some(vec![1.0, 0.5, 0.0, 2.0]),
            ..ModelSpec::default()
        };
        let node = model_metadata("node-so", 4, &spec).unwrap();
        assert_eq!(node["velocity"], json!([[1.0, 0.5], [0.0, 2.0]]));
        assert_eq!(node["activation"], json!("tanh"));
        // the LNN is softplus whatever the config says
        let lnn = model_metadata("lnn", 4, &spec).unwrap();
        assert_eq!(lnn["activation"], json!("softplus"));
        assert!(
            model_metadata("hnn", 4, &spec)
                .unwrap()
                .get("velocity")
                .is_none()
        );
        assert!(model_metadata("nope", 4, &spec).is_err());
    }

    #[test]
    fn a_file_without_metadata_reads_none_and_garbage_is_named() {
        let vs = nn::VarStore::new(Device::Cpu);
        build_model("baseline", &vs.root(), 2, &ModelSpec::default()).unwrap();
        let path = tmp("plain");
        vs.save(&path).unwrap();
        assert!(checkpoint_metadata(&path).unwrap().is_none());
        std::fs::write(&path, b"not a checkpoint").unwrap();
        let e = checkpoint_metadata(&path).unwrap_err().to_string();
        assert!(
            e.contains("m.safetensors") && e.contains("not a safetensors file"),
            "{e}"
        );
    }
}
