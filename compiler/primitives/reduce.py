"""Reductions: reduce_sum, reduce_max, argmax (axes removed; keepdims is a reshape in the NumPy layer)."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, DTypeError
from ..ir.types import TensorType, I64
from .base import Primitive


def _reduce_shape(op):
    def rule(x, axes, **_):
        axes = tuple(axes)
        if len(set(axes)) != len(axes) or any(not 0 <= a < x.ndim for a in axes):
            raise ShapeError(f"{op}: axes {axes} out of range for {x}")
        if x.dtype.is_bool:
            raise DTypeError(f"{op}: does not take bool input {x}; cast it first")
        return TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))
    return rule


def _max_np(x, axes):
    if x.size == 0:
        raise ShapeError("reduce_max: zero-size array has no maximum")
    return np.max(x, axis=tuple(axes))


reduce_sum = Primitive("reduce_sum", numpy=lambda x, axes: np.sum(x, axis=tuple(axes), dtype=x.dtype),
                       shape=_reduce_shape("reduce_sum"), kind="reduce", linear=(0,))
reduce_max = Primitive("reduce_max", numpy=_max_np, shape=_reduce_shape("reduce_max"), kind="reduce")


def _argmax_shape(x, axis, **_):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"argmax: axis {axis} out of range for {x}")
    return TensorType(I64, tuple(d for i, d in enumerate(x.shape) if i != axis))


argmax = Primitive("argmax", numpy=lambda x, axis: np.argmax(x, axis=axis), shape=_argmax_shape,
                   kind="reduce", differentiable=False)
