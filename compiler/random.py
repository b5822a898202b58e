"""cc.random: counter-based random numbers with JAX's names, keys and numbers.

A key is a uint32[2] array (JAX's raw PRNGKey form). Nothing has state: every draw is a pure function of its key,
computed by the Threefry-2x32 hash (primitives/prng.py) of the element's index, so the same key gives the same
numbers eagerly, compiled for the CPU, and on the GPU; keys may be traced arguments of a compiled function (a
training step takes a fresh key each call without recompiling). Derive new keys with `split` or `fold_in`; never
reuse a key for two draws that should be independent.

    key = cc.random.key(0)
    key, sub = cc.random.split(key)
    w = cc.random.normal(sub, (784, 128)) * 0.05

The bits, keys and uniforms equal jax.random's with `jax_threefry_partitionable` (JAX's default since 0.5);
`normal` matches to a few ulps (it is JAX's sqrt(2) * erfinv(u) with the same polynomial), `randint`,
`bernoulli`, `permutation` and `choice` follow JAX's algorithms.
"""
from __future__ import annotations

import math
import operator

import numpy as np
from .lazy import is_sympy

from . import primitives as P
from .primitives.elementwise import ERFINV_CENTRAL as _ERFINV_CENTRAL, ERFINV_TAIL as _ERFINV_TAIL
from . import ops
from .errors import DTypeError, ShapeError
from .guards import SymDim
from .ir.types import dtype as to_dtype, as_dim
from .trace import Tracer

__all__ = ["key", "PRNGKey", "split", "fold_in", "bits", "uniform", "normal", "bernoulli", "randint",
           "permutation", "choice"]

_U32 = np.uint32
_MANT = {32: 23, 64: 52}


def _arr(x):
    return x if isinstance(x, Tracer) else np.asarray(x)


def _dtype_of(x):
    return x.dtype if isinstance(x, Tracer) else np.asarray(x).dtype


def _zero():
    return np.zeros((), _U32)


# ---- keys ----

def key(seed):
    """A key (uint32[2]) from an integer seed: [high, low] 32-bit words of the seed.

    Seeds in [0, 2**32) give JAX's keys. A 64-bit seed keeps its high word (as JAX with jax_enable_x64; JAX's
    default 32-bit mode drops it); a 32-bit one (int32/uint32 arrays) has high word 0. May be traced.
    >>> cc.random.key(42)
    array([ 0, 42], dtype=uint32)
    """
    if isinstance(seed, bool) or isinstance(seed, np.bool_):
        raise DTypeError(f"cc.random.key: the seed must be an integer, got {seed!r}")
    if isinstance(seed, int):
        if not -2 ** 63 <= seed < 2 ** 64:
            raise OverflowError(f"cc.random.key: seed {seed} does not fit in 64 bits")
        return np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], _U32)
    s = _arr(seed)
    if not np.issubdtype(s.dtype, np.integer) or len(s.shape) != 0:
        raise DTypeError(f"cc.random.key: the seed must be an integer scalar, got {s.dtype}{list(s.shape)}")
    if isinstance(s, np.ndarray):
        return key(int(s))
    lo = s.astype(_U32)
    hi = (s // 2 ** 32).astype(_U32) if np.dtype(s.dtype).itemsize == 8 else _zero()
    return np.stack([hi, lo])


PRNGKey = key


def _words(k, what):
    """The two words of a key, checked: uint32[2]."""
    k = _arr(k)
    if np.dtype(k.dtype) != np.uint32:
        raise DTypeError(f"cc.random.{what}: expected a key, a uint32[2] array from cc.random.key(seed), "
                         f"got {np.dtype(k.dtype)}{list(k.shape)}")
    if tuple(k.shape) != (2,):
        raise ShapeError(f"cc.random.{what}: a key has shape (2,), got {tuple(k.shape)}"
                         + ("; draw with one key at a time (index a split: keys[i])" if len(k.shape) == 2 else ""))
    return k[0], k[1]


def _shape(shape, what):
    if isinstance(shape, (int, np.integer)) or not hasattr(shape, "__iter__"):
        shape = (shape,)
    out = []
    for d in shape:
        if isinstance(d, (int, np.integer)):
            if d < 0:
                raise ShapeError(f"cc.random.{what}: negative dimension in shape {tuple(shape)}")
            out.append(int(d))
        elif isinstance(d, SymDim) or is_sympy(d):
            out.append(as_dim(d))        # a symbolic size from a traced shape (a sympy expression in params)
        else:
            out.append(operator.index(d))
    return tuple(out)


def split(key, num=2):
    """`num` new keys from one: uint32[num, 2] (num may be a shape: uint32[*num, 2]). The same as JAX's."""
    k0, k1 = _words(key, "split")
    shape = _shape(num, "split")
    return P.threefry2x32(k0, k1, _zero(), _zero(), shape=shape, mode="pair")


def fold_in(key, data):
    """A new key from a key and an integer (a step number, a layer index): uint32[2], JAX's fold_in.
    `data` is taken mod 2**32 (it may be traced)."""
    k0, k1 = _words(key, "fold_in")
    if isinstance(data, (bool, np.bool_)):
        raise DTypeError("cc.random.fold_in: data must be an integer, got a bool")
    if isinstance(data, np.ndarray | np.integer) and np.issubdtype(data.dtype, np.integer) and data.ndim == 0:
        data = int(data)
    if isinstance(data, int):
        d = np.array(data & 0xFFFFFFFF, _U32)
    else:
        d = _arr(data)
        if not to_dtype(d.dtype).is_int or len(d.shape) != 0:
            raise DTypeError(f"cc.random.fold_in: data must be an integer scalar, got {d.dtype}{list(d.shape)}")
        d = d.astype(_U32)
    return P.threefry2x32(k0, k1, _zero(), d, mode="pair")


# ---- bits and floats ----

def bits(key, shape=(), dtype=np.uint32):
    """Uniform random uint32 bits of `shape`: JAX's random.bits (y0 ^ y1 of the hash of each element's index)."""
    if np.dtype(dtype) != np.uint32:
        raise DTypeError(f"cc.random.bits: only uint32 bits are supported, got {np.dtype(dtype)}")
    k0, k1 = _words(key, "bits")
    return P.threefry2x32(k0, k1, _zero(), _zero(), shape=_shape(shape, "bits"), mode="xor")


def _unit(key, shape, dt, what):
    """Uniform [0, 1) of dtype dt: the top mantissa-many bits of the element's random bits, exactly as JAX
    (1.m - 1 with m the bits: here m * 2^-mant, the same number without a bitcast)."""
    k0, k1 = _words(key, what)
    if dt.bits == 32:
        b = P.threefry2x32(k0, k1, _zero(), _zero(), shape=shape, mode="xor")
        return (b // 2 ** 9).astype(np.float32) * np.float32(2.0 ** -23)
    # 64 bits (JAX x64): high word then low word, the top 52 of them
    w = P.threefry2x32(k0, k1, _zero(), _zero(), shape=shape, mode="pair")
    m = w[..., 0].astype(np.float64) * 2.0 ** 20 + (w[..., 1] // 2 ** 12).astype(np.float64)
    return m * 2.0 ** -52


def _float_dtype(dtype, what):
    dt = to_dtype(dtype)
    if not dt.is_float:
        raise DTypeError(f"cc.random.{what}: dtype must be a float dtype, got {dt}")
    return dt


def _as(v, dt):
    v = _arr(v)
    return v if v.dtype == dt.np else v.astype(dt.np)


def _check_bcast(what, shape, *vals):
    try:
        out = np.broadcast_shapes(*(tuple(np.shape(v)) for v in vals), shape) if all(
            isinstance(d, int) for d in shape) else shape
    except ValueError:
        out = None
    if out != tuple(shape):
        raise ShapeError(f"cc.random.{what}: shape {tuple(shape)} does not hold the broadcast of the parameter "
                         f"shapes {[tuple(np.shape(v)) for v in vals]}")


def uniform(key, shape=(), dtype=np.float32, minval=0.0, maxval=1.0):
    """Uniform floats in [minval, maxval) of `shape` (JAX's numbers). Differentiable in minval and maxval.
    >>> cc.random.uniform(cc.random.key(0), (3,))       # [0.947667, 0.9785799, 0.33229148], as jax.random
    """
    dt = _float_dtype(dtype, "uniform")
    shape = _shape(shape, "uniform")
    u = _unit(key, shape, dt, "uniform")
    if _is_py(minval, 0.0) and _is_py(maxval, 1.0):
        return u
    _check_bcast("uniform", shape, minval, maxval)
    lo, hi = _as(minval, dt), _as(maxval, dt)
    if dt.bits == 32:
        # u * (hi - lo) + lo rounded once, as the fused multiply-add XLA emits: the f64 product of two f32 is
        # exact, so only the sum rounds (then to f32); these are JAX's numbers, and no FMA contraction by a
        # backend can change them
        w = u.astype(np.float64) * (hi - lo).astype(np.float64) + lo.astype(np.float64)
        return np.maximum(lo, w.astype(np.float32))
    return np.maximum(lo, u * (hi - lo) + lo)


def _is_py(v, x):
    return type(v) in (float, int) and v == x


# erfinv(x) for |x| < 1 in the draw's own dtype, as JAX computes it: Giles' single-precision polynomials (their
# coefficients live with the erfinv primitive), then for f64 two Newton steps on erf

def _horner(coeffs, t, dt):
    p = np.asarray(coeffs[0], dt)
    for c in coeffs[1:]:
        p = p * t + np.asarray(c, dt)
    return p


def _erfinv(x, dt):
    w = -np.log1p(-(x * x))
    central = _horner(_ERFINV_CENTRAL, w - np.asarray(2.5, dt), dt)
    tail = _horner(_ERFINV_TAIL, np.sqrt(w) - np.asarray(3.0, dt), dt)
    y = np.where(w < np.asarray(5.0, dt), central, tail) * x
    if dt == np.float64:
        # two Newton steps on erf(y) = x take the single-precision start to double precision:
        # y -= (erf(y) - x) / erf'(y), erf'(y) = 2/sqrt(pi) exp(-y^2)
        for _ in range(2):
            y = y - (P.erf(y) - x) * (np.exp(y * y) * (math.sqrt(math.pi) / 2))
    return y


def normal(key, shape=(), dtype=np.float32):
    """Standard normal floats of `shape`: sqrt(2) * erfinv(u) with u uniform in (-1, 1), as JAX draws them."""
    dt = _float_dtype(dtype, "normal")
    lo = np.nextafter(np.asarray(-1.0, dt.np), np.asarray(0.0, dt.np))
    u = uniform(key, shape, dt.np, lo, np.asarray(1.0, dt.np))
    return np.asarray(math.sqrt(2), dt.np) * _erfinv(u, dt.np)


def bernoulli(key, p=0.5, shape=None):
    """Booleans, True with probability p (broadcast to `shape`; shape None: p's shape): uniform(key) < p."""
    p = p if isinstance(p, (float, int)) and not isinstance(p, bool) else _arr(p)
    dt = np.dtype(_dtype_of(p)) if not isinstance(p, (float, int)) else np.dtype(np.float32)
    if not np.issubdtype(dt, np.floating):
        raise DTypeError(f"cc.random.bernoulli: p must be a float probability, got {dt}")
    if shape is None:
        shape = tuple(np.shape(p))
    shape = _shape(shape, "bernoulli")
    _check_bcast("bernoulli", shape, p)
    return uniform(key, shape, dt) < p


_INT_OK = {np.dtype(np.int32), np.dtype(np.uint32), np.dtype(np.int64)}


def _clip_to(v, info, dt):
    """Integer v converted to dt, clipped to dt's range (not wrapped)."""
    if isinstance(v, int):
        return np.asarray(min(max(v, info.min), info.max), dt)
    vi = np.iinfo(np.dtype(v.dtype))
    if vi.min >= info.min and vi.max <= info.max:
        return v.astype(dt)
    return np.clip(v, np.asarray(max(info.min, vi.min), v.dtype), np.asarray(min(info.max, vi.max), v.dtype)).astype(dt)


def randint(key, shape, minval, maxval, dtype=np.int32):
    """Integers uniform in [minval, maxval) of `shape` (JAX's algorithm: two 32-bit draws reduced mod the span,
    so ranges far below 2^32 are nearly unbiased). maxval <= minval gives minval. dtype int32 (JAX's numbers),
    uint32, or int64 (drawn as int32: the bounds are clipped to the int32 range)."""
    out_dt = np.dtype(dtype)
    if out_dt not in _INT_OK:
        raise DTypeError(f"cc.random.randint: dtype must be int32, uint32 or int64, got {out_dt}")
    dt = np.dtype(np.int32) if out_dt == np.int64 else out_dt
    info = np.iinfo(dt)
    shape = _shape(shape, "randint")
    lo, hi = (v if isinstance(v, int) and not isinstance(v, bool) else _arr(v) for v in (minval, maxval))
    for v in (lo, hi):
        if not isinstance(v, int) and not np.issubdtype(np.dtype(v.dtype), np.integer):
            raise DTypeError(f"cc.random.randint: minval and maxval must be integers, got {v.dtype}")
    _check_bcast("randint", shape, lo, hi)
    if isinstance(hi, int):
        too_big = hi > info.max
    else:
        too_big = hi > np.asarray(info.max, hi.dtype) if np.iinfo(np.dtype(hi.dtype)).max > info.max else False
    lo, hi = _clip_to(lo, info, dt), _clip_to(hi, info, dt)
    k1, k2 = split(key)
    high_bits, low_bits = bits(k1, shape), bits(k2, shape)
    with np.errstate(over="ignore"):                 # wrapping 32-bit arithmetic, as JAX's
        span = (hi - lo).astype(_U32)
        span = np.where(hi <= lo, _U32(1), span)
        if too_big is not False:
            span = np.where(np.logical_and(too_big, hi > lo), span + _U32(1), span)
        # (a * 2^32 + b) mod span, in 32-bit pieces: 2^32 mod span = (2^16 mod span)^2 mod span
        mult = _U32(2 ** 16) % span
        mult = (mult * mult) % span
        off = ((high_bits % span) * mult + low_bits % span) % span
        out = lo + off.astype(dt)
    return out.astype(out_dt) if out_dt != dt else out


# ---- permutations ----

def _take(x, idx, axis):
    # np.take dispatches on x only: a constant x with traced indices goes to the traced take directly
    if isinstance(idx, Tracer) and not isinstance(x, Tracer):
        return ops.take(x, idx, axis=axis)
    return np.take(x, idx, axis=axis)


def _shuffle(key, n):
    """JAX's shuffle of range(n): sort by fresh random 32-bit keys, ceil(3 ln n / ln(2^32 - 1)) rounds (the sort
    is stable, and repeated rounds make ties between all pairs unlikely)."""
    perm = np.arange(n)
    for _ in range(int(np.ceil(3 * np.log(max(1, n)) / np.log(2.0 ** 32 - 1)))):
        key, sub = split(key)
        # (int64 keys: the same order as uint32's)
        perm = _take(perm, np.argsort(bits(sub, (n,)).astype(np.int64), kind="stable"), 0)
    return perm


def permutation(key, x, axis=0, independent=False):
    """A random permutation of range(x) (x an int) or of x's rows along `axis` (JAX's permutation)."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        if x < 0:
            raise ValueError(f"cc.random.permutation: negative size {x}")
        return _shuffle(key, int(x))
    x = _arr(x)
    if len(x.shape) == 0:
        raise ShapeError("cc.random.permutation: x must be an int or an array with at least one dimension")
    axis = axis + len(x.shape) if axis < 0 else axis
    if not 0 <= axis < len(x.shape):
        raise ShapeError(f"cc.random.permutation: axis {axis} out of range for shape {tuple(x.shape)}")
    if independent and len(x.shape) > 1:
        raise NotImplementedError("cc.random.permutation: independent=True on arrays of more than one dimension")
    if not isinstance(x.shape[axis], (int, np.integer)):
        raise ShapeError("cc.random.permutation: the permuted axis needs a static size")
    return _take(x, _shuffle(key, int(x.shape[axis])), axis)


def choice(key, a, shape=(), replace=True, p=None, axis=0):
    """Samples of a (an int n: range(n)) of `shape`, JAX's algorithms: with replacement by randint (weighted:
    inverse CDF of the cumulative weights), without by a permutation (weighted: Gumbel top-k)."""
    shape = _shape(shape, "choice")
    if isinstance(a, (int, np.integer)) and not isinstance(a, bool):
        n, arr = int(a), None
    else:
        arr = _arr(a)
        if len(arr.shape) == 0:
            raise ShapeError("cc.random.choice: a must be an int or an array with at least one dimension")
        axis = axis + len(arr.shape) if axis < 0 else axis
        n = int(arr.shape[axis])
    m = math.prod(shape)
    if n <= 0 and m > 0:
        raise ValueError("cc.random.choice: a must be non-empty unless no samples are taken")
    if not replace and m > n:
        raise ValueError(f"cc.random.choice: cannot take a larger sample ({m}) than the population ({n}) "
                         f"without replacement")
    if p is None:
        if replace:
            ind = randint(key, shape, 0, n)
        else:
            ind = permutation(key, n)[:m]
    else:
        p = _arr(p)
        if tuple(p.shape) != (n,):
            raise ShapeError(f"cc.random.choice: p must be a vector of the {n} weights, got shape {tuple(p.shape)}")
        pdt = np.dtype(p.dtype) if np.issubdtype(p.dtype, np.floating) else np.dtype(np.float32)
        p = _as(p, to_dtype(pdt))
        if replace:
            # the first index whose cumulative weight reaches r (searchsorted, left): the count of those below it
            cum = np.cumsum(p)
            r = cum[-1] * (1 - uniform(key, shape, pdt))
            ind = np.sum(cum < np.expand_dims(r, -1), axis=-1)
        else:
            tiny = np.finfo(pdt).tiny
            with np.errstate(divide="ignore"):          # log(0) = -inf: a zero weight is never drawn
                u = uniform(key, (n,), pdt, np.asarray(tiny, pdt), np.asarray(1.0, pdt))
                g = -np.log(-np.log(u)) + np.log(p)                         # Gumbel noise + log weight
            ind = np.argsort(-g, kind="stable")[:m]
    if arr is None:
        return ind.reshape(shape)
    return _take(arr, ind.reshape(shape), axis)
