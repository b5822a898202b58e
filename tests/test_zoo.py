"""The deep-model zoo (issue 17, "depth is free"): deep and long models compile at the default recursion limit
and agree with the float64 reference (eager value_and_grad on float64 copies of the arguments)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import compiler as cc
import zoo_models as zm


def _close(got, want, tol):
    """Every leaf within tol of the float64 reference, relative to that leaf's largest magnitude."""
    gl, gt = cc.pytree.flatten(got)
    wl, wt = cc.pytree.flatten(want)
    assert gt == wt
    assert len(gl) == len(wl)
    for g, w in zip(gl, wl):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape
        assert np.all(np.isfinite(g))
        scale = max(float(np.max(np.abs(w))), 1e-30) if w.size else 1.0
        err = float(np.max(np.abs(g.astype(np.float64) - w))) if w.size else 0.0
        assert err <= tol * scale, f"max error {err:.3g} vs scale {scale:.3g}"


def _check(maker, *a, tol=2e-4):
    assert sys.getrecursionlimit() <= 1000 + 100, "the zoo must run at the default recursion limit"
    fn, args = maker(*a)
    got = cc.compile(fn)(*args)
    want = fn(*zm.as_f64(args))           # eager: traced and run by the reference interpreter in float64
    _close(got, want, tol)
    return got


@pytest.mark.parametrize("layers", [32, 64])
def test_deep_tanh_mlp_value_and_grad(layers):
    _check(zm.tanh_mlp, layers)


@pytest.mark.slow
def test_256_layer_tanh_mlp_value_and_grad():
    _check(zm.tanh_mlp, 256, tol=1e-3)


@pytest.mark.parametrize("steps", [16, 32])
def test_unrolled_rnn_value_and_grad(steps):
    _check(zm.rnn, steps)


@pytest.mark.slow
def test_100_step_rnn_value_and_grad():
    _check(zm.rnn, 100, tol=1e-3)


@pytest.mark.parametrize("ops", [130, 300])
def test_long_elementwise_chain(ops):
    _check(zm.elementwise_chain, ops)


def test_long_elementwise_chain_gradient():
    _check(zm.chain_grad, 300)


def test_stack_of_200_traced_arrays():
    _check(zm.stack_many, 200)


def test_gradient_through_stack_of_200():
    _check(zm.stack_grad, 200)


def test_python_sum_of_200_terms():
    _check(zm.python_sum, 200)


def test_grad_of_50_step_sin_loop():
    _check(zm.sin_loop, 50)


def test_grad_of_50_step_sin_loop_on_a_scalar():
    def f(x):
        for _ in range(50):
            x = np.sin(x)
        return x
    got = cc.compile(cc.grad(f))(np.float32(0.7))
    want = 1.0
    x = 0.7
    for _ in range(50):
        want *= np.cos(x)
        x = np.sin(x)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_chain_of_matmuls():
    _check(zm.matmul_chain, 200)


def test_deep_graph_prints_parses_and_verifies():
    """The text IR of a 1000-node graph round-trips, and the verifier accepts it, with no deep recursion."""
    from compiler.ir import parse, print_graph, verify
    fn, args = zm.elementwise_chain(1000)
    g = cc.trace(fn, *args)
    assert len(g.nodes) >= 1000
    text = print_graph(g)
    g2 = parse(text)
    verify(g2)
    assert print_graph(g2) == text
    np.testing.assert_allclose(cc.interpret(g2, *args)[0], cc.interpret(g, *args)[0])


def test_one_kernel_deeper_than_the_recursion_limit(monkeypatch):
    """With the kernel size cap lifted, a 1200-op chain is one fused expression deeper than Python's recursion
    limit: lowering, kernel printing, LLVM and PTX generation all walk it without recursing."""
    from compiler.passes import fuse
    monkeypatch.setattr(fuse, "MAX_GROUP_NODES", 10 ** 6)

    def f(x):
        for _ in range(600):
            x = x * 1.001 - 0.001
        return x
    x = np.linspace(-1, 1, 37).astype(np.float32)
    cf = cc.compile(f)
    low = cf.lower(x)
    assert len(low.kernels.kernels) == 1
    assert "t0 = " in str(low.kernels)             # deep expressions print through named temporaries
    want = x.astype(np.float64)
    for _ in range(600):
        want = want * 1.001 - 0.001
    np.testing.assert_allclose(cf(x), want, rtol=1e-4, atol=1e-4)
    assert ".entry" in cc.compile(f, backend="cuda").lower(x).ptx()
