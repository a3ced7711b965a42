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

    /// `iters` (at least 1) rounds of [`CHAINS`] independent 16-lane FMAs, in
    /// assembly so that the count of instructions in the loop does not depend on the optimizer
    /// (a debug build measures the same peak as a release one).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn chains_avx512(iters: u64) -> f32 {
        let (a, b): (f32, f32) = (0.999_999, 1e-6);
        let first: f32;
        // SAFETY: registers only; the caller has checked the CPU's features.
        unsafe {
            asm!(
            "vbroadcastss {va:z}, {va:x}",
            "vbroadcastss {vb:z}, {vb:x}",
            "vxorps zmm0, zmm0, zmm0",
            "vxorps zmm1, zmm1, zmm1",
            "vxorps zmm2, zmm2, zmm2",
            "vxorps zmm3, zmm3, zmm3",
            "vxorps zmm4, zmm4, zmm4",
            "vxorps zmm5, zmm5, zmm5",
            "vxorps zmm6, zmm6, zmm6",
            "vxorps zmm7, zmm7, zmm7",
            "vxorps zmm8, zmm8, zmm8",
            "vxorps zmm9, zmm9, zmm9",
            "vxorps zmm10, zmm10, zmm10",
            "vxorps zmm11, zmm11, zmm11",
            "2:",
            "vfmadd213ps zmm0, {va:z}, {vb:z}",
            "vfmadd213ps zmm1, {va:z}, {vb:z}",
            "vfmadd213ps zmm2, {va:z}, {vb:z}",
            "vfmadd213ps zmm3, {va:z}, {vb:z}",
            "vfmadd213ps zmm4, {va:z}, {vb:z}",
            "vfmadd213ps zmm5, {va:z}, {vb:z}",
            "vfmadd213ps zmm6, {va:z}, {vb:z}",
            "vfmadd213ps zmm7, {va:z}, {vb:z}",
            "vfmadd213ps zmm8, {va:z}, {vb:z}",
            "vfmadd213ps zmm9, {va:z}, {vb:z}",
            "vfmadd213ps zmm10, {va:z}, {vb:z}",
            "vfmadd213ps zmm11, {va:z}, {vb:z}",
            "dec {n}",
            "jnz 2b",
            "vaddps zmm0, zmm0, zmm1",
            "vaddps zmm0, zmm0, zmm2",
            "vaddps zmm0, zmm0, zmm3",
            "vaddps zmm0, zmm0, zmm4",
            "vaddps zmm0, zmm0, zmm5",
            "vaddps zmm0, zmm0, zmm6",
            "vaddps zmm0, zmm0, zmm7",
            "vaddps zmm0, zmm0, zmm8",
            "vaddps zmm0, zmm0, zmm9",
            "vaddps zmm0, zmm0, zmm10",
            "vaddps zmm0, zmm0, zmm11",
            "vmovaps {va:x}, xmm0",
            va = inout(xmm_reg) a => first,
            vb = inout(xmm_reg) b => _,
            n = inout(reg) iters.max(1) => _,
            out("zmm0") _,
            out("zmm1") _,
            out("zmm2") _,
            out("zmm3") _,
            out("zmm4") _,
            out("zmm5") _,
            out("zmm6") _,
            out("zmm7") _,
            out("zmm8") _,
            out("zmm9") _,
            out("zmm10") _,
            out("zmm11") _,
            options(nostack, nomem),
            );
        }
        first
    }

    /// `iters` (at least 1) rounds of [`CHAINS`] independent 8-lane FMAs, in
    /// assembly so that the count of instructions in the loop does not depend on the optimizer
    /// (a debug build measures the same peak as a release one).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn chains_avx2(iters: u64) -> f32 {
        let (a, b): (f32, f32) = (0.999_999, 1e-6);
        let first: f32;
        // SAFETY: registers only; the caller has checked the CPU's features.
        unsafe {
            asm!(
            "vbroadcastss {va:y}, {va:x}",
            "vbroadcastss {vb:y}, {vb:x}",
            "vxorps ymm0, ymm0, ymm0",
            "vxorps ymm1, ymm1, ymm1",
            "vxorps ymm2, ymm2, ymm2",
            "vxorps ymm3, ymm3, ymm3",
            "vxorps ymm4, ymm4, ymm4",
            "vxorps ymm5, ymm5, ymm5",
            "vxorps ymm6, ymm6, ymm6",
            "vxorps ymm7, ymm7, ymm7",
            "vxorps ymm8, ymm8, ymm8",
            "vxorps ymm9, ymm9, ymm9",
            "vxorps ymm10, ymm10, ymm10",
            "vxorps ymm11, ymm11, ymm11",
            "2:",
            "vfmadd213ps ymm0, {va:y}, {vb:y}",
            "vfmadd213ps ymm1, {va:y}, {vb:y}",
            "vfmadd213ps ymm2, {va:y}, {vb:y}",
            "vfmadd213ps ymm3, {va:y}, {vb:y}",
            "vfmadd213ps ymm4, {va:y}, {vb:y}",
            "vfmadd213ps ymm5, {va:y}, {vb:y}",
            "vfmadd213ps ymm6, {va:y}, {vb:y}",
            "vfmadd213ps ymm7, {va:y}, {vb:y}",
            "vfmadd213ps ymm8, {va:y}, {vb:y}",
            "vfmadd213ps ymm9, {va:y}, {vb:y}",
            "vfmadd213ps ymm10, {va:y}, {vb:y}",
            "vfmadd213ps ymm11, {va:y}, {vb:y}",
            "dec {n}",
            "jnz 2b",
            "vaddps ymm0, ymm0, ymm1",
            "vaddps ymm0, ymm0, ymm2",
            "vaddps ymm0, ymm0, ymm3",
            "vaddps ymm0, ymm0, ymm4",
            "vaddps ymm0, ymm0, ymm5",
            "vaddps ymm0, ymm0, ymm6",
            "vaddps ymm0, ymm0, ymm7",
            "vaddps ymm0, ymm0, ymm8",
            "vaddps ymm0, ymm0, ymm9",
            "vaddps ymm0, ymm0, ymm10",
            "vaddps ymm0, ymm0, ymm11",
            "vmovaps {va:x}, xmm0",
            va = inout(xmm_reg) a => first,
            vb = inout(xmm_reg) b => _,
            n = inout(reg) iters.max(1) => _,
            out("ymm0") _,
            out("ymm1") _,
            out("ymm2") _,
            out("ymm3") _,
            out("ymm4") _,
            out("ymm5") _,
            out("ymm6") _,
            out("ymm7") _,
            out("ymm8") _,
            out("ymm9") _,
            out("ymm10") _,
            out("ymm11") _,
            options(nostack, nomem),
            );
        }
        first
    }
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
