//! The lexer: logos turns bytes into tokens with byte spans; a thin wrapper
//! tracks parenthesis depth so that a newline inside `( )` is whitespace
//! (docs/language.md §2) and hands `(start, token, end)` triples to the lalrpop parser.

use logos::Logos;

use super::SyntaxError;
use crate::error::{ErrorKind, Span};
use crate::number;

/// A token. Numbers are converted to `f64` here, once, so the parser and
/// every later pass see the rounded value (docs/language.md §2: nearest `f64`, `inf` when
/// too large).
#[derive(Logos, Debug, Clone, PartialEq)]
#[logos(skip r"[ \t\r]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
pub enum Tok<'a> {
    // 42  1.5  .5  5.  1e3  2.5E-3  1_000_000  (underscores only between digits)
    #[regex(r"[0-9](_?[0-9])*(\.([0-9](_?[0-9])*)?)?([eE][+-]?[0-9](_?[0-9])*)?", |lex| number::parse_decimal(lex.slice()))]
    #[regex(r"\.[0-9](_?[0-9])*([eE][+-]?[0-9](_?[0-9])*)?", |lex| number::parse_decimal(lex.slice()))]
    // 0x1F
    #[regex(r"0[xX][0-9a-fA-F](_?[0-9a-fA-F])*", |lex| number::parse_hex(&lex.slice()[2..]))]
    Num(f64),
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'a str),
    #[token("\n")]
    Newline,
    #[token(";")]
    Semi,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    /// `^` and `**` are one operator (docs/language.md §2).
    #[token("^")]
    #[token("**")]
    Caret,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token(",")]
    Comma,
    #[token("=")]
    Assign,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("!")]
    Bang,
    #[token("?")]
    Question,
    #[token(":")]
    Colon,
}

impl Tok<'_> {
    /// How the token is named in an error message: `unexpected ')'`.
    pub fn describe(&self) -> String {
        let s = match self {
            Tok::Num(_) => return "number".into(),
            Tok::Ident(name) => return format!("identifier '{}'", crate::error::shorten(name)),
            Tok::Newline => return "end of line".into(),
            Tok::Semi => ";",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Caret => "^",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Assign => "=",
            Tok::EqEq => "==",
            Tok::NotEq => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Bang => "!",
            Tok::Question => "?",
            Tok::Colon => ":",
        };
        format!("'{s}'")
    }
}

pub type Spanned<'a> = Result<(usize, Tok<'a>, usize), SyntaxError>;

/// Token stream for the parser: drops newlines nested inside parentheses.
pub struct Lexer<'a> {
    inner: logos::Lexer<'a, Tok<'a>>,
    depth: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer {
            inner: Tok::lexer(src),
            depth: 0,
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Spanned<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let tok = self.inner.next()?;
            let span = self.inner.span();
            let tok = match tok {
                Ok(t) => t,
                Err(()) => {
                    // Point at one whole character, not at a UTF-8 fragment.
                    let c = self.inner.source()[span.start..].chars().next();
                    let len = c.map_or(1, char::len_utf8);
                    return Some(Err(SyntaxError {
                        kind: ErrorKind::UnexpectedChar(c.unwrap_or('\0')),
                        span: Span::new(span.start, span.start + len),
                    }));
                }
            };
            match tok {
                Tok::LParen => self.depth += 1,
                Tok::RParen => self.depth = self.depth.saturating_sub(1),
                Tok::Newline if self.depth > 0 => continue,
                _ => {}
            }
            return Some(Ok((span.start, tok, span.end)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok<'_>> {
        Lexer::new(src).map(|t| t.unwrap().1).collect()
    }

    #[test]
    fn literal_forms() {
        let n = |s| toks(s);
        assert_eq!(n("42"), [Tok::Num(42.0)]);
        assert_eq!(n("1.5"), [Tok::Num(1.5)]);
        assert_eq!(n(".5"), [Tok::Num(0.5)]);
        assert_eq!(n("5."), [Tok::Num(5.0)]);
        assert_eq!(n("1e3"), [Tok::Num(1000.0)]);
        assert_eq!(n("2.5E-3"), [Tok::Num(0.0025)]);
        assert_eq!(n("1_000_000"), [Tok::Num(1e6)]);
        assert_eq!(n("0x1F"), [Tok::Num(31.0)]);
        assert_eq!(n("1e999"), [Tok::Num(f64::INFINITY)]);
    }

    #[test]
    fn power_spellings_are_one_token() {
        assert_eq!(toks("2**3"), [Tok::Num(2.0), Tok::Caret, Tok::Num(3.0)]);
        assert_eq!(toks("2^3"), [Tok::Num(2.0), Tok::Caret, Tok::Num(3.0)]);
    }

    #[test]
    fn newline_inside_parens_is_whitespace() {
        assert_eq!(
            toks("(1\n+2)\n3 # comment\n"),
            [
                Tok::LParen,
                Tok::Num(1.0),
                Tok::Plus,
                Tok::Num(2.0),
                Tok::RParen,
                Tok::Newline,
                Tok::Num(3.0),
                Tok::Newline
            ]
        );
    }

    #[test]
    fn bad_character_is_reported_with_its_span() {
        let err = Lexer::new("1 + é").find_map(Result::err).unwrap();
        assert_eq!(err.kind, ErrorKind::UnexpectedChar('é'));
        assert_eq!(err.span, Span::new(4, 6));
    }
}
