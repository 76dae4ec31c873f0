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
//! Operands that are *simple* — a constant, a parameter, or one operation
//! on those (`n - 1`, `n < 2`) — are computed in place, without a task:
//! they are most of the operands of a typical body.

use std::cell::RefCell;
use std::sync::Arc;

use crate::builtins::Builtin;
use crate::error::{Error, ErrorKind, Span};
use crate::lower::{from_bool, truthy, Cmp, Node};
use crate::runtime::{self, charge, Function, Runtime};

/// What is left to do once the value being computed is known (it is the
/// `v` of the walk; further operands wait on the value stack).
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
    /// `v` is the `i - 1`-th operand of the `&&` (or `||`) node.
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
    let mut walk = Walk {
        rt,
        vals: std::mem::take(&mut stacks.vals),
        tasks: reuse(std::mem::take(&mut stacks.tasks)),
        frames: reuse(std::mem::take(&mut stacks.frames)),
        func: f,
        base: 0,
        budget,
        ticks: TICKS,
    };
    let result = walk.run(&f.body);
    walk.tasks.clear();
    walk.frames.clear();
    stacks.vals = walk.vals;
    stacks.tasks = reuse(walk.tasks);
    stacks.frames = reuse(walk.frames);
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

/// What to do after a step: a value is known, or a node is to be walked.
enum Next<'n> {
    Value(f64),
    Walk(&'n Node),
}

/// One run of the interpreter: its stacks, and the frame being walked.
struct Walk<'n, 'r> {
    rt: &'n Runtime<'r>,
    vals: Vec<f64>,
    tasks: Vec<Task<'n>>,
    frames: Vec<Frame<'n>>,
    /// The function whose body is being walked.
    func: &'n Function,
    /// Where its arguments start on the value stack.
    base: usize,
    /// Stack budget left.
    budget: u64,
    /// Nodes left before the next look at the stop flag.
    ticks: u32,
}

impl<'n> Walk<'n, '_> {
    /// A leaf operand's value: constants and parameters are used in place.
    #[inline(always)]
    fn leaf(&self, node: &Node) -> Option<f64> {
        match node {
            Node::Num(x) => Some(*x),
            Node::Param(i) => Some(self.vals[self.base + *i as usize]),
            _ => None,
        }
    }

    /// A simple operand's value: a leaf, or one operation of leaves that
    /// cannot fail (`n - 1`, `n < 2`, `-x`, `sin(x)`), computed in place.
    #[inline(always)]
    fn simple(&self, node: &Node) -> Option<f64> {
        match node {
            Node::Num(x) => Some(*x),
            Node::Param(i) => Some(self.vals[self.base + *i as usize]),
            Node::Chain(a, links) if links.len() == 1 => {
                let (link, b) = &links[0];
                Some(link.apply(self.leaf(a)?, self.leaf(b)?))
            }
            Node::Cmp(op, a, b) => Some(from_bool(op.apply(self.leaf(a)?, self.leaf(b)?))),
            Node::Neg(a) => Some(-self.leaf(a)?),
            Node::Call1(f, a) => Some(f.apply1(self.leaf(a)?)),
            Node::Call2(f, a, b) => Some(f.apply2(self.leaf(a)?, self.leaf(b)?)),
            _ => None,
        }
    }

    #[inline(always)]
    fn tick(&mut self) -> Result<(), Error> {
        self.ticks -= 1;
        if self.ticks == 0 {
            self.ticks = TICKS;
            if self.rt.stopped() {
                return Err(ErrorKind::Interrupted.into());
            }
        }
        Ok(())
    }

    /// The walk itself: descend into `node` until a value is known, then
    /// ascend through the tasks waiting for it, until none is left.
    fn run(&mut self, root: &'n Node) -> Result<f64, Error> {
        let mut node = root;
        loop {
            let mut v = match self.descend(node)? {
                Next::Value(v) => v,
                Next::Walk(n) => {
                    node = n;
                    continue;
                }
            };
            // Ascend: hand `v` to the tasks waiting for it, until one
            // needs another node walked.
            node = loop {
                let Some(task) = self.tasks.pop() else {
                    return Ok(v);
                };
                match self.ascend(task, v)? {
                    Next::Value(x) => v = x,
                    Next::Walk(n) => break n,
                }
            };
        }
    }

    /// One step down: `node`'s value, or the node to walk first (with a
    /// task pushed for what is left of `node`).
    #[inline(always)]
    fn descend(&mut self, node: &'n Node) -> Result<Next<'n>, Error> {
        self.tick()?;
        Ok(Next::Value(match node {
            Node::Num(x) => *x,
            Node::Param(i) => self.vals[self.base + *i as usize],
            Node::Global(sym, span) => {
                runtime::global(self.rt.ns, *sym).map_err(|k| fail(k, *span, self.func))?
            }
            Node::Neg(a) => match self.simple(a) {
                Some(x) => -x,
                None => return Ok(self.then(Task::Neg, a)),
            },
            Node::Not(a) => match self.simple(a) {
                Some(x) => from_bool(!truthy(x)),
                None => return Ok(self.then(Task::Not, a)),
            },
            Node::Chain(a, _) => match self.simple(a) {
                Some(x) => return self.chain(node, 0, x),
                None => return Ok(self.then(Task::Chain(node, 0), a)),
            },
            Node::Cmp(_, a, _) | Node::Call2(_, a, _) => match self.simple(a) {
                Some(x) => return Ok(self.rhs(node, x)),
                None => return Ok(self.then(Task::Rhs(node), a)),
            },
            Node::Call1(f, a) => match self.simple(a) {
                Some(x) => f.apply1(x),
                None => return Ok(self.then(Task::Call1(*f), a)),
            },
            Node::And(items) => return Ok(self.then(Task::And(node, 1), &items[0])),
            Node::Or(items) => return Ok(self.then(Task::Or(node, 1), &items[0])),
            Node::Cond(c, a, b) => match self.simple(c) {
                Some(x) => return Ok(Next::Walk(if truthy(x) { a } else { b })),
                None => return Ok(self.then(Task::Cond(node), c)),
            },
            Node::Call(..) => return self.args(node, 0),
            Node::Native(n) => {
                let args = &self.vals[self.base..self.base + n.arity];
                match n.call(args) {
                    Ok(x) => x,
                    // Placed at the call that reached the native.
                    Err(kind) => {
                        return Err(match self.frames.last() {
                            Some(fr) => fail(kind, span_of(fr.call), fr.func),
                            None => kind.into(),
                        })
                    }
                }
            }
            Node::Fail(kind, span) => return Err(fail(kind.clone(), *span, self.func)),
        }))
    }

    /// Walk `node` first, then do `task` with its value.
    #[inline(always)]
    fn then(&mut self, task: Task<'n>, node: &'n Node) -> Next<'n> {
        self.tasks.push(task);
        Next::Walk(node)
    }

    /// One step up: the task waiting for `v`.
    #[inline(always)]
    fn ascend(&mut self, task: Task<'n>, v: f64) -> Result<Next<'n>, Error> {
        Ok(Next::Value(match task {
            Task::Neg => -v,
            Task::Not => from_bool(!truthy(v)),
            Task::Chain(n, i) => return self.chain(n, i as usize, v),
            Task::Link(n, i) => {
                let Node::Chain(_, links) = n else {
                    unreachable!("link tasks are made for chains")
                };
                let x = self.vals.pop().unwrap_or(f64::NAN);
                let i = i as usize;
                return self.chain(n, i + 1, links[i].0.apply(x, v));
            }
            Task::Rhs(n) => return Ok(self.rhs(n, v)),
            Task::Cmp(op) => {
                let x = self.vals.pop().unwrap_or(f64::NAN);
                from_bool(op.apply(x, v))
            }
            Task::Call2(f) => {
                let x = self.vals.pop().unwrap_or(f64::NAN);
                f.apply2(x, v)
            }
            Task::Call1(f) => f.apply1(v),
            Task::And(n, i) | Task::Or(n, i) => return Ok(self.logic(task, n, i as usize, v)),
            Task::Cond(n) => {
                let Node::Cond(_, a, b) = n else {
                    unreachable!("cond tasks are made for ?:")
                };
                return Ok(Next::Walk(if truthy(v) { a } else { b }));
            }
            Task::Arg(n, i) => {
                self.vals.push(v);
                return self.args(n, i as usize);
            }
            Task::Return => {
                self.vals.truncate(self.base);
                self.budget += self.func.cost;
                let Some(fr) = self.frames.pop() else {
                    unreachable!("a return task has its frame")
                };
                self.base = fr.base;
                self.func = fr.func;
                v
            }
        }))
    }

    /// Chain `n` with running value `v`, from link `i` on: simple operands
    /// in place, the first other one walked (with a `Link` task).
    #[inline(always)]
    fn chain(&mut self, n: &'n Node, mut i: usize, mut v: f64) -> Result<Next<'n>, Error> {
        let Node::Chain(_, links) = n else {
            unreachable!("chain tasks are made for chains")
        };
        while let Some((link, b)) = links.get(i) {
            match self.simple(b) {
                Some(y) => v = link.apply(v, y),
                None => {
                    self.vals.push(v);
                    return Ok(self.then(Task::Link(n, i as u32), b));
                }
            }
            i += 1;
            self.tick()?;
        }
        Ok(Next::Value(v))
    }

    /// The right operand of the comparison or built-in `n`, whose left one
    /// is `x`.
    #[inline(always)]
    fn rhs(&mut self, n: &'n Node, x: f64) -> Next<'n> {
        match n {
            Node::Cmp(op, _, b) => match self.simple(b) {
                Some(y) => Next::Value(from_bool(op.apply(x, y))),
                None => {
                    self.vals.push(x);
                    self.then(Task::Cmp(*op), b)
                }
            },
            Node::Call2(f, _, b) => match self.simple(b) {
                Some(y) => Next::Value(f.apply2(x, y)),
                None => {
                    self.vals.push(x);
                    self.then(Task::Call2(*f), b)
                }
            },
            _ => unreachable!("right operands are of binary nodes"),
        }
    }

    /// `&&` (or `||`) node `n` whose operand `i - 1` is `v`: it stops at
    /// the first operand that is not truthy (is truthy).
    fn logic(&mut self, task: Task<'n>, n: &'n Node, mut i: usize, mut v: f64) -> Next<'n> {
        let (Node::And(items) | Node::Or(items)) = n else {
            unreachable!("logic tasks are made for && and ||")
        };
        let and = matches!(task, Task::And(..));
        loop {
            if truthy(v) != and {
                return Next::Value(from_bool(!and));
            }
            let Some(next) = items.get(i) else {
                return Next::Value(from_bool(and));
            };
            match self.simple(next) {
                Some(x) => v = x,
                None => {
                    let i = i as u32 + 1;
                    let task = if and { Task::And(n, i) } else { Task::Or(n, i) };
                    return self.then(task, next);
                }
            }
            i += 1;
        }
    }

    /// The arguments of call node `n` from the `i`-th on (the ones before
    /// are on the value stack), then the call.
    #[inline(always)]
    fn args(&mut self, n: &'n Node, mut i: usize) -> Result<Next<'n>, Error> {
        let Node::Call(_, args, _) = n else {
            unreachable!("argument tasks are made for calls")
        };
        while let Some(a) = args.get(i) {
            match self.simple(a) {
                Some(x) => self.vals.push(x),
                None => return Ok(self.then(Task::Arg(n, i as u32 + 1), a)),
            }
            i += 1;
        }
        self.call(n)
    }

    /// Call node `n`, its arguments on the value stack: the one call path
    /// of the interpreter. The callee is resolved, then it runs in machine
    /// code if it has some, else its frame is pushed and its body walked.
    #[inline(always)]
    fn call(&mut self, n: &'n Node) -> Result<Next<'n>, Error> {
        let Node::Call(sym, args, span) = n else {
            unreachable!("calls are made for call nodes")
        };
        let rt = self.rt;
        let frame = self.vals.len() - args.len();
        let callee =
            runtime::resolve(rt.ns, *sym, args.len()).map_err(|k| fail(k, *span, self.func))?;
        if rt.stopped() {
            return Err(fail(ErrorKind::Interrupted, *span, self.func));
        }
        if let (Some(entry), Some(machine)) = (rt.entry_for(callee), rt.machine) {
            let result = machine.enter(rt, entry, &self.vals[frame..], self.budget);
            self.vals.truncate(frame);
            return match result {
                Ok(v) => Ok(Next::Value(v)),
                Err(e) if e.span.is_none() => Err(fail(e.kind, *span, self.func)),
                Err(e) => Err(e),
            };
        }
        self.budget = charge(self.budget, callee.cost)
            .ok_or_else(|| fail(ErrorKind::RecursionTooDeep, *span, self.func))?;
        self.frames.push(Frame {
            base: self.base,
            func: self.func,
            call: n,
        });
        self.tasks.push(Task::Return);
        self.base = frame;
        self.func = callee;
        Ok(Next::Walk(&callee.body))
    }
}
