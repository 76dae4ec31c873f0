//! Tests of the JIT's machinery, observed from outside: call sites patched
//! in place (read back as bytes), W^X while code runs and is rewritten,
//! recursion limits in machine code, and the spilling configuration.

#![cfg(target_arch = "x86_64")]

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use exprjit::internals::{self, experiments::writable_and_executable_mappings};
use exprjit::{Engine, Error, ErrorKind, FunctionStats, Mode, Options, Span};

fn engine(mode: Mode) -> Engine {
    Engine::with_options(Options {
        mode,
        ..Options::default()
    })
}

/// Every configuration whose results must agree: the whole matrix of
/// tests/common/mod.rs, each as its name and library options.
fn all_configs() -> Vec<(&'static str, Options)> {
    common::all_configs()
        .map(|c| (c.name, c.options()))
        .collect()
}

/// The matrix without tiered mode: the interpreter (first, the reference)
/// and machine code with each register count of the matrix.
fn untiered_configs() -> Vec<(&'static str, Options)> {
    let mut configs = all_configs();
    configs.retain(|(_, o)| o.mode != Mode::Tiered);
    configs
}

fn eval(e: &mut Engine, text: &str) -> Vec<f64> {
    e.eval(text)
        .unwrap_or_else(|err| panic!("{text}: unexpected error: {err}"))
}

fn eval_err(e: &mut Engine, text: &str) -> Error {
    match e.eval(text) {
        Ok(v) => panic!("{text}: expected an error, got {v:?}"),
        Err(err) => err,
    }
}

fn func(e: &Engine, name: &str) -> FunctionStats {
    e.function_stats()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name} is not a function"))
}

fn patches(e: &Engine) -> u64 {
    e.jit_stats().expect("the engine has a JIT").patches
}

fn memory_use(e: &Engine) -> (usize, usize) {
    let s = e.jit_stats().expect("the engine has a JIT");
    (s.live_bytes, s.used_bytes)
}

fn stub(e: &Engine) -> usize {
    internals::stub_of(e).expect("the engine has a JIT")
}

/// The call instructions in `caller`'s code that call `callee`.
fn sites_calling(e: &Engine, caller: &str, callee: &str) -> Vec<usize> {
    internals::call_sites(e, caller)
        .into_iter()
        .filter(|(_, name, _)| name == callee)
        .map(|(at, _, _)| at)
        .collect()
}

/// Where the call instruction at `at` in `caller`'s code goes, decoded
/// from the code bytes themselves (`E8` then `rel32`).
fn target_of(e: &Engine, caller: &str, at: usize) -> usize {
    internals::call_sites(e, caller)
        .into_iter()
        .find(|(a, _, _)| *a == at)
        .and_then(|(_, _, to)| to)
        .unwrap_or_else(|| panic!("no call at {at:#x} in {caller}"))
}

fn entry_of(e: &Engine, name: &str) -> usize {
    let entry = internals::entry_of(e, name);
    assert_ne!(entry, 0, "{name} has machine code");
    assert_eq!(func(e, name).code.map(|c| c.addr), Some(entry));
    entry
}

// ---------------------------------------------------------------------------
// (a) Patched call sites
// ---------------------------------------------------------------------------

/// `g` is compiled while `f` is not yet defined: its call goes to the
/// stub; once `f` is compiled the `rel32` is rewritten to `f`'s entry;
/// redefining `f` sends it back to the stub; the new `f` is patched in.
#[test]
fn call_site_bytes_follow_the_callee_through_compile_and_redefinition() {
    let mut e = engine(Mode::Jit);
    eval(&mut e, "g(x) = f(x) * 2");
    let err = eval_err(&mut e, "g(1)");
    assert_eq!(err.kind, ErrorKind::UnknownFunction("f".into()));
    assert_eq!(err.span, Some(Span::new(7, 11)), "at `f(x)` in g");

    // g has machine code; its one call names f and goes to the stub.
    let stub = stub(&e);
    let sites = sites_calling(&e, "g", "f");
    assert_eq!(sites.len(), 1);
    let site = sites[0];
    assert_eq!(target_of(&e, "g", site), stub);

    // Defining f compiles nothing in jit mode (only a call does).
    eval(&mut e, "f(x) = x + 1");
    assert!(func(&e, "f").code.is_none());
    assert_eq!(target_of(&e, "g", site), stub);

    let patches_before = patches(&e);
    assert_eq!(eval(&mut e, "g(1)"), [4.0]);
    let f1 = entry_of(&e, "f");
    assert_eq!(target_of(&e, "g", site), f1, "patched to f's entry");
    assert!(patches(&e) > patches_before);
    assert_eq!(func(&e, "f").stub_entries, 1);

    // Later calls go straight to f: no more trips through the stub.
    assert_eq!(eval(&mut e, "g(2); g(3)"), [6.0, 8.0]);
    assert_eq!(func(&e, "f").stub_entries, 1);
    assert_eq!(target_of(&e, "g", site), f1);

    // Redefining f retires its code and unpatches g's call.
    let live = memory_use(&e).0;
    eval(&mut e, "f(x) = x + 10");
    assert_eq!(target_of(&e, "g", site), stub, "back to the stub");
    assert!(memory_use(&e).0 < live, "old code freed");
    assert!(func(&e, "f").code.is_none());

    assert_eq!(eval(&mut e, "g(1)"), [22.0]);
    let f2 = entry_of(&e, "f");
    assert_eq!(target_of(&e, "g", site), f2);

    // f replaced by a variable: the stub reports it, at the call in g.
    eval(&mut e, "f = 3");
    assert_eq!(target_of(&e, "g", site), stub);
    let err = eval_err(&mut e, "g(1)");
    assert_eq!(err.kind, ErrorKind::CallingVariable("f".into()));
    assert_eq!(err.span, Some(Span::new(7, 11)));

    // f redefined with another arity: the call stays on the stub, which
    // reports the mismatch; g itself was never recompiled.
    let g_entry = entry_of(&e, "g");
    eval(&mut e, "f(x, y) = x + y");
    let err = eval_err(&mut e, "g(1)");
    assert_eq!(
        err.kind,
        ErrorKind::Arity {
            name: "f".into(),
            expected: 2,
            got: 1
        }
    );
    assert_eq!(target_of(&e, "g", site), stub);
    eval(&mut e, "f(x) = -x");
    assert_eq!(eval(&mut e, "g(5)"), [-10.0]);
    assert_eq!(target_of(&e, "g", site), entry_of(&e, "f"));
    assert_eq!(entry_of(&e, "g"), g_entry);
}

/// `f` is defined first, but `g` is compiled before `f` ever runs.
#[test]
fn a_defined_but_uncompiled_callee_is_reached_through_the_stub_then_patched() {
    let mut e = engine(Mode::Jit);
    eval(&mut e, "f(x) = x + 1\ng(x) = x > 0 ? f(x) * 2 : -1");
    assert_eq!(eval(&mut e, "g(0)"), [-1.0]);
    let site = sites_calling(&e, "g", "f")[0];
    assert!(func(&e, "f").code.is_none());
    assert_eq!(target_of(&e, "g", site), stub(&e));

    assert_eq!(eval(&mut e, "g(1)"), [4.0]);
    assert_eq!(target_of(&e, "g", site), entry_of(&e, "f"));

    eval(&mut e, "f(x) = x + 2");
    assert_eq!(target_of(&e, "g", site), stub(&e));
    assert_eq!(eval(&mut e, "g(1)"), [6.0]);
    assert_eq!(target_of(&e, "g", site), entry_of(&e, "f"));
}

/// Tiered mode: compiled `g` calls interpreted `f` through the stub (the
/// site stays on the stub) until `f` gets hot and is compiled.
#[test]
fn tiered_site_stays_on_the_stub_while_the_callee_is_interpreted() {
    let mut e = common::config("tiered-3").engine();
    eval(&mut e, "f(x) = x + 1\ng(x) = x > 0 ? f(x) * 2 : -1");
    // g's third call compiles it; f has not run yet.
    assert_eq!(eval(&mut e, "g(0); g(0); g(0)"), [-1.0; 3]);
    assert!(func(&e, "g").code.is_some());
    assert!(func(&e, "f").code.is_none());
    let site = sites_calling(&e, "g", "f")[0];
    let stub = stub(&e);
    assert_eq!(target_of(&e, "g", site), stub);

    // f's first two calls are interpreted, through the stub.
    assert_eq!(eval(&mut e, "g(1)"), [4.0]);
    assert_eq!(target_of(&e, "g", site), stub);
    assert_eq!(eval(&mut e, "g(2)"), [6.0]);
    assert_eq!(target_of(&e, "g", site), stub);
    assert_eq!(func(&e, "f").stub_entries, 2);
    // The third compiles f and patches g's call.
    assert_eq!(eval(&mut e, "g(3)"), [8.0]);
    assert_eq!(target_of(&e, "g", site), entry_of(&e, "f"));
}

/// A self-recursive function calls itself directly from the start.
#[test]
fn self_recursion_is_linked_directly() {
    let mut e = engine(Mode::Jit);
    eval(&mut e, "fact(n) = n <= 1 ? 1 : n * fact(n - 1)");
    assert_eq!(eval(&mut e, "fact(10)"), [3_628_800.0]);
    let sites = sites_calling(&e, "fact", "fact");
    assert_eq!(sites.len(), 1);
    assert_eq!(target_of(&e, "fact", sites[0]), entry_of(&e, "fact"));
    // Only the first call, from the expression statement, took the stub.
    assert_eq!(func(&e, "fact").stub_entries, 1);
    assert_eq!(eval(&mut e, "fact(5)"), [120.0]);
    assert_eq!(func(&e, "fact").stub_entries, 1);
}

/// A function's calls of its own name are inlined a few levels deep in
/// machine code (`emit::SelfInline`). Whatever level a value or an error
/// comes from, every tier must agree: values, error kinds and spans.
#[test]
fn inlined_self_calls_agree_with_the_interpreter() {
    let programs = [
        // Two calls per level; a leaf at every depth.
        "fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2)\nfib(0)\nfib(1)\nfib(7)\nfib(21)",
        // A self call inside the argument of another: the inner copy's
        // parameter lives while the outer one's arguments are computed.
        "ack(m, n) = m == 0 ? n + 1 : n == 0 ? ack(m - 1, 1) : ack(m - 1, ack(m, n - 1))\nack(2, 3)\nack(3, 3)",
        // Values live across inlined calls, at every depth.
        "s(n, acc) = n <= 0 ? acc : n * 0.5 + s(n - 1, acc + n) - s(n - 2, acc) * 0.25\ns(12, 1)",
        // Special values through the inlined comparisons.
        "h(n) = n < 1 || n != n ? n : h(n - 1) / 2\nh(0/0)\nh(-1/0)\nh(-0)\nh(1e-310)\nh(5)",
    ];
    let failing = [
        // An undefined variable, three levels down.
        (
            "u(n) = n < 1 ? nope : u(n - 1)\nu(3)",
            ErrorKind::UndefinedVariable("nope".into()),
        ),
        // An unknown function, raised from inside an inlined copy.
        (
            "w(n) = n < 1 ? nowhere(n) : w(n - 1)\nw(6)",
            ErrorKind::UnknownFunction("nowhere".into()),
        ),
        // Its own name with the wrong arity is not inlined: an error.
        (
            "v(n) = n < 1 ? 0 : v(n - 1, 2)\nv(4)",
            ErrorKind::Arity {
                name: "v".into(),
                expected: 1,
                got: 2,
            },
        ),
    ];
    for (name, opts) in all_configs() {
        for text in programs {
            let want = eval(&mut engine(Mode::Interp), text);
            let got = eval(&mut Engine::with_options(opts.clone()), text);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{name}: {text}");
        }
        for (text, kind) in &failing {
            let want = eval_err(&mut engine(Mode::Interp), text);
            let got = eval_err(&mut Engine::with_options(opts.clone()), text);
            assert_eq!(&want.kind, kind, "{text}");
            assert_eq!((&got.kind, got.span), (kind, want.span), "{name}: {text}");
        }
    }
}

/// An `Interrupter` stops a long evaluation in every tier — in the
/// interpreter at its next call, in machine code at the next real call's
/// prologue — with `interrupted` at a call of the running function, and
/// the engine goes on.
#[test]
fn an_interrupt_stops_a_running_evaluation_in_every_tier() {
    use std::sync::mpsc;
    const DEF: &str = "slow(n) = n < 2 ? n : slow(n - 1) + slow(n - 2)";
    for (name, opts) in all_configs() {
        let (send_interrupter, interrupter) = mpsc::channel();
        let (send_stopped, stopped) = mpsc::channel();
        let (send_go, go) = mpsc::channel::<()>();
        let worker = thread::spawn(move || {
            let mut e = Engine::with_options(opts);
            eval(&mut e, DEF);
            send_interrupter.send(e.interrupter()).unwrap();
            // Hours of work unless stopped.
            let result = e.eval("1 + slow(90)").map_err(|err| (err.kind, err.span));
            send_stopped.send(result).unwrap();
            go.recv().unwrap();
            e.eval("slow(10)").map_err(|err| err.kind)
        });
        let interrupter = interrupter.recv().unwrap();
        // Interrupt until the evaluation reports back (an interrupt that
        // comes before it starts is void), for at most a minute.
        let deadline = Instant::now() + Duration::from_secs(60);
        let result = loop {
            interrupter.stop();
            match stopped.recv_timeout(Duration::from_millis(10)) {
                Ok(result) => break result,
                Err(_) if Instant::now() < deadline => continue,
                Err(_) => panic!("{name}: the evaluation was not stopped"),
            }
        };
        let (kind, span) = result.expect_err("slow(90) cannot finish");
        assert_eq!(kind, ErrorKind::Interrupted, "{name}");
        // At one of the two calls in slow's body, or at the statement's
        // (`slow(90)`, at 4), or — when machine code for the statement
        // itself stopped before its first call — nowhere in particular.
        let calls = [DEF.find("slow(n - 1)"), DEF.find("slow(n - 2)"), Some(4)];
        if let Some(span) = span {
            let at = Some(span.start as usize);
            assert!(calls.contains(&at), "{name}: interrupted at {at:?}");
        }
        send_go.send(()).unwrap();
        assert_eq!(worker.join().unwrap(), Ok(vec![55.0]), "{name}");
    }
}

/// `asm` names each inlined call, with its nesting, so the copies can be
/// told apart from the real calls at the bottom.
#[test]
fn listings_mark_inlined_calls() {
    let mut e = engine(Mode::Jit);
    eval(
        &mut e,
        "fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2)\nfib(5)",
    );
    let listing = e.asm_listing(Some("fib")).expect("fib has code");
    let marked = |level: usize| {
        let text = format!("inlined call of fib/1 (level {level})");
        listing.lines().filter(|l| l.contains(&text)).count()
    };
    // Two self calls per copy: 2, 4, 8, 16 copies on levels 1 to 4.
    assert_eq!(
        [marked(1), marked(2), marked(3), marked(4)],
        [2, 4, 8, 16],
        "{listing}"
    );
    assert_eq!(marked(5), 0);
    let real = listing
        .lines()
        .filter(|l| l.contains("call site of fib/1"))
        .count();
    assert_eq!(real, 32, "{listing}");
}

/// Redefining a self-recursive function retires its code with every
/// inlined copy of the old body in it.
#[test]
fn redefining_an_inlined_function_retires_its_copies() {
    for (name, opts) in all_configs() {
        let mut e = Engine::with_options(opts);
        let text = "c(n) = n < 1 ? 0 : 1 + c(n - 1)\nc(30)\nc(30)\nc(30)\nc(n) = n < 1 ? 0 : 2 + c(n - 1)\nc(30)\nc(30)\nc(30)";
        assert_eq!(
            eval(&mut e, text),
            [30.0, 30.0, 30.0, 60.0, 60.0, 60.0],
            "{name}"
        );
    }
}

const REDEFINE: &str = "f(x) = 1\ng(x) = f(x)\ng(0)\nf(x) = 2\ng(0)\n";

/// docs/language.md §4.4: late binding survives patching, in every
/// configuration.
#[test]
fn redefinition_is_seen_by_patched_callers_in_every_mode() {
    for (name, opts) in all_configs() {
        let mut e = Engine::with_options(opts);
        assert_eq!(eval(&mut e, REDEFINE), [1.0, 2.0], "{name}");
        // And once more, with both functions long compiled.
        let more = "g(0)\nf(x) = 3\ng(0)\ng(0)\nf = 4\n";
        assert_eq!(eval(&mut e, more), [2.0, 3.0, 3.0], "{name}");
        let err = eval_err(&mut e, "g(0)");
        assert_eq!(err.kind, ErrorKind::CallingVariable("f".into()), "{name}");
    }
}

fn exprjit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_exprjit"))
}

/// The same through the command line, with the trace showing the order
/// of events: g compiled, f compiled, g's call patched, f invalidated.
#[test]
fn redefinition_through_the_binary_with_trace() {
    for mode in ["interp", "jit", "tiered"] {
        for threshold in ["1", "2", "1000"] {
            let out = exprjit()
                .args([
                    "eval",
                    "--mode",
                    mode,
                    "--threshold",
                    threshold,
                    "--trace-jit",
                ])
                .arg(REDEFINE)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{mode} {threshold}: {stderr}");
            assert_eq!(stdout, "1\n2\n", "{mode} {threshold}");
            if mode == "interp" {
                assert!(!stderr.contains("[jit]"), "{stderr}");
            }
        }
    }
    let out = exprjit()
        .args(["eval", "--mode", "jit", "--trace-jit"])
        .arg(REDEFINE)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let position = |what: &str| {
        stderr
            .find(what)
            .unwrap_or_else(|| panic!("no {what:?} in the trace:\n{stderr}"))
    };
    let compiled_g = position("compiled g/1");
    let compiled_f = position("compiled f/1");
    let patched_f = position("to call f/1 directly");
    let invalidated_f = position("invalidated f/1");
    assert!(compiled_g < compiled_f, "{stderr}");
    assert!(compiled_f < invalidated_f, "{stderr}");
    assert!(
        compiled_f < patched_f && patched_f < invalidated_f,
        "{stderr}"
    );
    assert!(stderr.lines().all(|l| l.starts_with("[jit] ")), "{stderr}");
    assert!(stderr.contains("patched call site"), "{stderr}");
    assert!(stderr.contains("sent back to the stub"), "{stderr}");
}

// ---------------------------------------------------------------------------
// (b) W^X
// ---------------------------------------------------------------------------

fn assert_wx_holds(when: &str) {
    let wx = writable_and_executable_mappings().expect("/proc/self/maps is readable");
    assert!(
        wx.is_empty(),
        "{when}: writable and executable mappings: {wx:#?}"
    );
}

/// While another thread runs machine code, compiles, patches and
/// invalidates, no mapping of the process is ever writable and executable.
#[test]
fn no_mapping_is_writable_and_executable_while_code_runs_and_changes() {
    assert_wx_holds("before any JIT");
    let reads = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let worker = {
        let (reads, done) = (reads.clone(), done.clone());
        thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let started = Instant::now();
                    let mut e = engine(Mode::Jit);
                    eval(&mut e, "fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2)");
                    assert_eq!(eval(&mut e, "fib(27)"), [196_418.0]);
                    assert_wx_holds("after compiling and running fib");
                    let mut round = 0u32;
                    // Keep going until the other thread has looked often,
                    // with a long computation and fresh code every round.
                    while round < 5 || reads.load(Ordering::Relaxed) < 300 {
                        assert!(started.elapsed() < Duration::from_secs(60));
                        let before = patches(&e);
                        eval(&mut e, &format!("h(x) = x * {round} + k(x)"));
                        eval(&mut e, &format!("k(x) = fib(x) - {round}"));
                        assert_wx_holds("after defining");
                        let got = eval(&mut e, "h(22)");
                        assert_eq!(got, [17_711.0 + 21.0 * f64::from(round)]);
                        assert!(patches(&e) > before);
                        assert_wx_holds("after compiling and patching");
                        eval(&mut e, "k(x) = x");
                        assert_wx_holds("after invalidating");
                        assert_eq!(eval(&mut e, "h(2)"), [2.0 * f64::from(round) + 2.0]);
                        round += 1;
                    }
                    round
                }));
                done.store(true, Ordering::Relaxed);
                result
            })
            .unwrap()
    };
    let mut seen = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let wx = writable_and_executable_mappings().expect("/proc/self/maps is readable");
        if !wx.is_empty() {
            seen.push(wx);
        }
        reads.fetch_add(1, Ordering::Relaxed);
    }
    let rounds = match worker.join().unwrap() {
        Ok(rounds) => rounds,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    assert!(
        seen.is_empty(),
        "writable and executable mappings: {seen:#?}"
    );
    assert!(reads.load(Ordering::Relaxed) >= 300 && rounds >= 5);
    assert_wx_holds("after the engine is gone");
}

// ---------------------------------------------------------------------------
// (c) Recursion in machine code
// ---------------------------------------------------------------------------

/// Runs `f` on a thread with a `mib` MiB stack.
/// A stack on which every tier reaches the call budget
/// (`MAX_CALL_DEPTH`) before the stack floor; unoptimised builds have much
/// larger interpreter frames.
const BUDGET_STACK_MIB: usize = if cfg!(debug_assertions) { 4096 } else { 256 };

fn on_big_stack<T: Send + 'static>(mib: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    thread::Builder::new()
        .stack_size(mib << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

#[test]
fn unbounded_recursion_is_an_error_and_the_engine_keeps_working() {
    for (name, opts) in all_configs() {
        let mut e = Engine::with_options(opts);
        let err = eval_err(&mut e, "g(n) = g(n+1); g(1)");
        assert_eq!(err.kind, ErrorKind::RecursionTooDeep, "{name}");
        assert_eq!(err.span, Some(Span::new(7, 13)), "{name}: at `g(n+1)`");
        assert_eq!(e.eval("1+1").unwrap(), [2.0], "{name}");

        // Again, through a built-in and an operator's right side, then
        // mutual recursion; every time the engine is still usable.
        eval(
            &mut e,
            "s(n) = sin(s(n + 1))\nt(n) = 1 + u(n)\nu(n) = n * t(n + 1)",
        );
        for text in ["g(1)", "s(0)", "t(0)", "2 * u(1) + 1"] {
            let err = eval_err(&mut e, text);
            assert_eq!(err.kind, ErrorKind::RecursionTooDeep, "{name}: {text}");
            assert!(err.span.is_some(), "{name}: {text}");
            assert_eq!(eval(&mut e, "1+1"), [2.0], "{name}: after {text}");
        }

        // A function that overflowed with a huge argument works with a
        // small one, and values before the error were delivered.
        eval(&mut e, "d(n) = n <= 0 ? 0 : 1 + d(n - 1)");
        let mut values = Vec::new();
        let result = e.run(
            exprjit::Source::new("<test>", "d(5)\nd(1e9)\nd(7)"),
            &mut |x| values.push(x),
        );
        assert_eq!(
            result.map_err(|e| e.kind),
            Err(ErrorKind::RecursionTooDeep),
            "{name}"
        );
        assert_eq!(values, [5.0], "{name}");
        assert_eq!(eval(&mut e, "d(100)"), [100.0], "{name}");
    }
}

/// docs/language.md §1 asks for the same error, span included, in every
/// tier. When recursion through two call sites runs out of *stack*, the
/// error points at whichever call was innermost then, which depends on each
/// tier's frame sizes; the call budget (`MAX_CALL_DEPTH`), counted alike by
/// every tier, makes the position the same — given a stack deep enough for
/// the budget to run out first.
#[test]
fn recursion_too_deep_has_the_same_span_in_every_tier() {
    on_big_stack(BUDGET_STACK_MIB, || {
        let program = "f(n) = 1 + g(n+1)\ng(n) = 2 + f(n+1)\nf(0)";
        let mut spans = Vec::new();
        for (name, opts) in all_configs() {
            let err = eval_err(&mut Engine::with_options(opts), program);
            assert_eq!(err.kind, ErrorKind::RecursionTooDeep, "{name}");
            spans.push((name, err.span));
        }
        for (name, span) in &spans[1..] {
            assert_eq!(span, &spans[0].1, "{name} vs {}: {spans:?}", spans[0].0);
        }
    });
}

/// docs/language.md §4.6: at least 10,000 nested calls work in every tier.
#[test]
fn ten_thousand_nested_calls_work() {
    on_big_stack(BUDGET_STACK_MIB, || {
        for (name, opts) in all_configs() {
            let mut e = Engine::with_options(opts);
            eval(&mut e, "d(n) = n <= 0 ? 0 : 1 + d(n - 1)");
            assert_eq!(eval(&mut e, "d(10000)"), [10_000.0], "{name}");
            // Mutual recursion, a value live across each call.
            eval(
                &mut e,
                "a(n) = n <= 0 ? 0 : n + b(n - 1)\nb(n) = n <= 0 ? 0 : a(n - 1) - 1",
            );
            assert_eq!(eval(&mut e, "a(10000)"), [25_000_000.0], "{name}");
        }
        // Up to the limit works, one more call is an error in every tier,
        // at the same call. The limit is found in the interpreter.
        let def = "d(n) = n <= 0 ? 0 : 1 + d(n - 1)";
        let works = |n: u64| {
            let mut e = engine(Mode::Interp);
            eval(&mut e, def);
            e.eval(&format!("d({n})")).is_ok()
        };
        let lo = common::last_that_works(10_000, 10_000_000, works);
        let hi = lo + 1;
        for (name, opts) in all_configs() {
            let mut e = Engine::with_options(opts);
            eval(&mut e, def);
            assert_eq!(eval(&mut e, &format!("d({lo})")), [lo as f64], "{name}");
            let err = e.eval(&format!("d({hi})")).unwrap_err();
            assert_eq!(err.kind, ErrorKind::RecursionTooDeep, "{name}");
            assert_eq!(err.span, Some(Span::new(24, 32)), "{name}");
        }
    });
}

/// The binary runs programs on a big stack: 10,000 deep in jit mode from
/// the command line, and unbounded recursion is a clean error.
#[test]
fn deep_recursion_through_the_binary() {
    let out = exprjit()
        .args(["eval", "--mode", "jit"])
        .arg("d(n) = n <= 0 ? 0 : 1 + d(n - 1)\nd(10000)\nd(100000)")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "10000\n100000\n");

    let out = exprjit()
        .args(["eval", "--mode", "jit"])
        .arg("g(n) = g(n+1); g(1)")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: recursion too deep"), "{stderr}");
}

// ---------------------------------------------------------------------------
// (d) Spilling: 2 registers agree with 14
// ---------------------------------------------------------------------------

/// A right-leaning chain `a0 op (a1 op (a2 op …))` with `bottom` at the
/// bottom, where `ai` is a parameter, or the global `g` at every `every`-th
/// level. A left operand that can fail (reading a global can) is computed
/// first and stays live while the right side runs, so with a global at
/// every level every pending value is live at once (far more than 14),
/// across the calls at the bottom.
fn chain(n: usize, ops: &[&str], bottom: &str, every: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let left = if i % every == 0 {
            "g".to_string()
        } else {
            format!("x{}", i % 8)
        };
        s.push_str(&format!("({left} {} ", ops[i % ops.len()]));
    }
    s.push_str(bottom);
    s.push_str(&")".repeat(n));
    s
}

#[test]
fn two_registers_agree_with_fourteen_on_deep_expressions() {
    let params = "x0, x1, x2, x3, x4, x5, x6, x7";
    let bodies = [
        chain(40, &["+", "*", "-", "/"], "x3 / x5", 1000),
        chain(40, &["+", "*", "-", "/"], "sin(x3)", 1),
        chain(30, &["<", "+", ">=", "*"], "atan2(x1, x2)", 2),
        chain(30, &["-", "%", "+", "^"], "k(x0, x1) + x7", 1),
        chain(
            24,
            &["&&", "+", "||", "-", "=="],
            "(x5 ? k(x2, x3) : -x4)",
            3,
        ),
        // A user call with many arguments, each deep, at every depth.
        format!(
            "w({}) + w({})",
            (0..16)
                .map(|i| chain(i % 5, &["*", "-"], &format!("x{}", i % 8), 2))
                .collect::<Vec<_>>()
                .join(", "),
            (0..16)
                .map(|i| format!("min(x{}, {})", i % 8, chain(3, &["+"], "k(x1, x2)", 1)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // Comparisons and logic as conditions at depth.
        format!(
            "{} ? {} : {}",
            chain(20, &["+", "<", "*"], "x1", 4),
            chain(20, &["-", "!=", "/"], "g", 1),
            chain(20, &["*", ">"], "max(x0, g)", 1)
        ),
    ];
    let support = "k(a, b) = a * 0.5 - b\ng = 0.25\n\
                   w(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) = \
                   a0 - a1 + a2 * a3 - a4 / a5 + a6 - a7 + a8 * a9 - a10 + a11 - a12 + a13 * a14 - a15";
    let args = [
        "1, 2, 3, 4, 5, 6, 7, 8",
        "0.5, -0, 1e308, 5e-324, nan, -inf, 3, -2.5",
        "-1, 0, 1, 2, 0.1, 0.2, 0.3, 1e-7",
    ];
    for body in &bodies {
        let program = format!("{support}\nh({params}) = {body}\n");
        let mut engines: Vec<(&str, Engine)> = untiered_configs()
            .into_iter()
            .map(|(n, o)| (n, Engine::with_options(o)))
            .collect();
        let results: Vec<Vec<u64>> = engines
            .iter_mut()
            .map(|(name, e)| {
                eval(e, &program);
                args.iter()
                    .map(|a| {
                        let v = e
                            .eval(&format!("h({a})"))
                            .unwrap_or_else(|err| panic!("{name}: {err}\n{program}"));
                        let x = v[0];
                        // Any NaN is the same NaN here.
                        if x.is_nan() {
                            f64::NAN.to_bits()
                        } else {
                            x.to_bits()
                        }
                    })
                    .collect()
            })
            .collect();
        for (i, (name, _)) in engines.iter().enumerate().skip(1) {
            assert_eq!(results[i], results[0], "{name} vs interp on\n{program}");
        }
        // The two-register code really is different: it keeps values in
        // their homes (it can be shorter: fewer registers to save around
        // each call).
        let code = |e: &Engine| internals::code_bytes(e, "h").expect("h has code");
        assert_ne!(code(&engines[2].1), code(&engines[1].1));
    }
}

// ---------------------------------------------------------------------------
// Odds and ends: errors across runs, handles, freeing code
// ---------------------------------------------------------------------------

/// An error raised in machine code of a function defined in an earlier run
/// points into that run's text, as in the interpreter.
#[test]
fn errors_in_functions_from_earlier_runs_render_the_same_in_every_mode() {
    let mut shown = Vec::new();
    for (name, opts) in all_configs() {
        let mut e = Engine::with_options(opts);
        eval(&mut e, "a = 1\nf(x) = x > 0 ? x : k + x\nh(x) = 2 * f(x)");
        assert_eq!(eval(&mut e, "h(1)\nh(2)\nh(3)"), [2.0, 4.0, 6.0]);
        let err = eval_err(&mut e, "h(1)\n\nh(-1)");
        assert_eq!(err.kind, ErrorKind::UndefinedVariable("k".into()));
        shown.push((name, err.render()));
    }
    for (name, text) in &shown[1..] {
        assert_eq!(text, &shown[0].1, "{name} vs {}", shown[0].0);
    }
    assert!(
        shown[0].1.contains("2 │ f(x) = x > 0 ? x : k + x"),
        "{}",
        shown[0].1
    );
}

/// Expression handles are promoted in tiered mode, agree with the
/// interpreter, see late-bound globals, and give their code back when
/// dropped.
#[test]
fn expression_handles_agree_and_free_their_code() {
    let mut interp = engine(Mode::Interp);
    let mut tiered = Engine::with_options(Options {
        mode: Mode::Tiered,
        threshold: 5,
        registers: 2,
        ..Options::default()
    });
    let setup = "f(x) = x * x - 1\ng = 0.5";
    eval(&mut interp, setup);
    eval(&mut tiered, setup);
    let text = "x < y ? f(x) / g : hypot(x, y) % 3";
    let hi = interp.compile_expr(text, &["x", "y"]).unwrap();
    let ht = tiered.compile_expr(text, &["x", "y"]).unwrap();
    for i in 0..200 {
        let (x, y) = (f64::from(i) * 0.37 - 20.0, f64::from(i % 17) - 3.0);
        if i == 100 {
            interp.set_var("g", -2.0).unwrap();
            tiered.set_var("g", -2.0).unwrap();
        }
        let a = interp.eval_handle(&hi, &[x, y]).unwrap();
        let b = tiered.eval_handle(&ht, &[x, y]).unwrap();
        assert_eq!(a.to_bits(), b.to_bits(), "x={x} y={y}");
    }
    let (live, _) = memory_use(&tiered);
    drop(ht);
    let (after, _) = memory_use(&tiered);
    assert!(
        after < live,
        "{after} bytes live after dropping, {live} before"
    );
}

/// Redefining a function over and over frees the old code: live code
/// does not grow, and freed blocks are reused.
#[test]
fn redefinitions_do_not_leak_code_memory() {
    let mut e = engine(Mode::Jit);
    eval(&mut e, "g(x) = f(x) + f(x + 1)");
    let mut samples = Vec::new();
    for i in 0..300 {
        eval(&mut e, &format!("f(x) = x * {i} + 1"));
        let want = 3.0 * f64::from(i) + 2.0;
        assert_eq!(eval(&mut e, "g(1)"), [want]);
        samples.push(memory_use(&e));
    }
    let (live_10, used_10) = samples[10];
    let (live_end, used_end) = *samples.last().unwrap();
    assert_eq!(live_end, live_10, "live code grows: {samples:?}");
    assert_eq!(used_end, used_10, "freed code is not reused: {samples:?}");
}

// ---------------------------------------------------------------------------
// Comparisons and truth in every context
// ---------------------------------------------------------------------------

/// Every comparison, in every place the code generator compiles it
/// differently (as a value with `cmpsd`, as a branch with `ucomisd` +
/// `jcc` taken when true or when false, under `!`, inside `&&` and `||`
/// on either side), over every pair of special values — NaN above all,
/// where the parity flag decides — agrees with the interpreter.
#[test]
fn comparisons_and_truth_agree_in_every_context_on_special_values() {
    let values = [
        "nan", "-inf", "-1", "-5e-324", "-0", "0", "5e-324", "1", "inf",
    ];
    let mut tests: Vec<String> = Vec::new();
    for op in ["==", "!=", "<", "<=", ">", ">="] {
        let c = format!("x {op} y");
        tests.extend([
            c.clone(),
            format!("!({c})"),
            format!("({c}) ? 1 : 2"),
            format!("!({c}) ? 1 : 2"),
            format!("!!({c}) ? 1 : 2"),
            format!("({c}) && y == y ? 1 : 2"),
            format!("y == y && ({c}) ? 1 : 2"),
            format!("({c}) || y != y ? 1 : 2"),
            format!("x != x || ({c}) ? 1 : 2"),
            format!("!(({c}) || x > 0) ? 1 : 2"),
            format!("!(x < 0 && ({c})) ? 1 : 2"),
            format!("({c}) && x"),
            format!("({c}) || x"),
            format!("y && ({c})"),
            format!("y || ({c})"),
        ]);
    }
    // Truth of a value (zero of either sign and NaN are false).
    tests.extend(
        [
            "!x",
            "!!x",
            "x ? 1 : 2",
            "!x ? 1 : 2",
            "x && y",
            "x || y",
            "x && y ? 1 : 2",
            "x || y ? 1 : 2",
            "!(x && y) ? 1 : 2",
            "!(x || y) ? 1 : 2",
        ]
        .map(String::from),
    );
    let configs = untiered_configs();
    let mut calls = String::new();
    for x in values {
        for y in values {
            calls.push_str(&format!("h({x}, {y})\n"));
        }
    }
    for body in &tests {
        let program = format!("h(x, y) = {body}\n{calls}");
        let results: Vec<Vec<u64>> = configs
            .iter()
            .map(|(_, o)| {
                let mut e = Engine::with_options(o.clone());
                eval(&mut e, &program)
                    .into_iter()
                    .map(f64::to_bits)
                    .collect()
            })
            .collect();
        for (i, (name, _)) in configs.iter().enumerate().skip(1) {
            if results[i] != results[0] {
                let bad: Vec<String> = values
                    .iter()
                    .flat_map(|x| values.iter().map(move |y| (x, y)))
                    .zip(results[0].iter().zip(&results[i]))
                    .filter(|(_, (a, b))| a != b)
                    .map(|((x, y), (a, b))| {
                        format!(
                            "h({x}, {y}): interp {}, {name} {}",
                            f64::from_bits(*a),
                            f64::from_bits(*b)
                        )
                    })
                    .collect();
                panic!("h(x, y) = {body}\n{}", bad.join("\n"));
            }
        }
    }
}

/// `x ^ 2` is one `mulsd` in machine code, not a call of `pow`
/// (docs/language.md §4 allows it: `x * x` is exact); `exprjit asm`
/// shows it.
#[test]
fn a_square_is_a_multiply_in_the_listing() {
    let out = Command::new(env!("CARGO_BIN_EXE_exprjit"))
        .args(["asm", "f(x) = x^2 + 1; f(3)"])
        .output()
        .expect("run exprjit");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let listing: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("f(x)"))
        .collect();
    assert!(!listing.is_empty(), "no listing of f: {text}");
    assert!(
        listing.iter().any(|l| l.contains("mulsd")),
        "no multiply: {text}"
    );
    assert!(
        !listing.iter().any(|l| l.contains("call")),
        "f calls something: {text}"
    );
}
