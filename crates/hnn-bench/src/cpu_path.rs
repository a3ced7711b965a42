//! The CPU matrix-product path of this process (see `hnn_models::cpu`): checked at start-up,
//! recorded in every run's resolved config (`experiment.cpu_matmul`) and `meta.json`, and logged
//! with its measured rate when a run starts, with a warning when that rate shows the cores
//! shared with another busy process.

use std::sync::{Mutex, OnceLock};

use hnn_models::cpu::{MatmulPath, MatmulRate, Switch, fma_kernels, matmul_rate};

static PATH: OnceLock<MatmulPath> = OnceLock::new();

/// Refuses a value of `HNN_MKL_AVX512` other than `auto`, `on` or `off`, before any work.
pub fn check_switch() -> Result<(), String> {
    Switch::parse(std::env::var_os(Switch::VAR).as_deref()).map(|_| ())
}

/// The path MKL took in this process (asked once; MKL's choice is fixed for the process).
pub fn path() -> MatmulPath {
    *PATH.get_or_init(MatmulPath::current)
}

/// The path's recorded name (`mkl-avx512-e1`, `mkl-nonintel-avx2`, ...).
pub fn name() -> String {
    path().name()
}

/// The fp32 rate of a 200 x 200 x 200 product (one 200-unit layer at batch 200) on this
/// thread's libtorch threads, measured in about 20 ms.
pub fn rate_at_start() -> MatmulRate {
    matmul_rate(200, 200, 200, 0.02)
}

/// What a run measured when it started: the product rate, and on several threads its share
/// of those cores' FMA peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartRate {
    /// GFLOP/s of a 200 x 200 x 200 fp32 product on the run's libtorch threads (the best
    /// timing: what the cores do when free).
    pub gflops: f64,
    /// The sustained rate (every product over the whole measurement) over threads x one
    /// core's FMA peak; `None` on one thread or without a peak.
    pub share_of_peak: Option<f64>,
    /// The share is under [`BUSY_SHARE`]: another process was using these cores.
    pub cores_busy: bool,
}

/// Below this share of their FMA peak, products on several libtorch threads (their sustained
/// rate) are taken to share their cores with another busy process. On the 2-core AMD EPYC of
/// `crates/hnn-bench/PERFORMANCE.md` ("A busy CPU"), 200 x 200 x 200 products on two free cores
/// sustained 0.78 of the AVX-512 peak on MKL's AVX-512 path and 0.60-0.72 of the AVX2 peak on
/// its AVX2 path; beside one other busy process 0.33-0.41, while runs took 2.3-2.9x as long
/// than on one thread.
pub const BUSY_SHARE: f64 = 0.5;

impl StartRate {
    /// The product rates measured on `threads` libtorch threads of cores whose per-core FMA
    /// peak is `core_peak` GFLOP/s. The sustained rate decides: the best of five short
    /// timings can fall between another process's time slices and look free.
    pub fn judge(rate: MatmulRate, threads: i32, core_peak: Option<f64>) -> Self {
        let share_of_peak = core_peak
            .filter(|p| threads > 1 && *p > 0.0)
            .map(|p| rate.sustained / (f64::from(threads) * p));
        StartRate {
            gflops: rate.best,
            share_of_peak,
            cores_busy: share_of_peak.is_some_and(|s| s < BUSY_SHARE),
        }
    }
}

/// One core's fp32 FMA peak with the vectors of the product path (AVX-512 or AVX2): the best
/// measured so far in this process (20 ms each time, so a burst of other work lowers it as
/// little as possible). `None` where the CPU lacks those instructions.
fn core_peak(avx512: bool) -> Option<f64> {
    static BEST: Mutex<[f64; 2]> = Mutex::new([0.0; 2]);
    let isa = if avx512 { "AVX-512" } else { "AVX2+FMA" };
    let now = fma_kernels()
        .into_iter()
        .find(|k| k.isa == isa)?
        .peak(0.02)
        .gflops;
    let mut best = BEST.lock().unwrap_or_else(|e| e.into_inner());
    let slot = &mut best[usize::from(avx512)];
    *slot = slot.max(now);
    Some(*slot)
}

/// Measures and logs the path and the product rate at the start of a run; on several threads,
/// warns when the rate shows the cores busy with another process.
pub fn log_at_start() -> StartRate {
    let threads = tch::get_num_threads();
    let measured = rate_at_start();
    let gflops = measured.best;
    let peak = if threads > 1 {
        core_peak(path().is_avx512())
    } else {
        None
    };
    let rate = StartRate::judge(measured, threads, peak);
    tracing::info!(
        "matrix products: {}; {gflops:.1} GFLOP/s measured now (fp32 200x200x200, {threads} libtorch threads)",
        path().describe(),
    );
    if let (true, Some(share), Some(peak)) = (rate.cores_busy, rate.share_of_peak, peak) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let over = if threads as usize > cores {
            format!(", and they are more than the {cores} cores")
        } else {
            String::new()
        };
        tracing::warn!(
            "the CPU looks busy: on {threads} libtorch threads products ran at {share:.2} of \
             the cores' FMA peak ({peak:.1} GFLOP/s each; above {BUSY_SHARE} when they are \
             free){over}. libtorch's threads wait for each other at every operation, so while \
             another process keeps these cores busy this run can be several times slower; \
             `experiment.threads = 1` avoids that (a run's numbers depend on its thread count)"
        );
    }
    rate
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One rate as both the best and the sustained.
    fn steady(gflops: f64) -> MatmulRate {
        MatmulRate {
            best: gflops,
            sustained: gflops,
        }
    }

    /// Shares by hand: 197 GFLOP/s on 2 threads of 117.4-GFLOP/s cores is 0.84 (free cores,
    /// AVX-512 path, measured), 145 is 0.62 (free cores, the AVX2 path's lowest), 89.4 is 0.38
    /// (one other busy process, measured); one thread is never judged; the sustained rate
    /// decides, the best is what is reported.
    #[test]
    fn busy_cores_are_told_by_the_share_of_their_peak() {
        let free = StartRate::judge(steady(197.0), 2, Some(117.4));
        assert!((free.share_of_peak.unwrap() - 197.0 / 234.8).abs() < 1e-12);
        assert!(!free.cores_busy);
        assert!(!StartRate::judge(steady(145.0), 2, Some(117.4)).cores_busy);
        let busy = StartRate::judge(steady(89.4), 2, Some(117.4));
        assert!((busy.share_of_peak.unwrap() - 89.4 / 234.8).abs() < 1e-12);
        assert!(busy.cores_busy);
        // a quiet window between another process's slices: best 170, sustained 60
        let slipped = MatmulRate {
            best: 170.0,
            sustained: 60.0,
        };
        let r = StartRate::judge(slipped, 2, Some(117.3));
        assert_eq!(r.gflops, 170.0);
        assert!(r.cores_busy && (r.share_of_peak.unwrap() - 60.0 / 234.6).abs() < 1e-12);
        // the edge: exactly the threshold is not busy, just under it is
        assert!(!StartRate::judge(steady(BUSY_SHARE * 4.0 * 100.0), 4, Some(100.0)).cores_busy);
        assert!(
            StartRate::judge(steady(BUSY_SHARE * 4.0 * 100.0 - 1e-9), 4, Some(100.0)).cores_busy
        );
        for (threads, peak) in [(1, Some(117.4)), (2, None), (2, Some(0.0))] {
            let r = StartRate::judge(steady(2.0), threads, peak);
            assert_eq!(
                (r.share_of_peak, r.cores_busy),
                (None, false),
                "{threads} {peak:?}"
            );
        }
    }
}
