//! Lowering: the one place that decides what each construct means.
//!
//! The syntax tree is turned into [`Node`]s that both tiers consume: the
//! interpreter walks them and the JIT compiles them, so neither has to
//! resolve a name or interpret an operator on its own. Lowering resolves
//! names in the language's order (parameters, then built-ins, then globals bound late
//! through a [`Sym`]), turns `%` and `^` into calls of the built-in Rust
//! functions, and turns misuse that is reported only when reached (a
//! built-in called with the wrong number of arguments, a constant called as
//! a function; docs/language.md §4.5) into [`Node::Fail`]. Constant
//! subtrees are folded with the very functions the tiers use, so folding
//! never changes a result's bits.

use std::fmt;
use std::sync::Arc;

use crate::builtins::{self, Builtin, Meaning};
use crate::error::{Error, ErrorKind, Span};
use crate::native::Native;
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

/// One step of a [`Node::Chain`]: the running value becomes
/// `value op operand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// One IEEE instruction.
    Arith(Arith),
    /// A two-argument built-in of the running value and the operand
    /// (`%` is [`Builtin::Rem`]).
    Call(Builtin),
}

impl Link {
    /// What `op` means between two values (`None` for `&&` and `||`, which
    /// are control flow, and for the operators that do not chain).
    fn of(op: BinOp) -> Option<Link> {
        Some(match op {
            BinOp::Add => Link::Arith(Arith::Add),
            BinOp::Sub => Link::Arith(Arith::Sub),
            BinOp::Mul => Link::Arith(Arith::Mul),
            BinOp::Div => Link::Arith(Arith::Div),
            BinOp::Rem => Link::Call(Builtin::Rem),
            _ => return None,
        })
    }

    #[inline]
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Link::Arith(op) => op.apply(a, b),
            Link::Call(f) => f.apply2(a, b),
        }
    }

    fn name(self) -> String {
        match self {
            Link::Arith(op) => format!("{op:?}").to_lowercase(),
            Link::Call(f) => f.name().to_string(),
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

/// docs/language.md §1: truthy when neither zero (of either sign) nor NaN.
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
///
/// `repr(u8)` gives it a plain tag byte: left to the compiler, the tag
/// went into a niche of `Chain`'s vector and every `match` in the
/// interpreter paid to decode it (docs/performance.md, "Interpreter").
#[derive(Debug, Clone)]
#[repr(u8)]
pub enum Node {
    Num(f64),
    /// The n-th parameter of the enclosing function.
    Param(u32),
    /// A global variable, read when reached.
    Global(Sym, Span),
    Neg(Box<Node>),
    /// `!a`: 1 if `a` is not truthy, else 0.
    Not(Box<Node>),
    /// `a op₁ b op₂ c …`, left to right: `((a op₁ b) op₂ c) …`, with at
    /// least one link. The tiers run it as a loop, so a chain of any
    /// length is one level of nesting.
    Chain(Box<Node>, Vec<(Link, Node)>),
    /// A comparison giving 1 or 0.
    Cmp(Cmp, Box<Node>, Box<Node>),
    /// Short-circuit `a && b && …` (at least two operands), giving 1 or 0:
    /// the operands run left to right until one is not truthy.
    And(Vec<Node>),
    /// Short-circuit `a || b || …` (at least two operands), giving 1 or 0.
    Or(Vec<Node>),
    /// `c ? a : b`: only the chosen branch runs.
    Cond(Box<Node>, Box<Node>, Box<Node>),
    /// A one-argument built-in.
    Call1(Builtin, Box<Node>),
    /// A two-argument built-in (`^` is [`Builtin::Pow`]).
    Call2(Builtin, Box<Node>, Box<Node>),
    /// A user function, looked up when reached. Arguments are evaluated
    /// left to right, then the callee is resolved and its arity checked.
    Call(Sym, Vec<Node>, Span),
    /// An error that is raised if, and only if, evaluation reaches here.
    Fail(ErrorKind, Span),
    /// The whole body of a native function: the closure called with the
    /// function's parameters. It fails only if the closure panics.
    Native(Arc<Native>),
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
            // The parser builds comparisons and `^` as `Binary` and every
            // other operator as a chain; a tree built by hand may not, and
            // `chain` gives any of them its meaning.
            ExprKind::Binary(op, a, b) => self.chain(a, std::iter::once((*op, &**b)))?,
            ExprKind::Chain(a, links) => self.chain(a, links.iter().map(|(op, b)| (*op, b)))?,
            ExprKind::Cond(c, a, b) => {
                fold(Node::Cond(self.boxed(c)?, self.boxed(a)?, self.boxed(b)?))
            }
            ExprKind::Call(name, name_span, args) => self.call(name, *name_span, args, e.span)?,
        })
    }

    /// `a op₁ b op₂ c …`, which means `((a op₁ b) op₂ c) …` whatever the
    /// operators (the parser puts one level's in a chain; a tree built by
    /// hand may mix them). A run of arithmetic becomes one `Node::Chain`, a
    /// run of `&&` (or of `||`) one `And` (`Or`), each folded from the left
    /// as far as its operands are constants — exactly what folding the
    /// nested form node by node would give.
    fn chain<'e>(
        &mut self,
        first: &Expr,
        links: impl Iterator<Item = (BinOp, &'e Expr)>,
    ) -> Result<Node, Error> {
        let mut value = self.expr(first)?;
        let mut links = links.peekable();
        while let Some((op, b)) = links.next() {
            let b = self.expr(b)?;
            value = if let Some(link) = Link::of(op) {
                let mut out: Vec<(Link, Node)> = Vec::new();
                let mut next = Some((link, b));
                while let Some((link, b)) = next {
                    match (&value, &b) {
                        (Node::Num(x), Node::Num(y)) if out.is_empty() => {
                            value = Node::Num(link.apply(*x, *y));
                        }
                        _ => out.push((link, b)),
                    }
                    next = match links.next_if(|(op, _)| Link::of(*op).is_some()) {
                        Some((op, b)) => Link::of(op).zip(Some(self.expr(b)?)),
                        None => None,
                    };
                }
                if out.is_empty() {
                    value
                } else {
                    Node::Chain(Box::new(value), out)
                }
            } else if matches!(op, BinOp::And | BinOp::Or) {
                let mut items = vec![value, b];
                while let Some((_, b)) = links.next_if(|(next, _)| *next == op) {
                    items.push(self.expr(b)?);
                }
                logic(op == BinOp::And, items)
            } else {
                let (a, b) = (Box::new(value), Box::new(b));
                fold(match op {
                    BinOp::Pow => Node::Call2(Builtin::Pow, a, b),
                    BinOp::Eq => Node::Cmp(Cmp::Eq, a, b),
                    BinOp::Ne => Node::Cmp(Cmp::Ne, a, b),
                    BinOp::Lt => Node::Cmp(Cmp::Lt, a, b),
                    BinOp::Le => Node::Cmp(Cmp::Le, a, b),
                    BinOp::Gt => Node::Cmp(Cmp::Gt, a, b),
                    BinOp::Ge => Node::Cmp(Cmp::Ge, a, b),
                    // Arithmetic and logic were handled above.
                    _ => unreachable!("{op:?} is arithmetic or logic"),
                })
            };
        }
        Ok(value)
    }

    /// A name used as a value: parameter, built-in constant, or global.
    fn var(&mut self, name: &str, span: Span) -> Node {
        if let Some(i) = self.param(name) {
            return Node::Param(i);
        }
        match builtins::lookup(name) {
            Some(Meaning::Const(x)) => Node::Num(x),
            Some(Meaning::Func(_)) => {
                Node::Fail(ErrorKind::FunctionAsValue(name.to_string()), span)
            }
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
        Ok(match (builtin, args) {
            (Meaning::Const(_), _) => {
                Node::Fail(ErrorKind::CallingVariable(name.to_string()), name_span)
            }
            (Meaning::Func(f), [a]) if f.arity() == 1 => fold(Node::Call1(f, self.boxed(a)?)),
            (Meaning::Func(f), [a, b]) if f.arity() == 2 => {
                fold(Node::Call2(f, self.boxed(a)?, self.boxed(b)?))
            }
            (Meaning::Func(f), _) => Node::Fail(
                ErrorKind::Arity {
                    name: name.to_string(),
                    expected: f.arity(),
                    got: args.len(),
                },
                span,
            ),
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
        Node::Cmp(op, a, b) => match (*a, *b) {
            (Num(x), Num(y)) => Num(from_bool(op.apply(x, y))),
            (a, b) => Node::Cmp(op, Box::new(a), Box::new(b)),
        },
        Node::Call1(f, a) => match *a {
            Num(x) => Num(f.apply1(x)),
            a => Node::Call1(f, Box::new(a)),
        },
        Node::Call2(f, a, b) => match (*a, *b) {
            (Num(x), Num(y)) => Num(f.apply2(x, y)),
            (a, Num(y)) if f == Builtin::Pow => power(a, y),
            (a, b) => Node::Call2(f, Box::new(a), Box::new(b)),
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

/// `a ^ y` for a constant `y`, computed exactly as the built-in `pow`
/// would (it is correctly rounded, so an exactly equal computation gives
/// the same bits, NaN payloads aside) but without a call where one is
/// exact: `a^2` is `a*a`, `a^1` is `a`, `a^-1` is `1/a`, `a^0.5` is the
/// square root (with `pow`'s signs for `-0` and `-inf`), and `a^0` is `1`
/// when evaluating `a` cannot fail (else its error must still come). Each
/// is checked against `pow` on special values and a million random ones
/// (tests in `builtins`). `a` is evaluated once, as before: `f(n)^2`
/// calls `f` once.
fn power(a: Node, y: f64) -> Node {
    use Node::Num;
    if y == 2.0 {
        Node::Call1(Builtin::Square, Box::new(a))
    } else if y == 1.0 {
        a
    } else if y == -1.0 {
        Node::Chain(Box::new(Num(1.0)), vec![(Link::Arith(Arith::Div), a)])
    } else if y == 0.5 {
        Node::Call1(Builtin::PowHalf, Box::new(a))
    } else if y == 0.0 && a.cannot_fail() {
        Num(1.0)
    } else {
        Node::Call2(Builtin::Pow, Box::new(a), Box::new(Num(y)))
    }
}

/// `a && b && …` (`and`) or `a || b || …`, folded as folding it pair by
/// pair would: a constant that decides the short circuit before anything
/// else has run is the value; a constant that does not is dropped; what
/// is left of one operand is that operand as 1 or 0.
fn logic(and: bool, operands: Vec<Node>) -> Node {
    let mut items: Vec<Node> = Vec::new();
    for b in operands {
        match b {
            // `and` stops at the first false operand, `or` at a true one.
            Node::Num(x) if items.is_empty() && truthy(x) != and => {
                return Node::Num(from_bool(!and));
            }
            Node::Num(_) if items.is_empty() => {}
            b => items.push(b),
        }
    }
    if items.len() > 1 {
        return if and {
            Node::And(items)
        } else {
            Node::Or(items)
        };
    }
    match items.pop() {
        Some(b) => truth(b),
        None => Node::Num(from_bool(and)),
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
    /// Does evaluating it certainly not fail: no global read (it may be
    /// undefined), no user or native call, no failure? Answered for trees
    /// of up to 10,000 nodes, without recursion; larger ones are assumed
    /// to fail (the answer only enables rewrites).
    pub fn cannot_fail(&self) -> bool {
        let mut todo = vec![self];
        let mut budget = 10_000;
        while let Some(n) = todo.pop() {
            budget -= 1;
            if budget == 0 {
                return false;
            }
            match n {
                Node::Global(..) | Node::Call(..) | Node::Fail(..) | Node::Native(_) => {
                    return false
                }
                _ => todo.extend(n.children()),
            }
        }
        true
    }

    /// The direct children, in evaluation order.
    pub fn children(&self) -> Vec<&Node> {
        match self {
            Node::Num(_) | Node::Param(_) | Node::Global(..) | Node::Fail(..) | Node::Native(_) => {
                vec![]
            }
            Node::Neg(a) | Node::Not(a) | Node::Call1(_, a) => vec![a],
            Node::Cmp(_, a, b) | Node::Call2(_, a, b) => vec![a, b],
            Node::Chain(a, links) => std::iter::once(&**a)
                .chain(links.iter().map(|(_, b)| b))
                .collect(),
            Node::And(items) | Node::Or(items) => items.iter().collect(),
            Node::Cond(c, a, b) => vec![c, a, b],
            Node::Call(_, args, _) => args.iter().collect(),
        }
    }
}

/// Takes `node` apart without recursion, leaving it a leaf: a tree up to
/// `ast::MAX_DEPTH` deep may be dropped on any thread, however small its
/// stack (dropping it the ordinary way recurses once per level).
pub(crate) fn dismantle(node: &mut Node) {
    fn take(n: &mut Node, out: &mut Vec<Node>) {
        let mut child = |b: &mut Box<Node>| out.push(std::mem::replace(&mut **b, Node::Num(0.0)));
        match n {
            Node::Neg(a) | Node::Not(a) | Node::Call1(_, a) => child(a),
            Node::Cmp(_, a, b) | Node::Call2(_, a, b) => {
                child(a);
                child(b);
            }
            Node::Cond(c, a, b) => {
                child(c);
                child(a);
                child(b);
            }
            Node::Chain(a, links) => {
                child(a);
                out.extend(links.drain(..).map(|(_, b)| b));
            }
            Node::And(items) | Node::Or(items) | Node::Call(_, items, _) => out.append(items),
            Node::Num(_) | Node::Param(_) | Node::Global(..) | Node::Fail(..) | Node::Native(_) => {
            }
        }
    }
    let mut pending = Vec::new();
    take(node, &mut pending);
    while let Some(mut n) = pending.pop() {
        take(&mut n, &mut pending);
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
        // ((add (sub a b) c), without recursing along the chain.
        Node::Chain(a, links) => {
            for (link, _) in links.iter().rev() {
                write!(f, "({} ", link.name())?;
            }
            write_node(a, name, f)?;
            for (_, b) in links {
                f.write_str(" ")?;
                write_node(b, name, f)?;
                f.write_str(")")?;
            }
            return Ok(());
        }
        Node::Num(x) => return f.write_str(&crate::number::format(*x)),
        Node::Param(i) => return write!(f, "${i}"),
        Node::Global(sym, _) => return f.write_str(&name(*sym)),
        Node::Fail(kind, _) => return write!(f, "(fail \"{kind}\")"),
        Node::Neg(_) => "neg".to_string(),
        Node::Not(_) => "not".to_string(),
        Node::Cmp(op, ..) => format!("{op:?}").to_lowercase(),
        Node::And(..) => "and".to_string(),
        Node::Or(..) => "or".to_string(),
        Node::Cond(..) => "if".to_string(),
        Node::Call1(f, ..) | Node::Call2(f, ..) => f.name().to_string(),
        Node::Call(sym, ..) => format!("call {}", name(*sym)),
        Node::Native(n) => return write!(f, "(native {})", n.name),
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
    use crate::syntax::ast::ExprKind;
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
        assert_eq!(lowered("x % 2 ^ y", &["x", "y"]), "(rem $0 (pow 2 $1))");
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

    #[test]
    fn chains_fold_from_the_left_as_far_as_their_operands_are_constants() {
        assert_eq!(lowered("1 + 2 * 3 - x", &["x"]), "(sub 7 $0)");
        // `x + 1 + 2` is `(x + 1) + 2`: nothing in it is constant.
        assert_eq!(lowered("x + 1 + 2", &["x"]), "(add (add $0 1) 2)");
        assert_eq!(lowered("7 % 4 % x / 2", &["x"]), "(div (rem 3 $0) 2)");
        assert_eq!(lowered("2 * x % y", &["x", "y"]), "(rem (mul 2 $0) $1)");
    }

    /// The syntax tree is public: a tree built by hand, which the parser
    /// would never build, still lowers to what it means (the left fold),
    /// never to a panic or a wrong value.
    #[test]
    fn hand_built_trees_mean_the_left_fold() {
        let leaf = |src: &str| parse_expr(src).unwrap();
        let chain = |first: &str, links: &[(BinOp, &str)]| {
            let links = links.iter().map(|(op, b)| (*op, leaf(b))).collect();
            Expr::new(
                ExprKind::Chain(Box::new(leaf(first)), links),
                Span::default(),
            )
            .unwrap()
        };
        let show = |e: &Expr| {
            let params = ["x".to_string()];
            lower(e, &params, &mut Names::default())
                .unwrap()
                .to_string()
        };
        // ((1 && 0) + 5), ((x == 0) + 1), (x || 0) && 2, and no links.
        assert_eq!(
            show(&chain("1", &[(BinOp::And, "0"), (BinOp::Add, "5")])),
            "5"
        );
        assert_eq!(
            show(&chain("x", &[(BinOp::Eq, "0"), (BinOp::Add, "1")])),
            "(add (eq $0 0) 1)"
        );
        assert_eq!(
            show(&chain("x", &[(BinOp::Or, "0"), (BinOp::And, "2")])),
            "(and (or $0 0) 2)"
        );
        assert_eq!(show(&chain("x", &[])), "$0");
        // `Binary` with a chaining operator, set directly.
        let mut e = leaf("1");
        e.kind = ExprKind::Binary(BinOp::Add, Box::new(leaf("x")), Box::new(leaf("2")));
        assert_eq!(show(&e), "(add $0 2)");
        // An empty chain is not extended (it has no level): it is an operand.
        let empty = chain("x", &[]);
        let sum = Expr::binary(BinOp::Add, empty, leaf("1"), Span::default()).unwrap();
        assert_eq!(show(&sum), "(add $0 1)");
    }

    #[test]
    fn exact_powers_are_rewritten_and_only_those() {
        assert_eq!(lowered("x^2", &["x"]), "(square $0)");
        assert_eq!(lowered("pow(x, 2)", &["x"]), "(square $0)");
        assert_eq!(lowered("x^1", &["x"]), "$0");
        assert_eq!(lowered("x^-1", &["x"]), "(div 1 $0)");
        assert_eq!(lowered("x^0.5", &["x"]), "(pow-half $0)");
        assert_eq!(lowered("x^0", &["x"]), "1");
        assert_eq!(lowered("sin(x)^-0", &["x"]), "1");
        // `^0` must still report the operand's error.
        assert_eq!(lowered("k^0", &[]), "(pow global#0 0)");
        assert_eq!(lowered("f(x)^0", &["x"]), "(pow (call global#0 $0) 0)");
        // Not exact: left alone.
        assert_eq!(lowered("x^3", &["x"]), "(pow $0 3)");
        assert_eq!(lowered("x^-2", &["x"]), "(pow $0 -2)");
        assert_eq!(lowered("x^y", &["x", "y"]), "(pow $0 $1)");
        // The operand is evaluated once, however it nests.
        assert_eq!(
            lowered("f(x)^2^0.5", &["x"]),
            "(pow (call global#0 $0) 1.4142135623730951)"
        );
        assert_eq!(
            lowered("(f(x)^2)^2", &["x"]),
            "(square (square (call global#0 $0)))"
        );
    }

    #[test]
    fn logic_chains_fold_what_decides_them_before_anything_runs() {
        assert_eq!(lowered("1 && 2 && x && y", &["x", "y"]), "(and $0 $1)");
        assert_eq!(lowered("1 && 0 && k", &[]), "0");
        assert_eq!(lowered("0 || 0 || x", &["x"]), "(not (not $0))");
        assert_eq!(lowered("0 || 2 || k", &[]), "1");
        assert_eq!(lowered("1 && 1", &[]), "1");
        assert_eq!(lowered("0 || 0", &[]), "0");
        // A constant after something that runs can no longer be folded.
        assert_eq!(lowered("x && 0 && k", &["x"]), "(and $0 0 global#0)");
        assert_eq!(lowered("x || y || 1", &["x", "y"]), "(or $0 $1 1)");
    }
}
