//! What can be known about a lowered body before running it, for every
//! tier and every backend alike: its shape (how deep evaluation nests, how
//! many values it keeps pending, how many arguments it passes), the stack
//! budget a call of it is charged, which subtrees call or can fail, which
//! parameters it uses, whether it is pure, and how deeply its calls of
//! itself may be inlined.
//!
//! # The stack budget
//!
//! Every activation of a function — the root of an evaluation, a nested
//! call, a call inlined into machine code — is charged [`cost`] bytes of
//! one budget, [`BUDGET`], and gives them back when it returns. The charge
//! is computed here, once, from the lowered body, so the interpreter and
//! machine code charge exactly the same amounts and run out at exactly the
//! same call: `recursion too deep` is the same error at the same place in
//! every tier, whatever thread runs it. Each tier in turn guarantees that
//! what it really uses stays within what it was charged:
//!
//! * the interpreter keeps pending work on the heap, at most one task per
//!   level of [`Shape::height`] and one value per level of
//!   [`Shape::need`];
//! * machine code's frame holds [`frame_words`] of the shape (inlined
//!   copies included: [`SelfInline::plan`] inlines only as deep as the
//!   frame stays within the charge);
//!
//! so an evaluation that starts with [`crate::stack::EVAL_STACK`] bytes of
//! stack never reaches the end of it before the budget runs out.

use std::collections::HashMap;

use crate::builtins::Builtin;
use crate::error::ErrorKind;
use crate::lower::{Link, Node, Sym};
use crate::stack::StackGuard;

/// The stack budget of one evaluation, in bytes (see the module docs).
/// Enough for 10,000 nested calls of a body nested 1,000 levels deep,
/// with room to spare, and about 300,000 nested calls of a small one.
pub(crate) const BUDGET: u64 = 320 << 20;

/// What every activation costs on top of its shape: a return address and
/// frame bookkeeping in machine code, a frame record in the interpreter,
/// and the Rust frames of a call that crosses between tiers.
pub(crate) const BASE_COST: u64 = 1024;

/// How a body uses the stack, whichever tier runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Shape {
    /// Levels of nesting evaluation goes through: operations waiting for
    /// an operand (a chain, `&&` and `||` count once however long).
    pub height: u32,
    /// Values kept pending at once, above the current one: the value
    /// stack depth machine code gives a body (its registers and homes).
    pub need: u32,
    /// The most arguments any call in it passes.
    pub outgoing: u32,
}

/// The shape of `body`.
pub(crate) fn shape(body: &Node, guard: &StackGuard) -> Result<Shape, ErrorKind> {
    Ok(Shape {
        height: height(body, guard)?,
        need: to_u32(need(body, guard, None, 0)?),
        outgoing: to_u32(max_outgoing(body, guard)?),
    })
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The bytes of [`BUDGET`] a call of a function of this shape is charged.
pub(crate) fn cost(shape: Shape) -> u64 {
    BASE_COST + 8 * (u64::from(shape.height) + u64::from(shape.need) + u64::from(shape.outgoing))
}

/// The 8-byte words a machine-code frame of a body needs: a value slot per
/// depth it uses (`need + 1`), the outgoing arguments, and the return
/// address with alignment. A backend may use fewer, never more.
pub(crate) fn frame_words(need: usize, outgoing: usize) -> usize {
    need + 1 + outgoing + 2
}

/// A constant or a parameter: an operand every tier uses in place,
/// without evaluating anything.
pub(crate) fn is_leaf(node: &Node) -> bool {
    matches!(node, Node::Num(_) | Node::Param(_))
}

/// Levels of nesting the interpreter goes through for `node`: one per
/// operation with operands (a node without any — a leaf, a global, a
/// failure — is computed where it stands).
fn height(node: &Node, guard: &StackGuard) -> Result<u32, ErrorKind> {
    guard.check()?;
    let children = node.children();
    if children.is_empty() {
        return Ok(0);
    }
    let mut most = 0;
    for c in children {
        most = most.max(height(c, guard)?);
    }
    Ok(most + 1)
}

/// What code generation needs to know about a subtree before emitting it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flags {
    /// Evaluating it calls out of line (a user function, a built-in that
    /// is not a single instruction, or the runtime), so every register a
    /// call may clobber is clobbered.
    pub calls: bool,
    /// Evaluating it can raise an error.
    pub fails: bool,
}

/// Built-ins that every backend computes in a few exact instructions
/// rather than a call (`sqrt` is IEEE's square root, `abs` clears the
/// sign bit, `square` is a multiplication, `pow-half` a square root with
/// two signs fixed): they clobber nothing.
pub(crate) fn is_instruction(f: Builtin) -> bool {
    matches!(
        f,
        Builtin::Sqrt | Builtin::Abs | Builtin::Square | Builtin::PowHalf
    )
}

/// [`Flags`] of every node of `node`, bottom-up, keyed by address (the
/// tree is borrowed for the whole compilation, so addresses are stable),
/// so a question about a subtree is answered in O(1).
pub(crate) fn flags(
    node: &Node,
    out: &mut HashMap<*const Node, Flags>,
    guard: &StackGuard,
) -> Result<Flags, ErrorKind> {
    guard.check()?;
    let mut f = match node {
        Node::Call(..) | Node::Global(..) | Node::Fail(..) | Node::Native(_) => Flags {
            calls: true,
            fails: true,
        },
        Node::Call1(f, _) if is_instruction(*f) => Flags::default(),
        Node::Call1(..) | Node::Call2(..) => Flags {
            calls: true,
            fails: false,
        },
        // `%` in a chain is a call of `builtins::rem`.
        Node::Chain(_, links) => Flags {
            calls: links.iter().any(|(l, _)| matches!(l, Link::Call(..))),
            fails: false,
        },
        _ => Flags::default(),
    };
    for c in node.children() {
        let cf = flags(c, out, guard)?;
        f.calls |= cf.calls;
        f.fails |= cf.fails;
    }
    out.insert(node as *const Node, f);
    Ok(f)
}

/// Can `node` run without the runtime: no user calls, no global reads, no
/// failure sites, no natives? Such code cannot fail or recurse, so it may
/// be entered directly, with no budget and no stack check.
pub(crate) fn is_pure(node: &Node, guard: &StackGuard) -> bool {
    if guard.check().is_err() {
        return false;
    }
    match node {
        Node::Call(..) | Node::Global(..) | Node::Fail(..) | Node::Native(_) => false,
        _ => node.children().into_iter().all(|c| is_pure(c, guard)),
    }
}

/// How many times each parameter is used in `node`.
pub(crate) fn param_uses(
    node: &Node,
    uses: &mut [usize],
    guard: &StackGuard,
) -> Result<(), ErrorKind> {
    guard.check()?;
    if let Node::Param(i) = node {
        if let Some(n) = uses.get_mut(*i as usize) {
            *n += 1;
        }
    }
    node.children()
        .into_iter()
        .try_for_each(|c| param_uses(c, uses, guard))
}

/// How many depths above its own the code for `node` uses (an upper
/// bound: binary operands may be evaluated in either order).
/// `level` is how many inlined calls enclose `node` (see [`SelfInline`]).
pub(crate) fn need(
    node: &Node,
    guard: &StackGuard,
    inline: Option<&SelfInline<'_>>,
    level: usize,
) -> Result<usize, ErrorKind> {
    guard.check()?;
    let need = |n: &Node| need(n, guard, inline, level);
    Ok(match node {
        Node::Cmp(_, a, b) | Node::Call2(_, a, b) => need(a)?.max(need(b)?) + 1,
        // Operands at d + 1 and the running value at d; after a swap the
        // value in front of the swapped operand runs at d + 1.
        Node::Chain(a, links) => {
            let most = links
                .iter()
                .try_fold(need(a)?, |m, (_, b)| Ok::<_, ErrorKind>(m.max(need(b)?)))?;
            most + if links.len() > 1 { 2 } else { 1 }
        }
        Node::Call(sym, args, _) => {
            let args_need = args
                .iter()
                .enumerate()
                .try_fold(0, |m, (j, a)| Ok::<_, ErrorKind>(m.max(j + need(a)?)))?;
            match inline {
                // An inlined body runs at the call's own depth.
                Some(i) if level < i.levels && i.covers(*sym, args.len()) => {
                    args_need.max(args.len() + self::need(i.body, guard, inline, level + 1)?)
                }
                _ => args_need,
            }
        }
        _ => node
            .children()
            .into_iter()
            .try_fold(0, |m, c| Ok::<_, ErrorKind>(m.max(need(c)?)))?,
    })
}

/// Most outgoing arguments any call in `node` passes.
pub(crate) fn max_outgoing(node: &Node, guard: &StackGuard) -> Result<usize, ErrorKind> {
    guard.check()?;
    let here = match node {
        Node::Call(_, args, _) => args.len(),
        _ => 0,
    };
    node.children()
        .into_iter()
        .try_fold(here, |m, c| Ok(m.max(max_outgoing(c, guard)?)))
}

/// Inlining of self-recursive calls: in `fib(n) = n < 2 ? n : fib(n-1) +
/// fib(n-2)`, the two calls of `fib` are replaced by copies of the body,
/// whose own calls are replaced again, `levels` deep; the calls below that
/// are real calls of the function's own entry. An inlined call does what
/// a real one does that anyone could see — it evaluates the arguments,
/// is charged the function's [`cost`] (failing with `recursion too deep`
/// at the same call) and gives it back — but it needs no frame of its own
/// and no stack check.
///
/// Only the function's own name is inlined: its code is retired when the
/// name is redefined, so the copies can never outlive the definition they
/// copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SelfInline<'a> {
    pub sym: Sym,
    pub arity: usize,
    pub body: &'a Node,
    pub levels: usize,
}

/// At most this many levels of a self-recursive body are inlined: deeper
/// costs code size for little gain (see docs/performance.md).
const MAX_INLINE_LEVELS: usize = 4;

/// At most this many lowered nodes (a chain counted as its nested binary
/// form), all copies together, per function: it keeps compilation in tens
/// of microseconds (see docs/performance.md).
const INLINE_BUDGET: usize = 500;

impl<'a> SelfInline<'a> {
    /// How deep to inline `sym`'s calls in `body`, a function of `arity`
    /// parameters charged `charge` per call: as deep as
    /// [`MAX_INLINE_LEVELS`] and [`INLINE_BUDGET`] allow, and no deeper
    /// than keeps its frame (inlined copies included) within `charge`.
    /// Returns the plan (`None` when nothing is inlined) and the value
    /// stack depth the body needs with it.
    pub fn plan(
        sym: Sym,
        body: &'a Node,
        arity: usize,
        charge: u64,
        guard: &StackGuard,
    ) -> Result<(Option<SelfInline<'a>>, usize), ErrorKind> {
        let mut size = 0;
        let mut calls = 0;
        count(body, sym, arity, guard, &mut size, &mut calls)?;
        let plain = || need(body, guard, None, 0);
        if calls == 0 {
            return Ok((None, plain()?));
        }
        let outgoing = max_outgoing(body, guard)?;
        // Level k adds calls^k copies of the body.
        let (mut levels, mut total, mut copies) = (0, size, 1usize);
        while levels < MAX_INLINE_LEVELS {
            copies = copies.saturating_mul(calls);
            total = total.saturating_add(copies.saturating_mul(size));
            if total > INLINE_BUDGET {
                break;
            }
            levels += 1;
        }
        // The deepest plan whose frame fits the charge (nearly always the
        // first one tried: the charge is far above a small body's frame).
        while levels > 0 {
            let plan = SelfInline {
                sym,
                arity,
                body,
                levels,
            };
            let depth = need(body, guard, Some(&plan), 0)?;
            if 8 * frame_words(depth, outgoing) as u64 <= charge {
                return Ok((Some(plan), depth));
            }
            levels -= 1;
        }
        Ok((None, plain()?))
    }

    /// Is a call of `sym` with `argc` arguments a call of this function?
    pub fn covers(&self, sym: Sym, argc: usize) -> bool {
        sym == self.sym && argc == self.arity
    }
}

/// Counts the nodes of `node` and its calls of `sym` with `arity` arguments.
fn count(
    node: &Node,
    sym: Sym,
    arity: usize,
    guard: &StackGuard,
    size: &mut usize,
    calls: &mut usize,
) -> Result<(), ErrorKind> {
    guard.check()?;
    // A chain counts as the nested binary nodes it stands for (it emits as
    // much code), which is what INLINE_BUDGET is measured in.
    *size += match node {
        Node::Chain(_, links) => links.len(),
        Node::And(items) | Node::Or(items) => items.len().saturating_sub(1),
        _ => 1,
    };
    if let Node::Call(s, args, _) = node {
        if *s == sym && args.len() == arity {
            *calls += 1;
        }
    }
    node.children()
        .into_iter()
        .try_for_each(|c| count(c, sym, arity, guard, size, calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lower::{lower, Globals};
    use crate::syntax::parse_expr;

    struct One;
    impl Globals for One {
        fn intern(&mut self, _: &str) -> Sym {
            Sym(0)
        }
    }

    fn shape_of(src: &str) -> Shape {
        let params = ["n".to_string(), "m".to_string()];
        let node = lower(&parse_expr(src).unwrap(), &params, &mut One).unwrap();
        shape(&node, &StackGuard::here()).unwrap()
    }

    #[test]
    fn leaves_cost_nothing_and_nesting_costs_a_level_each() {
        assert_eq!(shape_of("n"), Shape::default());
        let s = shape_of("-(-(-n))");
        assert_eq!((s.height, s.need), (3, 0));
        let s = shape_of("sin(sin(sin(n)))");
        assert_eq!((s.height, s.need), (3, 0));
        // A chain is one level however long.
        let s = shape_of("n + 1 + n + 2 + n");
        assert_eq!((s.height, s.need), (1, 2));
        let s = shape_of("f(n, n + 1, m)");
        assert_eq!((s.height, s.need, s.outgoing), (2, 2, 3));
    }

    #[test]
    fn the_charge_grows_with_the_shape_and_dead_branches_count() {
        let small = cost(shape_of("n < 1 ? 0 : f(n - 1)"));
        let deep = format!(
            "n < 1 ? 0 : (n < -5 ? {}n{} : f(n - 1))",
            "1+(".repeat(300),
            ")".repeat(300)
        );
        let big = cost(shape_of(&deep));
        assert!(small < 1200, "{small}");
        assert!(big > small + 8 * 500, "{big}");
        // docs/language.md §4.6: 10,000 nested calls of a body nested 1,000 deep fit.
        let worst = format!("{}f(n){}", "1+(n-(".repeat(500), "))".repeat(500));
        let worst = cost(shape_of(&worst));
        assert!(10_000 * worst <= BUDGET, "{worst}");
    }

    #[test]
    fn inlining_stays_within_the_charge() {
        let node = lower(
            &parse_expr("n < 2 ? n : f(n - 1) + f(n - 2)").unwrap(),
            &["n".to_string()],
            &mut One,
        )
        .unwrap();
        let guard = StackGuard::here();
        let charge = cost(shape(&node, &guard).unwrap());
        let (plan, depth) = SelfInline::plan(Sym(0), &node, 1, charge, &guard).unwrap();
        assert_eq!(plan.unwrap().levels, MAX_INLINE_LEVELS);
        assert_eq!(depth, need(&node, &guard, plan.as_ref(), 0).unwrap());
        assert!(8 * frame_words(depth, 1) as u64 <= charge);
        // With a charge too small for even one level, nothing is inlined.
        let (plan, depth) = SelfInline::plan(Sym(0), &node, 1, 8, &guard).unwrap();
        assert!(plan.is_none());
        assert_eq!(depth, need(&node, &guard, None, 0).unwrap());
    }
}
