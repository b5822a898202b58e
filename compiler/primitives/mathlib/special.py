"""Rounding (rint, floor, ceil, trunc), erf, erfc and fmod of floats, written once against the scalar builder.

Polynomial coefficients were fitted with mpmath.chebyfit (40 digits) on the ranges named beside them.
"""
from __future__ import annotations

import math

from .core import horner, bits, copysign, pow2


# ---- rounding: the 2^mant shifter rounds |x| < 2^mant to an integer (half to even); larger floats are integers ----

def rint(b, x):
    t = b.ty(x)
    a = b.fabs(x)
    big = t.f(2.0 ** t.mant)
    r = b.fsub(b.fadd(a, big), big)
    # NaN and |x| >= 2^mant (inf included) fail the ordered compare and pass through unchanged
    return b.select(b.fcmp_ordered("<", a, big), copysign(b, t, r, x), x)


def floor(b, x):
    # the result has the sign of x (floor(-0.) = -0., and the subtraction would lose nothing else)
    t, r = b.ty(x), rint(b, x)
    return copysign(b, t, b.select(b.fcmp_ordered(">", r, x), b.fsub(r, t.f(1.0)), r), x)


def ceil(b, x):
    # the sign of x again: ceil(-0.7) = -1 + 1 must be -0.
    t, r = b.ty(x), rint(b, x)
    return copysign(b, t, b.select(b.fcmp_ordered("<", r, x), b.fadd(r, t.f(1.0)), r), x)


def trunc(b, x):
    t = b.ty(x)
    return b.select(b.fcmp_ordered("<", x, t.f(0.0)), ceil(b, x), floor(b, x))


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


def _erfc_scaled(b, t, a):
    """erfc(a) e^(a^2) = Q(1/a) for a >= 1 (fitted up to a = 6; past it erf is 1 and erfc below 1e-17)."""
    v = b.fdiv(t.f(1.0), a)
    if t.bits == 64:
        # one Horner pass, each coefficient picked per element: cheaper than evaluating both pieces
        near = b.fcmp_ordered("<", a, t.f(2.0))
        q = b.select(near, t.f(_ERFC_A64[0]), t.f(_ERFC_B64[0]))
        for ca, cb in zip(_ERFC_A64[1:], _ERFC_B64[1:]):
            q = b.fma(q, v, b.select(near, t.f(ca), t.f(cb)))
        return q
    return horner(b, t, v, _ERFC_32)


def erfc(b, x):
    """1 - erf(x), relative-accurate in the right tail: e^(-x^2) Q(1/x) for x >= 1 (relative error ~ x^2 eps from
    rounding x^2; Q extrapolated past x = 6, ~1e-11 at 8), 2 - that for x <= -1, 1 - erf(x) between."""
    t = b.ty(x)
    a = b.fabs(x)
    s = b.fmul(x, x)
    small = b.fsub(t.f(1.0), b.fma(x, horner(b, t, s, _ERF_R[t.bits]), x))
    tail = b.fmul(b.exp(b.fneg(s)), _erfc_scaled(b, t, a))
    tail = b.select(b.fcmp_ordered("<", x, t.f(0.0)), b.fsub(t.f(2.0), tail), tail)
    r = b.select(b.fcmp_ordered("<", a, t.f(1.0)), small, tail)
    return b.select(b.fcmp_unordered("uno", x, x), x, r)


def erf(b, x):
    t = b.ty(x)
    a = b.fabs(x)
    s = b.fmul(x, x)
    small = b.fma(x, horner(b, t, s, _ERF_R[t.bits]), x)
    q = _erfc_scaled(b, t, a)
    large = b.fsub(t.f(1.0), b.fmul(b.exp(b.fneg(s)), q))
    large = b.select(b.fcmp_ordered(">=", a, t.f(_ERF_ONE[t.bits])), t.f(1.0), large)
    r = b.select(b.fcmp_ordered("<", a, t.f(1.0)), small, copysign(b, t, large, x))
    return b.select(b.fcmp_unordered("uno", x, x), x, r)


# ---- fmod ----

def _ldexp_steps(b, t, x, k, parts):
    """x * 2^k for 0 <= k < parts * 1000, in factors 2^min(k, 1000) that stay normal (the product is finite)."""
    for _ in range(parts):
        step = b.select(b.icmp_signed(">", k, t.i(1000)), t.i(1000), k)
        x = b.fmul(x, pow2(b, t, step))
        k = b.sub(k, step)
    return x


def _fmod_step(b, t, r, m, ey):
    """One reduction of r >= 0 by m * 2^k, k chosen so that r / (m 2^k) < 2^(mant-1); returns (r', k)."""
    er = b.lshr(bits(b, t, r), t.i(t.mant))
    k = b.sub(b.sub(er, ey), t.i(t.mant - 1))
    k = b.select(b.icmp_signed("<", k, t.i(0)), t.i(0), k)
    mk = _ldexp_steps(b, t, m, k, 3)
    q = trunc(b, b.fdiv(r, mk))
    r = b.fma_exact(b.fneg(q), mk, r)
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
    t = b.ty(x)
    src = t.ty
    narrow = t.bits == 32
    if narrow:
        w = t.wide()
        x, y = b.fpext(x, w.ty), b.fpext(y, w.ty)
        t = w
    ax, m = b.fabs(x), b.fabs(y)
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
    ey = b.sub(b.lshr(bits(b, t, mn), t.i(t.mant)), b.select(tiny, t.i(54), t.i(0)))
    if t.n is not None:
        for _ in range(7 if narrow else 42):
            r, _k = _fmod_step(b, t, r, m, ey)
    else:
        def step(r):
            r, k = _fmod_step(b, t, r, m, ey)
            return r, b.icmp_signed("==", k, t.i(0))
        r = b.repeat_until(r, step, "fmod")
    r = copysign(b, t, r, x)
    r = b.select(keep, x, b.select(nan, t.f(math.nan), r))
    return b.fptrunc(r, src) if narrow else r
