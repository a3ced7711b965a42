//! The CPU matrix-product path of this process (see `hnn_models::cpu`): checked at start-up,
//! recorded in every run's resolved config (`experiment.cpu_matmul`) and `meta.json`, and logged
//! with its measured rate when a run starts.

use std::sync::OnceLock;

use hnn_models::cpu::{MatmulPath, Switch, matmul_gflops};

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
pub fn rate_at_start() -> f64 {
    matmul_gflops(200, 200, 200, 0.02)
}

/// Logs the path and the rate just measured, at the start of a run.
pub fn log_at_start() -> f64 {
    let rate = rate_at_start();
    tracing::info!(
        "matrix products: {}; {rate:.1} GFLOP/s measured now (fp32 200x200x200, {} libtorch threads)",
        path().describe(),
        tch::get_num_threads()
    );
    rate
}
