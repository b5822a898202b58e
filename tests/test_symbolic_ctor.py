"""np.arange and np.zeros / ones / empty / full of a symbolic size (x.shape[0] in a version compiled for every N)
stay symbolic: one compile serves every batch size, with NumPy's values and dtypes."""
import numpy as np
import pytest

import compiler as cc

RNG = np.random.default_rng(0)
SIZES = (4, 7, 1, 9, 2)


def _same(fn, *make):
    f = cc.compile(fn)
    for n in SIZES:
        args = [m(n) for m in make]
        got, want = f(*args), fn(*args)
        got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape, (n, g.dtype, g.shape, w.dtype, w.shape)
            np.testing.assert_allclose(g, w, rtol=1e-12)
    assert f.cache_info()["compiles"] == 2, f.cache_info()      # the first sizes, then one for every N
    return f


def _x(n):
    return RNG.standard_normal((n, 3))


@pytest.mark.parametrize("fn", [
    lambda x: np.arange(x.shape[0]),
    lambda x: np.arange(x.shape[0], dtype=np.float32) * 0.5,
    lambda x: np.arange(1, x.shape[0] + 1, 2),
    lambda x: np.arange(x.shape[0], 0, -3),
    lambda x: np.arange(start=0, stop=x.shape[0] * 2, step=3),
    lambda x: np.arange(x.shape[0] - 1, 2 * x.shape[0]),
    lambda x: x + np.arange(x.shape[1])[None, :] + np.arange(x.shape[0])[:, None],
    lambda x: np.zeros(x.shape) + x,
    lambda x: np.zeros((x.shape[0], 2), dtype=np.int32),
    lambda x: np.ones(x.shape[0]) * 2.0 + x[:, 0],
    lambda x: np.full((2, x.shape[0]), 7.5) + x[:, 1],
    lambda x: np.full((x.shape[0],), x[0, 0]) * x[:, 2],
    lambda x: np.empty((x.shape[0], 3)).shape[0] + x,
], ids=["arange", "arange_f32", "arange_step", "arange_down", "arange_kw", "arange_offset", "arange_2d", "zeros",
        "zeros_i32", "ones", "full", "full_traced", "empty_shape"])
def test_symbolic_size_constructors_match_numpy(fn):
    _same(fn, _x)


def _ce(w, x, y):
    z = x @ w
    lp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(lp[np.arange(x.shape[0]), y])


def test_cross_entropy_with_arange_labels_compiles_once_for_every_batch():
    w = RNG.standard_normal((5, 4))
    g = cc.compile(cc.value_and_grad(_ce))
    for n in (3, 8, 1, 17, 5):
        x, y = RNG.standard_normal((n, 5)), RNG.integers(0, 4, n)
        v, gw = g(w, x, y)
        ve, ge = cc.value_and_grad(_ce)(w, x, y)
        np.testing.assert_allclose(v, ve, rtol=1e-12)
        np.testing.assert_allclose(gw, ge, rtol=1e-11, atol=1e-14)
    assert g.cache_info()["compiles"] == 2, g.cache_info()
    cc.check_grads(lambda w: _ce(w, x, y), (w,), order=1)


def test_per_example_grads_with_batched_gather_compile_once():
    # vmap of a gather whose indices and operand are both batched, with a symbolic batch size
    w = RNG.standard_normal((5, 4))
    per = cc.compile(cc.vmap(cc.grad(lambda w, x, y: _ce(w, x[None], y[None])), in_axes=(None, 0, 0)))
    for n in (2, 6, 3):
        x, y = RNG.standard_normal((n, 5)), RNG.integers(0, 4, n)
        want = np.stack([cc.grad(_ce)(w, x[i:i + 1], y[i:i + 1]) for i in range(n)])
        np.testing.assert_allclose(per(w, x, y), want, rtol=1e-11, atol=1e-14)
    assert per.cache_info()["compiles"] == 2, per.cache_info()


def test_spec_version_of_arange():
    f = cc.compile(lambda x: x * np.arange(x.shape[0]))
    low = f.lower(cc.Spec("f64[N]"))
    for n in (1, 5, 12):
        np.testing.assert_array_equal(low(np.ones(n)), np.arange(n, dtype=np.float64))


def test_outside_a_trace_numpy_is_untouched():
    assert np.arange(5).dtype == np.arange(5).dtype and list(np.arange(1, 7, 2)) == [1, 3, 5]
    assert np.zeros((2, 3), "i4").dtype == np.int32 and np.full(2, 3).dtype == np.result_type(3)
    with pytest.raises(ZeroDivisionError):
        np.arange(0, 5, 0)


def test_full_of_a_traced_value_or_a_row():
    f = _same(lambda x: np.full((x.shape[0], 3), x[0]) + np.full((x.shape[0], 3), [1.0, 2.0, 3.0]), _x)
    g = cc.compile(lambda x: np.full(4, x[0, 0], dtype=np.float32))
    for n in (2, 3):
        x = _x(n)
        got = g(x)
        assert got.dtype == np.float32 and got.shape == (4,)
        np.testing.assert_array_equal(got, np.full(4, x[0, 0], dtype=np.float32))
    assert f.cache_info()["compiles"] == 2


def test_iota_emits_ptx():
    # the loop index itself: the CUDA path lowers it like the CPU one (no buffer)
    low = cc.compile(lambda x: x * np.arange(x.shape[0], dtype=np.float32), backend="cuda").lower(
        cc.Spec("f32[N]"))
    ptx = low.ptx("sm_80")
    assert ".entry" in ptx and "cvt.rn.f32" in ptx and ptx.count(".param .u64 .ptr") == 2     # x, out: no ramp
