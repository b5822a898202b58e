"""NumPy functions built from existing primitives: flip, roll, tile, repeat, kron, triu/tril, diag/diagonal/trace,
atleast_nd, split, pad modes, linalg.norm, cumsum, cumprod, prod.

Each is a composition (slices, constant-index gathers, broadcasts, reshapes, concatenate, where, reductions,
dot_general), so shape rules, derivatives and lowering come from those primitives; nothing here is a new primitive.
Sizes that decide the structure (a roll's split point, a gather's index array) must be Python ints: a symbolic size
there is made concrete through the guard mechanism (guards.concrete), which retraces for the example sizes.
"""
from __future__ import annotations

import builtins

import numpy as np

from . import primitives as P
from . import guards
from .errors import TraceError, DTypeError
from .ir.types import I64, F64, prod as _dim_prod
from .ops_base import implements
from .ops_base import asarg, ndim_of, result_dtype, shape_of, to_dtype, _U32_SUM, _aval, _axes, _err, _keep, _no_out
from .ops_base import _int
from .ops_elementwise import absolute, add, equal, multiply, not_equal, power, sqrt, where
from .ops_array import concatenate, moveaxis, ravel, reshape, transpose, pad as _constant_pad
from .ops_reduce import max as _max, min as _min, sum as _sum
from .ops_index import getitem
from .trace import Tracer


def _ishape(x, what):
    return tuple(_int(d, what) for d in shape_of(x))


def _norm_axis(axis, nd):
    # NumPy's normalize_axis_index: AxisError (an IndexError and a ValueError) for an axis out of range
    return np.lib.array_utils.normalize_axis_index(int(axis), nd)


def _take_const(x, idx, axis):
    """x gathered along axis at a constant int64 index array (every index in range, decided here)."""
    idx = np.asarray(idx, dtype=np.int64)
    return P.take(asarg(x), idx, axis=axis)


# ---- reversal and rotation ----

@implements(np.flip)
def flip(m, axis=None):
    nd = ndim_of(m)
    axes = tuple(range(nd)) if axis is None else tuple(
        sorted({_norm_axis(a, nd) for a in ((axis,) if np.ndim(axis) == 0 else axis)}))
    if not axes:
        return asarg(m)
    return P.rev(asarg(m), axes=axes)


@implements(np.fliplr)
def fliplr(m):
    if ndim_of(m) < 2:
        raise ValueError("Input must be >= 2-d.")
    return flip(m, 1)


@implements(np.flipud)
def flipud(m):
    if ndim_of(m) < 1:
        raise ValueError("Input must be >= 1-d.")
    return flip(m, 0)


@implements(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    # NumPy's own definition (numpy/lib/_function_base_impl.py), written with flip and transpose
    axes = tuple(axes)
    nd = ndim_of(m)
    if len(axes) != 2:
        raise ValueError("len(axes) must be 2.")
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == nd:
        raise ValueError("Axes must be different.")
    if axes[0] >= nd or axes[0] < -nd or axes[1] >= nd or axes[1] < -nd:
        raise ValueError(f"Axes={axes} out of range for array of ndim={nd}.")
    k %= 4
    if k == 0:
        return asarg(m)
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    perm = list(range(nd))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return transpose(flip(m, axes[1]), perm)
    return flip(transpose(m, perm), axes[1])


# ---- rolling, tiling, repeating ----

@implements(np.roll)
def roll(a, shift, axis=None):
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), shape_of(a))
    if isinstance(shift, Tracer):
        raise _err(TraceError, "np.roll with a traced shift is not supported by vive; the shift must be an int")
    nd = ndim_of(a)
    shifts, axes = np.broadcast_arrays(np.asarray(shift), np.asarray(axis))
    if shifts.ndim > 1:
        raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")
    total = {}
    for s, ax in zip(shifts.ravel().tolist(), axes.ravel().tolist()):
        ax = _norm_axis(ax, nd)
        total[ax] = total.get(ax, 0) + int(s)
    y = asarg(a)
    for ax, s in total.items():
        n = _int(shape_of(y)[ax], "np.roll along an axis of symbolic size")
        if n == 0 or s % n == 0:
            continue
        s %= n
        lo = (builtins.slice(None),) * ax
        y = concatenate([getitem(y, lo + (builtins.slice(n - s, None),)), getitem(y, lo + (builtins.slice(0, n - s),))],
                        axis=ax)
    return y


@implements(np.tile)
def tile(A, reps):
    reps = tuple(int(r) for r in ((reps,) if np.ndim(reps) == 0 else reps))
    if builtins.any(r < 0 for r in reps):
        raise ValueError("negative dimensions are not allowed")
    x = asarg(A)
    shape = tuple(shape_of(x))
    d = builtins.max(len(reps), len(shape))
    shape = (1,) * (d - len(shape)) + shape
    reps = (1,) * (d - len(reps)) + reps
    # one broadcast: (a0, a1, ...) -> (r0, a0, r1, a1, ...), then merge each pair
    inter = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    y = P.broadcast_in_dim(reshape(x, shape) if shape != tuple(shape_of(x)) else x, shape=inter,
                           dims=tuple(range(1, 2 * d, 2)))
    return reshape(y, tuple(r * s for r, s in zip(reps, shape)))


@implements(np.repeat)
def repeat(a, repeats, axis=None):
    if isinstance(repeats, Tracer):
        raise _err(TraceError, "np.repeat with traced repeats has a data-dependent shape; repeats must be constant")
    if axis is None:
        a, axis = ravel(a), 0
    x = asarg(a)
    nd = ndim_of(x)
    axis = _norm_axis(axis, nd)
    r = np.asarray(repeats)
    if r.dtype.kind not in "iub":
        r = r.astype(np.int64, casting="same_kind")         # NumPy's TypeError for float repeats
    shape = tuple(shape_of(x))
    if r.ndim == 0 or r.size == 1:
        k = int(r.reshape(()))
        if k < 0:
            raise ValueError("repeats may not contain negative values.")
        inter = shape[:axis + 1] + (k,) + shape[axis + 1:]
        y = P.broadcast_in_dim(x, shape=inter, dims=tuple(i for i in range(nd + 1) if i != axis + 1))
        return reshape(y, shape[:axis] + (shape[axis] * k,) + shape[axis + 1:])
    n = _int(shape[axis], "np.repeat with per-element repeats along a symbolic size")
    idx = np.repeat(np.arange(n), r)        # NumPy's own errors for a wrong length or negative counts
    return _take_const(x, idx, axis)


@implements(np.kron)
def kron(a, b):
    dt = result_dtype(a, b)
    a, b = asarg(a, dt), asarg(b, dt)
    sa, sb = tuple(shape_of(a)), tuple(shape_of(b))
    d = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (d - len(sa)) + sa, (1,) * (d - len(sb)) + sb
    # a[i] * b[j] at i * len(b) + j on every axis: interleave the axes, multiply by broadcasting, merge pairs
    ya = reshape(a, tuple(v for s in sa for v in (s, 1)))
    yb = reshape(b, tuple(v for s in sb for v in (1, s)))
    return reshape(multiply(ya, yb), tuple(p * q for p, q in zip(sa, sb)))


# ---- triangles and diagonals ----

def _tri_select(m, k, lower):
    x = asarg(m)
    s = _ishape(x, "np.triu/np.tril of a symbolic size")
    mask = np.tri(*s[-2:], k=k, dtype=bool) if lower else ~np.tri(*s[-2:], k=k - 1, dtype=bool)
    return where(mask, x, np.zeros((), _aval(x).dtype.np))


@implements(np.triu)
def triu(m, k=0):
    return _tri_select(m, int(k), lower=False)


@implements(np.tril)
def tril(m, k=0):
    return _tri_select(m, int(k), lower=True)


@implements(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    x = asarg(a)
    nd = ndim_of(x)
    if nd < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    a1, a2 = _norm_axis(axis1, nd), _norm_axis(axis2, nd)
    if a1 == a2:
        raise ValueError("axis1 and axis2 cannot be the same")
    offset = int(offset)
    x = transpose(x, [i for i in range(nd) if i not in (a1, a2)] + [a1, a2])
    s = shape_of(x)
    n1 = _int(s[-2], "np.diagonal of a symbolic size")
    n2 = _int(s[-1], "np.diagonal of a symbolic size")
    i0 = builtins.max(0, -offset)
    length = builtins.max(0, builtins.min(n1 - i0, n2 - i0 - offset))
    rows = np.arange(i0, i0 + length)
    x = reshape(x, tuple(s[:-2]) + (n1 * n2,))
    return _take_const(x, rows * n2 + rows + offset, nd - 2)


@implements(np.diag)
def diag(v, k=0):
    x = asarg(v)
    nd = ndim_of(x)
    k = int(k)
    if nd == 2:
        return diagonal(x, k)
    if nd != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = _int(shape_of(x)[0], "np.diag of a symbolic size")
    N = n + abs(k)
    zero = np.zeros((), _aval(x).dtype.np)
    if n == 0:
        return np.zeros((N, N), zero.dtype)
    # a gather of v at constant indices, then zeros off the k-th diagonal: v[i] sits at (i, i + k) (k >= 0),
    # v[j] at (j - k, j) (k < 0)
    i, j = np.indices((N, N))
    on = (j - i == k)
    return where(on, _take_const(x, np.where(on, i if k >= 0 else j, 0), 0), zero)


@implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return _sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype, out=out)


# ---- dimensions and splitting ----

def _atleast(nd, place):
    def f(*arys):
        res = []
        for a in arys:
            x = asarg(a)
            s = tuple(shape_of(x))
            res.append(x if len(s) >= nd else reshape(x, place(s)))
        return res[0] if len(res) == 1 else tuple(res)
    return f


atleast_1d = implements(np.atleast_1d)(_atleast(1, lambda s: (1,)))
atleast_2d = implements(np.atleast_2d)(_atleast(2, lambda s: (1, 1) if not s else (1,) + s))
atleast_3d = implements(np.atleast_3d)(_atleast(3, lambda s: (1, 1, 1) if not s else (1,) + s + (1,) if len(s) == 1 else s + (1,)))


@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    x = asarg(ary)
    nd = ndim_of(x)
    n = _int(shape_of(x)[axis], "np.split along an axis of symbolic size")
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        each, extra = divmod(n, sections)
        sizes = [0] + extra * [each + 1] + (sections - extra) * [each]
        bounds = np.cumsum(sizes).tolist()
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    lo = (builtins.slice(None),) * (axis % nd if nd else 0)
    return [getitem(x, lo + (builtins.slice(a, b),)) for a, b in zip(bounds[:-1], bounds[1:])]


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    if np.ndim(indices_or_sections) == 0:
        n = _int(shape_of(ary)[axis], "np.split along an axis of symbolic size")
        if n % int(indices_or_sections):
            raise ValueError("array split does not result in an equal division")
    return array_split(ary, indices_or_sections, axis)


@implements(np.hsplit)
def hsplit(ary, indices_or_sections):
    if ndim_of(ary) == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return split(ary, indices_or_sections, 1 if ndim_of(ary) > 1 else 0)


@implements(np.vsplit)
def vsplit(ary, indices_or_sections):
    if ndim_of(ary) < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, 0)


# ---- padding ----

_GATHER_MODES = ("edge", "reflect", "symmetric", "wrap")


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kw):
    if mode == "constant":
        return _constant_pad(array, pad_width, mode, **kw)
    if mode not in _GATHER_MODES:
        raise _err(TraceError, f"np.pad mode={mode!r} is not supported by vive; use 'constant', "
                               f"{', '.join(repr(m) for m in _GATHER_MODES)}")
    if kw.get("reflect_type", "even") != "even":
        raise _err(TraceError, "np.pad reflect_type='odd' is not supported by vive")
    x = asarg(array)
    s = _ishape(x, "np.pad of a symbolic size")
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (len(s), 2))
    if (pw < 0).any():
        raise ValueError("index can't contain negative values")
    for ax, (n, (lo, hi)) in enumerate(zip(s, pw.tolist())):
        if lo == hi == 0:
            continue
        # which source element each output position copies: NumPy's own pad of the positions 0..n-1
        idx = np.pad(np.arange(n), (lo, hi), mode=mode)
        x = _take_const(x, idx, ax)
    return x


# ---- norms ----

def _float(x):
    dt = _aval(x).dtype
    return asarg(x, F64) if not dt.is_float else asarg(x)


def _root(s, p=2.0):
    # s ** (1/p) with derivative 0 where s == 0 (the zero vector: 0 is a subgradient of the norm there; the plain
    # root's infinite slope times a zero tangent would be nan). The inner where keeps the unused branch finite.
    zero = equal(s, 0)
    one = np.ones((), _aval(s).dtype.np)
    safe = where(zero, one, s)
    r = sqrt(safe) if p == 2.0 else power(safe, np.asarray(1.0 / p, _aval(s).dtype.np))
    return where(zero, np.zeros((), _aval(s).dtype.np), r)


@implements(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    x = _float(x)
    nd = ndim_of(x)
    if axis is None and ord is None:
        r = _root(_sum(multiply(x, x)))
        return reshape(r, (1,) * nd) if keepdims else r
    if axis is None:
        axis = tuple(range(nd))
    elif np.ndim(axis) == 0:
        axis = (int(axis),)
    axis = tuple(_norm_axis(a, nd) for a in axis)
    if len(axis) == 1:
        a = absolute(x)
        if ord == np.inf:
            return _max(a, axis=axis, keepdims=keepdims)
        if ord == -np.inf:
            return _min(a, axis=axis, keepdims=keepdims)
        if ord == 0:
            return _sum(asarg(not_equal(x, 0), _aval(x).dtype), axis=axis, keepdims=keepdims)
        if ord == 1:
            return _sum(a, axis=axis, keepdims=keepdims)
        if ord is None or ord == 2:
            return _root(_sum(multiply(x, x), axis=axis, keepdims=keepdims))
        if isinstance(ord, str):
            raise ValueError(f"Invalid norm order '{ord}' for vectors")
        p = np.asarray(ord, _aval(x).dtype.np)
        return _root(_sum(power(a, p), axis=axis, keepdims=keepdims), float(ord))
    if len(axis) != 2:
        raise ValueError("Improper number of dimensions to norm.")
    r, c = axis
    if r == c:
        raise ValueError("Duplicate axes given.")
    if isinstance(ord, (int, float, str)) and ord in (2, -2, "nuc"):
        from .ops_linalg import matrix_norm_by_svd      # a layer of its own: the decompositions
        return matrix_norm_by_svd(x, ord, axis, keepdims)
    a = absolute(x)
    if ord is None or ord == "fro":
        out = _root(_sum(multiply(x, x), axis=axis))
    elif ord in (1, -1):
        red = _max if ord == 1 else _min
        out = red(_sum(a, axis=r), axis=c - 1 if c > r else c)
    elif ord in (np.inf, -np.inf):
        red = _max if ord == np.inf else _min
        out = red(_sum(a, axis=c), axis=r - 1 if r > c else r)
    else:
        raise ValueError("Invalid norm order for matrices.")
    return _keep(shape_of(x), out, axis, keepdims)


# ---- scans and products ----

_BLOCK = 64     # cumsum: a dot with a (B, B) triangle per block; longer axes scan the block totals recursively


def _cumsum_last(x):
    s = tuple(shape_of(x))
    n = _int(s[-1], "np.cumsum along an axis of symbolic size")
    dt = _aval(x).dtype
    if n <= _BLOCK:
        # y[..., j] = sum_{i <= j} x[..., i]: one matmul with an upper triangle of ones, exact weights
        tri = np.triu(np.ones((n, n), dt.np))
        return P.dot_general(x, tri, contract=((len(s) - 1,), (0,)), batch=((), ()))
    m = -(-n // _BLOCK)
    xp = P.pad(x, lo=(0,) * len(s), hi=(0,) * (len(s) - 1) + (m * _BLOCK - n,), interior=(0,) * len(s), value=0.0)
    blocks = _cumsum_last(reshape(xp, s[:-1] + (m, _BLOCK)))            # (..., m, B) in-block prefix sums
    totals = getitem(blocks, (Ellipsis, _BLOCK - 1))                     # (..., m)
    before = _cumsum_last(totals)
    lead = len(s) - 1
    # the sum of all earlier blocks: the scan of totals shifted right by one block
    before = P.pad(getitem(before, (Ellipsis, builtins.slice(0, m - 1))), lo=(0,) * lead + (1,),
                   hi=(0,) * (lead + 1), interior=(0,) * (lead + 1), value=0.0)
    y = add(blocks, P.broadcast_in_dim(before, shape=s[:-1] + (m, _BLOCK), dims=tuple(range(lead + 1))))
    return getitem(reshape(y, s[:-1] + (m * _BLOCK,)), (Ellipsis, builtins.slice(0, n)))


def _acc_dtype(x, dtype):
    t = _aval(x).dtype
    if dtype is not None:
        return to_dtype(dtype)
    if t.is_unsigned:
        raise _err(DTypeError, _U32_SUM)
    return I64 if (t.is_bool or t.is_int) else t


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    _no_out(out, {})
    dt = _acc_dtype(a, dtype)
    x = asarg(a, dt)
    if axis is None:
        x, axis = ravel(x), 0
    nd = ndim_of(x)
    axis = _norm_axis(axis, nd)
    if _int(shape_of(x)[axis], "np.cumsum along an axis of symbolic size") == 0:
        return x
    return moveaxis(_cumsum_last(moveaxis(x, axis, -1)), -1, axis)


def _cumprod_last(x):
    # Hillis-Steele scan: after the step with shift k every entry holds the product of its last 2k inputs; log2(n)
    # steps of one multiplication by a shifted copy (padded with ones). Products keep the gradient exact at zeros.
    s = tuple(shape_of(x))
    n = _int(s[-1], "np.cumprod along an axis of symbolic size")
    nd = len(s)
    k = 1
    while k < n:
        shifted = P.pad(getitem(x, (Ellipsis, builtins.slice(0, n - k))), lo=(0,) * (nd - 1) + (k,), hi=(0,) * nd,
                        interior=(0,) * nd, value=1.0)
        x = multiply(x, shifted)
        k *= 2
    return x


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    _no_out(out, {})
    dt = _acc_dtype(a, dtype)
    x = asarg(a, dt)
    if axis is None:
        x, axis = ravel(x), 0
    axis = _norm_axis(axis, ndim_of(x))
    return moveaxis(_cumprod_last(moveaxis(x, axis, -1)), -1, axis)


def _prod_last(x):
    # a balanced tree of multiplications (pairs of halves): log depth, and the product rule through it gives the
    # exact gradient even where x has zeros (exp(sum(log x)) would give nan there)
    n = _int(shape_of(x)[-1], "np.prod along an axis of symbolic size")
    nd = ndim_of(x)
    p = 1
    while p < n:
        p *= 2
    if p != n:
        x = P.pad(x, lo=(0,) * nd, hi=(0,) * (nd - 1) + (p - n,), interior=(0,) * nd, value=1.0)
    while p > 1:
        p //= 2
        x = multiply(getitem(x, (Ellipsis, builtins.slice(0, p))), getitem(x, (Ellipsis, builtins.slice(p, 2 * p))))
    return reshape(x, tuple(shape_of(x))[:-1])


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    _no_out(out, kw)
    dt = _acc_dtype(a, dtype)
    x = asarg(a, dt)
    s = tuple(shape_of(x))
    if axis is not None:
        axis = tuple(_norm_axis(a, len(s)) for a in ((axis,) if np.ndim(axis) == 0 else axis))   # NumPy's AxisError
    axes = _axes(x, axis)
    rest = [i for i in range(len(s)) if i not in axes]
    x = transpose(x, rest + list(axes))
    x = reshape(x, tuple(s[i] for i in rest) + (_dim_prod([s[i] for i in axes]),))
    return _keep(s, _prod_last(x), axes, keepdims)


# ---- ndarray methods (re-exported by the NumPy surface, whose method_* the tracer installs) ----


def method_prod(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return prod(self, axis, dtype, out, keepdims, **kw)


def method_cumsum(self, axis=None, dtype=None, out=None):
    return cumsum(self, axis, dtype, out)


def method_repeat(self, repeats, axis=None):
    return repeat(self, repeats, axis)


Tracer.prod, Tracer.cumsum, Tracer.repeat = method_prod, method_cumsum, method_repeat
Tracer.cumprod = lambda self, axis=None, dtype=None, out=None: cumprod(self, axis, dtype, out)
Tracer.diagonal = lambda self, offset=0, axis1=0, axis2=1: diagonal(self, offset, axis1, axis2)
Tracer.trace = lambda self, offset=0, axis1=0, axis2=1, dtype=None, out=None: trace(self, offset, axis1, axis2,
                                                                                    dtype, out)
