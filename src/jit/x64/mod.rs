//! The x86-64 backend: code generation ([`emit`]; [`vector`] for batch
//! loops), the boundary between
//! Rust and machine code ([`entry`]), and disassembly ([`disasm`]), behind
//! the JIT's [`Isa`] seam.

#[cfg(feature = "asm")]
pub(crate) mod disasm;
pub(crate) mod emit;
#[cfg(all(test, feature = "asm"))]
mod emit_tests;
pub(crate) mod entry;
pub(crate) mod vector;

#[cfg(feature = "asm")]
use std::collections::HashMap;

use super::{EmitError, Emitted, Isa, Sites};
#[cfg(feature = "asm")]
use crate::builtins::Builtin;
use crate::error::{Error, ErrorKind};
use crate::lower::{Node, Sym};
use crate::runtime::Runtime;

/// `call rel32`
const CALL_REL32: u8 = 0xE8;

/// x86-64, System V.
pub(crate) struct X64;

impl Isa for X64 {
    const MAX_REGS: u8 = emit::MAX_REGS;
    const CALL_LEN: usize = 5;

    fn available() -> Result<(), ErrorKind> {
        Ok(())
    }

    fn glue() -> (Vec<u8>, usize) {
        entry::glue()
    }

    fn function(
        body: &Node,
        arity: usize,
        cost: u64,
        sites: &mut dyn Sites,
        nregs: u8,
        self_sym: Option<Sym>,
    ) -> Result<Emitted, EmitError> {
        emit::function(body, arity, cost, &entry::helpers(), sites, nregs, self_sym)
    }

    fn direct(body: &Node, arity: usize, nregs: u8) -> Result<Option<Vec<u8>>, EmitError> {
        emit::direct_function(body, arity, nregs)
    }

    /// `call rel32`, with `rel32 = target - (at + 5)` if that fits.
    fn call(at: usize, target: usize) -> Option<Vec<u8>> {
        let next = i64::try_from(at + 5).ok()?;
        let rel = i32::try_from(i64::try_from(target).ok()? - next).ok()?;
        let mut bytes = vec![CALL_REL32];
        bytes.extend_from_slice(&rel.to_le_bytes());
        Some(bytes)
    }

    fn decode_call(at: usize, bytes: &[u8]) -> Option<usize> {
        match bytes {
            [CALL_REL32, rel @ ..] if rel.len() == 4 => {
                let rel = i32::from_le_bytes(rel.try_into().ok()?);
                (at + 5).checked_add_signed(isize::try_from(rel).ok()?)
            }
            _ => None,
        }
    }

    unsafe fn enter(
        trampoline: usize,
        rt: &Runtime<'_>,
        entry: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error> {
        // SAFETY: the caller's contract is `entry::enter`'s.
        unsafe { entry::enter(trampoline, rt, entry, args, budget) }
    }

    unsafe fn call_direct(entry: usize, args: &[f64]) -> f64 {
        // SAFETY: the caller's contract is `entry::call_direct`'s.
        unsafe { entry::call_direct(entry, args) }
    }

    const LANES: usize = vector::LANES;

    fn batch(body: &Node, arity: usize) -> Result<Option<Vec<u8>>, EmitError> {
        vector::batch_function(body, arity)
    }

    unsafe fn call_batch(entry: usize, columns: &[&[f64]], out: &mut [f64]) {
        // SAFETY: the caller's contract is `entry::call_batch`'s.
        unsafe { entry::call_batch(entry, columns, out) }
    }

    #[cfg(feature = "asm")]
    fn listing(
        addr: usize,
        bytes: &[u8],
        annotate: &dyn Fn(usize, usize) -> Option<String>,
    ) -> String {
        disasm::listing(addr, bytes, annotate)
    }

    #[cfg(feature = "asm")]
    fn callee_names() -> HashMap<usize, String> {
        let mut names = HashMap::new();
        for &b in Builtin::ALL {
            let name = match b {
                Builtin::Rem => "fmod (the % operator)".to_string(),
                Builtin::Pow => "pow (also the ^ operator)".to_string(),
                _ => b.name().to_string(),
            };
            names.insert(b.address(), name);
        }
        let h = entry::helpers();
        names.insert(h.global, "runtime: read a global variable".into());
        names.insert(h.fail, "runtime: raise this site's error".into());
        names.insert(h.call_failed, "runtime: a call failed".into());
        names.insert(h.native, "runtime: call a native function".into());
        names
    }
}
