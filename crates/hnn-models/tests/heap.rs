//! glibc's heap kept between allocations ([`hnn_models::cpu::keep_freed_heap`]). One test in its
//! own process: it changes the allocator's settings and reads the process's resident memory.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use hnn_models::cpu::{HeapSetting, MMAP_THRESHOLD, give_back_freed_heap, keep_freed_heap};

    /// Above glibc's default `mmap` threshold (128 KiB), below the one hnn sets.
    const BLOCK: usize = 16 << 20;
    const _: () = assert!(BLOCK < MMAP_THRESHOLD);

    fn resident_bytes() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        // SAFETY: sysconf reads a constant of the system.
        pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
    }

    fn mapped_bytes() -> usize {
        // SAFETY: mallinfo2 only reads the allocator's counters.
        unsafe { libc::mallinfo2() }.hblkhd
    }

    /// Allocates and touches a block, frees it; (whether it got its own `mmap`, resident bytes
    /// given back by the free).
    fn allocate_and_free() -> (bool, isize) {
        let mapped = mapped_bytes();
        let block = std::hint::black_box(vec![1u8; BLOCK]);
        let own_map = mapped_bytes() >= mapped + BLOCK;
        let held = resident_bytes();
        drop(block);
        (own_map, held as isize - resident_bytes() as isize)
    }

    #[test]
    fn a_freed_block_stays_resident_once_the_heap_is_kept_until_given_back() {
        let (own_map, given_back) = allocate_and_free();
        assert!(own_map, "glibc's default: a 16 MiB block gets its own mmap");
        assert!(
            given_back >= (BLOCK * 3 / 4) as isize,
            "and its free unmaps it: {given_back} bytes"
        );

        assert_eq!(keep_freed_heap(), HeapSetting::Kept);
        for _ in 0..3 {
            let (own_map, given_back) = allocate_and_free();
            assert!(!own_map, "a 16 MiB block comes from the heap");
            assert!(
                given_back < (BLOCK / 4) as isize,
                "and stays resident when freed: {given_back} bytes given back"
            );
        }
        let kept = resident_bytes();
        give_back_freed_heap();
        let given_back = kept as isize - resident_bytes() as isize;
        assert!(
            given_back >= (BLOCK * 3 / 4) as isize,
            "give_back_freed_heap returned {given_back} bytes"
        );
    }
}
