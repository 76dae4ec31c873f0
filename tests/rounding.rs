//! Correctly rounded built-ins (docs/language.md §4), in every tier and
//! every way in.
//!
//! Two tables, both checked against mpmath by `tests/corpus/reference.py`:
//! `hard_cases.txt`, inputs where a good libm (glibc's) is not correctly
//! rounded, and `special_values.txt`, C's Annex F special values with the
//! overflow and underflow edges. A libm that is almost right fails the
//! first; one that mishandles a signed zero or an infinity fails the second.
//!
//! Each line goes through: a user function calling the built-in (so the JIT
//! calls it from machine code) and the built-in applied to constants (folded
//! while lowering), in every configuration; a handle and a kernel (one
//! evaluation and a batch); the binary. `pow` lines whose exponent lowering
//! rewrites (`x ^ 2` is `x * x`, …) also run through the rewritten form.

mod common;

use common::{Config, CONFIGS};
use exprjit::{format_number, Engine};

const HARD: &str = include_str!("corpus/hard_cases.txt");
const SPECIAL: &str = include_str!("corpus/special_values.txt");

/// One line of a table: `func(args)` must be `want`, bit for bit.
#[derive(Debug)]
struct Case {
    file: &'static str,
    line: usize,
    func: String,
    args: Vec<f64>,
    want: f64,
}

fn parse(file: &'static str, text: &str) -> Vec<Case> {
    let number = |s: &str, line: usize| -> f64 {
        s.parse()
            .unwrap_or_else(|e| panic!("{file}:{line}: bad number {s:?}: {e}"))
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|(i, l)| {
            let line = i + 1;
            let fields: Vec<&str> = l.split_whitespace().collect();
            let (func, rest) = fields.split_first().expect("a function name");
            let (want, args) = rest.split_last().expect("an expected value");
            Case {
                file,
                line,
                func: func.to_string(),
                args: args.iter().map(|a| number(a, line)).collect(),
                want: number(want, line),
            }
        })
        .collect()
}

fn cases() -> Vec<Case> {
    let mut all = parse("hard_cases.txt", HARD);
    all.extend(parse("special_values.txt", SPECIAL));
    all
}

/// Same bits, except that every NaN is the same (docs/language.md §5
/// prints them all `nan`).
fn same(got: f64, want: f64) -> bool {
    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan())
}

/// `x` as exprjit source text that denotes exactly `x`.
fn literal(x: f64) -> String {
    format!("({})", format_number(x))
}

/// The exponents lowering rewrites `base ^ exponent` for, and the name of
/// the function that uses the rewritten form.
const REWRITTEN: &[(f64, &str)] = &[
    (2.0, "square"),
    (-1.0, "reciprocal"),
    (1.0, "identity"),
    (0.5, "half"),
    (0.0, "zero"),
];

fn rewrite_of(case: &Case) -> Option<&'static str> {
    if case.func != "pow" {
        return None;
    }
    REWRITTEN
        .iter()
        .find(|(y, _)| *y == case.args[1])
        .map(|(_, name)| *name)
}

/// A program that defines `t_FUNC(a[, b]) = FUNC(a[, b])` for each function
/// and the rewritten powers, then for each case prints, in order: the user
/// function's value, the folded constant call, and for a rewritten
/// exponent, the rewritten form's. `expect` gets what each printed value
/// must be, with a description.
fn program(cases: &[Case]) -> (String, Vec<(String, f64)>) {
    let mut text = String::new();
    let mut defined = std::collections::HashSet::new();
    let mut expect = Vec::new();
    for case in cases {
        let params = if case.args.len() == 1 { "a" } else { "a, b" };
        if defined.insert(case.func.clone()) {
            text += &format!("t_{0}({params}) = {0}({params})\n", case.func);
        }
        let args: Vec<String> = case.args.iter().map(|&a| literal(a)).collect();
        let args = args.join(", ");
        let at = format!("{}:{}", case.file, case.line);
        text += &format!("t_{}({args})\n{}({args})\n", case.func, case.func);
        expect.push((format!("{at} through a user function"), case.want));
        expect.push((format!("{at} folded"), case.want));
        if let Some(name) = rewrite_of(case) {
            if defined.insert(name.to_string()) {
                let y = format_number(case.args[1]);
                text += &format!("r_{name}(a) = a ^ {y}\n");
            }
            text += &format!("r_{name}({})\n", literal(case.args[0]));
            expect.push((format!("{at} rewritten as a ^ {}", case.args[1]), case.want));
        }
    }
    (text, expect)
}

/// Compares printed values (as the binary or `format_number` wrote them)
/// with what they must be; returns the differences.
fn compare(how: &str, printed: &[String], expect: &[(String, f64)]) -> Vec<String> {
    let mut failures = Vec::new();
    if printed.len() != expect.len() {
        failures.push(format!(
            "{how}: {} values printed, {} expected",
            printed.len(),
            expect.len()
        ));
    }
    for (got, (what, want)) in printed.iter().zip(expect) {
        let ok = got.parse::<f64>().is_ok_and(|g| same(g, *want));
        if !ok {
            failures.push(format!(
                "{how}: {what}: got {got}, want {}",
                format_number(*want)
            ));
        }
    }
    failures
}

fn assert_none(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_tables_are_what_they_say() {
    let cases = cases();
    assert_eq!(
        cases.iter().filter(|c| c.file == "hard_cases.txt").count(),
        16 * 15 + 15 + 15 + 15 + 15 + 15,
        "15 hard cases for each of the 21 transcendental built-ins"
    );
    let builtins = exprjit::internals::builtins();
    for case in &cases {
        assert!(
            builtins
                .iter()
                .any(|(name, arity)| *name == case.func && *arity == Some(case.args.len())),
            "{}:{}: {} is not a built-in of {} arguments",
            case.file,
            case.line,
            case.func,
            case.args.len()
        );
    }
}

#[test]
fn every_configuration_gives_the_correctly_rounded_bits() {
    let cases = cases();
    let (text, expect) = program(&cases);
    let mut failures = Vec::new();
    for config in CONFIGS {
        let run = common::run_lib(config, &text);
        if let Some(e) = run.error {
            failures.push(format!("{}: {}", config.name, e.render()));
        }
        failures.extend(compare(
            &format!("library, {}", config.name),
            &run.lines,
            &expect,
        ));
    }
    assert_none(failures);
}

#[test]
fn the_binary_gives_the_correctly_rounded_bits() {
    let cases = cases();
    let (text, expect) = program(&cases);
    let file = common::TempFile::with_contents(text.as_bytes());
    let mut failures = Vec::new();
    for config in CONFIGS {
        let mut args = vec!["run".to_string(), file.path_str().to_string()];
        args.extend(config.args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = common::run_bin(&args, None);
        if !run.stderr.is_empty() {
            failures.push(format!("binary, {}: {}", config.name, run.stderr));
        }
        let printed: Vec<String> = run.stdout.lines().map(str::to_string).collect();
        failures.extend(compare(
            &format!("binary, {}", config.name),
            &printed,
            &expect,
        ));
    }
    assert_none(failures);
}

/// Handles and kernels, per function: each case evaluated one at a time
/// (often enough for tiered handles to compile), then all at once in a
/// batch.
fn through_handles(config: &Config) -> Vec<String> {
    let cases = cases();
    let mut failures = Vec::new();
    let mut engine = Engine::with_options(config.options());
    let mut funcs: Vec<&str> = cases.iter().map(|c| c.func.as_str()).collect();
    funcs.sort();
    funcs.dedup();
    for func in funcs {
        let mine: Vec<&Case> = cases.iter().filter(|c| c.func == func).collect();
        let vars: &[&str] = if mine[0].args.len() == 1 {
            &["a"]
        } else {
            &["a", "b"]
        };
        let text = format!("{func}({})", vars.join(", "));
        let handle = engine.compile_expr(&text, vars).expect("compiles");
        let kernel = engine.kernel(&handle).expect("a kernel");
        for round in 0..3 {
            for case in &mine {
                let got = engine.eval_handle(&handle, &case.args);
                if !got.as_ref().is_ok_and(|&g| same(g, case.want)) {
                    failures.push(format!(
                        "{}: handle {text} (round {round}) {}:{}: got {got:?}, want {}",
                        config.name,
                        case.file,
                        case.line,
                        format_number(case.want)
                    ));
                }
            }
        }
        for case in &mine {
            let got = kernel.eval(&case.args);
            if !got.as_ref().is_ok_and(|&g| same(g, case.want)) {
                failures.push(format!(
                    "{}: kernel {text} {}:{}: got {got:?}",
                    config.name, case.file, case.line
                ));
            }
        }
        let columns: Vec<Vec<f64>> = (0..vars.len())
            .map(|i| mine.iter().map(|c| c.args[i]).collect())
            .collect();
        let columns: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let mut out = vec![0.0; mine.len()];
        match kernel.eval_batch(&columns, &mut out) {
            Err(e) => failures.push(format!("{}: batch {text}: {e}", config.name)),
            Ok(()) => {
                for (case, got) in mine.iter().zip(&out) {
                    if !same(*got, case.want) {
                        failures.push(format!(
                            "{}: batch {text} {}:{}: got {}",
                            config.name,
                            case.file,
                            case.line,
                            format_number(*got)
                        ));
                    }
                }
            }
        }
    }
    failures
}

#[test]
fn handles_and_kernels_give_the_correctly_rounded_bits() {
    let mut failures = Vec::new();
    for config in CONFIGS {
        failures.extend(through_handles(config));
    }
    assert_none(failures);
}

/// `qemu-x86_64` (Debian's `qemu-user`), if it is installed: exprjit's
/// processor requirement is checked by running the binary on emulated
/// processors. Where it is not, the two tests below say so and pass.
fn qemu() -> Option<&'static str> {
    let found = std::process::Command::new("qemu-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("qemu-x86_64 is not installed: not checked (apt install qemu-user)");
    }
    found.then_some("qemu-x86_64")
}

/// On a Haswell, the first x86-64-v3 processor, the binary runs and the
/// built-ins give the same bits in every mode.
#[test]
fn a_haswell_runs_exprjit_with_the_same_bits() {
    let Some(qemu) = qemu() else { return };
    let cases = cases();
    let (text, expect) = program(&cases);
    let file = common::TempFile::with_contents(text.as_bytes());
    let mut failures = Vec::new();
    for config in CONFIGS {
        let mut args = vec![
            "-cpu".to_string(),
            "Haswell".to_string(),
            env!("CARGO_BIN_EXE_exprjit").to_string(),
            "run".to_string(),
            file.path_str().to_string(),
        ];
        args.extend(config.args());
        let out = std::process::Command::new(qemu)
            .args(&args)
            .output()
            .expect("run qemu");
        let how = format!("qemu Haswell, {}", config.name);
        if !out.status.success() {
            failures.push(format!("{how}: {out:?}"));
            continue;
        }
        let printed: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        failures.extend(compare(&how, &printed, &expect));
    }
    assert_none(failures);
}

/// On a processor without AVX2 and FMA, exprjit refuses at start: a clear
/// error and status 1, not an illegal instruction.
#[test]
fn an_older_processor_is_refused_cleanly() {
    let Some(qemu) = qemu() else { return };
    for args in [
        &["eval", "sin(1)"][..],
        &["run", "-"],
        &["bench", "--runs", "1"],
    ] {
        let out = std::process::Command::new(qemu)
            .args(["-cpu", "qemu64", env!("CARGO_BIN_EXE_exprjit")])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run qemu");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert!(
            stderr.lines().any(|l| l
                == "error: exprjit needs an x86-64-v3 processor (AVX2 and FMA, 2013 and later); \
                    this one lacks AVX2 and FMA"),
            "{args:?}: {stderr}"
        );
    }
}
