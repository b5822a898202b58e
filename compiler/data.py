"""Training utilities: seeded minibatch iteration, the digits data set split 80/20 by seed (8x8, or upsampled to
32x32 for LeNet), and evaluation in fixed-size (compiled) batches.

    x_tr, y_tr, x_te, y_te = cc.data.load_digits(seed=0, image_size=32)       # (N,1,32,32) float32, int64 labels
    for xb, yb in cc.data.minibatches((x_tr, y_tr), batch_size=32, seed=0, epoch=e):
        ...
    acc = cc.data.accuracy(cc.compile(logits_fn), params, x_te, y_te, batch_size=256)
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["minibatches", "num_batches", "load_digits", "upsample", "random_shift", "predict", "accuracy"]


def _perm(n, seed, epoch):
    # a fresh, reproducible order per (seed, epoch): epoch e of seed s never depends on earlier epochs
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def num_batches(n, batch_size, drop_last=False):
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def minibatches(data, batch_size, seed=0, epoch=0, shuffle=True, drop_last=False, rank=0, size=1):
    """One epoch (one pass over the data) in minibatches, shuffled by (seed, epoch).

    `data` is an int n (yields index arrays), one array, or a tuple/list of arrays with the same first axis
    (yields tuples of batches). `drop_last` skips a final short batch (one compiled shape for every step).
    `rank`, `size`: data parallelism; every process draws the same global batch of `batch_size` and keeps part
    `rank` of `size` consecutive parts (np.array_split: equal when size divides the batch), so the parts of one
    step, concatenated in rank order, are exactly the batch one process would see.
    >>> for xb, yb in minibatches((x, y), 32, seed=0, epoch=3): ...
    >>> for xb, yb in minibatches((x, y), 32, rank=cc.distributed.rank(), size=cc.distributed.size()): ...
    """
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"minibatches: batch_size must be >= 1, got {batch_size}")
    rank, size = int(rank), int(size)
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"minibatches: need 0 <= rank < size, got rank {rank}, size {size}")
    if size > 1:
        for part in minibatches(data, batch_size, seed, epoch, shuffle, drop_last):
            if isinstance(part, tuple):
                yield tuple(np.array_split(a, size)[rank] for a in part)
            else:
                yield np.array_split(part, size)[rank]
        return
    if isinstance(data, (int, np.integer)):
        n, arrays, kind = int(data), None, "index"
    elif isinstance(data, (tuple, list)):
        arrays = [np.asarray(a) for a in data]
        n, kind = len(arrays[0]), "tuple"
        if any(len(a) != n for a in arrays):
            raise ValueError(f"minibatches: arrays differ in length: {[len(a) for a in arrays]}")
    else:
        arrays, kind = [np.asarray(data)], "array"
        n = len(arrays[0])
    idx = _perm(n, seed, epoch) if shuffle else np.arange(n)
    stop = (n // batch_size) * batch_size if drop_last else n
    for i in range(0, stop, batch_size):
        b = idx[i:i + batch_size]
        if kind == "index":
            yield b
        elif kind == "array":
            yield arrays[0][b]
        else:
            yield tuple(a[b] for a in arrays)


# ---- the digits data set (scikit-learn ships it: no download) ----

def _interp_matrix(n_in, n_out):
    """Bilinear resampling matrix (n_out, n_in) with pixel centres aligned (align_corners=False)."""
    m = np.zeros((n_out, n_in))
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = pos - lo
    m[np.arange(n_out), lo] += 1 - w
    m[np.arange(n_out), hi] += w
    return m


def upsample(images, size):
    """Bilinear upsampling of (..., H, W) images to (..., size, size)."""
    images = np.asarray(images)
    h, w = images.shape[-2:]
    rh, rw = _interp_matrix(h, size), _interp_matrix(w, size)
    return np.einsum("ih,...hw,jw->...ij", rh, images, rw).astype(images.dtype)


def load_digits(seed=0, test_fraction=0.2, image_size=None, dtype=np.float32):
    """scikit-learn's 1,797 handwritten digits, pixels scaled to [0, 1], split by a seeded permutation.

    Returns (x_train, y_train, x_test, y_test) with int64 labels. image_size=None gives flat (N, 64) rows (for an
    MLP); image_size=8 gives (N, 1, 8, 8) and image_size=32 (N, 1, 32, 32) bilinearly upsampled (for LeNet-5).
    The test set is the first ceil(test_fraction * N) = 360 images of the permutation.
    """
    from sklearn.datasets import load_digits as _sk_load_digits
    d = _sk_load_digits()
    x = (d.images / 16.0).astype(dtype)                     # (1797, 8, 8), values 0..16
    y = d.target.astype(np.int64)
    if image_size is None:
        x = x.reshape(len(x), -1)
    else:
        x = x[:, None]
        if image_size != 8:
            x = upsample(x, int(image_size))
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = math.ceil(test_fraction * len(x))
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]


def random_shift(images, max_shift, rng, fill=0.0):
    """Translate each (..., H, W) image by its own random (dy, dx) in [-max_shift, max_shift]^2, filling the
    uncovered border with `fill`: cheap augmentation that makes a conv net robust to where a digit sits.
    `rng` is a numpy Generator or a seed."""
    x = np.asarray(images)
    m = int(max_shift)
    if m == 0:
        return x.copy()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    n, (h, w) = len(x), x.shape[-2:]
    pad = [(0, 0)] * (x.ndim - 2) + [(m, m), (m, m)]
    p = np.pad(x, pad, constant_values=fill)
    dy, dx = rng.integers(-m, m + 1, n), rng.integers(-m, m + 1, n)
    rows = (m - dy)[:, None] + np.arange(h)                 # (n, H): source row of each output row
    cols = (m - dx)[:, None] + np.arange(w)
    p = np.moveaxis(p, (-2, -1), (1, 2))                     # (n, H+2m, W+2m, ...)
    out = p[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return np.ascontiguousarray(np.moveaxis(out, (1, 2), (-2, -1)))


# ---- evaluation in fixed-size batches ----

def predict(fn, params, x, batch_size=256):
    """Concatenated fn(params, xb) over batches of x. Every call gets exactly `batch_size` rows (the last batch
    is padded by repeating rows and the padding dropped), so a compiled fn compiles once."""
    x = np.asarray(x)
    n = len(x)
    if n == 0:
        raise ValueError("predict: empty input")
    bs = min(int(batch_size), n)
    outs = []
    for i in range(0, n, bs):
        xb = x[i:i + bs]
        k = len(xb)
        if k < bs:
            xb = np.concatenate([xb, x[:bs - k]])
        outs.append(np.asarray(fn(params, xb))[:k])
    return np.concatenate(outs)


def accuracy(fn, params, x, y, batch_size=256):
    """Fraction of rows where argmax of fn(params, x) (logits or probabilities) equals the integer label."""
    logits = predict(fn, params, x, batch_size)
    return float(np.mean(np.argmax(logits, axis=-1) == np.asarray(y)))
