//! Batch code: a pure body compiled into a loop over rows that computes
//! four rows at once, one per lane of a `ymm` register (AVX2, which the
//! platform requires; never AVX-512, which users' processors often lack).
//!
//! Every operation here is exact per lane, so each lane gets the very bits
//! the scalar code gets for its row: IEEE `+ - * /` and square root, with
//! the operands in the written order (a NaN operand's payload is the first
//! one's, as in scalar code); comparisons and logic as masks;
//! `floor`/`ceil`/`trunc` as `vroundpd`; `round`, `sign`, `min`, `max` and
//! `x^0.5` as exact sequences that give the built-ins' results, NaNs and
//! signed zeros included. A multiply and an add are never fused into an
//! FMA (that rounds once instead of twice). The other built-ins are called
//! once per lane: they are correctly rounded, so the result does not depend
//! on how they are reached. A pure body cannot fail, recurse or call
//! anything else, so the loop needs no runtime context, budget or status.
//!
//! ```text
//! extern "sysv64" fn(columns: *const *const f64, out: *mut f64, rows: usize)
//! ```
//! `rows` is a positive multiple of [`LANES`]; column `k` and `out` hold at
//! least `rows` values. The caller computes a remainder of fewer than four
//! rows by padding it to four.
//!
//! # Registers
//!
//! | register      | role                                                  |
//! |---------------|-------------------------------------------------------|
//! | `rbx`         | `COLS`: the column pointers                           |
//! | `r12`         | `OUT`                                                 |
//! | `r13`         | `END`: `rows * 8`                                     |
//! | `r14`         | `AT`: byte offset of the current four rows            |
//! | `rbp`         | the caller's `rsp` (the frame is realigned to 32)     |
//! | `ymm0..ymm13` | values by depth, as in the scalar code; in a body     |
//! |               | without calls the top ones hold parameters instead    |
//! | `ymm14/15`    | `S1`/`S2`: scratch                                    |
//! | `rax`         | scratch: a column's pointer, a built-in's address     |
//!
//! All of them but `rax` are callee-saved or saved around calls, so built-in
//! calls keep the loop's state.
//!
//! # Frame (`rsp` 32-aligned)
//!
//! ```text
//!   [rbp - 8 .. rbp - 32]   rbx, r12, r13, r14 (pushed)
//!   [rsp + RES]             a per-lane call's four results
//!   [rsp + ARG1]            its second arguments
//!   [rsp + ARG0]            its first arguments
//!   [rsp + 32*d]            depth d's value, saved around a call
//! ```

// dynasm expands a dynamic register `Ry(n)` to `n.into()`, which clippy
// flags when `n` is already the register type.
#![allow(clippy::useless_conversion)]

use std::collections::HashMap;

use dynasmrt::x64::X64Relocation;
use dynasmrt::{dynasm, DynamicLabel, DynasmApi, DynasmLabelApi, VecAssembler};

use crate::analysis;
use crate::builtins::Builtin;
use crate::jit::EmitError;
use crate::lower::{Arith, Cmp, Link, Node};
use crate::stack::StackGuard;

/// Rows per iteration: the `f64` lanes of a `ymm` register.
pub(crate) const LANES: usize = 4;

/// Registers for values (`ymm0..ymm13`).
const VALUE_REGS: u8 = 14;
const S1: u8 = 14;
const S2: u8 = 15;

/// A body that needs more value registers than this is not vectorized (it
/// is computed row by row instead). Parameters take the top ones when the
/// body calls nothing and enough stay for the values.
const MIN_VALUE_REGS: u8 = 6;

const ARG0: i32 = 32 * VALUE_REGS as i32;
const ARG1: i32 = ARG0 + 32;
const RES: i32 = ARG1 + 32;
/// Bytes below the 32-aligned `rsp` (a multiple of 32).
const FRAME: i32 = RES + 32;

/// A `vcmppd` predicate. Ordered ones are false when a lane is NaN,
/// unordered ones true; each matches the scalar code's meaning. (Written
/// with dynasm's mnemonics that name the predicate: its `vcmppd` with an
/// immediate encodes the operands in the wrong fields.)
#[derive(Clone, Copy)]
enum Pred {
    EqOq,
    Unord,
    NeqUq,
    EqUq,
    NeqOq,
    LtOq,
    LeOq,
    GeOq,
    GtOq,
}

// `vroundpd` modes, with the inexact exception suppressed.
const FLOOR: i8 = 0x09;
const CEIL: i8 = 0x0A;
const TRUNC: i8 = 0x0B;

const SIGN: u64 = 1 << 63;
const ONE: u64 = 0x3FF0_0000_0000_0000;

/// The batch loop of `body`, a function of `arity` parameters: `None` when
/// the body is not pure or needs more registers than there are (it is then
/// computed row by row).
pub(crate) fn batch_function(body: &Node, arity: usize) -> Result<Option<Vec<u8>>, EmitError> {
    let guard = StackGuard::here();
    if !analysis::is_pure(body, &guard) {
        return Ok(None);
    }
    let mut b = Batch {
        ops: VecAssembler::new(0),
        guard,
        info: HashMap::new(),
        pool: Vec::new(),
        pool_index: HashMap::new(),
        pinned: vec![None; arity],
        nregs: VALUE_REGS,
    };
    let Some(root) = b.info(body) else {
        return Ok(None);
    };
    if root.need > usize::from(VALUE_REGS) {
        return Ok(None);
    }
    if !root.calls {
        b.pin_params(body, root.need)?;
    }
    b.emit_loop(body)?;
    b.place_pool();
    b.ops
        .finalize()
        .map(Some)
        .map_err(|err| EmitError::Assembler(err.to_string()))
}

/// What the code for a node needs: value registers above its own depth
/// (its own included), and whether it calls a built-in per lane.
#[derive(Clone, Copy)]
struct Info {
    need: usize,
    calls: bool,
}

/// `INS ymm<x>, ymm<a>, b` for each form of the operand `b`.
macro_rules! vex3 {
    ($e:ident, $ins:ident, $x:expr, $a:expr, $b:expr) => {
        match $b {
            Src::Reg(s) => dynasm!($e.ops ; .arch x64 ; $ins Ry($x), Ry($a), Ry(s)),
            Src::Const(l) => dynasm!($e.ops ; .arch x64 ; $ins Ry($x), Ry($a), [=>l]),
            Src::Col => dynasm!($e.ops ; .arch x64 ; $ins Ry($x), Ry($a), [rax + r14]),
        }
    };
}

/// An operand that need not be in a register.
#[derive(Clone, Copy)]
enum Src {
    Reg(u8),
    /// `[rip + pool slot]`: four copies of a constant.
    Const(DynamicLabel),
    /// `[rax + r14]`: four rows of a column, its pointer loaded in `rax`
    /// when the operand was fetched.
    Col,
}

struct Batch {
    ops: VecAssembler<X64Relocation>,
    guard: StackGuard,
    /// [`Info`] of every node, by address.
    info: HashMap<usize, Info>,
    pool: Vec<(u64, DynamicLabel)>,
    pool_index: HashMap<u64, DynamicLabel>,
    /// Parameter `k` lives in `ymm<pinned[k]>` for the whole iteration, if
    /// given one.
    pinned: Vec<Option<u8>>,
    /// Value registers: depths `0..nregs`.
    nregs: u8,
}

/// Built-ins computed inline, exactly (the rest are called per lane).
fn inline(f: Builtin) -> bool {
    matches!(
        f,
        Builtin::Sqrt
            | Builtin::Abs
            | Builtin::Square
            | Builtin::PowHalf
            | Builtin::Floor
            | Builtin::Ceil
            | Builtin::Trunc
            | Builtin::Round
            | Builtin::Sign
            | Builtin::Min
            | Builtin::Max
    )
}

fn is_leaf(node: &Node) -> bool {
    matches!(node, Node::Num(_) | Node::Param(_))
}

/// For a chain `leaf op (…) …` whose first operand is not a leaf: that
/// operand, which is computed before the leaf is read.
fn leaf_then_operand<'a>(first: &Node, links: &'a [(Link, Node)]) -> Option<&'a Node> {
    match links.first() {
        Some((Link::Arith(_), n)) if is_leaf(first) && !is_leaf(n) => Some(n),
        _ => None,
    }
}

impl Batch {
    /// Computes [`Info`] for `node` and everything below it. `None` if the
    /// tree is too deep to walk here.
    fn info(&mut self, node: &Node) -> Option<Info> {
        self.guard.check().ok()?;
        // An operand after the first: a leaf is read in place, anything
        // else goes one depth up.
        let above = |i: Info, leaf: bool| if leaf { 0 } else { 1 + i.need };
        let info = match node {
            Node::Num(_) | Node::Param(_) => Info {
                need: 1,
                calls: false,
            },
            Node::Neg(a) | Node::Not(a) => self.info(a)?,
            Node::Call1(f, a) => {
                let a = self.info(a)?;
                Info {
                    need: a.need,
                    calls: a.calls || !inline(*f),
                }
            }
            Node::Chain(first, links) => {
                let mut i = self.info(first)?;
                let mut links = &links[..];
                if let Some(n) = leaf_then_operand(first, links) {
                    // See `Batch::expr`: the operand first, at the same depth.
                    let o = self.info(n)?;
                    i = o;
                    links = &links[1..];
                }
                for (link, n) in links {
                    let o = self.info(n)?;
                    // A call's arguments are both in registers.
                    let leaf = is_leaf(n) && matches!(link, Link::Arith(_));
                    i.need = i.need.max(above(o, leaf));
                    i.calls |= o.calls || matches!(link, Link::Call(f) if !inline(*f));
                }
                i
            }
            Node::Cmp(_, a, b) => self.pair(a, b, false, is_leaf(b))?,
            Node::Call2(f, a, b) => self.pair(a, b, !inline(*f), false)?,
            Node::And(items) | Node::Or(items) => {
                let mut i = Info {
                    need: 0,
                    calls: false,
                };
                for (k, n) in items.iter().enumerate() {
                    let o = self.info(n)?;
                    i.need = i.need.max(o.need + usize::from(k > 0));
                    i.calls |= o.calls;
                }
                i
            }
            Node::Cond(c, a, b) => {
                let (c, a, b) = (self.info(c)?, self.info(a)?, self.info(b)?);
                Info {
                    need: c.need.max(1 + a.need).max(2 + b.need),
                    calls: c.calls || a.calls || b.calls,
                }
            }
            Node::Global(..) | Node::Call(..) | Node::Fail(..) | Node::Native(_) => return None,
        };
        self.info.insert(node as *const Node as usize, info);
        Some(info)
    }

    /// Info of a two-operand node: the operand with calls goes first when
    /// only one has them (see [`Batch::operands`]); `b` is read in place
    /// when `b_in_place`.
    fn pair(&mut self, a: &Node, b: &Node, call: bool, b_in_place: bool) -> Option<Info> {
        let (ia, ib) = (self.info(a)?, self.info(b)?);
        let need = if b_in_place {
            ia.need
        } else if ib.calls && !ia.calls {
            ib.need.max(1 + ia.need)
        } else {
            ia.need.max(1 + ib.need)
        };
        Some(Info {
            need,
            calls: call || ia.calls || ib.calls,
        })
    }

    fn node_info(&self, node: &Node) -> Info {
        self.info[&(node as *const Node as usize)]
    }

    /// A body that calls nothing keeps its parameters in the top registers
    /// for the whole iteration, loaded once at its start, when enough stay
    /// for its values.
    fn pin_params(&mut self, body: &Node, need: usize) -> Result<(), EmitError> {
        let mut uses = vec![0; self.pinned.len()];
        analysis::param_uses(body, &mut uses, &self.guard)?;
        let used = uses.iter().filter(|&&n| n > 0).count();
        let left = usize::from(VALUE_REGS).saturating_sub(used);
        if used == 0 || left < need.max(usize::from(MIN_VALUE_REGS)) {
            return Ok(());
        }
        let mut next = VALUE_REGS;
        for (k, &n) in uses.iter().enumerate() {
            if n > 0 {
                next -= 1;
                self.pinned[k] = Some(next);
            }
        }
        self.nregs = next;
        Ok(())
    }

    /// The whole function:
    ///
    /// ```text
    ///   push rbp ; mov rbp, rsp ; push rbx ; push r12 ; push r13 ; push r14
    ///   and rsp, -32 ; sub rsp, FRAME
    ///   mov rbx, rdi ; mov r12, rsi ; lea r13, [rdx*8] ; xor r14d, r14d
    /// again:
    ///   [mov rax, [rbx + 8k] ; vmovupd ymm<pinned k>, [rax + r14]] …
    ///   … the body, into ymm0 …
    ///   vmovupd [r12 + r14], ymm0
    ///   add r14, 32 ; cmp r14, r13 ; jb again
    ///   vzeroupper ; lea rsp, [rbp - 32]
    ///   pop r14 ; pop r13 ; pop r12 ; pop rbx ; pop rbp ; ret
    /// ```
    fn emit_loop(&mut self, body: &Node) -> Result<(), EmitError> {
        let again = self.ops.new_dynamic_label();
        dynasm!(self.ops
            ; .arch x64
            ; push rbp
            ; mov rbp, rsp
            ; push rbx
            ; push r12
            ; push r13
            ; push r14
            ; and rsp, -32
            ; sub rsp, FRAME
            ; mov rbx, rdi
            ; mov r12, rsi
            ; lea r13, [rdx * 8]
            ; xor r14d, r14d
            ; .align 16, 0x90
            ; =>again
        );
        for (k, r) in self.pinned.clone().into_iter().enumerate() {
            if let Some(r) = r {
                self.column_pointer(k as u32);
                dynasm!(self.ops ; .arch x64 ; vmovupd Ry(r), [rax + r14]);
            }
        }
        self.expr(body, 0)?;
        dynasm!(self.ops
            ; .arch x64
            ; vmovupd [r12 + r14], ymm0
            ; add r14, 32
            ; cmp r14, r13
            ; jb =>again
            ; vzeroupper
            ; lea rsp, [rbp - 32]
            ; pop r14
            ; pop r13
            ; pop r12
            ; pop rbx
            ; pop rbp
            ; ret
        );
        Ok(())
    }

    /// The constants, 32-byte aligned, four copies each.
    fn place_pool(&mut self) {
        if self.pool.is_empty() {
            return;
        }
        dynasm!(self.ops ; .arch x64 ; .align 32, 0xCC);
        for (bits, label) in std::mem::take(&mut self.pool) {
            dynasm!(self.ops
                ; .arch x64
                ; =>label
                ; .u64 bits
                ; .u64 bits
                ; .u64 bits
                ; .u64 bits
            );
        }
    }

    fn constant(&mut self, bits: u64) -> DynamicLabel {
        if let Some(&l) = self.pool_index.get(&bits) {
            return l;
        }
        let l = self.ops.new_dynamic_label();
        self.pool.push((bits, l));
        self.pool_index.insert(bits, l);
        l
    }

    /// `mov rax, [rbx + 8k]`
    fn column_pointer(&mut self, k: u32) {
        let disp = 8 * k as i32;
        dynasm!(self.ops ; .arch x64 ; mov rax, [rbx + disp]);
    }

    /// The register of depth `d`.
    fn reg(&self, d: usize) -> Result<u8, EmitError> {
        u8::try_from(d)
            .ok()
            .filter(|&r| r < self.nregs)
            .ok_or_else(|| EmitError::Assembler("batch code out of registers".into()))
    }

    /// A leaf as an operand in place (loading a column's pointer into
    /// `rax` if it is one), or `None` if `node` is not a leaf.
    fn leaf(&mut self, node: &Node) -> Option<Src> {
        match *node {
            Node::Num(x) => Some(Src::Const(self.constant(x.to_bits()))),
            Node::Param(k) => match self.pinned.get(k as usize).copied().flatten() {
                Some(r) => Some(Src::Reg(r)),
                None => {
                    self.column_pointer(k);
                    Some(Src::Col)
                }
            },
            _ => None,
        }
    }

    /// `vmovupd ymm<r>, src` (nothing if it is already there).
    fn load(&mut self, r: u8, src: Src) {
        match src {
            Src::Reg(s) if s == r => {}
            Src::Reg(s) => dynasm!(self.ops ; .arch x64 ; vmovapd Ry(r), Ry(s)),
            Src::Const(l) => dynasm!(self.ops ; .arch x64 ; vmovupd Ry(r), [=>l]),
            Src::Col => dynasm!(self.ops ; .arch x64 ; vmovupd Ry(r), [rax + r14]),
        }
    }

    /// Computes `node` into the register of depth `d`; depths below `d`
    /// hold live values, depths from `d` up are free.
    fn expr(&mut self, node: &Node, d: usize) -> Result<(), EmitError> {
        self.guard.check()?;
        let r = self.reg(d)?;
        match node {
            Node::Num(_) | Node::Param(_) => {
                let src = self.leaf(node).ok_or_else(unreachable_leaf)?;
                self.load(r, src);
            }
            Node::Neg(a) => {
                // vxorpd x, x, [sign bits]
                self.expr(a, d)?;
                let sign = self.constant(SIGN);
                dynasm!(self.ops ; .arch x64 ; vxorpd Ry(r), Ry(r), [=>sign]);
            }
            Node::Not(a) => {
                // vxorpd s1, s1, s1 ; vcmpeq_uqpd x, x, s1 ; vandpd x, x, [1.0]
                // (equal to zero or NaN: not truthy)
                self.expr(a, d)?;
                let one = self.constant(ONE);
                dynasm!(self.ops ; .arch x64 ; vxorpd Ry(S1), Ry(S1), Ry(S1));
                self.vcmp(Pred::EqUq, r, r, Src::Reg(S1));
                dynasm!(self.ops ; .arch x64 ; vandpd Ry(r), Ry(r), [=>one]);
            }
            Node::Chain(first, links) => {
                // The running value starts wherever `first` is (a pinned
                // parameter stays put) and is at depth d after one link.
                let mut links = &links[..];
                let mut acc = match leaf_then_operand(first, links) {
                    // `leaf op (…)`: the operand first, at this depth, so
                    // that right-nested sums need no more registers:
                    //   … operand into x … ; [vmovupd s1, leaf]
                    //   vOPpd x, leaf-or-s1, x
                    Some(n) => {
                        let Link::Arith(op) = links[0].0 else {
                            return Err(unreachable_leaf());
                        };
                        self.expr(n, d)?;
                        let a = match self.leaf(first).ok_or_else(unreachable_leaf)? {
                            Src::Reg(a) => a,
                            src => {
                                self.load(S1, src);
                                S1
                            }
                        };
                        self.arith(op, r, a, Src::Reg(r));
                        links = &links[1..];
                        r
                    }
                    None => match self.constant_first(first, links) {
                        // `c * x` as `x * c`: the constant read in place.
                        //   vOPpd x, ymm<pinned>, [c]
                        Some((op, a, c)) => {
                            self.arith(op, r, a, c);
                            links = &links[1..];
                            r
                        }
                        None => self.value(first, d)?,
                    },
                };
                for (link, n) in links {
                    match link {
                        Link::Arith(op) => {
                            let b = match self.leaf(n) {
                                Some(src) => src,
                                None => {
                                    self.expr(n, d + 1)?;
                                    Src::Reg(self.reg(d + 1)?)
                                }
                            };
                            self.arith(*op, r, acc, b);
                        }
                        Link::Call(f) => {
                            self.load(r, Src::Reg(acc));
                            self.expr(n, d + 1)?;
                            self.builtin2(*f, d)?;
                        }
                    }
                    acc = r;
                }
            }
            Node::Cmp(op, a, b) => {
                // vcmpPREDpd x, a, b ; vandpd x, x, [1.0]
                let (ra, src) = if is_leaf(b) {
                    let ra = self.value(a, d)?;
                    (ra, self.leaf(b).ok_or_else(unreachable_leaf)?)
                } else {
                    let (ra, rb) = self.operands(a, b, d)?;
                    (ra, Src::Reg(rb))
                };
                self.compare(*op, r, ra, src);
                let one = self.constant(ONE);
                dynasm!(self.ops ; .arch x64 ; vandpd Ry(r), Ry(r), [=>one]);
            }
            Node::And(items) | Node::Or(items) => {
                // Every operand as a truth mask, and-ed (or or-ed), then 1.0
                // where set. Pure operands cannot fail: all of them are
                // computed, the short circuit changes nothing.
                let and = matches!(node, Node::And(_));
                for (k, n) in items.iter().enumerate() {
                    let dk = d + usize::from(k > 0);
                    self.expr(n, dk)?;
                    let rk = self.reg(dk)?;
                    self.truth(rk);
                    if k > 0 {
                        if and {
                            dynasm!(self.ops ; .arch x64 ; vandpd Ry(r), Ry(r), Ry(rk));
                        } else {
                            dynasm!(self.ops ; .arch x64 ; vorpd Ry(r), Ry(r), Ry(rk));
                        }
                    }
                }
                let one = self.constant(ONE);
                dynasm!(self.ops ; .arch x64 ; vandpd Ry(r), Ry(r), [=>one]);
            }
            Node::Cond(c, a, b) => {
                // c as a truth mask at d, a at d+1, b at d+2;
                // vblendvpd x, b, a, mask — both arms are pure and cannot
                // fail, so computing both is safe.
                self.expr(c, d)?;
                self.truth(r);
                self.expr(a, d + 1)?;
                self.expr(b, d + 2)?;
                let (ra, rb) = (self.reg(d + 1)?, self.reg(d + 2)?);
                dynasm!(self.ops ; .arch x64 ; vblendvpd Ry(r), Ry(rb), Ry(ra), Ry(r));
            }
            Node::Call1(f, a) => {
                self.expr(a, d)?;
                self.builtin1(*f, d)?;
            }
            Node::Call2(f, a, b) => {
                let (ra, rb) = self.operands(a, b, d)?;
                if (ra, rb) != (r, self.reg(d + 1)?) {
                    // The operands were computed the other way round.
                    dynasm!(self.ops
                        ; .arch x64
                        ; vmovapd Ry(S1), Ry(ra)
                        ; vmovapd Ry(S2), Ry(rb)
                    );
                    let r1 = self.reg(d + 1)?;
                    dynasm!(self.ops
                        ; .arch x64
                        ; vmovapd Ry(r), Ry(S1)
                        ; vmovapd Ry(r1), Ry(S2)
                    );
                }
                self.builtin2(*f, d)?;
            }
            Node::Global(..) | Node::Call(..) | Node::Fail(..) | Node::Native(_) => {
                return Err(EmitError::Assembler("an impure node in batch code".into()));
            }
        }
        Ok(())
    }

    /// The register holding `node`'s value, computed at depth `d` unless
    /// it is a parameter pinned in a register (then nothing is emitted).
    fn value(&mut self, node: &Node, d: usize) -> Result<u8, EmitError> {
        if let Node::Param(k) = node {
            if let Some(r) = self.pinned.get(*k as usize).copied().flatten() {
                return Ok(r);
            }
        }
        self.expr(node, d)?;
        self.reg(d)
    }

    /// For a chain `c + x …` or `c * x …` with `c` a constant that is not
    /// NaN and `x` a pinned parameter: the operation, `x`'s register and
    /// `c` as an operand, so that the constant need not be loaded first.
    /// Exact: IEEE addition and multiplication are commutative, and with
    /// one NaN operand the result is that NaN whichever side it is on.
    fn constant_first(&mut self, first: &Node, links: &[(Link, Node)]) -> Option<(Arith, u8, Src)> {
        let Node::Num(c) = *first else { return None };
        let (Link::Arith(op @ (Arith::Add | Arith::Mul)), Node::Param(k)) = links.first()? else {
            return None;
        };
        let x = self.pinned.get(*k as usize).copied().flatten()?;
        (!c.is_nan()).then(|| (*op, x, Src::Const(self.constant(c.to_bits()))))
    }

    /// Computes both operands of `a op b` into registers, the one with
    /// built-in calls first when only one has them (so that no value lives
    /// across the calls); returns the registers of `a` and `b`.
    fn operands(&mut self, a: &Node, b: &Node, d: usize) -> Result<(u8, u8), EmitError> {
        let (ia, ib) = (self.node_info(a), self.node_info(b));
        let (lo, hi) = (self.reg(d)?, self.reg(d + 1)?);
        if ib.calls && !ia.calls {
            self.expr(b, d)?;
            self.expr(a, d + 1)?;
            Ok((hi, lo))
        } else {
            self.expr(a, d)?;
            self.expr(b, d + 1)?;
            Ok((lo, hi))
        }
    }

    /// `x = a op b`
    fn arith(&mut self, op: Arith, x: u8, a: u8, b: Src) {
        match op {
            Arith::Add => vex3!(self, vaddpd, x, a, b),
            Arith::Sub => vex3!(self, vsubpd, x, a, b),
            Arith::Mul => vex3!(self, vmulpd, x, a, b),
            Arith::Div => vex3!(self, vdivpd, x, a, b),
        }
    }

    /// `x = mask of (a op b)`
    fn compare(&mut self, op: Cmp, x: u8, a: u8, b: Src) {
        let pred = match op {
            Cmp::Eq => Pred::EqOq,
            Cmp::Ne => Pred::NeqUq,
            Cmp::Lt => Pred::LtOq,
            Cmp::Le => Pred::LeOq,
            Cmp::Gt => Pred::GtOq,
            Cmp::Ge => Pred::GeOq,
        };
        self.vcmp(pred, x, a, b);
    }

    /// `vcmpPREDpd x, a, b`
    fn vcmp(&mut self, pred: Pred, x: u8, a: u8, b: Src) {
        match pred {
            Pred::EqOq => vex3!(self, vcmpeqpd, x, a, b),
            Pred::Unord => vex3!(self, vcmpunordpd, x, a, b),
            Pred::NeqUq => vex3!(self, vcmpneqpd, x, a, b),
            Pred::EqUq => vex3!(self, vcmpeq_uqpd, x, a, b),
            Pred::NeqOq => vex3!(self, vcmpneq_oqpd, x, a, b),
            Pred::LtOq => vex3!(self, vcmplt_oqpd, x, a, b),
            Pred::LeOq => vex3!(self, vcmple_oqpd, x, a, b),
            Pred::GeOq => vex3!(self, vcmpge_oqpd, x, a, b),
            Pred::GtOq => vex3!(self, vcmpgt_oqpd, x, a, b),
        }
    }

    /// `x = mask of truthy(x)`: `vxorpd s1, s1, s1 ; vcmpneq_oqpd x, x, s1`
    /// (not zero and not NaN).
    fn truth(&mut self, x: u8) {
        dynasm!(self.ops ; .arch x64 ; vxorpd Ry(S1), Ry(S1), Ry(S1));
        self.vcmp(Pred::NeqOq, x, x, Src::Reg(S1));
    }

    /// A one-argument built-in of depth `d`'s value, in place.
    fn builtin1(&mut self, f: Builtin, d: usize) -> Result<(), EmitError> {
        let x = self.reg(d)?;
        match f {
            Builtin::Sqrt => dynasm!(self.ops ; .arch x64 ; vsqrtpd Ry(x), Ry(x)),
            Builtin::Square => dynasm!(self.ops ; .arch x64 ; vmulpd Ry(x), Ry(x), Ry(x)),
            Builtin::Abs => {
                let abs = self.constant(!SIGN);
                dynasm!(self.ops ; .arch x64 ; vandpd Ry(x), Ry(x), [=>abs]);
            }
            Builtin::Floor => dynasm!(self.ops ; .arch x64 ; vroundpd Ry(x), Ry(x), FLOOR),
            Builtin::Ceil => dynasm!(self.ops ; .arch x64 ; vroundpd Ry(x), Ry(x), CEIL),
            Builtin::Trunc => dynasm!(self.ops ; .arch x64 ; vroundpd Ry(x), Ry(x), TRUNC),
            Builtin::PowHalf => {
                // `pow(x, 0.5)` as `builtins::pow_half` computes it:
                //   vsqrtpd s1, x ; vxorpd s2, s2, s2 ; vaddpd s1, s1, s2
                //   (-0 becomes +0) ; vcmpeqpd s2, x, [-inf]
                //   vblendvpd x, s1, [+inf], s2
                let minus_inf = self.constant(f64::NEG_INFINITY.to_bits());
                let plus_inf = self.constant(f64::INFINITY.to_bits());
                dynasm!(self.ops
                    ; .arch x64
                    ; vsqrtpd Ry(S1), Ry(x)
                    ; vxorpd Ry(S2), Ry(S2), Ry(S2)
                    ; vaddpd Ry(S1), Ry(S1), Ry(S2)
                );
                self.vcmp(Pred::EqOq, S2, x, Src::Const(minus_inf));
                dynasm!(self.ops ; .arch x64 ; vblendvpd Ry(x), Ry(S1), [=>plus_inf], Ry(S2));
            }
            Builtin::Round => {
                // Half away from zero, exactly: t = trunc(x) and x - t is
                // exact, so |x - t| >= 0.5 decides; then t ± 1 is exact.
                //   vroundpd s1, x, TRUNC ; vsubpd s2, x, s1
                //   vandpd s2, s2, [abs mask] ; vcmpge_oqpd s2, s2, [0.5]
                //   vandpd x, x, [sign bit] ; vorpd x, x, [1.0]   (±1)
                //   vaddpd x, s1, x ; vblendvpd x, s1, x, s2
                // (NaN and ±inf give t itself; -0.3 gives -0 like t.)
                let abs = self.constant(!SIGN);
                let half = self.constant(0.5f64.to_bits());
                let sign = self.constant(SIGN);
                let one = self.constant(ONE);
                dynasm!(self.ops
                    ; .arch x64
                    ; vroundpd Ry(S1), Ry(x), TRUNC
                    ; vsubpd Ry(S2), Ry(x), Ry(S1)
                    ; vandpd Ry(S2), Ry(S2), [=>abs]
                );
                self.vcmp(Pred::GeOq, S2, S2, Src::Const(half));
                dynasm!(self.ops
                    ; .arch x64
                    ; vandpd Ry(x), Ry(x), [=>sign]
                    ; vorpd Ry(x), Ry(x), [=>one]
                    ; vaddpd Ry(x), Ry(S1), Ry(x)
                    ; vblendvpd Ry(x), Ry(S1), Ry(x), Ry(S2)
                );
            }
            Builtin::Sign => {
                // -1 below zero, 1 above, else x (0, -0 and NaN stay):
                //   vxorpd s2, s2, s2 ; vcmplt_oqpd s1, x, s2
                //   vcmpgt_oqpd s2, x, s2
                //   vblendvpd x, x, [1.0], s2 ; vblendvpd x, x, [-1.0], s1
                let one = self.constant(ONE);
                let minus_one = self.constant((-1.0f64).to_bits());
                dynasm!(self.ops ; .arch x64 ; vxorpd Ry(S2), Ry(S2), Ry(S2));
                self.vcmp(Pred::LtOq, S1, x, Src::Reg(S2));
                self.vcmp(Pred::GtOq, S2, x, Src::Reg(S2));
                dynasm!(self.ops
                    ; .arch x64
                    ; vblendvpd Ry(x), Ry(x), [=>one], Ry(S2)
                    ; vblendvpd Ry(x), Ry(x), [=>minus_one], Ry(S1)
                );
            }
            _ => self.per_lane(f.address(), 1, d)?,
        }
        Ok(())
    }

    /// A two-argument built-in of depths `d` and `d + 1`, into `d`.
    fn builtin2(&mut self, f: Builtin, d: usize) -> Result<(), EmitError> {
        let (a, b) = (self.reg(d)?, self.reg(d + 1)?);
        match f {
            Builtin::Min | Builtin::Max => {
                // min: vminpd s1, a, b ; vminpd s2, b, a ; vorpd s1, s1, s2
                // (each gives its second operand for equal values, so the
                // or of both is -0 for min(0, -0) either way round; max
                // and-s instead, giving +0); then where either is NaN,
                // NaN: vcmpunordpd s2, a, b ; vblendvpd a, s1, [nan], s2
                let nan = self.constant(f64::NAN.to_bits());
                if f == Builtin::Min {
                    dynasm!(self.ops
                        ; .arch x64
                        ; vminpd Ry(S1), Ry(a), Ry(b)
                        ; vminpd Ry(S2), Ry(b), Ry(a)
                        ; vorpd Ry(S1), Ry(S1), Ry(S2)
                    );
                } else {
                    dynasm!(self.ops
                        ; .arch x64
                        ; vmaxpd Ry(S1), Ry(a), Ry(b)
                        ; vmaxpd Ry(S2), Ry(b), Ry(a)
                        ; vandpd Ry(S1), Ry(S1), Ry(S2)
                    );
                }
                self.vcmp(Pred::Unord, S2, a, Src::Reg(b));
                dynasm!(self.ops ; .arch x64 ; vblendvpd Ry(a), Ry(S1), [=>nan], Ry(S2));
                Ok(())
            }
            _ => self.per_lane(f.address(), 2, d),
        }
    }

    /// Calls the built-in at `address` once per lane, with the lanes of
    /// depth `d` (and `d + 1`) as arguments, into depth `d`. Every `ymm` is
    /// caller-saved, so the live depths below `d` are saved around it:
    ///
    /// ```text
    ///   vmovupd [rsp + ARG0], ymm<d> ; [vmovupd [rsp + ARG1], ymm<d+1>]
    ///   vmovupd [rsp + 32*k], ymm<k>          for each live k < d
    ///   vzeroupper                            (no AVX-SSE transition)
    ///   for each lane i:
    ///     vmovsd xmm0, [rsp + ARG0 + 8i] ; [vmovsd xmm1, [rsp + ARG1 + 8i]]
    ///     mov rax, ADDRESS ; call rax ; vmovsd [rsp + RES + 8i], xmm0
    ///   vmovupd ymm<d>, [rsp + RES] ; vmovupd ymm<k>, [rsp + 32*k] …
    /// ```
    fn per_lane(&mut self, address: usize, argc: usize, d: usize) -> Result<(), EmitError> {
        let x = self.reg(d)?;
        dynasm!(self.ops ; .arch x64 ; vmovupd [rsp + ARG0], Ry(x));
        if argc == 2 {
            let y = self.reg(d + 1)?;
            dynasm!(self.ops ; .arch x64 ; vmovupd [rsp + ARG1], Ry(y));
        }
        for k in 0..d {
            let (r, at) = (self.reg(k)?, 32 * k as i32);
            dynasm!(self.ops ; .arch x64 ; vmovupd [rsp + at], Ry(r));
        }
        dynasm!(self.ops ; .arch x64 ; vzeroupper);
        let address = address as i64;
        for lane in 0..LANES as i32 {
            let (a0, a1, res) = (ARG0 + 8 * lane, ARG1 + 8 * lane, RES + 8 * lane);
            dynasm!(self.ops ; .arch x64 ; vmovsd xmm0, [rsp + a0]);
            if argc == 2 {
                dynasm!(self.ops ; .arch x64 ; vmovsd xmm1, [rsp + a1]);
            }
            dynasm!(self.ops
                ; .arch x64
                ; mov rax, QWORD address
                ; call rax
                ; vmovsd [rsp + res], xmm0
            );
        }
        dynasm!(self.ops ; .arch x64 ; vmovupd Ry(x), [rsp + RES]);
        for k in 0..d {
            let (r, at) = (self.reg(k)?, 32 * k as i32);
            dynasm!(self.ops ; .arch x64 ; vmovupd Ry(r), [rsp + at]);
        }
        Ok(())
    }
}

fn unreachable_leaf() -> EmitError {
    EmitError::Assembler("a leaf that is not one".into())
}

#[cfg(all(test, feature = "asm"))]
mod tests {
    use super::*;

    fn listing(text: &str, vars: &[&str]) -> String {
        let params: Vec<String> = vars.iter().map(|p| p.to_string()).collect();
        let expr = crate::syntax::parse_expr(text).expect("parses");
        let mut ns = crate::runtime::Namespace::default();
        let node = crate::lower::lower(&expr, &params, &mut ns).expect("lowers");
        let code = batch_function(&node, vars.len())
            .expect("emits")
            .expect("vectorized");
        super::super::disasm::listing(0, &code, &|_, _| None)
    }

    #[test]
    fn the_formula_loop_is_vector_code_that_calls_out_per_lane_only() {
        let text = listing("sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x^2)", &["x", "y"]);
        for wanted in ["vsqrtpd", "vmulpd", "vaddpd", "vdivpd", "vzeroupper"] {
            assert!(text.contains(wanted), "no {wanted} in\n{text}");
        }
        // Never a fused multiply-add: it would round once where IEEE rounds twice.
        assert!(!text.contains("vfmadd"), "{text}");
        // sin and cos are called once per lane: 2 built-ins x 4 lanes.
        assert_eq!(text.matches("call").count(), 2 * LANES, "{text}");
    }

    #[test]
    fn a_constant_times_a_parameter_reads_the_constant_in_place() {
        let text = listing("2*x*y + 3*y", &["x", "y"]);
        let loads = text
            .lines()
            .filter(|l| l.contains("vmovupd") && l.contains(",["))
            .count();
        // Only the two columns are loaded; 2 and 3 are operands of vmulpd.
        assert_eq!(loads, 2, "{text}");
        // A NaN constant stays first: with two NaNs the first one wins.
        let text = listing("nan*x", &["x", "y"]);
        assert!(text.contains("vmovupd ymm0,["), "{text}");
    }
}
