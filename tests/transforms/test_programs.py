"""Whole programs written in plain NumPy: gradients against central finite differences in float64."""
import numpy as np
import pytest

import compiler as cc
from compiler import primitives as P

rng = np.random.default_rng(0)


def softmax_cross_entropy(logits, labels):
    z = logits - logits.max(axis=-1, keepdims=True)            # stable: exp never overflows
    logp = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    return -np.mean(np.sum(logp * labels, axis=-1))


def mlp(params, x):
    h = np.tanh(x @ params["w1"] + params["b1"])
    h = np.maximum(h @ params["w2"] + params["b2"], 0)
    return h @ params["w3"] + params["b3"]


def init(sizes, seed=0):
    r = np.random.default_rng(seed)
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        p[f"w{i}"] = r.standard_normal((a, b)) / np.sqrt(a)
        p[f"b{i}"] = r.standard_normal(b) * 0.1
    return p


X = rng.standard_normal((8, 5))
LABELS = np.eye(3)[rng.integers(0, 3, 8)]
PARAMS = init([5, 7, 6, 3])


def test_mlp_softmax_cross_entropy():
    loss = lambda p, x, y: softmax_cross_entropy(mlp(p, x), y)
    cc.check_grads(loss, (PARAMS, X, LABELS), order=1)
    value, grads = cc.value_and_grad(loss)(PARAMS, X, LABELS)
    assert set(grads) == set(PARAMS) and all(grads[k].shape == PARAMS[k].shape for k in PARAMS)
    np.testing.assert_allclose(value, loss(PARAMS, X, LABELS), rtol=1e-12)


def test_mlp_cross_entropy_with_integer_labels_via_indexing():
    labels = rng.integers(0, 3, 8)

    def loss(p, x):
        z = mlp(p, x)
        z = z - z.max(axis=-1, keepdims=True)
        logp = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
        return -np.mean(logp.reshape(-1)[np.arange(8) * 3 + labels])      # take -> scatter_add
    cc.check_grads(loss, (PARAMS, X), order=1)


def test_square_loss():
    target = rng.standard_normal((8, 3))
    loss = lambda p: np.mean((mlp(p, X) - target) ** 2)
    cc.check_grads(loss, (PARAMS,), order=2, modes=("rev",))


def test_hinge_loss():
    t = np.where(rng.random(8) < 0.5, -1.0, 1.0)
    w = rng.standard_normal(5)
    loss = lambda w, b: np.mean(np.maximum(0, 1 - t * (X @ w + b)))
    margins = 1 - t * (X @ w + 0.1)
    assert np.min(np.abs(margins)) > 1e-3                       # away from the kink
    cc.check_grads(loss, (w, 0.1), order=1)
    g = cc.grad(loss)(w, 0.1)
    active = margins > 0
    np.testing.assert_allclose(g, -(t * active) @ X / 8, rtol=1e-12)


def lenet(p, x):
    h = np.tanh(P.conv2d(x, p["c1"], stride=(1, 1), padding=(1, 1)))
    h = P.max_pool2d(h, size=(2, 2), stride=(2, 2))
    h = np.maximum(P.conv2d(h, p["c2"], stride=(1, 1), padding=(0, 0)), 0)
    h = P.max_pool2d(h, size=(2, 2), stride=(2, 2))
    h = h.reshape(h.shape[0], -1)
    return h @ p["w"] + p["b"]


def test_lenet_style_conv_pool_dense():
    r = np.random.default_rng(1)
    p = {"c1": r.standard_normal((3, 1, 3, 3)) * 0.5, "c2": r.standard_normal((4, 3, 3, 3)) * 0.3,
         "w": r.standard_normal((4 * 2 * 2, 3)) * 0.3, "b": np.zeros(3)}
    x = r.standard_normal((2, 1, 12, 12))
    y = np.eye(3)[[0, 2]]
    loss = lambda p: softmax_cross_entropy(lenet(p, x), y)
    cc.check_grads(loss, (p,), order=1, modes=("rev",))
    cc.check_grads(lambda c1: loss({**p, "c1": c1}), (p["c1"],), order=1, modes=("fwd",))


def test_softmax_with_huge_logits_stays_finite():
    logits = 1e4 + rng.standard_normal((4, 6))
    labels = np.eye(6)[[1, 0, 5, 3]]
    value, g = cc.value_and_grad(softmax_cross_entropy)(logits, labels)
    assert np.isfinite(value) and np.all(np.isfinite(g))
    z = logits - logits.max(axis=-1, keepdims=True)
    sm = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(g, (sm - labels) / 4, rtol=1e-9, atol=1e-12)
    cc.check_grads(softmax_cross_entropy, (logits, labels), order=2, eps=1e-4, rtol=1e-5)


def test_gradient_descent_on_the_mlp_decreases_the_loss():
    loss = lambda p: softmax_cross_entropy(mlp(p, X), LABELS)
    p = PARAMS
    vg = cc.value_and_grad(loss)
    first, _ = vg(p)
    for _ in range(20):
        v, g = vg(p)
        p = {k: p[k] - 0.5 * g[k] for k in p}
    assert vg(p)[0] < 0.5 * first


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_keep_the_parameter_dtype(dtype):
    p = {k: v.astype(dtype) for k, v in PARAMS.items()}
    g = cc.grad(lambda p: softmax_cross_entropy(mlp(p, X.astype(dtype)), LABELS.astype(dtype)))(p)
    assert all(v.dtype == dtype for v in g.values())
