"""Reductions: reduce_sum, reduce_max, argmax (axes removed; keepdims is a reshape in the NumPy layer)."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, DTypeError
from ..ir.types import TensorType, I64
from .base import Primitive
from .rules import linear, zero_derivative, shape_of, dtype_of, shift_axes


def _reduce_shape(op):
    def rule(x, axes, **_):
        axes = tuple(axes)
        if len(set(axes)) != len(axes) or any(not 0 <= a < x.ndim for a in axes):
            raise ShapeError(f"{op}: axes {axes} out of range for {x}")
        if x.dtype.is_bool:
            raise DTypeError(f"{op}: does not take bool input {x}; cast it first")
        if x.dtype.is_unsigned:
            # the accumulators compare and add as signed (and NumPy sums uint32 into uint64, not a vive dtype)
            raise DTypeError(f"{op}: does not take uint32 input {x}; cast it to int64 first (x.astype(np.int64))")
        return TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))
    return rule


def _max_np(x, axes):
    if any(x.shape[a] == 0 for a in axes):          # an empty reduced axis has no maximum; f32[0,3] -> f32[0] is fine
        raise ShapeError(f"reduce_max: zero-size axis in {x.shape} (axes {tuple(axes)}) has no maximum")
    return np.max(x, axis=tuple(axes))


def _kept(x, axes):
    return tuple(i for i in range(len(shape_of(x))) if i not in axes)


def _sum_transpose(ct, x, axes):
    from .shape import broadcast_in_dim
    return (broadcast_in_dim(ct, shape=shape_of(x), dims=_kept(x, axes)),)


def _max_mask(x, out, axes):
    # NOTE: ties split the derivative evenly among the maxima (as JAX does): mask / count
    from .elementwise import eq, cast
    from .shape import broadcast_in_dim
    mask = cast(eq(x, broadcast_in_dim(out, shape=shape_of(x), dims=_kept(x, axes))), dtype=dtype_of(x))
    return mask, reduce_sum(mask, axes=axes)


def _max_jvp(primals, tangents, out, axes):
    mask, count = _max_mask(primals[0], out, axes)
    return reduce_sum(tangents[0] * mask, axes=axes) / count


def _max_vjp(ct, primals, out, axes):
    from .shape import broadcast_in_dim
    (x,) = primals
    mask, count = _max_mask(x, out, axes)
    return (broadcast_in_dim(ct / count, shape=shape_of(x), dims=_kept(x, axes)) * mask,)


reduce_sum = Primitive("reduce_sum", numpy=lambda x, axes: np.sum(x, axis=tuple(axes), dtype=x.dtype),
                       shape=_reduce_shape("reduce_sum"), kind="reduce", **linear(_sum_transpose),
                       batch=shift_axes("axes"),
                       reduction="sum")
reduce_max = Primitive("reduce_max", numpy=_max_np, shape=_reduce_shape("reduce_max"), kind="reduce",
                       jvp=_max_jvp, vjp=_max_vjp, batch=shift_axes("axes"),
                       reduction="max")


def _argmax_shape(x, axis, **_):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"argmax: axis {axis} out of range for {x}")
    if x.dtype.is_unsigned:
        raise DTypeError(f"argmax: does not take uint32 input {x}; cast it to int64 first (x.astype(np.int64))")
    return TensorType(I64, tuple(d for i, d in enumerate(x.shape) if i != axis))


argmax = Primitive("argmax", numpy=lambda x, axis: np.argmax(x, axis=axis), shape=_argmax_shape,
                   kind="reduce", differentiable=False, **zero_derivative, batch=shift_axes("axis"),
                   reduction="argmax")
