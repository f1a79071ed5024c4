//! Handing the memory the allocator holds free back to the system.
//!
//! glibc's malloc returns freed memory to the system only from the top of each arena, so the
//! pages a burst of work freed below a live allocation stay resident. The soak (issue 16,
//! BENCHMARKS.md) saw it as a step in RSS at each prune of old history, with the heap in use
//! flat: `malloc_trim(0)` by hand gave back 1.7 of 16.4 MiB of anonymous memory. No crate
//! wraps this one call, so it is the workspace's one `unsafe` block.

/// Asks the allocator to return the free pages of all its arenas to the system. It walks
/// and locks each arena in turn, so call it after a burst of work, not on a hot path. Does
/// nothing off glibc (musl, macOS and Windows return large blocks themselves and have no
/// such call). Returns whether anything was given back.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `malloc_trim` takes no pointer and touches only glibc's own free lists, under
    // the arenas' locks, like any other allocator call.
    unsafe {
        libc::malloc_trim(0) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_freed_below_a_live_allocation_goes_back_to_the_system() {
        // 64 MiB in small blocks, one kept on top of them: without a trim, glibc keeps the
        // freed ones resident, and after it they are gone from RSS.
        let blocks: Vec<Vec<u8>> = (0..16_384).map(|_| vec![1u8; 4096]).collect();
        let keep = vec![2u8; 4096];
        drop(blocks);
        let before = resident_kib();
        let released = release_free_memory();
        let after = resident_kib();
        std::hint::black_box(&keep);
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(released, "nothing was given back");
            assert!(
                after + 32 * 1024 < before,
                "RSS {before} KiB before the trim, {after} KiB after"
            );
        }
    }

    fn resident_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}
