//! The syntax tree, exactly as written: every node carries its byte span.
//! Names are not resolved here; `lower` gives them meaning.

use std::fmt;

use crate::error::{ErrorKind, Span};

/// Deepest expression tree the parser builds. Every later pass (lowering,
/// both tiers, `Drop`) recurses over the tree, so the depth is capped where
/// the tree is built rather than hoping each pass has stack to spare.
/// docs/language.md §4 asks for 1,000 nested parentheses; each level costs at most a
/// couple of nodes, so 10,000 leaves ample room.
pub const MAX_DEPTH: u32 = 10_000;

/// A prefix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    /// `-a`
    Neg,
    /// `+a`
    Plus,
    /// `!a`
    Not,
}

/// An infix operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `^` or `**`
    Pow,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&`
    And,
    /// `||`
    Or,
}

impl BinOp {
    /// The precedence level of a left-associative operator, which chains
    /// (`a + b - c` is one [`ExprKind::Chain`]); `None` for a comparison
    /// (non-associative) or `^` (right-associative).
    pub fn chain_level(self) -> Option<u8> {
        match self {
            BinOp::Or => Some(0),
            BinOp::And => Some(1),
            BinOp::Add | BinOp::Sub => Some(2),
            BinOp::Mul | BinOp::Div | BinOp::Rem => Some(3),
            _ => None,
        }
    }

    /// How it is written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Pow => "^",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }
}

/// An expression node. Equality ignores spans, so trees parsed from
/// differently spaced text compare equal.
#[derive(Debug, Clone)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it was written.
    pub span: Span,
    depth: u32,
}

/// The kinds of expression.
#[derive(Debug, Clone)]
pub enum ExprKind {
    /// A number literal.
    Num(f64),
    /// A name used as a value.
    Var(String),
    /// A prefix operator and its operand.
    Unary(UnOp, Box<Expr>),
    /// `a op b` for a comparison or `^`. Built with a left-associative
    /// operator, it becomes a [`ExprKind::Chain`] (see [`Expr::new`]).
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `a op₁ b op₂ c …`: operators of one precedence level applied left to
    /// right, as `((a op₁ b) op₂ c) …` means. A chain is one level deep
    /// however long it is, so `1+1+…+1` with a million terms is not a
    /// million levels of nesting (docs/language.md §4 asks for 10 MB of source).
    Chain(Box<Expr>, Vec<(BinOp, Expr)>),
    /// `c ? a : b`
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `name(args)`; the span of the name is kept for "unknown function".
    Call(String, Span, Vec<Expr>),
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// Like `Expr`'s, ignores spans (the name span of a call too).
impl PartialEq for ExprKind {
    fn eq(&self, other: &Self) -> bool {
        use ExprKind::*;
        match (self, other) {
            (Num(x), Num(y)) => x == y,
            (Var(a), Var(b)) => a == b,
            (Unary(o, a), Unary(p, b)) => o == p && a == b,
            (Binary(o, a1, a2), Binary(p, b1, b2)) => o == p && a1 == b1 && a2 == b2,
            (Chain(a, x), Chain(b, y)) => a == b && x == y,
            (Cond(a1, a2, a3), Cond(b1, b2, b3)) => a1 == b1 && a2 == b2 && a3 == b3,
            (Call(f, _, a), Call(g, _, b)) => f == g && a == b,
            _ => false,
        }
    }
}

impl Expr {
    /// Builds a node, refusing trees deeper than [`MAX_DEPTH`]. `Binary`
    /// with a left-associative operator is built as [`Expr::binary`]
    /// builds it: as a chain.
    pub fn new(kind: ExprKind, span: Span) -> Result<Expr, ErrorKind> {
        let kind = match kind {
            ExprKind::Binary(op, a, b) if op.chain_level().is_some() => {
                return Expr::binary(op, *a, *b, span)
            }
            kind => kind,
        };
        Expr::build(kind, span)
    }

    /// `a op b`. A left-associative operator extends `a` when `a` is a
    /// chain of the same level (whether written `a + b + c` or
    /// `(a + b) + c`, which mean the same) and starts a chain otherwise.
    pub fn binary(op: BinOp, mut a: Expr, b: Expr, span: Span) -> Result<Expr, ErrorKind> {
        let Some(level) = op.chain_level() else {
            return Expr::build(ExprKind::Binary(op, Box::new(a), Box::new(b)), span);
        };
        match &mut a.kind {
            ExprKind::Chain(_, links)
                if links.first().and_then(|(op, _)| op.chain_level()) == Some(level) =>
            {
                let depth = a.depth.max(b.depth + 1);
                if depth > MAX_DEPTH {
                    return Err(ErrorKind::NestingTooDeep(MAX_DEPTH));
                }
                links.push((op, b));
                a.depth = depth;
                a.span = span;
                Ok(a)
            }
            _ => Expr::build(ExprKind::Chain(Box::new(a), vec![(op, b)]), span),
        }
    }

    /// A node of `kind` as it is, refused if too deep.
    fn build(kind: ExprKind, span: Span) -> Result<Expr, ErrorKind> {
        let children = match &kind {
            ExprKind::Num(_) | ExprKind::Var(_) => 0,
            ExprKind::Unary(_, a) => a.depth,
            ExprKind::Binary(_, a, b) => a.depth.max(b.depth),
            ExprKind::Chain(a, links) => links.iter().fold(a.depth, |m, (_, b)| m.max(b.depth)),
            ExprKind::Cond(a, b, c) => a.depth.max(b.depth).max(c.depth),
            ExprKind::Call(_, _, args) => args.iter().map(|a| a.depth).max().unwrap_or(0),
        };
        let depth = children + 1;
        if depth > MAX_DEPTH {
            return Err(ErrorKind::NestingTooDeep(MAX_DEPTH));
        }
        Ok(Expr { kind, span, depth })
    }

    /// How deeply it nests (a leaf is 1).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// A leaf left behind where a child was taken out (see `Drop`).
    fn placeholder() -> Expr {
        Expr {
            kind: ExprKind::Num(0.0),
            span: Span::default(),
            depth: 1,
        }
    }

    /// Moves this node's children into `out`, leaving leaves behind.
    fn take_children(&mut self, out: &mut Vec<Expr>) {
        let mut take =
            |e: &mut Box<Expr>| out.push(std::mem::replace(&mut **e, Expr::placeholder()));
        match &mut self.kind {
            ExprKind::Num(_) | ExprKind::Var(_) => {}
            ExprKind::Unary(_, a) => take(a),
            ExprKind::Binary(_, a, b) => {
                take(a);
                take(b);
            }
            ExprKind::Chain(a, links) => {
                take(a);
                out.extend(links.drain(..).map(|(_, b)| b));
            }
            ExprKind::Cond(a, b, c) => {
                take(a);
                take(b);
                take(c);
            }
            ExprKind::Call(_, _, args) => out.append(args),
        }
        self.depth = 1;
    }
}

/// Trees up to [`MAX_DEPTH`] deep are dropped without recursion, so that
/// dropping one cannot overflow a small stack (a library user's thread):
/// the compiler's drop glue would recurse once per level.
impl Drop for Expr {
    fn drop(&mut self) {
        // Shallow trees take the ordinary (recursive, allocation-free) path.
        const SHALLOW: u32 = 64;
        if self.depth <= SHALLOW {
            return;
        }
        let mut pending = Vec::new();
        self.take_children(&mut pending);
        while let Some(mut e) = pending.pop() {
            if e.depth > SHALLOW {
                e.take_children(&mut pending);
            }
        }
    }
}

/// One statement of a program (docs/language.md §3). The expressions are boxed so
/// that a statement is no bigger than an expression: the parser moves its
/// symbols (which hold either) at every step (docs/performance.md, "Front
/// end").
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `name(params) = body`
    Def {
        /// The function's name, and where it is written.
        name: String,
        #[allow(missing_docs)]
        name_span: Span,
        /// Each parameter, and where it is written.
        params: Vec<(String, Span)>,
        #[allow(missing_docs)]
        body: Box<Expr>,
    },
    /// `name = value`
    Assign {
        /// The variable's name, and where it is written.
        name: String,
        #[allow(missing_docs)]
        name_span: Span,
        #[allow(missing_docs)]
        value: Box<Expr>,
    },
    /// An expression whose value is printed.
    Expr(Expr),
}

/// Prints an expression fully parenthesised, so that the text parses back
/// to the same tree whatever the precedence rules are.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Num(x) => f.write_str(&crate::number::format(*x)),
            ExprKind::Var(name) => f.write_str(name),
            ExprKind::Unary(op, a) => {
                let sym = match op {
                    UnOp::Neg => "-",
                    UnOp::Plus => "+",
                    UnOp::Not => "!",
                };
                write!(f, "({sym}{a})")
            }
            ExprKind::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            // ((a + b) - c), without recursing along the chain.
            ExprKind::Chain(a, links) => {
                f.write_str(&"(".repeat(links.len()))?;
                write!(f, "{a}")?;
                for (op, b) in links {
                    write!(f, " {} {b})", op.symbol())?;
                }
                Ok(())
            }
            ExprKind::Cond(c, a, b) => write!(f, "({c} ? {a} : {b})"),
            ExprKind::Call(name, _, args) => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Stmt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stmt::Def {
                name, params, body, ..
            } => {
                let params: Vec<&str> = params.iter().map(|(p, _)| p.as_str()).collect();
                write!(f, "{name}({}) = {body}", params.join(", "))
            }
            Stmt::Assign { name, value, .. } => write!(f, "{name} = {value}"),
            Stmt::Expr(e) => write!(f, "{e}"),
        }
    }
}
