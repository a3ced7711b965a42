//! libtorch's fp32 matrix-product rate at a given shape.

use std::time::Instant;

use tch::{Device, Kind, Tensor};

/// GFLOP/s of an `[m, k] x [k, n]` fp32 matrix product on this process's libtorch threads: the
/// best of five timings of at least `seconds / 5` each after a warm-up (the best, so that another
/// process's burst lowers the figure as little as possible).
///
/// The operands are a fixed pattern, not random: libtorch's random generator is one per
/// process, and a draw here (a run logs this rate when it starts) would shift the weights of a
/// run being initialised beside it (`--jobs 2`), making its numbers depend on timing.
pub fn matmul_gflops(m: i64, k: i64, n: i64, seconds: f64) -> f64 {
    matmul_rate(m, k, n, seconds).best
}

/// The rates of one measurement of [`matmul_gflops`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulRate {
    /// The best of the five timings: what the cores do when nothing else runs.
    pub best: f64,
    /// All the products over all the time: what they did while this ran. A short window can
    /// fall between another process's time slices; the whole measurement rarely does.
    pub sustained: f64,
}

/// [`matmul_gflops`] with the sustained rate beside the best.
pub fn matmul_rate(m: i64, k: i64, n: i64, seconds: f64) -> MatmulRate {
    let pattern = |rows: i64, cols: i64| {
        // values in [-0.5, 0.5), no zeros or denormals to take a faster path
        ((Tensor::arange(rows * cols, (Kind::Float, Device::Cpu)) * 0.618_034).frac() - 0.5 + 1e-3)
            .view([rows, cols])
    };
    let a = pattern(m, k);
    let b = pattern(k, n);
    let out = Tensor::zeros([m, n], (Kind::Float, Device::Cpu));
    let _ = a.matmul_out(&out, &b);
    let flops = 2.0 * (m * k * n) as f64;
    let (mut best, mut total_reps, mut total_secs) = (0.0_f64, 0u32, 0.0);
    for _ in 0..5 {
        let start = Instant::now();
        let mut reps = 0u32;
        while reps < 2 || start.elapsed().as_secs_f64() < seconds / 5.0 {
            let _ = a.matmul_out(&out, &b);
            reps += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        best = best.max(flops * f64::from(reps) / secs / 1e9);
        total_reps += reps;
        total_secs += secs;
    }
    MatmulRate {
        best,
        sustained: flops * f64::from(total_reps) / total_secs / 1e9,
    }
}
