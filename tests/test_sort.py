"""np.sort / np.argsort (compiler/ops_sort.py) against NumPy: values, shapes and dtypes compiled and interpreted
(NaN, inf and -0.0 where NumPy puts them; ties in NumPy's stable order), NumPy's exceptions, and the derivative
routed through the permutation (finite differences and closed form)."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
from compiler.trace import interpret


def _values(shape, dt, seed=0, specials=False):
    rng = np.random.default_rng(seed)
    if np.dtype(dt) == np.bool_:
        return rng.random(shape) < 0.5
    x = (rng.standard_normal(shape) * 5).astype(dt)
    if specials and np.dtype(dt).kind == "f" and x.size >= 6:
        f = x.reshape(-1)
        f[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, np.nan]
        rng.shuffle(f)
    return x


def _same(got, want):
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    np.testing.assert_array_equal(got, want)
    if want.dtype.kind == "f":
        assert np.array_equal(np.signbit(got), np.signbit(want)), "signs of zeros differ"


SHAPES = [((7,), -1), ((3, 5), 0), ((4, 16), 1), ((2, 3, 9), 1), ((0,), -1), ((1,), 0), ((2, 0), 1), ((5,), None),
          ((3, 4), None), ((6, 1), -1)]


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.int64, np.bool_])
@pytest.mark.parametrize("shape,axis", SHAPES, ids=[f"{s}-{a}" for s, a in SHAPES])
def test_sort_argsort_match_numpy(shape, axis, dt):
    x = _values(shape, dt, specials=True)
    for fn in (lambda x: np.sort(x, axis, kind="stable"), lambda x: np.argsort(x, axis, kind="stable")):
        want = fn(x)
        _same(interpret(cc.trace(fn, x), x)[0], want)
        _same(cc.compile(fn)(x), want)


def test_ties_keep_numpy_stable_order():
    x = np.random.default_rng(1).integers(0, 3, (4, 13)).astype(np.float64)
    for fn in (lambda x: np.argsort(x, kind="stable"), lambda x: x.argsort(axis=0, kind="stable"),
               lambda x: np.sort(x, axis=0)):
        _same(cc.compile(fn)(x), fn(x))


def test_sort_grads():
    x = np.random.default_rng(2).standard_normal((3, 10))
    cc.check_grads(lambda x: np.sort(x, 1) * np.arange(10.0), (x,), order=2)
    cc.check_grads(lambda x: np.sort(x, axis=None), (x,))
    # d sum(w * sort(x)) / dx_k = w[rank of x_k]: the cotangent goes back through the permutation
    w = np.arange(30.0) ** 2
    want = w[np.argsort(np.argsort(x, axis=None))].reshape(x.shape)
    np.testing.assert_array_equal(cc.compile(cc.grad(lambda x: np.sum(w * np.sort(x, axis=None))))(x), want)


def test_long_axis_sorts():
    x = _values((2, 3000), np.float64, seed=3, specials=True)
    _same(cc.compile(lambda x: np.sort(x, 1))(x), np.sort(x, 1, kind="stable"))


@pytest.mark.parametrize("fn,shape", [(lambda x: np.sort(x, 2), (3, 4)), (lambda x: np.argsort(x, -3), (3, 4)),
                                      (lambda x: np.sort(x), ()), (lambda x: np.sort(x, kind="bogus"), (3,))])
def test_numpy_exceptions(fn, shape):
    x = np.ones(shape)
    with pytest.raises(Exception) as e:
        fn(x)
    with pytest.raises(type(e.value)):
        cc.trace(fn, x)
