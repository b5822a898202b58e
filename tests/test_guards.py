"""Symbolic versions keep NumPy's meaning: the facts about sizes a trace relied on are guards checked on each call.

Each function is called on a run of sizes (the second size makes cc.compile trace a symbolic version, later ones
must be served correctly or get another version) and compared with NumPy, or NumPy's exception.
"""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc


def _vec(n, dtype=np.float32):
    return (np.arange(n) * 0.5 - 1).astype(dtype)


def _same_as_numpy(fn, inputs):
    f = cc.compile(fn)
    for x in inputs:
        try:
            want = fn(x)
        except Exception as e:      # noqa: BLE001 -- NumPy's exception is the expected one
            with pytest.raises(type(e)):
                f(x)
            continue
        got = f(x)
        assert np.shape(got) == np.shape(want), (x.shape, np.shape(got), np.shape(want))
        np.testing.assert_allclose(got, want, rtol=1e-6)
    return f


SIZES = [5, 6, 2, 7, 1, 3, 0, 9]


def test_constant_slice_clamps_to_the_size():
    f = _same_as_numpy(lambda x: x[:3] * 2, [_vec(n) for n in SIZES])
    info = f.cache_info()
    assert info["compiles"] <= 5, info        # 5, symbolic N >= 3, symbolic N < 3, size 0


@pytest.mark.parametrize("fn", [lambda x: x[1:-1] + 1, lambda x: x[-3:] * 2, lambda x: x[2:] - x[:1].sum(),
                                lambda x: x[::2] * 3, lambda x: x[1::3] + x[0]],
                         ids=["1:-1", "-3:", "2:", "::2", "1::3"])
def test_slices_of_symbolic_sizes(fn):
    _same_as_numpy(fn, [_vec(n) for n in SIZES])


def test_index_out_of_bounds_raises_index_error_at_the_users_line():
    f = cc.compile(lambda x: x[2] * 2)
    for n in (5, 6):
        assert f(_vec(n)) == _vec(n)[2] * 2
    with pytest.raises(IndexError, match="index 2 is out of bounds for axis 0 with size 1") as e:
        f(_vec(1))
    assert "test_guards.py" in str(e.value)
    assert f(_vec(9)) == _vec(9)[2] * 2           # the symbolic version still serves big sizes


def test_negative_index_of_symbolic_size():
    _same_as_numpy(lambda x: x[-2] + x[-1], [_vec(n) for n in (5, 6, 2, 1, 4)])


def test_huge_constant_slice_of_a_spec_version_never_reads_outside():
    f = cc.compile(lambda x: x[:50_000_000] * 2)
    low = f.lower(cc.Spec("f32[N]"))
    for n in (1, 3, 1000):
        x = _vec(n)
        np.testing.assert_array_equal(low(x), x * 2)
        np.testing.assert_array_equal(f(x), x * 2)
    assert f.cache_info()["compiles"] == 1


def test_lowered_version_refuses_sizes_that_break_its_guards():
    f = cc.compile(lambda x: x[:3] * 2)
    low = f.lower(cc.Spec("f32[N]"))
    np.testing.assert_array_equal(low(_vec(10)), _vec(10)[:3] * 2)
    with pytest.raises(cc.ShapeError, match="N >= 3|3 <= N"):
        low(_vec(2))
    np.testing.assert_array_equal(f(_vec(2)), _vec(2) * 2)      # the compiled function gets another version


@pytest.mark.parametrize("fn", [
    lambda x: x[:x.shape[0] // 2] * 2,
    lambda x: np.zeros(x.shape) + x,
    lambda x: x * 2 if x.shape[0] > 2 else x - 1,
    lambda x: np.arange(x.shape[0]) + x,
    lambda x: np.eye(x.shape[0]) @ x,
    lambda x: x.reshape(x.shape[0], 1) * np.ones((1, len(x))),
    lambda x: sum(x[i] for i in range(x.shape[0])),
    lambda x: x / x.shape[0] + x.shape[0] % 3,
    lambda x: x * min(x.shape[0], 4),
], ids=["half", "zeros", "if", "arange", "eye", "len", "range", "divmod", "min"])
def test_sizes_used_as_python_ints(fn):
    _same_as_numpy(fn, [_vec(n) for n in (5, 6, 2, 7, 1, 8)])


def test_python_if_on_a_size_gets_one_version_per_branch():
    f = _same_as_numpy(lambda x: x * 2 if x.shape[0] > 2 else x - 1, [_vec(n) for n in (5, 6, 7, 2, 1, 8, 3)])
    assert f.cache_info()["traces"] == 3, f.cache_info()       # first call, then one symbolic version per branch


def test_grad_of_constant_slice_compiled_symbolically():
    g = cc.compile(cc.grad(lambda x: (x[:3] ** 2).sum()))
    for n in (5, 6, 2, 7, 1):
        x = _vec(n, np.float64)
        want = np.zeros_like(x)
        want[:3] = 2 * x[:3]
        np.testing.assert_allclose(g(x), want, rtol=1e-12)


def test_squeeze_of_a_batch_of_one():
    f = cc.compile(lambda x: np.squeeze(x) * 2)
    for n in (5, 6, 1, 4):
        x = np.ones((n, 3), np.float32) * n
        got = f(x)
        assert got.shape == np.squeeze(x).shape
        np.testing.assert_array_equal(got, np.squeeze(x) * 2)


def test_squeeze_of_an_explicit_axis_that_is_not_one_raises_value_error():
    f = cc.compile(lambda x: np.squeeze(x, axis=0))
    np.testing.assert_array_equal(f(np.ones((1, 3), np.float32)), np.ones(3, np.float32))
    with pytest.raises(ValueError):
        f(np.ones((2, 3), np.float32))


def test_max_over_an_empty_axis_raises_value_error():
    f = cc.compile(lambda x: x.max(axis=0))
    for n in (5, 6):
        x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
        np.testing.assert_array_equal(f(x), x.max(axis=0))
    with pytest.raises(ValueError):
        f(np.zeros((0, 3), np.float32))
    np.testing.assert_array_equal(f(np.ones((2, 3), np.float32)), np.ones(3, np.float32))


def test_var_with_ddof_at_the_size_of_ddof():
    with np.errstate(divide="ignore", invalid="ignore"), pytest.warns(RuntimeWarning):
        _same_as_numpy(lambda x: x.var(ddof=1), [_vec(n, np.float64) for n in (5, 6, 1, 3)])


def test_any_exception_in_a_symbolic_trace_falls_back_to_a_specialised_compile():
    def fn(x):
        if not isinstance(x.shape[0], int):
            raise RuntimeError("this code only works for concrete sizes")
        return x * x.shape[0]
    f = cc.compile(fn)
    for n in (5, 6, 7):
        np.testing.assert_array_equal(f(_vec(n)), _vec(n) * n)


def test_a_spec_version_that_needs_a_concrete_size_says_so():
    f = cc.compile(lambda x: x * int(x.shape[0]))
    with pytest.raises(cc.TraceError, match="test_guards.py"):
        f.lower(cc.Spec("f32[N]"))


def test_guards_are_recorded_on_the_version():
    f = cc.compile(lambda x: x[:3] + x[2])
    f(_vec(5))
    f(_vec(6))
    (_, exe), = f._symbolic
    assert len(exe.guards) >= 2
    for n in range(12):         # x[2] needs N > 2; x[:3] is x[:3] for N >= 3; every version needs N >= 1
        assert exe.guards_hold([np.empty(n, np.float32)]) == (n > 2)


def test_training_loop_compiles_at_most_twice():
    f = cc.compile(lambda x, w: np.tanh(x @ w).sum())
    w = np.ones((4, 3), np.float32)
    for n in (32, 32, 17, 32, 5, 1):
        x = np.ones((n, 4), np.float32)
        np.testing.assert_allclose(f(x, w), np.tanh(x @ w).sum(), rtol=1e-5)
    assert f.cache_info()["compiles"] == 2, f.cache_info()


def test_constant_index_array_into_a_symbolic_size():
    _same_as_numpy(lambda x: x[np.array([0, 4, -5])] * 2, [_vec(n) for n in (6, 7, 5, 4, 9, 2)])
    _same_as_numpy(lambda x: np.take(x, [1, -2]) + 1, [_vec(n) for n in (6, 7, 1, 2, 9)])


def test_dumps_show_the_guards_and_the_parser_reads_them_back():
    from compiler.ir.parser import parse
    from compiler.ir.printer import print_graph
    g = cc.trace(lambda x: x[:3] * 2 if x.shape[0] > 4 else x[-1:], cc.Spec("f32[N]"))
    text = print_graph(g, locs=True)
    assert "# guards: " in text and "N > 4" in text.replace("4 < N", "N > 4")
    assert print_graph(parse(text)) == print_graph(g)


_SLICES = [slice(a, b, s) for a in (None, 0, 2, -2, 7, -9) for b in (None, 3, -1, -6, 8) for s in (None, 2, 3)]


def test_every_slice_bound_keeps_numpys_meaning_on_every_size():
    fn = lambda x: tuple(x[s] * 1 for s in _SLICES)      # noqa: E731
    f = cc.compile(fn)
    for n in (5, 6, 0, 1, 2, 3, 4, 7, 8, 9, 12):
        x = _vec(n)
        for got, want in zip(f(x), fn(x)):
            assert got.shape == want.shape
            np.testing.assert_array_equal(got, want)


def test_two_dims_sliced_and_indexed():
    _same_as_numpy(lambda x: x[1:, :-2] + x[-1, 0], [np.ones((n, n + 1), np.float32) * n for n in (4, 5, 1, 2, 7)])


def test_a_failed_symbolic_trace_is_not_retried_on_every_size():
    def fn(x):
        if not isinstance(x.shape[0], int):
            raise RuntimeError("concrete sizes only")
        return x + 1
    f = cc.compile(fn)
    for n in (5, 6, 7, 8):
        np.testing.assert_array_equal(f(_vec(n)), _vec(n) + 1)
    assert f.cache_info()["traces"] == 5, f.cache_info()     # 4 exact versions + 1 failed symbolic trace


def test_size_times_a_python_float_is_a_weak_float():
    fn = lambda x, i: (x.shape[0] * 2.0 * i, x.sum() / x.shape[0])      # noqa: E731
    f = cc.compile(fn)
    for n in (3, 4, 5):
        x, i = _vec(n), np.arange(3)
        for got, want in zip(f(x, i), fn(x, i)):
            assert np.asarray(got).dtype == np.asarray(want).dtype
            np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_bad_call_does_not_stop_later_symbolic_versions():
    f = cc.compile(lambda x: x[2] * 2)
    f(_vec(5))
    with pytest.raises(IndexError):
        f(_vec(1))
    for n in (6, 7, 8):
        assert f(_vec(n)) == _vec(n)[2] * 2
    assert f.cache_info()["compiles"] == 2, f.cache_info()


def test_symdim_arithmetic_with_python_and_numpy_ints():
    fn = lambda x: x[:x.shape[0] - np.int64(1)] * (x.shape[0] + True) + (x.shape[0] % 3)    # noqa: E731
    _same_as_numpy(fn, [_vec(n) for n in (5, 6, 7, 1, 2)])


def test_the_interpreter_refuses_arrays_that_break_a_graphs_guards():
    g = cc.trace(lambda x: x[:3] * 2, cc.Spec("f32[N]"))
    np.testing.assert_array_equal(cc.interpret(g, _vec(5))[0], _vec(5)[:3] * 2)
    with pytest.raises(cc.ShapeError, match="N"):
        cc.interpret(g, _vec(2))
