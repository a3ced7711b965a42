//! Dataset generation: the built-in systems, and the same systems written as expressions
//! (`ExpressionSystem`), alternated in one run so that their ratio is measured under the same
//! load.

use criterion::{Criterion, criterion_group, criterion_main};
use hnn_physics::dataset::{DataSpec, generate};
use hnn_physics::{
    Direction, ExpressionSpec, ExpressionSystem, Initial, MassSpring, Pendulum, System,
};

fn written(h: &str, constants: &[(&str, f64)], radius: [f64; 2]) -> ExpressionSystem {
    ExpressionSystem::new(&ExpressionSpec {
        name: "expression".into(),
        hamiltonian: h.into(),
        dissipation: None,
        constants: constants.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        initial: Initial::Radius {
            radius,
            direction: Direction::Square,
        },
    })
    .expect("a valid system")
}

fn bench(c: &mut Criterion) {
    let spec = DataSpec::default();
    let big = DataSpec {
        trajectories: 5000,
        ..DataSpec::default()
    };
    let spring = MassSpring::default();
    let spring_text = written("k*q^2/2 + p^2/(2*m)", &[("k", 2.0), ("m", 0.5)], [0.1, 1.0]);
    let pendulum = Pendulum::default();
    let pendulum_text = written(
        "2*m*g*l*(1 - cos(q)) + l^2*p^2/(2*m)",
        &[("g", 3.0), ("m", 0.5), ("l", 1.0)],
        [1.3, 2.3],
    );
    let pairs: [(&str, &dyn System, &dyn System); 2] = [
        ("spring", &spring, &spring_text),
        ("pendulum", &pendulum, &pendulum_text),
    ];
    for (name, built_in, text) in pairs {
        let mut group = c.benchmark_group(format!("{name} dataset (official: 50 x 30 points)"));
        group.bench_function("built-in", |b| {
            b.iter(|| generate(built_in, &spec, 0).unwrap())
        });
        group.bench_function("expression", |b| {
            b.iter(|| generate(text, &spec, 0).unwrap())
        });
        group.finish();
    }
    c.bench_function("spring dataset, 5000 trajectories", |b| {
        b.iter(|| generate(&spring, &big, 0).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
