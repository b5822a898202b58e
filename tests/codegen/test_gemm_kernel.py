"""The own small-matrix gemm kernels (codegen/llvm_gemm.py): results against NumPy on odd shapes, layouts, dtypes,
alpha/beta and register files of other CPUs; no read outside the operands (guard pages); gradients through them."""
from __future__ import annotations

import ctypes
import mmap

import numpy as np
import pytest

import compiler as cc
from compiler.codegen.llvm_gemm import GemmPlan, Isa, host_isa, plan_gemm, _tiles
from compiler.ir.types import F32, F64

from gemm_harness import run, dtype_of

ISAS = [host_isa(), Isa(256, 16), Isa(128, 16)]       # this CPU, an AVX2 one, an SSE2 one (all run here)
SHAPES = [(1, 1, 1), (7, 13, 5), (16, 37, 300), (17, 3, 0), (2, 40, 257), (31, 1, 3), (1, 17, 64)]


def _operands(rng, dt, ta, tb, m, n, k):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dt)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dt)
    return a, b


def _ref(a, b, ta, tb):
    return (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)


def _tol(dt, k):
    return (2e-5 if dt == np.float32 else 1e-12) * max(1.0, k) ** 0.5 * 4


@pytest.mark.parametrize("isa", ISAS, ids=lambda i: f"{i.vector_bits}x{i.registers}")
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["nn", "nt", "tn", "tt"])
def test_kernel_matches_numpy(isa, dt, layout):
    rng = np.random.default_rng(1)
    ta, tb = layout[0] == "t", layout[1] == "t"
    for swap in (False, True):
        # two tiles on this CPU's registers; one elsewhere (each kernel costs a compile)
        for mr, nv in ((5, 2), (3, 1)) if isa == host_isa() else ((3, 2),):
            plan = GemmPlan(dtype_of(dt), ta, tb, swap, mr, nv)
            for m, n, k in SHAPES:
                a, b = _operands(rng, dt, ta, tb, m, n, k)
                c0 = rng.standard_normal((m, n)).astype(dt)
                for alpha, beta in ((1.0, 0.0), (0.5, 2.0), (-1.5, 1.0)):
                    c = c0.copy()
                    run(plan, isa, a, b, c, alpha, beta, k=k)
                    want = alpha * _ref(a, b, ta, tb) + beta * c0.astype(np.float64)
                    np.testing.assert_allclose(c, want, rtol=_tol(dt, k), atol=_tol(dt, k),
                                               err_msg=f"{plan.name()} {m}x{n}x{k} alpha={alpha} beta={beta}")


@pytest.mark.parametrize("isa", ISAS, ids=lambda i: f"{i.vector_bits}x{i.registers}")
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_dot_kernel_matches_numpy(isa, dt):
    # the nt layout's sums along k (llvm_gemm_dot.py): tails of k of every length mod the lanes, partial tiles
    rng = np.random.default_rng(6)
    tiles = ((4, 4), (2, 3)) if isa == host_isa() else ((3, 3),)
    for mr, nr in tiles:
        plan = GemmPlan(dtype_of(dt), False, True, False, mr, nr, True)
        for m, n, k in SHAPES + [(6, 25, 1000), (5, 7, 33), (9, 2, 17)]:
            a, b = _operands(rng, dt, False, True, m, n, k)
            c0 = rng.standard_normal((m, n)).astype(dt)
            for alpha, beta in ((1.0, 0.0), (0.5, 2.0)):
                c = c0.copy()
                run(plan, isa, a, b, c, alpha, beta, k=k)
                want = alpha * _ref(a, b, False, True) + beta * c0.astype(np.float64)
                np.testing.assert_allclose(c, want, rtol=_tol(dt, k), atol=_tol(dt, k),
                                           err_msg=f"{plan.name()} {m}x{n}x{k} alpha={alpha} beta={beta}")
    c = np.full((3, 5), np.nan, dt)                        # beta == 0: C not read, even with k == 0
    run(GemmPlan(dtype_of(dt), False, True, False, 4, 4, True), isa, np.ones((3, 0), dt), np.ones((5, 0), dt),
        c, 1.0, 0.0, k=0)
    assert (c == 0).all()


def test_dot_kernel_chosen_for_weight_gradient_shapes():
    # the conv weight gradients' shape class (few outputs, long k) takes the dot formulation; batch-sized outputs
    # keep the row/column ones
    assert plan_gemm(F32, False, True, 6, 25, 50176).dot
    assert plan_gemm(F32, False, True, 16, 150, 6400).dot
    assert not plan_gemm(F32, False, True, 64, 512, 128).dot
    assert plan_gemm(F32, False, False, 6, 25, 50176) is None or not plan_gemm(F32, False, False, 6, 25, 50176).dot


@pytest.mark.parametrize("layout", ["nn", "nt", "tn"])
def test_planned_kernels_on_model_shapes(layout):
    """The planner's own choice for every shape class of bench_gemm.py, on this CPU."""
    rng = np.random.default_rng(2)
    ta, tb = layout[0] == "t", layout[1] == "t"
    for m, n, k in ((16, 256, 78), (16, 10, 256), (78, 25, 16), (6, 500, 25), (6, 25, 600), (64, 40, 120)):
        plan = plan_gemm(F32, ta, tb, m, n, k, force=True)
        a, b = _operands(rng, np.float32, ta, tb, m, n, k)
        c = np.full((m, n), np.nan, np.float32)        # beta == 0: C is never read
        run(plan, host_isa(), a, b, c, k=k)
        np.testing.assert_allclose(c, _ref(a, b, ta, tb), rtol=1e-4, atol=1e-4 * k ** 0.5, err_msg=plan.name())


def test_beta_zero_ignores_nan_and_k_zero_scales():
    plan = GemmPlan(F64, False, False, False, 4, 1)
    a, b = np.ones((3, 0)), np.ones((0, 5))
    c = np.full((3, 5), np.nan)
    run(plan, host_isa(), a, b, c, 1.0, 0.0, k=0)
    assert (c == 0).all()
    c = np.full((3, 5), 2.0)
    run(plan, host_isa(), a, b, c, 1.0, 3.0, k=0)
    assert (c == 6.0).all()


def test_column_block_call_like_sgemm():
    """A caller may run one column block of C (b and c moved to its first column): how a thread team splits it."""
    rng = np.random.default_rng(3)
    for tb in (False, True):
        plan = plan_gemm(F32, False, tb, 16, 100, 70, force=True)
        a, b = _operands(rng, np.float32, False, tb, 16, 100, 70)
        c = np.zeros((16, 100), np.float32)
        f = __import__("gemm_harness").kernel(plan, host_isa())
        for j0, j1 in ((0, 37), (37, 64), (64, 100)):
            boff = (j0 * 70 if tb else j0) * 4
            f(16, j1 - j0, 70, 1.0, a.ctypes.data, 70, b.ctypes.data + boff, b.shape[1], 0.0, c.ctypes.data + j0 * 4,
              100)
        np.testing.assert_allclose(c, _ref(a, b, False, tb), rtol=1e-4, atol=1e-3)


def test_tiles_fit_the_register_file():
    for isa in ISAS:
        for mr, nv in _tiles(isa):
            assert mr * nv + nv + 2 <= isa.registers
    assert plan_gemm(F32, False, False, None, 4, 4) is None        # symbolic sizes: OpenBLAS
    assert plan_gemm(F32, False, False, 2048, 2048, 2048) is None  # big: OpenBLAS
    assert plan_gemm(F32, False, False, 16, 16, 16) is None        # tiny: OpenBLAS
    assert plan_gemm(F32, False, False, 256, 10, 256) is None      # narrower than a panel: OpenBLAS


# ---- nothing read outside the operands: each array ends (or starts) at a page that may not be touched ----

_libc = ctypes.CDLL(None)
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_PAGE = mmap.PAGESIZE


class _Guarded:
    """Arrays placed against an inaccessible page (after their last byte, or before their first)."""

    def __init__(self):
        self.maps = []

    def array(self, src, at_end=True):
        nbytes = src.nbytes
        pages = -(-max(nbytes, 1) // _PAGE) + 1
        mm = mmap.mmap(-1, pages * _PAGE)
        base = ctypes.addressof(ctypes.c_char.from_buffer(mm))
        guard = base + (pages - 1) * _PAGE if at_end else base
        assert _libc.mprotect(guard, _PAGE, 0) == 0
        start = (pages - 1) * _PAGE - nbytes if at_end else _PAGE
        arr = np.frombuffer(mm, dtype=src.dtype, count=src.size, offset=start).reshape(src.shape)
        arr[...] = src
        self.maps.append((mm, guard))
        return arr

    def release(self):
        for mm, guard in self.maps:
            _libc.mprotect(guard, _PAGE, 3)


@pytest.mark.parametrize("at_end", [True, False])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_no_reads_outside_operands(at_end, dt):
    rng = np.random.default_rng(4)
    g = _Guarded()
    try:
        for layout in ("nn", "nt", "tn", "tt"):
            ta, tb = layout[0] == "t", layout[1] == "t"
            for swap in (False, True, "dot"):
                if swap == "dot" and layout != "nt":
                    continue
                for m, n, k in ((13, 19, 7), (1, 33, 5), (21, 1, 9), (5, 7, 300)):
                    plan = (GemmPlan(dtype_of(dt), ta, tb, False, 4, 4, True) if swap == "dot"
                            else GemmPlan(dtype_of(dt), ta, tb, swap, 6, 2))
                    a0, b0 = _operands(rng, dt, ta, tb, m, n, k)
                    a, b = g.array(a0, at_end), g.array(b0, at_end)
                    c = g.array(rng.standard_normal((m, n)).astype(dt), at_end)
                    c_before = np.array(c)
                    run(plan, host_isa(), a, b, c, 1.0, 1.0, k=k)
                    np.testing.assert_allclose(c, _ref(a0, b0, ta, tb) + c_before, rtol=_tol(dt, k),
                                               atol=_tol(dt, k))
    finally:
        g.release()


# ---- through cc.compile ----

def _mlp_loss(p, x, y):
    h = cc.nn.relu(x @ p["w1"] + p["b1"])
    h = np.tanh(h @ p["w2"].T + p["b2"])
    return cc.nn.cross_entropy(h @ p["w3"] + p["b3"], y)


def _mlp_params(rng, dt):
    return {"w1": rng.standard_normal((13, 9)).astype(dt) * 0.3, "b1": rng.standard_normal(9).astype(dt) * 0.1,
            "w2": rng.standard_normal((11, 9)).astype(dt) * 0.3, "b2": rng.standard_normal(11).astype(dt) * 0.1,
            "w3": rng.standard_normal((11, 5)).astype(dt) * 0.3, "b3": rng.standard_normal(5).astype(dt) * 0.1}


def test_mlp_gradients_through_own_kernels_match_finite_differences(monkeypatch):
    monkeypatch.setenv("VIVE_GEMM", "own")
    rng = np.random.default_rng(5)
    p = _mlp_params(rng, np.float64)
    x, y = rng.standard_normal((7, 13)), rng.integers(0, 5, 7)
    step = cc.compile(cc.value_and_grad(_mlp_loss))
    assert "vive.gemm." in step.lower(p, x, y).llvm_ir()
    _, g = step(p, x, y)
    for name in p:
        for _ in range(3):
            d = rng.standard_normal(p[name].shape)
            eps = 1e-6
            hi = dict(p, **{name: p[name] + eps * d})
            lo = dict(p, **{name: p[name] - eps * d})
            fd = (float(_mlp_loss(hi, x, y)) - float(_mlp_loss(lo, x, y))) / (2 * eps)
            assert abs(fd - float(np.sum(g[name] * d))) <= 1e-6 * max(1.0, abs(fd)), name


def test_compiled_f32_matmuls_own_vs_blas(monkeypatch):
    rng = np.random.default_rng(6)
    p = _mlp_params(rng, np.float32)
    x, y = rng.standard_normal((16, 13)).astype(np.float32), rng.integers(0, 5, 16)
    out = {}
    for mode in ("own", "blas"):
        monkeypatch.setenv("VIVE_GEMM", mode)
        step = cc.compile(cc.value_and_grad(_mlp_loss))
        assert ("vive.gemm." in step.lower(p, x, y).llvm_ir()) == (mode == "own")
        out[mode] = step(p, x, y)
    np.testing.assert_allclose(out["own"][0], out["blas"][0], rtol=1e-5)
    for name in p:
        np.testing.assert_allclose(out["own"][1][name], out["blas"][1][name], rtol=1e-4, atol=1e-6)


def test_auto_uses_own_kernels_for_small_static_shapes(monkeypatch):
    monkeypatch.delenv("VIVE_GEMM", raising=False)
    f = cc.compile(lambda a, b: a @ b)
    a, b = np.ones((16, 200), np.float32), np.ones((200, 100), np.float32)
    assert "vive.gemm.f32.nn" in f.lower(a, b).llvm_ir()
    np.testing.assert_allclose(f(a, b), a @ b)


_CHILD = """
import numpy as np, compiler as cc
a = np.arange(16 * 30, dtype=np.float32).reshape(16, 30) / 100
b = np.arange(30 * 20, dtype=np.float32).reshape(30, 20) / 100
f = cc.compile(lambda a, b: np.tanh(a @ b))
assert "vive.gemm." in f.lower(a, b).llvm_ir()
np.testing.assert_allclose(f(a, b), np.tanh(a @ b), rtol=1e-5, atol=1e-6)
print(f.cache_info())
"""


def test_kernels_resolve_for_programs_loaded_from_the_disk_cache(tmp_path):
    """A program read from the disk cache by a fresh process finds its gemm kernels (made on load)."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, VIVE_CACHE_DIR=str(tmp_path), VIVE_GEMM="own")
    env.pop("VIVE_DEBUG", None)
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
