//! The JIT: compiles lowered functions to machine code, places them in
//! code memory, links their calls, and patches call sites as functions
//! gain or lose machine code.
//!
//! * [`memory`] owns executable memory (W^X) — the only `mmap`/`mprotect`
//!   of code.
//! * [`Isa`] is the seam to an instruction set: [`x64`] is the one there
//!   is (code generation, the trampoline and stub, runtime helpers,
//!   disassembly). Everything else here is independent of the target.
//! * [`Jit`] is an engine's JIT: tiering, linking and patching.
//! * [`kernel`] compiles a kernel's frozen program into one block.
//!
//! # Call sites
//!
//! A call from one generated function to a user function is a call
//! instruction (`call rel32` on x86-64). It targets the callee's entry
//! when the callee has machine code and is the current binding of the
//! name with the right arity; otherwise it targets the region's stub,
//! which enters the runtime ([`Machine::call_through_stub`]): the runtime
//! resolves the name (late binding), runs the callee in the right tier,
//! and — once the callee has machine code — rewrites the call in place so
//! later calls go straight there. Every site is on the books by its return
//! address, and every site patched to a function is listed under that
//! function's code, so that redefining the function points them all back
//! at the stub before its code can go.
//!
//! # Ownership
//!
//! A function owns its code ([`crate::runtime::Tier`]); a call site
//! patched to a function's code owns that code too, until it is pointed
//! back at the stub. So code is freed exactly when nothing can run it any
//! more: no sweep, and no address is ever checked for liveness.

pub(crate) mod kernel;
pub(crate) mod memory;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x64;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Source, Span};
use crate::lower::{Node, Sym};
use crate::runtime::{self, Function, Machine, Runtime, Slot};
use memory::{Block, Region};

// ---------------------------------------------------------------------------
// What code generation produces, for any instruction set.

/// What a site of generated code stands for, for the runtime.
#[derive(Debug, Clone)]
pub(crate) enum SiteKind {
    Global(Sym),
    Fail(ErrorKind),
    Call {
        sym: Sym,
        #[cfg_attr(not(feature = "asm"), allow(dead_code))]
        argc: usize,
    },
}

/// A place in generated code that the runtime may have to report: a
/// global read, a failure, a call. Generated code holds a pointer to it;
/// the code's owner keeps it for as long as the code.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub kind: SiteKind,
    pub span: Span,
    pub source: Arc<Source>,
}

impl Site {
    /// `kind`, raised here.
    pub fn error(&self, kind: ErrorKind) -> Error {
        Error::at(kind, self.span).in_source(&self.source)
    }
}

/// Where the code generator registers sites; returns the index the
/// generated code refers to until the linker writes the pointer.
pub(crate) trait Sites {
    fn site(&mut self, kind: SiteKind, span: Span) -> u32;
}

/// A call of another generated function, to be linked.
#[derive(Debug, Clone)]
pub(crate) struct CallReloc {
    /// Offset of the call instruction in the code.
    pub at: usize,
    pub sym: Sym,
    pub argc: usize,
    pub site: u32,
}

/// A compiled function before placement.
#[derive(Debug)]
pub(crate) struct Emitted {
    /// Instructions, then (from `pool_at`, 8-byte aligned) the constants.
    pub code: Vec<u8>,
    pub pool_at: usize,
    pub calls: Vec<CallReloc>,
    /// Offsets of 64-bit site pointers, with the site each holds.
    pub site_refs: Vec<(usize, u32)>,
    /// Inlined calls: offset of each one's charge, and how many inlined
    /// calls enclose it (0 for a copy made directly in the body).
    pub inlined: Vec<(usize, usize)>,
    /// Bytes of stack the function's frame takes.
    pub frame: usize,
}

/// Why code could not be generated.
#[derive(Debug)]
pub(crate) enum EmitError {
    Limit(ErrorKind),
    Assembler(String),
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::Limit(k) => write!(f, "{k}"),
            EmitError::Assembler(s) => write!(f, "assembler: {s}"),
        }
    }
}

/// Collects the sites of one function being compiled.
#[derive(Default)]
struct Registrar {
    kinds: Vec<(SiteKind, Span)>,
}

impl Sites for Registrar {
    fn site(&mut self, kind: SiteKind, span: Span) -> u32 {
        self.kinds.push((kind, span));
        u32::try_from(self.kinds.len() - 1).unwrap_or(u32::MAX)
    }
}

impl Registrar {
    fn into_sites(self, source: &Arc<Source>) -> Box<[Site]> {
        self.kinds
            .into_iter()
            .map(|(kind, span)| Site {
                kind,
                span,
                source: source.clone(),
            })
            .collect()
    }
}

/// Checks the invariant the stack budget rests on: a function's frame is
/// never larger than what a call of it is charged.
fn within_charge(emitted: &Emitted, f: &Function) -> Result<(), String> {
    if emitted.frame as u64 > f.cost {
        return Err(format!(
            "internal error: a frame of {} bytes for a charge of {}",
            emitted.frame, f.cost
        ));
    }
    Ok(())
}

/// Writes the address of each referenced site into `code`.
fn write_site_pointers(code: &mut [u8], refs: &[(usize, u32)], sites: &[Site]) -> Option<()> {
    for &(at, i) in refs {
        let site = sites.get(i as usize)? as *const Site as u64;
        code.get_mut(at..at + 8)?
            .copy_from_slice(&site.to_le_bytes());
    }
    Some(())
}

// ---------------------------------------------------------------------------
// The seam to an instruction set.

/// What the JIT needs from an instruction set. One implementation per
/// target, in its own folder (`x64/`); nothing outside `jit` knows which.
pub(crate) trait Isa {
    /// Most value registers the code generator can use
    /// ([`crate::Options::registers`] is clamped to 2..=this).
    const MAX_REGS: u8;
    /// Length of a call instruction (a call site's return address is its
    /// address plus this).
    const CALL_LEN: usize;

    /// Whether machine code can run on this processor.
    fn available() -> Result<(), ErrorKind>;
    /// The glue at the start of every region: the trampoline at offset 0,
    /// and the stub at the returned offset.
    fn glue() -> (Vec<u8>, usize);
    /// A function's code (see [`x64::emit::function`]).
    fn function(
        body: &Node,
        arity: usize,
        cost: u64,
        sites: &mut dyn Sites,
        nregs: u8,
        self_sym: Option<Sym>,
    ) -> Result<Emitted, EmitError>;
    /// A pure body as a function Rust calls directly, if it is pure and
    /// small enough.
    fn direct(body: &Node, arity: usize, nregs: u8) -> Result<Option<Vec<u8>>, EmitError>;
    /// The bytes of a call at `at` to `target`, if it is in range.
    fn call(at: usize, target: usize) -> Option<Vec<u8>>;
    /// Where the call instruction at `at`, whose bytes are `bytes`, goes.
    fn decode_call(at: usize, bytes: &[u8]) -> Option<usize>;
    /// Runs the function at `entry` through the trampoline.
    ///
    /// # Safety
    /// As [`x64::entry::enter`].
    unsafe fn enter(
        trampoline: usize,
        rt: &Runtime<'_>,
        entry: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error>;
    /// Calls a direct function.
    ///
    /// # Safety
    /// As [`x64::entry::call_direct`].
    unsafe fn call_direct(entry: usize, args: &[f64]) -> f64;
    /// Rows computed at once by batch code.
    const LANES: usize;
    /// A pure body as a loop over rows (see [`x64::vector`]), if it is pure
    /// and fits.
    fn batch(body: &Node, arity: usize) -> Result<Option<Vec<u8>>, EmitError>;
    /// Runs batch code over `out.len()` rows, a positive multiple of
    /// [`Isa::LANES`].
    ///
    /// # Safety
    /// As [`x64::entry::call_batch`].
    unsafe fn call_batch(entry: usize, columns: &[&[f64]], out: &mut [f64]);
    /// A listing of placed code: address, bytes, instruction, and a note
    /// from `annotate(ip, len)`.
    #[cfg(feature = "asm")]
    fn listing(
        addr: usize,
        bytes: &[u8],
        annotate: &dyn Fn(usize, usize) -> Option<String>,
    ) -> String;
    /// Names of the addresses generated code calls (built-ins, helpers).
    #[cfg(feature = "asm")]
    fn callee_names() -> HashMap<usize, String>;
}

#[cfg(target_arch = "x86_64")]
pub(crate) type Target = x64::X64;

/// No instruction set: every use of machine code is refused.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) type Target = NoIsa;

#[cfg(not(target_arch = "x86_64"))]
pub(crate) struct NoIsa;

#[cfg(not(target_arch = "x86_64"))]
impl Isa for NoIsa {
    const MAX_REGS: u8 = 2;
    const CALL_LEN: usize = 0;
    fn available() -> Result<(), ErrorKind> {
        Err(ErrorKind::NoJit(
            "machine code needs an x86-64 processor; use --mode interp".into(),
        ))
    }
    fn glue() -> (Vec<u8>, usize) {
        (Vec::new(), 0)
    }
    fn function(
        _: &Node,
        _: usize,
        _: u64,
        _: &mut dyn Sites,
        _: u8,
        _: Option<Sym>,
    ) -> Result<Emitted, EmitError> {
        Err(EmitError::Assembler("no instruction set".into()))
    }
    fn direct(_: &Node, _: usize, _: u8) -> Result<Option<Vec<u8>>, EmitError> {
        Ok(None)
    }
    fn call(_: usize, _: usize) -> Option<Vec<u8>> {
        None
    }
    fn decode_call(_: usize, _: &[u8]) -> Option<usize> {
        None
    }
    unsafe fn enter(_: usize, _: &Runtime<'_>, _: usize, _: &[f64], _: u64) -> Result<f64, Error> {
        Err(Self::available()
            .err()
            .unwrap_or(ErrorKind::Internal("no JIT".into()))
            .into())
    }
    unsafe fn call_direct(_: usize, _: &[f64]) -> f64 {
        f64::NAN
    }
    const LANES: usize = 1;
    fn batch(_: &Node, _: usize) -> Result<Option<Vec<u8>>, EmitError> {
        Ok(None)
    }
    unsafe fn call_batch(_: usize, _: &[&[f64]], _: &mut [f64]) {}
    #[cfg(feature = "asm")]
    fn listing(_: usize, _: &[u8], _: &dyn Fn(usize, usize) -> Option<String>) -> String {
        String::new()
    }
    #[cfg(feature = "asm")]
    fn callee_names() -> HashMap<usize, String> {
        HashMap::new()
    }
}

/// Whether this process can run machine code.
pub(crate) fn available() -> Result<(), ErrorKind> {
    Target::available()
}

/// The value of a pure expression handle `f` for `args` through its
/// direct entry, when it has one and `args` has one value per parameter.
#[inline]
pub(crate) fn run_direct(f: &Function, args: &[f64]) -> Option<f64> {
    let entry = f.tier.direct();
    if entry == 0 || args.len() != f.arity() {
        return None;
    }
    // SAFETY: a direct entry is set only while the tier holds the code it
    // points into (`Tier::attach` stores the owner first, `Tier::detach`
    // clears the entry first), and only the engine detaches code, through
    // `&mut Engine` or while no machine code runs — not during a call
    // reached through `&Engine`. It is the entry of `f`'s pure body, of
    // `f.arity()` parameters.
    Some(unsafe { Target::call_direct(entry, args) })
}

/// The value registers to use, given what the options ask for.
pub(crate) fn registers(asked: u8) -> u8 {
    asked.clamp(2, Target::MAX_REGS)
}

// ---------------------------------------------------------------------------
// An engine's JIT.

/// One function's placed machine code, owned by the function
/// ([`crate::runtime::Tier`]) and by every call site patched to it.
pub(crate) struct Code {
    block: Block,
    /// The direct entry of a pure expression handle: its own block.
    direct: Option<Block>,
    /// Offset of the constant pool (instructions end there).
    #[cfg_attr(not(feature = "asm"), allow(dead_code))]
    pool_at: usize,
    /// The sites generated code points to (kept for as long as the code,
    /// read back only by listings).
    #[cfg_attr(not(feature = "asm"), allow(dead_code))]
    sites: Box<[Site]>,
    /// Return addresses of the calls this code makes.
    calls: Vec<usize>,
    /// Offsets of its inlined calls of itself, with their nesting.
    #[cfg_attr(not(feature = "asm"), allow(dead_code))]
    inlined: Vec<(usize, usize)>,
    /// Return addresses of call sites, in other code, patched to this code.
    callers: Mutex<HashSet<usize>>,
    compile_time: Duration,
    /// The function's `name/arity`.
    name: String,
    books: Weak<Mutex<Books>>,
}

impl std::fmt::Debug for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<code of {} at {:#x}>", self.name, self.block.addr())
    }
}

impl Code {
    fn entry(&self) -> usize {
        self.block.addr()
    }

    fn callers(&self) -> MutexGuard<'_, HashSet<usize>> {
        self.callers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a call site goes now.
#[derive(Debug, Clone)]
enum SiteTarget {
    /// The region's stub (late binding through the runtime).
    Stub,
    /// The entry of the code it is in (a function calling itself).
    Own,
    /// Another function's code, which the site keeps alive.
    Code(Arc<Code>),
}

/// A call instruction in generated code.
#[derive(Debug, Clone)]
struct CallSite {
    sym: Sym,
    argc: usize,
    site: Site,
    target: SiteTarget,
    /// `name/arity` of the function whose code contains it.
    owner: String,
}

/// The JIT's books: every call site of live code, by return address.
#[derive(Debug, Default)]
struct Books {
    call_sites: HashMap<usize, CallSite>,
    /// Call sites naming each global, for patching when it is compiled.
    by_sym: HashMap<Sym, HashSet<usize>>,
    /// Patches made so far (for statistics and tests).
    patches: u64,
}

impl Drop for Code {
    fn drop(&mut self) {
        let Some(books) = self.books.upgrade() else {
            return;
        };
        // Take this code's calls off the books; the code they were
        // patched to is dropped after the lock is released (it may be the
        // last owner, and its own `drop` locks the books).
        let mut released = Vec::new();
        {
            let mut b = lock(&books);
            for ret in &self.calls {
                let Some(cs) = b.call_sites.remove(ret) else {
                    continue;
                };
                if let Some(set) = b.by_sym.get_mut(&cs.sym) {
                    set.remove(ret);
                    if set.is_empty() {
                        b.by_sym.remove(&cs.sym);
                    }
                }
                if let SiteTarget::Code(target) = cs.target {
                    target.callers().remove(ret);
                    released.push(target);
                }
            }
        }
        drop(released);
    }
}

fn lock(books: &Mutex<Books>) -> MutexGuard<'_, Books> {
    books.lock().unwrap_or_else(|e| e.into_inner())
}

/// Something the JIT did, as `--trace-jit` reports it (`[jit] ` + its
/// `Display`) and [`crate::Engine::jit_events`] returns it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum JitEvent {
    /// A function was compiled and placed.
    Compiled {
        /// `name/arity`.
        function: String,
        /// Interpreted calls before it was compiled.
        calls: u64,
        /// Bytes of machine code.
        bytes: usize,
        /// Where it was placed.
        addr: usize,
        /// How long compiling and placing took.
        time: Duration,
    },
    /// A call site was rewritten to call a function's code directly.
    Patched {
        /// The call site (the address of its call instruction).
        site: usize,
        /// `name/arity` of the function containing it.
        caller: String,
        /// `name/arity` of the function it now calls.
        callee: String,
    },
    /// A function's code was retired because its name was rebound.
    Invalidated {
        /// `name/arity`.
        function: String,
        /// Call sites pointed back at the stub.
        sites: usize,
        /// Bytes of machine code released.
        bytes: usize,
    },
    /// A kernel ([`crate::Engine::kernel`]) was compiled: its expression
    /// and everything it calls, in one block.
    KernelCompiled {
        /// `name/arity` of the expression.
        function: String,
        /// Bytes of machine code.
        bytes: usize,
        /// Where it was placed.
        addr: usize,
        /// Whether `eval_batch` runs a loop of machine code over the rows
        /// (four at a time) rather than one evaluation per row.
        batch_loop: bool,
        /// How long compiling and placing took.
        time: Duration,
    },
    /// A function could not be compiled and stays interpreted.
    Declined {
        /// `name/arity`.
        function: String,
        /// Why.
        why: String,
    },
}

impl std::fmt::Display for JitEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |n: u64| if n == 1 { "" } else { "s" };
        match self {
            JitEvent::Compiled {
                function,
                calls,
                bytes,
                addr,
                time,
            } => write!(
                f,
                "compiled {function} after {calls} call{}: {bytes} bytes at {addr:#x} in {:.1} µs",
                s(*calls),
                time.as_secs_f64() * 1e6
            ),
            JitEvent::Patched {
                site,
                caller,
                callee,
            } => write!(f, "patched call site {site:#x} in {caller} to call {callee} directly"),
            JitEvent::Invalidated {
                function,
                sites,
                bytes,
            } => write!(
                f,
                "invalidated {function}: {sites} call site{} sent back to the stub, {bytes} bytes freed",
                s(*sites as u64)
            ),
            JitEvent::KernelCompiled {
                function,
                bytes,
                addr,
                batch_loop,
                time,
            } => write!(
                f,
                "compiled a kernel of {function}: {bytes} bytes at {addr:#x} in {:.1} µs, {}",
                time.as_secs_f64() * 1e6,
                if *batch_loop {
                    "batches four rows at a time"
                } else {
                    "batches row by row"
                }
            ),
            JitEvent::Declined { function, why } => {
                write!(f, "{function} stays interpreted: {why}")
            }
        }
    }
}

/// How many events `Jit::events` keeps (the oldest are dropped).
const EVENT_LOG: usize = 4096;

/// Size, place and cost of a function's machine code.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CodeInfo {
    pub addr: usize,
    pub bytes: usize,
    pub compile_time: Duration,
}

/// The JIT of one engine. Used by one thread at a time (the engine is
/// not `Sync`), never while it is patching code that is running.
pub(crate) struct Jit {
    region: Arc<Region>,
    books: Arc<Mutex<Books>>,
    /// Registers the value stack may use (fewer only to test spilling).
    nregs: u8,
    trace: Cell<bool>,
    events: RefCell<VecDeque<JitEvent>>,
}

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit").finish_non_exhaustive()
    }
}

/// The `Arc<Code>` a function holds, if any.
fn code_of(f: &Function) -> Option<Arc<Code>> {
    f.tier
        .code()
        .and_then(|c| (c as Arc<dyn Any + Send + Sync>).downcast().ok())
}

impl Jit {
    /// Reserves `code_memory` bytes of code memory and places the glue;
    /// the value stack uses `nregs` registers (tests use 2 so that every
    /// spilling path runs).
    pub fn new(trace: bool, nregs: u8, code_memory: usize) -> Result<Jit, Error> {
        available()?;
        let region = Region::new(code_memory, false, |_| Target::glue())
            .map_err(|e| ErrorKind::CodeMemory(format!("cannot reserve code memory: {e}")))?;
        Ok(Jit {
            region,
            books: Arc::new(Mutex::new(Books::default())),
            nregs: registers(nregs),
            trace: Cell::new(trace),
            events: RefCell::new(VecDeque::new()),
        })
    }

    /// Turns `[jit]` lines on stderr on or off.
    pub fn set_trace(&self, on: bool) {
        self.trace.set(on);
    }

    pub(crate) fn event(&self, event: JitEvent) {
        if self.trace.get() {
            eprintln!("[jit] {event}");
        }
        let mut log = self.events.borrow_mut();
        if log.len() == EVENT_LOG {
            log.pop_front();
        }
        log.push_back(event);
    }

    /// The most recent events (up to 4096), oldest first.
    pub fn events(&self) -> Vec<JitEvent> {
        self.events.borrow().iter().cloned().collect()
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        lock(&self.books)
    }

    /// Compiles `f` now unless it has machine code already (for `asm`).
    pub fn ensure_compiled(&self, rt: &Runtime<'_>, f: &Arc<Function>) -> Result<usize, String> {
        match f.tier.entry() {
            0 => self.compile(rt, f),
            entry => Ok(entry),
        }
    }

    /// Rewrites the call whose return address is `ret` from calling
    /// `from` to calling `to`, after checking that the bytes there are
    /// that call.
    fn patch(&self, books: &mut Books, ret: usize, from: usize, to: usize) -> Result<(), String> {
        let at = ret - Target::CALL_LEN;
        let expect = Target::call(at, from).ok_or("expected target out of range")?;
        let new = Target::call(at, to).ok_or("call out of range")?;
        let bytes = self
            .region
            .read(at, Target::CALL_LEN)
            .ok_or("call site outside code memory")?;
        if bytes != expect {
            return Err(format!(
                "call site {at:#x} holds {bytes:02x?}, expected {expect:02x?}"
            ));
        }
        self.region
            .write(at, &new)
            .map_err(|e| format!("cannot patch: {e}"))?;
        books.patches += 1;
        Ok(())
    }

    /// Compiles `f`, places it, links its calls, and patches every call
    /// site that names it to call it directly.
    fn compile(&self, rt: &Runtime<'_>, f: &Arc<Function>) -> Result<usize, String> {
        let started = Instant::now();
        // Calls of f's own name reach f only while f is the name's binding.
        let bound_here = |sym: Sym| matches!(rt.ns.slot(sym), Slot::Func(g) if Arc::ptr_eq(g, f));
        let self_sym = f.sym.filter(|&s| bound_here(s));
        let mut registrar = Registrar::default();
        let emitted = Target::function(
            &f.body,
            f.arity(),
            f.cost,
            &mut registrar,
            self.nregs,
            self_sym,
        )
        .map_err(|e| e.to_string())?;
        within_charge(&emitted, f)?;
        let block = self
            .region
            .alloc(emitted.code.len())
            .ok_or("the code region is full")?;
        let addr = block.addr();
        let sites = registrar.into_sites(&f.source);
        let mut code = emitted.code;
        write_site_pointers(&mut code, &emitted.site_refs, &sites)
            .ok_or("a site reference outside the code")?;
        // Link: each call goes to its callee's entry when the callee is the
        // name's current binding with machine code (or is `f` itself), else
        // to the stub.
        let stub = self.region.glue().stub;
        let mut linked = Vec::with_capacity(emitted.calls.len());
        for reloc in &emitted.calls {
            let at = addr + reloc.at;
            let target = match runtime::resolve(rt.ns, reloc.sym, reloc.argc) {
                Ok(g) if Arc::ptr_eq(g, f) => SiteTarget::Own,
                Ok(g) => code_of(g).map_or(SiteTarget::Stub, SiteTarget::Code),
                Err(_) => SiteTarget::Stub,
            };
            let to = match &target {
                SiteTarget::Stub => stub,
                SiteTarget::Own => addr,
                SiteTarget::Code(c) => c.entry(),
            };
            let bytes = Target::call(at, to).ok_or("call out of range")?;
            code[reloc.at..reloc.at + bytes.len()].copy_from_slice(&bytes);
            let site = sites
                .get(reloc.site as usize)
                .cloned()
                .ok_or("a call without its site")?;
            linked.push((
                at + Target::CALL_LEN,
                CallSite {
                    sym: reloc.sym,
                    argc: reloc.argc,
                    site,
                    target,
                    owner: f.describe(),
                },
            ));
        }
        block
            .write(&code)
            .map_err(|e| format!("cannot write code memory: {e}"))?;
        // A pure expression handle also gets a direct entry (its fast path).
        let mut direct = None;
        if f.handle {
            if let Ok(Some(bytes)) = Target::direct(&f.body, f.arity(), self.nregs) {
                if let Some(b) = self.region.alloc(bytes.len()) {
                    if b.write(&bytes).is_ok() {
                        direct = Some(b);
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        let code = Arc::new(Code {
            block,
            direct,
            pool_at: emitted.pool_at,
            sites,
            calls: linked.iter().map(|(ret, _)| *ret).collect(),
            inlined: emitted.inlined,
            callers: Mutex::new(HashSet::new()),
            compile_time: elapsed,
            name: f.describe(),
            books: Arc::downgrade(&self.books),
        });
        // Only placed code is on the books.
        let mut patched = Vec::new();
        {
            let mut books = self.books();
            for (ret, site) in linked {
                if let SiteTarget::Code(target) = &site.target {
                    target.callers().insert(ret);
                }
                books.by_sym.entry(site.sym).or_default().insert(ret);
                books.call_sites.insert(ret, site);
            }
            // Eager patching: sites in other code that name this function
            // and still go through the stub now call it directly.
            if let Some(sym) = f.sym.filter(|&s| bound_here(s)) {
                let rets: Vec<usize> = books
                    .by_sym
                    .get(&sym)
                    .map(|s| s.iter().copied().collect())
                    .unwrap_or_default();
                for ret in rets {
                    let Some(cs) = books.call_sites.get(&ret) else {
                        continue;
                    };
                    if !matches!(cs.target, SiteTarget::Stub) || cs.argc != f.arity() {
                        continue;
                    }
                    let owner = cs.owner.clone();
                    // A site that fails its byte check stays on the
                    // stub, which still reaches this function.
                    if self.patch(&mut books, ret, stub, addr).is_ok() {
                        if let Some(cs) = books.call_sites.get_mut(&ret) {
                            cs.target = SiteTarget::Code(code.clone());
                        }
                        code.callers().insert(ret);
                        patched.push((ret - Target::CALL_LEN, owner));
                    }
                }
            }
        }
        let direct_addr = code.direct.as_ref().map_or(0, Block::addr);
        let len = code.block.len();
        f.tier.attach(code, addr, direct_addr);
        self.event(JitEvent::Compiled {
            function: f.describe(),
            calls: f.tier.calls(),
            bytes: len,
            addr,
            time: elapsed,
        });
        for (site, caller) in patched {
            self.event(JitEvent::Patched {
                site,
                caller,
                callee: f.describe(),
            });
        }
        Ok(addr)
    }

    /// `f` is no longer the binding of its name (or is being dropped with
    /// the engine): send every call site patched to it back to the stub
    /// and let its code go. Called between statements, when no generated
    /// code is running.
    pub fn invalidate(&self, f: &Function) {
        let Some(owner) = f.tier.detach() else {
            return;
        };
        let Ok(code) = (owner as Arc<dyn Any + Send + Sync>).downcast::<Code>() else {
            return;
        };
        let stub = self.region.glue().stub;
        let mut released = Vec::new();
        let mut unpatched = 0;
        {
            let mut books = self.books();
            let callers: Vec<usize> = code.callers().drain().collect();
            for ret in callers {
                if self.patch(&mut books, ret, code.entry(), stub).is_ok() {
                    unpatched += 1;
                }
                if let Some(cs) = books.call_sites.get_mut(&ret) {
                    released.push(std::mem::replace(&mut cs.target, SiteTarget::Stub));
                }
            }
        }
        let bytes = code.block.len();
        drop(released);
        drop(code);
        self.event(JitEvent::Invalidated {
            function: f.describe(),
            sites: unpatched,
            bytes,
        });
    }

    /// Machine code of `f`, if it has any.
    pub fn code_info(&self, f: &Function) -> Option<CodeInfo> {
        code_of(f).map(|c| CodeInfo {
            addr: c.block.addr(),
            bytes: c.block.len(),
            compile_time: c.compile_time,
        })
    }

    /// The bytes of `f`'s machine code.
    pub fn code_bytes(&self, f: &Function) -> Option<Vec<u8>> {
        let code = code_of(f)?;
        self.region.read(code.block.addr(), code.block.len())
    }

    /// Total patches of call sites so far.
    pub fn patch_count(&self) -> u64 {
        self.books().patches
    }

    /// Bytes of live code and the region's high-water mark.
    pub fn memory_use(&self) -> (usize, usize) {
        (self.region.live_bytes(), self.region.used_bytes())
    }

    /// The stub every unlinked call site targets.
    pub fn stub_addr(&self) -> usize {
        self.region.glue().stub
    }

    /// The call sites in `f`'s code: the address of each call
    /// instruction, the name it calls, and where it goes now (read back
    /// from memory).
    pub fn call_sites_of(&self, f: &Function) -> Vec<(usize, Sym, Option<usize>)> {
        let Some(code) = code_of(f) else {
            return Vec::new();
        };
        let books = self.books();
        code.calls
            .iter()
            .filter_map(|ret| {
                let cs = books.call_sites.get(ret)?;
                let at = ret - Target::CALL_LEN;
                Some((at, cs.sym, self.call_target(at)))
            })
            .collect()
    }

    /// Where the call instruction at `at` goes now, read from memory.
    pub fn call_target(&self, at: usize) -> Option<usize> {
        let bytes = self.region.read(at, Target::CALL_LEN)?;
        Target::decode_call(at, &bytes)
    }

    /// A listing of `f`'s machine code: address, bytes, instruction, with
    /// every call named and patched call sites marked.
    #[cfg(feature = "asm")]
    pub fn listing(&self, f: &Function, name_of: &dyn Fn(Sym) -> String) -> Option<String> {
        let code = code_of(f)?;
        let addr = code.block.addr();
        let bytes = self.region.read(addr, code.block.len())?;
        let pool_at = code.pool_at.min(bytes.len());
        let books = self.books();
        let mut names = Target::callee_names();
        for site in code.sites.iter() {
            let what = match &site.kind {
                SiteKind::Global(sym) => format!("site: read global {}", name_of(*sym)),
                SiteKind::Fail(kind) => format!("site: {kind}"),
                SiteKind::Call { sym, argc } => format!("site: call of {}/{argc}", name_of(*sym)),
            };
            names.insert(site as *const Site as usize, what);
        }
        let inlined: HashMap<usize, usize> = code
            .inlined
            .iter()
            .map(|&(at, nest)| (addr + at, nest))
            .collect();
        let annotate = |ip: usize, len: usize| -> Option<String> {
            if let Some(nest) = inlined.get(&ip) {
                return Some(format!(
                    "inlined call of {} (level {}): charged like a call",
                    f.describe(),
                    nest + 1
                ));
            }
            if len == Target::CALL_LEN {
                if let Some(cs) = books.call_sites.get(&(ip + len)) {
                    let callee = format!("{}/{}", name_of(cs.sym), cs.argc);
                    return Some(match cs.target {
                        SiteTarget::Stub => {
                            format!("call site of {callee}: through the runtime stub")
                        }
                        _ => format!(
                            "call site of {callee}: patched, calls its machine code directly"
                        ),
                    });
                }
            }
            // An instruction with a 64-bit immediate naming a built-in, a
            // runtime helper or a site.
            let at = ip - addr;
            let imm = bytes.get(at + len - 8..at + len)?;
            let imm = u64::from_le_bytes(imm.try_into().ok()?) as usize;
            names.get(&imm).cloned()
        };
        let mut text = Target::listing(addr, &bytes[..pool_at], &annotate);
        // The constant pool: data, not instructions.
        for (i, chunk) in bytes[pool_at..].chunks_exact(8).enumerate() {
            let raw = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
            let at = addr + pool_at + 8 * i;
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02X}")).collect();
            text.push_str(&format!(
                "{at:016X}  {:<30} .f64    {}  ; constant\n",
                hex.join(" "),
                crate::number::format(f64::from_bits(raw))
            ));
        }
        Some(text)
    }
}

impl Machine for Jit {
    fn promote(&self, rt: &Runtime<'_>, f: &Arc<Function>) -> Option<usize> {
        if f.tier.uncompilable() {
            return None;
        }
        match self.compile(rt, f) {
            Ok(addr) => Some(addr),
            Err(why) => {
                f.tier.set_uncompilable();
                self.event(JitEvent::Declined {
                    function: f.describe(),
                    why,
                });
                None
            }
        }
    }

    fn enter(
        &self,
        rt: &Runtime<'_>,
        entry: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error> {
        let trampoline = self.region.glue().trampoline;
        // SAFETY: `trampoline` is this JIT's region's glue, and the region
        // lives as long as the JIT. `entry` comes from the `Tier` of a
        // function of this engine (the only code the engine's runtime
        // runs), which holds the code it points into; no function is
        // rebound while machine code runs.
        unsafe { Target::enter(trampoline, rt, entry, args, budget) }
    }

    fn stub_argc(&self, ret: usize) -> Result<usize, Error> {
        self.books()
            .call_sites
            .get(&ret)
            .map(|cs| cs.argc)
            .ok_or_else(|| ErrorKind::Internal("unknown call site".into()).into())
    }

    fn call_through_stub(
        &self,
        rt: &Runtime<'_>,
        ret: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error> {
        let (sym, site) = {
            let books = self.books();
            let cs = books
                .call_sites
                .get(&ret)
                .ok_or_else(|| Error::from(ErrorKind::Internal("unknown call site".into())))?;
            (cs.sym, cs.site.clone())
        };
        let f = runtime::resolve(rt.ns, sym, args.len()).map_err(|k| site.error(k))?;
        if rt.stopped() {
            return Err(site.error(ErrorKind::Interrupted));
        }
        // Calls between tiers cross Rust frames: the budget charged for
        // them should keep the stack from ever running out; if it did,
        // this is where it would show, as an error.
        crate::stack::StackGuard::here()
            .check()
            .map_err(|k| site.error(k))?;
        f.tier.count_stub_entry();
        let result = match rt.entry_for(f) {
            Some(entry) => {
                self.link_site(ret, f, entry);
                self.enter(rt, entry, args, budget)
            }
            None => (rt.interpret)(rt, f, args, budget),
        };
        result.map_err(|e| match e.span {
            None => site.error(e.kind),
            Some(_) => e,
        })
    }
}

impl Jit {
    /// Patches the stub call returning to `ret` to call `f`'s code at
    /// `entry` (when `f` holds that code and the site still goes through
    /// the stub).
    fn link_site(&self, ret: usize, f: &Function, entry: usize) {
        let Some(code) = code_of(f).filter(|c| c.entry() == entry) else {
            return;
        };
        let mut books = self.books();
        let owner = match books.call_sites.get(&ret) {
            Some(cs) if matches!(cs.target, SiteTarget::Stub) => cs.owner.clone(),
            _ => return,
        };
        if self
            .patch(&mut books, ret, self.region.glue().stub, entry)
            .is_err()
        {
            return;
        }
        if let Some(cs) = books.call_sites.get_mut(&ret) {
            cs.target = SiteTarget::Code(code.clone());
        }
        code.callers().insert(ret);
        drop(books);
        self.event(JitEvent::Patched {
            site: ret - Target::CALL_LEN,
            caller: owner,
            callee: f.describe(),
        });
    }
}
