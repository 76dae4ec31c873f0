//! What the processor must offer before anything is evaluated.
//!
//! The built-ins are CORE-MATH's C, compiled for x86-64-v3 (AVX2 and FMA;
//! see `.cargo/config.toml`): on an older processor their first fused
//! multiply-add would be an illegal instruction. So every way into
//! evaluation (the engine's entry points; a kernel or a handle exists only
//! after one of them) asks [`check`] first and a missing feature is an
//! error, not a fault. Elsewhere than x86-64 the C is compiled for what the
//! compiler targets, and there is nothing to check.

use crate::error::{Error, ErrorKind};

/// `Ok` when this processor runs the built-ins; otherwise an
/// [`ErrorKind::UnsupportedCpu`] naming what it lacks.
pub(crate) fn check() -> Result<(), Error> {
    match missing() {
        None => Ok(()),
        Some(lacks) => Err(ErrorKind::UnsupportedCpu(format!(
            "exprjit needs an x86-64-v3 processor (AVX2 and FMA, 2013 and later); this one lacks {lacks}"
        ))
        .into()),
    }
}

/// The features the built-ins need that this processor lacks, if any.
/// (The standard library caches what it detected: this is a load and a
/// test.)
#[cfg(target_arch = "x86_64")]
fn missing() -> Option<&'static str> {
    let avx2 = std::arch::is_x86_feature_detected!("avx2");
    let fma = std::arch::is_x86_feature_detected!("fma");
    match (avx2, fma) {
        (true, true) => None,
        (false, true) => Some("AVX2"),
        (true, false) => Some("FMA"),
        (false, false) => Some("AVX2 and FMA"),
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn missing() -> Option<&'static str> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The machine the tests run on is supported (the tests under
    /// `qemu-x86_64 -cpu qemu64` in `tests/cpu.rs` check the refusal).
    #[test]
    fn this_machine_is_supported() {
        assert!(check().is_ok(), "{:?}", check());
    }
}
