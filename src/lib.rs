//! exprjit: a small, fast, honest JIT compiler for arithmetic expressions.
//!
//! The pipeline (see ARCHITECTURE.md): text → [`syntax`] (logos lexer,
//! lalrpop parser, AST) → [`lower`] (the one place that gives constructs
//! their meaning) → [`interp`] (the reference tier). [`Engine`] ties them
//! together for the CLI, the REPL, benchmarks and library users.

pub mod bench;
pub mod builtins;
#[cfg(target_arch = "x86_64")]
pub mod demo;
pub mod engine;
pub mod error;
pub mod interp;
#[cfg(target_arch = "x86_64")]
pub mod jit;
pub mod lower;
pub mod number;
pub mod repl;
pub mod stack;
pub mod syntax;

pub use engine::{
    CodeStats, Engine, ExprHandle, FunctionStats, Interrupter, Mode, Options, Outcome,
};
pub use error::{Error, ErrorKind, Source, Span};
pub use number::format as format_number;
