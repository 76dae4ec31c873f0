//! `exprjit bench --warmup`: the fields of its JSON, the chart on a pipe,
//! a program with a user function, and the errors. How fast anything was
//! is for the benchmark to say, not for a test: these check shape and
//! consistency only, on short runs.

use std::process::{Command, Output};

use serde_json::Value;

/// The built-in formula (`exprjit bench` measures the same).
const FORMULA: &str = "sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x*x) - 3.5*x + y^2 - x*y/7";

/// Short runs: two processes per mode, 50 calls, tiered at the 10th.
const SHORT: [&str; 7] = [
    "bench",
    "--warmup",
    "--runs",
    "2",
    "--calls",
    "50",
    "--threshold=10",
];

fn exprjit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exprjit"))
        .args(args)
        .output()
        .expect("run exprjit")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `args` after [`SHORT`] with `--json`; the JSON it printed.
fn warmup_json(args: &[&str]) -> Value {
    let mut all = SHORT.to_vec();
    all.push("--json");
    all.extend_from_slice(args);
    let out = exprjit(&all);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn call_number(v: &Value) -> Option<u64> {
    v.as_u64().filter(|&c| (1..=50).contains(&c))
}

/// What every report holds, whatever it measured: every mode, with `calls`
/// per-call medians and `runs` arrays of `calls` times, tier-up and
/// break-even calls in range (or null where they must be), and a verdict on
/// the steady state.
fn check_report(json: &Value, runs: usize, calls: usize) {
    assert_eq!(json["runs"], runs as u64);
    assert_eq!(json["calls"], calls as u64);
    assert!(json["timer_ns"].as_f64().is_some());
    assert!(json["steady_state_rule"].as_str().is_some());
    for mode in ["interp", "jit", "tiered"] {
        let m = &json["modes"][mode];
        let medians = m["median_ns"].as_array().expect(mode);
        assert_eq!(medians.len(), calls, "{mode}");
        assert!(medians.iter().all(|t| t.as_f64().is_some_and(|t| t >= 0.0)));
        let per_run = m["runs_ns"].as_array().expect(mode);
        assert_eq!(per_run.len(), runs, "{mode}");
        for run in per_run {
            assert_eq!(run.as_array().map(Vec::len), Some(calls), "{mode}");
        }
        let steady = &m["steady_state"];
        let reached = steady["reached"].as_bool().expect("steady_state.reached");
        assert_eq!(reached, !steady["call"].is_null(), "{mode}: {steady}");
        if reached {
            let call = steady["call"].as_u64().expect("steady_state.call");
            assert!((1..=calls as u64).contains(&call), "{mode}: {steady}");
            assert!(steady["median_ns"].as_f64().is_some(), "{mode}: {steady}");
        } else {
            assert!(steady["note"].as_str().is_some_and(|n| !n.is_empty()));
        }
        let break_even = &m["break_even"];
        if !break_even.is_null() {
            let b = break_even.as_u64().expect("break_even");
            let tier_up = m["tier_up"].as_u64().expect("a break-even needs a tier-up");
            assert!(b >= tier_up && b <= calls as u64, "{mode}: {m}");
        }
    }
    let interp = &json["modes"]["interp"];
    assert!(interp["tier_up"].is_null());
    assert!(interp["break_even"].is_null());
    assert_eq!(interp["compilations"], serde_json::json!([]));
    // jit mode compiles during the first call, tiered mode during the
    // call the engine says it did: within the run, not before the
    // threshold.
    assert_eq!(json["modes"]["jit"]["tier_up"], 1);
    let tiered = &json["modes"]["tiered"];
    let tier_up = call_number(&tiered["tier_up"]).expect("tiered tier_up in range");
    assert!(tier_up >= 10, "{tier_up}");
    let compiled_then = tiered["compilations"]
        .as_array()
        .expect("compilations")
        .iter()
        .any(|c| {
            c["call"] == tier_up
                && c["function"]
                    .as_str()
                    .is_some_and(|f| f.starts_with("<expr>/"))
        });
    assert!(compiled_then, "{}", tiered["compilations"]);
    for mode in ["jit", "tiered"] {
        let compile = json["modes"][mode]["compile_ns"].as_f64();
        assert!(compile.is_some_and(|t| t > 0.0), "{mode}");
    }
}

#[test]
fn json_has_every_mode_call_by_call() {
    let json = warmup_json(&[]);
    assert_eq!(json["expression"], FORMULA);
    assert_eq!(json["threshold"], 10);
    assert_eq!(json["vars"], serde_json::json!(["x", "y"]));
    assert_eq!(json["value"], "7.830884042630654");
    check_report(&json, 2, 50);
}

#[test]
fn a_program_with_a_user_function() {
    let json = warmup_json(&["f(x) = x*x + 1; a = 2; f(a) + a"]);
    assert_eq!(json["expression"], "f(a) + a");
    assert_eq!(json["value"], "7");
    check_report(&json, 2, 50);
    for mode in ["jit", "tiered"] {
        let compiled_f = json["modes"][mode]["compilations"]
            .as_array()
            .expect("compilations")
            .iter()
            .any(|c| c["function"] == "f/1");
        assert!(compiled_f, "{mode}: {}", json["modes"][mode]);
    }
}

/// A program that starts with `-` reaches the runs (each a process of its
/// own) as a program, not an option.
#[test]
fn a_program_after_double_dash() {
    let json = warmup_json(&["--", "-1 - 2"]);
    assert_eq!(json["value"], "-3");
}

/// Without `--calls`, enough calls to pass the threshold: max(200, 4 × it).
#[test]
fn default_calls_pass_the_threshold() {
    let out = exprjit(&[
        "bench",
        "--warmup",
        "--runs",
        "1",
        "--threshold",
        "10",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["calls"], 200);
    assert_eq!(
        json["modes"]["tiered"]["median_ns"]
            .as_array()
            .map(Vec::len),
        Some(200)
    );
}

/// On a pipe: the chart, each mode named, the tier-up and break-even line,
/// the verdicts, and no colour.
#[test]
fn chart_on_a_pipe_is_plain() {
    let out = exprjit(&SHORT);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(!text.contains('\x1b'), "{text}");
    assert!(text.contains("log10(ns)"), "{text}");
    // The chart is braille dots, several rows of them.
    let rows = text
        .lines()
        .filter(|l| l.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c)))
        .count();
    assert!(rows >= 10, "{text}");
    for mode in ["interp", "jit", "tiered"] {
        assert!(text.contains(&format!("{mode} ")), "{mode}: {text}");
    }
    assert!(text.contains("◂ "), "{text}");
    let marks = text
        .lines()
        .find(|l| l.starts_with("tier-up at call "))
        .unwrap_or_else(|| panic!("no tier-up line: {text}"));
    assert!(marks.contains(", break-even"), "{marks}");
    assert!(
        text.contains("steady state reached at call ~") || text.contains("no steady state ("),
        "{text}"
    );
}

fn assert_error(args: &[&str], message: &str) {
    let out = exprjit(args);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.starts_with(message), "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn a_bad_program_is_an_error() {
    let mut args = SHORT.to_vec();
    args.push("f(x) = x +");
    assert_error(&args, "error: expected expression");
    args.pop();
    args.push("a = 1");
    assert_error(
        &args,
        "error: bench: the program's last statement must be an expression",
    );
    args.pop();
    args.push("g(1)");
    assert_error(&args, "error: unknown function 'g'");
}

/// `--calls` and the hidden per-run flag belong to `--warmup`: a usage
/// error (status 2) without it.
#[test]
fn calls_need_warmup() {
    for args in [
        &["bench", "--calls", "5"][..],
        &["bench", "--warmup-run", "jit"],
        &["bench", "--warmup", "--calls", "0"],
    ] {
        assert_eq!(exprjit(args).status.code(), Some(2), "{args:?}");
    }
}
