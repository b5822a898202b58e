"""np.linalg's decompositions (compiler/ops_linalg.py, primitives/linalg_decomp.py, lower/lapack.py): compiled
values against NumPy over batches and dtypes, gradients against finite differences, vmap against a loop, and bad
input stopping with NumPy's exception type."""
from __future__ import annotations

import numpy as np
import pytest
from numpy.linalg import LinAlgError

import compiler as cc

RNG = np.random.default_rng(7)


def _r(*shape, dt=np.float64):
    return RNG.standard_normal(shape).astype(dt)


def _well(*shape, dt=np.float64):
    n = shape[-1]
    return (_r(*shape) + n * np.eye(n)).astype(dt)


def _spd(*shape, dt=np.float64):
    a = _r(*shape)
    return (a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dt)


def _tol(dt):
    return dict(rtol=2e-4, atol=2e-5) if dt == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _leaves(x):
    return [np.asarray(e) for e in x] if isinstance(x, tuple) else [np.asarray(x)]


def _same(got, want, dt):
    got, want = _leaves(got), _leaves(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, **_tol(dt))


# ---- values: the compiled function against NumPy, batched, f32 and f64 ----

FUNCTIONS = {
    "inv": (np.linalg.inv, lambda s, dt: [_well(*s, dt=dt)]),
    "solve": (np.linalg.solve, lambda s, dt: [_well(*s, dt=dt), _r(*s[:-1], 3, dt=dt)]),
    "det": (np.linalg.det, lambda s, dt: [_well(*s, dt=dt)]),
    "slogdet": (lambda a: tuple(np.linalg.slogdet(a)), lambda s, dt: [_r(*s, dt=dt)]),
    "cholesky": (np.linalg.cholesky, lambda s, dt: [_spd(*s, dt=dt)]),
    "cholesky_upper": (lambda a: np.linalg.cholesky(a, upper=True), lambda s, dt: [_spd(*s, dt=dt)]),
    "eigh": (lambda a: tuple(np.linalg.eigh(a)), lambda s, dt: [_r(*s, dt=dt)]),
    "eigh_upper": (lambda a: tuple(np.linalg.eigh(a, UPLO="U")), lambda s, dt: [_r(*s, dt=dt)]),
    "eigvalsh": (np.linalg.eigvalsh, lambda s, dt: [_spd(*s, dt=dt)]),
    "svd": (lambda a: tuple(np.linalg.svd(a)), lambda s, dt: [_r(*s, dt=dt)]),
    "svd_values": (lambda a: np.linalg.svd(a, compute_uv=False), lambda s, dt: [_r(*s, dt=dt)]),
    "norm_2": (lambda a: np.linalg.norm(a, 2, axis=(-2, -1)), lambda s, dt: [_r(*s, dt=dt)]),
    "norm_-2": (lambda a: np.linalg.norm(a, -2, axis=(-2, -1)), lambda s, dt: [_r(*s, dt=dt)]),
    "norm_nuc": (lambda a: np.linalg.norm(a, "nuc", axis=(-1, -2), keepdims=True), lambda s, dt: [_r(*s, dt=dt)]),
}


@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5, 5), (2, 1, 3, 3), (1, 1)])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_compiled_values_equal_numpy(name, shape, dt):
    fn, make = FUNCTIONS[name]
    args = make(shape, dt)
    got, want = cc.compile(fn)(*args), fn(*args)
    if dt == np.float32 and name in ("svd", "eigh", "eigh_upper"):
        # the same LAPACK routine on the same numbers, but in f32 a rounding difference inside it can flip a
        # vector's sign (seen for the smallest singular vector pair): compare up to one sign per vector, and the
        # SVD's pairs flipped together
        got, want = _sign_fixed(got, want)
    _same(got, want, dt)


def _sign_fixed(got, want):
    vec = got[0] if len(got) == 3 else got[1]                    # U (svd) or V (eigh): vectors in columns
    ref = want[0] if len(want) == 3 else want[1]
    pick = np.argmax(np.abs(ref), axis=-2)[..., None, :]
    flip = np.sign(np.take_along_axis(vec, pick, -2) * np.take_along_axis(ref, pick, -2))
    if len(got) == 3:
        return (got[0] * flip, got[1], got[2] * np.swapaxes(flip, -1, -2)), want
    return (got[0], got[1] * flip), want


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 5), (4, 1)])
def test_thin_svd_of_rectangular_matrices(shape):
    a = _r(*shape)
    fn = lambda x: tuple(np.linalg.svd(x, full_matrices=False))      # noqa: E731
    _same(cc.compile(fn)(a), fn(a), np.float64)


def test_solve_broadcasts_batches_and_takes_vectors_like_numpy():
    a, b2, b1 = _well(3, 1, 4, 4), _r(5, 4, 2), _r(4)
    for b in (b2, b1):
        _same(cc.compile(np.linalg.solve)(a, b), np.linalg.solve(a, b), np.float64)
    # an integer right-hand side computes in the matrix's float type (NumPy's promotion)
    bi = np.arange(4)
    _same(cc.compile(np.linalg.solve)(a[0, 0], bi), np.linalg.solve(a[0, 0], bi), np.float64)


def test_integer_matrices_compute_in_float64():
    a = np.array([[2, 1], [1, 3]])
    for fn in (np.linalg.inv, np.linalg.det, np.linalg.cholesky):
        _same(cc.compile(fn)(a), fn(a), np.float64)


def test_empty_batches_and_symbolic_batch_sizes():
    assert cc.compile(np.linalg.inv)(np.zeros((0, 3, 3))).shape == (0, 3, 3)
    low = cc.compile(lambda a: np.linalg.slogdet(a)[1]).lower(cc.Spec("f64[N,3,3]"))
    for n in (1, 4):
        a = _well(n, 3, 3)
        np.testing.assert_allclose(low(a), np.linalg.slogdet(a)[1], rtol=1e-12)


def test_results_keep_numpy_result_types():
    a = _spd(3, 3)
    r = cc.compile(np.linalg.eigh)(a)
    assert type(r).__name__ == "EighResult" and np.allclose(r.eigenvalues, np.linalg.eigh(a).eigenvalues)
    s = cc.compile(np.linalg.slogdet)(a)
    assert type(s).__name__ == "SlogdetResult" and np.isclose(s.logabsdet, np.linalg.slogdet(a).logabsdet)


# ---- values NumPy refuses: compiled code gives NaN (as JAX), NumPy's own values where it has them ----

def test_singular_and_indefinite_matrices_give_nan_compiled():
    sing = np.array([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 0.0], [0.0, 3.0]]])
    inv = cc.compile(np.linalg.inv)(sing)
    assert np.isnan(inv[0]).all()
    np.testing.assert_allclose(inv[1], np.linalg.inv(sing[1]), rtol=1e-15)    # one bad matrix spoils no other
    assert np.isnan(cc.compile(np.linalg.solve)(sing, np.ones((2, 2)))[0]).all()
    sign, logdet = cc.compile(np.linalg.slogdet)(np.zeros((3, 3)))
    assert sign == 0 and logdet == -np.inf                                      # NumPy's values here
    assert cc.compile(np.linalg.det)(np.zeros((3, 3))) == 0
    low = cc.compile(np.linalg.cholesky)(-np.eye(3))
    assert np.isnan(low[np.tril_indices(3)]).all() and (low[np.triu_indices(3, 1)] == 0).all()
    with pytest.raises(LinAlgError):                                            # eager: NumPy itself
        np.linalg.inv(sing)


# ---- gradients against float64 finite differences, forward and reverse, to second order ----

GRADS = {
    "inv": (lambda a: np.sum(np.tanh(np.linalg.inv(a))), [_well(2, 3, 3)]),
    "solve": (lambda a, b: np.sum(np.linalg.solve(a, b) ** 2), [_well(3, 3), _r(3)]),
    "det": (lambda a: np.linalg.det(a), [_well(4, 4)]),
    "slogdet": (lambda a: np.sum(np.linalg.slogdet(a)[1]), [_r(2, 3, 3)]),
    "cholesky": (lambda a: np.sum(np.sin(np.linalg.cholesky(a @ a.T + np.eye(3)))), [_r(3, 3)]),
    "eigh": (lambda a: np.sum(np.linalg.eigh(a + a.T)[1] ** 3) + np.sum(np.linalg.eigh(a + a.T)[0] ** 2),
             [_r(4, 4)]),
    "svd_wide": (lambda a: sum(np.sum(np.cos(p)) for p in np.linalg.svd(a, full_matrices=False)), [_r(2, 3, 4)]),
    "svd_tall": (lambda a: sum(np.sum(np.cos(p)) for p in np.linalg.svd(a, full_matrices=False)), [_r(4, 2)]),
    "nuclear_norm": (lambda a: np.linalg.norm(a, "nuc"), [_r(3, 4)]),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_gradients_match_finite_differences(name):
    fn, args = GRADS[name]
    cc.check_grads(fn, args, order=2, modes=("fwd", "rev"))
    # the compiled gradient is the eager one
    for g, e in zip(_leaves(cc.compile(cc.grad(fn, argnums=tuple(range(len(args)))))(*args)),
                    _leaves(cc.grad(fn, argnums=tuple(range(len(args))))(*args))):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-12)


def test_triangle_reading_functions_differentiate_their_triangle():
    """cholesky and eigh read the lower triangle (NumPy's convention): the strict upper triangle gets no gradient,
    and the gradient is what finite differences of NumPy's own function give."""
    a = _spd(4, 4)
    a[np.triu_indices(4, 1)] = 100.0                      # never read

    def f(x):
        return np.sum(np.linalg.cholesky(x) * np.arange(16.0).reshape(4, 4)) + np.sum(np.linalg.eigh(x)[0] ** 2)
    g = cc.grad(f)(a)
    assert (g[np.triu_indices(4, 1)] == 0).all()
    eps, num = 1e-6, np.zeros_like(a)
    for i, j in zip(*np.tril_indices(4)):
        hi, lo = a.copy(), a.copy()
        hi[i, j] += eps
        lo[i, j] -= eps
        num[i, j] = (f(hi) - f(lo)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-6)


# ---- vmap: per-example decompositions against a loop, eager and compiled ----

@pytest.mark.parametrize("fn", [np.linalg.inv, np.linalg.det, np.linalg.cholesky,
                                lambda a: np.linalg.eigh(a)[1], lambda a: np.linalg.svd(a)[0]],
                         ids=["inv", "det", "cholesky", "eigh", "svd"])
def test_vmap_matches_a_loop(fn):
    xs = _spd(5, 3, 3)
    want = np.stack([fn(x) for x in xs])
    np.testing.assert_allclose(cc.vmap(fn)(xs), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cc.compile(cc.vmap(fn, in_axes=2))(np.moveaxis(xs, 0, 2)), want,
                               rtol=1e-12, atol=1e-12)


def test_vmap_of_solve_with_one_batched_operand_and_per_example_gradients():
    a, bs = _well(3, 3), _r(6, 3)
    np.testing.assert_allclose(cc.vmap(np.linalg.solve, in_axes=(None, 0))(a, bs),
                               np.stack([np.linalg.solve(a, b) for b in bs]), rtol=1e-12)
    loss = lambda a, b: np.sum(np.linalg.solve(a, b) ** 2)          # noqa: E731
    per = cc.compile(cc.vmap(cc.grad(loss), in_axes=(None, 0)))(a, bs)
    np.testing.assert_allclose(per, np.stack([cc.grad(loss)(a, b) for b in bs]), rtol=1e-10)


# ---- bad input: NumPy's exception types, while tracing as eagerly ----

@pytest.mark.parametrize("fn", [np.linalg.inv, np.linalg.det, np.linalg.slogdet, np.linalg.cholesky,
                                np.linalg.eigh, np.linalg.eigvalsh])
@pytest.mark.parametrize("bad", [np.ones((2, 3)), np.ones(3), np.ones((4, 2, 3))], ids=["2x3", "1d", "batch2x3"])
def test_bad_shapes_raise_linalgerror_like_numpy(fn, bad):
    with pytest.raises(LinAlgError):
        fn(bad)
    with pytest.raises(LinAlgError):
        cc.compile(fn)(bad)


def test_other_bad_input():
    with pytest.raises(LinAlgError):
        cc.compile(np.linalg.svd)(np.ones(3))
    with pytest.raises(cc.TraceError, match="full_matrices=False"):
        cc.compile(np.linalg.svd)(np.ones((2, 3)))                  # the full U of a non-square matrix
    with pytest.raises(ValueError, match="UPLO"):
        cc.compile(lambda a: np.linalg.eigh(a, "X"))(np.eye(2))
    with pytest.raises(ValueError):
        cc.compile(np.linalg.solve)(np.eye(3), np.ones(4))


# ---- scipy.linalg: sqrtm and solve_sylvester (compositions over the decompositions) ----

def test_sqrtm_and_solve_sylvester_against_scipy():
    import scipy.linalg as sl
    spd = _spd(4, 4)
    upper = np.triu(_r(3, 3)) + np.diag([1.0, 2.0, 4.0])           # not symmetric, positive eigenvalues
    for a in (spd, upper, _spd(2, 3, 3)):
        want = sl.sqrtm(a)
        np.testing.assert_allclose(cc.compile(sl.sqrtm)(a), want, rtol=1e-10, atol=1e-12)
    a, b, q = _r(3, 3), _r(2, 2), _r(3, 2)
    np.testing.assert_allclose(cc.compile(sl.solve_sylvester)(a, b, q), sl.solve_sylvester(a, b, q), rtol=1e-10)
    # negative eigenvalue: SciPy's root is complex, and so is vive's (a value guard retraces: test_value_guard.py)
    neg = np.diag([-1.0, 2.0])
    np.testing.assert_allclose(cc.compile(sl.sqrtm)(neg), sl.sqrtm(neg), rtol=1e-12, atol=1e-12)
    cc.check_grads(lambda x: np.sum(np.sin(sl.sqrtm(x))), [spd], order=1, modes=("fwd", "rev"))
    cc.check_grads(lambda a, b, q: np.sum(sl.solve_sylvester(a, b, q) ** 2), [a, b, q], order=2)
