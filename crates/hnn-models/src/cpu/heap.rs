//! glibc's heap kept between a training step's allocations.
//!
//! Every step frees and allocates the same buffers again (activations, gradients, MKL's
//! workspace for each product). glibc gives the top of its heap back to the kernel whenever more
//! than 128 KiB of it is free (`M_TRIM_THRESHOLD`), so a buffer freed at the top and allocated
//! again next product comes back as fresh pages that the kernel zeroes on first touch: on MKL's
//! AVX2 path, which frees its workspace after each product, that was 12% of a spring step's CPU
//! time (`scripts/profile-step.sh hnn 2 0 750 1000 2` with `HNN_MKL_AVX512=off`; 0.6% with the
//! heap kept). [`keep_freed_heap`] raises the trim threshold to [`TRIM_THRESHOLD`] and, since
//! glibc then stops moving its `mmap` threshold by itself, fixes that at [`MMAP_THRESHOLD`] (the
//! largest value glibc's own adjustment reaches). Nothing computed changes, only where memory
//! comes from; a process keeps at most [`TRIM_THRESHOLD`] of freed heap resident, and
//! [`give_back_freed_heap`] returns it where that matters (a run's peak-memory count).
//!
//! A process started with glibc's malloc tunables set (`GLIBC_TUNABLES` naming
//! `glibc.malloc.`) keeps them: the user's choice wins.

use std::ffi::OsStr;

/// Blocks at least this large get their own `mmap` (glibc's dynamic threshold's ceiling).
pub const MMAP_THRESHOLD: usize = 32 << 20;
/// Free heap top kept before glibc gives it back to the kernel.
pub const TRIM_THRESHOLD: usize = 64 << 20;

/// What [`keep_freed_heap`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeapSetting {
    /// Both thresholds set.
    Kept,
    /// `GLIBC_TUNABLES` sets glibc's malloc tunables; left as they are.
    UsersTunables,
    /// Not glibc (or glibc refused the values): the allocator's defaults.
    Unavailable,
}

/// Sets glibc's trim and `mmap` thresholds for this process (see the module docs). Call it once,
/// at start-up, before the work; later calls set the same values again.
pub fn keep_freed_heap() -> HeapSetting {
    if sets_malloc_tunables(std::env::var_os("GLIBC_TUNABLES").as_deref()) {
        return HeapSetting::UsersTunables;
    }
    set_thresholds()
}

/// Gives the heap's free memory back to the kernel now (glibc's `malloc_trim(0)`), as before a
/// run's peak-memory count starts, so that what earlier work left kept is not counted as the
/// run's.
pub fn give_back_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether a `GLIBC_TUNABLES` value sets any of glibc's malloc tunables.
fn sets_malloc_tunables(value: Option<&OsStr>) -> bool {
    value.is_some_and(|v| {
        v.to_string_lossy()
            .split(':')
            .any(|t| t.starts_with("glibc.malloc."))
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_thresholds() -> HeapSetting {
    // SAFETY: mallopt only changes the allocator's parameters; both values fit a c_int.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int) == 1
    };
    if ok {
        HeapSetting::Kept
    } else {
        HeapSetting::Unavailable
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_thresholds() -> HeapSetting {
    HeapSetting::Unavailable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_malloc_tunables_are_told_from_others() {
        let told = |v: &str| sets_malloc_tunables(Some(OsStr::new(v)));
        assert!(told("glibc.malloc.trim_threshold=1000"));
        assert!(told("glibc.pthread.rseq=0:glibc.malloc.arena_max=2"));
        assert!(!told("glibc.pthread.rseq=0"));
        assert!(!told(""));
        assert!(!sets_malloc_tunables(None));
    }
}
