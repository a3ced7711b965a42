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
    if std::env::var("CARGO_PKG_NAME").as_deref() == Ok("hnn-bench") {
        code_hash();
    }
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

/// `HNN_CODE_HASH` for hnn-bench: a hash (64-bit FNV-1a, hex) of the workspace's library
/// sources (`crates/*/src/**/*.rs`, `crates/*/Cargo.toml`) and `Cargo.lock`, the code that
/// computes a run's numbers. A run records it, and a finished run is reused only by a build
/// with the same hash.
fn code_hash() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let Some(root) = manifest
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
    else {
        println!("cargo:rustc-env=HNN_CODE_HASH=unknown");
        return;
    };
    let mut files = vec![root.join("Cargo.lock")];
    if let Ok(crates) = std::fs::read_dir(root.join("crates")) {
        for krate in crates.flatten().map(|e| e.path()) {
            files.push(krate.join("Cargo.toml"));
            collect_rs(&krate.join("src"), &mut files);
        }
    }
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f
            .strip_prefix(root)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(f).unwrap_or_default();
        for b in name.as_bytes().iter().chain([0u8].iter()).chain(&bytes) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=HNN_CODE_HASH={hash:016x}");
}

fn collect_rs(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}
