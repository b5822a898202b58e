"""Parameter initialisers (Glorot/Xavier, He/Kaiming, LeCun) seeded by an integer, and parameter dicts for the
standard models: `mlp([64, 128, 10], seed=0)` -> {"w1", "b1", "w2", "b2"}, `lenet5(seed=0)` -> {"conv1_w", ...}.

Fans follow PyTorch: a dense weight (in, out) has fan_in = in, fan_out = out; a conv weight (O, I, KH, KW) has
fan_in = I*KH*KW, fan_out = O*KH*KW. Every initialiser returns a fresh float32 array unless `dtype` says otherwise.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["fans", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_normal", "zeros",
           "mlp", "lenet5"]


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def fans(shape):
    """(fan_in, fan_out) of a weight shape: (in, out) for dense, (O, I, KH, KW) for conv."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def glorot_uniform(shape, seed=0, dtype=np.float32):
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).  `glorot_uniform((64, 128), seed=0)`"""
    fi, fo = fans(shape)
    a = math.sqrt(6.0 / (fi + fo))
    return _rng(seed).uniform(-a, a, size=tuple(shape)).astype(dtype)


def glorot_normal(shape, seed=0, dtype=np.float32):
    """N(0, 2 / (fan_in + fan_out))."""
    fi, fo = fans(shape)
    return (_rng(seed).standard_normal(tuple(shape)) * math.sqrt(2.0 / (fi + fo))).astype(dtype)


def he_uniform(shape, seed=0, dtype=np.float32):
    """U(-a, a) with a = sqrt(6 / fan_in): keeps activations' variance through ReLU layers."""
    fi, _ = fans(shape)
    a = math.sqrt(6.0 / fi)
    return _rng(seed).uniform(-a, a, size=tuple(shape)).astype(dtype)


def he_normal(shape, seed=0, dtype=np.float32):
    """N(0, 2 / fan_in)."""
    fi, _ = fans(shape)
    return (_rng(seed).standard_normal(tuple(shape)) * math.sqrt(2.0 / fi)).astype(dtype)


def lecun_normal(shape, seed=0, dtype=np.float32):
    """N(0, 1 / fan_in)."""
    fi, _ = fans(shape)
    return (_rng(seed).standard_normal(tuple(shape)) * math.sqrt(1.0 / fi)).astype(dtype)


def zeros(shape, seed=None, dtype=np.float32):
    return np.zeros(tuple(shape), dtype=dtype)


_INITS = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_normal)}


def _get(init):
    if callable(init):
        return init
    try:
        return _INITS[init]
    except KeyError:
        raise ValueError(f"unknown initialiser {init!r}; one of {sorted(_INITS)}") from None


def _seeds(seed, n):
    # one independent stream per layer, so adding a layer does not change the earlier ones
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def mlp(sizes, seed=0, init="he_normal", dtype=np.float32):
    """Parameters of a dense network: w{i} of shape (sizes[i-1], sizes[i]) and zero biases b{i}, i = 1..L.

    >>> p = mlp([64, 128, 10], seed=0); p["w1"].shape, p["b2"].shape     # ((64, 128), (10,))
    """
    init = _get(init)
    sizes = [int(s) for s in sizes]
    rngs = _seeds(seed, len(sizes) - 1)
    params = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"w{i}"] = init((a, b), seed=rngs[i - 1], dtype=dtype)
        params[f"b{i}"] = zeros((b,), dtype=dtype)
    return params


def lenet5(seed=0, in_channels=1, num_classes=10, input_size=32, init="he_normal", dtype=np.float32):
    """LeNet-5 parameters: conv1 6@5x5, conv2 16@5x5 (OIHW), fc1 (16*5*5, 120), fc2 (120, 84), fc3 (84, classes).

    The flattened size after two (conv 5x5, pool 2) stages follows `input_size` (32 -> 16*5*5).
    """
    init = _get(init)
    s = ((input_size - 4) // 2 - 4) // 2
    if s < 1:
        raise ValueError(f"lenet5: input_size {input_size} is too small for two 5x5 conv + 2x2 pool stages")
    shapes = {"conv1": (6, in_channels, 5, 5), "conv2": (16, 6, 5, 5), "fc1": (16 * s * s, 120),
              "fc2": (120, 84), "fc3": (84, num_classes)}
    rngs = _seeds(seed, len(shapes))
    params = {}
    for (name, shape), rng in zip(shapes.items(), rngs):
        params[f"{name}_w"] = init(shape, seed=rng, dtype=dtype)
        params[f"{name}_b"] = zeros((shape[0] if name.startswith("conv") else shape[1],), dtype=dtype)
    return params
