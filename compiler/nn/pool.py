"""Average pooling of NCHW arrays, written with slices and means (no primitive of its own)."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError

__all__ = ["avg_pool2d", "global_avg_pool2d"]


def _arr(x):
    return x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)


def _pair(v, name, lo=1):
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2 or min(v) < lo:
        raise ShapeError(f"avg_pool2d: {name} must be an int >= {lo} or a pair of them, got {v}")
    return v


def avg_pool2d(x, size=2, stride=None, padding=0):
    """Mean over size x size windows of x (N, C, H, W), stepping by `stride` (default: size); the output is
    floor((H + 2 ph - kh) / sh) + 1 by floor((W + 2 pw - kw) / sw) + 1, as torch's avg_pool2d. `padding` (int or
    pair, at most half the window) adds zeros that count in the mean (torch's count_include_pad=True).

    Non-overlapping windows (stride == size) are one reshape and mean; others a sum of kh * kw strided slices.
    """
    x = _arr(x)
    (kh, kw), (sh, sw) = _pair(size, "size"), _pair(size if stride is None else stride, "stride")
    if x.ndim != 4:
        raise ShapeError(f"avg_pool2d: x must be NCHW, got shape {tuple(x.shape)}")
    ph, pw = (0, 0) if isinstance(padding, (int, np.integer)) and padding == 0 else _pair(padding, "padding", 0)
    if ph > kh // 2 or pw > kw // 2:
        raise ShapeError(f"avg_pool2d: padding {(ph, pw)} must be at most half the window {(kh, kw)}")
    if (ph, pw) != (0, 0):
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    try:
        c, h, w = (int(s) for s in x.shape[1:])
    except TypeError:
        raise ShapeError(f"avg_pool2d: C, H and W must be known sizes, got {tuple(x.shape)}") from None
    if h < kh or w < kw:
        raise ShapeError(f"avg_pool2d: window {(kh, kw)} is larger than the input's {(h, w)}")
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    if (sh, sw) == (kh, kw):
        x = x[:, :, :ho * kh, :wo * kw]
        return np.mean(np.reshape(x, (-1, c, ho, kh, wo, kw)), axis=(3, 5))
    total = None
    for i in range(kh):
        for j in range(kw):
            part = x[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
            total = part if total is None else total + part
    return total * (1.0 / (kh * kw))


def global_avg_pool2d(x, keepdims=False):
    """Mean over H and W of x (N, C, H, W): (N, C), or (N, C, 1, 1) with keepdims (adaptive_avg_pool2d(x, 1))."""
    x = _arr(x)
    if x.ndim != 4:
        raise ShapeError(f"global_avg_pool2d: x must be NCHW, got shape {tuple(x.shape)}")
    return np.mean(x, axis=(2, 3), keepdims=keepdims)
