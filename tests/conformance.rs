//! The conformance corpus (tests/corpus/conformance.txt, format described at
//! its top) run through the library and the binary, in every mode.
//!
//! Each test covers the whole corpus for one way of running it, and reports
//! every failing case at once rather than stopping at the first.

mod common;

use common::{config, Config, CONFIGS};

const CORPUS: &str = include_str!("corpus/conformance.txt");

/// One case of the corpus.
#[derive(Debug, Clone)]
struct Case {
    name: String,
    /// Line of the `===` header in the corpus file (1-based), for messages.
    line: usize,
    program: String,
    /// The expected stdout lines.
    output: Vec<String>,
    /// The expected error message, without `error: `.
    error: Option<String>,
}

/// The corpus's cases, each expected section read as output lines and an
/// optional final `error:` line.
fn parse_corpus(text: &str) -> Vec<Case> {
    common::read_corpus(text)
        .into_iter()
        .map(|case| {
            let mut output = Vec::new();
            let mut error = None;
            for l in case.expected {
                assert!(
                    error.is_none(),
                    "case {:?} (line {}): `error:` must be the last expected line",
                    case.name,
                    case.line
                );
                match l.strip_prefix("error: ") {
                    Some(message) => error = Some(message.to_string()),
                    None => output.push(l),
                }
            }
            Case {
                name: case.name,
                line: case.line,
                program: case.program,
                output,
                error,
            }
        })
        .collect()
}

fn cases() -> Vec<Case> {
    parse_corpus(CORPUS)
}

/// How a case went: the printed lines and the error message, if any.
#[derive(Debug, PartialEq)]
struct Outcome {
    output: Vec<String>,
    error: Option<String>,
}

/// A description of how `got` differs from `case`, or `None` if it does not.
fn compare(case: &Case, how: &str, got: &Outcome) -> Option<String> {
    let want = Outcome {
        output: case.output.clone(),
        error: case.error.clone(),
    };
    (want != *got).then(|| {
        format!(
            "case {:?} (corpus line {}) via {how}\n  program: {:?}\n  want: {:?}\n  got:  {:?}",
            case.name, case.line, case.program, want, got
        )
    })
}

/// Runs one case through the library.
fn library_outcome(config: &Config, case: &Case) -> (Outcome, Vec<String>) {
    let run = common::run_lib(config, &case.program);
    let mut problems = Vec::new();
    let error = run.error.map(|e| {
        let message = e.kind.to_string();
        let rendered = e.render();
        if !rendered.starts_with(&format!("error: {message}\n")) {
            problems.push(format!(
                "case {:?}: render() does not start with `error: {message}`: {rendered:?}",
                case.name
            ));
        }
        message
    });
    let outcome = Outcome {
        output: run.lines,
        error,
    };
    (outcome, problems)
}

fn check_library(config: Config) {
    let cases = cases();
    let total = cases.len();
    // Deep recursion needs the same stack the binary gives its program thread.
    let failures = common::on_big_stack(move || {
        let mut failures = Vec::new();
        for case in &cases {
            let (outcome, problems) = library_outcome(&config, case);
            failures.extend(problems);
            failures.extend(compare(
                case,
                &format!("library ({})", config.name),
                &outcome,
            ));
        }
        failures
    });
    common::report(failures, total);
}

/// What the binary printed, checked against the rules that hold for every
/// run: exit status 0 with nothing on stderr, or 1 with `error: ` first.
fn binary_outcome(case: &Case, how: &str, run: common::BinRun) -> Result<Outcome, String> {
    let fail = |why: String| {
        Err(format!(
            "case {:?} (corpus line {}) via {how}: {why}\n  stdout: {:?}\n  stderr: {:?}",
            case.name, case.line, run.stdout, run.stderr
        ))
    };
    let output: Vec<String> = if run.stdout.is_empty() {
        Vec::new()
    } else if let Some(text) = run.stdout.strip_suffix('\n') {
        text.split('\n').map(str::to_string).collect()
    } else {
        return fail("stdout does not end with a newline".into());
    };
    let error = match run.status {
        Some(0) => {
            if !run.stderr.is_empty() {
                return fail("exit status 0 but stderr is not empty".into());
            }
            None
        }
        Some(1) => {
            let Some(first) = run.stderr.lines().next() else {
                return fail("exit status 1 but stderr is empty".into());
            };
            let Some(message) = first.strip_prefix("error: ") else {
                return fail("stderr does not start with `error: `".into());
            };
            Some(message.to_string())
        }
        other => return fail(format!("exit status {other:?} (signal {:?})", run.signal)),
    };
    Ok(Outcome { output, error })
}

#[derive(Clone, Copy)]
enum Via {
    Eval,
    File,
    Stdin,
}

fn check_binary(config: Config, via: Via) {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let (how, run) = match via {
            Via::Eval => ("eval", common::eval_bin(&config, &case.program)),
            Via::File => (
                "run FILE",
                common::run_file_bin(&config, case.program.as_bytes()),
            ),
            Via::Stdin => (
                "run -",
                common::run_stdin_bin(&config, case.program.as_bytes()),
            ),
        };
        let how = format!("exprjit {how} ({})", config.name);
        match binary_outcome(case, &how, run) {
            Ok(outcome) => failures.extend(compare(case, &how, &outcome)),
            Err(problem) => failures.push(problem),
        }
    }
    common::report(failures, cases.len());
}

/// One test per configuration for each way of running: the library,
/// `exprjit eval`, and `exprjit run` (from a file in some configurations and
/// from stdin in the others, so that both paths see the whole corpus).
macro_rules! per_config {
    ($($(#[$only:meta])* $name:literal: $lib:ident, $eval:ident, $run:ident, $via:expr;)*) => {$(
        $(#[$only])*
        #[test]
        fn $lib() {
            check_library(config($name));
        }

        $(#[$only])*
        #[test]
        fn $eval() {
            check_binary(config($name), Via::Eval);
        }

        $(#[$only])*
        #[test]
        fn $run() {
            check_binary(config($name), $via);
        }
    )*};
}

per_config! {
    "interp": library_interp, eval_interp, run_file_interp, Via::File;
    #[cfg(target_arch = "x86_64")]
    "jit": library_jit, eval_jit, run_stdin_jit, Via::Stdin;
    "tiered-1": library_tiered_1, eval_tiered_1, run_file_tiered_1, Via::File;
    "tiered-2": library_tiered_2, eval_tiered_2, run_stdin_tiered_2, Via::Stdin;
    "tiered-3": library_tiered_3, eval_tiered_3, run_file_tiered_3, Via::File;
}

#[test]
fn configs_cover_every_mode_and_low_thresholds() {
    let names: Vec<&str> = CONFIGS.iter().map(|c| c.name).collect();
    let mut want = vec!["interp", "jit", "tiered-1", "tiered-2", "tiered-3"];
    if cfg!(not(target_arch = "x86_64")) {
        want.retain(|n| *n != "jit");
    }
    assert_eq!(names, want);
    // The command line can select every configuration here (the corpus
    // runs through it), and no name in the whole matrix is taken twice.
    assert!(CONFIGS.iter().all(|c| c.registers.is_none()));
    let mut all: Vec<&str> = common::all_configs().map(|c| c.name).collect();
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "a name is taken twice: {all:?}");
}

#[test]
fn corpus_is_well_formed_and_covers_every_section() {
    let cases = cases();
    let mut names = std::collections::HashSet::new();
    for case in &cases {
        assert!(
            names.insert(&case.name),
            "duplicate case name {:?}",
            case.name
        );
    }
    for section in ["§2 ", "§3 ", "§4 ", "§5 "] {
        let n = cases.iter().filter(|c| c.name.starts_with(section)).count();
        assert!(n >= 8, "only {n} cases for docs/language.md {section}");
    }
    let errors = cases.iter().filter(|c| c.error.is_some()).count();
    assert!(cases.len() >= 200, "{} cases", cases.len());
    assert!(errors >= 50, "{errors} error cases");
    // Escapes were applied where asked for.
    let tabs = cases
        .iter()
        .find(|c| c.name.starts_with("§2 whitespace: spaces, tabs"))
        .unwrap();
    assert_eq!(tabs.program, "1 +\t2\n \t 3\r\n4\r\n5");
}

#[test]
fn the_corpus_parser_reads_every_part_of_a_case() {
    let text = "header\n=== a {escapes}\nx = 1\\t\n\nx\\*3:(\n\n---\n# note\n1\n\nerror: boom\n\
                === b\n---\n";
    let cases = parse_corpus(text);
    assert_eq!(cases.len(), 2);
    assert_eq!(cases[0].name, "a");
    assert_eq!(cases[0].line, 2);
    assert_eq!(cases[0].program, "x = 1\t\n\nx(((");
    assert_eq!(cases[0].output, ["1"]);
    assert_eq!(cases[0].error.as_deref(), Some("boom"));
    assert_eq!(cases[1].program, "");
    assert!(cases[1].output.is_empty() && cases[1].error.is_none());
}

/// The harness itself must be able to fail: a wrong expectation, a missing
/// error, and a wrong message are each reported.
#[test]
fn the_harness_reports_wrong_expectations() {
    let wrong = parse_corpus(
        "=== wrong value\n1 + 1\n---\n3\n\
         === missing error\nk\n---\n\
         === wrong message\nk\n---\nerror: undefined variable 'j'\n\
         === lost output\n1\nk\n---\nerror: undefined variable 'k'\n",
    );
    for config in CONFIGS {
        for case in &wrong {
            let (outcome, _) = library_outcome(config, case);
            assert!(
                compare(case, "self-test", &outcome).is_some(),
                "{:?} passed in {}",
                case.name,
                config.name
            );
            let run = common::eval_bin(config, &case.program);
            let outcome = binary_outcome(case, "self-test", run).unwrap();
            assert!(
                compare(case, "self-test", &outcome).is_some(),
                "{:?} passed through the binary in {}",
                case.name,
                config.name
            );
        }
    }
}
