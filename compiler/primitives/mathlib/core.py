"""Helpers every math routine shares: polynomial evaluation, bit-level copysign, the shifter round, 2^k from exponent
bits, clamps. Each takes the scalar builder `b` and the float-type descriptor `t = b.ty(x)` (see __init__.py)."""
from __future__ import annotations


def horner(b, t, x, coeffs):
    """p(x) = ((c0*x + c1)*x + c2)... with coeffs from highest degree down."""
    acc = t.f(coeffs[0])
    for c in coeffs[1:]:
        acc = b.fma(acc, x, t.f(c))
    return acc


def bits(b, t, x):
    return b.bitcast(x, t.ity)


def float_(b, t, i):
    return b.bitcast(i, t.ty)


def copysign(b, t, mag, sgn):
    """|mag| with the sign bit of sgn, in integer ops (no copysign instruction needed)."""
    sbit = t.i(1 << (t.bits - 1))
    return float_(b, t, b.or_(b.and_(bits(b, t, mag), t.i((1 << (t.bits - 1)) - 1)), b.and_(bits(b, t, sgn), sbit)))


def round_shift(b, t, v):
    """k = round-to-nearest(v) as (float, int) for |v| < 2^(mant-1), via v + 1.5*2^mant."""
    shift = 1.5 * 2.0 ** t.mant
    r = b.fadd(v, t.f(shift))
    ki = b.sub(bits(b, t, r), bits(b, t, t.f(shift)))   # low mantissa bits of r hold k
    return b.fsub(r, t.f(shift)), ki


def pow2(b, t, ki):
    """2^k as a float from exponent bits, valid for emin <= k <= emax."""
    return float_(b, t, b.shl(b.add(ki, t.i(t.bias)), t.i(t.mant)))


def clamp(b, t, x, lo, hi):
    # NaN fails both ordered compares and passes through
    x = b.select(b.fcmp_ordered(">", x, t.f(hi)), t.f(hi), x)
    return b.select(b.fcmp_ordered("<", x, t.f(lo)), t.f(lo), x)


def is_nan(b, x):
    return b.fcmp_unordered("uno", x, x)
