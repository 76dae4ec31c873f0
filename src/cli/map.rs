//! `exprjit map` (docs/language.md §6): expressions over every row of a CSV file.
//!
//! The input is read in chunks of rows; each step (`-e NAME = expr`,
//! `--where expr`) is one [`Kernel`] run over the chunk's columns with
//! `eval_batch`, in the order given, so the work per row is the batch
//! loop's, and memory holds one chunk whatever the input's size. Rows are
//! written in input order, with their fields as they were read.
//!
//! Errors follow the order of a row-by-row run: a step that fails at a
//! row ends the chunk there (the rows before it still run the later
//! steps, which may fail earlier); a field that is not a number ends it
//! at its row before any step runs there. What comes first is reported,
//! after the rows before it are written.

use std::collections::HashMap;
use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;
use std::sync::mpsc;

use exprjit::internals::NumberPrinter;
use exprjit::{Engine, Error, Kernel, Options, Outcome, Source};

/// Rows per chunk.
const CHUNK: usize = 4096;
/// Chunks in circulation between the reading thread and the writing one.
const CHUNKS: usize = 3;

/// One step, as given on the command line.
#[derive(Debug, Clone)]
pub enum Step {
    /// `-e 'NAME = expr'`
    Assign(String),
    /// `--where expr`
    Where(String),
}

/// What `exprjit map` was asked to do.
pub struct Args {
    pub file: Option<PathBuf>,
    pub steps: Vec<Step>,
    pub defs: Vec<String>,
    pub defs_file: Option<PathBuf>,
    pub delimiter: u8,
    pub empty_nan: bool,
    pub options: Options,
}

/// Why a run stopped early: the message (with its `error: ` line first)
/// and the exit status.
pub struct Failure(pub String);

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure(e.render())
    }
}

fn fail<T>(message: impl std::fmt::Display) -> Result<T, Failure> {
    Err(Failure(format!("error: {message}\n")))
}

/// Where a column's values come from in a chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// Input field `i`, parsed as a number.
    Input(usize),
    /// The values of step `k` (an assignment).
    Step(usize),
}

/// A step compiled against the columns it sees.
struct Plan {
    kernel: Kernel,
    /// Where each of the kernel's variables comes from.
    reads: Vec<Slot>,
    /// The step in messages: `column 'r'` or `--where 'x > 0'`.
    what: String,
    /// The expression's name above its text in messages: `-e r`, `--where`.
    label: String,
    /// `Some(name)` for an assignment.
    target: Option<String>,
}

/// An output column: an input field as read, or a computed value.
#[derive(Clone, Copy)]
enum Out {
    Field(usize),
    Value(usize),
}

/// Runs `exprjit map`; the rows before an error are written before it is
/// returned.
///
/// Two threads share the work: one reads chunks of rows and parses the
/// numbers the steps need, the other runs the steps and writes the
/// output, while the next chunk is read. Three chunks circulate between
/// them, so memory stays bounded.
pub fn run(args: &Args) -> Result<(), Failure> {
    let mut engine = Engine::with_options(args.options.clone());
    define(&mut engine, args)?;
    // `-` is stdin, as for `run`.
    let file = args.file.as_ref().filter(|p| p.as_os_str() != "-");
    let input: Box<dyn Read + Send> = match file {
        Some(path) => Box::new(super::open(path)?),
        None => Box::new(io::stdin()),
    };
    let size = file
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len());
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(args.delimiter)
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 18)
        .from_reader(input);
    let mut header = csv::ByteRecord::new();
    match reader.read_byte_record(&mut header) {
        Ok(true) => {}
        Ok(false) => return fail("the input is empty: there is no header row"),
        Err(e) => return fail(read_error(&e)),
    }
    let names = header_names(&header)?;
    let (plans, outputs, out_names) = plan(&mut engine, &names, &args.steps)?;
    let mut parsed: Vec<usize> = plans
        .iter()
        .flat_map(|p| &p.reads)
        .filter_map(|s| match s {
            Slot::Input(i) => Some(*i),
            Slot::Step(_) => None,
        })
        .collect();
    parsed.sort_unstable();
    parsed.dedup();
    let mut writer = csv::WriterBuilder::new()
        .delimiter(args.delimiter)
        .terminator(csv::Terminator::Any(b'\n'))
        .quote_style(csv::QuoteStyle::Necessary)
        .buffer_capacity(1 << 18)
        .from_writer(io::stdout().lock());
    writer
        .write_record(out_names.iter().map(String::as_bytes))
        .map_err(write_error)?;
    let progress = progress_bar(size);
    let (full_tx, full_rx) = mpsc::sync_channel::<Chunk>(CHUNKS);
    let (empty_tx, empty_rx) = mpsc::channel::<Chunk>();
    for _ in 0..CHUNKS {
        // Cannot fail: the receiver is alive.
        let _ = empty_tx.send(Chunk::new(names.len(), plans.len()));
    }
    let result = std::thread::scope(|scope| {
        let names = &names;
        let parsed = &parsed;
        let empty_nan = args.empty_nan;
        scope.spawn(move || {
            // Reads until the input ends, fails, or the writer is gone.
            while let Ok(mut chunk) = empty_rx.recv() {
                chunk.read(&mut reader);
                chunk.parse(parsed, names, empty_nan);
                chunk.position = reader.position().byte();
                let last = !chunk.more;
                if full_tx.send(chunk).is_err() || last {
                    break;
                }
            }
        });
        let mut printer = NumberPrinter::default();
        loop {
            let Ok(mut chunk) = full_rx.recv() else {
                return Err(Failure(
                    "error: internal error: the reading thread stopped\n".into(),
                ));
            };
            if let Some(f) = chunk.run(&plans)? {
                chunk.failure = Some(f);
            }
            chunk.write(&mut writer, &outputs, &mut printer)?;
            if let Some(bar) = &progress {
                bar.set_position(chunk.position);
            }
            if let Some(f) = chunk.failure.take() {
                return Err(f);
            }
            if !chunk.more {
                return Ok(());
            }
            // The reader may be gone already; then this chunk is not needed.
            let _ = empty_tx.send(chunk);
        }
    });
    if let Some(bar) = &progress {
        bar.finish_and_clear();
    }
    let flushed = writer.flush().map_err(|e| write_error(e.into()));
    result.and(flushed)
}

/// Runs `--defs FILE`, then each `--def`: definitions and assignments
/// only (a value would have nowhere to go).
fn define(engine: &mut Engine, args: &Args) -> Result<(), Failure> {
    let mut sources = Vec::new();
    if let Some(path) = &args.defs_file {
        let what = format!("'{}'", path.display());
        sources.push(super::read_source(
            super::open(path)?,
            &path.display().to_string(),
            &what,
            None,
        )?);
    }
    for d in &args.defs {
        sources.push(Source::new("--def", d.clone()));
    }
    for source in sources {
        let mut value = false;
        engine.run_each(source.clone(), &mut |o| {
            value |= matches!(o, Outcome::Value(_));
        })?;
        if value {
            return fail(format!(
                "{}: a definition file holds definitions (f(x) = …) and assignments (k = …), not expressions to print",
                source.name
            ));
        }
    }
    Ok(())
}

/// The header's names, checked: valid UTF-8, none twice.
fn header_names(header: &csv::ByteRecord) -> Result<Vec<String>, Failure> {
    let mut names = Vec::with_capacity(header.len());
    let mut seen = HashMap::new();
    for (i, field) in header.iter().enumerate() {
        // A UTF-8 byte order mark is not part of the first name.
        let field = if i == 0 {
            field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
        } else {
            field
        };
        let Ok(name) = std::str::from_utf8(field) else {
            return fail(format!(
                "line 1, column {}: the header is not valid UTF-8",
                i + 1
            ));
        };
        if let Some(first) = seen.insert(name.to_string(), i) {
            return fail(format!(
                "line 1: column '{name}' appears twice in the header (columns {} and {})",
                first + 1,
                i + 1
            ));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

/// `NAME = expr` split at its `=` (the first that is not part of `==`,
/// `!=`, `<=` or `>=`).
fn split_assignment(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|i| {
        let alone = bytes[i] == b'='
            && bytes.get(i + 1) != Some(&b'=')
            && (i == 0 || !matches!(bytes[i - 1], b'=' | b'!' | b'<' | b'>'));
        alone.then(|| (text[..i].trim(), &text[i + 1..]))
    })
}

/// The compiled steps, what each output column is, and the output header.
type Planned = (Vec<Plan>, Vec<Out>, Vec<String>);

/// Compiles every step against the columns it sees.
fn plan(engine: &mut Engine, names: &[String], steps: &[Step]) -> Result<Planned, Failure> {
    // What each name means at this point of the steps.
    let mut slots: Vec<(String, Slot)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), Slot::Input(i)))
        .collect();
    let mut outputs: Vec<Out> = (0..names.len()).map(Out::Field).collect();
    let mut out_names: Vec<String> = names.to_vec();
    let mut plans = Vec::with_capacity(steps.len());
    for (k, step) in steps.iter().enumerate() {
        let (target, text, what) = match step {
            Step::Assign(t) => {
                let Some((name, expr)) = split_assignment(t) else {
                    return fail(format!("-e '{t}': expected NAME = EXPRESSION"));
                };
                if !exprjit::internals::is_identifier(name) {
                    return fail(format!(
                        "-e '{t}': '{name}' cannot name a column (a letter or _, then letters, digits or _)"
                    ));
                }
                (
                    Some(name.to_string()),
                    expr.trim_start(),
                    format!("column '{name}'"),
                )
            }
            Step::Where(t) => (None, t.as_str(), format!("--where '{}'", t.trim())),
        };
        let label = match &target {
            Some(name) => format!("-e {name}"),
            None => "--where".to_string(),
        };
        let vars: Vec<&str> = slots
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| exprjit::internals::is_identifier(n))
            .collect();
        let all = engine
            .compile_expr(text, &vars)
            .map_err(|e| Failure(in_step(&e, &what, &label)))?;
        let used = all.used_vars();
        let handle = engine
            .compile_expr(text, &used)
            .map_err(|e| Failure(in_step(&e, &what, &label)))?;
        let kernel = engine.kernel(&handle)?;
        let reads = used
            .iter()
            .map(|u| slots.iter().find(|(n, _)| n == u).map(|(_, s)| *s))
            .collect::<Option<Vec<Slot>>>()
            .ok_or_else(|| {
                Failure("error: internal error: a variable without a column\n".into())
            })?;
        if let Some(name) = &target {
            let slot = Slot::Step(k);
            match slots.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = slot,
                None => slots.push((name.clone(), slot)),
            }
            match out_names.iter().position(|n| n == name) {
                Some(j) => outputs[j] = Out::Value(k),
                None => {
                    out_names.push(name.clone());
                    outputs.push(Out::Value(k));
                }
            }
        }
        plans.push(Plan {
            kernel,
            reads,
            what,
            label,
            target,
        });
    }
    Ok((plans, outputs, out_names))
}

/// An error in a step's expression, saying which step (and the input line
/// in `what`, rather than the batch's row).
fn in_step(e: &Error, what: &str, label: &str) -> String {
    let mut e = e.clone();
    e.row = None;
    let rendered = e.render().replacen("<expr>", label, 1);
    match rendered.strip_prefix("error: ") {
        Some(rest) => format!("error: {what}: {rest}"),
        None => rendered,
    }
}

/// The rows of one chunk and the values computed for them.
struct Chunk {
    records: Vec<csv::ByteRecord>,
    /// How many of `records` hold this chunk's rows.
    len: usize,
    /// The line each row starts on.
    lines: Vec<u64>,
    /// Parsed input columns, by field index (only those read), one value
    /// per live row.
    inputs: Vec<Vec<f64>>,
    /// Each step's values (assignments; a `--where` keeps its mask here
    /// only while it runs), one per live row.
    values: Vec<Vec<f64>>,
    /// The rows still going (indices into `records`), in order.
    live: Vec<usize>,
    fields: usize,
    /// Why the run ends at this chunk, if it does: the first error in row
    /// order among its rows.
    failure: Option<Failure>,
    /// Whether more rows may follow.
    more: bool,
    /// Bytes of input read after it.
    position: u64,
}

impl Chunk {
    fn new(fields: usize, steps: usize) -> Chunk {
        Chunk {
            records: Vec::new(),
            len: 0,
            lines: Vec::new(),
            inputs: vec![Vec::new(); fields],
            values: vec![Vec::new(); steps],
            live: Vec::new(),
            fields,
            failure: None,
            more: true,
            position: 0,
        }
    }

    /// Reads up to [`CHUNK`] rows, noting whether more may follow and the
    /// failure that ends the input early (a row that cannot be read or has
    /// the wrong number of fields): the rows before it are kept.
    fn read<R: Read>(&mut self, reader: &mut csv::Reader<R>) {
        self.len = 0;
        self.lines.clear();
        self.failure = None;
        self.more = true;
        while self.len < CHUNK {
            if self.records.len() == self.len {
                self.records.push(csv::ByteRecord::new());
            }
            let record = &mut self.records[self.len];
            match reader.read_byte_record(record) {
                Ok(true) => {}
                Ok(false) => {
                    self.more = false;
                    return;
                }
                Err(e) => {
                    self.failure = Some(Failure(format!("error: {}\n", read_error(&e))));
                    self.more = false;
                    return;
                }
            }
            let line = record.position().map_or(0, |p| p.line());
            if record.len() != self.fields {
                self.failure = Some(Failure(format!(
                    "error: line {line}: {} field{}, but the header has {}\n",
                    record.len(),
                    if record.len() == 1 { "" } else { "s" },
                    self.fields
                )));
                self.more = false;
                return;
            }
            self.lines.push(line);
            self.len += 1;
        }
    }

    /// Parses the input columns the steps read, for every row; a field
    /// that is not a number ends the chunk at its row (the failure noted
    /// comes before a failure to read a later row).
    fn parse(&mut self, columns: &[usize], names: &[String], empty_nan: bool) {
        let mut rows = self.len;
        for &c in columns {
            let values = &mut self.inputs[c];
            values.clear();
            for r in 0..rows {
                match number(&self.records[r][c], empty_nan) {
                    Some(x) => values.push(x),
                    None => {
                        let field = String::from_utf8_lossy(&self.records[r][c]).into_owned();
                        let hint = if field.trim().is_empty() {
                            " (an empty field; --empty nan reads it as nan)"
                        } else {
                            ""
                        };
                        self.failure = Some(Failure(format!(
                            "error: line {}, column '{}': {field:?} is not a number{hint}\n",
                            self.lines[r], names[c]
                        )));
                        self.more = false;
                        rows = r;
                        break;
                    }
                }
            }
        }
        for &c in columns {
            self.inputs[c].truncate(rows);
        }
        self.live.clear();
        self.live.extend(0..rows);
    }

    /// Writes the live rows: their fields as read, computed values as
    /// docs/language.md §5 prints them.
    fn write<W: io::Write>(
        &self,
        writer: &mut csv::Writer<W>,
        outputs: &[Out],
        printer: &mut NumberPrinter,
    ) -> Result<(), Failure> {
        for (k, &r) in self.live.iter().enumerate() {
            let record = &self.records[r];
            for out in outputs {
                match *out {
                    Out::Field(i) => writer.write_field(&record[i]),
                    Out::Value(step) => writer.write_field(printer.format(self.values[step][k])),
                }
                .map_err(write_error)?;
            }
            writer.write_record(None::<&[u8]>).map_err(write_error)?;
        }
        Ok(())
    }

    /// Runs every step over the live rows. An error ends the chunk at its
    /// row (returned, the earliest in row order); an error without a row
    /// (a stop) ends the run at once.
    fn run(&mut self, plans: &[Plan]) -> Result<Option<Failure>, Failure> {
        let mut failure = None;
        for (k, plan) in plans.iter().enumerate() {
            let rows = self.live.len();
            let mut out = std::mem::take(&mut self.values[k]);
            out.clear();
            out.resize(rows, 0.0);
            let columns: Vec<&[f64]> = plan
                .reads
                .iter()
                .map(|s| match *s {
                    Slot::Input(i) => &self.inputs[i][..rows],
                    Slot::Step(j) => &self.values[j][..rows],
                })
                .collect();
            let result = plan.kernel.eval_batch(&columns, &mut out);
            let mut keep = rows;
            if let Err(e) = result {
                let Some(row) = e.row else {
                    return Err(e.into());
                };
                let line = self.lines[self.live[row]];
                let what = format!("line {line}, {}", plan.what);
                failure = Some(Failure(in_step(&e, &what, &plan.label)));
                keep = row;
            }
            out.truncate(keep);
            if plan.target.is_some() {
                self.values[k] = out;
                self.truncate(keep);
            } else {
                // Keep the truthy rows (docs/language.md §4: not 0, not NaN).
                let mask = out;
                let kept: Vec<bool> = mask.iter().map(|&m| m != 0.0 && !m.is_nan()).collect();
                self.truncate(keep);
                self.select(&kept);
                self.values[k] = mask;
            }
        }
        Ok(failure)
    }

    /// Drops the live rows from `n` on.
    fn truncate(&mut self, n: usize) {
        self.live.truncate(n);
        for v in self.inputs.iter_mut().chain(self.values.iter_mut()) {
            v.truncate(n);
        }
    }

    /// Keeps the live rows whose `kept` is set (`kept` covers them all).
    fn select(&mut self, kept: &[bool]) {
        if kept.iter().all(|&k| k) {
            return;
        }
        let keep = |v: &mut Vec<f64>| {
            if v.len() == kept.len() {
                let mut i = 0;
                v.retain(|_| {
                    i += 1;
                    kept[i - 1]
                });
            }
        };
        for v in self.inputs.iter_mut().chain(self.values.iter_mut()) {
            keep(v);
        }
        let mut i = 0;
        self.live.retain(|_| {
            i += 1;
            kept[i - 1]
        });
    }
}

/// A field as a number: decimal or exponent form with an optional sign,
/// `inf`, `infinity` or `nan` in any case, spaces around it allowed; an
/// empty field is NaN with `--empty nan`.
fn number(field: &[u8], empty_nan: bool) -> Option<f64> {
    let s = field.trim_ascii();
    if s.is_empty() {
        return empty_nan.then_some(f64::NAN);
    }
    // fast-float2 reads the whole of `s` or fails; it also takes forms
    // docs/language.md §6 does not (`1.` and `.5` are fine, hex is not taken).
    fast_float2::parse::<f64, _>(s).ok()
}

fn read_error(e: &csv::Error) -> String {
    let at = e
        .position()
        .map(|p| format!("line {}: ", p.line()))
        .unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::Io(io) => format!("{at}cannot read the input: {io}"),
        csv::ErrorKind::Utf8 { .. } => format!("{at}the input is not valid UTF-8"),
        _ => format!("{at}{e}"),
    }
}

fn write_error(e: csv::Error) -> Failure {
    match e.kind() {
        csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::BrokenPipe => {
            Failure("error: cannot write to standard output: the reader went away\n".into())
        }
        csv::ErrorKind::Io(io) => {
            Failure(format!("error: cannot write to standard output: {io}\n"))
        }
        _ => Failure(format!("error: cannot write the output: {e}\n")),
    }
}

/// A progress bar on stderr, when it is a terminal and the input is a
/// file of known size.
fn progress_bar(size: Option<u64>) -> Option<indicatif::ProgressBar> {
    let size = size.filter(|&s| s > 0)?;
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(size);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}
