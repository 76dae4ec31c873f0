//! The [`Engine`]: the one entry point shared by the command line, the
//! REPL, the benchmarks and library users. It owns the global namespace,
//! runs statements in order, decides which tier runs each call, and makes
//! expression handles and kernels.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::analysis::{self, BUDGET};
use crate::error::{Error, ErrorKind, Source, Span};
use crate::interp;
use crate::jit::{self, Jit, JitEvent};
use crate::kernel::Kernel;
use crate::lower::{self, Globals, Node, Sym};
use crate::native::{Native, NativeFn};
use crate::runtime::{
    self, Function, Interrupter, Machine, Namespace, Runtime, Slot, StopState, MAX_PARAMS,
};
use crate::stack::{with_eval_stack, StackGuard};
use crate::syntax::{self, ast::Stmt};

/// Which tier runs code (`--mode`).
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

/// Engine settings. Build them with struct update syntax:
///
/// ```
/// use exprjit::{Engine, Mode, Options};
/// let engine = Engine::with_options(Options { mode: Mode::Jit, ..Options::default() });
/// assert_eq!(engine.options().threshold, 1000);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Which tier runs code.
    pub mode: Mode,
    /// In tiered mode, a function is compiled at its `threshold`-th call.
    pub threshold: u32,
    /// Report compilations, patches and invalidations on stderr, one
    /// `[jit] ` line each.
    pub trace: bool,
    /// Registers generated code keeps values in (clamped to what the
    /// processor has; fewer only to exercise spilling in tests). Fixed
    /// once the engine has compiled code.
    pub registers: u8,
    /// Bytes of address space reserved for the engine's machine code.
    /// Fixed once the engine has compiled code.
    pub code_memory: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: Mode::default(),
            threshold: 1000,
            trace: false,
            registers: 14,
            code_memory: jit::memory::REGION_SIZE,
        }
    }
}

/// An expression over named variables, compiled once and evaluated many
/// times with different values ([`Engine::compile_expr`]).
///
/// A handle belongs to the engine that made it, until that engine's next
/// [`Engine::reset`]: evaluating it anywhere else is the error
/// [`ErrorKind::StaleHandle`]. To use it from other threads, make a
/// [`Kernel`] of it.
#[derive(Debug, Clone)]
pub struct ExprHandle {
    func: Arc<Function>,
    /// The [`Engine::stamp`] of the engine that made it, when it made it.
    stamp: u64,
}

impl ExprHandle {
    /// The variables, in the order [`Engine::eval_handle`] takes their
    /// values.
    pub fn vars(&self) -> &[String] {
        &self.func.params
    }

    /// The variables the expression names (reached or not), in
    /// [`ExprHandle::vars`] order: `exprjit map` reads only the columns its
    /// expressions name.
    pub fn used_vars(&self) -> Vec<&str> {
        let mut uses = vec![0; self.func.params.len()];
        with_eval_stack(|| {
            // A tree too deep to walk counts every variable as used.
            if analysis::param_uses(&self.func.body, &mut uses, &StackGuard::here()).is_err() {
                uses.fill(1);
            }
        });
        self.func
            .params
            .iter()
            .zip(uses)
            .filter(|(_, n)| *n > 0)
            .map(|(p, _)| p.as_str())
            .collect()
    }

    /// Whether it runs through the direct fast path (compiled, and pure:
    /// no user calls, no globals, nothing that can fail).
    pub fn is_direct(&self) -> bool {
        self.func.tier.direct() != 0
    }
}

/// What one statement did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// An expression statement's value.
    Value(f64),
    /// `name(params) = body`
    Defined {
        /// The function's name.
        name: String,
        /// Its parameters.
        params: Vec<String>,
    },
    /// `name = value`
    Assigned {
        /// The variable's name.
        name: String,
        /// Its new value.
        value: f64,
    },
}

/// What the engine knows about one function's tier (REPL `:funcs`,
/// `exprjit bench`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FunctionStats {
    /// The function's name (`<expr>` for a handle).
    pub name: String,
    /// Its parameters.
    pub params: Vec<String>,
    /// Whether it is a native function.
    pub native: bool,
    /// Calls counted while it ran interpreted (machine code does not count).
    pub interpreted_calls: u64,
    /// Calls that reached it through the runtime stub.
    pub stub_entries: u64,
    /// Its machine code, if it has any.
    pub code: Option<CodeStats>,
}

/// Size, place and cost of a function's machine code.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct CodeStats {
    /// Where it was placed.
    pub addr: usize,
    /// Bytes of machine code.
    pub bytes: usize,
    /// How long compiling and placing it took.
    pub compile_time: std::time::Duration,
}

/// What an engine's JIT holds ([`Engine::jit_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct JitStats {
    /// Bytes of live machine code in the engine's region.
    pub live_bytes: usize,
    /// The region's high-water mark.
    pub used_bytes: usize,
    /// Call sites patched so far.
    pub patches: u64,
}

/// The exprjit engine.
///
/// # Threads
///
/// An `Engine` may move to another thread but not be shared between
/// threads: it patches its machine code in place while it runs, so it is
/// not `Sync`:
///
/// ```compile_fail
/// fn shared<T: Sync>(_: T) {}
/// shared(exprjit::Engine::new());
/// ```
///
/// Make one engine per thread, or make a [`Kernel`] of an expression and
/// share that: kernels are frozen and evaluate on any number of threads
/// at once.
#[derive(Debug)]
pub struct Engine {
    /// Unique in the process for this engine until its next reset (which
    /// takes a new one): handles remember it.
    stamp: u64,
    options: Options,
    ns: Namespace,
    jit: Option<Jit>,
    stop: Arc<StopState>,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::with_options(Options::default())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Unpatch every call site so that code patched in a cycle (two
        // functions calling each other) is not kept alive by itself. That
        // is cleanup, not something the program did: not traced.
        if let Some(jit) = &self.jit {
            jit.set_trace(false);
        }
        self.retire_all();
    }
}

impl Engine {
    /// An engine with the default options: tiered, threshold 1000.
    pub fn new() -> Engine {
        Engine::default()
    }

    /// An engine with `options`.
    pub fn with_options(options: Options) -> Engine {
        Engine {
            stamp: new_stamp(),
            options,
            ns: Namespace::default(),
            jit: None,
            stop: Arc::default(),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// A handle that stops this engine's evaluation in progress; it may be
    /// sent to and used from any thread. A stop that arrives while nothing
    /// runs is forgotten when the next evaluation starts.
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.stop.clone())
    }

    /// Changes the options; code compiled so far stays. `registers` and
    /// `code_memory` cannot change once the engine has made its JIT (make
    /// a new engine instead): asking is an error, and nothing changes.
    pub fn set_options(&mut self, options: Options) -> Result<(), Error> {
        if self.jit.is_some()
            && (jit::registers(options.registers) != jit::registers(self.options.registers)
                || options.code_memory != self.options.code_memory)
        {
            return Err(ErrorKind::Input(
                "registers and code memory are fixed once the engine has compiled code".into(),
            )
            .into());
        }
        let old = std::mem::replace(&mut self.options, options);
        if let Err(e) = self.prepare() {
            self.options = old;
            return Err(e);
        }
        if let Some(jit) = &self.jit {
            jit.set_trace(self.options.trace);
        }
        Ok(())
    }

    /// Makes the JIT unless there is one already.
    fn make_jit(&mut self) -> Result<&Jit, Error> {
        if self.jit.is_none() {
            let o = &self.options;
            self.jit = Some(Jit::new(o.trace, o.registers, o.code_memory)?);
        }
        self.jit
            .as_ref()
            .ok_or_else(|| ErrorKind::Internal("no JIT".into()).into())
    }

    /// Makes the JIT when the mode needs one. Off x86-64, `Mode::Jit` is
    /// refused and tiered mode interprets.
    fn prepare(&mut self) -> Result<(), Error> {
        match self.options.mode {
            Mode::Interp => Ok(()),
            Mode::Jit => self.make_jit().map(|_| ()),
            Mode::Tiered if jit::available().is_err() => Ok(()),
            Mode::Tiered => self.make_jit().map(|_| ()),
        }
    }

    /// Binds a global; the machine code of the function it was bound to is
    /// retired first (its patched call sites go back to the stub).
    fn bind(&mut self, sym: Sym, slot: Slot) {
        let old = self.ns.bind(sym, slot);
        if let (Slot::Func(f), Some(jit)) = (&old, &self.jit) {
            jit.invalidate(f);
        }
    }

    /// Retires the machine code of every bound function.
    fn retire_all(&mut self) {
        let Some(jit) = &self.jit else { return };
        for (_, _, slot) in self.ns.bindings() {
            if let Slot::Func(f) = slot {
                jit.invalidate(f);
            }
        }
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

    /// Like [`Engine::run`], but reports what every statement did (the
    /// REPL confirms definitions). A stop from the [`Interrupter`] at any
    /// moment of the run — while parsing, between statements, inside one —
    /// ends it with [`ErrorKind::Interrupted`].
    pub fn run_each(
        &mut self,
        source: Arc<Source>,
        out: &mut dyn FnMut(Outcome),
    ) -> Result<(), Error> {
        crate::cpu::check()?;
        let epoch = self.stop.epoch();
        with_eval_stack(|| self.run_statements(source, epoch, out))
    }

    fn run_statements(
        &mut self,
        source: Arc<Source>,
        epoch: u64,
        out: &mut dyn FnMut(Outcome),
    ) -> Result<(), Error> {
        if source.text.len() > MAX_SOURCE {
            return Err(too_large().into());
        }
        let stmts = syntax::parse_program(&source.text).map_err(|e| e.in_source(&source))?;
        self.prepare()?;
        let stopped = |e: &Engine| e.stop.epoch() != epoch;
        for stmt in &stmts {
            if stopped(self) {
                return Err(ErrorKind::Interrupted.into());
            }
            let outcome = self
                .statement(stmt, &source, epoch)
                .map_err(|e| e.in_source(&source))?;
            // Machine code finishes a long expression without calls before
            // it could look; what it computed after a stop is not shown.
            if stopped(self) {
                return Err(ErrorKind::Interrupted.into());
            }
            out(outcome);
        }
        Ok(())
    }

    /// Forgets every definition (native functions stay); the options stay.
    /// Handles made before are stale from now on.
    pub fn reset(&mut self) {
        self.retire_all();
        let natives: Vec<(String, Slot)> = self
            .ns
            .bindings()
            .filter(|(_, _, s)| matches!(s, Slot::Func(f) if f.native().is_some()))
            .map(|(_, n, s)| (n.to_string(), s.clone()))
            .collect();
        self.ns = Namespace::default();
        for (name, slot) in natives {
            let sym = self.ns.intern(&name);
            self.ns.bind(sym, slot);
        }
        self.stamp = new_stamp();
    }

    /// The syntax tree of an expression as parsed (fully parenthesised)
    /// and its lowered form, for `:ast`.
    pub fn explain(&mut self, text: &str) -> Result<(String, String), Error> {
        // Lowering folds constant calls of built-ins.
        crate::cpu::check()?;
        with_eval_stack(|| {
            let source = Source::new("<ast>", text);
            let expr = syntax::parse_expr(text).map_err(|e| e.in_source(&source))?;
            let node = lower::lower(&expr, &[], &mut self.ns).map_err(|e| e.in_source(&source))?;
            let name = |sym: Sym| self.ns.name(sym).to_string();
            let named = lower::Named {
                node: &node,
                name: &name,
            };
            Ok((expr.to_string(), named.to_string()))
        })
    }

    /// Runs `text` and returns the values of its expression statements.
    ///
    /// ```
    /// let mut engine = exprjit::Engine::new();
    /// assert_eq!(engine.eval("f(x) = x^2; f(3); 1 + 1")?, [9.0, 2.0]);
    /// # Ok::<(), exprjit::Error>(())
    /// ```
    pub fn eval(&mut self, text: &str) -> Result<Vec<f64>, Error> {
        let mut values = Vec::new();
        self.run(Source::new("<eval>", text), &mut |x| values.push(x))?;
        Ok(values)
    }

    fn statement(
        &mut self,
        stmt: &Stmt,
        source: &Arc<Source>,
        epoch: u64,
    ) -> Result<Outcome, Error> {
        match stmt {
            Stmt::Expr(e) => {
                let body = lower::lower(e, &[], &mut self.ns)?;
                let f = Function::new("<expr>", Vec::new(), body, source.clone(), None, false)?;
                self.invoke(&f, &[], epoch).map(Outcome::Value)
            }
            Stmt::Assign {
                name,
                name_span,
                value,
            } => {
                let sym = self.bindable(name, *name_span)?;
                let body = lower::lower(value, &[], &mut self.ns)?;
                let f = Function::new(name.clone(), Vec::new(), body, source.clone(), None, false)?;
                let x = self.invoke(&f, &[], epoch)?;
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
                    ));
                }
                let mut seen = HashSet::new();
                for (p, span) in params {
                    if !seen.insert(p.as_str()) {
                        return Err(Error::at(ErrorKind::DuplicateParameter(p.clone()), *span));
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
                    false,
                )?;
                self.bind(sym, Slot::Func(f));
                Ok(Outcome::Defined {
                    name: name.clone(),
                    params,
                })
            }
        }
    }

    /// The slot for a name a program (or `set_var`) binds: built-ins and
    /// natives cannot be rebound.
    fn bindable(&mut self, name: &str, span: Span) -> Result<Sym, Error> {
        let at = |kind| match span {
            Span { start: 0, end: 0 } => Error::from(kind),
            _ => Error::at(kind, span),
        };
        if crate::builtins::is_builtin(name) {
            return Err(at(ErrorKind::BuiltinRedefined(name.to_string())));
        }
        let sym = self.ns.intern(name);
        if matches!(self.ns.slot(sym), Slot::Func(f) if f.native().is_some()) {
            return Err(at(ErrorKind::NativeRedefined(name.to_string())));
        }
        Ok(sym)
    }

    /// Runs `f` with `args` in the tier it runs in now. (The interpreter
    /// needs no stack to speak of; machine code is entered on a stack big
    /// enough for the budget.)
    fn invoke(&self, f: &Arc<Function>, args: &[f64], epoch: u64) -> Result<f64, Error> {
        let rt = Runtime {
            ns: &self.ns,
            machine: self.jit.as_ref().map(|j| j as &dyn Machine),
            interpret: interp::run,
            stop: &self.stop,
            epoch,
            hot_at: self.hot_at(),
            pending: Default::default(),
        };
        rt.call(f, args, BUDGET)
    }

    fn hot_at(&self) -> u64 {
        match self.options.mode {
            _ if self.jit.is_none() => u64::MAX,
            Mode::Interp => u64::MAX,
            Mode::Jit => 1,
            Mode::Tiered => u64::from(self.options.threshold.max(1)),
        }
    }

    /// Binds the global variable `name` to `value`. `name` must be an
    /// identifier, and not a built-in's or a native function's.
    pub fn set_var(&mut self, name: &str, value: f64) -> Result<(), Error> {
        if !is_identifier(name) {
            return Err(ErrorKind::InvalidName(name.to_string()).into());
        }
        let sym = self.bindable(name, Span::default())?;
        self.bind(sym, Slot::Var(value));
        Ok(())
    }

    /// Defines (or defines again) the native function `name`: a Rust
    /// closure of 0 to 4 `f64` arguments that programs call by name in
    /// every tier, like a built-in, and that kernels take along. Programs
    /// and [`Engine::set_var`] cannot rebind the name; [`Engine::reset`]
    /// keeps it. A panic inside the closure becomes an error of the
    /// evaluation ([`ErrorKind::NativePanic`]).
    ///
    /// ```
    /// let mut engine = exprjit::Engine::new();
    /// engine.define_native("gauss", |x: f64| (-x * x).exp())?;
    /// engine.define_native("lerp2", |a: f64, b: f64| 0.5 * (a + b))?;
    /// assert_eq!(engine.eval("gauss(0) + lerp2(2, 4)")?, [4.0]);
    /// # Ok::<(), exprjit::Error>(())
    /// ```
    pub fn define_native<Args, F: NativeFn<Args>>(
        &mut self,
        name: &str,
        f: F,
    ) -> Result<(), Error> {
        if !is_identifier(name) {
            return Err(ErrorKind::InvalidName(name.to_string()).into());
        }
        if crate::builtins::is_builtin(name) {
            return Err(ErrorKind::BuiltinRedefined(name.to_string()).into());
        }
        let native = Arc::new(Native::new(name, f));
        let params: Vec<String> = (0..native.arity).map(|i| format!("${i}")).collect();
        let sym = self.ns.intern(name);
        let func = Function::new(
            name,
            params,
            Node::Native(native),
            Source::new("<native>", ""),
            Some(sym),
            false,
        )?;
        self.bind(sym, Slot::Func(func));
        Ok(())
    }

    /// Calls the user (or native) function `name` from Rust.
    pub fn call(&mut self, name: &str, args: &[f64]) -> Result<f64, Error> {
        crate::cpu::check()?;
        self.prepare()?;
        let epoch = self.stop.epoch();
        let Some(sym) = self.ns.lookup(name) else {
            return Err(ErrorKind::UnknownFunction(name.into()).into());
        };
        let f = runtime::resolve(&self.ns, sym, args.len())?.clone();
        self.invoke(&f, args, epoch)
    }

    /// Compiles `text`, an expression over the variables `vars`, into a
    /// handle that [`Engine::eval_handle`] evaluates with values for them.
    /// Names in `text` that are not variables are built-ins or globals,
    /// read when it is evaluated.
    pub fn compile_expr(&mut self, text: &str, vars: &[&str]) -> Result<ExprHandle, Error> {
        // Without it there is no handle, so no kernel either.
        crate::cpu::check()?;
        with_eval_stack(|| {
            let source = Source::new("<expr>", text);
            let expr = syntax::parse_expr(text).map_err(|e| e.in_source(&source))?;
            let mut seen = HashSet::with_capacity(vars.len());
            for v in vars {
                if !is_identifier(v) {
                    return Err(ErrorKind::InvalidName(v.to_string()).into());
                }
                if !seen.insert(*v) {
                    return Err(ErrorKind::DuplicateParameter(v.to_string()).into());
                }
            }
            let params: Vec<String> = vars.iter().map(|v| v.to_string()).collect();
            let body =
                lower::lower(&expr, &params, &mut self.ns).map_err(|e| e.in_source(&source))?;
            self.prepare()?;
            let func = Function::new("<expr>", params, body, source, None, true)?;
            Ok(ExprHandle {
                func,
                stamp: self.stamp,
            })
        })
    }

    /// Is `handle` this engine's, made since its last reset (the stamp
    /// then was the stamp now)?
    fn owns(&self, handle: &ExprHandle) -> Result<(), Error> {
        if handle.stamp == self.stamp {
            Ok(())
        } else {
            Err(ErrorKind::StaleHandle.into())
        }
    }

    /// Evaluates a compiled expression with one value per variable.
    ///
    /// Inlined into the caller so that the fast path of a hot pure handle
    /// is two compares, a length check and one indirect call; everything
    /// else is out of line.
    #[inline]
    pub fn eval_handle(&self, handle: &ExprHandle, values: &[f64]) -> Result<f64, Error> {
        if handle.stamp == self.stamp {
            if let Some(v) = jit::run_direct(&handle.func, values) {
                return Ok(v);
            }
        }
        self.eval_handle_slow(handle, values)
    }

    #[inline(never)]
    fn eval_handle_slow(&self, handle: &ExprHandle, values: &[f64]) -> Result<f64, Error> {
        self.owns(handle)?;
        if values.len() != handle.func.arity() {
            return Err(ErrorKind::Arity {
                name: "expression".into(),
                expected: handle.func.arity(),
                got: values.len(),
            }
            .into());
        }
        self.invoke(&handle.func, values, self.stop.epoch())
    }

    /// A [`Kernel`] of `handle`: the expression frozen with everything it
    /// can reach as it is now, compiled in this engine's mode, usable on
    /// any thread and after the engine is gone.
    pub fn kernel(&self, handle: &ExprHandle) -> Result<Kernel, Error> {
        self.owns(handle)?;
        let compile = self.options.mode != Mode::Interp && jit::available().is_ok();
        let start = std::time::Instant::now();
        let kernel = Kernel::new(&self.ns, &handle.func, compile, self.options.registers)?;
        if let (Some(jit), Some((addr, bytes))) = (&self.jit, kernel.placed()) {
            jit.event(JitEvent::KernelCompiled {
                function: handle.func.describe(),
                bytes,
                addr,
                batch_loop: kernel.has_batch_loop(),
                time: start.elapsed(),
            });
        }
        Ok(kernel)
    }

    /// The machine code of every user function (compiling those that are
    /// still interpreted), as `exprjit asm` prints it; `only` restricts it
    /// to one name. (With the `asm` feature, on by default.)
    #[cfg(feature = "asm")]
    pub fn asm_listing(&mut self, only: Option<&str>) -> Result<String, Error> {
        self.make_jit()?;
        let funcs: Vec<Arc<Function>> = self
            .ns
            .bindings()
            .filter(|(_, name, _)| only.is_none_or(|o| o == *name))
            .filter_map(|(_, _, slot)| match slot {
                Slot::Func(f) => Some(f.clone()),
                _ => None,
            })
            .collect();
        if let Some(name) = only {
            if funcs.is_empty() {
                return Err(ErrorKind::UnknownFunction(name.to_string()).into());
            }
        }
        let epoch = self.stop.epoch();
        let Some(jit) = &self.jit else {
            return Err(ErrorKind::Internal("no JIT".into()).into());
        };
        let rt = Runtime {
            ns: &self.ns,
            machine: Some(jit),
            interpret: interp::run,
            stop: &self.stop,
            epoch,
            hot_at: 1,
            pending: Default::default(),
        };
        let mut out = String::new();
        with_eval_stack(|| {
            for f in &funcs {
                let was_compiled = f.tier.entry() != 0;
                if let Err(why) = jit.ensure_compiled(&rt, f) {
                    out.push_str(&format!("{}: no machine code ({why})\n\n", f.describe()));
                    continue;
                }
                let info = jit.code_info(f);
                let (addr, bytes) = info.map_or((0, 0), |i| (i.addr, i.bytes));
                let how = if was_compiled {
                    let n = f.tier.calls();
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
        });
        Ok(out)
    }

    /// Statistics for every user and native function, in order of
    /// definition.
    pub fn function_stats(&self) -> Vec<FunctionStats> {
        self.ns
            .bindings()
            .filter_map(|(_, _, slot)| match slot {
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
        let code = self
            .jit
            .as_ref()
            .and_then(|j| j.code_info(f))
            .map(|c| CodeStats {
                addr: c.addr,
                bytes: c.bytes,
                compile_time: c.compile_time,
            });
        FunctionStats {
            name: f.name.clone(),
            params: f.params.clone(),
            native: f.native().is_some(),
            interpreted_calls: f.tier.calls(),
            stub_entries: f.tier.stub_entries(),
            code,
        }
    }

    /// What the JIT has done (compilations, patches, invalidations), most
    /// recent last (up to 4096); `--trace-jit` prints the same events.
    pub fn jit_events(&self) -> Vec<JitEvent> {
        self.jit.as_ref().map(|j| j.events()).unwrap_or_default()
    }

    /// The JIT's code memory and patches; `None` before it is made.
    pub fn jit_stats(&self) -> Option<JitStats> {
        self.jit.as_ref().map(|j| {
            let (live_bytes, used_bytes) = j.memory_use();
            JitStats {
                live_bytes,
                used_bytes,
                patches: j.patch_count(),
            }
        })
    }

    /// Every global variable with its value, in order of first mention.
    pub fn variables(&self) -> Vec<(String, f64)> {
        self.ns
            .bindings()
            .filter_map(|(_, n, s)| match s {
                Slot::Var(x) => Some((n.to_string(), *x)),
                _ => None,
            })
            .collect()
    }

    /// For tests and benchmarks of the JIT (see `internals`).
    pub(crate) fn parts(&self) -> (&Namespace, Option<&Jit>) {
        (&self.ns, self.jit.as_ref())
    }

    /// Drops the machine code of the function `name` (sending its patched
    /// call sites back to the stub) and compiles it again; returns the
    /// compile time. For benchmarks of code generation and linkage.
    pub(crate) fn recompile(&mut self, name: &str) -> Result<std::time::Duration, Error> {
        self.make_jit()?;
        let f = match self.ns.lookup(name).map(|s| self.ns.slot(s)) {
            Some(Slot::Func(f)) => f.clone(),
            _ => return Err(ErrorKind::UnknownFunction(name.into()).into()),
        };
        let Some(jit) = &self.jit else {
            return Err(ErrorKind::Internal("no JIT".into()).into());
        };
        jit.invalidate(&f);
        let rt = Runtime {
            ns: &self.ns,
            machine: Some(jit),
            interpret: interp::run,
            stop: &self.stop,
            epoch: self.stop.epoch(),
            hot_at: 1,
            pending: Default::default(),
        };
        jit.ensure_compiled(&rt, &f)
            .map_err(|why| Error::from(ErrorKind::CodeMemory(why)))?;
        Ok(jit
            .code_info(&f)
            .map(|c| c.compile_time)
            .unwrap_or_default())
    }
}

/// The largest program text an engine runs, in bytes: over ten times the
/// 10 MB the language promises, and about as much as reading it into a
/// syntax tree fits in memory on a common machine.
pub const MAX_SOURCE: usize = 64 << 20;

/// The error for a text over [`MAX_SOURCE`].
pub(crate) fn too_large() -> ErrorKind {
    ErrorKind::Input(format!(
        "program too large ({} MiB at most)",
        MAX_SOURCE >> 20
    ))
}

/// A number no engine has had as its stamp before.
fn new_stamp() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// `[A-Za-z_][A-Za-z0-9_]*`, the identifiers of the language.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_the_languages() {
        for ok in ["x", "_", "a1", "_B_2"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "1abc", "a b", "é", "x-y"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }
}
