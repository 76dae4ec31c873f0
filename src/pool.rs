//! The threads a large [`crate::Kernel::eval_batch`] is shared among: a
//! pool of exprjit's own (not the process-wide rayon pool, whose threads
//! the host program may be using), made at the first batch that needs it.
//!
//! `EXPRJIT_THREADS` sets how many threads compute a batch, the calling
//! thread included: a positive integer (1: the calling thread only);
//! unset, or anything else, means one per core. It is read once.

use std::sync::OnceLock;

/// Threads per batch, the calling thread included.
pub(crate) fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("EXPRJIT_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// The pool: `threads() - 1` workers beside the calling thread. `None` if
/// the operating system would not start them (batches then stay on the
/// calling thread).
pub(crate) fn get() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads().saturating_sub(1).max(1))
            .thread_name(|i| format!("exprjit-batch-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}
