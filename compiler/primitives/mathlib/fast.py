"""The cheaper f32 forms `cc.compile(..., fast_math=True)` selects (b.fast_math): fewer operations per element, a
few ulp more error. exp_log.tanh / logistic call these for f32 when the builder asks; f64 and every other function
keep their default forms. Bounds (max |got - exact| / ulp of the float64 result rounded to f32, over a dense sweep
of every binade plus special values; tests/codegen/test_fast_math.py asserts them):

    fn        default   fast_math   fast form
    tanh      2.5       6.0         odd rational x P(x^2) / Q(x^2), degrees 5 / 3, x clamped to +-8.75 and the
                                    result to [-1, 1] (exactly +-1 from 8.75 on); relative accuracy down to
                                    denormals. jax.jit's f32 tanh measured 4.6 ulp on the same points
    logistic  2.4       4.0         e^-|x| through a degree-5 polynomial instead of 6 (same reduction, both tails
                                    relative-accurate)

Why these: on Zen4 (AVX-512 on 256-bit units) these loops are bound by vector-op issue, not by the divider: the
rational tanh is 15 vector ops per 16 elements against 18 for the expm1 form, and replacing the division by a
reciprocal estimate plus a Newton step measured slower (the divider runs beside the FMA pipes). XLA's f32 tanh is
also a clamped odd rational of this shape; the coefficients here are our own minimax fit (relative error 8.7e-8 in
exact arithmetic, from a linear-programming differential-correction fit).

Special values are those of the default forms: NaN -> NaN, tanh(+-0) = +-0, tanh(+-inf) = +-1, logistic(-inf) = 0,
logistic(+inf) = 1, denormal inputs computed.
"""
from __future__ import annotations

from .core import horner, bits, float_

# tanh x = x P(t) / Q(t), t = x^2, |x| <= _TANH_CLAMP (highest degree first)
_TANH_P = [1.8752662748789244e-11, -1.3006631305658832e-08, 9.35398082180164e-06, 2.931242155783246e-03,
           1.2929405704491703e-01, 9.999999337629267e-01]
_TANH_Q = [2.2948704499461007e-04, 2.380732952358848e-02, 4.626272012380974e-01, 1.0]
# the evaluated form is >= 1 at 8.75 (the output clamp then gives exactly 1 there and beyond); tanh(8.75) = 1 - 5e-8
_TANH_CLAMP = 8.75
# e^r = 1 + r + r^2 S(r) on |r| <= ln2/2, S of degree 3 (c5..c2): relative error 1.1e-7 as f32 coefficients
_EXPF_P5 = [8.314745500683784e-03, 4.189043864607811e-02, 1.6667090356349945e-01, 4.99992311000824e-01]


def tanh_f32(b, x):
    t = b.ty(x)
    # clamp x itself (an ordered compare: NaN passes through); tanh is odd, so P / Q need no sign handling and
    # tanh(-0) = -0 * (P/Q) = -0
    c = t.f(_TANH_CLAMP)
    x = b.select(b.fcmp_ordered(">", x, c), c, x)
    x = b.select(b.fcmp_ordered("<", x, t.f(-_TANH_CLAMP)), t.f(-_TANH_CLAMP), x)
    z = b.fmul(x, x)
    r = b.fdiv(b.fmul(x, horner(b, t, z, _TANH_P)), horner(b, t, z, _TANH_Q))
    # rounding can lift the quotient a few ulp past 1 near the clamp: |tanh| <= 1 always
    r = b.select(b.fcmp_ordered(">", r, t.f(1.0)), t.f(1.0), r)
    return b.select(b.fcmp_ordered("<", r, t.f(-1.0)), t.f(-1.0), r)


def logistic_f32(b, x, expf_shift, exponent_add):
    """The default logistic (exp_log.logistic) with e^r of degree 5."""
    t = b.ty(x)
    nax = b.fneg(b.fabs(x))
    nax = b.select(b.fcmp_ordered("<", nax, t.f(-104.0)), t.f(-104.0), nax)
    s, kf = expf_shift(b, t, nax, 64)
    r = b.fma(kf, t.f(2.12194440e-4), b.fma(kf, t.f(-0.693359375), nax))
    p = horner(b, t, r, _EXPF_P5 + [1.0, 1.0])
    e = float_(b, t, b.add(bits(b, t, p), exponent_add(b, t, s)))
    num = b.select(b.fcmp_ordered(">=", x, t.f(0.0)), t.f(2.0 ** 64), e)
    return b.fdiv(num, b.fadd(e, t.f(2.0 ** 64)))
