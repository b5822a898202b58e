"""The NumPy surface of shape manipulation (reshape, transpose, concatenate, broadcast_to, ...) and of linear
algebra (matmul, dot, tensordot, outer, inner) onto reshape / transpose / broadcast_in_dim / dot_general."""
from __future__ import annotations

import builtins

import numpy as np
from .lazy import is_sympy, sympy

from . import primitives as P
from . import guards
from .errors import TraceError, ShapeError
from .ir.types import as_dim, prod, dims_equal, broadcast_shapes
from .ops_base import _err, _aval, _axes, _no_out, asarg, result_dtype, to_dtype, ndim_of, implements
from .ops_elementwise import multiply
from .trace import Tracer

@implements(np.reshape)
def reshape(x, *shape, order="C", **kw):
    if "newshape" in kw:
        shape = (kw.pop("newshape"),)
    if "shape" in kw:
        shape = (kw.pop("shape"),)
    if order != "C":
        raise _err(TraceError, f"reshape order={order!r} is not supported by vive; only 'C'")
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    t = _aval(x)
    shape = [_as_dim_arg(d) for d in shape]
    if builtins.sum(1 for d in shape if isinstance(d, int) and d == -1) > 1:
        raise _err(ShapeError, f"reshape: can only specify one unknown dimension, got {tuple(shape)}")
    if -1 in [d for d in shape if isinstance(d, int)]:
        known = prod([d for d in shape if not (isinstance(d, int) and d == -1)])
        total = prod(t.shape)
        rest = as_dim(sympy.simplify(sympy.sympify(total) / sympy.sympify(known))) if not (
            isinstance(total, int) and isinstance(known, int)) else (total // known if known and total % known == 0 else None)
        if rest is None or (is_sympy(rest) and not rest.is_integer):
            raise _err(ShapeError, f"reshape: cannot reshape {t} into shape {tuple(shape)}")
        shape = [rest if (isinstance(d, int) and d == -1) else d for d in shape]
    shape = tuple(shape)
    if len(shape) == t.ndim and builtins.all(dims_equal(a, b) for a, b in zip(shape, t.shape)):
        return asarg(x)
    with_loc = _aval(x)
    if not dims_equal(prod(with_loc.shape), prod(shape)):
        raise _err(ShapeError, f"reshape: cannot reshape {t} into shape "
                               f"({', '.join(str(d) for d in shape)})")
    return P.reshape(asarg(x), shape=shape)


def _as_dim_arg(d):
    if isinstance(d, Tracer):
        raise _err(TraceError, "reshape with a traced size; use x.shape[...] (static or symbolic) instead")
    d = guards.unwrap(d)
    if is_sympy(d):
        return as_dim(d)
    return int(d)


@implements(np.transpose)
def transpose(x, axes=None, *more):
    if more:
        axes = (axes,) + more
    nd = ndim_of(x)
    perm = tuple(reversed(range(nd))) if axes is None else tuple(int(a) % nd for a in axes)
    if perm == tuple(range(nd)):
        return asarg(x)
    return P.transpose(asarg(x), perm=perm)


@implements(np.swapaxes)
def swapaxes(x, axis1, axis2):
    nd = ndim_of(x)
    perm = list(range(nd))
    a, b = axis1 % nd, axis2 % nd
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


@implements(np.moveaxis)
def moveaxis(x, source, destination):
    nd = ndim_of(x)
    src, dst = source % nd, destination % nd
    order = [i for i in range(nd) if i != src]
    order.insert(dst, src)
    return transpose(x, order)


@implements(np.expand_dims)
def expand_dims(x, axis):
    t = _aval(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = t.ndim + len(axes)
    axes = sorted(a % nd for a in axes)
    shape = list(t.shape)
    for a in axes:
        shape.insert(a, 1)
    return P.reshape(asarg(x), shape=tuple(shape))


@implements(np.squeeze)
def squeeze(x, axis=None):
    t = _aval(x)
    for i, d in enumerate(t.shape):
        if not isinstance(d, int) and (axis is None or i in _axes(x, axis)) and guards.eq(d, 1):
            # squeezing depends on whether the size is 1: the guard N != 1 keeps the axis, N == 1 specialises
            guards.concrete(d, "np.squeeze of a symbolic size")
    if axis is None:
        axes = [i for i, d in enumerate(t.shape) if isinstance(d, int) and d == 1]
    else:
        axes = list(_axes(x, axis))
        for a in axes:
            if not (isinstance(t.shape[a], int) and t.shape[a] == 1):
                raise _err(ShapeError, f"squeeze: cannot select an axis to squeeze out which has size not "
                                       f"equal to one ({t}, axis {a})")
    return reshape(x, tuple(d for i, d in enumerate(t.shape) if i not in axes))


@implements(np.ravel)
def ravel(x, order="C"):
    return reshape(x, -1, order=order)


@implements(np.broadcast_to)
def broadcast_to(x, shape):
    t = _aval(x)
    shape = tuple(as_dim(d) if not isinstance(d, int) else d for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if len(shape) < t.ndim:
        raise _err(ShapeError, f"broadcast_to: cannot broadcast {t} to shape {shape}")
    out = broadcast_shapes(t.shape, shape, "broadcast_to:")
    if not builtins.all(dims_equal(a, b) for a, b in zip(out, shape)):
        raise _err(ShapeError, f"broadcast_to: cannot broadcast {t} to shape {shape}")
    if t.ndim == len(shape) and builtins.all(dims_equal(a, b) for a, b in zip(t.shape, shape)):
        return asarg(x)
    dims = tuple(range(len(shape) - t.ndim, len(shape)))
    return P.broadcast_in_dim(asarg(x), shape=shape, dims=dims)


@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, dtype=None, **kw):
    _no_out(out, kw)
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    dt = to_dtype(dtype) if dtype is not None else result_dtype(*arrays)
    nd = ndim_of(arrays[0])
    return P.concatenate(*[asarg(a, dt) for a in arrays], axis=axis % nd)


@implements(np.stack)
def stack(arrays, axis=0, out=None, **kw):
    arrays = list(arrays)
    nd = ndim_of(arrays[0]) + 1
    return concatenate([expand_dims(a, axis % nd) for a in arrays], axis=axis % nd, out=out, **kw)


@implements(np.hstack)
def hstack(arrays, **kw):
    arrays = [a if ndim_of(a) else reshape(a, 1) for a in arrays]     # NumPy's atleast_1d on each
    return concatenate(arrays, axis=0 if ndim_of(arrays[0]) == 1 else 1)


@implements(np.vstack)
def vstack(arrays, **kw):
    arrays = [a if ndim_of(a) >= 2 else reshape(a, 1, -1) for a in arrays]
    return concatenate(arrays, axis=0)


def pad(x, pad_width, mode="constant", constant_values=0, **kw):
    if mode != "constant":
        raise _err(TraceError, f"np.pad mode={mode!r} is not supported by vive; only 'constant'")
    nd = ndim_of(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2))
    if not isinstance(constant_values, (int, float)):
        raise _err(TraceError, "np.pad: only a single scalar constant_values is supported")
    return P.pad(asarg(x), lo=tuple(int(a) for a in pw[:, 0]), hi=tuple(int(b) for b in pw[:, 1]),
                 interior=(0,) * nd, value=float(constant_values))


def _full_like(x, value, dtype=None, shape=None):
    t = _aval(x)
    dt = to_dtype(dtype) if dtype is not None else t.dtype
    shape = t.shape if shape is None else shape
    c = np.asarray(value, dtype=dt.np)
    if builtins.all(isinstance(d, int) for d in shape):
        return np.full(shape, value, dtype=dt.np)
    return P.broadcast_in_dim(c, shape=tuple(shape), dims=())


@implements(np.zeros_like)
def zeros_like(x, dtype=None, order="K", subok=True, shape=None):
    return _full_like(x, 0, dtype, shape)


@implements(np.ones_like)
def ones_like(x, dtype=None, order="K", subok=True, shape=None):
    return _full_like(x, 1, dtype, shape)


@implements(np.full_like)
def full_like(x, fill_value, dtype=None, order="K", subok=True, shape=None):
    if isinstance(fill_value, Tracer):
        return broadcast_to(asarg(fill_value, dtype or _aval(x).dtype), _aval(x).shape)
    return _full_like(x, fill_value, dtype, shape)




# ---- linear algebra ----

@implements(np.matmul)
def matmul(a, b, out=None, **kw):
    _no_out(out, kw)
    dt = result_dtype(a, b)
    a, b = asarg(a, dt), asarg(b, dt)
    ta, tb = _aval(a), _aval(b)
    if ta.ndim == 0 or tb.ndim == 0:
        raise _err(ShapeError, "matmul: input operand does not have enough dimensions (use * for scalars)")
    if ta.ndim == 1 and tb.ndim == 1:
        return _dot(a, b, (0,), (0,))
    if tb.ndim == 1:
        return _dot(a, b, (ta.ndim - 1,), (0,))
    if ta.ndim == 1:
        if tb.ndim == 2:
            return _dot(a, b, (0,), (0,))
        a = reshape(a, (1,) + ta.shape)
        return squeeze(matmul(a, b), -2)
    if tb.ndim == 2:        # (..., m, k) @ (k, n): one product over all leading axes, b never broadcast
        return _dot(a, b, (ta.ndim - 1,), (0,))
    batch = broadcast_shapes(ta.shape[:-2], tb.shape[:-2], "matmul: batch dims")
    a = broadcast_to(a, batch + ta.shape[-2:])
    b = broadcast_to(b, batch + tb.shape[-2:])
    nb = len(batch)
    return _dot(a, b, (nb + 1,), (nb,), tuple(range(nb)), tuple(range(nb)))


def _dot(a, b, ca, cb, ba=(), bb=()):
    ta, tb = _aval(a), _aval(b)
    for i, j in zip(ca, cb):
        if not dims_equal(ta.shape[i], tb.shape[j]):
            raise _err(ShapeError, f"matmul: inner dimensions differ: {ta} @ {tb}")
    return P.dot_general(a, b, contract=(tuple(ca), tuple(cb)), batch=(tuple(ba), tuple(bb)))


@implements(np.dot)
def dot(a, b, out=None):
    _no_out(out, {})
    ta, tb = _aval(a), _aval(b)
    if ta.ndim == 0 or tb.ndim == 0:
        return multiply(a, b)
    if ta.ndim <= 2 and tb.ndim <= 2:
        return matmul(a, b)
    dt = result_dtype(a, b)
    return _dot(asarg(a, dt), asarg(b, dt), (ta.ndim - 1,), (builtins.max(tb.ndim - 2, 0),))


@implements(np.tensordot)
def tensordot(a, b, axes=2):
    ta, tb = _aval(a), _aval(b)
    if isinstance(axes, int):
        ca = tuple(range(ta.ndim - axes, ta.ndim))
        cb = tuple(range(axes))
    else:
        ca, cb = axes
        ca = (ca,) if isinstance(ca, int) else tuple(ca)
        cb = (cb,) if isinstance(cb, int) else tuple(cb)
        ca = tuple(c % ta.ndim for c in ca)
        cb = tuple(c % tb.ndim for c in cb)
    dt = result_dtype(a, b)
    return _dot(asarg(a, dt), asarg(b, dt), ca, cb)


@implements(np.outer)
def outer(a, b, out=None):
    return multiply(reshape(a, -1, 1), reshape(b, 1, -1))


@implements(np.inner)
def inner(a, b):
    ta, tb = _aval(a), _aval(b)
    if ta.ndim == 0 or tb.ndim == 0:
        return multiply(a, b)
    return tensordot(a, b, ((ta.ndim - 1,), (tb.ndim - 1,)))

