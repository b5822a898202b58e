"""cc.compile: caching and shapes, pytrees, static args, bad inputs, threads, NaN, composed transforms."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import compiler as cc
from helpers import run_in_threads

rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def test_decorator_and_cache_info():
    @cc.compile
    def f(x, y):
        return np.tanh(x) * y
    x, y = f32(5), f32(5)
    np.testing.assert_allclose(f(x, y), np.tanh(x) * y, rtol=1e-6)
    f(x, y)
    f(x, y)
    info = f.cache_info()
    assert info["traces"] == 1 and info["compiles"] == 1 and info["hits"] == 2


def test_pytrees_in_and_out():
    f = cc.compile(lambda p, xs: {"s": p["a"] + xs[0], "t": (p["b"] * xs[1],)})
    p, xs = {"a": f32(3), "b": f32(3)}, [f32(3), f32(3)]
    r = f(p, xs)
    assert set(r) == {"s", "t"} and isinstance(r["t"], tuple)
    np.testing.assert_allclose(r["s"], p["a"] + xs[0])
    np.testing.assert_allclose(r["t"][0], p["b"] * xs[1])


def test_static_argnums():
    f = cc.compile(lambda x, n, flip: (x ** n)[1:] if flip else x ** n, static_argnums=(1, 2))
    x = f32(4)
    np.testing.assert_allclose(f(x, 2, False), x ** 2, rtol=1e-6)
    np.testing.assert_allclose(f(x, 3, True), (x ** 3)[1:], rtol=1e-6)
    assert f.cache_info()["compiles"] == 2


def test_new_batch_size_compiles_one_symbolic_version():
    f = cc.compile(lambda x, w: np.maximum(x @ w, 0).sum(axis=1))
    w = f32(8, 4)
    for n in (16, 5, 7, 100, 1):
        x = f32(n, 8)
        np.testing.assert_allclose(f(x, w), np.maximum(x @ w, 0).sum(axis=1), rtol=1e-5, atol=1e-5)
    assert f.cache_info()["compiles"] == 2          # 16 exactly, then one version for every N


def test_lower_with_spec_serves_every_size_without_recompiling():
    f = cc.compile(lambda x: np.exp(x - x.max(axis=1, keepdims=True)))
    low = f.lower(cc.Spec("f32[N,6]"))
    assert "N" in str(low.kernels)
    for n in (1, 3, 50):
        x = f32(n, 6)
        np.testing.assert_allclose(f(x), np.exp(x - x.max(axis=1, keepdims=True)), rtol=1e-6)
    assert f.cache_info()["compiles"] == 1


def test_lowered_object_stages():
    f = cc.compile(lambda x, w: np.tanh(x @ w))
    low = f.lower(f32(4, 3), f32(3, 2))
    assert "dot_general" in str(low.graph) and "tanh" in str(low.optimized)
    assert "gemm<f32>" in str(low.kernels)
    ir = low.llvm_ir()
    assert "define void @" in ir and "vive_" in ir
    assert low.asm().strip()
    assert [r.name for r in low.pass_log][-2:] == ["fuse", "plan_memory"]
    x, w = f32(4, 3), f32(3, 2)
    np.testing.assert_allclose(low(x, w), np.tanh(x @ w), rtol=1e-5)


def test_ptx_is_a_clean_error_or_text():
    low = cc.compile(lambda x: x + 1).lower(f32(3))
    try:
        text = low.ptx()
    except cc.BackendError as e:
        assert "ptx" in str(e)
    else:
        assert ".entry" in text or ".visible" in text


# ---- bad inputs ----

def test_python_scalars_follow_the_arrays():
    f = cc.compile(lambda x, s: x * s)
    x = f32(3)
    r = f(x, 2.5)
    assert r.dtype == np.float32
    np.testing.assert_allclose(r, x * np.float32(2.5))
    r64 = f(x.astype(np.float64), 2.5)
    assert r64.dtype == np.float64


def test_wrong_dtype_for_a_lowered_executable():
    low = cc.compile(lambda x: x * 2).lower(cc.Spec("f32[N]"))
    with pytest.raises(cc.DTypeError, match="float64"):
        low(np.ones(3))
    np.testing.assert_allclose(low(np.ones(3, np.float32)), 2)


def test_object_and_unsupported_arrays_raise_dtype_error():
    f = cc.compile(lambda x: x + 1)
    with pytest.raises(cc.DTypeError):
        f(np.array([1, "a"], dtype=object))
    with pytest.raises(cc.DTypeError):
        f(np.ones(3, np.clongdouble))      # (complex64 and complex128 are supported: tests/test_complex.py)
    with pytest.raises(cc.DTypeError):
        f("text")


def test_wrong_number_of_arguments():
    f = cc.compile(lambda x, y: x + y)
    with pytest.raises(TypeError):
        f(f32(3))
    low = f.lower(f32(3), f32(3))
    with pytest.raises(TypeError):
        low(f32(3))


def test_wrong_shape_for_a_lowered_executable():
    low = cc.compile(lambda x, y: x + y).lower(cc.Spec("f32[N]"), cc.Spec("f32[N]"))
    with pytest.raises(ValueError, match="shape"):
        low(f32(3), f32(4))


def test_non_contiguous_inputs_are_handled():
    f = cc.compile(lambda x: x * 2 + 1)
    x = f32(6, 8)
    np.testing.assert_allclose(f(x.T), x.T * 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(f(x[:, ::2].T.copy()), x[:, ::2].T * 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(f(x[::2]), x[::2] * 2 + 1, rtol=1e-6)


def test_inputs_never_mutated_and_outputs_fresh():
    f = cc.compile(lambda x: (x, x * 1.0, x + 0))
    x = f32(5)
    x0 = x.copy()
    a, b, c = f(x)
    for r in (a, b, c):
        assert r.flags.writeable and not np.shares_memory(r, x)
    a[:] = 7
    np.testing.assert_array_equal(x, x0)
    assert not np.shares_memory(b, c)


def test_nan_and_inf_propagate():
    f = cc.compile(lambda x: (np.maximum(x, 0), x.max(axis=1), np.exp(x).sum(axis=1), np.minimum(x, 1)))
    x = f32(4, 40)
    x[1, 3] = np.nan
    x[2, 5] = np.inf
    got = f(x)
    want = (np.maximum(x, 0), x.max(axis=1), np.exp(x).sum(axis=1), np.minimum(x, 1))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, equal_nan=True)
        assert np.array_equal(np.isnan(g), np.isnan(w))


def test_four_threads_race_on_first_compile_and_call_concurrently():
    f = cc.compile(lambda x, w: np.tanh(x @ w).sum(axis=0))
    xs = [f32(64, 32) for _ in range(4)]
    w = f32(32, 16)
    results = [None] * 4
    barrier = threading.Barrier(4)

    def run(i):
        barrier.wait()
        for _ in range(20):
            results[i] = f(xs[i], w)

    run_in_threads(run)
    for i in range(4):
        np.testing.assert_allclose(results[i], np.tanh(xs[i] @ w).sum(axis=0), rtol=1e-4, atol=1e-5)
    assert f.cache_info()["compiles"] == 1


def test_log_compiles(capsys, monkeypatch):
    monkeypatch.setenv("VIVE_LOG_COMPILES", "1")
    f = cc.compile(lambda x: x * 3)
    f(f32(3))
    f(f32(3, 2))
    err = capsys.readouterr().err
    assert "compile <lambda>: first call" in err
    assert "new shapes" in err


# ---- composed transforms ----

def mlp_loss(p, x, y):
    h = np.tanh(x @ p["w1"] + p["b1"])
    return cc.nn.cross_entropy(h @ p["w2"] + p["b2"], y)


def mlp_params(dt=np.float64):
    r = np.random.default_rng(3)
    return {"w1": r.standard_normal((6, 5)).astype(dt), "b1": r.standard_normal(5).astype(dt),
            "w2": r.standard_normal((5, 3)).astype(dt), "b2": r.standard_normal(3).astype(dt)}


@pytest.mark.parametrize("dt,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
def test_value_and_grad_compiled_equals_eager(dt, tol):
    p = mlp_params(dt)
    x, y = rng.standard_normal((7, 6)).astype(dt), rng.integers(0, 3, 7)
    v, g = cc.compile(cc.value_and_grad(mlp_loss))(p, x, y)
    v2, g2 = cc.value_and_grad(mlp_loss)(p, x, y)
    np.testing.assert_allclose(v, v2, rtol=tol)
    for k in p:
        np.testing.assert_allclose(g[k], g2[k], rtol=tol, atol=tol)


def test_hessian_compiled_equals_eager():
    def f(x):
        return np.sum(np.sin(x) * x ** 2 + np.tanh(x).sum() * x)
    x = rng.standard_normal(4)
    np.testing.assert_allclose(cc.compile(cc.hessian(f))(x), cc.hessian(f)(x), rtol=1e-10, atol=1e-12)


def test_hessian_with_indexing_compiled_equals_eager():
    def f(x):
        return np.sum(np.sin(x) * x ** 2) + x[0] * x[1]
    x = rng.standard_normal(4)
    np.testing.assert_allclose(cc.compile(cc.hessian(f))(x), cc.hessian(f)(x), rtol=1e-10, atol=1e-12)


def test_compile_inside_grad_inlines():
    f = cc.compile(lambda x: np.sum(np.tanh(x) ** 2))
    x = rng.standard_normal(5)
    np.testing.assert_allclose(cc.grad(f)(x), cc.grad(lambda x: np.sum(np.tanh(x) ** 2))(x), rtol=1e-12)


def test_lenet_style_conv_pool_value_and_grad():
    def loss(p, x, y):
        h = cc.nn.max_pool2d(cc.nn.relu(cc.nn.conv2d(x, p["c"], p["cb"], padding=1)))
        h = cc.nn.relu(cc.nn.conv2d(h, p["c2"], stride=2))
        return cc.nn.cross_entropy(h.reshape(h.shape[0], -1) @ p["w"], y)
    r = np.random.default_rng(5)
    p = {"c": r.standard_normal((4, 2, 3, 3)), "cb": r.standard_normal(4), "c2": r.standard_normal((3, 4, 3, 3)),
         "w": r.standard_normal((3, 5))}
    x, y = r.standard_normal((3, 2, 8, 8)), r.integers(0, 5, 3)
    v, g = cc.compile(cc.value_and_grad(loss))(p, x, y)
    v2, g2 = cc.value_and_grad(loss)(p, x, y)
    np.testing.assert_allclose(v, v2, rtol=1e-10)
    for k in p:
        np.testing.assert_allclose(g[k], g2[k], rtol=1e-9, atol=1e-10)


def test_scatter_add_and_take():
    from compiler import primitives as P
    f = cc.compile(lambda u, i: P.scatter_add(u, i, axis=0, size=4))
    u, i = f32(6, 3), np.array([0, 3, 3, 1, 2, 0])
    np.testing.assert_allclose(f(u, i), P.scatter_add(u, i, axis=0, size=4), rtol=1e-6)
    bad = np.array([0, 3, 3, 1, 9, -2])
    for g in (f, lambda u, i: P.scatter_add(u, i, axis=0, size=4)):      # compiled and reference alike
        with pytest.raises(IndexError, match=r"index (9|-6) is out of bounds for axis 0 with size 4"):
            g(u, bad)
    # unchecked: indices are clamped into range (never a read or write outside the arrays)
    fu = cc.compile(lambda u, i: P.scatter_add(u, i, axis=0, size=4), check_indices=False)
    np.testing.assert_allclose(fu(u, bad), P.scatter_add(u, np.clip(bad, 0, 3), axis=0, size=4), rtol=1e-6)


def test_integer_and_bool_programs():
    f = cc.compile(lambda a, b: ((a // b) * (a % b), a > b, np.where(a > 2, a, -a).sum()))
    a, b = rng.integers(-9, 9, 20), rng.integers(1, 5, 20)
    for g, w in zip(f(a, b), ((a // b) * (a % b), a > b, np.where(a > 2, a, -a).sum())):
        np.testing.assert_array_equal(g, w)


def test_no_blas_fallback_loops(monkeypatch):
    import sys
    monkeypatch.setattr(sys.modules["compiler.backends.build"], "_BLAS", None)
    f = cc.compile(lambda a, b: np.maximum(a @ b, 0) + (a.T @ a).sum())
    a, b = f32(5, 4), f32(4, 3)
    np.testing.assert_allclose(f(a, b), np.maximum(a @ b, 0) + (a.T @ a).sum(), rtol=1e-5, atol=1e-5)
    assert "gemm<" not in str(f.lower(a, b).kernels)
