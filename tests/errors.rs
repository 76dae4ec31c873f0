//! Every error a user can cause: its message, where it points (the source
//! line and caret on stderr), the exit status, and what output survives it.
//! The cases of tests/corpus/errors.txt (format described at its top) are
//! checked through the library and through the binary, in every mode
//! (docs/language.md §1: every tier gives the same error); the tests after
//! them check what one corpus case cannot say.
//!
//! Each corpus test reports every failing case at once rather than stopping
//! at the first.

mod common;

use common::{BinRun, Config, CONFIGS};
use exprjit::{ErrorKind, Span};

const CORPUS: &str = include_str!("corpus/errors.txt");

/// An error case: a program, the output printed before the error, the
/// error, and where it points.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    /// Line of the case's `===` header in the corpus (1-based).
    line: usize,
    program: String,
    /// Values printed before the error (statements before the failing one).
    before: Vec<String>,
    /// The error's message (what its kind displays as).
    message: String,
    /// The error's kind, as `{:?}` writes it.
    kind: String,
    /// Byte range the error points at.
    span: Span,
    /// 1-based line and column shown in the rendered error.
    at_line: usize,
    col: usize,
    /// Number of `^` under the source line; `None` for a long span, of
    /// which only the start is checked.
    carets: Option<usize>,
}

fn s(x: &str) -> String {
    x.to_string()
}

/// The cases of an error corpus: each expected section is the output
/// lines, then `error:`, `kind:`, `span:` and `at:` lines.
fn parse_cases(text: &str) -> Vec<Case> {
    common::read_corpus(text)
        .into_iter()
        .map(parse_case)
        .collect()
}

fn parse_case(case: common::CorpusCase) -> Case {
    let here = format!("case {:?} (corpus line {})", case.name, case.line);
    let bad = |what: &str| -> ! { panic!("{here}: {what}") };
    let Some(first) = case.expected.iter().position(|l| l.starts_with("error: ")) else {
        bad("no `error:` line")
    };
    let [error, kind, span, at] = &case.expected[first..] else {
        bad("want `error:`, `kind:`, `span:` and `at:` lines, in that order, last")
    };
    let field = |line: &str, key: &str| -> String {
        match line.strip_prefix(key) {
            Some(value) => value.to_string(),
            None => bad(&format!("want a `{key}` line, found {line:?}")),
        }
    };
    let number = |text: &str| -> usize {
        text.parse()
            .unwrap_or_else(|_| bad(&format!("{text:?} is not a number")))
    };
    let span = field(span, "span: ");
    let Some((start, end)) = span.split_once("..") else {
        bad(&format!("span {span:?} is not START..END"))
    };
    let at = field(at, "at: ");
    let (position, carets) = match at.split_once(' ') {
        Some((position, marks)) => {
            if marks.is_empty() || marks.chars().any(|c| c != '^') {
                bad(&format!("{marks:?} is not a row of `^`"));
            }
            (position, Some(marks.len()))
        }
        None => (at.as_str(), None),
    };
    let Some((at_line, col)) = position.split_once(':') else {
        bad(&format!("position {position:?} is not LINE:COL"))
    };
    Case {
        before: case.expected[..first].to_vec(),
        message: field(error, "error: "),
        kind: field(kind, "kind: "),
        span: Span {
            start: number(start) as u32,
            end: number(end) as u32,
        },
        at_line: number(at_line),
        col: number(col),
        carets,
        name: case.name,
        line: case.line,
        program: case.program,
    }
}

fn cases() -> Vec<Case> {
    parse_cases(CORPUS)
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

/// What is wrong with a rendered error (from `Error::render` or stderr).
fn rendered_problems(rendered: &str, file: &str, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let head = format!("error: {}\n", case.message);
    if !rendered.starts_with(&head) {
        problems.push(format!("want {head:?} first"));
    }
    let location = format!("┌─ {file}:{}:{}\n", case.at_line, case.col);
    if !rendered.contains(&location) {
        problems.push(format!("want {location:?}"));
    }
    if let Some(n) = case.carets {
        let source_line = case.program.lines().nth(case.at_line - 1).unwrap_or("");
        let got = carets(rendered, case.at_line, source_line);
        if got != Some((case.col, n)) {
            problems.push(format!(
                "want {n} carets from column {} under {source_line:?}, found (column, carets) {got:?}",
                case.col
            ));
        }
    }
    if !problems.is_empty() {
        problems.push(format!("rendered: {}", shorten(rendered)));
    }
    problems
}

/// What is wrong with how `case` fails through the library in `config`.
fn library_problems(config: &Config, case: &Case) -> Vec<String> {
    let run = common::run_lib(config, &case.program);
    let mut problems = Vec::new();
    if run.lines != case.before {
        problems.push(format!(
            "output before the error: want {:?}, got {:?}",
            case.before, run.lines
        ));
    }
    let Some(err) = run.error else {
        problems.push("no error".to_string());
        return problems;
    };
    let message = err.kind.to_string();
    if message != case.message {
        problems.push(format!("message: want {:?}, got {message:?}", case.message));
    }
    let kind = format!("{:?}", err.kind);
    if kind != case.kind {
        problems.push(format!("kind: want {}, got {kind}", case.kind));
    }
    if err.span != Some(case.span) {
        problems.push(format!("span: want {:?}, got {:?}", case.span, err.span));
    }
    match &err.source {
        Some(source) if source.text == case.program => {}
        Some(source) => problems.push(format!("source text is {:?}", source.text)),
        None => problems.push("an error with a span has no source".to_string()),
    }
    problems.extend(rendered_problems(&err.render(), "<test>", case));
    problems
}

/// What is wrong with how `case` failed through the binary, which ran it
/// from `file`.
fn binary_problems(run: &BinRun, file: &str, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    if run.status != Some(1) {
        problems.push(format!(
            "exit status {:?} (signal {:?}), want 1",
            run.status, run.signal
        ));
    }
    let want: String = case.before.iter().map(|l| format!("{l}\n")).collect();
    if run.stdout != want {
        problems.push(format!("stdout: want {want:?}, got {:?}", run.stdout));
    }
    problems.extend(rendered_problems(&run.stderr, file, case));
    problems
}

/// `problems` as a failure of `case` run via `how`, if there are any.
fn failure(case: &Case, how: &str, problems: Vec<String>) -> Option<String> {
    (!problems.is_empty()).then(|| {
        format!(
            "case {:?} (corpus line {}) via {how}\n  program: {}\n  - {}",
            case.name,
            case.line,
            shorten(&case.program),
            problems.join("\n  - ")
        )
    })
}

/// `text` quoted, cut short if it is long (a 10,000-level program).
fn shorten(text: &str) -> String {
    match text.char_indices().nth(400) {
        Some((cut, _)) => format!("{:?}… ({} bytes)", &text[..cut], text.len()),
        None => format!("{text:?}"),
    }
}

#[test]
fn library_errors_have_the_right_kind_span_and_rendering() {
    let cases = cases();
    let total = cases.len() * CONFIGS.len();
    // Deep nesting needs the same stack the binary gives its program thread.
    let failures = common::on_big_stack(move || {
        let mut failures = Vec::new();
        for config in CONFIGS {
            for case in &cases {
                let how = format!("library ({})", config.name);
                failures.extend(failure(case, &how, library_problems(config, case)));
            }
        }
        failures
    });
    common::report(failures, total);
}

#[test]
fn binary_errors_exit_1_keep_earlier_output_and_point_at_the_source() {
    let cases = cases();
    let mut failures = Vec::new();
    for config in CONFIGS {
        for case in &cases {
            let run = common::eval_bin(config, &case.program);
            let how = format!("exprjit eval ({})", config.name);
            failures.extend(failure(case, &how, binary_problems(&run, "<eval>", case)));
        }
    }
    common::report(failures, cases.len() * CONFIGS.len());
}

#[test]
fn binary_errors_name_the_file_or_stdin() {
    let cases = cases();
    let mut failures = Vec::new();
    for config in CONFIGS {
        for case in &cases {
            let file = common::TempFile::with_contents(case.program.as_bytes());
            let mut args = vec!["run".to_string()];
            args.extend(config.args());
            args.push(file.path_str().to_string());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = common::run_bin(&args, None);
            let how = format!("exprjit run FILE ({})", config.name);
            failures.extend(failure(
                case,
                &how,
                binary_problems(&run, file.path_str(), case),
            ));

            let run = common::run_stdin_bin(config, case.program.as_bytes());
            let how = format!("exprjit run - ({})", config.name);
            failures.extend(failure(case, &how, binary_problems(&run, "<stdin>", case)));
        }
    }
    common::report(failures, 2 * cases.len() * CONFIGS.len());
}

/// The corpus holds every case it held when it replaced a table of 26, and
/// its syntax errors print nothing (nothing runs).
#[test]
fn corpus_is_well_formed() {
    let cases = cases();
    assert!(cases.len() >= 26, "only {} cases", cases.len());
    for case in &cases {
        let syntax = case.name.starts_with("syntax: ");
        assert!(
            syntax || case.name.starts_with("run time: "),
            "{:?} is neither `syntax:` nor `run time:`",
            case.name
        );
        assert!(
            !syntax || case.before.is_empty(),
            "{:?} prints before a syntax error",
            case.name
        );
    }
    let deep = cases
        .iter()
        .find(|c| c.kind == "NestingTooDeep(10000)")
        .expect("the nesting case");
    assert_eq!(deep.program, format!("{}1", "-".repeat(10_001)));
}

#[test]
fn the_corpus_parser_reads_every_part_of_a_case() {
    let cases = parse_cases(
        "header\n=== run time: a {escapes}\n1\\n\\*2:-k\n---\n# note\n1\n\n\
         error: undefined variable 'k'\nkind: UndefinedVariable(\"k\")\n\
         span: 4..5\nat: 2:3 ^\n\
         === syntax: b\nx\n---\nerror: m\nkind: K\nspan: 0..10\nat: 1:1\n",
    );
    assert_eq!(cases.len(), 2);
    let a = &cases[0];
    assert_eq!((a.name.as_str(), a.line), ("run time: a", 2));
    assert_eq!(a.program, "1\n--k");
    assert_eq!(a.before, ["1"]);
    assert_eq!(a.message, "undefined variable 'k'");
    assert_eq!(a.kind, "UndefinedVariable(\"k\")");
    assert_eq!(a.span, Span { start: 4, end: 5 });
    assert_eq!((a.at_line, a.col, a.carets), (2, 3, Some(1)));
    assert!(cases[1].before.is_empty());
    assert_eq!(cases[1].carets, None);
}

/// The harness itself must be able to fail: a case with any one field
/// wrong is reported through the library, and through the binary for
/// every field the binary shows.
#[test]
fn the_harness_reports_wrong_expectations() {
    let right = cases()
        .into_iter()
        .find(|c| !c.before.is_empty() && c.carets.is_some() && c.at_line > 1)
        .expect("a run-time case");
    let config = &CONFIGS[0];
    assert_eq!(library_problems(config, &right), Vec::<String>::new());
    let run = common::eval_bin(config, &right.program);
    assert_eq!(
        binary_problems(&run, "<eval>", &right),
        Vec::<String>::new()
    );
    type Change = fn(&mut Case);
    let wrong: [(&str, Change, bool); 8] = [
        ("output", |c| c.before.push(s("9")), true),
        ("message", |c| c.message.push('!'), true),
        ("kind", |c| c.kind.push('!'), false),
        ("span", |c| c.span.end += 1, false),
        ("line", |c| c.at_line -= 1, true),
        ("column", |c| c.col += 1, true),
        ("carets", |c| c.carets = c.carets.map(|n| n + 1), true),
        ("no error", |c| c.program = s("1"), true),
    ];
    for (what, change, shown) in wrong {
        let mut case = right.clone();
        change(&mut case);
        assert!(
            !library_problems(config, &case).is_empty(),
            "a wrong {what} passed through the library"
        );
        if shown {
            let run = common::eval_bin(config, &case.program);
            assert!(
                !binary_problems(&run, "<eval>", &case).is_empty(),
                "a wrong {what} passed through the binary"
            );
        }
    }
}

/// docs/language.md §6: a program is parsed whole before anything runs.
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

/// docs/language.md §4: built-in names cannot be assigned or redefined.
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

/// docs/language.md §6: errors point at the source position where there is
/// one. The name being (re)defined is that position.
#[test]
fn redefining_a_builtin_points_at_the_name() {
    let case = &parse_cases(
        "=== run time: redefining pi marks the name\n1\npi = 3\n---\n1\n\
         error: cannot redefine built-in 'pi'\nkind: BuiltinRedefined(\"pi\")\n\
         span: 2..4\nat: 2:1 ^^\n",
    )[0];
    for config in CONFIGS {
        assert_eq!(
            library_problems(config, case),
            Vec::<String>::new(),
            "{}",
            config.name
        );
        let run = common::eval_bin(config, &case.program);
        assert_eq!(
            binary_problems(&run, "<eval>", case),
            Vec::<String>::new(),
            "{}",
            config.name
        );
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

/// docs/language.md §6: a usage error exits 2 and runs nothing.
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
        registers: None,
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
