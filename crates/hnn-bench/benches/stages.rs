//! The stages of the spring experiment, each on its own: data generation, 200 training steps of
//! each model (x10 for the full run), and the paper-protocol evaluation of models trained for
//! 200 steps. The whole-run figures, beside the official code's, are in every run's report.md.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use hnn_bench::config;
use hnn_bench::eval::{EvalModel, run_protocol};
use hnn_bench::train::train;
use indicatif::ProgressBar;
use tch::{Device, nn};

fn bench(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/spring.toml");
    let mut exp = config::load(&path).expect("configs/spring.toml");
    exp.device = Device::Cpu;
    c.bench_function("data: spring dataset", |b| {
        b.iter(|| exp.source.build(&exp).unwrap())
    });

    let task = exp.source.build(&exp).unwrap();
    exp.config.train.steps = 200;
    let fit = |name: &str| {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let m = task.learner(name, &mut vs, &exp, Device::Cpu).unwrap();
        train(
            m.as_ref(),
            &vs,
            &exp.config.train,
            &[0],
            &ProgressBar::hidden(),
            |_, _| {},
        )
        .unwrap();
        (vs, m)
    };
    let mut trained = Vec::new();
    for name in ["baseline", "hnn"] {
        c.bench_function(&format!("train {name}: 200 steps"), |b| {
            b.iter(|| fit(name))
        });
        trained.push((name, fit(name)));
    }
    let models: Vec<EvalModel<'_>> = trained
        .iter()
        .map(|(n, (_, m))| EvalModel::plain(n, m.field()))
        .collect();
    let budget = exp.config.eval.budget();
    let truth = task
        .protocol("paper", &exp.config.eval.paper, 0, budget)
        .unwrap();
    c.bench_function("eval: paper protocol, both models", |b| {
        b.iter(|| {
            run_protocol(
                "paper",
                &exp.config.eval.paper,
                &truth,
                &models,
                Device::Cpu,
                budget,
            )
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
