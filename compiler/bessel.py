"""Bessel functions of integer order (j0, j1, jn, y0, y1, yn) and modified ones (i0, i1, iv, ive, i0e, i1e), as
compositions of existing primitives (tracing, compiling and differentiating like special_fns.py).

J and Y, three ranges selected elementwise:
- x <= 8: the power series (30 terms; cancellation costs < 1e-13 absolute at 8), with the logarithmic series for Y;
- 8 < x <= 15 (or the order, if larger): Miller's backward recurrence from order 44 (+ the order), normalised by
  J0 + 2 (J2 + J4 + ...) = 1; Y0 from the same J's by Neumann's series, Y1 from its derivative;
- beyond: Hankel's asymptotic expansion (36 terms; error < 1e-14 there), J_n by forward recurrence from J0, J1.
Y_n always by forward recurrence from Y0 and Y1 (stable: Y grows with n).
I_v: the power series (80 terms) up to x = 50, Hankel's expansion for e^-x I_v beyond: accurate there for
v^2 <= x / 2 only (larger orders at large x would need Debye's expansion, not implemented).
Accuracy against SciPy in float64: see tests/test_special_fns.py (absolute ~1e-14 for J, Y of moderate x; relative
~1e-14 for I). Orders of J and Y must be static integers.
"""
from __future__ import annotations

import math

import numpy as np

from .errors import TraceError
from .special_fns import _float, _in_f64, gammaln
from .ops_base import implements

__all__ = ["j0", "j1", "jv", "jn", "y0", "y1", "yn", "i0", "i1", "i0e", "i1e", "iv", "ive"]

_EULER = 0.5772156649015329
_SERIES_MAX, _MILLER_MAX = 8.0, 15.0
_SERIES_TERMS, _MILLER_START, _HANKEL_TERMS = 30, 30, 36
_TWO_PI = 2.0 / math.pi


def _hankel(nu, x):
    """(P, Q) of Hankel's expansion for order nu at x (x >= 15 here)."""
    mu = 4.0 * nu * nu
    p, q = 1.0, 0.0
    term = 1.0
    r = 1.0 / x
    for k in range(1, _HANKEL_TERMS):
        term = term * ((mu - (2 * k - 1) ** 2) / (k * 8.0)) * r
        sign = -1.0 if (k // 2) % 2 else 1.0
        if k % 2:
            q = q + sign * term
        else:
            p = p + sign * term
    return p, q


def _asym01(x):
    """(J0, J1, Y0, Y1) for x >= 15 (any x is harmless: clipped)."""
    xa = np.maximum(x, _MILLER_MAX)
    c, s = np.cos(xa), np.sin(xa)
    amp = np.sqrt(_TWO_PI / xa)
    p0, q0 = _hankel(0, xa)
    p1, q1 = _hankel(1, xa)
    h = math.sqrt(0.5)
    c0, s0 = h * (c + s), h * (s - c)          # cos, sin of x - pi/4
    c1, s1 = h * (s - c), -h * (s + c)         # cos, sin of x - 3 pi/4
    return (amp * (p0 * c0 - q0 * s0), amp * (p1 * c1 - q1 * s1),
            amp * (p0 * s0 + q0 * c0), amp * (p1 * s1 + q1 * c1))


def _series01(x):
    """(J0, J1, Y0, Y1) for 0 < x <= 8 by their power series (harmless elsewhere: clipped)."""
    xs = np.clip(x, 1e-300, _SERIES_MAX)
    h = 0.5 * xs
    q = h * h
    t0, t1 = 1.0, h                 # (-q)^k / k!^2, h (-q)^k / (k! (k+1)!)
    j0, j1 = t0, t1
    y0s, y1s = 0.0, -t1 * (1.0 - 2.0 * _EULER)      # k = 0 term of Y1's sum: (H_0 + H_1 - 2 gamma) = 1 - 2 gamma
    hk = 0.0
    for k in range(1, _SERIES_TERMS):
        t0 = -t0 * q / (k * k)
        t1 = -t1 * q / (k * (k + 1))
        hk_next = hk + 1.0 / k
        j0 = j0 + t0
        j1 = j1 + t1
        y0s = y0s - hk_next * t0                       # (-1)^(k+1) H_k q^k / k!^2
        y1s = y1s - t1 * (hk_next + hk_next + 1.0 / (k + 1) - 2.0 * _EULER)
        hk = hk_next
    lg = np.log(h)
    y0 = _TWO_PI * ((lg + _EULER) * j0 + y0s)
    y1 = -_TWO_PI / xs + _TWO_PI * lg * j1 + y1s / math.pi
    return j0, j1, y0, y1


def _miller(x, top, orders=()):
    """(J0, J1, Y0, Y1, {n: J_n}) for 8 <= x <= top by the backward recurrence (harmless elsewhere)."""
    xm = np.clip(x, _SERIES_MAX, top)
    start = _MILLER_START + 2 * (int(top) // 2)
    start += start % 2
    inv = 2.0 / xm
    nxt, cur = 0.0, 1e-30
    keep = {}
    norm = 0.0                       # J0 + 2 sum J_2k, unnormalised
    neumann = 0.0                    # sum_k (-1)^k J_2k / k
    dneumann = 0.0                   # sum_k (-1)^k (J_2k-1 - J_2k+1) / (2k)
    for n in range(start, 0, -1):
        # cur = J_n, nxt = J_n+1 (unnormalised); make J_n-1
        prev = (n * inv) * cur - nxt
        if n in orders:
            keep[n] = cur
        if n % 2 == 0:
            k = n // 2
            sgn = -1.0 if k % 2 else 1.0
            norm = norm + 2.0 * cur
            neumann = neumann + (sgn / k) * cur
            dneumann = dneumann + (sgn / (2.0 * k)) * (prev - nxt)
        nxt, cur = cur, prev
    j0u, j1u = cur, nxt
    scale = 1.0 / (norm + j0u)
    j0, j1 = j0u * scale, j1u * scale
    lg = np.log(0.5 * xm) + _EULER
    y0 = _TWO_PI * (lg * j0 - 2.0 * neumann * scale)
    # Y1 = -Y0': d/dx of (2/pi)(log(x/2) + gamma) J0 is (2/pi)(J0 / x - (log(x/2) + gamma) J1)
    y1 = -_TWO_PI * (j0 / xm - lg * j1) + (2.0 * _TWO_PI) * dneumann * scale
    return j0, j1, y0, y1, {n: v * scale for n, v in keep.items()}


def _pick(x, series, miller, asym, top=None):
    top = _MILLER_MAX if top is None else top
    return np.where(x <= _SERIES_MAX, series, np.where(x <= top, miller, asym))


def _all01(x):
    s, m, a = _series01(x), _miller(x, _MILLER_MAX)[:4], _asym01(x)
    return [_pick(x, *v) for v in zip(s, m, a)]


def _edge(x, ax, out, at0, neg):
    """out for x > 0 (computed at |x|), at0 at x == 0, neg for x < 0 (NaN or a parity), NaN for NaN."""
    return _nan(x, np.where(x == 0, at0, np.where(x < 0, neg, np.where(ax == np.inf, 0.0, out))))


def _nan(x, out):
    return np.where(x != x, x, out)


@implements(surface=("scipy.special.j0",))
@_in_f64
def j0(x):
    """The Bessel function of the first kind of order 0."""
    x = _float(x)
    ax = np.abs(x)
    axs = np.where((ax > 0) & (ax < np.inf), ax, 1.0)
    v = _all01(axs)[0]
    return _nan(x, np.where(ax == 0, 1.0, np.where(ax == np.inf, 0.0, v)))


@implements(surface=("scipy.special.j1",))
@_in_f64
def j1(x):
    """The Bessel function of the first kind of order 1 (odd)."""
    x = _float(x)
    ax = np.abs(x)
    axs = np.where((ax > 0) & (ax < np.inf), ax, 1.0)
    v = _all01(axs)[1]
    v = np.where(ax == 0, 0.0, np.where(ax == np.inf, 0.0, v))
    return _nan(x, np.where(x < 0, -v, v))


@implements(surface=("scipy.special.y0",))
@_in_f64
def y0(x):
    """The Bessel function of the second kind of order 0: -inf at 0, NaN for x < 0."""
    x = _float(x)
    xs = np.where((x > 0) & (x < np.inf), x, 1.0)
    return _edge(x, x, _all01(xs)[2], -np.inf, np.nan)


@implements(surface=("scipy.special.y1",))
@_in_f64
def y1(x):
    """The Bessel function of the second kind of order 1: -inf at 0, NaN for x < 0."""
    x = _float(x)
    xs = np.where((x > 0) & (x < np.inf), x, 1.0)
    return _edge(x, x, _all01(xs)[3], -np.inf, np.nan)


def _order(n, what):
    if hasattr(n, "aval"):
        raise TraceError(f"{what}: the order must be a Python or NumPy number, not a traced value")
    a = np.asarray(n)
    if a.size != 1 or a.dtype.kind not in "iuf" or float(a) != int(a):
        raise TraceError(f"{what} on traced values: vive supports one integer order, got {n!r}")
    return int(a)


@implements(surface=("scipy.special.jv",))
@_in_f64
def jv(v, x):
    """J_n(x) for a static integer order n (scipy.special.jv / jn)."""
    n = _order(v, "scipy.special.jv")
    x = _float(x)
    if n < 0:
        return (-1.0 if n % 2 else 1.0) * jv(-n, x)
    if n <= 1:
        return j0(x) if n == 0 else j1(x)
    ax = np.abs(x)
    axs = np.where((ax > 0) & (ax < np.inf), ax, 1.0)
    top = max(_MILLER_MAX, float(n))
    # series: (x/2)^n sum (-q)^k / (k! (n+k)!)
    xs = np.clip(axs, 1e-300, _SERIES_MAX)
    h = 0.5 * xs
    q = h * h
    t = np.exp(n * np.log(h) - math.lgamma(n + 1))
    ser = t
    for k in range(1, _SERIES_TERMS):
        t = -t * q / (k * (n + k))
        ser = ser + t
    mil = _miller(axs, top, orders=(n,))[4][n]
    a0, a1 = _asym01(np.maximum(axs, top))[:2]
    inv = 2.0 / np.maximum(axs, top)
    jm, jc = a0, a1
    for k in range(1, n):
        jm, jc = jc, (k * inv) * jc - jm
    v = _pick(axs, ser, mil, jc, top)
    v = np.where(ax == 0, 0.0, np.where(ax == np.inf, 0.0, v))
    return _nan(x, np.where(x < 0, -v, v) if n % 2 else v)


jn = jv


@implements(surface=("scipy.special.yn",))
@_in_f64
def yn(n, x):
    """Y_n(x) for a static integer order n, by forward recurrence from Y0 and Y1."""
    n = _order(n, "scipy.special.yn")
    x = _float(x)
    if n < 0:
        return (-1.0 if n % 2 else 1.0) * yn(-n, x)
    xs = np.where((x > 0) & (x < np.inf), x, 1.0)
    _, _, ym, yc = _all01(xs)
    if n == 0:
        yc = ym
    inv = 2.0 / xs
    for k in range(1, n):
        ym, yc = yc, (k * inv) * yc - ym
    return _edge(x, x, yc, -np.inf, np.nan)


# ---- modified Bessel functions of the first kind ----

_I_SERIES_MAX, _I_TERMS = 50.0, 80


def _ive_pos(v, x):
    """e^-x I_v(x) for x > 0 and v >= 0 (harmless elsewhere)."""
    xs = np.minimum(x, _I_SERIES_MAX)
    h = 0.5 * xs
    q = h * h
    t, total = 1.0, 1.0
    for k in range(1, _I_TERMS):
        t = t * q / (k * (v + k))
        total = total + t
    series = np.exp(v * np.log(h) - xs - gammaln(v + 1.0)) * total
    xa = np.maximum(x, _I_SERIES_MAX)
    mu = 4.0 * v * v
    term, acc = 1.0, 1.0
    r = 1.0 / (8.0 * xa)
    for k in range(1, _HANKEL_TERMS):
        term = -term * (mu - (2 * k - 1) ** 2) * r / k
        acc = acc + term
    asym = acc / np.sqrt(2.0 * math.pi * xa)
    return np.where(x <= _I_SERIES_MAX, series, asym)


@implements(surface=("scipy.special.ive",))
@_in_f64
def ive(v, x):
    """The exponentially scaled modified Bessel function e^-|x| I_v(x), for real order v >= 0 (or a negative
    integer) and x >= 0 (x < 0 for integer v)."""
    v, x = _float(v), _float(x)
    vi = np.abs(v)
    integral = np.floor(v) == v
    va = np.where(integral, vi, v)
    ok = (va >= 0) & ((x >= 0) | integral)
    ax = np.abs(x)
    axs = np.where((ax > 0) & (ax < np.inf), ax, 1.0)
    vs = np.where(ok, va, 0.0)
    out = _ive_pos(vs, axs)
    odd = integral & (np.abs(vs - 2.0 * np.floor(0.5 * vs)) == 1.0)
    out = np.where((x < 0) & odd, -out, out)
    at0 = np.where(vs == 0, 1.0, 0.0)
    out = np.where(ax == 0, at0, np.where(ax == np.inf, 0.0, out))
    return _nan(x, np.where(ok, out, np.nan))


@implements(surface=("scipy.special.iv",))
@_in_f64
def iv(v, x):
    """The modified Bessel function of the first kind I_v(x) (see ive for the orders and arguments covered)."""
    v, x = _float(v), _float(x)
    ax = np.abs(x)
    scaled = ive(v, x)
    return np.where(ax == np.inf, np.where(v >= 0, np.inf, np.nan), scaled * np.exp(np.minimum(ax, 1e300)))


@implements(surface=("scipy.special.i0",))
@_in_f64
def i0(x):
    return iv(0.0, x)


@implements(surface=("scipy.special.i1",))
@_in_f64
def i1(x):
    return iv(1.0, x)


@implements(surface=("scipy.special.i0e",))
@_in_f64
def i0e(x):
    return ive(0.0, x)


@implements(surface=("scipy.special.i1e",))
@_in_f64
def i1e(x):
    return ive(1.0, x)
