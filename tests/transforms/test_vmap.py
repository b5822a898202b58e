"""cc.vmap against a Python loop over the batch: every primitive (the SAMPLES catalogue of test_primitives.py, so a
new primitive is covered as soon as it has a sample), in_axes/out_axes variants, nesting, and composition with
grad, jvp, jacrev and compile in both orders."""
import numpy as np
import pytest

import compiler as cc
from compiler import primitives as P
from compiler.primitives import REGISTRY
from test_primitives import SAMPLES

B = 3


def _lanes(a, rng):
    """B arrays like a (same shape, dtype and set of values: indices stay in range): a and permutations of it."""
    if isinstance(a, tuple):                            # a tuple value (get's operand): lanes per element
        return list(zip(*[_lanes(x, rng) for x in a]))
    a = np.asarray(a)
    return [a] + [rng.permutation(a.ravel()).reshape(a.shape) for _ in range(B - 1)]


def _close(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, \
        f"{what}: {got.shape} {got.dtype} vs {want.shape} {want.dtype}"
    if want.dtype.kind == "f":
        tol = 1e-5 if want.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def test_every_primitive_has_a_batching_rule():
    missing = sorted(n for n, p in REGISTRY.items() if p.batch is None)
    assert not missing, f"primitives without a batching rule (batch=, see rules.py's vocabulary): {missing}"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_vmap_of_every_primitive_matches_a_loop(name):
    if name not in SAMPLES:
        pytest.fail(f"primitive {name} has no sample in tests/test_primitives.py SAMPLES")
    prim = REGISTRY[name]
    for seed in range(6):
        rng = np.random.default_rng(seed)
        args, params, _ = SAMPLES[name](rng)
        args = [a if isinstance(a, tuple) else np.asarray(a) for a in args]
        if not args:
            # a source: nothing to map, the result is the same for every lane and broadcast along the batch
            out = cc.vmap(lambda x: prim(**params), axis_size=B)(np.zeros(B))
            _close(out, np.stack([prim(**params)] * B), f"{name}{params}")
            continue
        # seed 0 maps every operand at axis 0; the others map a random nonempty subset at random axes
        batched = [True] * len(args) if seed == 0 else list(rng.random(len(args)) < 0.6)
        if not any(batched):
            batched[int(rng.integers(len(args)))] = True
        axes = [None if not b else (0 if seed == 0 or isinstance(a, tuple) else int(rng.integers(0, a.ndim + 1)))
                for a, b in zip(args, batched)]
        lanes = [_lanes(a, rng) if b else [a] * B for a, b in zip(args, batched)]
        stacked = [ls[0] if ax is None else tuple(np.stack(e) for e in zip(*ls)) if isinstance(ls[0], tuple)
                   else np.stack(ls, axis=ax) for ls, ax in zip(lanes, axes)]
        out_axis = 0 if seed < 2 else -1
        loop = [prim(*[ls[i] for ls in lanes], **params) for i in range(B)]
        got = cc.vmap(lambda *a: prim(*a, **params), in_axes=tuple(axes), out_axes=out_axis)(*stacked)
        if isinstance(loop[0], tuple):                  # a multi-result op: one stack per result
            assert isinstance(got, tuple) and len(got) == len(loop[0])
            for k, g in enumerate(got):
                _close(g, np.stack([r[k] for r in loop], axis=out_axis), f"{name}{params} in_axes={axes} [{k}]")
        else:
            _close(got, np.stack(loop, axis=out_axis), f"{name}{params} in_axes={axes}")


# ---- the transform's interface, as JAX has it ----

def _r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_in_axes_pytree_prefix_and_out_axes():
    params = {"w": _r(3, 4), "b": _r(4, seed=1)}
    xs = _r(5, 3, seed=2)

    def f(p, x):
        y = np.tanh(x @ p["w"] + p["b"])
        return {"y": y, "s": np.sum(y)}
    out = cc.vmap(f, in_axes=({"w": None, "b": None}, 0), out_axes={"y": 1, "s": 0})(params, xs)
    assert out["y"].shape == (4, 5) and out["s"].shape == (5,)
    for i in range(5):
        ref = f(params, xs[i])
        np.testing.assert_allclose(out["y"][:, i], ref["y"], rtol=1e-12)
        np.testing.assert_allclose(out["s"][i], ref["s"], rtol=1e-12)
    # a per-leaf prefix: b mapped with the data, w shared
    bs = _r(5, 4, seed=3)
    got = cc.vmap(f, in_axes=({"w": None, "b": 0}, 0))({"w": params["w"], "b": bs}, xs)["s"]
    np.testing.assert_allclose(got, [f({"w": params["w"], "b": b}, x)["s"] for b, x in zip(bs, xs)], rtol=1e-12)


def test_negative_axes_none_outputs_and_axis_size():
    x = _r(4, 3, 2)
    got = cc.vmap(lambda a: a.sum(0), in_axes=-1, out_axes=-1)(x)
    np.testing.assert_allclose(got, np.stack([x[..., i].sum(0) for i in range(2)], axis=-1), rtol=1e-12)
    # an output that does not depend on the mapped input is broadcast, or returned once with out_axes=None
    w = _r(3)
    y, z = cc.vmap(lambda a, b: (a * b, b * 2), in_axes=(0, None), out_axes=(0, None))(x[:, :, 0], w)
    np.testing.assert_allclose(z, w * 2)
    np.testing.assert_allclose(y, x[:, :, 0] * w)
    np.testing.assert_allclose(cc.vmap(lambda b: b * 2, in_axes=None, axis_size=4)(w), np.stack([w * 2] * 4))


def test_vmap_errors_like_jax():
    x, y = _r(3, 2), _r(4, 2)
    with pytest.raises(ValueError, match=r"inconsistent sizes.*size 3.*size 4"):
        cc.vmap(lambda a, b: a + b)(x, y)
    with pytest.raises(ValueError, match=r"argument 1\['b'\] has size 4 at axis 1"):
        cc.vmap(lambda a, p: a + p["b"], in_axes=(0, {"b": 1}))(x, {"b": _r(2, 4)})
    with pytest.raises(ValueError, match="at least one non-None value in in_axes"):
        cc.vmap(lambda a: a, in_axes=None)(x)
    with pytest.raises(ValueError, match="out of range"):
        cc.vmap(lambda a: a, in_axes=2)(x)
    with pytest.raises(ValueError, match="in_axes has 1 entries but .* got 2"):
        cc.vmap(lambda a, b: a + b, in_axes=(0,))(x, x)
    with pytest.raises(ValueError, match="does not fit the structure"):
        cc.vmap(lambda p: p["a"], in_axes=({"b": 0},))({"a": x})
    with pytest.raises(ValueError, match="out_axes entry is None"):
        cc.vmap(lambda a: a * 2, out_axes=None)(x)
    with pytest.raises(ValueError, match=r"inconsistent sizes.*\(axis_size=5\): argument 0 has size 3"):
        cc.vmap(lambda a: a, axis_size=5)(x)
    assert isinstance(pytest.raises(cc.ShapeError, cc.vmap(lambda a, b: a + b), x, y).value, cc.ViveError)


def test_keyword_arguments_are_mapped_along_axis_0():
    x, w = _r(5, 3), _r(5, 3, seed=1)
    got = cc.vmap(lambda x, w=None: np.sum(x * w))(x, w=w)
    np.testing.assert_allclose(got, np.sum(x * w, axis=1), rtol=1e-12)


def test_nested_vmap_is_a_double_loop():
    x, w = _r(2, 5, 3), _r(3, 4, seed=1)

    def f(x, w):
        return np.tanh(x @ w)
    got = cc.vmap(cc.vmap(f, in_axes=(0, None)), in_axes=(0, None))(x, w)
    np.testing.assert_allclose(got, np.stack([np.stack([f(b, w) for b in a]) for a in x]), rtol=1e-12)
    # the inner map over axis 1 of each lane of the outer one, stacked last
    got = cc.vmap(cc.vmap(f, in_axes=(0, None), out_axes=-1), in_axes=(1, None))(x, w)
    np.testing.assert_allclose(got, np.stack([np.stack([f(x[a, b], w) for a in range(2)], axis=-1)
                                              for b in range(5)]), rtol=1e-12)
    # a batched weight inside a batched input: dot_general with both operands batched, then only one
    ws = _r(2, 3, 4, seed=2)
    got = cc.vmap(lambda xa, wa: cc.vmap(lambda r: f(r, wa))(xa))(x, ws)
    np.testing.assert_allclose(got, np.stack([f(x[a], ws[a]) for a in range(2)]), rtol=1e-12)


# ---- composition with the other transforms ----

def _mlp_loss(p, x, y):
    h = np.tanh(x @ p["w1"] + p["b1"])
    logits = h @ p["w2"]
    return cc.nn.cross_entropy(logits[None], y[None])


def _mlp():
    rng = np.random.default_rng(0)
    p = {"w1": rng.standard_normal((6, 5)) * 0.5, "b1": rng.standard_normal(5) * 0.1,
         "w2": rng.standard_normal((5, 3)) * 0.5}
    return p, rng.standard_normal((4, 6)), rng.integers(0, 3, 4)


def _tree_close(got, want, rtol=1e-10):
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=rtol, atol=1e-12, err_msg=k)


def test_vmap_of_grad_matches_a_loop_of_grads():
    p, x, y = _mlp()
    got = cc.vmap(cc.grad(_mlp_loss), in_axes=(None, 0, 0))(p, x, y)
    loop = [cc.grad(_mlp_loss)(p, x[i], y[i]) for i in range(4)]
    _tree_close(got, {k: np.stack([g[k] for g in loop]) for k in p})
    # and against finite differences of the loss of one example
    cc.check_grads(lambda w1: _mlp_loss({**p, "w1": w1}, x[2], y[2]), [p["w1"]], order=1)


def test_grad_of_vmap_matches_the_sum_of_per_example_grads():
    p, x, y = _mlp()
    total = cc.grad(lambda p: np.sum(cc.vmap(_mlp_loss, in_axes=(None, 0, 0))(p, x, y)))(p)
    loop = [cc.grad(_mlp_loss)(p, x[i], y[i]) for i in range(4)]
    _tree_close(total, {k: sum(g[k] for g in loop) for k in p})
    # gradient with respect to the mapped input: the per-example input gradients
    gx = cc.grad(lambda x: np.sum(cc.vmap(_mlp_loss, in_axes=(None, 0, 0))(p, x, y)))(x)
    np.testing.assert_allclose(gx, np.stack([cc.grad(_mlp_loss, argnums=1)(p, x[i], y[i]) for i in range(4)]),
                               rtol=1e-10)


def test_vmap_composes_with_jvp_jacrev_and_hessian():
    x, t = _r(4, 3), _r(4, 3, seed=1)

    def f(v):
        return np.sin(v) * np.sum(v ** 2)
    out, tan = cc.vmap(lambda a, b: cc.jvp(f, (a,), (b,)))(x, t)
    for i in range(4):
        o, ti = cc.jvp(f, (x[i],), (t[i],))
        np.testing.assert_allclose(out[i], o, rtol=1e-12)
        np.testing.assert_allclose(tan[i], ti, rtol=1e-12)
    jac = cc.vmap(cc.jacrev(f))(x)
    np.testing.assert_allclose(jac, np.stack([cc.jacfwd(f)(x[i]) for i in range(4)]), rtol=1e-10)
    # jacrev of a vmapped function: block diagonal across lanes
    j = cc.jacrev(cc.vmap(f))(x)
    for i in range(4):
        np.testing.assert_allclose(j[i, :, i], cc.jacfwd(f)(x[i]), rtol=1e-10)
        assert np.all(j[i, :, (i + 1) % 4] == 0)
    hs = cc.vmap(cc.hessian(lambda v: np.sum(np.sin(v) * v[0])))(x)
    np.testing.assert_allclose(hs[2], cc.hessian(lambda v: np.sum(np.sin(v) * v[0]))(x[2]), rtol=1e-10)


def test_compiled_vmap_of_grad_is_one_program_and_matches_eager():
    p, x, y = _mlp()
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    x32 = x.astype(np.float32)
    fn = cc.vmap(cc.grad(_mlp_loss), in_axes=(None, 0, 0))
    step = cc.compile(fn)
    got = step(p32, x32, y)
    want = fn(p32, x32, y)
    _tree_close(got, want, rtol=1e-4)
    assert step.cache_info()["compiles"] == 1
    # the traced graph of the whole thing has no unrolled lanes: its size does not depend on the batch
    n4 = len(cc.trace(fn, p32, x32, y).nodes)
    n8 = len(cc.trace(fn, p32, np.concatenate([x32, x32]), np.concatenate([y, y])).nodes)
    assert n4 == n8


def test_compiled_vmap_with_a_symbolic_batch():
    w = _r(3, 4).astype(np.float32)
    f = cc.compile(cc.vmap(lambda x, w: np.tanh(x @ w).sum(), in_axes=(0, None)))
    exe = f.lower(cc.Spec("f32[N,3]"), w)
    for n in (2, 7):
        x = _r(n, 3, seed=n).astype(np.float32)
        np.testing.assert_allclose(exe(x, w), np.tanh(x @ w).sum(1), rtol=1e-5)


@pytest.mark.parametrize("case", ["take_both", "scatter_both", "conv_x", "conv_w", "conv_both", "pool", "concat"])
def test_compiled_batched_index_and_conv_ops_match_eager(case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, 2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((B, 4, 3, 3, 3)).astype(np.float32)
    idx = rng.integers(0, 5, (B, 4))
    table = rng.standard_normal((B, 5, 2)).astype(np.float32)
    fns = {
        "take_both": (lambda t, i: np.take(t, i, axis=0) * 2, (table, idx)),
        "scatter_both": (lambda t, i: P.scatter_add(t[:4], i, axis=0, size=7), (table[:, :4], idx)),
        "conv_x": (lambda a: cc.nn.conv2d(a, w[0], padding=1), (x,)),
        "conv_w": (lambda k: cc.nn.conv2d(x[0], k, stride=2), (w,)),
        "conv_both": (lambda a, k: cc.nn.conv2d(a, k), (x, w)),
        "pool": (lambda a: cc.nn.max_pool2d(a), (x,)),
        "concat": (lambda a: np.concatenate([a, x[0]], axis=1), (x,)),
    }
    fn, args = fns[case]
    want = np.stack([fn(*[a[i] for a in args]) for i in range(B)])
    np.testing.assert_allclose(cc.vmap(fn)(*args), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cc.compile(cc.vmap(fn))(*args), want, rtol=1e-5, atol=1e-5)


def test_per_example_conv_gradients():
    rng = np.random.default_rng(2)
    xs = rng.standard_normal((B, 1, 2, 6, 6))
    w = rng.standard_normal((3, 2, 3, 3))

    def loss(w, x):
        return np.sum(np.tanh(cc.nn.conv2d(x, w, padding=1)) ** 2)
    got = cc.vmap(cc.grad(loss), in_axes=(None, 0))(w, xs)
    np.testing.assert_allclose(got, np.stack([cc.grad(loss)(w, x) for x in xs]), rtol=1e-10)


def test_vmap_of_value_and_grad_and_back():
    p, x, y = _mlp()
    vals, grads = cc.vmap(cc.value_and_grad(_mlp_loss), in_axes=(None, 0, 0))(p, x, y)
    for i in range(4):
        v, g = cc.value_and_grad(_mlp_loss)(p, x[i], y[i])
        np.testing.assert_allclose(vals[i], v, rtol=1e-12)
        _tree_close({k: grads[k][i] for k in p}, g)
    v, g = cc.value_and_grad(lambda p: np.mean(cc.vmap(_mlp_loss, in_axes=(None, 0, 0))(p, x, y)))(p)
    vb, gb = cc.value_and_grad(lambda p: cc.nn.cross_entropy(np.tanh(x @ p["w1"] + p["b1"]) @ p["w2"], y))(p)
    np.testing.assert_allclose(v, vb, rtol=1e-12)
    _tree_close(g, gb)


def test_an_unrolled_rule_names_the_op_for_a_symbolic_batch():
    f = cc.compile(cc.vmap(lambda x: P.allreduce_start(x, slot=0)))
    with pytest.raises(cc.ShapeError, match="vmap of allreduce_start needs a static batch size"):
        f.lower(cc.Spec("f32[N,3]"))


@pytest.mark.parametrize("op", ["conv2d", "conv2d_transpose_input", "conv2d_transpose_kernel"])
def test_convolutions_with_both_operands_batched(op):
    """No grouped convolution to fold the batch into: one batched contraction per kernel tap, a graph whose size does
    not depend on the batch, checked with strides, padding and dilation, eager, compiled and with a symbolic batch."""
    rng = np.random.default_rng(3)
    params = {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2)}
    x = rng.standard_normal((B, 2, 3, 9, 8)).astype(np.float32)
    w = rng.standard_normal((B, 4, 3, 3, 2)).astype(np.float32)
    ct = np.stack([P.conv2d(a, k, **params) for a, k in zip(x, w)])
    args, extra = {"conv2d": ((x, w), {}), "conv2d_transpose_input": ((ct, w), {"in_hw": (9, 8)}),
                   "conv2d_transpose_kernel": ((x, ct), {"kernel_hw": (3, 2)})}[op]
    prim = REGISTRY[op]

    def f(a, b):
        return prim(a, b, **params, **extra)
    want = np.stack([f(a, b) for a, b in zip(*args)])
    np.testing.assert_allclose(cc.vmap(f)(*args), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cc.compile(cc.vmap(f))(*args), want, rtol=1e-4, atol=1e-4)
    n3 = len(cc.trace(cc.vmap(f), *[a[:3] for a in args]).nodes)
    assert n3 == len(cc.trace(cc.vmap(f), *args).nodes) and n3 < 60
    exe = cc.compile(cc.vmap(f)).lower(*[cc.Spec("f32[N," + ",".join(map(str, a.shape[1:])) + "]") for a in args])
    np.testing.assert_allclose(exe(*[a[:3] for a in args]), want[:3], rtol=1e-4, atol=1e-4)


def test_gathers_and_their_gradients_per_lane():
    rng = np.random.default_rng(4)
    tables, ids = rng.standard_normal((B, 6, 2)), rng.integers(-6, 6, (B, 5))

    def loss(t, i):
        return np.sum(np.tanh(t[i]) ** 2) + np.sum(t[i[:2], 1])
    for in_axes, t in (((None, 0), tables[0]), ((0, 0), tables)):
        lane = (lambda k: (t, ids[k])) if in_axes[0] is None else (lambda k: (tables[k], ids[k]))
        np.testing.assert_allclose(cc.vmap(loss, in_axes=in_axes)(t, ids), [loss(*lane(k)) for k in range(B)],
                                   rtol=1e-12)
        g = cc.vmap(cc.grad(loss), in_axes=in_axes)(t, ids)
        np.testing.assert_allclose(g, np.stack([cc.grad(loss)(*lane(k)) for k in range(B)]), rtol=1e-12)
