"""Long f32 sums on the GPU use the CPU's scheme (lower/accum.py): f64 accumulators in rows and in the
block-per-column reductions, one rounding to f32 at the end. PTX checks run anywhere; results need a device."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import ptx_support as px

needs_gpu = pytest.mark.gpu
TENTH = float(np.float32(0.1))


def _low(fn, *args):
    return cc.compile(fn, backend="cuda").lower(*args)


def rel(got, exact):
    got = np.asarray(got, np.float64)
    return float(np.max(np.abs(got - exact) / abs(exact)))


def test_long_row_sum_accumulates_in_f64_and_rounds_once():
    low = _low(lambda x: x.sum(axis=1), np.ones((4, 1 << 16), np.float32))
    text = low.ptx()
    assert "cvt.f64.f32" in text and "add.rn.f64" in text and "cvt.rn.f32.f64" in text
    assert len(px.assemble(text, "sm_80")) > 100


def test_short_row_sum_stays_f32():
    text = _low(lambda x: x.sum(axis=1), np.ones((4, 1000), np.float32)).ptx()
    assert "f64" not in text


def test_long_column_sum_reduces_in_f64_then_adds_f32_atomically():
    low = _low(lambda x: x.sum(axis=(0, 2)), np.ones((128, 6, 784), np.float32))
    assert [lc.kind for lc in low.launches] == ["flat", "rows"]       # no extra launch for the f64 scheme
    text = low.ptx()
    assert "cvt.f64.f32" in text and "cvt.rn.f32.f64" in text and "atom.global.add.f32" in text
    assert len(px.assemble(text, "sm_80")) > 100


@needs_gpu
def test_gpu_long_sums_are_within_1e_6_of_fsum():
    x = np.full(1 << 26, 0.1, np.float32)
    assert rel(cc.compile(lambda x: x.sum(), backend="cuda")(x), TENTH * (1 << 26)) < 1e-6
    y = np.full((1 << 22, 4), 0.1, np.float32)
    assert rel(cc.compile(lambda y: y.sum(axis=0), backend="cuda")(y), TENTH * (1 << 22)) < 1e-6
    assert rel(cc.compile(lambda y: y.T.sum(axis=1), backend="cuda")(y), TENTH * (1 << 22)) < 1e-6
    f = cc.compile(lambda s: np.broadcast_to(s, (1 << 33,)).sum(), backend="cuda")
    assert rel(f(np.ones((), np.float32)), 2.0 ** 33) < 1e-6


@needs_gpu
def test_gpu_min_argmin_at_int_extremes():
    x = np.array([[-2 ** 31, 0, 5], [7, -2 ** 31, 2 ** 31 - 1]], np.int32)
    for axis in (None, 0, 1):
        np.testing.assert_array_equal(cc.compile(lambda x: x.min(axis=axis), backend="cuda")(x), x.min(axis=axis))
        np.testing.assert_array_equal(cc.compile(lambda x: np.argmin(x, axis=axis), backend="cuda")(x),
                                      np.argmin(x, axis=axis))
