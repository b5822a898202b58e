"""exp, log, tanh, logistic, pow, maximum, minimum and sign of floats, written once against the scalar builder (see
__init__.py for the builder and the accuracy table)."""
from __future__ import annotations

import math
import struct

from .core import horner, bits, float_, copysign, round_shift, pow2, clamp
from . import fast


# --- exp ---------------------------------------------------------------------------------------------------------

# Cephes expf: e^r = 1 + r + r^2 * P(r) on |r| <= ln2/2, ~1 ulp
_EXPF_P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]
# f64: Taylor to degree 12 on |r| <= ln2/2; truncation r^13/13! < 1.7e-16
_EXP_P = [1.0 / math.factorial(n) for n in range(12, -1, -1)]
# f32 minimax fits on |r| <= ln2/2 (relative error, f32-rounded coefficients, highest degree first):
# expm1 r = r + r^2 P(r), degree 6, 1.3e-8 relative;  e^r = Horner of degree 6, 2.0e-9 relative
_EXPM1F_P = [1.3882516650e-03, 8.3665475249e-03, 4.1667200625e-02, 1.6666543484e-01, 4.9999997020e-01]
_LN2F = struct.unpack("<f", struct.pack("<f", math.log(2.0)))[0]     # ln2 rounded to float32
_EXPF_P6 = [1.3843607157e-03, 8.3741955459e-03, 4.1668005288e-02, 1.6666430235e-01, 4.9999994040e-01, 1.0, 1.0]


def exp(b, x):
    """e^x, elementwise. exp(b, v) -> same type as v."""
    t = b.ty(x)
    if t.bits == 32:
        # e^89 > FLT_MAX, e^-104 < 2^-150 (rounds to 0); ln2 = C1 + C2 with C1 of 9 bits so k*C1 is exact
        lo, hi, ln2_hi, ln2_lo = -104.0, 89.0, 0.693359375, -2.12194440e-4
    else:
        lo, hi, ln2_hi, ln2_lo = -746.0, 710.0, 6.93147180369123816490e-01, 1.90821492927058770002e-10
    x = clamp(b, t, x, lo, hi)
    # exp(x) = 2^k * p(r), r = x - k ln2, k = round(x / ln2)
    kf, ki = round_shift(b, t, b.fmul(x, t.f(1.0 / math.log(2.0))))
    r = b.fsub(b.fsub(x, b.fmul(kf, t.f(ln2_hi))), b.fmul(kf, t.f(ln2_lo)))
    if t.bits == 32:
        p = b.fadd(b.fma(horner(b, t, r, _EXPF_P), b.fmul(r, r), r), t.f(1.0))
    else:
        p = horner(b, t, r, _EXP_P)
    # 2^k = 2^k1 * 2^k2 with k1 = k >> 1: both factors are normal for every clamped k, so overflow gives inf and
    # denormal results are rounded once (p * 2^k1 is exact)
    k1 = b.ashr(ki, t.i(1))
    k2 = b.sub(ki, k1)
    return b.fmul(b.fmul(p, pow2(b, t, k1)), pow2(b, t, k2))


def _expf_shift(b, t, z, bias, scale=1.0):
    """f32 k = round(scale z / ln2) for scale z in [-190, 0]: returns (s, kf) where kf = k as a float and the low mantissa bits of
    s hold k + bias, so bits(s) << 23 is (k + bias) << 23 modulo 2^32 (the exponent field of 2^(k + bias) minus 127's).
    The shifter add is fused with z/ln2 (k may round differently at a tie; the reductions below are exact for either).
    """
    shift = 1.5 * 2.0 ** 23 + bias
    s = b.fma(z, t.f(scale / math.log(2.0)), t.f(shift))
    return s, b.fsub(s, t.f(shift))


def _exponent_add(b, t, s):
    """bits(s) << 23: added to the bits of a normal float v it makes v * 2^(k + bias) in one integer add (exact while
    the result stays normal), without a multiply."""
    return b.shl(bits(b, t, s), t.i(23))


# --- log ---------------------------------------------------------------------------------------------------------

# fdlibm/FreeBSD: log(1+f) = f - hfsq + s*(hfsq + R(z)), s = f/(2+f), z = s^2, R ~ 2s^2/3 + 2s^4/5 + ...
_LOGF_EVEN = [2.4279078841e-01, 4.0000972152e-01]          # Lg4, Lg2 (multiplied by w = z^2)
_LOGF_ODD = [2.8498786688e-01, 6.6666662693e-01]           # Lg3, Lg1
_LOG_EVEN = [1.531383769920937332e-01, 2.222219843214978396e-01, 3.999999999940941908e-01]
_LOG_ODD = [1.479819860511658591e-01, 1.818357216161805012e-01, 2.857142874366239149e-01, 6.666666666666735130e-01]


def log(b, x):
    """Natural log, elementwise: log(0) = -inf, log(<0) = NaN, log(inf) = inf."""
    t = b.ty(x)
    if t.bits == 32:
        min_normal, up, ln2_hi, ln2_lo = 2.0 ** -126, 25, 6.9313812256e-01, 9.0580006145e-06
        even, odd = _LOGF_EVEN, _LOGF_ODD
    else:
        min_normal, up, ln2_hi, ln2_lo = 2.0 ** -1022, 54, 6.93147180369123816490e-01, 1.90821492927058770002e-10
        even, odd = _LOG_EVEN, _LOG_ODD
    # denormal x: scale by 2^up so the exponent field is meaningful
    tiny = b.fcmp_ordered("<", x, t.f(min_normal))
    xs = b.select(tiny, b.fmul(x, t.f(2.0 ** up)), x)
    ebias = b.select(tiny, t.i(-t.bias - up), t.i(-t.bias))
    # x = m * 2^e with m in [sqrt(1/2), sqrt(2))
    ix = bits(b, t, xs)
    e = b.add(b.and_(b.lshr(ix, t.i(t.mant)), t.i((1 << (t.bits - 1 - t.mant)) - 1)), ebias)
    m = float_(b, t, b.or_(b.and_(ix, t.i((1 << t.mant) - 1)), bits(b, t, t.f(1.0))))
    big = b.fcmp_ordered(">", m, t.f(math.sqrt(2.0)))
    m = b.select(big, b.fmul(m, t.f(0.5)), m)
    e = b.add(e, b.zext(big, t.ity))
    f = b.fsub(m, t.f(1.0))
    s = b.fdiv(f, b.fadd(f, t.f(2.0)))
    z = b.fmul(s, s)
    w = b.fmul(z, z)
    big_r = b.fadd(b.fmul(w, horner(b, t, w, even)), b.fmul(z, horner(b, t, w, odd)))
    hfsq = b.fmul(b.fmul(f, f), t.f(0.5))
    dk = b.sitofp(e, t.ty)
    # log(x) = e*ln2_hi - ((hfsq - (s*(hfsq+R) + e*ln2_lo)) - f)
    inner = b.fadd(b.fmul(s, b.fadd(hfsq, big_r)), b.fmul(dk, t.f(ln2_lo)))
    res = b.fsub(b.fmul(dk, t.f(ln2_hi)), b.fsub(b.fsub(hfsq, inner), f))
    res = b.select(b.fcmp_ordered("==", x, t.f(math.inf)), t.f(math.inf), res)
    res = b.select(b.fcmp_ordered("==", x, t.f(0.0)), t.f(-math.inf), res)
    res = b.select(b.fcmp_ordered("<", x, t.f(0.0)), t.f(math.nan), res)
    return b.select(b.fcmp_unordered("uno", x, x), x, res)


# --- tanh, logistic ----------------------------------------------------------------------------------------------

# Cephes tanh on |x| < 0.625: tanh x = x + x^3 P(x^2)/Q(x^2), Q monic
_TANH_P = [-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3]
_TANH_Q = [1.0, 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3]


def tanh(b, x):
    """tanh(x) = -expm1(-2|x|) / (2 + expm1(-2|x|)) with the sign of x (f32); f64: odd rational for |x| < 0.625,
    else 1 - 2/(e^(2|x|) + 1)."""
    t = b.ty(x)
    ax = b.fabs(x)
    if t.bits == 32:
        # One path for every x (no second branch to compute and select away): e^z - 1 for z = -2|x| in (-1, 0] is
        # relative-accurate also for tiny |x|, and the quotient -em1 / (2 + em1) has no cancellation.
        # z = k ln2 + r is reduced through h = |x| + k ln2/2 = -r/2 with a single f32 ln2/2: its error (|k| 1e-9)
        # reaches tanh only through e^z ~ 2^k, so it is negligible for every k. expm1(r) = -2 (h + h^2 Q(h)) with
        # Q(h) = -2 P(-2h) (coefficients scaled by powers of two, so exact), in Horner's form: the loop is bound by
        # vector-op issue, not latency (iterations overlap), and Horner is two multiplies fewer than Estrin
        # (measured 5% faster on znver4). The -2 joins 2^k as -2^(k+1), an integer add on the exponent bits.
        # Clamp |x| <= 20: tanh is 1 well before; NaN passes.
        if b.fast_math:
            return fast.tanh_f32(b, x)
        ax = b.select(b.fcmp_ordered(">", ax, t.f(20.0)), t.f(20.0), ax)
        s, kf = _expf_shift(b, t, ax, 127, scale=-2.0)
        h = b.fma(kf, t.f(_LN2F / 2), ax)
        h2 = b.fmul(h, h)
        q = horner(b, t, h, [c * (-2.0) ** (i + 1) for i, c in enumerate(_EXPM1F_P[::-1])][::-1])
        em1h = b.fma(h2, q, h)                                   # expm1(r) / -2
        e = _exponent_add(b, t, s)                                 # bits of 2^k (k + 127 in the exponent)
        pw = float_(b, t, e)
        m2pw = float_(b, t, b.add(e, t.i((1 << 23) | (1 << 31))))   # -2^(k+1): exponent + 1, sign bit set
        em1 = b.fma(m2pw, em1h, b.fsub(pw, t.f(1.0)))            # e^z - 1 = 2^k (e^r - 1) + (2^k - 1)
        return copysign(b, t, b.fdiv(em1, b.fsub(t.f(-2.0), em1)), x)       # -em1 / (2 + em1), one op less
    z = b.fmul(x, x)
    q = b.fdiv(horner(b, t, z, _TANH_P), horner(b, t, z, _TANH_Q))
    # copysign: tanh(-0) = -0 (x + (x z) q would give +0)
    small = copysign(b, t, b.fma(b.fmul(x, z), q, x), x)
    # exp overflows to inf for |x| > ~355 and 2/inf = 0 gives exactly +-1; NaN takes this path and stays NaN
    e2 = exp(b, b.fadd(ax, ax))
    large = b.fsub(t.f(1.0), b.fdiv(t.f(2.0), b.fadd(e2, t.f(1.0))))
    large = copysign(b, t, large, x)
    return b.select(b.fcmp_ordered("<", ax, t.f(0.625)), small, large)


def logistic(b, x):
    """1/(1+e^-x), relative-accurate in both tails: e = e^-|x|, x >= 0: 1/(1+e), x < 0: e/(1+e)."""
    t = b.ty(x)
    nax = b.fneg(b.fabs(x))
    if t.bits == 32:
        # e^-|x| <= 1 only needs the low end: E = e^-|x| 2^64 = 2^(k+64) p(r) is normal down to the clamp (e^-104 <
        # 2^-150 rounds to 0) and exact (p times a power of two), and the 2^64 cancels in the quotient, so denormal
        # results are rounded once, by the division; NaN passes the clamp
        if b.fast_math:
            return fast.logistic_f32(b, x, _expf_shift, _exponent_add)
        nax = b.select(b.fcmp_ordered("<", nax, t.f(-104.0)), t.f(-104.0), nax)
        s, kf = _expf_shift(b, t, nax, 64)
        # k*C1 is exact (C1 has 9 bits), so the two-step reduction is exact with or without FMA
        r = b.fma(kf, t.f(2.12194440e-4), b.fma(kf, t.f(-0.693359375), nax))
        # e^r in Horner's form (see tanh: issue-bound loops; 10% faster than Estrin on znver4)
        p = horner(b, t, r, _EXPF_P6)
        e = float_(b, t, b.add(bits(b, t, p), _exponent_add(b, t, s)))   # p 2^(k+64), normal for every k
        num = b.select(b.fcmp_ordered(">=", x, t.f(0.0)), t.f(2.0 ** 64), e)   # NaN x: e is NaN, so is the result
        return b.fdiv(num, b.fadd(e, t.f(2.0 ** 64)))
    e = exp(b, nax)
    num = b.select(b.fcmp_ordered(">=", x, t.f(0.0)), t.f(1.0), e)   # NaN x: e is NaN, so is the result
    return b.fdiv(num, b.fadd(e, t.f(1.0)))


# --- pow ---------------------------------------------------------------------------------------------------------

def _int_parity(b, t, y):
    """(is_integer(y), is_odd_integer(y)) for finite or infinite y; inf counts as an even integer."""
    two_m = 2.0 ** t.mant
    ay = b.fabs(y)
    small = b.fcmp_ordered("<", ay, t.f(two_m))
    # |y| < 2^mant: u = |y| + 2^mant rounds |y| to an integer held in u's low mantissa bits
    u = b.select(small, b.fadd(ay, t.f(two_m)), ay)
    is_int = b.or_(b.fcmp_ordered("==", b.fsub(u, t.f(two_m)), ay), b.not_(small))
    # |y| in [2^mant, 2^(mant+1)) still has a units bit; above that every float is even
    odd_bit = b.icmp_unsigned("!=", b.and_(bits(b, t, u), t.i(1)), t.i(0))
    in_range = b.fcmp_ordered("<", u, t.f(2.0 * two_m))
    return is_int, b.and_(b.and_(is_int, odd_bit), in_range)


def pow(b, x, y):
    """x**y with NumPy/C99 special cases; f32 goes through f64 (see __init__.py for accuracy)."""
    t = b.ty(x)
    if y.type != x.type:
        raise TypeError(f"llvm_math.pow: x is {x.type} but y is {y.type}")
    ax = b.fabs(x)
    if t.bits == 32:
        w = t.wide()
        yw = b.fpext(y, w.ty)
        mag = b.fptrunc(exp(b, b.fmul(yw, log(b, b.fpext(ax, w.ty)))), t.ty)
    else:
        mag = exp(b, b.fmul(y, log(b, ax)))          # |x|^y = e^(y ln|x|); 0 -> e^-+inf, inf -> e^+-inf
    is_int, is_odd = _int_parity(b, t, y)
    # negative base (sign bit, so -0 and -inf too) with an odd integer exponent: -|x|^y
    neg = b.icmp_signed("<", bits(b, t, x), t.i(0))
    res = b.select(b.and_(neg, is_odd), b.fneg(mag), mag)
    # finite negative base with a non-integral exponent: NaN
    neg_finite = b.and_(b.fcmp_ordered("<", x, t.f(0.0)), b.fcmp_ordered(">", x, t.f(-math.inf)))
    res = b.select(b.and_(neg_finite, b.not_(is_int)), t.f(math.nan), res)
    # (+-1)**+-inf = 1 (y ln 1 = inf * 0 = NaN otherwise), 1**y = 1 even for NaN y, x**0 = 1 even for NaN x
    unit_inf = b.and_(b.fcmp_ordered("==", ax, t.f(1.0)), b.fcmp_ordered("==", b.fabs(y), t.f(math.inf)))
    one = b.or_(b.or_(unit_inf, b.fcmp_ordered("==", x, t.f(1.0))), b.fcmp_ordered("==", y, t.f(0.0)))
    return b.select(one, t.f(1.0), res)


# --- max, min, sign ----------------------------------------------------------------------------------------------

def maximum(b, x, y):
    """np.maximum: NaN if either is NaN, else the larger; equal inputs (+0, -0) give y."""
    m = b.select(b.fcmp_ordered(">", x, y), x, y)       # y NaN: compare false, y comes out
    return b.select(b.fcmp_unordered("uno", x, x), x, m)


def minimum(b, x, y):
    """np.minimum: NaN if either is NaN, else the smaller; equal inputs (+0, -0) give y."""
    m = b.select(b.fcmp_ordered("<", x, y), x, y)
    return b.select(b.fcmp_unordered("uno", x, x), x, m)


def sign(b, x):
    """np.sign: -1, +0 (also for -0), 1, NaN for NaN."""
    t = b.ty(x)
    res = b.select(b.fcmp_ordered("==", x, t.f(0.0)), t.f(0.0), x)     # NaN stays x
    res = b.select(b.fcmp_ordered("<", x, t.f(0.0)), t.f(-1.0), res)
    return b.select(b.fcmp_ordered(">", x, t.f(0.0)), t.f(1.0), res)
