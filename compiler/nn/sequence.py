"""Embedding lookup and scaled dot-product attention."""
from __future__ import annotations

import math

import numpy as np

from .. import primitives as P
from ..errors import DTypeError, ShapeError

__all__ = ["embedding", "attention"]


def _arr(x):
    return x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)


def embedding(table, ids):
    """Rows of `table` (V, D) picked by integer `ids` of any shape: result ids.shape + (D,), as table[ids]
    (negative ids wrap as in NumPy; out of range is an IndexError). The gradient scatters into the table's rows."""
    table, ids = _arr(table), _arr(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise DTypeError(f"embedding: ids must be integers, got {ids.dtype}")
    if table.ndim != 2:
        raise ShapeError(f"embedding: table must be (num_embeddings, dim), got shape {tuple(table.shape)}")
    return np.take(table, ids, axis=0)


def attention(q, k, v, mask=None):
    """softmax(q k^T / sqrt(d) + mask) v over the last two axes: q (..., Lq, d), k (..., Lk, d), v (..., Lk, dv),
    leading axes broadcasting. `mask` is boolean, broadcastable to (..., Lq, Lk), False masked out.

    The softmax is shifted by the row max, and a row that is masked out entirely gives 0 (not NaN, as a -inf
    softmax would): its weights are all 0, and its gradient too.
    """
    q, k, v = _arr(q), _arr(k), _arr(v)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError(f"attention: q, k, v need at least 2 axes, got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    try:
        d = int(q.shape[-1])
    except TypeError:
        raise ShapeError(f"attention: the feature axis of q must have a known size, got {q.shape[-1]}") from None
    s = (q @ np.swapaxes(k, -1, -2)) * (1.0 / math.sqrt(d))
    if mask is None:
        e = np.exp(s - P.stop_gradient(np.max(s, axis=-1, keepdims=True)))
        return (e / np.sum(e, axis=-1, keepdims=True)) @ v
    mask = _arr(mask)
    if mask.dtype != np.bool_:
        raise DTypeError(f"attention: mask must be boolean (False = masked out), got {mask.dtype}")
    # masked scores become the dtype's lowest finite value: never the row max unless the whole row is masked, and
    # no inf - inf; the exp is multiplied by the mask, so a fully masked row sums to 0 and divides by 1
    s = np.where(mask, s, np.finfo(np.dtype(s.dtype)).min)
    e = np.where(mask, np.exp(s - P.stop_gradient(np.max(s, axis=-1, keepdims=True))), 0.0)
    total = np.sum(e, axis=-1, keepdims=True)
    return (e / np.where(total > 0, total, 1.0)) @ v
