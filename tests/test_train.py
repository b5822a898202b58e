"""Training end to end: the compiled step equals the eager (interpreted) step, eager training learns, and (slow)
shortened runs of both examples reach >= 95% test accuracy."""
from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pytest

import compiler as cc
from compiler import pytree

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
needs_compile = pytest.mark.skipif(not hasattr(cc, "compile"), reason="cc.compile not available yet")


def example(name):
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module(name)


def lenet_setup(batch=8, seed=0):
    ex = example("train_lenet")
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    opt = cc.optim.sgd(cc.optim.cosine_decay(0.05, 100), momentum=0.9, weight_decay=5e-4)
    params = cc.nn.init.lenet5(seed=seed)
    return ex, opt, params, opt.init(params), x, y


def mlp_setup(batch=16, seed=0):
    ex = example("train_mlp")
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 64)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    opt = cc.optim.sgd(0.1, momentum=0.9)
    params = cc.nn.init.mlp([64, 128, 10], seed=seed)
    return ex, opt, params, opt.init(params), x, y


def assert_trees_close(a, b, rtol=1e-5, atol=1e-5):
    la, ta = pytree.flatten(a)
    lb, tb = pytree.flatten(b)
    assert ta == tb
    for u, v in zip(la, lb):
        u, v = np.asarray(u), np.asarray(v)
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol)


@needs_compile
@pytest.mark.parametrize("setup", [mlp_setup, lenet_setup])
def test_compiled_step_equals_eager_step(setup):
    ex, opt, params, state, x, y = setup()
    eager, compiled = ex.make_step(opt, eager=True), ex.make_step(opt)
    pe, se, pc, sc = params, state, params, state
    for i in range(3):                                   # state threads through: step count, momentum
        key = np.array(100 + i, np.int64)
        pe, se, le = eager(pe, se, x, y, key)
        pc, sc, lc = compiled(pc, sc, x, y, key)
        np.testing.assert_allclose(lc, le, rtol=1e-5, atol=1e-6)
        assert_trees_close(pc, pe)
        assert_trees_close(sc, se)
    assert int(sc["step"]) == 3


def test_eager_lenet_step_learns_one_batch():
    ex, _, params, _, x, y = lenet_setup(batch=8)
    opt = cc.optim.sgd(0.01, momentum=0.9)
    state = opt.init(params)
    step = ex.make_step(opt, eager=True)
    losses = []
    for i in range(15):
        params, state, loss = step(params, state, x, y, np.array(i, np.int64))
        losses.append(float(loss))
    assert losses[-1] < 0.3 * losses[0], losses            # a batch of 8 can be memorised


def test_lenet_eager_step_matches_numpy_reference():
    """The vive model + cc.value_and_grad + cc.optim.sgd agree with the hand-written NumPy step (no dropout)."""
    sys.path.insert(0, os.path.join(os.path.dirname(EXAMPLES), "benchmarks"))
    import numpy_steps
    ex, _, params, _, x, y = lenet_setup(batch=4)
    opt = cc.optim.sgd(0.05, momentum=0.9, weight_decay=5e-4)

    def loss_fn(p, x, y):
        return cc.nn.cross_entropy(ex.lenet5(p, x), y)

    x64 = x.astype(np.float64)
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    loss, grads = cc.value_and_grad(loss_fn)(p64, x64, y)
    new, _ = opt.update(p64, grads, opt.init(p64))
    ref = {k: v.copy() for k, v in p64.items()}
    vel = {k: np.zeros_like(v) for k, v in p64.items()}
    ref_loss = numpy_steps.lenet_step(ref, vel, x64, y, lr=0.05, mu=0.9, wd=5e-4)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10)
    for k in ref:
        np.testing.assert_allclose(new[k], ref[k], rtol=1e-9, atol=1e-12, err_msg=k)


@pytest.mark.slow
def test_examples_short_runs_reach_95_percent(tmp_path):
    mlp = example("train_mlp").main(["--epochs", "4", "--out", str(tmp_path)])
    assert mlp["final_accuracy"] >= 0.95
    assert mlp["loss_ratio"] < 0.3
    lenet = example("train_lenet").main(["--epochs", "4", "--out", str(tmp_path)])
    assert lenet["final_accuracy"] >= 0.95
    assert lenet["loss"][-1] < 0.5 * lenet["loss"][0]
    for name in ("mlp_curves.png", "lenet_curves.png", "lenet_filters.png"):
        assert (tmp_path / name).stat().st_size > 10_000
