"""Edge cases of the compositions in compiler/ops_more.py and of the fixes the autograd table found, against NumPy
(values) and float64 central differences (gradients)."""
import numpy as np
import pytest

import compiler as cc

RNG = np.random.default_rng(3)
X = RNG.standard_normal((3, 4, 5))

VALUE_CASES = {
    "diff_prepend_append": (lambda x: np.diff(x, axis=1, prepend=0.5, append=x[:, :1]), (X[0],)),
    "diff_n0": (lambda x: np.diff(x, n=0), (X,)),
    "diff_n3_last": (lambda x: np.diff(x, n=3), (X,)),
    "rollaxis_negative": (lambda x: np.rollaxis(x, -1, -2), (X,)),
    "rollaxis_end": (lambda x: np.rollaxis(x, 0, 3), (X,)),
    "cross_2x2": (np.cross, (X[0, :, :2], X[1, :, :2])),
    "cross_2x3": (np.cross, (X[0, :, :2], X[1, :, :3])),
    "cross_broadcast": (np.cross, (X[0, :1, :3], X[1, :, :3])),
    "select_int_default": (lambda a, b: np.select([a > 0, b > 0], [a, b], default=7), (X[0], X[1])),
    "nan_to_num_custom": (lambda x: np.nan_to_num(x / (x > 0), nan=-1.0, posinf=9.0, neginf=-9.0), (X[0],)),
    "nan_to_num_f32": (lambda x: np.nan_to_num(x / (x > 0)), (X[0].astype(np.float32),)),
    "linspace_1": (lambda a, b: np.linspace(a, b, 1), (np.float64(0.3), np.float64(2.0))),
    "linspace_open": (lambda a, b: np.linspace(a, b, 4, endpoint=False), (np.float64(0.3), np.float64(2.0))),
    "linspace_f32": (lambda a, b: np.linspace(a, b, 5), (np.float32(0.3), np.float32(2.0))),
    "angle_edges": (np.angle, (np.array([-0.0, 0.0, -2.0, 3.0, np.nan, -np.inf]),)),
    "angle_deg": (lambda x: np.angle(x, deg=True), (X[0],)),
    "angle_int": (np.angle, (np.array([-2, 0, 3]),)),
    "append_axis": (lambda a, b: np.append(a, b, axis=0), (X[0], X[1])),
    "column_stack_mixed": (lambda a, b: np.column_stack([a, b]), (X[0, 0], X[1].T[:, :2])),
    "hstack_0d": (lambda a, b: np.hstack([a, b]), (np.float64(1.5), np.arange(3.0))),
    "swapaxes_kw": (lambda x: np.swapaxes(x, axis1=0, axis2=-1), (X,)),
    "std_zero_var": (lambda x: np.std(x * 0.0 + 1.0, axis=0), (X,)),
}


@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_value_matches_numpy(name):
    f, args = VALUE_CASES[name]
    want = f(*args)
    got = cc.compile(f)(*args)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0, equal_nan=True)


@pytest.mark.parametrize("call, exc", [
    (lambda x: np.diff(x, n=-1), ValueError),
    (lambda x: np.dsplit(x[0], 2), ValueError),
    (lambda x: np.cross(x[0], x[1]), ValueError),            # last axis 5: neither 2 nor 3
    (lambda x: np.rollaxis(x, 0, 5), np.exceptions.AxisError),
    (lambda x: np.select([x > 0], [x, x]), ValueError),
])
def test_errors_are_numpys(call, exc):
    with pytest.raises(exc):
        call(X)                                              # NumPy's own exception type ...
    with pytest.raises(exc):
        cc.compile(call)(X)                                   # ... raised at trace time as well


def _central(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for k in range(x.size):
        hi, lo = x.copy(), x.copy()
        hi.flat[k] += eps
        lo.flat[k] -= eps
        g.flat[k] = (f(hi) - f(lo)) / (2 * eps)
    return g


def test_pow_second_derivative_across_zero_exponent():
    # d/dy of d/dx sin(x**y) at y == 0 is cos(1) / x; the rule for d/dx once masked it to 0
    x = np.array([1.5, 2.5, 0.7])
    for y in (np.zeros(3), np.array([0.0, 1.0, -1.0])):
        dx = cc.grad(lambda a, b: np.sum(np.sin(a ** b)), 0)
        mixed = cc.grad(lambda b: np.sum(dx(x, b)))(y)
        np.testing.assert_allclose(mixed, _central(lambda b: np.sum(dx(x, b)), y), rtol=1e-6, atol=1e-8)
    # and the point 0 ** 0 still has derivative 0 in a, not 0 * inf
    assert np.all(cc.grad(lambda a: np.sum(a ** 0.0))(np.zeros(2)) == 0)


def test_std_gradient_at_zero_variance_is_zero_not_nan():
    x = np.array([[1.0, 2.0], [1.0, 3.0]])
    f = lambda a: np.sum(np.std(a, axis=0) * np.array([2.0, 3.0]))   # noqa: E731
    for g in (cc.grad(f)(x), cc.compile(cc.grad(f))(x)):
        np.testing.assert_allclose(g, _central(f, x), atol=1e-8)
    assert np.isnan(cc.compile(lambda a: np.std(a, ddof=1))(np.ones(1)))     # NumPy's nan for ddof >= n stays


def test_iscomplex_is_decided_while_tracing():
    f = lambda x: x ** 2 if np.iscomplex(x).any() else np.sum(x) * np.isreal(x)      # noqa: E731
    np.testing.assert_array_equal(cc.compile(f)(np.arange(3.0)), f(np.arange(3.0)))
    g = cc.trace(lambda x: x * np.isreal(x) + np.iscomplexobj(x), cc.Spec("f64[N]"))   # symbolic: a broadcast
    np.testing.assert_array_equal(cc.interpret(g, np.arange(4.0))[0], np.arange(4.0))
