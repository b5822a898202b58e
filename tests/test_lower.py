"""Lowering: fused groups -> loop-level kernels (loop nests, affine indices with sympy sizes, printable)."""
from __future__ import annotations

import numpy as np
import pytest
import sympy

import compiler as cc
from compiler.ir.kernel import Ix, Const, Load, Op, Buffer, Loop, Store
from compiler.lower.lowering import collapse, reshape_idx, flat
from compiler.ir.types import F32, symbol


def kernels(fn, *args):
    return cc.compile(fn).lower(*args).kernels


def test_broadcast_loop_nest_with_symbolic_rows():
    text = str(kernels(lambda x, y: x * 2 + y, cc.Spec("f32[N,4]"), cc.Spec("f32[4]")))
    assert "parallel for i0 in 0..N:" in text
    assert "for i1 in 0..4:" in text
    assert "x[4*i0 + i1]" in text and "y[i1]" in text


def test_same_shape_loops_collapse_to_one():
    text = str(kernels(lambda x, y: x * y, cc.Spec("f32[N,4,5]"), cc.Spec("f32[N,4,5]")))
    assert "parallel for i2 in 0..20*N:" in text or "in 0..20*N:" in text
    assert text.count("for ") == 1


def test_transpose_reads_strided():
    text = str(kernels(lambda x: x.T + 1, np.ones((3, 5), np.float32)))
    assert "x[5*i1 + i0]" in text or "x[i0 + 5*i1]" in text


def test_reshape_of_a_buffer_is_the_same_flat_index():
    text = str(kernels(lambda x: np.exp(x).reshape(6, 2)[:, ::-1 if False else 1] * 2
                       if False else (x @ x.T).reshape(-1) * 2, np.ones((3, 4), np.float32)))
    assert "t0[i" in text or "out0[i" in text


def test_row_kernel_phases_for_softmax():
    text = str(kernels(lambda x: np.exp(x - x.max(axis=1, keepdims=True)) /
                       np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True), cc.Spec("f32[B,C]")))
    assert "parallel for i0 in 0..B:" in text
    # a row of symbolic length may be long: its f32 sum accumulates in f64 (lower/accum.py)
    assert "init_max<f32>()" in text and "init_sum<f64>()" in text
    assert text.index("init_max") < text.index("init_sum")


def test_gemm_statement_with_symbolic_m():
    text = str(kernels(lambda x, w: x @ w, cc.Spec("f32[N,8]"), np.ones((8, 3), np.float32)))
    assert "gemm<f32>" in text and "m=N n=3 k=8" in text


def test_batched_matmul_loops_over_batch():
    text = str(kernels(lambda a, b: a @ b, np.ones((2, 3, 4), np.float32), np.ones((2, 4, 5), np.float32)))
    assert "for b" in text and "gemm<f32>" in text


def test_ix_arithmetic_and_printing():
    n = symbol("N")
    i = Ix.var("i0").mul(n).add(Ix.var("i1")).add(3)
    assert i.coef("i0") == n and i.coef("i1") == 1 and i.const == 3
    assert str(i) == "N*i0 + i1 + 3"
    assert sympy.simplify(i.to_sympy() - (n * sympy.Symbol("i0", integer=True, nonnegative=True)
                                          + sympy.Symbol("i1", integer=True, nonnegative=True) + 3)) == 0


def test_collapse_merges_contiguous_loops_only():
    buf = Buffer("x", F32, (4, 5), "input")
    out = Buffer("y", F32, (4, 5), "output")
    idx = flat((Ix.var("a"), Ix.var("b")), (4, 5))
    body = collapse(["a", "b"], [4, 5], [Store(out, idx, Load(buf, idx))], True)
    assert len(body) == 1 and body[0].extent == 20 and not isinstance(body[0].body[0], Loop)
    # a load that ignores the inner index (broadcast) keeps the nest
    body = collapse(["a", "b"], [4, 5], [Store(out, idx, Load(buf, Ix.var("a")))], True)
    assert body[0].extent == 4 and isinstance(body[0].body[0], Loop)


def test_reshape_index_splits_merged_dims():
    idx = reshape_idx((Ix.var("i"),), (12,), (3, 4))
    assert "floordiv" in str(idx[0]) and "mod" in str(idx[1])
    idx = reshape_idx((Ix.var("i"), Ix.var("j")), (3, 4), (12,))
    assert idx[0] == Ix.var("i").mul(4).add(Ix.var("j"))


def test_unknown_primitive_is_a_clean_backend_error():
    from compiler.primitives.base import Primitive, REGISTRY
    p = Primitive("_test_unlowerable", numpy=lambda x: x, shape=lambda x, **_: x, kind="other")
    try:
        with pytest.raises(cc.BackendError, match="_test_unlowerable"):
            cc.compile(lambda x: p(x) + 1)(np.ones(3, np.float32))
    finally:
        del REGISTRY["_test_unlowerable"]


def test_kernel_ir_is_printable_with_shared_subexpressions_named():
    text = str(kernels(lambda x: np.tanh(x * 3) + np.tanh(x * 3) ** 2, np.ones(8, np.float32)))
    assert "t0 = tanh(mul(x[i0], 3.0))" in text or "tanh(mul(x[" in text


@pytest.mark.parametrize("red", ["sum", "max"])
@pytest.mark.parametrize("shape", [(64, 6, 784), (5, 3, 7, 9), (33, 4, 1500)])
def test_column_reduction_with_reduced_inner_axes_sums_rows_first(red, shape):
    # a bias gradient (sum over N, H, W of NCHW): the innermost reduced axes go to a row accumulator (vectorised
    # partial sums) added into the kept element once per row, not one serial chain through memory
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    x[0, 1, ..., 3] = np.nan if red == "max" else x[0, 1, ..., 3]
    axes = (0,) + tuple(range(2, len(shape)))
    fn = (lambda x: x.sum(axis=axes)) if red == "sum" else (lambda x: x.max(axis=axes))
    text = str(kernels(fn, x))
    assert f"init_{red}<" in text.split("\nkernel ", 1)[1]
    got = cc.compile(fn)(x)
    want = fn(x.astype(np.float64))
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=2e-6, atol=1e-5 * np.sqrt(x.size))


def test_column_reduction_with_reduced_inner_axes_symbolic():
    f = cc.compile(lambda x: (x * 2.0).sum(axis=(0, 2)))
    for n in (3, 17):
        x = np.random.default_rng(n).standard_normal((n, 4, 50)).astype(np.float32)
        np.testing.assert_allclose(f(x), (x.astype(np.float64) * 2).sum(axis=(0, 2)), rtol=1e-5, atol=1e-4)
    assert "init_sum<" in str(f.lower(cc.Spec("f32[N,4,50]")).kernels)
