//! The built-in constants and functions of docs/language.md §4, implemented once.
//!
//! Lowering turns every built-in name, `%` and `^` into a [`Builtin`];
//! code generation switches on that meaning, never on a spelling. Every
//! tier calls the very Rust functions below (the interpreter directly,
//! machine code with a `call`), so their results are bit-identical by
//! construction. They use the `sysv64` ABI on x86-64 so that generated
//! code can call them; they never panic.
//!
//! Every function is correctly rounded: the exact result rounded once to
//! the nearest `f64`. The transcendental ones are CORE-MATH's (through the
//! `core-math` crate), proven correctly rounded; the others are exact
//! already. A correctly rounded result is unique, so it is the same on
//! every machine and in every tier, and any exactly equal way of computing
//! it is allowed — which is what lets lowering turn `x^2` into
//! [`Builtin::Square`].

/// Declares `f64` functions with the ABI that generated code calls.
macro_rules! native {
    ($( $(#[$doc:meta])* fn $name:ident($($p:ident),*) $body:block )*) => {$(
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        #[allow(missing_docs)] // reached only through `internals::math`
        pub extern "sysv64" fn $name($($p: f64),*) -> f64 $body
        $(#[$doc])*
        #[cfg(not(target_arch = "x86_64"))]
        #[allow(missing_docs)]
        pub extern "C" fn $name($($p: f64),*) -> f64 $body
    )*};
}

/// A one-argument built-in as generated code calls it.
#[cfg(target_arch = "x86_64")]
pub(crate) type Fn1 = extern "sysv64" fn(f64) -> f64;
/// A two-argument built-in as generated code calls it.
#[cfg(target_arch = "x86_64")]
pub(crate) type Fn2 = extern "sysv64" fn(f64, f64) -> f64;
#[cfg(not(target_arch = "x86_64"))]
pub(crate) type Fn1 = extern "C" fn(f64) -> f64;
#[cfg(not(target_arch = "x86_64"))]
pub(crate) type Fn2 = extern "C" fn(f64, f64) -> f64;

native! {
    fn sin(x) { core_math::sin(x) }
    fn cos(x) { core_math::cos(x) }
    fn tan(x) { core_math::tan(x) }
    fn asin(x) { core_math::asin(x) }
    fn acos(x) { core_math::acos(x) }
    fn atan(x) { core_math::atan(x) }
    fn sinh(x) { core_math::sinh(x) }
    fn cosh(x) { core_math::cosh(x) }
    fn tanh(x) { core_math::tanh(x) }
    fn asinh(x) { core_math::asinh(x) }
    fn acosh(x) { core_math::acosh(x) }
    fn atanh(x) { core_math::atanh(x) }
    fn exp(x) { core_math::exp(x) }
    fn exp2(x) { core_math::exp2(x) }
    fn ln(x) { core_math::log(x) }
    fn log2(x) { core_math::log2(x) }
    fn log10(x) { core_math::log10(x) }
    fn sqrt(x) { x.sqrt() }
    fn cbrt(x) { core_math::cbrt(x) }
    fn abs(x) { x.abs() }
    fn floor(x) { x.floor() }
    fn ceil(x) { x.ceil() }
    /// Half away from zero (Rust's `round`).
    fn round(x) { x.round() }
    fn trunc(x) { x.trunc() }
    /// `-1` below zero, `1` above, else `x` itself: `0`, `-0` and `nan` stay.
    fn sign(x) {
        if x > 0.0 {
            1.0
        } else if x < 0.0 {
            -1.0
        } else {
            x
        }
    }
    /// `x^2` (and `pow(x, 2)`), which is exactly `x*x` for every `x`.
    fn square(x) { x * x }
    /// `x^0.5` (and `pow(x, 0.5)`): the correctly rounded square root is
    /// exactly the correctly rounded power, but for `pow(-0, 0.5) = +0`
    /// and `pow(-inf, 0.5) = +inf` (C's Annex F); adding `+0` turns `-0`
    /// into `+0` and nothing else.
    fn pow_half(x) {
        if x == f64::NEG_INFINITY {
            f64::INFINITY
        } else {
            x.sqrt() + 0.0
        }
    }
    fn atan2(y, x) { core_math::atan2(y, x) }
    fn hypot(x, y) { core_math::hypot(x, y) }
    /// `a ^ b`, `a ** b` and `pow(a, b)`. `pow(x, 0)` and `pow(1, y)` are
    /// `1` for every `x` and `y` (docs/language.md §4), a signaling NaN included, for
    /// which C's `pow` gives NaN.
    fn pow(x, y) {
        if y == 0.0 || x == 1.0 {
            1.0
        } else {
            core_math::pow(x, y)
        }
    }
    /// `a % b`: remainder with the sign of `a` (C `fmod`).
    fn rem(x, y) { x % y }
    /// NaN if either is NaN; `min(0, -0)` is `-0` in either order.
    fn min(a, b) {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else if a == b {
            if a.is_sign_negative() { a } else { b }
        } else if a < b {
            a
        } else {
            b
        }
    }
    /// NaN if either is NaN; `max(-0, 0)` is `0` in either order.
    fn max(a, b) {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else if a == b {
            if a.is_sign_negative() { b } else { a }
        } else if a > b {
            a
        } else {
            b
        }
    }
}

/// Declares [`Builtin`] with, for each function, its name and Rust
/// implementation: one table, so a name, its meaning and its code cannot
/// drift apart.
macro_rules! builtins {
    (
        one: [ $( $v1:ident $n1:literal $f1:ident, )* ]
        two: [ $( $v2:ident $n2:literal $f2:ident, )* ]
    ) => {
        /// A built-in function (or the operator `%` or `^`), as lowering
        /// resolved it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Builtin {
            $( $v1, )*
            $( $v2, )*
        }

        impl Builtin {
            /// Every built-in function, in the order `:help` lists them.
            pub(crate) const ALL: &'static [Builtin] = &[ $( Builtin::$v1, )* $( Builtin::$v2, )* ];

            /// The name a program calls it by (`pow` for `^`, `rem` for `%`).
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $( Builtin::$v1 => $n1, )*
                    $( Builtin::$v2 => $n2, )*
                }
            }

            /// Its implementation, if it takes one argument.
            pub(crate) fn f1(self) -> Option<Fn1> {
                match self {
                    $( Builtin::$v1 => Some($f1), )*
                    _ => None,
                }
            }

            /// Its implementation, if it takes two arguments.
            pub(crate) fn f2(self) -> Option<Fn2> {
                match self {
                    $( Builtin::$v2 => Some($f2), )*
                    _ => None,
                }
            }
        }
    };
}

builtins! {
    one: [
        Sin "sin" sin,
        Cos "cos" cos,
        Tan "tan" tan,
        Asin "asin" asin,
        Acos "acos" acos,
        Atan "atan" atan,
        Sinh "sinh" sinh,
        Cosh "cosh" cosh,
        Tanh "tanh" tanh,
        Asinh "asinh" asinh,
        Acosh "acosh" acosh,
        Atanh "atanh" atanh,
        Exp "exp" exp,
        Exp2 "exp2" exp2,
        Ln "ln" ln,
        Log2 "log2" log2,
        Log10 "log10" log10,
        Sqrt "sqrt" sqrt,
        Cbrt "cbrt" cbrt,
        Abs "abs" abs,
        Floor "floor" floor,
        Ceil "ceil" ceil,
        Round "round" round,
        Trunc "trunc" trunc,
        Sign "sign" sign,
        Square "square" square,
        PowHalf "pow-half" pow_half,
    ]
    two: [
        Atan2 "atan2" atan2,
        Hypot "hypot" hypot,
        Pow "pow" pow,
        Min "min" min,
        Max "max" max,
        Rem "rem" rem,
    ]
}

impl Builtin {
    /// Can a program call it by name? `%` (shown as `rem`) and the exact
    /// rewrites of `^` are meanings, not names.
    pub(crate) fn callable(self) -> bool {
        !matches!(self, Builtin::Rem | Builtin::Square | Builtin::PowHalf)
    }

    /// How many arguments it takes.
    pub(crate) fn arity(self) -> usize {
        if self.f1().is_some() {
            1
        } else {
            2
        }
    }

    /// `f(x)`, for a one-argument built-in (NaN for any other: lowering
    /// never builds such a call).
    #[inline]
    pub(crate) fn apply1(self, x: f64) -> f64 {
        self.f1().map_or(f64::NAN, |f| f(x))
    }

    /// `f(x, y)`, for a two-argument built-in.
    #[inline]
    pub(crate) fn apply2(self, x: f64, y: f64) -> f64 {
        self.f2().map_or(f64::NAN, |f| f(x, y))
    }

    /// The address generated code calls.
    pub(crate) fn address(self) -> usize {
        match (self.f1(), self.f2()) {
            (Some(f), _) => f as usize,
            (_, Some(f)) => f as usize,
            _ => 0,
        }
    }
}

/// What a built-in name stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Meaning {
    Const(f64),
    Func(Builtin),
}

/// The built-in constants, then `log` (another name for `ln`).
const CONSTANTS: &[(&str, Meaning)] = &[
    ("pi", Meaning::Const(std::f64::consts::PI)),
    ("e", Meaning::Const(std::f64::consts::E)),
    ("tau", Meaning::Const(std::f64::consts::TAU)),
    ("inf", Meaning::Const(f64::INFINITY)),
    ("nan", Meaning::Const(f64::NAN)),
    ("log", Meaning::Func(Builtin::Ln)),
];

/// The built-in called `name`, if there is one. `rem` is how `%` is shown,
/// not a name a program can call.
pub(crate) fn lookup(name: &str) -> Option<Meaning> {
    if let Some((_, n)) = CONSTANTS.iter().find(|(n, _)| *n == name) {
        return Some(*n);
    }
    Builtin::ALL
        .iter()
        .find(|b| b.name() == name && b.callable())
        .map(|b| Meaning::Func(*b))
}

/// Every name a program can use for a built-in, constants first (`:help`,
/// completion).
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    CONSTANTS.iter().map(|(n, _)| *n).chain(
        Builtin::ALL
            .iter()
            .filter(|b| b.callable())
            .map(|b| b.name()),
    )
}

/// Is `name` reserved for a built-in (so it cannot be bound)?
pub(crate) fn is_builtin(name: &str) -> bool {
    lookup(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(x: f64) -> u64 {
        x.to_bits()
    }

    #[test]
    fn min_max_order_signed_zeros_and_nan() {
        assert_eq!(bits(min(0.0, -0.0)), bits(-0.0));
        assert_eq!(bits(min(-0.0, 0.0)), bits(-0.0));
        assert_eq!(bits(max(-0.0, 0.0)), bits(0.0));
        assert_eq!(bits(max(0.0, -0.0)), bits(0.0));
        assert!(min(f64::NAN, 1.0).is_nan() && min(1.0, f64::NAN).is_nan());
        assert!(max(f64::NAN, 1.0).is_nan() && max(1.0, f64::NAN).is_nan());
        assert_eq!(min(2.0, 3.0), 2.0);
        assert_eq!(max(2.0, 3.0), 3.0);
    }

    #[test]
    fn sign_keeps_zeros_and_nan() {
        assert_eq!(sign(-3.0), -1.0);
        assert_eq!(sign(3.0), 1.0);
        assert_eq!(bits(sign(-0.0)), bits(-0.0));
        assert_eq!(bits(sign(0.0)), bits(0.0));
        assert!(sign(f64::NAN).is_nan());
    }

    #[test]
    fn round_is_half_away_from_zero_and_rem_has_sign_of_dividend() {
        assert_eq!(round(2.5), 3.0);
        assert_eq!(round(-2.5), -3.0);
        assert_eq!(rem(-7.0, 3.0), -1.0);
        assert_eq!(rem(7.0, -3.0), 1.0);
    }

    /// Bits, with every NaN alike (payloads aside, docs/language.md §1).
    fn same(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
    }

    /// Special values, then a million random bit patterns (every kind of
    /// `f64`: subnormals, huge, NaN), then a million ordinary numbers.
    fn inputs() -> impl Iterator<Item = f64> {
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            f64::MAX,
            -f64::MAX,
            f64::EPSILON,
            1.0 + f64::EPSILON,
            1e154,
            1.3407807929942596e154,
            1e-162,
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut ordinary = next;
        special
            .into_iter()
            .chain((0..1_000_000).map(move |_| f64::from_bits(next())))
            .chain((0..1_000_000).map(move |_| (ordinary() as f64 / u64::MAX as f64 - 0.5) * 1e3))
    }

    /// Lowering's rewrites of `x ^ c` (see `lower::power`) are exact: the
    /// same bits as the correctly rounded `pow`, for every input tried.
    #[test]
    fn the_rewrites_of_powers_are_exact() {
        for x in inputs() {
            assert!(same(square(x), pow(x, 2.0)), "{x:e}^2");
            assert!(same(x, pow(x, 1.0)), "{x:e}^1");
            assert!(same(1.0 / x, pow(x, -1.0)), "{x:e}^-1");
            assert!(same(pow_half(x), pow(x, 0.5)), "{x:e}^0.5");
            assert!(same(1.0, pow(x, 0.0)) && same(1.0, pow(x, -0.0)), "{x:e}^0");
        }
        // And not one that is not: x^3 is not x*x*x.
        let x = 1.000_000_000_000_000_2_f64;
        let cube = (1..=1000)
            .map(|i| x + f64::from(i) * 1e-3)
            .filter(|x| !same(x * x * x, pow(*x, 3.0)))
            .count();
        assert!(cube > 0, "x*x*x happened to be exact for all");
    }

    #[test]
    fn every_name_is_found_with_its_arity() {
        for b in Builtin::ALL.iter().filter(|b| b.callable()) {
            assert_eq!(lookup(b.name()), Some(Meaning::Func(*b)), "{}", b.name());
            assert_eq!(b.f1().is_some(), b.arity() == 1);
            assert_eq!(b.f2().is_some(), b.arity() == 2);
            assert_ne!(b.address(), 0);
        }
        assert_eq!(lookup("log"), Some(Meaning::Func(Builtin::Ln)));
        assert_eq!(lookup("rem"), None, "% is not callable by name");
        assert_eq!(lookup("square"), None);
        assert_eq!(lookup("pow-half"), None);
        assert_eq!(lookup("pi"), Some(Meaning::Const(std::f64::consts::PI)));
        let mut all: Vec<_> = names().collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "names are unique");
    }
}
