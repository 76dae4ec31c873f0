//! Numbers in and out: literal parsing (docs/language.md §2) and printing
//! (docs/language.md §5).
//!
//! Printing follows JavaScript's `String(x)` through `ryu-js` (shortest
//! round-trip digits, fixed notation for `1e-6 <= |x| < 1e21`), with the
//! three differences (docs/language.md §5) that make every printed value read back as input:
//! `-0`, `inf`/`-inf` and `nan`.

/// Parses a decimal literal as the lexer matched it (digits, optional
/// fraction and exponent, `_` between digits). Rust's `f64` parser rounds to
/// nearest and gives `inf` for overflow, exactly as docs/language.md §2 asks.
pub fn parse_decimal(text: &str) -> Option<f64> {
    // Most literals have no `_`: parse them in place, without a `String`
    // per literal (docs/performance.md, "Front end").
    if !text.contains('_') {
        return text.parse::<f64>().ok();
    }
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    cleaned.parse::<f64>().ok()
}

/// Parses the digits of a hexadecimal integer literal (after `0x`),
/// correctly rounded to the nearest `f64` however many digits it has.
pub fn parse_hex(digits: &str) -> Option<f64> {
    // Keep the top 64 significant bits in `mantissa`; the bits below them
    // only matter as a "sticky" bit that breaks rounding ties.
    let mut mantissa: u64 = 0;
    let mut shift: i32 = 0;
    let mut sticky = false;
    for c in digits.chars().filter(|&c| c != '_') {
        let d = u64::from(c.to_digit(16)?);
        if mantissa >> 60 == 0 {
            mantissa = (mantissa << 4) | d;
        } else {
            sticky |= d != 0;
            shift = shift.saturating_add(4);
        }
    }
    if sticky {
        // Below the 53 bits an f64 keeps, so it only breaks ties upward.
        mantissa |= 1;
    }
    // `u64 as f64` rounds to nearest even; scaling by 2^shift is exact
    // (or overflows to inf, which is the correctly rounded result).
    Some(mantissa as f64 * 2f64.powi(shift))
}

/// Formats a value as docs/language.md §5 prints it.
pub fn format(x: f64) -> String {
    let mut buffer = ryu_js::Buffer::new();
    format_with(x, &mut buffer).to_string()
}

/// [`format`] without allocating: the text lives in `buffer` (or is
/// static), for callers that print millions of numbers.
pub fn format_with(x: f64, buffer: &mut ryu_js::Buffer) -> &str {
    if x.is_nan() {
        "nan"
    } else if x.is_infinite() {
        if x > 0.0 {
            "inf"
        } else {
            "-inf"
        }
    } else if x == 0.0 && x.is_sign_negative() {
        "-0"
    } else {
        buffer.format_finite(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_javascript_with_spec_differences() {
        let cases: &[(f64, &str)] = &[
            (100.0, "100"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-7"),
            (1e-6, "0.000001"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-0.0, "-0"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (-2.5, "-2.5"),
        ];
        for &(x, want) in cases {
            assert_eq!(format(x), want, "printing {x:?}");
        }
    }

    #[test]
    fn hex_rounds_to_nearest() {
        assert_eq!(parse_hex("1F"), Some(31.0));
        assert_eq!(parse_hex("FF_FF"), Some(65535.0));
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: ties go to even.
        assert_eq!(parse_hex("20000000000001"), Some(9007199254740992.0));
        // 2^53 + 3 rounds up to 2^53 + 4.
        assert_eq!(parse_hex("20000000000003"), Some(9007199254740996.0));
        // A tie broken by a far-away set bit rounds up.
        let long = format!("20000000000001{}1", "0".repeat(20));
        let want = 9007199254740994.0 * 2f64.powi(84);
        assert_eq!(parse_hex(&long), Some(want));
        assert_eq!(parse_hex(&"F".repeat(300)), Some(f64::INFINITY));
    }

    #[test]
    fn decimal_ignores_underscores_and_overflows_to_inf() {
        assert_eq!(parse_decimal("1_000.5"), Some(1000.5));
        assert_eq!(parse_decimal("1e400"), Some(f64::INFINITY));
        assert_eq!(parse_decimal("5."), Some(5.0));
    }
}
