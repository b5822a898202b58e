"""NumPy's ufuncs on complex values, decomposed into real ops on the parts (complex_value.Complex).

Formulas follow C99's complex functions as NumPy uses them (branch cuts on the same side of each axis, signed
zeros included: log(-1 - 0j) = -pi j); the elementary ones are the textbook compositions (sin z = sin x cosh y +
i cos x sinh y), the inverse ones Kahan's forms, which avoid cancellation away from their branch points. Where a
formula divides by something zero in the branch a `where` does not take, the divisor is replaced first, so that
no NaN reaches the gradient through the untaken side.
Array functions (reshape, sum, concatenate, dot, ...) are in complex_functions.py.
"""
from __future__ import annotations

import sys

import numpy as np

from . import complex_real as O
from . import ops_math as M
from . import complex_value as _complex_value
from .complex_value import Complex, as_complex, result_dtype, split, all_weak, part_dtype, _err
from .errors import TraceError, DTypeError
from .ops_elementwise import surface_function
from .primitives import copysign as _copysign_prim

_copysign = surface_function(_copysign_prim)


def _fit(p, like):
    """Part p broadcast to the shape of part `like` (a complex value keeps both parts one shape)."""
    if O.shape_of(p) == O.shape_of(like):
        return p
    return O.broadcast_to(p, O.shape_of(like))


def _make(re, im, weak=False):
    re, im = O.asarg(re), O.asarg(im)
    if O.shape_of(re) != O.shape_of(im):
        s = O.shape_of(O.add(re, im))
        re, im = O.broadcast_to(re, s), O.broadcast_to(im, s)
    return Complex(re, im, weak)


def _c(x):
    return x if isinstance(x, Complex) else as_complex(x)


def _safe(d):
    """d with zeros replaced by ones (a divisor used only where d != 0)."""
    return O.where(O.equal(d, 0.0), 1.0, d)


# ---- arithmetic ----

def add(a, b):
    dt = result_dtype(a, b)
    (ar, ai), (br, bi) = split(a, dt), split(b, dt)
    re = O.add(ar, br)
    im = O.add(ai, bi) if ai is not None and bi is not None else _fit(ai if bi is None else bi, re)
    return _make(re, im, all_weak((a, b)))


def subtract(a, b):
    dt = result_dtype(a, b)
    (ar, ai), (br, bi) = split(a, dt), split(b, dt)
    re = O.subtract(ar, br)
    if ai is not None and bi is not None:
        im = O.subtract(ai, bi)
    else:
        im = _fit(ai if bi is None else O.negative(bi), re)
    return _make(re, im, all_weak((a, b)))


def multiply(a, b):
    dt = result_dtype(a, b)
    (ar, ai), (br, bi) = split(a, dt), split(b, dt)
    if ai is None:
        return _make(O.multiply(ar, br), O.multiply(ar, bi), all_weak((a, b)))
    if bi is None:
        return _make(O.multiply(ar, br), O.multiply(ai, br), all_weak((a, b)))
    re = O.subtract(O.multiply(ar, br), O.multiply(ai, bi))
    im = O.add(O.multiply(ar, bi), O.multiply(ai, br))
    return _make(re, im, all_weak((a, b)))


def true_divide(a, b):
    dt = result_dtype(a, b)
    (ar, ai), (br, bi) = split(a, dt), split(b, dt)
    if bi is None:
        return _make(O.true_divide(ar, br), O.true_divide(ai, br), all_weak((a, b)))
    if ai is None:
        ai = O.zeros_like(ar)
    # Smith's algorithm: divide by the larger of |c|, |d| (no overflow of c^2 + d^2); both cases are formed from
    # the same ratio, so nothing divides by a zero that only the other case has
    swap = O.less(O.absolute(br), O.absolute(bi))
    big, small = O.where(swap, bi, br), O.where(swap, br, bi)
    r = O.true_divide(small, big)
    den = O.add(big, O.multiply(small, r))
    # |c| >= |d|: ((a + b r) + i (b - a r)) / den;   else: ((a r + b) + i (b r - a)) / den
    re = O.where(swap, O.add(O.multiply(ar, r), ai), O.add(ar, O.multiply(ai, r)))
    im = O.where(swap, O.subtract(O.multiply(ai, r), ar), O.subtract(ai, O.multiply(ar, r)))
    return _make(O.true_divide(re, den), O.true_divide(im, den), all_weak((a, b)))


def negative(z):
    z = _c(z)
    return Complex(O.negative(z.re), O.negative(z.im), z.weak)


def positive(z):
    return _c(z)


def conjugate(z):
    z = _c(z)
    return Complex(z.re, O.negative(z.im), z.weak)


def square(z):
    return multiply(z, z)


def reciprocal(z):
    # NumPy's own: |c| >= |d|: r = d/c, 1/z = (1 - i r) / (c + d r); else r = c/d, 1/z = (r - i) / (c r + d)
    z = _c(z)
    c, d = z.re, z.im
    swap = O.less(O.absolute(c), O.absolute(d))
    big, small = O.where(swap, d, c), O.where(swap, c, d)
    r = O.true_divide(small, big)
    den = O.add(big, O.multiply(small, r))
    re = O.true_divide(O.where(swap, r, 1.0), den)
    im = O.true_divide(O.negative(O.where(swap, 1.0, r)), den)
    return Complex(re, im)


def _int_exponent(b):
    """b as a Python int when it is a constant integer NumPy raises to by repeated multiplication, else None."""
    if isinstance(b, Complex) or hasattr(b, "_ctx"):
        return None
    v = np.asarray(b)
    if v.ndim != 0 or v.dtype.kind not in "biufc" or np.imag(v) != 0:
        return None
    r = np.real(v)
    if r == np.round(r) and abs(r) < 100:
        return int(r)
    return None


def power(a, b):
    dt = result_dtype(a, b)
    n = _int_exponent(b)
    if n is not None and is_complex_like(a):
        # as NumPy: an integer exponent below 100 multiplies (exact for small ones: z**2 == z * z)
        z = as_complex(a, dt)
        out, base, k = None, z, abs(n)
        while k:
            if k & 1:
                out = base if out is None else multiply(out, base)
            k >>= 1
            if k:
                base = multiply(base, base)
        if out is None:
            one = np.ones((), part_dtype(dt))
            return _make(O.add(O.multiply(z.re, 0.0), one), O.multiply(z.im, 0.0))
        return reciprocal(out) if n < 0 else out
    za, zb = as_complex(a, dt), as_complex(b, dt)
    # a**b = exp(b log a); 0**b is 0 for Re b > 0 (NaN otherwise, as NumPy)
    zero = O.logical_and(O.equal(za.re, 0.0), O.equal(za.im, 0.0))
    safe = Complex(O.where(zero, 1.0, za.re), za.im)
    r = exp(multiply(zb, log(safe)))
    at_zero = O.where(O.greater(zb.re, 0.0), 0.0, np.nan)
    return _make(O.where(zero, at_zero, r.re), O.where(zero, at_zero, r.im))


def is_complex_like(x):
    from .complex_value import is_complex
    return is_complex(x)


def equal(a, b):
    dt = result_dtype(a, b)
    (ar, ai), (br, bi) = split(a, dt), split(b, dt)
    ai = ai if ai is not None else 0.0
    bi = bi if bi is not None else 0.0
    return O.logical_and(O.equal(ar, br), O.equal(ai, bi))


def not_equal(a, b):
    return O.logical_not(equal(a, b))


def _ordering(name):
    def f(*args):
        raise _err(TraceError, f"numpy.{name} on complex values: vive does not order complex numbers (NumPy's "
                               f"lexicographic order); compare np.real(z) or np.abs(z)")
    return f


def isnan(z):
    z = _c(z)
    return O.logical_or(O.not_equal(z.re, z.re), O.not_equal(z.im, z.im))


def isinf(z):
    z = _c(z)
    return O.logical_or(M.isinf(z.re), M.isinf(z.im))


def isfinite(z):
    z = _c(z)
    return O.logical_and(M.isfinite(z.re), M.isfinite(z.im))


# ---- absolute value, sign and angle ----

def absolute(z):
    z = _c(z)
    return M.hypot(z.re, z.im)


def sign(z):
    # NumPy 2: z / |z|, and 0 at 0
    z = _c(z)
    r = _safe(absolute(z))
    return Complex(O.true_divide(z.re, r), O.true_divide(z.im, r))


def angle(z, deg=False):
    if not isinstance(z, Complex) and not is_complex_like(z):
        from .ops_more import angle as real_angle
        return real_angle(z, deg)
    z = _c(z)
    a = M.arctan2(z.im, z.re)
    return O.multiply(a, 180.0 / np.pi) if deg else a


# ---- exponentials and logarithms ----

def exp(z):
    z = _c(z)
    e = O.exp(z.re)
    return Complex(O.multiply(e, O.cos(z.im)), O.multiply(e, O.sin(z.im)))


def exp2(z):
    z = _c(z)
    return exp(Complex(O.multiply(z.re, np.log(2.0)), O.multiply(z.im, np.log(2.0))))


def expm1(z):
    # expm1(x) cos y - 2 sin^2(y/2) + i e^x sin y: no cancellation near 0 (NumPy's form)
    z = _c(z)
    s = O.sin(O.multiply(z.im, 0.5))
    re = O.subtract(O.multiply(M.expm1(z.re), O.cos(z.im)), O.multiply(O.multiply(s, s), 2.0))
    return Complex(re, O.multiply(O.exp(z.re), O.sin(z.im)))


def log(z):
    z = _c(z)
    return Complex(O.log(M.hypot(z.re, z.im)), M.arctan2(z.im, z.re))


def _scaled_log(z, k):
    w = log(z)
    return Complex(O.multiply(w.re, k), O.multiply(w.im, k))


def log2(z):
    return _scaled_log(z, 1.0 / np.log(2.0))


def log10(z):
    return _scaled_log(z, 1.0 / np.log(10.0))


def log1p(z):
    # log(1 + z), NumPy's own complex log1p
    z = _c(z)
    return log(Complex(O.add(z.re, 1.0), z.im))


def sqrt(z):
    # C99 csqrt: t = sqrt((|x| + |z|) / 2); x >= 0: t + i y / 2t; x < 0: |y| / 2t + i copysign(t, y)
    z = _c(z)
    x, y = z.re, z.im
    t = O.sqrt(O.multiply(O.add(O.absolute(x), M.hypot(x, y)), 0.5))
    u = O.true_divide(y, O.multiply(_safe(t), 2.0))         # y / 2t (y = +-0 where t = 0)
    neg = O.less(x, 0.0)
    re = O.where(neg, O.absolute(u), t)
    im = O.where(neg, _copysign(t, y), u)
    return Complex(re, im)


# ---- trigonometric and hyperbolic ----

def sin(z):
    z = _c(z)
    return Complex(O.multiply(O.sin(z.re), M.cosh(z.im)), O.multiply(O.cos(z.re), M.sinh(z.im)))


def cos(z):
    z = _c(z)
    return Complex(O.multiply(O.cos(z.re), M.cosh(z.im)), O.negative(O.multiply(O.sin(z.re), M.sinh(z.im))))


def sinh(z):
    z = _c(z)
    return Complex(O.multiply(M.sinh(z.re), O.cos(z.im)), O.multiply(M.cosh(z.re), O.sin(z.im)))


def cosh(z):
    z = _c(z)
    return Complex(O.multiply(M.cosh(z.re), O.cos(z.im)), O.multiply(M.sinh(z.re), O.sin(z.im)))


_TANH_BIG = 20.0        # beyond, tanh(x + iy) = sign(x) + 2i sin 2y e^(-2|x|) to double precision


def tanh(z):
    z = _c(z)
    x, y = z.re, z.im
    big = O.greater(O.absolute(x), _TANH_BIG)
    xs = O.where(big, 0.0, x)
    # (sinh 2x + i sin 2y) / (cosh 2x + cos 2y)
    den = O.add(M.cosh(O.multiply(xs, 2.0)), O.cos(O.multiply(y, 2.0)))
    s2y = O.sin(O.multiply(y, 2.0))
    re = O.where(big, _copysign(1.0, x), O.true_divide(M.sinh(O.multiply(xs, 2.0)), den))
    tail = O.multiply(O.multiply(s2y, 2.0), O.exp(O.multiply(O.absolute(x), -2.0)))
    im = O.where(big, tail, O.true_divide(s2y, den))
    return Complex(re, im)


def _times_i(z):
    return Complex(O.negative(z.im), z.re)


def _times_minus_i(z):
    return Complex(z.im, O.negative(z.re))


def tan(z):
    # tan z = -i tanh(i z)
    return _times_minus_i(tanh(_times_i(_c(z))))


def arcsinh(z):
    # asinh z = log(z + sqrt(z^2 + 1)) on the half plane x >= 0 (no cancellation there); odd: asinh(-z) = -asinh z
    z = _c(z)
    flip = O.less(_copysign(1.0, z.re), 0.0)
    w = Complex(O.where(flip, O.negative(z.re), z.re), O.where(flip, O.negative(z.im), z.im))
    r = log(add(w, sqrt(add(multiply(w, w), 1.0))))
    return Complex(O.where(flip, O.negative(r.re), r.re), O.where(flip, O.negative(r.im), r.im))


def arccosh(z):
    # Kahan: acosh z = log(z + sqrt(z + 1) sqrt(z - 1)), its cut on (-inf, 1] as C99's
    z = _c(z)
    return log(add(z, multiply(sqrt(add(z, 1.0)), sqrt(subtract(z, 1.0)))))


def arctanh(z):
    # Kahan: Re = log1p(4x / ((1 - x)^2 + y^2)) / 4,  Im = atan2(2y, (1 - x)(1 + x) - y^2) / 2, on x >= 0 (where
    # the log1p argument does not cancel); odd: atanh(-z) = -atanh z
    z = _c(z)
    flip = O.less(_copysign(1.0, z.re), 0.0)
    r = _arctanh_right(Complex(O.where(flip, O.negative(z.re), z.re), O.where(flip, O.negative(z.im), z.im)))
    return Complex(O.where(flip, O.negative(r.re), r.re), O.where(flip, O.negative(r.im), r.im))


def _arctanh_right(z):
    x, y = z.re, z.im
    one_m = O.subtract(1.0, x)
    d = O.add(O.multiply(one_m, one_m), O.multiply(y, y))
    re = O.multiply(M.log1p(O.true_divide(O.multiply(x, 4.0), d)), 0.25)
    im = O.multiply(M.arctan2(O.multiply(y, 2.0), O.subtract(O.multiply(one_m, O.add(1.0, x)), O.multiply(y, y))),
                    0.5)
    return Complex(re, im)


def arcsin(z):
    # asin z = -i asinh(i z)
    return _times_minus_i(arcsinh(_times_i(_c(z))))


def arccos(z):
    # acos z = pi/2 - asin z
    s = arcsin(z)
    return Complex(O.subtract(np.pi / 2, s.re), O.negative(s.im))


def arctan(z):
    # atan z = -i atanh(i z)
    return _times_minus_i(arctanh(_times_i(_c(z))))


UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.true_divide: true_divide,
    np.negative: negative, np.positive: positive, np.conjugate: conjugate, np.square: square,
    np.reciprocal: reciprocal, np.power: power, np.float_power: power, np.equal: equal, np.not_equal: not_equal,
    np.isnan: isnan, np.isinf: isinf, np.isfinite: isfinite, np.absolute: absolute, np.sign: sign,
    np.exp: exp, np.exp2: exp2, np.expm1: expm1, np.log: log, np.log2: log2, np.log10: log10, np.log1p: log1p,
    np.sqrt: sqrt, np.sin: sin, np.cos: cos, np.tan: tan, np.sinh: sinh, np.cosh: cosh, np.tanh: tanh,
    np.arcsin: arcsin, np.arccos: arccos, np.arctan: arctan, np.arcsinh: arcsinh, np.arccosh: arccosh,
    np.arctanh: arctanh,
    np.less: _ordering("less"), np.less_equal: _ordering("less_equal"), np.greater: _ordering("greater"),
    np.greater_equal: _ordering("greater_equal"), np.maximum: _ordering("maximum"),
    np.minimum: _ordering("minimum"), np.fmax: _ordering("fmax"), np.fmin: _ordering("fmin"),
}


def _scipy_special(name):
    from . import complex_special
    return {"erf": complex_special.erf, "erfc": complex_special.erfc}.get(name)


def apply_ufunc(ufunc, method, inputs, kwargs):
    """A NumPy ufunc with a complex operand among inputs (Tracer's and Complex's __array_ufunc__ come here)."""
    name = f"numpy.{ufunc.__name__}"
    if kwargs.get("out") is not None:
        raise _err(TraceError, f"{name} with out= is not supported by vive (traced arrays are immutable)")
    if method != "__call__":
        raise _err(TraceError, f"{name}.{method} on complex values is not supported by vive's tracer")
    fn = UFUNCS.get(ufunc)
    special = sys.modules.get("scipy.special")
    if fn is None and special is not None and ufunc is getattr(special, ufunc.__name__, None):
        name = f"scipy.special.{ufunc.__name__}"
        fn = _scipy_special(ufunc.__name__)
    if fn is None:
        raise _err(TraceError, f"{name} on complex values is not supported by vive (it traces a complex value as "
                               f"its real and imaginary parts; see README's list of complex functions)")
    extra = {k: v for k, v in kwargs.items() if k != "out"}
    if extra.get("dtype") is not None:
        dt = np.dtype(extra.pop("dtype"))
        if dt.kind != "c":
            raise _err(DTypeError, f"{name}: complex operands with dtype={dt} would drop the imaginary part")
        inputs = [as_complex(x, dt) for x in inputs]
    if extra:
        raise _err(TraceError, f"{name}: keyword arguments {sorted(extra)} are not supported by vive")
    return fn(*inputs)


def astype(z, dtype):
    dt = np.dtype(dtype)
    if dt.kind == "c":
        return as_complex(z, dt)
    raise _err(DTypeError, f"astype({dt}) of a complex value would drop the imaginary part (NumPy's "
                           f"ComplexWarning); take np.real(z) or np.abs(z) first")


_complex_value._OPS.update(ufunc=apply_ufunc, astype=astype)