"""Complex values (complex_value.py): NumPy's results at many points (axes and signed zeros included), NumPy's
dtype promotion, gradients against float64 finite differences and closed forms, compiled and eager, under vmap,
and clear errors for what is not supported."""
import numpy as np
import pytest
import scipy.special

import compiler as cc
from compiler.errors import DTypeError, TraceError

_RNG = np.random.default_rng(7)


def _points():
    """A grid over [-3, 3]^2 with both axes, the unit circle's neighbourhood and signed zeros on both parts."""
    v = np.array([-3.0, -2.0, -1.5, -1.0, -0.5, -1e-3, -0.0, 0.0, 1e-3, 0.3, 0.5, 0.999, 1.0, 1.5, 2.0, 3.0])
    re, im = np.meshgrid(v, v)
    z = np.empty(re.size, np.complex128)
    z.real, z.imag = re.ravel(), im.ravel()
    return z


Z = _points()
UNARY = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan", "sinh", "cosh",
         "tanh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "absolute", "sign", "square",
         "reciprocal", "negative", "conjugate", "real", "imag", "angle"]


def _same(got, want, rtol=1e-13):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype == bool:
        np.testing.assert_array_equal(got, want)
        return
    scale = np.maximum(np.abs(want), 1.0)
    bad = ~((np.abs(got - want) <= rtol * scale) | (np.isnan(got) & np.isnan(want)) | (got == want))
    assert not bad.any(), f"at {Z[bad.ravel()][:6] if got.shape == Z.shape else ''}: got {got[bad][:6]}, " \
                          f"NumPy {want[bad][:6]}"


def _signs_agree(got, want):
    """Where NumPy's result part is zero or infinite, the sign bit agrees too (branch cuts: which side)."""
    for g, w in ((np.real(got), np.real(want)), (np.imag(got), np.imag(want))):
        edge = (w == 0) | np.isinf(w)
        assert np.array_equal(np.signbit(g[edge]), np.signbit(w[edge])), (Z[edge][np.signbit(g[edge]) !=
                                                                               np.signbit(w[edge])])


@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_numpy_on_a_grid_with_axes_and_signed_zeros(name):
    f = getattr(np, name)
    with np.errstate(all="ignore"):
        want = f(Z)
    got = cc.compile(lambda z: f(z))(Z)
    with np.errstate(invalid="ignore"):
        _same(got, want)
    if name not in ("sign", "angle"):
        _signs_agree(got, want)


def test_unary_complex64_stays_complex64():
    z = Z.astype(np.complex64)
    for name in ("exp", "log", "sqrt", "tanh", "arcsinh"):
        f = getattr(np, name)
        with np.errstate(all="ignore"):
            want = f(z)
        got = cc.compile(lambda z: f(z))(z)
        assert got.dtype == np.complex64
        np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=3e-6, atol=3e-6)
    assert cc.compile(np.abs)(z).dtype == np.float32


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "true_divide", "power", "equal", "not_equal"])
def test_binary_matches_numpy(op):
    f = getattr(np, op)
    a = Z[::3]
    b = np.concatenate([Z[1::3], Z[:1]])[:a.size][::-1] + 0.25
    with np.errstate(all="ignore"):
        want = f(a, b)
        got = cc.compile(lambda a, b: f(a, b))(a, b)
        if op == "power":       # cpow goes through exp(b log a): a few ulps more than NumPy's own
            np.testing.assert_allclose(got, want, rtol=1e-12)
        else:
            _same(got, want)
        # with a real operand on either side
        r = b.real
        for g in (lambda a, r: f(a, r), lambda a, r: f(r, a)):
            got, want = cc.compile(g)(a, r), g(a, r)
            if want.dtype == bool:
                np.testing.assert_array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-12)


def test_division_by_large_and_tiny_values_as_numpy():
    a = np.array([1 + 1j, 1e300 + 1e300j, 1e-300 + 2e-300j, 3 - 4j])
    b = np.array([1e300 + 1e300j, 1e300 - 1e299j, 1e-300 + 1e-300j, 0 + 1e-200j])
    np.testing.assert_allclose(cc.compile(np.divide)(a, b), a / b, rtol=1e-14)


def test_integer_powers_multiply_as_numpy():
    z = Z[np.abs(Z) > 0]
    for n in (2, 3, 5, -1, -2, 0):
        np.testing.assert_allclose(cc.compile(lambda z: z ** n)(z), z ** n, rtol=1e-14)


@pytest.mark.parametrize("dtypes, want", [
    ((np.complex64, np.float32), np.complex64), ((np.complex64, np.float64), np.complex128),
    ((np.complex128, np.float32), np.complex128), ((np.float32, np.complex64), np.complex64),
    ((np.complex64, np.int32), np.complex128), ((np.complex64, np.complex128), np.complex128)])
def test_promotion_as_numpy(dtypes, want):
    a = (np.arange(3) + 1j * np.arange(3)).astype(dtypes[0]) if np.dtype(dtypes[0]).kind == "c" \
        else np.arange(3).astype(dtypes[0])
    b = np.arange(1, 4).astype(dtypes[1]) if np.dtype(dtypes[1]).kind != "c" else (np.arange(1, 4) * 1j).astype(dtypes[1])
    got = cc.compile(lambda a, b: a * b)(a, b)
    assert got.dtype == (a * b).dtype == want
    np.testing.assert_allclose(got, a * b, rtol=1e-6)


def test_python_complex_scalars_are_weak():
    x = np.arange(3, dtype=np.float32)
    got = cc.compile(lambda x: x * 1j + 2)(x)
    assert got.dtype == np.complex64 and np.array_equal(got, x * 1j + 2)
    z = np.ones(3, np.complex64)
    assert cc.compile(lambda z: z * (1 + 2j))(z).dtype == np.complex64
    assert cc.compile(lambda z, s: z * s)(z, 2 + 1j).dtype == np.complex64     # a Python complex argument
    np.testing.assert_array_equal(cc.compile(lambda z, s: z * s)(z, 2 + 1j), z * (2 + 1j))


def test_array_functions_on_parts():
    z = (_RNG.standard_normal((3, 4)) + 1j * _RNG.standard_normal((3, 4)))
    w = (_RNG.standard_normal((4, 2)) + 1j * _RNG.standard_normal((4, 2)))
    x = _RNG.standard_normal((3, 4))
    cases = [
        (lambda z, w, x: z.T @ z, np.testing.assert_allclose),
        (lambda z, w, x: z @ w, None), (lambda z, w, x: np.dot(x, w), None),
        (lambda z, w, x: np.sum(z, axis=0), None), (lambda z, w, x: z.mean(), None),
        (lambda z, w, x: np.concatenate([z, x], axis=1), None), (lambda z, w, x: np.stack([z, x]), None),
        (lambda z, w, x: np.where(x > 0, z, 0), None), (lambda z, w, x: z[1:, ::2].reshape(-1), None),
        (lambda z, w, x: np.einsum("ij,jk->ik", z, w), None), (lambda z, w, x: np.vdot(z, z), None),
        (lambda z, w, x: np.flip(np.cumsum(z, axis=1), 0), None), (lambda z, w, x: np.var(z), None),
        (lambda z, w, x: np.tensordot(z, w, 1), None), (lambda z, w, x: np.conj(z) * np.angle(z), None),
        (lambda z, w, x: np.real(z) + np.imag(z), None), (lambda z, w, x: x.astype(np.complex128) - z, None),
        (lambda z, w, x: np.iscomplexobj(z) + np.iscomplexobj(x) + 0 * np.abs(z), None),
        (lambda z, w, x: np.exp(1j * x), None), (lambda z, w, x: np.outer(z[0], w[:, 0]), None),
    ]
    for fn, _ in cases:
        np.testing.assert_allclose(cc.compile(fn)(z, w, x), fn(z, w, x), rtol=1e-13, atol=1e-14)


def test_pytrees_of_complex_arrays_in_and_out():
    z = np.array([1 + 2j, 3 - 1j])
    out = cc.compile(lambda d: {"a": d["z"] * 2, "b": (np.abs(d["z"]), d["z"].conj())})({"z": z, "x": 1.0})
    np.testing.assert_array_equal(out["a"], z * 2)
    np.testing.assert_array_equal(out["b"][1], z.conj())
    assert out["b"][0].dtype == np.float64


# ---- gradients ----

def _numeric_grad(f, z, eps=1e-6):
    """d/dx - i d/dy of the real function f, by central differences in float64."""
    g = np.zeros(z.shape, np.complex128)
    for k in range(z.size):
        for unit, sign in ((1.0, 1.0), (1j, -1j)):
            hi, lo = z.copy(), z.copy()
            hi.flat[k] += eps * unit
            lo.flat[k] -= eps * unit
            g.flat[k] += sign * (f(hi) - f(lo)) / (2 * eps)
    return g


GRAD_FNS = {
    "abs2": lambda z: np.sum(np.abs(z) ** 2),
    "real_exp": lambda z: np.sum(np.real(np.exp(z) * z)),
    "imag_log": lambda z: np.sum(np.imag(np.log(z)) * np.real(z)),
    "abs_sqrt": lambda z: np.sum(np.abs(np.sqrt(z))),
    "angle": lambda z: np.sum(np.angle(z)),
    "tanh_div": lambda z: np.sum(np.real(np.tanh(z) / (z + 2.0))),
    "arcs": lambda z: np.sum(np.real(np.arcsinh(z) + np.arctanh(0.3 * z) + np.arccos(0.4 * z))),
    "erf": lambda z: np.sum(np.real(scipy.special.erf(z)) + np.imag(scipy.special.erfc(z))),
}


@pytest.mark.parametrize("name", GRAD_FNS)
def test_gradients_against_finite_differences_eager_and_compiled(name):
    f = GRAD_FNS[name]
    z = _RNG.uniform(0.3, 1.5, 5) + 1j * _RNG.uniform(-1.0, 1.0, 5)
    want = _numeric_grad(f, z)
    np.testing.assert_allclose(cc.grad(f)(z), want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(cc.compile(cc.grad(f))(z), want, rtol=1e-6, atol=1e-7)
    cc.check_grads(f, (z,), order=2)


def test_gradient_closed_forms():
    z = np.array([1 + 2j, -0.5 + 0.3j, 3 - 1j])
    np.testing.assert_allclose(cc.grad(lambda z: np.sum(np.abs(z) ** 2))(z), 2 * np.conj(z))
    # a holomorphic f: grad of Re f is f'(z)
    np.testing.assert_allclose(cc.grad(lambda z: np.sum(np.real(np.sin(z))))(z), np.cos(z), rtol=1e-14)
    np.testing.assert_allclose(cc.compile(cc.grad(lambda z: np.sum(np.real(z ** 3))))(z), 3 * z ** 2, rtol=1e-14)
    # real argument, complex inside
    x = np.array([0.3, 1.2])
    np.testing.assert_allclose(cc.grad(lambda x: np.sum(np.abs(np.exp(1j * x) + 1) ** 2))(x), -2 * np.sin(x),
                               rtol=1e-14)


def test_jvp_and_vjp_conventions():
    z = np.array([1 + 2j, -0.5 + 0.3j])
    t = np.array([0.5 - 1j, 2 + 0.1j])
    out, tout = cc.jvp(lambda z: z * z, (z,), (t,))
    np.testing.assert_allclose(tout, 2 * z * t)                   # holomorphic: f'(z) t
    out, pullback = cc.vjp(lambda z: z * z, z)
    np.testing.assert_allclose(pullback(t)[0], 2 * z * t)         # and ct f'(z) back
    # <vjp(c), t> = <c, jvp(t)> under Re(a b), for a non-holomorphic map too
    f = lambda z: np.conj(z) * np.exp(z)      # noqa: E731
    _, tout = cc.jvp(f, (z,), (t,))
    _, pb = cc.vjp(f, z)
    c = np.array([0.7 + 0.2j, -1 + 1j])
    assert abs(np.sum(np.real(pb(c)[0] * t)) - np.sum(np.real(c * tout))) < 1e-12


def test_vmap_and_jit_of_grad():
    zs = _RNG.standard_normal((4, 3)) + 1j * _RNG.standard_normal((4, 3))
    f = lambda z: np.sum(np.real(np.exp(z)) * np.abs(z))     # noqa: E731
    per_row = cc.vmap(cc.grad(f))(zs)
    np.testing.assert_allclose(per_row, np.stack([_numeric_grad(f, r) for r in zs]), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(cc.compile(cc.vmap(cc.grad(f)))(zs), per_row, rtol=1e-13)
    np.testing.assert_allclose(cc.vmap(np.sin)(zs), np.sin(zs), rtol=1e-14)


def test_complex_function_of_complex64_grads_in_float32():
    z = np.array([1 + 2j, 0.5 - 0.25j], np.complex64)
    g = cc.compile(cc.grad(lambda z: np.sum(np.abs(z) ** 2)))(z)
    assert g.dtype == np.complex64
    np.testing.assert_allclose(g, 2 * np.conj(z), rtol=1e-6)


# ---- scipy.special.erf, erfc ----

def test_erf_erfc_against_scipy_where_documented():
    re, im = np.meshgrid(np.linspace(-6, 6, 49), np.linspace(-6, 6, 49))
    z = (re + 1j * im).ravel()
    z = z[(np.abs(z) <= 3) | (np.abs(z.real) >= np.abs(z.imag) / 2)]
    for f in (scipy.special.erf, scipy.special.erfc):
        got, want = cc.compile(lambda z: f(z))(z), f(z)
        np.testing.assert_allclose(got, want, rtol=2e-13, atol=1e-300)


# ---- what is not supported says so ----

@pytest.mark.parametrize("fn, what", [
    (lambda z: np.maximum(z, 0), "numpy.maximum on complex"), (lambda z: z < 1, "numpy.less on complex"),
    (lambda z: float(z[0]), "float()"), (lambda z: np.floor(z), "numpy.floor on complex"),
    (lambda z: z.astype(np.float64), "drop the imaginary part"),
    (lambda z: np.prod(z), "numpy.prod on complex"),
    (lambda z: np.sum(z) if np.iscomplex(z * z)[0] else z, "Python `if`"),
    (lambda z: np.sum(z, dtype=np.float64), "drop the imaginary part")])
def test_unsupported_is_a_clear_error_at_the_users_line(fn, what):
    z = np.array([1 + 2j, 3 - 1j])
    with pytest.raises((TraceError, DTypeError)) as e:
        cc.compile(fn)(z)
    assert what in str(e.value) and "test_complex.py" in str(e.value)


def test_jacobians_of_complex_functions_are_refused():
    with pytest.raises(DTypeError, match="no Jacobian"):
        cc.jacfwd(np.sin)(np.array([1 + 1j]))


def test_iscomplex_of_an_argument_is_known_and_part_of_the_signature():
    f = cc.compile(lambda z: np.real(z ** 2) if np.all(np.iscomplex(z)) else np.real(z) * 10)
    nonzero, zero, mixed = np.array([1 + 2j, 2 - 1j]), np.array([1 + 0j, 2 + 0j]), np.array([1 + 1j, 2 + 0j])
    np.testing.assert_allclose(f(nonzero), np.real(nonzero ** 2))
    np.testing.assert_allclose(f(zero), [10.0, 20.0])
    np.testing.assert_allclose(f(nonzero * 2), np.real((nonzero * 2) ** 2))
    assert f.cache_info()["compiles"] == 2          # one version per kind of imaginary parts
    with pytest.raises(TraceError, match="Python `if`"):
        f(mixed)        # np.iscomplex is then a traced array
    g = cc.compile(lambda z: np.iscomplex(z))
    np.testing.assert_array_equal(g(mixed), np.iscomplex(mixed))
    np.testing.assert_array_equal(cc.compile(lambda z: np.isreal(z))(mixed), np.isreal(mixed))
    # real_if_close: NumPy's real array where the imaginary parts are all zero
    r = cc.compile(np.real_if_close)
    assert r(zero).dtype == np.float64 and r(nonzero).dtype == np.complex128
    # under grad, the argument's kind is known as well (grad of Re f for holomorphic f is f')
    h = lambda z: np.real(z ** 2) if np.iscomplex(z) else np.real(z) * 10     # noqa: E731
    np.testing.assert_allclose(cc.compile(cc.grad(h))(np.asarray(2.0 + 1j)), 2 * (2.0 + 1j))
    np.testing.assert_allclose(cc.grad(h)(np.asarray(2.0 + 0j)), 10.0)
