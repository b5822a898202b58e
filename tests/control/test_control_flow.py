"""Control-flow semantics (cc.scan, cc.fori_loop, cc.while_loop, cc.cond, cc.switch): every op against a Python
loop, eagerly and through the reference interpreter of its traced graph; derivatives against float64 finite
differences and the unrolled loop; errors naming the user's line; the IR of each op printed, parsed and verified."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
from compiler import pytree
from compiler.errors import DTypeError, ShapeError, TraceError, VerifyError
from compiler.ir import parse, print_graph, verify

RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def leaves(tree):
    return pytree.flatten(tree)[0]


def assert_same(got, want, rtol=1e-12, atol=1e-12):
    g, w = leaves(got), leaves(want)
    assert len(g) == len(w)
    for a, b in zip(g, w):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, (a.shape, b.shape)
        assert a.dtype == b.dtype, (a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def check_both(f, args, want, rtol=1e-12, atol=1e-12):
    """f(*args) eagerly and through cc.interpret(cc.trace(f, *args)) both equal `want` (a pytree)."""
    assert_same(f(*args), want, rtol, atol)
    g = cc.trace(f, *args)
    verify(g)
    got = cc.interpret(g, *leaves(args))
    assert_same(got, leaves(want), rtol, atol)
    return g


def count_nodes(g):
    """Nodes of g and of every region below it."""
    n, stack = 0, [g]
    while stack:
        h = stack.pop()
        for node in h.nodes:
            n += 1
            for p in node.params.values():
                if isinstance(p, cc.Graph):
                    stack.append(p)
                elif isinstance(p, tuple) and p and isinstance(p[0], cc.Graph):
                    stack.extend(p)
    return n


def ops_of(g):
    return [n.prim.name for n in g.nodes]


# ================================================================ scan

def py_scan(f, init, xs, length=None, reverse=False):
    """The reference: jax.lax.scan's semantics as a Python loop over pytrees."""
    x_leaves, x_tree = pytree.flatten(xs)
    n = length if not x_leaves else len(x_leaves[0])
    carry, ys = init, []
    idx = range(n - 1, -1, -1) if reverse else range(n)
    for i in idx:
        x = pytree.unflatten(x_tree, [l[i] for l in x_leaves]) if x_leaves else None
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys:
        return carry, None
    y_leaves = [leaves(y) for y in ys]
    y_tree = pytree.flatten(ys[0])[1]
    return carry, pytree.unflatten(y_tree, [np.stack([yl[k] for yl in y_leaves]) for k in range(len(y_leaves[0]))])


def test_scan_matches_python_loop():
    def body(c, x):
        c = np.tanh(c * 0.9 + x)
        return c, c.sum()
    init, xs = rand(4), rand(7, 4)
    want = py_scan(body, init, xs)
    g = check_both(lambda i, x: cc.scan(body, i, x), (init, xs), want)
    assert "scan" in ops_of(g)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_pytree_carry_xs_ys(reverse):
    def body(c, x):
        h, (n, acc) = c["h"], c["stats"]
        h = np.sin(h) + x["a"] * x["b"][0]
        return {"h": h, "stats": (n + 1, acc + h.sum())}, (h * 2, {"m": x["b"].max()})
    init = {"h": rand(3), "stats": (np.int64(0), np.float64(0.5))}
    xs = {"a": rand(5, 3), "b": rand(5, 2)}
    want = py_scan(body, init, xs, reverse=reverse)
    check_both(lambda i, x: cc.scan(body, i, x, reverse=reverse), (init, xs), want)


def test_scan_reverse_visits_last_first():
    def body(c, x):
        return c * 10 + x, c
    xs = np.arange(1, 5, dtype=np.int64)
    carry, ys = cc.scan(body, np.int64(0), xs, reverse=True)
    assert int(carry) == 4321
    np.testing.assert_array_equal(ys, [432, 43, 4, 0])
    check_both(lambda x: cc.scan(body, np.int64(0), x, reverse=True), (xs,), (np.int64(4321), ys))


def test_scan_none_ys_and_xs_none_with_length():
    def body(c, x):
        assert x is None
        return c * 2.0 + 1.0, None
    carry, ys = cc.scan(body, np.float64(1.0), None, length=5)
    assert ys is None and float(carry) == 63.0
    g = cc.trace(lambda c: cc.scan(body, c, None, length=5)[0], np.float64(1.0))
    assert cc.interpret(g, np.float64(1.0))[0] == 63.0


def test_scan_length_zero():
    def body(c, x):
        return c + x, c * x
    init = rand(3)
    xs = np.zeros((0, 3))
    carry, ys = cc.scan(body, init, xs)
    np.testing.assert_array_equal(carry, init)
    assert ys.shape == (0, 3) and ys.dtype == np.float64
    g = cc.trace(lambda i, x: cc.scan(body, i, x), init, xs)
    c2, y2 = cc.interpret(g, init, xs)
    np.testing.assert_array_equal(c2, init)
    assert y2.shape == (0, 3)
    # and with xs=None
    c3, y3 = cc.scan(lambda c, _: (c + 1.0, c), init, None, length=0)
    np.testing.assert_array_equal(c3, init)
    assert y3.shape == (0, 3)


def test_scan_integer_carry():
    def body(c, x):
        i, s = c
        return (i + 1, s + i * x), i * x
    xs = np.arange(6, dtype=np.int32)
    init = (np.int32(0), np.int32(0))
    want = py_scan(body, init, xs)
    check_both(lambda x: cc.scan(body, init, x), (xs,), want)


def test_scan_closures_over_outer_values():
    w, b = rand(3, 3), rand(3)

    def f(h0, xs):
        def body(h, x):
            h = np.tanh(h @ w + x + b)          # w, b: NumPy constants of the enclosing scope
            return h, h
        return cc.scan(body, h0, xs)
    h0, xs = rand(3), rand(4, 3)
    want = py_scan(lambda h, x: (np.tanh(h @ w + x + b),) * 2, h0, xs)
    check_both(f, (h0, xs), want)

    def g(w, h0, xs):                            # closure over a traced value of the enclosing trace
        return cc.scan(lambda h, x: ((np.tanh(h @ w + x),) * 2), h0, xs)
    want = py_scan(lambda h, x: ((np.tanh(h @ w + x),) * 2), h0, xs)
    check_both(g, (w, h0, xs), want)


def test_scan_closure_over_traced_value_inside_grad():
    def loss(w, xs):
        def body(h, x):
            return np.tanh(h * w + x), None       # w traced by grad
        return np.sum(cc.scan(body, np.zeros(3), xs)[0] ** 2)

    def unrolled(w, xs):
        h = np.zeros(3)
        for x in xs:
            h = np.tanh(h * w + x)
        return np.sum(h ** 2)
    w, xs = rand(3), rand(6, 3)
    np.testing.assert_allclose(cc.grad(loss)(w, xs), cc.grad(unrolled)(w, xs), rtol=1e-12)
    np.testing.assert_allclose(cc.grad(loss, argnums=1)(w, xs), cc.grad(unrolled, argnums=1)(w, xs), rtol=1e-12)
    cc.check_grads(loss, (w, xs), order=1)


def test_scan_weak_python_scalar_carry():
    # a Python float carry takes the dtype the body gives it (float32 here), as JAX's weak types do
    xs = rand(4, dtype=np.float32)
    carry, ys = cc.scan(lambda c, x: (c + x, c * 2), 0.0, xs)
    assert np.asarray(carry).dtype == np.float32 and ys.dtype == np.float32
    np.testing.assert_allclose(carry, xs.sum(), rtol=1e-6)
    g = cc.trace(lambda x: cc.scan(lambda c, x: (c + x, c * 2), 0.0, x), xs)
    assert g.outputs[0].type.dtype.np == np.float32
    np.testing.assert_allclose(cc.interpret(g, xs)[1], ys, rtol=1e-6)
    # a Python int carry counting steps stays integer
    c, _ = cc.scan(lambda c, x: (c + 1, None), 0, xs)
    assert int(c) == 4


def test_scan_symbolic_length():
    def f(xs):
        return cc.scan(lambda c, x: (c + x, c), np.zeros(2), xs)
    g = cc.trace(f, cc.Spec("f64[N,2]"))
    for n in (0, 1, 5):
        xs = rand(n, 2)
        want = py_scan(lambda c, x: (c + x, c), np.zeros(2), xs)
        got = cc.interpret(g, xs)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        assert got[1].shape == (n, 2)


# ================================================================ fori_loop

def py_fori(lo, hi, body, val):
    for i in range(lo, hi):
        val = body(i, val)
    return val


@pytest.mark.parametrize("lo,hi", [(0, 5), (2, 7), (3, 3), (5, 2), (-3, 2)])
def test_fori_loop_static_bounds(lo, hi):
    def body(i, v):
        x, acc = v
        return np.cos(x) * i, acc + i
    init = (rand(3), np.int64(0))
    want = py_fori(lo, hi, body, init)
    check_both(lambda x: cc.fori_loop(lo, hi, body, (x, np.int64(0))), (init[0],), want)


@pytest.mark.parametrize("lo,hi", [(0, 5), (2, 7), (4, 4), (6, 1), (-2, 1)])
def test_fori_loop_traced_bounds(lo, hi):
    def body(i, x):
        return x * 1.5 + i

    def f(lo, hi, x):
        return cc.fori_loop(lo, hi, body, x)
    x = rand(2)
    want = py_fori(lo, hi, body, x)
    g = cc.trace(f, np.int64(lo), np.int64(hi), x)
    assert "while_loop" in ops_of(g)
    np.testing.assert_allclose(cc.interpret(g, np.int64(lo), np.int64(hi), x)[0], want, rtol=1e-12)
    np.testing.assert_allclose(f(np.int64(lo), np.int64(hi), x), want, rtol=1e-12)
    # one traced graph serves every trip count
    np.testing.assert_allclose(cc.interpret(g, np.int64(0), np.int64(3), x)[0], py_fori(0, 3, body, x), rtol=1e-12)


def test_fori_loop_static_bounds_is_a_scan():
    g = cc.trace(lambda x: cc.fori_loop(0, 4, lambda i, v: v * 2.0, x), rand(2))
    assert "scan" in ops_of(g) and "while_loop" not in ops_of(g)


def test_fori_loop_numpy_int_bounds_and_index_dtype():
    seen = []

    def body(i, v):
        seen.append(np.asarray(i).dtype if not hasattr(i, "aval") else np.dtype(i.dtype))
        return v + i
    out = cc.fori_loop(np.int32(1), np.int32(4), body, np.int32(0))
    assert int(out) == 6
    assert seen and all(d == np.int32 for d in seen)


# ================================================================ while_loop

def test_while_loop_matches_python_loop():
    def cond(v):
        return v[1] < 100.0

    def body(v):
        i, x = v
        return i + 1, x * 1.7 + 1.0
    init = (np.int64(0), np.float64(1.0))
    i, x = init
    while x < 100.0:
        i, x = i + 1, x * 1.7 + 1.0
    check_both(lambda x0: cc.while_loop(cond, body, (np.int64(0), x0)), (np.float64(1.0),), (i, x))


def test_while_loop_zero_trips_and_closure():
    lim = np.float64(-1.0)
    out = cc.while_loop(lambda v: v.sum() < lim, lambda v: v + 1, rand(3))
    assert out.shape == (3,)

    def f(x, lim):                                # cond and body close over traced values
        return cc.while_loop(lambda v: v.sum() < lim, lambda v: v + x, x * 0)
    x = np.abs(rand(3)) + 0.1
    v = x * 0
    while v.sum() < 7.0:
        v = v + x
    check_both(f, (x, np.float64(7.0)), v)


def test_while_loop_pytree_carry():
    def body(c):
        return {"n": c["n"] + 1, "v": (c["v"][0] * 0.5,)}
    init = {"n": np.int32(0), "v": (np.float64(40.0),)}
    out = cc.while_loop(lambda c: c["v"][0] > 1.0, body, init)
    assert int(out["n"]) == 6 and float(out["v"][0]) == 40.0 / 64


# ================================================================ cond / switch

@pytest.mark.parametrize("pred", [True, False, np.bool_(True), 0, 3, np.int32(-1), 0.0, 2.5])
def test_cond_pred_kinds(pred):
    def f(p, x, y):
        return cc.cond(p, lambda a, b: a * b, lambda a, b: a - b, x, y)
    x, y = rand(3), rand(3)
    want = x * y if pred else x - y
    assert_same(f(pred, x, y), want)
    p = np.asarray(pred)
    g = cc.trace(f, p, x, y)
    assert "cond" in ops_of(g)
    assert_same(cc.interpret(g, p, x, y)[0], want)


def test_cond_pytree_operands_and_results():
    def t(d, n):
        return {"s": d["a"] + d["b"], "n": n + 1}

    def f(d, n):
        return {"s": d["a"] * 0, "n": n - 1}
    d, n = {"a": rand(2), "b": rand(2)}, np.int64(4)
    for p in (True, False):
        want = t(d, n) if p else f(d, n)
        check_both(lambda p_, d_, n_: cc.cond(p_, t, f, d_, n_), (np.bool_(p), d, n), want)


@pytest.mark.parametrize("index", [-5, 0, 1, 2, 3, 100])
def test_switch_clamps_index(index):
    branches = [lambda x: x + 1, lambda x: x * 2, lambda x: np.sin(x)]
    x = rand(4)
    want = branches[min(max(index, 0), 2)](x)
    assert_same(cc.switch(index, branches, x), want)
    g = cc.trace(lambda i, x: cc.switch(i, branches, x), np.int64(index), x)
    assert_same(cc.interpret(g, np.int64(index), x)[0], want)


def test_cond_branches_closing_over_different_values():
    def f(x, a, b):
        return cc.cond(x.sum() > 0, lambda v: v * a, lambda v: v + b, x)
    a, b = rand(3), rand(3)
    for x in (np.abs(rand(3)), -np.abs(rand(3))):
        want = x * a if x.sum() > 0 else x + b
        check_both(f, (x, a, b), want)


def test_cond_runs_one_branch_only():
    calls = []

    def bad(x):
        calls.append("bad")
        return np.log(x)                         # eagerly, the branch not taken must not run
    with np.errstate(all="raise"):
        out = cc.cond(False, bad, lambda x: x * 0, -np.ones(2))
    np.testing.assert_array_equal(out, [0.0, 0.0])
    g = cc.trace(lambda p, x: cc.cond(p, bad, lambda x: x * 0, x), np.bool_(False), -np.ones(2))
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(cc.interpret(g, np.bool_(False), -np.ones(2))[0], [0.0, 0.0])


# ================================================================ nesting

def test_scan_in_scan():
    def inner(c, x):
        return c + np.sin(x), c * x

    def outer(c, xrow):
        c2, ys = cc.scan(inner, c, xrow)
        return c2 * 0.5, ys.sum(axis=0)

    def ref_outer(c, xrow):
        c2, ys = py_scan(inner, c, xrow)
        return c2 * 0.5, ys.sum(axis=0)
    init, xs = rand(2), rand(3, 4, 2)
    want = py_scan(ref_outer, init, xs)
    check_both(lambda i, x: cc.scan(outer, i, x), (init, xs), want)


def test_cond_in_scan_and_scan_in_cond():
    def body(c, x):
        c = cc.cond(x > 0, lambda c: c * 1.1 + x, lambda c: c - x, c)
        return c, c.sum()

    def ref(c, x):
        c = c * 1.1 + x if x > 0 else c - x
        return c, c.sum()
    init, xs = rand(3), rand(8)
    check_both(lambda i, x: cc.scan(body, i, x), (init, xs), py_scan(ref, init, xs))

    def f(p, xs):
        return cc.cond(p, lambda xs: cc.scan(lambda c, x: (c + x, c), 0.0 * xs[0], xs)[0],
                       lambda xs: xs[-1], xs)
    xs = rand(5, 2)
    check_both(f, (np.bool_(True), xs), xs.sum(axis=0), rtol=1e-12)
    check_both(f, (np.bool_(False), xs), xs[-1])


def test_fori_in_while_in_scan():
    def body(c, x):
        c = cc.while_loop(lambda v: v < 10.0, lambda v: cc.fori_loop(0, 2, lambda i, w: w + x + i, v), c)
        return c * 0.1, c

    def ref(c, x):
        while c < 10.0:
            for i in range(2):
                c = c + x + i
        return c * 0.1, c
    xs = np.abs(rand(5)) + 0.5
    check_both(lambda x: cc.scan(body, np.float64(0.0), x), (xs,), py_scan(ref, np.float64(0.0), xs))


# ================================================================ derivatives

def rnn_loss(w, h0, xs):
    def body(h, x):
        h = np.tanh(h @ w + x)
        return h, np.sum(h * h)
    h, ys = cc.scan(body, h0, xs)
    return np.sum(h) + np.sum(ys * np.arange(1, len(ys) + 1))


def rnn_loss_unrolled(w, h0, xs):
    h, ys = h0, []
    for x in xs:
        h = np.tanh(h @ w + x)
        ys.append(np.sum(h * h))
    return np.sum(h) + sum(y * (i + 1) for i, y in enumerate(ys))


def rev_scan_loss(w, xs):
    c, ys = cc.scan(lambda c, x: (np.sin(c * w) + x, {"y": c * x}), np.ones(2), xs, reverse=True)
    return np.sum(c ** 2) + np.sum(ys["y"])


def fori_loss(x, w):
    return np.sum(cc.fori_loop(0, 4, lambda i, v: np.tanh(v * w + i * 0.1), x) ** 3)


def cond_loss(x, y):
    out = cc.cond(np.sum(x) > 0, lambda a, b: np.sin(a) * b, lambda a, b: a * a - b, x, y)
    return np.sum(out * out)


def switch_loss(x, y):
    out = cc.switch(1, [lambda a, b: a + b, lambda a, b: np.exp(a) * b, lambda a, b: a], x, y)
    return np.sum(out * y)


def cond_in_scan_loss(x, xs):
    def body(c, xi):
        c = cc.cond(xi > 0, lambda c: np.sin(c) * xi, lambda c: c * c + xi, c)
        return c, c
    c, ys = cc.scan(body, x, xs)
    return np.sum(c) + np.sum(ys ** 2)


def nested_scan_loss(w, xs):
    def outer(c, row):
        c2, _ = cc.scan(lambda c, x: (np.tanh(c * w + x), None), c, row)
        return c2, np.sum(c2)
    c, ys = cc.scan(outer, np.zeros(2), xs)
    return np.sum(c) + np.sum(ys)


def scan_in_cond_in_scan_loss(w, xs):
    def outer(c, x):
        c = cc.cond(x[0] > 0, lambda c: cc.scan(lambda k, xi: (np.tanh(k * w + xi), None), c, x.reshape(3, 1))[0],
                    lambda c: c * w, c)
        return c, c.sum()
    c, ys = cc.scan(outer, np.ones(3), xs)
    return c.sum() + (ys ** 2).sum()


def int_parts_loss(w):
    # an integer carry and integer ys next to the float ones: no cotangents for them, the float parts flow
    (n, v), ns = cc.scan(lambda c, x: ((c[0] + 1, c[1] * w + x), c[0]), (np.int64(0), w), np.ones((3, 3)))
    return np.sum(v * v) + ns.sum() + n


def const_carry_loss(w, xs):
    _, ys = cc.scan(lambda c, x: (np.zeros(3), np.sin(c) * x), w, xs)
    return np.sum(ys ** 2)


def grad_inside_loss(w, xs):
    inner = cc.grad(lambda v: np.sum(cc.scan(lambda c, x: (np.sin(c * v) + x, None), np.ones(3), xs)[0] ** 2))
    return np.sum(inner(w) ** 2)


CASES = {
    "scan": (rnn_loss, lambda: (rand(3, 3) * 0.5, rand(3), rand(5, 3))),
    "scan_reverse_pytree_ys": (rev_scan_loss, lambda: (rand(2), rand(4, 2))),
    "fori_static": (fori_loss, lambda: (rand(3), rand(3))),
    "cond": (cond_loss, lambda: (np.abs(rand(3)), rand(3))),
    "cond_false": (cond_loss, lambda: (-np.abs(rand(3)), rand(3))),
    "switch": (switch_loss, lambda: (rand(3), rand(3))),
    "cond_in_scan": (cond_in_scan_loss, lambda: (rand(2), np.array([0.5, -0.3, 0.8, -0.1]))),
    "scan_in_scan": (nested_scan_loss, lambda: (rand(2), rand(3, 2, 2))),
    "scan_in_cond_in_scan": (scan_in_cond_in_scan_loss, lambda: (rand(3), np.array([[1.0, .2, -.3], [-1.0, .5, .1],
                                                                                    [.7, -.2, .4]]))),
    "int_carry_and_ys": (int_parts_loss, lambda: (rand(3) * 0.5,)),
    "constant_carry": (const_carry_loss, lambda: (rand(3), rand(4, 3))),
    "grad_of_scan_inside": (grad_inside_loss, lambda: (rand(3), rand(3, 3))),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("order", [1, 2])
def test_check_grads(name, order):
    f, args = CASES[name]
    cc.check_grads(f, args(), order=order, modes=("fwd", "rev"))


def test_scan_grad_equals_unrolled_grad():
    args = (rand(3, 3) * 0.5, rand(3), rand(6, 3))
    for k in range(3):
        np.testing.assert_allclose(cc.grad(rnn_loss, argnums=k)(*args), cc.grad(rnn_loss_unrolled, argnums=k)(*args),
                                   rtol=1e-11, atol=1e-13)


def test_grad_of_traced_scan_equals_eager_grad():
    args = (rand(3, 3) * 0.5, rand(3), rand(4, 3))
    g = cc.trace(cc.grad(rnn_loss), *args)
    assert sum(op == "scan" for op in ops_of(g)) >= 2           # the forward loop and the backward loop
    np.testing.assert_allclose(cc.interpret(g, *args)[0], cc.grad(rnn_loss_unrolled)(*args), rtol=1e-11)


def test_jacfwd_equals_jacrev_through_scan_and_cond():
    def f(x):
        c, ys = cc.scan(lambda c, xi: (np.sin(c) * xi + c, c * c), x[:2], x.reshape(3, 2))
        return np.concatenate([c, ys.ravel()])

    def g(x):
        return cc.cond(x[0] > 0, lambda v: np.exp(v) * v[::-1], lambda v: v ** 3, x)
    x = rand(6)
    for fn in (f, g):
        jf, jr = cc.jacfwd(fn)(x), cc.jacrev(fn)(x)
        assert jf.shape == (fn(x).shape[0], 6)
        np.testing.assert_allclose(jf, jr, rtol=1e-12, atol=1e-12)
    x[0] = -abs(x[0])
    np.testing.assert_allclose(cc.jacfwd(g)(x), cc.jacrev(g)(x), rtol=1e-12, atol=1e-12)


def test_hessian_through_scan_equals_unrolled():
    def f(p):
        return rnn_loss(p[:9].reshape(3, 3), p[9:12], XS)

    def f_unrolled(p):
        return rnn_loss_unrolled(p[:9].reshape(3, 3), p[9:12], XS)
    XS = rand(4, 3)
    p = rand(12) * 0.5
    h, h_ref = cc.hessian(f)(p), cc.hessian(f_unrolled)(p)
    assert h.shape == (12, 12)
    np.testing.assert_allclose(h, h_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h, h.T, rtol=1e-10, atol=1e-12)


def test_grad_wrt_integer_carry_is_ignored_and_float_parts_flow():
    def f(x):
        (n, v), _ = cc.scan(lambda c, _: ((c[0] + 1, c[1] * x), None), (np.int64(0), np.float64(1.0)), None,
                            length=4)
        return v * n
    x = np.float64(1.3)
    np.testing.assert_allclose(cc.grad(f)(x), 4 * 4 * x ** 3, rtol=1e-12)


def test_while_loop_jvp_and_grad_error():
    def f(x):
        return cc.while_loop(lambda v: v[0] < 5, lambda v: (v[0] + 1, np.sin(v[1]) * x), (0, x))[1]

    def ref(x):
        v = x
        for _ in range(5):
            v = np.sin(v) * x
        return v
    x = np.float64(0.7)
    out, t = cc.jvp(f, (x,), (np.float64(1.0),))
    np.testing.assert_allclose(out, ref(x), rtol=1e-12)
    np.testing.assert_allclose(t, cc.grad(ref)(x), rtol=1e-10)
    cc.check_grads(f, (x,), order=2, modes="fwd")
    np.testing.assert_allclose(cc.jacfwd(f)(x), cc.grad(ref)(x), rtol=1e-10)
    with pytest.raises(TraceError, match="fori_loop.*scan|scan.*fori_loop"):
        cc.grad(f)(x)
    with pytest.raises(TraceError, match="fori_loop"):
        cc.grad(lambda x, n: cc.fori_loop(0, n, lambda i, v: v * x, x))(x, np.int64(3))


# ================================================================ errors

def test_carry_dtype_change_names_the_line():
    with pytest.raises(DTypeError, match=r"test_control_flow\.py:\d+") as e:
        cc.scan(lambda c, x: (c.astype(np.float32), None), np.zeros(2), rand(3, 2))
    assert "carry" in str(e.value)


def test_carry_shape_change_names_the_line():
    with pytest.raises(ShapeError, match=r"test_control_flow\.py:\d+") as e:
        cc.scan(lambda c, x: (np.concatenate([c, x]), None), np.zeros(2), rand(3, 2))
    assert "carry" in str(e.value)
    with pytest.raises(ShapeError, match="carry"):
        cc.fori_loop(0, 3, lambda i, v: v[:1], np.zeros(2))
    with pytest.raises(ShapeError, match="carry"):
        cc.while_loop(lambda v: v.sum() < 1, lambda v: v.sum(), np.zeros(2))


def test_bad_structures():
    here = r".*test_control_flow\.py:\d+ in test_bad_structures"
    with pytest.raises(TraceError, match="(?s)pair" + here):
        cc.scan(lambda c, x: c, np.zeros(2), rand(3, 2))
    with pytest.raises(TraceError, match="(?s)structure" + here):
        cc.scan(lambda c, x: ((c, c), None), np.zeros(2), rand(3, 2))
    with pytest.raises(TraceError, match="(?s)structure" + here):
        cc.while_loop(lambda v: v[0] < 1, lambda v: v[0], (np.float64(0), np.float64(1)))
    with pytest.raises(TraceError, match="(?s)structure" + here):
        cc.cond(True, lambda x: (x, x), lambda x: x, np.zeros(2))
    with pytest.raises(DTypeError, match="(?s)boolean" + here):
        cc.while_loop(lambda v: v, lambda v: v + 1, np.float64(0.0))


def test_fori_loop_bounds_must_be_integer_scalars():
    with pytest.raises(TypeError, match="upper bound"):
        cc.fori_loop(0, 3.0, lambda i, v: v * 2, 1.0)
    with pytest.raises(TypeError, match=r"(?s)upper bound.*traced.*test_control_flow\.py"):
        cc.trace(lambda n, x: cc.fori_loop(0, n, lambda i, v: v * 2, x), np.float64(4), np.float64(1.0))
    with pytest.raises(TypeError, match="lower bound"):
        cc.trace(lambda n, x: cc.fori_loop(n, 3, lambda i, v: v * 2, x), np.ones(2, np.int64), np.float64(1.0))
    with pytest.raises(TypeError, match="lower bound"):
        cc.trace(lambda n, x: cc.fori_loop(0.5, n, lambda i, v: v * 2, x), np.int64(4), np.float64(1.0))


def test_mismatched_xs_lengths():
    with pytest.raises(ValueError, match="leading axis"):
        cc.scan(lambda c, x: (c, None), np.zeros(2), (rand(3, 2), rand(4, 2)))
    with pytest.raises(ValueError, match="leading axis"):
        cc.scan(lambda c, x: (c, None), np.zeros(2), rand(3, 2), length=5)
    with pytest.raises(ValueError):
        cc.scan(lambda c, x: (c, None), np.zeros(2), None)
    with pytest.raises(ValueError):
        cc.scan(lambda c, x: (c, None), np.zeros(2), None, length=-1)
    with pytest.raises(ShapeError, match="leading axis"):
        cc.scan(lambda c, x: (c, None), np.zeros(2), np.float64(1.0))


def test_non_scalar_pred_and_index():
    with pytest.raises(TypeError, match="scalar"):
        cc.cond(np.array([True, False]), lambda x: x, lambda x: x, np.zeros(2))
    with pytest.raises(TypeError, match="scalar"):
        cc.trace(lambda p, x: cc.cond(p, lambda x: x, lambda x: x, x), np.ones(2, bool), np.zeros(2))
    with pytest.raises(TypeError, match="integer"):
        cc.switch(1.5, [lambda x: x], np.zeros(2))
    with pytest.raises(ValueError, match="empty"):
        cc.switch(0, [], np.zeros(2))
    with pytest.raises(DTypeError, match="boolean"):
        cc.while_loop(lambda v: v, lambda v: v + 1, np.float64(0.0))


def test_branches_returning_different_types():
    here = r"(?s)true_fun returns f64.*false_fun returns f32.*test_control_flow\.py:\d+"
    with pytest.raises(DTypeError, match=here):
        cc.cond(True, lambda x: x, lambda x: x.astype(np.float32), np.zeros(2))
    with pytest.raises(ShapeError, match="branch 2 returns f64.1."):
        cc.switch(0, [lambda x: x, lambda x: x, lambda x: x[:1]], np.zeros(2))
    with pytest.raises(DTypeError, match="branch 1 returns i64"):
        cc.switch(0, [lambda x: x, lambda x: np.int64(1)], np.float64(1.0))


def test_branch_returning_a_python_scalar_takes_the_other_branches_dtype():
    def f(x):
        return cc.cond(x > 0, lambda x: 0.0, lambda x: x * 2, x), cc.switch(1, [lambda x: 1, lambda x: x], x)
    x = np.float32(-1.5)
    a, b = f(x)
    assert np.asarray(a).dtype == np.float32 and float(a) == -3.0 and np.asarray(b).dtype == np.float32
    g = cc.trace(f, x)
    assert [v.type.dtype.np for v in g.outputs] == [np.float32, np.float32]
    assert [float(v) for v in cc.interpret(g, np.float32(2.0))] == [0.0, 2.0]


def test_switch_wide_index_is_clamped_before_narrowing():
    g = cc.trace(lambda i: cc.switch(i, [lambda: 1.0, lambda: 2.0, lambda: 3.0]), np.int64(0))
    for i, want in [(2**40, 3.0), (-2**40, 1.0), (2**32 + 1, 3.0), (2**31 + 5, 3.0), (1, 2.0), (-1, 1.0)]:
        assert float(cc.interpret(g, np.int64(i))[0]) == want, i
        assert float(cc.switch(np.int64(i), [lambda: 1.0, lambda: 2.0, lambda: 3.0])) == want, i


# ================================================================ IR: print, parse, verify, size

def _graphs_with_each_op():
    x, xs = rand(3), rand(4, 3)
    yield "scan", cc.trace(lambda x, xs: cc.scan(lambda c, a: (np.tanh(c + a), c * a), x, xs, reverse=True), x, xs)
    yield "fori", cc.trace(lambda x: cc.fori_loop(0, 3, lambda i, v: v * i, x), x)
    yield "while", cc.trace(lambda n, x: cc.fori_loop(0, n, lambda i, v: v + x, x), np.int64(3), x)
    yield "cond", cc.trace(lambda p, x: cc.cond(p, lambda v: v * 2, np.sin, x), np.bool_(True), x)
    yield "switch", cc.trace(lambda i, x: cc.switch(i, [np.sin, np.cos, np.exp], x), np.int32(1), x)
    yield "grad_scan", cc.trace(cc.grad(rnn_loss), rand(3, 3), x, xs)
    yield "jvp_while", cc.trace(lambda x: cc.jvp(lambda v: cc.while_loop(lambda u: u.sum() < 9.0, lambda u: u * 2,
                                                                          v), (x,), (x,))[1], np.abs(x) + 1)


@pytest.mark.parametrize("name,g", list(_graphs_with_each_op()), ids=lambda v: v if isinstance(v, str) else "")
def test_print_parse_round_trip_and_verify(name, g):
    verify(g)
    text = print_graph(g)
    again = parse(text)
    verify(again)
    assert print_graph(again) == text
    args = [np.abs(a) + 1 if a.dtype.kind == "f" else a for a in
            [rand(*[int(d) for d in v.type.shape]) if v.type.dtype.is_float else
             np.asarray(1 if v.type.dtype.is_int else True, v.type.dtype.np) for v in g.inputs]]
    if name == "while":
        args[0] = np.int64(3)
    for a, b in zip(cc.interpret(g, *args), cc.interpret(again, *args)):
        np.testing.assert_array_equal(a, b)


def test_verifier_rejects_corrupted_region():
    g = cc.trace(lambda x, xs: cc.scan(lambda c, a: (c + a, c), x, xs), rand(3), rand(4, 3))
    text = print_graph(g)
    # the body returns a carry of another shape than it takes
    bad = text.replace("graph body(%c: f64[3], %x: f64[3])", "graph body(%c: f64[2], %x: f64[3])")
    assert bad != text
    with pytest.raises(VerifyError, match="carry"):
        verify(parse(bad))
    # a node inside the region reading a value that is not in scope
    node = next(n for n in g.nodes if n.params.get("body") is not None)
    body = node.params["body"]
    bogus = cc.Graph("body", body.inputs, body.nodes, [g.inputs[0], body.outputs[1]])
    node.params["body"] = bogus
    try:
        with pytest.raises(VerifyError, match="region body"):
            verify(g)
    finally:
        node.params["body"] = body           # (every traced graph is verified again after the test)
    verify(g)


def test_graph_size_does_not_grow_with_trip_count():
    def f(xs):
        return cc.scan(lambda h, x: (np.tanh(h * 0.5 + x), np.sum(h)), np.zeros(8), xs)

    def loss(xs):
        h, ys = f(xs)
        return np.sum(h) + np.sum(ys)
    sizes = {n: count_nodes(cc.trace(f, rand(n, 8))) for n in (10, 1000)}
    assert sizes[10] == sizes[1000]
    gsizes = {n: count_nodes(cc.trace(cc.grad(loss), rand(n, 8))) for n in (10, 1000)}
    assert gsizes[10] == gsizes[1000]


def test_reverse_mode_stacks_transcendentals_and_recomputes_arithmetic():
    # an LSTM-like cell: the forward loop of grad stacks the transcendental results (tanh, exp, sin, cos) and the
    # carries; the backward loop recomputes the arithmetic on them (1 - t*t, products) and evaluates no tanh
    hid = 4

    def loss(wh, zx):
        def cell(carry, z):
            h, c = carry
            z = z + h @ wh
            i, f = np.tanh(z[:, :hid]), 1 / (1 + np.exp(-z[:, hid:2 * hid]))
            g, o = np.tanh(z[:, 2 * hid:3 * hid]), np.sin(z[:, 3 * hid:])
            c = f * c + i * g
            return (o * np.tanh(c), c), None
        h0 = np.zeros((2, hid))
        (h, c), _ = cc.scan(cell, (h0, h0), zx)
        return np.sum(h ** 2) + np.sum(c)

    def unrolled(wh, zx):
        h = c = np.zeros((2, hid))
        for z in zx:
            z = z + h @ wh
            i, f = np.tanh(z[:, :hid]), 1 / (1 + np.exp(-z[:, hid:2 * hid]))
            g, o = np.tanh(z[:, 2 * hid:3 * hid]), np.sin(z[:, 3 * hid:])
            c = f * c + i * g
            h = o * np.tanh(c)
        return np.sum(h ** 2) + np.sum(c)
    wh, zx = rand(hid, 4 * hid) * 0.5, rand(5, 2, 4 * hid)
    g = cc.trace(cc.grad(loss), wh, zx)
    fwd = next(n for n in g.nodes if n.prim.name == "scan")
    stacked = [t for t in fwd.out.type.types[fwd.params["n_carry"]:]]
    # per step: tanh(i), exp(-f), tanh(g), sin(o), cos(o), tanh(c), and the carries h and c (not 1 - t*t etc.)
    assert all(tuple(t.shape) == (5, 2, hid) for t in stacked) and len(stacked) <= 8, stacked
    back = [n for n in g.nodes if n.prim.name == "scan"][1].params["body"]
    assert not {n.prim.name for n in back.nodes} & {"tanh", "exp", "sin", "cos"}
    np.testing.assert_allclose(cc.interpret(g, wh, zx)[0], cc.grad(unrolled)(wh, zx), rtol=1e-11, atol=1e-13)
    cc.check_grads(loss, (wh, zx), order=2)


def _scan_compiles():
    try:
        cc.compile(lambda x: cc.scan(lambda c, a: (c + a, None), x[0], x)[0])(np.ones((2, 2)))
        return True
    except cc.BackendError:                   # a tree without the control-flow lowering
        return False


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_value_and_grad_equal_eager(name):
    if not _scan_compiles():
        pytest.skip("cc.compile does not lower control flow in this tree")
    f, args = CASES[name]
    a = args()
    want = cc.value_and_grad(f, argnums=tuple(range(len(a))))(*a)
    got = cc.compile(cc.value_and_grad(f, argnums=tuple(range(len(a)))))(*a)
    assert_same(got, want, rtol=1e-10, atol=1e-12)
