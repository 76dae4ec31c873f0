//! Helpers shared by the integration tests: the engine configurations every
//! test loops over, and running programs through the library and the binary.
//!
//! Each test file includes this module and uses only part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use exprjit::{Engine, Error, Mode, Options, Source};

/// One way to run a program: a mode, for tiered mode a threshold, and for
/// the code generator's tests a number of value registers.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub name: &'static str,
    pub mode: Mode,
    /// `--threshold` (only passed in tiered mode); `None` is the default.
    pub threshold: Option<u32>,
    /// `Options::registers`; `None` is the default (all the processor has).
    /// No command-line option selects it, so only the library can run a
    /// configuration that sets it (only [`MORE_CONFIGS`] do).
    pub registers: Option<u8>,
}

const INTERP: Config = Config {
    name: "interp",
    mode: Mode::Interp,
    threshold: None,
    registers: None,
};
const JIT: Config = Config {
    name: "jit",
    mode: Mode::Jit,
    threshold: None,
    registers: None,
};
const fn tiered(name: &'static str, threshold: u32) -> Config {
    Config {
        name,
        mode: Mode::Tiered,
        threshold: Some(threshold),
        registers: None,
    }
}
/// `config` with only `registers` value registers, called `name`.
const fn with_registers(config: Config, name: &'static str, registers: u8) -> Config {
    Config {
        name,
        registers: Some(registers),
        ..config
    }
}

/// The configuration matrix, defined here once for every test file.
///
/// Every tier must give the same results (docs/language.md §1): interp,
/// jit, and tiered with thresholds low enough that functions are promoted
/// mid-program. Every configuration here can be selected on the command
/// line as well as through the library.
#[cfg(target_arch = "x86_64")]
pub const CONFIGS: &[Config] = &[
    INTERP,
    JIT,
    tiered("tiered-1", 1),
    tiered("tiered-2", 2),
    tiered("tiered-3", 3),
];

/// Off x86-64 there is no JIT: `--mode jit` is refused (see `errors.rs`)
/// and tiered mode interprets.
#[cfg(not(target_arch = "x86_64"))]
pub const CONFIGS: &[Config] = &[
    INTERP,
    tiered("tiered-1", 1),
    tiered("tiered-2", 2),
    tiered("tiered-3", 3),
];

/// The matrix's extension, for the library tests of machine code and of
/// tiering (`jit.rs`, `differential.rs`, `tiering.rs`): configurations the
/// corpus-wide tests leave out, each there for what it exercises.
///
/// - Fewer value registers than the processor has (2, 3, 5), so that every
///   spill path of the code generator runs, in jit mode and with tiered
///   promotion. Only the library can select these.
/// - Tiered at threshold 50 (promotion late in a program) and at the
///   default threshold (promotion of hot code only).
///
/// A test takes all of it ([`all_configs`]) or names the entries it adds
/// to [`CONFIGS`] ([`configs_with`]). Off x86-64 there is no machine code
/// and so nothing to add.
#[cfg(target_arch = "x86_64")]
pub const MORE_CONFIGS: &[Config] = &[
    with_registers(JIT, "jit-registers-2", 2),
    with_registers(JIT, "jit-registers-3", 3),
    with_registers(JIT, "jit-registers-5", 5),
    with_registers(tiered("tiered-1", 1), "tiered-1-registers-2", 2),
    with_registers(tiered("tiered-2", 2), "tiered-2-registers-2", 2),
    with_registers(tiered("tiered-3", 3), "tiered-3-registers-2", 2),
    tiered("tiered-50", 50),
    Config {
        name: "tiered-default",
        mode: Mode::Tiered,
        threshold: None,
        registers: None,
    },
];

#[cfg(not(target_arch = "x86_64"))]
pub const MORE_CONFIGS: &[Config] = &[];

/// The whole matrix: [`CONFIGS`], then [`MORE_CONFIGS`].
pub fn all_configs() -> impl Iterator<Item = &'static Config> {
    CONFIGS.iter().chain(MORE_CONFIGS)
}

/// [`CONFIGS`], then the entries of [`MORE_CONFIGS`] called `more`, in
/// that order.
pub fn configs_with(more: &[&str]) -> Vec<Config> {
    let mut configs = CONFIGS.to_vec();
    for name in more {
        let extra = MORE_CONFIGS
            .iter()
            .find(|c| c.name == *name)
            .unwrap_or_else(|| panic!("no configuration {name} in MORE_CONFIGS"));
        configs.push(*extra);
    }
    configs
}

/// The configuration called `name`, anywhere in the matrix.
pub fn config(name: &str) -> Config {
    *all_configs()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no configuration {name}"))
}

impl Config {
    /// The library options that select this configuration.
    pub fn options(&self) -> Options {
        let defaults = Options::default();
        Options {
            mode: self.mode,
            threshold: self.threshold.unwrap_or(defaults.threshold),
            registers: self.registers.unwrap_or(defaults.registers),
            trace: false,
            ..defaults
        }
    }

    pub fn engine(&self) -> Engine {
        Engine::with_options(self.options())
    }

    /// The command-line options that select this configuration.
    pub fn args(&self) -> Vec<String> {
        assert!(
            self.registers.is_none(),
            "{}: the command line cannot limit the registers",
            self.name
        );
        let mode = match self.mode {
            Mode::Interp => "interp",
            Mode::Jit => "jit",
            Mode::Tiered => "tiered",
        };
        let mut args = vec!["--mode".to_string(), mode.to_string()];
        if let Some(t) = self.threshold {
            args.push("--threshold".to_string());
            args.push(t.to_string());
        }
        args
    }
}

/// What a program did when run through the library.
#[derive(Debug)]
pub struct LibRun {
    /// Each printed value, formatted as docs/language.md §5 says.
    pub lines: Vec<String>,
    pub error: Option<Error>,
}

/// Runs `text` in a fresh engine configured by `config`.
pub fn run_lib(config: &Config, text: &str) -> LibRun {
    let mut engine = config.engine();
    run_in(&mut engine, text)
}

/// Runs `text` in `engine`, collecting printed lines and the error.
pub fn run_in(engine: &mut Engine, text: &str) -> LibRun {
    let mut lines = Vec::new();
    let result = engine.run(Source::new("<test>", text), &mut |x| {
        lines.push(exprjit::format_number(x))
    });
    LibRun {
        lines,
        error: result.err(),
    }
}

/// Runs `f` on a thread with a stack as large as the binary's (512 MiB), so
/// that deep recursion behaves in library tests as it does in the binary.
/// Only the pages actually touched are committed.
pub fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name("big-stack".into())
        .stack_size(512 << 20)
        .spawn(f)
        .expect("spawn a test thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// The `exprjit` binary built for these tests, run through
/// `CARGO_TARGET_<TRIPLE>_RUNNER` when one is set (qemu, for a
/// cross-compiled suite).
pub fn exprjit() -> assert_cmd::Command {
    assert_cmd::Command::from_std(exprjit_std())
}

/// [`exprjit`] as a `std::process::Command` (for the pseudo-terminal tests).
pub fn exprjit_std() -> std::process::Command {
    use assert_cmd::cargo::CommandCargoExt;
    std::process::Command::cargo_bin("exprjit").expect("the exprjit binary is built for tests")
}

/// What the binary did.
#[derive(Debug)]
pub struct BinRun {
    pub status: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

impl BinRun {
    pub fn from_output(out: std::process::Output) -> BinRun {
        #[cfg(unix)]
        let signal = std::os::unix::process::ExitStatusExt::signal(&out.status);
        #[cfg(not(unix))]
        let signal = None;
        BinRun {
            status: out.status.code(),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
            signal,
        }
    }
}

/// Runs the binary with `args` and, if given, `stdin`.
pub fn run_bin(args: &[&str], stdin: Option<&[u8]>) -> BinRun {
    let mut cmd = exprjit();
    cmd.args(args);
    if let Some(input) = stdin {
        cmd.write_stdin(input.to_vec());
    }
    BinRun::from_output(cmd.output().expect("run exprjit"))
}

/// `exprjit eval [config] -- PROGRAM`.
pub fn eval_bin(config: &Config, program: &str) -> BinRun {
    let mut args = vec!["eval".to_string()];
    args.extend(config.args());
    args.push("--".to_string());
    args.push(program.to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_bin(&args, None)
}

/// `exprjit run [config] FILE` with `program` written to a fresh file.
pub fn run_file_bin(config: &Config, program: &[u8]) -> BinRun {
    let file = TempFile::with_contents(program);
    let mut args = vec!["run".to_string()];
    args.extend(config.args());
    args.push(file.path_str().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_bin(&args, None)
}

/// `exprjit run [config] -` with `program` on stdin.
pub fn run_stdin_bin(config: &Config, program: &[u8]) -> BinRun {
    let mut args = vec!["run".to_string()];
    args.extend(config.args());
    args.push("-".to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_bin(&args, Some(program))
}

/// A file in cargo's per-test scratch directory, removed when dropped.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    pub fn with_contents(contents: &[u8]) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let name = format!(
            "exprjit-test-{}-{}.txt",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).expect("create a scratch file");
        f.write_all(contents).expect("write a scratch file");
        TempFile { path }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("scratch path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The source a program ran from, for checking rendered errors.
pub fn source(text: &str) -> Arc<Source> {
    Source::new("<test>", text)
}

/// One case of a corpus file: a program and the lines it expects. The
/// format, shared by every corpus in tests/corpus/ that uses `===`
/// headers, is described at the top of tests/corpus/conformance.txt; what
/// the expected lines mean is up to the test that reads the corpus.
#[derive(Debug, Clone)]
pub struct CorpusCase {
    pub name: String,
    /// Line of the `===` header in the corpus file (1-based), for messages.
    pub line: usize,
    pub program: String,
    /// The lines after `---`, without trailing whitespace, skipping blank
    /// lines and `#` comments.
    pub expected: Vec<String>,
}

/// Replaces the escapes a `{escapes}` case may use: `\t`, `\r`, `\n`,
/// `\\`, and `\*N:C` (N copies of the character C).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some('*') => {
                let count: String = chars.by_ref().take_while(|&c| c != ':').collect();
                let count: usize = count
                    .parse()
                    .unwrap_or_else(|_| panic!("bad count {count:?} in a \\*N:C escape"));
                let c = chars.next().expect("a character after \\*N:");
                out.extend(std::iter::repeat_n(c, count));
            }
            other => panic!("unknown escape \\{other:?} in corpus"),
        }
    }
    out
}

/// The cases of a corpus file, in order. Panics, naming the line, if the
/// file is not well formed (a case without `---`, a repeated name).
pub fn read_corpus(text: &str) -> Vec<CorpusCase> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cases: Vec<CorpusCase> = Vec::new();
    let mut i = lines
        .iter()
        .position(|l| l.starts_with("=== "))
        .expect("the corpus has cases");
    while i < lines.len() {
        let header = lines[i];
        let line = i + 1;
        let mut name = header
            .strip_prefix("=== ")
            .unwrap_or_else(|| {
                panic!("line {line}: expected a `=== NAME` header, found {header:?}")
            })
            .trim()
            .to_string();
        let escapes = name.ends_with("{escapes}");
        if escapes {
            name = name.trim_end_matches("{escapes}").trim_end().to_string();
        }
        if let Some(other) = cases.iter().find(|c| c.name == name) {
            panic!(
                "line {line}: case name {name:?} is taken (line {})",
                other.line
            );
        }
        i += 1;
        let start = i;
        while i < lines.len() && lines[i] != "---" {
            assert!(
                !lines[i].starts_with("=== "),
                "case {name:?} (line {line}) has no `---` line"
            );
            i += 1;
        }
        assert!(
            i < lines.len(),
            "case {name:?} (line {line}) has no `---` line"
        );
        let mut program_lines = &lines[start..i];
        while let Some((last, rest)) = program_lines.split_last() {
            if !last.trim().is_empty() {
                break;
            }
            program_lines = rest;
        }
        let mut program = program_lines.join("\n");
        if escapes {
            program = unescape(&program);
        }
        i += 1;
        let mut expected = Vec::new();
        while i < lines.len() && !lines[i].starts_with("=== ") {
            let l = lines[i].trim_end();
            i += 1;
            if !l.is_empty() && !l.starts_with('#') {
                expected.push(l.to_string());
            }
        }
        cases.push(CorpusCase {
            name,
            line,
            program,
            expected,
        });
    }
    cases
}

/// Fails with every collected failure, `failures` of `total` checks.
#[track_caller]
pub fn report(failures: Vec<String>, total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} checks failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The largest `n` in `[lo, hi)` for which `works(n)`, given that
/// `works(lo)` and not `works(hi)` (bisection).
pub fn last_that_works(mut lo: u64, mut hi: u64, mut works: impl FnMut(u64) -> bool) -> u64 {
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if works(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}
