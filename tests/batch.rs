//! `Kernel::eval_batch` (docs/language.md §7): `out[i]` is exactly what
//! `eval` gives for row `i`, in every mode, on any number of threads,
//! whatever the length (the batch loop takes four rows at a time; the rest
//! are padded); failing rows are reported as the lowest one, whatever the
//! split.

mod common;

use exprjit::internals::{eval_batch_split, has_batch_loop};
use exprjit::{Engine, ErrorKind, Kernel, Mode, Options};
use proptest::prelude::*;

/// Values that exercise every rule: signed zeros, infinities, NaN,
/// subnormals, the extremes, halves (for `round`), ordinary numbers.
const SPECIAL: &[f64] = &[
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    1.5,
    -2.5,
    2.5,
    0.49999999999999994,
    -0.49999999999999994,
    4503599627370497.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    f64::MAX,
    f64::MIN,
    1e-300,
    3.0,
    0.1,
    -7.25,
    710.0,
    1e22,
];

const MODES: &[Mode] = &[Mode::Interp, Mode::Jit, Mode::Tiered];

/// The same bits, NaN payloads included: the batch loop keeps them too.
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits()
}

/// An engine with the helpers impure formulas call: `half(a)` fails (an
/// undefined variable) unless `a > 0.5`; `twice` is a native function.
fn engine(mode: Mode) -> Engine {
    let mut e = Engine::with_options(Options {
        mode,
        ..Options::default()
    });
    e.eval("half(a) = a > 0.5 ? a / 2 : undefined_thing; sq(a) = a * a; g = 2; h = -0")
        .expect("helpers");
    e.define_native("twice", |a: f64| 2.0 * a).expect("native");
    e
}

fn kernel(mode: Mode, text: &str, vars: &[&str]) -> Kernel {
    let mut e = engine(mode);
    let h = e.compile_expr(text, vars).expect("compiles");
    e.kernel(&h).expect("a kernel")
}

/// Runs `kernel` over `columns` split in `threads` parts and checks every
/// row against `eval`: the same bits, and the same lowest failing row.
fn check(kernel: &Kernel, columns: &[Vec<f64>], rows: usize, threads: usize) -> Result<(), String> {
    let cols: Vec<&[f64]> = columns.iter().map(|c| &c[..rows]).collect();
    let mut out = vec![f64::from_bits(0x7FF4_0000_DEAD_BEEF); rows];
    let got = eval_batch_split(kernel, &cols, &mut out, threads);
    let mut row = vec![0.0; cols.len()];
    for i in 0..rows {
        for (x, c) in row.iter_mut().zip(&cols) {
            *x = c[i];
        }
        match kernel.eval(&row) {
            Ok(want) => {
                if got.as_ref().is_err_and(|e| e.row.is_some_and(|r| r <= i)) {
                    break;
                }
                if !same(out[i], want) {
                    return Err(format!(
                        "row {i} {row:?}: batch {} ({:#x}), eval {} ({:#x})",
                        out[i],
                        out[i].to_bits(),
                        want,
                        want.to_bits()
                    ));
                }
            }
            Err(want) => {
                return match &got {
                    Err(e) if e.row == Some(i) && e.kind == want.kind => Ok(()),
                    other => Err(format!(
                        "row {i} {row:?} fails with {want}, batch gave {other:?}"
                    )),
                };
            }
        }
    }
    match got {
        Ok(()) => Ok(()),
        Err(e) => Err(format!(
            "batch failed ({e}, row {:?}) but no row does",
            e.row
        )),
    }
}

/// Columns of `rows` values cycling through `SPECIAL`, each column at its
/// own stride so that rows mix them.
fn special_columns(vars: usize, rows: usize) -> Vec<Vec<f64>> {
    (0..vars)
        .map(|k| {
            (0..rows)
                .map(|i| SPECIAL[(i * (2 * k + 1) + k * 7 + i / SPECIAL.len()) % SPECIAL.len()])
                .collect()
        })
        .collect()
}

/// Formulas covering every operation the batch loop computes inline, the
/// built-ins it calls per lane, and impure ones (row by row).
const FORMULAS: &[&str] = &[
    "x*x*x - 2*x*x*y + 3*x*y*y - 4*y*y*y + 5*x - 6*y + 7",
    "sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x^2)",
    "x / y - (x - y) * -x",
    "x == y",
    "(x == y) + 2*(x != y) + 4*(x < y) + 8*(x <= y) + 16*(x > y) + 32*(x >= y)",
    "!x + 2 * !y",
    "x && y",
    "x || y || 0",
    "x && (y || x > 1)",
    "x > y ? x - y : y * 2",
    "x ? y : -y",
    "floor(x) + ceil(y) * 3 + trunc(x * y)",
    "round(x)",
    "round(x * 0.5 + y)",
    "sign(x) * 10 + sign(y)",
    "abs(x) - abs(y)",
    "min(x, y)",
    "max(x, y)",
    "min(x, -y) * max(-x, y)",
    "x^2 + y^-1 + x^1",
    "x^0.5 + y^0.5",
    "pow(x, y)",
    "x % y",
    "atan2(y, x) + hypot(x, y)",
    "exp(x) + ln(y) - log2(x) * log10(y)",
    "sinh(x) + cosh(y) + tanh(x) + asinh(y) + acosh(x) + atanh(y)",
    "tan(x) + asin(y) + acos(x) + atan(y) + cbrt(x) + exp2(y)",
    "sin(x) > cos(y) ? tan(x) : atan(y)",
    "sin(sin(sin(x))) + (x + (y + (x * (y - (x / (y + 1))))))",
    "pi * x + e - tau + inf * 0 + nan",
    "((((((((((((((((x + y) * x) - y) / x) + y) * x) - y) / x) + y) * x) - y) / x) + 1) * 2) - 3) / 4)",
    "x + (y + (x + (y + (x + (y + (x + (y + (x + (y + (x + (y + (x + (y + (x + (y + 1)))))))))))))))",
    "sin(x) + (cos(y) + (sin(y) + (cos(x) + (sin(x * y) + (cos(x + y) + 1)))))",
    "half(x) + y",
    "y > 0 ? half(x) : 0",
    "sq(x) + twice(y)",
    "undefined_thing * 0 + x",
    "x < 0 && undefined_thing",
];

#[test]
fn batches_of_special_values_agree_with_eval_in_every_mode_and_split() {
    let lens = [0usize, 1, 3, 4, 5, 8, 4096 + 3];
    let mut failures = Vec::new();
    for &mode in MODES {
        for text in FORMULAS {
            let k = kernel(mode, text, &["x", "y"]);
            let columns = special_columns(2, 5000);
            for &rows in &lens {
                for threads in [1, 2, 7] {
                    if let Err(e) = check(&k, &columns, rows, threads) {
                        failures.push(format!(
                            "{mode:?} {text} ({rows} rows, {threads} threads): {e}"
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn pure_formulas_get_a_batch_loop_and_impure_ones_do_not() {
    for text in &FORMULAS[..FORMULAS.len() - 5] {
        assert!(
            has_batch_loop(&kernel(Mode::Jit, text, &["x", "y"])),
            "{text}"
        );
        assert!(
            !has_batch_loop(&kernel(Mode::Interp, text, &["x", "y"])),
            "{text}"
        );
    }
    for text in &FORMULAS[FORMULAS.len() - 5..] {
        assert!(
            !has_batch_loop(&kernel(Mode::Jit, text, &["x", "y"])),
            "{text}"
        );
    }
}

#[test]
fn a_million_rows_on_one_two_and_seven_threads() {
    let rows = 1_000_003;
    let columns = special_columns(2, rows);
    for &mode in MODES {
        for text in [
            FORMULAS[0],
            FORMULAS[1],
            "half(x) + y",
            "x > 1e300 ? half(-1) : x + y",
        ] {
            let k = kernel(mode, text, &["x", "y"]);
            for threads in [1, 2, 7] {
                check(&k, &columns, rows, threads)
                    .unwrap_or_else(|e| panic!("{mode:?} {text} ({threads} threads): {e}"));
            }
        }
    }
}

/// The lowest failing row is reported even when a later part of the split
/// fails first.
#[test]
fn the_lowest_failing_row_wins_whatever_the_split() {
    let rows = 1_000_003;
    let x: Vec<f64> = (0..rows)
        .map(|i| {
            if i == 999_000 || i == 700_001 {
                0.0
            } else {
                1.0
            }
        })
        .collect();
    for &mode in MODES {
        let k = kernel(mode, "half(x)", &["x"]);
        for threads in [1, 2, 7] {
            let mut out = vec![0.0; rows];
            let e = eval_batch_split(&k, &[&x], &mut out, threads).expect_err("fails");
            assert_eq!(e.row, Some(700_001), "{mode:?}, {threads} threads: {e:?}");
            assert_eq!(
                e.kind,
                ErrorKind::UndefinedVariable("undefined_thing".into())
            );
            assert!(out[..700_001].iter().all(|&v| v == 0.5), "{mode:?}");
        }
    }
}

#[test]
fn a_kernel_of_no_variables_fills_the_output() {
    for &mode in MODES {
        let k = kernel(mode, "sin(1) + 2^0.5", &[]);
        for rows in [0, 1, 5, 100_000] {
            let mut out = vec![0.0; rows];
            k.eval_batch(&[], &mut out).expect("runs");
            let want = k.eval(&[]).expect("runs");
            assert!(out.iter().all(|&v| same(v, want)), "{mode:?} {rows}");
        }
    }
}

fn formula() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_string()),
        Just("y".to_string()),
        Just("z".to_string()),
        // Globals: a kernel reads them frozen, so a formula may be pure
        // and read no column at all.
        Just("g".to_string()),
        Just("h".to_string()),
        prop::sample::select(SPECIAL).prop_map(|v| match v {
            v if v.is_nan() => "nan".to_string(),
            v if v == f64::INFINITY => "inf".to_string(),
            v if v == f64::NEG_INFINITY => "(-inf)".to_string(),
            v if v.is_sign_negative() => format!("(-{:e})", -v),
            v => format!("{v:e}"),
        }),
    ];
    leaf.prop_recursive(5, 40, 3, |inner| {
        let op = prop::sample::select(
            &[
                "+", "-", "*", "/", "%", "^", "==", "!=", "<", "<=", ">", ">=", "&&", "||",
            ][..],
        );
        let f1 = prop::sample::select(
            &[
                "sqrt", "abs", "floor", "ceil", "round", "trunc", "sign", "sin", "exp", "ln",
                "half", "sq", "twice",
            ][..],
        );
        let f2 = prop::sample::select(&["min", "max", "pow", "atan2", "hypot"][..]);
        prop_oneof![
            (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("({a} {o} {b})")),
            (f1, inner.clone()).prop_map(|(f, a)| format!("{f}({a})")),
            (f2, inner.clone(), inner.clone()).prop_map(|(f, a, b)| format!("{f}({a}, {b})")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
            inner.clone().prop_map(|a| format!("(-{a})")),
            inner.prop_map(|a| format!("(!{a})")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Random formulas over columns of special values: the batch gives
    /// what `eval` gives, row by row, in every mode and split.
    #[test]
    fn random_formulas_batch_as_they_evaluate(text in formula(), rows in 0usize..40) {
        let columns = special_columns(3, 40);
        for &mode in MODES {
            let k = kernel(mode, &text, &["x", "y", "z"]);
            for threads in [1, 2, 7] {
                if let Err(e) = check(&k, &columns, rows, threads) {
                    return Err(TestCaseError::fail(format!("{mode:?} {text}: {e}")));
                }
            }
        }
    }
}
