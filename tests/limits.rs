//! docs/language.md §4 limits: deep recursion works, unbounded recursion is
//! an error (never a crash), deep nesting works up to 1,000 levels and
//! anything deeper is a value or a clean error, and 10 MB of source runs.
//!
//! Every check runs in every mode; library checks that need the binary's
//! stack run on a thread as large as the binary's program thread.

mod common;

use common::{BinRun, Config, CONFIGS};
use exprjit::ErrorKind;

/// Runs `program` through `exprjit run FILE` in `config`.
fn run_file(config: &Config, program: &str) -> BinRun {
    common::run_file_bin(config, program.as_bytes())
}

fn assert_ok(run: &BinRun, want: &str, what: &str) {
    assert_eq!(
        (run.status, run.signal),
        (Some(0), None),
        "{what}: stderr {}",
        &run.stderr[..run.stderr.len().min(2_000)]
    );
    assert_eq!(run.stdout, want, "{what}");
    assert_eq!(run.stderr, "", "{what}");
}

// --- recursion ---------------------------------------------------------------

/// Programs that recurse 10,000 deep, and what they print.
const DEEP: &[(&str, &str)] = &[
    (
        "down(n) = n > 0 ? down(n - 1) + 1 : 0\ndown(10000)",
        "10000\n",
    ),
    (
        "sum(n) = n == 0 ? 0 : n + sum(n - 1)\nsum(10000)",
        "50005000\n",
    ),
    // Mutual recursion, 10,001 calls deep.
    (
        "even(n) = n == 0 ? 1 : odd(n - 1)\nodd(n) = n == 0 ? 0 : even(n - 1)\nodd(10001)\neven(10000)",
        "1\n1\n",
    ),
    // Many arguments in every frame, rotated on each call.
    (
        "r(n, a, b, c, d, e2, f, g, h) = n > 0 ? a + r(n - 1, b, c, d, e2, f, g, h, a) : 0\nr(10000, 1, 2, 3, 4, 5, 6, 7, 8)",
        "45000\n",
    ),
    // The recursive call is an argument of a built-in and of another call.
    (
        "id(x) = x\nm(n) = n > 0 ? max(id(m(n - 1)), n) : 0\nm(10000)",
        "10000\n",
    ),
];

#[test]
fn recursion_10000_deep_works_in_the_binary() {
    for config in CONFIGS {
        for (program, want) in DEEP {
            let run = common::eval_bin(config, program);
            assert_ok(&run, want, &format!("{program:?} in {}", config.name));
        }
    }
}

#[test]
fn recursion_10000_deep_works_in_the_library_on_a_big_stack() {
    common::on_big_stack(|| {
        for config in CONFIGS {
            for (program, want) in DEEP {
                let run = common::run_lib(config, program);
                assert!(
                    run.error.is_none(),
                    "{program:?} in {}: {:?}",
                    config.name,
                    run.error
                );
                let got: String = run.lines.iter().map(|l| format!("{l}\n")).collect();
                assert_eq!(got, *want, "{program:?} in {}", config.name);
            }
        }
    });
}

/// Programs that never stop recursing, each after printing `1` and `2`.
const UNBOUNDED: &[&str] = &[
    "1\nf(x) = f(x + 1) + 1\n2\nf(0)\n3",
    "1\na(x) = b(x) * 2\nb(x) = a(x) - 1\n2\na(1)\n3",
    "1\nf(p, q, r, s, t, u, v, w) = sin(f(q, r, s, t, u, v, w, p))\n2\nf(1, 2, 3, 4, 5, 6, 7, 8)\n3",
];

#[test]
fn unbounded_recursion_is_an_error_in_the_binary() {
    for config in CONFIGS {
        for program in UNBOUNDED {
            let run = common::eval_bin(config, program);
            let what = format!("{program:?} in {}", config.name);
            assert_eq!((run.status, run.signal), (Some(1), None), "{what}: {run:?}");
            assert_eq!(run.stdout, "1\n2\n", "{what}: earlier output is kept");
            assert!(
                run.stderr.starts_with("error: recursion too deep\n"),
                "{what}: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn unbounded_recursion_is_an_error_in_the_library_and_the_engine_stays_usable() {
    common::on_big_stack(|| {
        for config in CONFIGS {
            let mut engine = config.engine();
            for program in UNBOUNDED {
                let run = common::run_in(&mut engine, program);
                let what = format!("{program:?} in {}", config.name);
                assert_eq!(run.lines, ["1", "2"], "{what}");
                assert_eq!(
                    run.error.map(|e| e.kind),
                    Some(ErrorKind::RecursionTooDeep),
                    "{what}"
                );
                // After unwinding from the deepest frame, everything still
                // works: values, calls, and deep (but bounded) recursion.
                let run = common::run_in(
                    &mut engine,
                    "g(n) = n > 0 ? g(n - 1) + 2 : 0\n1 + 1\ng(5000)",
                );
                assert!(run.error.is_none(), "{what}: {:?}", run.error);
                assert_eq!(run.lines, ["2", "10000"], "{what}");
            }
        }
    });
}

/// On an ordinary test thread (2 MiB of stack), running out is still an
/// error, not a crash; the library measures the stack it is given.
#[test]
fn unbounded_recursion_on_a_small_stack_is_an_error() {
    for size in [1 << 20, 2 << 20] {
        std::thread::Builder::new()
            .stack_size(size)
            .spawn(move || {
                for config in CONFIGS {
                    let mut engine = config.engine();
                    let run = common::run_in(&mut engine, "f(x) = f(x) + 1\n7\nf(1)");
                    assert_eq!(run.lines, ["7"]);
                    assert_eq!(
                        run.error.map(|e| e.kind),
                        Some(ErrorKind::RecursionTooDeep),
                        "{} on a {size}-byte stack",
                        config.name
                    );
                    let run = common::run_in(&mut engine, "f(x) = x\nf(3)");
                    assert_eq!(run.lines, ["3"], "{}", config.name);
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}

// --- nesting -----------------------------------------------------------------

/// A shape of nested expression: the text nested `n` deep, and its value.
struct Shape {
    name: &'static str,
    /// A definition the expression needs, if any.
    prelude: &'static str,
    build: fn(usize) -> String,
    value: fn(usize) -> String,
}

fn wrap(open: &str, inner: &str, close: &str, n: usize) -> String {
    let mut s = String::with_capacity(n * (open.len() + close.len()) + inner.len());
    for _ in 0..n {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..n {
        s.push_str(close);
    }
    s
}

const SHAPES: &[Shape] = &[
    Shape {
        name: "parentheses",
        prelude: "",
        build: |n| wrap("(", "1", ")", n),
        value: |_| "1".into(),
    },
    Shape {
        name: "negations",
        prelude: "",
        build: |n| wrap("-(", "1", ")", n),
        value: |n| if n % 2 == 0 { "1" } else { "-1" }.into(),
    },
    Shape {
        name: "right-nested sums",
        prelude: "",
        build: |n| wrap("(1+", "1", ")", n),
        value: |n| (n + 1).to_string(),
    },
    Shape {
        name: "sums over a parameter",
        prelude: "g(x) = ",
        build: |n| format!("{}\ng(2)", wrap("(x+", "x", ")", n)),
        value: |n| (2 * (n + 1)).to_string(),
    },
    Shape {
        name: "user calls",
        prelude: "f(x) = x + 1\n",
        build: |n| wrap("f(", "0", ")", n),
        value: |n| n.to_string(),
    },
    Shape {
        name: "built-in calls",
        prelude: "",
        build: |n| wrap("abs(-", "1", ")", n),
        value: |_| "1".into(),
    },
    Shape {
        name: "conditionals",
        prelude: "",
        build: |n| wrap("(1 ? ", "2", " : 0)", n),
        value: |_| "2".into(),
    },
    Shape {
        name: "powers",
        prelude: "",
        build: |n| wrap("1^(", "2", ")", n),
        value: |_| "1".into(),
    },
    Shape {
        name: "not",
        prelude: "",
        build: |n| wrap("!(", "0", ")", n),
        value: |n| if n % 2 == 0 { "0" } else { "1" }.into(),
    },
];

fn program(shape: &Shape, n: usize) -> String {
    format!("{}{}", shape.prelude, (shape.build)(n))
}

#[test]
fn nesting_1000_deep_works_in_the_binary() {
    for config in CONFIGS {
        for shape in SHAPES {
            let text = program(shape, 1000);
            let want = format!("{}\n", (shape.value)(1000));
            let run = common::eval_bin(config, &text);
            assert_ok(&run, &want, &format!("{} in {}", shape.name, config.name));
            // Newlines inside the parentheses change nothing.
            let spread = text.replace('(', "(\n");
            let run = run_file(config, &spread);
            assert_ok(
                &run,
                &want,
                &format!("{} over lines in {}", shape.name, config.name),
            );
        }
    }
}

/// A library user on a thread with a main thread's stack (8 MiB) gets
/// 1,000 levels too, even in a debug build.
#[test]
fn nesting_1000_deep_works_in_the_library() {
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            let mut failures = Vec::new();
            for config in CONFIGS {
                for shape in SHAPES {
                    for n in [999, 1000] {
                        let run = common::run_lib(config, &program(shape, n));
                        let what = format!("{} {n} deep in {}", shape.name, config.name);
                        match run.error {
                            Some(e) => failures.push(format!("{what}: {e:?}")),
                            None if run.lines != [(shape.value)(n)] => {
                                failures.push(format!("{what}: printed {:?}", run.lines))
                            }
                            None => {}
                        }
                    }
                }
            }
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        })
        .unwrap()
        .join()
        .unwrap();
}

/// 100,000 levels: a value or a clean error, never a crash.
#[test]
fn nesting_100000_deep_is_a_value_or_a_clean_error_in_the_binary() {
    for config in CONFIGS {
        for shape in SHAPES {
            let text = program(shape, 100_000);
            let what = format!("{} in {}", shape.name, config.name);
            // From a file in some modes, from stdin in the others.
            let run = if config.name.ends_with('2') || config.name == "jit" {
                common::run_stdin_bin(config, text.as_bytes())
            } else {
                run_file(config, &text)
            };
            assert_eq!(run.signal, None, "{what}: killed by a signal");
            match run.status {
                Some(0) => {
                    assert_eq!(
                        run.stdout,
                        format!("{}\n", (shape.value)(100_000)),
                        "{what}"
                    );
                }
                Some(1) => {
                    assert_eq!(run.stdout, "", "{what}");
                    assert!(
                        run.stderr
                            .starts_with("error: expressions nested too deeply")
                            || run.stderr.starts_with("error: recursion too deep"),
                        "{what}: {}",
                        &run.stderr[..run.stderr.len().min(500)]
                    );
                    // The message shows a window of the line, not all of it.
                    assert!(
                        run.stderr.len() < 4_000,
                        "{what}: {} bytes on stderr",
                        run.stderr.len()
                    );
                }
                other => panic!("{what}: exit status {other:?}"),
            }
        }
    }
}

#[test]
fn nesting_100000_deep_is_a_value_or_a_clean_error_in_the_library() {
    common::on_big_stack(|| {
        for config in CONFIGS {
            for shape in SHAPES {
                let run = common::run_lib(config, &program(shape, 100_000));
                let what = format!("{} in {}", shape.name, config.name);
                match run.error {
                    None => assert_eq!(run.lines, [(shape.value)(100_000)], "{what}"),
                    Some(e) => {
                        assert!(
                            matches!(
                                e.kind,
                                ErrorKind::NestingTooDeep(_) | ErrorKind::RecursionTooDeep
                            ),
                            "{what}: {:?}",
                            e.kind
                        );
                        assert!(run.lines.is_empty(), "{what}");
                        assert!(e.render().len() < 4_000, "{what}");
                    }
                }
            }
        }
    });
}

/// Deep nesting refused by the parser is a syntax error: nothing runs.
#[test]
fn too_deep_nesting_is_refused_before_anything_runs() {
    let text = format!("1\n{}", wrap("-(", "1", ")", 100_000));
    for config in CONFIGS {
        let run = run_file(config, &text);
        assert_eq!((run.status, run.signal), (Some(1), None), "{}", config.name);
        assert_eq!(run.stdout, "");
        assert!(
            run.stderr
                .starts_with("error: expressions nested too deeply (more than 10000 levels)\n"),
            "{}",
            &run.stderr[..run.stderr.len().min(500)]
        );
        assert!(run.stderr.len() < 4_000, "{} bytes", run.stderr.len());
    }
}

// --- size --------------------------------------------------------------------

/// docs/language.md §4: 10 MB of source must work: 100,000 statements, each
/// padded with a comment to 100 bytes.
#[test]
fn ten_megabytes_of_source_run() {
    let mut text = String::from("x = 0\n");
    let line = format!("x = x + 1 # {}\n", "c".repeat(87));
    assert_eq!(line.len(), 100);
    for _ in 0..100_000 {
        text.push_str(&line);
    }
    text.push_str("x\n");
    assert!(text.len() >= 10_000_000);
    for config in CONFIGS {
        let run = run_file(config, &text);
        assert_ok(&run, "100000\n", config.name);
    }
}

/// A single function whose body is a megabyte: 2^17 parameter references in
/// a balanced sum (only 18 levels deep).
#[test]
fn a_megabyte_function_body_runs() {
    fn balanced(n: usize, out: &mut String) {
        if n == 1 {
            out.push('x');
        } else {
            out.push('(');
            balanced(n / 2, out);
            out.push('+');
            balanced(n - n / 2, out);
            out.push(')');
        }
    }
    let mut text = String::from("f(x) = ");
    balanced(1 << 17, &mut text);
    text.push_str("\nf(1)\nf(0.5)\nf(-0)\n");
    assert!(text.len() > 500_000);
    for config in CONFIGS {
        let run = run_file(config, &text);
        assert_ok(&run, "131072\n65536\n-0\n", config.name);
    }
}

/// A long chain such as `1+1+…+1` is not deep nesting.
#[test]
fn a_long_flat_sum_is_not_deep_nesting() {
    let text = format!("{}1", "1+".repeat(20_000));
    for config in CONFIGS {
        let run = run_file(config, &text);
        assert_ok(&run, "20001\n", config.name);
    }
}

/// Long chains of every level, in function bodies so that nothing folds,
/// give in every tier what the same left-to-right fold gives in Rust; the
/// short circuit of a long `&&` or `||` chain stops where it should (the
/// undefined `k` after it is never read).
#[test]
fn long_chains_of_every_level_agree_with_a_left_fold() {
    const N: usize = 30_000;
    let x = 0.7_f64;
    // f(x) = x + x*3/7%2 - x*4/8%2 + …: an additive chain of
    // multiplicative ones.
    let mut body = String::from("x");
    let mut want = x;
    for i in 0..N {
        let (a, b, m) = (i % 11 + 1, i % 7 + 1, i % 5 + 1);
        let term = x * a as f64 / b as f64 % m as f64;
        if i % 2 == 0 {
            body.push_str(&format!(" + x*{a}/{b}%{m}"));
            want += term;
        } else {
            body.push_str(&format!(" - x*{a}/{b}%{m}"));
            want -= term;
        }
    }
    let all_true = vec!["x > 0"; N].join(" && ");
    let none_true = vec!["x < 0"; N].join(" || ");
    let text = format!(
        "f(x) = {body}\n\
         g(x) = {all_true} && x < 0 && k\n\
         h(x) = {none_true} || x > 0 || k\n\
         a(x) = {all_true}\n\
         o(x) = {none_true}\n\
         f({x})\ng({x})\nh({x})\na({x})\no({x})\n"
    );
    let want = format!("{}\n0\n1\n1\n0\n", exprjit::format_number(want));
    for config in CONFIGS {
        assert_ok(&run_file(config, &text), &want, config.name);
    }
}

/// A library user's thread may be small (here 256 KiB, half of it the
/// engine's red zone): deep input is still a value or an error, never a
/// stack overflow — not in the parser, nor lowering, nor either tier, nor
/// when the syntax tree is dropped.
#[test]
fn deep_nesting_on_a_small_stack_is_a_value_or_an_error() {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| {
            for config in CONFIGS {
                for shape in SHAPES {
                    for n in [9_999, 100_000] {
                        let run = common::run_lib(config, &program(shape, n));
                        let what = format!("{} {n} deep in {}", shape.name, config.name);
                        match run.error {
                            None => assert_eq!(run.lines, [(shape.value)(n)], "{what}"),
                            Some(e) => assert!(
                                matches!(
                                    e.kind,
                                    ErrorKind::NestingTooDeep(_) | ErrorKind::RecursionTooDeep
                                ),
                                "{what}: {:?}",
                                e.kind
                            ),
                        }
                    }
                }
            }
        })
        .unwrap()
        .join()
        .unwrap();
}
