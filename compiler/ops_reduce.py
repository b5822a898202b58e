"""The NumPy surface of reductions: sum, mean, var, std, max, min, argmax, argmin, any, all (onto reduce_sum,
reduce_max and argmax), with NumPy's accumulation dtypes, keepdims and empty-axis errors."""
from __future__ import annotations

import builtins

import numpy as np

from . import primitives as P
from . import guards
from .errors import DTypeError, ShapeError
from .ir.types import F64, I64, BOOL, prod
from .ops_base import _err, _aval, _axes, _keep, _as_scalar, _no_out, _U32_SUM, asarg, to_dtype, ndim_of
from .ops_base import implements
from .ops_elementwise import (subtract, multiply, true_divide, negative, sqrt, greater, equal, not_equal,
                              logical_not, where)
from .ops_array import reshape

@implements(np.sum)
def sum(x, axis=None, dtype=None, out=None, keepdims=False, **kw):
    _no_out(out, kw)
    t = _aval(x)
    axes = _axes(x, axis)
    if dtype is None and t.dtype.is_unsigned:
        raise _err(DTypeError, _U32_SUM)
    dt = to_dtype(dtype) if dtype is not None else (I64 if (t.dtype.is_bool or t.dtype.is_int) else t.dtype)
    y = P.reduce_sum(asarg(x, dt), axes=axes)
    return _keep(t.shape, y, axes, keepdims)


def _count(shape, axes):
    return prod([shape[a] for a in axes])



@implements(np.mean)
def mean(x, axis=None, dtype=None, out=None, keepdims=False, **kw):
    _no_out(out, kw)
    t = _aval(x)
    dt = to_dtype(dtype) if dtype is not None else (t.dtype if t.dtype.is_float else F64)
    axes = _axes(x, axis)
    s = P.reduce_sum(asarg(x, dt), axes=axes)
    n = _count(t.shape, axes)
    # an empty axis gives 0/0 = nan, as in NumPy
    y = P.mul(s, np.asarray(1.0 / n, dt.np)) if isinstance(n, int) and n else P.div(s, _as_scalar(n, dt))
    return _keep(t.shape, y, axes, keepdims)


@implements(np.var)
def var(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    _no_out(out, kw)
    m = mean(x, axis, dtype, keepdims=True)
    d = subtract(x, m)
    t = _aval(x)
    axes = _axes(x, axis)
    s = sum(multiply(d, d), axis=axes, keepdims=keepdims)
    n = _count(t.shape, axes)
    dt = _aval(s).dtype
    if isinstance(n, int):
        k = builtins.max(n - ddof, 0)          # NumPy divides by max(n - ddof, 0): nan or inf when it is 0
        return multiply(s, np.asarray(1.0 / k, dt.np)) if k else true_divide(s, np.asarray(0, dt.np))
    if ddof and guards.le(n - ddof, 0):
        return true_divide(s, np.asarray(0, dt.np))
    return true_divide(s, _as_scalar(n - ddof, dt))


@implements(np.std)
def std(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    # sqrt's derivative is infinite at 0: where the variance is exactly 0 (a constant slice, a lone element) the
    # gradient is taken as 0, the one-sided value finite differences see, instead of inf * 0 = nan
    v = var(x, axis, dtype, out, ddof, keepdims, **kw)
    zero = np.asarray(0, _aval(v).dtype.np)
    flat = equal(v, zero)
    return where(flat, zero, sqrt(where(flat, np.asarray(1, _aval(v).dtype.np), v)))


@implements(np.max, np.amax)
def max(x, axis=None, out=None, keepdims=False, _name="maximum", **kw):
    _no_out(out, kw)
    t = _aval(x)
    axes = _axes(x, axis)
    if _count(t.shape, axes) == 0:
        raise _err(ShapeError, f"{_name[:3]}: zero-size array {t} to reduction operation {_name} which has no "
                               f"identity")
    xx = asarg(x)
    if t.dtype.is_bool:
        return greater(max(asarg(x, I64), axis, keepdims=keepdims, _name=_name), 0)
    return _keep(t.shape, P.reduce_max(xx, axes=axes), axes, keepdims)


def _reversed_order(x):
    """An order-reversing bijection of x's dtype, its own inverse: min(x) = r(max(r(x))), argmin = argmax(r(x)).
    NOTE: integers use ~x = -1 - x, not -x: -x overflows at iinfo.min (the minimum of [-2**31, 0] came out 0);
    -1 - x maps [min, max] onto [max, min] exactly. Floats use -x (exact; NaN stays NaN, -0.0 <-> 0.0)."""
    t = _aval(x)
    if t.dtype.is_float:
        return negative(x)
    return P.sub(np.asarray(-1, t.dtype.np), asarg(x))


@implements(np.min, np.amin)
def min(x, axis=None, out=None, keepdims=False, **kw):
    if _aval(x).dtype.is_bool:
        return logical_not(max(logical_not(x), axis, out, keepdims, _name="minimum", **kw))
    return _reversed_order(max(_reversed_order(x), axis, out, keepdims, _name="minimum", **kw))


@implements(np.argmax)
def argmax(x, axis=None, out=None, keepdims=False, _name="argmax", **kw):
    _no_out(out, kw)
    if axis is None:
        # NumPy's argmax of the flattened array; keepdims keeps every axis as 1
        nd = ndim_of(x)
        y = argmax(reshape(x, -1), 0, _name=_name)
        return P.reshape(y, shape=(1,) * nd) if keepdims else y
    (axis,) = _axes(x, axis)
    t = _aval(x)
    if t.shape[axis] == 0:
        raise _err(ShapeError, f"{_name}: attempt to get {_name} of an empty sequence ({t}, axis {axis})")
    xx = asarg(x, I64) if t.dtype.is_bool else asarg(x)
    y = P.argmax(xx, axis=axis)
    return _keep(t.shape, y, (axis,), keepdims)


@implements(np.argmin)
def argmin(x, axis=None, out=None, keepdims=False, **kw):
    t = _aval(x)
    return argmax(_reversed_order(asarg(x, I64) if t.dtype.is_bool else x), axis, out, keepdims, _name="argmin",
                  **kw)


@implements(np.any)
def any(x, axis=None, out=None, keepdims=False, **kw):
    b = asarg(x) if _aval(x).dtype is BOOL else not_equal(x, 0)
    return greater(sum(b, axis, keepdims=keepdims), 0)


@implements(np.all)
def all(x, axis=None, out=None, keepdims=False, **kw):
    b = asarg(x) if _aval(x).dtype is BOOL else not_equal(x, 0)
    return equal(sum(logical_not(b), axis, keepdims=keepdims), 0)

