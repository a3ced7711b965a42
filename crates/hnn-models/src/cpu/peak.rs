//! This core's fp32 fused multiply-add peak, measured: the physical floor of a matrix product.
//!
//! Twelve independent chains of vector FMAs (`acc = acc * a + b`, written in assembly so that no
//! compiler can merge or spill them), enough to keep two FMA units of four-cycle latency busy;
//! each FMA is two floating-point operations per lane.

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

/// The per-core fp32 FMA peak with the widest vectors the CPU has: the best of five timings of
/// at least `seconds / 5` each on the calling thread. `None` on a CPU without AVX2+FMA (or not
/// x86-64).
pub fn fma_peak_gflops(seconds: f64) -> Option<FmaPeak> {
    fma_kernels().first().map(|k| k.peak(seconds))
}

/// The peak of each FMA width the CPU has, widest first (AVX-512, then AVX2+FMA). Where the two
/// are close, the CPU runs 512-bit FMAs at half width (Zen 4) and MKL's AVX-512 kernels gain
/// little over its AVX2 ones.
pub fn fma_peaks(seconds: f64) -> Vec<FmaPeak> {
    fma_kernels().iter().map(|k| k.peak(seconds)).collect()
}

/// An FMA kernel the peak is measured with (also for benches that time it themselves).
#[derive(Debug, Clone, Copy)]
pub struct FmaKernel {
    pub isa: &'static str,
    /// Floating-point operations of one iteration: chains x lanes x 2.
    pub flops_per_iter: f64,
    /// Runs that many iterations; returns a sum of the chains (to keep them live).
    pub run: fn(u64) -> f32,
}

impl FmaKernel {
    /// GFLOP/s on the calling thread: the best of five timings of at least `seconds / 5` each.
    pub fn peak(&self, seconds: f64) -> FmaPeak {
        let iters: u64 = 20_000;
        std::hint::black_box((self.run)(iters));
        let gflops = (0..5)
            .map(|_| {
                let start = Instant::now();
                let mut total = 0u64;
                while total < 2 * iters || start.elapsed().as_secs_f64() < seconds / 5.0 {
                    std::hint::black_box((self.run)(std::hint::black_box(iters)));
                    total += iters;
                }
                self.flops_per_iter * total as f64 / start.elapsed().as_secs_f64() / 1e9
            })
            .fold(0.0, f64::max);
        FmaPeak {
            gflops,
            isa: self.isa,
        }
    }
}

/// The FMA kernels this CPU runs, widest first: AVX-512 (16 lanes) where it has AVX-512 F,
/// AVX2 with FMA (8 lanes) where it has those; none elsewhere.
pub fn fma_kernels() -> Vec<FmaKernel> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        let kernel = |isa, lanes: usize, run| FmaKernel {
            isa,
            flops_per_iter: (CHAINS * lanes * 2) as f64,
            run,
        };
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512 F.
            out.push(kernel("AVX-512", 16, |n| unsafe { x86::chains_avx512(n) }));
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA.
            out.push(kernel("AVX2+FMA", 8, |n| unsafe { x86::chains_avx2(n) }));
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::asm;

    /// A kernel of [`CHAINS`] independent FMA chains on the registers listed (`r0` first; the
    /// result is read from `xmm0`), with the operand modifier `w` of their width. In assembly,
    /// so that the instructions in the loop do not depend on the optimizer (a debug build
    /// measures the same peak as a release one).
    macro_rules! fma_chains {
        ($(#[$doc:meta])* $name:ident, $feature:literal, $w:literal, [$r0:tt $(, $r:tt)*]) => {
            $(#[$doc])*
            #[target_feature(enable = $feature)]
            pub unsafe fn $name(iters: u64) -> f32 {
                let (a, b): (f32, f32) = (0.999_999, 1e-6);
                let first: f32;
                // SAFETY: registers only; the caller has checked the CPU's features.
                unsafe {
                    asm!(
                        concat!("vbroadcastss {va:", $w, "}, {va:x}"),
                        concat!("vbroadcastss {vb:", $w, "}, {vb:x}"),
                        concat!("vxorps ", $r0, ", ", $r0, ", ", $r0),
                        $(concat!("vxorps ", $r, ", ", $r, ", ", $r),)*
                        "2:",
                        concat!("vfmadd213ps ", $r0, ", {va:", $w, "}, {vb:", $w, "}"),
                        $(concat!("vfmadd213ps ", $r, ", {va:", $w, "}, {vb:", $w, "}"),)*
                        "dec {n}",
                        "jnz 2b",
                        $(concat!("vaddps ", $r0, ", ", $r0, ", ", $r),)*
                        "vmovaps {va:x}, xmm0",
                        va = inout(xmm_reg) a => first,
                        vb = inout(xmm_reg) b => _,
                        n = inout(reg) iters.max(1) => _,
                        out($r0) _,
                        $(out($r) _,)*
                        options(nostack, nomem),
                    );
                }
                first
            }
        };
    }

    fma_chains!(
        /// `iters` (at least 1) rounds of [`CHAINS`](super::CHAINS) independent 16-lane FMAs.
        chains_avx512, "avx512f", "z",
        ["zmm0", "zmm1", "zmm2", "zmm3", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11"]
    );
    fma_chains!(
        /// `iters` (at least 1) rounds of [`CHAINS`](super::CHAINS) independent 8-lane FMAs.
        chains_avx2, "avx2,fma", "y",
        ["ymm0", "ymm1", "ymm2", "ymm3", "ymm4", "ymm5", "ymm6", "ymm7", "ymm8", "ymm9", "ymm10", "ymm11"]
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_is_positive_for_every_width_the_cpu_has() {
        for p in fma_peaks(0.01) {
            assert!(p.gflops.is_finite() && p.gflops > 0.0, "{p:?}");
        }
    }
}
