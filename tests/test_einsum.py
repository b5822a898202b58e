"""np.einsum (compiler/ops_einsum.py) against NumPy: values, shapes and dtypes compiled and interpreted, NumPy's
exception for bad subscripts, and gradients against float64 finite differences."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
from compiler.trace import interpret

CASES = [
    ("ij,jk->ik", [(3, 4), (4, 5)]), ("ij,jk", [(3, 4), (4, 5)]), ("ij->ji", [(3, 4)]), ("ij", [(3, 4)]),
    ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("ij->", [(3, 4)]), ("i,i", [(4,), (4,)]), ("i,j->ij", [(4,), (3,)]),
    ("bij,jk->bik", [(2, 3, 4), (4, 5)]), ("...ij,jk->...ik", [(2, 3, 4), (4, 5)]), ("bij,bij->b", [(2, 3, 4)] * 2),
    ("ijk->kji", [(2, 3, 4)]), ("iij->j", [(3, 3, 2)]), ("iji->j", [(2, 3, 2)]), ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),
    ("i,i", [(1,), (4,)]), ("ij,ij->i", [(3, 4)] * 2), ("...,...", [(4,), ()]), ("ji,jk", [(3, 4), (3, 2)]),
    ("i,ij->j", [(3,), (3, 4)]), ("ij,kl->ijkl", [(3, 4), (2, 2)]), ("ij,jk->ik", [(0, 4), (4, 5)]),
    ("ij,jk->ik", [(3, 0), (0, 5)]), ("i->", [(0,)]), ("...i->...", [(2, 1, 3)]), ("ab...,b...->a...", [(2, 3, 4), (3, 1)]),
    (" ij , jk -> ki ", [(3, 4), (4, 2)]), ("ijk,ikl,ilm->ijm", [(2, 3, 4), (2, 4, 3), (2, 3, 2)]),
]


def _args(shapes, dt, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dt).kind == "f":
        return [rng.standard_normal(s).astype(dt) for s in shapes]
    return [rng.integers(-4, 5, s).astype(dt) for s in shapes]


def _check(got, want):
    got = np.asarray(got)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    if want.dtype.kind == "f":
        tol = 1e-5 if want.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("sub,shapes", CASES, ids=[c[0] for c in CASES])
def test_einsum_matches_numpy(sub, shapes, dt):
    args = _args(shapes, dt)
    f = lambda *a: np.einsum(sub, *a)       # noqa: E731
    want = f(*args)
    _check(interpret(cc.trace(f, *args), *args)[0], want)
    _check(cc.compile(f)(*args), want)


@pytest.mark.parametrize("sub,shapes", CASES, ids=[c[0] for c in CASES])
def test_einsum_grads(sub, shapes):
    cc.check_grads(lambda *a: np.einsum(sub, *a), _args(shapes, np.float64, seed=1))


def test_einsum_mixed_dtypes_dtype_and_optimize():
    a, b = _args([(3, 4)], np.float32)[0], _args([(4, 2)], np.int64)[0]
    for f in (lambda a, b: np.einsum("ij,jk", a, b), lambda a, b: np.einsum("ij,jk", a, b, dtype=np.float64),
              lambda a, b: np.einsum("ij,jk->k", a, b, optimize=True)):
        got, want = cc.compile(f)(a, b), f(a, b)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6)      # NumPy's own f32 products differ by its path


def test_einsum_sublist_form():
    a, b = _args([(2, 3, 4), (4, 5)], np.float64)
    f = lambda a, b: np.einsum(a, [0, Ellipsis, 1], b, [1, 2], [Ellipsis, 2, 0])      # noqa: E731
    _check(cc.compile(f)(a, b), f(a, b))
    g = lambda a: np.einsum(a, [1, 0])                                      # noqa: E731
    _check(cc.compile(g)(b), g(b))


@pytest.mark.parametrize("sub,shapes", [("ij,jk", [(3, 4), (3, 4)]), ("ijk", [(3, 4)]), ("i->j", [(3,)]),
                                        ("i->ii", [(3,)]), ("ij,j", [(2, 3)])])
def test_einsum_errors_are_numpys(sub, shapes):
    args = _args(shapes, np.float64)
    with pytest.raises(Exception) as e:
        np.einsum(sub, *args)
    with pytest.raises(type(e.value)):
        cc.trace(lambda *a: np.einsum(sub, *a), *args)


def test_einsum_bool_is_refused_clearly():
    with pytest.raises(cc.TraceError, match="bool"):
        cc.trace(lambda a: np.einsum("ij,jk", a, a), np.ones((2, 2), bool))
