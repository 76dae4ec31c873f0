//! `exprjit bench --warmup`: the first evaluations of one expression, call
//! by call, in every mode, after Barrett et al., "Virtual Machine Warmup
//! Blows Hot and Cold" (OOPSLA 2017): several fresh process executions,
//! each timing every iteration on its own, then a judgement per mode of
//! whether the times settle, and when.
//!
//! The parent re-executes its own binary once per run and mode (the hidden
//! `exprjit bench --warmup --warmup-run MODE …`); the child makes a fresh
//! engine, times each of the first `calls` evaluations of the expression
//! handle with an [`Instant`] around one `eval_handle`, and prints the run
//! as one line of JSON on stdout. A fresh process per run keeps what one
//! run warmed (the engine's code, the heap, the caches, the branch
//! predictors) from helping the next. The modes take turns run by run, as
//! in `exprjit bench`, so that a burst of load on a shared machine costs
//! each mode one run rather than every run of one mode.
//!
//! What a call costs is what the caller sees: a call during which the JIT
//! compiled (jit mode's first call, tiered mode's tier-up) includes the
//! compilation. Which call that was comes from the engine's own books
//! ([`Engine::jit_stats`], [`Engine::jit_events`],
//! [`Engine::handle_stats`]), read between calls, outside the timed part.

use std::collections::HashSet;
use std::hint::black_box;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use exprjit::{Engine, Error, ErrorKind, JitEvent, Mode};
use serde_json::{json, Value};
use textplots::TickDisplayBuilder;
use textplots::{Chart, ColorPlot, LabelBuilder, LabelFormat, Plot, Shape, TickDisplay};

use super::bench::{self, show, Case, FORMULA, MODES};

/// The most calls one run may time (`--calls`): every run's timings are
/// kept in memory and sent through a pipe as JSON.
pub const MAX_CALLS: usize = 10_000_000;

/// The values of `x` and `y` the built-in formula is evaluated with, at
/// every call: one input throughout, so that the curve shows warm-up and
/// not the cost of different arguments.
const FORMULA_INPUT: [f64; 2] = [0.25, 3.0];

/// The steady-state rule, as the output states it. See [`steady_state`].
pub const STEADY_RULE: &str = "after the last compilation, the median of the last third of \
     calls is within 10% of the middle third's, and from call k on the median of every window \
     of max(3, calls/20) calls is within 20% of the last third's (no level shift); k is the \
     first call of the first such window that is itself within 20%";

/// How far the middle third's median may be from the last third's.
const THIRDS_TOLERANCE: f64 = 0.10;
/// How far a window's median may be from the last third's.
const BAND: f64 = 0.20;

/// What to measure, and how often.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Process executions per mode.
    pub runs: usize,
    /// Calls timed in each run.
    pub calls: usize,
    /// Tiered mode's threshold.
    pub threshold: u32,
}

/// Calls per run when `--calls` is not given: enough to pass tiered
/// mode's threshold by a good margin, `max(200, 4 × threshold)` (at most
/// [`MAX_CALLS`]).
pub fn default_calls(threshold: u32) -> usize {
    usize::try_from(threshold)
        .unwrap_or(usize::MAX)
        .saturating_mul(4)
        .clamp(200, MAX_CALLS)
}

/// What `--warmup` measures: PROGRAM's last expression statement over
/// PROGRAM's globals, or (without a program) the built-in formula.
pub fn case(program: Option<&str>) -> Result<Case, Error> {
    match program {
        Some(text) => bench::from_program(text),
        None => Ok(Case {
            name: "formula".into(),
            definitions: String::new(),
            expr: FORMULA.into(),
            vars: vec!["x".into(), "y".into()],
            inputs: vec![FORMULA_INPUT.to_vec()],
        }),
    }
}

/// Why warm-up measurement stopped: the message to print on stderr as it
/// is (it starts `error: `).
#[derive(Debug)]
pub struct Failure(pub String);

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure(e.render())
    }
}

fn internal(message: String) -> Failure {
    Error::from(ErrorKind::Internal(message)).into()
}

/// One compilation the JIT did during the calls.
#[derive(Debug, Clone)]
struct Compilation {
    /// `name/arity` (`<expr>/N` for the expression itself).
    function: String,
    /// The call during which it happened (1-based).
    call: usize,
    /// How long compiling and placing took.
    ns: u64,
}

/// One process's run of one mode.
#[derive(Debug, Clone)]
struct Run {
    /// The time of each call.
    ns: Vec<u64>,
    compilations: Vec<Compilation>,
    /// The call during which the expression itself got machine code.
    handle_compiled_at: Option<usize>,
    /// Bits of the last value (every mode must compute the same).
    value_bits: u64,
    /// What reading the clock costs, included in every figure.
    timer_ns: u64,
    /// Compilation before the first call (while the definitions ran, or
    /// making the handle): in no call's time.
    before_ns: u64,
}

/// The hidden `--warmup-run MODE`: one run in a fresh engine, as one line
/// of JSON (what [`run`] reads back).
pub fn child(mode: Mode, settings: &Settings, program: Option<&str>) -> Result<String, Error> {
    let run = measure(&case(program)?, mode, settings)?;
    let compilations: Vec<Value> = run
        .compilations
        .iter()
        .map(|c| json!({"function": c.function, "call": c.call, "ns": c.ns}))
        .collect();
    Ok(json!({
        "ns": run.ns,
        "compilations": compilations,
        "handle_compiled_at": run.handle_compiled_at,
        "value_bits": run.value_bits,
        "timer_ns": run.timer_ns,
        "before_ns": run.before_ns,
    })
    .to_string())
}

fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Times each of the first `settings.calls` evaluations of `case` in a
/// new engine in `mode`.
fn measure(case: &Case, mode: Mode, settings: &Settings) -> Result<Run, Error> {
    let (engine, handle) = bench::engine_for(case, mode, settings.threshold)?;
    let input: &[f64] = case.inputs.first().map_or(&[], Vec::as_slice);
    // Code compiled while the definitions ran is not the calls' doing.
    let mut seen = HashSet::new();
    let mut before_ns = 0;
    for (function, addr, time) in compiled(&engine) {
        before_ns += nanos(time);
        seen.insert((function, addr));
    }
    let mut books = engine.jit_stats();
    let mut ns = Vec::with_capacity(settings.calls);
    let mut compilations = Vec::new();
    let mut handle_compiled_at = None;
    let mut value = 0.0;
    for call in 1..=settings.calls {
        let started = Instant::now();
        let result = engine.eval_handle(&handle, black_box(input));
        let elapsed = started.elapsed();
        value = black_box(result?);
        ns.push(nanos(elapsed));
        // The JIT's books change only when it placed code or patched a
        // call, so the event list (a copy) is read only then.
        let now = engine.jit_stats();
        if now != books {
            books = now;
            for (function, addr, time) in compiled(&engine) {
                if seen.insert((function.clone(), addr)) {
                    compilations.push(Compilation {
                        function,
                        call,
                        ns: nanos(time),
                    });
                }
            }
            if handle_compiled_at.is_none() && engine.handle_stats(&handle).code.is_some() {
                handle_compiled_at = Some(call);
            }
        }
    }
    Ok(Run {
        ns,
        compilations,
        handle_compiled_at,
        value_bits: value.to_bits(),
        timer_ns: timer_cost(),
        before_ns,
    })
}

/// Every compilation the engine remembers: function, address, time.
fn compiled(engine: &Engine) -> impl Iterator<Item = (String, usize, std::time::Duration)> {
    engine.jit_events().into_iter().filter_map(|e| match e {
        JitEvent::Compiled {
            function,
            addr,
            time,
            ..
        } => Some((function, addr, time)),
        _ => None,
    })
}

/// What reading the clock around nothing costs (the median of many tries).
fn timer_cost() -> u64 {
    let mut t: Vec<u64> = (0..1001)
        .map(|_| {
            let started = Instant::now();
            nanos(black_box(started).elapsed())
        })
        .collect();
    t.sort_unstable();
    t[t.len() / 2]
}

/// Whether the times of one mode settled after its last compilation.
#[derive(Debug, Clone, PartialEq)]
pub struct Steady {
    /// The call from which they stay level, if they do.
    pub call: Option<usize>,
    /// The level: the median of the last third of calls.
    pub median_ns: Option<f64>,
    /// Why not, when not.
    pub note: String,
}

/// One mode's runs, and what follows from them.
#[derive(Debug, Clone)]
pub struct ModeReport {
    /// The mode.
    pub mode: Mode,
    runs: Vec<Run>,
    /// Per call, the median over the runs.
    pub median_ns: Vec<f64>,
    /// Compilation time during the calls (median over the runs).
    pub compile_ns: f64,
    /// Compilation before the first call (median over the runs).
    pub compile_before_ns: f64,
    /// The call at which the expression got machine code (the first
    /// compilation, if it never did itself); `None` in the interpreter.
    pub tier_up: Option<usize>,
    /// The last call during which anything was compiled.
    pub last_compile: Option<usize>,
    /// See [`break_even`]; `None` for the interpreter, or never.
    pub break_even: Option<usize>,
    /// See [`steady_state`].
    pub steady: Steady,
}

/// Everything `--warmup` measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was measured.
    pub case: Case,
    /// How.
    pub settings: Settings,
    /// What reading the clock costs (median over every run).
    pub timer_ns: f64,
    /// The value every mode computed.
    pub value: f64,
    /// Interp, jit, tiered, in that order.
    pub modes: Vec<ModeReport>,
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Interp => "interp",
        Mode::Jit => "jit",
        Mode::Tiered => "tiered",
    }
}

/// Runs `settings.runs` fresh processes of this binary (`exe`) per mode,
/// the modes taking turns, and analyses what they measured; `tick` is
/// called after each process. An error in the program is reported from
/// here, once, as `exprjit bench` reports it.
pub fn run(
    exe: &Path,
    settings: &Settings,
    program: Option<&str>,
    tick: &mut dyn FnMut(),
) -> Result<Report, Failure> {
    let case = case(program)?;
    {
        let (engine, handle) = bench::engine_for(&case, Mode::Interp, settings.threshold)?;
        engine.eval_handle(&handle, case.inputs.first().map_or(&[], Vec::as_slice))?;
    }
    let mut runs: Vec<Vec<Run>> = vec![Vec::with_capacity(settings.runs); MODES.len()];
    for _ in 0..settings.runs.max(1) {
        for (i, &mode) in MODES.iter().enumerate() {
            runs[i].push(spawn(exe, mode, settings, program)?);
            tick();
        }
    }
    let bits = runs[0][0].value_bits;
    for (i, r) in runs.iter().enumerate() {
        if let Some(other) = r.iter().find(|r| r.value_bits != bits) {
            let (a, b) = (f64::from_bits(other.value_bits), f64::from_bits(bits));
            // NaN payloads may differ between tiers; the value may not.
            if !(a.is_nan() && b.is_nan()) {
                return Err(internal(format!(
                    "bench --warmup: {} gave {} but interp gave {}",
                    mode_name(MODES[i]),
                    exprjit::format_number(a),
                    exprjit::format_number(b)
                )));
            }
        }
    }
    let mut timers: Vec<f64> = runs.iter().flatten().map(|r| r.timer_ns as f64).collect();
    let mut modes: Vec<ModeReport> = MODES
        .iter()
        .zip(runs)
        .map(|(&mode, runs)| analyse(mode, runs))
        .collect();
    let interp = modes[0].median_ns.clone();
    for m in &mut modes[1..] {
        m.break_even = m.tier_up.and_then(|t| break_even(&m.median_ns, &interp, t));
    }
    Ok(Report {
        case,
        settings: settings.clone(),
        timer_ns: median(&mut timers).unwrap_or(0.0),
        value: f64::from_bits(bits),
        modes,
    })
}

/// One child process: one run of `mode`.
fn spawn(
    exe: &Path,
    mode: Mode,
    settings: &Settings,
    program: Option<&str>,
) -> Result<Run, Failure> {
    let mut command = Command::new(exe);
    command
        .args(["bench", "--warmup", "--warmup-run", mode_name(mode)])
        .args(["--calls", &settings.calls.to_string()])
        .args(["--threshold", &settings.threshold.to_string()]);
    if let Some(text) = program {
        // After `--`, a program that starts with `-` is still a program.
        command.arg("--").arg(text);
    }
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| internal(format!("cannot start a warm-up run: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(if stderr.starts_with("error:") {
            Failure(stderr.into_owned())
        } else {
            internal(format!(
                "a warm-up run in {} mode failed ({}): {}",
                mode_name(mode),
                out.status,
                stderr.trim()
            ))
        });
    }
    parse_run(&out.stdout, settings.calls).ok_or_else(|| {
        internal(format!(
            "a warm-up run in {} mode printed no run",
            mode_name(mode)
        ))
    })
}

/// A run as [`child`] prints it; `None` if it is not one of `calls` calls.
fn parse_run(stdout: &[u8], calls: usize) -> Option<Run> {
    let v: Value = serde_json::from_slice(stdout).ok()?;
    let ns = v["ns"]
        .as_array()?
        .iter()
        .map(Value::as_u64)
        .collect::<Option<Vec<u64>>>()?;
    if ns.len() != calls {
        return None;
    }
    let compilations = v["compilations"]
        .as_array()?
        .iter()
        .map(|c| {
            Some(Compilation {
                function: c["function"].as_str()?.to_string(),
                call: usize::try_from(c["call"].as_u64()?).ok()?,
                ns: c["ns"].as_u64()?,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Run {
        ns,
        compilations,
        handle_compiled_at: v["handle_compiled_at"]
            .as_u64()
            .and_then(|c| usize::try_from(c).ok()),
        value_bits: v["value_bits"].as_u64()?,
        timer_ns: v["timer_ns"].as_u64()?,
        before_ns: v["before_ns"].as_u64()?,
    })
}

/// The median of `xs` (the mean of the middle two for an even count);
/// sorts `xs`.
fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_unstable_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// The median over `runs` of `f(run)`, for the runs where it is defined,
/// rounded to a call number.
fn median_call(runs: &[Run], f: impl Fn(&Run) -> Option<usize>) -> Option<usize> {
    let mut calls: Vec<f64> = runs.iter().filter_map(&f).map(|c| c as f64).collect();
    median(&mut calls).map(|c| c.round() as usize)
}

fn analyse(mode: Mode, runs: Vec<Run>) -> ModeReport {
    let calls = runs.iter().map(|r| r.ns.len()).min().unwrap_or(0);
    let median_ns: Vec<f64> = (0..calls)
        .map(|i| {
            let mut at: Vec<f64> = runs.iter().map(|r| r.ns[i] as f64).collect();
            median(&mut at).unwrap_or(0.0)
        })
        .collect();
    let mut before: Vec<f64> = runs.iter().map(|r| r.before_ns as f64).collect();
    let mut compile: Vec<f64> = runs
        .iter()
        .map(|r| r.compilations.iter().fold(0.0, |t, c| t + c.ns as f64))
        .collect();
    let tier_up = median_call(&runs, |r| {
        r.handle_compiled_at
            .or_else(|| r.compilations.first().map(|c| c.call))
    });
    let last_compile = median_call(&runs, |r| r.compilations.iter().map(|c| c.call).max());
    let steady = steady_state(&median_ns, last_compile.map_or(1, |c| c + 1));
    ModeReport {
        mode,
        median_ns,
        compile_ns: median(&mut compile).unwrap_or(0.0),
        compile_before_ns: median(&mut before).unwrap_or(0.0),
        tier_up: if mode == Mode::Interp { None } else { tier_up },
        last_compile,
        break_even: None,
        steady,
        runs,
    }
}

/// The break-even call: the first call from which `mode`'s time summed
/// from call `from` (its tier-up) on, compilation included, stays below
/// the interpreter's for the same calls, up to the last call measured.
/// The sums start at the tier-up because before it both modes interpret:
/// which of two processes was ahead by then is noise, and would decide.
pub fn break_even(mode: &[f64], interp: &[f64], from: usize) -> Option<usize> {
    let (mut ours, mut theirs) = (0.0, 0.0);
    let mut since = None;
    let skip = from.max(1) - 1;
    for (i, (a, b)) in mode.iter().zip(interp).enumerate().skip(skip) {
        ours += a;
        theirs += b;
        if ours >= theirs {
            since = None;
        } else if since.is_none() {
            since = Some(i + 1);
        }
    }
    since
}

/// The steady-state rule ([`STEADY_RULE`]), on the per-call medians from
/// call `from` (the first after the last compilation) on: the median of
/// the last third of those calls is the level; the middle third's median
/// must be within 10% of it (else the times are still changing), and the
/// steady state starts where the median of every window of `max(3, n/20)`
/// consecutive calls from there on stays within 20% of the level (if that
/// is only in the last third, there is a level shift late in the run: still
/// changing), at the first call of that window which is itself within 20%.
/// Medians of windows let single slow calls (an interrupt, a page fault)
/// pass.
pub fn steady_state(median_ns: &[f64], from: usize) -> Steady {
    let not = |note: &str| Steady {
        call: None,
        median_ns: None,
        note: note.to_string(),
    };
    let Some(tail) = median_ns.get(from.max(1) - 1..).filter(|t| t.len() >= 9) else {
        return not("too few calls after the last compilation");
    };
    let third = tail.len() / 3;
    let Some(level) = median(&mut tail[tail.len() - third..].to_vec()) else {
        return not("too few calls after the last compilation");
    };
    let middle = median(&mut tail[third..2 * third].to_vec()).unwrap_or(level);
    if (middle - level).abs() > THIRDS_TOLERANCE * level {
        return not("still changing");
    }
    let window = (tail.len() / 20).max(3);
    let within =
        |w: &[f64]| median(&mut w.to_vec()).is_some_and(|m| (m - level).abs() <= BAND * level);
    // The first window after the last one that leaves the band.
    let start = tail
        .windows(window)
        .rposition(|w| !within(w))
        .map_or(0, |i| i + 1);
    if start > tail.len() - third {
        return not("still changing");
    }
    // A window's median hides a slow call or two at its start: the steady
    // state starts after them.
    let outside = |x: f64| (x - level).abs() > BAND * level;
    let first = (start..start + window)
        .find(|&i| tail.get(i).is_some_and(|&x| !outside(x)))
        .unwrap_or(start);
    Steady {
        call: Some(from.max(1) + first),
        median_ns: Some(level),
        note: String::new(),
    }
}

impl Steady {
    /// One line for people: `steady state reached at call ~k` or why not.
    pub fn describe(&self) -> String {
        match self.call {
            Some(k) => format!("steady state reached at call ~{k}"),
            None => format!("no steady state ({})", self.note),
        }
    }
}

fn duration(ns: f64) -> String {
    show(std::time::Duration::from_secs_f64(ns.max(0.0) / 1e9))
}

/// The report as JSON (one line). Fields:
///
/// - `expression`: the expression measured; `definitions`: the program
///   text before it (empty for the built-in formula); `vars` and `inputs`:
///   its variables and the values every call passes.
/// - `runs`, `calls`, `threshold`: process executions per mode, calls
///   timed in each, tiered mode's threshold.
/// - `value`: the expression's value (every mode computed the same).
/// - `timer_ns`: what reading the clock costs; every time includes it.
/// - `steady_state_rule`: [`STEADY_RULE`].
/// - `modes`: an object with `interp`, `jit` and `tiered`, each with
///   - `median_ns`: per call (index 0 is call 1), the median over the runs,
///     in nanoseconds;
///   - `runs_ns`: per run, the time of each call;
///   - `compile_ns`: time spent compiling during the calls (median over the
///     runs); `compilations`: the first run's, each `{function, call, ns}`;
///     `compile_before_ns`: compilation before the first call, while the
///     definitions ran or the handle was made (in no call's time);
///   - `tier_up`: the call during which the expression got machine code
///     (null for interp, or if it never did); `last_compile`: the last call
///     during which anything was compiled (null if none);
///   - `break_even`: the first call from which the mode's time summed
///     from its tier-up on, compilation included, stays below the
///     interpreter's for the same calls (null for interp, or never);
///   - `steady_state`: `{reached, call, median_ns, note}` — `call` the call
///     from which the times stay level, `median_ns` that level, `note` why
///     not when not reached.
pub fn json(report: &Report) -> String {
    let modes: serde_json::Map<String, Value> = report
        .modes
        .iter()
        .map(|m| {
            let runs_ns: Vec<&Vec<u64>> = m.runs.iter().map(|r| &r.ns).collect();
            let compilations: Vec<Value> = m
                .runs
                .first()
                .map(|r| {
                    r.compilations
                        .iter()
                        .map(|c| json!({"function": c.function, "call": c.call, "ns": c.ns}))
                        .collect()
                })
                .unwrap_or_default();
            let v = json!({
                "median_ns": m.median_ns,
                "runs_ns": runs_ns,
                "compile_ns": m.compile_ns,
                "compile_before_ns": m.compile_before_ns,
                "compilations": compilations,
                "tier_up": m.tier_up,
                "last_compile": m.last_compile,
                "break_even": m.break_even,
                "steady_state": {
                    "reached": m.steady.call.is_some(),
                    "call": m.steady.call,
                    "median_ns": m.steady.median_ns,
                    "note": m.steady.note,
                },
            });
            (mode_name(m.mode).to_string(), v)
        })
        .collect();
    let input: &[f64] = report.case.inputs.first().map_or(&[], Vec::as_slice);
    json!({
        "expression": report.case.expr,
        "definitions": report.case.definitions,
        "vars": report.case.vars,
        "inputs": input,
        "runs": report.settings.runs,
        "calls": report.settings.calls,
        "threshold": report.settings.threshold,
        "value": exprjit::format_number(report.value),
        "timer_ns": report.timer_ns,
        "steady_state_rule": STEADY_RULE,
        "modes": modes,
    })
    .to_string()
}

/// Chart size in braille dots (two columns and four rows per character):
/// with the table under it, the report fits a 40-line terminal. The
/// height is a multiple of 16, which textplots rounds a chart with sparse
/// y ticks to; the line names are placed with the same height.
const WIDTH: u32 = 140;
const HEIGHT: u32 = 48;

/// Each mode's colour, and the marks'.
const COLORS: [(u8, u8, u8); 3] = [(230, 90, 80), (90, 200, 90), (80, 160, 255)];
const MARK_COLOR: (u8, u8, u8) = (220, 200, 60);

/// log10 of a time in nanoseconds; below 1 ns (a clock that did not
/// tick) counts as 1 ns.
fn log_ns(ns: f64) -> f32 {
    ns.max(1.0).log10() as f32
}

/// One mode's line: per column of dots, the median of its calls, except
/// call 1 and the calls that compiled, which are drawn as they are (a
/// column's median would hide them).
fn series(m: &ModeReport, n: usize) -> Vec<(f32, f32)> {
    let mut special: Vec<usize> = m
        .runs
        .first()
        .map(|r| r.compilations.iter().map(|c| c.call).collect())
        .unwrap_or_default();
    special.push(1);
    special.sort_unstable();
    special.dedup();
    let mut points: Vec<(f32, f32)> = special
        .iter()
        .filter_map(|&c| Some((c as f32, log_ns(*m.median_ns.get(c - 1)?))))
        .collect();
    let columns = WIDTH as usize;
    for col in 0..columns {
        let (lo, hi) = (col * n / columns, (col + 1) * n / columns);
        let mut rest: Vec<f64> = (lo..hi)
            .filter(|i| !special.contains(&(i + 1)))
            .filter_map(|i| m.median_ns.get(i).copied())
            .collect();
        if let Some(v) = median(&mut rest) {
            points.push(((lo + hi + 1) as f32 / 2.0, log_ns(v)));
        }
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// A dotted vertical line at call `x`.
fn vertical(x: usize, lo: f32, hi: f32) -> Vec<(f32, f32)> {
    let step = (hi - lo) / HEIGHT as f32 * 2.0;
    (0..=HEIGHT / 2)
        .map(|i| (x as f32, lo + step * i as f32))
        .collect()
}

/// The visible width of `s`: escape sequences take no room.
fn visible_width(s: &str) -> usize {
    let mut width = 0;
    let mut escape = false;
    for c in s.chars() {
        match (escape, c) {
            (false, '\x1b') => escape = true,
            (true, 'm') => escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

fn paint(text: &str, (r, g, b): (u8, u8, u8), color: bool) -> String {
    if color {
        format!("\x1b[38;2;{r};{g};{b}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The warm-up curves and what they show, for a terminal: time per call
/// (log10 of nanoseconds, since textplots has no log axis) against call
/// number, one line per mode, tiered mode's tier-up and break-even calls
/// as dotted verticals, each line named at its right end; then the
/// tier-up and break-even calls, a table per mode, and the rules. ANSI
/// colours only when `color`.
pub fn chart(report: &Report, color: bool) -> String {
    let n = report.settings.calls;
    let lines: Vec<Vec<(f32, f32)>> = report.modes.iter().map(|m| series(m, n)).collect();
    let ys = lines.iter().flatten().map(|p| p.1);
    let (lo, hi) = ys.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(0.05);
    let (lo, hi) = (lo - pad, hi + pad);
    let tiered = report.modes.iter().find(|m| m.mode == Mode::Tiered);
    let marks: Vec<Vec<(f32, f32)>> = tiered
        .into_iter()
        .flat_map(|t| [t.tier_up, t.break_even])
        .flatten()
        .map(|x| vertical(x, lo, hi))
        .collect();

    let line_shapes: Vec<Shape> = lines.iter().map(|l| Shape::Lines(l)).collect();
    let mark_shapes: Vec<Shape> = marks.iter().map(|l| Shape::Points(l)).collect();
    // At least two calls wide: a range of width zero has no scale.
    let mut chart = Chart::new_with_y_range(WIDTH, HEIGHT, 1.0, n.max(2) as f32, lo, hi);
    let mut c = chart
        .x_label_format(LabelFormat::Custom(Box::new(|x| format!("{x:.0}"))))
        .y_label_format(LabelFormat::Custom(Box::new(|y| {
            format!("{y:.1} ({})", duration(10f64.powf(f64::from(y))))
        })))
        .y_tick_display(TickDisplay::Sparse);
    for (i, shape) in mark_shapes.iter().chain(&line_shapes).enumerate() {
        let rgb = if i < mark_shapes.len() {
            MARK_COLOR
        } else {
            COLORS[(i - mark_shapes.len()) % COLORS.len()]
        };
        c = if color {
            c.linecolorplot(shape, rgb.into())
        } else {
            c.lineplot(shape)
        };
    }
    c.borders();
    c.figures();
    let drawn = c.to_string();

    // Each line's name at the right of the row where it ends.
    let mut rows: Vec<String> = drawn.lines().map(str::to_string).collect();
    let canvas_rows = (HEIGHT / 4 + 1) as usize;
    let width = rows
        .iter()
        .take(canvas_rows)
        .map(|r| visible_width(r))
        .max()
        .unwrap_or(0);
    let mut names: Vec<Vec<String>> = vec![Vec::new(); canvas_rows];
    for (i, (m, l)) in report.modes.iter().zip(&lines).enumerate() {
        if let Some(&(_, y)) = l.last() {
            let dot = HEIGHT as f32 - ((y - lo) / (hi - lo) * HEIGHT as f32).round();
            let row = (dot.max(0.0) as usize / 4).min(canvas_rows - 1);
            names[row].push(paint(mode_name(m.mode), COLORS[i % COLORS.len()], color));
        }
    }
    for (row, names) in rows.iter_mut().zip(&names) {
        if !names.is_empty() {
            let pad = width.saturating_sub(visible_width(row));
            row.push_str(&format!("{} ◂ {}", " ".repeat(pad), names.join(", ")));
        }
    }

    let expr = report.case.expr.trim();
    let mut out = format!(
        "warm-up of {}{} — time per call, log10(ns), against call number \
         (median of {} runs, each a fresh process)\n\n",
        expr.chars().take(60).collect::<String>(),
        if expr.chars().count() > 60 { "…" } else { "" },
        report.settings.runs
    );
    out.push_str(&rows.join("\n"));
    out.push_str("\n\n");
    out.push_str(&marks_line(report));
    out.push('\n');
    out.push_str(&format!(
        "{:<8} {:>10} {:>10} {:>10} {:>10} {:>11}  {}\n",
        "mode", "call 1", "compile", "tier-up", "break-even", "last third", "steady state"
    ));
    for (i, m) in report.modes.iter().enumerate() {
        let call = |c: Option<usize>| c.map_or_else(|| "-".to_string(), |c| c.to_string());
        let tail = m.median_ns.len() - m.median_ns.len() / 3;
        let last_third = median(&mut m.median_ns[tail..].to_vec()).map_or("-".into(), duration);
        let name = format!("{:<8}", mode_name(m.mode));
        out.push_str(&format!(
            "{} {:>10} {:>10} {:>10} {:>10} {:>11}  {}\n",
            paint(&name, COLORS[i % COLORS.len()], color),
            m.median_ns.first().map_or("-".into(), |&ns| duration(ns)),
            if m.compile_ns > 0.0 {
                duration(m.compile_ns)
            } else {
                "-".into()
            },
            call(m.tier_up),
            call(m.break_even),
            last_third,
            m.steady.describe()
        ));
    }
    for m in report.modes.iter().filter(|m| m.compile_before_ns > 0.0) {
        out.push_str(&format!(
            "{}: {} of compilation before the first call, in no call's time\n",
            mode_name(m.mode),
            duration(m.compile_before_ns)
        ));
    }
    let input = report
        .case
        .vars
        .iter()
        .zip(report.case.inputs.first().into_iter().flatten())
        .map(|(v, x)| format!("{v} = {}", exprjit::format_number(*x)))
        .collect::<Vec<_>>();
    out.push_str(&format!(
        "\nvalue {}{}; tiered threshold {}.\n",
        exprjit::format_number(report.value),
        if input.is_empty() {
            String::new()
        } else {
            format!(" at {}", input.join(", "))
        },
        report.settings.threshold,
    ));
    let notes = [
        format!(
            "Every time includes reading the clock (~{}); a call that compiled includes \
             the compilation.",
            duration(report.timer_ns)
        ),
        "Break-even: the first call from which the time summed from the tier-up on stays \
         below the interpreter's for the same calls."
            .to_string(),
        format!("Steady state: {STEADY_RULE}."),
    ];
    for note in notes {
        out.push_str(&wrap(&note, 88));
    }
    out
}

/// `text` in lines of at most `width` characters (words kept whole), the
/// lines after the first indented.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = "  ".to_string();
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `tier-up at call 1000, break-even at call 1040` (tiered mode), or what
/// did not happen.
fn marks_line(report: &Report) -> String {
    let Some(t) = report.modes.iter().find(|m| m.mode == Mode::Tiered) else {
        return String::new();
    };
    let n = report.settings.calls;
    match (t.tier_up, t.break_even) {
        (None, _) => format!("tiered: no tier-up within {n} calls, so no break-even\n"),
        (Some(up), Some(even)) => format!("tier-up at call {up}, break-even at call {even}\n"),
        (Some(up), None) => {
            format!("tier-up at call {up}, break-even: never within {n} calls\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_times_are_steady_after_a_slow_start() {
        let mut m = vec![100.0; 300];
        m[0] = 5000.0;
        m[1] = 900.0;
        m[150] = 4000.0; // one interrupt
        let s = steady_state(&m, 1);
        assert_eq!(s.call, Some(3), "{s:?}");
        assert_eq!(s.median_ns, Some(100.0));
    }

    #[test]
    fn a_late_level_shift_or_a_drift_is_not_steady() {
        let shift: Vec<f64> = (0..300)
            .map(|i| if i < 250 { 100.0 } else { 50.0 })
            .collect();
        assert_eq!(steady_state(&shift, 1).call, None);
        let drift: Vec<f64> = (0..300).map(|i| 1000.0 - 3.0 * f64::from(i)).collect();
        let s = steady_state(&drift, 1);
        assert_eq!((s.call, s.note.as_str()), (None, "still changing"));
        assert_eq!(steady_state(&[1.0; 5], 1).call, None);
    }

    #[test]
    fn steady_state_is_looked_for_after_the_last_compilation() {
        let m: Vec<f64> = (0..200)
            .map(|i| if i < 50 { 300.0 } else { 90.0 })
            .collect();
        assert_eq!(steady_state(&m, 51).call, Some(51));
    }

    #[test]
    fn break_even_counts_from_the_tier_up() {
        // Both interpret for 9 calls (tiered a little faster by chance),
        // then tiered pays 1000 at call 10 and saves 90 a call.
        let interp = vec![100.0; 40];
        let tiered: Vec<f64> = (1..=40)
            .map(|c| match c {
                ..=9 => 50.0,
                10 => 1000.0,
                _ => 10.0,
            })
            .collect();
        // From call 10: 1000 + 10k against 100 (k + 1) for the calls after it.
        assert_eq!(break_even(&tiered, &interp, 10), Some(21));
        assert_eq!(break_even(&tiered[..15], &interp[..15], 10), None);
        assert_eq!(break_even(&[50.0; 3], &[100.0; 3], 1), Some(1));
    }

    #[test]
    fn default_calls_pass_the_threshold() {
        assert_eq!(default_calls(10), 200);
        assert_eq!(default_calls(1000), 4000);
        assert_eq!(default_calls(u32::MAX), MAX_CALLS);
    }
}
