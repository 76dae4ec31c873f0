//! The syntax tree, exactly as written: every node carries its byte span.
//! Names are not resolved here; `lower` gives them meaning.

use std::fmt;

use crate::error::{ErrorKind, Span};

/// Deepest expression tree the parser builds. Every later pass (lowering,
/// both tiers, `Drop`) recurses over the tree, so the depth is capped where
/// the tree is built rather than hoping each pass has stack to spare.
/// SPEC §4 asks for 1,000 nested parentheses; each level costs at most a
/// couple of nodes, so 10,000 leaves ample room.
pub const MAX_DEPTH: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Plus,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
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
    pub kind: ExprKind,
    pub span: Span,
    depth: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Num(f64),
    Var(String),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `name(args)`; the span of the name is kept for "unknown function".
    Call(String, Span, Vec<Expr>),
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Expr {
    /// Builds a node, refusing trees deeper than [`MAX_DEPTH`].
    pub fn new(kind: ExprKind, span: Span) -> Result<Expr, ErrorKind> {
        let children = match &kind {
            ExprKind::Num(_) | ExprKind::Var(_) => 0,
            ExprKind::Unary(_, a) => a.depth,
            ExprKind::Binary(_, a, b) => a.depth.max(b.depth),
            ExprKind::Cond(a, b, c) => a.depth.max(b.depth).max(c.depth),
            ExprKind::Call(_, _, args) => args.iter().map(|a| a.depth).max().unwrap_or(0),
        };
        let depth = children + 1;
        if depth > MAX_DEPTH {
            return Err(ErrorKind::NestingTooDeep(MAX_DEPTH));
        }
        Ok(Expr { kind, span, depth })
    }

    pub fn depth(&self) -> u32 {
        self.depth
    }
}

/// One statement of a program (SPEC §3).
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `name(params) = body`
    Def {
        name: String,
        name_span: Span,
        params: Vec<(String, Span)>,
        body: Expr,
    },
    /// `name = value`
    Assign {
        name: String,
        name_span: Span,
        value: Expr,
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
