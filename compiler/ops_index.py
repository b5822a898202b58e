"""The NumPy surface of indexing: basic indexing (ints, slices, None, ...) onto slice / reshape / rev, integer-array
indexing onto take (bounds checked as NumPy does), np.take and np.take_along_axis."""
from __future__ import annotations

import builtins

import numpy as np
from .lazy import is_sympy

from . import primitives as P
from . import guards
from .errors import TraceError, DTypeError, IndexOutOfBounds
from .guards import SymDim
from .ir.types import TensorType, I64, BOOL, as_dim, prod, dims_equal
from .ops_base import _err, _aval, _as_scalar, _int, _no_out, asarg, shape_of, ndim_of, implements
from .ops_elementwise import add, subtract, multiply, less, minimum, maximum, where, logical_and
from .ops_array import reshape, ravel, transpose
from .ops_reduce import sum, any
from .trace import Tracer

def getitem(x, idx):
    t = _aval(x)
    if not isinstance(idx, tuple):
        idx = (idx,)
    if builtins.any(isinstance(i, (Tracer, np.ndarray, list)) and not _is_bool_index(i) for i in idx):
        return _advanced_getitem(x, idx)
    if builtins.any(_is_bool_index(i) for i in idx):
        raise _err(TraceError, "boolean mask indexing has a data-dependent shape; use np.where(mask, x, 0)")
    n_real = builtins.sum(1 for i in idx if i is not None and i is not Ellipsis)
    if n_real > t.ndim:
        raise _err(IndexOutOfBounds, f"too many indices for array: array is {t.ndim}-dimensional, but {n_real} were indexed")
    if Ellipsis in [i for i in idx if not isinstance(i, (np.ndarray,))]:
        k = [j for j, i in enumerate(idx) if i is Ellipsis][0]
        idx = idx[:k] + (builtins.slice(None),) * (t.ndim - n_real) + idx[k + 1:]
    else:
        idx = idx + (builtins.slice(None),) * (t.ndim - n_real)
    start, stop, step, out_shape, axis = [], [], [], [], 0
    flipped = []            # output axes sliced with a negative step: the positive slice, then reversed
    for i in idx:
        if i is None:
            out_shape.append(1)
            continue
        d = t.shape[axis]
        if isinstance(i, SymDim):
            i = i.expr
        if (isinstance(i, (int, np.integer)) or is_sympy(i)) and not isinstance(i, (bool, np.bool_)):
            i = as_dim(i)
            # NumPy's bounds check; with symbolic sizes decided for the example sizes and kept as a guard
            if not (guards.le(-d, i) and guards.lt(i, d)):
                raise _err(IndexOutOfBounds, f"index {guards.value(i)} is out of bounds for axis {axis} with size "
                                             f"{guards.value(d)}")
            if guards.lt(i, 0):
                i = as_dim(d + i)
            start.append(i), stop.append(as_dim(i + 1)), step.append(1)
        elif isinstance(i, builtins.slice):
            if isinstance(i.step, (int, np.integer)) and i.step < 0:
                a, b, s = negative_step_slice(i, d)
                flipped.append(len(out_shape))
            else:
                a, b, s = _slice_bounds(i, d)
            start.append(a), stop.append(b), step.append(s)
            out_shape.append(P.slice.shape(TensorType(t.dtype, (d,)), start=(a,), stop=(b,), step=(s,)).shape[0])
        else:
            raise _err(TraceError, f"unsupported index {i!r} of type {type(i).__name__}")
        axis += 1
    y = asarg(x)
    if not builtins.all(isinstance(a, int) and a == 0 and s == 1 and dims_equal(b, d)
                        for a, b, s, d in zip(start, stop, step, t.shape)):
        y = P.slice(y, start=tuple(start), stop=tuple(stop), step=tuple(step))
    if len(out_shape) != t.ndim or not builtins.all(dims_equal(a, b) for a, b in zip(out_shape, _aval(y).shape)):
        y = P.reshape(y, shape=tuple(out_shape))
    if flipped:
        y = P.rev(y, axes=tuple(flipped))
    return y


def _is_bool_index(i):
    if isinstance(i, Tracer):
        return i.aval.dtype is BOOL
    if isinstance(i, (np.ndarray, list)):
        return np.asarray(i).dtype == np.bool_
    return False


def negative_step_slice(s, d):
    """A slice with a negative step as (start, stop, step) of the positive slice over the same elements: the
    caller reverses the axis after slicing."""
    if s.start is None and s.stop is None and int(s.step) == -1:
        return 0, d, 1                  # x[::-1]: the whole axis reversed, for a symbolic size too
    d = guards.concrete(guards.unwrap(d), "a slice with a negative step of a symbolic size")
    start = s.start if s.start is None else guards.concrete(guards.unwrap(s.start), "a slice bound")
    stop = s.stop if s.stop is None else guards.concrete(guards.unwrap(s.stop), "a slice bound")
    a, b, step = builtins.slice(start, stop, int(s.step)).indices(d)
    n = len(range(a, b, step))
    if n == 0:
        return 0, 0, 1
    last = a + (n - 1) * step
    return last, a + 1, -step


def _slice_bounds(s, d):
    if isinstance(s.step, Tracer) or isinstance(s.start, Tracer) or isinstance(s.stop, Tracer):
        raise _err(TraceError, "slice bounds must be Python ints, not traced values")
    step = 1 if s.step is None else int(s.step)
    if step == 0:
        raise ValueError("slice step cannot be zero")
    if isinstance(d, int) and not (isinstance(s.start, SymDim) or is_sympy(s.start)) and not (
            isinstance(s.stop, SymDim) or is_sympy(s.stop)):
        a, b, _ = s.indices(d)
        return a, builtins.max(a, b), step
    # slice.indices for symbolic sizes: each clamp decided for the example sizes and kept as a guard
    a = _clamp(0 if s.start is None else s.start, d)
    b = d if s.stop is None else _clamp(s.stop, d)
    return a, (a if guards.lt(b, a) else b), step


def _clamp(i, d):
    i = guards.unwrap(i)
    i = as_dim(i if is_sympy(i) else int(i))
    if guards.lt(i, 0):
        i = as_dim(d + i)
        return 0 if guards.lt(i, 0) else i
    return d if guards.gt(i, d) else i


def _advanced_getitem(x, idx):
    t = _aval(x)
    # basic indexing first on the non-array entries, keeping the array-indexed axes whole
    if Ellipsis in [i for i in idx if not isinstance(i, (np.ndarray, Tracer, list))] or None in [
            i for i in idx if not isinstance(i, (np.ndarray, Tracer, list))]:
        raise _err(TraceError, "integer-array indexing mixed with None or ... is not supported by vive")
    # an integer beside integer arrays is a 0-d index array: NumPy broadcasts it with the others
    idx = tuple(np.asarray(i, np.int64) if isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))
                else i for i in idx)
    is_arr = [isinstance(i, (Tracer, np.ndarray, list)) for i in idx]
    pos = [k for k, a in enumerate(is_arr) if a]
    if pos != list(range(pos[0], pos[-1] + 1)):
        # array indices apart (x[i, :, j]): NumPy puts the index dimensions first, as indexing with those axes
        # moved to the front does
        if len(idx) > t.ndim:
            raise _err(IndexOutOfBounds, f"too many indices for array: array is {t.ndim}-dimensional, but "
                                         f"{len(idx)} were indexed")
        rest = [k for k in range(t.ndim) if k not in pos]
        return _advanced_getitem(transpose(x, pos + rest), tuple(idx[k] for k in pos + rest if k < len(idx)))
    basic = tuple(builtins.slice(None) if a else i for i, a in zip(idx, is_arr))
    y = getitem(x, basic) if basic else asarg(x)
    ty = _aval(y)
    p0, k = pos[0], len(pos)
    dims = ty.shape[p0:p0 + k]
    ints = [asarg(i) for i in (idx[q] for q in pos)]
    for i in ints:
        if not _aval(i).dtype.is_int:
            raise _err(TraceError, f"array index must be integers, got {_aval(i)}")
    ints = [i if _aval(i).dtype is I64 else asarg(i, I64) for i in ints]
    for q, (i, d) in enumerate(zip(ints, dims)):
        _check_const_index(i, d, p0 + q)
        _check_empty_axis(i, d, p0 + q, ty.shape)
    # negative indices wrap as in NumPy
    ints = [where(less(i, 0), add(i, _as_scalar(d, I64)), i) for i, d in zip(ints, dims)]
    if k > 1:
        # each traced component is checked against its own axis: the linear index below could be in range
        # with a component out of its range (x[0, 5] of a 4x3 x is x[1, 2] linearised)
        ints = [P.check_index(i, size=d, axis=p0 + q) if isinstance(i, Tracer) else i
                for q, (i, d) in enumerate(zip(ints, dims))]
    lin = ints[0]
    for i, d in zip(ints[1:], dims[1:]):
        lin = add(multiply(lin, _as_scalar(d, I64)), i)
    if k > 1:
        y = reshape(y, ty.shape[:p0] + (prod(dims),) + ty.shape[p0 + k:])
    if not isinstance(lin, Tracer) and not isinstance(y, Tracer):
        return np.take(y, lin, axis=p0)
    return P.take(asarg(y), asarg(lin), axis=p0)


def _check_const_index(i, d, axis):
    # constant indices into a static size are checked as NumPy does; traced ones by the compiled code (IndexError
    # from a status flag, lower/checks.py) or by the reference implementation of take
    if isinstance(i, np.ndarray) and isinstance(d, int) and i.size:
        bad = i[(i < -d) | (i >= d)]
        if bad.size:
            raise _err(IndexOutOfBounds, f"index {int(bad.flat[0])} is out of bounds for axis {axis} with size {d}")
    elif isinstance(i, np.ndarray) and i.size:
        # a symbolic size: the extreme indices decided for the example size and kept as guards
        hi, lo = int(i.max()), int(i.min())
        if not (guards.lt(hi, d) and guards.le(-d, lo)):
            raise _err(IndexOutOfBounds, f"index {hi if guards.ge(hi, d) else lo} is out of bounds for axis {axis} "
                                         f"with size {guards.value(d)}")


def _check_empty_axis(i, d, axis, shape):
    # every index into an empty axis is out of range: NumPy raises whatever the values. The compiled check runs
    # per gathered element (and reports the index as NumPy does), so it cannot when there are none: when another
    # axis of x (of `shape`) is empty too, raise here
    if not (isinstance(d, int) and d == 0):
        return
    n = _aval(i).shape if isinstance(i, Tracer) else np.shape(i)
    if builtins.all(isinstance(k, int) and k > 0 for k in n) and \
            builtins.any(isinstance(k, int) and k == 0 for j, k in enumerate(shape) if j != axis):
        raise _err(IndexOutOfBounds, f"index out of bounds for axis {axis} with size 0 (every index is: the axis "
                                     f"is empty)")


def _int_indices(indices, fn):
    # NumPy refuses float indices (it casts only 'safe'); a silent cast would truncate them
    dt = _aval(indices).dtype
    if dt.is_float:
        raise _err(DTypeError, f"numpy.{fn}: indices must be integers, got {dt} indices")
    return indices


@implements(np.take)
def take(x, indices, axis=None, out=None, mode=None):
    _no_out(out, {})
    if axis is None:
        x, axis = ravel(x), 0
    axis %= ndim_of(x)
    d = shape_of(x)[axis]
    idx = asarg(_int_indices(indices, "take"), I64)
    _check_empty_axis(idx, d, axis, shape_of(x))
    if mode in (None, "raise"):
        _check_const_index(idx, d, axis)
        idx = where(less(idx, 0), add(idx, _as_scalar(d, I64)), idx)      # negative indices wrap as in NumPy
    elif mode == "clip":
        idx = minimum(maximum(idx, 0), subtract(_as_scalar(d, I64), 1))
    else:
        raise _err(TraceError, f"numpy.take mode={mode!r} is not supported by vive; use 'raise' or 'clip'")
    return P.take(asarg(x), idx, axis=axis)


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis):
    t = _aval(arr)
    ti = _aval(indices)
    if t.ndim != 2 or axis not in (1, -1) or ti.ndim != 2 or not (isinstance(ti.shape[1], int) and ti.shape[1] == 1):
        raise _err(TraceError, "take_along_axis is supported for 2-D arrays along axis 1 with one index per row")
    c = t.shape[1]
    _check_empty_axis(indices, c, 1, (0,))         # (one_hot over 0 classes has no element to check in)
    idx = reshape(asarg(_int_indices(indices, "take_along_axis"), I64), -1)
    idx = where(less(idx, 0), add(idx, _as_scalar(c, I64)), idx)      # negative indices wrap as in NumPy
    hit = P.one_hot(idx, num_classes=c, dtype=BOOL)
    if t.dtype is BOOL:
        return any(logical_and(arr, hit), axis=1, keepdims=True)
    # select, not multiply by the one-hot: 0 * inf would be nan
    return sum(where(hit, arr, np.zeros((), t.dtype.np)), axis=1, dtype=t.dtype, keepdims=True)


def negative_step_slice(s, d):
    """A slice with a negative step as (start, stop, step) of the positive slice over the same elements: the
    caller reverses the axis after slicing."""
    if s.start is None and s.stop is None and int(s.step) == -1:
        return 0, d, 1                  # x[::-1]: the whole axis reversed, for a symbolic size too
    d = _int(d, "a slice with a negative step of a symbolic size")
    start = s.start if s.start is None else _int(s.start, "a slice bound")
    stop = s.stop if s.stop is None else _int(s.stop, "a slice bound")
    a, b, step = builtins.slice(start, stop, int(s.step)).indices(d)
    n = len(range(a, b, step))
    if n == 0:
        return 0, 0, 1
    last = a + (n - 1) * step
    return last, a + 1, -step
