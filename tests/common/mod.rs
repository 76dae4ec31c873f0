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

/// One way to run a program: a mode, and for tiered mode a threshold.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub name: &'static str,
    pub mode: Mode,
    /// `--threshold` (only passed in tiered mode).
    pub threshold: Option<u32>,
}

const INTERP: Config = Config {
    name: "interp",
    mode: Mode::Interp,
    threshold: None,
};
const JIT: Config = Config {
    name: "jit",
    mode: Mode::Jit,
    threshold: None,
};
const fn tiered(name: &'static str, threshold: u32) -> Config {
    Config {
        name,
        mode: Mode::Tiered,
        threshold: Some(threshold),
    }
}

/// Every tier must give the same results (SPEC §1): interp, jit, and tiered
/// with thresholds low enough that functions are promoted mid-program.
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

/// The configuration called `name`.
pub fn config(name: &str) -> Config {
    *CONFIGS
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no configuration {name}"))
}

impl Config {
    pub fn options(&self) -> Options {
        let defaults = Options::default();
        Options {
            mode: self.mode,
            threshold: self.threshold.unwrap_or(defaults.threshold),
            trace: false,
            ..defaults
        }
    }

    pub fn engine(&self) -> Engine {
        Engine::with_options(self.options())
    }

    /// The command-line options that select this configuration.
    pub fn args(&self) -> Vec<String> {
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
    /// Each printed value, formatted as SPEC §5 says.
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
