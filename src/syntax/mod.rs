//! Text to syntax tree: the logos lexer, the lalrpop grammar in
//! `grammar/exprjit.lalrpop`, and the tree they build. This module knows
//! nothing of meaning (`lower`) or of machine code (`jit`).

pub mod ast;
pub mod lexer;

use lalrpop_util::ParseError;

use crate::error::{Error, ErrorKind, Span};
use ast::{BinOp, Expr, ExprKind, Stmt};
use lexer::{Lexer, Tok};

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, clippy::pedantic, unused_qualifications)]
    grammar,
    "/exprjit.rs"
);

/// An error raised inside the parser (by the lexer or a grammar action).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub kind: ErrorKind,
    pub span: Span,
}

type Fallible<'a, T> = Result<T, ParseError<usize, Tok<'a>, SyntaxError>>;

fn user_error<'a, T>(kind: ErrorKind, span: Span) -> Fallible<'a, T> {
    Err(ParseError::User {
        error: SyntaxError { kind, span },
    })
}

/// Grammar helper: a node spanning `l..r`, refused if too deep.
pub(crate) fn node<'a>(kind: ExprKind, l: usize, r: usize) -> Fallible<'a, Expr> {
    let span = Span::new(l, r);
    Expr::new(kind, span).or_else(|k| user_error(k, span))
}

/// Grammar helper: `a op b` (a chain for a left-associative `op`).
pub(crate) fn binary<'a>(op: BinOp, a: Expr, b: Expr, l: usize, r: usize) -> Fallible<'a, Expr> {
    let span = Span::new(l, r);
    Expr::binary(op, a, b, span).or_else(|k| user_error(k, span))
}

/// Grammar helper: `lhs = rhs` is an assignment when `lhs` is a name and a
/// definition when it is a call whose arguments are all names — written
/// bare: `written` is where the whole left side is, parentheses included,
/// and `(x) = 3` is not an assignment.
pub(crate) fn statement<'a>(mut lhs: Expr, written: Span, rhs: Expr) -> Fallible<'a, Stmt> {
    if lhs.span != written {
        return user_error(ErrorKind::BadAssignTarget, written);
    }
    // `Expr` has a `Drop`, so its parts are taken out rather than moved.
    match std::mem::replace(&mut lhs.kind, ExprKind::Num(0.0)) {
        ExprKind::Var(name) => Ok(Stmt::Assign {
            name,
            name_span: lhs.span,
            value: Box::new(rhs),
        }),
        ExprKind::Call(name, name_span, args) => {
            let mut params = Vec::with_capacity(args.len());
            for mut arg in args {
                match std::mem::replace(&mut arg.kind, ExprKind::Num(0.0)) {
                    ExprKind::Var(p) => params.push((p, arg.span)),
                    _ => return user_error(ErrorKind::BadParameter, arg.span),
                }
            }
            Ok(Stmt::Def {
                name,
                name_span,
                params,
                body: Box::new(rhs),
            })
        }
        _ => user_error(ErrorKind::BadAssignTarget, lhs.span),
    }
}

/// Parses a whole program (docs/language.md §3). A syntax error anywhere is returned
/// before anything can run.
pub fn parse_program(src: &str) -> Result<Vec<Stmt>, Error> {
    let lexer = Lexer::new(src);
    grammar::ProgramParser::new()
        .parse(lexer)
        .map_err(|e| convert(src, e))
}

/// Parses one expression (for the expression handle and `:ast`).
pub fn parse_expr(src: &str) -> Result<Expr, Error> {
    let stmts = parse_program(src)?;
    let mut it = stmts.into_iter();
    match (it.next(), it.next()) {
        (Some(Stmt::Expr(e)), None) => Ok(e),
        (None, _) => Err(Error::at(
            ErrorKind::UnexpectedEof,
            Span::new(src.len(), src.len()),
        )),
        _ => Err(Error::from(ErrorKind::Input(
            "expected a single expression".into(),
        ))),
    }
}

/// Does this token start an expression? (For "expected expression".)
fn starts_expression(expected: &[String]) -> bool {
    expected
        .iter()
        .any(|t| t == "\"number\"" || t == "\"identifier\"" || t == "\"(\"")
}

fn convert(src: &str, e: ParseError<usize, Tok<'_>, SyntaxError>) -> Error {
    match e {
        ParseError::InvalidToken { location } => Error::at(
            ErrorKind::UnexpectedChar(src[location..].chars().next().unwrap_or('\0')),
            Span::new(location, location + 1),
        ),
        ParseError::UnrecognizedEof { location, expected } => {
            let kind = if starts_expression(&expected) {
                ErrorKind::ExpectedExpression("end of input".into())
            } else {
                ErrorKind::UnexpectedEof
            };
            Error::at(kind, Span::new(location, location))
        }
        ParseError::UnrecognizedToken {
            token: (l, tok, r),
            expected,
        } => {
            // An operator with nothing before it, `1 + )`, reads best as
            // "expected expression"; anything else as "unexpected X".
            let only_expressions = expected.iter().all(|t| {
                matches!(
                    t.as_str(),
                    "\"number\"" | "\"identifier\"" | "\"(\"" | "\"-\"" | "\"+\"" | "\"!\""
                )
            });
            let kind = if only_expressions && starts_expression(&expected) {
                ErrorKind::ExpectedExpression(tok.describe())
            } else {
                ErrorKind::UnexpectedToken(tok.describe())
            };
            Error::at(kind, Span::new(l, r))
        }
        ParseError::ExtraToken { token: (l, tok, r) } => {
            Error::at(ErrorKind::UnexpectedToken(tok.describe()), Span::new(l, r))
        }
        ParseError::User { error } => Error::at(error.kind, error.span),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(src: &str) -> String {
        parse_program(src).unwrap_err().kind.to_string()
    }

    fn show(src: &str) -> String {
        parse_program(src)
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn precedence_corners() {
        assert_eq!(show("-2^2"), "(-(2 ^ 2))");
        assert_eq!(show("2^-1"), "(2 ^ (-1))");
        assert_eq!(show("2^3^2"), "(2 ^ (3 ^ 2))");
        assert_eq!(show("1+2*3"), "(1 + (2 * 3))");
        assert_eq!(show("1-2-3"), "((1 - 2) - 3)");
        assert_eq!(show("a||b&&c"), "(a || (b && c))");
        assert_eq!(show("a?b:c?d:e"), "(a ? b : (c ? d : e))");
        assert_eq!(show("!a==b"), "((!a) == b)");
        assert_eq!(show("1+2<3*4"), "((1 + 2) < (3 * 4))");
    }

    #[test]
    fn statements() {
        assert_eq!(show("f(x, y) = x + y"), "f(x, y) = (x + y)");
        assert_eq!(show("x = 3; x\n\n;"), "x = 3; x");
        assert_eq!(show("f() = 1"), "f() = 1");
        assert_eq!(show("f(\n  x\n) = (x\n + 1)"), "f(x) = (x + 1)");
    }

    #[test]
    fn syntax_errors_name_the_problem() {
        assert_eq!(parse_err("1 < 2 < 3"), "unexpected '<'");
        assert_eq!(parse_err("(1 + 2))"), "unexpected ')'");
        assert_eq!(parse_err("1 +"), "expected expression, found end of input");
        assert_eq!(parse_err("1 + )"), "expected expression, found ')'");
        assert_eq!(parse_err("1 $ 2"), "unexpected character '$'");
        assert_eq!(parse_err("f(1) = 2"), "parameter must be a name");
        assert!(parse_err("1 = 2").starts_with("cannot assign"));
        assert_eq!(parse_err("(1"), "unexpected end of input");
    }

    #[test]
    fn error_spans_point_at_the_token() {
        let e = parse_program("1 + 2)").unwrap_err();
        assert_eq!(e.span, Some(Span::new(5, 6)));
    }

    #[test]
    fn left_associative_operators_chain_one_level_deep() {
        let expr = |src: &str| parse_expr(src).unwrap();
        let chain = expr("1 - 2 - 3 + 4");
        assert!(matches!(&chain.kind, ExprKind::Chain(_, links) if links.len() == 3));
        assert_eq!(chain.depth(), 2);
        assert_eq!(chain.to_string(), "(((1 - 2) - 3) + 4)");
        // Written grouping that means the same is the same chain; grouping
        // on the right is a chain inside a chain.
        assert_eq!(expr("(1 - 2) - 3"), expr("1 - 2 - 3"));
        assert_ne!(expr("1 - (2 - 3)"), expr("1 - 2 - 3"));
        assert_eq!(expr("1 - (2 - 3)").depth(), 3);
        // Each level chains on its own: `*` inside `+`, `&&` inside `||`.
        let mixed = expr("a*b%c + d/e - f || g && h && i");
        assert_eq!(mixed.depth(), 4);
        assert_eq!(
            mixed.to_string(),
            "(((((a * b) % c) + (d / e)) - f) || ((g && h) && i))"
        );
        // Comparisons and `^` do not chain.
        assert!(matches!(expr("1 ^ 2 ^ 3").kind, ExprKind::Binary(..)));
        let long = format!("{}1", "1+".repeat(3 * ast::MAX_DEPTH as usize));
        assert_eq!(expr(&long).depth(), 2);
    }

    #[test]
    fn depth_is_capped_while_parsing() {
        let deep = format!("{}1{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(parse_program(&deep).is_ok());
        let too_deep = format!("{}1", "-".repeat(ast::MAX_DEPTH as usize + 1));
        assert_eq!(
            parse_program(&too_deep).unwrap_err().kind,
            ErrorKind::NestingTooDeep(ast::MAX_DEPTH)
        );
    }
}
