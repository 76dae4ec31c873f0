//! Separate engines on separate threads run at once and agree.

use exprjit::{Engine, Mode, Options};

#[test]
fn engines_on_parallel_threads_compute_independently() {
    // (No JIT off x86-64: there tiered mode interprets.)
    let jit = if cfg!(target_arch = "x86_64") {
        Mode::Jit
    } else {
        Mode::Tiered
    };
    let modes = [jit, Mode::Tiered, Mode::Interp, jit];
    let handles: Vec<_> = modes
        .into_iter()
        .enumerate()
        .map(|(i, mode)| {
            std::thread::spawn(move || {
                let mut e = Engine::with_options(Options {
                    mode,
                    threshold: 2,
                    ..Options::default()
                });
                // Each thread defines its own `k`, so crosstalk would show.
                let k = i as f64;
                e.eval(&format!(
                    "k = {k}; fib(n) = n < 2 ? n : fib(n-1) + fib(n-2)"
                ))
                .unwrap();
                let mut out = Vec::new();
                for round in 0..50 {
                    let v = e.eval(&format!("fib(15) + k * {round}")).unwrap();
                    out.push(v[0]);
                    // Redefine now and then: invalidation must stay local.
                    if round % 10 == 0 {
                        e.eval("fib(n) = n < 2 ? n : fib(n-1) + fib(n-2)").unwrap();
                    }
                }
                (k, out)
            })
        })
        .collect();
    for h in handles {
        let (k, out) = h.join().unwrap();
        for (round, v) in out.into_iter().enumerate() {
            assert_eq!(v, 610.0 + k * round as f64);
        }
    }
}
