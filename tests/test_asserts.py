"""Python `assert` on traced values: a run-time check in compiled code and in the eager transforms.

PYTEST_DONT_REWRITE: pytest's assertion rewriting would turn the asserts of the traced functions below into `if`
statements, which are (rightly) a TraceError; a user's module keeps its plain asserts.
"""
import inspect

import numpy as np
import pytest

import compiler as cc
from compiler.errors import TraceError
from compiler.assert_site import assert_site

X = np.array([1.0, 2.0, 3.0])


def _line_of(fn, text):
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, s in enumerate(lines) if text in s)


def positive_sum(x):
    assert np.all(x > 0), "x must be {positive}"
    return np.sum(np.sin(x) * x)


def no_message(x):
    assert np.allclose(x, (x * 3.0) / 3.0)
    assert x[0] < 10
    return np.sum(x ** 2)


def _raises_at(fn, args, msg, line):
    with pytest.raises(AssertionError) as e:
        fn(*args)
    text = str(e.value)
    assert text.startswith(msg), text
    assert f"test_asserts.py:{line}" in text, text
    return text


def test_passing_assert_gives_the_values_and_gradients():
    ref = np.sum(np.sin(X) * X)
    dref = np.cos(X) * X + np.sin(X)
    np.testing.assert_allclose(cc.compile(positive_sum)(X), ref, rtol=1e-12)
    np.testing.assert_allclose(cc.compile(cc.grad(positive_sum))(X), dref, rtol=1e-12)
    np.testing.assert_allclose(cc.grad(positive_sum)(X), dref, rtol=1e-12)
    cc.check_grads(positive_sum, (X,), order=2)
    cc.check_grads(no_message, (X,), order=1)


@pytest.mark.parametrize("mode", ["compiled", "eager grad", "compiled grad", "vjp", "jvp"])
def test_failing_assert_raises_with_message_and_line(mode):
    line = _line_of(positive_sum, "assert np.all")
    fn = {"compiled": cc.compile(positive_sum), "eager grad": cc.grad(positive_sum),
          "compiled grad": cc.compile(cc.grad(positive_sum)),
          "vjp": lambda x: cc.vjp(positive_sum, x)[1](1.0),
          "jvp": lambda x: cc.jvp(positive_sum, (x,), (np.ones_like(x),))}[mode]
    text = _raises_at(fn, (-X,), "x must be {positive}", line)
    assert "assert np.all(x > 0)" in text               # the source line is shown


def test_assert_without_message_names_its_line_and_each_assert_is_checked():
    f = cc.compile(no_message)
    assert f(X) == pytest.approx(14.0)
    _raises_at(f, (np.array([11.0, 2.0]),), "assertion failed", _line_of(no_message, "x[0] < 10"))
    _raises_at(cc.grad(no_message), (np.array([11.0, 2.0]),), "assertion failed", _line_of(no_message, "x[0] < 10"))


def test_not_and_and_forms_and_size_one_arrays():
    def f(x, y):
        assert not np.any(x < 0), "no negatives"
        assert np.all(x > -5) and np.all(y > 0), "both"
        assert x[:1]                        # a size-1 array: its nonzero-ness, as NumPy
        return x + y

    g = cc.compile(f)
    np.testing.assert_allclose(g(X, X), 2 * X)
    _raises_at(g, (-X, X), "no negatives", _line_of(f, "not np.any"))
    _raises_at(g, (X, -X), "both", _line_of(f, "and np.all"))
    _raises_at(g, (np.array([0.0, 1.0, 1.0]), X), "assertion failed", _line_of(f, "x[:1]"))


def test_vmap_fails_when_any_lane_fails():
    v = cc.vmap(positive_sum)
    ok = np.array([[1.0, 2.0], [0.5, 3.0]])
    np.testing.assert_allclose(cc.compile(v)(ok), [positive_sum(r) for r in ok], rtol=1e-12)
    bad = np.array([[1.0, 2.0], [0.5, -3.0]])
    for fn in (v, cc.compile(v)):
        _raises_at(fn, (bad,), "x must be {positive}", _line_of(positive_sum, "assert np.all"))


def test_asserts_in_scan_and_cond_bodies():
    def body(c, xi):
        assert xi > 0, "scan element"
        return c + xi, c * xi

    def run(x):
        return cc.scan(body, 0.0, x)[0] + cc.cond(x[0] > 1, positive_sum, lambda y: -np.sum(y), x)

    f = cc.compile(run)
    np.testing.assert_allclose(f(X + 1), 9.0 + positive_sum(X + 1), rtol=1e-12)
    np.testing.assert_allclose(cc.compile(cc.grad(run))(X + 1), 1 + np.cos(X + 1) * (X + 1) + np.sin(X + 1),
                               rtol=1e-12)
    _raises_at(f, (np.array([1.0, -1.0]),), "scan element", _line_of(body, "assert xi"))
    _raises_at(cc.compile(cc.grad(run)), (np.array([1.0, -1.0]),), "scan element", _line_of(body, "assert xi"))
    # the cond's other branch runs: its assert does not
    np.testing.assert_allclose(f(np.array([1.0, 4.0])), 5.0 - 5.0)
    _raises_at(f, (np.array([2.0, 4.0, -1e-3]),), "scan element", _line_of(body, "assert xi"))


def test_check_indices_false_still_checks_asserts():
    f = cc.compile(positive_sum, check_indices=False)
    _raises_at(f, (-X,), "x must be {positive}", _line_of(positive_sum, "assert np.all"))


def test_other_truth_tests_stay_trace_errors():
    def with_if(x):
        if np.all(x > 0):
            return x
        return -x

    def with_or(x):
        assert np.all(x > 0) or np.all(x < 0)
        return x

    def with_bool(x):
        return x * bool(np.all(x > 0))

    for fn in (with_if, with_or, with_bool):
        with pytest.raises(TraceError, match="np.where"):
            cc.compile(fn)(X)
        with pytest.raises(TraceError):
            cc.grad(lambda x: np.sum(fn(x)))(X)


def test_truth_of_a_larger_array_is_numpys_value_error():
    def f(x):
        assert x > 0
        return x

    with pytest.raises(ValueError, match="ambiguous"):
        cc.compile(f)(X)
    with pytest.raises(ValueError, match="ambiguous"):
        f(X)                                                 # NumPy's own


def test_cuda_backend_emits_the_check():
    ptx = cc.compile(positive_sum, backend="cuda").lower(X).ptx()
    assert ".entry" in ptx and "atom" in ptx          # the status word is claimed by compare-and-swap


def test_closeness_tests_match_numpy():
    a = np.array([1.0, 2.0, np.inf, np.nan, -np.inf, 0.0])
    b = np.array([1.0 + 1e-9, 2.1, np.inf, np.nan, np.inf, 1e-9])
    for fn in (lambda a, b: np.isclose(a, b), lambda a, b: np.isclose(a, b, equal_nan=True, atol=0.0),
               lambda a, b: np.allclose(a[:3], b[:3], rtol=0.1), lambda a, b: np.allclose(a, b),
               lambda a, b: np.array_equal(a, a, equal_nan=True), lambda a, b: np.array_equal(a, b),
               lambda a, b: np.array_equiv(a[:1], b[:1])):
        np.testing.assert_array_equal(cc.compile(fn)(a, b), fn(a, b))
    ints = np.arange(4)
    np.testing.assert_array_equal(cc.compile(lambda x: np.isclose(x, 2))(ints), np.isclose(ints, 2))


def test_assert_site_reads_the_bytecode():
    import sys

    class Probe:
        def __bool__(self):
            self.site = assert_site(sys._getframe(1))
            return bool(self.site and self.site[0])

    p = Probe()
    assert p, "the message"            # the site says: passes when true, with this message
    assert p.site == (True, "the message")
    q = Probe()
    if q:
        pass
    assert q.site is None
