"""Shape primitives: broadcast_in_dim, reshape, transpose, slice, pad, concatenate, rev."""
from __future__ import annotations

import builtins

import numpy as np
from ..lazy import sympy

from .. import guards
from ..errors import ShapeError
from ..ir.types import TensorType, dims_equal, prod, as_dim, dim_str
from .base import Primitive, check_same_dtype
from .rules import linear, shape_of, same_shape, shifted, shift_axes, materialized


def _s(shape):
    return "[" + ",".join(dim_str(d) for d in shape) + "]"


def _broadcast_shape(x, shape, dims, **_):
    shape = tuple(as_dim(d) for d in shape)
    if len(dims) != x.ndim or len(set(dims)) != len(dims) or any(not 0 <= d < len(shape) for d in dims):
        raise ShapeError(f"broadcast_in_dim: dims {dims} do not map {x} into {_s(shape)}")
    if list(dims) != sorted(dims):
        raise ShapeError(f"broadcast_in_dim: dims {dims} must be increasing")
    for i, d in enumerate(dims):
        if not (x.shape[i] == 1 or dims_equal(x.shape[i], shape[d])):
            raise ShapeError(f"broadcast_in_dim: cannot broadcast {x} to {_s(shape)}")
    return TensorType(x.dtype, shape)


def _broadcast_np(x, shape, dims):
    expanded = x.reshape([x.shape[dims.index(i)] if i in dims else 1 for i in range(len(shape))])
    return np.broadcast_to(expanded, shape).copy()


def _broadcast_transpose(ct, x, shape, dims):
    # sum over the new axes and over the axes of size 1 that were stretched, then restore x's shape
    from .reduce import reduce_sum
    xs = shape_of(x)
    axes = tuple(i for i in range(len(shape)) if i not in dims or
                 (isinstance(xs[dims.index(i)], int) and xs[dims.index(i)] == 1 and not (isinstance(shape[i], int) and shape[i] == 1)))
    r = reduce_sum(ct, axes=axes) if axes else ct
    return (r if same_shape(shape_of(r), xs) else reshape(r, shape=xs),)


broadcast_in_dim = Primitive("broadcast_in_dim", numpy=_broadcast_np, shape=_broadcast_shape, kind="shape",
                             **linear(_broadcast_transpose), batch=shifted(lambda p, b: {
                                 **p, "shape": (b,) + tuple(p["shape"]),
                                 "dims": (0,) + tuple(d + 1 for d in p["dims"])}),
                             cost=0)


def _reshape_shape(x, shape, **_):
    shape = tuple(as_dim(d) for d in shape)
    if not dims_equal(prod(x.shape), prod(shape)):
        raise ShapeError(f"reshape: cannot reshape {x} ({dim_str(prod(x.shape))} elements) to {_s(shape)}")
    return TensorType(x.dtype, shape)


reshape = Primitive("reshape", numpy=lambda x, shape: x.reshape(shape), shape=_reshape_shape, kind="shape",
                    **linear(lambda ct, x, shape: (reshape(ct, shape=shape_of(x)),)),
                    batch=shifted(lambda p, b: {**p, "shape": (b,) + tuple(p["shape"])}),
                    cost=0)


def _transpose_shape(x, perm, **_):
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: {perm} is not a permutation of the axes of {x}")
    return TensorType(x.dtype, tuple(x.shape[p] for p in perm))


transpose = Primitive("transpose", numpy=lambda x, perm: np.transpose(x, perm), shape=_transpose_shape,
                      kind="shape",
                      **linear(lambda ct, x, perm: (transpose(ct, perm=tuple(np.argsort(perm).tolist())),)),
                      batch=shifted(lambda p, b: {**p, "perm": (0,) + tuple(i + 1 for i in p["perm"])}),
                      cost=0)


def _slice_len(start, stop, step):
    if isinstance(start, int) and isinstance(stop, int):
        return max(0, -(-(stop - start) // step))
    if step == 1:
        return as_dim(stop - start)
    return as_dim(sympy.ceiling(sympy.Rational(1, step) * (stop - start)))


def _slice_shape(x, start, stop, step, **_):
    if not (len(start) == len(stop) == len(step) == x.ndim):
        raise ShapeError(f"slice: start/stop/step need one entry per axis of {x}")
    if any(not isinstance(s, int) or s < 1 for s in step):
        raise ShapeError(f"slice: steps must be positive integers, got {step}")
    return TensorType(x.dtype, tuple(_slice_len(a, b, s) for a, b, s in zip(start, stop, step)))


def _slice_np(x, start, stop, step):
    return x[tuple(builtins.slice(a, b, s) for a, b, s in zip(start, stop, step))]


def _slice_transpose(ct, x, start, stop, step):
    # scatter ct back with zeros: pad before, after, and between the strided elements
    n, d = shape_of(ct), shape_of(x)
    hi = tuple(as_dim(di - a - (ni - 1) * s - 1) for di, a, ni, s in zip(d, start, n, step))
    return (pad(ct, lo=tuple(start), hi=hi, interior=tuple(s - 1 for s in step), value=0.0),)


slice = Primitive("slice", numpy=_slice_np, shape=_slice_shape, kind="shape", **linear(_slice_transpose),
                  batch=shifted(lambda p, b: {**p, "start": (0,) + tuple(p["start"]), "stop": (b,) + tuple(p["stop"]),
                                              "step": (1,) + tuple(p["step"])}),
                  cost=0)


def _pad_shape(x, lo, hi, interior=None, value=0.0, **_):
    interior = interior or (0,) * x.ndim
    if not (len(lo) == len(hi) == len(interior) == x.ndim):
        raise ShapeError(f"pad: lo/hi/interior need one entry per axis of {x}")
    out = []
    for d, a, b, i in zip(x.shape, lo, hi, interior):
        out.append(as_dim(a + b + d + i * (d - 1)) if not (isinstance(d, int) and d == 0) else a + b)
    return TensorType(x.dtype, out)


def _pad_np(x, lo, hi, interior=None, value=0.0):
    interior = interior or (0,) * x.ndim
    if any(interior):
        shape = [d + i * max(d - 1, 0) for d, i in zip(x.shape, interior)]
        y = np.full(shape, value, dtype=x.dtype)
        y[tuple(builtins.slice(None, None, i + 1) for i in interior)] = x
        x = y
    y = np.pad(x, [(max(a, 0), max(b, 0)) for a, b in zip(lo, hi)], constant_values=value)
    # negative padding crops, as in lax.pad
    return y[tuple(builtins.slice(-a if a < 0 else 0, d + b if b < 0 else d) for a, b, d in zip(lo, hi, y.shape))]


def _pad_transpose(ct, x, lo, hi, interior=None, value=0.0):
    # the elements of x sit at lo + j * (interior + 1) in the result: slice them out. Negative padding cropped
    # x, so first pad ct back with zeros where it did. The padding value is a param: no derivative.
    d = shape_of(x)
    interior = interior or (0,) * len(d)
    # NOTE: symbolic padding (the transpose of x[:3] pads by N - 3) is signed as the trace's guards decided
    neg_lo, neg_hi = [guards.lt(a, 0) for a in lo], [guards.lt(b, 0) for b in hi]
    if any(neg_lo) or any(neg_hi):
        ct = pad(ct, lo=tuple(as_dim(-a) if n else 0 for a, n in zip(lo, neg_lo)),
                 hi=tuple(as_dim(-b) if n else 0 for b, n in zip(hi, neg_hi)), interior=(0,) * len(d), value=0.0)
        lo = tuple(0 if n else a for a, n in zip(lo, neg_lo))
    stop = tuple(as_dim(a + (di - 1) * (i + 1) + 1) for a, di, i in zip(lo, d, interior))
    return (slice(ct, start=tuple(lo), stop=stop, step=tuple(i + 1 for i in interior)),)


# pad is affine in x: linear once the padding value (a constant) is taken as 0
pad = Primitive("pad", numpy=_pad_np, shape=_pad_shape, kind="shape",
                **linear(_pad_transpose, tangent_params={"value": 0.0}),
                batch=shifted(lambda p, b: {**p, "lo": (0,) + tuple(p["lo"]), "hi": (0,) + tuple(p["hi"]),
                                            "interior": (0,) + tuple(p.get("interior") or (0,) * len(p["lo"]))}))


def _concat_shape(*xs, axis, **_):
    if not xs:
        raise ShapeError("concatenate: needs at least one array")
    d = check_same_dtype("concatenate", *xs)
    nd = xs[0].ndim
    if not 0 <= axis < nd:
        raise ShapeError(f"concatenate: axis {axis} out of range for {xs[0]}")
    for t in xs[1:]:
        if t.ndim != nd or any(not dims_equal(a, b) for i, (a, b) in enumerate(zip(t.shape, xs[0].shape)) if i != axis):
            raise ShapeError(f"concatenate: shapes differ off axis {axis}: {' and '.join(str(t) for t in xs)}")
    shape = list(xs[0].shape)
    shape[axis] = as_dim(sum((t.shape[axis] for t in xs[1:]), xs[0].shape[axis]))
    return TensorType(d, shape)


def _concat_transpose(ct, *xs, axis):
    out, start, full = [], 0, shape_of(ct)
    for x in xs:
        stop = as_dim(start + shape_of(x)[axis])
        lo = tuple(start if i == axis else 0 for i in range(len(full)))
        hi = tuple(stop if i == axis else full[i] for i in range(len(full)))
        out.append(slice(ct, start=lo, stop=hi, step=(1,) * len(full)))
        start = stop
    return tuple(out)


concatenate = Primitive("concatenate", numpy=lambda *xs, axis: np.concatenate(xs, axis=axis),
                        shape=_concat_shape, kind="shape", **linear(_concat_transpose, positions="all"),
                        batch=materialized(lambda prim, xs, axis: (prim(*xs, axis=axis + 1), 0)))


def _rev_shape(x, axes, **_):
    if any(not 0 <= a < x.ndim for a in axes):
        raise ShapeError(f"rev: axes {axes} out of range for {x}")
    return x


rev = Primitive("rev", numpy=lambda x, axes: np.flip(x, axes).copy(), shape=_rev_shape, kind="shape",
                **linear(lambda ct, x, axes: (rev(ct, axes=axes),)), batch=shift_axes("axes"),
                cost=0)
