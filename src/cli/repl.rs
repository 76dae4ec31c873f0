//! The interactive session: `exprjit repl`, and `exprjit` with no
//! subcommand on a terminal (docs/language.md §6).
//!
//! Line editing, history and completion come from `rustyline`. A statement
//! continues over several lines while parentheses are open (prompt `... `).
//! Each input is its own [`Source`] (`<repl:N>`), so an error points into
//! the line that was typed, and a function keeps the text it was defined
//! in. Lines beginning with `:` are commands ([`Command`]).
//!
//! The pure pieces (command parsing, paren depth, completion) are plain
//! functions with unit tests; [`Session`] does the work and writes to any
//! pair of writers, so it is tested without a terminal too. `tests/repl.rs`
//! drives the real binary through a pseudo-terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter, MatchingBracketHighlighter};
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Context, Editor, Helper};

use exprjit::internals;
use exprjit::{Engine, Error, ErrorKind, JitEvent, Mode, Options, Outcome, Source};

/// The prompt, and the prompt of a statement's further lines.
pub const PROMPT: &str = ">>> ";
pub const CONTINUATION: &str = "... ";

/// Environment variable naming the history file (empty: keep no history).
pub const HISTORY_ENV: &str = "EXPRJIT_HISTORY";

/// Entries kept in the history file.
const HISTORY_SIZE: usize = 1000;

/// Every command: name, arguments, what it does (`:help` prints this).
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "", "show this help"),
    ("vars", "", "list variables and their values"),
    (
        "funcs",
        "",
        "list functions: interpreted calls, tier, machine code size",
    ),
    (
        "asm",
        "[NAME]",
        "show the machine code of function NAME (or of every function)",
    ),
    (
        "ast",
        "EXPR",
        "show EXPR as parsed (fully parenthesised) and as lowered",
    ),
    (
        "mode",
        "[interp|jit|tiered]",
        "show or set the execution mode",
    ),
    (
        "threshold",
        "[N]",
        "show or set the call count at which tiered mode compiles",
    ),
    (
        "trace",
        "[on|off]",
        "show or set `[jit]` lines for compilations, patches, invalidations",
    ),
    (
        "stats",
        "",
        "code memory, patches, compiled functions, JIT events",
    ),
    ("load", "FILE", "run a program file, printing its values"),
    ("reset", "", "forget every variable and function"),
    ("quit", "", "leave (so does Ctrl-D)"),
];

/// A parsed `:command`.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Vars,
    Funcs,
    /// One function, or all of them.
    Asm(Option<String>),
    Ast(String),
    /// `None`: show the current setting.
    Mode(Option<Mode>),
    Threshold(Option<u32>),
    Trace(Option<bool>),
    Stats,
    Load(String),
    Reset,
    Quit,
}

/// Parses a line that begins with `:` (leading blanks allowed). The error
/// is the message to show.
pub fn parse_command(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let body = line.strip_prefix(':').unwrap_or(line);
    let (word, arg) = match body.find(char::is_whitespace) {
        Some(i) => (&body[..i], body[i..].trim()),
        None => (body, ""),
    };
    let name = resolve_command(word)?;
    let no_arg = |c: Command| {
        if arg.is_empty() {
            Ok(c)
        } else {
            Err(format!(":{name} takes no argument"))
        }
    };
    match name {
        "help" => no_arg(Command::Help),
        "vars" => no_arg(Command::Vars),
        "funcs" => no_arg(Command::Funcs),
        "stats" => no_arg(Command::Stats),
        "reset" => no_arg(Command::Reset),
        "quit" => no_arg(Command::Quit),
        "asm" => match arg {
            "" => Ok(Command::Asm(None)),
            a if exprjit::internals::is_identifier(a) => Ok(Command::Asm(Some(a.to_string()))),
            a => Err(format!(
                "not a function name: '{}' (usage: :asm [NAME])",
                internals::shorten(a)
            )),
        },
        "ast" => match arg {
            "" => Err("usage: :ast EXPR".to_string()),
            a => Ok(Command::Ast(a.to_string())),
        },
        "mode" => match arg {
            "" => Ok(Command::Mode(None)),
            "interp" => Ok(Command::Mode(Some(Mode::Interp))),
            "jit" => Ok(Command::Mode(Some(Mode::Jit))),
            "tiered" => Ok(Command::Mode(Some(Mode::Tiered))),
            a => Err(format!(
                "unknown mode '{}' (expected interp, jit or tiered)",
                internals::shorten(a)
            )),
        },
        "threshold" => match arg {
            "" => Ok(Command::Threshold(None)),
            a => match a.parse::<u32>() {
                Ok(n) if n >= 1 => Ok(Command::Threshold(Some(n))),
                _ => Err(format!(
                    "the threshold must be a whole number from 1 to {}, got '{}'",
                    u32::MAX,
                    internals::shorten(a)
                )),
            },
        },
        "trace" => match arg {
            "" => Ok(Command::Trace(None)),
            "on" => Ok(Command::Trace(Some(true))),
            "off" => Ok(Command::Trace(Some(false))),
            a => Err(format!(
                "expected 'on' or 'off', got '{}'",
                internals::shorten(a)
            )),
        },
        "load" => match arg {
            "" => Err("usage: :load FILE".to_string()),
            a => Ok(Command::Load(unquote(a).to_string())),
        },
        _ => unreachable!("resolve_command returns only names from COMMANDS"),
    }
}

/// The full name of a command given by name, alias or unambiguous prefix.
fn resolve_command(word: &str) -> Result<&'static str, String> {
    let shown = internals::shorten(word);
    if word.is_empty() {
        return Err("missing command name after ':' (try :help)".to_string());
    }
    match word {
        "q" | "exit" => return Ok("quit"),
        "h" | "?" => return Ok("help"),
        _ => {}
    }
    if let Some((name, _, _)) = COMMANDS.iter().find(|(n, _, _)| *n == word) {
        return Ok(name);
    }
    let matches: Vec<&'static str> = COMMANDS
        .iter()
        .map(|(n, _, _)| *n)
        .filter(|n| n.starts_with(word))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("unknown command ':{shown}' (try :help)")),
        many => Err(format!(
            "ambiguous command ':{shown}' (could be :{})",
            many.join(", :")
        )),
    }
}

/// A path as typed, without one pair of surrounding quotes.
fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Parentheses opened and not yet closed in `text` (`#` comments ignored;
/// negative when there are more `)` than `(`). While it is positive the
/// statement goes on on the next line (docs/language.md §2: inside parentheses a
/// newline is whitespace).
pub fn open_parens(text: &str) -> i64 {
    let mut depth = 0i64;
    for line in text.lines() {
        for c in line.chars() {
            match c {
                '#' => break,
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
        }
    }
    depth
}

/// What completing at the cursor needs.
#[derive(Debug, PartialEq)]
pub enum Completion {
    /// Replace from this byte offset with one of these words.
    Words(usize, Vec<String>),
    /// The cursor is in a file name (`:load`).
    Path,
}

/// Completion candidates for `line` with the cursor at byte `pos`: command
/// names after a leading `:`, command arguments, and otherwise the names of
/// built-ins and of the user's variables and functions (`user`: name and
/// whether it is a function).
pub fn complete(line: &str, pos: usize, user: &[(String, bool)]) -> Completion {
    let pos = floor_char(line, pos.min(line.len()));
    let before = &line[..pos];
    let trimmed = before.trim_start();
    if let Some(rest) = trimmed.strip_prefix(':') {
        let colon = before.len() - trimmed.len();
        match rest.find(char::is_whitespace) {
            None => {
                let words = COMMANDS
                    .iter()
                    .filter(|(n, _, _)| n.starts_with(rest))
                    .map(|(n, _, _)| format!(":{n}"))
                    .collect();
                return Completion::Words(colon, words);
            }
            Some(i) => {
                let word = &rest[..i];
                let start = word_start(before);
                let prefix = &before[start..];
                let pick = |options: &[&str]| {
                    let words = options
                        .iter()
                        .filter(|o| o.starts_with(prefix))
                        .map(|o| o.to_string())
                        .collect();
                    Completion::Words(start, words)
                };
                match resolve_command(word) {
                    Ok("mode") => return pick(&["interp", "jit", "tiered"]),
                    Ok("trace") => return pick(&["on", "off"]),
                    Ok("load") => return Completion::Path,
                    Ok("asm") => {
                        let mut words: Vec<String> = user
                            .iter()
                            .filter(|(n, is_fn)| *is_fn && n.starts_with(prefix))
                            .map(|(n, _)| n.clone())
                            .collect();
                        words.sort();
                        return Completion::Words(start, words);
                    }
                    Ok("ast") => {}
                    _ => return Completion::Words(pos, Vec::new()),
                }
            }
        }
    }
    let start = word_start(before);
    let prefix = &before[start..];
    if prefix.is_empty() || prefix.starts_with(|c: char| c.is_ascii_digit()) {
        return Completion::Words(pos, Vec::new());
    }
    let mut words: Vec<String> = internals::builtins()
        .into_iter()
        .map(|(n, _)| n)
        .chain(user.iter().map(|(n, _)| n.as_str()))
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect();
    words.sort();
    words.dedup();
    Completion::Words(start, words)
}

/// Start of the identifier that ends at the end of `before`.
fn word_start(before: &str) -> usize {
    before
        .char_indices()
        .rev()
        .take_while(|&(_, c)| is_ident_char(c))
        .last()
        .map_or(before.len(), |(i, _)| i)
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Whether to colour: stdout is a terminal and `NO_COLOR` is unset (or
/// empty, as no-color.org says).
pub fn use_color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const GREEN: &str = "\x1b[1;32m";
const RESET: &str = "\x1b[0m";

/// What to do after an input.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// A session's state: the engine, and where output goes. `out` gets values
/// and command output, `err` gets errors.
pub struct Session<O: Write, E: Write> {
    pub engine: Engine,
    out: O,
    err: E,
    color: bool,
    /// Inputs run so far; names the next `<repl:N>` source.
    inputs: usize,
    /// Set by Ctrl-C while an input runs (beside stopping the engine):
    /// `:load` reads its file in chunks and stops when it is set.
    pub interrupted: Arc<AtomicBool>,
}

impl<O: Write, E: Write> Session<O, E> {
    pub fn new(options: Options, out: O, err: E, color: bool) -> Session<O, E> {
        Session {
            engine: Engine::with_options(options),
            out,
            err,
            color,
            inputs: 0,
            interrupted: Arc::default(),
        }
    }

    /// The writers back (tests read what was printed).
    #[cfg(test)]
    pub fn into_writers(self) -> (O, E) {
        (self.out, self.err)
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    // Output to a terminal that went away is not worth an error of its own.
    fn say(&mut self, text: &str) {
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }

    fn note(&mut self, text: &str) {
        let line = format!("{}\n", self.paint(DIM, text));
        self.say(&line);
    }

    fn error(&mut self, e: &Error) {
        let _ = self.out.flush();
        let text = e.render_styled(self.color);
        let _ = self.err.write_all(text.as_bytes());
        let _ = self.err.flush();
    }

    fn complain(&mut self, message: String) {
        self.error(&ErrorKind::Input(message).into());
    }

    /// Runs one complete input: a `:command` or statements.
    pub fn execute(&mut self, input: &str) -> Flow {
        if input.trim_start().starts_with(':') {
            match parse_command(input) {
                Ok(cmd) => return self.command(cmd),
                Err(message) => self.complain(message),
            }
            return Flow::Continue;
        }
        if input.trim().is_empty() {
            return Flow::Continue;
        }
        self.inputs += 1;
        let source = Source::new(format!("<repl:{}>", self.inputs), input);
        self.run(source, true);
        Flow::Continue
    }

    /// Runs a program, printing values (and, when `confirm`, what each
    /// definition and assignment did). Returns whether it ran to the end.
    fn run(&mut self, source: Arc<Source>, confirm: bool) -> bool {
        let color = self.color;
        let mut lines = String::new();
        let out = &mut self.out;
        let result = self.engine.run_each(source, &mut |outcome| {
            lines.clear();
            match outcome {
                Outcome::Value(x) => {
                    lines.push_str(&exprjit::format_number(x));
                }
                Outcome::Defined { name, params } if confirm => {
                    let text = format!("{name}({}) defined", params.join(", "));
                    lines.push_str(&paint(color, DIM, &text));
                }
                Outcome::Assigned { name, value } if confirm => {
                    let text = format!("{name} = {}", exprjit::format_number(value));
                    lines.push_str(&paint(color, DIM, &text));
                }
                _ => return,
            }
            lines.push('\n');
            let _ = out.write_all(lines.as_bytes());
            let _ = out.flush();
        });
        match result {
            Ok(()) => true,
            Err(e) => {
                self.error(&e);
                false
            }
        }
    }

    pub fn command(&mut self, cmd: Command) -> Flow {
        match cmd {
            Command::Quit => return Flow::Quit,
            Command::Help => {
                let text = self.help();
                self.say(&text);
            }
            Command::Vars => {
                let mut text = String::new();
                for (name, x) in self.engine.variables() {
                    let _ = writeln!(text, "{name} = {}", exprjit::format_number(x));
                }
                if text.is_empty() {
                    self.note("no variables defined");
                } else {
                    self.say(&text);
                }
            }
            Command::Funcs => {
                let text = self.funcs_table();
                if text.is_empty() {
                    self.note("no functions defined");
                } else {
                    self.say(&text);
                }
            }
            Command::Asm(name) => match self.engine.asm_listing(name.as_deref()) {
                Ok(text) if text.is_empty() => self.note("no functions defined"),
                Ok(text) => self.say(&text),
                Err(e) => self.error(&e),
            },
            Command::Ast(text) => match self.engine.explain(&text) {
                Ok((parsed, lowered)) => {
                    let text = format!(
                        "{} {parsed}\n{} {lowered}\n",
                        self.paint(BOLD, "parsed: "),
                        self.paint(BOLD, "lowered:")
                    );
                    self.say(&text);
                }
                Err(e) => self.error(&e),
            },
            Command::Mode(None) => {
                let text = format!("mode {}\n", mode_name(self.engine.options().mode));
                self.say(&text);
            }
            Command::Mode(Some(mode)) => {
                let options = Options {
                    mode,
                    ..self.engine.options().clone()
                };
                if self.set_options(options) {
                    self.note(&format!("mode set to {}", mode_name(mode)));
                }
            }
            Command::Threshold(None) => {
                let text = format!("threshold {}\n", self.engine.options().threshold);
                self.say(&text);
            }
            Command::Threshold(Some(n)) => {
                let options = Options {
                    threshold: n,
                    ..self.engine.options().clone()
                };
                if self.set_options(options) {
                    let mut text = format!(
                        "threshold set to {n}: tiered mode compiles a function at its {} call",
                        ordinal(n)
                    );
                    if self.engine.options().mode != Mode::Tiered {
                        text.push_str(" (now in ");
                        text.push_str(mode_name(self.engine.options().mode));
                        text.push_str(" mode)");
                    }
                    self.note(&text);
                }
            }
            Command::Trace(None) => {
                let on = self.engine.options().trace;
                self.say(&format!("trace {}\n", if on { "on" } else { "off" }));
            }
            Command::Trace(Some(on)) => {
                let options = Options {
                    trace: on,
                    ..self.engine.options().clone()
                };
                if self.set_options(options) {
                    self.note(if on { "trace on" } else { "trace off" });
                }
            }
            Command::Stats => {
                let text = self.stats();
                self.say(&text);
            }
            Command::Load(path) => self.load(&path),
            Command::Reset => {
                self.engine.reset();
                self.note("all variables and functions forgotten");
            }
        }
        Flow::Continue
    }

    /// Applies new options; on failure keeps the old ones and says why.
    fn set_options(&mut self, options: Options) -> bool {
        let old = self.engine.options().clone();
        match self.engine.set_options(options) {
            Ok(()) => true,
            Err(e) => {
                let _ = self.engine.set_options(old);
                self.error(&e);
                false
            }
        }
    }

    fn help(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "Type a statement and press Enter: an expression prints its value, \
             `x = 1` assigns,\n`f(x, y) = x*y` defines a function. \
             Open parentheses continue a statement on the next line.\n\
             Ctrl-C cancels the line, Ctrl-D leaves, Tab completes names and commands.\n"
        );
        let _ = writeln!(text, "{}", self.paint(BOLD, "Commands:"));
        let usage = |n: &str, a: &str| {
            if a.is_empty() {
                format!(":{n}")
            } else {
                format!(":{n} {a}")
            }
        };
        let width = COMMANDS
            .iter()
            .map(|(n, a, _)| usage(n, a).len())
            .max()
            .unwrap_or(0);
        for (n, a, what) in COMMANDS {
            let _ = writeln!(text, "  {:width$}  {what}", usage(n, a));
        }
        let _ = writeln!(
            text,
            "Commands may be shortened (:q, :th 3).\n\n{}",
            self.paint(BOLD, "Built-ins:")
        );
        let mut line = String::from(" ");
        for (name, arity) in internals::builtins() {
            let word = match arity {
                None => name.to_string(),
                Some(1) => format!("{name}(x)"),
                Some(_) if name == "atan2" => "atan2(y, x)".to_string(),
                Some(_) => format!("{name}(x, y)"),
            };
            if line.len() + word.len() + 1 > 78 {
                let _ = writeln!(text, "{line}");
                line = String::from(" ");
            }
            line.push(' ');
            line.push_str(&word);
        }
        let _ = writeln!(text, "{line}");
        text
    }

    fn funcs_table(&self) -> String {
        let stats = self.engine.function_stats();
        if stats.is_empty() {
            return String::new();
        }
        let sigs: Vec<String> = stats
            .iter()
            .map(|s| format!("{}({})", s.name, s.params.join(", ")))
            .collect();
        let width = sigs
            .iter()
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
            .max(8);
        let mut text = String::new();
        let header = format!(
            "{:width$}  {:11}  {:>17}  {}",
            "function", "tier", "interpreted calls", "code"
        );
        let _ = writeln!(text, "{}", self.paint(BOLD, &header));
        for (s, sig) in stats.iter().zip(&sigs) {
            let (tier, code) = match &s.code {
                Some(c) => (
                    "compiled",
                    format!(
                        "{} bytes at {:#x}, compiled in {:.1} µs",
                        c.bytes,
                        c.addr,
                        c.compile_time.as_secs_f64() * 1e6
                    ),
                ),
                None => ("interpreted", "-".to_string()),
            };
            let pad = width - sig.chars().count();
            let _ = writeln!(
                text,
                "{sig}{:pad$}  {tier:11}  {:>17}  {code}",
                "", s.interpreted_calls
            );
        }
        text
    }

    fn stats(&self) -> String {
        let options = self.engine.options();
        let mut text = format!(
            "mode {}, threshold {}, trace {}\n",
            mode_name(options.mode),
            options.threshold,
            if options.trace { "on" } else { "off" }
        );
        let compiled = self
            .engine
            .function_stats()
            .iter()
            .filter(|s| s.code.is_some())
            .count();
        let functions = self.engine.function_stats().len();
        let _ = writeln!(text, "compiled functions: {compiled} of {functions}");
        match self.engine.jit_stats() {
            Some(jit) => {
                let _ = writeln!(
                    text,
                    "code memory: {} bytes live, {} bytes high-water",
                    jit.live_bytes, jit.used_bytes
                );
                let _ = writeln!(text, "call-site patches: {}", jit.patches);
                let events = self.engine.jit_events();
                let count = |f: fn(&JitEvent) -> bool| events.iter().filter(|e| f(e)).count();
                let _ = writeln!(
                    text,
                    "recent JIT events: {} ({} compiled, {} patched, {} invalidated, {} declined)",
                    events.len(),
                    count(|e| matches!(e, JitEvent::Compiled { .. })),
                    count(|e| matches!(e, JitEvent::Patched { .. })),
                    count(|e| matches!(e, JitEvent::Invalidated { .. })),
                    count(|e| matches!(e, JitEvent::Declined { .. })),
                );
            }
            None => {
                let _ = writeln!(text, "code memory: none (nothing has needed the JIT yet)");
            }
        }
        text
    }

    fn load(&mut self, path: &str) {
        let path = expand_home(path);
        let shown = path.display().to_string();
        let what = format!("'{shown}'");
        let source = super::open(&path)
            .and_then(|file| super::read_source(file, &shown, &what, Some(&self.interrupted)));
        let source = match source {
            Ok(source) => source,
            Err(e) => return self.error(&e),
        };
        if self.run(source, false) {
            self.note(&format!("loaded {shown}"));
        }
    }

    /// User names and whether each is a function, for completion.
    pub fn names(&self) -> Vec<(String, bool)> {
        let vars = self.engine.variables().into_iter().map(|(n, _)| (n, false));
        let funcs = self
            .engine
            .function_stats()
            .into_iter()
            .map(|f| (f.name, true));
        vars.chain(funcs).collect()
    }
}

fn paint(color: bool, style: &str, text: &str) -> String {
    if color {
        format!("{style}{text}{RESET}")
    } else {
        text.to_string()
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Interp => "interp",
        Mode::Jit => "jit",
        Mode::Tiered => "tiered",
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `~/x` is `x` in the home directory.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), dirs::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// Where history is kept: `$EXPRJIT_HISTORY` if set (empty: nowhere),
/// else `exprjit/history` in the user's data directory.
pub fn history_path() -> Option<PathBuf> {
    match std::env::var_os(HISTORY_ENV) {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => dirs::data_dir().map(|d| d.join("exprjit").join("history")),
    }
}

/// The line editor's helper: completion and (in colour) matching brackets.
struct ReplHelper {
    names: Vec<(String, bool)>,
    files: FilenameCompleter,
    brackets: Option<MatchingBracketHighlighter>,
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        match complete(line, pos, &self.names) {
            Completion::Path => self.files.complete(line, pos, ctx),
            Completion::Words(start, words) => Ok((
                start,
                words
                    .into_iter()
                    .map(|w| Pair {
                        display: w.clone(),
                        replacement: w,
                    })
                    .collect(),
            )),
        }
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        match &self.brackets {
            Some(b) => b.highlight(line, pos),
            None => Cow::Borrowed(line),
        }
    }

    fn highlight_char(&self, line: &str, pos: usize, kind: CmdKind) -> bool {
        self.brackets
            .as_ref()
            .is_some_and(|b| b.highlight_char(line, pos, kind))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

/// Runs the interactive session until `:quit` or Ctrl-D.
pub fn run(options: Options) -> ExitCode {
    let color = use_color();
    let mut session = Session::new(options, io::stdout(), io::stderr(), color);
    let config = Config::builder()
        .max_history_size(HISTORY_SIZE)
        .and_then(|b| b.history_ignore_dups(true))
        .map(|b| {
            b.history_ignore_space(true)
                .completion_type(CompletionType::List)
                .auto_add_history(false)
                .build()
        })
        .unwrap_or_default();
    let mut editor: Editor<ReplHelper, DefaultHistory> = match Editor::with_config(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot start the line editor: {e}");
            return ExitCode::from(1);
        }
    };
    editor.set_helper(Some(ReplHelper {
        names: Vec::new(),
        files: FilenameCompleter::new(),
        brackets: color.then(MatchingBracketHighlighter::new),
    }));
    // Input piped in is not something typed: it stays out of the history.
    let mut history = history_path().filter(|p| io::stdin().is_terminal() && prepare_history(p));
    if let Some(path) = &history {
        match usable_history(path) {
            // A missing or unreadable file just means no earlier history.
            Ok(()) => {
                let _ = editor.load_history(path);
            }
            Err(why) => {
                eprintln!(
                    "note: history file {}: {why}; going on without history",
                    path.display()
                );
                history = None;
            }
        }
    }

    // While a line is being edited the terminal is raw and rustyline reads
    // Ctrl-C as a key (it cancels the line). While an input is evaluated
    // the terminal is cooked, Ctrl-C is a SIGINT, and this handler stops
    // the evaluation; the session goes on.
    let interrupter = session.engine.interrupter();
    let interrupted = session.interrupted.clone();
    let handler = move || {
        interrupted.store(true, Ordering::Relaxed);
        interrupter.stop();
    };
    if let Err(e) = ctrlc::set_handler(handler) {
        eprintln!("note: Ctrl-C will end the session, not stop an evaluation: {e}");
    }

    if io::stdin().is_terminal() {
        let o = session.engine.options();
        let banner = format!(
            "exprjit {} ({} mode, threshold {}): :help for help, Ctrl-D to leave",
            env!("CARGO_PKG_VERSION"),
            mode_name(o.mode),
            o.threshold
        );
        session.note(&banner);
    }

    let prompt = |p: &'static str| (p, paint(color, GREEN, p));
    let (first, more) = (prompt(PROMPT), prompt(CONTINUATION));
    let mut pending = String::new();
    loop {
        let p = if pending.is_empty() { &first } else { &more };
        match editor.readline(p) {
            Ok(line) => {
                if !pending.is_empty() {
                    pending.push('\n');
                }
                pending.push_str(&line);
                if !pending.trim_start().starts_with(':') && open_parens(&pending) > 0 {
                    continue;
                }
                let input = std::mem::take(&mut pending);
                if !input.trim().is_empty() {
                    let _ = editor.add_history_entry(input.as_str());
                    if let Some(path) = &history {
                        if let Err(e) = editor.append_history(path) {
                            eprintln!(
                                "note: cannot write history to {}: {e}; going on without it",
                                path.display()
                            );
                            history = None;
                        }
                    }
                }
                session.interrupted.store(false, Ordering::Relaxed);
                if session.execute(&input) == Flow::Quit {
                    break;
                }
                if let Some(h) = editor.helper_mut() {
                    h.names = session.names();
                }
            }
            // Ctrl-C: forget the line and any statement it continued.
            Err(ReadlineError::Interrupted) => pending.clear(),
            Err(ReadlineError::Eof) => {
                if !pending.trim().is_empty() {
                    session.note("the unfinished statement was discarded");
                }
                break;
            }
            // A line that is not UTF-8 is an error for that line; the
            // session goes on (the rest of the line is read as the next).
            Err(ReadlineError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
                pending.clear();
                session.complain("the line is not valid UTF-8; it was discarded".into());
            }
            Err(e) => {
                eprintln!("error: cannot read input: {e}");
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

/// The largest history file loaded: 1,000 entries of ordinary lines are
/// far below it; anything larger is not a history file.
const HISTORY_MAX_BYTES: u64 = 16 << 20;

/// Whether `path` may be loaded as history: a regular file (or none yet)
/// of at most [`HISTORY_MAX_BYTES`]. `/dev/zero` is neither.
fn usable_history(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if !m.is_file() => Err("not a regular file".into()),
        Ok(m) if m.len() > HISTORY_MAX_BYTES => Err(format!(
            "{} MiB is more than a history file ({} MiB at most)",
            m.len() >> 20,
            HISTORY_MAX_BYTES >> 20
        )),
        Ok(_) => Ok(()),
    }
}

/// Makes the history file's directory; false if that cannot be done.
fn prepare_history(path: &Path) -> bool {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir).is_ok(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(c: Completion) -> Vec<String> {
        match c {
            Completion::Words(_, w) => w,
            Completion::Path => panic!("expected words"),
        }
    }

    #[test]
    fn parses_commands_and_arguments() {
        assert_eq!(parse_command(":help"), Ok(Command::Help));
        assert_eq!(parse_command("  :vars  "), Ok(Command::Vars));
        assert_eq!(parse_command(":asm f"), Ok(Command::Asm(Some("f".into()))));
        assert_eq!(parse_command(":asm"), Ok(Command::Asm(None)));
        assert_eq!(
            parse_command(":ast 1 + 2*x"),
            Ok(Command::Ast("1 + 2*x".into()))
        );
        assert_eq!(
            parse_command(":mode jit"),
            Ok(Command::Mode(Some(Mode::Jit)))
        );
        assert_eq!(parse_command(":mode"), Ok(Command::Mode(None)));
        assert_eq!(
            parse_command(":threshold 3"),
            Ok(Command::Threshold(Some(3)))
        );
        assert_eq!(parse_command(":trace off"), Ok(Command::Trace(Some(false))));
        assert_eq!(
            parse_command(":load 'my file.txt'"),
            Ok(Command::Load("my file.txt".into()))
        );
        assert_eq!(parse_command(":q"), Ok(Command::Quit));
        assert_eq!(parse_command(":th 7"), Ok(Command::Threshold(Some(7))));
        assert_eq!(parse_command(":res"), Ok(Command::Reset));
    }

    #[test]
    fn bad_commands_get_clear_messages() {
        assert_eq!(
            parse_command(":foo"),
            Err("unknown command ':foo' (try :help)".into())
        );
        let e = parse_command(":threshold x").unwrap_err();
        assert!(e.contains("whole number") && e.contains("'x'"), "{e}");
        assert!(parse_command(":threshold 0").is_err());
        assert!(parse_command(":threshold -3").is_err());
        assert_eq!(
            parse_command(":mode fast"),
            Err("unknown mode 'fast' (expected interp, jit or tiered)".into())
        );
        assert_eq!(
            parse_command(":trace maybe"),
            Err("expected 'on' or 'off', got 'maybe'".into())
        );
        assert_eq!(
            parse_command(":vars x"),
            Err(":vars takes no argument".into())
        );
        assert_eq!(parse_command(":ast"), Err("usage: :ast EXPR".into()));
        assert_eq!(parse_command(":load"), Err("usage: :load FILE".into()));
        assert!(parse_command(":asm 1+2")
            .unwrap_err()
            .contains("not a function name"));
        let e = parse_command(":t on").unwrap_err();
        assert!(
            e.contains("ambiguous") && e.contains(":threshold, :trace"),
            "{e}"
        );
        assert!(parse_command(":").unwrap_err().contains("missing command"));
    }

    #[test]
    fn open_parens_counts_outside_comments() {
        assert_eq!(open_parens("f(x) = (x +"), 1);
        assert_eq!(open_parens("f(x) = (x +\n 1)"), 0);
        assert_eq!(open_parens("1 # (((("), 0);
        assert_eq!(open_parens("g(a,\n# ) not this\nb"), 1);
        assert_eq!(open_parens("1)"), -1);
    }

    #[test]
    fn completes_commands() {
        assert_eq!(
            complete(":t", 2, &[]),
            Completion::Words(0, vec![":threshold".into(), ":trace".into()])
        );
        assert_eq!(words(complete(":he", 3, &[])), vec![":help"]);
        assert_eq!(
            complete("  :q", 4, &[]),
            Completion::Words(2, vec![":quit".into()])
        );
        assert_eq!(words(complete(":", 1, &[])).len(), COMMANDS.len());
    }

    #[test]
    fn completes_command_arguments() {
        let user = vec![("fib".to_string(), true), ("five".to_string(), false)];
        assert_eq!(
            complete(":mode t", 7, &user),
            Completion::Words(6, vec!["tiered".into()])
        );
        assert_eq!(words(complete(":trace o", 8, &user)), vec!["on", "off"]);
        assert_eq!(words(complete(":asm f", 6, &user)), vec!["fib"]);
        assert_eq!(complete(":load ./x", 9, &user), Completion::Path);
        assert_eq!(words(complete(":ast sq", 7, &user)), vec!["sqrt"]);
        assert!(words(complete(":vars x", 7, &user)).is_empty());
    }

    #[test]
    fn completes_builtin_and_user_names() {
        let user = vec![("fib".to_string(), true), ("five".to_string(), false)];
        assert_eq!(
            complete("1 + f", 5, &user),
            Completion::Words(4, vec!["fib".into(), "five".into(), "floor".into()])
        );
        assert_eq!(words(complete("sq", 2, &[])), vec!["sqrt".to_string()]);
        // In the middle of a line, only the part before the cursor counts.
        assert_eq!(
            complete("at + 1", 2, &[]),
            Completion::Words(0, vec!["atan".into(), "atan2".into(), "atanh".into()])
        );
        assert!(words(complete("1 + ", 4, &user)).is_empty());
        assert!(words(complete("1e", 2, &user)).is_empty());
    }

    fn session() -> Session<Vec<u8>, Vec<u8>> {
        Session::new(Options::default(), Vec::new(), Vec::new(), false)
    }

    fn texts(s: Session<Vec<u8>, Vec<u8>>) -> (String, String) {
        let (o, e) = s.into_writers();
        (String::from_utf8(o).unwrap(), String::from_utf8(e).unwrap())
    }

    #[test]
    fn statements_print_values_and_confirmations() {
        let mut s = session();
        s.execute("f(x, y) = x * y");
        s.execute("k = f(2, 3)");
        s.execute("k + 1; 1/0");
        let (out, err) = texts(s);
        assert_eq!(out, "f(x, y) defined\nk = 6\n7\ninf\n");
        assert_eq!(err, "");
    }

    #[test]
    fn errors_point_into_the_input_and_keep_the_session() {
        let mut s = session();
        s.execute("f(x) = x > 0 ? x : k");
        s.execute("f(-1)");
        s.execute("f(2)");
        let (out, err) = texts(s);
        assert_eq!(out, "f(x) defined\n2\n");
        assert!(err.starts_with("error: undefined variable 'k'"), "{err}");
        assert!(err.contains("<repl:1>:1:20"), "{err}");
        assert!(err.contains('^'), "{err}");
    }

    #[test]
    fn commands_report_and_change_the_engine() {
        let mut s = session();
        s.execute(":threshold 2");
        s.execute("sq(x) = x*x");
        s.execute("v = 4");
        s.execute("sq(1) + sq(2) + sq(3)");
        s.execute(":vars");
        s.execute(":funcs");
        s.execute(":stats");
        s.execute(":mode fast");
        s.execute(":mode interp");
        s.execute(":mode");
        s.execute(":reset");
        s.execute(":funcs");
        let (out, err) = texts(s);
        assert!(out.contains("v = 4\n"), "{out}");
        assert!(out.contains("14\n"), "{out}");
        #[cfg(target_arch = "x86_64")]
        {
            assert!(
                out.lines().any(|l| l.starts_with("sq(x)")
                    && l.contains("compiled")
                    && l.contains("bytes")),
                "{out}"
            );
            assert!(out.contains("compiled functions: 1 of 1"), "{out}");
            assert!(out.contains("code memory: "), "{out}");
        }
        assert!(out.contains("mode set to interp\nmode interp\n"), "{out}");
        assert!(out.ends_with("no functions defined\n"), "{out}");
        assert_eq!(
            err,
            "error: unknown mode 'fast' (expected interp, jit or tiered)\n"
        );
    }

    #[test]
    fn ast_shows_both_forms() {
        let mut s = session();
        s.execute(":ast -2^2 + x");
        s.execute(":ast 1 +");
        let (out, err) = texts(s);
        assert!(out.contains("parsed:  "), "{out}");
        assert!(out.contains("lowered: "), "{out}");
        assert!(err.starts_with("error: "), "{err}");
    }

    #[test]
    fn load_runs_a_file_and_reports_a_missing_one() {
        let dir = std::env::temp_dir().join(format!("exprjit-repl-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("prog.ej");
        std::fs::write(&file, "g(x) = x + 1\ng(41)\n").unwrap();
        let mut s = session();
        s.execute(&format!(":load {}", file.display()));
        s.execute("g(1)");
        s.execute(":load /nonexistent/exprjit/file");
        let _ = std::fs::remove_dir_all(&dir);
        let (out, err) = texts(s);
        assert!(out.starts_with("42\nloaded "), "{out}");
        assert!(out.ends_with("2\n"), "{out}");
        assert!(
            err.starts_with("error: cannot read '/nonexistent/exprjit/file'"),
            "{err}"
        );
    }

    #[test]
    fn quit_ends_and_names_are_listed() {
        let mut s = session();
        s.execute("a = 1; h(x) = x");
        assert_eq!(
            s.names(),
            vec![("a".to_string(), false), ("h".to_string(), true)]
        );
        assert_eq!(s.execute(":quit"), Flow::Quit);
        assert_eq!(s.execute("  "), Flow::Continue);
    }

    #[test]
    fn ordinals() {
        let all: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .map(ordinal)
            .into();
        assert_eq!(
            all,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
    }
}
