"""dot_general (matmul with batch dims), 2-D convolution (NCHW/OIHW), max pooling (reduce_window max)."""
from __future__ import annotations

import numpy as np
import sympy

from ..errors import ShapeError
from ..ir.types import TensorType, dims_equal, as_dim, dim_str
from .base import Primitive, check_same_dtype


def _dot_shape(a, b, contract, batch, **_):
    (ca, cb), (ba, bb) = contract, batch
    d = check_same_dtype("dot_general", a, b)
    if d.is_bool:
        raise ShapeError(f"dot_general: bool operands {a}, {b}")
    if len(ca) != len(cb) or len(ba) != len(bb):
        raise ShapeError(f"dot_general: contract/batch dims mismatch {contract} {batch}")
    for i, j in list(zip(ca, cb)) + list(zip(ba, bb)):
        if not (0 <= i < a.ndim and 0 <= j < b.ndim) or not dims_equal(a.shape[i], b.shape[j]):
            raise ShapeError(f"dot_general: dimensions differ: {a} and {b} (contract {contract}, batch {batch})")
    free_a = [i for i in range(a.ndim) if i not in ca and i not in ba]
    free_b = [j for j in range(b.ndim) if j not in cb and j not in bb]
    shape = [a.shape[i] for i in ba] + [a.shape[i] for i in free_a] + [b.shape[j] for j in free_b]
    return TensorType(d, shape)


def _dot_np(a, b, contract, batch):
    (ca, cb), (ba, bb) = contract, batch
    free_a = [i for i in range(a.ndim) if i not in ca and i not in ba]
    free_b = [j for j in range(b.ndim) if j not in cb and j not in bb]
    at = np.transpose(a, list(ba) + free_a + list(ca))
    bt = np.transpose(b, list(bb) + list(cb) + free_b)
    nb = [a.shape[i] for i in ba]
    fa = [a.shape[i] for i in free_a]
    fb = [b.shape[j] for j in free_b]
    k = int(np.prod([a.shape[i] for i in ca], dtype=np.int64))
    at = at.reshape(nb + [int(np.prod(fa, dtype=np.int64)), k])
    bt = bt.reshape(nb + [k, int(np.prod(fb, dtype=np.int64))])
    return np.matmul(at, bt).reshape(nb + fa + fb)


dot_general = Primitive("dot_general", numpy=_dot_np, shape=_dot_shape, kind="linalg", linear=(0, 1))


def _out_dim(h, k, s, p):
    if isinstance(h, int):
        n = (h + 2 * p - k) // s + 1
        if n < 1:
            raise ShapeError(f"window {k} with padding {p} does not fit in size {h}")
        return n
    if s == 1:
        return as_dim(h + 2 * p - k + 1)
    return as_dim(sympy.floor((h + 2 * p - k) / sympy.Integer(s)) + 1)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _conv_shape(x, w, stride=(1, 1), padding=(0, 0), **_):
    d = check_same_dtype("conv2d", x, w)
    if x.ndim != 4 or w.ndim != 4:
        raise ShapeError(f"conv2d: expects x NCHW and w OIHW, got {x} and {w}")
    if not dims_equal(x.shape[1], w.shape[1]):
        raise ShapeError(f"conv2d: input channels differ: x {x} has {dim_str(x.shape[1])}, w {w} has {dim_str(w.shape[1])}")
    if not d.is_float:
        raise ShapeError(f"conv2d: expects float operands, got {x} and {w}")
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    kh, kw = w.shape[2], w.shape[3]
    if not (isinstance(kh, int) and isinstance(kw, int)):
        raise ShapeError(f"conv2d: kernel size must be static, got {w}")
    try:
        return TensorType(d, (x.shape[0], w.shape[0], _out_dim(x.shape[2], kh, sh, ph), _out_dim(x.shape[3], kw, sw, pw)))
    except ShapeError as e:
        raise ShapeError(f"conv2d: {e} (x {x}, w {w})") from None


def _windows(x, kh, kw, sh, sw):
    v = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    return v[:, :, ::sh, ::sw]                                  # N, C, OH, OW, KH, KW


def _conv_np(x, w, stride=(1, 1), padding=(0, 0)):
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = _windows(x, w.shape[2], w.shape[3], sh, sw)
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True)


conv2d = Primitive("conv2d", numpy=_conv_np, shape=_conv_shape, kind="linalg", linear=(0, 1))


def _pool_shape(x, size=(2, 2), stride=(2, 2), **_):
    if x.ndim != 4:
        raise ShapeError(f"max_pool2d: expects NCHW input, got {x}")
    if x.dtype.is_bool:
        raise ShapeError(f"max_pool2d: bool input {x}")
    (kh, kw), (sh, sw) = _pair(size), _pair(stride)
    try:
        return TensorType(x.dtype, (x.shape[0], x.shape[1], _out_dim(x.shape[2], kh, sh, 0), _out_dim(x.shape[3], kw, sw, 0)))
    except ShapeError as e:
        raise ShapeError(f"max_pool2d: {e} (x {x})") from None


def _pool_np(x, size=(2, 2), stride=(2, 2)):
    (kh, kw), (sh, sw) = _pair(size), _pair(stride)
    return _windows(x, kh, kw, sh, sw).max(axis=(4, 5))


max_pool2d = Primitive("max_pool2d", numpy=_pool_np, shape=_pool_shape, kind="linalg")
