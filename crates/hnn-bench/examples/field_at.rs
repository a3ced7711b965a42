//! Prints a finished run's learned field `dx/dt` at given states, for looking into a model
//! (where its equilibrium sits, how it extrapolates), in double precision on the CPU.
//!
//! `cargo run --release -p hnn-bench --example field_at -- RUN_DIR MODEL X1,X2,... [X1,X2,...]`
//! (one state per argument, its coordinates comma-separated: `q..., p...`).

use std::path::PathBuf;

use hnn_bench::config;
use tch::{Device, Kind, Tensor, nn};

fn fail(msg: String) -> ! {
    eprintln!("field_at: {msg}");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, model, states @ ..] = args.as_slice() else {
        fail("usage: field_at RUN_DIR MODEL X1,X2,... [X1,X2,...]".into())
    };
    if states.is_empty() {
        fail("give at least one state, e.g. 0,0".into());
    }
    let run = PathBuf::from(run);
    let exp = config::load(&run.join("config.toml")).unwrap_or_else(|e| fail(e.to_string()));
    let dim = exp.source.model_dim(&exp.config.model);
    let xs: Vec<f64> = states
        .iter()
        .flat_map(|s| {
            let x: Vec<f64> = s
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse()
                        .unwrap_or_else(|_| fail(format!("state {s:?}: {v:?} is not a number")))
                })
                .collect();
            if x.len() != dim {
                fail(format!(
                    "state {s:?} has {} coordinates, the model {dim}",
                    x.len()
                ));
            }
            x
        })
        .collect();
    tch::set_num_threads(1);
    let ckpt = run.join("checkpoints").join(format!("{model}.safetensors"));
    let mut vs = nn::VarStore::new(Device::Cpu);
    let m = hnn_bench::build_model(model, &mut vs, dim as i64, &exp, Device::Cpu)
        .unwrap_or_else(|e| fail(e.to_string()));
    hnn_models::load_checkpoint(&mut vs, &ckpt)
        .unwrap_or_else(|e| fail(format!("{}: {e}", ckpt.display())));
    vs.set_kind(Kind::Double);
    let x = Tensor::from_slice(&xs).view([states.len() as i64, dim as i64]);
    let f: Vec<f64> = Vec::try_from(m.time_derivative(&x, false).flatten(0, -1))
        .unwrap_or_else(|e: tch::TchError| fail(e.to_string()));
    for (s, fx) in states.iter().zip(f.chunks(dim)) {
        let norm = fx.iter().map(|v| v * v).sum::<f64>().sqrt();
        let fx: Vec<String> = fx.iter().map(|v| format!("{v:.6e}")).collect();
        println!(
            "{model} at ({s}): dx/dt = ({}), |dx/dt| = {norm:.3e}",
            fx.join(", ")
        );
    }
}
