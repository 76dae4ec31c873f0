//! Differential fuzzing: the fuzz input becomes a structured program
//! (functions recursing on a bounded counter, every operator and built-in,
//! native functions, special values) or, built as the `limits` target, a
//! program that recurses to near the stack budget's limit with deeply
//! nested and dead-branch bodies; it runs in interp, jit and tiered modes
//! with several thresholds. Any difference in the values' bits (NaN payloads aside) or
//! in the error is a crash. Then a formula over two columns runs as a
//! kernel's `eval_batch` in each mode, checked against `eval` row by row
//! and across modes.
#![no_main]

use arbitrary::Unstructured;
use exprjit::{Engine, Mode, Options};
use libfuzzer_sys::fuzz_target;

const VALUES: &[&str] = &[
    "0",
    "-0",
    "1",
    "2",
    "0.5",
    "3.25",
    "1e308",
    "5e-324",
    "2.2250738585072014e-308",
    "inf",
    "-inf",
    "nan",
    "pi",
    "1e-7",
    "123456789",
    "0x1F",
    "7",
];
const UNARY: &[&str] = &["-", "+", "!"];
const BINARY: &[&str] = &[
    "+", "-", "*", "/", "%", "^", "**", "==", "!=", "<", "<=", ">", ">=", "&&", "||",
];
/// The operators of each level that chains (`a + b - c` is one chain).
const CHAINS: &[&[&str]] = &[&["+", "-"], &["*", "/", "%"], &["&&"], &["||"]];
const FN1: &[&str] = &[
    "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
    "exp", "exp2", "ln", "log", "log2", "log10", "sqrt", "cbrt", "abs", "floor", "ceil", "round",
    "trunc", "sign",
];
const FN2: &[&str] = &["atan2", "hypot", "pow", "min", "max"];
const FUNCS: usize = 3;

/// Builds an expression of at most `depth` levels; `calls` bounds how many
/// user calls one body makes, so recursion stays small.
fn expr(
    u: &mut Unstructured,
    depth: u32,
    calls: &mut u32,
    out: &mut String,
) -> arbitrary::Result<()> {
    let choice = if depth == 0 {
        u.int_in_range(0..=2)?
    } else {
        u.int_in_range(0..=9)?
    };
    match choice {
        0 => out.push_str(u.choose(VALUES)?),
        1 => out.push_str(u.choose(&["n", "x", "x", "g"])?),
        2 => out.push_str(u.choose(&["x", "n", "k"])?),
        3 => {
            out.push('(');
            out.push_str(u.choose(UNARY)?);
            expr(u, depth - 1, calls, out)?;
            out.push(')');
        }
        4 => {
            out.push('(');
            expr(u, depth - 1, calls, out)?;
            out.push(' ');
            out.push_str(u.choose(BINARY)?);
            out.push(' ');
            expr(u, depth - 1, calls, out)?;
            out.push(')');
        }
        // A chain of one level, 3 to 5 operands, unparenthesized.
        5 => {
            let ops = u.choose(CHAINS)?;
            out.push('(');
            expr(u, depth - 1, calls, out)?;
            for _ in 0..u.int_in_range(2..=4)? {
                out.push(' ');
                out.push_str(u.choose(ops)?);
                out.push(' ');
                expr(u, depth - 1, calls, out)?;
            }
            out.push(')');
        }
        6 => {
            out.push('(');
            expr(u, depth - 1, calls, out)?;
            out.push_str(" ? ");
            expr(u, depth - 1, calls, out)?;
            out.push_str(" : ");
            expr(u, depth - 1, calls, out)?;
            out.push(')');
        }
        7 => {
            out.push_str(u.choose(FN1)?);
            out.push('(');
            expr(u, depth - 1, calls, out)?;
            out.push(')');
        }
        8 if u.ratio(1, 4)? => {
            // A native function (`nat2` panics on 13: an error to compare).
            match u.int_in_range(0..=1)? {
                0 => {
                    out.push_str("nat1(");
                    expr(u, depth - 1, calls, out)?;
                }
                _ => {
                    out.push_str("nat2(");
                    expr(u, depth - 1, calls, out)?;
                    out.push_str(", ");
                    expr(u, depth - 1, calls, out)?;
                }
            }
            out.push(')');
        }
        8 => {
            out.push_str(u.choose(FN2)?);
            out.push('(');
            expr(u, depth - 1, calls, out)?;
            out.push_str(", ");
            expr(u, depth - 1, calls, out)?;
            out.push(')');
        }
        _ if *calls > 0 => {
            *calls -= 1;
            // f_i(n - 1, e): always on a smaller counter. Sometimes a wrong
            // arity or an unknown name, to compare errors too.
            match u.int_in_range(0..=12)? {
                0 => out.push_str("nosuch(n - 1, 1)"),
                1 => {
                    out.push_str(&format!("f{}(n - 1)", u.int_in_range(0..=FUNCS - 1)?));
                }
                _ => {
                    out.push_str(&format!("f{}(n - 1, ", u.int_in_range(0..=FUNCS - 1)?));
                    expr(u, depth - 1, calls, out)?;
                    out.push(')');
                }
            }
        }
        _ => out.push_str(u.choose(VALUES)?),
    }
    Ok(())
}

/// Wrappers for the recursion-limit programs: each is one more level of
/// nesting around what it wraps.
const AROUND: &[(&str, &str)] = &[
    ("1+(", ")"),
    ("(", ")*1"),
    ("-(-(", "))"),
    ("sin(0)+", ""),
    ("abs(", ")"),
    ("(n > 0 ? ", " : 0)"),
    ("max(", ", 0)"),
    ("nat1(", ")"),
];

/// A program that recurses to near the limit, or past it: a body nested up
/// to 1,000 levels deep around the recursive call, and as deep in a
/// branch that never runs, called with counts around where the budget
/// runs out for bodies of such sizes.
fn limit_program(u: &mut Unstructured) -> arbitrary::Result<String> {
    let nest = |u: &mut Unstructured, inner: &str| -> arbitrary::Result<String> {
        let mut text = inner.to_string();
        for _ in 0..u.int_in_range(0..=1000)? {
            let (open, close) = *u.choose(AROUND)?;
            text = format!("{open}{text}{close}");
        }
        Ok(text)
    };
    let body = nest(u, "f(n - 1)")?;
    let dead = nest(u, "n")?;
    let mut text = format!("f(n) = n < 1 ? 0 : (n < -5 ? {dead} : {body})\n");
    for _ in 0..u.int_in_range(1..=3)? {
        let n = u.choose(&[10_000u32, 15_000, 20_000, 30_000, 100_000, 300_000, 400_000])?;
        let n = n + u.int_in_range(0..=100)?;
        text.push_str(&format!("f({n})\n"));
    }
    Ok(text)
}

fn program(u: &mut Unstructured) -> arbitrary::Result<String> {
    // Near-limit programs run for a second or two each: they have a target
    // of their own, so that they do not take the ordinary programs' time.
    if env!("CARGO_BIN_NAME") == "limits" {
        return limit_program(u);
    }
    let mut text = format!("g = {}\n", u.choose(VALUES)?);
    for i in 0..FUNCS {
        let mut base = String::new();
        let mut rec = String::new();
        expr(u, 3, &mut 0, &mut base)?;
        expr(u, 4, &mut 2, &mut rec)?;
        text.push_str(&format!("f{i}(n, x) = n <= 0 ? {base} : {rec}\n"));
    }
    for _ in 0..u.int_in_range(1..=4)? {
        let n = u.int_in_range(0..=6)?;
        let mut arg = String::new();
        expr(u, 2, &mut 0, &mut arg)?;
        text.push_str(&format!(
            "f{}({n}, {arg})\n",
            u.int_in_range(0..=FUNCS - 1)?
        ));
    }
    Ok(text)
}

type Outcome = (Vec<u64>, Option<(String, Option<exprjit::Span>)>);

/// An engine of `mode` with the two natives the programs call (`nat2`
/// panics on purpose when its first argument is 13).
fn engine(mode: Mode, threshold: u32) -> Engine {
    let mut engine = Engine::with_options(Options {
        mode,
        threshold,
        ..Default::default()
    });
    engine
        .define_native("nat1", |x: f64| x * 0.5 + 1.0)
        .unwrap();
    engine
        .define_native("nat2", |a: f64, b: f64| {
            if a == 13.0 {
                std::panic::panic_any("thirteen")
            }
            a - 2.0 * b
        })
        .unwrap();
    engine
}

fn run(text: &str, mode: Mode, threshold: u32) -> Outcome {
    let mut engine = engine(mode, threshold);
    let mut values = Vec::new();
    let source = exprjit::Source::new("<fuzz>", text);
    let result = engine.run(source, &mut |x| {
        // NaN payloads aside: every NaN compares as one.
        values.push(if x.is_nan() {
            f64::NAN.to_bits()
        } else {
            x.to_bits()
        })
    });
    (values, result.err().map(|e| (e.kind.to_string(), e.span)))
}

/// Column values for batches: the special ones and a few ordinary.
const COLUMN: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    2.5,
    -2.5,
    3.0,
    13.0,
    1e308,
    5e-324,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// What a batch gave: every row's bits up to the first failing one, and
/// the error with its row.
type BatchOutcome = (Vec<u64>, Option<(String, Option<usize>)>);

/// Runs `program` (for its definitions), then `formula` over `n` and `x`
/// as a kernel's batch on `rows` rows; checks the batch against `eval`
/// row by row in the same engine.
fn batch(program: &str, formula: &str, mode: Mode, rows: &[(f64, f64)]) -> Option<BatchOutcome> {
    let mut engine = engine(mode, 1);
    let _ = engine.run(exprjit::Source::new("<fuzz>", program), &mut |_| {});
    let handle = engine.compile_expr(formula, &["n", "x"]).ok()?;
    let kernel = engine.kernel(&handle).ok()?;
    let n: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let x: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let mut out = vec![0.0; rows.len()];
    let result = kernel.eval_batch(&[&n, &x], &mut out);
    let failed_at = result.as_ref().err().and_then(|e| e.row);
    let mut bits = Vec::new();
    for (i, (&a, &b)) in n.iter().zip(&x).enumerate() {
        if failed_at == Some(i) {
            let want = kernel.eval(&[a, b]).expect_err("the batch failed here");
            let got = result.as_ref().expect_err("failed");
            assert_eq!(want.kind, got.kind, "{mode:?} row {i} of {formula}");
            break;
        }
        let want = kernel.eval(&[a, b]).expect("the batch did not fail here");
        let canon = |v: f64| {
            if v.is_nan() {
                f64::NAN.to_bits()
            } else {
                v.to_bits()
            }
        };
        assert_eq!(canon(out[i]), canon(want), "{mode:?} row {i} of {formula}");
        bits.push(canon(out[i]));
    }
    Some((bits, result.err().map(|e| (e.kind.to_string(), e.row))))
}

fuzz_target!(|data: &[u8]| {
    // `nat2` panics on purpose: that must be an error, not a finding (the
    // fuzzer's own hook would count the panic before it is caught).
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&"thirteen") {
                fuzzer_hook(info)
            }
        }))
    });
    let mut u = Unstructured::new(data);
    let Ok(text) = program(&mut u) else { return };
    let reference = run(&text, Mode::Interp, 1);
    for (mode, threshold) in [
        (Mode::Jit, 1),
        (Mode::Tiered, 1),
        (Mode::Tiered, 2),
        (Mode::Tiered, 3),
    ] {
        let got = run(&text, mode, threshold);
        assert_eq!(
            got, reference,
            "{mode:?} threshold {threshold} disagrees on:\n{text}"
        );
    }
    // A formula over columns, as a kernel's batch: the batch agrees with
    // eval row by row in each mode, and the modes agree with each other.
    let mut formula = String::new();
    if expr(&mut u, 4, &mut 1, &mut formula).is_err() {
        return;
    }
    let Ok(len) = u.int_in_range(0..=9) else {
        return;
    };
    let mut rows = Vec::with_capacity(len);
    for _ in 0..len {
        let (Ok(a), Ok(b)) = (u.choose(COLUMN), u.choose(COLUMN)) else {
            return;
        };
        rows.push((*a, *b));
    }
    let reference = batch(&text, &formula, Mode::Interp, &rows);
    for mode in [Mode::Jit, Mode::Tiered] {
        let got = batch(&text, &formula, mode, &rows);
        assert_eq!(
            got, reference,
            "{mode:?} batch of {formula} over {rows:?} after:\n{text}"
        );
    }
});
