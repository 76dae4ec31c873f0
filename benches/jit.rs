//! What the JIT itself costs: compiling a function (code generation,
//! placement in W^X memory, linkage) and patching one call site.
//!
//! `cargo bench --bench jit`. Figures are quoted in the README and in
//! `src/jit/memory.rs`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use exprjit::jit::memory::CodeMemory;
use exprjit::{Engine, Mode, Options};

/// A function body of exactly 50 lowered nodes (checked below): nothing in
/// it folds away, and it has the calls, comparisons and branches real
/// formulas have.
const BODY_50: &str =
    "x < y ? sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x*x) - 3.5*x + y*y - x*y/7 \
                       : hypot(x, y) * (x - y) + exp(x) * y";

fn compile(c: &mut Criterion) {
    let mut engine = Engine::with_options(Options {
        mode: Mode::Jit,
        ..Options::default()
    });
    engine.eval(&format!("f(x, y) = {BODY_50}")).unwrap();
    let (_, lowered) = engine.explain(BODY_50).unwrap();
    // Nodes of the S-expression: one per "(" and one per atom that is not
    // the head right after a "(".
    let mut nodes = 0;
    let mut after_paren = false;
    for token in lowered
        .replace('(', " ( ")
        .replace(')', " ")
        .split_whitespace()
    {
        if token == "(" {
            nodes += 1;
            after_paren = true;
        } else {
            if !after_paren {
                nodes += 1;
            }
            after_paren = false;
        }
    }
    assert_eq!(nodes, 50, "BODY_50 lowers to {nodes} nodes: {lowered}");
    let mut group = c.benchmark_group("compile");
    group.bench_function("50-node-function", |b| {
        // Time only the compilation the JIT measures itself (codegen,
        // placement, linkage), not the invalidation that precedes it.
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += engine.recompile("f").unwrap();
            }
            total
        })
    });
    group.finish();
}

fn patch(c: &mut Criterion) {
    let mut mem = CodeMemory::new().unwrap();
    let addr = mem.alloc(64).unwrap();
    mem.write(addr, &[0xC3; 64]).unwrap();
    let mut group = c.benchmark_group("patch");
    let mut flip = 0u32;
    // One patch = rewriting a 4-byte rel32 under W^X: mprotect RW, copy,
    // mprotect RX.
    group.bench_function("rel32-write", |b| {
        b.iter(|| {
            flip = flip.wrapping_add(1);
            mem.write(black_box(addr + 8), &flip.to_le_bytes()).unwrap();
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = compile, patch
}
criterion_main!(benches);
