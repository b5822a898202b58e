"""Random programs on the OpenMP team (codegen/llvm_team.py, llvm_team_sync.py): chains of big gemms (every layout,
row and column splits, batched), elementwise loops of odd extents, reductions and convolutions, run on 1, 2 and 3
threads. Every thread count gives NumPy's answer: each chunk of every statement runs exactly once, after the
statements before it."""
import numpy as np
import pytest

import compiler as cc
import runtime
from compiler.compile import set_num_threads

blas = runtime.blas_symbols()
pytestmark = pytest.mark.skipif(blas is None or not blas.get("set_num_threads") or not runtime.has_openmp(),
                                reason="needs a CBLAS with a thread count and libgomp")


def _program(rng):
    """(fn, args): a random chain over a batch of m rows."""
    m = int(rng.integers(64, 140))
    # the first layer over the team's bar (1M multiply-adds), the others anything
    widths = [int(rng.integers(120, 200)) for _ in range(2)] + [int(rng.integers(9, 200))
                                                               for _ in range(int(rng.integers(0, 3)))]
    ws = [rng.standard_normal((a, b)) / np.sqrt(a) for a, b in zip(widths, widths[1:])]
    trans = [bool(rng.integers(0, 2)) for _ in ws]
    ws = [np.ascontiguousarray(w.T) if t else w for w, t in zip(ws, trans)]
    acts = [rng.choice(["tanh", "relu", "sin", "square"]) for _ in ws]
    batched = bool(rng.integers(0, 2))
    x = rng.standard_normal((m, widths[0]))
    bt = rng.standard_normal((int(rng.integers(2, 9)), widths[-1], int(rng.integers(20, 90))))

    def act(name, h):
        return {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0.0), "sin": np.sin,
                "square": lambda v: v * v * 0.1}[name](h)

    def f(x, *ws_bt):
        ws, bt = ws_bt[:-1], ws_bt[-1]
        h = x
        for w, t, a in zip(ws, trans, acts):
            h = act(a, h @ (w.T if t else w))
        out = [h, h.sum(axis=0), (h * h).mean(axis=1)]
        if batched:
            out.append(np.tanh(bt.transpose(0, 2, 1) @ bt))       # a loop of gemms
        return out
    return f, (x, *ws, bt)


@pytest.mark.parametrize("seed", range(8))
def test_random_team_programs(seed):
    rng = np.random.default_rng(1000 + seed)
    f, args = _program(rng)
    want = f(*args)
    fc = cc.compile(f)
    assert ".team.body" in fc.lower(*args).llvm_ir()
    try:
        for n in (1, 2, 3):
            set_num_threads(n)
            got = fc(*args)
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9, err_msg=f"seed {seed}, {n} threads")
    finally:
        set_num_threads(0)


@pytest.mark.parametrize("seed", range(3))
def test_random_conv_steps_on_threads(seed):
    # a conv layer's value and gradients (im2col, per-image input gradient, weight gradient) on the team
    rng = np.random.default_rng(2000 + seed)
    n, c, o = int(rng.integers(3, 40)), int(rng.integers(1, 5)), int(rng.integers(2, 9))
    hw, k = int(rng.integers(8, 20)), int(rng.choice([3, 5]))
    x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((o, c, k, k)) * 0.3).astype(np.float32)
    v = rng.standard_normal((60, 300)).astype(np.float32)        # a big gemm: the program gets a team

    def loss(x, w, v):
        return (np.tanh(cc.nn.conv2d(x, w)) ** 2).sum() + ((v @ v.T) ** 2).sum() * 1e-6
    step = cc.compile(cc.value_and_grad(loss, argnums=(0, 1)))
    assert ".team.body" in step.lower(x, w, v).llvm_ir()
    ref = cc.value_and_grad(loss, argnums=(0, 1))(x.astype(np.float64), w.astype(np.float64), v.astype(np.float64))
    try:
        for nt in (1, 2, 3):
            set_num_threads(nt)
            val, (gx, gw) = step(x, w, v)
            np.testing.assert_allclose(val, ref[0], rtol=2e-4)
            np.testing.assert_allclose(gx, ref[1][0], rtol=2e-3, atol=2e-3)
            np.testing.assert_allclose(gw, ref[1][1], rtol=2e-3, atol=2e-2)
    finally:
        set_num_threads(0)
