//! The stack evaluations run on: a floor every recursive pass checks, and
//! a stack of our own for threads whose stack is too small.
//!
//! Recursion is bounded by the budget of [`crate::analysis`], charged alike
//! by every tier; this module makes sure the budget runs out first. Every
//! evaluation (and every parse, lowering and compilation, which recurse
//! over deep trees) runs through [`with_eval_stack`]: on a thread with
//! [`EVAL_STACK`] bytes to spare (the command line's evaluation thread) it
//! runs in place; on any other thread it runs on that thread's *evaluation
//! stack*, mapped once per thread and reused, so the limits and errors are
//! the same whatever thread evaluates. Switching costs a few instructions
//! (`psm::on_stack`); mapping the stack is done once per thread and
//! reserves address space only (`MAP_NORESERVE`: pages are committed as
//! deep recursion touches them).
//!
//! [`StackGuard`] is the floor of the stack in use, plus a red zone for
//! what runs between two checks (a built-in, a runtime helper, error
//! reporting). The analyses compare against it at every node and machine
//! code in every prologue: it is the backstop behind the budget, so that
//! even a wrong charge would end in `recursion too deep`, never a crash.
//!
//! This is one of the three places `unsafe` is allowed (with code memory
//! and the machine-code boundary): mapping a stack and switching to it.

use std::cell::RefCell;

use crate::error::ErrorKind;

/// Bytes left untouched below the floor.
pub(crate) const RED_ZONE: usize = 128 * 1024;

/// The stack every evaluation may use. Unoptimised builds have Rust
/// frames several times larger (calls between tiers cross Rust frames).
pub(crate) const EVAL_STACK: usize = if cfg!(debug_assertions) {
    2 << 30
} else {
    512 << 20
};

/// An evaluation runs in place when at least this much stack is left.
const ENOUGH: usize = EVAL_STACK - (4 << 20);

/// Assumed stack size when the platform cannot tell us (conservative).
const UNKNOWN_STACK: usize = 512 * 1024;

/// The floor of the stack in use, measured when created.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StackGuard {
    floor: usize,
}

/// An address inside the caller's current stack frame. Safe: it only looks
/// at where a local lives, never through the pointer.
#[inline(always)]
pub(crate) fn approx_sp() -> usize {
    let marker = 0u8;
    std::hint::black_box(std::ptr::addr_of!(marker)) as usize
}

impl StackGuard {
    /// The guard for the stack this is called on.
    pub(crate) fn here() -> StackGuard {
        let sp = approx_sp();
        let known = KNOWN.get();
        let low = if known.on_eval_stack(sp) {
            known.eval_low
        } else {
            thread_low(known)
        };
        StackGuard {
            floor: low + RED_ZONE,
        }
    }

    /// The lowest stack address generated code may use.
    pub(crate) fn floor(&self) -> usize {
        self.floor
    }

    #[inline(always)]
    pub(crate) fn check(&self) -> Result<(), ErrorKind> {
        if approx_sp() < self.floor {
            Err(ErrorKind::RecursionTooDeep)
        } else {
            Ok(())
        }
    }
}

/// What this thread knows of its stacks, in one cell so that the common
/// question — "is there room here?" — is one thread-local read.
#[derive(Debug, Clone, Copy, Default)]
struct Known {
    /// The lowest address of the thread's own stack (0 until measured).
    thread_low: usize,
    /// The usable range of the thread's evaluation stack (empty until it
    /// is mapped).
    eval_low: usize,
    eval_high: usize,
}

impl Known {
    #[inline(always)]
    fn on_eval_stack(&self, sp: usize) -> bool {
        sp >= self.eval_low && sp < self.eval_high
    }
}

thread_local! {
    static KNOWN: std::cell::Cell<Known> = const {
        std::cell::Cell::new(Known { thread_low: 0, eval_low: 0, eval_high: 0 })
    };
    /// The evaluation stack's mapping, unmapped when the thread ends.
    static EVAL: RefCell<Option<Mapping>> = const { RefCell::new(None) };
}

/// The lowest address of this thread's own stack, measured once.
fn thread_low(known: Known) -> usize {
    if known.thread_low != 0 {
        return known.thread_low;
    }
    let sp = approx_sp();
    let low = sp.saturating_sub(stacker::remaining_stack().unwrap_or(UNKNOWN_STACK));
    KNOWN.set(Known {
        thread_low: low,
        ..known
    });
    low
}

/// Runs `f` with [`EVAL_STACK`] bytes of stack: in place when there is
/// that much left (or when already on the evaluation stack), else on this
/// thread's evaluation stack. Panics inside `f` propagate.
#[inline]
pub(crate) fn with_eval_stack<R>(f: impl FnOnce() -> R) -> R {
    let sp = approx_sp();
    let known = KNOWN.get();
    if known.on_eval_stack(sp) || sp.saturating_sub(thread_low(known)) >= ENOUGH {
        return f();
    }
    switch(f)
}

#[inline(never)]
fn switch<R>(f: impl FnOnce() -> R) -> R {
    let known = KNOWN.get();
    let mapped =
        (known.eval_high != 0).then_some((known.eval_low, known.eval_high - known.eval_low));
    let Some((base, size)) = mapped.or_else(thread_eval_stack) else {
        // No memory for a stack: run in place; the floor still stops
        // recursion cleanly, only earlier than on a big stack.
        return f();
    };
    let mut out = None;
    let run = || {
        out = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    };
    // SAFETY: [base, base + size) is this thread's evaluation stack,
    // mapped read+write by `Mapping::new` (with a guard page below `base`),
    // page-aligned, and not in use: we are not running on it (checked by
    // the caller), and only this thread ever runs on it. `run` cannot
    // unwind (it catches every panic), as `on_stack` requires.
    unsafe { psm::on_stack(base as *mut u8, size, run) };
    match out {
        Some(Ok(r)) => r,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => unreachable!("on_stack ran the callback"),
    }
}

/// One thread's evaluation stack: `size` bytes above a guard page.
struct Mapping {
    /// Start of the mapping (the guard page).
    start: usize,
    len: usize,
    /// Lowest usable address (above the guard page).
    base: usize,
    size: usize,
}

impl Mapping {
    fn new(size: usize) -> Option<Mapping> {
        let page = page_size();
        let len = size + page;
        // SAFETY: a fresh anonymous private mapping at an address the
        // kernel chooses; it aliases nothing. NORESERVE: address space
        // only, committed as touched.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        let start = ptr as usize;
        // SAFETY: the first page of the mapping just made; making it
        // inaccessible turns running off the end into a fault, not a
        // write into another mapping.
        if unsafe { libc::mprotect(ptr, page, libc::PROT_NONE) } != 0 {
            // SAFETY: unmapping exactly what was mapped above.
            unsafe { libc::munmap(ptr, len) };
            return None;
        }
        Some(Mapping {
            start,
            len,
            base: start + page,
            size,
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `new`. It is dropped
        // with the thread's locals, when nothing runs on it.
        unsafe { libc::munmap(self.start as *mut libc::c_void, self.len) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

/// This thread's evaluation stack `(base, size)`, mapped on first use.
fn thread_eval_stack() -> Option<(usize, usize)> {
    EVAL.try_with(|cell| {
        let mut m = cell.borrow_mut();
        if m.is_none() {
            *m = Mapping::new(EVAL_STACK);
            if let Some(m) = m.as_ref() {
                KNOWN.set(Known {
                    eval_low: m.base,
                    eval_high: m.base + m.size,
                    ..KNOWN.get()
                });
            }
        }
        m.as_ref().map(|m| (m.base, m.size))
    })
    .ok()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burn(guard: &StackGuard, depth: usize) -> Result<usize, ErrorKind> {
        guard.check()?;
        let pad = std::hint::black_box([0u8; 512]);
        let below = burn(guard, depth + 1)?;
        Ok(below + usize::from(pad[depth % 512]))
    }

    #[test]
    fn unbounded_recursion_is_stopped_before_the_guard_page() {
        let result = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(|| burn(&StackGuard::here(), 0))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(result, Err(ErrorKind::RecursionTooDeep));
    }

    /// On a 64 KiB thread the evaluation stack gives the full depth, and
    /// the guard measured on it is that stack's floor.
    #[test]
    fn a_small_thread_evaluates_on_a_stack_of_its_own() {
        let (small, big) = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(|| {
                let small = burn(&StackGuard::here(), 0).err();
                let big = with_eval_stack(|| {
                    let guard = StackGuard::here();
                    let left = approx_sp() - guard.floor();
                    // Nested: already on the evaluation stack, so in place.
                    let nested = with_eval_stack(|| StackGuard::here().floor());
                    (left >= ENOUGH - RED_ZONE, nested == guard.floor())
                });
                (small, big)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(small, Some(ErrorKind::RecursionTooDeep));
        assert_eq!(big, (true, true));
    }

    #[test]
    fn a_panic_on_the_evaluation_stack_reaches_the_caller() {
        let caught = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(|| std::panic::catch_unwind(|| with_eval_stack(|| panic!("inside"))).is_err())
            .unwrap()
            .join()
            .unwrap();
        assert!(caught);
    }
}
