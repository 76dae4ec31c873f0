//! The tree-walking interpreter: the reference meaning of every program.
//!
//! It walks the lowered [`Node`]s without recursing on the Rust stack: work
//! still to be done after an operand is evaluated is a [`Task`] on a heap
//! stack, and values (operands waiting for their operator, and every
//! frame's arguments) live on a value stack. A user call pushes a
//! [`Frame`] and walks on into the callee's body; returning pops it. So
//! however deeply a program nests or recurses, the interpreter's own stack
//! use is constant: what it keeps is bounded by the budget every call is
//! charged ([`crate::analysis`]), exactly as machine code's frames are,
//! and both tiers run out at the same call.
//!
//! Constants and parameters are used in place wherever they are operands,
//! without a task: half the nodes of a typical body are such leaves.

use std::cell::RefCell;
use std::sync::Arc;

use crate::builtins::Builtin;
use crate::error::{Error, ErrorKind, Span};
use crate::lower::{from_bool, truthy, Cmp, Node};
use crate::runtime::{self, charge, Function, Runtime};

/// What is left to do once the value being computed is known (it is the
/// `v` of [`run`]'s loop; further operands wait on the value stack).
#[derive(Debug, Clone, Copy)]
enum Task<'n> {
    /// `-v`.
    Neg,
    /// `!v`.
    Not,
    /// `v` is the running value of the chain; apply its links from the
    /// `i`-th on.
    Chain(&'n Node, u32),
    /// `v` is the operand of the chain's `i`-th link; the running value
    /// is on the value stack.
    Link(&'n Node, u32),
    /// `v` is the left operand of a comparison or a two-argument built-in
    /// (the node); evaluate the right one.
    Rhs(&'n Node),
    /// `v` is the right operand; the left one is on the value stack.
    Cmp(Cmp),
    /// `v` is the right operand; the left one is on the value stack.
    Call2(Builtin),
    /// `v` is the argument.
    Call1(Builtin),
    /// `v` is the `i - 1`-th operand of `&&` (or `||`) node.
    And(&'n Node, u32),
    Or(&'n Node, u32),
    /// `v` is the condition of the `?:` node.
    Cond(&'n Node),
    /// `v` is the argument `i - 1` of the call node.
    Arg(&'n Node, u32),
    /// `v` is what the innermost frame's function returned.
    Return,
}

/// A user call in progress: what to restore when it returns.
#[derive(Debug, Clone, Copy)]
struct Frame<'n> {
    /// The caller's arguments start here on the value stack.
    base: usize,
    /// The caller.
    func: &'n Function,
    /// The call node, for an error the callee has no position for.
    call: &'n Node,
}

/// How many nodes the interpreter walks between two looks at the stop
/// flag (user calls always look).
const TICKS: u32 = 4096;

/// Runs `f`'s body with `args` as its parameters, charging `f.cost` from
/// `budget`. An error found at no position of its own (`recursion too
/// deep` for this very call) is returned without a span, for the caller to
/// place at its call.
pub(crate) fn run(
    rt: &Runtime<'_>,
    f: &Arc<Function>,
    args: &[f64],
    budget: u64,
) -> Result<f64, Error> {
    let Some(budget) = charge(budget, f.cost) else {
        return Err(ErrorKind::RecursionTooDeep.into());
    };
    let mut stacks = Stacks::take();
    stacks.vals.extend_from_slice(args);
    let mut tasks = reuse(std::mem::take(&mut stacks.tasks));
    let mut frames = reuse(std::mem::take(&mut stacks.frames));
    let result = walk(rt, f, budget, &mut stacks.vals, &mut tasks, &mut frames);
    tasks.clear();
    frames.clear();
    stacks.tasks = reuse(tasks);
    stacks.frames = reuse(frames);
    stacks.give_back();
    result
}

/// The value stack, task stack and frame stack of one `run`, kept per
/// thread between runs: allocating them for every evaluation cost more
/// than evaluating a small expression.
#[derive(Default)]
struct Stacks {
    vals: Vec<f64>,
    tasks: Vec<Task<'static>>,
    frames: Vec<Frame<'static>>,
}

thread_local! {
    static POOL: RefCell<Vec<Stacks>> = const { RefCell::new(Vec::new()) };
}

impl Stacks {
    fn take() -> Stacks {
        POOL.try_with(|p| p.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn give_back(mut self) {
        self.vals.clear();
        let _ = POOL.try_with(|p| p.borrow_mut().push(self));
    }
}

/// An empty vector of one lifetime as an empty vector of another, keeping
/// its allocation (`collect` reuses it in place: same size and alignment).
fn reuse<T, U>(v: Vec<T>) -> Vec<U> {
    debug_assert!(v.is_empty());
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

/// `kind` raised at `span` in `func`'s text.
#[cold]
fn fail(kind: ErrorKind, span: Span, func: &Function) -> Error {
    Error::at(kind, span).in_source(&func.source)
}

/// The span of a call node (every caller passes one).
fn span_of(call: &Node) -> Span {
    match call {
        Node::Call(_, _, span) => *span,
        _ => Span::default(),
    }
}

/// A leaf operand's value: constants and parameters are used in place.
#[inline(always)]
fn leaf(node: &Node, vals: &[f64], base: usize) -> Option<f64> {
    match node {
        Node::Num(x) => Some(*x),
        Node::Param(i) => Some(vals[base + *i as usize]),
        _ => None,
    }
}

/// The walk itself: descend into `node` until a value is known, then
/// ascend through the tasks waiting for it, until none is left.
fn walk<'n>(
    rt: &'n Runtime<'_>,
    root: &'n Function,
    mut budget: u64,
    vals: &mut Vec<f64>,
    tasks: &mut Vec<Task<'n>>,
    frames: &mut Vec<Frame<'n>>,
) -> Result<f64, Error> {
    let ns = rt.ns;
    let mut func: &'n Function = root;
    let mut base = 0usize;
    let mut node: &'n Node = &root.body;
    let mut ticks = TICKS;
    loop {
        // Descend: compute `node`'s value, or put off the rest of it and
        // go into its first operand that is not a leaf.
        ticks -= 1;
        if ticks == 0 {
            ticks = TICKS;
            if rt.stopped() {
                return Err(ErrorKind::Interrupted.into());
            }
        }
        let mut v = match node {
            Node::Num(x) => *x,
            Node::Param(i) => vals[base + *i as usize],
            Node::Global(sym, span) => {
                runtime::global(ns, *sym).map_err(|k| fail(k, *span, func))?
            }
            Node::Neg(a) => match leaf(a, vals, base) {
                Some(x) => -x,
                None => {
                    tasks.push(Task::Neg);
                    node = a;
                    continue;
                }
            },
            Node::Not(a) => {
                tasks.push(Task::Not);
                node = a;
                continue;
            }
            Node::Chain(a, _) => match leaf(a, vals, base) {
                Some(x) => {
                    tasks.push(Task::Chain(node, 0));
                    x
                }
                None => {
                    tasks.push(Task::Chain(node, 0));
                    node = a;
                    continue;
                }
            },
            Node::Cmp(op, a, b) => match (leaf(a, vals, base), leaf(b, vals, base)) {
                (Some(x), Some(y)) => from_bool(op.apply(x, y)),
                (Some(x), None) => {
                    vals.push(x);
                    tasks.push(Task::Cmp(*op));
                    node = b;
                    continue;
                }
                (None, _) => {
                    tasks.push(Task::Rhs(node));
                    node = a;
                    continue;
                }
            },
            Node::Call1(f, a) => match leaf(a, vals, base) {
                Some(x) => f.apply1(x),
                None => {
                    tasks.push(Task::Call1(*f));
                    node = a;
                    continue;
                }
            },
            Node::Call2(f, a, b) => match (leaf(a, vals, base), leaf(b, vals, base)) {
                (Some(x), Some(y)) => f.apply2(x, y),
                (Some(x), None) => {
                    vals.push(x);
                    tasks.push(Task::Call2(*f));
                    node = b;
                    continue;
                }
                (None, _) => {
                    tasks.push(Task::Rhs(node));
                    node = a;
                    continue;
                }
            },
            Node::And(items) | Node::Or(items) => {
                let task = match node {
                    Node::And(_) => Task::And(node, 1),
                    _ => Task::Or(node, 1),
                };
                tasks.push(task);
                node = &items[0];
                continue;
            }
            Node::Cond(c, a, b) => match leaf(c, vals, base) {
                Some(x) => {
                    node = if truthy(x) { a } else { b };
                    continue;
                }
                None => {
                    tasks.push(Task::Cond(node));
                    node = c;
                    continue;
                }
            },
            Node::Call(_, args, _) => match args.first() {
                Some(first) => {
                    tasks.push(Task::Arg(node, 1));
                    node = first;
                    continue;
                }
                None => {
                    // A call of no arguments: nothing to evaluate first.
                    tasks.push(Task::Arg(node, 0));
                    f64::NAN
                }
            },
            Node::Native(n) => {
                let args = &vals[base..base + n.arity];
                match n.call(args) {
                    Ok(x) => x,
                    // Placed at the call that reached the native.
                    Err(kind) => {
                        return Err(match frames.last() {
                            Some(fr) => fail(kind, span_of(fr.call), fr.func),
                            None => kind.into(),
                        })
                    }
                }
            }
            Node::Fail(kind, span) => return Err(fail(kind.clone(), *span, func)),
        };

        // Ascend: hand `v` to the tasks waiting for it. A task that needs
        // another operand evaluated sets `node` and goes back to descend.
        'ascend: loop {
            let Some(task) = tasks.pop() else {
                return Ok(v);
            };
            match task {
                Task::Neg => v = -v,
                Task::Not => v = from_bool(!truthy(v)),
                Task::Chain(n, i) | Task::Link(n, i) => {
                    let Node::Chain(_, links) = n else {
                        unreachable!("chain tasks are made for chains")
                    };
                    let mut i = i as usize;
                    if let Task::Link(..) = task {
                        let x = vals.pop().unwrap_or(f64::NAN);
                        v = links[i].0.apply(x, v);
                        i += 1;
                    }
                    while let Some((link, b)) = links.get(i) {
                        match leaf(b, vals, base) {
                            Some(y) => v = link.apply(v, y),
                            None => {
                                vals.push(v);
                                tasks.push(Task::Link(n, i as u32));
                                node = b;
                                break 'ascend;
                            }
                        }
                        i += 1;
                        ticks -= 1;
                        if ticks == 0 {
                            ticks = TICKS;
                            if rt.stopped() {
                                return Err(ErrorKind::Interrupted.into());
                            }
                        }
                    }
                }
                Task::Rhs(n) => {
                    let b = match n {
                        Node::Cmp(_, _, b) | Node::Call2(_, _, b) => b,
                        _ => unreachable!("right operands are of binary nodes"),
                    };
                    match (n, leaf(b, vals, base)) {
                        (Node::Cmp(op, ..), Some(y)) => v = from_bool(op.apply(v, y)),
                        (Node::Call2(f, ..), Some(y)) => v = f.apply2(v, y),
                        (Node::Cmp(op, ..), None) => {
                            vals.push(v);
                            tasks.push(Task::Cmp(*op));
                            node = b;
                            break 'ascend;
                        }
                        (_, None) => {
                            let Node::Call2(f, ..) = n else {
                                unreachable!("a binary node")
                            };
                            vals.push(v);
                            tasks.push(Task::Call2(*f));
                            node = b;
                            break 'ascend;
                        }
                        _ => unreachable!("a binary node"),
                    }
                }
                Task::Cmp(op) => {
                    let x = vals.pop().unwrap_or(f64::NAN);
                    v = from_bool(op.apply(x, v));
                }
                Task::Call2(f) => {
                    let x = vals.pop().unwrap_or(f64::NAN);
                    v = f.apply2(x, v);
                }
                Task::Call1(f) => v = f.apply1(v),
                Task::And(n, i) | Task::Or(n, i) => {
                    let (Node::And(items) | Node::Or(items)) = n else {
                        unreachable!("logic tasks are made for && and ||")
                    };
                    let and = matches!(task, Task::And(..));
                    // `&&` stops at the first operand that is not truthy,
                    // `||` at the first that is.
                    let mut i = i as usize;
                    loop {
                        if truthy(v) != and {
                            v = from_bool(!and);
                            break;
                        }
                        let Some(next) = items.get(i) else {
                            v = from_bool(and);
                            break;
                        };
                        match leaf(next, vals, base) {
                            Some(x) => v = x,
                            None => {
                                let i = i as u32 + 1;
                                tasks.push(if and { Task::And(n, i) } else { Task::Or(n, i) });
                                node = next;
                                break 'ascend;
                            }
                        }
                        i += 1;
                    }
                }
                Task::Cond(n) => {
                    let Node::Cond(_, a, b) = n else {
                        unreachable!("cond tasks are made for ?:")
                    };
                    node = if truthy(v) { a } else { b };
                    break 'ascend;
                }
                Task::Arg(n, i) => {
                    let Node::Call(sym, args, span) = n else {
                        unreachable!("argument tasks are made for calls")
                    };
                    let mut i = i as usize;
                    if i > 0 {
                        vals.push(v);
                    }
                    // The remaining arguments, leaves in place.
                    while let Some(a) = args.get(i) {
                        match leaf(a, vals, base) {
                            Some(x) => vals.push(x),
                            None => {
                                tasks.push(Task::Arg(n, i as u32 + 1));
                                node = a;
                                break 'ascend;
                            }
                        }
                        i += 1;
                    }
                    // Every argument is on the value stack: call.
                    let frame = vals.len() - args.len();
                    let callee =
                        runtime::resolve(ns, *sym, args.len()).map_err(|k| fail(k, *span, func))?;
                    if rt.stopped() {
                        return Err(fail(ErrorKind::Interrupted, *span, func));
                    }
                    if let (Some(entry), Some(machine)) = (rt.entry_for(callee), rt.machine) {
                        let result = machine.enter(rt, entry, &vals[frame..], budget);
                        vals.truncate(frame);
                        v = result.map_err(|e| match e.span {
                            None => fail(e.kind, *span, func),
                            Some(_) => e,
                        })?;
                        continue 'ascend;
                    }
                    budget = charge(budget, callee.cost)
                        .ok_or_else(|| fail(ErrorKind::RecursionTooDeep, *span, func))?;
                    frames.push(Frame {
                        base,
                        func,
                        call: n,
                    });
                    tasks.push(Task::Return);
                    base = frame;
                    func = callee;
                    node = &callee.body;
                    break 'ascend;
                }
                Task::Return => {
                    vals.truncate(base);
                    budget += func.cost;
                    let Some(fr) = frames.pop() else {
                        unreachable!("a return task has its frame")
                    };
                    base = fr.base;
                    func = fr.func;
                }
            }
        }
    }
}
