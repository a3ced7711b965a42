use criterion::{Criterion, criterion_group, criterion_main};
use hnn_physics::MassSpring;
use hnn_physics::dataset::{DataSpec, generate};

fn bench(c: &mut Criterion) {
    let spring = MassSpring::default();
    let spec = DataSpec::default();
    c.bench_function(
        "spring dataset (official: 50 trajectories x 30 points)",
        |b| b.iter(|| generate(&spring, &spec, 0).unwrap()),
    );
    let big = DataSpec {
        trajectories: 5000,
        ..DataSpec::default()
    };
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
