"""np.array / np.asarray / np.r_ / np.c_ of traced values (compiler/array_ctor.py): NumPy's result, eager and
compiled, differentiable; NumPy's errors for what NumPy refuses; library code keeps NumPy's own conversion."""
import numpy as np
import pytest

import compiler as cc

C32, C10 = np.arange(6.0).reshape(3, 2), np.arange(10.0)

CASES = [
    ("asarray", lambda x: np.asarray(x) * 2),
    ("asarray_dtype", lambda x: np.asarray(x, dtype=np.float32) + 1),
    ("ascontiguous", lambda x: np.ascontiguousarray(x) - 1),
    ("array_of_two", lambda x: np.array([x, x * 2])),
    ("array_nested", lambda x: np.array([[x[0], x[1] * 1.0, x[0] + 2.5], [x[0] ** 2, x[1], x[0] / 2.0]])),
    ("array_ndmin", lambda x: np.array(x[0], ndmin=3)),
    ("array_dtype", lambda x: np.array([x[0], 1.0], dtype=np.float32)),
    ("array_mixed_const", lambda x: np.array([x[0], 3, 4.5])),
    ("asarray_list", lambda x: np.asarray([x[0], x[1]])),
    ("r_", lambda x: np.r_[x, C10, 1:4]),
    ("r_scalars", lambda x: np.r_[x[0], 2.0, x[1]]),
    ("c_", lambda x: np.c_[x, x * 2]),
]


@pytest.mark.parametrize("name, fn", CASES, ids=[c[0] for c in CASES])
def test_matches_numpy_eager_compiled_and_differentiated(name, fn):
    x = np.array([0.3, -1.2, 2.0])
    want = fn(x)
    for got in (cc.compile(fn)(x), cc.interpret(cc.trace(fn, x), x)[0]):
        assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-6)
    if want.dtype == np.float64:
        cc.check_grads(lambda x: np.sum(np.sin(fn(x))), (x,), order=2)


def test_gradient_of_an_array_of_traced_scalars_is_the_closed_form():
    g = cc.grad(lambda x: np.sum(np.array([x, x * 1.0, x + 2.5]) ** 2))(3.0)
    assert g == pytest.approx(2 * 3 + 2 * 3 + 2 * 5.5)


def test_ragged_input_raises_numpys_value_error():
    with pytest.raises(ValueError, match="inhomogeneous"):
        cc.trace(lambda x: np.array([x, np.ones(3)]), np.ones(2))


def test_string_directive_on_traced_values_is_a_clear_trace_error():
    with pytest.raises(cc.TraceError, match="np.concatenate"):
        cc.trace(lambda x: np.r_["0,2", x, x], np.ones(2))


def test_outside_a_trace_numpy_is_untouched():
    a = np.arange(4.0)
    assert np.asarray(a) is a
    assert np.array([1, 2]).dtype == np.array([1, 2], dtype=np.int64).dtype
    np.testing.assert_array_equal(np.r_[a, 1:3], np.concatenate([a, [1, 2]]))
    np.testing.assert_array_equal(np.c_[a, a], np.stack([a, a], axis=1))
