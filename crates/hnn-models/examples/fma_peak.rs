//! This core's fp32 FMA peak at each vector width the CPU has, and the matrix-product path MKL
//! takes in this process: `cargo run --release -p hnn-models --example fma_peak`.
//! Where the AVX-512 and AVX2 peaks are close, the CPU runs 512-bit FMAs at half width and MKL's
//! AVX-512 kernels gain little over its AVX2 ones.

fn main() {
    println!("{}", hnn_models::cpu::MatmulPath::current().describe());
    for p in hnn_models::cpu::fma_peaks(2.0) {
        println!(
            "fp32 FMA peak, one core, {}: {:.1} GFLOP/s",
            p.isa, p.gflops
        );
    }
}
