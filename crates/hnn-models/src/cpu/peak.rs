//! This core's fp32 fused multiply-add peak, measured: the physical floor of a matrix product.
//!
//! Twelve independent chains of vector FMAs (`acc = acc * a + b`), enough to keep two FMA units
//! of four-cycle latency busy; each FMA is two floating-point operations per lane. AVX-512
//! (16 lanes) where the CPU has AVX-512 F, else AVX2 with FMA (8 lanes), else no figure.

use std::time::Instant;

/// A measured per-core FMA peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FmaPeak {
    /// GFLOP/s on one core.
    pub gflops: f64,
    /// The instructions it was measured with (`"AVX-512"` or `"AVX2+FMA"`).
    pub isa: &'static str,
}

const CHAINS: usize = 12;

/// The per-core fp32 FMA peak: the best of five timings of at least `seconds / 5` each on the
/// calling thread. `None` on a CPU without AVX2+FMA (or not x86-64).
pub fn fma_peak_gflops(seconds: f64) -> Option<FmaPeak> {
    let FmaKernel {
        isa,
        flops_per_iter,
        run: kernel,
    } = fma_kernel()?;
    let iters: u64 = 20_000;
    std::hint::black_box(kernel(iters));
    let gflops = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut total = 0u64;
            while total < 2 * iters || start.elapsed().as_secs_f64() < seconds / 5.0 {
                std::hint::black_box(kernel(std::hint::black_box(iters)));
                total += iters;
            }
            flops_per_iter * total as f64 / start.elapsed().as_secs_f64() / 1e9
        })
        .fold(0.0, f64::max);
    Some(FmaPeak { gflops, isa })
}

/// The FMA kernel the peak is measured with (for benches that time it themselves).
#[derive(Debug, Clone, Copy)]
pub struct FmaKernel {
    pub isa: &'static str,
    /// Floating-point operations of one iteration: chains x lanes x 2.
    pub flops_per_iter: f64,
    /// Runs that many iterations; returns a sum of the chains (to keep them live).
    pub run: fn(u64) -> f32,
}

/// The widest FMA kernel this CPU runs, or `None` without AVX2+FMA (or not on x86-64).
pub fn fma_kernel() -> Option<FmaKernel> {
    #[cfg(target_arch = "x86_64")]
    {
        let (isa, lanes, run): (&'static str, usize, fn(u64) -> f32) =
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has AVX-512 F.
                ("AVX-512", 16, |n| unsafe { x86::chains_avx512(n) })
            } else if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU has AVX2 and FMA.
                ("AVX2+FMA", 8, |n| unsafe { x86::chains_avx2(n) })
            } else {
                return None;
            };
        Some(FmaKernel {
            isa,
            flops_per_iter: (CHAINS * lanes * 2) as f64,
            run,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::CHAINS;

    /// `iters` rounds of [`CHAINS`] independent 16-lane FMAs.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn chains_avx512(iters: u64) -> f32 {
        let a = _mm512_set1_ps(0.999_999);
        let b = _mm512_set1_ps(1e-6);
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm512_fmadd_ps(*x, a, b);
            }
        }
        acc.iter().map(|x| _mm512_reduce_add_ps(*x)).sum()
    }

    /// `iters` rounds of [`CHAINS`] independent 8-lane FMAs.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn chains_avx2(iters: u64) -> f32 {
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-6);
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for _ in 0..iters {
            for x in &mut acc {
                *x = _mm256_fmadd_ps(*x, a, b);
            }
        }
        let mut lanes = [0.0f32; 8];
        let mut sum = 0.0;
        for x in &acc {
            // SAFETY: `lanes` holds the 8 floats written.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *x) };
            sum += lanes.iter().sum::<f32>();
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_positive_where_the_cpu_has_fma() {
        if let Some(p) = fma_peak_gflops(0.01) {
            assert!(p.gflops.is_finite() && p.gflops > 0.0, "{p:?}");
        }
    }
}
