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

mod analysis;
mod builtins;
mod engine;
mod error;
mod interp;
mod jit;
mod kernel;
mod lower;
mod native;
mod number;
mod runtime;
mod stack;
mod syntax;

pub use engine::{CodeStats, Engine, ExprHandle, FunctionStats, JitStats, Mode, Options, Outcome};
pub use error::{Error, ErrorKind, Source, Span};
pub use jit::JitEvent;
pub use kernel::Kernel;
pub use native::NativeFn;
pub use number::format as format_number;
pub use runtime::Interrupter;

/// Internals for exprjit's own command line, tests, benchmarks and fuzz
/// targets. Not part of the API: anything here may change at any time.
#[doc(hidden)]
pub mod internals;
