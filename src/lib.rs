//! exprjit: a small, fast, honest JIT compiler for arithmetic expressions.
//!
//! Programs of expressions and function definitions run first in a
//! tree-walking interpreter; functions and expressions that run often are
//! compiled to x86-64 machine code, and the running program's call sites
//! are patched to call it. Every tier gives the same bits for every
//! program, and the same error at the same place.
//!
//! ```
//! use exprjit::Engine;
//!
//! let mut engine = Engine::new();
//! assert_eq!(engine.eval("f(x) = x^2 + 1; f(3)")?, [10.0]);
//! let h = engine.compile_expr("sqrt(x*x + y*y)", &["x", "y"])?;
//! assert_eq!(engine.eval_handle(&h, &[3.0, 4.0])?, 5.0);
//! # Ok::<(), exprjit::Error>(())
//! ```
//!
//! The whole surface, in one example:
//!
//! ```
//! use exprjit::{Engine, Mode, Options, Error, ExprHandle, Kernel};
//!
//! # fn main() -> Result<(), Error> {
//! # let (xs, ys) = ([3.0, 0.0], [4.0, 1.0]);
//! # let mut out = [0.0; 2];
//! let mut engine = Engine::new();                      // tiered, threshold 1000
//! let mut jit = Engine::with_options(Options { mode: Mode::Jit, threshold: 1000, ..Options::default() });
//! let values: Vec<f64> = engine.eval("f(x) = x^2; f(3)")?;        // [9.0]
//! engine.set_var("k", 2.0)?;
//! let y: f64 = engine.call("f", &[4.0])?;                          // 16.0
//! let h: ExprHandle = engine.compile_expr("sqrt(x*x + y*y) * k", &["x", "y"])?;
//! let v: f64 = engine.eval_handle(&h, &[3.0, 4.0])?;               // 10.0
//! engine.define_native("gauss", |x: f64| (-x * x).exp())?;        // closures of 0 to 4 f64s
//! engine.define_native("lerp2", |a: f64, b: f64| 0.5 * (a + b))?;
//! let k: Kernel = engine.kernel(&h)?;                  // Send + Sync + Clone + 'static
//! let v: f64 = k.eval(&[3.0, 4.0])?;                   // from any thread, concurrently
//! k.eval_batch(&[&xs[..], &ys[..]], &mut out[..])?;    // one column per variable, one out
//! let stop = k.interrupter();                          // stop() makes running evaluations fail
//! # assert_eq!((values, y, v, out), (vec![9.0], 16.0, 10.0, [10.0, 2.0]));
//! # assert_eq!(jit.eval("1 + 1")?, [2.0]);
//! # stop.stop();
//! # Ok(())
//! # }
//! ```
//!
//! # The tiers
//!
//! [`Mode::Interp`] only interprets; [`Mode::Jit`] compiles every function
//! before its first call; [`Mode::Tiered`] (the default) interprets a
//! function until its thousandth call ([`Options::threshold`]) and then
//! compiles it. An expression evaluated many times through an
//! [`ExprHandle`] is promoted like a function; a *pure* one (no calls of
//! user functions, no globals) is then a direct call of machine code.
//!
//! # Many threads: kernels
//!
//! An [`Engine`] patches its code as it runs, so it is used by one thread
//! at a time. To evaluate one formula from many threads, make a
//! [`Kernel`] of it ([`Engine::kernel`]): a frozen snapshot of the
//! expression and everything it can reach, compiled once, `Send + Sync`,
//! evaluated concurrently with [`Kernel::eval`] or over columns of data
//! with [`Kernel::eval_batch`]. Host functions join programs through
//! [`Engine::define_native`].
//!
//! # Safety and limits
//!
//! No use of this API can cause undefined behaviour: machine code stays
//! mapped while anything that can run it exists, a handle used with the
//! wrong engine (or after [`Engine::reset`]) is an error
//! ([`ErrorKind::StaleHandle`]), and no page is ever writable and
//! executable at once. Bad input is an [`Error`], never a panic. Recursion
//! is limited by one stack budget that every tier charges alike, so
//! `recursion too deep` comes at the same call in every tier, on any
//! thread: evaluations that may recurse run on a stack of their own when
//! the calling thread's is too small (switching costs a few instructions;
//! the stack is mapped once per thread).

#![warn(missing_docs)]
// Without a code generator (off x86-64) the half of the analyses and of
// the runtime that serves machine code has no user.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

mod analysis;
mod builtins;
mod cpu;
mod engine;
mod error;
mod interp;
mod jit;
mod kernel;
mod lower;
mod native;
mod number;
mod pool;
mod runtime;
mod stack;
mod syntax;

pub use engine::{
    CodeStats, Engine, ExprHandle, FunctionStats, JitStats, Mode, Options, Outcome, MAX_SOURCE,
};
pub use error::{Error, ErrorKind, Source, Span};
pub use jit::JitEvent;
pub use kernel::Kernel;
pub use native::NativeFn;
pub use number::format as format_number;
pub use runtime::Interrupter;

/// Whether this processor can run exprjit: `Ok` on x86-64-v3 (AVX2 and
/// FMA, which the correctly rounded built-ins are compiled for), otherwise
/// the [`ErrorKind::UnsupportedCpu`] that every evaluation would return.
/// A program can ask once at start instead of at its first evaluation.
pub fn check_cpu() -> Result<(), Error> {
    cpu::check()
}

/// Internals for exprjit's own command line, tests, benchmarks and fuzz
/// targets. Not part of the API: anything here may change at any time.
#[doc(hidden)]
pub mod internals;

/// The README's Rust example compiles and runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
