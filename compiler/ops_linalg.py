"""np.linalg's decompositions on traced values: inv, solve, det, slogdet, cholesky, eigh, eigvalsh, svd, and the
matrix norms that need singular values (ord=2, -2, 'nuc'), over the primitives of primitives/linalg_decomp.py.

Bad shapes raise NumPy's LinAlgError at trace time, as NumPy does. Bad values cannot: a compiled kernel cannot stop
half way, so (as JAX does) a singular matrix gives a solve / inv of NaN, slogdet (0, -inf) and det 0 (NumPy's own
values there), and a matrix that is not positive definite a Cholesky factor of NaN; the eager path (NumPy itself)
raises LinAlgError. Integer inputs compute in float64, as NumPy's do.
"""
from __future__ import annotations

import numpy as np
from numpy.linalg import LinAlgError

from . import primitives as P
from .errors import TraceError
from .ir.types import F64
from .ops_base import implements, asarg, shape_of, ndim_of, result_dtype, _aval, _err
from .ops_array import reshape, swapaxes, broadcast_to, transpose
from .ops_index import getitem
from .ops_elementwise import exp, multiply

try:                                   # NumPy's result types (namedtuples) where this NumPy has them
    from numpy.linalg._linalg import SlogdetResult, EighResult, SVDResult
except ImportError:                    # pragma: no cover
    SlogdetResult = EighResult = SVDResult = None


def _float(x):
    dt = _aval(x).dtype
    if dt.is_bool:
        raise _err(TypeError, "np.linalg: boolean arrays are not supported (NumPy has no bool LAPACK loop)")
    return asarg(x, F64) if not dt.is_float else asarg(x)


def _matrices(a, square=True):
    a = _float(a)
    nd = ndim_of(a)
    if nd < 2:
        raise _err(LinAlgError, f"{nd}-dimensional array given. Array must be at least two-dimensional")
    s = shape_of(a)
    if square and not _same(s[-1], s[-2]):
        raise _err(LinAlgError, "Last 2 dimensions of the array must be square")
    return a


def _same(x, y):
    from .ir.types import dims_equal
    return dims_equal(x, y)


def _result(cls, *parts):
    return cls(*parts) if cls is not None else tuple(parts)


@implements(np.linalg.solve)
def solve(a, b):
    dt = result_dtype(_float(a), _float(b))
    a, b = _matrices(asarg(_float(a), dt)), asarg(_float(b), dt)
    n = shape_of(a)[-1]
    vector = ndim_of(b) == 1
    if vector:
        b = reshape(b, (shape_of(b)[0], 1))
    if ndim_of(b) < 2 or not _same(shape_of(b)[-2], n):
        raise _err(ValueError, f"solve: b of shape {shape_of(b)} does not match a of shape {shape_of(a)} "
                               f"(b must be (..., {n}, K) or ({n},))")
    lead = np.broadcast_shapes(tuple(shape_of(a)[:-2]), tuple(shape_of(b)[:-2]))
    a = broadcast_to(a, lead + tuple(shape_of(a)[-2:]))
    b = broadcast_to(b, lead + tuple(shape_of(b)[-2:]))
    x = P.solve(a, b)
    return getitem(x, (Ellipsis, 0)) if vector else x


@implements(np.linalg.inv)
def inv(a):
    a = _matrices(a)
    s = shape_of(a)
    # NumPy's inv is gesv against the identity: the same call here, the same values
    eye = broadcast_to(np.eye(s[-1], dtype=_aval(a).dtype.np), tuple(s))
    return P.solve(a, eye)


@implements(np.linalg.slogdet)
def slogdet(a):
    packed = P.slogdet(_matrices(a))
    return _result(SlogdetResult, getitem(packed, (Ellipsis, 0)), getitem(packed, (Ellipsis, 1)))


@implements(np.linalg.det)
def det(a):
    sign, logdet = slogdet(a)
    return multiply(sign, exp(logdet))         # NumPy's det is exactly this: sign * exp(log|det|) from one LU


@implements(np.linalg.cholesky)
def cholesky(a, /, *, upper=False):
    low = P.cholesky(_matrices(a))
    return swapaxes(low, -1, -2) if upper else low


def _uplo(UPLO):
    u = str(UPLO).upper()
    if u not in ("L", "U"):
        raise _err(ValueError, "UPLO argument must be 'L' or 'U'")
    return u


@implements(np.linalg.eigh)
def eigh(a, UPLO="L"):
    a = _matrices(a)
    s = shape_of(a)
    n = s[-1]
    packed = P.eigh(a, uplo=_uplo(UPLO))
    w = getitem(packed, (Ellipsis, slice(0, n)))
    v = reshape(getitem(packed, (Ellipsis, slice(n, None))), tuple(s))
    return _result(EighResult, w, v)


@implements(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    return eigh(a, UPLO)[0]


@implements(np.linalg.svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    a = _matrices(a, square=False)
    s = shape_of(a)
    m, n = s[-2], s[-1]
    if not compute_uv:
        return P.svd_values(a)
    if full_matrices and not _same(m, n):
        raise _err(TraceError, f"np.linalg.svd(full_matrices=True) of a {m}x{n} matrix: vive computes the thin SVD "
                               f"only (its U or Vh would need an orthogonal complement, which has no derivative); "
                               f"pass full_matrices=False")
    if not (isinstance(m, int) and isinstance(n, int)) and not _same(m, n):
        raise _err(TraceError, "np.linalg.svd needs static sizes (or a square matrix) to know min(m, n)")
    k = min(m, n) if isinstance(m, int) and isinstance(n, int) else m
    packed = P.svd(a, full=True) if full_matrices else P.svd(a)     # square: NumPy's own call, jobz 'A'
    lead = tuple(s[:-2])
    u = reshape(getitem(packed, (Ellipsis, slice(0, m * k))), lead + (m, k))
    sv = getitem(packed, (Ellipsis, slice(m * k, m * k + k)))
    vh = reshape(getitem(packed, (Ellipsis, slice(m * k + k, None))), lead + (k, n))
    return _result(SVDResult, u, sv, vh)


def matrix_norm_by_svd(x, ord, axis, keepdims):
    """np.linalg.norm's ord=2 (largest singular value), -2 (smallest) and 'nuc' (their sum) over the axis pair."""
    from .ops_reduce import max as _max, min as _min, sum as _sum
    from .ops_base import _keep
    r, c = axis
    nd = ndim_of(x)
    perm = [i for i in range(nd) if i not in (r, c)] + [r, c]
    m = transpose(x, tuple(perm))
    s = P.svd_values(_float(m))
    out = _sum(s, axis=-1) if ord == "nuc" else (_max if ord == 2 else _min)(s, axis=-1)
    return _keep(shape_of(x), out, axis, keepdims)


# ---- scipy.linalg (reached through scipy_wrap.py: SciPy converts its arguments with np.asarray) ----

def solve_sylvester(a, b, q):
    """X with A X + X B = Q, as one linear solve of the (m n) x (m n) system (A (x) I + I (x) B^T) vec(X) = vec(Q)
    (row-major vec): exact in exact arithmetic as SciPy's Bartels-Stewart is, differentiable through solve, and
    O((m n)^3), meant for the small matrices where that is cheap."""
    dt = result_dtype(_float(a), _float(b), _float(q))
    a, b, q = (asarg(_float(x), dt) for x in (a, b, q))
    if ndim_of(a) != 2 or ndim_of(b) != 2 or ndim_of(q) != 2:
        raise _err(ValueError, "solve_sylvester: a, b and q must be 2-D")
    a, b = _matrices(a), _matrices(b)
    m, n = shape_of(a)[0], shape_of(b)[0]
    if tuple(shape_of(q)) != (m, n):
        raise _err(ValueError, f"solve_sylvester: q of shape {shape_of(q)} does not match ({m}, {n})")
    eye_m, eye_n = np.eye(m, dtype=dt.np), np.eye(n, dtype=dt.np)
    # K[i, j, k, l] = A[i, k] [j == l] + [i == k] B[l, j]
    k = (multiply(reshape(a, (m, 1, m, 1)), eye_n[None, :, None, :])
         + multiply(eye_m[:, None, :, None], reshape(swapaxes(b, 0, 1), (1, n, 1, n))))
    x = P.solve(reshape(k, (m * n, m * n)), reshape(q, (m * n, 1)))
    return reshape(x, (m, n))


SQRTM_STEPS = 12
# The complex root (a real matrix with a negative eigenvalue): the same iteration on complex pairs, for the matrix
# tilted off the branch cut, e^{-i t} A, whose root turned back, e^{i t/2} (e^{-i t} A)^1/2, is A's principal one
# (a negative eigenvalue -r gives i r^1/2, as SciPy's). Tilted eigenvalues sit ~t from the cut, where Newton-type
# steps need ~log2(1/t) more steps to converge; the error does not grow as t shrinks (prototyped against SciPy:
# ~1e-15 relative at t = 2^-20 and 30 steps). A complex pair within t of the cut, below it, would be turned to the
# wrong side: t = 2^-20 keeps that to eigenvalues within 1e-6 rad of the cut (there SciPy's own principal root is
# decided by rounding).
SQRTM_TILT = 2.0 ** -20
SQRTM_COMPLEX_STEPS = 30


def sqrtm(A, disp=True, blocksize=64):
    """The principal square root by the scaled Denman-Beavers iteration (Y -> A^1/2, Z -> A^-1/2, each step scaled
    by |det Y det Z|^(-1/2n)), a fixed SQRTM_STEPS steps: quadratic convergence from the first scaled steps reaches
    rounding for condition numbers far beyond 1e8. Differentiable through its solves and determinants.

    SciPy's result is complex exactly when the matrix has a negative real eigenvalue, so its dtype follows the
    values: a value-guarded choice (compiler/value_guard.py). The trace takes the real root and checks, at run
    time, that the iteration converged (the residual of Y @ Y against A); where it did not, the caller traces again
    with the complex root (_sqrtm_complex), which checks that its result is not real. A singular matrix fails both
    (SciPy returns an approximate root with a LinAlgWarning): SpecializationError."""
    from .value_guard import choose
    from .ops_reduce import sum as _sum, all as _all, any as _any
    from .ops_elementwise import where, less_equal, greater
    a = _matrices(A)
    s = shape_of(a)
    n = s[-1]
    dtn = _aval(a).dtype.np
    tol = 1e-4 if dtn == np.float32 else 1e-10
    site, complex_root = choose()
    norm2 = _sum(a * a, axis=(-2, -1))
    if complex_root:
        from .complex_value import Complex
        re, im = _sqrtm_complex(a, s, dtn)
        # the whole stack is complex when one matrix's root is (as SciPy's one result dtype)
        holds = _any(greater(_sum(im * im, axis=(-2, -1)), tol * tol * _sum(re * re + im * im, axis=(-2, -1))))
        P.assert_true(holds, msg="scipy.linalg.sqrtm: traced for a matrix whose principal square root is complex "
                                 "(a negative real eigenvalue); these values have a real one", guard=site)
        return Complex(re, im)
    y = _denman_beavers(a, s, dtn)
    r = y @ y - a
    ok = less_equal(_sum(r * r, axis=(-2, -1)), tol * tol * norm2)
    P.assert_true(_all(ok), msg="scipy.linalg.sqrtm: traced for a matrix whose principal square root is real; "
                                "these values need a complex one (a negative real eigenvalue) or have none (a "
                                "singular matrix)", guard=site)
    return where(reshape(ok, tuple(s[:-2]) + (1, 1)), y, np.asarray(np.nan, dtn))


def _denman_beavers(a, s, dtn):
    n = s[-1]
    eye = broadcast_to(np.eye(n, dtype=dtn), tuple(s))
    y, z = a, eye
    for _ in range(SQRTM_STEPS):
        logs = getitem(P.slogdet(y), (Ellipsis, 1)) + getitem(P.slogdet(z), (Ellipsis, 1))
        mu = reshape(exp(logs * (-0.5 / n)), tuple(s[:-2]) + (1, 1))
        y, z = (mu * y + P.solve(z, eye) / mu) * 0.5, (mu * z + P.solve(y, eye) / mu) * 0.5
    return y


def _sqrtm_complex(a, s, dtn):
    """(Re, Im) of the principal root of the real matrices a by Denman-Beavers on complex pairs, tilted (see
    SQRTM_TILT). Each complex inverse and |det| goes through the real form [[X, -Y], [Y, X]] of X + iY (an algebra
    map: its inverse is the real form of the inverse, its determinant |det|^2)."""
    from .ops_array import concatenate
    n = s[-1]
    batch = tuple(s[:-2])
    rhs = broadcast_to(np.concatenate([np.eye(n, dtype=dtn), np.zeros((n, n), dtn)]), batch + (2 * n, n))
    top, bottom = (Ellipsis, slice(0, n), slice(None)), (Ellipsis, slice(n, 2 * n), slice(None))

    def inverse(re, im):
        e = concatenate([concatenate([re, -im], axis=-1), concatenate([im, re], axis=-1)], axis=-2)
        v = P.solve(e, rhs)
        return getitem(v, top), getitem(v, bottom), getitem(P.slogdet(e), (Ellipsis, 1)) * 0.5

    t = SQRTM_TILT
    yr, yi = a * np.asarray(np.cos(t), dtn), a * np.asarray(-np.sin(t), dtn)
    zr = broadcast_to(np.eye(n, dtype=dtn), tuple(s))
    zi = broadcast_to(np.zeros((n, n), dtn), tuple(s))
    for _ in range(SQRTM_COMPLEX_STEPS):
        iyr, iyi, ly = inverse(yr, yi)
        izr, izi, lz = inverse(zr, zi)
        mu = reshape(exp((ly + lz) * (-0.5 / n)), batch + (1, 1))
        yr, yi, zr, zi = ((mu * yr + izr / mu) * 0.5, (mu * yi + izi / mu) * 0.5,
                          (mu * zr + iyr / mu) * 0.5, (mu * zi + iyi / mu) * 0.5)
    c, sn = np.asarray(np.cos(t / 2), dtn), np.asarray(np.sin(t / 2), dtn)
    return yr * c - yi * sn, yr * sn + yi * c
