"""Sources and index ops: get (an element of a multi-result op), const, dim (a symbolic size as a value), one_hot,
take (integer gather), check_index, scatter_add, stop_gradient, optimization_barrier."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, DTypeError
from ..ir.types import TensorType, dtype as to_dtype, as_dim, I64, F32
from .base import Primitive
from .rules import zero_derivative, linear, shape_of, elementwise_batch, no_operands


def _const_shape(value, **_):
    return TensorType(to_dtype(value.dtype), value.shape)


def _get_shape(t, index, **_):
    if not t.is_tuple:
        raise ShapeError(f"get reads an element of a tuple value (a control-flow op's results), got {t}")
    if not 0 <= index < len(t.types):
        raise ShapeError(f"get: index {index} out of range for {t}")
    return t.types[index]


def _get_jvp(xs, ts, out, index):
    return None if ts[0] is None else ts[0][index]


def _get_vjp(ct, xs, out, index):
    # the tuple's cotangent: this element's, zero (None) for the others; the transform adds them up per element
    n = len(xs[0])
    return [tuple(ct if i == index else None for i in range(n))]


get = Primitive("get", numpy=lambda t, index: t[index], shape=_get_shape, kind="other", jvp=_get_jvp, vjp=_get_vjp,
                batch=lambda args, dims, /, index: (args[0][index], dims[0][index]),
                doc="element `index` of a multi-result op's tuple value")


const = Primitive("const", numpy=lambda value: value.copy(), shape=_const_shape, kind="source",
                  differentiable=False, **zero_derivative, batch=no_operands,
                  cost=0, foldable=False)


def _dim_shape(expr, dtype=I64, **_):
    return TensorType(dtype, ())


dim = Primitive("dim", numpy=lambda expr, dtype=I64: np.array(int(expr), dtype=to_dtype(dtype).np),
                shape=_dim_shape, kind="source", differentiable=False, **zero_derivative, batch=no_operands,
                cost=0, foldable=False)


def _iota_shape(n, dtype=I64, **_):
    if not to_dtype(dtype).is_int and not to_dtype(dtype).is_float:
        raise DTypeError(f"iota: dtype must be an integer or float type, got {dtype}")
    return TensorType(to_dtype(dtype), (as_dim(n),))


# 0, 1, ..., n-1 for a size n that may be symbolic: np.arange(x.shape[0]) in a trace for every N (ops build any
# start and step from it); the lowering reads the loop index, so nothing is stored
iota = Primitive("iota", numpy=lambda n, dtype=I64: np.arange(int(n), dtype=to_dtype(dtype).np),
                 shape=_iota_shape, kind="source", differentiable=False, **zero_derivative, batch=no_operands,
                 cost=0, foldable=False, doc="0, 1, ..., n-1 (n a size, maybe symbolic)")


def _one_hot_shape(labels, num_classes, dtype=F32, **_):
    if not labels.dtype.is_int:
        raise DTypeError(f"one_hot: labels must be integers, got {labels}")
    return TensorType(dtype, labels.shape + (as_dim(num_classes),))


def check_indices(idx, size, axis):
    """NumPy's IndexError for an index outside [0, size) (negative ones were wrapped by the caller: the message
    shows the index as written)."""
    idx = np.asarray(idx)
    bad = idx[(idx < 0) | (idx >= size)]
    if bad.size:
        v = int(bad.flat[0])
        raise IndexError(f"index {v - size if v < 0 else v} is out of bounds for axis {axis} with size {size}")


def _one_hot_np(labels, num_classes, dtype=F32):
    check_indices(labels, num_classes, labels.ndim)
    return (labels[..., None] == np.arange(num_classes)).astype(to_dtype(dtype).np)


one_hot = Primitive("one_hot", numpy=_one_hot_np, shape=_one_hot_shape, kind="elementwise", differentiable=False,
                    **zero_derivative, batch=elementwise_batch,
                    checked=True)


def _take_shape(x, idx, axis, **_):
    if not idx.dtype.is_int:
        raise DTypeError(f"take: indices must be integers, got {idx}")
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"take: axis {axis} out of range for {x}")
    return TensorType(x.dtype, x.shape[:axis] + idx.shape + x.shape[axis + 1:])


def _check_index_shape(idx, size, axis, **_):
    if not idx.dtype.is_int:
        raise DTypeError(f"check_index: indices must be integers, got {idx}")
    return idx


def _check_index_np(idx, size, axis):
    check_indices(idx, size, axis)
    return idx.copy()


# The identity on indices in [0, size): an index out of range is NumPy's IndexError for `axis` (ops puts it on each
# traced component of a multi-axis index x[i, j], which take then sees only linearised).
check_index = Primitive("check_index", numpy=_check_index_np, shape=_check_index_shape, kind="elementwise",
                        differentiable=False, **zero_derivative, batch=elementwise_batch,
                        checked=True)


def _take_np(x, idx, axis):
    check_indices(idx, x.shape[axis], axis)
    return np.take(x, idx, axis=axis)


# NOTE: indices are in [0, size) (ops wrap negative ones, or clip them for mode="clip"); one out of range is
# NumPy's IndexError, here and in compiled code (lower/checks.py), which never reads out of bounds either way.
def _lane_offsets(idx, n):
    """b * n for lane b, shaped to add to idx batched at 0: lane b's indices into its block of a merged (batch, n)
    axis."""
    size = shape_of(idx)[0]
    dt = np.dtype(idx.dtype)
    lead = (1,) * (len(shape_of(idx)) - 1)
    if not isinstance(size, int):
        from .shape import reshape
        off = reshape(iota(n=size, dtype=to_dtype(dt)), shape=(size,) + lead)
        return off * (dt.type(n) if isinstance(n, int) else dim(expr=n, dtype=to_dtype(dt)))
    off = np.arange(size, dtype=dt).reshape((size,) + lead)
    if isinstance(n, int):
        return off * dt.type(n)
    return off * dim(expr=n, dtype=to_dtype(dt))


def _batch_to(x, axis):
    """x batched at 0 with its batch axis moved to `axis`."""
    from .shape import transpose
    nd = len(shape_of(x))
    return x if axis == 0 else transpose(x, perm=tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, nd)))


def _take_batch(args, dims, /, axis):
    (x, idx), (dx, di) = args, dims
    if di is None:
        return take(x, idx, axis=axis + 1), 0
    if dx is None:
        return take(x, idx, axis=axis), axis           # the index's leading (batch) axis replaces x's axis
    # both batched: lane b gathers from lane b, i.e. from the merged (batch, axis) of x at b * n + idx
    from .shape import reshape
    xs = shape_of(x)
    n = xs[axis + 1]
    if isinstance(n, int):
        idx = check_index(idx, size=n, axis=axis)      # an index past n would read the next lane: refuse it as NumPy
    merged = reshape(_batch_to(x, axis), shape=tuple(xs[1:axis + 1]) + (as_dim(xs[0] * n),) + tuple(xs[axis + 2:]))
    return take(merged, idx + _lane_offsets(idx, n), axis=axis), axis


take = Primitive("take", numpy=_take_np,
                 shape=_take_shape, kind="other", **linear(
                     lambda ct, x, idx, axis: (scatter_add(ct, idx, axis=axis, size=shape_of(x)[axis]), None)),
                 batch=_take_batch,
                 fusion="inline", cost=2, checked=True)


def _scatter_shape(updates, idx, axis, size, **_):
    if not idx.dtype.is_int:
        raise DTypeError(f"scatter_add: indices must be integers, got {idx}")
    k = idx.ndim
    if not 0 <= axis <= updates.ndim - k:
        raise ShapeError(f"scatter_add: axis {axis} and indices {idx} do not fit updates {updates}")
    return TensorType(updates.dtype, updates.shape[:axis] + (as_dim(size),) + updates.shape[axis + k:])


def _scatter_np(updates, idx, axis, size):
    check_indices(idx, size, axis)
    out = np.zeros(updates.shape[:axis] + (size,) + updates.shape[axis + idx.ndim:], updates.dtype)
    np.add.at(out, (slice(None),) * axis + (idx,), updates)
    return out


# The transpose of take: out[..., idx[j], ...] += updates[..., j, ...] (np.add.at), indices checked as take's.
def _scatter_batch(args, dims, /, axis, size):
    (u, idx), (du, di) = args, dims
    if di is None:
        return scatter_add(u, idx, axis=axis + 1, size=size), 0
    from .shape import reshape
    from .rules import materialize
    b = shape_of(idx)[0]
    if du is None:
        u = materialize(u, b)
    # lane b adds into block b of a merged (batch, size) axis; the batch sits just before the index axes
    out = scatter_add(_batch_to(u, axis), idx + _lane_offsets(idx, size), axis=axis, size=as_dim(b * size))
    s = shape_of(out)
    return reshape(out, shape=tuple(s[:axis]) + (b, size) + tuple(s[axis + 1:])), axis


scatter_add = Primitive("scatter_add", numpy=_scatter_np, shape=_scatter_shape, kind="other", **linear(
    lambda ct, u, idx, axis, size: (take(ct, idx, axis=axis), None)), batch=_scatter_batch,
                        checked=True)


# The identity whose derivative is zero: the value flows, no tangent or cotangent does (JAX's stop_gradient). It
# only matters to the transforms: simplify_algebra removes it before fusion, so it costs no kernel and no copy.
stop_gradient = Primitive("stop_gradient", numpy=lambda x: x.copy(), shape=lambda x, **_: x, kind="elementwise",
                          lower=lambda k, x: x, batch=elementwise_batch, **zero_derivative,
                          cost=0)


# The identity, opaque to CSE and simplification: checkpoint's recomputed forward reads its operands through it,
# so the recomputation is not merged back into the forward pass. Lowered as the identity (fusion inlines it).
optimization_barrier = Primitive("optimization_barrier", numpy=lambda x: x.copy(), shape=lambda x, **_: x,
                                 kind="elementwise", lower=lambda k, x: x, batch=elementwise_batch,
                                 **linear(lambda ct, x: (ct,)),
                                 cost=0)
