"""More NumPy functions as compositions of existing primitives (found missing by the autograd test table):
rollaxis, diff, column_stack, dsplit, append, cross, select, nan_to_num, linspace of traced endpoints, and the
real-input forms of angle, real_if_close, iscomplex and isreal. Nothing here is a new primitive; shapes and
derivatives come from the slices, transposes, concatenates and wheres they are made of."""
from __future__ import annotations

import numpy as np

from . import guards
from .errors import TraceError
from .ops_base import implements
from .ops_base import asarg, ndim_of, result_dtype, shape_of, _aval, _err
from .ops_elementwise import (add, astype, equal, less, logical_or, multiply, negative, not_equal, subtract,
                              true_divide, where)
from .ops_array import broadcast_to, concatenate, expand_dims, moveaxis, ravel, reshape, stack, transpose
from .ops_index import getitem
from .ops_shape import _norm_axis, split


@implements(np.rollaxis)
def rollaxis(a, axis, start=0):
    nd = ndim_of(a)
    axis = _norm_axis(axis, nd)
    if not -nd <= start <= nd:
        raise np.exceptions.AxisError(f"'start' arg requires {-nd} <= start < {nd + 1}, but {start} was passed in")
    start = start + nd if start < 0 else start
    if axis < start:
        start -= 1
    if axis == start:
        return asarg(a)
    perm = [i for i in range(nd) if i != axis]
    perm.insert(start, axis)
    return transpose(a, perm)


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    nd = ndim_of(a)
    if nd == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = _norm_axis(axis, nd)
    parts = [a]
    if prepend is not np._NoValue:
        parts.insert(0, prepend)
    if append is not np._NoValue:
        parts.append(append)
    if len(parts) > 1:
        parts = [p if ndim_of(p) else broadcast_to(p, tuple(1 if i == axis else d for i, d in
                                                                enumerate(_aval(a).shape))) for p in parts]
        a = concatenate(parts, axis=axis)
    hi = tuple(slice(1, None) if i == axis else slice(None) for i in range(nd))
    lo = tuple(slice(None, -1) if i == axis else slice(None) for i in range(nd))
    for _ in range(n):
        a = subtract(getitem(a, hi), getitem(a, lo))
    return asarg(a)


@implements(np.column_stack)
def column_stack(tup):
    cols = [reshape(t, (-1, 1)) if ndim_of(t) < 2 else t for t in tup]
    return concatenate(cols, axis=1)


@implements(np.dsplit)
def dsplit(ary, indices_or_sections):
    if ndim_of(ary) < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(ary, indices_or_sections, 2)


@implements(np.append)
def append(arr, values, axis=None):
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], axis=0)
    return concatenate([arr, values], axis=axis)


@implements(np.cross)
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, _norm_axis(axisa, ndim_of(a)), -1)
    b = moveaxis(b, _norm_axis(axisb, ndim_of(b)), -1)
    na, nb = _aval(a).shape[-1], _aval(b).shape[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n(dimension must be 2 or 3)")

    def comp(v, n, i):
        return getitem(v, (Ellipsis, i)) if i < n else None

    def mul(x, y):
        return None if x is None or y is None else multiply(x, y)

    def sub(x, y):
        if x is None:
            return None if y is None else negative(y)
        return x if y is None else subtract(x, y)

    a0, a1, a2 = (comp(a, na, i) for i in range(3))
    b0, b1, b2 = (comp(b, nb, i) for i in range(3))
    z = sub(mul(a0, b1), mul(a1, b0))
    if na == 2 and nb == 2:
        return z                                      # NumPy returns the z component alone
    x, y = sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2))
    out = stack([x, y, z], axis=-1)
    return moveaxis(out, -1, _norm_axis(axisc, ndim_of(out)))


@implements(np.select)
def select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if not choicelist:
        raise ValueError("select with an empty condition list is not possible")
    dt = result_dtype(*choicelist, default)
    out = asarg(default, dt)
    for c, v in zip(reversed(condlist), reversed(choicelist)):   # the first true condition wins
        out = where(c, asarg(v, dt), out)
    return out


@implements(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    t = _aval(x)
    if not t.dtype.is_float:
        return asarg(x)
    info = np.finfo(t.dtype.np)
    big = info.max if posinf is None else posinf
    small = info.min if neginf is None else neginf
    c = lambda v: np.asarray(v, t.dtype.np)   # noqa: E731
    x = asarg(x)
    x = where(not_equal(x, x), c(nan), x)
    x = where(equal(x, c(np.inf)), c(big), x)
    return where(equal(x, c(-np.inf)), c(small), x)


@implements(np.linspace)
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, *, device=None):
    num = int(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    if retstep or axis != 0 or ndim_of(start) or ndim_of(stop):
        raise _err(TraceError, "np.linspace on traced values: vive supports scalar start/stop, axis=0 and no "
                               "retstep")
    dt = result_dtype(start, stop, 1.0)
    div = num - 1 if endpoint else num
    start, stop = asarg(start, dt), asarg(stop, dt)
    if num == 0:
        return multiply(start, np.zeros(0, dt.np))
    ramp = np.arange(num, dtype=dt.np)
    if div > 0:
        y = add(multiply(subtract(stop, start), ramp / div), start)
    else:
        y = add(multiply(subtract(stop, start), ramp * 0), start)
    if endpoint and num > 1:
        y = concatenate([getitem(y, slice(0, -1)), expand_dims(stop, 0)], axis=0)
    return y if dtype is None else astype(y, dtype)


@implements(np.angle)
def angle(z, deg=False):
    t = _aval(z)
    if t.dtype.is_bool or not t.dtype.is_float:
        z = asarg(z, result_dtype(z, 1.0))
    z = asarg(z)
    dt = _aval(z).dtype
    half_turn = 180.0 if deg else np.pi
    # NumPy's arctan2(0, x): pi for x < 0 and for -0.0, else 0 (NaN stays NaN)
    zero = np.asarray(0.0, dt.np)
    neg = logical_or(less(z, zero), less(true_divide(np.asarray(1.0, dt.np), z), zero))   # and -0.0
    out = where(neg, np.asarray(half_turn, dt.np), zero)
    return where(not_equal(z, z), z, out)


@implements(np.real_if_close)
def real_if_close(a, tol=100):
    return asarg(a)                                      # a real array is returned as it is


def _known_real(x, value):
    # vive's dtypes are all real, so the answer is known while tracing: a NumPy constant (usable in a Python if)
    # where the shape is concrete, a broadcast constant where it is symbolic
    shape = shape_of(x)
    if all(isinstance(guards.unwrap(d), int) for d in shape):
        return np.full(tuple(int(guards.unwrap(d)) for d in shape), value, dtype=bool)
    return broadcast_to(np.asarray(value), shape)


@implements(np.iscomplex)
def iscomplex(x):
    return _known_real(x, False)


@implements(np.isreal)
def isreal(x):
    return _known_real(x, True)


implements(np.iscomplexobj)(lambda x: False)
implements(np.isrealobj)(lambda x: True)
