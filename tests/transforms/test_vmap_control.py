"""cc.vmap of the control-flow ops against a Python loop over the batch: scan (batched xs, init, consts; the carry
batched by the body), while_loop (one trip count for all lanes, or per lane: the loop runs until every lane stops),
cond/switch (an unbatched predicate, or one per lane: a select of the branches), with grad, jvp and compile."""
import numpy as np
import pytest

import compiler as cc

B = 4


def _r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _loop(f, *args, in_axes):
    n = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    outs = [f(*[a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes)]) for i in range(n)]
    if isinstance(outs[0], tuple):
        return tuple(np.stack([o[k] for o in outs]) for k in range(len(outs[0])))
    return np.stack(outs)


def _compiled(f, *args):
    """cc.compile(f)(*args), or None while the backend cannot lower a control-flow op left in the program (a
    batched cond becomes a select and compiles; loops stay loops)."""
    try:
        return cc.compile(f)(*args)
    except cc.BackendError as e:
        if "cannot be compiled yet" not in str(e):
            raise
        return None


def _check(f, *args, in_axes, rtol=1e-12, compiled=False):
    want = _loop(f, *args, in_axes=in_axes)
    got = cc.vmap(f, in_axes=in_axes)(*args)
    runs = [got] + ([_compiled(cc.vmap(f, in_axes=in_axes), *args)] if compiled else [])
    runs = [r for r in runs if r is not None]
    for g in runs:
        for a, b in zip(g if isinstance(g, tuple) else (g,), want if isinstance(want, tuple) else (want,)):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)


# ---- scan ----

def _rnn(h, xs, w):
    def step(h, x):
        h = np.tanh(h @ w + x)
        return h, np.sum(h)
    return cc.scan(step, h, xs)


@pytest.mark.parametrize("in_axes", [(None, 0, None), (0, None, None), (0, 0, None), (None, None, 0), (0, 1, 0)])
def test_vmap_of_scan_matches_a_loop(in_axes):
    h, xs, w = _r(3), _r(5, 3, seed=1), _r(3, 3, seed=2) * 0.5
    args = [h, xs, w]
    batched = [np.stack([a + 0.1 * k for k in range(B)], axis=ax) if ax is not None else a
               for a, ax in zip(args, in_axes)]
    _check(_rnn, *batched, in_axes=in_axes)


def test_vmap_of_reverse_scan_with_a_batched_closure():
    xs, c = _r(6, 2), _r(B, 2, seed=1)

    def f(c):
        return cc.scan(lambda s, x: (s * 0.5 + x * c, s), np.zeros(2), xs, reverse=True)
    _check(f, c, in_axes=(0,))


def test_vmap_of_grad_and_grad_of_vmap_through_scan():
    h, xs, w = _r(3), _r(B, 5, 3, seed=1), _r(3, 3, seed=2) * 0.5

    def loss(w, xs):
        hT, ys = _rnn(h, xs, w)
        return np.sum(hT ** 2) + np.sum(ys)
    per_example = cc.vmap(cc.grad(loss), in_axes=(None, 0))(w, xs)
    loop = np.stack([cc.grad(loss)(w, x) for x in xs])
    np.testing.assert_allclose(per_example, loop, rtol=1e-10)
    total = cc.grad(lambda w: np.sum(cc.vmap(loss, in_axes=(None, 0))(w, xs)))(w)
    np.testing.assert_allclose(total, loop.sum(0), rtol=1e-10)
    cc.check_grads(lambda w: cc.vmap(loss, in_axes=(None, 0))(w, xs), [w], order=1)
    compiled = _compiled(cc.vmap(cc.grad(loss), in_axes=(None, 0)), w, xs)
    if compiled is not None:
        np.testing.assert_allclose(compiled, loop, rtol=1e-10)


def test_nested_vmap_of_scan():
    xs = _r(2, 3, 5, seed=4)

    def f(x):
        return cc.scan(lambda c, v: (c + v, c * v), 0.0, x)
    _check(cc.vmap(f), xs, in_axes=(0,))


# ---- while_loop and fori_loop ----

def test_while_loop_with_a_per_lane_trip_count_runs_until_every_lane_stops():
    x0 = np.array([1.0, 3.0, 0.5, 100.0])
    limit = np.array([10.0, 10.0, 50.0, 1.0])

    def f(x, lim):
        return cc.while_loop(lambda c: c[0] < lim, lambda c: (c[0] * 2, c[1] + 1), (x, 0))
    _check(f, x0, limit, in_axes=(0, 0), compiled=True)
    x, n = cc.vmap(f)(x0, limit)
    np.testing.assert_array_equal(n, [4, 2, 7, 0])


def test_while_loop_with_a_shared_trip_count():
    x = _r(B, 3)

    def f(x):
        return cc.while_loop(lambda c: c[1] < 5, lambda c: (np.sin(c[0]) + c[0], c[1] + 1), (x, 0))
    _check(f, x, in_axes=(0,), compiled=True)


def test_fori_loop_with_batched_bounds_and_forward_mode():
    n = np.array([0, 1, 3, 6])
    x = _r(B, 2, seed=3)

    def f(x, n):
        return cc.fori_loop(0, n, lambda i, v: v * 0.9 + np.cos(v), x)
    _check(f, x, n, in_axes=(0, 0), rtol=1e-10)
    t = np.ones_like(x)
    _, tan = cc.vmap(lambda x, t, n: cc.jvp(lambda v: f(v, n), (x,), (t,)))(x, t, n)
    for i in range(B):
        np.testing.assert_allclose(tan[i], cc.jvp(lambda v: f(v, n[i]), (x[i],), (t[i],))[1], rtol=1e-10)


def test_fori_loop_with_static_bounds_under_vmap_of_grad():
    w, x = _r(2, 2, seed=5) * 0.5, _r(B, 2, seed=6)

    def loss(w, x):
        return np.sum(cc.fori_loop(0, 4, lambda i, v: np.tanh(v @ w), x) ** 2)
    g = cc.vmap(cc.grad(loss), in_axes=(None, 0))(w, x)
    np.testing.assert_allclose(g, np.stack([cc.grad(loss)(w, xi) for xi in x]), rtol=1e-10)


# ---- cond and switch ----

def test_cond_with_a_per_lane_predicate_is_a_select():
    x = _r(B, 3, seed=7)

    def f(x):
        return cc.cond(np.sum(x) > 0, lambda v: np.sin(v) * 2, lambda v: v ** 2 - 1, x)
    assert len({bool(np.sum(r) > 0) for r in x}) == 2              # both branches are taken by some lane
    _check(f, x, in_axes=(0,), compiled=True)
    assert _compiled(cc.vmap(f), x) is not None                    # no cond is left: it compiles today
    g = cc.vmap(cc.grad(lambda v: np.sum(f(v))))(x)
    np.testing.assert_allclose(g, np.stack([cc.grad(lambda v: np.sum(f(v)))(r) for r in x]), rtol=1e-12)
    gs = cc.grad(lambda x: np.sum(cc.vmap(f)(x)))(x)
    np.testing.assert_allclose(gs, g, rtol=1e-12)


def test_cond_with_a_shared_predicate_and_batched_operands():
    x, p = _r(B, 3, seed=8), np.array(True)
    _check(lambda x, p: cc.cond(p, np.cos, np.sin, x), x, p, in_axes=(0, None), compiled=True)
    _check(lambda x, p: cc.cond(p, np.cos, np.sin, x), x, np.array(False), in_axes=(0, None))


def test_switch_with_per_lane_indices_clamps_like_switch():
    idx = np.array([-3, 0, 1, 2, 7])
    x = _r(5, 2, seed=9)
    branches = [lambda v: v + 1, lambda v: v * 10, lambda v: -v]

    def f(i, v):
        return cc.switch(i, branches, v)
    _check(f, idx, x, in_axes=(0, 0))
    _check(f, idx, x[0], in_axes=(0, None))                        # only the index is batched


def test_scan_inside_cond_inside_vmap():
    xs = _r(B, 4, 2, seed=10)

    def f(xs):
        total = cc.scan(lambda c, x: (c + x, None), np.zeros(2), xs)[0]
        return cc.cond(total[0] > 0, lambda t: t * 2, lambda t: -t, total)
    _check(f, xs, in_axes=(0,))
