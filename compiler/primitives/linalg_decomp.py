"""Matrix decompositions: linear solve (LU), slogdet (LU), Cholesky, symmetric eigendecomposition, SVD.

Each acts on the last two axes and maps any leading (batch) axes, which must agree between operands (ops_linalg.py
broadcasts them). Results that NumPy returns as several arrays are packed into one along the last axis (eigh:
eigenvalues then the eigenvector matrix, flattened; svd: U, S, Vh flattened): ops_linalg.py slices them apart, and
the derivative rules here do the same, so each primitive keeps one result and every transform handles it as any other.
The CPU lowering calls LAPACK (lower/lapack.py) with the routines NumPy's own np.linalg calls on the same column-major
copies, so compiled values match NumPy's to rounding (in f64 eigenvector and singular vector signs match too).

Derivatives are the classic matrix-calculus rules, written with these primitives and NumPy functions so that they
are differentiable again (second order works):
  solve    X = A^-1 B:          dX = A^-1 (dB - dA X);           B_bar = A^-T G, A_bar = -B_bar X^T
  slogdet  l = log|det A|:      dl = tr(A^-1 dA);                A_bar = l_bar A^-T   (the sign: zero derivative)
  cholesky A = L L^T:           dL = L Phi(L^-1 dA L^-T);        A_bar = L^-T Phi(L^T L_bar) L^-1, projected
  eigh     A = V diag(w) V^T:   dw = diag(V^T dA V), dV = V (F o V^T dA V), F_ij = 1 / (w_j - w_i)
  svd      A = U diag(s) Vh:    the rules of Townsend (2016) for distinct, nonzero singular values
Phi takes the lower triangle with the diagonal halved. Cholesky and eigh read one triangle of their input only
(NumPy's convention): their cotangents are the derivative with respect to that triangle's entries (a symmetric
perturbation's lower part), their tangents use the symmetric matrix that triangle defines.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, DTypeError
from ..ir.types import TensorType, dims_equal, as_dim
from .base import Primitive, check_same_dtype
from .rules import shape_of, dtype_of, zeros, materialized


# ---- shape rules ----

def _float_matrix(op, a):
    if not a.dtype.is_float:
        raise DTypeError(f"{op}: expects a float matrix, got {a}")
    if a.ndim < 2:
        raise ShapeError(f"{op}: expects a matrix (at least 2 axes), got {a}")


def _square(op, a):
    _float_matrix(op, a)
    if not dims_equal(a.shape[-1], a.shape[-2]):
        raise ShapeError(f"{op}: expects square matrices in the last two axes, got {a}")
    return a.shape[-1]


def _solve_shape(a, b, **_):
    d = check_same_dtype("solve", a, b)
    n = _square("solve", a)
    _float_matrix("solve", b)
    if b.ndim != a.ndim or not all(dims_equal(x, y) for x, y in zip(a.shape[:-2], b.shape[:-2])):
        raise ShapeError(f"solve: batch axes differ: {a} and {b}")
    if not dims_equal(b.shape[-2], n):
        raise ShapeError(f"solve: {b} does not have {n} rows, as {a} needs")
    return TensorType(d, b.shape)


def _slogdet_shape(a, **_):
    _square("slogdet", a)
    return TensorType(a.dtype, a.shape[:-2] + (2,))


def _cholesky_shape(a, **_):
    _square("cholesky", a)
    return a


def _eigh_shape(a, uplo="L", **_):
    n = _square("eigh", a)
    if uplo not in ("L", "U"):
        raise ShapeError(f"eigh: uplo must be 'L' or 'U', got {uplo!r}")
    return TensorType(a.dtype, a.shape[:-2] + (as_dim(n + n * n),))


def _svd_k(a):
    m, n = a.shape[-2], a.shape[-1]
    if isinstance(m, int) and isinstance(n, int):
        return min(m, n)
    if dims_equal(m, n):
        return m
    raise ShapeError(f"svd: needs static sizes or a square matrix to know min(m, n), got {a}")


def _svd_shape(a, full=False, **_):
    _float_matrix("svd", a)
    m, n, k = a.shape[-2], a.shape[-1], _svd_k(a)
    if full and not dims_equal(m, n):
        raise ShapeError(f"svd: full=True (LAPACK's jobz 'A') only for square matrices here, got {a}")
    return TensorType(a.dtype, a.shape[:-2] + (as_dim(m * k + k + k * n),))


def _svd_values_shape(a, **_):
    _float_matrix("svd_values", a)
    return TensorType(a.dtype, a.shape[:-2] + (_svd_k(a),))


# ---- NumPy references ----

def _slogdet_np(a):
    s, l = np.linalg.slogdet(a)
    return np.stack([s, l], axis=-1)


def _eigh_np(a, uplo="L"):
    w, v = np.linalg.eigh(a, uplo)
    return np.concatenate([w, v.reshape(v.shape[:-2] + (-1,))], axis=-1)


def _svd_np(a, full=False):
    u, s, vh = np.linalg.svd(a, full_matrices=full)
    lead = a.shape[:-2]
    return np.concatenate([u.reshape(lead + (-1,)), s, vh.reshape(lead + (-1,))], axis=-1)


# ---- helpers of the derivative rules (tracers while a transform runs, arrays eagerly) ----

def _T(x):
    return np.swapaxes(x, -1, -2)


def _eye(n, x):
    return np.eye(n, dtype=dtype_of(x).np)


def _inv(a):
    n = shape_of(a)[-1]
    return solve(a, zeros(shape_of(a), dtype_of(a)) + _eye(n, a))


def _diag(x):
    """The diagonal of the last two axes (an elementwise mask and a sum: traceable, differentiable)."""
    return np.sum(x * _eye(shape_of(x)[-1], x), axis=-1)


def _triangle(n, x, uplo, strict):
    m = np.tril(np.ones((n, n)), -1 if strict else 0) if uplo == "L" else np.triu(np.ones((n, n)), 1 if strict else 0)
    return m.astype(dtype_of(x).np)


def _from_triangle(d, uplo):
    """The symmetric matrix that the `uplo` triangle of d defines (what a routine reading one triangle sees)."""
    n = shape_of(d)[-1]
    strict = d * _triangle(n, d, uplo, True)
    return d * _eye(n, d) + strict + _T(strict)


def _onto_triangle(s, uplo):
    """The adjoint of _from_triangle: the cotangent of the `uplo` triangle's entries (the rest get zero)."""
    n = shape_of(s)[-1]
    return s * _eye(n, s) + (s + _T(s)) * _triangle(n, s, uplo, True)


def _gap_inverse(v, squared=False):
    """F[..., i, j] = 1 / (v_j - v_i) off the diagonal, 0 on it (of v^2 when squared)."""
    if squared:
        v = v * v
    n = shape_of(v)[-1]
    eye = _eye(n, v)
    gap = v[..., None, :] - v[..., :, None]
    return (1 - eye) / (gap + eye)


def _split_eigh(out):
    s = shape_of(out)
    n = int(round((-1 + (1 + 4 * s[-1]) ** 0.5) / 2))
    return out[..., :n], np.reshape(out[..., n:], tuple(s[:-1]) + (n, n))


def _pack_eigh(w, v):
    s = shape_of(v)
    return np.concatenate([w, np.reshape(v, tuple(s[:-2]) + (s[-1] * s[-2],))], axis=-1)


def _split_svd(out, a_shape):
    m, n = a_shape[-2], a_shape[-1]
    k = min(m, n)
    lead = tuple(shape_of(out)[:-1])
    u = np.reshape(out[..., :m * k], lead + (m, k))
    s = out[..., m * k:m * k + k]
    vh = np.reshape(out[..., m * k + k:], lead + (k, n))
    return u, s, vh


def _pack_svd(u, s, vh):
    lead = tuple(shape_of(s)[:-1])
    return np.concatenate([np.reshape(u, lead + (-1,)), s, np.reshape(vh, lead + (-1,))], axis=-1)


# NOTE: foldable=False on each: folding runs the NumPy reference at compile time, which raises LinAlgError for a
# singular constant (the compiled op gives NaN) and costs a decomposition per compile.

# ---- batching: every operand carries the batch as its leading axis, which the ops map already ----

_leading = materialized(lambda prim, xs, **params: (prim(*xs, **params), 0))


# ---- solve ----

def _solve_jvp(primals, tangents, out, **_):
    (a, _), (da, db) = primals, tangents
    rhs = db if da is None else (-(da @ out) if db is None else db - da @ out)
    return solve(a, rhs)


def _solve_vjp(ct, primals, out, **_):
    a, _ = primals
    gb = solve(_T(a), ct)
    return -(gb @ _T(out)), gb


solve = Primitive("solve", numpy=np.linalg.solve, shape=_solve_shape, kind="linalg", foldable=False,
                  jvp=_solve_jvp, vjp=_solve_vjp, batch=_leading,
                  doc="X with A X = B for square A (..., n, n) and B (..., n, k): LU with partial pivoting (gesv)")


# ---- slogdet: [sign, log|det|] along a last axis of 2 ----

def _slogdet_jvp(primals, tangents, out, **_):
    (a,), (da,) = primals, tangents
    dl = np.sum(_T(_inv(a)) * da, axis=(-2, -1))
    return np.stack([dl * 0, dl], axis=-1)


def _slogdet_vjp(ct, primals, out, **_):
    (a,) = primals
    return (ct[..., 1][..., None, None] * _T(_inv(a)),)


slogdet = Primitive("slogdet", numpy=_slogdet_np, shape=_slogdet_shape, kind="linalg", foldable=False,
                    jvp=_slogdet_jvp, vjp=_slogdet_vjp, batch=_leading,
                    doc="[sign, log|det|] of square matrices, from an LU factorization (getrf)")


# ---- cholesky ----

def _phi(x):
    n = shape_of(x)[-1]
    return x * (np.tril(np.ones((n, n))) - 0.5 * np.eye(n)).astype(dtype_of(x).np)


def _cholesky_jvp(primals, tangents, out, **_):
    (da,), L = tangents, out
    y = solve(L, _from_triangle(da, "L"))                # L^-1 dA
    return L @ _phi(_T(solve(L, _T(y))))                 # L Phi(L^-1 dA L^-T)


def _cholesky_vjp(ct, primals, out, **_):
    L = out
    z = solve(_T(L), _phi(_T(L) @ ct))                   # L^-T Phi(L^T G)
    return (_onto_triangle(_T(solve(_T(L), _T(z))), "L"),)


cholesky = Primitive("cholesky", numpy=np.linalg.cholesky, shape=_cholesky_shape, kind="linalg", foldable=False,
                     jvp=_cholesky_jvp, vjp=_cholesky_vjp, batch=_leading,
                     doc="the lower Cholesky factor of symmetric positive definite matrices (potrf), read from "
                         "their lower triangle")


# ---- eigh ----

def _eigh_jvp(primals, tangents, out, uplo="L"):
    (da,) = tangents
    w, v = _split_eigh(out)
    p = _T(v) @ _from_triangle(da, uplo) @ v
    return _pack_eigh(_diag(p), v @ (_gap_inverse(w) * p))


def _eigh_vjp(ct, primals, out, uplo="L"):
    w, v = _split_eigh(out)
    gw, gv = _split_eigh(ct)
    inner = gw[..., None, :] * _eye(shape_of(w)[-1], w) + _gap_inverse(w) * (_T(v) @ gv)
    return (_onto_triangle(v @ inner @ _T(v), uplo),)


eigh = Primitive("eigh", numpy=_eigh_np, shape=_eigh_shape, kind="linalg", foldable=False,
                 jvp=_eigh_jvp, vjp=_eigh_vjp, batch=_leading,
                 doc="eigenvalues (ascending) and eigenvectors of symmetric matrices read from their `uplo` "
                     "triangle (syevd), packed: w then V flattened")


# ---- svd (thin) and singular values ----

def _svd_jvp(primals, tangents, out, full=False):
    (a,), (da,) = primals, tangents
    u, s, vh = _split_svd(out, shape_of(a))
    v = _T(vh)
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    dp = _T(u) @ da @ v
    f = _gap_inverse(s, squared=True)
    du = u @ (f * (dp * s[..., None, :] + s[..., :, None] * _T(dp)))
    dv = v @ (f * (s[..., :, None] * dp + _T(dp) * s[..., None, :]))
    if m > k:
        du = du + (da - u @ (_T(u) @ da)) @ (v / s[..., None, :])
    if n > k:
        dv = dv + (_T(da) - v @ (vh @ _T(da))) @ (u / s[..., None, :])
    return _pack_svd(du, _diag(dp), _T(dv))


def _svd_vjp(ct, primals, out, full=False):
    (a,) = primals
    u, s, vh = _split_svd(out, shape_of(a))
    gu, gs, gvh = _split_svd(ct, shape_of(a))
    v, gv = _T(vh), _T(gvh)
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    f = _gap_inverse(s, squared=True)
    ut_gu, vt_gv = _T(u) @ gu, _T(v) @ gv
    inner = (gs[..., None, :] * _eye(k, s) + (f * (ut_gu - _T(ut_gu))) * s[..., None, :]
             + s[..., :, None] * (f * (vt_gv - _T(vt_gv))))
    ga = u @ inner @ vh
    if m > k:
        ga = ga + ((gu - u @ ut_gu) / s[..., None, :]) @ vh
    if n > k:
        ga = ga + (u / s[..., None, :]) @ _T(gv - v @ vt_gv)
    return (ga,)


svd = Primitive("svd", numpy=_svd_np, shape=_svd_shape, kind="linalg", foldable=False,
                jvp=_svd_jvp, vjp=_svd_vjp, batch=_leading,
                doc="the thin SVD A = U diag(S) Vh (gesdd), packed: U, S, Vh flattened along the last axis. "
                    "full=True (square matrices only) computes it as NumPy's full_matrices=True does (jobz 'A', "
                    "whose vectors' signs may differ from jobz 'S')")


def _svd_values_jvp(primals, tangents, out):
    (a,), (da,) = primals, tangents
    u, _, vh = _split_svd(svd(a), shape_of(a))
    return _diag(_T(u) @ da @ _T(vh))


def _svd_values_vjp(ct, primals, out):
    (a,) = primals
    u, _, vh = _split_svd(svd(a), shape_of(a))
    return ((u * ct[..., None, :]) @ vh,)


svd_values = Primitive("svd_values", numpy=lambda a: np.linalg.svd(a, compute_uv=False), shape=_svd_values_shape,
                       kind="linalg", foldable=False, jvp=_svd_values_jvp, vjp=_svd_values_vjp, batch=_leading,
                       doc="singular values, descending (gesdd without vectors)")

__all__ = ["solve", "slogdet", "cholesky", "eigh", "svd", "svd_values"]
