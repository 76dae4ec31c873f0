//! The JIT: compiles lowered functions to x86-64, places them in code
//! memory, links their calls, and patches call sites as functions gain or
//! lose machine code.
//!
//! * [`memory`] owns executable memory (W^X) — the only `mmap`/`mprotect`.
//! * [`emit`] turns a [`Node`](crate::lower::Node) tree into bytes.
//! * [`entry`] is the Rust ↔ machine-code boundary: trampoline, stub, helpers.
//! * [`disasm`] shows placed code.
//!
//! # Call sites
//!
//! A call from one generated function to a user function is a `call rel32`.
//! It targets the callee's entry when the callee has machine code and is the
//! current binding of the name with the right arity; otherwise it targets
//! the shared stub, which enters the runtime (`Jit::call_through_stub`):
//! the runtime resolves the name (late binding), runs the callee in the
//! right tier, and — once the callee has machine code — rewrites the
//! `rel32` in place so later calls go straight there. Every site is
//! recorded (`State::call_sites`), and every site patched to a function is
//! listed under it, so that redefining the function points them all back
//! at the stub before its code is freed.

pub mod disasm;
pub mod emit;
pub mod entry;
pub mod memory;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::{Function, Runtime, Slot};
use crate::error::{Error, ErrorKind, Source, Span};
use crate::lower::Sym;
use emit::{EmitError, Helpers, SiteKind, Sites, STATUS_STACK};
use memory::CodeMemory;

/// A `call rel32` opcode.
const CALL_REL32: u8 = 0xE8;

/// The JIT of one engine. Its mutable state sits in a `RefCell` that is
/// borrowed only inside one method at a time, never while generated code
/// runs, because generated code re-enters the JIT through helpers.
pub struct Jit {
    state: RefCell<State>,
    /// The error a helper recorded for the current `enter` to return.
    pending: RefCell<Option<Error>>,
    trampoline: usize,
    stub: usize,
    helpers: Helpers,
    /// Registers the value stack may use (fewer only to test spilling).
    nregs: u8,
    trace: Cell<bool>,
    events: RefCell<std::collections::VecDeque<JitEvent>>,
}

impl std::fmt::Debug for Jit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jit").finish_non_exhaustive()
    }
}

/// One compiled function.
struct Code {
    addr: usize,
    len: usize,
    /// Offset of the constant pool (instructions end there).
    pool_at: usize,
    /// The direct entry of a pure function: its block.
    direct: Option<(usize, usize)>,
    func: Weak<Function>,
    /// `rel32` addresses of the calls this code makes.
    calls: Vec<usize>,
    /// Offsets of its inlined calls of itself, with their nesting.
    inlined: Vec<(usize, usize)>,
    /// Sites (error positions) this code refers to.
    sites: Vec<u32>,
    /// `rel32` addresses, in other code, patched to call this code.
    callers: Vec<usize>,
    compile_time: Duration,
}

/// A `call rel32` in generated code.
#[derive(Debug, Clone)]
struct CallSite {
    sym: Sym,
    argc: usize,
    site: u32,
    /// The function (id) it calls directly, or `None` for the stub.
    target: Option<u64>,
    /// The function (id) whose code contains it.
    owner: u64,
}

/// What a site means and where it is in the source.
struct Site {
    kind: SiteKind,
    span: Span,
    source: Arc<Source>,
}

struct State {
    mem: CodeMemory,
    sites: Vec<Option<Site>>,
    free_sites: Vec<u32>,
    /// Every call site, by the address of its `rel32`.
    call_sites: HashMap<usize, CallSite>,
    /// Call sites naming each global, for patching when it is compiled.
    by_sym: HashMap<Sym, Vec<usize>>,
    /// Compiled code by function id.
    code: HashMap<u64, Code>,
    /// Patches made so far (for statistics and tests).
    patches: u64,
}

/// Something the JIT did, as `--trace-jit` reports it (`[jit] ` + Display)
/// and the library exposes it (`Jit::events`).
#[derive(Debug, Clone, PartialEq)]
pub enum JitEvent {
    Compiled {
        function: String,
        calls: u64,
        bytes: usize,
        addr: usize,
        time: Duration,
    },
    Patched {
        site: usize,
        caller: String,
        callee: String,
    },
    Invalidated {
        function: String,
        sites: usize,
        bytes: usize,
    },
    /// A function could not be compiled and stays interpreted.
    Declined { function: String, why: String },
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
            JitEvent::Declined { function, why } => {
                write!(f, "{function} stays interpreted: {why}")
            }
        }
    }
}

/// How many events `Jit::events` keeps (the oldest are dropped).
const EVENT_LOG: usize = 4096;

/// Per-function JIT statistics (for the REPL and `bench`).
#[derive(Debug, Clone, PartialEq)]
pub struct CodeInfo {
    pub addr: usize,
    pub bytes: usize,
    pub compile_time: Duration,
}

impl Jit {
    /// Reserves code memory and places the runtime glue.
    pub fn new(trace: bool) -> Result<Jit, Error> {
        Jit::with_config(trace, emit::MAX_REGS, memory::REGION_SIZE)
    }

    /// Like `new`, but the value stack uses only `nregs` registers (tests
    /// use 2 so that every spilling path runs) and the code region has
    /// `code_memory` bytes (tests fill a small one).
    pub fn with_config(trace: bool, nregs: u8, code_memory: usize) -> Result<Jit, Error> {
        let mut mem = CodeMemory::with_size(code_memory)
            .map_err(|e| ErrorKind::Unsupported(format!("cannot reserve code memory: {e}")))?;
        let (glue, stub_offset) = entry::glue(entry::call_stub_handler());
        let base = mem
            .alloc(glue.len())
            .ok_or_else(|| ErrorKind::Unsupported("code memory too small".into()))?;
        mem.write(base, &glue)
            .map_err(|e| ErrorKind::Unsupported(format!("cannot write code memory: {e}")))?;
        Ok(Jit {
            state: RefCell::new(State {
                mem,
                sites: Vec::new(),
                free_sites: Vec::new(),
                call_sites: HashMap::new(),
                by_sym: HashMap::new(),
                code: HashMap::new(),
                patches: 0,
            }),
            pending: RefCell::new(None),
            trampoline: base,
            stub: base + stub_offset,
            helpers: entry::helpers(),
            nregs,
            trace: Cell::new(trace),
            events: RefCell::new(std::collections::VecDeque::new()),
        })
    }

    /// Turns `[jit]` lines on stderr on or off.
    pub fn set_trace(&self, on: bool) {
        self.trace.set(on);
    }

    fn event(&self, event: JitEvent) {
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

    /// The name of the function owning code id `id`.
    fn name_of(&self, id: u64) -> String {
        let state = self.state.borrow();
        state
            .code
            .get(&id)
            .and_then(|c| c.func.upgrade())
            .map_or_else(|| "?".to_string(), |f| describe(&f))
    }

    pub(crate) fn set_pending(&self, e: Error) {
        *self.pending.borrow_mut() = Some(e);
    }

    pub(crate) fn take_pending(&self) -> Option<Error> {
        self.pending.borrow_mut().take()
    }

    /// Runs machine code at `entry`; `budget` is how many more calls may
    /// nest, counting the one entered.
    pub(crate) fn enter(
        &self,
        rt: &Runtime<'_>,
        entry: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error> {
        entry::enter(rt, self.trampoline, entry, args, budget)
    }

    /// The machine code to run for a call of `f` now, compiling it first
    /// when the mode says it is time; `None` means interpret this call.
    /// This is the hot counter: inlined, because in tiered mode every
    /// interpreted call passes here. Kept out of line, a program too short
    /// to get hot ran 9% slower than in `--mode interp`; rustc stopped
    /// honouring a plain `#[inline]` once the interpreter grew (callgrind,
    /// `fib(20)` never hot: +4.6% over `--mode interp`; forced: +2.3%).
    #[inline(always)]
    pub(crate) fn entry_for(&self, rt: &Runtime<'_>, f: &Rc<Function>) -> Option<usize> {
        let entry = f.tier.entry.get();
        if entry != 0 {
            return Some(entry);
        }
        let calls = f.tier.calls.get() + 1;
        f.tier.calls.set(calls);
        if calls < rt.hot_at {
            return None;
        }
        self.promote(rt, f)
    }

    /// `f` is hot: compile it, unless that failed before.
    #[cold]
    fn promote(&self, rt: &Runtime<'_>, f: &Rc<Function>) -> Option<usize> {
        if f.tier.uncompilable.get() {
            return None;
        }
        match self.compile(rt, f) {
            Ok(addr) => Some(addr),
            Err(why) => {
                f.tier.uncompilable.set(true);
                self.event(JitEvent::Declined {
                    function: describe(f),
                    why,
                });
                None
            }
        }
    }

    /// Compiles `f` now unless it has machine code already (for `asm`).
    pub(crate) fn ensure_compiled(
        &self,
        rt: &Runtime<'_>,
        f: &Rc<Function>,
    ) -> Result<usize, String> {
        match f.tier.entry.get() {
            0 => self.compile(rt, f),
            entry => Ok(entry),
        }
    }

    /// A listing of `f`'s machine code: address, bytes, instruction, with
    /// every call named and patched call sites marked.
    pub fn listing(&self, f: &Function, name_of: &dyn Fn(Sym) -> String) -> Option<String> {
        let (addr, bytes) = self.code_bytes(f)?;
        let state = self.state.borrow();
        let pool_at = state.code.get(&f.id).map_or(bytes.len(), |c| c.pool_at);
        let natives = native_names(self);
        let inlined: HashMap<usize, usize> = state
            .code
            .get(&f.id)
            .map(|c| {
                c.inlined
                    .iter()
                    .map(|&(at, nest)| (addr + at, nest))
                    .collect()
            })
            .unwrap_or_default();
        let annotate = |ip: usize, len: usize| -> Option<String> {
            if let Some(nest) = inlined.get(&ip) {
                return Some(format!(
                    "inlined call of {}/{} (level {}): takes one from the call budget",
                    f.name,
                    f.arity(),
                    nest + 1
                ));
            }
            if len == 5 && bytes[ip - addr] == CALL_REL32 {
                let cs = state.call_sites.get(&(ip + 1))?;
                let callee = format!("{}/{}", name_of(cs.sym), cs.argc);
                return Some(match cs.target {
                    Some(_) => {
                        format!("call site of {callee}: patched, calls its machine code directly")
                    }
                    None => format!("call site of {callee}: through the runtime stub"),
                });
            }
            // mov rax, imm64 naming a built-in or runtime helper
            if len == 10 && bytes[ip - addr] == 0x48 && bytes[ip - addr + 1] == 0xB8 {
                let imm = u64::from_le_bytes(bytes[ip - addr + 2..ip - addr + 10].try_into().ok()?);
                return natives.get(&(imm as usize)).map(|n| n.to_string());
            }
            None
        };
        let mut text = disasm::listing(addr, &bytes[..pool_at], &annotate);
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

    /// Compiles `f`, places it, links its calls, and patches every call
    /// site that names it to call it directly.
    fn compile(&self, rt: &Runtime<'_>, f: &Rc<Function>) -> Result<usize, String> {
        let started = Instant::now();
        let mut state = self.state.borrow_mut();
        let mut registrar = Registrar {
            state: &mut state,
            source: &f.source,
            made: Vec::new(),
        };
        // Calls of f's own name reach f only while f is the name's binding.
        let self_sym = f
            .sym
            .filter(|&s| matches!(rt.ns.slot(s), Slot::Func(g) if Rc::ptr_eq(g, f)));
        let emitted = emit::function(
            &f.body,
            f.arity(),
            &self.helpers,
            &mut registrar,
            self.nregs,
            self_sym,
        );
        let made = registrar.made;
        let emitted = match emitted {
            Ok(e) => e,
            Err(e) => {
                state.release_sites(&made);
                return Err(match e {
                    EmitError::Limit(k) => k.to_string(),
                    EmitError::Assembler(s) => format!("assembler: {s}"),
                });
            }
        };
        let Some(addr) = state.mem.alloc(emitted.code.len()) else {
            state.release_sites(&made);
            return Err("the code region is full".into());
        };
        // Link: each call goes to its callee's entry when the callee is the
        // name's current binding with machine code (or is `f` itself), else
        // to the stub.
        let mut code = emitted.code;
        let mut linked = Vec::with_capacity(emitted.calls.len());
        for reloc in &emitted.calls {
            let rel32_at = addr + reloc.rel32_at;
            let (target, target_id) = match rt.ns.slot(reloc.sym) {
                Slot::Func(g) if g.arity() == reloc.argc && Rc::ptr_eq(g, f) => (addr, Some(g.id)),
                Slot::Func(g) if g.arity() == reloc.argc && g.tier.entry.get() != 0 => {
                    (g.tier.entry.get(), Some(g.id))
                }
                _ => (self.stub, None),
            };
            let Some(rel) = rel32(rel32_at, target) else {
                state.release_sites(&made);
                let _ = state.mem.free(addr, code.len());
                return Err("call out of rel32 range".into());
            };
            code[reloc.rel32_at..reloc.rel32_at + 4].copy_from_slice(&rel.to_le_bytes());
            let site = CallSite {
                sym: reloc.sym,
                argc: reloc.argc,
                site: reloc.site,
                target: target_id,
                owner: f.id,
            };
            linked.push((rel32_at, site));
        }
        if let Err(e) = state.mem.write(addr, &code) {
            state.release_sites(&made);
            return Err(format!("cannot write code memory: {e}"));
        }
        // Only placed code is on the books: a failure above leaves no
        // record pointing into a block that holds no code.
        let mut calls = Vec::with_capacity(linked.len());
        let mut direct = Vec::new();
        for (rel32_at, site) in linked {
            state.by_sym.entry(site.sym).or_default().push(rel32_at);
            if let Some(id) = site.target {
                direct.push((id, rel32_at));
            }
            state.call_sites.insert(rel32_at, site);
            calls.push(rel32_at);
        }
        state.code.insert(
            f.id,
            Code {
                addr,
                len: code.len(),
                pool_at: emitted.pool_at,
                direct: None,
                func: Rc::downgrade(f),
                calls,
                inlined: emitted.inlined,
                sites: made,
                callers: Vec::new(),
                compile_time: Duration::ZERO,
            },
        );
        for (id, rel32_at) in direct {
            if let Some(c) = state.code.get_mut(&id) {
                c.callers.push(rel32_at);
            }
        }
        f.tier.entry.set(addr);
        // A pure expression handle also gets a direct entry (its fast path).
        if f.tier.handle.get() && emit::is_pure(&f.body, &crate::stack::StackGuard::here()) {
            if let Ok(bytes) = emit::direct_function(&f.body, f.arity(), self.nregs) {
                if let Some(at) = state.mem.alloc(bytes.len()) {
                    if state.mem.write(at, &bytes).is_ok() {
                        if let Some(c) = state.code.get_mut(&f.id) {
                            c.direct = Some((at, bytes.len()));
                        }
                        f.tier.direct.set(at);
                    }
                }
            }
        }
        // Eager patching: sites in other code that name this function and
        // still go through the stub now call it directly.
        let mut patched = Vec::new();
        if let Some(sym) = f.sym {
            let bound_here = matches!(rt.ns.slot(sym), Slot::Func(g) if Rc::ptr_eq(g, f));
            if bound_here {
                let sites: Vec<usize> = state.by_sym.get(&sym).cloned().unwrap_or_default();
                for rel32_at in sites {
                    let cs = &state.call_sites[&rel32_at];
                    if cs.target.is_none() && cs.argc == f.arity() {
                        let owner = cs.owner;
                        // A site that fails its byte check stays on the
                        // stub, which still reaches this function.
                        if state.patch(rel32_at, self.stub, addr, f.id).is_ok() {
                            patched.push((rel32_at, owner));
                        }
                    }
                }
            }
        }
        let elapsed = started.elapsed();
        if let Some(c) = state.code.get_mut(&f.id) {
            c.compile_time = elapsed;
        }
        let len = code.len();
        drop(state);
        self.event(JitEvent::Compiled {
            function: describe(f),
            calls: f.tier.calls.get(),
            bytes: len,
            addr,
            time: elapsed,
        });
        for (site, owner) in patched {
            self.event(JitEvent::Patched {
                site,
                caller: self.name_of(owner),
                callee: describe(f),
            });
        }
        Ok(addr)
    }

    /// `f` is no longer the binding of its name: send every call site
    /// patched to it back to the stub and free its code. Called between
    /// statements, when no generated code is running.
    pub(crate) fn invalidate(&self, f: &Function) {
        let mut state = self.state.borrow_mut();
        let Some(code) = state.code.get(&f.id) else {
            return;
        };
        let (callers, addr) = (code.callers.clone(), code.addr);
        let mut unpatched = 0;
        for rel32_at in callers {
            if state.patch(rel32_at, addr, self.stub, u64::MAX).is_ok() {
                unpatched += 1;
            }
            if let Some(cs) = state.call_sites.get_mut(&rel32_at) {
                cs.target = None;
            }
        }
        let freed = state.free_code(f.id);
        f.tier.entry.set(0);
        f.tier.direct.set(0);
        drop(state);
        self.event(JitEvent::Invalidated {
            function: describe(f),
            sites: unpatched,
            bytes: freed,
        });
    }

    /// Frees the code of functions nothing refers to any more (expression
    /// statements after they ran, dropped expression handles). Called
    /// between statements, when no generated code is running.
    pub(crate) fn sweep(&self) {
        let mut state = self.state.borrow_mut();
        let dead: Vec<u64> = state
            .code
            .iter()
            .filter(|(_, c)| c.func.strong_count() == 0)
            .map(|(&id, _)| id)
            .collect();
        for id in dead {
            state.free_code(id);
        }
    }

    /// Reads the global variable named at `site` (late binding).
    pub(crate) fn read_global(&self, rt: &Runtime<'_>, site: u32) -> Result<f64, Error> {
        let state = self.state.borrow();
        let s = state.site(site)?;
        let SiteKind::Global(sym) = s.kind else {
            return Err(internal("site is not a global"));
        };
        let kind = match rt.ns.slot(sym) {
            Slot::Var(x) => return Ok(*x),
            Slot::Func(_) => ErrorKind::FunctionAsValue(rt.ns.name(sym).to_string()),
            Slot::Empty => ErrorKind::UndefinedVariable(rt.ns.name(sym).to_string()),
        };
        Err(Error::at(kind, s.span).in_source(&s.source))
    }

    /// The error a `Fail` site raises.
    pub(crate) fn site_error(&self, site: u32) -> Error {
        let state = self.state.borrow();
        match state.site(site) {
            Ok(Site {
                kind: SiteKind::Fail(kind),
                span,
                source,
            }) => Error::at(kind.clone(), *span).in_source(source),
            Ok(_) => internal("site is not a failure"),
            Err(e) => e,
        }
    }

    /// A call at `site` failed with `status`: give the error the call's
    /// position if it has none.
    pub(crate) fn call_failed(&self, site: u32, status: u32, stopped: bool) {
        let state = self.state.borrow();
        let Ok(s) = state.site(site) else { return };
        let mut pending = self.pending.borrow_mut();
        if status == STATUS_STACK {
            // Out of stack, out of budget, or stopped (see `Interrupter`).
            let kind = if stopped {
                ErrorKind::Interrupted
            } else {
                ErrorKind::RecursionTooDeep
            };
            *pending = Some(Error::at(kind, s.span).in_source(&s.source));
        } else if let Some(e) = pending.as_mut() {
            if e.span.is_none() {
                e.span = Some(s.span);
                e.source = Some(s.source.clone());
            }
        }
    }

    pub(crate) fn call_site_argc(&self, ret: usize) -> Result<usize, Error> {
        let state = self.state.borrow();
        state
            .call_sites
            .get(&(ret - 4))
            .map(|cs| cs.argc)
            .ok_or_else(|| internal("unknown call site"))
    }

    /// The body of the stub: resolve the callee of the call returning to
    /// `ret`, run it in the right tier, and patch the site once the callee
    /// has machine code.
    pub(crate) fn call_through_stub(
        &self,
        rt: &Runtime<'_>,
        ret: usize,
        args: &[f64],
        budget: u64,
    ) -> Result<f64, Error> {
        let rel32_at = ret - 4;
        let (sym, span, source) = {
            let state = self.state.borrow();
            let cs = state
                .call_sites
                .get(&rel32_at)
                .ok_or_else(|| internal("unknown call site"))?;
            let s = state.site(cs.site)?;
            (cs.sym, s.span, s.source.clone())
        };
        let at = |kind| Error::at(kind, span).in_source(&source);
        let f = match rt.ns.slot(sym) {
            Slot::Func(f) => f.clone(),
            Slot::Var(_) => return Err(at(ErrorKind::CallingVariable(rt.ns.name(sym).into()))),
            Slot::Empty => return Err(at(ErrorKind::UnknownFunction(rt.ns.name(sym).into()))),
        };
        if f.arity() != args.len() {
            return Err(at(ErrorKind::Arity {
                name: f.name.clone(),
                expected: f.arity(),
                got: args.len(),
            }));
        }
        // The call budget, as the callee's prologue would check it.
        if budget == 0 {
            return Err(at(ErrorKind::RecursionTooDeep));
        }
        rt.guard.check().map_err(at)?;
        f.tier.stub_entries.set(f.tier.stub_entries.get() + 1);
        let result = match self.entry_for(rt, &f) {
            Some(entry) => {
                let patched_in = {
                    let mut state = self.state.borrow_mut();
                    match state.call_sites.get(&rel32_at) {
                        Some(c) if c.target.is_none() => {
                            let owner = c.owner;
                            state
                                .patch(rel32_at, self.stub, entry, f.id)
                                .ok()
                                .map(|()| owner)
                        }
                        _ => None,
                    }
                };
                if let Some(owner) = patched_in {
                    self.event(JitEvent::Patched {
                        site: rel32_at,
                        caller: self.name_of(owner),
                        callee: describe(&f),
                    });
                }
                self.enter(rt, entry, args, budget)
            }
            None => {
                // Interpreted, this call is one more frame deep than its
                // machine-code caller.
                let depth = crate::engine::MAX_CALL_DEPTH - budget + 1;
                let saved = rt.depth.replace(depth);
                let result = rt.interpret(&f, args);
                rt.depth.set(saved);
                result
            }
        };
        result.map_err(|e| match e.span {
            None => at(e.kind),
            Some(_) => e,
        })
    }

    /// Machine code of `f`, if it has any.
    pub fn code_info(&self, f: &Function) -> Option<CodeInfo> {
        let state = self.state.borrow();
        state.code.get(&f.id).map(|c| CodeInfo {
            addr: c.addr,
            bytes: c.len,
            compile_time: c.compile_time,
        })
    }

    /// The bytes of `f`'s machine code.
    pub fn code_bytes(&self, f: &Function) -> Option<(usize, Vec<u8>)> {
        let state = self.state.borrow();
        let c = state.code.get(&f.id)?;
        Some((c.addr, state.mem.read(c.addr, c.len)))
    }

    /// Where the `call rel32` whose `rel32` is at `rel32_at` goes now:
    /// `Some(target address)` as read back from memory.
    pub fn call_target(&self, rel32_at: usize) -> Option<usize> {
        let state = self.state.borrow();
        let bytes = state.mem.read(rel32_at - 1, 5);
        if bytes[0] != CALL_REL32 {
            return None;
        }
        let rel = i32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        Some((rel32_at + 4).wrapping_add_signed(rel as isize))
    }

    /// The `rel32` addresses of the calls in `f`'s code, with the name each
    /// calls.
    pub fn call_sites_of(&self, f: &Function) -> Vec<(usize, Sym)> {
        let state = self.state.borrow();
        let Some(c) = state.code.get(&f.id) else {
            return Vec::new();
        };
        c.calls
            .iter()
            .filter_map(|a| state.call_sites.get(a).map(|cs| (*a, cs.sym)))
            .collect()
    }

    /// The stub every unlinked call site targets.
    pub fn stub_addr(&self) -> usize {
        self.stub
    }

    /// Total patches of call sites so far.
    pub fn patch_count(&self) -> u64 {
        self.state.borrow().patches
    }

    /// Bytes of live code and the region's high-water mark.
    pub fn memory_use(&self) -> (usize, usize) {
        let state = self.state.borrow();
        (state.mem.live_bytes(), state.mem.used_bytes())
    }

    /// The name of the function whose code starts at `addr`.
    pub fn function_at(&self, addr: usize) -> Option<String> {
        let state = self.state.borrow();
        state
            .code
            .values()
            .find(|c| c.addr == addr)
            .and_then(|c| c.func.upgrade())
            .map(|f| f.name.clone())
    }
}

/// Names of the native functions generated code may call, by address.
fn native_names(jit: &Jit) -> HashMap<usize, &'static str> {
    let mut names: HashMap<usize, &'static str> = HashMap::new();
    for b in crate::builtins::BUILTINS {
        match b.kind {
            crate::builtins::Kind::F1(f) => {
                names.entry(f as usize).or_insert(b.name);
            }
            crate::builtins::Kind::F2(f) => {
                names.entry(f as usize).or_insert(b.name);
            }
            crate::builtins::Kind::Const(_) => {}
        }
    }
    names.insert(
        crate::builtins::rem as *const () as usize,
        "fmod (the % operator)",
    );
    names.insert(
        crate::builtins::pow as *const () as usize,
        "pow (the ^ operator)",
    );
    names.insert(jit.helpers.global, "runtime: read a global variable");
    names.insert(jit.helpers.fail, "runtime: raise this site's error");
    names.insert(jit.helpers.call_failed, "runtime: a call failed");
    names
}

fn describe(f: &Function) -> String {
    format!("{}/{}", f.name, f.arity())
}

fn internal(what: &str) -> Error {
    ErrorKind::Unsupported(format!("internal error: {what}")).into()
}

/// `target - (rel32_at + 4)` as a `rel32`, if it fits.
fn rel32(rel32_at: usize, target: usize) -> Option<i32> {
    let next = i64::try_from(rel32_at + 4).ok()?;
    let target = i64::try_from(target).ok()?;
    i32::try_from(target - next).ok()
}

impl State {
    fn site(&self, id: u32) -> Result<&Site, Error> {
        self.sites
            .get(id as usize)
            .and_then(Option::as_ref)
            .ok_or_else(|| internal("unknown site"))
    }

    fn release_sites(&mut self, ids: &[u32]) {
        for &id in ids {
            self.sites[id as usize] = None;
            self.free_sites.push(id);
        }
    }

    /// Rewrites the `rel32` of the call at `rel32_at` from `expected` to
    /// `new`, after checking that the bytes there are that call, and
    /// records the site as calling `new_id` (`u64::MAX`: the stub).
    fn patch(
        &mut self,
        rel32_at: usize,
        expected: usize,
        new: usize,
        new_id: u64,
    ) -> Result<(), String> {
        let bytes = self.mem.read(rel32_at - 1, 5);
        let want = rel32(rel32_at, expected).ok_or("expected target out of range")?;
        let mut expect_bytes = vec![CALL_REL32];
        expect_bytes.extend_from_slice(&want.to_le_bytes());
        if bytes != expect_bytes {
            return Err(format!(
                "call site {rel32_at:#x} holds {bytes:02x?}, expected {expect_bytes:02x?}"
            ));
        }
        let rel = rel32(rel32_at, new).ok_or("call out of rel32 range")?;
        self.mem
            .write(rel32_at, &rel.to_le_bytes())
            .map_err(|e| format!("cannot patch: {e}"))?;
        self.patches += 1;
        if new_id != u64::MAX {
            if let Some(cs) = self.call_sites.get_mut(&rel32_at) {
                cs.target = Some(new_id);
            }
            if let Some(c) = self.code.get_mut(&new_id) {
                c.callers.push(rel32_at);
            }
        }
        Ok(())
    }

    /// Frees a function's code and everything recorded about it; returns
    /// the bytes freed.
    fn free_code(&mut self, id: u64) -> usize {
        let Some(code) = self.code.remove(&id) else {
            return 0;
        };
        for rel32_at in &code.calls {
            if let Some(cs) = self.call_sites.remove(rel32_at) {
                if let Some(v) = self.by_sym.get_mut(&cs.sym) {
                    v.retain(|a| a != rel32_at);
                }
                if let Some(t) = cs.target.and_then(|t| self.code.get_mut(&t)) {
                    t.callers.retain(|a| a != rel32_at);
                }
            }
        }
        self.release_sites(&code.sites);
        // Nothing calls it (its callers were unpatched or are being freed),
        // and no frame is in it (we run between statements). Its direct
        // entry goes with it; the function's `Tier` was reset by the caller
        // or the function is gone.
        let _ = self.mem.free(code.addr, code.len);
        if let Some((at, len)) = code.direct {
            let _ = self.mem.free(at, len);
        }
        code.len
    }
}

/// Registers the sites of one function being compiled.
struct Registrar<'a> {
    state: &'a mut State,
    source: &'a Arc<Source>,
    made: Vec<u32>,
}

impl Sites for Registrar<'_> {
    fn site(&mut self, kind: SiteKind, span: Span) -> u32 {
        let site = Site {
            kind,
            span,
            source: self.source.clone(),
        };
        let id = match self.state.free_sites.pop() {
            Some(id) => {
                self.state.sites[id as usize] = Some(site);
                id
            }
            None => {
                self.state.sites.push(Some(site));
                u32::try_from(self.state.sites.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.made.push(id);
        id
    }
}
