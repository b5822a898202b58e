"""scipy.special.erf and erfc of complex values, composed of real ops on the parts (complex_value.Complex).

On the half plane Re z >= 0 (erf is odd, erfc(-z) = 2 - erfc(z)): Laplace's continued fraction
erfc z = e^(-z^2) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...)))), 60 levels evaluated bottom up,
where Re z >= |Im z| / 2 and (Re z >= 2 or |z| > 3), so that erfc keeps its relative accuracy where it is small;
elsewhere the Maclaurin series erf z = 2/sqrt(pi) sum (-1)^n z^(2n+1) / (n! (2n+1)), 48 terms.
Measured against SciPy (tests/test_complex.py): relative error below 1e-13 for |z| <= 3 and for |z| > 3 with
Re z >= |Im z| / 2. Near the imaginary axis beyond |z| = 3 (where |erf z| grows like e^(Im z^2)) the series is
used with 48 terms, which loses accuracy quickly past |z| = 4: there the result is only good to about 1e-5 at
|z| = 5. (A Faddeeva-function algorithm would cover the whole plane; this covers what models use.)
"""
from __future__ import annotations

import numpy as np

from . import complex_real as O
from .complex_value import Complex, as_complex, is_complex

_SERIES_TERMS = 48
_CF_LEVELS = 60
_SERIES_RADIUS = 3.0


def _mul(a, b):
    return Complex(O.subtract(O.multiply(a.re, b.re), O.multiply(a.im, b.im)),
                   O.add(O.multiply(a.re, b.im), O.multiply(a.im, b.re)))


def _scale(a, k):
    return Complex(O.multiply(a.re, k), O.multiply(a.im, k))


def _inv(a):
    # 1 / a = conj(a) / |a|^2 (|a| stays near |z| in the fraction: no overflow to guard)
    d = O.add(O.multiply(a.re, a.re), O.multiply(a.im, a.im))
    return Complex(O.true_divide(a.re, d), O.negative(O.true_divide(a.im, d)))


def _series_erf(z):
    z2 = _mul(z, z)
    mz2 = Complex(O.negative(z2.re), O.negative(z2.im))
    t, s = z, z
    for n in range(1, _SERIES_TERMS):
        t = _scale(_mul(t, mz2), 1.0 / n)
        u = _scale(t, 1.0 / (2 * n + 1))
        s = Complex(O.add(s.re, u.re), O.add(s.im, u.im))
    return _scale(s, 2.0 / np.sqrt(np.pi))


def _cf_erfc(z):
    t = z
    for k in range(_CF_LEVELS, 0, -1):
        r = _scale(_inv(t), k / 2.0)
        t = Complex(O.add(z.re, r.re), O.add(z.im, r.im))
    z2 = _mul(z, z)
    e = O.exp(O.negative(z2.re))
    w = Complex(O.multiply(e, O.cos(z2.im)), O.negative(O.multiply(e, O.sin(z2.im))))     # e^(-z^2)
    return _scale(_mul(w, _inv(t)), 1.0 / np.sqrt(np.pi))


def _folded(z):
    """(w, flip, use_cf) with w = z or -z on the half plane Re w >= 0."""
    flip = O.less(z.re, 0.0)
    w = Complex(O.where(flip, O.negative(z.re), z.re), O.where(flip, O.negative(z.im), z.im))
    r2 = O.add(O.multiply(w.re, w.re), O.multiply(w.im, w.im))
    far = O.logical_or(O.greater(r2, _SERIES_RADIUS ** 2), O.greater_equal(w.re, 2.0))
    use_cf = O.logical_and(far, O.greater_equal(O.multiply(w.re, 2.0), O.absolute(w.im)))
    # each method sees only the points it is used at (no overflow or 0/0 in the other's NaN-free gradient)
    near = Complex(O.where(use_cf, 0.0, w.re), O.where(use_cf, 0.0, w.im))
    big = Complex(O.where(use_cf, w.re, 4.0), O.where(use_cf, w.im, 0.0))
    return near, big, flip, use_cf


def _select(c, a, b):
    return Complex(O.where(c, a.re, b.re), O.where(c, a.im, b.im))


def erf(z):
    if not is_complex(z):
        from .ops_math import erf as real_erf
        return real_erf(z)
    z = as_complex(z)
    near, big, flip, use_cf = _folded(z)
    c = _cf_erfc(big)
    r = _select(use_cf, Complex(O.subtract(1.0, c.re), O.negative(c.im)), _series_erf(near))
    return _select(flip, Complex(O.negative(r.re), O.negative(r.im)), r)


def erfc(z):
    z = as_complex(z)
    near, big, flip, use_cf = _folded(z)
    s = _series_erf(near)
    r = _select(use_cf, _cf_erfc(big), Complex(O.subtract(1.0, s.re), O.negative(s.im)))
    # erfc(-w) = 2 - erfc(w)
    return _select(flip, Complex(O.subtract(2.0, r.re), O.negative(r.im)), r)
