"""Integer floor division and power, as NumPy computes them (no traps, wrapping like C), against the scalar builder;
`b.const_like(x, v)` makes a constant of x's integer type."""
from __future__ import annotations


def floordiv(b, n, d):
    """n // d rounded toward -inf for d != 0; INT_MIN // -1 wraps as in NumPy (no trap)."""
    zero = b.const_like(n, 0)
    isneg1 = b.icmp_signed("==", d, b.const_like(n, -1))
    ds = b.select(isneg1, b.const_like(n, 1), d)
    q = b.sdiv(n, ds)
    r = b.srem(n, ds)
    fix = b.and_(b.icmp_signed("!=", r, zero),
                 b.icmp_signed("!=", b.icmp_signed("<", r, zero), b.icmp_signed("<", ds, zero)))
    q = b.sub(q, b.zext(fix, n.type))
    return b.select(isneg1, b.sub(zero, n), q)


def ipow(b, x, y, width, signed=True):
    """x ** y by squaring over the `width` bits of y; a negative exponent gives 1 for base 1, else 0 (NumPy raises
    for ints; never garbage)."""
    one = b.const_like(x, 1)
    result, base, e = one, x, y
    for _ in range(width):
        bit = b.icmp_unsigned("!=", b.and_(e, one), b.const_like(x, 0))
        result = b.select(bit, b.mul(result, base), result)
        base = b.mul(base, base)
        e = b.lshr(e, one)
    if not signed:
        return result
    neg = b.icmp_signed("<", y, b.const_like(x, 0))
    is_one = b.icmp_signed("==", x, one)
    return b.select(neg, b.select(is_one, one, b.const_like(x, 0)), result)
