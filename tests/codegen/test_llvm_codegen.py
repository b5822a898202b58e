"""LLVM codegen: the shape of the emitted module (noalias, inline math, BLAS, OpenMP, vector loops)."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
import runtime
from helpers import assert_contains_in_order


def chain(x, a, b):
    return np.tanh(x * a + b) * (1 / (1 + np.exp(-x))) + 0.5 * x * x


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
