"""Activations written with existing primitives: gelu (exact erf form and the tanh approximation), silu, softplus,
elu, leaky_relu, and erf/erfc. Each works eagerly on NumPy arrays and records primitives while tracing.

erf is the `erf` primitive. erfc (which the exact gelu rests on, for its negative tail, where 1 - erf cancels) is a
composition: Chebyshev interpolants (built once at import from math.erf/math.erfc)
evaluated by Clenshaw's recurrence, accurate to ~1e-14 in float64 (float32: rounding) with derivatives accurate to
~1e-13, so gradients through gelu are the erf form's own, not an approximation's.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev as _cheb

from ..errors import TraceError
from ..primitives import logistic
from ..special import erf as _erf_primitive
from ..ops_base import implements

__all__ = ["gelu", "silu", "softplus", "elu", "leaky_relu", "erf", "erfc"]


def _arr(x):
    return x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)


def _floating(x, name):
    x = _arr(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


# |x| < 2: erf(x) = x P(x^2), P(s) = erf(sqrt s) / sqrt s, interpolated on s in [0, 4] (u = s/2 - 1).
# 2 <= |x| <= 6: erfc(a) = exp(-a^2) Q(a), Q(a) = erfc(a) exp(a^2), interpolated on a in [2, 6] (u = (a - 4)/2).
# Beyond 6 (erfc < 2e-17), Q's asymptotic series to 20 terms: relative error < 3e-14 at 6, less beyond.
def _p_exact(u):
    r = np.sqrt((u + 1.0) * 2.0)
    return np.array([math.erf(v) / v if v > 0 else 2.0 / math.sqrt(math.pi) for v in r])


def _q_exact(u):
    return np.array([math.erfc(a) * math.exp(a * a) for a in u * 2.0 + 4.0])


_P = [float(c) for c in _cheb.chebinterpolate(_p_exact, 18)]
_Q = [float(c) for c in _cheb.chebinterpolate(_q_exact, 24)]
# Q(a) ~ 1/(a sqrt pi) sum_n (-1)^n (2n-1)!! / (2 a^2)^n
_ASYM = [(-1) ** n * math.prod(range(1, 2 * n, 2)) / 2.0 ** n / math.sqrt(math.pi) for n in range(21)]


def _clenshaw(coef, u):
    """sum_k coef[k] T_k(u), stable for u in [-1, 1]; coefficients are Python floats, so u's dtype is kept."""
    b1, b2 = 0.0, 0.0
    for c in reversed(coef[1:]):
        b1, b2 = c + 2.0 * u * b1 - b2, b1
    return coef[0] + u * b1 - b2


def _small(x):
    """erf(x) for |x| < 2 (finite, and harmless, for any x: x^2 is clipped to the interval)."""
    s = np.minimum(x * x, 4.0)
    return x * _clenshaw(_P, s * 0.5 - 1.0)


def _tail(a):
    """erfc(a) for a >= 2 (finite, and harmless, for any a: each side sees a clipped into its interval)."""
    ac = np.clip(a, 2.0, 6.0)
    r = 1.0 / np.maximum(a, 6.0)
    r2 = r * r
    asym = 0.0
    for c in reversed(_ASYM):
        asym = c + r2 * asym
    asym = r * asym
    return np.exp(-(a * a)) * np.where(a > 6.0, asym, _clenshaw(_Q, (ac - 4.0) * 0.5))


def erf(x):
    """The error function, 2/sqrt(pi) * integral_0^x exp(-t^2) dt: the `erf` primitive (cc.special.erf, 1-2 ulp)."""
    return _erf_primitive(_floating(x, "erf"))


@implements(surface=("scipy.special.erfc",))      # scipy.special.erfc on a traced value comes here
def erfc(x):
    """1 - erf(x), without the cancellation for large x (erfc(10) ~ 2e-45 comes out right, not 0)."""
    x = _floating(x, "erfc")
    a = np.abs(x)
    t = _tail(a)
    return np.where(a < 2.0, 1.0 - _small(x), np.where(x > 0, t, 2.0 - t))


def gelu(x, approximate=False):
    """x * Phi(x), Phi the standard normal CDF: 0.5 x erfc(-x / sqrt 2) (PyTorch's default, exact form), or with
    approximate="tanh" 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). approximate=True means "tanh" too."""
    x = _floating(x, "gelu")
    if approximate in ("tanh", True):
        # 1 + tanh(z) = 2 sigmoid(2z): the same function without the cancellation in the negative tail
        return x * logistic((2.0 * math.sqrt(2.0 / math.pi)) * (x + 0.044715 * (x * x * x)))
    if approximate not in (False, None, "none"):
        raise TraceError(f"gelu: approximate must be False/'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * erfc(x * (-1.0 / math.sqrt(2.0)))


def silu(x):
    """x * sigmoid(x) (also called swish), with the stable logistic primitive."""
    x = _floating(x, "silu")
    return x * logistic(x)


def _log1p_exp(m):
    """log(1 + e^m) for m <= 0. u = e^m is in (0, 1]; below u = 0.1 the series u - u^2/2 + u^3/3 - ... (17 terms)
    replaces log(1 + u), whose rounding of 1 + u would cost eps/u relative (the traced np.log1p is log(1 + u))."""
    u = np.exp(m)
    series = 0.0
    for n in range(17, 0, -1):
        series = (1.0 if n % 2 else -1.0) / n + u * series
    return np.where(u < 0.1, u * series, np.log(1.0 + u))


def softplus(x):
    """log(1 + e^x), without overflow: max(x, 0) + log(1 + e^-|x|). -|x| is written minimum(-x, x) because
    maximum/minimum send the derivative at a tie to the second operand: softplus'(0) comes out 1/2."""
    x = _floating(x, "softplus")
    return np.maximum(x, 0.0) + _log1p_exp(np.minimum(-x, x))


def _expm1(m):
    """e^m - 1 for m <= 0, accurate near 0 where e^m - 1 would cancel (the traced np.expm1 is e^m - 1): a Taylor
    polynomial below |m| = 1e-2 (relative error < 3e-16)."""
    series = m * (1.0 + m * (0.5 + m * (1.0 / 6.0 + m * (1.0 / 24.0 + m * (1.0 / 120.0 + m * (1.0 / 720.0))))))
    return np.where(m > -1e-2, series, np.exp(m) - 1.0)


def elu(x, alpha=1.0):
    """x for x > 0, alpha (e^x - 1) otherwise (e^x of min(x, 0), so large x never overflows the unused side)."""
    x = _floating(x, "elu")
    return np.where(x > 0, x, float(alpha) * _expm1(np.minimum(x, 0.0)))


def leaky_relu(x, slope=0.01):
    """x for x > 0, slope * x otherwise (PyTorch's negative_slope)."""
    x = _arr(x)
    return np.where(x > 0, x, x * float(slope))
