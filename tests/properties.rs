//! Property tests (proptest):
//! (a) every f64 prints (docs/language.md §5) as text that reads back to
//!     the same bits, with the shortest digits, in the notation §5 asks for;
//! (b) the front end never panics, whatever the input;
//! (c) a syntax tree printed with `Display` parses back to the same tree;
//! (d) the engine never panics on token soup, in any mode;
//! (e) every tier gives the same output for random function bodies.

mod common;

use common::CONFIGS;
use exprjit::internals::ast::{BinOp, Expr, ExprKind, UnOp};
use exprjit::internals::{parse_expr, parse_program};
use exprjit::{format_number, Engine, Span};
use proptest::prelude::*;
use proptest::sample::select;

/// `n` cases, or `PROPTEST_CASES` when set (for a longer local run).
fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(n);
    ProptestConfig::with_cases(n)
}

// --- (a) printing reads back ----------------------------------------------------

/// Any f64 at all: every bit pattern, plus the classes proptest knows.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        any::<f64>(),
        select(vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            1e21,
            1e-6,
            999999999999999900000.0,
            1e21 - 65536.0,
            0.000001,
            f64::from_bits(0x3EB0C6F7A0B5ED8C), // the f64 just below 1e-6
        ]),
        // Near the fixed/exponential boundaries.
        (-1e22..1e22f64),
        (-2e-6..2e-6f64),
    ]
}

/// The significant digits and decimal exponent of a printed finite,
/// non-zero magnitude, whatever the notation: "1.25e-7" -> ("125", -7).
fn digits_and_exponent(text: &str) -> (String, i32) {
    let (mantissa, exp) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().expect("exponent")),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = format!("{int}{frac}");
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0').to_string();
    // Value = 0.DIGITS × 10^(point), where point counts from the first digit.
    let point = int.len() as i32 - lead as i32 + exp;
    (digits, point)
}

fn check_printed(x: f64) -> Result<(), TestCaseError> {
    let text = format_number(x);
    // Reads back, through the whole engine, to the same bits.
    let values = Engine::new()
        .eval(&text)
        .map_err(|e| TestCaseError::fail(format!("{text:?} does not read back: {e}")))?;
    prop_assert_eq!(values.len(), 1);
    let y = values[0];
    if x.is_nan() {
        prop_assert!(y.is_nan(), "{} read back as {}", text, y);
        prop_assert_eq!(text, "nan");
        return Ok(());
    }
    prop_assert_eq!(x.to_bits(), y.to_bits(), "{:?} printed as {:?}", x, text);
    // Notation (docs/language.md §5): fixed exactly when 1e-6 <= |x| < 1e21.
    let a = x.abs();
    if x.is_infinite() || a == 0.0 {
        return Ok(());
    }
    let fixed = (1e-6..1e21).contains(&a);
    prop_assert_eq!(!text.contains('e'), fixed, "{:?} printed as {:?}", x, text);
    if !fixed {
        prop_assert!(
            text.contains("e+") || text.contains("e-"),
            "{:?} printed as {:?}",
            x,
            text
        );
    }
    // Shortest digits: as many significant digits as Rust's shortest
    // round-trip formatting, and the same ones, except that where two are
    // equally close ECMAScript takes the even one (Rust may not).
    let reference = format!("{:e}", a);
    let unsigned = text.strip_prefix('-').unwrap_or(&text);
    let (ours, point) = digits_and_exponent(unsigned);
    let (theirs, their_point) = digits_and_exponent(&reference);
    let why = format!("{x:?} printed as {text:?}, Rust's shortest is {reference:?}");
    prop_assert_eq!(ours.len(), theirs.len(), "{}", why);
    prop_assert_eq!(point, their_point, "{}", why);
    if ours != theirs {
        let (o, t): (u128, u128) = (ours.parse().unwrap(), theirs.parse().unwrap());
        prop_assert_eq!(o.abs_diff(t), 1, "{}", why);
        prop_assert!(o % 2 == 0, "a tie goes to the even digits: {}", why);
        // A tie: the exact value lies halfway between the two.
        let (exact, exact_point) = exact_digits(a);
        let lo = o.min(t).to_string();
        prop_assert_eq!(exact_point, point, "{}", why);
        prop_assert!(exact.starts_with(&lo), "{} (exact {})", why, exact);
        prop_assert_eq!(
            exact[lo.len()..].trim_end_matches('0'),
            "5",
            "not a tie: {}",
            why
        );
    }
    Ok(())
}

/// All the digits of a positive finite `a` (exact: Rust formats with a
/// given precision exactly) and where the decimal point goes, as in
/// `digits_and_exponent`.
fn exact_digits(a: f64) -> (String, i32) {
    let text = format!("{a:.800e}");
    let (mantissa, exp) = text.split_once('e').unwrap();
    (mantissa.replace('.', ""), exp.parse::<i32>().unwrap() + 1)
}

#[test]
fn digits_and_exponent_reads_both_notations() {
    assert_eq!(digits_and_exponent("123.45"), ("12345".into(), 3));
    assert_eq!(digits_and_exponent("0.000015"), ("15".into(), -4));
    assert_eq!(digits_and_exponent("1.5e-7"), ("15".into(), -6));
    assert_eq!(digits_and_exponent("1e+21"), ("1".into(), 22));
    assert_eq!(digits_and_exponent("100"), ("1".into(), 3));
    assert_eq!(
        digits_and_exponent("123456789012345680000"),
        ("12345678901234568".into(), 21)
    );
    assert_eq!(digits_and_exponent("2.5e15"), ("25".into(), 16));
    let (digits, point) = exact_digits(0.5);
    assert_eq!((&digits[..3], point), ("500", 0));
}

/// ECMAScript's tie rule: 2155892844073589.25 is exactly halfway between
/// the 17-digit candidates ...589.2 and ...589.3; the even one is printed.
#[test]
fn a_tie_between_shortest_candidates_prints_the_even_one() {
    // 2155892844073589.25, exactly: 8623571376294357 quarters.
    let x = 8623571376294357.0 / 4.0;
    assert_eq!(format_number(x), "2155892844073589.2");
    check_printed(x).unwrap();
}

#[test]
fn printing_corners_read_back() {
    for x in [
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        5e-324,
        -5e-324,
        1e21,
        1e-7,
        0.1 + 0.2,
    ] {
        check_printed(x).unwrap();
    }
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn every_f64_prints_as_text_that_reads_back(x in any_f64()) {
        check_printed(x)?;
    }
}

// --- (b) the front end never panics ---------------------------------------------

/// Characters that matter to the lexer, mixed with anything.
fn program_chars() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = "0123456789.eE_xXabfF+-*/%^()=!<>&|?:;,#\n \t\r\u{e9}$~\\\"'"
        .chars()
        .collect();
    prop::collection::vec(
        prop_oneof![9 => select(alphabet), 1 => any::<char>()],
        0..80,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

/// Checks the front end's answer for `text`: a tree, or an error that
/// points inside the text and renders.
fn check_front_end(text: &str) -> Result<(), TestCaseError> {
    match parse_program(text) {
        Ok(stmts) => {
            // What parsed prints as text that parses again.
            for s in &stmts {
                let again = parse_program(&s.to_string());
                prop_assert!(
                    again.is_ok(),
                    "{:?} printed as {:?}: {:?}",
                    text,
                    s.to_string(),
                    again
                );
            }
        }
        Err(e) => {
            let span = e.span.expect("a syntax error has a position");
            prop_assert!(
                span.start <= span.end && span.end as usize <= text.len(),
                "span {:?} outside {:?}",
                span,
                text
            );
            let source = exprjit::Source::new("<p>", text);
            let rendered = e.in_source(&source).render();
            prop_assert!(rendered.starts_with("error: "), "{:?}", rendered);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(2000))]

    #[test]
    fn the_front_end_never_panics_on_any_string(text in any::<String>()) {
        check_front_end(&text)?;
    }

    #[test]
    fn the_front_end_never_panics_on_lexer_heavy_strings(text in program_chars()) {
        check_front_end(&text)?;
    }

    #[test]
    fn the_front_end_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check_front_end(&String::from_utf8_lossy(&bytes))?;
    }
}

// --- (c) printed trees parse back ----------------------------------------------

fn mk(kind: ExprKind) -> Expr {
    Expr::new(kind, Span::default()).expect("shallow trees only")
}

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z_][A-Za-z0-9_]{0,6}",
        select(vec![
            "x", "y", "e", "pi", "inf", "nan", "sin", "_", "x1F", "e3"
        ])
        .prop_map(String::from),
    ]
}

/// A literal as the lexer can produce one: finite and not negative.
fn literal() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_map(|x| if x.is_finite() { x.abs() } else { 1.0 }),
        (0u32..1000).prop_map(f64::from),
        select(vec![0.0, 0.5, 1e21, 1e-7, 5e-324, f64::MAX, 0.1]),
    ]
}

fn unop() -> impl Strategy<Value = UnOp> {
    select(vec![UnOp::Neg, UnOp::Plus, UnOp::Not])
}

fn binop() -> impl Strategy<Value = BinOp> {
    select(vec![
        BinOp::Add,
        BinOp::Sub,
        BinOp::Mul,
        BinOp::Div,
        BinOp::Rem,
        BinOp::Pow,
        BinOp::Eq,
        BinOp::Ne,
        BinOp::Lt,
        BinOp::Le,
        BinOp::Gt,
        BinOp::Ge,
        BinOp::And,
        BinOp::Or,
    ])
}

fn tree(
    leaf: BoxedStrategy<Expr>,
    call_names: BoxedStrategy<String>,
) -> impl Strategy<Value = Expr> {
    leaf.prop_recursive(6, 48, 4, move |inner| {
        prop_oneof![
            (unop(), inner.clone()).prop_map(|(op, a)| mk(ExprKind::Unary(op, Box::new(a)))),
            (binop(), inner.clone(), inner.clone()).prop_map(|(op, a, b)| mk(ExprKind::Binary(
                op,
                Box::new(a),
                Box::new(b)
            ))),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, a, b)| mk(ExprKind::Cond(
                Box::new(c),
                Box::new(a),
                Box::new(b)
            ))),
            (call_names.clone(), prop::collection::vec(inner, 0..4))
                .prop_map(|(name, args)| mk(ExprKind::Call(name, Span::default(), args))),
        ]
    })
}

fn any_tree() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        literal().prop_map(|x| mk(ExprKind::Num(x))),
        ident().prop_map(|n| mk(ExprKind::Var(n))),
    ];
    tree(leaf.boxed(), ident().boxed())
}

proptest! {
    #![proptest_config(cases(1000))]

    #[test]
    fn a_printed_tree_parses_back_to_the_same_tree(e in any_tree()) {
        let text = e.to_string();
        let back = parse_expr(&text)
            .map_err(|err| TestCaseError::fail(format!("{text:?} does not parse: {err}")))?;
        prop_assert_eq!(&back, &e, "via {:?}", text);
        // And printing is stable.
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn a_printed_definition_parses_back(
        name in "[a-z][a-z0-9_]{0,5}",
        params in prop::collection::vec("[a-z][a-z0-9]{0,3}", 0..5),
        body in any_tree(),
    ) {
        prop_assume!(!exprjit::internals::is_builtin(&name));
        let text = format!("{name}({}) = {body}", params.join(", "));
        let stmts = parse_program(&text)
            .map_err(|err| TestCaseError::fail(format!("{text:?} does not parse: {err}")))?;
        prop_assert_eq!(stmts.len(), 1);
        prop_assert_eq!(stmts[0].to_string(), text.clone());
        match &stmts[0] {
            exprjit::internals::ast::Stmt::Def { name: n, params: p, body: b, .. } => {
                prop_assert_eq!(n, &name);
                let p: Vec<&String> = p.iter().map(|(p, _)| p).collect();
                prop_assert_eq!(p, params.iter().collect::<Vec<_>>());
                prop_assert_eq!(&**b, &body);
            }
            other => prop_assert!(false, "{:?} parsed as {:?}", text, other),
        }
    }
}

/// The tree comparison the round trip relies on does tell trees apart.
#[test]
fn tree_equality_ignores_spans_but_not_structure() {
    let a = parse_expr("1 - 2 - 3").unwrap();
    let b = parse_expr("(1-2)   -3").unwrap();
    let c = parse_expr("1 - (2 - 3)").unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a.span, b.span);
    // A call's name span is a span too.
    assert_eq!(parse_expr("f(1)").unwrap(), parse_expr("  f( 1 )").unwrap());
    assert_ne!(parse_expr("f(1)").unwrap(), parse_expr("g(1)").unwrap());
    assert_ne!(parse_expr("f(1)").unwrap(), parse_expr("f(1, 1)").unwrap());
}

// --- (d) the engine never panics on token soup -------------------------------------

fn token() -> impl Strategy<Value = &'static str> {
    select(vec![
        "0",
        "1",
        "2",
        "2.5",
        ".5",
        "5.",
        "1e3",
        "1e308",
        "0x1F",
        "1_000",
        "x",
        "y",
        "f",
        "g",
        "k",
        "sin",
        "max",
        "atan2",
        "pi",
        "nan",
        "inf",
        "+",
        "-",
        "*",
        "/",
        "%",
        "^",
        "**",
        "(",
        "(",
        ")",
        ")",
        ",",
        "=",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "&&",
        "||",
        "!",
        "?",
        ":",
        ";",
        "\n",
        "\n",
        "f(x) =",
        "g(a, b) =",
        "x =",
        "f(",
        "g(",
        "#",
        "$",
    ])
}

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec((token(), select(vec!["", " ", " ", "\n"])), 0..40)
        .prop_map(|ts| ts.into_iter().map(|(t, sep)| format!("{t}{sep}")).collect())
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn the_engine_never_panics_on_token_soup(text in soup()) {
        for config in CONFIGS {
            let mut engine = config.engine();
            let run = common::run_in(&mut engine, &text);
            if let Some(e) = &run.error {
                prop_assert!(e.render().starts_with("error: "));
                if let Some(span) = e.span {
                    prop_assert!(span.end as usize <= text.len(), "{:?} in {:?}", span, text);
                }
            }
            // The engine is still usable afterwards.
            let again = common::run_in(&mut engine, "1 + 1");
            prop_assert!(again.error.is_none(), "{:?}", again.error);
            prop_assert_eq!(again.lines, ["2"]);
        }
    }
}

// --- (e) every tier agrees ------------------------------------------------------

/// Bodies over the parameters `x` and `y`, with built-ins (sometimes with
/// the wrong number of arguments) and a helper `h`.
fn body() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        select(vec![0.0, 0.5, 1.0, 2.0, 3.0, 1e300, 5e-324]).prop_map(|x| mk(ExprKind::Num(x))),
        select(vec!["x", "y", "x", "y", "pi", "inf", "nan", "g"])
            .prop_map(|n| mk(ExprKind::Var(n.to_string()))),
    ];
    let calls = select(vec![
        "sin", "sqrt", "floor", "round", "sign", "exp", "ln", "abs", "atan2", "hypot", "pow",
        "min", "max", "h", "h", "h",
    ])
    .prop_map(String::from);
    tree(leaf.boxed(), calls.boxed())
}

fn outcome(config: &common::Config, program: &str) -> (Vec<String>, Option<String>) {
    let run = common::run_lib(config, program);
    (run.lines, run.error.map(|e| e.kind.to_string()))
}

proptest! {
    #![proptest_config(cases(200))]

    #[test]
    fn every_tier_gives_the_same_output(f in body(), h in body()) {
        let mut program = format!("g = 7\nh(x, y) = {h}\nf(x, y) = {f}\n");
        for (a, b) in [("0", "-0"), ("-0", "0"), ("1", "2"), ("-2.5", "0.5"), ("nan", "1"),
                       ("inf", "-inf"), ("3", "3"), ("1e308", "-1e-308")] {
            program.push_str(&format!("f({a}, {b})\n"));
        }
        // Call again so tiered mode promotes f and h mid-program.
        program.push_str("f(1, 2)\nf(-0, nan)\nf(2, 3)\n");
        let reference = outcome(&CONFIGS[0], &program);
        for config in &CONFIGS[1..] {
            let got = outcome(config, &program);
            prop_assert_eq!(&got, &reference, "{} differs from interp on {:?}", config.name, program);
        }
    }
}
