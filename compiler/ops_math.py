"""NumPy's elementwise math beyond ops_elementwise: inverse trig and hyperbolic functions, hypot, logaddexp,
rounding, NaN tests, fmax/fmin, degrees/radians, `//` and `%`; each composition registers itself (@implements).

New primitives only where a composition would be inaccurate or slow (floor/ceil/trunc/rint, atan2, erf: see
codegen/special_math.py); the rest are compositions written so that both the value and the derivative the
transforms derive from them stay accurate (log1p, expm1, arcsinh avoid cancellation; hypot scales against overflow).
"""
from __future__ import annotations

import numpy as np

from . import primitives as P
from . import ops_base, ops_elementwise, ops_array
from . import ops_elementwise as O
from .ops_base import implements
from .ops_elementwise import surface_function
from .errors import DTypeError, TraceError
from .ir.types import F64, BOOL
from .trace import Tracer

_aval, _err = ops_base._aval, ops_base._err
_LN2 = float(np.log(2.0))


def _float(x):
    """x as a float tracer/array (ints compute in f64, as NumPy's float loops)."""
    t = _aval(x)
    if t.dtype.is_bool:
        raise _err(DTypeError, "this function of a boolean array is not supported; cast it to a float dtype")
    return O.asarg(x, t.dtype if t.dtype.is_float else F64)


def _big(x):
    # past this |x|, x^2 + 1 == x^2 in the float type (and x^2 may overflow): log-form asymptotics take over
    return 2.0 ** 28 if _aval(x).dtype.bits == 64 else 2.0 ** 13


# ---- exp / log family (ops.py had the plain forms, which cancel near 0) ----

@implements(np.log1p)
def log1p(x):
    x = _float(x)
    u = O.add(x, 1.0)
    # log(u) plus the rounding error of u = 1 + x, divided by u (first order): accurate to ~1 ulp; the derivative
    # of the correction is O(eps), so gradients are 1/(1+x) too
    c = O.subtract(x, O.subtract(u, 1.0))
    r = O.add(O.log(u), O.true_divide(c, O.where(O.equal(u, 0.0), 1.0, u)))
    return O.where(O.logical_or(O.equal(x, np.inf), O.equal(x, 0.0)), x, r)       # inf; and -0 stays -0


@implements(np.expm1)
def expm1(x):
    x = _float(x)
    t = O.tanh(O.multiply(x, 0.5))
    # e^x - 1 = 2 tanh(x/2) / (1 - tanh(x/2)): relative accuracy near 0, where e^x - 1 cancels
    small = O.true_divide(O.multiply(t, 2.0), O.subtract(1.0, t))
    r = O.where(O.less(O.absolute(x), 1.0), small, O.subtract(O.exp(x), 1.0))
    return O.where(O.equal(x, 0.0), x, r)


# ln 2 = hi + lo with hi short enough that n * hi is exact for every integer n that matters (f64: 40 bits of hi
# times 11 of n; f32: 16 times 8), lo from 50 digits
_LN2_SPLIT = {64: (0.6931471805601177, -1.7239444525614835e-13), 32: (0.693145751953125, 1.4286068203094173e-06)}


@implements(np.exp2)
def exp2(x):
    x = _float(x)
    bits = _aval(x).dtype.bits
    hi, lo = _LN2_SPLIT[bits]
    top = 1000.0 if bits == 64 else 120.0
    # 2^x = e^(n hi) e^(n lo + r ln2), n = rint(x) (clamped: past it the result is 0 or inf anyway), r = x - n
    # exact; e^(x ln2) would carry the rounding of x ln2, |x| ulp of error. Near overflow n - 1, so that e^(n hi)
    # stays finite (r in [0.5, 1.5] takes the factor 2).
    n = O.clip(P.rint(x), -1.1 * top, 1.1 * top)
    n = O.where(O.greater(n, top), O.subtract(n, 1.0), n)
    r = O.subtract(x, n)
    return O.multiply(O.exp(O.multiply(n, hi)), O.exp(O.add(O.multiply(n, lo), O.multiply(r, _LN2))))


@implements(np.cbrt)
def cbrt(x):
    x = _float(x)
    a = O.absolute(x)
    y = O.power(a, 1.0 / 3.0)
    # one Newton step removes the error of 1/3's rounding: y - (y - a/y^2)/3
    safe = O.logical_and(O.greater(a, 0.0), O.less(a, np.inf))
    ys = O.where(safe, y, 1.0)
    y = O.where(safe, O.subtract(ys, O.multiply(O.subtract(ys, O.true_divide(a, O.multiply(ys, ys))), 1.0 / 3.0)), a)
    return _odd(x, y)


def _odd(x, r):
    """r(|x|) given the sign of x, as an odd function: -0 in, -0 out."""
    return O.where(O.equal(x, 0.0), x, O.where(O.less(x, 0.0), O.negative(r), r))


def _half_exp(a):
    # e^a / 2; past e^a's overflow (~0.7 before sinh's and cosh's own) as (e^(a/2) / 2) e^(a/2)
    h = O.exp(O.multiply(a, 0.5))
    near_overflow = 709.0 if _aval(a).dtype.bits == 64 else 88.0
    return O.where(O.less(a, near_overflow), O.multiply(O.exp(a), 0.5), O.multiply(O.multiply(h, 0.5), h))


@implements(np.sinh)
def sinh(x):
    x = _float(x)
    a = O.absolute(x)
    e = expm1(a)
    # (e^a - e^-a) / 2 = (E + E / (E + 1)) / 2, E = e^a - 1: no cancellation near 0
    small = O.multiply(O.add(e, O.true_divide(e, O.add(e, 1.0))), 0.5)
    return _odd(x, O.where(O.less(a, 20.0), small, _half_exp(a)))


@implements(np.cosh)
def cosh(x):
    x = _float(x)
    a = O.absolute(x)
    e = O.exp(a)
    small = O.multiply(O.add(e, O.true_divide(1.0, e)), 0.5)
    return O.where(O.less(a, 20.0), small, _half_exp(a))


# ---- inverse trigonometric: atan2 is the primitive ----

arctan2 = surface_function(P.atan2)      # np.arctan2 (declared on the primitive)


@implements(np.arctan)
def arctan(x):
    x = _float(x)
    return P.atan2(x, O.asarg(1.0, _aval(x).dtype))


def _cos_from_sin(x):
    # sqrt(1 - x^2) as sqrt((1 - x)(1 + x)): no cancellation near |x| = 1; NaN past it (as NumPy)
    return O.sqrt(O.multiply(O.subtract(1.0, x), O.add(1.0, x)))


@implements(np.arcsin)
def arcsin(x):
    x = _float(x)
    return P.atan2(x, _cos_from_sin(x))


@implements(np.arccos)
def arccos(x):
    x = _float(x)
    return P.atan2(_cos_from_sin(x), x)


# ---- inverse hyperbolic: log1p forms ----

@implements(np.arcsinh)
def arcsinh(x):
    x = _float(x)
    a = O.absolute(x)
    big = O.greater(a, _big(x))
    ab = O.where(big, 1.0, a)
    a2 = O.multiply(ab, ab)
    small = log1p(O.add(ab, O.true_divide(a2, O.add(1.0, O.sqrt(O.add(1.0, a2))))))
    return _odd(x, O.where(big, O.add(O.log(a), _LN2), small))


@implements(np.arccosh)
def arccosh(x):
    x = _float(x)
    big = O.greater(x, _big(x))
    t = O.subtract(O.where(big, 1.0, x), 1.0)
    small = log1p(O.add(t, O.sqrt(O.add(O.multiply(t, 2.0), O.multiply(t, t)))))
    r = O.where(big, O.add(O.log(x), _LN2), small)
    return O.where(O.less(x, 1.0), np.nan, r)                  # the domain is x >= 1


@implements(np.arctanh)
def arctanh(x):
    x = _float(x)
    # 0.5 log((1 + a) / (1 - a)) = 0.5 log1p(2a / (1 - a)) for a = |x| (1 - a is exact near 1, where the form in
    # x would need log1p next to -1): relative accuracy near 0; inf at 1, NaN past
    a = O.absolute(x)
    return _odd(x, O.multiply(log1p(O.true_divide(O.multiply(a, 2.0), O.subtract(1.0, a))), 0.5))


# ---- two-argument ----

@implements(np.hypot)
def hypot(a, b):
    dt = O.result_dtype(a, b)
    dt = dt if dt.is_float else F64
    a, b = O.absolute(O.asarg(a, dt)), O.absolute(O.asarg(b, dt))
    m, n = O.maximum(a, b), O.minimum(a, b)
    # m sqrt(1 + (n/m)^2): no overflow or underflow of the squares; m = 0 and m = inf handled apart
    ms = O.where(O.logical_and(O.greater(m, 0.0), O.less(m, np.inf)), m, 1.0)
    q = O.true_divide(n, ms)
    r = O.multiply(m, O.sqrt(O.add(1.0, O.multiply(q, q))))
    r = O.where(O.equal(m, 0.0), m, r)
    # hypot(inf, nan) = inf, as C99 and NumPy
    return O.where(O.logical_or(O.equal(a, np.inf), O.equal(b, np.inf)), np.inf, r)


@implements(np.logaddexp)
def logaddexp(a, b):
    m = O.maximum(a, b)
    r = O.add(m, log1p(O.exp(O.negative(O.absolute(O.subtract(a, b))))))
    # a == b: the difference is NaN for two equal infinities
    return O.where(O.equal(a, b), O.add(m, _LN2), r)


@implements(np.logaddexp2)
def logaddexp2(a, b):
    m = O.maximum(a, b)
    d = O.negative(O.absolute(O.subtract(a, b)))
    r = O.add(m, O.multiply(log1p(O.exp(O.multiply(d, _LN2))), 1.0 / _LN2))
    return O.where(O.equal(a, b), O.add(m, 1.0), r)


@implements(np.fmax)
def fmax(a, b):
    # NumPy: a if a >= b or b is NaN, else b; so NaN loses unless both are NaN
    return O.where(O.logical_or(O.greater_equal(a, b), O.not_equal(b, b)), a, b)


@implements(np.fmin)
def fmin(a, b):
    return O.where(O.logical_or(O.less_equal(a, b), O.not_equal(b, b)), a, b)


# ---- fmod / remainder / floor_divide on floats: fmod is the primitive (exact, like libm), the rest NumPy's
#      npy_divmod steps on top of it, so signs, zeros and the divide-by-zero results agree with NumPy ----

def _float_pair(a, b):
    dt = O.result_dtype(a, b)
    if dt.is_bool:
        raise _err(DTypeError, "this function of boolean arrays is not supported")
    return O.asarg(a, dt), O.asarg(b, dt), dt


@implements(np.fmod)
def fmod(a, b):
    a, b, dt = _float_pair(a, b)
    if dt.is_float:
        return P.fmod(a, b)
    # C's truncated remainder from the floor remainder (both 0 for b == 0, as NumPy)
    r = ops_elementwise.int_mod(a, b)
    wrong_sign = O.logical_and(O.not_equal(r, 0), O.not_equal(O.less(r, 0), O.less(a, 0)))
    return O.where(wrong_sign, O.subtract(r, b), r)


def _divmod_float(a, b):
    dt = _aval(a).dtype
    mod = P.fmod(a, b)
    fix = O.logical_and(O.not_equal(mod, 0.0), O.not_equal(O.less(b, 0.0), O.less(mod, 0.0)))
    div = O.true_divide(O.subtract(a, mod), b)
    mod = O.where(fix, O.add(mod, b), mod)
    zero = O.where(O.less(b, 0.0), O.asarg(-0.0, dt), O.asarg(0.0, dt))
    mod = O.where(O.equal(mod, 0.0), zero, mod)                                       # copysign(0, b)
    div = O.where(fix, O.subtract(div, 1.0), div)
    fl = P.floor(div)
    fl = O.where(O.greater(O.subtract(div, fl), 0.5), O.add(fl, 1.0), fl)
    q = O.true_divide(a, b)
    fl = O.where(O.equal(div, 0.0), O.multiply(q, 0.0), fl)                       # copysign(0, a / b)
    return O.where(O.equal(b, 0.0), q, fl), mod


@implements(np.remainder)
def remainder(a, b):
    a, b, dt = _float_pair(a, b)
    return _divmod_float(a, b)[1] if dt.is_float else ops_elementwise.int_mod(a, b)


@implements(np.floor_divide)
def floor_divide(a, b):
    a, b, dt = _float_pair(a, b)
    return _divmod_float(a, b)[0] if dt.is_float else ops_elementwise.int_floor_divide(a, b)


@implements(np.divmod)
def divmod_(a, b):
    a, b, dt = _float_pair(a, b)
    return _divmod_float(a, b) if dt.is_float else (ops_elementwise.int_floor_divide(a, b),
                                                   ops_elementwise.int_mod(a, b))


# ---- unit conversion: one multiplication by the constant NumPy uses ----

@implements(np.degrees, np.rad2deg)
def degrees(x):
    return O.multiply(_float(x), 180.0 / np.pi)


@implements(np.radians, np.deg2rad)
def radians(x):
    return O.multiply(_float(x), np.pi / 180.0)


# ---- rounding ----

# np.floor, np.ceil, np.trunc, np.rint: declared on the primitives
floor, ceil, trunc, rint = surface_function(P.floor), surface_function(P.ceil), surface_function(P.trunc), surface_function(P.rint)


@implements(np.round, np.around)
def round_(x, decimals=0, out=None):
    if out is not None:
        raise _err(TraceError, "numpy.round with out= is not supported by vive")
    if isinstance(decimals, Tracer):
        raise _err(TraceError, "numpy.round: decimals must be a Python int, not a traced value")
    decimals = int(decimals)
    t = _aval(x)
    if t.dtype.is_int:
        if decimals >= 0:
            return O.asarg(x)
        raise _err(TraceError, "numpy.round of integers with negative decimals is not supported by vive")
    x = _float(x)
    if decimals == 0:
        return P.rint(x)
    # NumPy's own steps (scale, round half to even, unscale), so the results agree bit for bit
    if decimals > 0:
        f = float(10.0 ** decimals)
        return O.true_divide(P.rint(O.multiply(x, f)), f)
    f = float(10.0 ** -decimals)
    return O.multiply(P.rint(O.true_divide(x, f)), f)


@implements(np.fix)
def fix(x, out=None):
    if out is not None:
        raise _err(TraceError, "numpy.fix with out= is not supported by vive")
    return trunc(x)


# ---- NaN / inf tests ----

def _test(name, on_float, int_value):
    def f(x):
        t = _aval(x)
        if t.dtype.is_float:
            return on_float(x)
        return ops_array.full_like(x, int_value, dtype=np.bool_)
    f.__name__ = name
    return f


isnan = implements(np.isnan)(_test("isnan", lambda x: O.not_equal(x, x), False))
isinf = implements(np.isinf)(_test("isinf", lambda x: O.equal(O.absolute(x), np.inf), False))
isfinite = implements(np.isfinite)(_test("isfinite", lambda x: O.less(O.absolute(x), np.inf), True))


# ---- complex parts of real arrays ----

def _real_only(name):
    def f(x):
        if _aval(x).dtype is BOOL and name != "real":
            raise _err(DTypeError, f"numpy.{name} of a boolean array is not supported")
        return O.asarg(x)
    f.__name__ = name
    return f


conjugate = implements(np.conjugate)(_real_only("conjugate"))
real = implements(np.real)(_real_only("real"))


@implements(np.imag)
def imag(x):
    return ops_array.zeros_like(x)


# ---- primitives named by their `surface`: scipy.special.<name> (when SciPy is imported; ops.ufunc_impl) and
# compiler.special.<name> (erf, ...) ----

def surface_functions(prefix):
    """{name: function} for every registered primitive whose surface lists prefix + name."""
    return {s[len(prefix):]: surface_function(p) for p in P.REGISTRY.values() for s in p.surface
            if s.startswith(prefix)}


erf = surface_function(P.erf)


@implements(surface=("scipy.special.logit",))
def _logit(x):
    x = O.asarg(x, O.result_dtype(x, 1.0))
    return O.log(O.true_divide(x, O.subtract(np.asarray(1, O._aval(x).dtype.np), x)))


# scipy.special ufuncs by name (layers above, nn.activations: erfc, add theirs at import); ops.ufunc_impl finds them
SCIPY_SPECIAL = ops_base.SCIPY_SPECIAL


def _install():
    Tracer.__divmod__ = lambda a, b: divmod_(a, b)
    Tracer.__rdivmod__ = lambda a, b: divmod_(b, a)
    Tracer.round = lambda self, decimals=0, out=None: round_(self, decimals, out)
    Tracer.conj = Tracer.conjugate = lambda self: conjugate(self)
    Tracer.real = property(real)
    Tracer.imag = property(imag)


_install()
