"""sin, cos and atan2 of floats, written once against the scalar builder (see __init__.py)."""
from __future__ import annotations

import math

from .core import horner, bits, float_, copysign, round_shift, pow2
from .two_over_pi import TWO_OVER_PI_WORDS


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
    res = _kernel(b, t, r, None, ki, quadrant_shift, sp, cp)
    # beyond the limit the shifter cannot hold k, or k*part is no longer exact (|k| < 2^27): those x take the exact
    # reduction below, out of line and behind a branch (rare in practice), which gives NaN for inf. A NaN x is NaN
    # through the common path as it is. NOTE: one compare per vector, no select: the common path's cost
    huge = b.fcmp_ordered(">", b.fabs(x), t.f(limit))
    name = f"vive_{'cos' if quadrant_shift else 'sin'}_huge_f{t.bits}"
    return b.rare_call(name, lambda b2, v: _sincos_huge(b2, v, quadrant_shift), x, huge, res)


def _kernel(b, t, r, dr, ki, quadrant_shift, sp, cp):
    """sin or cos of k pi/2 + r + dr (dr: None, or a tail below r's last bit) from the quadrant k and |r| <= pi/4."""
    z = b.fmul(r, r)
    # sin r = r + r^3 P(r^2);  cos r = 1 - r^2/2 + r^4 C(r^2)
    s = copysign(b, t, b.fma(b.fmul(r, z), horner(b, t, z, sp), r), r)     # keeps sin(-0) = -0
    c = b.fadd(b.fsub(t.f(1.0), b.fmul(z, t.f(0.5))), b.fmul(b.fmul(z, z), horner(b, t, z, cp)))
    if dr is not None:
        # sin(r + dr) = s + dr c, cos(r + dr) = c - dr s to first order (dr < ulp(r))
        s, c = b.fma(dr, c, s), b.fma(b.fneg(dr), s, c)
    # quadrant q = k (+1 for cos): odd q swaps sin/cos, q & 2 flips the sign
    q = b.add(ki, t.i(quadrant_shift)) if quadrant_shift else ki
    swap = b.icmp_unsigned("!=", b.and_(q, t.i(1)), t.i(0))
    res = b.select(swap, c, s)
    sgn = b.shl(b.and_(q, t.i(2)), t.i(t.bits - 2))
    return float_(b, t, b.xor(bits(b, t, res), sgn))


# pi/2 as f64 hi + lo
_PIO2_HI, _PIO2_LO = 1.5707963267948966, 6.123233995736766e-17


def _sincos_huge(b, x, quadrant_shift):
    """sin/cos of one element with |x| > 2^21 pi/2 (f32 via f64; NaN for inf): Payne-Hanek. x = m 2^(e-52) with m < 2^53;
    bits of 2/pi whose product with x is a multiple of 4 are skipped (the exponent selects a 192-bit window), the
    window times m in 64-bit limbs (i128 products) gives x 2/pi mod 4 to ~2^-130: quadrant and fraction exactly, the
    fraction then normalised into an f64 pair and multiplied by pi/2. Rare path: straight scalar code."""
    t = b.ty(x)
    if t.bits == 32:
        return b.fptrunc(_sincos_huge(b, b.fpext(x, t.wide().ty), quadrant_shift), t.ty)
    i64, i128 = t.ity, b.int_type(128)
    m64 = (1 << 64) - 1
    xb = bits(b, t, x)
    ab = b.and_(xb, t.i((1 << 63) - 1))
    e = b.sub(b.lshr(ab, t.i(52)), t.i(1023))
    m = b.or_(b.and_(ab, t.i((1 << 52) - 1)), t.i(1 << 52))
    # x 2/pi = m sum_j bit_j 2^(e-52-j): terms with j <= e-54 are multiples of 4. With 64 zero bits in front of the
    # table, the window starts at padded bit offset e + 10 (>= 0 for e >= -10)
    words = (0,) + TWO_OVER_PI_WORDS
    j0 = b.add(e, t.i(10))
    w = b.lshr(j0, t.i(6))
    sh = b.and_(j0, t.i(63))
    n_w = (1023 + 10 >> 6) + 1

    def word(k):        # words[w + k] by a select chain (no memory: the function stays readnone)
        v = t.i(words[k])
        for i in range(1, n_w):
            v = b.select(b.icmp_unsigned("==", w, t.i(i)), t.i(words[i + k]), v)
        return v
    a = [word(k) for k in range(4)]
    win = [b.or_(b.shl(a[k], sh), b.lshr(b.lshr(a[k + 1], t.i(1)), b.sub(t.i(63), sh))) for k in range(3)]
    w2, w1, w0 = win
    mw = b.zext(m, i128)
    lo_a = b.mul(mw, b.zext(w0, i128))
    lo_b = b.mul(mw, b.zext(w1, i128))
    c64 = b.iconst(128, 64)
    t1 = b.add(b.lshr(lo_a, c64), b.and_(lo_b, b.iconst(128, m64)))
    p0 = b.trunc(lo_a, i64)
    p1 = b.trunc(t1, i64)
    p2 = b.add(b.add(b.trunc(b.lshr(lo_b, c64), i64), b.mul(m, w2)), b.trunc(b.lshr(t1, c64), i64))
    # P = p2:p1:p0 = (x 2/pi mod 4) 2^190: quadrant = top two bits rounded by the next; P << 2 as a signed 192-bit
    # fraction f in [-1/2, 1/2)
    rnd = b.and_(b.lshr(p2, t.i(61)), t.i(1))
    q = b.add(b.lshr(p2, t.i(62)), rnd)
    hi = b.or_(b.shl(b.zext(b.or_(b.shl(p2, t.i(2)), b.lshr(p1, t.i(62))), i128), c64),
               b.zext(b.or_(b.shl(p1, t.i(2)), b.lshr(p0, t.i(62))), i128))
    lo = b.shl(p0, t.i(2))
    neg = b.icmp_unsigned("!=", rnd, t.i(0))
    borrow = b.zext(b.icmp_unsigned("!=", lo, t.i(0)), i128)
    hi = b.select(neg, b.sub(b.sub(b.iconst(128, 0), hi), borrow), hi)
    lo = b.select(neg, b.sub(t.i(0), lo), lo)
    u2, u1 = b.trunc(b.lshr(hi, c64), i64), b.trunc(hi, i64)
    # |f| >= ~2^-62 for every double (the closest to a multiple of pi/2 is ~2^-61 away), so u2 != 0; the clamp only
    # keeps the shifts defined
    # leading zeros of u2 from the exponent of its conversion (NVPTX has no ctlz call here), which may round up
    # one binade
    lg = b.sub(b.lshr(bits(b, t, b.uitofp(u2, t.ty)), t.i(52)), t.i(1023))
    lg = b.select(b.icmp_signed("<", lg, t.i(0)), t.i(0), lg)
    lg = b.select(b.icmp_unsigned(">", b.shl(t.i(1), lg), u2), b.sub(lg, t.i(1)), lg)
    n = b.sub(t.i(63), b.select(b.icmp_signed("<", lg, t.i(0)), t.i(0), lg))
    top = b.or_(b.shl(u2, n), b.lshr(b.lshr(u1, t.i(1)), b.sub(t.i(63), n)))
    nxt = b.or_(b.shl(u1, n), b.lshr(b.lshr(lo, t.i(1)), b.sub(t.i(63), n)))
    # |f| = top 2^(-64-n) + nxt 2^(-128-n): the top 53 bits exactly, the rest rounded once
    fh = b.fmul(b.uitofp(b.lshr(top, t.i(11)), t.ty), pow2(b, t, b.sub(t.i(-53), n)))
    fl = b.fadd(b.fmul(b.uitofp(b.and_(top, t.i(2047)), t.ty), t.f(2.0 ** 64)), b.uitofp(nxt, t.ty))
    fl = b.fmul(fl, pow2(b, t, b.sub(t.i(-128), n)))
    # the sign of f: rounded up (neg) or x < 0 flip it; x < 0 also negates the quadrant
    xneg = b.icmp_signed("<", xb, t.i(0))
    flip = b.xor(neg, xneg)
    fh = b.select(flip, b.fneg(fh), fh)
    fl = b.select(flip, b.fneg(fl), fl)
    q = b.select(xneg, b.sub(t.i(0), q), q)
    # r = f pi/2 as a pair
    rh = b.fmul(fh, t.f(_PIO2_HI))
    tail = b.fadd(b.fmul(fh, t.f(_PIO2_LO)), b.fmul(fl, t.f(_PIO2_HI)))
    rl = b.fadd(b.fma_exact(fh, t.f(_PIO2_HI), b.fneg(rh)), tail)
    r = b.fadd(rh, rl)
    dr = b.fsub(rl, b.fsub(r, rh))
    res = _kernel(b, t, r, dr, q, quadrant_shift, _SIN_P, _COS_P)
    # inf comes here too (the common path tests only |x| > limit): sin(inf) is NaN
    return b.select(b.fcmp_ordered("<", b.fabs(x), t.f(math.inf)), res, t.f(math.nan))


def sin(b, x):
    """sin(x): Cody-Waite reduction by pi/2, exact (Payne-Hanek) reduction past its range (see __init__.py)."""
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
