"""examples/train_resnet.py in small: its compiled step (forward, backward, update, running statistics) equals the
eager step, its running statistics follow cc.nn.update_running_stats, and evaluation uses them."""
from __future__ import annotations

import numpy as np

import compiler as cc
from test_train import example, assert_trees_close


def setup(batch=4):
    ex = example("train_resnet")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    opt = cc.optim.sgd(0.05, momentum=0.9, weight_decay=5e-4)
    params, stats = ex.init_params(0)
    counts = {name: batch * (16 * 16 if name.startswith(("stem", "b1")) else 8 * 8) for name in stats}
    return ex, opt, params, (opt.init(params), stats), x, y, counts


def test_resnet_compiled_step_equals_eager_step():
    ex, opt, params, state, x, y, counts = setup()
    key = np.array(0, np.int64)
    eager = ex.make_step(opt, counts, eager=True)(params, state, x, y, key)
    compiled = ex.make_step(opt, counts)(params, state, x, y, key)
    assert_trees_close(compiled, eager, rtol=2e-4, atol=2e-5)
    loss = float(eager[2])
    assert np.isfinite(loss) and loss > 0


def test_resnet_running_stats_follow_update_running_stats():
    ex, opt, params, (_, stats), x, y, counts = setup()
    _, seen = ex.resnet(params, x)
    h = cc.nn.conv2d(x, params["stem_w"], stride=2, padding=1)
    new = ex.running(stats, seen, counts)
    want = cc.nn.update_running_stats(*stats["stem"], h, momentum=ex.BN_MOMENTUM)
    for got, w in zip(new["stem"], want):
        np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-6)
    # evaluation with running statistics is batch-independent: one image alone gives the same logits
    logits, _ = ex.resnet(params, x, new)
    one, _ = ex.resnet(params, x[1:2], new)
    np.testing.assert_allclose(one[0], logits[1], rtol=1e-4, atol=1e-5)
