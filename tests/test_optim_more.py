"""cc.optim.adamw / rmsprop / clip_by_global_norm against float64 NumPy transcriptions of PyTorch's update rules
(torch.optim.AdamW, torch.optim.RMSprop, torch.nn.utils.clip_grad_norm_), eagerly, traced and compiled."""
from __future__ import annotations

import math

import numpy as np
import pytest

import compiler as cc
from compiler import optim, pytree


def make(seed=0, steps=4):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((3, 2)).astype(np.float32), "b": rng.standard_normal(2).astype(np.float32)}
    grads = [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()} for _ in range(steps)]
    return params, grads


def run_eager(opt, params, grads_seq):
    state = opt.init(params)
    for g in grads_seq:
        params, state = opt.update(params, g, state)
    return params, state


def run_traced(opt, params, grads_seq):
    state = opt.init(params)
    for g in grads_seq:
        graph = cc.trace(opt.update, params, g, state)
        out = cc.interpret(graph, *pytree.flatten((params, g, state))[0])
        params, state = pytree.unflatten(graph.out_tree, out)
    return params, state


def run_compiled(opt, params, grads_seq):
    step = cc.compile(opt.update)
    state = opt.init(params)
    for g in grads_seq:
        params, state = step(params, g, state)
    return params, state


RUNS = [run_eager, run_traced, run_compiled]


def ref_adamw(params, grads, lr, b1, b2, eps, wd):
    p = {k: v.astype(np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(x) for k, x in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, g in enumerate(grads, start=1):
        for k in p:
            p[k] = p[k] * (1 - lr * wd)                      # decoupled: before the moments, not in the gradient
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            denom = np.sqrt(v[k]) / math.sqrt(1 - b2 ** t) + eps
            p[k] = p[k] - (lr / (1 - b1 ** t)) * m[k] / denom
    return p, m, v


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("wd", [0.0, 0.01, 0.3])
def test_adamw_matches_pytorch_rule(run, wd):
    params, grads = make()
    lr, b1, b2, eps = 0.05, 0.8, 0.95, 1e-6
    want, m, v = ref_adamw(params, grads, lr, b1, b2, eps, wd)
    got, state = run(optim.adamw(lr, b1, b2, eps, weight_decay=wd), params, grads)
    for k in want:
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], want[k], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(state["m"][k], m[k], rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(state["v"][k], v[k], rtol=2e-5, atol=2e-6)
    assert int(state["step"]) == len(grads)


def test_adamw_decay_differs_from_adam_l2():
    # decoupled decay is not Adam with the decay in the gradient: the two must disagree
    params, grads = make()
    a, _ = run_eager(optim.adamw(0.05, weight_decay=0.3), params, grads)
    b, _ = run_eager(optim.adam(0.05, weight_decay=0.3), params, grads)
    assert np.max(np.abs(a["w"] - b["w"])) > 1e-3


def test_adamw_with_schedule():
    params, grads = make(steps=3)
    sched = optim.exponential_decay(0.1, 0.5, 2)
    got, _ = run_traced(optim.adamw(sched, weight_decay=0.1), params, grads)
    p = {k: v.astype(np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(x) for k, x in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, g in enumerate(grads, start=1):
        lr = 0.1 * 0.5 ** ((t - 1) / 2)
        for k in p:
            p[k] *= 1 - lr * 0.1
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            p[k] -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    for k in p:
        np.testing.assert_allclose(got[k], p[k], rtol=2e-5, atol=2e-6)


def ref_rmsprop(params, grads, lr, alpha, eps, mu, wd, centered):
    p = {k: v.astype(np.float64) for k, v in params.items()}
    s = {k: np.zeros_like(x) for k, x in p.items()}
    a = {k: np.zeros_like(x) for k, x in p.items()}
    b = {k: np.zeros_like(x) for k, x in p.items()}
    for g in grads:
        for k in p:
            d = g[k] + wd * p[k]
            s[k] = alpha * s[k] + (1 - alpha) * d * d
            if centered:
                a[k] = alpha * a[k] + (1 - alpha) * d
                avg = np.sqrt(s[k] - a[k] * a[k]) + eps
            else:
                avg = np.sqrt(s[k]) + eps
            if mu > 0:
                b[k] = mu * b[k] + d / avg
                p[k] = p[k] - lr * b[k]
            else:
                p[k] = p[k] - lr * d / avg
    return p, s, a, b


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("mu,wd,centered", [(0.0, 0.0, False), (0.9, 0.0, False), (0.0, 0.05, True),
                                            (0.5, 0.01, True)])
def test_rmsprop_matches_pytorch_rule(run, mu, wd, centered):
    params, grads = make(1)
    lr, alpha, eps = 0.01, 0.9, 1e-8
    want, s, a, b = ref_rmsprop(params, grads, lr, alpha, eps, mu, wd, centered)
    got, state = run(optim.rmsprop(lr, alpha, eps, momentum=mu, weight_decay=wd, centered=centered), params, grads)
    for k in want:
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(state["square_avg"][k], s[k], rtol=1e-5, atol=1e-6)
        if centered:
            np.testing.assert_allclose(state["grad_avg"][k], a[k], rtol=1e-5, atol=1e-6)
        if mu:
            np.testing.assert_allclose(state["momentum"][k], b[k], rtol=1e-4, atol=1e-5)
    assert ("grad_avg" in state) == centered and ("momentum" in state) == (mu > 0)
    assert int(state["step"]) == len(grads)


def test_rmsprop_bad_hyperparameters():
    with pytest.raises(ValueError, match="rmsprop"):
        optim.rmsprop(momentum=-1)
    with pytest.raises(ValueError, match="rmsprop"):
        optim.rmsprop(alpha=1.5)


def ref_clip(grads, max_norm):
    leaves = [np.asarray(g, np.float64) for g in pytree.flatten(grads)[0]]
    norm = math.sqrt(math.fsum(float(x) ** 2 for g in leaves for x in g.ravel()))
    scale = min(max_norm / (norm + 1e-6), 1.0)
    return norm, scale


@pytest.mark.parametrize("max_norm", [0.5, 2.0, 100.0])
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_clip_by_global_norm(max_norm, mode):
    _, grads = make(2, steps=1)
    grads = grads[0]
    norm, scale = ref_clip(grads, max_norm)
    fn = (lambda g: optim.clip_by_global_norm(g, max_norm))
    got = fn(grads) if mode == "eager" else cc.compile(fn)(grads)
    for k in grads:
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], grads[k].astype(np.float64) * scale, rtol=1e-5, atol=1e-7)
    new_norm = math.sqrt(sum(float(np.sum(np.square(got[k].astype(np.float64)))) for k in got))
    assert new_norm <= max_norm * (1 + 1e-5)
    if norm < max_norm:
        for k in grads:
            np.testing.assert_array_equal(got[k], grads[k])


def test_clip_traced_max_norm_and_empty_tree():
    _, grads = make(3, steps=1)
    grads = grads[0]
    f = cc.compile(lambda g, m: optim.clip_by_global_norm(g, m))
    for m in (0.1, 1.0):
        _, scale = ref_clip(grads, m)
        np.testing.assert_allclose(f(grads, np.float32(m))["w"], grads["w"] * scale, rtol=1e-5, atol=1e-7)
    assert optim.clip_by_global_norm({}, 1.0) == {}
    with pytest.raises(ValueError, match="max_norm"):
        optim.clip_by_global_norm(grads, 0.0)


def test_adamw_clip_one_compiled_training_step():
    # forward + backward + clip + update as one compiled function, against the same steps eagerly
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)
    params, _ = make(5, steps=0)
    opt = optim.adamw(0.01, weight_decay=0.05)

    def loss_fn(p, x, y):
        return np.mean(np.square(x @ p["w"] + p["b"] - y))

    def step(p, s, x, y):
        loss, g = cc.value_and_grad(loss_fn)(p, x, y)
        g = optim.clip_by_global_norm(g, 0.5)
        p, s = opt.update(p, g, s)
        return p, s, loss

    cstep = cc.compile(step)
    pe, se = params, opt.init(params)
    pc, sc = params, opt.init(params)
    losses = []
    for _ in range(5):
        pe, se, _ = step(pe, se, x, y)
        pc, sc, loss = cstep(pc, sc, x, y)
        losses.append(float(loss))
    for k in params:
        np.testing.assert_allclose(pc[k], pe[k], rtol=1e-4, atol=1e-5)
    assert losses[-1] < losses[0]
