"""examples/train_rnn.py: the LSTM in cc.scan equals a Python-loop LSTM (values and gradients), its compiled
training step equals the eager one, and (slow) a short run learns and writes its curves."""
from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pytest

import compiler as cc
from compiler import pytree

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def example():
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    return importlib.import_module("train_rnn")


def unrolled_lstm(params, x):
    """The same LSTM with the time loop written in Python (unrolled into the graph when traced)."""
    n, hid = x.shape[0], params["wh"].shape[0]
    xs = x.reshape(n, 32, 32)
    h = c = np.zeros((n, hid), params["wh"].dtype)
    for t in range(32):
        z = xs[:, t] @ params["wx"] + params["b"] + h @ params["wh"]
        i, f, g, o = (z[:, k * hid:(k + 1) * hid] for k in range(4))
        sig = lambda u: 1 / (1 + np.exp(-u))                      # noqa: E731
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
    return h @ params["wo"] + params["bo"]


def setup(hidden=6, batch=4, dtype=np.float64, seed=0):
    ex = example()
    rng = np.random.default_rng(seed)
    params = {k: v.astype(dtype) for k, v in ex.init_lstm(hidden, seed=seed).items()}
    x = rng.standard_normal((batch, 1, 32, 32)).astype(dtype)
    y = rng.integers(0, 10, batch)
    return ex, params, x, y


def test_lstm_in_scan_equals_python_loop():
    ex, params, x, y = setup()
    np.testing.assert_allclose(ex.lstm(params, x), unrolled_lstm(params, x), rtol=1e-12, atol=1e-12)
    g = cc.trace(ex.lstm, params, x)
    assert sum(n.prim.name == "scan" for n in g.nodes) == 1
    np.testing.assert_allclose(cc.interpret(g, *pytree.flatten((params, x))[0])[0], unrolled_lstm(params, x),
                               rtol=1e-12, atol=1e-12)


def test_lstm_gradient_equals_unrolled_gradient():
    ex, params, x, y = setup()
    got = cc.grad(ex.loss_fn)(params, x, y)
    want = cc.grad(lambda p, x, y: cc.nn.cross_entropy(unrolled_lstm(p, x), y))(params, x, y)
    for k in params:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-13, err_msg=k)


def _scan_compiles():
    try:
        cc.compile(lambda x: cc.scan(lambda c, a: (c + a, None), x[0], x)[0])(np.ones((2, 2), np.float32))
        return True
    except cc.BackendError:               # the control-flow lowering not there yet
        return False


def test_compiled_step_equals_eager_step():
    if not _scan_compiles():
        pytest.skip("cc.compile does not lower cc.scan in this tree")
    ex, params, x, y = setup(hidden=8, batch=6, dtype=np.float32)
    opt = cc.optim.adam(cc.optim.cosine_decay(0.01, 100))
    eager, compiled = ex.make_step(opt, eager=True), ex.make_step(opt)
    pe, se, pc, sc = params, opt.init(params), params, opt.init(params)
    key = np.array(0, np.int64)
    for _ in range(3):
        pe, se, le = eager(pe, se, x, y, key)
        pc, sc, lc = compiled(pc, sc, x, y, key)
        np.testing.assert_allclose(lc, le, rtol=1e-5)
    for k in params:
        np.testing.assert_allclose(pc[k], pe[k], rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.slow
def test_short_run_learns(tmp_path):
    if not _scan_compiles():
        pytest.skip("cc.compile does not lower cc.scan in this tree")
    res = example().main(["--epochs", "3", "--hidden", "32", "--lr", "0.01", "--out", str(tmp_path)])
    assert res["final_accuracy"] >= 0.8
    assert res["loss"][-1] < 0.5 * res["loss"][0]
    assert (tmp_path / "rnn_curves.png").stat().st_size > 10_000
