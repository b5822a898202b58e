"""scipy.special's gamma family, incomplete gamma and beta functions, the normal distribution's ndtr/ndtri and
logsumexp, written with NumPy calls on existing primitives (where, exp, log, erfc, arithmetic), so that they trace,
compile and differentiate through the existing rules, and run eagerly on NumPy arrays too (cc.special.gammaln).

How each is computed (float64 accuracy against SciPy in tests/test_special_fns.py):
- gammaln: Stirling's series (9 terms) at z >= 10; below, the recurrence lgamma(x) = lgamma(x + 10) - log(x (x+1)
  ... (x+9)); x <= 0 by reflection with sin(pi x) reduced exactly. gamma/rgamma/gammasgn from it.
- digamma (psi): the asymptotic series at z >= 10, the recurrence below, reflection (pi / tan(pi x)) for x <= 0;
  within 1/4 of its positive root, its Taylor series there (relative accuracy, as SciPy).
  polygamma(n >= 1, x > 0): Hurwitz zeta by Euler-Maclaurin after 10 terms of the sum; x <= 0 by reflection,
  with the n-th derivative of cot(pi x) as a polynomial in cot(pi x).
- gammainc/gammaincc: the power series (60 terms) for x < a + 3, the continued fraction (depth 40, evaluated from
  its tail) otherwise: accurate to ~1e-13 for a up to ~30 (the depth needed grows like sqrt(a)).
- betainc: the continued fraction (depth 63, from its tail) on the side of (a+1)/(a+b+2) where it converges, the
  symmetry I_x(a, b) = 1 - I_{1-x}(b, a) on the other: accurate to ~1e-13 for a, b up to ~30.
- ndtri: a starting point good to 5e-4 (Abramowitz-Stegun 26.2.23, held constant by stop_gradient) and two
  Halley steps on ndtr in the tail: the result is converged, and its derivative comes out as 1/pdf(x). erfcinv
  from it.
The fixed step counts are unrolled into the graph (no data-dependent control flow), so one kernel on CPU and GPU.
Derivatives are those of the approximations, which match the functions' to ~1e-12 relative where the values do.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .ops_base import implements
from .errors import TraceError
from .nn.activations import erfc, _clenshaw, _Q, _ASYM
from .transforms import stop_gradient

__all__ = ["gammaln", "gamma", "rgamma", "gammasgn", "digamma", "psi", "polygamma", "multigammaln", "beta",
           "betaln", "gammainc", "gammaincc", "betainc", "ndtr", "log_ndtr", "ndtri", "erfcinv", "logsumexp"]

_LOG_2PI_HALF = 0.5 * math.log(2.0 * math.pi)
_B2K = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798]
_STIRLING = [b / ((2 * k + 2) * (2 * k + 1)) for k, b in enumerate(_B2K)]      # B_2k / (2k (2k-1))
_PSI_ASYM = [b / (2 * k + 2) for k, b in enumerate(_B2K)]                      # B_2k / 2k
_SHIFT = 10


def _arr(x):
    return x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)


def _float(x):
    x = _arr(x)
    if not np.issubdtype(np.dtype(x.dtype), np.floating):
        x = x.astype(np.float64)
    return x


def _in_f64(fn):
    """Compute in float64 and give the inputs' float type back (float32 in, float32 out, as SciPy's ufuncs):
    the constants and ranges here are float64's."""
    @functools.wraps(fn)
    def wrapper(*args):
        dts = [np.dtype(a.dtype) for a in args if hasattr(a, "dtype")]
        dt = np.result_type(*dts, np.float32) if dts else np.dtype(np.float64)
        if dt == np.float64:
            return fn(*args)
        args = [a.astype(np.float64) if hasattr(a, "dtype") else a for a in args]
        out = fn(*args)
        return tuple(o.astype(dt) for o in out) if isinstance(out, tuple) else out.astype(dt)
    return wrapper


def _horner(coef, u):
    acc = 0.0
    for c in reversed(coef):
        acc = c + u * acc
    return acc


def _lgamma_big(z):
    """lgamma(z) for z >= 10 by Stirling's series (error < 1e-18 relative there)."""
    r = 1.0 / z
    return (z - 0.5) * np.log(z) - z + _LOG_2PI_HALF + r * _horner(_STIRLING, r * r)


def _lgamma_pos(x):
    """lgamma(x) for x > 0 (finite, and harmless, for any x: each side sees x clipped into its interval)."""
    small = x < _SHIFT
    xs = np.where(small & (x > 0), x, float(_SHIFT))
    prod = xs + 1.0
    for k in range(2, _SHIFT):
        prod = prod * (xs + float(k))
    shifted = _lgamma_big(xs + float(_SHIFT)) - np.log(xs) - np.log(prod)
    xb = np.maximum(x, float(_SHIFT))
    big = np.where(xb == np.inf, np.inf, _lgamma_big(np.minimum(xb, 1e300)))
    return np.where(small, shifted, big)


def _signbit(x):
    """x < 0 or x is -0.0 (np.signbit is not traced; arctan2(-0.0, -1) = -pi tells the zeros apart)."""
    return (x < 0) | (np.arctan2(np.where(x == 0, x, 1.0), -1.0) < 0)


def _reduce_half(x):
    """(r, n): x = n + r with n an integer and |r| <= 1/2, exactly (for sin(pi x) and tan(pi x) without the
    rounding of pi x)."""
    n = np.round(x)
    return x - n, n


@implements(surface=("scipy.special.gammaln",))
@_in_f64
def gammaln(x):
    """log |Gamma(x)|; +inf at the poles (0, -1, -2, ...)."""
    x = _float(x)
    pos = x > 0
    xn = np.where(pos, 0.5, x)               # the reflected side sees a safe value where x > 0
    r, _ = _reduce_half(np.where(np.abs(xn) < 1e300, xn, 0.5))
    pole = (r == 0.0) | (np.abs(xn) >= 2.0 ** 52)
    s = np.abs(np.sin(math.pi * np.where(pole, 0.5, r)))
    # one lgamma on the positive side: of x itself, or of 1 - x for the reflection
    lg = _lgamma_pos(np.where(pos, x, 1.0 - np.where(pole, 0.5, xn)))
    neg = np.where(pole, np.inf, math.log(math.pi) - np.log(s) - lg)
    neg = np.where(x == -np.inf, -np.inf, neg)
    return np.where(pos, lg, neg)


@implements(surface=("scipy.special.gammasgn",))
@_in_f64
def gammasgn(x):
    """The sign of Gamma(x): 1 for x > 0 (and +0), -1 for -0, (-1)^ceil(-x) for negative non-integers, NaN at the
    negative integers and -inf."""
    x = _float(x)
    fl = np.floor(np.where(np.abs(x) < 2.0 ** 52, x, 0.0))
    odd = np.abs(fl - 2.0 * np.floor(fl * 0.5)) == 1.0
    neg = np.where(odd, -1.0, 1.0)
    neg = np.where((fl == x) | (x == -np.inf), np.nan, neg)
    zero = np.where(_signbit(x), -1.0, 1.0)
    out = np.where(x > 0, 1.0, np.where(x == 0, zero, neg))
    return np.where(x != x, np.nan, out).astype(x.dtype)


@implements(surface=("scipy.special.gamma",))
@_in_f64
def gamma(x):
    """Gamma(x) = gammasgn(x) exp(gammaln(x)): +-inf at +-0, NaN at the negative integers."""
    x = _float(x)
    return gammasgn(x) * np.exp(gammaln(x))


@implements(surface=("scipy.special.rgamma",))
@_in_f64
def rgamma(x):
    """1 / Gamma(x): 0 at the poles."""
    x = _float(x)
    pole = (x <= 0) & (np.floor(x) == x)
    return np.where(pole, 0.0, gammasgn(np.where(pole, 1.0, x)) * np.exp(-gammaln(np.where(pole, 1.0, x))))


def _psi_big(z):
    r = 1.0 / z
    r2 = r * r
    return np.log(z) - 0.5 * r - r2 * _horner(_PSI_ASYM, r2)


def _psi_pos(x):
    small = x < _SHIFT
    xs = np.where(small & (x > 0), x, float(_SHIFT))
    acc = 1.0 / xs
    for k in range(1, _SHIFT):
        acc = acc + 1.0 / (xs + float(k))
    shifted = _psi_big(xs + float(_SHIFT)) - acc
    big = _psi_big(np.minimum(np.maximum(x, float(_SHIFT)), 1e300))
    return np.where(small, shifted, np.where(x == np.inf, np.inf, big))


# near digamma's positive root x0 the shifted series would leave only an absolute accuracy; there, its Taylor series
# about x0: psi(x) = sum_k (-1)^(k+1) zeta(k+1, x0) (x - x0)^k, with x0 in two parts (hi + lo) and the coefficients
# computed at import by _hurwitz_zeta below (relative accuracy ~1e-16 near the root)
_PSI_ROOT_HI, _PSI_ROOT_LO = 1.4616321449683622, 9.549995429965697e-17
_PSI_ROOT_REACH = 0.25
_PSI_ROOT_COEF = None


def _psi_near_root(x):
    global _PSI_ROOT_COEF
    if _PSI_ROOT_COEF is None:
        _PSI_ROOT_COEF = [0.0] + [(-1.0) ** (k + 1) * float(_hurwitz_zeta(k + 1, np.float64(_PSI_ROOT_HI)))
                                  for k in range(1, 22)]
    d = np.clip(x - _PSI_ROOT_HI, -_PSI_ROOT_REACH, _PSI_ROOT_REACH) - _PSI_ROOT_LO
    return _horner(_PSI_ROOT_COEF, d)


@implements(surface=("scipy.special.psi",))
@_in_f64
def digamma(x):
    """psi(x) = d/dx log Gamma(x); -inf at +0, +inf at -0, NaN at the negative integers."""
    x = _float(x)
    pos = x > 0
    xn = np.where(pos | (x == -np.inf), -0.5, x)
    r, _ = _reduce_half(np.where(np.abs(xn) < 2.0 ** 52, xn, -0.5))
    pole = (r == 0.0) | (np.abs(xn) >= 2.0 ** 52)
    rs = np.where(pole, 0.25, r)
    ps = _psi_pos(np.where(pos, x, 1.0 - np.where(pole, -0.5, xn)))
    neg = ps - math.pi * np.cos(math.pi * rs) / np.sin(math.pi * rs)
    zero = np.where(_signbit(x), np.inf, -np.inf)
    neg = np.where(x == 0, zero, np.where(pole | (x == -np.inf), np.nan, neg))
    near = np.abs(x - _PSI_ROOT_HI) < _PSI_ROOT_REACH
    return np.where(near, _psi_near_root(x), np.where(pos, ps, neg))


psi = digamma


def _static_int(n, what):
    if hasattr(n, "aval"):
        raise TraceError(f"{what}: the order n must be a Python or NumPy integer, not a traced value")
    a = np.asarray(n)
    if a.size != 1 or a.dtype.kind not in "iuf" or float(a) != int(a) or int(a) < 0:
        raise TraceError(f"{what}: vive supports one non-negative integer order n, got {n!r}")
    return int(a)


def _hurwitz_zeta(s, x):
    """zeta(s, x) = sum_k (x + k)^-s for an integer s >= 2 and x > 0, by Euler-Maclaurin past 10 terms."""
    def inv_pow(z):
        r = 1.0 / z
        out = r
        for _ in range(s - 1):
            out = out * r
        return out
    acc = 0.0
    for k in range(_SHIFT):
        acc = acc + inv_pow(x + float(k))
    z = x + float(_SHIFT)
    tail = inv_pow(z) * z / (s - 1) + 0.5 * inv_pow(z)
    # B_2j / (2j)! * s (s+1) ... (s+2j-2) z^(-s-2j+1)
    fact, rising, zp = 1.0, 1.0, inv_pow(z) / z
    for j, b in enumerate(_B2K, start=1):
        fact *= (2 * j) * (2 * j - 1)
        rising *= (s + 2 * j - 2) * ((s + 2 * j - 3) if j > 1 else 1)
        tail = tail + (b * rising / fact) * zp
        zp = zp / (z * z)
    return acc + tail


def _cot_derivative_poly(n):
    """Coefficients of P_n with d^n/dx^n cot(pi x) = pi^n P_n(cot(pi x)): P_0(c) = c, P_k+1 = -(1 + c^2) P_k'."""
    p = np.polynomial.Polynomial([0.0, 1.0])
    for _ in range(n):
        p = -np.polynomial.Polynomial([1.0, 0.0, 1.0]) * p.deriv()
    return [float(c) for c in p.coef]


def polygamma(n, x):
    """The n-th derivative of digamma: (-1)^(n+1) n! zeta(n+1, x) for x > 0; for x <= 0 by the reflection
    psi^(n)(1 - x) + (-1)^(n+1) psi^(n)(x) = (-1)^n pi d^n/dx^n cot(pi x) (NaN at the poles 0, -1, ...).
    n a static non-negative integer."""
    n = _static_int(n, "polygamma")
    x = _float(x)
    if n == 0:
        return digamma(x)
    pos = x > 0
    big = np.abs(x) >= 2.0 ** 52
    r, _ = _reduce_half(np.where(pos | big | (x != x), -0.5, x))
    pole = (r == 0.0) | big
    rs = np.where(pole, 0.25, r)
    fac = (-1.0) ** (n + 1) * math.factorial(n)
    # one zeta: of x itself, or of 1 - x for the reflection
    xr = 1.0 - np.where(pos | pole | (x != x), -0.5, x)
    z = fac * _hurwitz_zeta(n + 1, np.where(pos & (x < np.inf), x, xr))
    c = np.cos(math.pi * rs) / np.sin(math.pi * rs)
    cot_n = math.pi ** n * _horner(_cot_derivative_poly(n), c)
    neg = (-1.0) ** (n + 1) * ((-1.0) ** n * math.pi * cot_n - z)
    # at the poles (and -inf) SciPy gives the sign of (-1)^(n+1) times infinity; 0 at +inf
    neg = np.where(pole | (x == -np.inf), (-1.0) ** (n + 1) * np.inf, neg)
    return np.where(pos, np.where(x == np.inf, 0.0, z), np.where(x != x, x, neg))


def multigammaln(a, d):
    """log of the multivariate gamma function of dimension d (a static integer >= 1)."""
    d = _static_int(d, "multigammaln")
    if d < 1:
        raise ValueError("d should be a positive integer (dimension)")
    a = _float(a)
    out = (d * (d - 1) * 0.25 * math.log(math.pi)) + gammaln(a)
    for j in range(1, d):
        out = out + gammaln(a - 0.5 * j)
    return out


@implements(surface=("scipy.special.betaln",))
@_in_f64
def betaln(a, b):
    """log |B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b)."""
    a, b = _float(a), _float(b)
    return gammaln(a) + gammaln(b) - gammaln(a + b)


@implements(surface=("scipy.special.beta",))
@_in_f64
def beta(a, b):
    a, b = _float(a), _float(b)
    return gammasgn(a) * gammasgn(b) * gammasgn(a + b) * np.exp(betaln(a, b))


# ---- incomplete gamma and beta ----

# steps unrolled into the graph, and where the series hands over to the continued fraction: accurate to ~1e-13
# (tests/test_special_fns.py) for a (and b) up to ~30; the steps needed grow like sqrt(a)
_SERIES_STEPS, _CF_STEPS, _BETA_STEPS, _SERIES_REACH = 60, 40, 32, 3.0


def _gamma_prefactor(a, x):
    """x^a e^-x / Gamma(a) in logs, for a > 0, x > 0."""
    return a * np.log(x) - x - gammaln(a)


def _inc_gamma(a, x):
    """(P, Q) regularized lower and upper incomplete gamma functions."""
    a, x = _float(a), _float(x)
    ok = (a > 0) & (x > 0) & (x < np.inf)
    aa, xx = np.where(ok, a, 1.0), np.where(ok, x, 1.0)
    use_series = xx < aa + _SERIES_REACH
    # series: P = x^a e^-x / Gamma(a+1) * sum_k x^k / ((a+1)...(a+k))
    xs = np.where(use_series, xx, 0.5 * aa)
    term, total = 1.0, 1.0
    for k in range(1, _SERIES_STEPS):
        term = term * xs / (aa + float(k))
        total = total + term
    p_series = np.exp(_gamma_prefactor(aa, xs) - np.log(aa)) * total
    # continued fraction for Q = x^a e^-x / Gamma(a) / (b0 + a1 / (b1 + a2 / (b2 + ...))), b_i = x - a + 2i + 1,
    # a_i = -i (i - a), evaluated from its tail (fixed depth, no division guards needed)
    xc = np.where(use_series, aa + 1.0, xx)
    xma = xc - aa
    t = 0.0
    for i in range(_CF_STEPS - 1, 0, -1):
        t = (-float(i)) * (float(i) - aa) / ((xma + float(2 * i + 1)) + t)
    h = 1.0 / ((xma + 1.0) + t)
    q_cf = np.exp(_gamma_prefactor(aa, xc)) * h
    p = np.where(use_series, p_series, 1.0 - q_cf)
    q = np.where(use_series, 1.0 - p_series, q_cf)
    # edges, as SciPy: x = 0 gives P = 0 (a > 0); x = inf gives P = 1; a = 0 gives P = 1 for x > 0; NaN elsewhere
    p = np.where(ok, p, np.where((a > 0) & (x == 0), 0.0, np.where((a >= 0) & (x == np.inf), 1.0,
                                                                   np.where((a == 0) & (x > 0), 1.0, np.nan))))
    q = np.where(ok, q, 1.0 - p)
    return p, q


@implements(surface=("scipy.special.gammainc",))
@_in_f64
def gammainc(a, x):
    """The regularized lower incomplete gamma function P(a, x)."""
    return _inc_gamma(a, x)[0]


@implements(surface=("scipy.special.gammaincc",))
@_in_f64
def gammaincc(a, x):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x), without the cancellation."""
    return _inc_gamma(a, x)[1]


def _betacf(a, b, x, y):
    """I_x(a, b) by its continued fraction, for x < (a+1)/(a+b+2); y = 1 - x given separately (exact).
    1 / (1 + d1 / (1 + d2 / (1 + ...))), d_2m = m (b - m) x / ((a + 2m - 1)(a + 2m)),
    d_2m+1 = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)), evaluated from its tail."""
    t = 0.0
    for j in range(2 * _BETA_STEPS - 1, 0, -1):
        m = j // 2
        if j % 2:
            d = -(a + float(m)) * (a + (b + float(m))) * x / ((a + float(2 * m)) * (a + float(2 * m + 1)))
        else:
            d = float(m) * (b - float(m)) * x / ((a + float(2 * m - 1)) * (a + float(2 * m)))
        t = d / (1.0 + t)
    front = np.exp(a * np.log(x) + b * np.log(y) - betaln(a, b)) / a
    return front / (1.0 + t)


def _inc_beta(a, b, x, y):
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1, with y = 1 - x (callers that know 1 - x exactly pass it)."""
    return _inc_beta2(a, b, x, y)[0]


def _inc_beta2(a, b, x, y):
    """(I_x(a, b), 1 - I_x(a, b)) from one continued fraction, each without cancellation where it is small."""
    ok = (a > 0) & (b > 0) & (x > 0) & (y > 0)
    aa, bb = np.where(ok, a, 1.0), np.where(ok, b, 1.0)
    xx, yy = np.where(ok, x, 0.5), np.where(ok, y, 0.5)
    direct = xx < (aa + 1.0) / (aa + bb + 2.0)
    # one continued fraction, on (a, b, x) or on the mirrored (b, a, 1 - x)
    cf = _betacf(np.where(direct, aa, bb), np.where(direct, bb, aa), np.where(direct, xx, yy),
                 np.where(direct, yy, xx))
    edge = np.where((x == 0) & (a > 0) & (b > 0), 0.0, np.where((y == 0) & (a > 0) & (b > 0), 1.0, np.nan))
    return (np.where(ok, np.where(direct, cf, 1.0 - cf), edge),
            np.where(ok, np.where(direct, 1.0 - cf, cf), 1.0 - edge))


@implements(surface=("scipy.special.betainc",))
@_in_f64
def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b)."""
    a, b, x = _float(a), _float(b), _float(x)
    return _inc_beta(a, b, x, 1.0 - x)


# ---- the normal distribution ----

_SQRT1_2 = math.sqrt(0.5)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@implements(surface=("scipy.special.ndtr",))
@_in_f64
def ndtr(z):
    """The standard normal CDF, 0.5 erfc(-z / sqrt 2) (accurate relative to itself in the lower tail)."""
    z = _float(z)
    return 0.5 * erfc(-_SQRT1_2 * z)


def _log_erfc_tail(a):
    """log erfc(a) for a >= 2 (any a is harmless): -a^2 + log of erfc's scaled form, which nn.activations
    interpolates on [2, 6] and expands asymptotically beyond; never underflows."""
    ac = np.clip(a, 2.0, 6.0)
    r = 1.0 / np.maximum(a, 6.0)
    asym = r * _horner(_ASYM, r * r)
    return -(a * a) + np.log(np.where(a > 6.0, asym, _clenshaw(_Q, (ac - 4.0) * 0.5)))


@implements(surface=("scipy.special.log_ndtr",))
@_in_f64
def log_ndtr(z):
    """log of the standard normal CDF, finite far into the lower tail (log_ndtr(-40) ~ -804.6)."""
    z = _float(z)
    a = -_SQRT1_2 * z
    tail = math.log(0.5) + _log_erfc_tail(np.maximum(a, 2.0))
    # z > 0: log(1 - ndtr(-z)) = log1p(-0.5 erfc(z/sqrt 2)); between, log(ndtr(z)) has no cancellation; one erfc
    # serves both (of |a|, clipped below 2 where the tail takes over)
    e = 0.5 * erfc(np.where(z > 0, np.maximum(-a, 0.0), np.clip(a, -1.0, 2.0)))
    return np.where(a >= 2.0, tail, np.where(z > 0, np.log1p(-e), np.log(e)))


def _ndtri_lower(q):
    """x < 0 with ndtr(x) = q, for 0 < q <= 1/2."""
    t = np.sqrt(-2.0 * np.log(q))
    x0 = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))))
    x = stop_gradient(x0)
    for _ in range(2):
        # Halley on f(x) = ndtr(x) - q, where f''/f' = -x: x -= e / (1 + x e / 2), e = f / f'
        pdf = np.exp(-0.5 * x * x - _LOG_SQRT_2PI)
        e = (ndtr(x) - q) / pdf
        x = x - e / (1.0 + 0.5 * x * e)
    return x


@implements(surface=("scipy.special.ndtri",))
@_in_f64
def ndtri(p):
    """The inverse of ndtr: -inf at 0, +inf at 1, NaN outside [0, 1]."""
    p = _float(p)
    ok = (p > 0) & (p < 1)
    upper = p > 0.5
    q = np.where(ok, np.where(upper, 1.0 - p, p), 0.25)
    x = _ndtri_lower(q)
    x = np.where(upper, -x, x)
    return np.where(ok, x, np.where(p == 0, -np.inf, np.where(p == 1, np.inf, np.nan)))


@implements(surface=("scipy.special.erfcinv",))
@_in_f64
def erfcinv(y):
    """The inverse of erfc on [0, 2]: erfcinv(y) = -ndtri(y / 2) / sqrt 2."""
    y = _float(y)
    return -_SQRT1_2 * ndtri(0.5 * y)


# ---- logsumexp ----

def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) over axis, as scipy.special.logsumexp: the largest value is factored out (held
    constant by stop_gradient: the derivative is softmax's either way), infinite maxima are left to the sum.
    With return_sign, (log |s|, sign(s)); without, a negative sum gives NaN."""
    a = _float(a)
    if b is not None:
        b = _arr(b)
        shape = np.broadcast_shapes(tuple(np.shape(a)), tuple(np.shape(b)))
        a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
        a = np.where(b != 0, a, -np.inf)          # b = 0 drops a term, even an infinite one (as SciPy)
    m = stop_gradient(np.max(a, axis=axis, keepdims=True))
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(a - m)
    if b is not None:
        e = e * b
    s = np.sum(e, axis=axis, keepdims=keepdims)
    m = m if keepdims else np.squeeze(m, axis=axis)
    if return_sign:
        sgn = np.sign(s)
        return np.log(np.abs(s)) + m, sgn
    return np.log(s) + m


# scipy.special ufuncs on traced values come here (ops_math.scipy_ufunc looks them up by the ufunc's name)
