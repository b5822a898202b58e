"""sin, cos and atan2 of floats, written once against the scalar builder (see __init__.py)."""
from __future__ import annotations

import math

from .core import horner, bits, float_, copysign, round_shift


# --- sin, cos ----------------------------------------------------------------------------------------------------

# pi/2 = sum of parts; leading parts have 26 significant bits so k*part is exact for |k| < 2^27.
# f32 inputs are reduced in f64 with two parts, f64 inputs with four (~131 bits of pi/2).
_PIO2F_IN_F64 = [float.fromhex("0x1.921fb5p+0"), float.fromhex("0x1.110b4611a6263p-26")]
_PIO2_PARTS = [float.fromhex(h) for h in ("0x1.921fb5p+0", "0x1.110b46p-26", "0x1.1a6263p-54", "0x1.8a2e03707344ap-81")]
# f32 inputs on a target where f64 is slow (b.fast_f64 false, GPUs): three f32 parts with exact fmas
_PIO2F = [1.5707963705062866, -4.371138828673793e-08, -1.7151245100058819e-15]
# Cephes sinf/cosf on |r| <= pi/4
_SINF_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1]
_COSF_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2]
# fdlibm __kernel_sin S6..S1, __kernel_cos C6..C1
_SIN_P = [1.58969099521155010221e-10, -2.50507602534068634195e-08, 2.75573137070700676789e-06,
          -1.98412698298579493134e-04, 8.33333333332248946124e-03, -1.66666666666666324348e-01]
_COS_P = [-1.13596475577881948265e-11, 2.08757232129817482790e-09, -2.75573143513906633035e-07,
          2.48015872894767294178e-05, -1.38888888888741095749e-03, 4.16666666666666019037e-02]


def _sincos(b, x, quadrant_shift):
    t = b.ty(x)
    # x = k pi/2 + r, |r| <= pi/4 (+ rounding of k); r = ((x - k p1) - k p2) - ... as plain fmul/fsub
    limit = 2.0 ** 27 * (math.pi / 2)
    if t.bits == 32 and not b.fast_f64:
        # k from the f32 shifter (exact for |k| < 2^21), r = x - k pi/2 by fmas: accurate while |x| < ~1e5
        kf, ki = round_shift(b, t, b.fmul(x, t.f(2.0 / math.pi)))
        r = x
        for p in _PIO2F:
            r = b.fma_exact(kf, t.f(-p), r)
        r = b.select(b.fcmp_ordered("==", x, t.f(0.0)), x, r)        # the fmas turn -0 into +0; sin(-0) = -0
        sp, cp = _SINF_P, _COSF_P
        limit = 2.0 ** 21 * (math.pi / 2)
    elif t.bits == 32:
        # reduce in f64: a 4-part f32 split still loses ~2^-32 absolute, hundreds of ulp next to zeros of sin/cos,
        # and k from an f32 product can be off by one for large x (|r| > pi/4, outside the polynomials' range)
        w = t.wide()
        rd = b.fpext(x, w.ty)
        kd, ki = round_shift(b, w, b.fmul(rd, w.f(2.0 / math.pi)))
        ki = b.trunc(ki, t.ity)
        for p in _PIO2F_IN_F64:
            rd = b.fsub(rd, b.fmul(kd, w.f(p)))
        r = b.fptrunc(rd, t.ty)
        sp, cp = _SINF_P, _COSF_P
    else:
        kf, ki = round_shift(b, t, b.fmul(x, t.f(2.0 / math.pi)))
        r = x
        for p in _PIO2_PARTS:
            r = b.fsub(r, b.fmul(kf, t.f(p)))
        sp, cp = _SIN_P, _COS_P
    z = b.fmul(r, r)
    # sin r = r + r^3 P(r^2);  cos r = 1 - r^2/2 + r^4 C(r^2)
    s = copysign(b, t, b.fma(b.fmul(r, z), horner(b, t, z, sp), r), r)     # keeps sin(-0) = -0
    c = b.fadd(b.fsub(t.f(1.0), b.fmul(z, t.f(0.5))), b.fmul(b.fmul(z, z), horner(b, t, z, cp)))
    # quadrant q = k (+1 for cos): odd q swaps sin/cos, q & 2 flips the sign
    q = b.add(ki, t.i(quadrant_shift)) if quadrant_shift else ki
    swap = b.icmp_unsigned("!=", b.and_(q, t.i(1)), t.i(0))
    res = b.select(swap, c, s)
    sgn = b.shl(b.and_(q, t.i(2)), t.i(t.bits - 2))
    res = float_(b, t, b.xor(bits(b, t, res), sgn))
    # beyond the limit the shifter cannot hold k, or k*part is no longer exact (|k| < 2^27): NaN rather than a
    # silently wrong value (and inf gives NaN anyway)
    return b.select(b.fcmp_ordered("<=", b.fabs(x), t.f(limit)), res, t.f(math.nan))


def sin(b, x):
    """sin(x) with Cody-Waite reduction by pi/2 (see __init__.py for the accurate range)."""
    return _sincos(b, x, 0)


def cos(b, x):
    """cos(x) = sin(x + pi/2): same reduction, quadrant shifted by one."""
    return _sincos(b, x, 1)


# ---- atan2 ----

# atan(u) = u + u s P(s), s = u^2, |u| <= tan(pi/8): fitted on s in [0, tan(pi/8)^2 * 1.0001]
_ATAN_P = {64: [-0.019175404711104935, 0.03923044778479309, -0.050854078345894844, 0.05858140904866328,
                -0.06664510525508936, 0.07692183125376892, -0.0909090457530649, 0.11111111015187018,
                -0.14285714284665682, 0.19999999999995516, -0.3333333333333333],
           32: [-0.06451718869358958, 0.10743668324830098, -0.14263949753605723, 0.1999954031495797,
                -0.33333331760434554]}
# (hi, lo) splits of pi, pi/2, pi/4 in each width
_PI = {64: (3.141592653589793, 1.2246467991473532e-16), 32: (3.1415927410125732, -8.742277657347586e-08)}
_PIO2 = {64: (1.5707963267948966, 6.123233995736766e-17), 32: (1.5707963705062866, -4.371138828673793e-08)}
_PIO4 = {64: (0.7853981633974483, 3.061616997868383e-17), 32: (0.7853981852531433, -2.1855694143368964e-08)}
_TAN_PI_8 = 0.41421356237309503


def atan2(b, y, x):
    """np.arctan2(y, x): the angle of min/max(|x|, |y|) in [0, pi/4], then reflected into the right octant."""
    t = b.ty(x)
    ax, ay = b.fabs(x), b.fabs(y)
    swap = b.fcmp_ordered(">", ay, ax)
    mx, mn = b.select(swap, ay, ax), b.select(swap, ax, ay)
    q = b.fdiv(mn, mx)
    q = b.select(b.fcmp_ordered("==", mx, t.f(0.0)), t.f(0.0), q)                     # atan2(+-0, +-0)
    inf = t.f(math.inf)
    q = b.select(b.and_(b.fcmp_ordered("==", ax, inf), b.fcmp_ordered("==", ay, inf)), t.f(1.0), q)
    # tan(pi/8) < q <= 1: atan q = pi/4 + atan((q - 1) / (q + 1)), the argument back in [-tan(pi/8), 0]
    big = b.fcmp_ordered(">", q, t.f(_TAN_PI_8))
    u = b.select(big, b.fdiv(b.fsub(q, t.f(1.0)), b.fadd(q, t.f(1.0))), q)
    s = b.fmul(u, u)
    r = b.fma(b.fmul(u, s), horner(b, t, s, _ATAN_P[t.bits]), u)
    hi, lo = _PIO4[t.bits]
    r = b.select(big, b.fadd(b.fadd(r, t.f(lo)), t.f(hi)), r)
    hi, lo = _PIO2[t.bits]
    r = b.select(swap, b.fadd(b.fsub(t.f(hi), r), t.f(lo)), r)
    # x < 0 or x = -0 (atan2(+-0, -0) = +-pi): the sign bit, not a compare
    hi, lo = _PI[t.bits]
    neg = b.icmp_signed("<", bits(b, t, x), t.i(0))
    r = b.select(neg, b.fadd(b.fsub(t.f(hi), r), t.f(lo)), r)
    r = copysign(b, t, r, y)
    return b.select(b.fcmp_unordered("uno", x, y), b.fadd(x, y), r)
