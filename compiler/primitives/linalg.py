"""dot_general (matmul with batch dims), 2-D convolution (NCHW/OIHW), max pooling (reduce_window max),
and the primitives their derivatives need (transposed convolutions, pooling's derivative gather/scatter)."""
from __future__ import annotations

import numpy as np
from ..lazy import sympy

from ..errors import ShapeError
from ..ir.types import TensorType, dims_equal, as_dim, dim_str
from .base import Primitive, check_same_dtype
from .rules import bilinear, linear, shape_of, materialize, batch_size, _needs_primitive


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


def _dot_free(nd, contract, batch):
    return [i for i in range(nd) if i not in contract and i not in batch]


def _dot_lhs(ct, x, y, contract, batch):
    # x_bar = ct . y contracted over y's free dims, then permuted into x's layout (batch, free, contract)
    (xc, yc), (xb, yb) = contract, batch
    xk, yk = _dot_free(len(shape_of(x)), xc, xb), _dot_free(len(shape_of(y)), yc, yb)
    nb = len(xb)
    ans_y = tuple(range(nb + len(xk), nb + len(xk) + len(yk)))
    r = dot_general(ct, y, contract=(ans_y, tuple(yk)), batch=(tuple(range(nb)), tuple(yb)))
    src = list(xb) + xk + [xc[j] for j in np.argsort(yc)]
    return _permute(r, src)


def _dot_rhs(ct, x, y, contract, batch):
    # y_bar = x . ct contracted over x's free dims, then permuted into y's layout
    (xc, yc), (xb, yb) = contract, batch
    xk, yk = _dot_free(len(shape_of(x)), xc, xb), _dot_free(len(shape_of(y)), yc, yb)
    nb = len(xb)
    ans_x = tuple(range(nb, nb + len(xk)))
    r = dot_general(x, ct, contract=(tuple(xk), ans_x), batch=(tuple(xb), tuple(range(nb))))
    src = list(yb) + [yc[j] for j in np.argsort(xc)] + yk
    return _permute(r, src)


def _permute(r, src):
    # r's axis k holds operand axis src[k]; put every axis back where the operand has it
    from .shape import transpose
    perm = tuple(int(i) for i in np.argsort(src))
    return r if perm == tuple(range(len(perm))) else transpose(r, perm=perm)


def _dot_batch(args, dims, /, contract, batch):
    # a batched operand's batch axis becomes a batch dim of the product when both are batched, else a free dim;
    # the result lists batch dims, then a's free dims, then b's, each in operand order
    (a, b), (da, db) = args, dims
    (ca, cb), (ba, bb) = contract, batch

    def up(t):
        return tuple(i + 1 for i in t)
    if da is not None and db is not None:
        return dot_general(a, b, contract=(up(ca), up(cb)), batch=((0,) + up(ba), (0,) + up(bb))), 0
    if da is not None:
        return dot_general(a, b, contract=(up(ca), tuple(cb)), batch=(up(ba), tuple(bb))), len(ba)
    free_a = len(shape_of(a)) - len(ca) - len(ba)
    return dot_general(a, b, contract=(tuple(ca), up(cb)), batch=(tuple(ba), up(bb))), len(ba) + free_a


dot_general = Primitive("dot_general", numpy=_dot_np, shape=_dot_shape, kind="linalg",
                        **bilinear(_dot_lhs, _dot_rhs), batch=_dot_batch,
                        fusion="gemm")


# ---- batching the convolutions and pooling: the batch folds into an axis the op maps independently ----

def _fold(x, axis):
    """x batched at 0 -> its logical `axis` widened to (batch, axis) merged: (B, N, C) at axis 1 -> (N, B*C)."""
    from .shape import transpose, reshape
    s = shape_of(x)
    perm = tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, len(s)))
    if perm != tuple(range(len(s))):
        x = transpose(x, perm=perm)
    rest = s[1:]
    return reshape(x, shape=tuple(rest[:axis]) + (as_dim(s[0] * rest[axis]),) + tuple(rest[axis + 1:]))


def _split(y, axis, size):
    """The inverse of _fold for a result: its `axis` of size B*k split into (B, k); the batch is then at `axis`."""
    from .shape import reshape
    s = shape_of(y)
    k = as_dim(s[axis] / size) if not isinstance(s[axis], int) or not isinstance(size, int) else s[axis] // size
    return reshape(y, shape=tuple(s[:axis]) + (size, k) + tuple(s[axis + 1:]))


def _folding(fold_axes, both):
    """Batching rule of a two-operand op that maps the axes fold_axes[i] of operand i independently (conv2d: x's N,
    w's O). One batched operand folds into its axis; fold_axes[i] = (in_axis, out_axis) says where that axis lands
    in the result. Both batched (no grouped convolution to fold into): `both(args, **params)`, one batched
    contraction per kernel tap."""
    @_needs_primitive
    def make(prim):
        def rule(args, dims, /, **params):
            if all(d is not None for d in dims):
                return both(*args, **params), 0
            i = next(j for j, d in enumerate(dims) if d is not None)
            size = shape_of(args[i])[0]
            in_axis, out_axis = fold_axes[i]
            xs = list(args)
            xs[i] = _fold(args[i], in_axis)
            return _split(prim(*xs, **params), out_axis, size), out_axis
        return rule
    return make


# With the batch on both operands, a convolution is a sum over its kernel taps (i, j) of batched contractions
# (dot_general with the batch as a batch dim) with the input pixels the tap meets: kh * kw dot_generals, as
# many flops as the convolution itself and a graph whose size does not depend on the batch.

def _tap_windows(x, kh, kw, out_hw, stride, padding, dilation):
    """x batched (B, N, C, H, W) -> {(i, j): the (B, N, C, OH, OW) pixels kernel tap (i, j) meets}."""
    from .shape import pad, slice
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    if ph or pw:
        x = pad(x, lo=(0, 0, 0, ph, pw), hi=(0, 0, 0, ph, pw), interior=(0,) * 5, value=0.0)
    s = shape_of(x)
    oh, ow = out_hw
    return {(i, j): slice(x, start=(0, 0, 0, i * dh, j * dw),
                          stop=tuple(s[:3]) + (as_dim(i * dh + sh * (oh - 1) + 1), as_dim(j * dw + sw * (ow - 1) + 1)),
                          step=(1, 1, 1, sh, sw))
            for i in range(kh) for j in range(kw)}


def _tap(w, i, j):
    """w batched (B, O, C, KH, KW) at tap (i, j): (B, O, C)."""
    from .shape import slice, reshape
    s = shape_of(w)
    return reshape(slice(w, start=(0, 0, 0, i, j), stop=tuple(s[:3]) + (i + 1, j + 1), step=(1,) * 5),
                   shape=tuple(s[:3]))


def _conv_both(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    from .shape import transpose
    (_, _, _, h, wd), (_, _, _, kh, kw) = shape_of(x), shape_of(w)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    out_hw = (_out_dim(h, kh, sh, ph, dh), _out_dim(wd, kw, sw, pw, dw))
    acc = None
    for (i, j), win in _tap_windows(x, kh, kw, out_hw, stride, padding, dilation).items():
        # out[b, n, oh, ow, o] += sum_c win[b, n, c, oh, ow] w[b, o, c, i, j]
        t = dot_general(win, _tap(w, i, j), contract=((2,), (2,)), batch=((0,), (0,)))
        acc = t if acc is None else acc + t
    return transpose(acc, perm=(0, 1, 4, 2, 3))


def _conv_ti_both(ct, w, in_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    # each tap's contribution lands on the strided pixels it met in the padded input: pad it back there
    from .shape import transpose, pad, slice
    (b, n, _, oh, ow), (_, _, c, kh, kw) = shape_of(ct), shape_of(w)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    h, wd = in_hw
    hp, wp = as_dim(h + 2 * ph), as_dim(wd + 2 * pw)
    acc = None
    for i in range(kh):
        for j in range(kw):
            t = dot_general(ct, _tap(w, i, j), contract=((2,), (1,)), batch=((0,), (0,)))   # (B, N, OH, OW, C)
            t = transpose(t, perm=(0, 1, 4, 2, 3))
            t = pad(t, lo=(0, 0, 0, i * dh, j * dw), interior=(0, 0, 0, sh - 1, sw - 1), value=0.0,
                    hi=(0, 0, 0, as_dim(hp - i * dh - sh * (oh - 1) - 1), as_dim(wp - j * dw - sw * (ow - 1) - 1)))
            acc = t if acc is None else acc + t
    if ph or pw:
        acc = slice(acc, start=(0, 0, 0, ph, pw), stop=(b, n, c, as_dim(ph + h), as_dim(pw + wd)), step=(1,) * 5)
    return acc


def _conv_tk_both(x, ct, kernel_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    from .shape import reshape, concatenate
    kh, kw = kernel_hw
    cs = shape_of(ct)
    taps = []
    for win in _tap_windows(x, kh, kw, cs[3:], stride, padding, dilation).values():
        # dw[b, o, c, i, j] = sum_{n, oh, ow} ct[b, n, o, oh, ow] win[b, n, c, oh, ow]
        t = dot_general(ct, win, contract=((1, 3, 4), (1, 3, 4)), batch=((0,), (0,)))      # (B, O, C)
        taps.append(reshape(t, shape=tuple(shape_of(t)) + (1,)))
    out = taps[0] if len(taps) == 1 else concatenate(*taps, axis=3)
    s = shape_of(out)
    return reshape(out, shape=tuple(s[:3]) + (kh, kw))


def _out_dim(h, k, s, p, d=1):
    k = (k - 1) * d + 1                     # a dilated window spans (k - 1) * d + 1 pixels
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


def _conv_shape(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), **_):
    d = check_same_dtype("conv2d", x, w)
    if x.ndim != 4 or w.ndim != 4:
        raise ShapeError(f"conv2d: expects x NCHW and w OIHW, got {x} and {w}")
    if not dims_equal(x.shape[1], w.shape[1]):
        raise ShapeError(f"conv2d: input channels differ: x {x} has {dim_str(x.shape[1])}, w {w} has {dim_str(w.shape[1])}")
    if not d.is_float:
        raise ShapeError(f"conv2d: expects float operands, got {x} and {w}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    kh, kw = w.shape[2], w.shape[3]
    if not (isinstance(kh, int) and isinstance(kw, int)):
        raise ShapeError(f"conv2d: kernel size must be static, got {w}")
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ShapeError(f"conv2d: stride and dilation must be >= 1 and padding >= 0, got stride {stride}, "
                         f"dilation {dilation}, padding {padding}")
    try:
        return TensorType(d, (x.shape[0], w.shape[0], _out_dim(x.shape[2], kh, sh, ph, dh),
                              _out_dim(x.shape[3], kw, sw, pw, dw)))
    except ShapeError as e:
        raise ShapeError(f"conv2d: {e} (x {x}, w {w})") from None


def _windows(x, kh, kw, sh, sw, dh=1, dw=1):
    v = np.lib.stride_tricks.sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    return v[:, :, ::sh, ::sw, ::dh, ::dw]                      # N, C, OH, OW, KH, KW


def _conv_np(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = _windows(x, w.shape[2], w.shape[3], sh, sw, dh, dw)
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True)


# Derivatives of conv2d: with T(ct, x, w) = <ct, conv2d(x, w)>, conv2d_transpose_input(ct, w) = dT/dx and
# conv2d_transpose_kernel(x, ct) = dT/dw. All three are bilinear and each one's transposes are the other two,
# so derivatives of any order stay within these primitives.
conv2d = Primitive("conv2d", numpy=_conv_np, shape=_conv_shape, kind="linalg", **bilinear(
    lambda ct, x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1): conv2d_transpose_input(
        ct, w, stride=stride, padding=padding, **_dil(dilation), in_hw=tuple(shape_of(x)[2:])),
    lambda ct, x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1): conv2d_transpose_kernel(
        x, ct, stride=stride, padding=padding, **_dil(dilation), kernel_hw=tuple(shape_of(w)[2:]))),
    batch=_folding(((0, 0), (0, 1)), _conv_both),
    fusion="conv")  # x's N -> the result's N; w's O -> the result's channels


def _dil(dilation):
    # dilation stays out of the params when it is 1, so graphs without it print and hash as before
    return {} if tuple(_pair(dilation)) == (1, 1) else {"dilation": tuple(_pair(dilation))}


def _conv_ti_shape(ct, w, in_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), **_):
    d = check_same_dtype("conv2d_transpose_input", ct, w)
    if ct.ndim != 4 or w.ndim != 4 or not dims_equal(ct.shape[1], w.shape[0]):
        raise ShapeError(f"conv2d_transpose_input: expects ct NOHW and w OIHW with equal O, got {ct} and {w}")
    return TensorType(d, (ct.shape[0], w.shape[1]) + tuple(in_hw))


def _conv_ti_np(ct, w, in_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    # dx[n, c, oh*s + i*d - p, ow*s + j*d - p] += ct[n, o, oh, ow] * w[o, c, i, j]
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    (n, _, oh, ow), (_, c, kh, kw) = ct.shape, w.shape
    h, wd = in_hw
    dx = np.zeros((n, c, max(h + 2 * ph, (oh - 1) * sh + (kh - 1) * dh + 1),
                   max(wd + 2 * pw, (ow - 1) * sw + (kw - 1) * dw + 1)), ct.dtype)
    for i in range(kh):
        for j in range(kw):
            a, b = i * dh, j * dw
            dx[:, :, a:a + sh * (oh - 1) + 1:sh, b:b + sw * (ow - 1) + 1:sw] += np.einsum("nohw,oc->nchw", ct, w[:, :, i, j])
    return dx[:, :, ph:ph + h, pw:pw + wd]


conv2d_transpose_input = Primitive(
    "conv2d_transpose_input", numpy=_conv_ti_np, shape=_conv_ti_shape, kind="linalg", **bilinear(
        lambda g, ct, w, in_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1): conv2d(
            g, w, stride=stride, padding=padding, **_dil(dilation)),
        lambda g, ct, w, in_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1): conv2d_transpose_kernel(
            g, ct, stride=stride, padding=padding, **_dil(dilation), kernel_hw=tuple(shape_of(w)[2:]))),
    batch=_folding(((0, 0), (1, 1)), _conv_ti_both),
    fusion="convti")  # ct's N -> N; w's C (input channels) -> the result's C


def _conv_tk_shape(x, ct, kernel_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1), **_):
    d = check_same_dtype("conv2d_transpose_kernel", x, ct)
    if x.ndim != 4 or ct.ndim != 4 or not dims_equal(x.shape[0], ct.shape[0]):
        raise ShapeError(f"conv2d_transpose_kernel: expects x NCHW and ct NOHW with equal N, got {x} and {ct}")
    return TensorType(d, (ct.shape[1], x.shape[1]) + tuple(kernel_hw))


def _conv_tk_np(x, ct, kernel_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    # dw[o, c, i, j] = sum_{n, oh, ow} x_padded[n, c, oh*s + i*d, ow*s + j*d] ct[n, o, oh, ow]
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    kh, kw = kernel_hw
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = _windows(x, kh, kw, sh, sw, dh, dw)[:, :, :ct.shape[2], :ct.shape[3]]
    return np.einsum("nchwij,nohw->ocij", win, ct, optimize=True)


conv2d_transpose_kernel = Primitive(
    "conv2d_transpose_kernel", numpy=_conv_tk_np, shape=_conv_tk_shape, kind="linalg", **bilinear(
        lambda g, x, ct, kernel_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1): conv2d_transpose_input(
            ct, g, stride=stride, padding=padding, **_dil(dilation), in_hw=tuple(shape_of(x)[2:])),
        lambda g, x, ct, kernel_hw, stride=(1, 1), padding=(0, 0), dilation=(1, 1): conv2d(
            x, g, stride=stride, padding=padding, **_dil(dilation))),
    batch=_folding(((1, 1), (1, 0)), _conv_tk_both),
    fusion="convtk")  # x's C -> the kernel's C; ct's O -> the kernel's O


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


# NOTE: pooling ties split the derivative evenly among a window's maxima (as reduce_max does): each window
# passes ct * mask / count, mask = (x == window max). max_pool2d_jvp gathers a tangent that way, max_pool2d_vjp
# scatters a cotangent; each is linear in its second input, the other's transpose, and piecewise constant in x.
max_pool2d = Primitive("max_pool2d", numpy=_pool_np, shape=_pool_shape, kind="linalg",
                       jvp=lambda primals, tangents, out, **p: max_pool2d_jvp(primals[0], tangents[0], **p),
                       vjp=lambda ct, primals, out, **p: (max_pool2d_vjp(primals[0], ct, **p),),
                       batch=lambda args, dims, /, **p: (_split(max_pool2d(_fold(args[0], 0), **p), 0,
                                                             shape_of(args[0])[0]), 0),
                       fusion="inline", cost=4)


def _pool_weights(x, size, stride):
    (kh, kw), (sh, sw) = _pair(size), _pair(stride)
    win = _windows(x, kh, kw, sh, sw)
    mask = win == win.max(axis=(4, 5), keepdims=True)
    return mask / mask.sum(axis=(4, 5), keepdims=True), (kh, kw), (sh, sw)


def _pool_jvp_np(x, t, size=(2, 2), stride=(2, 2)):
    wts, (kh, kw), (sh, sw) = _pool_weights(x, size, stride)
    return (_windows(t, kh, kw, sh, sw) * wts).sum(axis=(4, 5)).astype(x.dtype)


def _pool_vjp_np(x, ct, size=(2, 2), stride=(2, 2)):
    wts, (kh, kw), (sh, sw) = _pool_weights(x, size, stride)
    oh, ow = ct.shape[2], ct.shape[3]
    dx = np.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            dx[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += ct * wts[..., i, j]
    return dx


def _pool_jvp_shape(x, t, size=(2, 2), stride=(2, 2), **_):
    check_same_dtype("max_pool2d_jvp", x, t)
    if t.ndim != x.ndim or not all(dims_equal(a, b) for a, b in zip(t.shape, x.shape)):
        raise ShapeError(f"max_pool2d_jvp: tangent {t} does not fit input {x}")
    return _pool_shape(x, size=size, stride=stride)


def _pool_vjp_shape(x, ct, size=(2, 2), stride=(2, 2), **_):
    check_same_dtype("max_pool2d_vjp", x, ct)
    pooled = _pool_shape(x, size=size, stride=stride)
    if ct.ndim != 4 or not all(dims_equal(a, b) for a, b in zip(ct.shape, pooled.shape)):
        raise ShapeError(f"max_pool2d_vjp: cotangent {ct} does not fit the pooled shape {pooled}")
    return x


@_needs_primitive
def _pool_pair_batch(prim):
    # both operands index the same windows of the same images: broadcast the unbatched one, fold both into N
    def rule(args, dims, /, **params):
        size = batch_size(args, dims)
        xs = [_fold(x if d is not None else materialize(x, size), 0) for x, d in zip(args, dims)]
        return _split(prim(*xs, **params), 0, size), 0
    return rule


max_pool2d_jvp = Primitive("max_pool2d_jvp", numpy=_pool_jvp_np, shape=_pool_jvp_shape, kind="linalg",
                           **linear(lambda ct, x, t, **p: (None, max_pool2d_vjp(x, ct, **p)), (1,)),
                           batch=_pool_pair_batch,
                           fusion="inline")
max_pool2d_vjp = Primitive("max_pool2d_vjp", numpy=_pool_vjp_np, shape=_pool_vjp_shape, kind="linalg",
                           **linear(lambda ct, x, t, **p: (None, max_pool2d_jvp(x, ct, **p)), (1,)),
                           batch=_pool_pair_batch,
                           fusion="inline")
