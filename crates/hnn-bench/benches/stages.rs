//! The stages of the spring experiment, each on its own: data generation, 200 training steps of
//! each model (x10 for the full run), and the paper-protocol evaluation of models trained for
//! 200 steps. The whole-run figures, beside the official code's, are in every run's report.md.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use hnn_bench::config;
use hnn_bench::eval::run_protocol;
use hnn_bench::train::{TrainData, train};
use hnn_models::{DynamicsModel, ModelKind};
use indicatif::ProgressBar;
use tch::{Device, nn};

fn bench(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/spring.toml");
    let mut cfg = config::load(&path).expect("configs/spring.toml");
    let system = cfg.system.build().unwrap();
    c.bench_function("data: spring dataset", |b| {
        b.iter(|| hnn_physics::dataset::generate(system.as_ref(), &cfg.data, 0).unwrap())
    });

    let data = hnn_physics::dataset::generate(system.as_ref(), &cfg.data, 0).unwrap();
    let (x, dx) = data.train_samples();
    let (xt, dxt) = data.test_samples();
    let tensors = TrainData::from_arrays(&x, &dx, &xt, &dxt, Device::Cpu);
    cfg.train.steps = 200;
    let fit = |kind| {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = hnn_bench::build_model(kind, &vs, 2, &cfg).unwrap();
        train(
            m.as_ref(),
            &vs,
            &tensors,
            &cfg.train,
            &ProgressBar::hidden(),
            |_| {},
        )
        .unwrap();
        (kind, vs, m)
    };
    let mut trained = Vec::new();
    for kind in [ModelKind::Baseline, ModelKind::Hnn] {
        c.bench_function(&format!("train {}: 200 steps", kind.as_str()), |b| {
            b.iter(|| fit(kind))
        });
        trained.push(fit(kind));
    }
    let models: Vec<(ModelKind, &dyn DynamicsModel)> =
        trained.iter().map(|(k, _, m)| (*k, m.as_ref())).collect();
    c.bench_function("eval: paper protocol, both models", |b| {
        b.iter(|| {
            run_protocol(
                "paper",
                &cfg.eval.paper,
                system.as_ref(),
                &models,
                0,
                Device::Cpu,
            )
            .unwrap()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
