//! What the JIT itself costs: compiling a function (code generation,
//! placement in W^X memory, linkage), patching one call site, and how the
//! engine's bookkeeping scales: a statement among many compiled functions,
//! redefining a function with many compiled callers, a handle of many
//! variables. Each of these costs as much as the work actually done:
//! doubling the count must not more than double the time.
//!
//! `cargo bench --bench jit`. Figures are in docs/performance.md.

// The JIT exists only on x86-64; elsewhere this bench has nothing to measure.
#[cfg(target_arch = "x86_64")]
criterion::criterion_main!(x86::benches);

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    eprintln!("benches/jit.rs measures the x86-64 JIT: nothing to run on this target");
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::hint::black_box;
    use std::time::Duration;

    use criterion::{criterion_group, Criterion};
    use exprjit::{internals, Engine, Mode, Options};

    /// A function body of exactly 50 lowered nodes (checked below): nothing in
    /// it folds away, and it has the calls, comparisons and branches real
    /// formulas have.
    const BODY_50: &str =
        "x < y ? sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x*x) - 3.5*x + y*y - x*y/7 \
                           : hypot(x, y) * (x - y) + exp(x) * y";

    /// The same size, calling itself once: the JIT inlines the self call four
    /// levels deep (`analysis::SelfInline`), so it compiles 250 nodes.
    const RECURSIVE_50: &str = "x < 1 ? sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x*x) - 3.5*x \
                                : r(x - 1, y) * (x - y) + exp(x) * y + -y*y/7";

    /// Lowered nodes of `body`, counted on its S-expression: one per "(" and
    /// one per atom that is not the head right after a "(".
    fn nodes(engine: &mut Engine, body: &str) -> usize {
        let (_, lowered) = engine.explain(body).unwrap();
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
        nodes
    }

    fn compile(c: &mut Criterion) {
        let mut engine = Engine::with_options(Options {
            mode: Mode::Jit,
            ..Options::default()
        });
        engine.eval(&format!("f(x, y) = {BODY_50}")).unwrap();
        engine.eval(&format!("r(x, y) = {RECURSIVE_50}")).unwrap();
        for body in [BODY_50, RECURSIVE_50] {
            let n = nodes(&mut engine, body);
            assert_eq!(n, 50, "{body} lowers to {n} nodes");
        }
        let mut group = c.benchmark_group("compile");
        for (name, function) in [("50-node-function", "f"), ("50-node-self-recursive", "r")] {
            group.bench_function(name, |b| {
                // Time only the compilation the JIT measures itself (codegen,
                // placement, linkage), not the invalidation that precedes it.
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += internals::recompile(&mut engine, function).unwrap();
                    }
                    total
                })
            });
        }
        group.finish();
    }

    fn patch(c: &mut Criterion) {
        let mut write = internals::code_write().unwrap();
        let mut group = c.benchmark_group("patch");
        let mut flip = 0u32;
        // One patch = rewriting a 4-byte rel32 under W^X: mprotect RW, copy,
        // mprotect RX.
        group.bench_function("rel32-write", |b| {
            b.iter(|| {
                flip = flip.wrapping_add(1);
                write(black_box(flip));
            })
        });
        group.finish();
    }

    /// An engine in jit mode with `n` functions compiled.
    fn with_compiled(n: usize) -> Engine {
        let mut e = Engine::with_options(Options {
            mode: Mode::Jit,
            ..Options::default()
        });
        let mut program = String::new();
        for i in 0..n {
            program.push_str(&format!("f{i}(x) = x + {i}\nf{i}(1)\n"));
        }
        e.eval(&program).unwrap();
        e
    }

    /// One statement (`y = 1`, compiled and run in jit mode) among 1,000 to
    /// 16,000 compiled functions: the same cost whatever their number.
    fn statement(c: &mut Criterion) {
        let mut group = c.benchmark_group("statement-among-compiled");
        for n in [1_000, 4_000, 16_000] {
            let mut e = with_compiled(n);
            group.bench_function(n.to_string(), |b| b.iter(|| e.eval("y = 1").unwrap()));
        }
        group.finish();
    }

    /// Redefining `f` with `n` compiled callers patched to it sends `n`
    /// call sites back to the stub, and calling it compiles it and patches
    /// them all again: twice `n` patches a round, so the time doubles with
    /// `n`, no more.
    fn redefine(c: &mut Criterion) {
        let mut group = c.benchmark_group("redefine-with-callers");
        group.sample_size(10);
        for n in [1_000, 4_000, 16_000] {
            let mut e = Engine::with_options(Options {
                mode: Mode::Jit,
                ..Options::default()
            });
            let mut program = String::from("f(x) = x + 1\n");
            for i in 0..n {
                program.push_str(&format!("c{i}(x) = f(x) * 2\nc{i}(1)\n"));
            }
            e.eval(&program).unwrap();
            let mut k = 0u64;
            group.bench_function(n.to_string(), |b| {
                b.iter(|| {
                    k += 1;
                    e.eval(&format!("f(x) = x + {k}\nf(1)")).unwrap()
                })
            });
        }
        group.finish();
    }

    /// A handle of 100,000 to 400,000 variables: checking them for
    /// duplicates is linear.
    fn many_variables(c: &mut Criterion) {
        let mut group = c.benchmark_group("compile-expr-variables");
        group.sample_size(10);
        let mut e = Engine::with_options(Options {
            mode: Mode::Interp,
            ..Options::default()
        });
        for n in [100_000, 200_000, 400_000] {
            let names: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            group.bench_function(n.to_string(), |b| {
                b.iter(|| e.compile_expr("v0 + v1", black_box(&refs)).unwrap())
            });
        }
        group.finish();
    }

    criterion_group! {
        name = benches;
        config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
        targets = compile, patch, statement, redefine, many_variables
    }
}
