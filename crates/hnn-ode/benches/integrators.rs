use criterion::{Criterion, criterion_group, criterion_main};
use hnn_ode::{FnField, IvpProblem, Leapfrog, Rk4, Rk45, SeparableField};

fn spring() -> FnField<impl Fn(f64, &[f64], &mut [f64])> {
    FnField::new(2, |_t, y: &[f64], d: &mut [f64]| {
        d[0] = 2.0 * y[1];
        d[1] = -2.0 * y[0];
    })
}

struct Sep;
impl SeparableField for Sep {
    fn dof(&self) -> usize {
        1
    }
    fn velocity(&self, p: &[f64], dq: &mut [f64]) {
        dq[0] = 2.0 * p[0];
    }
    fn force(&self, q: &[f64], dp: &mut [f64]) {
        dp[0] = -2.0 * q[0];
    }
}

fn bench(c: &mut Criterion) {
    let t_eval: Vec<f64> = (0..100).map(|i| i as f64 * 0.2).collect();
    let tight = Rk45 {
        rtol: 1e-9,
        atol: 1e-9,
        ..Rk45::default()
    };
    c.bench_function("rk45 spring t=[0,20] rtol=atol=1e-9", |b| {
        b.iter(|| {
            tight
                .solve(&spring(), (0.0, 19.8), &[1.0, 0.0], &t_eval)
                .unwrap()
        })
    });
    let starts: Vec<[f64; 2]> = (0..100).map(|i| [0.2 + 0.008 * i as f64, 0.1]).collect();
    let problems: Vec<IvpProblem<'_>> = starts
        .iter()
        .map(|y0| IvpProblem {
            t_span: (0.0, 19.8),
            y0,
            t_eval: &t_eval,
        })
        .collect();
    c.bench_function("rk45 100 trajectories, lock-step batch", |b| {
        b.iter(|| tight.solve_batch(&spring(), &problems))
    });
    c.bench_function("rk45 100 trajectories, one solve each", |b| {
        b.iter(|| {
            let sols: Vec<_> = starts
                .iter()
                .map(|y0| tight.solve(&spring(), (0.0, 19.8), y0, &t_eval).unwrap())
                .collect();
            sols
        })
    });
    c.bench_function("rk4 10k steps", |b| {
        b.iter(|| {
            Rk4 { h: 1e-3 }
                .integrate(&spring(), 0.0, &[1.0, 0.0], 10_000)
                .unwrap()
        })
    });
    c.bench_function("leapfrog 10k steps", |b| {
        b.iter(|| {
            Leapfrog { h: 1e-3 }
                .integrate(&Sep, &[1.0], &[0.0], 10_000)
                .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
