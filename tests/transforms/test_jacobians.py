"""Forward and reverse mode agree on full Jacobians (a catalogue of programs), and second-order checks."""
import numpy as np
import pytest

import compiler as cc
from compiler import primitives as P

r = np.random.default_rng(0)
A = r.standard_normal((3, 4))
B = r.standard_normal((4, 2))
V = r.standard_normal(4)
POS = np.abs(r.standard_normal((3, 4))) + 0.5
DIST = r.permutation(12).reshape(3, 4) / 4.0 - 1.4          # no ties, no zeros
IMG = r.permutation(2 * 1 * 5 * 5).reshape(2, 1, 5, 5) / 10.0
K = r.standard_normal((2, 1, 2, 2))
W12 = r.standard_normal((12, 3))


def _softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# name -> (fn, args); fn may take several arguments, the Jacobian is with respect to the first
CATALOGUE = {
    "sin": (np.sin, (A,)),
    "cos*x": (lambda x: np.cos(x) * x, (A,)),
    "exp": (np.exp, (V,)),
    "log": (np.log, (POS,)),
    "sqrt": (np.sqrt, (POS,)),
    "tanh": (np.tanh, (A,)),
    "logistic": (P.logistic, (A,)),
    "abs": (np.abs, (A,)),
    "reciprocal": (lambda x: 1.0 / x, (POS,)),
    "square": (np.square, (A,)),
    "pow const exponent": (lambda x: x ** 3.5, (POS,)),
    "pow both": (lambda x: x ** (x / 2), (POS,)),
    "polynomial": (lambda x: 3 * x ** 3 - 2 * x * x + x - 7, (V,)),
    "div": (lambda x: x / (1 + x * x), (A,)),
    "broadcast add": (lambda x: x + V, (A,)),
    "broadcast mul column": (lambda x: x * A[:, :1], (A,)),
    "outer": (lambda x: np.outer(x, x), (V,)),
    "matvec": (lambda x: A @ x, (V,)),
    "vecmat": (lambda w: V @ w, (B,)),
    "matmul lhs": (lambda x: np.tanh(x @ B), (A,)),
    "matmul rhs": (lambda w: np.tanh(A @ w), (B,)),
    "batched matmul": (lambda x: np.matmul(x, x.transpose(0, 2, 1)), (r.standard_normal((2, 3, 2)),)),
    "tensordot": (lambda x: np.tensordot(x, x, ((0,), (0,))), (A,)),
    "sum": (np.sum, (A,)),
    "sum axis": (lambda x: np.sum(x * x, axis=0), (A,)),
    "mean keepdims": (lambda x: x - x.mean(axis=1, keepdims=True), (A,)),
    "var": (lambda x: np.var(x, axis=1), (A,)),
    "std": (lambda x: np.std(x), (A,)),
    "max": (lambda x: np.max(x, axis=1), (DIST,)),
    "min": (lambda x: np.min(x, axis=0), (DIST,)),
    "maximum relu": (lambda x: np.maximum(x, 0), (DIST,)),
    "clip": (lambda x: np.clip(x, -0.6, 0.4), (DIST,)),
    "where": (lambda x: np.where(x > 0, np.sin(x), x ** 2), (DIST,)),
    "softmax": (_softmax, (A,)),
    "log softmax": (lambda x: x - x.max(-1, keepdims=True) - np.log(np.sum(np.exp(x - x.max(-1, keepdims=True)), -1, keepdims=True)), (A,)),
    "transpose": (lambda x: x.T * np.arange(3.0), (A,)),
    "reshape": (lambda x: x.reshape(2, 6) ** 2, (A,)),
    "slice step": (lambda x: x[::2, 1:3] * 2, (A,)),
    "index row": (lambda x: x[1] * x[2], (A,)),
    "gather": (lambda x: x[np.array([2, 0, 2])] ** 2, (A,)),
    "take axis 1": (lambda x: np.take(x, np.array([3, 1]), axis=1), (A,)),
    "concatenate": (lambda x: np.concatenate([x, np.sin(x)], axis=0), (V,)),
    "stack": (lambda x: np.stack([x, x * x, np.exp(x)]), (V,)),
    "pad": (lambda x: np.pad(x, ((1, 0), (0, 2))) ** 2, (A,)),
    "expand squeeze": (lambda x: np.squeeze(np.expand_dims(x, 1) * 2, 1), (V,)),
    "broadcast_to": (lambda x: np.broadcast_to(x, (3, 4)) * A, (V,)),
    "flatten dense": (lambda x: np.tanh(x.reshape(-1) @ W12), (A,)),
    "conv2d": (lambda x: P.conv2d(x, K, stride=(1, 1), padding=(1, 1)), (IMG,)),
    "conv2d kernel": (lambda w: P.conv2d(IMG, w, stride=(2, 2), padding=(0, 0)), (K,)),
    "max_pool2d": (lambda x: P.max_pool2d(x, size=(2, 2), stride=(1, 1)), (IMG,)),
    "norm": (lambda x: x / np.sqrt(np.sum(x * x)), (V,)),
    "scalar chain": (lambda x: np.sin(np.exp(np.cos(x))), (np.array(0.7),)),
    "two outputs": (lambda x: (np.sin(x), np.sum(x ** 2)), (V,)),
    "dict output": (lambda x: {"a": x * 2, "b": np.exp(x).sum()}, (V,)),
}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_jacfwd_equals_jacrev(name):
    fn, args = CATALOGUE[name]
    jf = cc.jacfwd(fn)(*args)
    jr = cc.jacrev(fn)(*args)
    lf, tf = cc.pytree.flatten(jf)
    lr, tr = cc.pytree.flatten(jr)
    assert tf == tr
    out_leaves = cc.pytree.flatten(fn(*args))[0]
    for a, b, o in zip(lf, lr, out_leaves):
        assert a.shape == np.shape(o) + np.shape(args[0]), (a.shape, np.shape(o), np.shape(args[0]))
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 40


def test_jacobian_matches_finite_differences_on_a_few():
    for name in ("softmax", "conv2d", "pow both", "var"):
        fn, (x,) = CATALOGUE[name]
        j = cc.jacrev(fn)(x)
        eps = 1e-6
        num = np.zeros(j.shape)
        for idx in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[idx] = eps
            num[(Ellipsis,) + idx] = (fn(x + e) - fn(x - e)) / (2 * eps)
        np.testing.assert_allclose(j, num, rtol=1e-6, atol=1e-8)


def test_hessian_of_a_quadratic_form():
    M = A.T @ A
    h = cc.hessian(lambda x: x @ M @ x)(V)
    np.testing.assert_allclose(h, M + M.T, rtol=1e-12)
    assert cc.hessian(lambda x: np.sum(x ** 3))(A).shape == A.shape + A.shape


def test_jacobians_with_argnums_tuple_and_pytrees():
    f = lambda p, x: np.tanh(x @ p["w"] + p["b"])
    p = {"w": B, "b": np.ones(2)}
    j = cc.jacrev(f, argnums=(0, 1))(p, A)
    jf = cc.jacfwd(f, argnums=(0, 1))(p, A)
    assert j[0]["w"].shape == (3, 2, 4, 2) and j[0]["b"].shape == (3, 2, 2) and j[1].shape == (3, 2, 3, 4)
    np.testing.assert_allclose(j[0]["w"], jf[0]["w"], rtol=1e-12)
    np.testing.assert_allclose(j[1], jf[1], rtol=1e-12)


def test_jacobian_needs_static_shapes():
    with pytest.raises(cc.ShapeError, match="static"):
        cc.trace(lambda x: cc.jacrev(np.sin)(x), cc.Spec("f64[N]"))


# ---- second order: check_grads(order=2) ----

SECOND_ORDER = {
    "tanh chain": (lambda x: np.tanh(np.sin(x) * x), (A,)),
    "exp log": (lambda x: np.log(1 + np.exp(x)), (A,)),
    "logistic": (lambda x: P.logistic(x) * x, (V,)),
    "sqrt": (lambda x: np.sqrt(x) / (1 + x), (POS,)),
    "pow both": (lambda x, y: x ** y, (POS, A)),
    "div": (lambda x, y: x / y, (A, POS)),
    "matmul": (lambda x, w: np.tanh(x @ w), (A, B)),
    "softmax": (_softmax, (A,)),
    "softmax ce": (lambda x: -np.sum(np.log(_softmax(x))[:, 0]), (A,)),
    "var": (lambda x: np.var(x, axis=0), (A,)),
    "norm": (lambda x: np.sqrt(np.sum(x * x)), (V,)),
    "max": (lambda x: np.max(x, axis=1) ** 2, (DIST,)),
    "where": (lambda x: np.where(x > 0, np.sin(x), x ** 3), (DIST,)),
    "gather": (lambda x: x[np.array([2, 0, 2])] ** 3, (A,)),
    "conv2d": (lambda x, w: np.tanh(P.conv2d(x, w, stride=(1, 1), padding=(1, 1))), (IMG, K)),
    "max_pool2d": (lambda x: P.max_pool2d(x, size=(2, 2), stride=(2, 2)) ** 3, (IMG,)),
    "mlp": (lambda w1, w2: np.sum(np.tanh(np.tanh(A @ w1) @ w2) ** 2), (r.standard_normal((4, 3)), B[:3])),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_order(name):
    fn, args = SECOND_ORDER[name]
    cc.check_grads(fn, args, order=2, modes=("fwd", "rev"))


def test_second_order_count():
    assert len(SECOND_ORDER) >= 15
