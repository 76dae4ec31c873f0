//! The `Engine`: the one entry point shared by the CLI, the REPL, the
//! benchmarks and library users. It owns the global namespace, runs
//! statements in order, and decides which tier runs each call.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Source, Span};
use crate::interp::Interp;
#[cfg(target_arch = "x86_64")]
use crate::jit::Jit;
use crate::lower::{self, Globals, Node, Sym};
use crate::stack::StackGuard;
use crate::syntax::{self, ast::Stmt};

/// SPEC §4: functions may have up to 64 parameters.
pub const MAX_PARAMS: usize = 64;

/// How deep user-function calls may nest, in every tier (SPEC asks for at
/// least 10,000). Counting calls, rather than only watching the stack,
/// makes unbounded recursion stop at the same call — so with the same
/// error position — whatever the tier and its frame sizes. The stack floor
/// stays as a backstop for threads too small to reach this depth.
pub const MAX_CALL_DEPTH: u64 = 250_000;

/// Which tier runs code (SPEC §6 `--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Never compile.
    Interp,
    /// Compile every function before its first call.
    Jit,
    /// Interpret, then compile a function once it is hot.
    #[default]
    Tiered,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    /// In tiered mode, a function is compiled at its `threshold`-th call.
    pub threshold: u32,
    /// Report compilations, patches and invalidations on stderr.
    pub trace: bool,
    /// Registers generated code keeps values in (2 to 14; fewer only to
    /// exercise spilling in tests).
    pub registers: u8,
    /// Bytes of address space reserved for machine code (64 MiB; tests
    /// use less to see what happens when it is full).
    pub code_memory: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::default(),
            threshold: 1000,
            trace: false,
            registers: 14,
            code_memory: 64 << 20,
        }
    }
}

/// A user function (or an expression handle, or an expression statement,
/// which is a function of no arguments).
#[derive(Debug)]
pub struct Function {
    pub name: String,
    pub params: Vec<String>,
    pub body: Node,
    /// The text the body's spans point into.
    pub source: Arc<Source>,
    /// The global it was defined as, if any.
    pub sym: Option<Sym>,
    /// Unique in the process; names the function's machine code.
    pub id: u64,
    pub tier: Tier,
}

/// How a function is running: its hot counter and its machine code.
#[derive(Debug, Default)]
pub struct Tier {
    /// Calls counted while it had no machine code.
    pub calls: Cell<u64>,
    /// Entry of its machine code, 0 while it has none.
    pub entry: Cell<usize>,
    /// For pure expression handles (no calls, globals or failure sites):
    /// an entry Rust may call directly, without the trampoline; 0 when none.
    pub direct: Cell<usize>,
    /// Is this an expression handle (which wants a direct entry)?
    pub handle: Cell<bool>,
    /// Calls that reached it through the runtime stub.
    pub stub_entries: Cell<u64>,
    /// Compilation failed; it stays interpreted.
    pub uncompilable: Cell<bool>,
}

impl Function {
    pub fn new(
        name: impl Into<String>,
        params: Vec<String>,
        body: Node,
        source: Arc<Source>,
        sym: Option<Sym>,
    ) -> Rc<Function> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Rc::new(Function {
            name: name.into(),
            params,
            body,
            source,
            sym,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tier: Tier::default(),
        })
    }

    pub fn arity(&self) -> usize {
        self.params.len()
    }
}

/// Everything an evaluation needs, borrowed from the engine for its
/// duration. Shared (`&Runtime`) by the interpreter, the JIT's helpers and
/// every nested call, in whichever tier.
pub struct Runtime<'a> {
    pub ns: &'a Namespace,
    pub options: &'a Options,
    #[cfg(target_arch = "x86_64")]
    pub jit: Option<&'a Jit>,
    pub guard: StackGuard,
    /// The call count at which a function is compiled: 1 in jit mode,
    /// the threshold in tiered mode, never in interp mode.
    pub hot_at: u64,
    /// User-function frames active in the interpreter (machine code keeps
    /// its count in a register; see `jit::emit`).
    pub depth: Cell<u64>,
    /// Spare interpreter value stacks (one is in use per nested entry into
    /// the interpreter).
    pub stacks: &'a RefCell<Vec<Vec<f64>>>,
    /// The stack floor for machine code, or [`STOPPED`] when the
    /// evaluation is to stop (see [`Interrupter`]); checked at every user
    /// call, by the interpreter and by machine code alike.
    pub limit: &'a AtomicUsize,
}

impl Runtime<'_> {
    /// The JIT (helpers are only ever called from machine code, so it
    /// exists whenever they run).
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn jit(&self) -> &Jit {
        self.jit.expect("machine code runs only with a JIT")
    }

    /// Has an [`Interrupter`] stopped this evaluation?
    pub fn stopped(&self) -> bool {
        self.limit.load(Ordering::Relaxed) == STOPPED
    }

    /// Calls `f` with `args` in the tier it runs in now.
    pub fn call(&self, f: &Rc<Function>, args: &[f64]) -> Result<f64, Error> {
        #[cfg(target_arch = "x86_64")]
        if let Some(jit) = self.jit {
            if let Some(entry) = jit.entry_for(self, f) {
                // The outermost frame is not a nested call: give back the
                // one its prologue takes.
                let budget = MAX_CALL_DEPTH - self.depth.get() + 1;
                return jit.enter(self, entry, args, budget);
            }
        }
        self.interpret(f, args)
    }

    /// Runs `f`'s body in the interpreter with `args` as its frame. Value
    /// stacks are reused from a pool: allocating one per call was 9% of an
    /// interpreted formula evaluation (callgrind).
    pub(crate) fn interpret(&self, f: &Function, args: &[f64]) -> Result<f64, Error> {
        let mut stack = self.stacks.borrow_mut().pop().unwrap_or_default();
        stack.extend_from_slice(args);
        let result = Interp::new(self, &mut stack)
            .eval(&f.body, 0)
            .map_err(|e| e.in_source(&f.source));
        stack.clear();
        self.stacks.borrow_mut().push(stack);
        result
    }
}

/// What a global name is bound to right now.
#[derive(Debug, Clone, Default)]
pub enum Slot {
    #[default]
    Empty,
    Var(f64),
    Func(Rc<Function>),
}

/// Global names and their current bindings, indexed by [`Sym`] so that a
/// lookup at run time is an array index, never a hash.
#[derive(Debug, Default)]
pub struct Namespace {
    index: HashMap<String, Sym>,
    names: Vec<String>,
    slots: Vec<Slot>,
}

impl Namespace {
    pub fn slot(&self, sym: Sym) -> &Slot {
        &self.slots[sym.0 as usize]
    }

    pub fn name(&self, sym: Sym) -> &str {
        &self.names[sym.0 as usize]
    }

    pub fn lookup(&self, name: &str) -> Option<Sym> {
        self.index.get(name).copied()
    }

    fn bind(&mut self, sym: Sym, slot: Slot) {
        self.slots[sym.0 as usize] = slot;
    }

    /// Every bound name with its binding, in order of first mention.
    pub fn bindings(&self) -> impl Iterator<Item = (&str, &Slot)> {
        self.names
            .iter()
            .zip(&self.slots)
            .filter(|(_, s)| !matches!(s, Slot::Empty))
            .map(|(n, s)| (n.as_str(), s))
    }
}

impl Globals for Namespace {
    fn intern(&mut self, name: &str) -> Sym {
        if let Some(&sym) = self.index.get(name) {
            return sym;
        }
        let sym = Sym(u32::try_from(self.names.len()).expect("fewer than 2^32 names"));
        self.index.insert(name.to_string(), sym);
        self.names.push(name.to_string());
        self.slots.push(Slot::Empty);
        sym
    }
}

/// An expression over named variables, compiled once and evaluated many
/// times with different values (`Engine::compile_expr`).
#[derive(Debug, Clone)]
pub struct ExprHandle {
    func: Rc<Function>,
}

impl ExprHandle {
    /// The variables, in the order `eval_handle` takes their values.
    pub fn vars(&self) -> &[String] {
        &self.func.params
    }

    /// Does it run through the direct fast path (compiled, and pure: no
    /// user calls, globals or failure sites)?
    pub fn is_direct(&self) -> bool {
        self.func.tier.direct.get() != 0
    }
}

/// What one statement did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An expression statement's value.
    Value(f64),
    /// `name(params) = body`
    Defined { name: String, params: Vec<String> },
    /// `name = value`
    Assigned { name: String, value: f64 },
}

/// What the engine knows about one function's tier (REPL `:funcs`, bench).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionStats {
    pub name: String,
    pub params: Vec<String>,
    /// Calls counted while it ran interpreted (machine code does not count).
    pub interpreted_calls: u64,
    /// Calls that reached it through the runtime stub.
    pub stub_entries: u64,
    /// Its machine code, if it has any.
    pub code: Option<CodeStats>,
}

/// Size, place and cost of a function's machine code.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodeStats {
    pub addr: usize,
    pub bytes: usize,
    pub compile_time: std::time::Duration,
}

/// The exprjit engine.
///
/// # Threads
///
/// An `Engine` is neither `Send` nor `Sync`: it owns machine code whose call
/// sites it patches in place, interior-mutable JIT state, and `Rc`s, none of
/// which may be touched from two threads. The compiler enforces this:
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// needs_send(exprjit::Engine::new());
/// ```
///
/// Make one engine per thread instead: engines share nothing (each reserves
/// its own code region), so engines on different threads run at once
/// (`tests/threads.rs`).
#[derive(Debug, Default)]
pub struct Engine {
    options: Options,
    ns: Namespace,
    #[cfg(target_arch = "x86_64")]
    jit: Option<Jit>,
    /// The stack floor of the engine's thread, measured once: an `Engine`
    /// never leaves the thread that made it.
    guard: StackGuard,
    /// Interpreter value stacks kept between evaluations.
    stacks: RefCell<Vec<Vec<f64>>>,
    /// The stack floor machine code checks in every prologue, or
    /// [`STOPPED`] once an [`Interrupter`] has stopped the evaluation in
    /// progress: the same check catches both.
    limit: Arc<AtomicUsize>,
}

/// The stack limit that stops everything: no stack pointer is above it.
pub const STOPPED: usize = usize::MAX;

/// Stops an engine's evaluation in progress from another thread (a Ctrl-C
/// handler, a watchdog): the evaluation ends with
/// [`ErrorKind::Interrupted`] at its next call of a user function, in
/// every tier, and the engine stays usable. Made by
/// [`Engine::interrupter`]; an interrupt that arrives while nothing runs
/// is forgotten when the next evaluation starts.
#[derive(Debug, Clone)]
pub struct Interrupter(Arc<AtomicUsize>);

impl Interrupter {
    pub fn interrupt(&self) {
        self.0.store(STOPPED, Ordering::Relaxed);
    }
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    pub fn with_options(options: Options) -> Engine {
        Engine {
            options,
            ..Engine::default()
        }
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// A handle that stops this engine's evaluation in progress; it may be
    /// sent to and used from any thread.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(Arc::clone(&self.limit))
    }

    /// Changes the mode or threshold; code compiled so far stays.
    pub fn set_options(&mut self, options: Options) -> Result<(), Error> {
        self.options = options;
        #[cfg(target_arch = "x86_64")]
        if let Some(jit) = &self.jit {
            jit.set_trace(self.options.trace);
        }
        self.prepare()
    }

    /// The JIT, if this engine has made one.
    #[cfg(target_arch = "x86_64")]
    pub fn jit(&self) -> Option<&Jit> {
        self.jit.as_ref()
    }

    /// Makes the JIT unless there is one already.
    #[cfg(target_arch = "x86_64")]
    fn make_jit(&mut self) -> Result<(), Error> {
        if self.jit.is_none() {
            let o = &self.options;
            self.jit = Some(Jit::with_config(o.trace, o.registers, o.code_memory)?);
        }
        Ok(())
    }

    /// Makes the JIT when the mode needs one.
    fn prepare(&mut self) -> Result<(), Error> {
        #[cfg(target_arch = "x86_64")]
        if self.options.mode != Mode::Interp {
            self.make_jit()?;
        }
        #[cfg(not(target_arch = "x86_64"))]
        if self.options.mode == Mode::Jit {
            return Err(ErrorKind::Unsupported(
                "--mode jit needs an x86-64 processor; use --mode interp".into(),
            )
            .into());
        }
        Ok(())
    }

    /// Binds a global, first retiring the machine code of the function it
    /// was bound to (its patched call sites go back to the stub).
    fn bind(&mut self, sym: Sym, slot: Slot) {
        #[cfg(target_arch = "x86_64")]
        if let (Slot::Func(old), Some(jit)) = (self.ns.slot(sym), &self.jit) {
            jit.invalidate(old);
        }
        self.ns.bind(sym, slot);
    }

    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// Runs a whole program: parsed first (a syntax error runs nothing),
    /// then statement by statement; `out` receives the value of each
    /// expression statement as it is computed. The first error stops the
    /// program, after the values before it were delivered.
    pub fn run(&mut self, source: Arc<Source>, out: &mut dyn FnMut(f64)) -> Result<(), Error> {
        self.run_each(source, &mut |o| {
            if let Outcome::Value(x) = o {
                out(x)
            }
        })
    }

    /// Like `run`, but reports what every statement did (the REPL
    /// confirms definitions).
    pub fn run_each(
        &mut self,
        source: Arc<Source>,
        out: &mut dyn FnMut(Outcome),
    ) -> Result<(), Error> {
        if u32::try_from(source.text.len()).is_err() {
            return Err(ErrorKind::Input("program too large (4 GiB at most)".into()).into());
        }
        let stmts = syntax::parse_program(&source.text).map_err(|e| e.in_source(&source))?;
        self.prepare()?;
        for stmt in &stmts {
            let result = self.statement(stmt, &source);
            self.sweep();
            out(result?);
        }
        Ok(())
    }

    /// Forgets every definition; the options stay.
    pub fn reset(&mut self) {
        *self = Engine::with_options(self.options.clone());
    }

    /// The syntax tree of an expression as parsed (fully parenthesised)
    /// and its lowered form, for `:ast`.
    pub fn explain(&mut self, text: &str) -> Result<(String, String), Error> {
        let source = Source::new("<ast>", text);
        let expr = syntax::parse_expr(text).map_err(|e| e.in_source(&source))?;
        let node = lower::lower(&expr, &[], &mut self.ns).map_err(|e| e.in_source(&source))?;
        let name = |sym: Sym| self.ns.name(sym).to_string();
        let named = lower::Named {
            node: &node,
            name: &name,
        };
        Ok((expr.to_string(), named.to_string()))
    }

    /// Runs `text` and returns the values of its expression statements.
    pub fn eval(&mut self, text: &str) -> Result<Vec<f64>, Error> {
        let mut values = Vec::new();
        self.run(Source::new("<eval>", text), &mut |x| values.push(x))?;
        Ok(values)
    }

    fn statement(&mut self, stmt: &Stmt, source: &Arc<Source>) -> Result<Outcome, Error> {
        // Every error of the statement, however it leaves, gets the
        // statement's source (unless it came from a function's own).
        self.statement_inner(stmt, source)
            .map_err(|e| e.in_source(source))
    }

    fn statement_inner(&mut self, stmt: &Stmt, source: &Arc<Source>) -> Result<Outcome, Error> {
        match stmt {
            Stmt::Expr(e) => {
                let body = lower::lower(e, &[], &mut self.ns)?;
                let f = Function::new("<expr>", Vec::new(), body, source.clone(), None);
                self.invoke(&f, &[]).map(Outcome::Value)
            }
            Stmt::Assign {
                name,
                name_span,
                value,
            } => {
                let sym = self.bindable(name, *name_span)?;
                let body = lower::lower(value, &[], &mut self.ns)?;
                let f = Function::new(name.clone(), Vec::new(), body, source.clone(), None);
                let x = self.invoke(&f, &[])?;
                self.bind(sym, Slot::Var(x));
                Ok(Outcome::Assigned {
                    name: name.clone(),
                    value: x,
                })
            }
            Stmt::Def {
                name,
                name_span,
                params,
                body,
            } => {
                let sym = self.bindable(name, *name_span)?;
                if params.len() > MAX_PARAMS {
                    return Err(Error::at(
                        ErrorKind::TooManyParameters(params.len(), MAX_PARAMS),
                        params[MAX_PARAMS].1,
                    )
                    .in_source(source));
                }
                for (i, (p, span)) in params.iter().enumerate() {
                    if params[..i].iter().any(|(q, _)| q == p) {
                        return Err(Error::at(ErrorKind::DuplicateParameter(p.clone()), *span)
                            .in_source(source));
                    }
                }
                let params: Vec<String> = params.iter().map(|(p, _)| p.clone()).collect();
                let body = lower::lower(body, &params, &mut self.ns)?;
                let f = Function::new(
                    name.clone(),
                    params.clone(),
                    body,
                    source.clone(),
                    Some(sym),
                );
                self.bind(sym, Slot::Func(f));
                Ok(Outcome::Defined {
                    name: name.clone(),
                    params,
                })
            }
        }
    }

    /// The slot for a name a statement binds; built-ins cannot be rebound.
    fn bindable(&mut self, name: &str, span: Span) -> Result<Sym, Error> {
        if crate::builtins::lookup(name).is_some() {
            return Err(Error::at(
                ErrorKind::BuiltinRedefined(name.to_string()),
                span,
            ));
        }
        Ok(self.ns.intern(name))
    }

    /// Runs `f` with `args` in the tier it runs in now.
    fn invoke(&self, f: &Rc<Function>, args: &[f64]) -> Result<f64, Error> {
        let rt = self.runtime();
        rt.call(f, args)
    }

    /// What an evaluation borrows from the engine.
    fn runtime(&self) -> Runtime<'_> {
        // A new evaluation: an interrupt meant for an earlier one is void.
        self.limit.store(self.guard.floor(), Ordering::Relaxed);
        Runtime {
            ns: &self.ns,
            options: &self.options,
            #[cfg(target_arch = "x86_64")]
            jit: self.jit.as_ref(),
            guard: self.guard,
            hot_at: self.hot_at(),
            depth: Cell::new(0),
            stacks: &self.stacks,
            limit: &self.limit,
        }
    }

    fn hot_at(&self) -> u64 {
        match self.options.mode {
            Mode::Interp => u64::MAX,
            Mode::Jit => 1,
            Mode::Tiered => u64::from(self.options.threshold.max(1)),
        }
    }

    /// Frees machine code nothing can run any more.
    fn sweep(&self) {
        #[cfg(target_arch = "x86_64")]
        if let Some(jit) = &self.jit {
            jit.sweep();
        }
    }

    /// The machine code of every user function (compiling those that are
    /// still interpreted), as `exprjit asm` prints it; `only` restricts it
    /// to one name.
    pub fn asm_listing(&mut self, only: Option<&str>) -> Result<String, Error> {
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = only;
            Err(ErrorKind::Unsupported("machine code needs an x86-64 processor".into()).into())
        }
        #[cfg(target_arch = "x86_64")]
        {
            self.make_jit()?;
            let funcs: Vec<Rc<Function>> = self
                .ns
                .bindings()
                .filter(|(name, _)| only.is_none_or(|o| o == *name))
                .filter_map(|(_, slot)| match slot {
                    Slot::Func(f) => Some(f.clone()),
                    _ => None,
                })
                .collect();
            if let Some(name) = only {
                if funcs.is_empty() {
                    return Err(ErrorKind::UnknownFunction(name.to_string()).into());
                }
            }
            let rt = self.runtime();
            let jit = rt.jit();
            let mut out = String::new();
            for f in &funcs {
                let was_compiled = f.tier.entry.get() != 0;
                if let Err(why) = jit.ensure_compiled(&rt, f) {
                    out.push_str(&format!(
                        "{}/{}: no machine code ({why})\n\n",
                        f.name,
                        f.arity()
                    ));
                    continue;
                }
                let info = jit.code_info(f);
                let (addr, bytes) = info.map_or((0, 0), |i| (i.addr, i.bytes));
                let how = if was_compiled {
                    let n = f.tier.calls.get();
                    format!("compiled after {n} call{}", if n == 1 { "" } else { "s" })
                } else {
                    "compiled for this listing; it had run interpreted".to_string()
                };
                out.push_str(&format!(
                    "{}({}) at {addr:#x}, {bytes} bytes, {how}\n",
                    f.name,
                    f.params.join(", ")
                ));
                let name_of = |sym: Sym| self.ns.name(sym).to_string();
                out.push_str(&jit.listing(f, &name_of).unwrap_or_default());
                out.push('\n');
            }
            Ok(out)
        }
    }

    /// Drops the machine code of the function `name` (sending its patched
    /// call sites back to the stub) and compiles it again; returns the
    /// compile time. For benchmarks of code generation, placement and
    /// linkage.
    #[cfg(target_arch = "x86_64")]
    pub fn recompile(&mut self, name: &str) -> Result<std::time::Duration, Error> {
        self.make_jit()?;
        let f = match self.ns.lookup(name).map(|s| self.ns.slot(s)) {
            Some(Slot::Func(f)) => f.clone(),
            _ => return Err(ErrorKind::UnknownFunction(name.into()).into()),
        };
        let rt = self.runtime();
        let jit = rt.jit();
        jit.invalidate(&f);
        jit.ensure_compiled(&rt, &f)
            .map_err(|why| Error::from(ErrorKind::Unsupported(why)))?;
        Ok(jit
            .code_info(&f)
            .map(|c| c.compile_time)
            .unwrap_or_default())
    }

    /// Statistics for every user function, in order of definition.
    pub fn function_stats(&self) -> Vec<FunctionStats> {
        self.ns
            .bindings()
            .filter_map(|(_, slot)| match slot {
                Slot::Func(f) => Some(self.stats_of(f)),
                _ => None,
            })
            .collect()
    }

    /// Statistics for an expression handle.
    pub fn handle_stats(&self, handle: &ExprHandle) -> FunctionStats {
        self.stats_of(&handle.func)
    }

    fn stats_of(&self, f: &Function) -> FunctionStats {
        #[cfg(target_arch = "x86_64")]
        let code = self
            .jit
            .as_ref()
            .and_then(|j| j.code_info(f))
            .map(|c| CodeStats {
                addr: c.addr,
                bytes: c.bytes,
                compile_time: c.compile_time,
            });
        #[cfg(not(target_arch = "x86_64"))]
        let code = None;
        FunctionStats {
            name: f.name.clone(),
            params: f.params.clone(),
            interpreted_calls: f.tier.calls.get(),
            stub_entries: f.tier.stub_entries.get(),
            code,
        }
    }

    /// What the JIT has done (compilations, patches, invalidations), most
    /// recent last; `--trace-jit` prints the same events.
    #[cfg(target_arch = "x86_64")]
    pub fn jit_events(&self) -> Vec<crate::jit::JitEvent> {
        self.jit.as_ref().map(|j| j.events()).unwrap_or_default()
    }

    /// Binds the global variable `name` to `value`.
    pub fn set_var(&mut self, name: &str, value: f64) -> Result<(), Error> {
        let sym = self.bindable(name, Span::default())?;
        self.bind(sym, Slot::Var(value));
        Ok(())
    }

    /// Calls the user function `name` from Rust.
    pub fn call(&mut self, name: &str, args: &[f64]) -> Result<f64, Error> {
        self.prepare()?;
        let f = match self.ns.lookup(name).map(|s| self.ns.slot(s)) {
            Some(Slot::Func(f)) => f.clone(),
            Some(Slot::Var(_)) => return Err(ErrorKind::CallingVariable(name.into()).into()),
            _ => return Err(ErrorKind::UnknownFunction(name.into()).into()),
        };
        if f.arity() != args.len() {
            return Err(ErrorKind::Arity {
                name: name.into(),
                expected: f.arity(),
                got: args.len(),
            }
            .into());
        }
        self.invoke(&f, args)
    }

    /// Compiles `text`, an expression over the variables `vars`, into a
    /// handle that `eval_handle` evaluates with values for them.
    pub fn compile_expr(&mut self, text: &str, vars: &[&str]) -> Result<ExprHandle, Error> {
        let source = Source::new("<expr>", text);
        let expr = syntax::parse_expr(text).map_err(|e| e.in_source(&source))?;
        let params: Vec<String> = vars.iter().map(|v| v.to_string()).collect();
        for (i, p) in params.iter().enumerate() {
            if params[..i].contains(p) {
                return Err(ErrorKind::DuplicateParameter(p.clone()).into());
            }
        }
        let body = lower::lower(&expr, &params, &mut self.ns).map_err(|e| e.in_source(&source))?;
        self.prepare()?;
        self.sweep();
        let func = Function::new("<expr>", params, body, source, None);
        func.tier.handle.set(true);
        Ok(ExprHandle { func })
    }

    /// Evaluates a compiled expression with one value per variable.
    ///
    /// Inlined into the caller so that the fast path of a hot pure handle
    /// is a length check, one load and one indirect call; everything else
    /// is out of line.
    #[inline]
    pub fn eval_handle(&self, handle: &ExprHandle, values: &[f64]) -> Result<f64, Error> {
        #[cfg(target_arch = "x86_64")]
        {
            let direct = handle.func.tier.direct.get();
            if direct != 0 && values.len() == handle.func.arity() {
                return Ok(crate::jit::entry::call_direct(direct, values));
            }
        }
        self.eval_handle_slow(handle, values)
    }

    #[inline(never)]
    fn eval_handle_slow(&self, handle: &ExprHandle, values: &[f64]) -> Result<f64, Error> {
        if values.len() != handle.func.arity() {
            return Err(ErrorKind::Arity {
                name: "expression".into(),
                expected: handle.func.arity(),
                got: values.len(),
            }
            .into());
        }
        self.invoke(&handle.func, values)
    }
}
