//! `Kernel::eval_batch` over columns, per row, beside the same formula as a
//! native Rust loop over the same slices and beside `Kernel::eval` called
//! once per row.
//!
//! `cargo bench --bench batch` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick pass). Groups:
//! - `batch/poly-4096`, `batch/formula-4096`: 4,096-row columns (they stay
//!   in the L1/L2 cache), one thread. Time per iteration is for all 4,096
//!   rows: divide by 4,096 for ns/row.
//! - `batch/threads-4m`: 4,000,000 rows of the formula split over 1 and 2
//!   threads (`EXPRJIT_THREADS` picks the count in real use; the split is
//!   forced here so that one run measures both).
//! - `batch/split-*`: the polynomial on 16k to 256k rows, on one thread,
//!   split over exprjit's pool, and split over scoped threads started for
//!   each batch: why there is a pool, and where splitting starts.
//!
//! Wall-clock time: the thread rows must not count one thread's CPU time.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use exprjit::internals::{eval_batch_split, has_batch_loop};
use exprjit::{Engine, Kernel, Mode, Options};

const POLY: &str = "x*x*x - 2*x*x*y + 3*x*y*y - 4*y*y*y + 5*x - 6*y + 7";
const FORMULA: &str = "sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x^2)";

fn poly_native(x: f64, y: f64) -> f64 {
    x * x * x - 2.0 * x * x * y + 3.0 * x * y * y - 4.0 * y * y * y + 5.0 * x - 6.0 * y + 7.0
}

/// The formula with the correctly rounded built-ins exprjit calls. (Both
/// natives are inlined into their loop, as a Rust programmer's would be.)
fn formula_native(x: f64, y: f64) -> f64 {
    use exprjit::internals::math::{cos, sin, sqrt};
    sqrt(x * x + y * y) * sin(x) + cos(y) / (1.0 + x * x)
}

fn kernel(text: &str) -> Kernel {
    let mut engine = Engine::with_options(Options {
        mode: Mode::Jit,
        ..Options::default()
    });
    let h = engine.compile_expr(text, &["x", "y"]).expect("compiles");
    let k = engine.kernel(&h).expect("a kernel");
    assert!(has_batch_loop(&k), "{text}: no batch loop");
    k
}

fn columns(rows: usize) -> (Vec<f64>, Vec<f64>) {
    let x = (0..rows)
        .map(|i| 0.25 + (i % 1000) as f64 * 0.003)
        .collect();
    let y = (0..rows).map(|i| 3.0 - (i % 777) as f64 * 0.005).collect();
    (x, y)
}

fn per_row(c: &mut Criterion, group: &str, text: &str, native: impl Fn(f64, f64) -> f64 + Copy) {
    const ROWS: usize = 4096;
    let k = kernel(text);
    let (x, y) = columns(ROWS);
    let mut out = vec![0.0; ROWS];
    // Setup check: every way gives the same bits.
    k.eval_batch(&[&x, &y], &mut out).expect("runs");
    for i in 0..ROWS {
        let want = k.eval(&[x[i], y[i]]).expect("runs");
        assert_eq!(out[i].to_bits(), want.to_bits(), "{group} row {i}");
        assert_eq!(
            native(x[i], y[i]).to_bits(),
            want.to_bits(),
            "{group} native row {i}"
        );
    }
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("native-loop", |b| {
        b.iter(|| {
            for ((o, &x), &y) in out.iter_mut().zip(&x).zip(&y) {
                *o = native(x, y);
            }
            black_box(&mut out);
        })
    });
    g.bench_function("kernel-eval-loop", |b| {
        b.iter(|| {
            for ((o, &x), &y) in out.iter_mut().zip(&x).zip(&y) {
                *o = k.eval(black_box(&[x, y])).unwrap();
            }
            black_box(&mut out);
        })
    });
    g.bench_function("eval-batch", |b| {
        b.iter(|| k.eval_batch(black_box(&[&x, &y]), &mut out).unwrap())
    });
    g.finish();
}

fn poly(c: &mut Criterion) {
    per_row(c, "batch/poly-4096", POLY, poly_native);
}

fn formula(c: &mut Criterion) {
    per_row(c, "batch/formula-4096", FORMULA, formula_native);
}

fn threads(c: &mut Criterion) {
    const ROWS: usize = 4_000_000;
    let k = kernel(FORMULA);
    let (x, y) = columns(ROWS);
    let mut out = vec![0.0; ROWS];
    let mut g = c.benchmark_group("batch/threads-4m");
    g.sample_size(20);
    g.throughput(Throughput::Elements(ROWS as u64));
    for threads in [1, 2] {
        g.bench_function(format!("threads-{threads}"), |b| {
            b.iter(|| eval_batch_split(&k, black_box(&[&x, &y]), &mut out, threads).unwrap())
        });
    }
    g.finish();
}

/// The pool against scoped threads started per batch, on batches around
/// the size below which a batch stays on the calling thread: where
/// splitting starts to pay, and what each way of splitting costs.
fn split(c: &mut Criterion) {
    let k = kernel(POLY);
    for rows in [16 * 1024, 64 * 1024, 256 * 1024] {
        let (x, y) = columns(rows);
        let mut out = vec![0.0; rows];
        let mut g = c.benchmark_group(format!("batch/split-{}k", rows / 1024));
        g.throughput(Throughput::Elements(rows as u64));
        g.bench_function("one-thread", |b| {
            b.iter(|| eval_batch_split(&k, black_box(&[&x, &y]), &mut out, 1).unwrap())
        });
        g.bench_function("pool-2", |b| {
            b.iter(|| eval_batch_split(&k, black_box(&[&x, &y]), &mut out, 2).unwrap())
        });
        g.bench_function("scoped-2", |b| {
            b.iter(|| {
                let half = rows / 2;
                let (lo, hi) = out.split_at_mut(half);
                std::thread::scope(|s| {
                    s.spawn(|| k.eval_batch(&[&x[half..], &y[half..]], hi).unwrap());
                    k.eval_batch(&[&x[..half], &y[..half]], lo).unwrap();
                });
            })
        });
        g.finish();
    }
}

criterion_group!(benches, poly, formula, threads, split);
criterion_main!(benches);
