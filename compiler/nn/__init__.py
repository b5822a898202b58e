"""Neural-network building blocks written in plain NumPy plus a few primitives (conv2d, max_pool2d, logistic,
one_hot; dropout draws with cc.random), so each works eagerly on NumPy arrays and records primitives while tracing.

    import compiler as cc
    logits = cc.nn.dense(cc.nn.relu(cc.nn.dense(x, params["w1"], params["b1"])), params["w2"], params["b2"])
    loss = cc.nn.cross_entropy(logits, y)            # y: int labels or one-hot rows
"""
from __future__ import annotations

import numpy as np

from .. import primitives as P
from .. import pytree, random
from ..errors import ShapeError, DTypeError
from ..ir.types import dtype as to_dtype

__all__ = ["dense", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "cross_entropy", "mse", "hinge",
           "conv2d", "conv1d", "max_pool2d", "dropout", "l2", "init",
           # compositions in their own modules (activations.py, norm.py, sequence.py, pool.py):
           "gelu", "silu", "softplus", "elu", "leaky_relu", "erf", "erfc", "layer_norm", "batch_norm",
           "batch_norm_stats", "update_running_stats", "embedding", "attention", "avg_pool2d", "global_avg_pool2d"]


def _arr(x):
    """Tracers pass through; anything else becomes an ndarray (so .dtype, .shape, .astype exist)."""
    return x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)


def _is_int(x):
    return np.issubdtype(x.dtype, np.integer)


def _cast(x, dt):
    return x if x.dtype == dt else x.astype(dt)


# ---- layers and activations ----

def dense(x, w, b=None):
    """Fully connected layer: x @ w + b with w of shape (in, out). `dense(x[N,64], w[64,128], b[128])` -> [N,128]."""
    y = x @ w
    return y if b is None else y + b


def relu(x):
    """max(x, 0), NaN propagating."""
    return np.maximum(x, 0)


def sigmoid(x):
    """1 / (1 + e^-x), stable on both tails (the `logistic` primitive)."""
    x = _arr(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return P.logistic(x)


def tanh(x):
    return np.tanh(x)


def _row_max(x, axis):
    # NOTE: the shift by the max cancels out of softmax and log_softmax, so its derivative contributes nothing:
    # stop_gradient keeps the backward pass from differentiating through the max (and its tie handling) at all
    return P.stop_gradient(np.max(x, axis=axis, keepdims=True))


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`; shifted by the max, so logits of 1e4 stay finite."""
    s = x - _row_max(x, axis)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, shifted by the max for stability."""
    e = np.exp(x - _row_max(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


# ---- losses ----

def cross_entropy(logits, labels):
    """Batch mean of -log softmax(logits)[label] over the last axis.

    `labels` are integer class indices of shape logits.shape[:-1], or float targets of logits' shape (one-hot
    rows or probabilities), giving the mean over leading axes of -sum(target * log_softmax(logits)).
    >>> cross_entropy(np.zeros((4, 10), np.float32), np.array([0, 1, 2, 3]))   # log(10)
    """
    logits, labels = _arr(logits), _arr(labels)
    ls = log_softmax(logits)
    c = logits.shape[-1]
    if _is_int(labels):
        if tuple(labels.shape) != tuple(logits.shape[:-1]):
            raise ShapeError(f"cross_entropy: integer labels of shape {tuple(labels.shape)} do not fit logits of "
                             f"shape {tuple(logits.shape)}; expected {tuple(logits.shape[:-1])}")
        # a label indexes the class axis as NumPy indexing would (-log_softmax(logits)[..., label]): negative ones
        # wrap, ones out of range are an IndexError (one_hot checks them)
        labels = np.where(labels < 0, labels + c, labels)
        target = P.one_hot(labels, num_classes=c, dtype=to_dtype(ls.dtype))
    else:
        if labels.ndim != logits.ndim:
            raise ShapeError(f"cross_entropy: targets of shape {tuple(labels.shape)} do not fit logits of shape "
                             f"{tuple(logits.shape)}; pass integer labels or one-hot rows")
        target = _cast(labels, ls.dtype)
    return -np.mean(np.sum(target * ls, axis=-1))


def mse(pred, target):
    """Mean over all elements of (pred - target)^2 (no 1/2)."""
    return np.mean(np.square(pred - target))


def hinge(scores, t):
    """Batch mean of max(0, 1 - t*scores) with t in {-1, +1}. For scores of more than one axis, the per-example
    loss is the sum over the non-batch axes (one-vs-rest), then the mean over axis 0."""
    scores, t = _arr(scores), _arr(t)
    if not np.issubdtype(scores.dtype, np.floating):
        raise DTypeError(f"hinge: scores must be floats, got {scores.dtype}")
    m = np.maximum(1 - _cast(t, scores.dtype) * scores, 0)
    if m.ndim > 1:
        m = np.sum(m.reshape(m.shape[0], -1), axis=1)
    return np.mean(m)


# ---- dropout (convolution and pooling: conv.py, pool.py) ----

def dropout(x, rate, key):
    """Inverted dropout: zero each element with probability `rate` and scale the rest by 1/(1-rate), so the
    expectation is unchanged and evaluation needs no rescaling. Identity when rate is 0, zeros when it is 1.

    `key` is a cc.random key (uint32[2]: `cc.random.key(seed)`, split per layer and per step), or an integer
    seed (a Python int, or a traced integer scalar inside cc.compile), taken as cc.random.key(seed). Keys may be
    traced, so every step can pass a new one without recompiling; the same key gives the same mask (on CPU and
    GPU). The mask is cc.random.bernoulli(key, 1 - rate, x.shape), as Flax's dropout draws it.
    """
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout: rate must be in [0, 1], got {rate}")
    if rate == 0.0:
        return x
    x = _arr(x)
    if rate == 1.0:
        return x * 0
    k = _arr(key)
    if k.dtype == np.uint32 and tuple(k.shape) == (2,):
        pass
    elif _is_int(k) and k.ndim == 0:
        k = random.key(key if isinstance(key, int) else k)
    else:
        raise DTypeError(f"dropout: key must be a cc.random key (uint32[2]) or an integer seed, "
                         f"got {k.dtype}{list(k.shape)}")
    keep = random.bernoulli(k, 1.0 - rate, tuple(x.shape))
    return np.where(keep, x * (1.0 / (1.0 - rate)), 0)


def l2(params):
    """Sum of squares over all leaves of a pytree: sum_i p_i^2, with NO 1/2 (so its gradient is 2p).

    Add `0.5 * wd * l2(params)` to a loss for the same effect as `optim.sgd(weight_decay=wd)`.
    """
    leaves, _ = pytree.flatten(params)
    total = 0.0
    for i, p in enumerate(leaves):
        sq = np.sum(np.square(p))
        total = sq if i == 0 else total + sq
    return total


from . import init  # noqa: E402
from .activations import gelu, silu, softplus, elu, leaky_relu, erf, erfc  # noqa: E402
from .norm import layer_norm, batch_norm, batch_norm_stats, update_running_stats  # noqa: E402
from .sequence import embedding, attention  # noqa: E402
from .pool import avg_pool2d, global_avg_pool2d  # noqa: E402
from .conv import conv2d, conv1d, max_pool2d  # noqa: E402
