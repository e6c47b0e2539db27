//! Giving a closed channel's memory back to the OS.
//!
//! A channel's buffer is thousands of small chunks (one per upstream read).
//! glibc's malloc keeps freed small chunks in its arenas, and since live
//! allocations sit between them it rarely trims, so a proxy that played a
//! few channels kept their memory after all were closed (the bench's
//! `--churn` run shows it). `malloc_trim` hands whole free pages back. No
//! crate wraps this one libc call; other allocators and platforms return
//! memory on their own.

/// Returns freed heap pages to the OS; call after a channel's buffers were dropped.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only walks malloc's own
    // free lists under malloc's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
