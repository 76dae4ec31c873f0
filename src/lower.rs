//! Lowering: the one place that decides what each construct means.
//!
//! The syntax tree is turned into [`Node`]s that both tiers consume: the
//! interpreter walks them and the JIT compiles them, so neither has to
//! resolve a name or interpret an operator on its own. Lowering resolves
//! names in SPEC order (parameters, then built-ins, then globals bound late
//! through a [`Sym`]), turns `%` and `^` into calls of the built-in Rust
//! functions, and turns misuse that SPEC reports only when reached (a
//! built-in called with the wrong number of arguments, a constant called as a
//! function) into [`Node::Fail`]. Constant subtrees are folded with the very
//! functions the tiers use, so folding never changes a result's bits.

use std::fmt;

use crate::builtins::{self, Fn1, Fn2, Kind};
use crate::error::{Error, ErrorKind, Span};
use crate::stack::StackGuard;
use crate::syntax::ast::{BinOp, Expr, ExprKind, UnOp};

/// A global name (variable or function), bound at the time of use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sym(pub u32);

/// Arithmetic that maps to one IEEE-754 instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

impl Arith {
    #[inline]
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Arith::Add => a + b,
            Arith::Sub => a - b,
            Arith::Mul => a * b,
            Arith::Div => a / b,
        }
    }
}

/// IEEE comparisons; each is false when either side is NaN, except `Ne`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    #[inline]
    pub fn apply(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

/// SPEC §1: truthy when neither zero (of either sign) nor NaN.
#[inline]
pub fn truthy(x: f64) -> bool {
    x != 0.0 && !x.is_nan()
}

#[inline]
pub fn from_bool(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// The lowered form both tiers run.
#[derive(Debug, Clone)]
pub enum Node {
    Num(f64),
    /// The n-th parameter of the enclosing function.
    Param(u32),
    /// A global variable, read when reached.
    Global(Sym, Span),
    Neg(Box<Node>),
    /// `!a`: 1 if `a` is not truthy, else 0.
    Not(Box<Node>),
    Arith(Arith, Box<Node>, Box<Node>),
    /// A comparison giving 1 or 0.
    Cmp(Cmp, Box<Node>, Box<Node>),
    /// Short-circuit `&&`, giving 1 or 0.
    And(Box<Node>, Box<Node>),
    /// Short-circuit `||`, giving 1 or 0.
    Or(Box<Node>, Box<Node>),
    /// `c ? a : b`: only the chosen branch runs.
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Call1(&'static str, Fn1, Box<Node>),
    Call2(&'static str, Fn2, Box<Node>, Box<Node>),
    /// A user function, looked up when reached. Arguments are evaluated
    /// left to right, then the callee is resolved and its arity checked.
    Call(Sym, Vec<Node>, Span),
    /// An error that is raised if, and only if, evaluation reaches here.
    Fail(ErrorKind, Span),
}

/// How lowering sees the global namespace.
pub trait Globals {
    fn intern(&mut self, name: &str) -> Sym;
}

/// Lowers `expr`, the body of a function with `params` (none for an
/// expression statement).
pub fn lower(expr: &Expr, params: &[String], globals: &mut dyn Globals) -> Result<Node, Error> {
    let mut cx = Lowering {
        params,
        globals,
        guard: StackGuard::here(),
    };
    cx.expr(expr)
}

struct Lowering<'a> {
    params: &'a [String],
    globals: &'a mut dyn Globals,
    guard: StackGuard,
}

impl Lowering<'_> {
    fn param(&self, name: &str) -> Option<u32> {
        self.params
            .iter()
            .position(|p| p == name)
            .and_then(|i| u32::try_from(i).ok())
    }

    fn boxed(&mut self, e: &Expr) -> Result<Box<Node>, Error> {
        self.expr(e).map(Box::new)
    }

    fn expr(&mut self, e: &Expr) -> Result<Node, Error> {
        self.guard.check().map_err(|k| Error::at(k, e.span))?;
        Ok(match &e.kind {
            ExprKind::Num(x) => Node::Num(*x),
            ExprKind::Var(name) => self.var(name, e.span),
            ExprKind::Unary(op, a) => {
                let a = self.boxed(a)?;
                match op {
                    UnOp::Plus => *a,
                    UnOp::Neg => fold(Node::Neg(a)),
                    UnOp::Not => fold(Node::Not(a)),
                }
            }
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (self.boxed(a)?, self.boxed(b)?);
                fold(match op {
                    BinOp::Add => Node::Arith(Arith::Add, a, b),
                    BinOp::Sub => Node::Arith(Arith::Sub, a, b),
                    BinOp::Mul => Node::Arith(Arith::Mul, a, b),
                    BinOp::Div => Node::Arith(Arith::Div, a, b),
                    BinOp::Rem => Node::Call2("%", builtins::rem, a, b),
                    BinOp::Pow => Node::Call2("^", builtins::pow, a, b),
                    BinOp::Eq => Node::Cmp(Cmp::Eq, a, b),
                    BinOp::Ne => Node::Cmp(Cmp::Ne, a, b),
                    BinOp::Lt => Node::Cmp(Cmp::Lt, a, b),
                    BinOp::Le => Node::Cmp(Cmp::Le, a, b),
                    BinOp::Gt => Node::Cmp(Cmp::Gt, a, b),
                    BinOp::Ge => Node::Cmp(Cmp::Ge, a, b),
                    BinOp::And => Node::And(a, b),
                    BinOp::Or => Node::Or(a, b),
                })
            }
            ExprKind::Cond(c, a, b) => {
                fold(Node::Cond(self.boxed(c)?, self.boxed(a)?, self.boxed(b)?))
            }
            ExprKind::Call(name, name_span, args) => self.call(name, *name_span, args, e.span)?,
        })
    }

    /// A name used as a value: parameter, built-in constant, or global.
    fn var(&mut self, name: &str, span: Span) -> Node {
        if let Some(i) = self.param(name) {
            return Node::Param(i);
        }
        match builtins::lookup(name).map(|b| b.kind) {
            Some(Kind::Const(x)) => Node::Num(x),
            Some(_) => Node::Fail(ErrorKind::FunctionAsValue(name.to_string()), span),
            None => Node::Global(self.globals.intern(name), span),
        }
    }

    fn call(
        &mut self,
        name: &str,
        name_span: Span,
        args: &[Expr],
        span: Span,
    ) -> Result<Node, Error> {
        if self.param(name).is_some() {
            return Ok(Node::Fail(
                ErrorKind::CallingVariable(name.to_string()),
                name_span,
            ));
        }
        let Some(builtin) = builtins::lookup(name) else {
            let sym = self.globals.intern(name);
            let args = args
                .iter()
                .map(|a| self.expr(a))
                .collect::<Result<_, _>>()?;
            return Ok(Node::Call(sym, args, span));
        };
        let arity_error = |expected| {
            Node::Fail(
                ErrorKind::Arity {
                    name: name.to_string(),
                    expected,
                    got: args.len(),
                },
                span,
            )
        };
        Ok(match (builtin.kind, args) {
            (Kind::Const(_), _) => {
                Node::Fail(ErrorKind::CallingVariable(name.to_string()), name_span)
            }
            (Kind::F1(f), [a]) => fold(Node::Call1(builtin.name, f, self.boxed(a)?)),
            (Kind::F2(f), [a, b]) => {
                fold(Node::Call2(builtin.name, f, self.boxed(a)?, self.boxed(b)?))
            }
            (Kind::F1(_), _) => arity_error(1),
            (Kind::F2(_), _) => arity_error(2),
        })
    }
}

/// Folds a node whose operands are constants, using the same operations
/// the tiers use at run time, so the folded value has the same bits.
fn fold(node: Node) -> Node {
    use Node::Num;
    match node {
        Node::Neg(a) => match *a {
            Num(x) => Num(-x),
            a => Node::Neg(Box::new(a)),
        },
        Node::Not(a) => match *a {
            Num(x) => Num(from_bool(!truthy(x))),
            a => Node::Not(Box::new(a)),
        },
        Node::Arith(op, a, b) => match (*a, *b) {
            (Num(x), Num(y)) => Num(op.apply(x, y)),
            (a, b) => Node::Arith(op, Box::new(a), Box::new(b)),
        },
        Node::Cmp(op, a, b) => match (*a, *b) {
            (Num(x), Num(y)) => Num(from_bool(op.apply(x, y))),
            (a, b) => Node::Cmp(op, Box::new(a), Box::new(b)),
        },
        Node::Call1(name, f, a) => match *a {
            Num(x) => Num(f(x)),
            a => Node::Call1(name, f, Box::new(a)),
        },
        Node::Call2(name, f, a, b) => match (*a, *b) {
            (Num(x), Num(y)) => Num(f(x, y)),
            (a, b) => Node::Call2(name, f, Box::new(a), Box::new(b)),
        },
        // A constant left side decides a short circuit on its own; the
        // right side still has to be turned into 1 or 0.
        Node::And(a, b) => match *a {
            Num(x) if !truthy(x) => Num(0.0),
            Num(_) => truth(*b),
            a => Node::And(Box::new(a), b),
        },
        Node::Or(a, b) => match *a {
            Num(x) if truthy(x) => Num(1.0),
            Num(_) => truth(*b),
            a => Node::Or(Box::new(a), b),
        },
        Node::Cond(c, a, b) => match *c {
            Num(x) => {
                if truthy(x) {
                    *a
                } else {
                    *b
                }
            }
            c => Node::Cond(Box::new(c), a, b),
        },
        other => other,
    }
}

/// `b` as 1 or 0 (what `1 && b` means).
fn truth(b: Node) -> Node {
    match b {
        Node::Num(x) => Node::Num(from_bool(truthy(x))),
        b => Node::Not(Box::new(Node::Not(Box::new(b)))),
    }
}

impl Node {
    /// Visits every node, children before parents' siblings (pre-order).
    pub fn children(&self) -> Vec<&Node> {
        match self {
            Node::Num(_) | Node::Param(_) | Node::Global(..) | Node::Fail(..) => vec![],
            Node::Neg(a) | Node::Not(a) | Node::Call1(_, _, a) => vec![a],
            Node::Arith(_, a, b)
            | Node::Cmp(_, a, b)
            | Node::And(a, b)
            | Node::Or(a, b)
            | Node::Call2(_, _, a, b) => vec![a, b],
            Node::Cond(c, a, b) => vec![c, a, b],
            Node::Call(_, args, _) => args.iter().collect(),
        }
    }
}

/// A node shown with global names resolved (for `:ast`).
pub struct Named<'a> {
    pub node: &'a Node,
    pub name: &'a dyn Fn(Sym) -> String,
}

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_node(self.node, self.name, f)
    }
}

/// A readable S-expression for `:ast` and tests; globals show as `global#N`
/// (use [`Named`] to see their names).
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_node(self, &|sym| format!("global#{}", sym.0), f)
    }
}

fn write_node(
    node: &Node,
    name: &dyn Fn(Sym) -> String,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let head = match node {
        Node::Num(x) => return f.write_str(&crate::number::format(*x)),
        Node::Param(i) => return write!(f, "${i}"),
        Node::Global(sym, _) => return f.write_str(&name(*sym)),
        Node::Fail(kind, _) => return write!(f, "(fail \"{kind}\")"),
        Node::Neg(_) => "neg".to_string(),
        Node::Not(_) => "not".to_string(),
        Node::Arith(op, ..) => format!("{op:?}").to_lowercase(),
        Node::Cmp(op, ..) => format!("{op:?}").to_lowercase(),
        Node::And(..) => "and".to_string(),
        Node::Or(..) => "or".to_string(),
        Node::Cond(..) => "if".to_string(),
        Node::Call1(n, ..) | Node::Call2(n, ..) => n.to_string(),
        Node::Call(sym, ..) => format!("call {}", name(*sym)),
    };
    write!(f, "({head}")?;
    for c in node.children() {
        f.write_str(" ")?;
        write_node(c, name, f)?;
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse_expr;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Names(HashMap<String, u32>);

    impl Globals for Names {
        fn intern(&mut self, name: &str) -> Sym {
            let n = self.0.len() as u32;
            Sym(*self.0.entry(name.to_string()).or_insert(n))
        }
    }

    fn lowered(src: &str, params: &[&str]) -> String {
        let params: Vec<String> = params.iter().map(|s| s.to_string()).collect();
        let e = parse_expr(src).unwrap();
        lower(&e, &params, &mut Names::default())
            .unwrap()
            .to_string()
    }

    #[test]
    fn names_resolve_parameters_then_builtins_then_globals() {
        assert_eq!(lowered("x + y", &["x"]), "(add $0 global#0)");
        assert_eq!(lowered("pi", &["pi"]), "$0");
        assert_eq!(lowered("sin(x)", &["x"]), "(sin $0)");
        assert_eq!(
            lowered("sin(1)", &["sin"]),
            "(fail \"'sin' is a variable, not a function\")"
        );
        assert_eq!(lowered("g(x, 1)", &["x"]), "(call global#0 $0 1)");
    }

    #[test]
    fn operators_become_the_shared_builtins() {
        assert_eq!(lowered("x % 2 ^ y", &["x", "y"]), "(% $0 (^ 2 $1))");
        assert_eq!(lowered("+x", &["x"]), "$0");
    }

    #[test]
    fn misuse_is_deferred_to_run_time() {
        assert_eq!(
            lowered("sin(x, x)", &["x"]),
            "(fail \"sin expects 1 argument, got 2\")"
        );
        assert_eq!(
            lowered("sqrt + 1", &[]),
            "(add (fail \"'sqrt' is a function; call it with arguments\") 1)"
        );
        assert_eq!(
            lowered("pi(2)", &[]),
            "(fail \"'pi' is a variable, not a function\")"
        );
    }

    #[test]
    fn folding_is_exact_and_respects_short_circuit() {
        assert_eq!(lowered("0.1 + 0.2", &[]), "0.30000000000000004");
        assert_eq!(lowered("-0", &[]), "-0");
        assert_eq!(lowered("1 ? x : k", &["x"]), "$0");
        assert_eq!(lowered("0 && k", &[]), "0");
        assert_eq!(lowered("1 && x", &["x"]), "(not (not $0))");
        assert_eq!(lowered("2 ^ 10", &[]), "1024");
        assert_eq!(lowered("nan == nan", &[]), "0");
    }
}
