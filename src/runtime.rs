//! What both tiers share while a program runs: the namespace, functions
//! and their tier state, and the [`Runtime`] of one evaluation.
//!
//! This layer sits between lowering and the tiers: the interpreter and
//! the JIT both depend on it, and on nothing of each other. The one call
//! path lives here ([`resolve`] a callee, [`Runtime::entry_for`] to pick
//! its tier, [`Runtime::call`] to run it); the interpreter reaches machine
//! code through the [`Machine`] trait, and machine code reaches the
//! interpreter through [`Runtime::interpret`], both wired by the engine.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::analysis;
use crate::error::{Error, ErrorKind, Source};
use crate::lower::{Globals, Node, Sym};
use crate::native::Native;
use crate::stack::StackGuard;

/// The parameters a function may have (docs/language.md §4).
pub(crate) const MAX_PARAMS: usize = 64;

/// A user function, a native function, an expression handle or an
/// expression statement (a function of no arguments).
#[derive(Debug)]
pub(crate) struct Function {
    pub name: String,
    pub params: Vec<String>,
    pub body: Node,
    /// The text the body's spans point into.
    pub source: Arc<Source>,
    /// The global it was defined as, if any.
    pub sym: Option<Sym>,
    /// Unique in the process; names the function in events and listings.
    pub id: u64,
    /// What a call of it is charged of the stack budget
    /// ([`analysis::cost`]).
    pub cost: u64,
    /// An expression handle, which wants a direct entry (see
    /// [`Tier::direct`]).
    pub handle: bool,
    pub tier: Tier,
}

impl Drop for Function {
    fn drop(&mut self) {
        // Bodies can be 10,000 levels deep and functions are dropped on
        // whatever thread lets go of them last.
        crate::lower::dismantle(&mut self.body);
    }
}

impl Function {
    /// A function of `params` with `body`, charged by its shape.
    pub fn new(
        name: impl Into<String>,
        params: Vec<String>,
        body: Node,
        source: Arc<Source>,
        sym: Option<Sym>,
        handle: bool,
    ) -> Result<Arc<Function>, Error> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let shape = analysis::shape(&body, &StackGuard::here())?;
        Ok(Arc::new(Function {
            name: name.into(),
            params,
            body,
            source,
            sym,
            id: NEXT_ID.fetch_add(1, Relaxed),
            cost: analysis::cost(shape),
            handle,
            tier: Tier::default(),
        }))
    }

    pub fn arity(&self) -> usize {
        self.params.len()
    }

    /// The native function this is the body of, if it is one.
    pub fn native(&self) -> Option<&Arc<Native>> {
        match &self.body {
            Node::Native(n) => Some(n),
            _ => None,
        }
    }

    /// `name/arity`, as events and listings show it.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.name, self.arity())
    }
}

/// Machine code kept alive by a function (the JIT's own type).
pub(crate) type CodeOwner = Arc<dyn Any + Send + Sync>;

/// How a function is running: its hot counter and its machine code.
///
/// A function owns its machine code ([`Tier::attach`]): the entries are
/// set only while the code they point into is held here, so code stays
/// mapped as long as anything that can run it exists. Kernel functions
/// are the exception that proves the rule: their entries point into the
/// kernel's one block of code, and they are reachable only through the
/// kernel, which owns it.
#[derive(Debug, Default)]
pub(crate) struct Tier {
    /// Calls counted while it had no machine code.
    calls: AtomicU64,
    /// Entry of its machine code, 0 while it has none.
    entry: AtomicUsize,
    /// For pure expression handles: an entry Rust may call directly
    /// (`extern "sysv64" fn(*const f64) -> f64`), 0 when none.
    direct: AtomicUsize,
    /// Calls that reached it through the runtime stub.
    stub_entries: AtomicU64,
    /// Compilation failed; it stays interpreted.
    uncompilable: AtomicBool,
    code: Mutex<Option<CodeOwnerDebug>>,
}

/// A [`CodeOwner`] that `Tier` can derive `Debug` with.
struct CodeOwnerDebug(CodeOwner);

impl std::fmt::Debug for CodeOwnerDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<machine code>")
    }
}

impl Tier {
    #[inline(always)]
    pub fn entry(&self) -> usize {
        self.entry.load(Relaxed)
    }

    #[inline(always)]
    pub fn direct(&self) -> usize {
        self.direct.load(Relaxed)
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }

    pub fn stub_entries(&self) -> u64 {
        self.stub_entries.load(Relaxed)
    }

    pub fn count_stub_entry(&self) {
        self.stub_entries.store(self.stub_entries() + 1, Relaxed);
    }

    pub fn uncompilable(&self) -> bool {
        self.uncompilable.load(Relaxed)
    }

    pub fn set_uncompilable(&self) {
        self.uncompilable.store(true, Relaxed);
    }

    /// One more call without machine code; returns the count. (Only the
    /// engine's thread counts: kernels never do.)
    #[inline(always)]
    fn count_call(&self) -> u64 {
        let n = self.calls.load(Relaxed) + 1;
        self.calls.store(n, Relaxed);
        n
    }

    /// The machine code this function holds, if any.
    pub fn code(&self) -> Option<CodeOwner> {
        self.lock().as_ref().map(|c| c.0.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<CodeOwnerDebug>> {
        self.code.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives the function machine code: `entry` (and `direct`, or 0) point
    /// into `owner`, which the function keeps until [`Tier::detach`].
    pub fn attach(&self, owner: CodeOwner, entry: usize, direct: usize) {
        *self.lock() = Some(CodeOwnerDebug(owner));
        self.direct.store(direct, Relaxed);
        self.entry.store(entry, Relaxed);
    }

    /// Takes the machine code away (the entries first, so nothing enters
    /// it again), and returns it for the caller to drop.
    pub fn detach(&self) -> Option<CodeOwner> {
        self.entry.store(0, Relaxed);
        self.direct.store(0, Relaxed);
        self.lock().take().map(|c| c.0)
    }

    /// Sets the entry of a kernel function: code the kernel owns (see the
    /// type's docs).
    pub fn set_kernel_entry(&self, entry: usize) {
        self.entry.store(entry, Relaxed);
    }
}

/// What a global name is bound to right now.
#[derive(Debug, Clone, Default)]
pub(crate) enum Slot {
    #[default]
    Empty,
    Var(f64),
    Func(Arc<Function>),
}

/// Global names and their current bindings, indexed by [`Sym`] so that a
/// lookup at run time is an array index, never a hash.
#[derive(Debug, Default, Clone)]
pub(crate) struct Namespace {
    /// foldhash: names are short, and SipHash was the larger part of an
    /// `Engine::call`; still seeded per process, so hostile names cannot
    /// be chosen to collide.
    index: HashMap<String, Sym, foldhash::fast::RandomState>,
    names: Vec<String>,
    slots: Vec<Slot>,
}

impl Namespace {
    #[inline]
    pub fn slot(&self, sym: Sym) -> &Slot {
        self.slots.get(sym.0 as usize).unwrap_or(&Slot::Empty)
    }

    pub fn name(&self, sym: Sym) -> &str {
        self.names.get(sym.0 as usize).map_or("?", |n| n.as_str())
    }

    pub fn lookup(&self, name: &str) -> Option<Sym> {
        self.index.get(name).copied()
    }

    /// Binds `sym`; returns what it was bound to.
    pub fn bind(&mut self, sym: Sym, slot: Slot) -> Slot {
        match self.slots.get_mut(sym.0 as usize) {
            Some(s) => std::mem::replace(s, slot),
            None => Slot::Empty,
        }
    }

    /// Every bound name with its binding, in order of first mention.
    pub fn bindings(&self) -> impl Iterator<Item = (Sym, &str, &Slot)> {
        self.names
            .iter()
            .zip(&self.slots)
            .enumerate()
            .filter(|(_, (_, s))| !matches!(s, Slot::Empty))
            .map(|(i, (n, s))| (Sym(i as u32), n.as_str(), s))
    }
}

impl Globals for Namespace {
    fn intern(&mut self, name: &str) -> Sym {
        if let Some(&sym) = self.index.get(name) {
            return sym;
        }
        // Lowering refuses programs with 2^32 names long before (10 MB of
        // source cannot name that many), so this never saturates.
        let sym = Sym(u32::try_from(self.names.len()).unwrap_or(u32::MAX));
        self.index.insert(name.to_string(), sym);
        self.names.push(name.to_string());
        self.slots.push(Slot::Empty);
        sym
    }
}

/// The callee of a call of `sym` with `argc` arguments, or the error the
/// call raises: the one place that resolves a call, for every tier.
#[inline]
pub(crate) fn resolve(ns: &Namespace, sym: Sym, argc: usize) -> Result<&Arc<Function>, ErrorKind> {
    match ns.slot(sym) {
        Slot::Func(f) if f.arity() == argc => Ok(f),
        Slot::Func(f) => Err(ErrorKind::Arity {
            name: f.name.clone(),
            expected: f.arity(),
            got: argc,
        }),
        Slot::Var(_) => Err(ErrorKind::CallingVariable(ns.name(sym).to_string())),
        Slot::Empty => Err(ErrorKind::UnknownFunction(ns.name(sym).to_string())),
    }
}

/// The value of the global `sym`, or the error reading it raises.
#[inline]
pub(crate) fn global(ns: &Namespace, sym: Sym) -> Result<f64, ErrorKind> {
    match ns.slot(sym) {
        Slot::Var(x) => Ok(*x),
        Slot::Func(_) => Err(ErrorKind::FunctionAsValue(ns.name(sym).to_string())),
        Slot::Empty => Err(ErrorKind::UndefinedVariable(ns.name(sym).to_string())),
    }
}

/// `budget - cost`, or `None` when a call costing `cost` does not fit.
#[inline(always)]
pub(crate) fn charge(budget: u64, cost: u64) -> Option<u64> {
    budget.checked_sub(cost)
}

/// Stops evaluations from another thread. An evaluation notes the epoch
/// when it starts; [`Interrupter::stop`] moves it on, and every running
/// evaluation that sees it moved fails with [`ErrorKind::Interrupted`].
///
/// Made by [`crate::Engine::interrupter`] and [`crate::Kernel::interrupter`];
/// it may be cloned and sent to any thread (a Ctrl-C handler, a watchdog).
#[derive(Debug, Clone, Default)]
pub struct Interrupter(pub(crate) Arc<StopState>);

/// The shared state behind an [`Interrupter`]. An evaluation notes the
/// epoch when it starts and watches that epoch's flag (machine code in
/// every function prologue, through the runtime context). A stop sets the
/// current epoch's flag and moves on to the next epoch, whose flag it
/// clears first; flags are reused every [`EPOCHS`] stops.
///
/// A flag is a word that is 0, or [`STOPPED`] once set, so machine code
/// tests it as `cmp rsp, [flag] ; jb stop`: no stack pointer is below 0,
/// and every one is below `usize::MAX`.
#[derive(Debug)]
pub(crate) struct StopState {
    epoch: AtomicU64,
    flags: [AtomicUsize; EPOCHS],
}

/// A set stop flag.
pub(crate) const STOPPED: usize = usize::MAX;

/// Stop flags kept: an evaluation that sees this many stops go by has
/// seen the first one.
const EPOCHS: usize = 64;

impl Default for StopState {
    fn default() -> Self {
        StopState {
            epoch: AtomicU64::new(0),
            flags: std::array::from_fn(|_| AtomicUsize::new(0)),
        }
    }
}

impl StopState {
    /// The epoch an evaluation starting now belongs to.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Relaxed)
    }

    /// The flag of `epoch`, set once a stop arrives during it.
    pub fn flag(&self, epoch: u64) -> &AtomicUsize {
        &self.flags[(epoch % EPOCHS as u64) as usize]
    }

    fn stop(&self) {
        let e = self.epoch();
        self.flag(e + 1).store(0, Relaxed);
        self.epoch.store(e + 1, Relaxed);
        self.flag(e).store(STOPPED, Relaxed);
    }
}

impl Interrupter {
    /// Makes the evaluations running now (on any thread) fail with
    /// `interrupted` at their next check: every user-function call in
    /// every tier, and regularly in long interpreted expressions and batch
    /// loops. Evaluations started afterwards run normally.
    pub fn stop(&self) {
        self.0.stop();
    }
}

/// Machine code, as the runtime sees it: the engine's JIT or a kernel's
/// frozen code. Implemented by the JIT.
pub(crate) trait Machine {
    /// `f` has been called often enough to compile: its entry, or `None`
    /// to keep interpreting it.
    fn promote(&self, rt: &Runtime<'_>, f: &Arc<Function>) -> Option<usize>;

    /// Runs machine code at `entry` (a function's, with `args`): the
    /// function's prologue charges its cost from `budget`.
    fn enter(
        &self,
        rt: &Runtime<'_>,
        entry: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error>;

    /// How many arguments the call site whose return address is `ret`
    /// passes (the stub needs it to read them).
    fn stub_argc(&self, ret: usize) -> Result<usize, Error>;

    /// A call site without a direct target (the one whose return address
    /// is `ret`) was reached with `args`: resolve it, run the callee, and
    /// link the site if it can be.
    fn call_through_stub(
        &self,
        rt: &Runtime<'_>,
        ret: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error>;
}

/// Runs a function's body in the interpreter: `interp::run`, wired in by
/// whoever builds the runtime (the JIT cannot name the interpreter).
pub(crate) type Interpret = fn(&Runtime<'_>, &Arc<Function>, &[f64], u64) -> Result<f64, Error>;

/// Everything one evaluation needs. Made on the thread that evaluates, for
/// the duration of the evaluation, and shared (`&Runtime`) by the
/// interpreter, the JIT's helpers and every nested call in either tier.
pub(crate) struct Runtime<'a> {
    pub ns: &'a Namespace,
    pub machine: Option<&'a dyn Machine>,
    pub interpret: Interpret,
    pub stop: &'a StopState,
    /// The stop epoch when the evaluation started.
    pub epoch: u64,
    /// The call count at which a function is compiled: 1 in jit mode,
    /// the threshold in tiered mode, never ([`u64::MAX`]) otherwise.
    pub hot_at: u64,
    /// The error a runtime helper recorded for machine code to return.
    pub pending: RefCell<Option<Error>>,
}

impl Runtime<'_> {
    /// Has an [`Interrupter`] stopped this evaluation?
    #[inline]
    pub fn stopped(&self) -> bool {
        self.stop.flag(self.epoch).load(Relaxed) == STOPPED
    }

    /// The machine code to run for a call of `f` now, compiling it first
    /// when the mode says it is time; `None` means interpret this call.
    /// This is the hot counter: inlined, because in tiered mode every
    /// interpreted call passes here.
    #[inline(always)]
    pub fn entry_for(&self, f: &Arc<Function>) -> Option<usize> {
        let entry = f.tier.entry();
        if entry != 0 {
            return Some(entry);
        }
        if self.hot_at == u64::MAX {
            return None;
        }
        if f.tier.count_call() < self.hot_at {
            return None;
        }
        self.promote(f)
    }

    #[cold]
    fn promote(&self, f: &Arc<Function>) -> Option<usize> {
        self.machine?.promote(self, f)
    }

    /// Calls `f` with `args` in the tier it runs in now, with `budget`
    /// bytes of stack budget left (it is charged `f.cost` from it).
    pub fn call(&self, f: &Arc<Function>, args: &[f64], budget: u64) -> Result<f64, Error> {
        if let (Some(entry), Some(machine)) = (self.entry_for(f), self.machine) {
            return machine.enter(self, entry, args, budget);
        }
        (self.interpret)(self, f, args, budget)
    }

    pub fn set_pending(&self, e: Error) {
        *self.pending.borrow_mut() = Some(e);
    }

    pub fn take_pending(&self) -> Option<Error> {
        self.pending.borrow_mut().take()
    }
}
