//! The tree-walking interpreter: the reference meaning of every program.
//!
//! It walks the lowered [`Node`]s. Arguments of user calls live on one
//! growable value stack (a frame is a base index into it), so a call costs
//! no allocation and no name lookup: globals are an index into the slot
//! table, parameters an index into the frame.

use crate::engine::{Runtime, Slot, MAX_CALL_DEPTH};
use crate::error::{Error, ErrorKind};
use crate::lower::{from_bool, truthy, Node};

/// One evaluation: the namespace is frozen while it runs (no statement can
/// run inside an expression), so functions are borrowed, not cloned.
pub struct Interp<'a> {
    rt: &'a Runtime<'a>,
    stack: &'a mut Vec<f64>,
}

impl<'a> Interp<'a> {
    /// An interpreter whose frame 0 holds the arguments in `stack`.
    pub fn new(rt: &'a Runtime<'a>, stack: &'a mut Vec<f64>) -> Self {
        Interp { rt, stack }
    }

    /// Evaluates `node` in a frame whose arguments start at `base`.
    pub fn eval(&mut self, node: &Node, base: usize) -> Result<f64, Error> {
        self.go(node, base).map_err(|e| *e)
    }

    /// The walk itself. Errors are boxed so that every node returns a
    /// 16-byte `Result` in registers: with the 72-byte `Error` inline,
    /// fib(25) took 1.6× longer (measured with `cargo bench --bench eval`).
    fn go(&mut self, node: &Node, base: usize) -> Result<f64, Box<Error>> {
        // One compare per node keeps both deep nesting and deep recursion
        // from overflowing the stack, whatever thread we run on.
        if let Err(k) = self.rt.guard.check() {
            return Err(Box::new(Error::from(k)));
        }
        Ok(match node {
            Node::Num(x) => *x,
            Node::Param(i) => self.stack[base + *i as usize],
            Node::Global(sym, span) => match self.rt.ns.slot(*sym) {
                Slot::Var(x) => *x,
                Slot::Func(_) => {
                    let name = self.rt.ns.name(*sym).to_string();
                    return Err(fail(ErrorKind::FunctionAsValue(name), *span));
                }
                Slot::Empty => {
                    let name = self.rt.ns.name(*sym).to_string();
                    return Err(fail(ErrorKind::UndefinedVariable(name), *span));
                }
            },
            Node::Neg(a) => -self.operand(a, base)?,
            Node::Not(a) => from_bool(!truthy(self.go(a, base)?)),
            Node::Chain(a, links) => {
                let mut x = self.operand(a, base)?;
                // Most chains have one link (`n - 1`, `a + b`): without a
                // loop for them fib(20) runs 3% fewer instructions
                // (callgrind: 9.33 M against 9.64 M).
                if let [(link, b)] = &links[..] {
                    x = link.apply(x, self.operand(b, base)?);
                } else {
                    for (link, b) in links {
                        x = link.apply(x, self.operand(b, base)?);
                    }
                }
                x
            }
            Node::Cmp(op, a, b) => {
                let x = self.operand(a, base)?;
                from_bool(op.apply(x, self.operand(b, base)?))
            }
            Node::And(items) => from_bool(self.all(items, base, true)?),
            Node::Or(items) => from_bool(!self.all(items, base, false)?),
            Node::Cond(c, a, b) => {
                if truthy(self.go(c, base)?) {
                    self.go(a, base)?
                } else {
                    self.go(b, base)?
                }
            }
            Node::Call1(_, f, a) => f(self.operand(a, base)?),
            Node::Call2(_, f, a, b) => {
                let x = self.operand(a, base)?;
                f(x, self.operand(b, base)?)
            }
            Node::Call(sym, args, span) => {
                let frame = self.stack.len();
                for a in args {
                    let v = self.operand(a, base)?;
                    self.stack.push(v);
                }
                let f = match self.rt.ns.slot(*sym) {
                    Slot::Func(f) => f,
                    Slot::Var(_) => {
                        let name = self.rt.ns.name(*sym).to_string();
                        return Err(fail(ErrorKind::CallingVariable(name), *span));
                    }
                    Slot::Empty => {
                        let name = self.rt.ns.name(*sym).to_string();
                        return Err(fail(ErrorKind::UnknownFunction(name), *span));
                    }
                };
                if f.arity() != args.len() {
                    return Err(fail(
                        ErrorKind::Arity {
                            name: f.name.clone(),
                            expected: f.arity(),
                            got: args.len(),
                        },
                        *span,
                    ));
                }
                self.rt.guard.check().map_err(|k| fail(k, *span))?;
                if self.rt.stopped() {
                    return Err(fail(ErrorKind::Interrupted, *span));
                }
                let depth = self.rt.depth.get();
                if depth >= MAX_CALL_DEPTH {
                    return Err(fail(ErrorKind::RecursionTooDeep, *span));
                }
                #[cfg(target_arch = "x86_64")]
                if let Some(jit) = self.rt.jit {
                    if let Some(entry) = jit.entry_for(self.rt, f) {
                        let budget = MAX_CALL_DEPTH - depth;
                        let result = jit.enter(self.rt, entry, &self.stack[frame..], budget);
                        self.stack.truncate(frame);
                        return result.map_err(|e| match e.span {
                            None => fail(e.kind, *span),
                            Some(_) => Box::new(e),
                        });
                    }
                }
                // An error with no place of its own (the stack ran out)
                // is reported at this call.
                self.rt.depth.set(depth + 1);
                let result = self.go(&f.body, frame).map_err(|e| match e.span {
                    None => fail(e.kind, *span),
                    Some(_) => Box::new(e.in_source(&f.source)),
                });
                self.rt.depth.set(depth);
                self.stack.truncate(frame);
                result?
            }
            Node::Fail(kind, span) => return Err(fail(kind.clone(), *span)),
        })
    }

    /// Whether every one of `items`, left to right, is as truthy as
    /// `want`; stops at the first that is not (the short circuit).
    fn all(&mut self, items: &[Node], base: usize, want: bool) -> Result<bool, Box<Error>> {
        for item in items {
            if truthy(self.go(item, base)?) != want {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A leaf operand without a recursive call: constants and parameters
    /// are half the nodes of a typical body (callgrind: fib(20) ran 24%
    /// fewer instructions with this fast path).
    #[inline(always)]
    fn operand(&mut self, node: &Node, base: usize) -> Result<f64, Box<Error>> {
        match node {
            Node::Num(x) => Ok(*x),
            Node::Param(i) => Ok(self.stack[base + *i as usize]),
            _ => self.go(node, base),
        }
    }
}

/// A boxed error at `span`.
#[cold]
fn fail(kind: ErrorKind, span: crate::error::Span) -> Box<Error> {
    Box::new(Error::at(kind, span))
}
