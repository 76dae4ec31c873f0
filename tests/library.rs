//! The library's promises (docs/language.md §7): no safe use can crash it
//! or read another engine's data; kernels are frozen, shared by threads,
//! and reach the same limits on any thread; native functions join programs
//! in every tier. Each soundness test here reproduces a crash or a wrong
//! value an earlier version had.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::CONFIGS;
use exprjit::{Engine, ErrorKind, Kernel, Mode, Options};

fn engine(mode: Mode) -> Engine {
    Engine::with_options(Options {
        mode,
        ..Options::default()
    })
}

/// The modes, with machine code where this processor has it.
fn modes() -> Vec<Mode> {
    if cfg!(target_arch = "x86_64") {
        vec![Mode::Interp, Mode::Jit, Mode::Tiered]
    } else {
        vec![Mode::Interp, Mode::Tiered]
    }
}

fn on_thread<T: Send + 'static>(stack: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

// --- stale handles ----------------------------------------------------------

/// A handle's code stays mapped while the handle lives, and a handle made
/// before `reset` is refused after it (it used to run unmapped code).
#[test]
fn a_handle_after_reset_is_stale_in_every_mode() {
    for mode in modes() {
        let mut e = engine(mode);
        e.eval("g(x) = x * 3").unwrap();
        let pure = e.compile_expr("x*x + 1", &["x"]).unwrap();
        let impure = e.compile_expr("g(x) + 1", &["x"]).unwrap();
        for _ in 0..3 {
            assert_eq!(e.eval_handle(&pure, &[3.0]).unwrap(), 10.0);
            assert_eq!(e.eval_handle(&impure, &[3.0]).unwrap(), 10.0);
        }
        e.reset();
        // Whatever is mapped now where the code was: never reached.
        e.eval("h(x) = x + 1; h(1); h(2)").unwrap();
        for h in [&pure, &impure] {
            let err = e.eval_handle(h, &[3.0]).unwrap_err();
            assert_eq!(err.kind, ErrorKind::StaleHandle, "{mode:?}");
            assert_eq!(e.kernel(h).unwrap_err().kind, ErrorKind::StaleHandle);
        }
        // New handles work.
        let fresh = e.compile_expr("x*x + 1", &["x"]).unwrap();
        assert_eq!(e.eval_handle(&fresh, &[3.0]).unwrap(), 10.0);
    }
}

/// A handle knows its engine: another engine refuses it, whatever names
/// it has (it used to read another engine's globals, or panic on an index
/// out of bounds).
#[test]
fn a_handle_used_with_another_engine_is_stale() {
    for mode in modes() {
        // Interp: `b` would be read from the other engine's slot.
        let mut a = engine(mode);
        a.eval("a = 1; b = 2").unwrap();
        let h = a.compile_expr("x + b", &["x"]).unwrap();
        assert_eq!(a.eval_handle(&h, &[10.0]).unwrap(), 12.0);
        a.reset();
        a.eval("c = 100; d = 200").unwrap();
        assert_eq!(
            a.eval_handle(&h, &[10.0]).unwrap_err().kind,
            ErrorKind::StaleHandle
        );
        // Another engine with more names, and one with none at all.
        let mut k = engine(mode);
        k.eval("yy = 1000; b = 5").unwrap();
        let _ = k.compile_expr("x + yy", &["x"]).unwrap();
        assert_eq!(
            k.eval_handle(&h, &[10.0]).unwrap_err().kind,
            ErrorKind::StaleHandle
        );
        let empty = engine(mode);
        assert_eq!(
            empty.eval_handle(&h, &[10.0]).unwrap_err().kind,
            ErrorKind::StaleHandle
        );
        // The engine that made it is gone: still only an error.
        let handle = {
            let mut gone = engine(mode);
            gone.eval("g(x) = x").unwrap();
            gone.compile_expr("g(x) + 1", &["x"]).unwrap()
        };
        assert_eq!(
            k.eval_handle(&handle, &[1.0]).unwrap_err().kind,
            ErrorKind::StaleHandle
        );
        drop(handle);
    }
}

/// An impure handle of 40,000 variables, evaluated on a 256 KiB thread:
/// the arguments no longer go on the thread's own stack before anything
/// is checked (that aborted the process); every tier computes it.
#[test]
fn forty_thousand_variables_on_a_small_thread() {
    for mode in modes() {
        let value = on_thread(256 << 10, move || {
            let mut e = engine(mode);
            e.set_var("g", 0.5).unwrap();
            let names: Vec<String> = (0..40_000).map(|i| format!("v{i}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let h = e.compile_expr("v0 + g + v39999", &refs).unwrap();
            let values: Vec<f64> = (0..40_000).map(f64::from).collect();
            let mut last = 0.0;
            for _ in 0..3 {
                last = e.eval_handle(&h, &values).unwrap();
            }
            last
        });
        assert_eq!(value, 39_999.5, "{mode:?}");
    }
}

/// Half a million variables, and a duplicate among them found (by a hash
/// set: comparing them pairwise took over a minute; `benches/jit.rs`
/// shows the slope).
#[test]
fn half_a_million_variables_and_a_duplicate() {
    let mut e = engine(Mode::Interp);
    let names: Vec<String> = (0..500_000).map(|i| format!("v{i}")).collect();
    let mut refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let h = e.compile_expr("v0 + v499999", &refs).unwrap();
    let values: Vec<f64> = (0..500_000).map(f64::from).collect();
    assert_eq!(e.eval_handle(&h, &values).unwrap(), 499_999.0);
    refs.push("v123");
    let err = e.compile_expr("v0", &refs).unwrap_err();
    assert_eq!(err.kind, ErrorKind::DuplicateParameter("v123".into()));
}

// --- kernels ----------------------------------------------------------------

/// The compiler checks that a kernel can be shared between threads.
#[test]
fn a_kernel_is_send_sync_clone_and_static() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<Kernel>();
    shared::<exprjit::Interrupter>();
}

/// Inputs with special values among them.
fn inputs() -> Vec<[f64; 2]> {
    let special = [
        0.0,
        -0.0,
        1.0,
        -1.5,
        2.5,
        1e-310,
        1e300,
        f64::INFINITY,
        f64::NAN,
    ];
    let mut v = Vec::new();
    for (i, &x) in special.iter().enumerate() {
        for &y in &special[i..] {
            v.push([x, y]);
        }
    }
    for i in 0..200 {
        v.push([f64::from(i) * 0.37 - 30.0, 7.0 - f64::from(i % 13) * 1.25]);
    }
    v
}

fn bits(r: Result<f64, exprjit::Error>) -> Result<u64, String> {
    r.map(|x| if x.is_nan() { u64::MAX } else { x.to_bits() })
        .map_err(|e| format!("{} at {:?}", e.kind, e.span))
}

/// 8 threads × 1,000,000 evaluations of kernels give, bit for bit, what
/// `eval_handle` gave on one thread when the kernel was made: a pure
/// formula, recursive user functions, globals, a native function. (In
/// interp mode, a tenth as many: the interpreter is the slow reference.)
#[test]
fn eight_threads_evaluate_kernels_as_one_thread_does() {
    let formulas = [
        "sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x^2)",
        // (NaN would recurse to the budget: that is another test's.)
        "fib(abs(x) < 6 ? abs(x) : 6) + y",
        "k * x - shift + y % 3",
        "gauss(x) * y + clamp01(x, y)",
    ];
    for mode in modes() {
        let mut e = engine(mode);
        e.eval("fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2); k = 1.5; shift = -2")
            .unwrap();
        e.define_native("gauss", |x: f64| (-x * x).exp()).unwrap();
        e.define_native("clamp01", |x: f64, y: f64| (x * y).clamp(0.0, 1.0))
            .unwrap();
        let inputs = Arc::new(inputs());
        for text in formulas {
            let h = e.compile_expr(text, &["x", "y"]).unwrap();
            // Hot in tiered mode before the kernel is made, like a user's.
            let expect: Vec<_> = (0..3)
                .flat_map(|_| inputs.iter().map(|v| bits(e.eval_handle(&h, v))))
                .collect();
            let expect = Arc::new(expect[..inputs.len()].to_vec());
            let kernel = e.kernel(&h).unwrap();
            let threads: Vec<_> = (0..8)
                .map(|t| {
                    let (k, inputs, expect) = (kernel.clone(), inputs.clone(), expect.clone());
                    std::thread::spawn(move || {
                        let n = inputs.len();
                        let evaluations = if mode == Mode::Interp {
                            100_000
                        } else {
                            1_000_000
                        };
                        for i in 0..evaluations {
                            let j = (i * 7 + t) % n;
                            let got = bits(k.eval(&inputs[j]));
                            if got != expect[j] {
                                return Err(format!("{:?}: {got:?} != {:?}", inputs[j], expect[j]));
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            for t in threads {
                t.join()
                    .unwrap()
                    .unwrap_or_else(|m| panic!("{mode:?} {text}: {m}"));
            }
        }
    }
}

/// A kernel outlives its engine and does not see what the engine does
/// after it was made.
#[test]
fn a_kernel_is_a_frozen_snapshot_that_outlives_its_engine() {
    for mode in modes() {
        let mut e = engine(mode);
        e.eval("f(x) = x * 2; k = 10").unwrap();
        e.define_native("n1", |x: f64| x + 1.0).unwrap();
        let h = e
            .compile_expr("f(x) + k + n1(x) + undefined_later", &["x"])
            .unwrap();
        // `undefined_later` is undefined when the kernel is made: that is
        // the kernel's error, for good.
        let h2 = e.compile_expr("f(x) + k + n1(x)", &["x"]).unwrap();
        let k1 = e.kernel(&h).unwrap();
        let k2 = e.kernel(&h2).unwrap();
        assert_eq!(k2.eval(&[1.0]).unwrap(), 2.0 + 10.0 + 2.0);
        e.eval("f(x) = x * 100; k = -1; undefined_later = 0")
            .unwrap();
        e.define_native("n1", |x: f64| x - 1.0).unwrap();
        assert_eq!(e.eval_handle(&h2, &[1.0]).unwrap(), 100.0 - 1.0 + 0.0);
        assert_eq!(k2.eval(&[1.0]).unwrap(), 14.0, "{mode:?}: frozen");
        let err = k1.eval(&[1.0]).unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::UndefinedVariable("undefined_later".into())
        );
        e.reset();
        drop(e);
        assert_eq!(k2.eval(&[1.0]).unwrap(), 14.0, "{mode:?}: after the engine");
        assert_eq!(
            k1.eval(&[1.0]).unwrap_err().kind,
            ErrorKind::UndefinedVariable("undefined_later".into())
        );
        assert_eq!(k2.vars(), ["x"]);
    }
}

/// The deepest recursion a 64 KiB thread can evaluate through a kernel is
/// the command line's: the same last call works, the next one fails with
/// the same error at the same place.
#[test]
fn a_kernel_on_a_64_kib_thread_reaches_the_command_lines_limit() {
    let def = "f(n) = n < 1 ? 0 : 1 + f(n - 1)";
    // The limit, found through the binary (its program thread is big).
    let works = |n: u64| {
        common::eval_bin(&CONFIGS[0], &format!("{def}\nf({n})"))
            .stdout
            .starts_with(&n.to_string())
    };
    let lo = common::last_that_works(10_000, 10_000_000, works);
    let hi = lo + 1;
    let cli = common::eval_bin(&CONFIGS[0], &format!("{def}\nf({hi})"));
    assert!(
        cli.stderr.starts_with("error: recursion too deep"),
        "{}",
        cli.stderr
    );
    for mode in modes() {
        let (ok, err) = on_thread(64 << 10, move || {
            let mut e = engine(mode);
            e.eval(def).unwrap();
            let h = e.compile_expr("f(n)", &["n"]).unwrap();
            let k = e.kernel(&h).unwrap();
            (k.eval(&[lo as f64]), k.eval(&[hi as f64]))
        });
        assert_eq!(ok.unwrap(), lo as f64, "{mode:?}");
        let err = err.unwrap_err();
        assert_eq!(err.kind, ErrorKind::RecursionTooDeep, "{mode:?}");
        // At `f(n - 1)` in the definition, as the command line says.
        assert_eq!(err.span.map(|s| s.start), Some(23), "{mode:?}");
        assert!(cli.stderr.contains("1:24"), "{}", cli.stderr);
    }
}

/// 100,000 kernels alive at once: they share code regions (a mapping each
/// would exceed the kernel's limit on mappings), and their code memory is
/// given back when they are dropped.
#[test]
fn a_hundred_thousand_kernels_share_code_memory() {
    let mut e = engine(Mode::Jit);
    e.eval("sq(x) = x * x").unwrap();
    let pure = e.compile_expr("x * 2 + 1", &["x"]).unwrap();
    let calls = e.compile_expr("sq(x) + 1", &["x"]).unwrap();
    let maps = || {
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .count()
    };
    let (maps_before, code_before) = (maps(), exprjit::internals::kernel_code_bytes());
    let kernels: Vec<Kernel> = (0..100_000)
        .map(|i| e.kernel(if i % 2 == 0 { &pure } else { &calls }).unwrap())
        .collect();
    for (i, k) in kernels.iter().enumerate().step_by(997) {
        let want = if i % 2 == 0 { 7.0 } else { 10.0 };
        assert_eq!(k.eval(&[3.0]).unwrap(), want);
    }
    assert!(
        maps() < maps_before + 100,
        "{} mappings for 100,000 kernels",
        maps() - maps_before
    );
    assert!(exprjit::internals::kernel_code_bytes() > code_before);
    drop(kernels);
    // Other tests of this process may hold kernels now: allow for a few.
    let left = exprjit::internals::kernel_code_bytes().saturating_sub(code_before);
    assert!(left < 64 << 10, "{left} bytes of kernel code left");
}

/// `eval_batch`: one row per output, shapes checked, the lowest failing
/// row named.
#[test]
fn eval_batch_checks_shapes_and_names_the_failing_row() {
    for mode in modes() {
        let mut e = engine(mode);
        e.eval("f(x) = x < 0 ? undefined : sqrt(x)").unwrap();
        let k_h = e.compile_expr("f(x) + y", &["x", "y"]).unwrap();
        let k = e.kernel(&k_h).unwrap();
        let xs = [4.0, 9.0, -1.0, 16.0, -2.0];
        let ys = [1.0, 2.0, 3.0, 4.0, 5.0];
        let mut out = [0.0; 5];
        let err = k.eval_batch(&[&xs, &ys], &mut out).unwrap_err();
        assert_eq!(err.row, Some(2), "{mode:?}");
        assert_eq!(err.kind, ErrorKind::UndefinedVariable("undefined".into()));
        assert_eq!(out[..2], [3.0, 5.0]);
        let ok = k.eval_batch(&[&xs[..2], &ys[..2]], &mut out[..2]);
        assert!(ok.is_ok());
        for bad in [
            k.eval_batch(&[&xs], &mut out),
            k.eval_batch(&[&xs, &ys[..4]], &mut out),
            k.eval_batch(&[&xs, &ys], &mut out[..4]),
        ] {
            assert!(matches!(bad.unwrap_err().kind, ErrorKind::BatchShape(_)));
        }
        let constant_h = e.compile_expr("pi", &[]).unwrap();
        let constant = e.kernel(&constant_h).unwrap();
        let mut three = [0.0; 3];
        constant.eval_batch(&[], &mut three).unwrap();
        assert_eq!(three, [std::f64::consts::PI; 3]);
    }
}

/// A kernel's interrupter stops its running evaluations, on every thread,
/// and later evaluations run normally.
#[test]
fn a_kernel_can_be_stopped_from_another_thread() {
    for mode in modes() {
        let mut e = engine(mode);
        e.eval("slow(n) = n < 2 ? n : slow(n - 1) + slow(n - 2)")
            .unwrap();
        let k_h = e.compile_expr("slow(n)", &["n"]).unwrap();
        let k = e.kernel(&k_h).unwrap();
        let stop = k.interrupter();
        let done = Arc::new(AtomicBool::new(false));
        let runners: Vec<_> = (0..2)
            .map(|_| {
                let (k, done) = (k.clone(), done.clone());
                std::thread::spawn(move || {
                    let r = k.eval(&[90.0]);
                    done.store(true, Ordering::Relaxed);
                    r
                })
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while runners.iter().any(|r| !r.is_finished()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{mode:?}: not stopped"
            );
            stop.stop();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for r in runners {
            assert_eq!(r.join().unwrap().unwrap_err().kind, ErrorKind::Interrupted);
        }
        assert_eq!(k.eval(&[10.0]).unwrap(), 55.0, "{mode:?}");
    }
}

/// A stop that arrives in the middle of a long expression that calls
/// nothing more (here a native stops the engine, then 100,000 additions
/// follow) ends it in every tier: the interpreter looks at the flag as it
/// walks, machine code at the end of the statement.
#[test]
fn a_stop_in_the_middle_of_a_long_expression_ends_it() {
    for mode in modes() {
        let mut e = engine(mode);
        let stop = e.interrupter();
        e.define_native("stop_now", move || {
            stop.stop();
            0.0
        })
        .unwrap();
        let text = format!("1\nstop_now() + {}1\n2", "1+".repeat(100_000));
        let mut values = Vec::new();
        let result = e.run(exprjit::Source::new("<t>", text), &mut |x| values.push(x));
        assert_eq!(result.unwrap_err().kind, ErrorKind::Interrupted, "{mode:?}");
        assert_eq!(values, [1.0], "{mode:?}");
        // The next run is not affected.
        assert_eq!(e.eval("3").unwrap(), [3.0]);
    }
}

/// Options that cannot change once code is compiled are refused, not
/// silently ignored; the others apply.
#[test]
fn set_options_refuses_what_it_cannot_apply() {
    let mut e = engine(Mode::Jit);
    e.eval("f(x) = x + 1; f(1)").unwrap();
    for changed in [
        Options {
            registers: 3,
            ..e.options().clone()
        },
        Options {
            code_memory: 1 << 20,
            ..e.options().clone()
        },
    ] {
        let before = e.options().clone();
        assert!(matches!(
            e.set_options(changed).unwrap_err().kind,
            ErrorKind::Input(_)
        ));
        assert_eq!(e.options(), &before, "nothing changed");
    }
    let tiered = Options {
        mode: Mode::Tiered,
        threshold: 7,
        ..e.options().clone()
    };
    e.set_options(tiered.clone()).unwrap();
    assert_eq!(e.options(), &tiered);
    assert_eq!(e.eval("f(2)").unwrap(), [3.0]);
}

// --- native functions -------------------------------------------------------

#[test]
fn natives_of_every_arity_in_every_tier() {
    for config in CONFIGS {
        let mut e = config.engine();
        e.define_native("zero", || 0.25).unwrap();
        e.define_native("one", |x: f64| x * 10.0).unwrap();
        e.define_native("two", |a: f64, b: f64| a - b).unwrap();
        e.define_native("three", |a: f64, b: f64, c: f64| a * b + c)
            .unwrap();
        e.define_native("four", |a: f64, b: f64, c: f64, d: f64| a + b + c + d)
            .unwrap();
        e.eval("f(x) = zero() + one(x) + two(x, 1) + three(x, 2, 3) + four(x, x, x, x)")
            .unwrap();
        for _ in 0..5 {
            // 0.25 + 20 + 1 + 7 + 8
            assert_eq!(e.eval("f(2)").unwrap(), [36.25], "{}", config.name);
        }
        assert_eq!(e.call("two", &[5.0, 2.0]).unwrap(), 3.0);
        let err = e.eval("one(1, 2)").unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::Arity {
                name: "one".into(),
                expected: 1,
                got: 2
            }
        );
    }
}

#[test]
fn natives_cannot_be_rebound_by_programs_but_the_host_may_redefine_them() {
    for config in CONFIGS {
        let mut e = config.engine();
        e.define_native("nat", |x: f64| x + 1.0).unwrap();
        e.eval("g(x) = nat(x) * 2").unwrap();
        for _ in 0..4 {
            assert_eq!(e.eval("g(1)").unwrap(), [4.0], "{}", config.name);
        }
        for text in ["nat = 3", "nat(x) = x"] {
            let err = e.eval(text).unwrap_err();
            assert_eq!(err.kind, ErrorKind::NativeRedefined("nat".into()), "{text}");
        }
        assert_eq!(
            e.set_var("nat", 1.0).unwrap_err().kind,
            ErrorKind::NativeRedefined("nat".into())
        );
        // The host redefines it: compiled callers see the new one.
        e.define_native("nat", |x: f64| x + 100.0).unwrap();
        assert_eq!(e.eval("g(1)").unwrap(), [202.0], "{}", config.name);
        // A different arity: callers get the arity error, where they call.
        e.define_native("nat", |a: f64, b: f64| a + b).unwrap();
        let err = e.eval("g(1)").unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Arity { .. }), "{err:?}");
        assert_eq!(err.span.map(|s| s.start), Some(7));
        // reset keeps natives, forgets the rest.
        e.reset();
        assert_eq!(e.eval("nat(1, 2)").unwrap(), [3.0]);
        assert_eq!(
            e.eval("g(1)").unwrap_err().kind,
            ErrorKind::UnknownFunction("g".into())
        );
    }
}

#[test]
fn native_names_are_identifiers_and_not_builtins() {
    let mut e = Engine::new();
    for bad in ["", "1abc", "a b", "x-y"] {
        let err = e.define_native(bad, |x: f64| x).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidName(bad.into()));
    }
    for builtin in ["sin", "pi", "log", "pow"] {
        let err = e.define_native(builtin, |x: f64| x).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BuiltinRedefined(builtin.into()));
    }
    for bad in ["", "1abc", "a b"] {
        let err = e.set_var(bad, 1.0).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidName(bad.into()));
    }
    assert_eq!(
        e.set_var("pi", 3.0).unwrap_err().kind,
        ErrorKind::BuiltinRedefined("pi".into())
    );
}

/// A panic inside a native is an error of the evaluation, at the call,
/// in every tier and in kernels; it never unwinds through machine code.
#[test]
fn a_panicking_native_is_an_error_in_every_tier() {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for config in CONFIGS {
        let mut e = config.engine();
        e.define_native("boom", |x: f64| -> f64 {
            if x > 2.0 {
                panic!("too big: {x}")
            }
            x
        })
        .unwrap();
        e.eval("f(x) = 1 + boom(x)").unwrap();
        for x in [1.0, 2.0, 1.5, 0.0] {
            assert_eq!(e.call("f", &[x]).unwrap(), 1.0 + x, "{}", config.name);
        }
        let err = e.eval("f(3)").unwrap_err();
        assert_eq!(
            err.kind,
            ErrorKind::NativePanic {
                name: "boom".into(),
                message: "too big: 3".into()
            },
            "{}",
            config.name
        );
        assert_eq!(err.span.map(|s| s.start), Some(11), "at boom(x) in f");
        assert_eq!(e.eval("f(1)").unwrap(), [2.0], "the engine goes on");
        let k_h = e.compile_expr("f(x)", &["x"]).unwrap();
        let k = e.kernel(&k_h).unwrap();
        assert!(matches!(
            k.eval(&[5.0]).unwrap_err().kind,
            ErrorKind::NativePanic { .. }
        ));
        assert_eq!(k.eval(&[1.0]).unwrap(), 2.0);
    }
    std::panic::set_hook(quiet);
}

/// A handle's variables are identifiers too; they may hide a built-in,
/// like a function's parameters.
#[test]
fn handle_variables_are_identifiers() {
    let mut e = Engine::new();
    for bad in ["", "1abc", "a b", "x-y"] {
        let err = e.compile_expr("1", &["x", bad]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidName(bad.into()));
    }
    let h = e.compile_expr("min + 1", &["min"]).unwrap();
    assert_eq!(e.eval_handle(&h, &[2.0]).unwrap(), 3.0);
}

/// Found by the differential fuzz target: a kernel reads its globals as
/// frozen values, so `1 == exp2(g)` is pure and uses no parameter; its
/// direct entry was taken for a leaf, got no frame, and its spill across
/// the call of `exp2` overwrote the return address.
#[test]
fn a_kernel_that_calls_a_builtin_and_reads_no_parameter_has_a_frame() {
    for text in ["1 == exp2(g)", "1 < sin(g) + g", "(3 % g) == exp2(exp2(g))"] {
        let mut want = None;
        for mode in modes() {
            let mut e = engine(mode);
            e.set_var("g", 2.0).unwrap();
            let h = e.compile_expr(text, &["n", "x"]).unwrap();
            let k = e.kernel(&h).unwrap();
            let one = k.eval(&[1.0, 1.0]).unwrap();
            let mut out = vec![0.0; 7];
            k.eval_batch(&[&[1.0; 7], &[-1.0; 7]], &mut out).unwrap();
            assert!(
                out.iter().all(|v| v.to_bits() == one.to_bits()),
                "{mode:?} {text}"
            );
            assert_eq!(
                e.eval_handle(&h, &[1.0, 1.0]).unwrap().to_bits(),
                one.to_bits()
            );
            let want = *want.get_or_insert(one.to_bits());
            assert_eq!(one.to_bits(), want, "{mode:?} {text}");
        }
    }
}
