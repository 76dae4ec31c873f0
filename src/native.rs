//! Native functions: Rust closures a host program gives a name
//! ([`crate::Engine::define_native`]), called by programs like built-ins.
//!
//! A native is stored as a [`Native`] (its name, arity, and the closure
//! behind one calling shape, a slice of arguments), and bound in the
//! namespace as a function whose body is `Node::Native`, so every tier,
//! every kernel and every call path reaches it the way it reaches any
//! function. A panic inside the closure is caught here and becomes an
//! error of the evaluation: it never unwinds into machine code.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::ErrorKind;

/// A closure of 0 to 4 `f64` arguments returning `f64`, usable as a
/// native function ([`crate::Engine::define_native`]). Implemented for
/// every `Fn(f64, …) -> f64 + Send + Sync + 'static` of those arities;
/// `Args` tells them apart (write the closure's parameter types, as in
/// `|x: f64| x * 2.0`, when the compiler cannot infer them).
pub trait NativeFn<Args>: Send + Sync + 'static {
    /// How many arguments it takes.
    const ARITY: usize;
    /// The closure behind one calling shape (arguments as a slice whose
    /// length is `ARITY`).
    #[doc(hidden)]
    fn into_slice_fn(self) -> SliceFn;
}

/// A native function behind one calling shape.
#[doc(hidden)]
pub type SliceFn = Box<dyn Fn(&[f64]) -> f64 + Send + Sync + 'static>;

macro_rules! native_fn {
    ($n:literal; $($a:ident),*) => {
        impl<F> NativeFn<($(native_fn!(@f64 $a),)*)> for F
        where
            F: Fn($(native_fn!(@f64 $a)),*) -> f64 + Send + Sync + 'static,
        {
            const ARITY: usize = $n;
            fn into_slice_fn(self) -> SliceFn {
                Box::new(move |args: &[f64]| match args {
                    [$($a),*] => self($(*$a),*),
                    _ => f64::NAN,
                })
            }
        }
    };
    (@f64 $a:ident) => { f64 };
}

native_fn!(0;);
native_fn!(1; a);
native_fn!(2; a, b);
native_fn!(3; a, b, c);
native_fn!(4; a, b, c, d);

/// A named native function.
pub(crate) struct Native {
    pub name: String,
    pub arity: usize,
    f: SliceFn,
}

impl fmt::Debug for Native {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<native {}/{}>", self.name, self.arity)
    }
}

impl Native {
    pub fn new<Args, F: NativeFn<Args>>(name: &str, f: F) -> Native {
        Native {
            name: name.to_string(),
            arity: F::ARITY,
            f: f.into_slice_fn(),
        }
    }

    /// Calls it with `args` (exactly `arity` of them: callers check the
    /// arity first, as for any function). A panic becomes
    /// [`ErrorKind::NativePanic`].
    pub fn call(&self, args: &[f64]) -> Result<f64, ErrorKind> {
        catch_unwind(AssertUnwindSafe(|| (self.f)(args))).map_err(|payload| {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".to_string());
            ErrorKind::NativePanic {
                name: self.name.clone(),
                message,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native<Args, F: NativeFn<Args>>(f: F) -> Native {
        Native::new("n", f)
    }

    #[test]
    fn every_arity_from_zero_to_four() {
        assert_eq!(native(|| 7.0).call(&[]), Ok(7.0));
        assert_eq!(native(|x: f64| x * 2.0).call(&[3.0]), Ok(6.0));
        let n = native(|a: f64, b: f64| a - b);
        assert_eq!((n.arity, n.call(&[5.0, 2.0])), (2, Ok(3.0)));
        assert_eq!(native(|a: f64, b: f64, c: f64| a * b + c).arity, 3);
        let n = native(|a: f64, b: f64, c: f64, d: f64| a + b + c + d);
        assert_eq!((n.arity, n.call(&[1.0, 2.0, 3.0, 4.0])), (4, Ok(10.0)));
    }

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let n = Native::new("boom", |x: f64| -> f64 {
            if x > 0.0 {
                panic!("too big: {x}")
            }
            x
        });
        assert_eq!(n.call(&[-1.0]), Ok(-1.0));
        assert_eq!(
            n.call(&[2.0]),
            Err(ErrorKind::NativePanic {
                name: "boom".into(),
                message: "too big: 2".into()
            })
        );
    }
}
