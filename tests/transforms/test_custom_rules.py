"""cc.custom_jvp, cc.custom_vjp and cc.checkpoint: the rules are what every transform uses, eagerly and compiled;
the functions themselves run as written; checkpoint trades stored residuals for recomputation."""
import functools

import numpy as np
import pytest

import compiler as cc

RNG = np.random.default_rng(0)
X = np.array([0.3, 1.2, -0.7])
Y = np.array([2.0, -1.0, 0.5])


# ---------------------------------------------------------------- custom_jvp

@cc.custom_jvp
def sin_times(x, y):
    return np.sin(x) * y


@sin_times.defjvp
def _sin_times_jvp(primals, tangents):
    # deliberately not the derivative: twice the true x part, so only the rule can produce these numbers
    x, y = primals
    tx, ty = tangents
    return sin_times(x, y), 2.0 * np.cos(x) * y * tx + np.sin(x) * ty


def test_custom_jvp_rule_is_used_by_every_transform_and_compile():
    loss = lambda x, y: np.sum(sin_times(x, y))
    want_x = 2.0 * np.cos(X) * Y                       # the rule's, not cos(x) * y
    np.testing.assert_allclose(sin_times(X, Y), np.sin(X) * Y, rtol=1e-15)          # eager: the function
    np.testing.assert_allclose(cc.compile(sin_times)(X, Y), np.sin(X) * Y, rtol=1e-14)
    gx, gy = cc.grad(loss, argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(gx, want_x, rtol=1e-14)
    np.testing.assert_allclose(gy, np.sin(X), rtol=1e-14)
    _, t = cc.jvp(sin_times, (X, Y), (np.ones(3), np.zeros(3)))
    np.testing.assert_allclose(t, want_x, rtol=1e-14)
    np.testing.assert_allclose(cc.jacfwd(sin_times)(X, Y), np.diag(want_x), rtol=1e-14)
    np.testing.assert_allclose(cc.jacrev(sin_times)(X, Y), np.diag(want_x), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(cc.compile(cc.grad(loss))(X, Y), want_x, rtol=1e-13)
    np.testing.assert_allclose(cc.compile(cc.jacrev(sin_times))(X, Y), np.diag(want_x), rtol=1e-13, atol=1e-15)
    # second order differentiates the rule: d/dx 2 cos(x) y = -2 sin(x) y
    np.testing.assert_allclose(cc.hessian(loss)(X, Y), np.diag(-2.0 * np.sin(X) * Y), rtol=1e-13, atol=1e-15)
    # the traced graph holds one call with both regions, and round-trips through text
    g = cc.trace(loss, X, Y)
    assert g.count("custom_jvp_call") == 1
    assert str(cc.parse(str(g))) == str(g)
    low = cc.compile(cc.grad(loss)).lower(X, Y)
    assert low.optimized.count("custom_jvp_call") == 0                  # inlined before lowering


@cc.custom_jvp
def log1pexp(x):
    return np.log(1.0 + np.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t * (1.0 - 1.0 / (1.0 + np.exp(x)))


def test_custom_jvp_true_rule_against_finite_differences():
    x = np.array([-3.0, 0.1, 2.5])
    f = lambda x: np.sum(log1pexp(x) ** 2)
    cc.check_grads(f, (x,), order=2, modes=("fwd", "rev"))
    cc.check_grads(cc.compile(f), (x,), order=1, modes=("fwd", "rev"))
    # where the plain derivative overflows (e^1000 = inf, inf/inf = nan), the rule's stays finite
    big = np.array([1000.0])
    assert np.isnan(cc.grad(lambda x: np.sum(np.log(1.0 + np.exp(x))))(big)).all()
    np.testing.assert_allclose(cc.grad(lambda x: np.sum(log1pexp(x)))(big), [1.0])
    np.testing.assert_allclose(cc.compile(cc.grad(lambda x: np.sum(log1pexp(x))))(big), [1.0])


def test_custom_jvp_pytrees_defjvps_nondiff_argnums():
    @cc.custom_jvp
    def affine(p, x):
        return {"y": p["w"] * x + p["b"], "z": x}

    @affine.defjvp
    def _affine_jvp(primals, tangents):
        (p, x), (tp, tx) = primals, tangents
        out = affine(p, x)
        return out, {"y": tp["w"] * x + p["w"] * tx + 3.0 * tp["b"], "z": tx}     # 3x on b: the rule's mark
    p = {"w": np.array([1.5, -2.0]), "b": np.array([0.5, 0.25])}
    x = np.array([0.2, 0.4])
    loss = lambda p, x: np.sum(affine(p, x)["y"] ** 2) + np.sum(affine(p, x)["z"])
    y = p["w"] * x + p["b"]
    gp, gx = cc.grad(loss, argnums=(0, 1))(p, x)
    np.testing.assert_allclose(gp["w"], 2 * y * x, rtol=1e-14)
    np.testing.assert_allclose(gp["b"], 3.0 * 2 * y, rtol=1e-14)
    np.testing.assert_allclose(gx, 2 * y * p["w"] + 1.0, rtol=1e-14)
    gp2 = cc.compile(cc.grad(loss))(p, x)
    np.testing.assert_allclose(gp2["b"], gp["b"], rtol=1e-13)

    @cc.custom_jvp
    def mul(a, b):
        return a * b
    mul.defjvps(lambda ta, ans, a, b: ta * b, lambda tb, ans, a, b: 10.0 * tb * a)
    ga, gb = cc.grad(lambda a, b: np.sum(mul(a, b)), argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(ga, Y, rtol=1e-15)
    np.testing.assert_allclose(gb, 10.0 * X, rtol=1e-15)

    @functools.partial(cc.custom_jvp, nondiff_argnums=(0,))
    def power(n, x):
        return x ** n

    @power.defjvp
    def _power_jvp(n, primals, tangents):
        (x,), (t,) = primals, tangents
        return power(n, x), (n + 1) * x ** (n - 1) * t               # (n + 1): the rule's mark
    np.testing.assert_allclose(cc.grad(lambda x: np.sum(power(3, x)))(X), 4 * X ** 2, rtol=1e-14)
    np.testing.assert_allclose(cc.compile(cc.jacfwd(lambda x: power(2, x)))(X), np.diag(3 * X), rtol=1e-14)


def test_custom_jvp_closure_over_a_differentiated_value_is_an_error():
    def loss(w, x):
        @cc.custom_jvp
        def f(x):
            return x * w

        f.defjvp(lambda p, t: (f(*p), t[0] * w))
        return np.sum(f(x))
    np.testing.assert_allclose(cc.grad(loss, argnums=1)(X, Y), X, rtol=1e-15)   # w is not differentiated: fine
    with pytest.raises(cc.TraceError, match="closes over"):
        cc.grad(loss)(X, Y)
    with pytest.raises(cc.TraceError, match="closes over"):
        cc.jvp(loss, (X, Y), (np.ones(3), np.zeros(3)))
    with pytest.raises(cc.TraceError, match="no rule"):
        cc.grad(lambda x: np.sum(cc.custom_jvp(np.sin)(x)))(X)


# ---------------------------------------------------------------- custom_vjp

@cc.custom_vjp
def clip_gradient(x):
    return x * 1.0


clip_gradient.defvjp(lambda x: (x * 1.0, None), lambda res, g: (np.clip(g, -1.0, 1.0),))


def test_custom_vjp_rule_is_used_in_reverse_mode_eager_and_compiled():
    loss = lambda x: np.sum(clip_gradient(x) * np.array([5.0, 0.5, -3.0]))
    want = np.array([1.0, 0.5, -1.0])
    np.testing.assert_array_equal(clip_gradient(X), X)
    np.testing.assert_allclose(cc.grad(loss)(X), want)
    np.testing.assert_allclose(cc.compile(cc.grad(loss))(X), want)
    np.testing.assert_allclose(cc.jacrev(lambda x: clip_gradient(x) * 5.0)(X), np.eye(3))
    out, pull = cc.vjp(clip_gradient, X)
    np.testing.assert_allclose(pull(np.array([3.0, -0.5, -7.0]))[0], [1.0, -0.5, -1.0])
    with pytest.raises(cc.TraceError, match="forward mode"):
        cc.jvp(loss, (X,), (np.ones(3),))
    with pytest.raises(cc.TraceError, match="forward mode"):
        cc.jacfwd(clip_gradient)(X)


@cc.custom_vjp
def tanh_layer(x, w):
    return np.tanh(x @ w)


def _tanh_layer_fwd(x, w):
    y = np.tanh(x @ w)
    return y, (x, w, y)


def _tanh_layer_bwd(res, g):
    x, w, y = res
    d = g * (1.0 - y * y)
    return d @ w.T, x.T @ d


tanh_layer.defvjp(_tanh_layer_fwd, _tanh_layer_bwd)


def test_custom_vjp_true_rule_against_finite_differences_and_residuals_computed_once():
    x, w = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 2))
    loss = lambda x, w: np.sum(tanh_layer(x, w) ** 2)
    cc.check_grads(loss, (x, w), order=1, modes=("rev",))
    plain = cc.grad(lambda x, w: np.sum(np.tanh(x @ w) ** 2), argnums=(0, 1))(x, w)
    got = cc.compile(cc.value_and_grad(loss, argnums=(0, 1)))(x, w)[1]
    for a, b in zip(got, plain):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # fwd runs in the forward pass and its residual y feeds bwd: one tanh in the whole program
    opt = cc.compile(cc.value_and_grad(loss, argnums=(0, 1))).lower(x, w).optimized
    assert opt.count("tanh") == 1 and opt.count("custom_vjp_call") == 0


def test_custom_vjp_pytrees_none_cotangents_nondiff_argnums_and_bad_rules():
    @cc.custom_vjp
    def scaled(p, x):
        return [p["a"] * x, x]

    def fwd(p, x):
        return scaled(p, x), {"x": x, "a": p["a"]}

    def bwd(res, ct):
        return {"a": np.sum(ct[0] * res["x"]) * 0.0 + 7.0, "b": None}, None     # marked: d/da = 7, x gets zero
    scaled.defvjp(fwd, bwd)
    p = {"a": np.float64(2.0), "b": np.ones(3)}
    gp, gx = cc.grad(lambda p, x: np.sum(scaled(p, x)[0]) + np.sum(scaled(p, x)[1]), argnums=(0, 1))(p, X)
    assert float(gp["a"]) == 14.0                      # two calls, 7 each
    np.testing.assert_array_equal(gp["b"], np.zeros(3))
    np.testing.assert_array_equal(gx, np.zeros(3))

    @functools.partial(cc.custom_vjp, nondiff_argnums=(1,))
    def scale(x, k):
        return x * k
    scale.defvjp(lambda x, k: (x * k, None), lambda k, res, g: (g * k * 100.0,))
    np.testing.assert_allclose(cc.grad(lambda x: np.sum(scale(x, 3.0)))(X), np.full(3, 300.0))
    np.testing.assert_allclose(cc.compile(cc.grad(lambda x: np.sum(scale(x, 3.0))))(X), np.full(3, 300.0))

    @cc.custom_vjp
    def bad(x, y):
        return x * y
    bad.defvjp(lambda x, y: (x * y, None), lambda res, g: (g,))                 # one cotangent for two args
    with pytest.raises(cc.TraceError, match="one cotangent per"):
        cc.grad(lambda x: np.sum(bad(x, Y)))(X)


# ---------------------------------------------------------------- checkpoint

def _block(h, ws):
    for w in ws:
        h = np.tanh(h @ w)
    return h


def test_checkpoint_values_and_derivatives_unchanged():
    ws = [RNG.standard_normal((3, 3)) * 0.7 for _ in range(3)]
    f_plain = lambda x: np.sum(_block(x, ws) ** 2)
    f_ckpt = lambda x: np.sum(cc.checkpoint(_block)(x, ws) ** 2)
    x = RNG.standard_normal((2, 3))
    np.testing.assert_allclose(f_ckpt(x), f_plain(x), rtol=1e-15)
    np.testing.assert_allclose(cc.grad(f_ckpt)(x), cc.grad(f_plain)(x), rtol=1e-13)
    np.testing.assert_allclose(cc.compile(cc.grad(f_ckpt))(x), cc.grad(f_plain)(x), rtol=1e-12)
    cc.check_grads(f_ckpt, (x,), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(cc.hessian(f_ckpt)(x), cc.hessian(f_plain)(x), rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(cc.jacfwd(cc.checkpoint(_block))(x, ws), cc.jacrev(cc.checkpoint(_block))(x, ws),
                               rtol=1e-12, atol=1e-14)
    # closures and static arguments: the weights list is differentiated through the closure too
    gw = cc.grad(lambda ws, x: np.sum(cc.checkpoint(lambda h: _block(h, ws))(x)))(ws, x)
    gw_plain = cc.grad(lambda ws, x: np.sum(_block(x, ws)))(ws, x)
    for a, b in zip(gw, gw_plain):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    pw = cc.checkpoint(lambda x, n: x ** n, static_argnums=(1,))
    np.testing.assert_allclose(cc.grad(lambda x: np.sum(pw(x, 3)))(X), 3 * X ** 2, rtol=1e-14)
    assert cc.remat is cc.checkpoint


def _mlp_loss(params, x, ckpt, prevent_cse=True, per=4):
    h = x
    for i in range(0, len(params), per):
        blk = cc.checkpoint(_block, prevent_cse=prevent_cse) if ckpt else _block
        h = blk(h, params[i:i + per])
    return np.mean(h ** 2)


def test_checkpoint_lowers_the_memory_plans_peak_on_a_deep_mlp():
    n, width, depth = 32, 64, 16
    params = [(RNG.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32) for _ in range(depth)]
    x = RNG.standard_normal((n, width)).astype(np.float32)
    lows, outs = {}, {}
    for mode in ("plain", "ckpt", "no_cse"):
        f = cc.compile(cc.value_and_grad(
            lambda p, x, mode=mode: _mlp_loss(p, x, mode != "plain", prevent_cse=mode != "no_cse")))
        lows[mode], outs[mode] = f.lower(params, x), f(params, x)
    plain, ckpt = lows["plain"].kernels.temp_bytes, lows["ckpt"].kernels.temp_bytes
    # without checkpoint all 16 activations wait for the backward pass; with blocks of 4, only the 4 block inputs
    # (and one block's recomputed activations at a time): the scratch of the memory plan halves
    assert ckpt <= 0.6 * plain, (ckpt, plain)
    # the recomputation is real: more products in the optimized graph (the forward of 3 blocks runs twice)
    assert lows["ckpt"].optimized.count("dot_general") > lows["plain"].optimized.count("dot_general")
    assert lows["ckpt"].graph.count("remat_call") == 4 and lows["ckpt"].optimized.count("optimization_barrier") == 0
    # prevent_cse=False: CSE merges the recomputation back into the forward pass, nothing is saved
    assert lows["no_cse"].kernels.temp_bytes == plain
    assert lows["no_cse"].optimized.count("dot_general") == lows["plain"].optimized.count("dot_general")
    for mode in ("ckpt", "no_cse"):
        np.testing.assert_allclose(outs[mode][0], outs["plain"][0], rtol=1e-6)
        for a, b in zip(outs[mode][1], outs["plain"][1]):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
