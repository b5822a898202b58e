"""Value guards (compiler/value_guard.py): a trace takes one specialisation of a value-dependent choice and checks
it at run time; a failed check retraces with the other one, and the versions are kept side by side.

Oracles: SciPy's sqrtm (whose result is complex exactly when the matrix has a negative real eigenvalue), NumPy,
and float64 finite differences (cc.check_grads); the compile counts come from cache_info."""
import inspect

import numpy as np
import pytest
import scipy.linalg

import compiler as cc
from compiler import primitives as P
from compiler.value_guard import SpecializationError, choose

_Q = np.linalg.qr(np.random.default_rng(1).standard_normal((3, 3)))[0]
POS = _Q @ np.diag([0.7, 2.0, 3.0]) @ _Q.T + 0.1 * np.triu(np.ones((3, 3)), 1)     # real root
NEG = _Q @ np.diag([-1.3, 2.0, 3.0]) @ _Q.T + 0.1 * np.triu(np.ones((3, 3)), 1)    # complex root
SINGULAR = _Q @ np.diag([0.0, 2.0, 3.0]) @ _Q.T


def sqrtm(a):
    return scipy.linalg.sqrtm(a)


def _line_of(fn, text):
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, s in enumerate(lines) if text in s)


def _close(got, want, tol=1e-12):
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_inputs_are_what_they_claim():
    assert scipy.linalg.sqrtm(POS).dtype == np.float64
    assert scipy.linalg.sqrtm(NEG).dtype == np.complex128


def test_real_then_complex_then_real_in_one_compiled_function():
    f = cc.compile(sqrtm)
    _close(f(POS), scipy.linalg.sqrtm(POS))
    assert f.cache_info()["compiles"] == 1
    # the real version's check fails on these values: the complex version is traced and compiled beside it
    _close(f(NEG), scipy.linalg.sqrtm(NEG))
    info = f.cache_info()
    assert (info["traces"], info["compiles"], info["signatures"]) == (2, 2, 1)
    for a in (POS, NEG, POS, NEG, NEG):     # both versions are kept: no more compiles, whichever comes
        _close(f(a), scipy.linalg.sqrtm(a))
    assert f.cache_info()["compiles"] == 2


def test_complex_first():
    f = cc.compile(lambda a: scipy.linalg.sqrtm(a) * 2.0)
    _close(f(NEG), 2.0 * scipy.linalg.sqrtm(NEG))
    _close(f(POS), 2.0 * scipy.linalg.sqrtm(POS))
    assert f.cache_info()["compiles"] == 2


def test_stack_is_complex_when_one_matrix_needs_it():
    st = np.stack([POS, NEG])
    _close(cc.compile(sqrtm)(st), scipy.linalg.sqrtm(st))


def test_float32_gives_complex64():
    a = NEG.astype(np.float32)
    got = cc.compile(sqrtm)(a)
    # (SciPy 1.17's own float32 sqrtm gives complex64 too, but sometimes fails with "Internal error ... -101"
    # under pytest-xdist: compared with its float64 root instead)
    assert got.dtype == np.complex64
    np.testing.assert_allclose(got, scipy.linalg.sqrtm(NEG), rtol=2e-5, atol=2e-5)


def _loss(a):
    # real for either root: sum(Re(S conj(W))) over fixed complex weights
    w = np.linspace(-1.0, 1.0, 9).reshape(3, 3) + 0.5j * np.linspace(1.0, 2.0, 9).reshape(3, 3)
    return np.sum(np.real(scipy.linalg.sqrtm(a) * np.conj(w)))


@pytest.mark.parametrize("a", [POS, NEG], ids=["real", "complex"])
def test_gradients_eager_and_compiled(a):
    value, g = cc.value_and_grad(_loss)(a)
    np.testing.assert_allclose(value, _loss(a), rtol=1e-12)
    cc.check_grads(_loss, (a,), order=1, modes=("rev",))
    np.testing.assert_allclose(cc.compile(cc.grad(_loss))(a), g, rtol=1e-9, atol=1e-12)


def test_compiled_gradient_switches_both_ways():
    dg = cc.compile(cc.grad(_loss))
    want = {id(a): cc.grad(_loss)(a) for a in (POS, NEG)}
    for a in (POS, NEG, POS):
        np.testing.assert_allclose(dg(a), want[id(a)], rtol=1e-9, atol=1e-12)
    assert dg.cache_info()["compiles"] == 2


def test_vmap_lanes_of_one_kind_and_mixed():
    lanes = np.stack([NEG, NEG * 2.0])
    got = cc.compile(cc.vmap(sqrtm))(lanes)
    _close(got, np.stack([scipy.linalg.sqrtm(x) for x in lanes]))
    line = _line_of(sqrtm, "scipy.linalg.sqrtm(a)")
    for f in (cc.vmap(sqrtm), cc.compile(cc.vmap(sqrtm))):
        with pytest.raises(SpecializationError, match=rf"test_value_guard.py:{line}") as e:
            f(np.stack([POS, NEG]))
        assert "Neither specialisation holds" in str(e.value)


def test_scan_body():
    def f(xs):
        return cc.scan(lambda c, a: (c, scipy.linalg.sqrtm(a)), 0.0, xs)[1]
    g = cc.compile(f)
    same = np.stack([NEG, 3.0 * NEG])
    _close(g(same), np.stack([scipy.linalg.sqrtm(x) for x in same]))
    with pytest.raises(SpecializationError, match="test_value_guard.py"):
        g(np.stack([NEG, POS]))


def test_singular_matrix_is_an_error_not_nan():
    with pytest.raises(SpecializationError, match="singular"):
        cc.compile(sqrtm)(SINGULAR)


# ---- the mechanism on its own: a function with two value-guarded choices ----

def _signed_root(x):
    """sqrt(x) for x >= 0 everywhere, else -sqrt(-x) for x < 0 everywhere: two specialisations, one site."""
    site, negative = choose()
    if negative:
        P.assert_true(np.all(x < 0), msg="traced for negative x", guard=site)
        return -np.sqrt(-x)
    P.assert_true(np.all(x >= 0), msg="traced for non-negative x", guard=site)
    return np.sqrt(x)


def two_sites(x, y):
    return _signed_root(x) + 10.0 * _signed_root(y)


def _want(x, y):
    return np.sign(x) * np.sqrt(np.abs(x)) + 10.0 * np.sign(y) * np.sqrt(np.abs(y))


def test_two_sites_four_versions():
    f = cc.compile(two_sites)
    p, n = np.array([1.0, 4.0]), np.array([-1.0, -9.0])
    cases = [(p, p), (n, p), (p, n), (n, n)]
    for k, (x, y) in enumerate(cases):
        np.testing.assert_allclose(f(x, y), _want(x, y), rtol=1e-15)
        assert f.cache_info()["compiles"] == k + 1
    for x, y in cases[::-1]:
        np.testing.assert_allclose(f(x, y), _want(x, y), rtol=1e-15)
    assert f.cache_info()["compiles"] == 4


def test_two_sites_eager_transforms():
    x, y = np.array([-1.0, -4.0]), np.array([4.0, 9.0])
    g = cc.grad(lambda x, y: np.sum(two_sites(x, y)), argnums=(0, 1))(x, y)
    np.testing.assert_allclose(g[0], 0.5 / np.sqrt(-x), rtol=1e-14)
    np.testing.assert_allclose(g[1], 5.0 / np.sqrt(y), rtol=1e-14)
    out, t = cc.jvp(two_sites, (x, y), (np.ones(2), np.zeros(2)))
    np.testing.assert_allclose(out, _want(x, y), rtol=1e-15)
    np.testing.assert_allclose(t, 0.5 / np.sqrt(-x), rtol=1e-14)
    np.testing.assert_allclose(cc.jacfwd(two_sites)(x, y), np.diag(0.5 / np.sqrt(-x)), rtol=1e-14)


def test_mixed_signs_name_the_line():
    line = _line_of(_signed_root, "msg=\"traced for negative x\"")
    with pytest.raises(SpecializationError, match=rf"test_value_guard.py:{line}"):
        cc.compile(two_sites)(np.array([1.0, -1.0]), np.array([1.0]))
