//! The built-in constants and functions of SPEC §4, implemented once.
//!
//! Every tier calls these very functions (the interpreter through the
//! pointer, machine code with a `call`), so their results are bit-identical
//! by construction. They use the `sysv64` ABI on x86-64 so that generated
//! code can call them directly; they never panic.

/// Declares `f64` functions with the ABI that generated code calls.
macro_rules! native {
    ($( $(#[$doc:meta])* fn $name:ident($($p:ident),*) $body:block )*) => {$(
        $(#[$doc])*
        #[cfg(target_arch = "x86_64")]
        pub extern "sysv64" fn $name($($p: f64),*) -> f64 $body
        $(#[$doc])*
        #[cfg(not(target_arch = "x86_64"))]
        pub extern "C" fn $name($($p: f64),*) -> f64 $body
    )*};
}

/// A one-argument built-in as generated code calls it.
#[cfg(target_arch = "x86_64")]
pub type Fn1 = extern "sysv64" fn(f64) -> f64;
/// A two-argument built-in as generated code calls it.
#[cfg(target_arch = "x86_64")]
pub type Fn2 = extern "sysv64" fn(f64, f64) -> f64;
#[cfg(not(target_arch = "x86_64"))]
pub type Fn1 = extern "C" fn(f64) -> f64;
#[cfg(not(target_arch = "x86_64"))]
pub type Fn2 = extern "C" fn(f64, f64) -> f64;

native! {
    fn sin(x) { x.sin() }
    fn cos(x) { x.cos() }
    fn tan(x) { x.tan() }
    fn asin(x) { x.asin() }
    fn acos(x) { x.acos() }
    fn atan(x) { x.atan() }
    fn sinh(x) { x.sinh() }
    fn cosh(x) { x.cosh() }
    fn tanh(x) { x.tanh() }
    fn asinh(x) { x.asinh() }
    fn acosh(x) { x.acosh() }
    fn atanh(x) { x.atanh() }
    fn exp(x) { x.exp() }
    fn exp2(x) { x.exp2() }
    fn ln(x) { x.ln() }
    fn log2(x) { x.log2() }
    fn log10(x) { x.log10() }
    fn sqrt(x) { x.sqrt() }
    fn cbrt(x) { x.cbrt() }
    fn abs(x) { x.abs() }
    fn floor(x) { x.floor() }
    fn ceil(x) { x.ceil() }
    /// Half away from zero, as SPEC §4 says (Rust's `round`).
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
    fn atan2(y, x) { y.atan2(x) }
    fn hypot(x, y) { x.hypot(y) }
    /// `a ^ b`, `a ** b` and `pow(a, b)`.
    fn pow(x, y) { x.powf(y) }
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

/// What a built-in name stands for.
#[derive(Clone, Copy)]
pub enum Kind {
    Const(f64),
    F1(Fn1),
    F2(Fn2),
}

/// A built-in name and its meaning.
#[derive(Clone, Copy)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: Kind,
}

impl Builtin {
    pub fn arity(&self) -> Option<usize> {
        match self.kind {
            Kind::Const(_) => None,
            Kind::F1(_) => Some(1),
            Kind::F2(_) => Some(2),
        }
    }
}

macro_rules! table {
    ($( $name:literal => $kind:expr, )*) => {
        /// Every built-in, in the order `:help` lists them.
        pub static BUILTINS: &[Builtin] = &[ $( Builtin { name: $name, kind: $kind }, )* ];
    };
}

table! {
    "pi" => Kind::Const(std::f64::consts::PI),
    "e" => Kind::Const(std::f64::consts::E),
    "tau" => Kind::Const(std::f64::consts::TAU),
    "inf" => Kind::Const(f64::INFINITY),
    "nan" => Kind::Const(f64::NAN),
    "sin" => Kind::F1(sin),
    "cos" => Kind::F1(cos),
    "tan" => Kind::F1(tan),
    "asin" => Kind::F1(asin),
    "acos" => Kind::F1(acos),
    "atan" => Kind::F1(atan),
    "sinh" => Kind::F1(sinh),
    "cosh" => Kind::F1(cosh),
    "tanh" => Kind::F1(tanh),
    "asinh" => Kind::F1(asinh),
    "acosh" => Kind::F1(acosh),
    "atanh" => Kind::F1(atanh),
    "exp" => Kind::F1(exp),
    "exp2" => Kind::F1(exp2),
    "ln" => Kind::F1(ln),
    "log" => Kind::F1(ln),
    "log2" => Kind::F1(log2),
    "log10" => Kind::F1(log10),
    "sqrt" => Kind::F1(sqrt),
    "cbrt" => Kind::F1(cbrt),
    "abs" => Kind::F1(abs),
    "floor" => Kind::F1(floor),
    "ceil" => Kind::F1(ceil),
    "round" => Kind::F1(round),
    "trunc" => Kind::F1(trunc),
    "sign" => Kind::F1(sign),
    "atan2" => Kind::F2(atan2),
    "hypot" => Kind::F2(hypot),
    "pow" => Kind::F2(pow),
    "min" => Kind::F2(min),
    "max" => Kind::F2(max),
}

/// The built-in called `name`, if there is one.
pub fn lookup(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
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

    #[test]
    fn every_name_is_unique_and_found() {
        for b in BUILTINS {
            assert!(std::ptr::eq(lookup(b.name).unwrap(), b), "{}", b.name);
        }
    }
}
