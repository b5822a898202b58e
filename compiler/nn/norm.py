"""Normalization layers: layer_norm over the last axis, batch_norm over all axes but 1 (channels), and the running
statistics that batch_norm uses at evaluation, updated with PyTorch's momentum convention."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError

__all__ = ["layer_norm", "batch_norm", "batch_norm_stats", "update_running_stats"]


def _arr(x):
    return x if hasattr(x, "dtype") and hasattr(x, "shape") else np.asarray(x)


def _affine(y, scale, bias, shape):
    if scale is not None:
        y = y * np.reshape(scale, shape)
    if bias is not None:
        y = y + np.reshape(bias, shape)
    return y


def layer_norm(x, scale=None, bias=None, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * scale + bias, mean and (biased) var over the last axis; scale and bias of
    shape (x.shape[-1],), or None for 1 and 0. As torch.nn.functional.layer_norm(x, x.shape[-1:], ...)."""
    x = _arr(x)
    if x.ndim < 1:
        raise ShapeError("layer_norm: x must have at least one axis")
    mu = np.mean(x, axis=-1, keepdims=True)
    d = x - mu
    var = np.mean(d * d, axis=-1, keepdims=True)
    return _affine(d / np.sqrt(var + eps), scale, bias, (-1,))


def _channel_axes(x, name):
    if x.ndim < 2:
        raise ShapeError(f"{name}: x must be (N, C, ...) with at least 2 axes, got shape {tuple(x.shape)}")
    return (0,) + tuple(range(2, x.ndim)), (1, -1) + (1,) * (x.ndim - 2)


def batch_norm_stats(x):
    """(mean, var) per channel of x (N, C, ...): over all axes but 1, var biased (divided by the count), which is
    what batch_norm normalizes with in training."""
    x = _arr(x)
    axes, shape = _channel_axes(x, "batch_norm_stats")
    mu = np.mean(x, axis=axes, keepdims=True)
    d = x - mu
    return np.reshape(mu, (-1,)), np.reshape(np.mean(d * d, axis=axes), (-1,))


def batch_norm(x, scale=None, bias=None, mean=None, var=None, eps=1e-5):
    """Normalize each channel (axis 1) of x (N, C, ...) and apply scale and bias (shape (C,), or None).

    mean/var None (training): the batch's own statistics over all axes but 1, var biased, as PyTorch's training
    mode. mean/var given (evaluation): those, e.g. the running statistics kept with update_running_stats.
    """
    x = _arr(x)
    axes, shape = _channel_axes(x, "batch_norm")
    if (mean is None) != (var is None):
        raise ValueError("batch_norm: give both mean and var (running statistics) or neither (batch statistics)")
    if mean is None:
        mu = np.mean(x, axis=axes, keepdims=True)
        d = x - mu
        v = np.mean(d * d, axis=axes, keepdims=True)
    else:
        d = x - np.reshape(mean, shape)
        v = np.reshape(var, shape)
    return _affine(d / np.sqrt(v + eps), scale, bias, shape)


def update_running_stats(running_mean, running_var, x, momentum=0.1):
    """New (running_mean, running_var) after a training batch x (N, C, ...), PyTorch's convention:

        running_mean <- (1 - momentum) running_mean + momentum * batch_mean
        running_var  <- (1 - momentum) running_var  + momentum * batch_var * n / (n - 1)     (unbiased)

    with n the count per channel (N * H * W). Pure: returns new arrays (start from zeros and ones, as PyTorch).
    NOTE: momentum weights the NEW batch (PyTorch's sense), the opposite of an exponential-average "decay".
    >>> y = batch_norm(x, s, b); rm, rv = update_running_stats(rm, rv, x)      # then batch_norm(x, s, b, rm, rv)
    """
    x = _arr(x)
    mu, var = batch_norm_stats(x)
    n = 1
    for i, s in enumerate(x.shape):
        if i != 1:
            n = n * s
    if isinstance(n, int) and n < 2:
        raise ShapeError(f"update_running_stats: the unbiased variance needs 2 or more values per channel, got {n}")
    m = float(momentum)
    unbiased = var * (n / (n - 1)) if isinstance(n, int) else var * n / (n - 1)
    return ((1.0 - m) * running_mean + m * mu.astype(_arr(running_mean).dtype),
            (1.0 - m) * running_var + m * unbiased.astype(_arr(running_var).dtype))
