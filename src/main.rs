//! The `exprjit` command line (docs/language.md §6).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

mod cli;

use exprjit::{Engine, Error, Mode, Options, Source};

/// Stack for the thread that runs programs: deep recursion (at least
/// 10,000 nested calls, docs/language.md §4.6) and 10,000-level
/// nesting need more than the 8 MiB main thread. Only the pages actually
/// touched are committed. Unoptimised builds have frames several times
/// larger, so they get more, to reach the same call budget.
const RUN_STACK: usize = if cfg!(debug_assertions) {
    4 << 30
} else {
    512 << 20
};

#[derive(Parser)]
#[command(
    name = "exprjit",
    version,
    about = "A small, fast, honest JIT compiler for arithmetic expressions"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the program given as one argument; print each expression's value.
    Eval {
        #[command(flatten)]
        opts: Common,
        /// Program text (start it with a space, or pass it after `--`, if it begins with `-`).
        program: String,
    },
    /// Run the program, then show the x86-64 machine code of its functions.
    Asm {
        #[command(flatten)]
        opts: Common,
        /// Program text.
        program: String,
    },
    /// Compare the tiers: time per evaluation, speedup, compile cost.
    /// With --warmup: the time of each of the first calls, as a chart.
    Bench {
        /// Runs per mode (the median is reported); with --warmup, each run
        /// is a fresh process.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        runs: u32,
        /// In tiered mode, compile a function at its N-th call.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        threshold: Option<u32>,
        /// Print JSON instead of a table (or chart).
        #[arg(long)]
        json: bool,
        /// Time each of the first calls one by one in every mode and draw
        /// the warm-up curves, tier-up and break-even marked (of the
        /// built-in formula, or of PROGRAM's last expression).
        #[arg(long)]
        warmup: bool,
        /// With --warmup: calls timed per run (default: max(200, 4 × threshold)).
        #[arg(
            long,
            value_name = "N",
            requires = "warmup",
            value_parser = clap::value_parser!(u32).range(1..=cli::warmup::MAX_CALLS as i64)
        )]
        calls: Option<u32>,
        /// Internal: one warm-up run of one mode, printed as JSON (what
        /// --warmup runs in a fresh process of its own).
        #[arg(long, value_enum, hide = true, requires = "warmup")]
        warmup_run: Option<ModeArg>,
        /// A program whose last statement is the expression to measure
        /// (default: the built-in suite).
        program: Option<String>,
    },
    /// A guided walk through the self-modifying-code experiment exprjit grew from.
    Demo {
        /// Wait for Enter between steps.
        #[arg(long)]
        step: bool,
    },
    /// Start the interactive session (line editing, history, `:help`).
    Repl {
        #[command(flatten)]
        opts: Common,
    },
    /// Compute columns over every row of a CSV file (or standard input):
    /// `exprjit map -e 'r = sqrt(x*x + y*y)' --where 'r < 10' data.csv`.
    #[command(group(clap::ArgGroup::new("steps").required(true).multiple(true).args(["expr", "filter"])))]
    Map {
        #[command(flatten)]
        opts: Common,
        /// Add column NAME (or replace it in place) with the value of EXPR
        /// in each row. Steps (-e, --where) run in the order given.
        #[arg(short = 'e', long = "expr", value_name = "NAME = EXPR")]
        expr: Vec<String>,
        /// Drop the rows where EXPR is not truthy (a step, like -e).
        #[arg(long = "where", value_name = "EXPR")]
        filter: Vec<String>,
        /// Define functions (or constants) first: `--def 'f(x) = x^2'`.
        #[arg(long = "def", value_name = "DEFINITION")]
        def: Vec<String>,
        /// Run the definitions in FILE first.
        #[arg(long = "defs", value_name = "FILE")]
        defs: Option<std::path::PathBuf>,
        /// Tab-separated input and output.
        #[arg(long, conflicts_with = "delimiter")]
        tsv: bool,
        /// The field delimiter (one ASCII character; default `,`).
        #[arg(long, value_name = "C", value_parser = delimiter_arg)]
        delimiter: Option<u8>,
        /// Read an empty field in a column an expression names as NaN
        /// (otherwise it is an error).
        #[arg(long, value_name = "nan", value_parser = ["nan"])]
        empty: Option<String>,
        /// The CSV file (default: standard input). Its first row names the columns.
        file: Option<std::path::PathBuf>,
    },
    /// Run a program file (`-` for standard input).
    Run {
        #[command(flatten)]
        opts: Common,
        /// Path of the program, or `-` for standard input.
        file: String,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// Which tier runs code.
    #[arg(long, value_enum, default_value_t = ModeArg::Tiered)]
    mode: ModeArg,
    /// In tiered mode, compile a function at its N-th call.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threshold: Option<u32>,
    /// Print a `[jit]` line on stderr for every compilation, patch and invalidation.
    #[arg(long)]
    trace_jit: bool,
}

#[derive(ValueEnum, Clone, Copy)]
enum ModeArg {
    Interp,
    Jit,
    Tiered,
}

impl Common {
    fn options(&self) -> Options {
        let defaults = Options::default();
        Options {
            mode: match self.mode {
                ModeArg::Interp => Mode::Interp,
                ModeArg::Jit => Mode::Jit,
                ModeArg::Tiered => Mode::Tiered,
            },
            threshold: self.threshold.unwrap_or(defaults.threshold),
            trace: self.trace_jit,
            ..defaults
        }
    }
}

impl Default for Common {
    fn default() -> Self {
        Common {
            mode: ModeArg::Tiered,
            threshold: None,
            trace_jit: false,
        }
    }
}

/// `--delimiter C`: one ASCII character, not a quote or a line end.
fn delimiter_arg(s: &str) -> Result<u8, String> {
    match s.as_bytes() {
        [c] if c.is_ascii() && !matches!(c, b'"' | b'\n' | b'\r') => Ok(*c),
        _ => Err("expected one ASCII character other than a quote or a line end".into()),
    }
}

/// The steps of `map`, -e and --where merged in the order they were given.
fn map_steps(matches: &clap::ArgMatches) -> Vec<cli::map::Step> {
    let Some(m) = matches.subcommand_matches("map") else {
        return Vec::new();
    };
    let mut steps: Vec<(usize, cli::map::Step)> = Vec::new();
    for (id, make) in [
        (
            "expr",
            cli::map::Step::Assign as fn(String) -> cli::map::Step,
        ),
        ("filter", cli::map::Step::Where),
    ] {
        if let (Some(values), Some(at)) = (m.get_many::<String>(id), m.indices_of(id)) {
            steps.extend(at.zip(values).map(|(i, v)| (i, make(v.clone()))));
        }
    }
    steps.sort_by_key(|(i, _)| *i);
    steps.into_iter().map(|(_, s)| s).collect()
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let steps = map_steps(&matches);
    // Programs run on a thread with a large stack; see RUN_STACK.
    let worker = std::thread::Builder::new()
        .name("exprjit".into())
        .stack_size(RUN_STACK)
        .spawn(move || dispatch(cli, steps));
    match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!("error: internal error: the program thread failed");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli, map_steps: Vec<cli::map::Step>) -> ExitCode {
    // Before anything could run a built-in: an old processor gets a
    // sentence, not an illegal instruction.
    if let Err(e) = exprjit::check_cpu() {
        return report(&e);
    }
    match cli.command {
        Some(Command::Eval { opts, program }) => run_program(&opts, Source::new("<eval>", program)),
        Some(Command::Asm { opts, program }) => {
            let mut engine = Engine::with_options(opts.options());
            let code = run_with(&mut engine, Source::new("<asm>", program));
            if code != ExitCode::SUCCESS {
                return code;
            }
            match engine.asm_listing(None) {
                Ok(text) => emit(&text),
                Err(e) => report(&e),
            }
        }
        Some(Command::Bench {
            runs,
            threshold,
            json,
            warmup: true,
            calls,
            warmup_run,
            program,
        }) => {
            let threshold = threshold.unwrap_or(Options::default().threshold);
            let settings = cli::warmup::Settings {
                runs: runs as usize,
                calls: calls.map_or_else(|| cli::warmup::default_calls(threshold), |c| c as usize),
                threshold,
            };
            match warmup_run {
                Some(mode) => warmup_run_once(mode, &settings, program.as_deref()),
                None => warmup(&settings, json, program.as_deref()),
            }
        }
        Some(Command::Bench {
            runs,
            threshold,
            json,
            program,
            ..
        }) => bench(runs, threshold, json, program.as_deref()),
        Some(Command::Demo { step }) => demo(step),
        Some(Command::Repl { opts }) => cli::repl::run(opts.options()),
        Some(Command::Map {
            opts,
            def,
            defs,
            tsv,
            delimiter,
            empty,
            file,
            ..
        }) => {
            let args = cli::map::Args {
                file,
                steps: map_steps,
                defs: def,
                defs_file: defs,
                delimiter: if tsv {
                    b'\t'
                } else {
                    delimiter.unwrap_or(b',')
                },
                empty_nan: empty.is_some(),
                options: opts.options(),
            };
            match cli::map::run(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(cli::map::Failure(message)) => {
                    eprint!("{message}");
                    ExitCode::from(1)
                }
            }
        }
        Some(Command::Run { opts, file }) => match read_program(&file) {
            Ok(source) => run_program(&opts, source),
            Err(e) => report(&e),
        },
        None => {
            if io::stdin().is_terminal() {
                cli::repl::run(Common::default().options())
            } else {
                match read_program("-") {
                    Ok(source) => run_program(&Common::default(), source),
                    Err(e) => report(&e),
                }
            }
        }
    }
}

/// Reads a program file, or stdin for `-` (see [`cli::read_source`]).
fn read_program(path: &str) -> Result<std::sync::Arc<Source>, Error> {
    if path == "-" {
        cli::read_source(io::stdin().lock(), "<stdin>", "standard input", None)
    } else {
        let file = cli::open(std::path::Path::new(path))?;
        cli::read_source(file, path, &format!("'{path}'"), None)
    }
}

fn run_program(opts: &Common, source: std::sync::Arc<Source>) -> ExitCode {
    run_with(&mut Engine::with_options(opts.options()), source)
}

/// Runs `source`, printing each value as it is computed.
fn run_with(engine: &mut Engine, source: std::sync::Arc<Source>) -> ExitCode {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut write_failed = false;
    // With --trace-jit, flush each value so it lands between the `[jit]`
    // lines (on unbuffered stderr) in the order things happened.
    let flush_each = engine.options().trace;
    let mut printed = false;
    let result = engine.run(source, &mut |x| {
        printed = true;
        write_failed |= writeln!(out, "{}", exprjit::format_number(x)).is_err();
        if flush_each {
            write_failed |= out.flush().is_err();
        }
    });
    write_failed |= out.flush().is_err() || (printed && stdout_closed());
    drop(out);
    match result {
        Ok(()) if write_failed => {
            eprintln!("error: cannot write to standard output");
            ExitCode::from(1)
        }
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

fn bench(runs: u32, threshold: Option<u32>, json: bool, program: Option<&str>) -> ExitCode {
    use cli::bench;
    let cases = match program {
        Some(text) => match bench::from_program(text) {
            Ok(case) => vec![case],
            Err(e) => return report(&e),
        },
        None => bench::suite(),
    };
    let settings = bench::Settings {
        runs: runs as usize,
        threshold: threshold.unwrap_or(bench::Settings::default().threshold),
        ..bench::Settings::default()
    };
    let total = cases.len() * bench::MODES.len() * settings.runs;
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut results = Vec::new();
    for case in &cases {
        bar.set_message(case.name.clone());
        match bench::run_case(case, &settings, &mut || bar.inc(1)) {
            Ok(r) => results.push(r),
            Err(e) => {
                bar.finish_and_clear();
                return report(&e);
            }
        }
    }
    bar.finish_and_clear();
    if json {
        emit(&format!("{}\n", bench::json(&results)))
    } else {
        emit(&format!(
            "{}\nper evaluation, median of {} runs (each as many evaluations as the \
             interpreter does in ~100 ms); tiered threshold {}\n",
            bench::table(&results),
            settings.runs,
            settings.threshold
        ))
    }
}

/// `exprjit bench --warmup`: fresh processes of this binary per run and
/// mode (see `cli::warmup`), then the chart or the JSON.
fn warmup(settings: &cli::warmup::Settings, json: bool, program: Option<&str>) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("error: cannot find the exprjit binary to re-run: {e}");
            return ExitCode::from(1);
        }
    };
    let bar = indicatif::ProgressBar::new((settings.runs * cli::bench::MODES.len()) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs (fresh processes)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = cli::warmup::run(&exe, settings, program, &mut || bar.inc(1));
    bar.finish_and_clear();
    match report {
        Ok(r) if json => emit(&format!("{}\n", cli::warmup::json(&r))),
        Ok(r) => emit(&cli::warmup::chart(&r, io::stdout().is_terminal())),
        Err(cli::warmup::Failure(message)) => {
            eprint!("{message}");
            ExitCode::from(1)
        }
    }
}

/// The hidden `bench --warmup --warmup-run MODE`: one run, as JSON.
fn warmup_run_once(
    mode: ModeArg,
    settings: &cli::warmup::Settings,
    program: Option<&str>,
) -> ExitCode {
    let mode = match mode {
        ModeArg::Interp => Mode::Interp,
        ModeArg::Jit => Mode::Jit,
        ModeArg::Tiered => Mode::Tiered,
    };
    match cli::warmup::child(mode, settings, program) {
        Ok(line) => emit(&format!("{line}\n")),
        Err(e) => report(&e),
    }
}

/// Writes `text` to stdout. A closed pipe (`exprjit bench | head`) is not
/// an error worth a panic: the reader has what it wanted.
fn emit(text: &str) -> ExitCode {
    if !text.is_empty() && stdout_closed() {
        eprintln!("error: cannot write to standard output");
        return ExitCode::from(1);
    }
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn demo(step: bool) -> ExitCode {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut pause = || -> io::Result<()> {
        if step {
            eprint!("  [press Enter to continue]");
            let mut line = String::new();
            io::stdin().read_line(&mut line)?;
        }
        Ok(())
    };
    match cli::demo::run(&mut out, &mut pause) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: demo failed: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn demo(_step: bool) -> ExitCode {
    eprintln!("error: the demo runs x86-64 machine code; this processor is not x86-64");
    ExitCode::from(1)
}

/// Was standard output closed when exprjit started (`exprjit eval 1 >&-`)?
/// Rust's runtime then opens `/dev/null` read+write in its place, and
/// what is written there is lost without an error; a value nobody can
/// see must be an error, as on a full disk. (A shell's `> /dev/null`
/// opens it write-only: that is output thrown away on purpose.)
fn stdout_closed() -> bool {
    let points_to_null = std::fs::read_link("/proc/self/fd/1").is_ok_and(|p| p == *"/dev/null");
    let read_write = std::fs::read_to_string("/proc/self/fdinfo/1").is_ok_and(|info| {
        info.lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .is_some_and(|flags| flags & 0o3 == 0o2)
    });
    points_to_null && read_write
}

fn report(e: &Error) -> ExitCode {
    eprint!("{}", e.render());
    ExitCode::from(1)
}
