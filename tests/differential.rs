//! Differential testing of the tiers (docs/language.md §1: every tier gives
//! bit-identical results and the same errors).
//!
//! Random programs, generated as source text, run in the interpreter (the
//! reference), in `--mode jit`, in `--mode jit` with only two value
//! registers (so every spill path of the code generator runs), and in
//! tiered mode with a low threshold (so interpreted and compiled frames
//! call each other through the stub). Every expression statement's value
//! must have the same bits (any NaN matches any NaN), and the first error
//! must have the same kind and span.
//!
//! The programs use every operator and built-in over special values (NaN,
//! ±inf, ±0, subnormals, huge numbers), native functions (one of which
//! panics on one input), globals read by functions, sets of small
//! functions that call each other and recurse on a bounded counter,
//! redefinitions (which invalidate machine code and unpatch call sites),
//! and occasional errors (undefined names, unknown functions, wrong arity,
//! calling a variable, a function used as a value, rebinding a native).
//!
//! Case counts are sized for `cargo test --release` (what CI runs); a debug
//! build runs a tenth of them. `PROPTEST_CASES` overrides the count of each
//! test; `SHOW_PROGRAMS=1 cargo test --test differential generated --
//! --nocapture` prints a sample of the generated programs.

#![cfg(target_arch = "x86_64")]

mod common;

use std::fmt::Write as _;
use std::rc::Rc;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use exprjit::{Engine, ErrorKind, Options, Source, Span};

// ---------------------------------------------------------------------------
// Running a program in every configuration
// ---------------------------------------------------------------------------

/// The configurations compared with the interpreter: the matrix's
/// `CONFIGS` (tests/common/mod.rs; the interpreter first, the reference)
/// and two entries of its extension, jit with two value registers (so
/// every spill path runs) and tiered at threshold 50. Tiered at 1, 2, 3
/// and 50 promotes before the first call, during recursion, and late. The
/// rest of the extension is left out: each configuration adds a run of
/// every generated program.
fn configs() -> Vec<(&'static str, Options)> {
    common::configs_with(&["jit-registers-2", "tiered-50"])
        .into_iter()
        .map(|c| (c.name, c.options()))
        .collect()
}

/// What running a program gave: the printed values, then the error that
/// stopped it, if any: its kind, its span, and how it is shown (which
/// also tells in which source text the span lies).
#[derive(Debug)]
struct Outcome {
    values: Vec<f64>,
    error: Option<(ErrorKind, Option<Span>, String)>,
}

/// The native functions every engine has.
const NATIVES: &[(&str, usize)] = &[("nat1", 1), ("nat2", 2)];

fn run(options: &Options, program: &str) -> Outcome {
    let mut engine = Engine::with_options(options.clone());
    engine
        .define_native("nat1", |x: f64| x * 0.5 + 1.0)
        .unwrap();
    engine
        .define_native("nat2", |a: f64, b: f64| {
            // The panic is an error of the evaluation; keep it quiet.
            if a == 13.0 {
                std::panic::panic_any("thirteen")
            }
            a - 2.0 * b
        })
        .unwrap();
    let mut values = Vec::new();
    let result = engine.run(Source::new("<diff>", program), &mut |x| values.push(x));
    Outcome {
        values,
        error: result.err().map(|e| {
            let shown = e.render();
            (e.kind, e.span, shown)
        }),
    }
}

fn same_value(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

fn show(o: &Outcome) -> String {
    let values: Vec<String> = o
        .values
        .iter()
        .map(|x| format!("{} ({:#018x})", exprjit::format_number(*x), x.to_bits()))
        .collect();
    format!("values [{}], error {:?}", values.join(", "), o.error)
}

fn is_syntax_error(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::UnexpectedChar(_)
            | ErrorKind::UnexpectedToken(_)
            | ErrorKind::ExpectedExpression(_)
            | ErrorKind::UnexpectedEof
            | ErrorKind::NestingTooDeep(_)
            | ErrorKind::BadAssignTarget
            | ErrorKind::BadParameter
            | ErrorKind::DuplicateParameter(_)
            | ErrorKind::BuiltinRedefined(_)
    )
}

#[derive(Default, Debug)]
struct Stats {
    programs: usize,
    values: usize,
    errors: usize,
}

/// Runs `program` in every configuration and compares each with the
/// interpreter.
fn check(program: &str, stats: &mut Stats) -> Result<(), TestCaseError> {
    let configs = configs();
    let reference = run(&configs[0].1, program);
    if let Some((kind, ..)) = &reference.error {
        prop_assert!(
            !is_syntax_error(kind),
            "the generator made an invalid program ({kind}):\n{program}"
        );
    }
    for (name, options) in &configs[1..] {
        let got = run(options, program);
        let agree = got.values.len() == reference.values.len()
            && got
                .values
                .iter()
                .zip(&reference.values)
                .all(|(a, b)| same_value(*a, *b))
            && got.error == reference.error;
        prop_assert!(
            agree,
            "{name} disagrees with interp on this program:\n\
             ----\n{program}\n----\n\
             interp: {}\n{name}: {}",
            show(&reference),
            show(&got)
        );
    }
    stats.programs += 1;
    stats.values += reference.values.len();
    stats.errors += usize::from(reference.error.is_some());
    Ok(())
}

/// Runs `cases` random programs from `strategy` through `check`.
fn differential(
    name: &str,
    release_cases: u32,
    expect_errors: bool,
    strategy: impl Strategy<Value = String>,
) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            release_cases / 10
        } else {
            release_cases
        });
    let config = Config {
        cases,
        failure_persistence: None,
        // Shrinking re-runs four engines per step; keep it bounded.
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    // `nat2` panics on purpose; the default hook would print each one.
    std::panic::set_hook(Box::new(|info| {
        if info.payload().downcast_ref::<&str>() != Some(&"thirteen") {
            eprintln!("{info}");
        }
    }));
    let stats = std::cell::RefCell::new(Stats::default());
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |program| {
        check(&program, &mut stats.borrow_mut())
    });
    let stats = stats.into_inner();
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, program)) => {
            let reduced = reduce(&program);
            let detail = match check(&reduced, &mut Stats::default()) {
                Err(e) => e.to_string(),
                Ok(()) => String::new(),
            };
            panic!(
                "{name}: {why}\n\
                 shrunk failing program:\n{program}\n\
                 reduced further, line by line:\n{reduced}\n{detail}"
            )
        }
        Err(e) => panic!("{name}: {e}"),
    }
    eprintln!(
        "{name}: {} programs ({} values, {} ended in an error) in {:.2?}",
        stats.programs,
        stats.values,
        stats.errors,
        started.elapsed()
    );
    // The generator is meant to produce mostly values with some errors;
    // a shift either way means it no longer tests what it claims to.
    if expect_errors && stats.programs >= 100 {
        assert!(
            stats.errors * 20 >= stats.programs,
            "{name}: too few programs end in an error: {stats:?}"
        );
        assert!(
            stats.errors * 2 <= stats.programs,
            "{name}: too many programs end in an error: {stats:?}"
        );
    }
}

/// Removes statements from a failing program while it still fails, for a
/// shorter report (proptest's shrinking cannot drop a definition that
/// later lines refer to; here a dropped definition just becomes an error,
/// which must still agree).
fn reduce(program: &str) -> String {
    let mut lines: Vec<&str> = program.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let mut fewer = lines.clone();
        fewer.remove(i);
        let text = fewer.join("\n") + "\n";
        if check(&text, &mut Stats::default()).is_err() {
            lines = fewer;
        } else {
            i += 1;
        }
    }
    lines.join("\n") + "\n"
}

// ---------------------------------------------------------------------------
// Program generator
// ---------------------------------------------------------------------------

/// An expression, fully parenthesized when printed (so precedence never
/// makes a generated program invalid, e.g. `a < b < c`).
#[derive(Clone, Debug)]
enum E {
    /// A literal, a name, or any text that is already an atom.
    Atom(String),
    Un(&'static str, Box<E>),
    Bin(&'static str, Box<E>, Box<E>),
    Cond(Box<E>, Box<E>, Box<E>),
    Call(String, Vec<E>),
    /// A call of a counter-recursive function: its first argument is
    /// `n - k`, where `k` is the number of such calls in the body (so the
    /// call tree stays small: at most about 1.45^n calls).
    Rec(String, Vec<E>),
}

impl E {
    fn rec_calls(&self) -> usize {
        match self {
            E::Atom(_) => 0,
            E::Un(_, a) => a.rec_calls(),
            E::Bin(_, a, b) => a.rec_calls() + b.rec_calls(),
            E::Cond(c, a, b) => c.rec_calls() + a.rec_calls() + b.rec_calls(),
            E::Call(_, args) => args.iter().map(E::rec_calls).sum(),
            E::Rec(_, args) => 1 + args.iter().map(E::rec_calls).sum::<usize>(),
        }
    }

    fn write(&self, out: &mut String, k: usize) {
        match self {
            E::Atom(s) => out.push_str(s),
            E::Un(op, a) => {
                out.push('(');
                out.push_str(op);
                a.write(out, k);
                out.push(')');
            }
            E::Bin(op, a, b) => {
                out.push('(');
                a.write(out, k);
                let _ = write!(out, " {op} ");
                b.write(out, k);
                out.push(')');
            }
            E::Cond(c, a, b) => {
                out.push('(');
                c.write(out, k);
                out.push_str(" ? ");
                a.write(out, k);
                out.push_str(" : ");
                b.write(out, k);
                out.push(')');
            }
            E::Call(name, args) | E::Rec(name, args) => {
                out.push_str(name);
                out.push('(');
                let mut first = true;
                if matches!(self, E::Rec(..)) {
                    let _ = write!(out, "n - {k}");
                    first = false;
                }
                for a in args {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    a.write(out, k);
                }
                out.push(')');
            }
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, self.rec_calls().max(1));
        out
    }
}

/// Literals worth testing: zeros, subnormals, the extremes, values just
/// around powers of two and rounding boundaries, and the constants.
const SPECIAL: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "7",
    "0.5",
    "0.1",
    "0.2",
    "0.3",
    "2.5",
    "10",
    "100",
    "1e308",
    "1.7976931348623157e308",
    "8.98846567431158e307",
    "5e-324",
    "1e-320",
    "2.2250738585072014e-308",
    "2.225073858507201e-308",
    "1e-7",
    "1e21",
    "4503599627370496",
    "4503599627370497",
    "9007199254740993",
    "0.49999999999999994",
    "710",
    "1e-300",
    "0x1F",
    "1_000",
    "nan",
    "inf",
    "pi",
    "e",
    "tau",
];

/// A literal as source text (negative ones as unary minus).
fn literal() -> BoxedStrategy<String> {
    fn finite(x: f64) -> String {
        if x.is_nan() {
            "nan".to_string()
        } else if x.is_infinite() {
            if x > 0.0 { "inf" } else { "(-inf)" }.to_string()
        } else if x.is_sign_negative() {
            format!("(-{:e})", -x)
        } else {
            format!("{x:e}")
        }
    }
    prop_oneof![
        6 => (select(SPECIAL), any::<bool>()).prop_map(|(s, neg)| if neg {
            format!("(-{s})")
        } else {
            s.to_string()
        }),
        2 => any::<f64>().prop_map(finite),
        2 => (-30i32..30).prop_map(|i| finite(f64::from(i))),
        1 => (-1000i32..1000).prop_map(|i| finite(f64::from(i) / 8.0)),
    ]
    .boxed()
}

const UNARY: &[&str] = &["-", "+", "!"];
const BINARY: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "**", "==", "!=", "<", "<=", ">", ">=", "&&", "||",
];
/// The operators of each level that chains (`a + b - c` is one chain).
const CHAINS: &[&[&str]] = &[&["+", "-"], &["*", "/", "%"], &["&&"], &["||"]];
const BUILTIN1: &[&str] = &[
    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
    "exp", "exp2", "ln", "log", "log2", "log10", "sqrt", "cbrt", "abs", "floor", "ceil", "round",
    "trunc", "sign",
];
const BUILTIN2: &[&str] = &["atan2", "hypot", "pow", "min", "max"];

/// What an expression may refer to.
#[derive(Clone, Debug, Default)]
struct Scope {
    /// Parameters and globals it may read.
    vars: Vec<String>,
    /// Functions it may call with any arguments: `(name, arity)`.
    calls: Vec<(String, usize)>,
    /// Counter-recursive functions it may call: `(name, arity)`, arity
    /// counting the counter. In a function body they are called with
    /// `n - k`; at the top level with a small literal.
    rec: Vec<(String, usize)>,
    /// At the top level (counters are literals, not `n - k`).
    top: bool,
    /// Names that are variables when called (parameters, globals).
    not_functions: Vec<String>,
    /// Functions that are not values.
    functions: Vec<String>,
    /// May it contain errors?
    errors: bool,
}

fn union(options: Vec<(u32, BoxedStrategy<E>)>) -> BoxedStrategy<E> {
    Union::new_weighted(options).boxed()
}

fn leaf(scope: &Rc<Scope>) -> BoxedStrategy<E> {
    let mut options = vec![(3, literal().prop_map(E::Atom).boxed())];
    if !scope.vars.is_empty() {
        options.push((8, select(scope.vars.clone()).prop_map(E::Atom).boxed()));
    }
    if scope.errors {
        let mut bad: Vec<String> = vec!["undefined_var".into(), "sqrt".into(), "max".into()];
        bad.extend(scope.functions.iter().cloned());
        options.push((1, select(bad).prop_map(E::Atom).boxed()));
    }
    union(options)
}

const COMPARISONS: &[&str] = &["==", "!=", "<", "<=", ">", ">="];

/// A condition: a comparison (one side often NaN), possibly negated or
/// joined with another by `&&` / `||`.
fn condition(operand: BoxedStrategy<Box<E>>) -> BoxedStrategy<E> {
    let side = prop_oneof![
        3 => operand,
        1 => Just(Box::new(E::Atom("nan".into()))),
        1 => Just(Box::new(E::Bin("/", Box::new(E::Atom("0".into())), Box::new(E::Atom("0".into()))))),
    ];
    let cmp = (select(COMPARISONS), side.clone(), side)
        .prop_map(|(op, a, b)| E::Bin(op, a, b))
        .boxed();
    prop_oneof![
        3 => cmp.clone(),
        1 => cmp.clone().prop_map(|c| E::Un("!", Box::new(c))),
        2 => (select(&["&&", "||"][..]), cmp.clone(), cmp)
            .prop_map(|(op, a, b)| E::Bin(op, Box::new(a), Box::new(b))),
    ]
    .boxed()
}

fn expr(scope: Rc<Scope>, depth: u32, size: u32) -> BoxedStrategy<E> {
    let leaves = leaf(&scope);
    leaves
        .prop_recursive(depth, size, 3, move |inner| {
            let boxed = || inner.clone().prop_map(Box::new);
            let mut options: Vec<(u32, BoxedStrategy<E>)> = vec![
                (
                    2,
                    (select(UNARY), boxed())
                        .prop_map(|(op, a)| E::Un(op, a))
                        .boxed(),
                ),
                (
                    7,
                    (select(BINARY), boxed(), boxed())
                        .prop_map(|(op, a, b)| E::Bin(op, a, b))
                        .boxed(),
                ),
                // Chains of one level, 3 to 6 operands: the JIT runs them
                // as a loop and may move the first operand that calls in
                // front of the call-free part before it.
                (
                    3,
                    (
                        select(CHAINS),
                        boxed(),
                        prop::collection::vec((0..3usize, boxed()), 2..6),
                    )
                        .prop_map(|(ops, first, rest)| {
                            rest.into_iter().fold(*first, |a, (i, b)| {
                                E::Bin(ops[i % ops.len()], Box::new(a), b)
                            })
                        })
                        .boxed(),
                ),
                (
                    2,
                    (boxed(), boxed(), boxed())
                        .prop_map(|(c, a, b)| E::Cond(c, a, b))
                        .boxed(),
                ),
                // Conditions made of comparisons and logic compile to
                // fused compare-and-branch code: give them their own
                // share, with NaN often among the operands.
                (
                    2,
                    (condition(boxed().boxed()), boxed(), boxed())
                        .prop_map(|(c, a, b)| E::Cond(Box::new(c), a, b))
                        .boxed(),
                ),
                (
                    3,
                    (select(BUILTIN1), inner.clone())
                        .prop_map(|(f, a)| E::Call(f.into(), vec![a]))
                        .boxed(),
                ),
                (
                    2,
                    (select(BUILTIN2), inner.clone(), inner.clone())
                        .prop_map(|(f, a, b)| E::Call(f.into(), vec![a, b]))
                        .boxed(),
                ),
            ];
            {
                let inner = inner.clone();
                options.push((
                    1,
                    select(NATIVES)
                        .prop_flat_map(move |(name, arity)| {
                            prop::collection::vec(inner.clone(), arity)
                                .prop_map(move |args| E::Call(name.into(), args))
                        })
                        .boxed(),
                ));
            }
            if !scope.calls.is_empty() {
                let inner = inner.clone();
                options.push((
                    4,
                    select(scope.calls.clone())
                        .prop_flat_map(move |(name, arity)| {
                            prop::collection::vec(inner.clone(), arity)
                                .prop_map(move |args| E::Call(name.clone(), args))
                        })
                        .boxed(),
                ));
            }
            if !scope.rec.is_empty() {
                options.push((4, rec_call(scope.rec.clone(), inner.clone(), scope.top)));
            }
            if scope.errors {
                // Calls that fail when reached: unknown function, calling a
                // variable, a built-in or user function with the wrong
                // number of arguments, a constant called.
                let mut names: Vec<(String, usize)> = vec![
                    ("unknown_fn".into(), 1),
                    ("sin".into(), 2),
                    ("atan2".into(), 1),
                    ("pi".into(), 1),
                ];
                names.extend(scope.not_functions.iter().map(|v| (v.clone(), 1)));
                names.extend(scope.calls.iter().map(|(f, a)| (f.clone(), a + 1)));
                names.extend(scope.rec.iter().map(|(f, a)| (f.clone(), a + 1)));
                let inner = inner.clone();
                options.push((
                    1,
                    select(names)
                        .prop_flat_map(move |(name, argc)| {
                            prop::collection::vec(inner.clone(), argc)
                                .prop_map(move |args| E::Call(name.clone(), args))
                        })
                        .boxed(),
                ));
            }
            union(options)
        })
        .boxed()
}

/// The shape of a program: its functions and globals.
#[derive(Clone, Debug)]
struct Shape {
    /// Arity (counter included) of each counter-recursive `rK`.
    rec: Vec<usize>,
    /// Arity of each plain function `fK`.
    plain: Vec<usize>,
    globals: usize,
    errors: bool,
}

const PARAMS: &[&str] = &["x", "y", "z", "w"];

fn globals(shape: &Shape) -> Vec<String> {
    (0..shape.globals).map(|i| format!("g{i}")).collect()
}

fn rec_funcs(shape: &Shape) -> Vec<(String, usize)> {
    shape
        .rec
        .iter()
        .enumerate()
        .map(|(i, &a)| (format!("r{i}"), a))
        .collect()
}

fn plain_funcs(shape: &Shape) -> Vec<(String, usize)> {
    shape
        .plain
        .iter()
        .enumerate()
        .map(|(i, &a)| (format!("f{i}"), a))
        .collect()
}

fn all_functions(shape: &Shape) -> Vec<String> {
    let mut v: Vec<String> = rec_funcs(shape).into_iter().map(|(f, _)| f).collect();
    v.extend(plain_funcs(shape).into_iter().map(|(f, _)| f));
    v
}

fn base_scope(shape: &Shape, params: &[String]) -> Scope {
    let mut vars: Vec<String> = params.to_vec();
    vars.extend(globals(shape));
    let mut not_functions = params.to_vec();
    not_functions.extend(globals(shape));
    Scope {
        vars,
        not_functions,
        functions: all_functions(shape),
        errors: shape.errors,
        ..Scope::default()
    }
}

/// The definition of plain function `fi` (of `arity` parameters): it may
/// call only `fj` with `j < i`, so plain functions never form a cycle.
fn plain_def(shape: &Shape, i: usize, arity: usize) -> BoxedStrategy<String> {
    let params: Vec<String> = PARAMS[..arity].iter().map(|p| p.to_string()).collect();
    let mut scope = base_scope(shape, &params);
    scope.calls = plain_funcs(shape)[..i].to_vec();
    expr(Rc::new(scope), 4, 16)
        .prop_map(move |body| format!("f{i}({}) = {}", params.join(", "), body.render()))
        .boxed()
}

/// A call of counter-recursive `name` from a function body (`n - k`
/// first) or from the top level (a small literal first).
fn rec_call(funcs: Vec<(String, usize)>, args: BoxedStrategy<E>, top: bool) -> BoxedStrategy<E> {
    (select(funcs), 0u32..14)
        .prop_flat_map(move |((name, arity), n)| {
            prop::collection::vec(args.clone(), arity - 1).prop_map(move |args| {
                if top {
                    let mut all = vec![E::Atom(n.to_string())];
                    all.extend(args);
                    E::Call(name.clone(), all)
                } else {
                    E::Rec(name.clone(), args)
                }
            })
        })
        .boxed()
}

/// The definition of counter-recursive `ri` (`n` and `arity - 1` more
/// parameters): `n <= 0 ? base : step`, where `base` calls no recursive
/// function and every recursive call in `step` passes `n - k`.
fn rec_def(shape: &Shape, i: usize, arity: usize) -> BoxedStrategy<String> {
    let mut params = vec!["n".to_string()];
    params.extend(PARAMS[..arity - 1].iter().map(|p| p.to_string()));
    let mut scope = base_scope(shape, &params);
    scope.calls = plain_funcs(shape);
    let base = expr(Rc::new(scope.clone()), 3, 8);
    let args = expr(Rc::new(scope.clone()), 2, 4);
    scope.rec = rec_funcs(shape);
    let call = rec_call(rec_funcs(shape), args, false);
    let step = expr(Rc::new(scope), 4, 16);
    // Most steps recurse at least once: `call op step` or `step op call`.
    let step = prop_oneof![
        1 => step.clone(),
        1 => call.clone(),
        3 => (call, select(BINARY), step, any::<bool>()).prop_map(|(c, op, s, left)| {
            if left {
                E::Bin(op, Box::new(c), Box::new(s))
            } else {
                E::Bin(op, Box::new(s), Box::new(c))
            }
        }),
    ];
    (base, step, 0..4u8)
        .prop_map(move |(base, step, form)| {
            let (base, step) = (base.render(), step.render());
            let body = match form {
                0 => format!("n <= 0 ? {base} : {step}"),
                1 => format!("n > 0 ? {step} : {base}"),
                2 => format!("!(n >= 1) ? {base} : {step}"),
                _ => format!("(n < 1 || n != n) ? {base} : {step}"),
            };
            format!("r{i}({}) = {body}", params.join(", "))
        })
        .boxed()
}

/// A statement after the definitions: an expression to print (most),
/// a global (re)assigned, a function redefined, and — when the program
/// may fail — a function replaced by a variable or a variable by a
/// function.
fn statement(shape: &Shape) -> BoxedStrategy<String> {
    let mut top = base_scope(shape, &[]);
    top.calls = plain_funcs(shape);
    top.rec = rec_funcs(shape);
    top.top = true;
    let top = Rc::new(top);
    let mut options: Vec<(u32, BoxedStrategy<String>)> = vec![
        (6, expr(top.clone(), 4, 12).prop_map(|e| e.render()).boxed()),
        (
            2,
            (0..shape.globals, expr(top.clone(), 2, 4))
                .prop_map(|(g, e)| format!("g{g} = {}", e.render()))
                .boxed(),
        ),
    ];
    // Calls whose arguments are special values or globals.
    let args = leaf(&Rc::new(base_scope(shape, &[])));
    if !shape.plain.is_empty() {
        let args = args.clone();
        options.push((
            4,
            select(plain_funcs(shape))
                .prop_flat_map(move |(name, arity)| {
                    prop::collection::vec(args.clone(), arity)
                        .prop_map(move |args| E::Call(name.clone(), args).render())
                })
                .boxed(),
        ));
    }
    if !shape.rec.is_empty() {
        options.push((
            6,
            rec_call(rec_funcs(shape), args, true)
                .prop_map(|e| e.render())
                .boxed(),
        ));
    }
    for (i, &arity) in shape.plain.iter().enumerate() {
        options.push((1, plain_def(shape, i, arity)));
    }
    for (i, &arity) in shape.rec.iter().enumerate() {
        options.push((1, rec_def(shape, i, arity)));
    }
    if shape.errors {
        let functions = all_functions(shape);
        if !functions.is_empty() {
            options.push((
                1,
                (select(functions), literal())
                    .prop_map(|(f, x)| format!("{f} = {x}"))
                    .boxed(),
            ));
        }
        // A plain function redefined with another arity: its callers now
        // fail with an arity error.
        for (i, &arity) in shape.plain.iter().enumerate() {
            options.push((1, plain_def(shape, i, (arity + 1) % 4)));
        }
        options.push((
            1,
            (0..shape.globals)
                .prop_map(|g| format!("g{g}(x) = x + 1"))
                .boxed(),
        ));
        // Programs cannot rebind a native function.
        options.push((
            1,
            (select(NATIVES), literal())
                .prop_map(|((f, _), x)| format!("{f} = {x}"))
                .boxed(),
        ));
    }
    Union::new_weighted(options).boxed()
}

/// A whole program: the functions, the globals, then statements.
fn program(shape: Shape, statements: std::ops::Range<usize>) -> BoxedStrategy<String> {
    let mut defs: Vec<BoxedStrategy<String>> = Vec::new();
    for (i, &arity) in shape.rec.iter().enumerate() {
        defs.push(rec_def(&shape, i, arity));
    }
    for (i, &arity) in shape.plain.iter().enumerate() {
        defs.push(plain_def(&shape, i, arity));
    }
    let global_values = prop::collection::vec(literal(), shape.globals);
    let body = prop::collection::vec(statement(&shape), statements);
    (defs, global_values, body)
        .prop_map(|(defs, globals, body)| {
            let mut lines = defs;
            for (i, x) in globals.iter().enumerate() {
                lines.push(format!("g{i} = {x}"));
            }
            lines.extend(body);
            lines.join("\n") + "\n"
        })
        .boxed()
}

/// Programs centred on expressions: a few plain functions whose parameters
/// receive special values, and expressions over globals holding them.
fn expression_programs() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(0..=4usize, 0..=2),
        2..=5usize,
        prop::bool::weighted(0.3),
    )
        .prop_flat_map(|(plain, globals, errors)| {
            program(
                Shape {
                    rec: Vec::new(),
                    plain,
                    globals,
                    errors,
                },
                2..8,
            )
        })
}

/// Programs centred on calls: counter-recursive functions calling each
/// other and plain functions, reading globals, redefined as they run.
fn function_programs() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(1..=4usize, 1..=3),
        prop::collection::vec(0..=3usize, 0..=3),
        1..=3usize,
        prop::bool::weighted(0.3),
    )
        .prop_flat_map(|(rec, plain, globals, errors)| {
            program(
                Shape {
                    rec,
                    plain,
                    globals,
                    errors,
                },
                1..7,
            )
        })
}

#[test]
fn tiers_agree_on_expressions_over_special_values() {
    differential("expressions", 6_000, true, expression_programs());
}

#[test]
fn tiers_agree_on_calling_recursive_and_redefined_functions() {
    differential("functions", 5_000, true, function_programs());
}

/// Deep and wide expressions: more pending values than registers even in
/// the default configuration, calls at every depth.
#[test]
fn tiers_agree_on_deep_expressions() {
    let scope = Rc::new(Scope {
        vars: vec!["x".into(), "y".into(), "g0".into()],
        calls: vec![("f0".into(), 2)],
        ..Scope::default()
    });
    let strategy =
        (expr(scope, 12, 120), literal(), literal(), literal()).prop_map(|(e, a, b, g)| {
            format!(
                "g0 = {g}\nf0(x, y) = x * 0.5 + y\nh(x, y) = {}\nh({a}, {b})\nh({b}, {a})\n",
                e.render()
            )
        });
    differential("deep expressions", 400, false, strategy);
}

/// The generator itself: it makes valid programs of the intended shapes.
#[test]
fn generated_programs_parse_and_look_right() {
    let mut runner = TestRunner::deterministic();
    let strategy = function_programs();
    for _ in 0..50 {
        let program = strategy.new_tree(&mut runner).unwrap().current();
        exprjit::internals::parse_program(&program)
            .unwrap_or_else(|e| panic!("{e}: {}\n{program}", e.kind));
        assert!(program.contains("r0(n"), "{program}");
        if std::env::var_os("SHOW_PROGRAMS").is_some() {
            eprintln!("----\n{program}");
        }
    }
    let r = E::Rec("r0".into(), vec![E::Rec("r1".into(), vec![])]);
    assert_eq!(r.render(), "r0(n - 2, r1(n - 2))");
}

/// Recursion to the very limit (docs/language.md §4), with the body nested
/// up to 1,000 levels deep around the recursive call and in a branch that
/// never runs: every configuration gives the value at the last call that
/// fits, and the same error at the same place one call deeper.
#[test]
fn tiers_agree_at_the_recursion_limit() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rng = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    const AROUND: &[(&str, &str)] = &[
        ("1+(", ")"),
        ("(", ")*1"),
        ("-(-(", "))"),
        ("sin(0)+", ""),
        ("abs(", ")"),
        ("(n > 0 ? ", " : 0)"),
        ("max(", ", 0)"),
        ("(n - (", "))"),
    ];
    let nest = |rng: &mut dyn FnMut(u64) -> u64, depth: u64, inner: &str| {
        let mut text = inner.to_string();
        for _ in 0..depth {
            let (open, close) = AROUND[rng(AROUND.len() as u64) as usize];
            text = format!("{open}{text}{close}");
        }
        text
    };
    let configs = configs();
    for case in 0..6 {
        let (around, dead) = match case {
            0 => (1000, 0),
            1 => (0, 1000),
            2 => (0, 0),
            _ => (rng(1000), rng(1000)),
        };
        let body = nest(&mut rng, around, "f(n - 1)");
        let dead_branch = nest(&mut rng, dead, "n");
        let def = format!("f(n) = n < 1 ? 0 : (n < -5 ? {dead_branch} : {body})");
        let at = |options: &Options, n: u64| run(options, &format!("{def}\nf({n})\n"));
        // The limit, found with machine code (fast), then checked in all.
        let jit = &common::config("jit").options();
        let (mut lo, mut hi) = (1u64, 4_000_000u64);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if at(jit, mid).error.is_none() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        assert!(lo >= 10_000, "case {case}: only {lo} nested calls");
        let (last, over) = (at(&configs[0].1, lo), at(&configs[0].1, hi));
        assert!(
            last.error.is_none(),
            "case {case}: interp at {lo}: {last:?}"
        );
        let Some((kind, span, _)) = &over.error else {
            panic!("case {case}: interp at {hi} gave {over:?}")
        };
        assert_eq!(*kind, ErrorKind::RecursionTooDeep);
        for (name, options) in &configs {
            let (a, b) = (at(options, lo), at(options, hi));
            assert!(
                a.error.is_none() && same_value(a.values[0], last.values[0]),
                "case {case}, {name} at {lo}: {a:?} vs {last:?}"
            );
            assert_eq!(
                b.error.as_ref().map(|e| (&e.0, e.1)),
                Some((kind, *span)),
                "case {case}, {name} at {hi}"
            );
        }
    }
}
