"""cc.stop_gradient: the value flows, no derivative does; softmax/log_softmax/cross_entropy use it for their shift."""
import numpy as np

import compiler as cc
from compiler import primitives as P

RNG = np.random.default_rng(0)
X = RNG.standard_normal(5)


def test_value_unchanged_derivative_zero_in_every_mode():
    f = lambda x: np.sum(np.sin(x) * cc.stop_gradient(np.cos(x)))
    np.testing.assert_array_equal(cc.stop_gradient(X), X)
    # d/dx [sin x * c] with c held constant = cos(x) * c
    want = np.cos(X) * np.cos(X)
    np.testing.assert_allclose(cc.grad(f)(X), want, rtol=1e-14)
    _, t = cc.jvp(f, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(t, np.sum(want), rtol=1e-14)
    np.testing.assert_allclose(cc.compile(cc.grad(f))(X), want, rtol=1e-13)
    np.testing.assert_allclose(cc.jacrev(lambda x: x * cc.stop_gradient(x))(X), np.diag(X), rtol=1e-14)
    np.testing.assert_allclose(cc.jacfwd(lambda x: x * cc.stop_gradient(x))(X), np.diag(X), rtol=1e-14)
    # second order: d2/dx2 [x^2 * sg(x)] = 2 sg(x), not the 6x of x^3
    np.testing.assert_allclose(cc.hessian(lambda x: np.sum(x ** 2 * cc.stop_gradient(x)))(X), np.diag(2 * X),
                               rtol=1e-13)


def test_pytrees_and_python_scalars():
    tree = {"a": X, "b": [X[:2], 3.0]}
    out = cc.stop_gradient(tree)
    assert set(out) == {"a", "b"} and isinstance(out["b"], list)
    np.testing.assert_array_equal(out["b"][0], X[:2])
    assert out["a"] is not X                                 # a fresh array, like every eager op

    def f(p):
        q = cc.stop_gradient(p)
        return np.sum(p["w"] * q["w"]) + np.sum(q["b"] * p["b"] ** 2)
    p = {"w": X, "b": X[::-1].copy()}
    g = cc.grad(f)(p)
    np.testing.assert_allclose(g["w"], X, rtol=1e-14)
    np.testing.assert_allclose(g["b"], 2 * p["b"] * p["b"], rtol=1e-14)


def test_fuses_away_to_nothing():
    f = lambda x: np.tanh(cc.stop_gradient(x * 2.0)) + 1.0
    ref = lambda x: np.tanh(x * 2.0) + 1.0
    x = RNG.standard_normal((8, 16)).astype(np.float32)
    low, low_ref = cc.compile(f).lower(x), cc.compile(ref).lower(x)
    assert low.graph.count("stop_gradient") == 1
    assert low.optimized.count("stop_gradient") == 0
    assert len(low.kernels.kernels) == len(low_ref.kernels.kernels) == 1
    assert low.kernels.bytes_moved == low_ref.kernels.bytes_moved
    np.testing.assert_allclose(low(x), ref(x), rtol=1e-5, atol=1e-6)
    # alone, it is a copy: one kernel, an output that does not alias the input
    y = cc.compile(cc.stop_gradient)(x)
    np.testing.assert_array_equal(y, x)
    assert not np.shares_memory(y, x)


def _log_softmax_through_max(x, axis=-1):
    s = x - np.max(x, axis=axis, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def _xent_through_max(logits, labels):
    ls = _log_softmax_through_max(logits)
    return -np.mean(np.sum(P.one_hot(labels, num_classes=logits.shape[-1], dtype=cc.ir.F64) * ls, axis=-1))


def test_softmax_family_backward_skips_the_max():
    logits = RNG.standard_normal((6, 5))
    labels = RNG.integers(0, 5, 6)
    cases = [(lambda z: cc.nn.cross_entropy(z, labels), lambda z: _xent_through_max(z, labels)),
             (lambda z: np.sum(np.sin(cc.nn.log_softmax(z))), lambda z: np.sum(np.sin(_log_softmax_through_max(z)))),
             (lambda z: np.sum(np.sin(cc.nn.softmax(z, axis=0))),
              lambda z: np.sum(np.sin(np.exp(_log_softmax_through_max(z, axis=0)))))]
    for new, old in cases:
        g_new, g_old = cc.trace(cc.grad(new), logits), cc.trace(cc.grad(old), logits)
        # the backward of reduce_max (a mask of where the max is: eq, select/cast, ...) is gone
        assert len(g_new.nodes) < len(g_old.nodes), (len(g_new.nodes), len(g_old.nodes))
        assert g_new.count("reduce_max") == 1
        assert g_new.count("eq") == 0 and g_old.count("eq") >= 1
        np.testing.assert_allclose(new(logits), old(logits), rtol=1e-14)
        np.testing.assert_allclose(cc.grad(new)(logits), cc.grad(old)(logits), rtol=1e-12, atol=1e-15)
        cc.check_grads(new, (logits,), order=2)


def test_cross_entropy_gradient_graph_node_counts():
    logits = RNG.standard_normal((4, 10)).astype(np.float32)
    labels = RNG.integers(0, 10, 4)
    n_new = len(cc.trace(cc.grad(lambda z: cc.nn.cross_entropy(z, labels)), logits).nodes)
    n_old = len(cc.trace(cc.grad(lambda z: _xent_through_max(z.astype(np.float64), labels)), logits).nodes)
    assert n_new <= n_old - 5, (n_new, n_old)
    # and the compiled gradient is still right
    got = cc.compile(cc.grad(lambda z: cc.nn.cross_entropy(z, labels)))(logits)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(got, (p - np.eye(10)[labels]) / 4, rtol=1e-5, atol=1e-7)
