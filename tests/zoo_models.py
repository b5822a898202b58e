"""Deep models written as a user would write them (Python loops unrolled by tracing), shared by tests/test_zoo.py
and benchmarks/bench_compile.py. Each maker returns (fn, args) with float32 arguments; `as_f64(args)` gives the
float64 copy the reference runs on."""
from __future__ import annotations

import numpy as np

import compiler as cc


def tanh_mlp(layers, width=64, batch=8, seed=0):
    """value_and_grad of a tanh MLP: `layers` matmul + tanh, weights scaled so activations stay O(1)."""
    rng = np.random.default_rng(seed)
    ws = [(rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32) for _ in range(layers)]
    x = rng.standard_normal((batch, width)).astype(np.float32)

    def loss(ws, x):
        h = x
        for w in ws:
            h = np.tanh(h @ w)
        return (h * h).mean()
    return cc.value_and_grad(loss), (ws, x)


def rnn(steps, width=32, batch=4, seed=0):
    """value_and_grad of a hand-written Elman RNN unrolled `steps` times, with respect to both weight matrices."""
    rng = np.random.default_rng(seed)
    W = (0.5 * rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    U = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    xs = rng.standard_normal((steps, batch, width)).astype(np.float32)

    def loss(W, U, xs):
        h = np.zeros((batch, width), np.float32)
        for t in range(steps):
            h = np.tanh(h @ W + xs[t] @ U)
        return (h * h).mean()
    return cc.value_and_grad(loss, argnums=(0, 1)), (W, U, xs)


def rnn_forward(steps, width=32, batch=4, seed=0):
    fn, args = rnn(steps, width, batch, seed)

    def fwd(W, U, xs):
        h = np.zeros((batch, width), np.float32)
        for t in range(steps):
            h = np.tanh(h @ W + xs[t] @ U)
        return h
    return fwd, args


def elementwise_chain(ops, n=100):
    """A chain of `ops` elementwise operations (mul/add pairs and sines) on one vector: one fused kernel."""
    x = np.linspace(-1, 1, n).astype(np.float32)

    def f(x):
        for i in range(ops // 2):
            x = np.sin(x) * 0.9 if i % 2 else x * 1.01 - 0.02
        return x
    return f, (x,)


def chain_grad(ops, n=100):
    f, args = elementwise_chain(ops, n)
    return cc.value_and_grad(lambda x: f(x).sum()), args


def stack_many(k=200, n=10):
    x = np.linspace(-1, 1, n).astype(np.float32)

    def f(x):
        return np.stack([x * (i + 1) - i for i in range(k)])
    return f, (x,)


def stack_grad(k=200, n=10):
    f, args = stack_many(k, n)
    return cc.value_and_grad(lambda x: (np.sin(f(x)) ** 2).sum()), args


def python_sum(k=200, n=10):
    x = np.linspace(-1, 1, n).astype(np.float32)

    def f(x):
        return sum(np.cos(x * (0.01 * i)) for i in range(k))
    return f, (x,)


def sin_loop(steps=50):
    """grad of sin applied `steps` times to a scalar and to a vector."""
    def f(x):
        for _ in range(steps):
            x = np.sin(x)
        return x.sum()
    return cc.grad(f), (np.linspace(0.1, 1.5, 7).astype(np.float32),)


def matmul_chain(k, width=16, seed=0):
    """x @ w0 @ w1 @ ... (k matmuls)."""
    rng = np.random.default_rng(seed)
    # orthogonal factors: the product keeps the norm of x over any number of steps
    ws = [np.linalg.qr(rng.standard_normal((width, width)))[0].astype(np.float32) for _ in range(k)]
    x = rng.standard_normal((4, width)).astype(np.float32) / 4

    def f(ws, x):
        for w in ws:
            x = x @ w
        return x
    return f, (ws, x)


def as_f64(tree):
    """The same pytree with every float32 array as float64."""
    if isinstance(tree, (list, tuple)):
        return type(tree)(as_f64(t) for t in tree)
    if isinstance(tree, dict):
        return {k: as_f64(v) for k, v in tree.items()}
    a = np.asarray(tree)
    return a.astype(np.float64) if a.dtype == np.float32 else tree
