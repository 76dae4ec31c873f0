//! exprjit next to the Rust expression evaluators a user would otherwise
//! pick — fasteval, meval, evalexpr and exmex — and next to the same
//! formula written in Rust. One criterion group per formula; every row
//! evaluates the formula once per iteration, with `(x, y)` taken in turn
//! from [`inputs`] so that nothing folds to a constant.
//!
//! `cargo bench --bench peers` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick pass). The README's table of ratios
//! comes from this file. As in `benches/eval.rs`, `EXPRJIT_BENCH_CPU=1`
//! measures the benchmarking thread's CPU time instead of wall-clock time,
//! for a shared machine.
//!
//! Each peer runs in its fastest documented mode, set up once outside the
//! measured loop:
//! - fasteval: the compiled `Instruction` with its `Slab`, variables served
//!   by a closure namespace (`fasteval`) or, with the `unsafe-vars` feature,
//!   read through registered pointers (`fasteval-unsafe-vars`);
//! - meval: the `bind2` closure;
//! - evalexpr: the precompiled `Node`, with a `Context` that answers `x`,
//!   `y` and the three maths functions without hashing or allocating;
//! - exmex: the parsed `FlatEx`, variables passed as a slice.
//!
//! Before anything is measured, setup checks every row against exprjit's
//! interpreter on every input: exprjit's tiers and `native-cr` (Rust
//! calling the same correctly rounded built-ins) must give the same bits;
//! the peers and `native` use glibc's libm, which is not correctly rounded,
//! so how many ulps they differ by is printed on stderr (more than 1e-12
//! relative fails: that would be a different formula).

use std::cell::Cell;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use evalexpr::{Context, EvalexprError, EvalexprResult, Value};
use exmex::prelude::*;
use exprjit::{Engine, ExprHandle, Mode, Options};
use fasteval::{Compiler, Evaler};

#[path = "support/clock.rs"]
mod clock;
use clock::Clock;

/// Inputs, used in turn: 16 points, none of them special.
fn inputs() -> [(f64, f64); 16] {
    std::array::from_fn(|i| {
        let i = i as f64;
        (0.25 + i * 0.5, 3.0 - i * 0.25)
    })
}

/// One formula, spelled for every evaluator.
struct Formula {
    /// The criterion group.
    group: &'static str,
    exprjit: &'static str,
    /// In Rust, with the standard library's maths functions.
    native: fn(f64, f64) -> f64,
    /// In Rust, with the correctly rounded built-ins exprjit calls.
    native_cr: fn(f64, f64) -> f64,
    /// fasteval has no `sqrt`: `a^0.5` stands in for `sqrt(a)`.
    fasteval: &'static str,
    meval: &'static str,
    /// evalexpr names its maths functions `math::…`; float literals keep
    /// every operation in floating point.
    evalexpr: &'static str,
    exmex: &'static str,
}

/// `exprjit::internals::BENCH_FORMULA` in Rust, as written, with the
/// standard library's (glibc's) `sin` and `cos`: rustc turns `powf(y, 2.0)`
/// into `y * y`.
fn formula_native(x: f64, y: f64) -> f64 {
    (x * x + y * y).sqrt() * x.sin() + y.cos() / (1.0 + x * x) - 3.5 * x + y.powf(2.0) - x * y / 7.0
}

/// The same with the correctly rounded built-ins exprjit calls: the same
/// work as exprjit's, done natively.
fn formula_native_cr(x: f64, y: f64) -> f64 {
    use exprjit::internals::math::{cos, sin, sqrt};
    sqrt(x * x + y * y) * sin(x) + cos(y) / (1.0 + x * x) - 3.5 * x + y * y - x * y / 7.0
}

const POLY: &str = "x*x*x - 2*x*x*y + 3*x*y*y - 4*y*y*y + 5*x - 6*y + 7";

fn poly_native(x: f64, y: f64) -> f64 {
    x * x * x - 2.0 * x * x * y + 3.0 * x * y * y - 4.0 * y * y * y + 5.0 * x - 6.0 * y + 7.0
}

fn formulas() -> [Formula; 2] {
    [
        Formula {
            group: "peers/formula20",
            exprjit: exprjit::internals::BENCH_FORMULA,
            native: formula_native,
            native_cr: formula_native_cr,
            fasteval: "(x*x + y*y)^0.5 * sin(x) + cos(y) / (1 + x*x) - 3.5*x + y^2 - x*y/7",
            meval: exprjit::internals::BENCH_FORMULA,
            evalexpr: "math::sqrt(x*x + y*y) * math::sin(x) + math::cos(y) / (1.0 + x*x) \
                       - 3.5*x + y^2.0 - x*y/7.0",
            exmex: exprjit::internals::BENCH_FORMULA,
        },
        Formula {
            group: "peers/poly",
            exprjit: POLY,
            native: poly_native,
            native_cr: poly_native,
            fasteval: POLY,
            meval: POLY,
            evalexpr: "x*x*x - 2.0*x*x*y + 3.0*x*y*y - 4.0*y*y*y + 5.0*x - 6.0*y + 7.0",
            exmex: POLY,
        },
    ]
}

/// An evalexpr context holding just `x` and `y`, which also serves the
/// formula's maths functions itself: evalexpr's own fallback to its
/// built-ins goes through an error that allocates the function's name.
struct XyContext {
    x: Value,
    y: Value,
}

impl Context for XyContext {
    fn get_value(&self, identifier: &str) -> Option<&Value> {
        match identifier {
            "x" => Some(&self.x),
            "y" => Some(&self.y),
            _ => None,
        }
    }

    fn call_function(&self, identifier: &str, argument: &Value) -> EvalexprResult<Value> {
        let f: fn(f64) -> f64 = match identifier {
            "math::sqrt" => f64::sqrt,
            "math::sin" => f64::sin,
            "math::cos" => f64::cos,
            _ => {
                return Err(EvalexprError::FunctionIdentifierNotFound(
                    identifier.to_string(),
                ))
            }
        };
        Ok(Value::Float(f(argument.as_number()?)))
    }

    fn are_builtin_functions_disabled(&self) -> bool {
        false
    }

    fn set_builtin_functions_disabled(&mut self, disabled: bool) -> EvalexprResult<()> {
        if disabled {
            Err(EvalexprError::CustomMessage(
                "XyContext keeps evalexpr's built-ins".into(),
            ))
        } else {
            Ok(())
        }
    }
}

/// An engine in `mode` with a handle on `text` over `x, y`, hot: in jit
/// and tiered mode (tiered warmed past its threshold) the handle has
/// machine code before anything is measured.
fn exprjit_handle(mode: Mode, text: &str) -> (Engine, ExprHandle) {
    let mut engine = Engine::with_options(Options {
        mode,
        ..Options::default()
    });
    let handle = engine.compile_expr(text, &["x", "y"]).expect("compiles");
    let warm = match mode {
        Mode::Interp | Mode::Jit => 1,
        Mode::Tiered => u64::from(engine.options().threshold) + 16,
    };
    let xs = inputs();
    for i in 0..warm {
        let (x, y) = xs[i as usize % xs.len()];
        engine.eval_handle(&handle, &[x, y]).expect("runs");
    }
    let compiled = engine.handle_stats(&handle).code.is_some();
    assert_eq!(compiled, mode != Mode::Interp, "{mode:?}: machine code");
    (engine, handle)
}

/// How many representable values lie between `a` and `b` (0: the same
/// bits; `u64::MAX` if either is NaN).
fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() || b.is_nan() {
        return u64::MAX;
    }
    // Map the bits to integers in the order of the values they encode.
    let ordered = |x: f64| {
        let i = x.to_bits() as i64;
        if i < 0 {
            i64::MIN - i
        } else {
            i
        }
    };
    ordered(a).abs_diff(ordered(b))
}

/// Compares a row's values with exprjit's. exprjit's tiers, and native
/// Rust calling the same correctly rounded built-ins, must give the same
/// bits (`exact`). The peers call glibc's libm, which is not correctly
/// rounded: their differences are reported in ulps on stderr, and only a
/// relative error above 1e-12 (a formula spelled differently, not a
/// rounding) fails.
fn check(group: &str, row: &str, want: &[f64], got: &[f64], exact: bool) {
    let differ: Vec<u64> = want
        .iter()
        .zip(got)
        .map(|(&w, &g)| ulps(w, g))
        .filter(|&d| d != 0)
        .collect();
    let worst_rel = want
        .iter()
        .zip(got)
        .filter(|(w, g)| w.to_bits() != g.to_bits())
        .map(|(&w, &g)| ((g - w) / w).abs())
        .fold(
            0.0f64,
            |m, r| if r.is_nan() { f64::INFINITY } else { m.max(r) },
        );
    assert!(
        !exact || differ.is_empty(),
        "{group}/{row}: {} of {} values differ from exprjit interp",
        differ.len(),
        want.len()
    );
    assert!(
        worst_rel <= 1e-12,
        "{group}/{row}: relative error {worst_rel:e} from exprjit interp: not the same formula?"
    );
    match differ.iter().max() {
        None => eprintln!(
            "{group}/{row}: bit-identical to exprjit on {} inputs",
            want.len()
        ),
        Some(most) => eprintln!(
            "{group}/{row}: {} of {} values differ from exprjit, by {} ulp at most",
            differ.len(),
            want.len(),
            most
        ),
    }
}

/// Benches `eval` as row `name`, cycling through the inputs.
fn row(g: &mut BenchmarkGroup<'_, Clock>, name: &str, mut eval: impl FnMut(f64, f64) -> f64) {
    let xs = inputs();
    let mut i = 0usize;
    g.bench_function(name, |b| {
        b.iter(|| {
            let (x, y) = black_box(xs[i % xs.len()]);
            i = i.wrapping_add(1);
            eval(x, y)
        })
    });
}

fn bench_formula(c: &mut Criterion<Clock>, f: &Formula) {
    let xs = inputs();
    let values = |eval: &mut dyn FnMut(f64, f64) -> f64| -> Vec<f64> {
        xs.iter().map(|&(x, y)| eval(x, y)).collect()
    };

    // exprjit, the reference: its interpreter defines the value.
    let tiers: Vec<(&str, Engine, ExprHandle)> = [
        ("exprjit-interp", Mode::Interp),
        ("exprjit-jit", Mode::Jit),
        ("exprjit-tiered", Mode::Tiered),
    ]
    .into_iter()
    .map(|(name, mode)| {
        let (e, h) = exprjit_handle(mode, f.exprjit);
        (name, e, h)
    })
    .collect();
    let (_, e, h) = &tiers[0];
    let want = values(&mut |x, y| e.eval_handle(h, &[x, y]).unwrap());
    for (name, e, h) in &tiers[1..] {
        let got = values(&mut |x, y| e.eval_handle(h, &[x, y]).unwrap());
        check(f.group, name, &want, &got, true);
    }
    check(
        f.group,
        "native",
        &want,
        &values(&mut |x, y| (f.native)(x, y)),
        false,
    );
    check(
        f.group,
        "native-cr",
        &want,
        &values(&mut |x, y| (f.native_cr)(x, y)),
        true,
    );

    // fasteval, with a closure namespace.
    let parser = fasteval::Parser::new();
    let mut slab = fasteval::Slab::new();
    let fe = parser
        .parse(f.fasteval, &mut slab.ps)
        .expect("fasteval parses")
        .from(&slab.ps)
        .compile(&slab.ps, &mut slab.cs);
    let fasteval_eval = |x: f64, y: f64| {
        let mut ns = |name: &str, _args: Vec<f64>| match name {
            "x" => Some(x),
            "y" => Some(y),
            _ => None,
        };
        fe.eval(&slab, &mut ns).expect("fasteval evaluates")
    };
    check(
        f.group,
        "fasteval",
        &want,
        &values(&mut |x, y| fasteval_eval(x, y)),
        false,
    );

    // fasteval, with unsafe variables: the compiled code reads `x` and `y`
    // through pointers to these cells, registered before parsing.
    let (ux, uy) = (Cell::new(0.0f64), Cell::new(0.0f64));
    let mut uslab = fasteval::Slab::new();
    // SAFETY: the pointers come from the cells' `UnsafeCell`s, so writing
    // through `Cell::set` while fasteval holds them is allowed; the cells
    // outlive `uslab` and every evaluation that reads them.
    unsafe {
        uslab.ps.add_unsafe_var("x".to_string(), &*ux.as_ptr());
        uslab.ps.add_unsafe_var("y".to_string(), &*uy.as_ptr());
    }
    let ufe = parser
        .parse(f.fasteval, &mut uslab.ps)
        .expect("fasteval parses")
        .from(&uslab.ps)
        .compile(&uslab.ps, &mut uslab.cs);
    let fasteval_unsafe_eval = |x: f64, y: f64| {
        ux.set(x);
        uy.set(y);
        ufe.eval(&uslab, &mut fasteval::EmptyNamespace)
            .expect("fasteval evaluates")
    };
    check(
        f.group,
        "fasteval-unsafe-vars",
        &want,
        &values(&mut |x, y| fasteval_unsafe_eval(x, y)),
        false,
    );

    // meval's bound closure.
    let me = f
        .meval
        .parse::<meval::Expr>()
        .expect("meval parses")
        .bind2("x", "y")
        .expect("meval binds");
    check(
        f.group,
        "meval",
        &want,
        &values(&mut |x, y| me(x, y)),
        false,
    );

    // evalexpr's precompiled tree.
    let ee = evalexpr::build_operator_tree(f.evalexpr).expect("evalexpr parses");
    let evalexpr_eval = |x: f64, y: f64| {
        let ctx = XyContext {
            x: Value::Float(x),
            y: Value::Float(y),
        };
        ee.eval_float_with_context(&ctx)
            .expect("evalexpr evaluates")
    };
    check(
        f.group,
        "evalexpr",
        &want,
        &values(&mut |x, y| evalexpr_eval(x, y)),
        false,
    );

    // exmex's flat expression; variables in alphabetical order.
    let ex = exmex::parse::<f64>(f.exmex).expect("exmex parses");
    assert_eq!(ex.var_names(), ["x", "y"]);
    let exmex_eval = |x: f64, y: f64| ex.eval(&[x, y]).expect("exmex evaluates");
    check(
        f.group,
        "exmex",
        &want,
        &values(&mut |x, y| exmex_eval(x, y)),
        false,
    );

    let mut g = c.benchmark_group(f.group);
    row(&mut g, "native", f.native);
    row(&mut g, "native-cr", f.native_cr);
    for (name, e, h) in &tiers {
        row(&mut g, name, |x, y| e.eval_handle(h, &[x, y]).unwrap());
    }
    row(&mut g, "fasteval", fasteval_eval);
    row(&mut g, "fasteval-unsafe-vars", fasteval_unsafe_eval);
    row(&mut g, "meval", &me);
    row(&mut g, "evalexpr", evalexpr_eval);
    row(&mut g, "exmex", exmex_eval);
    g.finish();
}

fn peers(c: &mut Criterion<Clock>) {
    for f in &formulas() {
        bench_formula(c, f);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(Clock::from_env());
    targets = peers
}
criterion_main!(benches);
