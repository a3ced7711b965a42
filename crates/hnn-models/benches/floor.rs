//! The matrix products the models run, against this core's fp32 FMA peak, on one thread.
//!
//! Criterion's throughput is in floating-point operations ("elem/s" reads as FLOP/s): the FMA
//! group is the physical peak, the matmul group libtorch's rate at the layer shapes ([`SHAPES`]).
//! The last lines print each product's rate as a share of the peak, measured back to back.
//!
//!     cargo bench -p hnn-models --bench floor
//!     HNN_MKL_AVX512=off cargo bench -p hnn-models --bench floor   # MKL's own vendor check

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hnn_models::cpu::{MatmulPath, fma_kernels, fma_peaks, matmul_gflops};
use tch::{Device, Kind, Tensor};

/// `[m, k] x [k, n]`: a 200-unit layer at batch 200 and 750, the pixel autoencoder's
/// 1568 -> 200 layer at batch 200, and the spring's 2 -> 200 input layer at batch 750 (a skinny
/// product, where MKL's AVX2 path for other vendors is slowest).
const SHAPES: [(i64, i64, i64); 4] = [
    (200, 200, 200),
    (750, 200, 200),
    (200, 1568, 200),
    (750, 2, 200),
];

fn floor(c: &mut Criterion) {
    tch::set_num_threads(1);
    let mut group = c.benchmark_group("floor, one thread");
    for k in fma_kernels() {
        let iters = 10_000;
        group.throughput(Throughput::Elements(
            (k.flops_per_iter * iters as f64) as u64,
        ));
        group.bench_function(format!("fma peak ({})", k.isa), |b| {
            b.iter(|| (k.run)(std::hint::black_box(iters)))
        });
    }
    for (m, k, n) in SHAPES {
        let a = Tensor::randn([m, k], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([k, n], (Kind::Float, Device::Cpu));
        let out = Tensor::zeros([m, n], (Kind::Float, Device::Cpu));
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        group.bench_function(format!("matmul {m}x{k}x{n}"), |b| {
            b.iter(|| a.matmul_out(&out, &w))
        });
    }
    group.finish();
    let path = MatmulPath::current();
    let peaks = fma_peaks(2.0);
    let Some(peak) = peaks.first() else {
        return;
    };
    let shares: Vec<String> = SHAPES
        .iter()
        .map(|&(m, k, n)| {
            let rate = matmul_gflops(m, k, n, 2.0);
            format!("{m}x{k}x{n} {rate:.1} GFLOP/s = {:.2}", rate / peak.gflops)
        })
        .collect();
    let peaks: Vec<String> = peaks
        .iter()
        .map(|p| format!("{} {:.1} GFLOP/s", p.isa, p.gflops))
        .collect();
    println!(
        "{}\nFMA peak, one core: {}\nmatmul, one thread, as a share of the widest peak: {}",
        path.describe(),
        peaks.join(", "),
        shares.join("; ")
    );
}

criterion_group!(benches, floor);
criterion_main!(benches);
