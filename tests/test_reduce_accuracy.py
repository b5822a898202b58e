"""Long f32 reductions are as accurate as NumPy's pairwise sum or better (within 1e-6 relative of math.fsum),
along every axis and inside fused kernels (mean, var/std, softmax, cross-entropy): lower/accum.py accumulates them
in f64 (the GPU side: tests/gpu/test_reduce_accuracy_gpu.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import compiler as cc

TENTH = float(np.float32(0.1))


def rel(got, exact):
    got, exact = np.asarray(got, np.float64), np.asarray(exact, np.float64)
    return float(np.max(np.abs(got - exact) / np.abs(exact)))


def fsum_along(x, axis):
    return np.apply_along_axis(lambda r: math.fsum(r.astype(np.float64)), axis, x)


def test_sum_of_2_26_tenths_is_accurate():
    """Issue 17: relative error 1e-2 (NumPy: 1.5e-7). Every term is the same, so fsum is n * term exactly."""
    x = np.full(1 << 26, 0.1, np.float32)
    exact = TENTH * (1 << 26)                   # = math.fsum(x): a power-of-two multiple is exact
    assert rel(cc.compile(lambda x: x.sum())(x), exact) < 1e-6
    assert rel(cc.compile(np.mean)(x), TENTH) < 1e-6


def test_sum_of_2_33_ones_is_exact_to_f32():
    """Issue 17: a sum of 2^33 ones returned 8.456e9. 2^33 f32 ones do not fit this machine, so the compiled
    function broadcasts one input element to 2^33 terms: the kernel runs the same 2^33-step accumulation."""
    f = cc.compile(lambda s: np.broadcast_to(s, (1 << 33,)).sum())
    one = np.ones((), np.float32)
    text = str(f.lower(one).kernels)          # 2^23 blocks of 2^10 terms (the CPU's blocked f32 -> f64 sum)
    assert "in 0..8388608:" in text and "in 0..1024:" in text
    assert rel(f(one), 2.0 ** 33) < 1e-6
    rows = cc.compile(lambda s: np.broadcast_to(s, (4, 1 << 31)).sum(axis=1))(np.float32(0.1))
    assert rel(rows, TENTH * 2 ** 31) < 1e-6


def test_random_sum_matches_fsum():
    x = np.random.default_rng(0).random(1 << 22, dtype=np.float32)
    exact = math.fsum(x.astype(np.float64))
    assert rel(cc.compile(lambda x: x.sum())(x), exact) < 1e-6
    assert rel(cc.compile(lambda x: x.sum(dtype=np.float64))(x), exact) < 1e-12


@pytest.mark.parametrize("shape,axis", [((1 << 22, 4), 0), ((4, 1 << 22), 1), ((4, 1 << 19, 3), 1),
                                        ((1 << 11, 3, 1 << 11), (0, 2)), ((64, 1 << 16), 0)])
def test_sums_along_every_axis_are_accurate(shape, axis):
    x = np.full(shape, 0.1, np.float32)
    n = int(np.prod([shape[a] for a in np.atleast_1d(axis)]))
    exact = TENTH * n
    f = cc.compile(lambda x: (x.sum(axis=axis), x.mean(axis=axis), np.tanh(x.sum(axis=axis) * 1e-9)))
    s, m, t = f(x)
    assert rel(s, exact) < 1e-6 and rel(m, TENTH) < 1e-6
    assert rel(t, np.tanh(exact * 1e-9)) < 1e-6                 # the sum read by a fused epilogue
    y = np.random.default_rng(1).random(shape, dtype=np.float32)
    if isinstance(axis, int):
        assert rel(cc.compile(lambda y: y.sum(axis=axis))(y), fsum_along(y, axis)) < 1e-6


def test_var_and_std_over_long_rows():
    x = (1000 + np.random.default_rng(2).random((2, 1 << 21))).astype(np.float32)
    x64 = x.astype(np.float64)
    v, s = cc.compile(lambda x: (x.var(axis=1), np.std(x, axis=1)))(x)
    assert rel(v, x64.var(axis=1)) < 1e-4 and rel(s, x64.std(axis=1)) < 1e-4
    v, s = cc.compile(lambda x: (x.var(axis=0), np.std(x, axis=0)))(x.T.copy())
    assert rel(v, x64.var(axis=1)) < 1e-4 and rel(s, x64.std(axis=1)) < 1e-4


def test_softmax_and_cross_entropy_over_a_long_row():
    rng = np.random.default_rng(3)
    logits = rng.uniform(0, 0.1, (3, 1 << 20)).astype(np.float32)
    x64 = logits.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    got = cc.compile(cc.nn.softmax)(logits)
    assert rel(got, want) < 2e-6
    labels = np.array([0, 5, 1 << 19])
    ce = cc.compile(cc.nn.cross_entropy)(logits, labels)
    lse = np.log(e.sum(axis=1)) + x64.max(axis=1)
    assert rel(ce, np.mean(lse - x64[np.arange(3), labels])) < 1e-6


def test_short_rows_keep_f32_accumulators_and_long_ones_use_f64():
    """The policy of lower/accum.py, visible in the kernels: short static rows and columns stay f32 (NumPy's
    accuracy, no convert); long or symbolic ones accumulate in f64."""
    def kernels(fn, *args):
        return str(cc.compile(fn).lower(*args).kernels)
    assert "init_sum<f32>" in kernels(lambda x: x.sum(axis=1), np.ones((8, 1000), np.float32))
    assert "init_sum<f64>" in kernels(lambda x: x.sum(axis=1), np.ones((8, 5000), np.float32))
    assert "init_sum<f64>" in kernels(lambda x: x.sum(axis=1), cc.Spec("f32[N,M]"))
    assert "colacc" not in kernels(lambda x: x.sum(axis=0), np.ones((16, 8), np.float32))
    assert "f64" in kernels(lambda x: x.sum(axis=0), np.ones((17, 8), np.float32))
    assert "cast" not in kernels(lambda x: x.sum(axis=1), np.ones((8, 5000), np.float64))      # f64 stays


def test_blocked_row_sums_over_symbolic_lengths_cover_every_term():
    """Rows of symbolic length M run floor(M/1024) f32 blocks and a remainder of M mod 1024 terms: every length
    (shorter than a block, a multiple of it, neither) sums each term once."""
    f = cc.compile(lambda x: (x.sum(axis=1), cc.nn.softmax(x), np.argmax(x, axis=1), x.mean(axis=1)))
    f.lower(cc.Spec("f32[N,M]"))
    rng = np.random.default_rng(5)
    for m in (1, 5, 1023, 1024, 1025, 2048, 3000):
        x = rng.random((3, m), dtype=np.float32)
        s, sm, am, mean = f(x)
        x64 = x.astype(np.float64)
        assert rel(s, fsum_along(x, 1)) < 1e-6 and rel(mean, x64.mean(axis=1)) < 1e-6
        e = np.exp(x64 - x64.max(axis=1, keepdims=True))
        assert rel(sm, e / e.sum(axis=1, keepdims=True)) < 2e-6
        np.testing.assert_array_equal(am, np.argmax(x, axis=1))
    assert f.cache_info()["compiles"] == 1                # every length ran the one symbolic version


def test_blocked_column_sums_cover_every_row():
    """CPU column sums of more than 16 rows run in blocks of 32 terms per output (f32) added into f64 scratch:
    row counts around the block size, an inner reduced axis that shrinks the block, a symbolic batch."""
    rng = np.random.default_rng(6)
    f = cc.compile(lambda x: (x.sum(axis=0), np.tanh(x.mean(axis=0))))
    f.lower(cc.Spec("f32[N,5]"))
    for n in (1, 16, 17, 31, 32, 33, 100, 1000):
        x = rng.random((n, 5), dtype=np.float32)
        s, t = f(x)
        assert rel(s, fsum_along(x, 0)) < 1e-6 and rel(t, np.tanh(x.astype(np.float64).mean(axis=0))) < 1e-6
    for shape in ((100, 3, 4), (7, 2, 40), (33, 2, 8)):
        x = rng.random(shape, dtype=np.float32)
        got = cc.compile(lambda x: x.sum(axis=(0, 2)))(x)
        assert rel(got, [math.fsum(x[:, j, :].astype(np.float64).ravel()) for j in range(shape[1])]) < 1e-6
