//! `exprjit demo`: a guided walk through the experiment exprjit grew from.
//! Every byte and number it prints is read back from memory or measured at
//! that moment; none is written into the text.

use std::io::{self, Write};
use std::time::Instant;

use exprjit::internals::{
    self,
    experiments::{seed_experiment, wx_experiment},
};
use exprjit::{Engine, JitEvent, Mode, Options, Source};

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the demo, writing to `out`; `pause` is called between steps.
pub fn run(out: &mut dyn Write, pause: &mut dyn FnMut() -> io::Result<()>) -> io::Result<()> {
    writeln!(
        out,
        "exprjit demo: a program writes machine code, runs it, and rewrites it while it runs.\n"
    )?;

    // Steps 1 and 2: the seed experiment, RWX on purpose.
    let seed = seed_experiment(42, 1337)?;
    writeln!(
        out,
        "Step 1. Map one page readable, writable AND executable (mmap):"
    )?;
    writeln!(out, "  /proc/self/maps: {}", seed.maps_line)?;
    writeln!(
        out,
        "  write `mov eax, 42; ret` at {:#x}; read back: {}",
        seed.addr,
        hex(&seed.first_bytes)
    )?;
    writeln!(out, "  call it as a function: {}", seed.first_result)?;
    pause()?;
    writeln!(
        out,
        "\nStep 2. Overwrite the immediate in place and call the SAME pointer again:"
    )?;
    writeln!(out, "  read back: {}", hex(&seed.second_bytes))?;
    writeln!(
        out,
        "  call it: {}   <- self-modifying code",
        seed.second_result
    )?;
    writeln!(
        out,
        "  (a page that is writable and executable at once lets any memory bug become code"
    )?;
    writeln!(
        out,
        "   injection; modern runtimes never keep one. The page above is already unmapped.)"
    )?;
    pause()?;

    // Step 3: the same with W^X.
    let wx = wx_experiment(42, 1337)?;
    writeln!(
        out,
        "\nStep 3. The same, the way exprjit does it (W^X): write while not executable,"
    )?;
    writeln!(
        out,
        "        run while not writable (mprotect flips the page around each write):"
    )?;
    writeln!(out, "  while writing: {}", wx.maps_while_writing)?;
    writeln!(out, "  while running: {}", wx.maps_while_running)?;
    writeln!(
        out,
        "  bytes {} -> {}",
        hex(&wx.first_bytes),
        wx.first_result
    )?;
    writeln!(
        out,
        "  bytes {} -> {}",
        hex(&wx.second_bytes),
        wx.second_result
    )?;
    if wx.wx_mappings.is_empty() {
        writeln!(
            out,
            "  /proc/self/maps now has no mapping that is both writable and executable."
        )?;
    } else {
        writeln!(out, "  writable+executable mappings found (W^X broken!):")?;
        for line in &wx.wx_mappings {
            writeln!(out, "    {line}")?;
        }
    }
    pause()?;

    jit_session(out)
}

/// Step 4: a function interpreted, becoming hot, compiled, and the call
/// site in its caller patched, with timings before and after.
fn jit_session(out: &mut dyn Write) -> io::Result<()> {
    let threshold = 50;
    writeln!(
        out,
        "\nStep 4. A small JIT session (tiered mode, threshold {threshold}):"
    )?;
    let mut engine = Engine::with_options(Options {
        mode: Mode::Tiered,
        threshold,
        ..Options::default()
    });
    let defs = "sq(x) = x * x + 1\nsum(n) = n <= 0 ? 0 : sq(n) + sum(n - 1)";
    for line in defs.lines() {
        writeln!(out, "  > {line}")?;
    }
    let run = |engine: &mut Engine, text: &str| -> io::Result<(f64, f64)> {
        let mut value = f64::NAN;
        let started = Instant::now();
        engine
            .run(Source::new("<demo>", text), &mut |x| value = x)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok((value, started.elapsed().as_secs_f64() * 1e6))
    };
    run(&mut engine, defs)?;
    let mut seen = 0;
    for round in 1..=4 {
        let (value, micros) = run(&mut engine, "sum(30)")?;
        writeln!(
            out,
            "  > sum(30)   = {}   ({micros:.1} µs, round {round})",
            exprjit::format_number(value)
        )?;
        let events = engine.jit_events();
        for e in &events[seen..] {
            writeln!(out, "    [jit] {e}")?;
        }
        seen = events.len();
    }
    // The call site of sq inside sum's machine code, read back from memory.
    let stub = internals::stub_of(&engine);
    let code_of = |addr: usize| {
        engine
            .function_stats()
            .into_iter()
            .find(|f| f.code.is_some_and(|c| c.addr == addr))
            .map(|f| f.name)
    };
    for (at, name, target) in internals::call_sites(&engine, "sum") {
        let target = target.unwrap_or(0);
        let what = if Some(target) == stub {
            "the runtime stub".to_string()
        } else {
            code_of(target).map_or("?".into(), |n| format!("{n}'s machine code"))
        };
        writeln!(
            out,
            "  call site of {name} in sum at {at:#x}: calls {target:#x} = {what}"
        )?;
    }
    let compiled = engine
        .jit_events()
        .iter()
        .filter(|e| matches!(e, JitEvent::Compiled { .. }))
        .count();
    writeln!(out, "  {compiled} functions compiled; the first round ran interpreted, the later ones as machine code.")?;
    writeln!(
        out,
        "\nTry it yourself: exprjit repl, then :threshold 3, :trace on, and :asm sum."
    )?;
    Ok(())
}
