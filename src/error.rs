//! The one error type of the crate, and how it is shown to a person.
//!
//! An [`Error`] is a value: what went wrong ([`ErrorKind`]), where (a byte
//! [`Span`]), and in which text ([`Source`]). Both tiers raise the same
//! kinds at the same spans; `render` draws the source line with a caret.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use codespan_reporting::diagnostic::{Diagnostic, Label};
use codespan_reporting::files::{self, Files};
use codespan_reporting::term;

/// A byte range in a [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The first byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The bytes `start..end`. Offsets beyond 4 GiB are clamped; such
    /// sources are refused earlier.
    pub fn new(start: usize, end: usize) -> Span {
        let clamp = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        Span {
            start: clamp(start),
            end: clamp(end.max(start)),
        }
    }

    /// As a range of byte offsets.
    pub fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A named program text that spans point into.
#[derive(Debug)]
pub struct Source {
    /// What error messages call it (a file name, `<eval>`, `<repl:3>`).
    pub name: String,
    /// The text itself.
    pub text: String,
}

impl Source {
    /// A source called `name` holding `text`.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Source> {
        Arc::new(Source {
            name: name.into(),
            text: text.into(),
        })
    }
}

/// Names in messages are cut short so a 10,000-character identifier does not
/// flood the terminal.
pub fn shorten(name: &str) -> String {
    const MAX: usize = 40;
    match name.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_string(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Everything that can go wrong, each with the message a user sees.
///
/// New kinds may be added in later versions, so a `match` on it needs a
/// wildcard arm.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A character that starts no token.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// A token where the grammar allows none of its kind.
    #[error("unexpected {0}")]
    UnexpectedToken(String),
    /// Something other than an expression where one must start.
    #[error("expected expression, found {0}")]
    ExpectedExpression(String),
    /// The text ended in the middle of a statement.
    #[error("unexpected end of input")]
    UnexpectedEof,
    /// Parentheses or operators nested deeper than the limit.
    #[error("expressions nested too deeply (more than {0} levels)")]
    NestingTooDeep(u32),
    /// `=` after something that is neither a name nor a function head.
    #[error("cannot assign to this expression (expected a name or a function head like 'f(x)')")]
    BadAssignTarget,
    /// A parameter in a function head that is not a plain name.
    #[error("parameter must be a name")]
    BadParameter,
    /// A name given twice as a parameter (or as a variable of a handle).
    #[error("duplicate parameter '{}'", shorten(.0))]
    DuplicateParameter(String),
    /// A definition with more parameters than the limit (the second field).
    #[error("too many parameters: {0} (at most {1})")]
    TooManyParameters(usize, usize),
    /// An attempt to bind the name of a built-in constant or function.
    #[error("cannot redefine built-in '{0}'")]
    BuiltinRedefined(String),
    /// An attempt by a program (or `set_var`) to bind the name of a
    /// native function, which only the host may define.
    #[error("cannot redefine native function '{}' (only the host program can)", shorten(.0))]
    NativeRedefined(String),
    /// A name that is not an identifier where one is needed (`set_var`,
    /// `define_native`, a handle's variables).
    #[error("'{}' is not a valid name (letters, digits and '_', not starting with a digit)", shorten(.0))]
    InvalidName(String),
    /// A name read as a variable that is bound to nothing.
    #[error("undefined variable '{}'", shorten(.0))]
    UndefinedVariable(String),
    /// A call of a name that is bound to nothing.
    #[error("unknown function '{}'", shorten(.0))]
    UnknownFunction(String),
    /// A call of a name bound to a variable.
    #[error("'{}' is a variable, not a function", shorten(.0))]
    CallingVariable(String),
    /// A function's name used as a value.
    #[error("'{}' is a function; call it with arguments", shorten(.0))]
    FunctionAsValue(String),
    /// A call with the wrong number of arguments.
    #[error("{} expects {expected} argument{}, got {got}", shorten(.name), plural(*.expected))]
    Arity {
        /// The function called.
        name: String,
        /// How many arguments it takes.
        expected: usize,
        /// How many it was given.
        got: usize,
    },
    /// Recursion beyond the stack budget every tier applies alike.
    #[error("recursion too deep")]
    RecursionTooDeep,
    /// The evaluation was stopped from outside ([`crate::Interrupter`]).
    #[error("interrupted")]
    Interrupted,
    /// A native function panicked; the panic did not unwind any further.
    #[error("native function '{}' panicked: {message}", shorten(.name))]
    NativePanic {
        /// The native function.
        name: String,
        /// The panic's message, when it had one.
        message: String,
    },
    /// An [`crate::ExprHandle`] used with an engine that did not make it,
    /// or after [`crate::Engine::reset`].
    #[error("stale expression handle: it belongs to another engine, or to this one before reset")]
    StaleHandle,
    /// A kernel, or `eval_batch`, given columns of the wrong shape.
    #[error("{0}")]
    BatchShape(String),
    /// Machine code could not be placed (the code region is full, or the
    /// operating system refused memory).
    #[error("code memory: {0}")]
    CodeMemory(String),
    /// Machine code was asked for on a processor exprjit cannot generate
    /// it for.
    #[error("{0}")]
    NoJit(String),
    /// The processor lacks what exprjit needs to run at all (x86-64-v3:
    /// AVX2 and FMA).
    #[error("{0}")]
    UnsupportedCpu(String),
    /// Input that cannot be read or is too large.
    #[error("{0}")]
    Input(String),
    /// A broken invariant inside exprjit: a bug, reported instead of a crash.
    #[error("internal error: {0}")]
    Internal(String),
}

/// An error with its position, if it has one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where, in [`Error::source`]'s text.
    pub span: Option<Span>,
    /// The text the span points into.
    pub source: Option<Arc<Source>>,
    /// For [`crate::Kernel::eval_batch`]: the lowest row that failed
    /// (0-based).
    pub row: Option<usize>,
}

impl std::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(row) = self.row {
            write!(f, "row {row}: ")?;
        }
        fmt::Display::fmt(&self.kind, f)
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error {
            kind,
            span: None,
            source: None,
            row: None,
        }
    }
}

impl Error {
    /// `kind` at `span` (of a source attached later, see
    /// [`Error::in_source`]).
    pub fn at(kind: ErrorKind, span: Span) -> Error {
        Error {
            kind,
            span: Some(span),
            source: None,
            row: None,
        }
    }

    /// The same error, found in row `row` of a batch.
    pub fn in_row(mut self, row: usize) -> Error {
        self.row = Some(row);
        self
    }

    /// Attaches `source` unless an inner frame already did.
    pub fn in_source(mut self, source: &Arc<Source>) -> Error {
        if self.source.is_none() && self.span.is_some() {
            self.source = Some(source.clone());
        }
        self
    }

    /// `error: MESSAGE`, then the source line and a caret under the span.
    pub fn render(&self) -> String {
        self.render_styled(false)
    }

    /// `render`, in colour (ANSI) when `color` is set: for terminals only.
    pub fn render_styled(&self, color: bool) -> String {
        let (Some(span), Some(source)) = (self.span, &self.source) else {
            if color {
                return format!("\x1b[1;31merror\x1b[0m\x1b[1m: {self}\x1b[0m\n");
            }
            return format!("error: {self}\n");
        };
        let excerpt = Excerpt::around(source, span);
        let label = Label::primary((), excerpt.local(span));
        let diagnostic = Diagnostic::error()
            .with_message(self.to_string())
            .with_labels(vec![label]);
        let config = term::Config::default();
        if color {
            let mut buffer = term::termcolor::Buffer::ansi();
            let styles = term::Styles::default();
            let mut writer = term::StylesWriter::new(&mut buffer, &styles);
            if term::emit_to_write_style(&mut writer, &config, &excerpt, &diagnostic).is_ok() {
                return String::from_utf8_lossy(buffer.as_slice()).into_owned();
            }
        }
        term::emit_into_string(&config, &excerpt, &diagnostic)
            .unwrap_or_else(|_| format!("error: {}\n", self.kind))
    }
}

/// The lines of a source around a span, cut to a readable width, that
/// still reports true line and column numbers (a 10 MB one-line program
/// must not be echoed whole).
struct Excerpt<'a> {
    name: &'a str,
    text: String,
    /// Byte offset of `text` in the source.
    offset: usize,
    /// For each byte offset in the source's window, the offset in `text`
    /// (which shows control characters as wider pictures).
    map: Vec<usize>,
    /// 0-based line of `text`'s first line in the source.
    first_line: usize,
    /// Byte column of `text`'s first byte within its line.
    first_col: usize,
    line_starts: Vec<usize>,
}

impl<'a> Excerpt<'a> {
    const WIDTH: usize = 120;

    fn around(source: &'a Source, span: Span) -> Excerpt<'a> {
        let text = source.text.as_str();
        let start = floor_char(text, (span.start as usize).min(text.len()));
        // A span longer than the window (a 10,000-character name, an
        // expression nested 10,000 deep) is shown by its beginning: the
        // label is cut where the excerpt ends.
        let end = (span.end as usize).clamp(start, text.len().min(start + Self::WIDTH));
        let end = floor_char(text, end);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        // Window: from a little before the span to a little after it,
        // never wider than WIDTH on either side.
        let from = floor_char(text, line_start.max(start.saturating_sub(Self::WIDTH / 2)));
        let to = floor_char(text, line_end.min(end.max(start + 1) + Self::WIDTH / 2));
        let to = to.max(from);
        let first_line = text[..from].bytes().filter(|&b| b == b'\n').count();
        // Control characters are shown as their pictures (NUL as `␀`): a
        // terminal would otherwise act on them or show nothing, and the
        // caret would point at nothing.
        let slice = &text[from..to];
        let mut shown = String::with_capacity(slice.len());
        let mut map = Vec::with_capacity(slice.len() + 1);
        for (i, c) in slice.char_indices() {
            map.resize(i, shown.len());
            map.push(shown.len());
            shown.push(visible(c));
        }
        map.resize(slice.len() + 1, shown.len());
        let line_starts = files::line_starts(&shown).collect();
        Excerpt {
            name: &source.name,
            text: shown,
            offset: from,
            map,
            first_line,
            first_col: from - line_start,
            line_starts,
        }
    }

    fn local(&self, span: Span) -> Range<usize> {
        let r = span.range();
        let at = |i: usize| self.map[i.saturating_sub(self.offset).min(self.map.len() - 1)];
        let start = at(r.start);
        let mut end = at(r.end).max(start);
        // A span that ends with a line break (an unexpected end of line) is
        // drawn on its own line, not as a label running into the next one.
        while end > start && matches!(self.text.as_bytes()[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        floor_char(&self.text, start)..floor_char(&self.text, end)
    }
}

/// `c`, or its picture if it is a control character other than a tab or a
/// line break (U+2400 and on: `␀`, `␛`, `␡`).
fn visible(c: char) -> char {
    match c {
        '\t' | '\n' | '\r' => c,
        '\0'..='\x1f' => char::from_u32(0x2400 + c as u32).unwrap_or('?'),
        '\x7f' => '\u{2421}',
        _ => c,
    }
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl<'a> Files<'a> for Excerpt<'_> {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(self.name)
    }

    fn source(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(&self.text)
    }

    fn line_index(&'a self, (): (), byte_index: usize) -> Result<usize, files::Error> {
        Ok(self
            .line_starts
            .binary_search(&byte_index)
            .unwrap_or_else(|next| next - 1))
    }

    fn line_number(&'a self, (): (), line_index: usize) -> Result<usize, files::Error> {
        Ok(self.first_line + line_index + 1)
    }

    fn column_number(
        &'a self,
        (): (),
        line_index: usize,
        byte_index: usize,
    ) -> Result<usize, files::Error> {
        let start = self.line_range((), line_index)?.start;
        let col = self.text[start..byte_index.max(start)].chars().count() + 1;
        Ok(if line_index == 0 {
            col + self.first_col
        } else {
            col
        })
    }

    fn line_range(&'a self, (): (), line_index: usize) -> Result<Range<usize>, files::Error> {
        let start = *self
            .line_starts
            .get(line_index)
            .ok_or(files::Error::LineTooLarge {
                given: line_index,
                max: self.line_starts.len() - 1,
            })?;
        let end = self
            .line_starts
            .get(line_index + 1)
            .copied()
            .unwrap_or(self.text.len());
        Ok(start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_points_a_caret_at_the_span() {
        let src = Source::new("<eval>", "1\nf(x) = k + x\n");
        let err =
            Error::at(ErrorKind::UndefinedVariable("k".into()), Span::new(9, 10)).in_source(&src);
        let text = err.render();
        assert!(
            text.starts_with("error: undefined variable 'k'\n"),
            "{text}"
        );
        assert!(text.contains("<eval>:2:8"), "{text}");
        assert!(text.contains("2 │ f(x) = k + x"), "{text}");
        assert!(text.contains("^"), "{text}");
    }

    #[test]
    fn render_of_a_huge_line_shows_a_window_with_true_columns() {
        let text = format!("{}$", "1+".repeat(100_000));
        let src = Source::new("big", text.clone());
        let err =
            Error::at(ErrorKind::UnexpectedChar('$'), Span::new(200_000, 200_001)).in_source(&src);
        let out = err.render();
        assert!(out.len() < 1_000, "{out}");
        assert!(out.contains("big:1:200001"), "{out}");
    }

    #[test]
    fn control_characters_are_shown_visibly_with_the_caret_under_them() {
        let src = Source::new("<stdin>", "1+\u{0}2");
        let err = Error::at(ErrorKind::UnexpectedChar('\0'), Span::new(2, 3)).in_source(&src);
        let text = err.render();
        assert!(text.contains("1+␀2"), "{text}");
        assert!(!text.contains('\0'), "{text:?}");
        assert!(text.contains("<stdin>:1:3"), "{text}");
        let caret_line = text.lines().find(|l| l.contains('^')).expect("a caret");
        let source_line = text.lines().find(|l| l.contains("1+␀2")).unwrap();
        let col = |l: &str, c: char| l.chars().position(|x| x == c);
        assert_eq!(col(caret_line, '^'), col(source_line, '␀'), "{text}");
    }

    #[test]
    fn arity_message_is_singular_for_one() {
        let k = ErrorKind::Arity {
            name: "f".into(),
            expected: 1,
            got: 2,
        };
        assert_eq!(k.to_string(), "f expects 1 argument, got 2");
    }
}
