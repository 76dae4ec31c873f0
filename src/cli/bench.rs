//! `exprjit bench`: the same expression in every mode, timed, with what the
//! JIT paid to get there. Each case is evaluated through an expression
//! handle (so tiered mode promotes it like a function), several runs per
//! mode, and the median run is reported. Every mode must produce the same
//! bits, or the benchmark fails: a fast wrong answer is not a result.

use std::time::{Duration, Instant};

use exprjit::internals::{self, ast::Stmt};
use exprjit::{Engine, Error, ErrorKind, ExprHandle, JitEvent, Mode, Options, Source};

/// One benchmark: definitions, then an expression over `vars` evaluated
/// with each row of `inputs` in turn.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub definitions: String,
    pub expr: String,
    pub vars: Vec<String>,
    pub inputs: Vec<Vec<f64>>,
}

/// The built-in suite.
pub fn suite() -> Vec<Case> {
    let case = |name: &str, defs: &str, expr: &str, vars: &[&str], inputs: Vec<Vec<f64>>| Case {
        name: name.into(),
        definitions: defs.into(),
        expr: expr.into(),
        vars: vars.iter().map(|v| v.to_string()).collect(),
        inputs,
    };
    // A deep expression: 64 terms of a polynomial-and-trig mix in x.
    let deep = (1..=64)
        .map(|i| format!("sin(x * {i}) * {i}.5 / (x + {i})"))
        .collect::<Vec<_>>()
        .join(" + ");
    vec![
        case(
            "fib(20)",
            "fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2)",
            "fib(20)",
            &[],
            vec![vec![]],
        ),
        case(
            "ackermann(2, 200)",
            "ack(m, n) = m == 0 ? n + 1 : n == 0 ? ack(m - 1, 1) : ack(m - 1, ack(m, n - 1))",
            "ack(2, 200)",
            &[],
            vec![vec![]],
        ),
        case(
            "formula (handle)",
            "",
            FORMULA,
            &["x", "y"],
            (0..16)
                .map(|i| vec![0.25 + f64::from(i) * 0.5, 3.0 - f64::from(i) * 0.25])
                .collect(),
        ),
        case(
            "deep expression",
            "",
            &deep,
            &["x"],
            (0..16).map(|i| vec![0.5 + f64::from(i)]).collect(),
        ),
    ]
}

/// The formula over two variables shared by `exprjit bench` and the peer
/// benchmarks (34 lowered nodes: four built-in calls, a power, arithmetic).
pub const FORMULA: &str = internals::BENCH_FORMULA;

/// A case made from a program: its last statement is the expression.
pub fn from_program(text: &str) -> Result<Case, Error> {
    let source = Source::new("<bench>", text);
    let stmts = internals::parse_program(text).map_err(|e| e.in_source(&source))?;
    let Some(Stmt::Expr(e)) = stmts.last() else {
        return Err(ErrorKind::Input(
            "bench: the program's last statement must be an expression to measure".into(),
        )
        .into());
    };
    let range = e.span.range();
    Ok(Case {
        name: text[range.clone()].chars().take(40).collect(),
        definitions: text[..range.start].to_string(),
        expr: text[range].to_string(),
        vars: Vec::new(),
        inputs: vec![vec![]],
    })
}

/// How one mode did on one case.
#[derive(Debug, Clone)]
pub struct ModeResult {
    pub mode: Mode,
    /// Median time of one evaluation.
    pub per_eval: Duration,
    /// Evaluations per run.
    pub evals: u64,
    /// Compile time of everything compiled (functions and the handle).
    pub compile_time: Duration,
    pub code_bytes: usize,
    /// The first compilation: which function, after how many calls.
    pub tier_up: Option<(String, u64)>,
    /// Bits of the last value computed (checked equal across modes).
    pub value: f64,
}

/// All modes on one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub modes: Vec<ModeResult>,
}

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub runs: usize,
    /// Target wall time of one run.
    pub run_time: Duration,
    pub threshold: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            runs: 5,
            run_time: Duration::from_millis(100),
            threshold: Options::default().threshold,
        }
    }
}

pub const MODES: [Mode; 3] = [Mode::Interp, Mode::Jit, Mode::Tiered];

/// Runs `case` in every mode; `tick` is called after each run.
pub fn run_case(
    case: &Case,
    settings: &Settings,
    tick: &mut dyn FnMut(),
) -> Result<CaseResult, Error> {
    let mut modes = Vec::new();
    // Calibrate once, in the interpreter (the slowest mode), so every mode
    // runs the same number of evaluations — including tiered mode's
    // climb from the interpreter.
    let evals = calibrate(case, settings)?;
    let engines = MODES
        .iter()
        .map(|&mode| engine_for(case, mode, settings.threshold))
        .collect::<Result<Vec<_>, _>>()?;
    // The modes take turns, run by run, so that a burst of load on a
    // shared machine costs each mode at most one of its runs (back to
    // back, one burst could cover every run of a fast mode).
    let mut times = vec![Vec::with_capacity(settings.runs); MODES.len()];
    let mut values = vec![0.0; MODES.len()];
    for _ in 0..settings.runs.max(1) {
        for (i, (engine, handle)) in engines.iter().enumerate() {
            let (time, value) = one_run(case, engine, handle, evals)?;
            times[i].push(time);
            values[i] = value;
            tick();
        }
    }
    for (i, (engine, handle)) in engines.iter().enumerate() {
        modes.push(result(
            MODES[i],
            engine,
            handle,
            &mut times[i],
            evals,
            values[i],
        ));
    }
    let bits = modes[0].value.to_bits();
    for m in &modes[1..] {
        let same = m.value.to_bits() == bits || (m.value.is_nan() && modes[0].value.is_nan());
        if !same {
            return Err(ErrorKind::Internal(format!(
                "bench '{}': {:?} gave {} but interp gave {}",
                case.name, m.mode, m.value, modes[0].value
            ))
            .into());
        }
    }
    Ok(CaseResult {
        name: case.name.clone(),
        modes,
    })
}

/// A new engine in `mode` that has run `case`'s definitions, and the
/// handle of its expression (`exprjit bench --warmup` measures the same).
pub fn engine_for(case: &Case, mode: Mode, threshold: u32) -> Result<(Engine, ExprHandle), Error> {
    let mut engine = Engine::with_options(Options {
        mode,
        threshold,
        ..Options::default()
    });
    engine.run(
        Source::new("<bench>", case.definitions.clone()),
        &mut |_| {},
    )?;
    let vars: Vec<&str> = case.vars.iter().map(String::as_str).collect();
    let handle = engine.compile_expr(&case.expr, &vars)?;
    Ok((engine, handle))
}

fn calibrate(case: &Case, settings: &Settings) -> Result<u64, Error> {
    let (engine, handle) = engine_for(case, Mode::Interp, settings.threshold)?;
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < settings.run_time / 4 || n == 0 {
        for input in &case.inputs {
            engine.eval_handle(&handle, input)?;
            n += 1;
        }
    }
    Ok((n * 4).max(1))
}

/// One run of `evals` evaluations: the time per evaluation, and the last
/// value.
fn one_run(
    case: &Case,
    engine: &Engine,
    handle: &ExprHandle,
    evals: u64,
) -> Result<(Duration, f64), Error> {
    let started = Instant::now();
    let mut done = 0;
    let value = 'run: loop {
        for input in &case.inputs {
            let value = std::hint::black_box(engine.eval_handle(handle, input)?);
            done += 1;
            if done == evals {
                break 'run value;
            }
        }
    };
    let per_eval = started.elapsed() / u32::try_from(evals).unwrap_or(u32::MAX);
    Ok((per_eval, value))
}

/// What `mode` measured: the median run, and what its engine compiled.
fn result(
    mode: Mode,
    engine: &Engine,
    handle: &ExprHandle,
    times: &mut [Duration],
    evals: u64,
    value: f64,
) -> ModeResult {
    times.sort();
    let mut compile_time = Duration::ZERO;
    let mut code_bytes = 0;
    let stats = engine
        .function_stats()
        .into_iter()
        .chain(std::iter::once(engine.handle_stats(handle)));
    for s in stats {
        if let Some(c) = s.code {
            compile_time += c.compile_time;
            code_bytes += c.bytes;
        }
    }
    let tier_up = engine.jit_events().into_iter().find_map(|e| match e {
        JitEvent::Compiled {
            function, calls, ..
        } => Some((function, calls)),
        _ => None,
    });
    ModeResult {
        mode,
        per_eval: times.get(times.len() / 2).copied().unwrap_or_default(),
        evals,
        compile_time,
        code_bytes,
        tier_up,
        value,
    }
}

/// Human-readable duration with 3 significant digits.
pub fn show(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1e3 {
        format!("{ns:.1} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// The table `exprjit bench` prints.
pub fn table(results: &[CaseResult]) -> String {
    let mut out = format!(
        "{:<22} {:>11} {:>11} {:>11} {:>9} {:>10} {:>9}  {}\n",
        "benchmark", "interp", "jit", "tiered", "speedup", "compile", "code", "tier-up (tiered)"
    );
    for r in results {
        let [interp, jit, tiered] = [&r.modes[0], &r.modes[1], &r.modes[2]];
        let speedup = interp.per_eval.as_secs_f64() / jit.per_eval.as_secs_f64().max(1e-12);
        let tier_up = tiered.tier_up.as_ref().map_or_else(
            || "never (too short)".to_string(),
            |(f, n)| format!("{f} at call {n}"),
        );
        out.push_str(&format!(
            "{:<22} {:>11} {:>11} {:>11} {:>8.1}× {:>10} {:>7} B  {}\n",
            r.name,
            show(interp.per_eval),
            show(jit.per_eval),
            show(tiered.per_eval),
            speedup,
            show(jit.compile_time),
            jit.code_bytes,
            tier_up
        ));
    }
    out
}

/// The same results for machines.
pub fn json(results: &[CaseResult]) -> String {
    let cases: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let modes: serde_json::Map<String, serde_json::Value> = r
                .modes
                .iter()
                .map(|m| {
                    let name = format!("{:?}", m.mode).to_lowercase();
                    let v = serde_json::json!({
                        "ns_per_eval": m.per_eval.as_secs_f64() * 1e9,
                        "evals_per_run": m.evals,
                        "compile_ns": m.compile_time.as_secs_f64() * 1e9,
                        "code_bytes": m.code_bytes,
                        "tier_up": m.tier_up.as_ref().map(|(f, n)| serde_json::json!({"function": f, "calls": n})),
                        "value": exprjit::format_number(m.value),
                    });
                    (name, v)
                })
                .collect();
            serde_json::json!({ "name": r.name, "modes": modes })
        })
        .collect();
    serde_json::to_string_pretty(&cases).unwrap_or_default()
}
