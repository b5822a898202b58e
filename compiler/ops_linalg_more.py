"""More of np.linalg and scipy.linalg on traced values, as compositions of the decompositions of ops_linalg.py
(solve, cholesky, svd): np.linalg.qr (Householder reflections, LAPACK's sign convention), pinv, lstsq,
matrix_rank; scipy.linalg.solve_triangular, cho_factor, cho_solve (reached through scipy_wrap.py). Derivatives come
from the parts. Options these cannot honour raise a clear error naming them.

qr unrolls one reflection per column: its sizes must be static, and its graph grows with min(m, n) (meant for the
small matrices one differentiates through; a LAPACK geqrf primitive would be the way for large ones).
"""
from __future__ import annotations

import numpy as np
from numpy.linalg import LinAlgError

from . import primitives as P
from .errors import TraceError
from .ops_base import implements, asarg, shape_of, ndim_of, _aval, _err
from .ops_array import concatenate, reshape, swapaxes, broadcast_to, expand_dims
from .ops_index import getitem
from .ops_elementwise import (add, greater, less_equal, multiply, not_equal, sqrt, subtract, true_divide, where,
                              equal, astype)
from .ops_reduce import sum as sum_, max as max_, any as any_
from .ops_linalg import _float, _matrices, svd, solve, cholesky
from .ops_shape import tril, triu

try:                                   # NumPy's result type (a namedtuple) where this NumPy has it
    from numpy.linalg._linalg import QRResult
except ImportError:                    # pragma: no cover
    QRResult = None


def _static(a, what):
    s = shape_of(a)
    if not all(isinstance(d, int) for d in s[-2:]):
        raise _err(TraceError, f"{what} needs static matrix sizes, got {tuple(s)}")
    return s[-2], s[-1]


def _mT(x):
    return swapaxes(x, -1, -2)


# ---- np.linalg.qr ------------------------------------------------------------------------------------------------

def _reflect(x):
    """(v, 2 / v.v) of the Householder reflection H = I - (2 / v.v) v v^T taking the column x (..., k) to
    beta e1 with beta = -sign(x0) |x|, as LAPACK's dlarfg (so R's diagonal has NumPy's signs)."""
    x0 = getitem(x, (Ellipsis, slice(0, 1)))
    norm = sqrt(sum_(multiply(x, x), axis=-1, keepdims=True))
    one = _aval(x).dtype.np.type(1)
    s = where(less_equal(0.0, x0), one, -one)
    v = concatenate([add(x0, multiply(s, norm)), getitem(x, (Ellipsis, slice(1, None)))], axis=-1)
    vv = sum_(multiply(v, v), axis=-1, keepdims=True)
    # an all-zero column: no reflection (LAPACK's tau = 0)
    tau = where(equal(vv, 0.0), 0.0, true_divide(2.0, where(equal(vv, 0.0), 1.0, vv)))
    return v, tau


def _apply(v, tau, m, j):
    """M -> H M on rows j: of a matrix M (..., rows, cols)."""
    def go(M):
        top, low = getitem(M, (Ellipsis, slice(0, j), slice(None))), getitem(M, (Ellipsis, slice(j, m), slice(None)))
        w = sum_(multiply(expand_dims(v, -1), low), axis=-2, keepdims=True)          # v^T M[j:]
        low = subtract(low, multiply(expand_dims(multiply(tau, v), -1), w))
        return concatenate([top, low], axis=-2) if j else low
    return go


@implements(np.linalg.qr)
def qr(a, mode="reduced"):
    if mode not in ("reduced", "complete", "r"):
        raise _err(TraceError if mode == "raw" else ValueError,
                   f"np.linalg.qr(mode={mode!r}): vive computes modes 'reduced', 'complete' and 'r'"
                   + (" (raw gives LAPACK's packed reflectors)" if mode == "raw" else ""))
    a = _matrices(a, square=False)
    m, n = _static(a, "np.linalg.qr")
    k = min(m, n)
    R, reflections = a, []
    for j in range(k):
        if m - j == 1:
            break                      # a 1-element column needs no reflection (LAPACK leaves it)
        v, tau = _reflect(getitem(R, (Ellipsis, slice(j, m), j)))
        R = _apply(v, tau, m, j)(R)
        reflections.append((j, v, tau))
    R = triu(R)                        # below the diagonal: rounding residue of zeros
    if mode == "r":
        return getitem(R, (Ellipsis, slice(0, k), slice(None)))
    cols = m if mode == "complete" else k
    Q = broadcast_to(np.eye(m, cols, dtype=_aval(a).dtype.np), tuple(shape_of(a)[:-2]) + (m, cols))
    for j, v, tau in reversed(reflections):                 # Q = H0 H1 ... I
        Q = _apply(v, tau, m, j)(Q)
    if mode == "reduced":
        R = getitem(R, (Ellipsis, slice(0, k), slice(None)))
    return QRResult(Q, R) if QRResult is not None else (Q, R)


# ---- pinv, lstsq, matrix_rank ------------------------------------------------------------------------------------

def _eps(a):
    return float(np.finfo(_aval(a).dtype.np).eps)


def _inverse_values(s, cutoff):
    large = greater(s, cutoff)
    return where(large, true_divide(1.0, where(large, s, 1.0)), 0.0), large


@implements(np.linalg.pinv)
def pinv(a, rcond=None, hermitian=False, *, rtol=np._NoValue):
    a = _matrices(a, square=False)
    m, n = _static(a, "np.linalg.pinv")
    if rcond is None:
        rcond = 1e-15 if rtol is np._NoValue else (max(m, n) * _eps(a) if rtol is None else rtol)
    elif rtol is not np._NoValue:
        raise _err(ValueError, "`rtol` and `rcond` can't be both set.")
    u, s, vt = svd(a, full_matrices=False)
    rc = rcond if np.isscalar(rcond) else expand_dims(np.asarray(rcond, _aval(a).dtype.np), -1)
    cutoff = multiply(rc, max_(s, axis=-1, keepdims=True))
    inv_s, _ = _inverse_values(s, cutoff)
    return _mT(vt) @ multiply(expand_dims(inv_s, -1), _mT(u))


@implements(np.linalg.matrix_rank)
def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    if ndim_of(A) < 2:
        return astype(any_(not_equal(A, 0)), np.int64)
    A = _matrices(A, square=False)
    m, n = _static(A, "np.linalg.matrix_rank")
    s = svd(A, compute_uv=False)
    if tol is None:
        r = max(m, n) * _eps(A) if rtol is None else rtol
        tol = multiply(max_(s, axis=-1, keepdims=True), r)
    elif rtol is not None:
        raise _err(ValueError, "`tol` and `rtol` can't be both set.")
    return sum_(astype(greater(s, tol), np.int64), axis=-1)


@implements(np.linalg.lstsq)
def lstsq(a, b, rcond=None):
    a = _float(a)
    if ndim_of(a) != 2:
        raise _err(LinAlgError, f"{ndim_of(a)}-dimensional array given. Array must be two-dimensional")
    m, n = _static(a, "np.linalg.lstsq")
    b = _float(b)
    vector = ndim_of(b) == 1
    if vector:
        b = reshape(b, (shape_of(b)[0], 1))
    if ndim_of(b) != 2 or shape_of(b)[0] != m:
        raise _err(LinAlgError, "Incompatible dimensions")
    if rcond is None:
        rcond = _eps(a) * max(m, n)
    u, s, vt = svd(a, full_matrices=False)
    inv_s, large = _inverse_values(s, multiply(rcond, max_(s, axis=-1, keepdims=True)))
    # gelsd's minimum-norm solution: V diag(1/s) U^T b over the singular values above rcond * s_max
    x = _mT(vt) @ multiply(expand_dims(inv_s, -1), _mT(u) @ b)
    rank = sum_(astype(large, np.int64), axis=-1)
    if m > n:
        r = subtract(b, a @ x)
        residuals = sum_(multiply(r, r), axis=0)
        # NOTE: NumPy gives residuals only at full rank (else an empty array): the shape of the result cannot
        # depend on the values here, so a rank-deficient a fails at run time instead of returning other shapes
        P.assert_true(equal(rank, n), msg=f"np.linalg.lstsq: a is rank-deficient (rank < {n}); NumPy returns no "
                                          f"residuals then, so vive cannot give its result's shape")
    else:
        residuals = broadcast_to(np.zeros((0,), _aval(x).dtype.np), (0,))
    if vector:
        x = getitem(x, (Ellipsis, 0))
    return x, residuals, rank, s


# ---- scipy.linalg (through scipy_wrap.py) ------------------------------------------------------------------------

def _trans(trans):
    t = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1}.get(trans if not isinstance(trans, str) else trans.upper())
    if t is None:
        raise _err(ValueError, f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return t


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False, check_finite=True):
    a = _float(a)
    if ndim_of(a) != 2 or not (isinstance(shape_of(a)[0], int) and shape_of(a)[0] == shape_of(a)[1]):
        raise _err(ValueError, f"solve_triangular: expected a square 2-D matrix, got shape {tuple(shape_of(a))}")
    if shape_of(b)[0] != shape_of(a)[0]:
        raise _err(ValueError, f"shapes of a {tuple(shape_of(a))} and b {tuple(shape_of(b))} are incompatible")
    t = tril(a) if lower else triu(a)
    if unit_diagonal:
        eye = np.eye(shape_of(a)[0], dtype=bool)
        t = where(eye, 1.0, t)
    if _trans(trans):
        t = _mT(t)
    return solve(t, _float(b))


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    a = _matrices(a)
    if ndim_of(a) != 2:
        raise _err(ValueError, "cho_factor: a must be a square 2-D matrix")
    # LAPACK's potrf reads only the named triangle: the upper factor from the upper triangle (a^T's lower one)
    c = cholesky(a) if lower else _mT(cholesky(_mT(a)))
    # SciPy leaves the other triangle as a's entries ("random data" in its documentation): the same here
    n = shape_of(a)[0]
    mask = np.tril(np.ones((n, n), bool)) if lower else np.triu(np.ones((n, n), bool))
    return where(mask, c, a), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    c, lower = c_and_lower
    c = _matrices(c)
    b = _float(b)
    if shape_of(b)[0] != shape_of(c)[0]:
        raise _err(ValueError, f"cho_solve: b of shape {tuple(shape_of(b))} does not fit the factor "
                               f"{tuple(shape_of(c))}")
    L = tril(c) if lower else _mT(triu(c))                # a = L L^T
    return solve(_mT(L), solve(L, b))
