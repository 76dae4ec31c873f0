//! Every error a user can cause: its message, where it points (the source
//! line and caret on stderr), the exit status, and what output survives it.
//! Each is checked through the library and through the binary, in every
//! mode (SPEC §1: every tier gives the same error).

mod common;

use common::{BinRun, Config, CONFIGS};
use exprjit::{ErrorKind, Span};

/// An error case: a program, the output printed before the error, the
/// error, and where it points.
struct Case {
    program: &'static str,
    /// Values printed before the error (statements before the failing one).
    before: &'static [&'static str],
    kind: ErrorKind,
    /// Byte range the error points at.
    span: (u32, u32),
    /// 1-based line and column shown in the rendered error.
    line: usize,
    col: usize,
    /// Number of `^` under the source line.
    carets: usize,
}

fn s(x: &str) -> String {
    x.to_string()
}

fn cases() -> Vec<Case> {
    let deep = Box::leak(format!("{}1", "-".repeat(10_001)).into_boxed_str());
    vec![
        // --- syntax errors: nothing runs -------------------------------
        Case {
            program: "1\n2\n1 < 2 < 3",
            before: &[],
            kind: ErrorKind::UnexpectedToken(s("'<'")),
            span: (10, 11),
            line: 3,
            col: 7,
            carets: 1,
        },
        Case {
            program: "1\nf(x) = x + 1 2",
            before: &[],
            kind: ErrorKind::UnexpectedToken(s("number")),
            span: (15, 16),
            line: 2,
            col: 14,
            carets: 1,
        },
        Case {
            program: "foo bar",
            before: &[],
            kind: ErrorKind::UnexpectedToken(s("identifier 'bar'")),
            span: (4, 7),
            line: 1,
            col: 5,
            carets: 3,
        },
        Case {
            program: "1 + )",
            before: &[],
            kind: ErrorKind::ExpectedExpression(s("')'")),
            span: (4, 5),
            line: 1,
            col: 5,
            carets: 1,
        },
        Case {
            program: "1\n2 *",
            before: &[],
            kind: ErrorKind::ExpectedExpression(s("end of input")),
            span: (5, 5),
            line: 2,
            col: 4,
            carets: 1,
        },
        Case {
            program: "1\n2 * \n3",
            before: &[],
            kind: ErrorKind::ExpectedExpression(s("end of line")),
            span: (6, 7),
            line: 2,
            col: 5,
            carets: 1,
        },
        Case {
            program: "1 + é",
            before: &[],
            kind: ErrorKind::UnexpectedChar('é'),
            span: (4, 6),
            line: 1,
            col: 5,
            carets: 1,
        },
        Case {
            program: "1\n22\nx = (1 +\n 2) @ 3",
            before: &[],
            kind: ErrorKind::UnexpectedChar('@'),
            span: (18, 19),
            line: 4,
            col: 5,
            carets: 1,
        },
        Case {
            program: "1\n(1 + 2",
            before: &[],
            kind: ErrorKind::UnexpectedEof,
            span: (8, 8),
            line: 2,
            col: 7,
            carets: 1,
        },
        Case {
            program: deep,
            before: &[],
            kind: ErrorKind::NestingTooDeep(10_000),
            span: (1, 10_002),
            line: 1,
            col: 2,
            carets: 0, // a long span: only its start is checked
        },
        Case {
            program: "1\n1 + 2 = 3",
            before: &[],
            kind: ErrorKind::BadAssignTarget,
            span: (2, 7),
            line: 2,
            col: 1,
            carets: 5,
        },
        // Only a bare name (or function head) may stand before `=`.
        Case {
            program: "1\n(x) = 3",
            before: &[],
            kind: ErrorKind::BadAssignTarget,
            span: (2, 5),
            line: 2,
            col: 1,
            carets: 3,
        },
        Case {
            program: "1\n(f(x)) = x",
            before: &[],
            kind: ErrorKind::BadAssignTarget,
            span: (2, 8),
            line: 2,
            col: 1,
            carets: 6,
        },
        Case {
            program: "1\nf(x, 2) = 3",
            before: &[],
            kind: ErrorKind::BadParameter,
            span: (7, 8),
            line: 2,
            col: 6,
            carets: 1,
        },
        // --- run-time errors: earlier output is kept ----------------------
        Case {
            program: "1\n2\nk + 1\n3",
            before: &["1", "2"],
            kind: ErrorKind::UndefinedVariable(s("k")),
            span: (4, 5),
            line: 3,
            col: 1,
            carets: 1,
        },
        Case {
            program: "f(x) = x + k\n1\nf(1)",
            before: &["1"],
            kind: ErrorKind::UndefinedVariable(s("k")),
            span: (11, 12),
            line: 1,
            col: 12,
            carets: 1,
        },
        Case {
            program: "1\nnosuch(2) + 1",
            before: &["1"],
            kind: ErrorKind::UnknownFunction(s("nosuch")),
            span: (2, 11),
            line: 2,
            col: 1,
            carets: 9,
        },
        Case {
            program: "x = 1\n5\n2 * x(3)",
            before: &["5"],
            kind: ErrorKind::CallingVariable(s("x")),
            span: (12, 16),
            line: 3,
            col: 5,
            carets: 4,
        },
        Case {
            program: "7\npi(1)",
            before: &["7"],
            kind: ErrorKind::CallingVariable(s("pi")),
            span: (2, 4),
            line: 2,
            col: 1,
            carets: 2,
        },
        Case {
            program: "f(x) = x\n1\nf + 1",
            before: &["1"],
            kind: ErrorKind::FunctionAsValue(s("f")),
            span: (11, 12),
            line: 3,
            col: 1,
            carets: 1,
        },
        Case {
            program: "1\n2 + sqrt",
            before: &["1"],
            kind: ErrorKind::FunctionAsValue(s("sqrt")),
            span: (6, 10),
            line: 2,
            col: 5,
            carets: 4,
        },
        Case {
            program: "f(x, y) = x\nf(1, 2)\nf(1)",
            before: &["1"],
            kind: ErrorKind::Arity {
                name: s("f"),
                expected: 2,
                got: 1,
            },
            span: (20, 24),
            line: 3,
            col: 1,
            carets: 4,
        },
        Case {
            program: "1\natan2(1, 2, 3)",
            before: &["1"],
            kind: ErrorKind::Arity {
                name: s("atan2"),
                expected: 2,
                got: 3,
            },
            span: (2, 16),
            line: 2,
            col: 1,
            carets: 14,
        },
        Case {
            program: "1\nsin()",
            before: &["1"],
            kind: ErrorKind::Arity {
                name: s("sin"),
                expected: 1,
                got: 0,
            },
            span: (2, 7),
            line: 2,
            col: 1,
            carets: 5,
        },
        Case {
            program: "f(n) = f(n + 1) + 1\n1\nf(0)",
            before: &["1"],
            kind: ErrorKind::RecursionTooDeep,
            span: (7, 15),
            line: 1,
            col: 8,
            carets: 8,
        },
        Case {
            program: "1\nf(a, b, a) = 1\n2",
            before: &["1"],
            kind: ErrorKind::DuplicateParameter(s("a")),
            span: (10, 11),
            line: 2,
            col: 9,
            carets: 1,
        },
    ]
}

/// The `^` markers under the source line in a rendered error: the column
/// (1-based, in characters) of the first one and how many there are.
fn carets(rendered: &str, source_line_no: usize, source_line: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = rendered.lines().collect();
    let prefix = format!("{source_line_no} │ ");
    let i = lines
        .iter()
        .position(|l| l.trim_start().strip_prefix(&prefix) == Some(source_line))?;
    let gutter = lines[i].chars().count() - source_line.chars().count();
    let marks: String = lines.get(i + 1)?.chars().skip(gutter).collect();
    let col = marks.chars().take_while(|&c| c == ' ').count() + 1;
    let n = marks
        .chars()
        .skip(col - 1)
        .take_while(|&c| c == '^')
        .count();
    Some((col, n))
}

/// Checks a rendered error (from `Error::render` or stderr).
fn check_rendered(rendered: &str, file: &str, program: &str, case: &Case) {
    let head = format!("error: {}\n", case.kind);
    assert!(
        rendered.starts_with(&head),
        "want {head:?} first in {rendered:?}"
    );
    let location = format!("┌─ {file}:{}:{}\n", case.line, case.col);
    assert!(
        rendered.contains(&location),
        "want {location:?} in {rendered:?}"
    );
    if case.carets == 0 {
        return;
    }
    let source_line = program.lines().nth(case.line - 1).unwrap();
    assert_eq!(
        carets(rendered, case.line, source_line),
        Some((case.col, case.carets)),
        "caret under {source_line:?} in {rendered:?}"
    );
}

#[test]
fn library_errors_have_the_right_kind_span_and_rendering() {
    common::on_big_stack(|| {
        for config in CONFIGS {
            for case in cases() {
                let run = common::run_lib(config, case.program);
                let what = format!("{:?} in {}", case.program, config.name);
                assert_eq!(run.lines, case.before, "output before the error, {what}");
                let err = run.error.unwrap_or_else(|| panic!("no error for {what}"));
                assert_eq!(err.kind, case.kind, "{what}");
                let want = Span {
                    start: case.span.0,
                    end: case.span.1,
                };
                assert_eq!(err.span, Some(want), "span for {what}");
                let source = err
                    .source
                    .as_ref()
                    .expect("an error with a span has a source");
                assert_eq!(source.text, case.program, "{what}");
                check_rendered(&err.render(), "<test>", case.program, &case);
            }
        }
    });
}

fn check_bin(run: &BinRun, file: &str, program: &str, case: &Case) {
    assert_eq!(run.status, Some(1), "exit status for {program:?}: {run:?}");
    let want: String = case.before.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(run.stdout, want, "stdout for {program:?}");
    check_rendered(&run.stderr, file, program, case);
}

#[test]
fn binary_errors_exit_1_keep_earlier_output_and_point_at_the_source() {
    for config in CONFIGS {
        for case in cases() {
            let run = common::eval_bin(config, case.program);
            check_bin(&run, "<eval>", case.program, &case);
        }
    }
}

#[test]
fn binary_errors_name_the_file_or_stdin() {
    for config in CONFIGS {
        for case in cases() {
            let file = common::TempFile::with_contents(case.program.as_bytes());
            let mut args = vec!["run".to_string()];
            args.extend(config.args());
            args.push(file.path_str().to_string());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = common::run_bin(&args, None);
            check_bin(&run, file.path_str(), case.program, &case);

            let run = common::run_stdin_bin(config, case.program.as_bytes());
            check_bin(&run, "<stdin>", case.program, &case);
        }
    }
}

/// SPEC §6: a program is parsed whole before anything runs.
#[test]
fn a_syntax_error_anywhere_means_nothing_runs() {
    let long_ok: String = (0..1000).map(|i| format!("x{i} = {i}\nx{i}\n")).collect();
    let programs = [
        "1\n2\n3 +".to_string(),
        "f(x) = f(x)\nf(1)\n)".to_string(),
        "k\n1 < 2 < 3".to_string(),
        "1; 2; 3; 4 $".to_string(),
        "pi = 3\n(".to_string(),
        format!("{long_ok}1 +* 2\n"),
    ];
    for config in CONFIGS {
        for program in &programs {
            let run = common::run_lib(config, program);
            assert!(run.lines.is_empty(), "{program:?} printed {:?}", run.lines);
            let err = run.error.expect("a syntax error");
            assert!(
                matches!(
                    err.kind,
                    ErrorKind::UnexpectedToken(_)
                        | ErrorKind::ExpectedExpression(_)
                        | ErrorKind::UnexpectedChar(_)
                        | ErrorKind::UnexpectedEof
                ),
                "{program:?} gave {:?}",
                err.kind
            );
            let run = common::eval_bin(config, program);
            assert_eq!(run.status, Some(1), "{program:?}");
            assert_eq!(run.stdout, "", "{program:?}");
            assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
        }
    }
}

/// A syntax error in a program whose earlier statements would have defined
/// names leaves the engine untouched: nothing was bound.
#[test]
fn a_syntax_error_binds_nothing() {
    for config in CONFIGS {
        let mut engine = config.engine();
        let run = common::run_in(&mut engine, "x = 1\nf(a) = a\n1 +");
        assert!(run.error.is_some());
        let run = common::run_in(&mut engine, "x");
        assert_eq!(
            run.error.map(|e| e.kind),
            Some(ErrorKind::UndefinedVariable(s("x")))
        );
        let run = common::run_in(&mut engine, "f(1)");
        assert_eq!(
            run.error.map(|e| e.kind),
            Some(ErrorKind::UnknownFunction(s("f")))
        );
    }
}

/// A run-time error stops the program but the engine keeps what the
/// statements before it bound, and a failed assignment binds nothing.
#[test]
fn a_run_time_error_keeps_earlier_bindings() {
    for config in CONFIGS {
        let mut engine = config.engine();
        let run = common::run_in(&mut engine, "x = 1\nf(a) = a * 2\nx = k\ny = 2");
        assert_eq!(
            run.error.map(|e| e.kind),
            Some(ErrorKind::UndefinedVariable(s("k")))
        );
        let run = common::run_in(&mut engine, "x\nf(5)");
        assert_eq!(run.lines, ["1", "10"], "{}", config.name);
        assert!(run.error.is_none());
        let run = common::run_in(&mut engine, "y");
        assert_eq!(
            run.error.map(|e| e.kind),
            Some(ErrorKind::UndefinedVariable(s("y")))
        );
    }
}

/// SPEC §4: built-in names cannot be assigned or redefined.
#[test]
fn redefining_a_builtin_is_an_error_and_keeps_earlier_output() {
    for config in CONFIGS {
        for (program, name) in [
            ("1\npi = 3\n2", "pi"),
            ("1\nsin(x) = x\n2", "sin"),
            ("1\nmax = 1\n2", "max"),
            ("1\nnan(a, b) = a\n2", "nan"),
        ] {
            let run = common::run_lib(config, program);
            assert_eq!(run.lines, ["1"]);
            let err = run.error.expect("an error");
            assert_eq!(err.kind, ErrorKind::BuiltinRedefined(s(name)));
            let run = common::eval_bin(config, program);
            assert_eq!(run.status, Some(1));
            assert_eq!(run.stdout, "1\n");
            let head = format!("error: cannot redefine built-in '{name}'\n");
            assert!(run.stderr.starts_with(&head), "{}", run.stderr);
        }
    }
}

/// SPEC §6: errors point at the source position where there is one. The
/// name being (re)defined is that position.
#[test]
fn redefining_a_builtin_points_at_the_name() {
    for config in CONFIGS {
        let program = "1\npi = 3";
        let run = common::run_lib(config, program);
        let err = run.error.expect("an error");
        assert_eq!(err.span, Some(Span { start: 2, end: 4 }));
        let case = Case {
            program,
            before: &["1"],
            kind: ErrorKind::BuiltinRedefined(s("pi")),
            span: (2, 4),
            line: 2,
            col: 1,
            carets: 2,
        };
        check_rendered(&err.render(), "<test>", program, &case);
        let run = common::eval_bin(config, program);
        check_bin(&run, "<eval>", program, &case);
    }
}

/// A deeply nested expression evaluated on a thread with a small stack
/// (512 KiB) gives what it gives on the command line's big stack: the
/// library runs it on a stack of its own.
#[test]
fn deep_nesting_on_a_small_thread_works_as_on_a_big_one() {
    std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(|| {
            let text = format!("1\n{}1{}", "-(".repeat(9_001), ")".repeat(9_001));
            for config in CONFIGS {
                let run = common::run_lib(config, &text);
                assert!(run.error.is_none(), "{}: {:?}", config.name, run.error);
                assert_eq!(run.lines, ["1", "-1"], "{}", config.name);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn too_many_parameters_points_at_the_sixty_fifth() {
    let params: Vec<String> = (1..=65).map(|i| format!("p{i}")).collect();
    let program = format!("1\nf({}) = 1\n2", params.join(","));
    let start = program.find("p65").unwrap() as u32;
    for config in CONFIGS {
        let run = common::run_lib(config, &program);
        assert_eq!(run.lines, ["1"]);
        let err = run.error.expect("an error");
        assert_eq!(err.kind, ErrorKind::TooManyParameters(65, 64));
        assert_eq!(err.kind.to_string(), "too many parameters: 65 (at most 64)");
        assert_eq!(
            err.span,
            Some(Span {
                start,
                end: start + 3
            })
        );
        let run = common::eval_bin(config, &program);
        assert_eq!(run.status, Some(1));
        assert_eq!(run.stdout, "1\n");
        assert!(run
            .stderr
            .starts_with("error: too many parameters: 65 (at most 64)\n"));
        // The window around a long line still reports the true column.
        let col = start as usize - 2 + 1;
        assert!(
            run.stderr.contains(&format!("<eval>:2:{col}\n")),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("p65"), "{}", run.stderr);
    }
}

#[test]
fn messages_name_the_problem_in_words() {
    let expect = [
        (ErrorKind::UnexpectedChar('$'), "unexpected character '$'"),
        (ErrorKind::UnexpectedToken(s("')'")), "unexpected ')'"),
        (
            ErrorKind::ExpectedExpression(s("end of input")),
            "expected expression, found end of input",
        ),
        (ErrorKind::UnexpectedEof, "unexpected end of input"),
        (
            ErrorKind::NestingTooDeep(10_000),
            "expressions nested too deeply (more than 10000 levels)",
        ),
        (
            ErrorKind::UndefinedVariable(s("k")),
            "undefined variable 'k'",
        ),
        (ErrorKind::UnknownFunction(s("g")), "unknown function 'g'"),
        (
            ErrorKind::CallingVariable(s("x")),
            "'x' is a variable, not a function",
        ),
        (
            ErrorKind::FunctionAsValue(s("f")),
            "'f' is a function; call it with arguments",
        ),
        (
            ErrorKind::Arity {
                name: s("f"),
                expected: 1,
                got: 2,
            },
            "f expects 1 argument, got 2",
        ),
        (
            ErrorKind::Arity {
                name: s("g"),
                expected: 0,
                got: 1,
            },
            "g expects 0 arguments, got 1",
        ),
        (ErrorKind::RecursionTooDeep, "recursion too deep"),
        (
            ErrorKind::BuiltinRedefined(s("pi")),
            "cannot redefine built-in 'pi'",
        ),
        (
            ErrorKind::DuplicateParameter(s("x")),
            "duplicate parameter 'x'",
        ),
        (
            ErrorKind::TooManyParameters(65, 64),
            "too many parameters: 65 (at most 64)",
        ),
        (ErrorKind::BadParameter, "parameter must be a name"),
    ];
    for (kind, message) in expect {
        assert_eq!(kind.to_string(), message);
    }
    // A 10,000-character name is cut short in the message.
    let long = "v".repeat(10_000);
    let message = ErrorKind::UndefinedVariable(long).to_string();
    assert_eq!(message, format!("undefined variable '{}…'", "v".repeat(40)));
}

#[test]
fn a_long_name_is_cut_short_on_stderr() {
    let name = "n".repeat(10_000);
    let run = common::run_bin(&["eval", &name], None);
    assert_eq!(run.status, Some(1));
    let first = run.stderr.lines().next().unwrap();
    assert_eq!(
        first,
        format!("error: undefined variable '{}…'", "n".repeat(40))
    );
    assert!(
        run.stderr.len() < 2_000,
        "{} bytes on stderr",
        run.stderr.len()
    );
}

#[test]
fn invalid_utf8_in_a_file_is_an_error() {
    for config in CONFIGS {
        let run = common::run_file_bin(config, b"1\n2\n\xff\xfe 3\n");
        assert_eq!(run.status, Some(1));
        assert_eq!(run.stdout, "", "nothing runs");
        assert!(
            run.stderr.starts_with("error: ")
                && run.stderr.contains("is not valid UTF-8 (at byte 4)"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn invalid_utf8_on_stdin_is_an_error() {
    for config in CONFIGS {
        let run = common::run_stdin_bin(config, b"1\n\xc3\x28\n");
        assert_eq!(run.status, Some(1));
        assert_eq!(run.stdout, "");
        assert_eq!(
            run.stderr,
            "error: <stdin> is not valid UTF-8 (at byte 2)\n"
        );
    }
    // Without a subcommand, piped stdin is run as a program too.
    let run = common::run_bin(&[], Some(b"\xff"));
    assert_eq!(run.status, Some(1));
    assert_eq!(
        run.stderr,
        "error: <stdin> is not valid UTF-8 (at byte 0)\n"
    );
}

#[test]
fn stdin_without_a_subcommand_runs_as_a_program() {
    let run = common::run_bin(&[], Some(b"1 + 1\nk\n"));
    assert_eq!(run.status, Some(1));
    assert_eq!(run.stdout, "2\n");
    assert!(run.stderr.starts_with("error: undefined variable 'k'\n"));
    assert!(run.stderr.contains("<stdin>:2:1"), "{}", run.stderr);
}

#[test]
fn a_missing_file_is_an_error() {
    let path = format!("{}/no-such-file.expr", env!("CARGO_TARGET_TMPDIR"));
    for config in CONFIGS {
        let mut args = vec!["run".to_string()];
        args.extend(config.args());
        args.push(path.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = common::run_bin(&args, None);
        assert_eq!(run.status, Some(1));
        assert_eq!(run.stdout, "");
        let head = format!("error: cannot read '{path}': ");
        assert!(run.stderr.starts_with(&head), "{}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
}

#[test]
fn a_directory_is_not_a_program() {
    let run = common::run_bin(&["run", env!("CARGO_TARGET_TMPDIR")], None);
    assert_eq!(run.status, Some(1));
    assert!(
        run.stderr.starts_with("error: cannot read '"),
        "{}",
        run.stderr
    );
}

/// SPEC §6: a usage error exits 2 and runs nothing.
#[test]
fn usage_errors_exit_2() {
    let usage: &[&[&str]] = &[
        &["eval"],
        &["eval", "--mode", "fast", "1"],
        &["eval", "--mode"],
        &["eval", "--threshold", "0", "1"],
        &["eval", "--threshold", "-1", "1"],
        &["eval", "--threshold", "many", "1"],
        &["eval", "--no-such-flag", "1"],
        &["eval", "1", "2"],
        &["run"],
        &["run", "a", "b"],
        &["no-such-command"],
        &["--no-such-flag"],
    ];
    for args in usage {
        let run = common::run_bin(args, Some(b"1\n"));
        assert_eq!(run.status, Some(2), "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// A program starting with `-` is passed after `--` or with a leading space.
#[test]
fn a_program_starting_with_minus() {
    let run = common::run_bin(&["eval", "--", "-2^2"], None);
    assert_eq!((run.status, run.stdout.as_str()), (Some(0), "-4\n"));
    let run = common::run_bin(&["eval", " -2^2"], None);
    assert_eq!((run.status, run.stdout.as_str()), (Some(0), "-4\n"));
    // Without either, `-2^2` is an unknown option: a usage error.
    let run = common::run_bin(&["eval", "-2^2"], None);
    assert_eq!(run.status, Some(2));
}

/// The config helpers really pass the mode: an unknown mode must be refused,
/// so a typo in them could not silently run everything in one tier.
#[test]
fn every_config_is_accepted_by_the_binary() {
    for config in CONFIGS {
        let run = common::eval_bin(config, "1 + 1");
        assert_eq!(run.status, Some(0), "{}: {run:?}", config.name);
        assert_eq!(run.stdout, "2\n");
        assert!(config.args().contains(&"--mode".to_string()));
    }
    let bad = Config {
        name: "bad",
        mode: exprjit::Mode::Tiered,
        threshold: Some(0),
    };
    assert_eq!(common::eval_bin(&bad, "1").status, Some(2));
}

/// Off x86-64 there is no machine code: `--mode jit` and `asm` say so
/// (exit 1, one `error:` line) and the other modes run.
#[cfg(not(target_arch = "x86_64"))]
#[test]
fn without_x86_64_the_jit_is_refused_and_the_rest_runs() {
    let run = common::run_bin(&["eval", "--mode", "jit", "1 + 1"], None);
    assert_eq!(run.status, Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "error: --mode jit needs an x86-64 processor; use --mode interp\n"
    );
    let run = common::run_bin(&["asm", "f(x) = x"], None);
    assert_eq!(run.status, Some(1), "{run:?}");
    assert!(run.stderr.contains("needs an x86-64 processor"), "{run:?}");
    for mode in ["interp", "tiered"] {
        let run = common::run_bin(&["eval", "--mode", mode, "f(x) = x * 2; f(21)"], None);
        assert_eq!(
            (run.status, run.stdout.as_str()),
            (Some(0), "42\n"),
            "{mode}"
        );
    }
}
