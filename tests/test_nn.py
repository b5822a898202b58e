"""cc.nn: every building block against closed forms, eagerly and traced (reference interpreter), and its
gradients against closed forms and finite differences."""
from __future__ import annotations

import math

import numpy as np
import pytest

import compiler as cc
from compiler import nn

needs_grad = pytest.mark.skipif(not hasattr(cc, "grad"), reason="autodiff (cc.grad) not available yet")

RNG = np.random.default_rng(0)


def randn(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def traced(fn, *args):
    """fn run through cc.trace and the reference interpreter (what every backend must agree with)."""
    g = cc.trace(fn, *args)
    leaves = [a for a in _leaves(args)]
    out = cc.interpret(g, *leaves)
    return out[0] if len(out) == 1 else out


def _leaves(args):
    from compiler import pytree
    return pytree.flatten(args)[0]


def both(fn, *args):
    """Eager result, after checking that the traced result agrees with it."""
    eager = fn(*args)
    tr = traced(fn, *args)
    np.testing.assert_allclose(tr, eager, rtol=1e-5, atol=1e-6)
    assert np.asarray(tr).dtype == np.asarray(eager).dtype
    return eager


def fd_grad(f, x, eps=1e-6):
    """Central differences of a scalar function of a float64 array."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (float(f(xp)) - float(f(xm))) / (2 * eps)
    return g


# ---- layers and activations ----

def test_dense_is_x_at_w_plus_b():
    x, w, b = randn(5, 3), randn(3, 4, seed=1), randn(4, seed=2)
    want = np.einsum("ni,io->no", x.astype(np.float64), w) + b
    np.testing.assert_allclose(both(nn.dense, x, w, b), want, rtol=1e-5)
    np.testing.assert_allclose(both(nn.dense, x, w), want - b, rtol=1e-5, atol=1e-6)
    assert nn.dense(x, w, b).dtype == np.float32


def test_relu_sigmoid_tanh_closed_forms():
    x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0], np.float32)
    np.testing.assert_array_equal(both(nn.relu, x), [0, 0, 0, 0.5, 3])
    np.testing.assert_allclose(both(nn.sigmoid, x), 1 / (1 + np.exp(-x.astype(np.float64))), rtol=1e-6)
    np.testing.assert_allclose(both(nn.tanh, x), np.tanh(x.astype(np.float64)), rtol=1e-6)
    assert nn.relu(x).dtype == nn.sigmoid(x).dtype == nn.tanh(x).dtype == np.float32


def test_relu_propagates_nan_and_sigmoid_is_stable_on_tails():
    assert np.isnan(nn.relu(np.array([np.nan], np.float32)))[0]
    with np.errstate(all="raise"):
        s = nn.sigmoid(np.array([-1000.0, 1000.0, -50.0], np.float32))
    np.testing.assert_allclose(s, [0.0, 1.0, math.exp(-50)], rtol=1e-5, atol=0)


def test_softmax_and_log_softmax_closed_forms():
    x = randn(4, 6).astype(np.float64)
    e = np.exp(x)
    np.testing.assert_allclose(both(nn.softmax, x), e / e.sum(-1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(both(nn.log_softmax, x), np.log(e / e.sum(-1, keepdims=True)), rtol=1e-12)
    e0 = np.exp(x)
    np.testing.assert_allclose(nn.softmax(x, axis=0), e0 / e0.sum(0, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(traced(lambda v: nn.log_softmax(v, axis=0), x),
                               np.log(e0 / e0.sum(0, keepdims=True)), rtol=1e-12)


def test_softmax_stable_for_logits_of_1e4():
    x = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0]], np.float32)
    s = both(nn.softmax, x)
    ls = both(nn.log_softmax, x)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(ls))
    np.testing.assert_allclose(s, [[1, 0, 0], [0.5, 0.5, 0]], atol=1e-7)
    np.testing.assert_allclose(ls, [[0, -1e4, -2e4], [-math.log(2), -math.log(2), -1e4 - math.log(2)]], rtol=1e-6)


def test_cross_entropy_int_labels_onehot_and_probabilities():
    logits, y = randn(8, 5), np.array([0, 1, 2, 3, 4, 0, 1, 2])
    lp = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True))
    want = -lp[np.arange(8), y].mean()
    np.testing.assert_allclose(both(nn.cross_entropy, logits, y), want, rtol=1e-5)
    onehot = np.eye(5, dtype=np.float32)[y]
    np.testing.assert_allclose(both(nn.cross_entropy, logits, onehot), want, rtol=1e-5)
    probs = np.full((8, 5), 0.2, np.float32)
    np.testing.assert_allclose(nn.cross_entropy(logits, probs), -lp.mean(-1).mean(), rtol=1e-5)
    # uniform logits: log C
    np.testing.assert_allclose(nn.cross_entropy(np.zeros((3, 10), np.float32), np.array([1, 5, 9])), math.log(10),
                               rtol=1e-6)
    assert nn.cross_entropy(logits, y).dtype == np.float32


def test_cross_entropy_large_logits_and_bad_labels():
    logits = np.array([[1e4, 0.0], [0.0, 1e4]], np.float32)
    np.testing.assert_allclose(nn.cross_entropy(logits, np.array([1, 1])), 0.5e4, rtol=1e-6)
    with pytest.raises(cc.ShapeError):
        nn.cross_entropy(logits, np.array([0, 1, 1]))


def test_cross_entropy_symbolic_batch():
    g = cc.trace(nn.cross_entropy, cc.Spec("f32[N,10]"), cc.Spec("i64[N]"))
    for n in (1, 7):
        lg, y = randn(n, 10, seed=n), np.arange(n) % 10
        np.testing.assert_allclose(cc.interpret(g, lg, y)[0], nn.cross_entropy(lg, y), rtol=1e-6)


def test_mse_and_hinge_closed_forms():
    p, t = np.array([1.0, 2.0, 3.0], np.float32), np.array([1.5, 2.0, 1.0], np.float32)
    np.testing.assert_allclose(both(nn.mse, p, t), (0.25 + 0 + 4) / 3, rtol=1e-6)
    s, lab = np.array([2.0, 0.5, -1.0, -3.0], np.float32), np.array([1, 1, 1, -1])
    np.testing.assert_allclose(both(nn.hinge, s, lab), (0 + 0.5 + 2 + 0) / 4, rtol=1e-6)
    assert nn.hinge(s, lab).dtype == np.float32
    # one-vs-rest scores: sum over outputs, mean over the batch
    s2, t2 = np.array([[2.0, -0.5], [0.0, 1.0]], np.float32), np.array([[1, -1], [1, -1]])
    np.testing.assert_allclose(nn.hinge(s2, t2), ((0 + 0.5) + (1 + 2)) / 2, rtol=1e-6)


# ---- convolution and pooling ----

def conv_loops(x, w, b, stride, padding):
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out + (0 if b is None else b[None, :, None, None])


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), (1, 2)])
def test_conv2d_matches_loops(stride, padding):
    x, w, b = randn(2, 3, 9, 8), randn(4, 3, 3, 2, seed=1), randn(4, seed=2)
    got = both(lambda x, w, b: nn.conv2d(x, w, b, stride=stride, padding=padding), x, w, b)
    np.testing.assert_allclose(got, conv_loops(x, w, b, stride, padding), rtol=1e-4, atol=1e-5)
    assert got.dtype == np.float32


def test_conv2d_is_cross_correlation():
    x = np.zeros((1, 1, 3, 3), np.float32)
    x[0, 0, 0, 0] = 1.0                                     # top-left pixel
    w = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    # cross-correlation: out = sum x * w at the same offsets, so the top-left pixel meets w[0, 0]
    assert nn.conv2d(x, w)[0, 0, 0, 0] == 0.0
    x[0, 0, 0, 0], x[0, 0, 2, 2] = 0.0, 1.0
    assert nn.conv2d(x, w)[0, 0, 0, 0] == 8.0


def test_conv2d_shape_error():
    with pytest.raises(cc.ShapeError):
        nn.conv2d(randn(1, 2, 8, 8), randn(4, 3, 3, 3))


def test_max_pool2d_matches_loops():
    x = randn(2, 3, 6, 7)
    got = both(nn.max_pool2d, x)
    assert got.shape == (2, 3, 3, 3)
    want = np.array([[[[x[n, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max() for j in range(3)] for i in range(3)]
                      for c in range(3)] for n in range(2)])
    np.testing.assert_array_equal(got, want)
    got3 = nn.max_pool2d(x, size=3, stride=1)
    assert got3.shape == (2, 3, 4, 5)
    assert got3[1, 2, 1, 3] == x[1, 2, 1:4, 3:6].max()


# ---- dropout ----

def test_dropout_rate_zero_is_identity():
    x = randn(4, 5)
    assert nn.dropout(x, 0.0, 7) is x


def test_dropout_mask_statistics():
    rate, n = 0.3, 200_000
    x = np.ones(n, np.float32)
    y = nn.dropout(x, rate, 123)
    kept = y != 0
    p_keep = kept.mean()
    # binomial: 4.5 sigma band
    assert abs(p_keep - (1 - rate)) < 4.5 * math.sqrt(rate * (1 - rate) / n)
    np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-6)   # inverted dropout: kept scaled by 1/(1-p)
    assert abs(y.mean() - 1.0) < 0.02                                # expectation preserved
    # neighbouring elements are not correlated
    k = kept.astype(np.float64)
    corr = np.corrcoef(k[:-1], k[1:])[0, 1]
    assert abs(corr) < 0.02


def test_dropout_determinism_and_keys():
    x = randn(64, 32)
    a, b, c = nn.dropout(x, 0.5, 1), nn.dropout(x, 0.5, 1), nn.dropout(x, 0.5, 2)
    np.testing.assert_array_equal(a, b)
    assert np.mean((a != 0) != (c != 0)) > 0.3
    np.testing.assert_array_equal(np.where(a != 0, x * 2, 0), a)


def test_dropout_traced_key_matches_eager():
    x = randn(16, 8)
    g = cc.trace(lambda x, k: nn.dropout(x, 0.25, k), cc.Spec("f32[N,8]"), np.int64(0))
    for key in (0, 5, 12345678901):
        np.testing.assert_array_equal(cc.interpret(g, x, np.int64(key))[0], nn.dropout(x, 0.25, key))


def test_dropout_bad_arguments():
    with pytest.raises(ValueError):
        nn.dropout(randn(3), 1.5, 0)
    with pytest.raises(cc.DTypeError):
        nn.dropout(randn(3), 0.5, 1.5)
    np.testing.assert_array_equal(nn.dropout(randn(3), 1.0, 0), 0)


# ---- l2 ----

def test_l2_sum_of_squares_no_half():
    p = {"w": np.array([[1.0, 2.0]], np.float32), "b": np.array([3.0], np.float32), "n": [np.float32(-1.0)]}
    np.testing.assert_allclose(nn.l2(p), 1 + 4 + 9 + 1)
    np.testing.assert_allclose(traced(nn.l2, p), 15.0)


# ---- init ----

def test_init_shapes_dtypes_and_scales():
    p = nn.init.mlp([64, 128, 10], seed=0)
    assert sorted(p) == ["b1", "b2", "w1", "w2"]
    assert p["w1"].shape == (64, 128) and p["b2"].shape == (10,)
    assert all(v.dtype == np.float32 for v in p.values())
    assert np.all(p["b1"] == 0)
    assert abs(p["w1"].std() - math.sqrt(2 / 64)) < 0.1 * math.sqrt(2 / 64)       # He normal
    g = nn.init.glorot_uniform((300, 200), seed=1)
    lim = math.sqrt(6 / 500)
    assert g.max() <= lim and g.min() >= -lim and abs(g.std() - lim / math.sqrt(3)) < 0.02 * lim
    c = nn.init.he_normal((16, 6, 5, 5), seed=2)
    assert abs(c.std() - math.sqrt(2 / 150)) < 0.1 * math.sqrt(2 / 150)
    assert nn.init.fans((16, 6, 5, 5)) == (150, 400)


def test_init_seeded():
    a, b, c = nn.init.lenet5(seed=0), nn.init.lenet5(seed=0), nn.init.lenet5(seed=1)
    assert {k: v.shape for k, v in a.items()} == {
        "conv1_w": (6, 1, 5, 5), "conv1_b": (6,), "conv2_w": (16, 6, 5, 5), "conv2_b": (16,),
        "fc1_w": (400, 120), "fc1_b": (120,), "fc2_w": (120, 84), "fc2_b": (84,), "fc3_w": (84, 10), "fc3_b": (10,)}
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["conv1_w"], c["conv1_w"])
    assert nn.init.lenet5(input_size=28)["fc1_w"].shape == (256, 120)


# ---- gradients: closed forms and finite differences ----

@needs_grad
def test_cross_entropy_grad_closed_form():
    logits, y = randn(6, 4).astype(np.float64), np.array([0, 3, 1, 2, 2, 0])
    s = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    want = (s - np.eye(4)[y]) / 6
    np.testing.assert_allclose(cc.grad(nn.cross_entropy)(logits, y), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cc.grad(nn.cross_entropy)(logits, y), fd_grad(lambda v: nn.cross_entropy(v, y), logits),
                               rtol=1e-6, atol=1e-8)


@needs_grad
def test_mse_hinge_l2_grads_closed_form():
    p, t = randn(3, 4).astype(np.float64), randn(3, 4, seed=1).astype(np.float64)
    np.testing.assert_allclose(cc.grad(nn.mse)(p, t), 2 * (p - t) / p.size, rtol=1e-12)
    s, lab = np.array([2.0, 0.5, -1.0, -3.0]), np.array([1.0, 1.0, 1.0, -1.0])
    np.testing.assert_allclose(cc.grad(nn.hinge)(s, lab), np.where(1 - lab * s > 0, -lab, 0) / 4, rtol=1e-12)
    params = {"w": p, "b": t[0]}
    g = cc.grad(nn.l2)(params)
    np.testing.assert_allclose(g["w"], 2 * p)
    np.testing.assert_allclose(g["b"], 2 * t[0])


@needs_grad
def test_sigmoid_tanh_softmax_grads_closed_form():
    x = randn(5).astype(np.float64)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(cc.grad(lambda v: nn.sigmoid(v).sum())(x), s * (1 - s), rtol=1e-12)
    np.testing.assert_allclose(cc.grad(lambda v: nn.tanh(v).sum())(x), 1 - np.tanh(x) ** 2, rtol=1e-12)
    c = randn(5, seed=3).astype(np.float64)
    sm = np.exp(x) / np.exp(x).sum()
    # d(c . softmax(x)) = softmax * (c - c . softmax)
    np.testing.assert_allclose(cc.grad(lambda v: (nn.softmax(v) * c).sum())(x), sm * (c - c @ sm), rtol=1e-10)


SMOOTH = {
    "dense": (lambda x, w, b: nn.dense(x, w, b), lambda: (randn(3, 4), randn(4, 2, seed=1), randn(2, seed=2))),
    "sigmoid": (nn.sigmoid, lambda: (randn(3, 4),)),
    "tanh": (nn.tanh, lambda: (randn(3, 4),)),
    "softmax": (nn.softmax, lambda: (randn(3, 4),)),
    "log_softmax": (lambda x: nn.log_softmax(x, axis=0), lambda: (randn(3, 4),)),
    "cross_entropy": (lambda x: nn.cross_entropy(x, np.array([0, 2, 1])), lambda: (randn(3, 4),)),
    "cross_entropy_probs": (lambda x, t: nn.cross_entropy(x, nn.softmax(t)), lambda: (randn(3, 4), randn(3, 4, seed=1))),
    "mse": (nn.mse, lambda: (randn(3, 4), randn(3, 4, seed=1))),
    "conv2d": (lambda x, w, b: nn.conv2d(x, w, b, stride=2, padding=1),
               lambda: (randn(2, 2, 5, 5), randn(3, 2, 3, 3, seed=1), randn(3, seed=2))),
    "l2": (lambda a, b: nn.l2({"a": a, "b": [b]}), lambda: (randn(3, 4), randn(2, seed=1))),
}

# relu, hinge and max_pool2d are piecewise linear: finite differences are checked away from the kinks
KINKED = {
    "relu": (nn.relu, lambda: (np.array([-2.0, -0.7, 0.4, 1.3]),)),
    "hinge": (nn.hinge, lambda: (np.array([2.0, 0.5, -1.0, -3.0]), np.array([1.0, 1.0, 1.0, -1.0]))),
    "max_pool2d": (nn.max_pool2d, lambda: (np.random.default_rng(5).permutation(32).reshape(1, 2, 4, 4) / 8.0,)),
    "dropout": (lambda x: nn.dropout(x, 0.5, 3), lambda: (randn(4, 5),)),
}


@needs_grad
@pytest.mark.parametrize("name", sorted(SMOOTH) + sorted(KINKED))
def test_grads_match_finite_differences(name):
    fn, make = {**SMOOTH, **KINKED}[name]
    args = tuple(np.asarray(a, np.float64) for a in make())
    c = np.random.default_rng(7).standard_normal(np.shape(fn(*args)))

    def scalar(*a):                      # <c, fn(a)>: its gradient is the vjp of c
        return np.sum(fn(*a) * c)

    for i in range(len(args)):
        got = cc.grad(scalar, argnums=i)(*args)
        want = fd_grad(lambda v: scalar(*args[:i], v, *args[i + 1:]), args[i])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=f"{name}: d/d arg {i}")
    if hasattr(cc, "check_grads"):
        order = 2 if name in ("sigmoid", "tanh", "softmax", "log_softmax", "cross_entropy", "mse") else 1
        cc.check_grads(fn, args, order=order, modes=("fwd", "rev"))


@needs_grad
def test_dropout_grad_is_the_mask():
    x = randn(6, 7).astype(np.float64)
    g = cc.grad(lambda v: nn.dropout(v, 0.4, 9).sum())(x)
    mask = nn.dropout(np.ones_like(x), 0.4, 9)
    np.testing.assert_allclose(g, mask, rtol=1e-12)


# ---- compiled (cc.compile) agrees with eager ----

needs_compile = pytest.mark.skipif(not hasattr(cc, "compile"), reason="cc.compile not available yet")

COMPILED = {
    "dense": (nn.dense, lambda: (randn(5, 3), randn(3, 4, seed=1), randn(4, seed=2))),
    "relu": (nn.relu, lambda: (np.array([-1.0, np.nan, 0.0, 2.0], np.float32),)),
    "sigmoid": (nn.sigmoid, lambda: (np.array([-1000.0, -3.0, 0.0, 5.0, 1000.0], np.float32),)),
    "tanh": (nn.tanh, lambda: (randn(3, 4),)),
    "softmax_1e4": (nn.softmax, lambda: (np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0]], np.float32),)),
    "log_softmax_axis0": (lambda x: nn.log_softmax(x, axis=0), lambda: (randn(4, 3) * 100,)),
    "cross_entropy": (nn.cross_entropy, lambda: (randn(6, 10), np.array([0, 1, 2, 9, 8, 7]))),
    "cross_entropy_onehot": (nn.cross_entropy, lambda: (randn(6, 10), np.eye(10, dtype=np.float32)[[1, 2, 3, 4, 5, 6]])),
    "mse": (nn.mse, lambda: (randn(3, 4), randn(3, 4, seed=1))),
    "hinge": (nn.hinge, lambda: (randn(8), np.array([1, -1] * 4))),
    "conv2d": (lambda x, w, b: nn.conv2d(x, w, b, stride=2, padding=1),
               lambda: (randn(2, 3, 9, 8), randn(4, 3, 3, 3, seed=1), randn(4, seed=2))),
    "max_pool2d": (nn.max_pool2d, lambda: (randn(2, 3, 8, 6),)),
    "dropout": (lambda x, k: nn.dropout(x, 0.3, k), lambda: (randn(64, 33), np.array(42, np.int64))),
    "l2": (lambda a, b: nn.l2({"a": a, "b": b}), lambda: (randn(3, 4), randn(5, seed=1))),
}


@needs_compile
@pytest.mark.parametrize("name", sorted(COMPILED))
def test_compiled_matches_eager(name):
    fn, make = COMPILED[name]
    args = make()
    want = fn(*args)
    got = cc.compile(fn)(*args)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    if name == "dropout":                    # the same key gives the same mask, compiled or not
        np.testing.assert_array_equal(got != 0, want != 0)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)


@needs_compile
def test_compiled_dropout_new_key_without_recompiling():
    f = cc.compile(lambda x, k: nn.dropout(x, 0.5, k))
    x = randn(32, 16)
    masks = [f(x, np.array(k, np.int64)) != 0 for k in range(3)]
    assert f.cache_info()["compiles"] == 1
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    np.testing.assert_array_equal(masks[2], nn.dropout(x, 0.5, 2) != 0)
