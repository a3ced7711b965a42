//! Build script shared by the crates that link libtorch (hnn-models, hnn-bench and the root
//! runner). It checks that libtorch is where `.cargo/config.toml` says (`LIBTORCH`), fails with
//! the command to run when it is not, and writes an rpath to its `lib/` into every binary, test
//! and bench of the crate, so nothing needs `LD_LIBRARY_PATH`. With a CUDA-capable libtorch it
//! also keeps `libtorch_cuda.so` linked (the linker's `--as-needed` would drop it, and CUDA is
//! only registered when it is loaded).
//!
//! On Linux it also exports `mkl_serv_intel_cpu_true` (defined in `hnn_models::cpu::hook`) from
//! every binary: MKL inside `libtorch_cpu.so` then asks hnn's definition whether the CPU is
//! Intel's, which is what lets MKL run its AVX-512 kernels on other vendors' AVX-512 CPUs.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(root) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        panic!(
            "\n\nLIBTORCH is not set. The project's .cargo/config.toml sets it to .libtorch/torch; \
             run cargo from inside the repository, or install libtorch with:\n\n    \
             bash scripts/setup-libtorch.sh\n\n"
        );
    };
    let lib = root.join("lib");
    println!(
        "cargo:rerun-if-changed={}",
        root.join("HNN_LIBTORCH_VERSION").display()
    );
    if !lib.join("libtorch_cpu.so").is_file() {
        panic!(
            "\n\nlibtorch was not found at {} (no lib/libtorch_cpu.so).\nInstall it once with:\n\n    \
             bash scripts/setup-libtorch.sh          # CPU-only, ~540 MB\n    \
             bash scripts/setup-libtorch.sh --cuda   # CUDA-capable, ~2.7 GB\n\n",
            root.display()
        );
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        // Kept by the linker (`--undefined`) and put in the dynamic symbol table, where the
        // dynamic linker finds it before libtorch_cpu.so's own definition.
        println!("cargo:rustc-link-arg=-Wl,--undefined=mkl_serv_intel_cpu_true");
        println!("cargo:rustc-link-arg=-Wl,--export-dynamic-symbol=mkl_serv_intel_cpu_true");
    }
    let version = std::fs::read_to_string(root.join("HNN_LIBTORCH_VERSION"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown (not installed by scripts/setup-libtorch.sh)".into());
    println!("cargo:rustc-env=HNN_LIBTORCH_VERSION={version}");
    if lib.join("libtorch_cuda.so").is_file() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-L{}", lib.display());
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-ltorch");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
