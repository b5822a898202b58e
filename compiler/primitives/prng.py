"""threefry2x32: the Threefry-2x32 counter-based hash (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
SC 2011), 20 rounds with the rotation constants JAX uses, so the same key gives JAX's numbers (compiler/random.py).

    threefry2x32(k0, k1, x0, x1, shape=S, mode="xor"|"pair")

k0, k1 (the key words) and x0, x1 (a 64-bit counter offset, high word first) are u32 arrays that broadcast to a
batch shape B. The result holds one hash per element of B + S: the element at (b, i) hashes the 64-bit counter
x0[b]:x1[b] + flat(i) (row-major index into S, wrapping mod 2^64) under the key k0[b]:k1[b]. mode "xor" gives
u32[B + S], the two output words xor-ed (JAX's 32-bit random bits); mode "pair" gives u32[B + S + (2,)], the two
words interleaved (keys of split and fold_in, 64-bit bits for f64 uniforms).

Why one single-output primitive with the counter taken from the element's index: nodes have one result, and a
counter array (an iota) would be a buffer as big as the output that the kernel only reads; with the index as the
counter a kernel computes each element on its own (what a parallel loop or a GPU thread needs) from four scalars.
B is there for vmap over keys. There is no derivative: the results are integers.
"""
from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType, U32, broadcast_shapes, as_dim
from .base import Primitive
from .rules import zero_derivative, elementwise_batch

ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
KS_PARITY = 0x1BD11BDA
MODES = ("xor", "pair")


def _rotl(v, r):
    return (v << np.uint32(r)) | (v >> np.uint32(32 - r))


def hash_np(k0, k1, x0, x1):
    """Threefry-2x32 on uint32 arrays (broadcasting): (y0, y1). The reference every backend matches bit for bit."""
    k0, k1, x0, x1 = (np.asarray(a, np.uint32) for a in (k0, k1, x0, x1))
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(KS_PARITY))
    with np.errstate(over="ignore"):
        x0, x1 = x0 + ks[0], x1 + ks[1]
        for i in range(5):
            for r in ROTATIONS[i % 2]:
                x0 = x0 + x1
                x1 = _rotl(x1, r) ^ x0
            # key injection after every 4 rounds: words i+1 and i+2 of the schedule, plus the injection count
            x0 = x0 + ks[(i + 1) % 3]
            x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def _shape_rule(k0, k1, x0, x1, shape=(), mode="xor", **_):
    for name, t in zip(("k0", "k1", "x0", "x1"), (k0, k1, x0, x1)):
        if t.dtype is not U32:
            raise DTypeError(f"{name} must be uint32, got {t}")
    if mode not in MODES:
        raise ShapeError(f"mode must be one of {MODES}, got {mode!r}")
    batch = broadcast_shapes(broadcast_shapes(k0.shape, k1.shape, "threefry2x32"),
                             broadcast_shapes(x0.shape, x1.shape, "threefry2x32"), "threefry2x32")
    out = tuple(batch) + tuple(as_dim(d) for d in shape)
    return TensorType(U32, out + ((2,) if mode == "pair" else ()))


def counters(x0, x1, shape):
    """(hi, lo) words of the counters x0:x1 + flat index over `shape`, shaped batch + shape (uint32 arrays)."""
    x0, x1 = np.asarray(x0, np.uint32), np.asarray(x1, np.uint32)
    lead = len(np.broadcast_shapes(x0.shape, x1.shape))
    tail = (1,) * len(shape)
    base = (x0.astype(np.uint64) << np.uint64(32)) | x1.astype(np.uint64)
    idx = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.uint64).reshape(shape)
    with np.errstate(over="ignore"):
        c = base.reshape(base.shape + tail) + idx.reshape((1,) * lead + tuple(shape))
    return (c >> np.uint64(32)).astype(np.uint32), (c & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def _threefry_np(k0, k1, x0, x1, shape=(), mode="xor"):
    shape = tuple(int(d) for d in shape)
    hi, lo = counters(x0, x1, shape)
    tail = (1,) * len(shape)
    y0, y1 = hash_np(np.asarray(k0).reshape(np.shape(k0) + tail), np.asarray(k1).reshape(np.shape(k1) + tail),
                     hi, lo)
    return y0 ^ y1 if mode == "xor" else np.stack([y0, y1], axis=-1)


# vmap: the key and counter words broadcast like an elementwise op's operands, the batch leading
threefry2x32 = Primitive("threefry2x32", numpy=_threefry_np, shape=_shape_rule, kind="other",
                         differentiable=False, batch=elementwise_batch, **zero_derivative,
                         fusion="inline", cost=16)
