//! Differential fuzzing: the fuzz input becomes a structured program
//! (functions recursing on a bounded counter, every operator and built-in,
//! native functions, special values) or, one time in sixteen, a program
//! that recurses to near the stack budget's limit with deeply nested and
//! dead-branch bodies; it runs in interp, jit and tiered modes with several
//! thresholds. Any difference in the values' bits (NaN payloads aside) or
//! in the error is a crash.
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
    if u.ratio(1, 16)? {
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

fn run(text: &str, mode: Mode, threshold: u32) -> Outcome {
    let mut engine = Engine::with_options(Options {
        mode,
        threshold,
        ..Default::default()
    });
    engine.define_native("nat1", |x: f64| x * 0.5 + 1.0).unwrap();
    engine
        .define_native("nat2", |a: f64, b: f64| {
            if a == 13.0 {
                std::panic::panic_any("thirteen")
            }
            a - 2.0 * b
        })
        .unwrap();
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
});
