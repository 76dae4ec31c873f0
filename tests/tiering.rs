//! Tiered mode: hot counters promote functions to machine code while the
//! program runs, call sites are patched to them, and redefinition sends the
//! patched sites back to the stub.

#![cfg(target_arch = "x86_64")]

mod common;

use common::{all_configs, config, CONFIGS};
use exprjit::internals;
use exprjit::{Engine, FunctionStats, JitEvent, Mode, Options};

fn tiered(threshold: u32) -> Engine {
    Engine::with_options(Options {
        mode: Mode::Tiered,
        threshold,
        ..Options::default()
    })
}

fn func(engine: &Engine, name: &str) -> FunctionStats {
    engine
        .function_stats()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} is not a function"))
}

fn compiled(engine: &Engine, name: &str) -> bool {
    internals::entry_of(engine, name) != 0
}

/// The only call site in `caller`'s code: its address and where it goes.
fn only_site(engine: &Engine, caller: &str) -> (usize, Option<usize>) {
    let sites = internals::call_sites(engine, caller);
    assert_eq!(sites.len(), 1, "{sites:?}");
    (sites[0].0, sites[0].2)
}

/// Runs on a thread with a large stack (deep interpreted recursion).
fn big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn a_function_is_compiled_at_its_threshold_th_call() {
    let mut e = tiered(3);
    e.eval("f(x) = x * 2").unwrap();
    assert_eq!(e.eval("f(1)").unwrap(), [2.0]);
    assert_eq!(e.eval("f(2)").unwrap(), [4.0]);
    assert!(!compiled(&e, "f"), "two calls: still interpreted");
    assert_eq!(e.eval("f(3)").unwrap(), [6.0]);
    assert!(compiled(&e, "f"), "third call: compiled");
    let compiles: Vec<_> = e
        .jit_events()
        .into_iter()
        .filter_map(|ev| match ev {
            JitEvent::Compiled {
                function, calls, ..
            } => Some((function, calls)),
            _ => None,
        })
        .collect();
    assert_eq!(compiles, [("f/1".to_string(), 3)]);
    // Later calls run the machine code: the counter stops.
    e.eval("f(4); f(5)").unwrap();
    assert_eq!(func(&e, "f").interpreted_calls, 3);
}

#[test]
fn promotion_in_the_middle_of_recursion_keeps_the_result() {
    let values = big_stack(|| {
        let mut e = tiered(3);
        let v = e
            .eval("f(n) = n == 0 ? 0 : 1 + f(n - 1); f(2000); f(10)")
            .unwrap();
        (v, compiled(&e, "f"))
    });
    assert_eq!(values, (vec![2000.0, 10.0], true));
}

#[test]
fn sites_in_compiled_callers_are_patched_and_the_stub_is_no_longer_entered() {
    let mut e = tiered(3);
    // g becomes hot first (threshold 3) while h is still cold (threshold
    // counts its own calls): g's call to h goes through the stub.
    e.eval("h(x) = x + 1; g(x) = h(x) * 2").unwrap();
    e.eval("g(1); g(2); g(3)").unwrap();
    assert!(compiled(&e, "g"));
    // h ran 3 times: once interpreted from interpreted g... then from g's
    // machine code through the stub, where it was counted and compiled.
    assert!(
        compiled(&e, "h"),
        "h reached its threshold through the stub"
    );
    let (_, target) = only_site(&e, "g");
    assert_eq!(target, Some(internals::entry_of(&e, "h")));
    let entries = func(&e, "h").stub_entries;
    e.eval("g(4); g(5); g(6)").unwrap();
    assert_eq!(
        func(&e, "h").stub_entries,
        entries,
        "the stub is not entered any more"
    );
    assert_eq!(e.eval("g(10)").unwrap(), [22.0]);
}

#[test]
fn interpreted_frames_call_compiled_code_directly() {
    let mut e = tiered(2);
    e.eval("sq(x) = x * x; sq(1); sq(2)").unwrap();
    assert!(compiled(&e, "sq"));
    // A cold caller (interpreted) calls the compiled sq: sq's counter
    // does not move and no stub is involved.
    e.eval("cold(x) = sq(x) + sq(x + 1)").unwrap();
    assert_eq!(e.eval("cold(3)").unwrap(), [25.0]);
    let sq = func(&e, "sq");
    assert_eq!(sq.interpreted_calls, 2);
    assert_eq!(sq.stub_entries, 0);
}

#[test]
fn redefinition_after_everything_was_compiled_and_patched() {
    // The tiered configurations of the matrix, all of which promote within
    // the five calls below.
    for config in CONFIGS.iter().filter(|c| c.mode == Mode::Tiered) {
        let mut e = config.engine();
        e.eval("f(x) = 1; g(x) = f(x) + 10").unwrap();
        for _ in 0..5 {
            assert_eq!(e.eval("g(0)").unwrap(), [11.0]);
        }
        assert!(compiled(&e, "f") && compiled(&e, "g"));
        let (_, target) = only_site(&e, "g");
        assert_eq!(target, Some(internals::entry_of(&e, "f")));

        e.eval("f(x) = 2").unwrap();
        assert_eq!(
            only_site(&e, "g").1,
            internals::stub_of(&e),
            "back to the stub"
        );
        assert!(e.jit_events().iter().any(
            |ev| matches!(ev, JitEvent::Invalidated { function, sites: 1, .. } if function == "f/1")
        ));
        // The new f counts from zero, and g sees it.
        assert_eq!(func(&e, "f").interpreted_calls, 0);
        assert_eq!(e.eval("g(0)").unwrap(), [12.0], "{}", config.name);
        for _ in 0..5 {
            assert_eq!(e.eval("g(0)").unwrap(), [12.0]);
        }
        // Replacing f by a variable: g's call now fails cleanly.
        e.eval("f = 5").unwrap();
        let err = e.eval("g(0)").unwrap_err();
        assert_eq!(err.kind.to_string(), "'f' is a variable, not a function");
    }
}

#[test]
fn every_threshold_agrees_with_the_interpreter_on_mutual_recursion() {
    let program = "even(n) = n == 0 ? 1 : odd(n - 1)
odd(n) = n == 0 ? 0 : even(n - 1)
even(500); odd(77); even(3)
k = 4
s(n) = n <= 0 ? k : s(n - 1) + n * k
s(300)
k = 5
s(300)";
    let expect = big_stack(move || Engine::new().eval(program).unwrap());
    for config in all_configs().filter(|c| c.mode == Mode::Tiered) {
        let got = big_stack(move || config.engine().eval(program).unwrap());
        assert_eq!(got, expect, "{}", config.name);
    }
}

#[test]
fn expression_handles_are_promoted_like_functions() {
    let mut e = tiered(4);
    let h = e.compile_expr("x * y + 1", &["x", "y"]).unwrap();
    for i in 0..3 {
        assert_eq!(
            e.eval_handle(&h, &[f64::from(i), 2.0]).unwrap(),
            f64::from(i) * 2.0 + 1.0
        );
    }
    assert!(e.handle_stats(&h).code.is_none());
    assert_eq!(e.eval_handle(&h, &[3.0, 2.0]).unwrap(), 7.0);
    assert!(
        e.handle_stats(&h).code.is_some(),
        "fourth evaluation compiled it"
    );
    assert_eq!(e.eval_handle(&h, &[-0.5, 4.0]).unwrap(), -1.0);
}

#[test]
fn hot_pure_handles_take_the_direct_path_and_agree_bit_for_bit() {
    let formulas = [
        "sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x^2)",
        "x*x*x - 2*x*x*y + 3*x*y*y - 4*y*y*y + 5*x - 6*y + 7",
        "x < y ? min(x, -0) : max(y, 0) % 3 ^ x",
        "!x || y && sign(x - y) ? atan2(y, x) : -x",
        "x",
        "sin(x) + cos(y) * tan(x - y) - asin(x / 4) + acos(y / 4) * atan(x * y)",
        "sinh(x) - cosh(y) + tanh(x) * asinh(y) - acosh(x) + atanh(y / 8)",
        "exp(x) - exp2(y) + ln(x) * log(y) - log2(x) + log10(y) + cbrt(x - y)",
        "abs(x) + floor(y) - ceil(x) * round(y) + trunc(x) - sign(y) + hypot(x, y)",
        "((x + 1) * (y + 2) - (x + 3) * (y + 4)) / ((x + 5) * (y + 6) - (x + 7) * (y + 8) + sin(x))",
    ];
    let values = [
        0.0,
        -0.0,
        1.5,
        -2.25,
        1e308,
        5e-324,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        3.0,
    ];
    for text in formulas {
        let mut reference = config("interp").engine();
        let r = reference.compile_expr(text, &["x", "y"]).unwrap();
        // Configurations of the matrix in which 100 evaluations make the
        // handle hot.
        for config in ["jit", "tiered-3", "jit-registers-2"].map(config) {
            let mut e = config.engine();
            let h = e.compile_expr(text, &["x", "y"]).unwrap();
            for &x in &values {
                for &y in &values {
                    let want = reference.eval_handle(&r, &[x, y]).unwrap();
                    let got = e.eval_handle(&h, &[x, y]).unwrap();
                    let same = want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan());
                    assert!(
                        same,
                        "{text} at ({x}, {y}) in {}: {got} vs {want}",
                        config.name
                    );
                }
            }
            assert!(h.is_direct(), "{text}: a hot pure handle is direct");
            assert_eq!(
                e.eval_handle(&h, &[1.0]).unwrap_err().kind.to_string(),
                "expression expects 2 arguments, got 1"
            );
        }
    }
    // A handle that reads a global is not pure: it keeps the full path and
    // still sees the global's current value.
    let mut e = Engine::with_options(Options {
        mode: Mode::Jit,
        ..Options::default()
    });
    e.eval("k = 2").unwrap();
    let h = e.compile_expr("x * k", &["x"]).unwrap();
    assert_eq!(e.eval_handle(&h, &[3.0]).unwrap(), 6.0);
    assert!(!h.is_direct());
    e.eval("k = 5").unwrap();
    assert_eq!(e.eval_handle(&h, &[3.0]).unwrap(), 15.0);
}

// --- exprjit bench -----------------------------------------------------------

/// `exprjit bench --json` on a program: every mode ran the same number of
/// evaluations and gave the same value; the interpreter compiled nothing,
/// jit mode compiled before the first call, tiered mode at the threshold.
/// (How fast each was is for the benchmark to say, not for a test.)
#[test]
fn bench_reports_every_mode_with_its_tier_up_point() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_exprjit"))
        .args(["bench", "--runs", "3", "--threshold", "2", "--json"])
        .arg("f(x) = x < 2 ? x : f(x-1) + f(x-2); f(15)")
        .output()
        .expect("run exprjit bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let case = &json[0];
    assert_eq!(case["name"], "f(15)");
    let modes = &case["modes"];
    let evals = &modes["interp"]["evals_per_run"];
    assert!(evals.as_u64().is_some_and(|n| n > 0), "{evals}");
    for mode in ["interp", "jit", "tiered"] {
        let m = &modes[mode];
        assert_eq!(m["value"], "610", "{mode}");
        assert_eq!(&m["evals_per_run"], evals, "{mode}");
        assert!(
            m["ns_per_eval"].as_f64().is_some_and(|t| t > 0.0),
            "{mode}: {m}"
        );
    }
    assert_eq!(modes["interp"]["code_bytes"], 0);
    assert!(modes["interp"]["tier_up"].is_null());
    assert_eq!(modes["jit"]["tier_up"]["calls"], 1);
    assert_eq!(modes["tiered"]["tier_up"]["function"], "f/1");
    assert_eq!(modes["tiered"]["tier_up"]["calls"], 2);
    for mode in ["jit", "tiered"] {
        assert!(modes[mode]["code_bytes"].as_u64().is_some_and(|b| b > 0));
    }
}

/// A program that does not parse is an error, not a benchmark.
#[test]
fn bench_of_a_bad_program_is_an_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_exprjit"))
        .args(["bench", "--runs", "1", "f(x) = x +"])
        .output()
        .expect("run exprjit bench");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: expected expression"), "{stderr}");
    assert!(out.stdout.is_empty());
}
