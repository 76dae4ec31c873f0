//! Stack budget: recursion and deep nesting end in `recursion too deep`,
//! never in a stack-overflow crash.
//!
//! Every recursive pass (lowering, the interpreter, code generation) and
//! every piece of generated code compares the stack pointer against one
//! floor: the lowest address of the current thread's stack plus a red zone.
//! The red zone covers what runs between two checks: a built-in's libm call,
//! a runtime helper, and error reporting.

use crate::error::ErrorKind;

/// Bytes left untouched below the floor.
pub const RED_ZONE: usize = 128 * 1024;

/// Assumed stack size when the platform cannot tell us (conservative).
const UNKNOWN_STACK: usize = 512 * 1024;

/// The floor of the current thread's stack, measured when created.
#[derive(Debug, Clone, Copy)]
pub struct StackGuard {
    floor: usize,
}

/// An address inside the caller's current stack frame. Safe: it only looks
/// at where a local lives, never through the pointer.
#[inline(always)]
pub fn approx_sp() -> usize {
    let marker = 0u8;
    std::hint::black_box(std::ptr::addr_of!(marker)) as usize
}

/// The guard of the current thread (the floor is a property of the
/// thread, not of the depth it is measured at).
impl Default for StackGuard {
    fn default() -> Self {
        StackGuard::here()
    }
}

impl StackGuard {
    /// The guard for the thread this is called on.
    pub fn here() -> StackGuard {
        let sp = approx_sp();
        let remaining = stacker::remaining_stack().unwrap_or(UNKNOWN_STACK);
        StackGuard {
            floor: sp.saturating_sub(remaining) + RED_ZONE,
        }
    }

    /// The lowest stack address generated code may use.
    pub fn floor(&self) -> usize {
        self.floor
    }

    #[inline(always)]
    pub fn check(&self) -> Result<(), ErrorKind> {
        if approx_sp() < self.floor {
            Err(ErrorKind::RecursionTooDeep)
        } else {
            Ok(())
        }
    }
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
}
