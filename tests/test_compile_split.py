"""A whole compiled program whose LLVM module is split into parts compiled on several threads
(runtime/jit_split.py) gives what the same function gives eagerly, and what the unsplit module gives."""
import numpy as np
import pytest

import compiler as cc
from runtime import jit_split


def _loss(p, x, y):
    h1 = np.tanh(x @ p["w1"] + p["b1"])
    h2 = np.maximum(h1 @ p["w2"] + p["b2"], 0)
    return cc.nn.cross_entropy(h2 @ p["w3"] + p["b3"], y)


def _args():
    r = np.random.default_rng(3)
    p = {}
    for i, (a, b) in enumerate([(12, 16), (16, 16), (16, 5)], 1):
        p[f"w{i}"] = (r.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        p[f"b{i}"] = r.standard_normal(b).astype(np.float32) * 0.1
    return p, r.standard_normal((9, 12)).astype(np.float32), r.integers(0, 5, 9)


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_split_program_matches_eager(threads, monkeypatch, tmp_path):
    monkeypatch.setenv("VIVE_NO_CACHE", "1")
    monkeypatch.setenv("VIVE_COMPILE_THREADS", threads)
    monkeypatch.setattr(jit_split, "MIN_SPLIT_LINES", 50)      # this small program splits too
    monkeypatch.setattr(jit_split, "MIN_PART_LINES", 20)
    args = _args()

    def loss(p, x, y):
        return _loss(p, x, y)
    loss.__name__ = loss.__qualname__ = f"loss_threads{threads}"     # its own program, not the table's
    low = cc.compile(cc.value_and_grad(loss)).lower(*args)
    assert ("compile_parts" in low._module.timings) == (threads != "1")
    v, g = low(*args)
    ev, eg = cc.value_and_grad(_loss)(*args)
    np.testing.assert_allclose(v, ev, rtol=2e-5, atol=1e-6)
    for k in eg:
        np.testing.assert_allclose(g[k], eg[k], rtol=2e-4, atol=1e-6)
