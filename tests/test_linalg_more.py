"""np.linalg.qr / pinv / lstsq / matrix_rank and scipy.linalg.solve_triangular / cho_factor / cho_solve on traced
values (compiler/ops_linalg_more.py): values against NumPy and SciPy, gradients against float64 finite differences."""
import numpy as np
import pytest
import scipy.linalg as sl

import compiler as cc
from compiler.errors import TraceError

RNG = np.random.default_rng(0)
A = RNG.standard_normal((5, 3))
S = RNG.standard_normal((4, 4))
B = RNG.standard_normal((4, 2))
b5 = RNG.standard_normal(5)
SPD = S @ S.T + 4 * np.eye(4)
TRI = S + 4 * np.eye(4)


def _same(got, ref, tol=1e-12):
    got = got if isinstance(got, tuple) else (got,)
    ref = ref if isinstance(ref, tuple) else (ref,)
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert np.shape(g) == np.shape(r)
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol)


VALUE_CASES = {
    "qr tall": (lambda a: tuple(np.linalg.qr(a)), (A,)),
    "qr wide": (lambda a: tuple(np.linalg.qr(a.T)), (A,)),
    "qr square": (lambda a: tuple(np.linalg.qr(a)), (S,)),
    "qr complete": (lambda a: tuple(np.linalg.qr(a, mode="complete")), (A,)),
    "qr r": (lambda a: np.linalg.qr(a, mode="r"), (A,)),
    "pinv": (lambda a: np.linalg.pinv(a), (A,)),
    "pinv rank-deficient": (lambda a: np.linalg.pinv(a @ a.T), (A,)),
    "lstsq tall": (lambda a, b: tuple(np.linalg.lstsq(a, b)), (A, b5)),
    "lstsq matrix rhs": (lambda a, b: tuple(np.linalg.lstsq(a, b)), (A, np.stack([b5, 2 * b5], 1))),
    "lstsq wide": (lambda a, b: tuple(np.linalg.lstsq(a.T, b)), (A, b5[:3])),
    "matrix_rank": (lambda a: np.linalg.matrix_rank(a), (A,)),
    "matrix_rank deficient": (lambda a: np.linalg.matrix_rank(a @ a.T), (A,)),
    "solve_triangular": (lambda a, b: sl.solve_triangular(a, b), (TRI, B)),
    "solve_triangular lower trans unit": (
        lambda a, b: sl.solve_triangular(a, b, lower=True, trans="T", unit_diagonal=True), (TRI, B)),
    "cho_factor": (lambda a: sl.cho_factor(a)[0], (SPD,)),
    "cho_factor lower": (lambda a: sl.cho_factor(a, lower=True)[0], (SPD,)),
    "cho_solve": (lambda a, b: sl.cho_solve(sl.cho_factor(a), b), (SPD, B)),
    "cho_solve lower vector": (lambda a, b: sl.cho_solve(sl.cho_factor(a, lower=True), b), (SPD, B[:, 0])),
}


@pytest.mark.parametrize("name", list(VALUE_CASES))
def test_values_match_numpy_and_scipy(name):
    f, args = VALUE_CASES[name]
    _same(cc.compile(f)(*args), f(*args))


def test_qr_float32_and_batched():
    a = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    q, r = cc.compile(lambda a: tuple(np.linalg.qr(a)))(a)
    qn, rn = np.linalg.qr(a)
    assert q.dtype == np.float32
    np.testing.assert_allclose(q, qn, atol=2e-6)
    np.testing.assert_allclose(r, rn, atol=2e-6)


GRAD_CASES = {
    "qr": (lambda a: np.sum(np.linalg.qr(a)[0] * np.arange(15.0).reshape(5, 3)) + np.sum(np.linalg.qr(a)[1] ** 2),
           (A,)),
    "qr complete": (lambda a: np.sum(np.sin(np.linalg.qr(a, mode="complete")[0])), (A,)),
    "pinv": (lambda a: np.sum(np.sin(np.linalg.pinv(a))), (A,)),
    "lstsq": (lambda a, b: np.sum(np.sin(np.linalg.lstsq(a, b)[0])) + np.sum(np.linalg.lstsq(a, b)[1]), (A, b5)),
    "solve_triangular": (lambda a, b: np.sum(np.sin(sl.solve_triangular(a, b, lower=True, trans=1))), (TRI, B)),
    "cho_solve": (lambda a, b: np.sum(np.sin(sl.cho_solve(sl.cho_factor(a), b))), (SPD, B)),
    "cho_factor": (lambda a: np.sum(np.sin(sl.cho_factor(a, lower=True)[0])), (SPD,)),
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_gradients_match_finite_differences(name):
    f, args = GRAD_CASES[name]
    cc.check_grads(f, args, order=1)


def test_qr_second_order():
    cc.check_grads(lambda a: np.sum(np.linalg.qr(a)[1][0] ** 3), (A,), order=2)


def test_unsupported_options_are_clear_errors():
    with pytest.raises(TraceError, match="raw"):
        cc.compile(lambda a: np.linalg.qr(a, mode="raw"))(A)
    with pytest.raises(ValueError, match="mode"):
        cc.compile(lambda a: np.linalg.qr(a, mode="full-ish"))(A)
    with pytest.raises(ValueError, match="trans"):
        cc.compile(lambda a, b: sl.solve_triangular(a, b, trans=3))(TRI, B)
    with pytest.raises(TraceError, match="static"):
        cc.compile(lambda a: np.linalg.qr(a)[1]).lower(cc.Spec("f64[N,3]"))


def test_lstsq_rank_deficient_tall_fails_at_run_time():
    # NumPy returns no residuals for a rank-deficient a: a shape vive cannot know while tracing
    f = cc.compile(lambda a, b: np.linalg.lstsq(a, b)[0])
    deficient = np.concatenate([A[:, :2], A[:, :1]], axis=1)
    np.testing.assert_allclose(f(A, b5), np.linalg.lstsq(A, b5)[0], atol=1e-12)
    with pytest.raises(AssertionError, match="rank-deficient"):
        f(deficient, b5)
