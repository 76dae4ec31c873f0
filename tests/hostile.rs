//! The hostile-input catalogue: inputs meant to make a JIT crash, hang or
//! lie. Each must give a value or a clean `error:` with exit status 1 —
//! never a panic, a signal, a hang or a stack overflow — in every mode, and
//! the engine must keep working afterwards.

mod common;

use std::time::Duration;

use common::{on_big_stack, run_in, BinRun, Config, TempFile, CONFIGS};

/// No input may take longer than this (a hang is a failure, not a wait).
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `program` from a file through the binary in `config`.
fn run(config: &Config, program: &[u8]) -> BinRun {
    let file = TempFile::with_contents(program);
    let mut cmd = common::exprjit();
    cmd.arg("run").args(config.args()).arg(file.path_str());
    cmd.timeout(TIMEOUT);
    BinRun::from_output(cmd.output().expect("run exprjit"))
}

/// A clean outcome: no signal; exit 0 with no error, or exit 1 with one
/// short `error:` report.
fn assert_clean(run: &BinRun, what: &str) {
    assert_eq!(
        run.signal, None,
        "{what}: killed by a signal\n{}",
        run.stderr
    );
    match run.status {
        Some(0) => assert!(
            run.stderr.is_empty(),
            "{what}: stderr on success: {}",
            run.stderr
        ),
        Some(1) => {
            assert!(run.stderr.starts_with("error: "), "{what}: {}", run.stderr);
            assert!(run.stderr.len() < 2_000, "{what}: error report too long");
            assert!(!run.stderr.contains("panicked"), "{what}: {}", run.stderr);
        }
        other => panic!("{what}: exit status {other:?}\n{}", run.stderr),
    }
}

fn assert_value(run: &BinRun, want: &str, what: &str) {
    assert_clean(run, what);
    assert_eq!(run.status, Some(0), "{what}: {}", run.stderr);
    assert_eq!(run.stdout.trim_end().lines().last(), Some(want), "{what}");
}

fn assert_error(run: &BinRun, message: &str, what: &str) {
    assert_clean(run, what);
    assert_eq!(
        run.status,
        Some(1),
        "{what}: expected an error, got {}",
        run.stdout
    );
    assert!(
        run.stderr.starts_with(&format!("error: {message}")),
        "{what}: {}",
        run.stderr
    );
}

/// After the hostile input, the same engine still computes.
fn engine_survives(text: &'static str) {
    on_big_stack(move || {
        for config in CONFIGS {
            let mut engine = config.engine();
            let _ = run_in(&mut engine, text);
            let after = run_in(&mut engine, "h(x) = x * 2; h(21)");
            assert_eq!(
                after.lines,
                ["42"],
                "{}: engine broken after hostile input",
                config.name
            );
            assert!(after.error.is_none(), "{}", config.name);
        }
    });
}

#[test]
fn ten_megabytes_of_source() {
    // Comment-heavy, 10 MB in all, with real work in it.
    let mut text = String::with_capacity(10 << 20);
    text.push_str("acc = 0\n");
    let mut i = 0u64;
    while text.len() < 10 << 20 {
        text.push_str(&format!("# {}\nacc = acc + {i} % 7\n", "x".repeat(1000)));
        i += 1;
    }
    text.push_str("acc\n");
    let want: u64 = (0..i).map(|k| k % 7).sum();
    for config in CONFIGS {
        assert_value(
            &run(config, text.as_bytes()),
            &want.to_string(),
            config.name,
        );
    }
}

#[test]
fn a_hundred_thousand_nested_parentheses() {
    let text = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
    for config in CONFIGS {
        assert_value(&run(config, text.as_bytes()), "1", config.name);
    }
    let deep_ops = format!("{}1{}", "-(".repeat(100_000), ")".repeat(100_000));
    for config in CONFIGS {
        let r = run(config, deep_ops.as_bytes());
        assert_error(&r, "expressions nested too deeply", config.name);
    }
}

/// A chain of one precedence level is one level of nesting however long
/// it is: a million-term sum is a value, not "nested too deeply".
#[test]
fn a_million_term_sum_is_a_value() {
    let text = format!("{}1", "1+".repeat(1_000_000));
    for config in CONFIGS {
        assert_value(&run(config, text.as_bytes()), "1000001", config.name);
    }
}

/// docs/language.md §4's 10 MB of source as one expression nothing can
/// fold: a function body of five million terms, which every tier runs as a
/// loop (jit mode compiles it to 25 MB of machine code).
#[test]
fn a_ten_megabyte_chain_in_a_function_runs() {
    let text = format!("f(x) = {}x\nf(1)\nf(0.5)\n", "x+".repeat(5_000_000));
    assert!(text.len() >= 10_000_000);
    for config in CONFIGS {
        let r = run(config, text.as_bytes());
        assert_clean(&r, config.name);
        assert_eq!(r.stdout, "5000001\n2500000.5\n", "{}", config.name);
    }
}

#[test]
fn sixty_four_parameters_work_and_sixty_five_do_not() {
    let params: Vec<String> = (0..64).map(|i| format!("p{i}")).collect();
    let args: Vec<String> = (0..64).map(|i| i.to_string()).collect();
    let text = format!(
        "f({}) = {}\nf({})\n",
        params.join(", "),
        params.join(" + "),
        args.join(", ")
    );
    for config in CONFIGS {
        assert_value(&run(config, text.as_bytes()), "2016", config.name);
    }
    let text = format!("g({}, extra) = 1", params.join(", "));
    for config in CONFIGS {
        assert_error(
            &run(config, text.as_bytes()),
            "too many parameters",
            config.name,
        );
    }
}

#[test]
fn a_function_redefined_a_hundred_thousand_times() {
    let mut text = String::from("g(x) = f(x) + 1\n");
    for i in 0..100_000 {
        text.push_str(&format!("f(x) = x * {i}\n"));
        if i % 100 == 0 {
            text.push_str(&format!("g({i})\n"));
        }
    }
    text.push_str("g(3)\n");
    for config in CONFIGS {
        assert_value(
            &run(config, text.as_bytes()),
            &(3 * 99_999 + 1).to_string(),
            config.name,
        );
    }
}

#[test]
fn names_of_ten_thousand_characters() {
    let long = "n".repeat(10_000);
    let text = format!("{long} = 5\n{long}f({long}) = {long} * 2\n{long}f({long})\n");
    for config in CONFIGS {
        assert_value(&run(config, text.as_bytes()), "10", config.name);
    }
    let text = format!("{long}q + 1");
    for config in CONFIGS {
        let r = run(config, text.as_bytes());
        assert_error(&r, "undefined variable 'nnnn", config.name);
        assert!(
            r.stderr.len() < 1_000,
            "the name is shortened in the report"
        );
    }
}

#[test]
fn invalid_utf8_in_a_file_and_on_stdin() {
    let bad: &[u8] = b"1 + 1\n\xff\xfe 2\n";
    for config in CONFIGS {
        assert_error(&run(config, bad), "", config.name);
        let r = common::run_stdin_bin(config, bad);
        assert_error(&r, "<stdin> is not valid UTF-8", config.name);
        assert!(r.stdout.is_empty(), "nothing runs");
    }
}

#[test]
fn nul_bytes_and_every_ascii_control_character() {
    for byte in (0u8..0x20).chain([0x7F]) {
        if matches!(byte, b'\t' | b'\n' | b'\r') {
            // Whitespace or a statement end: the program runs.
            let text = [b"1 +".as_slice(), &[byte], b" 2".as_slice()].concat();
            let r = run(&CONFIGS[0], &text);
            assert_clean(&r, &format!("byte {byte:#04x}"));
            continue;
        }
        let text = [b"1 + ".as_slice(), &[byte], b"2\n".as_slice()].concat();
        for config in CONFIGS {
            let r = run(config, &text);
            assert_error(
                &r,
                "unexpected character",
                &format!("{} byte {byte:#04x}", config.name),
            );
        }
    }
}

#[test]
fn infinite_recursion_in_each_tier() {
    let programs = [
        "f(x) = f(x + 1)\nf(0)",
        "f(x) = 1 + f(x) * 2\nf(0)",
        "a(x) = b(x) + 1\nb(x) = a(x) - 1\na(0)",
        "f(x) = sin(f(x))\nf(1)",
    ];
    for text in programs {
        for config in CONFIGS {
            let r = run(config, format!("7\n{text}\n8").as_bytes());
            assert_error(&r, "recursion too deep", config.name);
            assert_eq!(
                r.stdout, "7\n",
                "{}: output before the error is kept",
                config.name
            );
        }
    }
}

#[test]
fn mutual_recursion_that_goes_deep_only_after_tier_up() {
    // Shallow calls make even/odd hot; the deep call then runs in machine
    // code (tiered) — 200,000 frames deep, within the stack budget; a
    // million is beyond it, in every tier.
    let text = "even(n) = n == 0 ? 1 : odd(n - 1)
odd(n) = n == 0 ? 0 : even(n - 1)
even(2) + even(3) + odd(4) + odd(5)
even(200000)
odd(200001)
even(1000000)";
    for config in CONFIGS {
        let r = run(config, text.as_bytes());
        assert_error(&r, "recursion too deep", config.name);
        assert_eq!(r.stdout, "2\n1\n1\n", "{}", config.name);
    }
}

#[test]
fn the_engine_keeps_working_after_each_hostile_input() {
    engine_survives("f(x) = f(x + 1)\nf(0)");
    engine_survives("a(x) = b(x) + 1\nb(x) = a(x) - 1\na(0)");
    engine_survives("1 + $");
    engine_survives("f(x) = x\nf(1, 2)");
    engine_survives("k + 1");
}

/// Input that never ends is refused at the size limit, after reading one
/// byte past it and no more.
#[test]
fn an_endless_input_is_refused_at_the_size_limit() {
    let started = std::time::Instant::now();
    let r = common::run_bin(&["run", "/dev/zero"], None);
    assert_error(
        &r,
        "'/dev/zero': program too large (64 MiB at most)",
        "/dev/zero",
    );
    // Reading 2 GB before giving up took tens of seconds.
    assert!(started.elapsed() < TIMEOUT, "{:?}", started.elapsed());
    let big = vec![b' '; exprjit::MAX_SOURCE + 1];
    let r = common::run_bin(&["run", "-"], Some(&big));
    assert_error(
        &r,
        "standard input: program too large",
        "stdin over the limit",
    );
}

/// A NUL (or another control character) in the source is shown as its
/// picture in the error, with the caret under it.
#[test]
fn control_characters_in_errors_are_visible() {
    let r = common::run_bin(&["run", "-"], Some(b"1+\x002"));
    assert_error(&r, "unexpected character '\\0'", "NUL");
    assert!(!r.stderr.contains('\0'), "{:?}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("1+␀2"))
        .expect("the line");
    let caret = r.stderr.lines().find(|l| l.contains('^')).expect("a caret");
    let col = |l: &str, c: char| l.chars().position(|x| x == c);
    assert_eq!(col(caret, '^'), col(line, '␀'), "{}", r.stderr);
}

/// Values written to a closed standard output are an error, as on a full
/// disk; output sent to /dev/null on purpose is not.
#[test]
fn a_closed_standard_output_is_an_error() {
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_exprjit");
    // `>&-` as a shell would do it.
    let closed = Command::new("sh")
        .args(["-c", &format!("'{bin}' eval '1;2' >&-")])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(closed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert!(
        stderr.starts_with("error: cannot write to standard output"),
        "{stderr}"
    );
    let discarded = Command::new(bin)
        .args(["eval", "1;2"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(discarded.code(), Some(0));
    let full = Command::new("sh")
        .args(["-c", &format!("'{bin}' eval '1;2' > /dev/full")])
        .output()
        .unwrap();
    assert_eq!(full.status.code(), Some(1));
}
