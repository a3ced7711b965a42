//! Runs `STEPS` steps of the training loop ([`hnn_bench::train::train`]) on random data shaped
//! like a task's, for measuring what one step costs from outside: `scripts/count-ops.sh` runs it
//! under callgrind, `scripts/profile-step.sh` under perf, each at two step counts, and takes the
//! difference.
//!
//! `cargo run --release -p hnn-bench --example train_steps -- MODEL DIM BATCH ROWS STEPS [THREADS]`
//! (`BATCH` 0: full batch; `THREADS` libtorch threads, default 1).

use hnn_bench::config::TrainConfig;
use hnn_bench::train::{StateObjective, TrainData, train};
use hnn_models::{ModelSpec, build_model};
use indicatif::ProgressBar;
use tch::{Device, Kind, Tensor, nn};

fn main() {
    // as the runner does (hnn_bench::cli::main), so that a step costs here what it costs there
    hnn_models::cpu::keep_freed_heap();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (model, dim, batch, rows, steps, threads) = match args.as_slice() {
        [m, d, b, r, s] => (m, d, b, r, s, None),
        [m, d, b, r, s, t] => (m, d, b, r, s, Some(t)),
        _ => {
            eprintln!("usage: train_steps MODEL DIM BATCH ROWS STEPS [THREADS]");
            std::process::exit(2);
        }
    };
    let num = |s: &String, what: &str| -> i64 {
        s.parse().unwrap_or_else(|_| {
            eprintln!("train_steps: {what} must be a whole number, got {s:?}");
            std::process::exit(2)
        })
    };
    let (dim, batch, rows, steps) = (
        num(dim, "DIM"),
        num(batch, "BATCH"),
        num(rows, "ROWS"),
        num(steps, "STEPS"),
    );
    let threads = threads.map_or(1, |t| num(t, "THREADS"));
    if threads < 1 {
        eprintln!("train_steps: THREADS must be at least 1, got {threads}");
        std::process::exit(2);
    }
    tch::set_num_threads(threads as i32);
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = build_model(model, &vs.root(), dim, &ModelSpec::default()).unwrap_or_else(|e| {
        eprintln!("train_steps: {e}");
        std::process::exit(2)
    });
    let r = |n: i64| Tensor::randn([n, dim], (Kind::Float, Device::Cpu));
    let data = TrainData {
        x: r(rows),
        dx: r(rows),
        x_test: r(rows / 4),
        dx_test: r(rows / 4),
    };
    let cfg = TrainConfig {
        models: vec![model.clone()],
        steps: steps as usize,
        batch_size: batch as usize,
        // logged at the first and the last step only, as in every run
        log_every: usize::MAX,
        ..TrainConfig::default()
    };
    let objective = StateObjective {
        model: m.as_ref(),
        data: &data,
    };
    let trained = train(
        &objective,
        &vs,
        &cfg,
        &[0],
        &ProgressBar::hidden(),
        |_, _| {},
    )
    .unwrap();
    let last = trained.members[0].history.last().map_or(0, |r| r.step);
    let (train_stats, _) = objective.final_stats();
    // every digit, so two builds can be compared bit for bit
    println!("{last} steps, final train loss {:?}", train_stats.mean);
}
