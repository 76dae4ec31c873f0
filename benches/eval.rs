//! Tier benchmarks: each group runs one workload natively in Rust and then
//! through the engine in every tier listed in [`TIERS`].
//!
//! Run with `cargo bench --bench eval` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick pass). To add a tier, add a row to
//! [`TIERS`]; every group picks it up.
//!
//! On a shared machine, set `EXPRJIT_BENCH_CPU=1` to measure the CPU time
//! of the benchmarking thread instead of wall-clock time, so that time the
//! thread spends descheduled behind other jobs is not counted.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use exprjit::{Engine, Mode, Options};

/// Every tier the engine offers, as the row name criterion reports.
/// `jit` and `tiered` run the interpreter until the JIT lands.
const TIERS: &[(&str, Mode)] = &[
    ("interp", Mode::Interp),
    ("jit", Mode::Jit),
    ("tiered", Mode::Tiered),
];

#[path = "support/clock.rs"]
mod clock;
use clock::Clock;

fn engine(mode: Mode) -> Engine {
    Engine::with_options(Options {
        mode,
        ..Options::default()
    })
}

// ---------------------------------------------------------------------------
// fib(20): user-function calls, comparisons, conditionals.

const FIB_DEF: &str = "fib(n) = n < 2 ? n : fib(n-1) + fib(n-2)";
const FIB_N: f64 = 20.0;

/// The same algorithm as `FIB_DEF`, on `f64`, in Rust.
fn fib_native(n: f64) -> f64 {
    if n < 2.0 {
        n
    } else {
        fib_native(n - 1.0) + fib_native(n - 2.0)
    }
}

fn fib(c: &mut Criterion<Clock>) {
    let want = fib_native(FIB_N);
    let mut group = c.benchmark_group("fib20");
    group.bench_function("native", |b| b.iter(|| fib_native(black_box(FIB_N))));
    for &(name, mode) in TIERS {
        let mut e = engine(mode);
        e.eval(FIB_DEF).expect("fib defines");
        let got = e.call("fib", &[FIB_N]).expect("fib runs");
        assert_eq!(got.to_bits(), want.to_bits(), "fib(20) in {name}");
        group.bench_function(name, |b| {
            b.iter(|| e.call("fib", black_box(&[FIB_N])).unwrap())
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// A 20-node formula over x and y, through the expression handle.

/// 19 nodes after lowering (checked below): 3 built-in calls (sqrt, sin,
/// cos), a square (`x^2` is `x*x`, exactly), 6 arithmetic operators, 9
/// leaves.
const FORMULA: &str = "sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x^2)";
const FORMULA_NODES: usize = 19;
const X: f64 = 0.7;
const Y: f64 = 1.3;

/// `FORMULA` in Rust, calling the very built-ins the tiers call (the
/// correctly rounded ones), so the comparison is of evaluation overhead:
/// the same work, done natively.
fn formula_native(x: f64, y: f64) -> f64 {
    use exprjit::internals::math::{cos, sin, sqrt};
    sqrt(x * x + y * y) * sin(x) + cos(y) / (1.0 + x * x)
}

fn formula(c: &mut Criterion<Clock>) {
    let (lowered, nodes) =
        exprjit::internals::lowered(FORMULA, &["x", "y"]).expect("formula lowers");
    assert_eq!(nodes, FORMULA_NODES, "{lowered}");

    let want = formula_native(X, Y);
    let mut group = c.benchmark_group("formula20");
    group.bench_function("native", |b| {
        b.iter(|| formula_native(black_box(X), black_box(Y)))
    });
    for &(name, mode) in TIERS {
        let mut e = engine(mode);
        let h = e
            .compile_expr(FORMULA, &["x", "y"])
            .expect("formula compiles");
        let got = e.eval_handle(&h, &[X, Y]).expect("formula runs");
        assert_eq!(got.to_bits(), want.to_bits(), "formula in {name}");
        group.bench_function(name, |b| {
            b.iter(|| e.eval_handle(&h, black_box(&[X, Y])).unwrap())
        });
        // The same formula as a kernel (hot handle first, as a user's).
        let k = e.kernel(&h).expect("formula freezes");
        assert_eq!(k.eval(&[X, Y]).unwrap().to_bits(), want.to_bits());
        group.bench_function(format!("kernel-{name}"), |b| {
            b.iter(|| k.eval(black_box(&[X, Y])).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(Clock::from_env());
    targets = fib, formula
}
criterion_main!(benches);
