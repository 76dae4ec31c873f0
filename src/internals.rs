//! Internals for exprjit's own command line, tests, benchmarks and fuzz
//! targets (`exprjit::internals`). Not part of the API.

pub use crate::syntax::ast;
pub use crate::syntax::{parse_expr, parse_program};

/// The built-in functions, exactly as the tiers call them (for benchmarks
/// that compare with native Rust doing the same work).
pub mod math {
    pub use crate::builtins::{
        abs, acos, acosh, asin, asinh, atan, atan2, atanh, cbrt, ceil, cos, cosh, exp, exp2, floor,
        hypot, ln, log10, log2, max, min, pow, rem, round, sign, sin, sinh, sqrt, tan, tanh, trunc,
    };
}

/// A closure that rewrites 4 bytes of placed code under W^X, as patching
/// a call site does (for the benchmark of a patch).
pub fn code_write() -> Result<impl FnMut(u32), crate::Error> {
    let region = crate::jit::memory::Region::new(1 << 20, false, |_| (vec![0xC3; 16], 0))
        .map_err(|e| crate::ErrorKind::CodeMemory(e.to_string()))?;
    let block = region
        .alloc(64)
        .ok_or_else(|| crate::ErrorKind::CodeMemory("full".into()))?;
    block
        .write(&[0xC3; 64])
        .map_err(|e| crate::ErrorKind::CodeMemory(e.to_string()))?;
    let at = block.addr() + 8;
    Ok(move |x: u32| {
        let _ = region.write(std::hint::black_box(at), &x.to_le_bytes());
        let _ = &block;
    })
}

/// The formula `exprjit bench` measures (and `benches/peers.rs` puts other
/// evaluators on).
pub const BENCH_FORMULA: &str =
    "sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x*x) - 3.5*x + y^2 - x*y/7";

/// Every name a program can use for a built-in, constants first, with
/// how many arguments it takes (`None`: a constant).
pub fn builtins() -> Vec<(&'static str, Option<usize>)> {
    crate::builtins::names()
        .map(|n| match crate::builtins::lookup(n) {
            Some(crate::builtins::Meaning::Func(f)) => (n, Some(f.arity())),
            _ => (n, None),
        })
        .collect()
}

/// `name`, cut short for messages.
pub fn shorten(name: &str) -> String {
    crate::error::shorten(name)
}

/// Whether `name` is an identifier of the language (the engine's own
/// test, for the command line's column and command names).
pub fn is_identifier(name: &str) -> bool {
    crate::engine::is_identifier(name)
}

/// Whether `name` is a built-in's.
pub fn is_builtin(name: &str) -> bool {
    crate::builtins::is_builtin(name)
}

/// The lowered form of `text` as a function of `params`, and its node
/// count.
pub fn lowered(text: &str, params: &[&str]) -> Result<(String, usize), crate::Error> {
    let expr = crate::syntax::parse_expr(text)?;
    let params: Vec<String> = params.iter().map(|p| p.to_string()).collect();
    let mut ns = crate::runtime::Namespace::default();
    let node = crate::lower::lower(&expr, &params, &mut ns)?;
    fn count(n: &crate::lower::Node) -> usize {
        1 + n.children().into_iter().map(count).sum::<usize>()
    }
    Ok((node.to_string(), count(&node)))
}

/// Drops the machine code of the function `name` and compiles it again;
/// returns the compile time.
pub fn recompile(
    engine: &mut crate::Engine,
    name: &str,
) -> Result<std::time::Duration, crate::Error> {
    engine.recompile(name)
}

/// Bytes of machine code held by live kernels (the arena's glue included).
pub fn kernel_code_bytes() -> usize {
    crate::jit::memory::arena::live_bytes()
}

/// The demo's experiments with code memory (x86-64 only).
#[cfg(target_arch = "x86_64")]
pub mod experiments {
    pub use crate::jit::memory::{
        maps_line_of, seed_experiment, writable_and_executable_mappings, wx_experiment, SeedRun,
        WxRun,
    };
}

/// What tests inspect of an engine's JIT: the call sites in a function's
/// code (address of the call instruction, the name called, where it goes
/// now), the function's entry, and the stub's address.
pub fn call_sites(engine: &crate::Engine, function: &str) -> Vec<(usize, String, Option<usize>)> {
    let (ns, jit) = engine.parts();
    let (Some(jit), Some(f)) = (jit, function_named(engine, function)) else {
        return Vec::new();
    };
    jit.call_sites_of(&f)
        .into_iter()
        .map(|(at, sym, to)| (at, ns.name(sym).to_string(), to))
        .collect()
}

/// The entry of `function`'s machine code (0 when it has none).
pub fn entry_of(engine: &crate::Engine, function: &str) -> usize {
    function_named(engine, function).map_or(0, |f| f.tier.entry())
}

/// The bytes of `function`'s machine code.
pub fn code_bytes(engine: &crate::Engine, function: &str) -> Option<Vec<u8>> {
    let (_, jit) = engine.parts();
    jit?.code_bytes(&*function_named(engine, function)?)
}

/// The stub unlinked call sites go to.
pub fn stub_of(engine: &crate::Engine) -> Option<usize> {
    engine.parts().1.map(|j| j.stub_addr())
}

fn function_named(
    engine: &crate::Engine,
    name: &str,
) -> Option<std::sync::Arc<crate::runtime::Function>> {
    let (ns, _) = engine.parts();
    match ns.lookup(name).map(|s| ns.slot(s)) {
        Some(crate::runtime::Slot::Func(f)) => Some(f.clone()),
        _ => None,
    }
}

/// [`crate::Kernel::eval_batch`] with a large batch split into `threads`
/// parts whatever `EXPRJIT_THREADS` says (tests of thread-count
/// independence).
pub fn eval_batch_split(
    kernel: &crate::Kernel,
    columns: &[&[f64]],
    out: &mut [f64],
    threads: usize,
) -> Result<(), crate::Error> {
    kernel.eval_batch_split(columns, out, threads.max(1))
}

/// Whether `kernel` has a batch loop (four rows at a time in machine code).
pub fn has_batch_loop(kernel: &crate::Kernel) -> bool {
    kernel.has_batch_loop()
}

/// Prints numbers as [`crate::format_number`] does, without allocating:
/// `exprjit map` prints millions.
#[derive(Default)]
pub struct NumberPrinter(ryu_js::Buffer);

impl NumberPrinter {
    /// `x` as docs/language.md §5 prints it.
    pub fn format(&mut self, x: f64) -> &str {
        crate::number::format_with(x, &mut self.0)
    }
}
