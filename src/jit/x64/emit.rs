//! Code generation: lowered [`Node`]s to x86-64 machine code (SSE2 only).
//!
//! The output is position independent except for two kinds of
//! relocation the JIT's linker fills in: the `call rel32`s to other
//! generated code (or to the stub), and the 64-bit pointers to the sites
//! (what an error or a global read refers to) that runtime helpers get.
//!
//! # Registers and ABI (named once, here)
//!
//! | register      | role                                                  |
//! |---------------|-------------------------------------------------------|
//! | `r12`         | `CTX`: the runtime context (`entry::Ctx`)             |
//! | `r13`         | `BUDGET`: bytes of stack budget left (see below)      |
//! | `xmm0..xmm13` | values: the value at depth `d` lives in `xmm<d>`;     |
//! |               | in a body that calls nothing, the top ones hold its   |
//! |               | parameters instead (`Emitter::pin_params`)            |
//! | `xmm14/15`    | `S1`/`S2`: scratch                                    |
//! | `rax`         | scratch; the status of a failed call                  |
//! | `CF`          | set on return when the call failed                    |
//! | `rdi..rcx`    | arguments of runtime helpers (sysv64)                 |
//!
//! Generated functions use exprjit's own convention: the caller stores the
//! arguments at `[rsp]`, `[rsp+8]`, … and executes `call`; the callee
//! returns the value in `xmm0` with `CF` clear, or fails with `CF` set and
//! a status in `eax` (1: an error is recorded in the runtime; 2: out of
//! stack budget, or stopped), and preserves `r12`, `rbx`, `rbp`, `rsp`,
//! and — when it succeeds — `r13`. So a call site is `call rel32 ; jc
//! failed`. There is no frame pointer: a prologue is one `sub rsp, FRAME`
//! (a frame pointer cost `fib` three instructions a call); the epilogue
//! ends with `add r13, COST`, which cannot carry, so `CF` is clear.
//!
//! Every function's prologue charges its cost ([`crate::analysis::cost`])
//! to `BUDGET` and fails when it does not fit: the interpreter charges the
//! same costs to the same budget, so unbounded recursion stops at the same
//! call, with the same error position, in every tier — inlined calls
//! included (`SelfInline`). A frame never exceeds its charge and machine
//! code is always entered with a full evaluation stack, so the budget runs
//! out before the stack can: there is no stack check. The prologue also
//! reads the evaluation's stop flag, so an [`crate::Interrupter`] stops any
//! recursion. Runtime helpers and built-ins are plain `extern "sysv64"`
//! functions, which preserve `r12` and `r13` too and clobber every `xmm`.
//!
//! # Frame
//!
//! ```text
//!   [rsp + FRAME + 8 + 8*i]  argument i
//!   [rsp + FRAME]            return address
//!   [rsp + 8*OUT + 8*d]      home of depth d (spill slot)
//!   ...
//!   [rsp + 8*j]              outgoing argument j
//! ```
//!
//! A frame is never larger than [`analysis::frame_words`] of the body's
//! shape, which is within what a call of it is charged.
//!
//! # Register assignment
//!
//! Expressions are compiled as a stack of pending values whose depth is
//! known at compile time: an operand evaluated at depth `d` goes to
//! `xmm<d>` (or its home when `d >= nregs`), so registers are assigned by
//! depth as in Sethi–Ullman numbering, and when the right operand needs a
//! call but the left one cannot fail, the right one is computed first so no
//! value has to live across the call.
//!
//! Every `xmm` is caller-saved, so a call spills the live depths to their
//! homes. Spilling is lazy: a spilled value stays in its home and is read
//! from there in place until control flow merges, where every path is
//! brought back to the state it split from (`Emitter::sync`); a home, once
//! written, is not written again while its value lives (values never
//! change), and a value that the following code will have to spill is
//! stored before any branch in that code, so that both arms agree it is
//! home. (Each of these steps, measured, is in docs/performance.md.)

// dynasm expands a dynamic register `Rx(n)` to `n.into()`, which clippy
// flags when `n` is already the register type.
#![allow(clippy::useless_conversion)]

use std::collections::HashMap;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};

use crate::analysis::{self, is_leaf, Flags, SelfInline};
use crate::builtins::Builtin;
use crate::error::{ErrorKind, Span};
use crate::jit::{CallReloc, EmitError, Emitted, SiteKind, Sites};
use crate::lower::{Arith, Cmp, Link, Node, Sym};
use crate::stack::StackGuard;

/// Byte offset in the runtime context (`entry::Ctx`) of the pointer to
/// the evaluation's stop flag.
pub(crate) const CTX_STOP: i32 = 0;

/// Status in `eax` after a generated function returns.
pub(crate) const STATUS_OK: u32 = 0;
pub(crate) const STATUS_ERROR: u32 = 1;
pub(crate) const STATUS_STACK: u32 = 2;

/// Most registers the value stack uses (`xmm0..xmm13`).
pub(crate) const MAX_REGS: u8 = 14;
const S1: u8 = 14;
const S2: u8 = 15;

const SIGN_BIT: i64 = i64::MIN;
const ONE_BITS: i64 = 0x3FF0_0000_0000_0000;

/// A direct function (see [`direct_function`]) is made only when its
/// frame is at most this large, so that Rust may call it on any thread
/// without switching stacks, like any function of its own.
pub(crate) const DIRECT_FRAME_MAX: usize = 4096;

/// Addresses of the runtime helpers generated code calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Helpers {
    /// `fn(ctx, site) -> RtResult`: reads a global variable.
    pub global: usize,
    /// `fn(ctx, site) -> RtResult`: raises the site's error.
    pub fail: usize,
    /// `fn(ctx, site, status) -> u64`: a call failed; give the error the
    /// call's position if it has none. Returns `STATUS_ERROR`.
    pub call_failed: usize,
    /// `fn(ctx, native, args) -> RtResult`: calls a native function.
    pub native: usize,
}

/// Compiles a function body with `arity` parameters, charged `cost` per
/// call.
///
/// `self_sym` is the global the function is bound to, when the body's
/// calls of that name reach this very function (it is the name's current
/// definition): such calls are inlined a few levels deep (see
/// `SelfInline`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn function(
    body: &Node,
    arity: usize,
    cost: u64,
    helpers: &Helpers,
    sites: &mut dyn Sites,
    nregs: u8,
    self_sym: Option<Sym>,
) -> Result<Emitted, EmitError> {
    let guard = StackGuard::here();
    let (inline, depth) = match self_sym {
        Some(sym) => SelfInline::plan(sym, body, arity, cost, &guard)?,
        None => (None, analysis::need(body, &guard, None, 0)?),
    };
    let outgoing = analysis::max_outgoing(body, &guard)?;
    // No frame pointer: everything is addressed from rsp. The call pushed
    // 8 bytes onto a 16-aligned stack, so FRAME ≡ 8 (mod 16) re-aligns it.
    let frame_bytes = (8 * (depth + 1) + 8 * outgoing).next_multiple_of(16) + 8;
    debug_assert!(
        frame_bytes + 8 <= 8 * analysis::frame_words(depth, outgoing),
        "a frame within its charge"
    );
    let frame = small(frame_bytes)?;
    let homes_at = small(8 * outgoing)?;
    let charge = i32::try_from(cost).map_err(|_| EmitError::Limit(ErrorKind::NestingTooDeep(0)))?;
    let mut e = Emitter::new(body, arity, *helpers, sites, nregs, guard, frame, homes_at)?;
    e.inline = inline;
    e.charge = charge;
    let stack_out = e.ops.new_dynamic_label();
    let fail_out = e.ops.new_dynamic_label();
    e.stack_out = Some(stack_out);
    e.fail_out = Some(fail_out);

    // Prologue:
    //   sub rsp, FRAME
    //   mov rax, [r12 + CTX_STOP] ; cmp rsp, [rax] ; jb stack_out  -- stopped
    //   sub r13, COST ; jb stack_out                               -- out of budget
    // (The flag is 0, or usize::MAX once set: rsp is below it only then.)
    // Every long computation is a recursion, so a check at every real
    // call stops any of them; inlined calls are at most four levels from
    // a real one. No stack check: the frame is within the charge, and
    // machine code starts with a full evaluation stack (`entry::enter`).
    dynasm!(e.ops
        ; .arch x64
        ; sub rsp, frame
        ; mov rax, [r12 + CTX_STOP]
        ; cmp rsp, [rax]
        ; jb =>stack_out
        ; sub r13, charge
        ; jb =>stack_out
    );
    // A leaf body's parameters used more than once go to registers:
    //   movsd xmm<r>, [rsp + FRAME + 8 + 8i]
    e.pin_params(body, 2)?;
    for (i, r) in e.param_regs.clone().into_iter().enumerate() {
        if let Some(r) = r {
            let disp = frame + 8 + 8 * i as i32;
            dynasm!(e.ops ; .arch x64 ; movsd Rx(r), [rsp + disp]);
        }
    }
    e.expr(body, 0)?;
    e.load(0, 0);
    // Epilogue: add rsp, FRAME ; add r13, COST ; ret
    // (the budget was taken without borrowing, so giving it back cannot
    // carry: CF=0 says "ok"). Failures set CF after the last `add`:
    //   stack_out: mov eax, STATUS_STACK ; add rsp, FRAME ; stc ; ret
    //   fail_out:  add rsp, FRAME ; stc ; ret  (a helper left eax)
    // (stack_out is also reached after the budget was taken: the caller
    // fails as a whole, and whoever catches the failure restores r13.)
    dynasm!(e.ops
        ; .arch x64
        ; add rsp, frame
        ; add r13, charge
        ; ret
        ; =>stack_out
        ; mov eax, STATUS_STACK as i32
        ; add rsp, frame
        ; stc
        ; ret

        ; =>fail_out
        ; add rsp, frame
        ; stc
        ; ret
    );
    // Out-of-line paths of failed calls:
    //   mov rdi, r12 ; mov rsi, SITE ; mov edx, eax ; call call_failed ;
    //   add rsp, FRAME ; stc ; ret
    // An inlined call out of budget sets the status its callee's prologue
    // would have returned first: mov eax, STATUS_STACK
    for (label, site, status) in std::mem::take(&mut e.failed_calls) {
        let helper = e.helpers.call_failed as i64;
        dynasm!(e.ops ; .arch x64 ; =>label);
        if let Some(status) = status {
            dynasm!(e.ops ; .arch x64 ; mov eax, status as i32);
        }
        dynasm!(e.ops ; .arch x64 ; mov rdi, r12);
        e.site_pointer(site);
        dynasm!(e.ops
            ; .arch x64
            ; mov edx, eax
            ; mov rax, QWORD helper
            ; call rax
            ; add rsp, frame
            ; stc
            ; ret
        );
    }
    let pool_at = e.place_pool();
    let calls = std::mem::take(&mut e.calls);
    let inlined = std::mem::take(&mut e.inlined_at);
    let site_refs = std::mem::take(&mut e.site_refs);
    let code = e
        .ops
        .finalize()
        .map_err(|err| EmitError::Assembler(err.to_string()))?;
    Ok(Emitted {
        code,
        pool_at,
        calls,
        site_refs,
        inlined,
        frame: frame_bytes,
    })
}

struct Emitter<'a> {
    ops: VecAssembler<X64Relocation>,
    helpers: Helpers,
    sites: &'a mut dyn Sites,
    calls: Vec<CallReloc>,
    nregs: u8,
    arity: usize,
    guard: StackGuard,
    /// Out-of-line paths of calls that failed: label, site, and the status
    /// to report when `eax` does not hold it already.
    failed_calls: Vec<(DynamicLabel, u32, Option<u32>)>,
    /// Self-recursive calls to inline, and how deep.
    inline: Option<SelfInline<'a>>,
    /// The inlined calls enclosing the code being emitted, innermost
    /// last: the depth of each one's first argument. An inlined body's
    /// parameters are its call's arguments, left at their depths.
    inlined: Vec<usize>,
    /// Where each inlined call starts, and its nesting (for listings).
    inlined_at: Vec<(usize, usize)>,
    stack_out: Option<DynamicLabel>,
    fail_out: Option<DynamicLabel>,
    flags: HashMap<*const Node, Flags>,
    /// Constants used so far, by bits, with the label of their pool slot,
    /// in the order they are placed (`pool_index` finds them: a chain may
    /// hold 100,000 distinct constants).
    pool: Vec<(u64, DynamicLabel)>,
    pool_index: HashMap<u64, DynamicLabel>,
    /// Bytes the prologue reserves below the return address.
    frame: i32,
    /// Offset from rsp of home 0 (above the outgoing arguments).
    homes_at: i32,
    /// Compiling a direct function: arguments come through `rbx`.
    direct: bool,
    /// The function's charge, taken and given back by inlined calls too.
    charge: i32,
    /// Offsets of the 64-bit site pointers in the code, with their site.
    site_refs: Vec<(usize, u32)>,
    /// Parameter `i` lives in `xmm<param_regs[i]>` for the whole body, if
    /// given one (see [`Emitter::pin_params`]).
    param_regs: Vec<Option<u8>>,
    /// Depths below this one (and below `nregs`) are in their homes, not
    /// in their registers: a call spilled them and nothing needed them in
    /// a register since.
    spilled: usize,
    /// `homed[i]`: the home of depth `i` holds its current value (it was
    /// spilled since it was computed), so spilling it again is free.
    /// Values never change while they live, so a reload keeps this true.
    homed: Vec<bool>,
    /// Set for the root of an inlined body: the depths from here up to the
    /// body's are its parameters, dead once it is done.
    dead_from: Option<usize>,
}

/// Where a value lives.
#[derive(Clone, Copy, PartialEq)]
enum Loc {
    Reg(u8),
    /// `[rsp + disp]`: a home (spill slot) or a parameter.
    Home(i32),
    /// `[rip + pool slot]`: a constant.
    Const(DynamicLabel),
    /// `[rbx + disp]`: an argument of a direct function (see
    /// [`direct_function`]), read through the pointer it was given.
    Arg(i32),
}

/// A frame size or offset as an `i32` displacement.
fn small(bytes: usize) -> Result<i32, EmitError> {
    i32::try_from(bytes).map_err(|_| EmitError::Limit(ErrorKind::NestingTooDeep(0)))
}

impl From<ErrorKind> for EmitError {
    fn from(k: ErrorKind) -> EmitError {
        EmitError::Limit(k)
    }
}

impl<'a> Emitter<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        body: &Node,
        arity: usize,
        helpers: Helpers,
        sites: &'a mut dyn Sites,
        nregs: u8,
        guard: StackGuard,
        frame: i32,
        homes_at: i32,
    ) -> Result<Emitter<'a>, EmitError> {
        let mut node_flags = HashMap::new();
        analysis::flags(body, &mut node_flags, &guard)?;
        Ok(Emitter {
            ops: VecAssembler::new(0),
            helpers,
            sites,
            calls: Vec::new(),
            nregs: nregs.clamp(2, MAX_REGS),
            param_regs: Vec::new(),
            arity,
            guard,
            failed_calls: Vec::new(),
            inline: None,
            inlined: Vec::new(),
            inlined_at: Vec::new(),
            spilled: 0,
            homed: Vec::new(),
            dead_from: None,
            stack_out: None,
            fail_out: None,
            flags: node_flags,
            pool: Vec::new(),
            pool_index: HashMap::new(),
            frame,
            homes_at,
            direct: false,
            charge: 0,
            site_refs: Vec::new(),
        })
    }

    /// `mov rsi, SITE`: the site's pointer, written by the linker (the
    /// index until then).
    fn site_pointer(&mut self, site: u32) {
        dynasm!(self.ops ; .arch x64 ; mov rsi, QWORD i64::from(site));
        self.site_refs.push((self.ops.offset().0 - 8, site));
    }

    /// The constant pool, after the code: 8-byte aligned `f64`s that
    /// instructions read with `[rip + disp32]`. Returns where it starts.
    fn place_pool(&mut self) -> usize {
        if !self.pool.is_empty() {
            dynasm!(self.ops ; .arch x64 ; .align 8, 0xCC);
        }
        let at = self.ops.offset().0;
        for (bits, label) in std::mem::take(&mut self.pool) {
            dynasm!(self.ops ; .arch x64 ; =>label ; .u64 bits);
        }
        at
    }

    /// A body that calls nothing clobbers no register, so its parameters
    /// can live in registers for the whole body, loaded once by the
    /// prologue, instead of being read from memory at every use. Gives
    /// each parameter used at least `min_uses` times one of the top
    /// registers (the value stack keeps the ones below, at least two).
    /// Returns whether the body is a leaf whose every used parameter got
    /// one: a body that calls something is never a leaf, even if it reads
    /// no parameter, since its spills need a frame. (Measured on the
    /// polynomial handle: docs/performance.md, "Code generation".)
    fn pin_params(&mut self, body: &Node, min_uses: usize) -> Result<bool, EmitError> {
        let calls = self.flag(body).is_some_and(|f| f.calls);
        let mut uses = vec![0usize; self.arity];
        analysis::param_uses(body, &mut uses, &self.guard)?;
        if calls {
            // Not a leaf, whatever it reads: a call needs a frame.
            return Ok(false);
        }
        let mut regs = vec![None; self.arity];
        let mut top = self.nregs;
        for (reg, &n) in regs.iter_mut().zip(&uses) {
            if n >= min_uses && top > 2 {
                top -= 1;
                *reg = Some(top);
            }
        }
        let all = uses.iter().zip(&regs).all(|(&n, r)| n == 0 || r.is_some());
        self.nregs = top;
        self.param_regs = regs;
        Ok(all)
    }

    /// `[rsp + home(d)]`: the spill slot of depth `d`.
    fn home(&self, d: usize) -> i32 {
        self.homes_at + 8 * d as i32
    }

    /// Where argument `i` is: above the return address, or — in a direct
    /// function — at `[rbx + 8i]`.
    fn param(&self, i: u32) -> Loc {
        if let Some(&base) = self.inlined.last() {
            self.loc(base + i as usize)
        } else if let Some(&Some(r)) = self.param_regs.get(i as usize) {
            Loc::Reg(r)
        } else if self.direct {
            Loc::Arg(8 * i as i32)
        } else {
            Loc::Home(self.frame + 8 + 8 * i as i32)
        }
    }

    fn loc(&self, d: usize) -> Loc {
        if d < self.nregs as usize && d >= self.spilled {
            Loc::Reg(d as u8)
        } else {
            Loc::Home(self.home(d))
        }
    }

    fn check(&self) -> Result<(), EmitError> {
        Ok(self.guard.check()?)
    }

    /// `xmm<x> = value at depth d`
    fn load(&mut self, x: u8, d: usize) {
        match self.loc(d) {
            Loc::Reg(r) if r == x => {}
            Loc::Reg(r) => dynasm!(self.ops ; .arch x64 ; movapd Rx(x), Rx(r)),
            src => self.load_from(x, src),
        }
    }

    /// `movsd xmm<x>, [memory]`
    fn load_from(&mut self, x: u8, src: Loc) {
        match src {
            Loc::Reg(r) => dynasm!(self.ops ; .arch x64 ; movapd Rx(x), Rx(r)),
            Loc::Home(disp) => dynasm!(self.ops ; .arch x64 ; movsd Rx(x), [rsp + disp]),
            Loc::Const(l) => dynasm!(self.ops ; .arch x64 ; movsd Rx(x), [=>l]),
            Loc::Arg(disp) => dynasm!(self.ops ; .arch x64 ; movsd Rx(x), [rbx + disp]),
        }
    }

    /// A leaf operand used in place, without a register: a constant from
    /// the pool or a parameter from the frame. Neither can fail, so using
    /// it late changes no error order.
    fn leaf(&mut self, node: &Node) -> Option<Loc> {
        match node {
            Node::Num(x) => Some(Loc::Const(self.pooled(x.to_bits()))),
            Node::Param(i) => Some(self.param(*i)),
            _ => None,
        }
    }

    /// The pool slot holding `bits`.
    fn pooled(&mut self, bits: u64) -> DynamicLabel {
        if let Some(&l) = self.pool_index.get(&bits) {
            return l;
        }
        let l = self.ops.new_dynamic_label();
        self.pool.push((bits, l));
        self.pool_index.insert(bits, l);
        l
    }

    /// `value at depth d = xmm<x>`. Every depth above `d` is dead by now,
    /// so `d` lives in its register again even if it had been spilled.
    fn store(&mut self, d: usize, x: u8) {
        self.spilled = self.spilled.min(d);
        self.homed.truncate(d);
        match self.loc(d) {
            Loc::Reg(r) if r == x => {}
            Loc::Reg(r) => dynasm!(self.ops ; .arch x64 ; movapd Rx(r), Rx(x)),
            Loc::Home(disp) => dynasm!(self.ops ; .arch x64 ; movsd [rsp + disp], Rx(x)),
            Loc::Const(_) | Loc::Arg(_) => unreachable!("depths live in registers or homes"),
        }
    }

    /// The register holding depth `d`, loading it into `scratch` if it is
    /// in memory.
    fn reg(&mut self, d: usize, scratch: u8) -> u8 {
        match self.loc(d) {
            Loc::Reg(r) => r,
            Loc::Home(_) | Loc::Const(_) | Loc::Arg(_) => {
                self.load(scratch, d);
                scratch
            }
        }
    }

    /// A register to compute depth `d` into (its own, or a scratch one that
    /// `store(d, _)` then writes home).
    fn target(&self, d: usize, scratch: u8) -> u8 {
        match self.loc(d) {
            Loc::Reg(r) => r,
            Loc::Home(_) | Loc::Const(_) | Loc::Arg(_) => scratch,
        }
    }

    /// `xmm<x> = bits` — `movsd xmm, [rip + pool]` (or `xorpd` for +0).
    fn constant(&mut self, x: u8, bits: u64) {
        if bits == 0 {
            dynasm!(self.ops ; .arch x64 ; xorpd Rx(x), Rx(x));
        } else {
            let l = self.pooled(bits);
            dynasm!(self.ops ; .arch x64 ; movsd Rx(x), [=>l]);
        }
    }

    /// `op xmm<t>, src` for the four IEEE operations.
    fn arith(&mut self, op: Arith, t: u8, src: Loc) {
        match (src, op) {
            (Loc::Reg(r), Arith::Add) => dynasm!(self.ops ; .arch x64 ; addsd Rx(t), Rx(r)),
            (Loc::Reg(r), Arith::Sub) => dynasm!(self.ops ; .arch x64 ; subsd Rx(t), Rx(r)),
            (Loc::Reg(r), Arith::Mul) => dynasm!(self.ops ; .arch x64 ; mulsd Rx(t), Rx(r)),
            (Loc::Reg(r), Arith::Div) => dynasm!(self.ops ; .arch x64 ; divsd Rx(t), Rx(r)),
            (Loc::Home(m), Arith::Add) => dynasm!(self.ops ; .arch x64 ; addsd Rx(t), [rsp + m]),
            (Loc::Home(m), Arith::Sub) => dynasm!(self.ops ; .arch x64 ; subsd Rx(t), [rsp + m]),
            (Loc::Home(m), Arith::Mul) => dynasm!(self.ops ; .arch x64 ; mulsd Rx(t), [rsp + m]),
            (Loc::Home(m), Arith::Div) => dynasm!(self.ops ; .arch x64 ; divsd Rx(t), [rsp + m]),
            (Loc::Const(l), Arith::Add) => dynasm!(self.ops ; .arch x64 ; addsd Rx(t), [=>l]),
            (Loc::Const(l), Arith::Sub) => dynasm!(self.ops ; .arch x64 ; subsd Rx(t), [=>l]),
            (Loc::Const(l), Arith::Mul) => dynasm!(self.ops ; .arch x64 ; mulsd Rx(t), [=>l]),
            (Loc::Const(l), Arith::Div) => dynasm!(self.ops ; .arch x64 ; divsd Rx(t), [=>l]),
            (Loc::Arg(m), Arith::Add) => dynasm!(self.ops ; .arch x64 ; addsd Rx(t), [rbx + m]),
            (Loc::Arg(m), Arith::Sub) => dynasm!(self.ops ; .arch x64 ; subsd Rx(t), [rbx + m]),
            (Loc::Arg(m), Arith::Mul) => dynasm!(self.ops ; .arch x64 ; mulsd Rx(t), [rbx + m]),
            (Loc::Arg(m), Arith::Div) => dynasm!(self.ops ; .arch x64 ; divsd Rx(t), [rbx + m]),
        }
    }

    /// `ucomisd xmm<x>, src`
    fn ucomisd(&mut self, x: u8, src: Loc) {
        match src {
            Loc::Reg(r) => dynasm!(self.ops ; .arch x64 ; ucomisd Rx(x), Rx(r)),
            Loc::Home(m) => dynasm!(self.ops ; .arch x64 ; ucomisd Rx(x), [rsp + m]),
            Loc::Const(l) => dynasm!(self.ops ; .arch x64 ; ucomisd Rx(x), [=>l]),
            Loc::Arg(m) => dynasm!(self.ops ; .arch x64 ; ucomisd Rx(x), [rbx + m]),
        }
    }

    /// Spills the register-held depths below `d` before a call: every
    /// `xmm` is caller-saved, so they must survive it in their homes. They
    /// stay there afterwards, read in place, until control flow merges
    /// (see [`Emitter::sync`]); a spilled depth is never spilled twice.
    fn save_live(&mut self, d: usize) {
        for i in self.spilled..d.min(self.nregs as usize) {
            if self.homed.get(i) != Some(&true) {
                let disp = self.home(i);
                dynasm!(self.ops ; .arch x64 ; movsd [rsp + disp], Rx(i as u8));
            }
        }
        if self.homed.len() < d {
            self.homed.resize(d, false);
        }
        self.homed[..d].fill(true);
        self.spilled = self.spilled.max(d);
    }

    /// Stores depth `d` in its home now, while it is still in its
    /// register, when what runs next while it lives makes a call: it has
    /// to be spilled anyway, and spilling it here — before any branch in
    /// that code — means every path agrees it is home, so no later call
    /// stores it again (a spill inside one arm of a `?:` would be forgotten
    /// where the arms meet).
    fn home_before(&mut self, d: usize, next: &Node) {
        if d >= usize::from(self.nregs)
            || d < self.spilled
            || !self.flag(next).is_some_and(|f| f.calls)
        {
            return;
        }
        if self.homed.get(d) != Some(&true) {
            let disp = self.home(d);
            dynasm!(self.ops ; .arch x64 ; movsd [rsp + disp], Rx(d as u8));
            if self.homed.len() <= d {
                self.homed.resize(d + 1, false);
            }
            self.homed[d] = true;
        }
    }

    fn flag(&self, n: &Node) -> Option<Flags> {
        self.flags.get(&(n as *const Node)).copied()
    }

    /// What is known to be in the homes where control flow splits at
    /// depth `d`: every path to a later label starts from it and may only
    /// add to it, so assuming it at the label is safe.
    fn homed_at(&self, d: usize) -> Vec<bool> {
        let mut h = self.homed.clone();
        h.truncate(d);
        h
    }

    /// Brings the spill state back to `entry` (what it was where control
    /// flow split) by reloading the depths spilled since, so that every
    /// path reaching a label agrees on where each live value is.
    /// `movsd` leaves the flags alone, so this may sit between a compare
    /// and its jump.
    fn sync(&mut self, entry: usize) {
        self.sync_live(entry, usize::MAX);
    }

    /// [`Emitter::sync`], reloading only the depths below `live`: the
    /// ones above are dead once the construct being merged is done.
    fn sync_live(&mut self, entry: usize, live: usize) {
        for i in entry..self.spilled.min(self.nregs as usize).min(live) {
            let disp = self.home(i);
            dynasm!(self.ops ; .arch x64 ; movsd Rx(i as u8), [rsp + disp]);
        }
        self.spilled = self.spilled.min(entry);
    }

    /// Emits code leaving the value of `node` at depth `d`.
    fn expr(&mut self, node: &Node, d: usize) -> Result<(), EmitError> {
        self.check()?;
        debug_assert!(self.spilled <= d, "nothing at or above d is live");
        let dead_from = self.dead_from.take();
        match node {
            Node::Num(x) => {
                let t = self.target(d, S1);
                self.constant(t, x.to_bits());
                self.store(d, t);
            }
            Node::Param(i) => {
                debug_assert!((*i as usize) < self.arity);
                let t = self.target(d, S1);
                let src = self.param(*i);
                self.load_from(t, src);
                self.store(d, t);
            }
            Node::Global(sym, span) => {
                let site = self.sites.site(SiteKind::Global(*sym), *span);
                self.helper_call(self.helpers.global, site, d)?;
            }
            Node::Fail(kind, span) => {
                let site = self.sites.site(SiteKind::Fail(kind.clone()), *span);
                let helper = self.helpers.fail as i64;
                let fail_out = self.fail_out()?;
                // mov rdi, r12 ; mov rsi, SITE ; call fail ; jmp fail_out
                dynasm!(self.ops ; .arch x64 ; mov rdi, r12);
                self.site_pointer(site);
                dynasm!(self.ops
                    ; .arch x64
                    ; mov rax, QWORD helper
                    ; call rax
                    ; jmp =>fail_out
                );
            }
            Node::Native(native) => {
                // The whole body of a native: its parameters are this
                // frame's arguments, above the return address.
                //   mov rdi, r12 ; mov rsi, NATIVE ; lea rdx, [rsp + FRAME + 8]
                //   call native ; test rax, rax ; jnz fail_out
                let fail_out = self.fail_out()?;
                let args = self.frame + 8;
                let ptr = std::sync::Arc::as_ptr(native) as i64;
                dynasm!(self.ops
                    ; .arch x64
                    ; mov rdi, r12
                    ; mov rsi, QWORD ptr
                    ; lea rdx, [rsp + args]
                );
                self.native_call(self.helpers.native);
                dynasm!(self.ops
                    ; .arch x64
                    ; test rax, rax
                    ; jnz =>fail_out
                );
                self.store(d, 0);
            }
            Node::Neg(a) => {
                self.expr(a, d)?;
                // xorpd x, [sign bit] — flips the sign, so -0 is negative zero
                let t = self.reg(d, S1);
                self.constant(S2, SIGN_BIT as u64);
                dynasm!(self.ops ; .arch x64 ; xorpd Rx(t), Rx(S2));
                self.store(d, t);
            }
            Node::Not(a) => {
                self.expr(a, d)?;
                // xorpd s2, s2 ; ucomisd s2, x ; sete al ; movzx eax, al ; cvtsi2sd t, eax
                // (ZF is set for equal *and* unordered: exactly "not truthy")
                self.test_zero(d);
                let t = self.target(d, S1);
                dynasm!(self.ops
                    ; .arch x64
                    ; sete al
                    ; movzx eax, al
                    ; cvtsi2sd Rx(t), eax
                );
                self.store(d, t);
            }
            Node::Chain(first, links) => {
                // a op₁ b op₂ c … is ((a op₁ b) op₂ c) …: the running value
                // stays at depth d and each operand comes in at d + 1, so a
                // chain of any length needs two depths and no recursion.
                //
                // The one exception is the order `operands` gives a binary
                // node: an operand that calls runs *before* the value in
                // front of it if that value neither calls nor can fail, so
                // nothing has to be saved around the call. In a chain only
                // the first operand that calls can qualify (every prefix
                // after it contains a call):
                //   b_j at d ; a op₁ … b_{j-1} at d + 1 ; combine into d
                let calls = links
                    .iter()
                    .position(|(_, b)| self.flag(b).unwrap_or_default().calls);
                // (A `%` link in front of it calls too.)
                let swap = calls.filter(|&j| {
                    links[..j].iter().all(|(l, _)| matches!(l, Link::Arith(_)))
                        && std::iter::once(&**first)
                            .chain(links[..j].iter().map(|(_, b)| b))
                            .all(|n| {
                                let f = self.flag(n).unwrap_or_default();
                                !f.calls && !f.fails
                            })
                });
                let rest = match swap {
                    Some(j) => {
                        let (link, b) = &links[j];
                        self.expr(b, d)?;
                        self.expr(first, d + 1)?;
                        for (link, b) in &links[..j] {
                            self.link(*link, b, d + 1)?;
                        }
                        self.combine(*link, (d + 1, d), d);
                        &links[j + 1..]
                    }
                    None => {
                        self.expr(first, d)?;
                        &links[..]
                    }
                };
                for (link, b) in rest {
                    self.link(*link, b, d)?;
                }
            }
            Node::Cmp(op, a, b) => {
                self.expr(a, d)?;
                self.home_before(d, b);
                self.expr(b, d + 1)?;
                // Branch-free: s1 = a (or b) ; cmpsd s1, b (or a), pred ;
                // andpd s1, [1.0] — the all-ones mask becomes 1.0, else +0.
                let (x, y, pred) = match op {
                    Cmp::Eq => (d, d + 1, 0),
                    Cmp::Lt => (d, d + 1, 1),
                    Cmp::Le => (d, d + 1, 2),
                    Cmp::Ne => (d, d + 1, 4),
                    Cmp::Gt => (d + 1, d, 1),
                    Cmp::Ge => (d + 1, d, 2),
                };
                self.load(S1, x);
                match self.loc(y) {
                    Loc::Reg(r) => dynasm!(self.ops ; .arch x64 ; cmpsd Rx(S1), Rx(r), pred),
                    Loc::Home(m) => dynasm!(self.ops ; .arch x64 ; cmpsd Rx(S1), [rsp + m], pred),
                    Loc::Const(l) => dynasm!(self.ops ; .arch x64 ; cmpsd Rx(S1), [=>l], pred),
                    Loc::Arg(m) => dynasm!(self.ops ; .arch x64 ; cmpsd Rx(S1), [rbx + m], pred),
                }
                self.constant(S2, ONE_BITS as u64);
                dynasm!(self.ops ; .arch x64 ; andpd Rx(S1), Rx(S2));
                self.store(d, S1);
            }
            Node::And(..) | Node::Or(..) => {
                // jump_if(node, false, no) ; x = 1.0 ; jmp end ; no: x = 0 ; end:
                let no = self.ops.new_dynamic_label();
                let end = self.ops.new_dynamic_label();
                let homed = self.homed_at(d);
                self.jump_if(node, false, no, d)?;
                let t = self.target(d, S1);
                self.constant(t, ONE_BITS as u64);
                self.store(d, t);
                dynasm!(self.ops ; .arch x64 ; jmp =>end ; =>no);
                self.homed = homed.clone();
                self.constant(t, 0);
                self.store(d, t);
                dynasm!(self.ops ; .arch x64 ; =>end);
                self.homed = homed;
            }
            Node::Cond(c, a, b) => {
                // At the root of an inlined body, the parameters below `d`
                // die with the body: no arm reloads them.
                let live = dead_from.unwrap_or(d);
                // jump_if(c, false, other) ; a ; jmp end ; other: b ; end:
                // Both arms end with the spill state the condition began
                // with (`sync`), as `jump_if` itself does.
                let other = self.ops.new_dynamic_label();
                let end = self.ops.new_dynamic_label();
                let entry = self.spilled;
                let homed = self.homed_at(d);
                self.jump_if(c, false, other, d)?;
                self.expr(a, d)?;
                self.sync_live(entry, live);
                let homed_a = std::mem::replace(&mut self.homed, homed);
                dynasm!(self.ops ; .arch x64 ; jmp =>end ; =>other);
                self.expr(b, d)?;
                self.sync_live(entry, live);
                dynasm!(self.ops ; .arch x64 ; =>end);
                // Known in a home after the merge: what both arms put there.
                let both: Vec<bool> = homed_a
                    .iter()
                    .zip(&self.homed)
                    .map(|(x, y)| *x && *y)
                    .take(d)
                    .collect();
                self.homed = both;
            }
            // sqrt and abs are single IEEE instructions whose results are
            // bit-identical to the Rust functions (f64::sqrt *is* sqrtsd;
            // abs clears the sign bit), so they are inlined rather than
            // called: no registers to save around them.
            Node::Call1(Builtin::Sqrt, a) => {
                self.expr(a, d)?;
                let t = self.reg(d, S1);
                dynasm!(self.ops ; .arch x64 ; sqrtsd Rx(t), Rx(t));
                self.store(d, t);
            }
            Node::Call1(Builtin::Square, a) => {
                // mulsd x, x — exactly `pow(x, 2)` (see `lower::power`)
                self.expr(a, d)?;
                let t = self.reg(d, S1);
                dynasm!(self.ops ; .arch x64 ; mulsd Rx(t), Rx(t));
                self.store(d, t);
            }
            Node::Call1(Builtin::PowHalf, a) => {
                // `pow(x, 0.5)`, as `builtins::pow_half` computes it:
                //   ucomisd x, [-inf]                  (SSE arithmetic
                //   sqrtsd x, x ; xorpd s2, s2         leaves the flags)
                //   addsd x, s2                        (-0 becomes +0)
                //   jne done ; jp done ; movsd x, [+inf] ; done:
                self.expr(a, d)?;
                let t = self.reg(d, S1);
                let done = self.ops.new_dynamic_label();
                let minus_inf = self.pooled(f64::NEG_INFINITY.to_bits());
                let plus_inf = self.pooled(f64::INFINITY.to_bits());
                dynasm!(self.ops
                    ; .arch x64
                    ; ucomisd Rx(t), [=>minus_inf]
                    ; sqrtsd Rx(t), Rx(t)
                    ; xorpd Rx(S2), Rx(S2)
                    ; addsd Rx(t), Rx(S2)
                    ; jne =>done
                    ; jp =>done
                    ; movsd Rx(t), [=>plus_inf]
                    ; =>done
                );
                self.store(d, t);
            }
            Node::Call1(Builtin::Abs, a) => {
                self.expr(a, d)?;
                // andpd x, [0x7FFF_FFFF_FFFF_FFFF]
                let t = self.reg(d, S1);
                self.constant(S2, !(SIGN_BIT as u64));
                dynasm!(self.ops ; .arch x64 ; andpd Rx(t), Rx(S2));
                self.store(d, t);
            }
            Node::Call1(f, a) => {
                self.expr(a, d)?;
                self.save_live(d);
                self.load(0, d);
                self.native_call(f.address());
                self.store(d, 0);
            }
            Node::Call2(f, a, b) => {
                let swapped = self.operands(a, b, d)?;
                let at = if swapped { (d + 1, d) } else { (d, d + 1) };
                self.combine(Link::Call(*f), at, d);
            }
            Node::Call(sym, args, span) if self.inlines(*sym, args.len()) => {
                let Some(inline) = self.inline else {
                    unreachable!("inlines() checked it")
                };
                for (j, a) in args.iter().enumerate() {
                    self.expr(a, d + j)?;
                }
                let site = self.sites.site(
                    SiteKind::Call {
                        sym: *sym,
                        argc: args.len(),
                    },
                    *span,
                );
                let out_of_budget = self.ops.new_dynamic_label();
                self.failed_calls
                    .push((out_of_budget, site, Some(STATUS_STACK)));
                // What the callee's prologue and epilogue would do that
                // anyone could see, and no more: charge the budget, run
                // the body with the arguments (left at depths d..d+n) as
                // its parameters, give the charge back.
                //   sub r13, COST ; jb out_of_budget
                //   … the body at depth d+n …
                //   movapd xmm<d>, xmm<d+n>
                //   add r13, COST
                let charge = self.charge;
                self.inlined_at
                    .push((self.ops.offset().0, self.inlined.len()));
                dynasm!(self.ops ; .arch x64 ; sub r13, charge ; jb =>out_of_budget);
                let at = d + args.len();
                self.inlined.push(d);
                self.dead_from = Some(d);
                let body = self.expr(inline.body, at);
                self.inlined.pop();
                body?;
                let t = self.reg(at, S1);
                self.store(d, t);
                dynasm!(self.ops ; .arch x64 ; add r13, charge);
            }
            Node::Call(sym, args, span) => {
                for (j, a) in args.iter().enumerate() {
                    self.expr(a, d + j)?;
                }
                self.save_live(d);
                // Outgoing arguments: movsd [rsp + 8j], value of depth d+j
                for j in 0..args.len() {
                    let x = self.reg(d + j, S1);
                    let disp = 8 * j as i32;
                    dynasm!(self.ops ; .arch x64 ; movsd [rsp + disp], Rx(x));
                }
                let site = self.sites.site(
                    SiteKind::Call {
                        sym: *sym,
                        argc: args.len(),
                    },
                    *span,
                );
                // call rel32 (linked later: the callee, or the runtime stub)
                // jc failed_call
                dynasm!(self.ops ; .arch x64 ; .bytes [0xE8, 0, 0, 0, 0]);
                self.calls.push(CallReloc {
                    at: self.ops.offset().0 - 5,
                    sym: *sym,
                    argc: args.len(),
                    site,
                });
                let failed = self.ops.new_dynamic_label();
                self.failed_calls.push((failed, site, None));
                dynasm!(self.ops ; .arch x64 ; jc =>failed);
                self.store(d, 0);
            }
        }
        Ok(())
    }

    /// Is a call of `sym` with `argc` arguments, here, inlined?
    fn inlines(&self, sym: Sym, argc: usize) -> bool {
        self.inline
            .is_some_and(|i| i.covers(sym, argc) && self.inlined.len() < i.levels)
    }

    /// Where failures that a helper already recorded leave the function.
    fn fail_out(&self) -> Result<DynamicLabel, EmitError> {
        self.fail_out
            .ok_or_else(|| EmitError::Assembler("a failure site in a direct function".into()))
    }

    /// Evaluates `a` at `d` and `b` at `d + 1`, or — when `b` contains a
    /// call and `a` neither calls nor can fail — `b` at `d` and `a` at
    /// `d + 1`, so nothing has to be saved around `b`'s call. Returns
    /// whether it swapped. Errors and their order cannot change: `a` has
    /// none.
    fn operands(&mut self, a: &Node, b: &Node, d: usize) -> Result<bool, EmitError> {
        let (fa, fb) = (
            self.flag(a).unwrap_or_default(),
            self.flag(b).unwrap_or_default(),
        );
        let swap = fb.calls && !fa.calls && !fa.fails;
        if swap {
            self.expr(b, d)?;
            self.expr(a, d + 1)?;
        } else {
            self.expr(a, d)?;
            self.home_before(d, b);
            self.expr(b, d + 1)?;
        }
        Ok(swap)
    }

    /// One link of a chain whose running value is at `d`: the operand `b`
    /// comes in at `d + 1` (or, a constant or parameter, is used in place
    /// by an IEEE instruction: `subsd xmm0, [rip + 1.0]`).
    fn link(&mut self, link: Link, b: &Node, d: usize) -> Result<(), EmitError> {
        self.check()?;
        match link {
            Link::Arith(op) if is_leaf(b) => {
                let src = self.leaf(b).expect("a leaf");
                let t = self.reg(d, S1);
                self.arith(op, t, src);
                self.store(d, t);
            }
            _ => {
                self.home_before(d, b);
                self.expr(b, d + 1)?;
                self.combine(link, (d, d + 1), d);
            }
        }
        Ok(())
    }

    /// `d = x op y` where `(x, y)` is `(d, d + 1)` or, when the operands
    /// were evaluated in swapped order, `(d + 1, d)`.
    fn combine(&mut self, link: Link, (x, y): (usize, usize), d: usize) {
        match link {
            Link::Arith(op) => {
                // op x, y — always with `x` (the left operand) as the
                // destination, so a NaN operand propagates exactly as in
                // the interpreter. The result replaces `x`: when `x` is at
                // `d` and was spilled, it is reloaded straight into `d`'s
                // register.
                let t = match self.loc(x) {
                    Loc::Reg(r) => r,
                    Loc::Home(_) if x == d && d < usize::from(self.nregs) => {
                        self.load_from(d as u8, Loc::Home(self.home(d)));
                        d as u8
                    }
                    _ => self.reg(x, S1),
                };
                let src = self.loc(y);
                self.arith(op, t, src);
                self.store(d, t);
            }
            Link::Call(f) => {
                let swapped = x > y;
                self.save_live(d);
                // Into xmm0, xmm1. Sources are at depths >= targets, except
                // when swapped at depth 0, where xmm0 and xmm1 trade places.
                if swapped && d == 0 && self.nregs >= 2 {
                    dynasm!(self.ops ; .arch x64 ; movapd Rx(S1), xmm0 ; movapd xmm0, xmm1 ; movapd xmm1, Rx(S1));
                } else if swapped {
                    self.load(S1, y);
                    self.load(0, x);
                    dynasm!(self.ops ; .arch x64 ; movapd xmm1, Rx(S1));
                } else {
                    self.load(0, x);
                    self.load(1, y);
                }
                self.native_call(f.address());
                self.store(d, 0);
            }
        }
    }

    /// `mov rax, FN ; call rax` — a sysv64 function.
    fn native_call(&mut self, addr: usize) {
        dynasm!(self.ops
            ; .arch x64
            ; mov rax, QWORD addr as i64
            ; call rax
        );
    }

    /// A helper returning `RtResult` (status in rax, value in xmm0):
    ///   save live ; mov rdi, r12 ; mov rsi, SITE ; call helper ;
    ///   test rax, rax ; jnz fail_out ; value -> depth d
    fn helper_call(&mut self, helper: usize, site: u32, d: usize) -> Result<(), EmitError> {
        self.save_live(d);
        let fail_out = self.fail_out()?;
        dynasm!(self.ops ; .arch x64 ; mov rdi, r12);
        self.site_pointer(site);
        self.native_call(helper);
        dynasm!(self.ops
            ; .arch x64
            ; test rax, rax
            ; jnz =>fail_out
        );
        self.store(d, 0);
        Ok(())
    }

    /// `xorpd s2, s2 ; ucomisd s2, value(d)` — ZF=1 iff the value is not
    /// truthy (zero of either sign, or NaN: unordered sets ZF too).
    fn test_zero(&mut self, d: usize) {
        dynasm!(self.ops ; .arch x64 ; xorpd Rx(S2), Rx(S2));
        let src = self.loc(d);
        self.ucomisd(S2, src);
    }

    /// Jumps to `target` when the truth of `node` equals `when`; falls
    /// through otherwise. Comparisons become `ucomisd` + `jcc` directly,
    /// `&&`, `||` and `!` become control flow; anything else is computed at
    /// depth `d` and tested against zero.
    fn jump_if(
        &mut self,
        node: &Node,
        when: bool,
        target: DynamicLabel,
        d: usize,
    ) -> Result<(), EmitError> {
        self.check()?;
        // Both ways out (the jump and the fall-through) leave the spill
        // state as it was here: a call in the condition is followed by a
        // `sync` between the compare and the jump.
        let entry = self.spilled;
        let homed = self.homed_at(d);
        match node {
            Node::Not(a) => self.jump_if(a, !when, target, d),
            // a && b && c is true when none is false, false as soon as
            // one is; a || b || c the other way round. To jump when the
            // whole has the truth that decides it early, every operand
            // jumps; otherwise all but the last skip past the last:
            //   jump_if(a, !decides, skip) ; jump_if(b, !decides, skip) ;
            //   jump_if(c, when, target) ; skip:
            Node::And(items) | Node::Or(items) => {
                let decides = matches!(node, Node::Or(_));
                let Some((last, init)) = items.split_last() else {
                    unreachable!("`&&` and `||` have at least two operands")
                };
                if when == decides {
                    for item in items {
                        self.jump_if(item, when, target, d)?;
                    }
                } else {
                    let skip = self.ops.new_dynamic_label();
                    for item in init {
                        self.jump_if(item, decides, skip, d)?;
                    }
                    self.jump_if(last, when, target, d)?;
                    dynasm!(self.ops ; .arch x64 ; =>skip);
                    self.homed = homed;
                }
                Ok(())
            }
            Node::Cmp(op, a, b) => {
                // ucomisd x, y then one jcc. `a < b` is tested as `b > a`
                // so that "unordered" (CF=ZF=PF=1) is always false. When
                // the right-hand side `y` is a leaf it is used in place
                // (`ucomisd xmm0, [rip + 2.0]`).
                let (lhs, rhs) = match op {
                    Cmp::Lt | Cmp::Le => (b, a),
                    _ => (a, b),
                };
                if is_leaf(rhs) {
                    self.expr(lhs, d)?;
                    let src = self.leaf(rhs).expect("a leaf");
                    let rx = self.reg(d, S1);
                    self.ucomisd(rx, src);
                } else {
                    self.expr(a, d)?;
                    self.home_before(d, b);
                    self.expr(b, d + 1)?;
                    let (x, y) = match op {
                        Cmp::Lt | Cmp::Le => (d + 1, d),
                        _ => (d, d + 1),
                    };
                    let rx = self.reg(x, S1);
                    let src = self.loc(y);
                    self.ucomisd(rx, src);
                }
                self.sync(entry);
                match (op, when) {
                    (Cmp::Gt | Cmp::Lt, true) => dynasm!(self.ops ; .arch x64 ; ja =>target),
                    (Cmp::Gt | Cmp::Lt, false) => dynasm!(self.ops ; .arch x64 ; jbe =>target),
                    (Cmp::Ge | Cmp::Le, true) => dynasm!(self.ops ; .arch x64 ; jae =>target),
                    (Cmp::Ge | Cmp::Le, false) => dynasm!(self.ops ; .arch x64 ; jb =>target),
                    // equal: ZF=1 and PF=0
                    (Cmp::Eq, true) | (Cmp::Ne, false) => {
                        let skip = self.ops.new_dynamic_label();
                        dynasm!(self.ops ; .arch x64 ; jp =>skip ; je =>target ; =>skip);
                    }
                    (Cmp::Eq, false) | (Cmp::Ne, true) => {
                        dynasm!(self.ops ; .arch x64 ; jp =>target ; jne =>target);
                    }
                }
                Ok(())
            }
            _ => {
                self.expr(node, d)?;
                self.test_zero(d);
                self.sync(entry);
                if when {
                    dynasm!(self.ops ; .arch x64 ; jnz =>target);
                } else {
                    dynasm!(self.ops ; .arch x64 ; jz =>target);
                }
                Ok(())
            }
        }
    }
}

/// Compiles a pure body (see [`analysis::is_pure`]) a second time as a
/// *direct function*: an ordinary `extern "sysv64" fn(args: *const f64)
/// -> f64` that Rust calls without the trampoline — the expression
/// handle's fast path. A pure body cannot fail, call the runtime or
/// recurse, so it needs no `CTX`, no budget and no status; the argument
/// pointer lives in `rbx` (callee-saved, so built-in calls keep it).
/// `None` when the body is not pure or its frame would be larger than
/// [`DIRECT_FRAME_MAX`].
///
///   push rbx ; mov rbx, rdi ; sub rsp, FRAME     (16-aligned again)
///   … the body, arguments read from [rbx + 8i] …
///   add rsp, FRAME ; pop rbx ; ret               (value in xmm0)
pub(crate) fn direct_function(
    body: &Node,
    arity: usize,
    nregs: u8,
) -> Result<Option<Vec<u8>>, EmitError> {
    let guard = StackGuard::here();
    if !analysis::is_pure(body, &guard) {
        return Ok(None);
    }
    let depth = analysis::need(body, &guard, None, 0)?;
    // After the call (8 bytes) and `push rbx` (8), rsp is 16-aligned.
    let frame_bytes = (8 * (depth + 1)).next_multiple_of(16);
    if frame_bytes > DIRECT_FRAME_MAX {
        return Ok(None);
    }
    let frame = small(frame_bytes)?;
    let mut no_sites = NoSites;
    let no_helpers = Helpers {
        global: 0,
        fail: 0,
        call_failed: 0,
        native: 0,
    };
    let mut e = Emitter::new(
        body,
        arity,
        no_helpers,
        &mut no_sites,
        nregs,
        guard,
        frame,
        0,
    )?;
    e.direct = true;
    let nregs = e.nregs;
    let leaf = e.pin_params(body, 1)?;
    if !leaf {
        // Arguments are read through rbx instead.
        e.param_regs.clear();
        e.nregs = nregs;
    }
    if leaf {
        // A leaf body (it calls nothing): parameters go straight into
        // their registers, and a frame is made only if values spill.
        //   [sub rsp, FRAME] ; movsd xmm<r>, [rdi + 8i] ; … body … ;
        //   [add rsp, FRAME] ; ret
        let spills = depth + 1 > usize::from(e.nregs);
        if spills {
            dynasm!(e.ops ; .arch x64 ; sub rsp, frame);
        }
        for (i, r) in e.param_regs.clone().into_iter().enumerate() {
            if let Some(r) = r {
                let disp = 8 * i as i32;
                dynasm!(e.ops ; .arch x64 ; movsd Rx(r), [rdi + disp]);
            }
        }
        e.expr(body, 0)?;
        e.load(0, 0);
        if spills {
            dynasm!(e.ops ; .arch x64 ; add rsp, frame);
        }
        dynasm!(e.ops ; .arch x64 ; ret);
    } else {
        dynasm!(e.ops
            ; .arch x64
            ; push rbx
            ; mov rbx, rdi
            ; sub rsp, frame
        );
        e.expr(body, 0)?;
        e.load(0, 0);
        dynasm!(e.ops
            ; .arch x64
            ; add rsp, frame
            ; pop rbx
            ; ret
        );
    }
    e.place_pool();
    e.ops
        .finalize()
        .map(Some)
        .map_err(|err| EmitError::Assembler(err.to_string()))
}

/// A pure body has no sites; asking for one is a bug caught in tests.
struct NoSites;

impl Sites for NoSites {
    fn site(&mut self, _kind: SiteKind, _span: Span) -> u32 {
        debug_assert!(false, "a pure body has no sites");
        0
    }
}
