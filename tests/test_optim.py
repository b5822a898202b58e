"""cc.optim: updates equal the textbook formulas over several steps, eagerly and traced; schedules trace."""
from __future__ import annotations

import math

import numpy as np
import pytest

import compiler as cc
from compiler import optim, pytree


def make(seed=0):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((3, 2)).astype(np.float32), "b": rng.standard_normal(2).astype(np.float32)}
    grads = [{k: rng.standard_normal(v.shape).astype(np.float32) for k, v in params.items()} for _ in range(3)]
    return params, grads


def run_traced(opt, params, grads_seq):
    """Each update through cc.trace + the reference interpreter."""
    state = opt.init(params)
    for g in grads_seq:
        graph = cc.trace(opt.update, params, g, state)
        leaves = pytree.flatten((params, g, state))[0]
        out = cc.interpret(graph, *leaves)
        params, state = pytree.unflatten(graph.out_tree, out)
    return params, state


def run_eager(opt, params, grads_seq):
    state = opt.init(params)
    for g in grads_seq:
        params, state = opt.update(params, g, state)
    return params, state


@pytest.mark.parametrize("run", [run_eager, run_traced])
@pytest.mark.parametrize("mu,wd,nesterov", [(0.0, 0.0, False), (0.9, 0.0, False), (0.9, 1e-2, False),
                                            (0.0, 0.1, False), (0.8, 1e-2, True)])
def test_sgd_textbook_three_steps(run, mu, wd, nesterov):
    params, grads = make()
    lr = 0.1
    p = {k: v.astype(np.float64) for k, v in params.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for g in grads:
        for k in p:
            d = g[k] + wd * p[k]                      # PyTorch: weight decay joins the gradient
            v[k] = mu * v[k] + d
            p[k] = p[k] - lr * ((d + mu * v[k]) if nesterov else v[k])
    got, state = run(optim.sgd(lr, momentum=mu, weight_decay=wd, nesterov=nesterov), params, grads)
    for k in p:
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], p[k], rtol=1e-5, atol=1e-6)
    assert int(state["step"]) == 3
    assert ("momentum" in state) == (mu > 0)


def test_sgd_matches_torch_style_first_step():
    # PyTorch's first momentum step sets v = g; ours starts v at 0, which gives the same v after one step
    params, grads = make()
    got, state = optim.sgd(0.5, momentum=0.9).update(params, grads[0], optim.sgd(0.5, momentum=0.9).init(params))
    np.testing.assert_allclose(state["momentum"]["w"], grads[0]["w"])
    np.testing.assert_allclose(got["w"], params["w"] - 0.5 * grads[0]["w"], rtol=1e-6)


def test_sgd_is_pure():
    params, grads = make()
    before = {k: v.copy() for k, v in params.items()}
    opt = optim.sgd(0.1, momentum=0.9)
    state = opt.init(params)
    opt.update(params, grads[0], state)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    assert np.all(state["momentum"]["w"] == 0) and int(state["step"]) == 0


def test_sgd_mismatched_trees():
    params, grads = make()
    opt = optim.sgd(0.1)
    with pytest.raises(ValueError, match="pytree structure"):
        opt.update(params, {"w": grads[0]["w"]}, opt.init(params))


@pytest.mark.parametrize("run", [run_eager, run_traced])
def test_adam_textbook_three_steps(run):
    params, grads = make(1)
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.99, 1e-8, 1e-3
    p = {k: v.astype(np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(x) for k, x in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    for t, g in enumerate(grads, start=1):
        for k in p:
            d = g[k] + wd * p[k]
            m[k] = b1 * m[k] + (1 - b1) * d
            v[k] = b2 * v[k] + (1 - b2) * d * d
            p[k] = p[k] - lr * (m[k] / (1 - b1 ** t)) / (np.sqrt(v[k] / (1 - b2 ** t)) + eps)
    got, state = run(optim.adam(lr, b1, b2, eps, weight_decay=wd), params, grads)
    for k in p:
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], p[k], rtol=1e-5, atol=1e-6)
    assert int(state["step"]) == 3


def test_schedules_closed_forms_eager_and_traced():
    scheds = {
        "step": (optim.step_decay(0.1, 0.5, 10), lambda t: 0.1 * 0.5 ** (t // 10)),
        "exp": (optim.exponential_decay(0.1, 0.5, 10), lambda t: 0.1 * 0.5 ** (t / 10)),
        "cos": (optim.cosine_decay(0.1, 100, 0.01), lambda t: 0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * min(t, 100) / 100))),
        "warm": (optim.linear_warmup(0.1, 5), lambda t: 0.1 * min(1.0, (t + 1) / 5)),
        "const": (optim.constant(0.3), lambda t: 0.3),
    }
    for name, (s, want) in scheds.items():
        g = cc.trace(lambda t: s(t) * np.ones((), np.float64), np.int64(0))
        for t in (0, 3, 10, 25, 150):
            np.testing.assert_allclose(float(s(np.int64(t))), want(t), rtol=1e-12, err_msg=name)
            np.testing.assert_allclose(cc.interpret(g, np.int64(t))[0], want(t), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("run", [run_eager, run_traced])
def test_sgd_with_schedule_uses_step_count(run):
    params, grads = make()
    sched = optim.step_decay(0.2, 0.5, 2)            # 0.2, 0.2, 0.1
    p = {k: v.astype(np.float64) for k, v in params.items()}
    for t, g in enumerate(grads):
        for k in p:
            p[k] = p[k] - 0.2 * 0.5 ** (t // 2) * g[k]
    got, state = run(optim.sgd(sched), params, grads)
    for k in p:
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], p[k], rtol=1e-5, atol=1e-6)
