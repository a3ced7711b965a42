//! glibc's heap kept between allocations ([`hnn_models::cpu::keep_freed_heap`]). One check in
//! its own process, run on the main thread (`harness = false`): it changes the allocator's
//! settings and reads the process's resident memory, and only the main thread's heap (the one a
//! run's main thread allocates from) is given back by `malloc_trim`.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use hnn_models::cpu::{HeapSetting, MMAP_THRESHOLD, give_back_freed_heap, keep_freed_heap};

    /// Above glibc's default `mmap` threshold (128 KiB), below the one hnn sets.
    const BLOCK: usize = 16 << 20;
    const _: () = assert!(BLOCK < MMAP_THRESHOLD);
    /// For glibc's defaults, smaller: freeing a mapped block raises glibc's trim threshold to
    /// twice its size, which must stay under `BLOCK` for the kept heap to be told from it.
    const SMALL: usize = 1 << 20;

    /// Resident bytes, read without allocating: an allocation here would sit above the block on
    /// the heap and keep glibc from trimming it.
    fn resident_bytes() -> usize {
        use std::io::Read;
        let mut buf = [0u8; 256];
        let mut file = std::fs::File::open("/proc/self/statm").expect("/proc/self/statm");
        let n = file.read(&mut buf).expect("/proc/self/statm");
        let statm = std::str::from_utf8(&buf[..n]).unwrap();
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
    fn allocate_and_free(size: usize) -> (bool, isize) {
        let mapped = mapped_bytes();
        let block = std::hint::black_box(vec![1u8; size]);
        let own_map = mapped_bytes() >= mapped + size;
        let held = resident_bytes();
        drop(block);
        (own_map, held as isize - resident_bytes() as isize)
    }

    pub fn a_freed_block_stays_resident_once_the_heap_is_kept_until_given_back() {
        let (own_map, given_back) = allocate_and_free(SMALL);
        assert!(own_map, "glibc's default: a 1 MiB block gets its own mmap");
        assert!(
            given_back >= (SMALL * 3 / 4) as isize,
            "and its free unmaps it: {given_back} bytes"
        );

        assert_eq!(keep_freed_heap(), HeapSetting::Kept);
        for _ in 0..3 {
            let (own_map, given_back) = allocate_and_free(BLOCK);
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

fn main() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        glibc::a_freed_block_stays_resident_once_the_heap_is_kept_until_given_back();
        println!("heap: a freed block stays resident once the heap is kept, until given back: ok");
    }
}
