//! The interactive session, driven through a pseudo-terminal as a person
//! would use it: the real binary, rustyline in raw mode, keys as a terminal
//! sends them (Enter is `\r`, Ctrl-C is `\x03`, Ctrl-D is `\x04`).
//!
//! Every input waits for the prompt first: between prompts the terminal is
//! in cooked mode, where Ctrl-C would be a signal rather than a key.

#![cfg(unix)]

mod common;

use std::io::Write;
use std::path::PathBuf;

use rexpect::process::WaitStatus;
use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};

/// Generous: CI is a slow two-core machine. A passing run waits far less.
const TIMEOUT_MS: u64 = 30_000;

const PROMPT: &str = ">>> ";
const CONTINUATION: &str = "... ";

/// A history file of the test's own.
fn history_file(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("exprjit-repl-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("history")
}

fn start(history: &std::path::Path, args: &[&str]) -> PtySession {
    let mut cmd = common::exprjit_std();
    cmd.args(args)
        .env("EXPRJIT_HISTORY", history)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let options = Options::new()
        .timeout_ms(Some(TIMEOUT_MS))
        .strip_ansi_escape_codes(true);
    let mut p = spawn_with_options(cmd, options).expect("start exprjit repl in a pty");
    p.exp_string(PROMPT).expect("first prompt");
    p
}

/// Types `line` and Enter (no waiting).
fn enter(p: &mut PtySession, line: &str) {
    p.send(&format!("{line}\r")).unwrap();
    p.flush().unwrap();
}

/// Types `line` and Enter, waits for `expect` in the output, then for the
/// next prompt; returns the output up to `expect`.
fn step(p: &mut PtySession, line: &str, expect: &str) -> String {
    enter(p, line);
    let before = p
        .exp_string(expect)
        .unwrap_or_else(|e| panic!("after {line:?}, expected {expect:?}: {e}"));
    p.exp_string(PROMPT)
        .unwrap_or_else(|e| panic!("after {line:?}, expected the prompt: {e}"));
    before
}

/// Ctrl-D on an empty line: the session ends and the process exits 0.
fn leave(mut p: PtySession) {
    p.send_control('d').unwrap();
    p.exp_eof().expect("the session ends after Ctrl-D");
    match p.process().wait() {
        Ok(WaitStatus::Exited(_, code)) => assert_eq!(code, 0, "exit status after Ctrl-D"),
        other => panic!("unexpected end of the process: {other:?}"),
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_session_defines_tiers_up_shows_code_survives_errors_and_leaves() {
    let history = history_file("session");
    let mut p = start(&history, &["repl"]);

    step(&mut p, "f(x) = x*x + 1", "f(x) defined");
    step(&mut p, ":threshold 3", "threshold set to 3");
    step(&mut p, ":trace on", "trace on");
    step(&mut p, "f(10)", "101");
    step(&mut p, "f(20)", "401");
    // The third call compiles f.
    enter(&mut p, "f(30)");
    p.exp_string("[jit] compiled f").expect("a trace line");
    p.exp_string("901").unwrap();
    p.exp_string(PROMPT).unwrap();
    step(&mut p, "f(40)", "1601");
    let funcs = step(&mut p, ":funcs", "bytes at 0x");
    assert!(
        funcs
            .lines()
            .any(|l| l.starts_with("f(x)") && l.contains("compiled")),
        "{funcs}"
    );
    step(&mut p, ":trace off", "trace off");

    // Machine code: an address, bytes, instructions, the function's return.
    let asm = step(&mut p, ":asm f", "ret");
    assert!(asm.contains("f(x) at 0x"), "{asm}");
    assert!(asm.contains("sub     rsp"), "{asm}");

    // An error shows a caret under the input; the session goes on.
    let err = step(&mut p, "1 + * 2", "^");
    assert!(err.contains("error: expected expression"), "{err}");
    // The source line under its location (rexpect reads bytes, so the
    // box-drawing characters around it are not compared).
    assert!(err.contains("<repl:6>:1:5"), "{err}");
    assert!(err.matches("1 + * 2").count() >= 2, "{err}");
    step(&mut p, "f(50)", "2501");
    let err = step(&mut p, "nope(1)", "^");
    assert!(err.contains("unknown function 'nope'"), "{err}");
    step(&mut p, "f(60)", "3601");

    // A definition continued over lines while a parenthesis is open.
    enter(&mut p, "g(a, b) = (a +");
    p.exp_string(CONTINUATION).expect("continuation prompt");
    step(&mut p, "  b) * 100", "g(a, b) defined");
    step(&mut p, "g(3, 4)", "700");

    // Commands with mistakes.
    step(&mut p, ":foo", "unknown command ':foo' (try :help)");
    step(&mut p, ":threshold x", "got 'x'");
    step(&mut p, ":mode fast", "unknown mode 'fast'");
    step(&mut p, "k=5", "k = 5");
    step(&mut p, ":vars", "k = 5");

    // Ctrl-C cancels a line...
    p.send("zzz + 1").unwrap();
    p.send_control('c').unwrap();
    p.exp_string(PROMPT).expect("a fresh prompt after Ctrl-C");
    step(&mut p, "f(70)", "4901");
    // ...and a statement being continued.
    enter(&mut p, "h(x) = (x +");
    p.exp_string(CONTINUATION).unwrap();
    p.send("1").unwrap();
    p.send_control('c').unwrap();
    p.exp_string(PROMPT)
        .expect("the first-line prompt after Ctrl-C");
    step(&mut p, "f(80)", "6401");
    // ...and, while an input is evaluated, stops the evaluation (here a
    // recursion that would run for hours, already in machine code); the
    // session and its definitions stay.
    step(
        &mut p,
        "slow(n) = n < 2 ? n : slow(n - 1) + slow(n - 2)",
        "slow(n) defined",
    );
    enter(&mut p, "slow(90)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send_control('c').unwrap();
    p.exp_string("error: interrupted")
        .expect("Ctrl-C stops a running evaluation");
    p.exp_string(PROMPT)
        .expect("the prompt after the interrupt");
    step(&mut p, "slow(10) + f(1)", "57");
    let vars = step(&mut p, ":funcs", "g(a, b)");
    assert!(!vars.contains("h(x)"), "{vars}");

    leave(p);

    // Every input is in the history, the continued one as one entry.
    let saved = std::fs::read_to_string(&history).expect("history was written");
    assert!(saved.contains("f(x) = x*x + 1\n"), "{saved}");
    assert!(saved.contains(r"g(a, b) = (a +\n  b) * 100"), "{saved}");
    assert!(!saved.contains("zzz"), "{saved}");
    let _ = std::fs::remove_dir_all(history.parent().unwrap());
}

#[test]
fn history_is_kept_across_sessions() {
    let history = history_file("history");
    let mut p = start(&history, &["repl", "--mode", "interp"]);
    step(&mut p, "sq(x) = x*x", "sq(x) defined");
    step(&mut p, "sq(12)", "144");
    leave(p);

    // A new session recalls the last input with the Up arrow.
    let mut p = start(&history, &["repl"]);
    step(&mut p, "sq(x) = x*x", "sq(x) defined");
    // Up, Up: past this session's definition to the last session's call.
    p.send("\x1b[A\x1b[A").unwrap();
    step(&mut p, "", "144");
    leave(p);
    let _ = std::fs::remove_dir_all(history.parent().unwrap());
}

#[test]
fn no_subcommand_on_a_terminal_starts_the_session_even_without_history() {
    // A history file that cannot be written: the session goes on without.
    let history = PathBuf::from("/proc/exprjit-no-such-dir/history");
    let mut p = start(&history, &[]);
    step(&mut p, ":mode interp", "mode set to interp");
    step(&mut p, "2^10", "1024");
    step(&mut p, ":stats", "compiled functions: 0 of 0");
    enter(&mut p, ":quit");
    p.exp_eof().expect("the session ends after :quit");
    assert!(matches!(p.process().wait(), Ok(WaitStatus::Exited(_, 0))));
}

/// Bad input does not end the session: a line that is not UTF-8 is an
/// error for that line; `:load` of something endless is refused at the
/// size limit; a huge "history file" is not loaded; Ctrl-D on an
/// unfinished statement says what happened to it.
#[test]
fn bad_input_is_an_error_for_that_line_and_the_session_goes_on() {
    let mut p = start(&PathBuf::from("/dev/zero"), &["repl", "--mode", "interp"]);
    // (The banner came, then the note that /dev/zero is no history.)
    step(&mut p, "k = 2", "k = 2");
    p.send("1 + \u{0}").unwrap();
    p.send_control('c').unwrap();
    p.exp_string(PROMPT).unwrap();
    // Invalid UTF-8, typed: the line is discarded, the session goes on.
    let mut tty = p.process().get_file_handle().unwrap();
    tty.write_all(b"\xff\xfe\r").unwrap();
    tty.flush().unwrap();
    p.exp_string("not valid UTF-8")
        .expect("an error for the line");
    p.exp_string(PROMPT).unwrap();
    step(&mut p, "k * 21", "42");
    // :load of an endless file stops at the limit, quickly.
    step(&mut p, ":load /dev/zero", "program too large");
    step(&mut p, "k + 1", "3");
    // Ctrl-D in the middle of a statement.
    enter(&mut p, "f(x) = (x +");
    p.exp_string(CONTINUATION).unwrap();
    p.send_control('d').unwrap();
    p.exp_string("the unfinished statement was discarded")
        .expect("a word about the lost statement");
    p.exp_eof().unwrap();
}

/// Ctrl-C stops a `:load` wherever it arrives: while the file is parsed
/// (here 6 MB of long sums), between statements, or inside one that calls
/// no function (the interpreter looks at the stop flag as it walks, not
/// only at calls); the rest of the file does not run.
#[test]
fn ctrl_c_stops_a_load_between_and_inside_statements() {
    let dir = history_file("load-interrupt");
    let file = dir.parent().unwrap().join("long.ej");
    let sum = format!("{}1", "1+".repeat(100_000));
    let mut text = String::new();
    for _ in 0..30 {
        text.push_str(&sum);
        text.push('\n');
    }
    text.push_str("done = 1\n");
    std::fs::write(&file, text).unwrap();
    let mut p = start(&dir, &["repl", "--mode", "interp"]);
    enter(&mut p, &format!(":load {}", file.display()));
    std::thread::sleep(std::time::Duration::from_millis(300));
    p.send_control('c').unwrap();
    p.exp_string("error: interrupted")
        .expect("Ctrl-C stops :load");
    p.exp_string(PROMPT).unwrap();
    step(&mut p, "done", "undefined variable 'done'");
    leave(p);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}
