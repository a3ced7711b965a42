//! Cost of one training step (750 samples, full batch, as the spring task) and of one batched
//! field evaluation, for the baseline and the HNN with either way of taking dH/dx.
//! libtorch keeps its default thread count here (one per core), as the bench binary does.

use criterion::{Criterion, criterion_group, criterion_main};
use hnn_models::{
    AutoencoderConfig, Baseline, DynamicsModel, GradientMethod, Hnn, LatentModel, MlpConfig,
    ModelSpec, build_model, ensemble,
};
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

/// One step of the pixel objective at batch 200 (1568 inputs): as trained (two encoder passes)
/// and with one encoder pass over observations and targets concatenated, the same loss.
fn pixel_bench(c: &mut Criterion) {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = LatentModel::new(
        &vs.root(),
        "hnn",
        1568,
        &AutoencoderConfig::default(),
        &ModelSpec::default(),
    )
    .unwrap();
    let mut opt = nn::Adam {
        wd: 1e-5,
        ..nn::Adam::default()
    }
    .build(&vs, 1e-3)
    .unwrap();
    let x = Tensor::rand([200, 1568], (Kind::Float, Device::Cpu)) * 0.5;
    let xn = Tensor::rand([200, 1568], (Kind::Float, Device::Cpu)) * 0.5;
    c.bench_function("pixel hnn: train step, batch 200, as trained", |b| {
        b.iter(|| {
            let loss = m.losses(&x, &xn, true).total().mean(Kind::Float);
            opt.backward_step(&loss);
        })
    });
    c.bench_function("pixel hnn: train step, batch 200, one encoder pass", |b| {
        b.iter(|| {
            let ae = &m.autoencoder;
            let both = ae.encode(&Tensor::cat(&[&x, &xn], 0));
            let (z, z_next) = (both.narrow(0, 0, 200), both.narrow(0, 200, 200));
            let rec = (&x - ae.decode(&z))
                .square()
                .mean_dim(1, false, Kind::Float);
            let (w, dw) = (z.narrow(1, 0, 1), z.narrow(1, 1, 1));
            let cc = (dw - (z_next.narrow(1, 0, 1) - &w))
                .square()
                .mean_dim(1, false, Kind::Float);
            let lat = (&z_next - (&z + m.field.time_derivative(&z, true)))
                .square()
                .mean_dim(1, false, Kind::Float);
            let loss = (rec + cc + lat * 0.1).mean(Kind::Float);
            opt.backward_step(&loss);
        })
    });
}

/// Five seeds of one model: five single training steps against one step of the five stacked
/// as a seed ensemble, at the two-body task's shape (8 coordinates, batch 200) and the
/// spring's (2 coordinates, full batch 750).
fn ensemble_bench(c: &mut Criterion) {
    let spec = ModelSpec::default();
    for (dim, batch) in [(8i64, 200i64), (2, 750)] {
        for name in ["baseline", "hnn"] {
            let members: Vec<_> = (0..5)
                .map(|s| {
                    tch::manual_seed(s);
                    let vs = nn::VarStore::new(Device::Cpu);
                    let m = build_model(name, &vs.root(), dim, &spec).unwrap();
                    (vs, m)
                })
                .collect();
            let mut opts: Vec<_> = members
                .iter()
                .map(|(vs, _)| nn::Adam::default().build(vs, 1e-3).unwrap())
                .collect();
            let x = Tensor::randn([5, batch, dim], (Kind::Float, Device::Cpu));
            let y = Tensor::randn([5, batch, dim], (Kind::Float, Device::Cpu));
            c.bench_function(
                &format!("{name} {dim}d batch {batch}: 5 single steps"),
                |b| {
                    b.iter(|| {
                        for (k, ((_, m), opt)) in members.iter().zip(&mut opts).enumerate() {
                            let k = k as i64;
                            let loss = (m.time_derivative(&x.get(k), true) - y.get(k))
                                .square()
                                .mean(Kind::Float);
                            opt.backward_step(&loss);
                        }
                    })
                },
            );
            let vs = nn::VarStore::new(Device::Cpu);
            let stores: Vec<&nn::VarStore> = members.iter().map(|(v, _)| v).collect();
            let stacked = ensemble::stack_members(&stores, &vs).unwrap();
            let e = ensemble::build_ensemble(name, &stacked, &spec)
                .unwrap()
                .unwrap();
            let mut opt = nn::Adam::default().build(&vs, 1e-3).unwrap();
            c.bench_function(
                &format!("{name} {dim}d batch {batch}: one ensemble step of 5"),
                |b| {
                    b.iter(|| {
                        let loss = (e.time_derivative(&x, true) - &y)
                            .square()
                            .mean_dim(&[1i64, 2][..], false, Kind::Float)
                            .sum(Kind::Float);
                        opt.backward_step(&loss);
                    })
                },
            );
        }
    }
}

/// Adam over one flat buffer: every variable of the store becomes a view into one tensor, the
/// gradients are concatenated, and the update is ~10 operations in all where libtorch's Adam
/// issues 9 per variable (45 for an MLP of three layers), each Scalar argument adding a
/// dtype conversion. Rounding differs from libtorch's (no `value` argument in tch's
/// `addcdiv_`), so this is a measurement, not an optimizer the runs use.
struct FlatAdam {
    vars: Vec<Tensor>,
    flat: Tensor,
    m: Tensor,
    v: Tensor,
    t: i32,
    lr: f64,
    wd: f64,
}

impl FlatAdam {
    fn new(vs: &nn::VarStore, lr: f64, wd: f64) -> Self {
        let mut vars = vs.trainable_variables();
        let total: i64 = vars.iter().map(|v| v.numel() as i64).sum();
        let flat = Tensor::zeros([total], (Kind::Float, vs.device()));
        let mut offset = 0;
        tch::no_grad(|| {
            for v in vars.iter_mut() {
                let n = v.numel() as i64;
                let view = flat.narrow(0, offset, n).view(v.size().as_slice());
                view.shallow_clone().copy_(v);
                v.set_data(&view);
                offset += n;
            }
        });
        Self {
            vars,
            m: flat.zeros_like(),
            v: flat.zeros_like(),
            flat,
            t: 0,
            lr,
            wd,
        }
    }

    fn backward_step(&mut self, loss: &Tensor) {
        let grads = Tensor::run_backward(&[loss], &self.vars, false, false);
        let flat_grads: Vec<Tensor> = grads.iter().map(|g| g.view([-1])).collect();
        tch::no_grad(|| {
            let g = Tensor::cat(&flat_grads, 0) + &self.flat * self.wd;
            self.t += 1;
            let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
            let _ = self.m.lerp_(&g, 1.0 - b1);
            let _ = self.v.lerp_(&g.square(), 1.0 - b2);
            let denom = self.v.sqrt() / (1.0 - b2.powi(self.t)).sqrt() + eps;
            let step = -self.lr / (1.0 - b1.powi(self.t));
            let _ = self.flat.addcdiv_(&(&self.m * step), &denom);
        });
    }
}

/// One HNN training step at the two-body task's shape (8 coordinates, batch 200) and the
/// spring's (2, full batch 750) with libtorch's Adam and with [`FlatAdam`].
fn flat_adam_bench(c: &mut Criterion) {
    for (dim, batch) in [(8i64, 200i64), (2, 750)] {
        let x = Tensor::randn([batch, dim], (Kind::Float, Device::Cpu));
        let y = Tensor::randn([batch, dim], (Kind::Float, Device::Cpu));
        let build = || {
            tch::manual_seed(0);
            let vs = nn::VarStore::new(Device::Cpu);
            let m = build_model("hnn", &vs.root(), dim, &ModelSpec::default()).unwrap();
            (vs, m)
        };
        let loss = |m: &dyn DynamicsModel| {
            (m.time_derivative(&x, true) - &y)
                .square()
                .mean(Kind::Float)
        };
        let (vs, m) = build();
        let mut opt = nn::Adam {
            wd: 1e-4,
            ..nn::Adam::default()
        }
        .build(&vs, 1e-3)
        .unwrap();
        c.bench_function(
            &format!("hnn {dim}d batch {batch}: step, libtorch's Adam"),
            |b| b.iter(|| opt.backward_step(&loss(m.as_ref()))),
        );
        let (vs, m) = build();
        let mut flat = FlatAdam::new(&vs, 1e-3, 1e-4);
        c.bench_function(&format!("hnn {dim}d batch {batch}: step, flat Adam"), |b| {
            b.iter(|| flat.backward_step(&loss(m.as_ref())))
        });
    }
}

criterion_group!(benches, bench, pixel_bench, ensemble_bench, flat_adam_bench);
criterion_main!(benches);
