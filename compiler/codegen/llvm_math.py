"""Branch-free CPU math (exp, log, tanh, logistic, sin, cos, pow, ...) emitted inline as llvmlite.ir.

Every function takes an `ir.IRBuilder` and values of type float, double, or a vector of either, and returns a value
of the same type built from straight-line IR only: no libm calls, no branches, so the loop vectoriser can widen
loops that use them. The only intrinsics are sqrt, fabs and fmuladd, which lower inline on every x86-64 CPU
(fmuladd becomes mul+add without FMA). Rounding uses the 1.5*2^p "shifter" trick, 2^k is built from exponent bits
(never llvm.floor/round/ldexp, which are libm calls on baseline x86-64).

Measured on znver5 (AVX-512, zmm) over 1M points per function spanning its useful range plus special values, vs
NumPy's float64 result for the same input. f32 figure = max |got - exact| / ulp (correctly rounded scores 0.5):

    fn        f32 max ulp   f64 max rel   notes
    exp       0.99          3.2e-16       denormal results rounded once (not flushed); inf/0 past the clamp
    log       0.82          2.2e-16       all positive floats, denormal inputs included
    tanh      2.49          4.0e-16       relative accuracy also for tiny x (f32: one expm1-based path)
    logistic  2.37          5.1e-16       relative accuracy in both tails (e^x/(1+e^x) for x < 0)
    sin, cos  1.54          3.1e-16       whole range |x| <= 2^27*pi/2 ~ 2.1e8 (both dtypes), NaN beyond
    pow       0.50          2.2e-14       f32 via f64; f64 error ~ |y ln x| * 1.1e-16 (here |y ln x| <= ~180)
    sqrt 0.5; abs, sign, maximum, minimum exact

ns/element (f32, 1 thread, same machine; benchmarks/bench_llvm_math.py, 64K / 4M elements, NumPy in brackets):
exp 0.18 [0.30], log 0.31 [0.22], tanh 0.14 [0.17], logistic 0.14 [0.47], sin 0.32 [0.56], cos 0.30 [0.38],
pow 2.6 [0.39]; f64: exp 0.50 [0.58], log 0.74 [0.56], sin 0.51 [13.8], pow 2.7 [1.3].

Caveats:
  * sin/cos: Cody-Waite reduction by pi/2 with parts of 26 significant bits (k*part exact for |k| < 2^27), done in
    f64 for f32 inputs. Past |x| > 2^27*pi/2 the result is NaN (NumPy returns an accurate value there).
    inf -> NaN, NaN -> NaN, sin(-0) = -0.
  * pow: f32 pow is exp(y*log|x|) evaluated in float64 (<= 1 ulp) and therefore slow (2.6 ns/el). f64 pow uses the
    plain float64 product y*log|x|, so its relative error is about |y ln x| * 1.1e-16 (~8e-14 next to overflow);
    no double-double. All C99/NumPy special cases are exact: x**0 = 1 even for NaN x, 1**y = 1 even for NaN y,
    (-1)**+-inf = 1, negative base with an integral exponent (odd -> negative), signed zeros and infinities,
    negative finite base with a non-integral exponent -> NaN.
    TODO: a cheaper f32 pow (lower-degree f64 polynomials suffice for 24 bits).
  * Denormals are computed, not flushed (exp of very negative x, log of denormals, logistic tails), unless the
    CPU runs with FTZ/DAZ set in MXCSR. f64 exp results below 2^-1022 are accurate to the denormal spacing only.
  * maximum/minimum follow np.maximum/np.minimum: NaN in either input gives NaN, and for equal inputs (+0 vs -0)
    the second argument is returned. Built from fcmp+select: llvm.maximum is avoided on purpose because its
    lowering differs per target and an unselectable intrinsic aborts the process.
  * Polynomials use llvm.fmuladd, so results can differ in the last bit between FMA and non-FMA CPUs; range
    reductions use plain fmul/fsub (no contraction) and are exact either way.
"""

import math
import struct

from llvmlite import ir

__all__ = ["exp", "log", "tanh", "logistic", "sin", "cos", "pow", "sqrt", "abs", "sign", "maximum", "minimum"]


class _Ty:
    """Float type of one call: element width, lane count, and matching integer / constant helpers."""

    def __init__(self, ty):
        el, self.n = (ty.element, ty.count) if isinstance(ty, ir.VectorType) else (ty, None)
        if isinstance(el, ir.FloatType):
            self.bits, self.mant, self.bias = 32, 23, 127
        elif isinstance(el, ir.DoubleType):
            self.bits, self.mant, self.bias = 64, 52, 1023
        else:
            raise TypeError(f"llvm_math: expected float, double or a vector of them, got {ty}")
        self.ty, self.el = ty, el
        self.iel = ir.IntType(self.bits)
        self.ity = self._vec(self.iel)

    def _vec(self, el):
        return el if self.n is None else ir.VectorType(el, self.n)

    def f(self, c):
        return ir.Constant(self.ty, c if self.n is None else [c] * self.n)

    def i(self, c):
        return ir.Constant(self.ity, c if self.n is None else [c] * self.n)

    def wide(self):
        """The f64 type with the same lane count."""
        return _Ty(self._vec(ir.DoubleType()))


def _intrinsic(b, name, ty, nargs=1):
    """Declare llvm.<name>.<f32|v16f32|...> (llvmlite's declare_intrinsic cannot mangle vector types)."""
    t = _Ty(ty)
    suffix = f"f{t.bits}" if t.n is None else f"v{t.n}f{t.bits}"
    full = f"{name}.{suffix}"
    fn = b.module.globals.get(full)
    return fn if fn is not None else ir.Function(b.module, ir.FunctionType(ty, [ty] * nargs), full)


def _fma(b, a, x, c):
    # a*x + c; fmuladd fuses where the CPU has FMA and is mul+add elsewhere (never a libm call)
    return b.call(_intrinsic(b, "llvm.fmuladd", a.type, 3), [a, x, c])


def _horner(b, t, x, coeffs):
    """p(x) = ((c0*x + c1)*x + c2)... with coeffs from highest degree down."""
    acc = t.f(coeffs[0])
    for c in coeffs[1:]:
        acc = _fma(b, acc, x, t.f(c))
    return acc


def _bits(b, t, x):
    return b.bitcast(x, t.ity)


def _float(b, t, i):
    return b.bitcast(i, t.ty)


def _copysign(b, t, mag, sgn):
    """|mag| with the sign bit of sgn, in integer ops (no llvm.copysign needed)."""
    sbit = t.i(1 << (t.bits - 1))
    return _float(b, t, b.or_(b.and_(_bits(b, t, mag), t.i((1 << (t.bits - 1)) - 1)), b.and_(_bits(b, t, sgn), sbit)))


def _round_shift(b, t, v):
    """k = round-to-nearest(v) as (float, int) for |v| < 2^(mant-1), via v + 1.5*2^mant."""
    shift = 1.5 * 2.0 ** t.mant
    s = b.fadd(v, t.f(shift))
    ki = b.sub(_bits(b, t, s), _bits(b, t, t.f(shift)))   # low mantissa bits of s hold k
    return b.fsub(s, t.f(shift)), ki


def _pow2(b, t, ki):
    """2^k as a float from exponent bits, valid for emin <= k <= emax."""
    return _float(b, t, b.shl(b.add(ki, t.i(t.bias)), t.i(t.mant)))


def _clamp(b, t, x, lo, hi):
    # NaN fails both ordered compares and passes through
    x = b.select(b.fcmp_ordered(">", x, t.f(hi)), t.f(hi), x)
    return b.select(b.fcmp_ordered("<", x, t.f(lo)), t.f(lo), x)


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
    t = _Ty(x.type)
    if t.bits == 32:
        # e^89 > FLT_MAX, e^-104 < 2^-150 (rounds to 0); ln2 = C1 + C2 with C1 of 9 bits so k*C1 is exact
        lo, hi, ln2_hi, ln2_lo = -104.0, 89.0, 0.693359375, -2.12194440e-4
    else:
        lo, hi, ln2_hi, ln2_lo = -746.0, 710.0, 6.93147180369123816490e-01, 1.90821492927058770002e-10
    x = _clamp(b, t, x, lo, hi)
    # exp(x) = 2^k * p(r), r = x - k ln2, k = round(x / ln2)
    kf, ki = _round_shift(b, t, b.fmul(x, t.f(1.0 / math.log(2.0))))
    r = b.fsub(b.fsub(x, b.fmul(kf, t.f(ln2_hi))), b.fmul(kf, t.f(ln2_lo)))
    if t.bits == 32:
        p = b.fadd(_fma(b, _horner(b, t, r, _EXPF_P), b.fmul(r, r), r), t.f(1.0))
    else:
        p = _horner(b, t, r, _EXP_P)
    # 2^k = 2^k1 * 2^k2 with k1 = k >> 1: both factors are normal for every clamped k, so overflow gives inf and
    # denormal results are rounded once (p * 2^k1 is exact)
    k1 = b.ashr(ki, t.i(1))
    k2 = b.sub(ki, k1)
    return b.fmul(b.fmul(p, _pow2(b, t, k1)), _pow2(b, t, k2))


def _estrin(b, t, x, x2, x4, coeffs):
    """p(x) for up to 6 coefficients (lowest degree first) in Estrin's scheme: pairs c_i + c_(i+1) x combined with x^2
    and x^4. Depth 3 fused ops instead of Horner's 5, which matters in latency-bound loops."""
    pairs = [_fma(b, t.f(coeffs[i + 1]), x, t.f(coeffs[i])) if i + 1 < len(coeffs) else t.f(coeffs[i])
             for i in range(0, len(coeffs), 2)]
    lo = _fma(b, pairs[1], x2, pairs[0]) if len(pairs) > 1 else pairs[0]
    return _fma(b, pairs[2], x4, lo) if len(pairs) > 2 else lo


def _expf_shift(b, t, z, bias, scale=1.0):
    """f32 k = round(scale z / ln2) for scale z in [-190, 0]: returns (s, kf) where kf = k as a float and the low mantissa bits of
    s hold k + bias, so bits(s) << 23 is (k + bias) << 23 modulo 2^32 (the exponent field of 2^(k + bias) minus 127's).
    The shifter add is fused with z/ln2 (k may round differently at a tie; the reductions below are exact for either).
    """
    shift = 1.5 * 2.0 ** 23 + bias
    s = _fma(b, z, t.f(scale / math.log(2.0)), t.f(shift))
    return s, b.fsub(s, t.f(shift))


def _exponent_add(b, t, s):
    """bits(s) << 23: added to the bits of a normal float v it makes v * 2^(k + bias) in one integer add (exact while
    the result stays normal), without a multiply."""
    return b.shl(_bits(b, t, s), t.i(23))


# --- log ---------------------------------------------------------------------------------------------------------

# fdlibm/FreeBSD: log(1+f) = f - hfsq + s*(hfsq + R(z)), s = f/(2+f), z = s^2, R ~ 2s^2/3 + 2s^4/5 + ...
_LOGF_EVEN = [2.4279078841e-01, 4.0000972152e-01]          # Lg4, Lg2 (multiplied by w = z^2)
_LOGF_ODD = [2.8498786688e-01, 6.6666662693e-01]           # Lg3, Lg1
_LOG_EVEN = [1.531383769920937332e-01, 2.222219843214978396e-01, 3.999999999940941908e-01]
_LOG_ODD = [1.479819860511658591e-01, 1.818357216161805012e-01, 2.857142874366239149e-01, 6.666666666666735130e-01]


def log(b, x):
    """Natural log, elementwise: log(0) = -inf, log(<0) = NaN, log(inf) = inf."""
    t = _Ty(x.type)
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
    ix = _bits(b, t, xs)
    e = b.add(b.and_(b.lshr(ix, t.i(t.mant)), t.i((1 << (t.bits - 1 - t.mant)) - 1)), ebias)
    m = _float(b, t, b.or_(b.and_(ix, t.i((1 << t.mant) - 1)), _bits(b, t, t.f(1.0))))
    big = b.fcmp_ordered(">", m, t.f(math.sqrt(2.0)))
    m = b.select(big, b.fmul(m, t.f(0.5)), m)
    e = b.add(e, b.zext(big, t.ity))
    f = b.fsub(m, t.f(1.0))
    s = b.fdiv(f, b.fadd(f, t.f(2.0)))
    z = b.fmul(s, s)
    w = b.fmul(z, z)
    big_r = b.fadd(b.fmul(w, _horner(b, t, w, even)), b.fmul(z, _horner(b, t, w, odd)))
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


def abs(b, x):
    """|x| (llvm.fabs, a sign-bit mask on x86)."""
    return b.call(_intrinsic(b, "llvm.fabs", x.type), [x])


def sqrt(b, x):
    """sqrt(x) (llvm.sqrt: sqrtss/vsqrtps, correctly rounded; sqrt(<0) = NaN)."""
    return b.call(_intrinsic(b, "llvm.sqrt", x.type), [x])


def tanh(b, x):
    """tanh(x) = -expm1(-2|x|) / (2 + expm1(-2|x|)) with the sign of x (f32); f64: odd rational for |x| < 0.625,
    else 1 - 2/(e^(2|x|) + 1)."""
    t = _Ty(x.type)
    ax = abs(b, x)
    if t.bits == 32:
        # One path for every x (no second branch to compute and select away): e^z - 1 for z = -2|x| in (-1, 0] is
        # relative-accurate also for tiny |x|, and the quotient -em1 / (2 + em1) has no cancellation.
        # z = k ln2 + r is reduced through h = |x| + k ln2/2 = -r/2 with a single f32 ln2/2: its error (|k| 1e-9)
        # reaches tanh only through e^z ~ 2^k, so it is negligible for every k. expm1(r) = -2 (h + h^2 Q(h)) with
        # Q(h) = -2 P(-2h) (coefficients scaled by powers of two, so exact), in Estrin's scheme; the -2 joins 2^k
        # as -2^(k+1), an integer add on the exponent bits. Clamp |x| <= 20: tanh is 1 well before; NaN passes.
        ax = b.select(b.fcmp_ordered(">", ax, t.f(20.0)), t.f(20.0), ax)
        s, kf = _expf_shift(b, t, ax, 127, scale=-2.0)
        h = _fma(b, kf, t.f(_LN2F / 2), ax)
        h2 = b.fmul(h, h)
        q = _estrin(b, t, h, h2, b.fmul(h2, h2), [c * (-2.0) ** (i + 1) for i, c in enumerate(_EXPM1F_P[::-1])])
        em1h = _fma(b, h2, q, h)                                   # expm1(r) / -2
        e = _exponent_add(b, t, s)                                 # bits of 2^k (k + 127 in the exponent)
        pw = _float(b, t, e)
        m2pw = _float(b, t, b.add(e, t.i((1 << 23) | (1 << 31))))   # -2^(k+1): exponent + 1, sign bit set
        em1 = _fma(b, m2pw, em1h, b.fsub(pw, t.f(1.0)))            # e^z - 1 = 2^k (e^r - 1) + (2^k - 1)
        return _copysign(b, t, b.fdiv(em1, b.fsub(t.f(-2.0), em1)), x)       # -em1 / (2 + em1), one op less
    z = b.fmul(x, x)
    q = b.fdiv(_horner(b, t, z, _TANH_P), _horner(b, t, z, _TANH_Q))
    # copysign: tanh(-0) = -0 (x + (x z) q would give +0)
    small = _copysign(b, t, _fma(b, b.fmul(x, z), q, x), x)
    # exp overflows to inf for |x| > ~355 and 2/inf = 0 gives exactly +-1; NaN takes this path and stays NaN
    e2 = exp(b, b.fadd(ax, ax))
    large = b.fsub(t.f(1.0), b.fdiv(t.f(2.0), b.fadd(e2, t.f(1.0))))
    large = _copysign(b, t, large, x)
    return b.select(b.fcmp_ordered("<", ax, t.f(0.625)), small, large)


def logistic(b, x):
    """1/(1+e^-x), relative-accurate in both tails: e = e^-|x|, x >= 0: 1/(1+e), x < 0: e/(1+e)."""
    t = _Ty(x.type)
    nax = b.fneg(abs(b, x))
    if t.bits == 32:
        # e^-|x| <= 1 only needs the low end: E = e^-|x| 2^64 = 2^(k+64) p(r) is normal down to the clamp (e^-104 <
        # 2^-150 rounds to 0) and exact (p times a power of two), and the 2^64 cancels in the quotient, so denormal
        # results are rounded once, by the division; NaN passes the clamp
        nax = b.select(b.fcmp_ordered("<", nax, t.f(-104.0)), t.f(-104.0), nax)
        s, kf = _expf_shift(b, t, nax, 64)
        # k*C1 is exact (C1 has 9 bits), so the two-step reduction is exact with or without FMA
        r = _fma(b, kf, t.f(2.12194440e-4), _fma(b, kf, t.f(-0.693359375), nax))
        # e^r = 1 + r T(r), T in Estrin's scheme (shallower than Horner; the last fma rounds once)
        r2 = b.fmul(r, r)
        p = _fma(b, r, _estrin(b, t, r, r2, b.fmul(r2, r2), _EXPF_P6[-2::-1]), t.f(1.0))
        e = _float(b, t, b.add(_bits(b, t, p), _exponent_add(b, t, s)))   # p 2^(k+64), normal for every k
        num = b.select(b.fcmp_ordered(">=", x, t.f(0.0)), t.f(2.0 ** 64), e)   # NaN x: e is NaN, so is the result
        return b.fdiv(num, b.fadd(e, t.f(2.0 ** 64)))
    e = exp(b, nax)
    num = b.select(b.fcmp_ordered(">=", x, t.f(0.0)), t.f(1.0), e)   # NaN x: e is NaN, so is the result
    return b.fdiv(num, b.fadd(e, t.f(1.0)))


# --- sin, cos ----------------------------------------------------------------------------------------------------

# pi/2 = sum of parts; leading parts have 26 significant bits so k*part is exact for |k| < 2^27.
# f32 inputs are reduced in f64 with two parts, f64 inputs with four (~131 bits of pi/2).
_PIO2F_IN_F64 = [float.fromhex("0x1.921fb5p+0"), float.fromhex("0x1.110b4611a6263p-26")]
_PIO2 = [float.fromhex(h) for h in ("0x1.921fb5p+0", "0x1.110b46p-26", "0x1.1a6263p-54", "0x1.8a2e03707344ap-81")]
# Cephes sinf/cosf on |r| <= pi/4
_SINF_P = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1]
_COSF_P = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2]
# fdlibm __kernel_sin S6..S1, __kernel_cos C6..C1
_SIN_P = [1.58969099521155010221e-10, -2.50507602534068634195e-08, 2.75573137070700676789e-06,
          -1.98412698298579493134e-04, 8.33333333332248946124e-03, -1.66666666666666324348e-01]
_COS_P = [-1.13596475577881948265e-11, 2.08757232129817482790e-09, -2.75573143513906633035e-07,
          2.48015872894767294178e-05, -1.38888888888741095749e-03, 4.16666666666666019037e-02]


def _sincos(b, x, quadrant_shift):
    t = _Ty(x.type)
    # x = k pi/2 + r, |r| <= pi/4 (+ rounding of k); r = ((x - k p1) - k p2) - ... as plain fmul/fsub
    if t.bits == 32:
        # reduce in f64: a 4-part f32 split still loses ~2^-32 absolute, hundreds of ulp next to zeros of sin/cos,
        # and k from an f32 product can be off by one for large x (|r| > pi/4, outside the polynomials' range)
        w = t.wide()
        rd = b.fpext(x, w.ty)
        kd, ki = _round_shift(b, w, b.fmul(rd, w.f(2.0 / math.pi)))
        ki = b.trunc(ki, t.ity)
        for p in _PIO2F_IN_F64:
            rd = b.fsub(rd, b.fmul(kd, w.f(p)))
        r = b.fptrunc(rd, t.ty)
        sp, cp = _SINF_P, _COSF_P
    else:
        kf, ki = _round_shift(b, t, b.fmul(x, t.f(2.0 / math.pi)))
        r = x
        for p in _PIO2:
            r = b.fsub(r, b.fmul(kf, t.f(p)))
        sp, cp = _SIN_P, _COS_P
    z = b.fmul(r, r)
    # sin r = r + r^3 P(r^2);  cos r = 1 - r^2/2 + r^4 C(r^2)
    s = _copysign(b, t, _fma(b, b.fmul(r, z), _horner(b, t, z, sp), r), r)     # keeps sin(-0) = -0
    c = b.fadd(b.fsub(t.f(1.0), b.fmul(z, t.f(0.5))), b.fmul(b.fmul(z, z), _horner(b, t, z, cp)))
    # quadrant q = k (+1 for cos): odd q swaps sin/cos, q & 2 flips the sign
    q = b.add(ki, t.i(quadrant_shift)) if quadrant_shift else ki
    swap = b.icmp_unsigned("!=", b.and_(q, t.i(1)), t.i(0))
    res = b.select(swap, c, s)
    sgn = b.shl(b.and_(q, t.i(2)), t.i(t.bits - 2))
    res = _float(b, t, b.xor(_bits(b, t, res), sgn))
    # beyond this the shifter cannot hold k (and inf gives NaN anyway)
    # k*part is exact for |k| < 2^27; beyond that NaN rather than a silently wrong value
    limit = 2.0 ** 27 * (math.pi / 2)
    return b.select(b.fcmp_ordered("<=", abs(b, x), t.f(limit)), res, t.f(math.nan))


def sin(b, x):
    """sin(x) with Cody-Waite reduction by pi/2 (see the module docstring for the accurate range)."""
    return _sincos(b, x, 0)


def cos(b, x):
    """cos(x) = sin(x + pi/2): same reduction, quadrant shifted by one."""
    return _sincos(b, x, 1)


# --- pow ---------------------------------------------------------------------------------------------------------

def _int_parity(b, t, y):
    """(is_integer(y), is_odd_integer(y)) for finite or infinite y; inf counts as an even integer."""
    two_m = 2.0 ** t.mant
    ay = abs(b, y)
    small = b.fcmp_ordered("<", ay, t.f(two_m))
    # |y| < 2^mant: u = |y| + 2^mant rounds |y| to an integer held in u's low mantissa bits
    u = b.select(small, b.fadd(ay, t.f(two_m)), ay)
    is_int = b.or_(b.fcmp_ordered("==", b.fsub(u, t.f(two_m)), ay), b.not_(small))
    # |y| in [2^mant, 2^(mant+1)) still has a units bit; above that every float is even
    odd_bit = b.icmp_unsigned("!=", b.and_(_bits(b, t, u), t.i(1)), t.i(0))
    in_range = b.fcmp_ordered("<", u, t.f(2.0 * two_m))
    return is_int, b.and_(b.and_(is_int, odd_bit), in_range)


def pow(b, x, y):
    """x**y with NumPy/C99 special cases; f32 goes through f64 (see module docstring for accuracy)."""
    t = _Ty(x.type)
    if y.type != x.type:
        raise TypeError(f"llvm_math.pow: x is {x.type} but y is {y.type}")
    ax = abs(b, x)
    if t.bits == 32:
        w = t.wide()
        yw = b.fpext(y, w.ty)
        mag = b.fptrunc(exp(b, b.fmul(yw, log(b, b.fpext(ax, w.ty)))), t.ty)
    else:
        mag = exp(b, b.fmul(y, log(b, ax)))          # |x|^y = e^(y ln|x|); 0 -> e^-+inf, inf -> e^+-inf
    is_int, is_odd = _int_parity(b, t, y)
    # negative base (sign bit, so -0 and -inf too) with an odd integer exponent: -|x|^y
    neg = b.icmp_signed("<", _bits(b, t, x), t.i(0))
    res = b.select(b.and_(neg, is_odd), b.fneg(mag), mag)
    # finite negative base with a non-integral exponent: NaN
    neg_finite = b.and_(b.fcmp_ordered("<", x, t.f(0.0)), b.fcmp_ordered(">", x, t.f(-math.inf)))
    res = b.select(b.and_(neg_finite, b.not_(is_int)), t.f(math.nan), res)
    # (+-1)**+-inf = 1 (y ln 1 = inf * 0 = NaN otherwise), 1**y = 1 even for NaN y, x**0 = 1 even for NaN x
    unit_inf = b.and_(b.fcmp_ordered("==", ax, t.f(1.0)), b.fcmp_ordered("==", abs(b, y), t.f(math.inf)))
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
    t = _Ty(x.type)
    res = b.select(b.fcmp_ordered("==", x, t.f(0.0)), t.f(0.0), x)     # NaN stays x
    res = b.select(b.fcmp_ordered("<", x, t.f(0.0)), t.f(-1.0), res)
    return b.select(b.fcmp_ordered(">", x, t.f(0.0)), t.f(1.0), res)
