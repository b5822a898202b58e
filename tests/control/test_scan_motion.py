"""Loop-invariant motion out of scan bodies (passes/scan_motion.py): an accumulated product becomes one product
after the loop, an x-slice times a loop-invariant weight becomes one product before it, a weight read transposed
is transposed once before it. Each: the rewrite happens (graph checks), compiled == eager (the loops' NumPy
references) in float64, and the eager derivatives match finite differences where the loop is a gradient."""
import numpy as np
import pytest

import compiler as cc
from compiler.passes import run_pipeline, GENERIC_PIPELINE

rng = np.random.default_rng(3)


def _r(*shape):
    return rng.standard_normal(shape)


def _optimized(f, *args):
    return run_pipeline(cc.trace(f, *args), GENERIC_PIPELINE)


def _scans(g):
    return [n for n in g.nodes if n.prim.name == "scan"]


def _close(got, want, rtol=1e-10, atol=1e-10):
    for a, b in zip(np.atleast_1d(got) if not isinstance(got, tuple) else got,
                    np.atleast_1d(want) if not isinstance(want, tuple) else want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def rnn_loss(w, u, xs):
    def step(h, x):
        h = np.tanh(h @ w + x @ u)
        return h, None
    h, _ = cc.scan(step, np.zeros((xs.shape[1], w.shape[0])), xs)
    return (h ** 2).sum()


def test_weight_cotangent_is_one_product_after_the_reverse_loop():
    w, u, xs = _r(4, 4) * 0.5, _r(3, 4), _r(6, 2, 3)
    grad = cc.grad(rnn_loss, argnums=(0, 1))
    g = _optimized(grad, w, u, xs)
    back = [n for n in _scans(g) if n.params["reverse"]]
    assert len(back) == 1
    body = back[0].params["body"]
    # no carry holds a weight-shaped sum any more, and the body multiplies only by w (dh = dz . w^T)
    assert all(v.type.shape != (4, 4) and v.type.shape != (3, 4) for v in body.outputs[:back[0].params["n_carry"]])
    assert sum(n.prim.name == "dot_general" for n in body.nodes) == 1
    after = [n for n in g.nodes if n.prim.name == "dot_general" and n.out.type.shape in ((4, 4), (3, 4))]
    assert len(after) == 2 and all(0 in n.params["contract"][0] for n in after)
    _close(cc.compile(grad)(w, u, xs), grad(w, u, xs))
    cc.check_grads(rnn_loss, (w, u, xs), order=1, modes="rev")


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("n", [0, 1, 5])
def test_accumulated_product_of_computed_factors(n, reverse):
    def f(a0, xs):
        def step(c, x):
            acc, h = c
            s = np.sin(x) * 2.0      # a factor the body computes: stacked as a new y (x is stacked already)
            return (acc + s.T @ x, h + x.sum()), x.sum()
        (acc, h), ys = cc.scan(step, (a0, np.float64(0)), xs, reverse=reverse)
        return acc, h, ys
    a0, xs = _r(3, 3), _r(n, 5, 3)
    scan = _scans(_optimized(f, a0, xs))[0]
    assert scan.params["n_carry"] == 1                      # the sum left the loop; the scalar carry stays
    _close(cc.compile(f)(a0, xs), f(a0, xs))


def test_loop_invariant_factor_sums_the_other_first():
    def f(w, xs):
        return cc.scan(lambda acc, x: (acc + w @ np.tanh(x), None), np.zeros((4, 2)), xs)[0]
    w, xs = _r(4, 3), _r(7, 3, 2)
    g = _optimized(f, w, xs)
    assert _scans(g)[0].params["n_carry"] == 0
    assert any(n.prim.name == "reduce_sum" for n in g.nodes)
    _close(cc.compile(f)(w, xs), f(w, xs))


def test_no_new_stacked_values_beyond_what_the_loop_already_stacks():
    # a loop with no xs and no ys stacks nothing: summing outer products of its carry keeps the carry
    def f(h0):
        def step(c, _):
            h, acc = c
            h = np.tanh(h * 0.9 + 0.1)
            return (h, acc + h[:, None] @ h[None, :]), None
        return cc.scan(step, (h0, np.zeros((3, 3))), None, length=50)[0][1]
    h0 = _r(3)
    scan = _scans(_optimized(f, h0))[0]
    assert scan.params["n_carry"] == 2 and any(n.prim.name == "dot_general" for n in scan.params["body"].nodes)
    _close(cc.compile(f)(h0), f(h0))


def test_x_times_weight_is_one_product_before_the_loop():
    # (x rows of 5 become rows of 4: within the bytes per step the loop stacks already)
    def f(w, u, h0, xs):
        return cc.scan(lambda h, x: (np.tanh(h @ w + x @ u), h.sum()), h0, xs)
    w, u, h0, xs = _r(4, 4) * 0.5, _r(5, 4), _r(2, 4), _r(6, 2, 5)
    g = _optimized(f, w, u, h0, xs)
    (scan,) = _scans(g)
    before = [n for n in g.nodes if n.prim.name == "dot_general"]
    assert len(before) == 1 and before[0].out.type.shape == (6, 2, 4)
    assert sum(n.prim.name == "dot_general" for n in scan.params["body"].nodes) == 1
    _close(cc.compile(f)(w, u, h0, xs), f(w, u, h0, xs))


def test_weight_read_transposed_is_transposed_once_before_the_loop():
    def f(w, h0, xs):
        return cc.scan(lambda h, x: (np.tanh(h @ w.T + x), None), h0, xs)[0]
    w, h0, xs = _r(4, 4) * 0.5, _r(2, 4), _r(5, 2, 4)
    g = _optimized(f, w, h0, xs)
    assert any(n.prim.name == "transpose" for n in g.nodes)
    (scan,) = _scans(g)
    (d,) = [n for n in scan.params["body"].nodes if n.prim.name == "dot_general"]
    assert d.params["contract"][1] == (0,)
    _close(cc.compile(f)(w, h0, xs), f(w, h0, xs))


def test_lstm_gradient_compiled_matches_eager_and_finite_differences():
    H = 3

    def loss(wx, wh, xs):
        def cell(c, z):
            h, s = c
            z = z + h @ wh
            i, f, o = (1 / (1 + np.exp(-z[:, k * H:(k + 1) * H])) for k in range(3))
            s = f * s + i * np.tanh(z[:, 3 * H:])
            return (o * np.tanh(s), s), None
        zero = np.zeros((xs.shape[1], H))
        (h, _), _ = cc.scan(cell, (zero, zero), xs @ wx)
        return (h ** 2).sum()
    wx, wh, xs = _r(2, 4 * H) * 0.5, _r(H, 4 * H) * 0.5, _r(5, 2, 2)
    grad = cc.grad(loss, argnums=(0, 1, 2))
    _close(cc.compile(grad)(wx, wh, xs), grad(wx, wh, xs))
    cc.check_grads(loss, (wx, wh, xs), order=1, modes="rev")


def test_matmul_of_stacked_rows_by_a_matrix_does_not_broadcast_the_matrix():
    def f(xs, w):
        return xs @ w
    xs, w = _r(3, 4, 5), _r(5, 2)
    g = _optimized(f, xs, w)
    assert [n.prim.name for n in g.nodes] == ["dot_general"]
    _close(cc.compile(f)(xs, w), xs @ w)
    cc.check_grads(lambda a, b: (f(a, b) ** 2).sum(), (xs, w), order=1)
