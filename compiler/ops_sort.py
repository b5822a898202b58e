"""np.sort and np.argsort by ranks: each element's rank is the number of elements that sort before it.

All pairs are compared in one reduction kernel (n^2 work along the axis, no data-dependent control flow, the same code
on CPU and GPU); output position r is the position whose rank is r (a second reduction), and the values are gathered
there. The order is total: NaN after every number (as NumPy) and ties broken by the original position, so argsort is
NumPy's kind='stable' order (its default quicksort may order ties differently) and sort's values are NumPy's. The
derivative of sort goes back through the gather: each output's cotangent to the input it was taken from.

Why not a sorting network: a bitonic network is n log^2 n work, but the fuser today recomputes across its
log^2 n gather stages (a 16-element sort took 35 s to compile); ranks compile in a fraction of a second and run a
1000-element axis in a few milliseconds. For very long axes (1e5 and up) the n^2 comparisons dominate.
"""
from __future__ import annotations

import numpy as np

from . import primitives as P
from .errors import TraceError
from .ir.types import I64
from .ops_base import implements
from .ops_base import asarg, ndim_of, shape_of, _aval, _err
from .ops_elementwise import (add, astype, equal, greater_equal, less, logical_and, logical_not, logical_or, multiply,
                              not_equal, where)
from .ops_array import expand_dims, moveaxis, ravel, reshape, zeros_like
from .ops_reduce import sum as _sum
from .ops_shape import _int, _norm_axis
from .trace import Tracer


def _before(va, ia, vb, ib, n, is_float):
    # a sorts before b: (class, value, position), class 0 a number, 1 NaN, 2 padding (position >= n)
    ca = add(astype(not_equal(va, va), I64), multiply(astype(greater_equal(ia, n), I64), 2)) \
        if is_float else multiply(astype(greater_equal(ia, n), I64), 2)
    cb = add(astype(not_equal(vb, vb), I64), multiply(astype(greater_equal(ib, n), I64), 2)) \
        if is_float else multiply(astype(greater_equal(ib, n), I64), 2)
    by_value = logical_or(less(va, vb), logical_and(logical_not(less(vb, va)), less(ia, ib)))
    return logical_or(less(ca, cb), logical_and(equal(ca, cb), by_value))


def _sort_rank(x, n, t):
    # rank_i = #{j : x_j sorts before x_i}; output r is the position i with rank_i == r, and the values are gathered
    # at those positions (exact for every float, -0.0 included; the derivative scatters back through the gather)
    s = tuple(_int(d, "np.sort of a symbolic size") for d in shape_of(x))
    nd = len(s)
    v = astype(x, I64) if t.is_bool else asarg(x)
    pos = np.arange(n, dtype=np.int64)
    vi, vj = expand_dims(v, -1), expand_dims(v, -2)
    rank = _sum(_before(vj, pos, vi, pos[:, None], n, t.is_float), axis=-1)
    hit = equal(expand_dims(rank, -1), pos)                     # (..., i, r)
    idx = _sum(where(hit, pos[:, None], np.int64(0)), axis=nd - 1)
    rows = (np.arange(int(np.prod(s[:-1], dtype=np.int64)), dtype=np.int64) * n).reshape(s[:-1] + (1,))
    return P.take(reshape(x, -1), add(idx, rows), axis=0), idx


def _sort_last(x):
    """(sorted values, their positions) along the last axis of x."""
    n = _int(shape_of(x)[-1], "np.sort along an axis of symbolic size")
    return _sort_rank(x, n, _aval(x).dtype)


def _along(a, axis, what):
    if axis is None:
        a, axis = ravel(a), 0
    x = asarg(a)
    if ndim_of(x) == 0:
        raise np.exceptions.AxisError(axis, 0)
    axis = _norm_axis(axis, ndim_of(x))
    if _int(shape_of(x)[axis], f"np.{what} along an axis of symbolic size") <= 1:
        return x, axis, None
    v, i = _sort_last(moveaxis(x, axis, -1))
    return x, axis, (moveaxis(v, -1, axis), moveaxis(i, -1, axis))


def _check_args(kind, order, what):
    if order is not None:
        raise _err(TraceError, f"np.{what} with order= (structured arrays) is not supported by vive")
    if kind not in (None, "quicksort", "mergesort", "heapsort", "stable"):
        raise ValueError(f"{what} kind must be one of 'quick', 'heap', or 'stable' (got {kind!r})")


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    _check_args(kind, order, "sort")
    x, axis, r = _along(a, axis, "sort")
    return x if r is None else r[0]


@implements(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    _check_args(kind, order, "argsort")
    x, axis, r = _along(a, axis, "argsort")
    if r is None:
        return zeros_like(x, dtype=np.int64)
    return r[1]


def _check_kth(a, kth, axis, what):
    x = asarg(a)
    n = _int(shape_of(x)[_norm_axis(axis, ndim_of(x))] if axis is not None else int(np.prod(
        [_int(d, f"np.{what} of a symbolic size") for d in shape_of(x)])), f"np.{what} along an axis of symbolic size")
    for k in np.atleast_1d(np.asarray(kth)):
        if np.asarray(k).dtype.kind not in "iu":
            raise TypeError("Partition index must be integer")
        if not -n <= int(k) < n:
            raise ValueError(f"kth(={int(k)}) out of bounds ({n})")


@implements(np.partition)
def partition(a, kth, axis=-1, kind="introselect", order=None):
    """np.partition as a full sort: the sorted order meets partition's contract (the k-th value in place, none
    larger before it, none smaller after), and NumPy's own introselect leaves arrays of up to 16 elements sorted
    too, so the values match NumPy's there; on longer axes NumPy's order away from kth is its own (unspecified)."""
    _check_args(None, order, "partition")
    _check_kth(a, kth, axis, "partition")
    return sort(a, axis)


@implements(np.argpartition)
def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    """np.argpartition as np.argsort (stable): see partition."""
    _check_args(None, order, "argpartition")
    _check_kth(a, kth, axis, "argpartition")
    return argsort(a, axis)


Tracer.argsort = lambda self, axis=-1, kind=None, order=None, *, stable=None: argsort(self, axis, kind, order)
