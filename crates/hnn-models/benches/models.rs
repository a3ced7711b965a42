//! Cost of one training step (750 samples, full batch, as the spring task) and of one batched
//! field evaluation, for the baseline and the HNN with either way of taking dH/dx.
//! libtorch keeps its default thread count here (one per core), as the bench binary does.

use criterion::{Criterion, criterion_group, criterion_main};
use hnn_models::{Baseline, DynamicsModel, GradientMethod, Hnn, MlpConfig};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

fn step_bench(c: &mut Criterion, name: &str, build: impl Fn(&nn::Path) -> Box<dyn DynamicsModel>) {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = build(&vs.root());
    let mut opt = nn::Adam {
        wd: 1e-4,
        ..nn::Adam::default()
    }
    .build(&vs, 1e-3)
    .unwrap();
    let x = Tensor::randn([750, 2], (Kind::Float, Device::Cpu));
    let y = Tensor::randn([750, 2], (Kind::Float, Device::Cpu));
    c.bench_function(&format!("{name}: train step, 750 samples"), |b| {
        b.iter(|| {
            let loss = (model.time_derivative(&x, true) - &y)
                .square()
                .mean(Kind::Float);
            opt.backward_step(&loss);
        })
    });
    let x15 = Tensor::randn([15, 2], (Kind::Float, Device::Cpu));
    c.bench_function(&format!("{name}: field eval, batch 15"), |b| {
        b.iter(|| model.time_derivative(&x15, false))
    });
}

fn bench(c: &mut Criterion) {
    let cfg = MlpConfig::default();
    step_bench(c, "baseline", |p| {
        Box::new(Baseline::new(p, 2, &cfg).unwrap())
    });
    step_bench(c, "hnn explicit dH/dx", |p| {
        Box::new(Hnn::new(p, 2, &cfg, GradientMethod::Explicit).unwrap())
    });
    step_bench(c, "hnn autograd dH/dx", |p| {
        Box::new(Hnn::new(p, 2, &cfg, GradientMethod::Autograd).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
