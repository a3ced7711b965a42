//! `mkl_serv_intel_cpu_true`, exported from the executable so that MKL inside `libtorch_cpu.so`
//! calls it instead of its own vendor check (see the [module above](super)).
//!
//! MKL calls it from its own threads, before anything else of this crate may have run: it reads
//! the switch and the CPU's features itself, cannot fail and never panics.

use std::ffi::{c_int, c_void};
use std::sync::OnceLock;

use super::{CpuFeatures, Switch, VendorAnswer, vendor_answer};

static ANSWER: OnceLock<VendorAnswer> = OnceLock::new();

/// MKL's question "is this an Intel CPU?", answered by [`vendor_answer`] for this CPU and
/// [`Switch::from_env`]; MKL's own answer is asked where that is [`VendorAnswer::MklsOwn`].
#[unsafe(no_mangle)]
pub extern "C" fn mkl_serv_intel_cpu_true() -> c_int {
    match ANSWER.get_or_init(|| vendor_answer(CpuFeatures::detect(), Switch::from_env())) {
        VendorAnswer::Intel => 1,
        VendorAnswer::MklsOwn => mkls_own_answer(),
    }
}

/// The hook's answer, once MKL has asked (`None` before, or if it never reaches the hook).
pub fn answered() -> Option<VendorAnswer> {
    ANSWER.get().copied()
}

/// Whether the process's symbol lookup finds this crate's definition: what `libtorch_cpu.so`'s
/// call resolves to when this binary exports it.
pub fn exported() -> bool {
    lookup(SymbolScope::Global, c"mkl_serv_intel_cpu_true")
        .is_some_and(|f| f == mkl_serv_intel_cpu_true as *const () as *mut c_void)
}

/// MKL's automatic code branch (`mkl_cbwr_get_auto_branch`, exported by `libtorch_cpu.so` as
/// `mkl_serv_cbwr_get_auto_branch`), or `None` where no MKL is loaded.
pub fn mkl_auto_branch() -> Option<i32> {
    let f = lookup(SymbolScope::Global, c"mkl_serv_cbwr_get_auto_branch")?;
    // SAFETY: MKL's `int mkl_serv_cbwr_get_auto_branch(void)`.
    let f: extern "C" fn() -> c_int = unsafe { std::mem::transmute(f) };
    Some(f())
}

/// MKL's own answer: the next definition after this executable's (`libtorch_cpu.so`'s), or,
/// where there is none, whether the CPU's vendor string is Intel's.
fn mkls_own_answer() -> c_int {
    match lookup(SymbolScope::Next, c"mkl_serv_intel_cpu_true") {
        Some(f) if f != mkl_serv_intel_cpu_true as *const () as *mut c_void => {
            // SAFETY: MKL's `int mkl_serv_intel_cpu_true(void)`.
            let f: extern "C" fn() -> c_int = unsafe { std::mem::transmute(f) };
            f()
        }
        _ => c_int::from(vendor_is_intel()),
    }
}

enum SymbolScope {
    /// The process's lookup order, starting at the executable.
    Global,
    /// The objects loaded after this one.
    Next,
}

#[cfg(unix)]
fn lookup(scope: SymbolScope, name: &std::ffi::CStr) -> Option<*mut c_void> {
    let handle = match scope {
        SymbolScope::Global => libc::RTLD_DEFAULT,
        SymbolScope::Next => libc::RTLD_NEXT,
    };
    // SAFETY: dlsym with a pseudo-handle and a NUL-terminated name.
    let f = unsafe { libc::dlsym(handle, name.as_ptr()) };
    (!f.is_null()).then_some(f)
}

#[cfg(not(unix))]
fn lookup(_: SymbolScope, _: &std::ffi::CStr) -> Option<*mut c_void> {
    None
}

/// Whether CPUID's vendor string is "GenuineIntel".
fn vendor_is_intel() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let r = std::arch::x86_64::__cpuid(0);
        let mut vendor = [0u8; 12];
        vendor[..4].copy_from_slice(&r.ebx.to_le_bytes());
        vendor[4..8].copy_from_slice(&r.edx.to_le_bytes());
        vendor[8..].copy_from_slice(&r.ecx.to_le_bytes());
        &vendor == b"GenuineIntel"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
