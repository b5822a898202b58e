"""Rounding, atan2, erf and fmod emitted inline as llvmlite.ir, shared by the CPU and the NVPTX codegen.

Same contract as llvm_math (straight-line IR on float, double or vectors of either; only the fmuladd/fabs/fma
intrinsics, which both targets select natively), so the loop vectoriser widens loops that use them and ptx_support
accepts the declarations; the one exception is fmod on scalars, a short loop (see there). exp is a parameter: the
CPU passes llvm_math.exp, the GPU ptx_support.exp.

Measured on the CPU (znver4) against the float64 truth rounded to the dtype (NumPy's arctan2, math.erf, libm fmod)
over dense grids, random points across the exponent range and the special values (tests/test_elementwise_coverage.py):

    fn                      f32 max ulp   f64 max ulp   notes
    rint/floor/ceil/trunc   0             0             exact; -0 kept (floor(-0.) = -0., ceil(-0.5) = -0.), NaN/inf pass
    atan2                   2             2             all quadrants, signed zeros, both-infinite cases as C99/NumPy
    erf                     1             2             |x| < 1: x + x R(x^2); else 1 - e^(-x^2) Q(1/|x|); 1 past 4 / 6
    fmod                    0             0             exact like libm; ns/el 11 (f32) 12 (f64) vs NumPy 30 / 39

Polynomial coefficients were fitted with mpmath.chebyfit (40 digits) on the ranges named beside them.
"""
from __future__ import annotations

import math

from . import llvm_math as lm

__all__ = ["rint", "floor", "ceil", "trunc", "atan2", "erf", "fmod"]


def _t(x):
    return lm._Ty(x.type)


# ---- rounding: the 2^mant shifter rounds |x| < 2^mant to an integer (half to even); larger floats are integers ----

def rint(b, x):
    t = _t(x)
    a = lm.abs(b, x)
    big = t.f(2.0 ** t.mant)
    r = b.fsub(b.fadd(a, big), big)
    # NaN and |x| >= 2^mant (inf included) fail the ordered compare and pass through unchanged
    return b.select(b.fcmp_ordered("<", a, big), lm._copysign(b, t, r, x), x)


def floor(b, x):
    # the result has the sign of x (floor(-0.) = -0., and the subtraction would lose nothing else)
    t, r = _t(x), rint(b, x)
    return lm._copysign(b, t, b.select(b.fcmp_ordered(">", r, x), b.fsub(r, t.f(1.0)), r), x)


def ceil(b, x):
    # the sign of x again: ceil(-0.7) = -1 + 1 must be -0.
    t, r = _t(x), rint(b, x)
    return lm._copysign(b, t, b.select(b.fcmp_ordered("<", r, x), b.fadd(r, t.f(1.0)), r), x)


def trunc(b, x):
    t = _t(x)
    return b.select(b.fcmp_ordered("<", x, t.f(0.0)), ceil(b, x), floor(b, x))


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
    t = _t(x)
    ax, ay = lm.abs(b, x), lm.abs(b, y)
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
    r = lm._fma(b, b.fmul(u, s), lm._horner(b, t, s, _ATAN_P[t.bits]), u)
    hi, lo = _PIO4[t.bits]
    r = b.select(big, b.fadd(b.fadd(r, t.f(lo)), t.f(hi)), r)
    hi, lo = _PIO2[t.bits]
    r = b.select(swap, b.fadd(b.fsub(t.f(hi), r), t.f(lo)), r)
    # x < 0 or x = -0 (atan2(+-0, -0) = +-pi): the sign bit, not a compare
    hi, lo = _PI[t.bits]
    neg = b.icmp_signed("<", lm._bits(b, t, x), t.i(0))
    r = b.select(neg, b.fadd(b.fsub(t.f(hi), r), t.f(lo)), r)
    r = lm._copysign(b, t, r, y)
    return b.select(b.fcmp_unordered("uno", x, y), b.fadd(x, y), r)


# ---- erf ----

# erf(x) = x + x R(x^2) for |x| < 1: R fitted on [0, 1]
_ERF_R = {64: [-7.795898827002142e-10, 1.3720064546777686e-08, -1.6208483801871705e-07, 1.6447424703317362e-06,
               -1.492473690741966e-05, 0.00012055294904839707, -0.0008548325975389692, 0.0052239776071164225,
               -0.02686617064323777, 0.11283791670945006, -0.37612638903183543, 0.12837916709551256],
          32: [-0.0005648059865503044, 0.004921762027877231, -0.02671505423226643, 0.11280316652505075,
               -0.37612343775327806, 0.12837912617873729]}
# erfc(a) e^(a^2) = Q(v), v = 1/a: f64 on v in [1/2, 1] (A) and [1/6, 1/2] (B); f32 on [1/4, 1]
_ERFC_A64 = [1.582415731979244e-05, -0.0032140541775849546, 0.03882864045725216, -0.22451185200974225,
             0.8107992600752809, -2.0367179991116546, 3.756375879445501, -5.222621005288608, 5.500890895513232,
             -4.2895327845870845, 2.2709842201939128, -0.5596259975575104, -0.16235159793917367,
             -0.017416098616235328, 0.5657448859110719, -6.46403101695056e-05]
_ERFC_B64 = [3.586406604048527, -19.259177950746228, 47.366146132202, -69.96026817454508, 67.88827618721204,
             -43.76425910453139, 17.17357774127484, -2.3983419765435037, -0.9632958512036056, 0.07876453513923433,
             0.39712211789649693, 0.0045290244608512924, -0.2826001357804021, 3.6370916218691125e-05,
             0.5641880329439997, 2.991835366833675e-08]
_ERFC_32 = [0.02503254318653564, -0.14789844462513763, 0.3608618604048329, -0.42983374861601875,
            0.14547734763553957, 0.2825897937336853, -0.3948595879487394, 0.024847521258800558, 0.5612146379895168,
            0.00015165568581170205]
_ERF_ONE = {64: 6.0, 32: 4.0}          # erf rounds to +-1 past these


def erf(b, x, exp=lm.exp):
    t = _t(x)
    a = lm.abs(b, x)
    s = b.fmul(x, x)
    small = lm._fma(b, x, lm._horner(b, t, s, _ERF_R[t.bits]), x)
    v = b.fdiv(t.f(1.0), a)
    if t.bits == 64:
        # one Horner pass, each coefficient picked per element: cheaper than evaluating both pieces
        near = b.fcmp_ordered("<", a, t.f(2.0))
        q = b.select(near, t.f(_ERFC_A64[0]), t.f(_ERFC_B64[0]))
        for ca, cb in zip(_ERFC_A64[1:], _ERFC_B64[1:]):
            q = lm._fma(b, q, v, b.select(near, t.f(ca), t.f(cb)))
    else:
        q = lm._horner(b, t, v, _ERFC_32)
    large = b.fsub(t.f(1.0), b.fmul(exp(b, b.fneg(s)), q))
    large = b.select(b.fcmp_ordered(">=", a, t.f(_ERF_ONE[t.bits])), t.f(1.0), large)
    r = b.select(b.fcmp_ordered("<", a, t.f(1.0)), small, lm._copysign(b, t, large, x))
    return b.select(b.fcmp_unordered("uno", x, x), x, r)


# ---- fmod ----

def _ldexp_steps(b, t, x, k, parts):
    """x * 2^k for 0 <= k < parts * 1000, in factors 2^min(k, 1000) that stay normal (the product is finite)."""
    for _ in range(parts):
        step = b.select(b.icmp_signed(">", k, t.i(1000)), t.i(1000), k)
        x = b.fmul(x, lm._pow2(b, t, step))
        k = b.sub(k, step)
    return x


def _fmod_step(b, t, r, m, ey):
    """One reduction of r >= 0 by m * 2^k, k chosen so that r / (m 2^k) < 2^(mant-1); returns (r', k)."""
    er = b.lshr(lm._bits(b, t, r), t.i(t.mant))
    k = b.sub(b.sub(er, ey), t.i(t.mant - 1))
    k = b.select(b.icmp_signed("<", k, t.i(0)), t.i(0), k)
    mk = _ldexp_steps(b, t, m, k, 3)
    q = trunc(b, b.fdiv(r, mk))
    r = b.call(lm._intrinsic(b, "llvm.fma", t.ty, 3), [b.fneg(q), mk, r])
    return b.select(b.fcmp_ordered("<", r, t.f(0.0)), b.fadd(r, mk), r), k


def fmod(b, x, y):
    """C fmod (np.fmod): x - trunc(x/y) y, exact for all inputs like libm's.

    Work on |x|, |y|: each step scales |y| by 2^k so that the quotient is below 2^(mant-1), takes q = trunc(r / y_k)
    and r = fma(-q, y_k, r), which is exact (r - q y_k is a multiple of y_k's last bit below 2|y_k|); a quotient
    rounded up by the division leaves r < 0, and r + y_k is exact again. The exponent gap shrinks by mant - 1 bits
    per step; f32 runs in f64. Scalars loop until the step with k = 0 (one iteration when |x / y| < 2^51); vectors
    take the straight-line worst case (f32: 7 steps, f64: 42): the codegens pass scalars, so that path is only
    for callers that vectorise by hand.
    NOTE: llvm.fma is one instruction on FMA CPUs and on NVPTX; elsewhere LLVM calls libm's fma (still exact).
    """
    src = x.type
    t = _t(x)
    narrow = t.bits == 32
    if narrow:
        w = t.wide()
        x, y = b.fpext(x, w.ty), b.fpext(y, w.ty)
        t = w
    ax, m = lm.abs(b, x), lm.abs(b, y)
    inf = t.f(math.inf)
    # fmod(x, +-inf) = x for finite x; NaN for x = +-inf, y = 0 or a NaN anywhere
    nan = b.or_(b.or_(b.fcmp_unordered("uno", x, y), b.fcmp_ordered("==", ax, inf)), b.fcmp_ordered("==", m, t.f(0.0)))
    keep = b.and_(b.fcmp_ordered("<", ax, inf), b.fcmp_ordered("==", m, inf))
    special = b.or_(nan, keep)
    r = b.select(special, t.f(0.0), ax)                      # finite, so the loop below ends
    m = b.select(special, t.f(1.0), m)
    # the exponent of |y|, denormals normalised first (their exponent field would overstate it)
    tiny = b.fcmp_ordered("<", m, t.f(2.0 ** -1022))
    mn = b.select(tiny, b.fmul(m, t.f(2.0 ** 54)), m)
    ey = b.sub(b.lshr(lm._bits(b, t, mn), t.i(t.mant)), b.select(tiny, t.i(54), t.i(0)))
    if t.n is not None:
        for _ in range(7 if narrow else 42):
            r, _k = _fmod_step(b, t, r, m, ey)
    else:
        pre = b.block
        body = b.function.append_basic_block("fmod.step")
        done = b.function.append_basic_block("fmod.done")
        b.branch(body)
        b.position_at_end(body)
        phi = b.phi(t.ty)
        phi.add_incoming(r, pre)
        r, k = _fmod_step(b, t, phi, m, ey)
        phi.add_incoming(r, b.block)
        b.cbranch(b.icmp_signed("==", k, t.i(0)), done, body)
        b.position_at_end(done)
    r = lm._copysign(b, t, r, x)
    r = b.select(keep, x, b.select(nan, t.f(math.nan), r))
    return b.fptrunc(r, src) if narrow else r
