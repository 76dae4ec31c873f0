//! The command line's subcommands, on top of the library's API.

pub mod bench;
#[cfg(target_arch = "x86_64")]
pub mod demo;
pub mod repl;
