//! Code memory is reclaimed: retired code is reused, so redefining and
//! calling a function over and over keeps memory bounded; a full region
//! makes the engine fall back to the interpreter, not fail.

#![cfg(target_arch = "x86_64")]

use exprjit::{Engine, JitEvent, Mode, Options};

fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn redefining_and_calling_100_000_times_keeps_code_memory_bounded() {
    let mut e = Engine::with_options(Options {
        mode: Mode::Jit,
        ..Options::default()
    });
    e.eval("g(x) = f(x) + 1").unwrap();
    let mut program = String::new();
    let mut rss_after_warmup = 0;
    for i in 0..100_000u32 {
        program.clear();
        program.push_str(&format!("f(x) = x * {i} + 0.5\ng({i})"));
        let v = e.eval(&program).unwrap();
        assert_eq!(v, [f64::from(i) * f64::from(i) + 1.5]);
        if i == 1_000 {
            rss_after_warmup = resident_kib();
        }
    }
    let stats = e.jit_stats().unwrap();
    let (live, high_water) = (stats.live_bytes, stats.used_bytes);
    // Live: glue + g + f (+ the expression statement just freed); the
    // high-water mark stays at a few blocks because freed blocks are reused.
    assert!(live < 4096, "live code bytes {live}");
    assert!(high_water < 16 * 1024, "high-water mark {high_water}");
    let growth = resident_kib().saturating_sub(rss_after_warmup);
    assert!(growth < 8 * 1024, "resident memory grew by {growth} KiB");
    // The event log is bounded too.
    assert!(e.jit_events().len() <= 4096);
}

#[test]
fn a_full_code_region_falls_back_to_the_interpreter() {
    let mut e = Engine::with_options(Options {
        mode: Mode::Jit,
        // Room for the runtime glue and little else.
        code_memory: 4096,
        ..Options::default()
    });
    // Functions stay alive (bound), so their code cannot be reclaimed.
    let mut expect = Vec::new();
    for i in 0..100u32 {
        e.eval(&format!("f{i}(x) = x * x + {i} * sin(x) - {i} / (x + 1)"))
            .unwrap();
        let v = e.eval(&format!("f{i}(2)")).unwrap();
        expect.push(4.0 + f64::from(i) * 2f64.sin() - f64::from(i) / 3.0);
        assert_eq!(v, [expect[i as usize]]);
    }
    let declined = e
        .jit_events()
        .into_iter()
        .filter(|ev| matches!(ev, JitEvent::Declined { why, .. } if why.contains("full")))
        .count();
    assert!(declined > 0, "some functions stayed interpreted");
    // Still correct, and the engine keeps working.
    assert_eq!(e.eval("f99(2)").unwrap(), [expect[99]]);
}
