#!/usr/bin/env python3
"""Checks the expected values of hard_cases.txt and special_values.txt
against a multiprecision reference (mpmath at 300 and 2000 bits, rounded
once to the nearest binary64, ties to even, subnormals included).

    python3 tests/corpus/reference.py            check both files
    python3 tests/corpus/reference.py fill IN    print IN with each `?`
                                                 replaced by the reference

Not run by CI (it needs mpmath); run it after editing either file. Lines
whose arguments include a zero, an infinity or a NaN follow C's Annex F
rules, which mpmath does not model: they are reported as "by rule" and
checked by reading the comment above them.
"""
import math
import sys

import mpmath
from mpmath import mpf


def round_to_f64(v):
    """Round the real mpf `v` to the nearest binary64, ties to even."""
    if mpmath.isnan(v):
        return math.nan
    if mpmath.isinf(v):
        return math.inf if v > 0 else -math.inf
    if v == 0:
        return 0.0
    sign, man, exp, bc = v._mpf_  # v = (-1)^sign * man * 2^exp
    top = exp + bc - 1  # exponent of the leading bit
    if top < -1080:
        return -0.0 if sign else 0.0
    if top > 1030:
        return -math.inf if sign else math.inf
    q = max(top - 52, -1074)  # exponent of the last kept bit
    if exp >= q:
        n = man << (exp - q)
    else:
        shift = q - exp
        n, rest = man >> shift, man & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and n & 1):
            n += 1
    try:
        x = math.ldexp(float(n), q)  # n has at most 54 bits: exact
    except OverflowError:
        x = math.inf
    return -x if sign else x


def power(x, y):
    if x < 0:
        if y != int(y):
            return mpmath.nan
        r = mpmath.power(-x, y)
        return -r if int(y) % 2 else r
    return mpmath.power(x, y)


FUNCTIONS = {
    "sin": mpmath.sin, "cos": mpmath.cos, "tan": mpmath.tan,
    "asin": mpmath.asin, "acos": mpmath.acos, "atan": mpmath.atan,
    "sinh": mpmath.sinh, "cosh": mpmath.cosh, "tanh": mpmath.tanh,
    "asinh": mpmath.asinh, "acosh": mpmath.acosh, "atanh": mpmath.atanh,
    "exp": mpmath.exp, "exp2": lambda x: mpmath.power(2, x),
    "ln": mpmath.log, "log": mpmath.log,
    "log2": lambda x: mpmath.log(x, 2), "log10": mpmath.log10,
    "cbrt": lambda x: mpmath.sign(x) * mpmath.cbrt(abs(x)),
    "sqrt": lambda x: mpmath.sqrt(x) if x >= 0 else mpmath.nan,
    "atan2": mpmath.atan2, "hypot": mpmath.hypot, "pow": power,
}


def reference(func, args):
    """The correctly rounded value, or None when the two precisions
    disagree (never seen; it would need more bits)."""
    results = []
    for bits in (300, 2000):
        with mpmath.workprec(bits):
            try:
                v = FUNCTIONS[func](*[mpf(a) for a in args])
            except (ValueError, ZeroDivisionError):
                v = mpmath.nan
            if isinstance(v, mpmath.mpc):
                v = mpmath.nan if v.imag != 0 else v.real
            results.append(round_to_f64(v))
    a, b = results
    same = (math.isnan(a) and math.isnan(b)) or a == b
    return a if same else None


def by_rule(args):
    return any(a == 0 or math.isinf(a) or math.isnan(a) for a in args)


def same_bits(a, b):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def check(path):
    checked = ruled = 0
    bad = []
    for n, line in enumerate(open(path), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        func, *args, want = fields
        args = [float(a) for a in args]
        if by_rule(args):
            ruled += 1
            continue
        got = reference(func, args)
        if got is None or not same_bits(got, float(want)):
            bad.append(f"{path}:{n}: {line.strip()}  (reference: {got!r})")
        checked += 1
    print(f"{path}: {checked} checked against mpmath, {ruled} by rule, {len(bad)} wrong")
    for b in bad:
        print("  " + b)
    return not bad


def fill(path):
    for line in open(path):
        fields = line.split()
        if fields and fields[-1] == "?":
            func, *args, _ = fields
            value = reference(func, [float(a) for a in args])
            line = " ".join([func, *args, repr(value)]) + "\n"
        sys.stdout.write(line)


if __name__ == "__main__":
    if sys.argv[1:2] == ["fill"]:
        fill(sys.argv[2])
    else:
        here = __file__.rsplit("/", 1)[0]
        ok = all([check(f"{here}/hard_cases.txt"), check(f"{here}/special_values.txt")])
        sys.exit(0 if ok else 1)
