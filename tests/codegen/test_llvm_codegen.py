"""LLVM codegen: the shape of the emitted module (noalias, inline math, BLAS, OpenMP, vector loops)."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
import runtime
import runtime.jit as runtime_jit
from compiler.codegen import llvm as codegen_llvm
from compiler.compile import set_num_threads
from helpers import assert_contains_in_order


def chain(x, a, b):
    return np.tanh(x * a + b) * (1 / (1 + np.exp(-x))) + 0.5 * x * x


def cheap(x, a, b):
    return x * a + b * 0.5


def lower(fn, *args):
    return cc.compile(fn).lower(*args)


def test_entry_and_kernel_functions():
    ir = lower(chain, *(np.ones(64, np.float32),) * 3).llvm_ir()
    assert_contains_in_order(ir, ["define void", "call void", "define internal void", "noalias"])
    # math is inline polynomials, never libm calls or intrinsics that become them
    for bad in ("llvm.exp.", "llvm.tanh.", "@expf", "@tanhf", "llvm.log."):
        assert bad not in ir


def test_loops_vectorise_to_full_width():
    low = lower(chain, *(np.ones(4096, np.float32),) * 3)
    opt = low.optimized_llvm_ir()
    assert "<16 x float>" in opt or "<8 x float>" in opt


def test_max_reduction_vectorises_and_keeps_nan():
    low = lower(lambda x: x.max(axis=1), np.ones((8, 4096), np.float32))
    assert "x float>" in low.optimized_llvm_ir()
    x = np.random.default_rng(0).standard_normal((8, 4096)).astype(np.float32)
    x[3, 100] = np.nan
    got = cc.compile(lambda x: x.max(axis=1))(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(x.max(axis=1)))


def test_matmul_calls_blas():
    syms = runtime.blas_symbols()
    if syms is None:
        pytest.skip("no BLAS")
    ir = lower(lambda a, b: a @ b, np.ones((4, 5), np.float32), np.ones((5, 6), np.float32)).llvm_ir()
    assert syms["sgemm"] in ir
    ir = lower(lambda a, b: a @ b, np.ones((4, 5)), np.ones((5, 6))).llvm_ir()
    assert syms["dgemm"] in ir


@pytest.mark.skipif(not runtime.has_openmp(), reason="libgomp not available")
def test_large_elementwise_loops_run_on_all_cores_small_ones_do_not():
    big = lower(chain, *(np.ones(1 << 20, np.float32),) * 3).optimized_llvm_ir()
    assert "GOMP_parallel" in big
    small = lower(chain, *(np.ones(64, np.float32),) * 3).optimized_llvm_ir()
    assert "GOMP_parallel" not in small


def test_symbolic_sizes_are_read_from_dims():
    ir = lower(lambda x: x * 2, cc.Spec("f32[N]")).llvm_ir()
    assert "dim_N" in ir


def test_asm_is_available():
    assert "ret" in lower(lambda x: x + 1, np.ones(4, np.float32)).asm()


def test_openblas_runs_single_threaded_and_big_gemms_split_over_the_team():
    syms = runtime.blas_symbols()
    if syms is None or not syms.get("set_num_threads"):
        pytest.skip("no OpenBLAS thread control")
    setter = syms["set_num_threads"]
    small = lower(lambda a, b: a @ b, np.ones((64, 64), np.float32), np.ones((64, 64), np.float32)).llvm_ir()
    # entry: read OpenBLAS's count once, run at 1, restore; the small gemm itself changes nothing
    assert_contains_in_order(small, [setter.replace("set_num_threads", "get_num_threads"), setter, "call void",
                                     setter, "ret void"])
    assert small.count(f"call void @\"{setter}\"") + small.count(f"call void @{setter}") == 2
    big = lower(lambda a, b: a @ b, np.ones((256, 256), np.float32), np.ones((256, 256), np.float32)).llvm_ir()
    # a big gemm leaves OpenBLAS at one thread too: its columns are split over the OpenMP team (llvm_team.py)
    assert big.count(f"@{setter}(") + big.count(f"@\"{setter}\"(") == 3     # declared, 2 in the entry
    assert ".team.body" in big and "GOMP_parallel" in big
    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    np.testing.assert_allclose(cc.compile(lambda a, b: a @ b)(a, a), a @ a, rtol=1e-4, atol=1e-4)


def test_numpy_logistic_idiom_uses_inline_logistic():
    ir = lower(lambda x: 1 / (1 + np.exp(-x)), np.ones(64, np.float32)).llvm_ir()
    assert ir.count("fdiv") == 1                                   # logistic's one division, no exp overflow path
    x = np.array([-120.0, -100.0, -30.0, -1.0, -0.0, 0.0, 2.0, 50.0, np.inf, -np.inf, np.nan], np.float32)
    got = cc.compile(lambda x: 1 / (1 + np.exp(-x)))(x)
    with np.errstate(over="ignore"):
        ref = 1 / (1 + np.exp(-x.astype(np.float64)))
    np.testing.assert_allclose(got, ref, rtol=3e-7, atol=1e-45)


def test_floordiv_and_mod_by_powers_of_two():
    x = np.arange(-37, 38, dtype=np.int64)
    f = cc.compile(lambda x: (x // 8, x % 8, x // 3, x % 3))
    for got, ref in zip(f(x), (x // 8, x % 8, x // 3, x % 3)):
        np.testing.assert_array_equal(got, ref)
    # index floordiv by the pool size 2 (the gradient of a max pool whose windows miss the last row and column)
    # is a shift, not a division
    pool_grad = cc.grad(lambda x: (cc.nn.max_pool2d(x) ** 2).sum())
    ir = lower(pool_grad, np.ones((1, 1, 5, 5), np.float32)).llvm_ir()
    assert "ashr" in ir and "sdiv" not in ir


def test_pool_gradient_iterates_per_window_on_the_cpu():
    pool_grad = cc.grad(lambda x: (np.maximum(cc.nn.max_pool2d(x), 0.1) ** 2).sum())
    x = np.random.default_rng(0).integers(0, 3, (2, 3, 8, 6)).astype(np.float32)     # ties
    low = lower(pool_grad, x)
    text = str(low.kernels)
    # (n, c, window row) collapse to 2*3*4 = 24, then 3 windows per row, each storing its 2 x 2 elements
    assert "floordiv" not in text and "in 0..24:" in text and "in 0..3:" in text and text.count("out0[") == 4
    np.testing.assert_array_equal(cc.compile(pool_grad)(x), pool_grad(x))


# ---- streaming (non-temporal) stores ----

@pytest.fixture
def small_llc(monkeypatch):
    """Pretend the last-level cache is 1 MiB, so a few-MiB kernel counts as too big to stay cached."""
    monkeypatch.setattr(runtime, "last_level_cache_bytes", lambda: 1 << 20)


def test_big_flat_elementwise_kernel_streams_its_output(small_llc):
    n = 1 << 20
    rng = np.random.default_rng(0)
    x, a, b = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    low = lower(cheap, x, a, b)
    assert codegen_llvm.STREAM_SUFFIX in low.llvm_ir()
    opt = low.optimized_llvm_ir()
    streamed = [ln for ln in opt.splitlines() if "!nontemporal" in ln]
    assert streamed and all(ln.lstrip().startswith("store <") for ln in streamed)
    assert all(int(ln.split("align ")[1].split(",")[0]) >= 16 for ln in streamed)
    if runtime.host_target().triple.startswith("x86_64"):
        assert "movntp" in low.asm()
    f = cc.compile(cheap)
    want = cheap(x.astype(np.float64), a.astype(np.float64), b.astype(np.float64))
    for threads in (1, 0):
        set_num_threads(threads)
        try:
            got = f(x, a, b)
        finally:
            set_num_threads(0)
        assert got.ctypes.data % 64 == 0
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # an odd length: the scalar tail after the aligned vector body
    np.testing.assert_allclose(cc.compile(cheap)(x[:n - 7], a[:n - 7], b[:n - 7]), want[:n - 7], rtol=1e-5, atol=1e-6)


def test_compute_heavy_kernels_do_not_stream(small_llc):
    # tanh + logistic per element: streaming stores stalled the arithmetic (see codegen/llvm.py _stream_stores)
    big = np.ones(1 << 20, np.float32)
    low = lower(chain, big, big, big)
    store = low.kernels.kernels[0].body[0].body[0]
    assert codegen_llvm._body_cost([store.value])[0] > codegen_llvm.STREAM_MAX_COST
    assert codegen_llvm.STREAM_SUFFIX not in low.llvm_ir()
    assert codegen_llvm.STREAM_SUFFIX in lower(cheap, big, big, big).llvm_ir()
    np.testing.assert_allclose(cc.compile(chain)(big, big, big), chain(1.0, 1.0, 1.0), rtol=1e-6)


@pytest.mark.parametrize("fn", [lambda x, a, b: np.exp(x) + a, lambda x, a, b: np.tanh(x * a + b),
                                lambda x, a, b: np.log(np.abs(x)) + a], ids=["exp", "tanh", "log"])
def test_one_transcendental_is_enough_not_to_stream(small_llc, fn):
    # cheap in summed cost (5-7 units) but a polynomial each: exp(x) + a ran 2.5x slower with streaming stores
    big = np.full(1 << 20, 0.5, np.float32)
    low = lower(fn, big, big, big)
    total, most = codegen_llvm._body_cost([low.kernels.kernels[0].body[0].body[0].value])
    assert total <= codegen_llvm.STREAM_MAX_COST          # the summed cost alone would have streamed it
    assert most > codegen_llvm.STREAM_MAX_OP_COST
    assert codegen_llvm.STREAM_SUFFIX not in low.llvm_ir()
    np.testing.assert_allclose(cc.compile(fn)(big, big, big), fn(big, big, big), rtol=2e-6)


def test_small_or_strided_kernels_do_not_stream(small_llc):
    small = np.ones(1024, np.float32)
    assert codegen_llvm.STREAM_SUFFIX not in lower(chain, small, small, small).llvm_ir()
    rows = np.ones((1024, 1024), np.float32)
    # a[0] broadcast over rows: the store index is 1024*i0 + i1, not one flat loop index
    low = lower(lambda x, a, b: x * a[0] + b, rows, rows, rows)
    assert codegen_llvm.STREAM_SUFFIX not in low.llvm_ir()
    assert "!nontemporal" not in low.optimized_llvm_ir()


def test_stream_suffix_agrees_between_codegen_and_runtime():
    assert codegen_llvm.STREAM_SUFFIX == runtime_jit.STREAM_SUFFIX


def test_last_level_cache_size_is_positive():
    assert runtime.last_level_cache_bytes() >= 1 << 20
