"""Fusion golden tests: kernel counts, kernel kinds and bytes moved for the patterns that matter."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
from compiler.passes.fuse import fuse_graph, FusedGraph
from compiler.passes import run_pipeline, GENERIC_PIPELINE
from compiler.lower import lower_plan

N = 1024


def lowered(fn, *args):
    low = cc.compile(fn).lower(*args)
    return low, low.kernels


def chain(x, a, b):
    return np.tanh(x * a + b) * (1 / (1 + np.exp(-x))) + 0.5 * x * x


def test_elementwise_chain_is_one_kernel_reading_three_arrays_writing_one():
    x = np.ones(N, np.float32)
    low, prog = lowered(chain, x, x.copy(), x.copy())
    assert len(prog.kernels) == 1
    k = prog.kernels[0]
    assert k.kind == "loop"
    assert sorted(b.name for b in k.reads) == ["a", "b", "x"]
    assert [b.name for b in k.writes] == ["out0"]
    assert prog.bytes_moved == 4 * N * 4
    assert "parallel for" in str(prog)


def test_symbolic_chain_counts_bytes_symbolically():
    s = cc.Spec("f32[N]")
    _, prog = lowered(chain, s, s, s)
    assert len(prog.kernels) == 1
    assert str(prog.bytes_moved) == "16*N"


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ce(logits, labels):
    z = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -np.take_along_axis(z - lse, labels[:, None], axis=1).mean()


def test_softmax_is_one_row_kernel():
    _, prog = lowered(softmax, np.ones((64, 100), np.float32))
    assert [k.kind for k in prog.kernels] == ["row"]
    # reads x once from memory, writes the probabilities once
    assert prog.bytes_moved == 2 * 64 * 100 * 4


def test_cross_entropy_forward_in_two_kernels():
    x, y = np.ones((64, 100), np.float32), np.zeros(64, np.int64)
    _, prog = lowered(ce, x, y)
    assert len(prog.kernels) <= 2


def test_cross_entropy_forward_and_backward_in_two_kernels():
    x, y = np.ones((64, 100), np.float32), np.zeros(64, np.int64)
    low = cc.compile(cc.value_and_grad(ce)).lower(x, y)
    assert len(low.kernels.kernels) <= 2
    assert low.kernels.kernels[0].kind == "row"


def test_log_softmax_backward_alone_is_one_kernel():
    x = np.ones((64, 100), np.float32)
    g = np.ones((64, 100), np.float32)
    low = cc.compile(lambda x, g: cc.vjp(cc.nn.log_softmax, x)[1](g)[0]).lower(x, g)
    assert len(low.kernels.kernels) <= 2


def test_matmul_takes_bias_and_relu_epilogue():
    x, w, b = np.ones((8, 16), np.float32), np.ones((16, 4), np.float32), np.ones(4, np.float32)
    _, prog = lowered(lambda x, w, b: np.maximum(x @ w + b, 0) * 2.0, x, w, b)
    assert [k.kind for k in prog.kernels] == ["gemm"]
    text = str(prog)
    assert "gemm<f32>" in text and "maximum(" in text


def test_matmul_used_twice_is_not_duplicated():
    x, w = np.ones((8, 16), np.float32), np.ones((16, 4), np.float32)
    _, prog = lowered(lambda x, w: (np.tanh(x @ w), (x @ w) * 3), x, w)
    assert sum(k.kind == "gemm" for k in prog.kernels) == 1


def test_bias_gradient_is_a_column_reduction():
    g = np.ones((32, 8), np.float32)
    _, prog = lowered(lambda g: (g * 2).sum(axis=0), g)
    assert [k.kind for k in prog.kernels] == ["col"]


def test_cheap_producer_is_duplicated_not_stored():
    x = np.ones((16, 16), np.float32)
    _, prog = lowered(lambda x: (np.exp(x * 2).sum(axis=1), (x * 2) + 1), x)
    assert all(b.role != "temp" for b in prog.buffers)


def test_fusion_log_gives_reasons(monkeypatch):
    x = np.ones((8, 8), np.float32)
    low = cc.compile(lambda x: (x.max(axis=0), np.exp(x).T @ x)).lower(x)
    plan = low.plan
    assert any("cannot fuse" in line or "becomes" in line or "takes" in line for line in plan.log)
    text = str(low.pass_log[-1].graph)
    assert "kernel k0_" in text


def test_fused_graph_prints_kernels():
    g = cc.trace(chain, *(np.ones(4, np.float32),) * 3)
    g = run_pipeline(g, GENERIC_PIPELINE)
    plan, prog = fuse_graph(g, lambda p: lower_plan(p))
    text = str(FusedGraph(g, plan))
    assert text.count("kernel ") == 1 and "tanh" in text


def test_mlp_training_step_kernel_count():
    r = np.random.default_rng(0)
    p = {"w1": r.standard_normal((784, 256)).astype(np.float32), "b1": np.zeros(256, np.float32),
         "w2": r.standard_normal((256, 10)).astype(np.float32), "b2": np.zeros(10, np.float32)}
    x, y = r.standard_normal((128, 784)).astype(np.float32), r.integers(0, 10, 128)

    def loss(p, x, y):
        h = np.maximum(x @ p["w1"] + p["b1"], 0)
        return cc.nn.cross_entropy(h @ p["w2"] + p["b2"], y)

    def step(p, x, y):
        v, g = cc.value_and_grad(loss)(p, x, y)
        return v, {k: p[k] - 0.1 * g[k] for k in p}
    low = cc.compile(step).lower(p, x, y)
    n = len(low.kernels.kernels)
    print(f"MLP 784-256-10 SGD step: {n} kernels, {low.kernels.bytes_moved} bytes moved")
    # 4 gemms (2 forward, 2 weight gradients) + 1 input-gradient gemm, the loss, the bias gradients
    assert n <= 10


def test_sgd_momentum_update_is_one_kernel_per_parameter():
    # new velocity and new parameter both read the gradient and the old velocity: one pass, two outputs
    p, v, g = (np.ones(N, np.float32) * i for i in (1, 2, 3))

    def update(p, v, g):
        v2 = 0.9 * v + g
        return p - 0.01 * v2, v2
    low, prog = lowered(update, p, v, g)
    assert len(prog.kernels) == 1 and len(prog.kernels[0].writes) == 2
    assert prog.bytes_moved == 5 * N * 4
    got = cc.compile(update)(p, v, g)
    for a, b in zip(got, update(p, v, g)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_unrelated_same_shape_outputs_stay_separate_kernels():
    x, y = np.ones(N, np.float32), np.ones(N, np.float32)
    low, prog = lowered(lambda x, y: (np.exp(x), np.sin(y)), x, y)
    assert len(prog.kernels) == 2
