"""Sums of neighbouring zero pads become one concatenate (passes/pads.py), and a loop kernel whose output is a
concatenate stores each piece with its own loop (lower/concat.py): graph and kernel checks, compiled == NumPy,
derivatives against finite differences."""
import numpy as np
import pytest

import compiler as cc
from compiler.passes import run_pipeline, GENERIC_PIPELINE

rng = np.random.default_rng(5)


def gates(z):
    H = z.shape[1] // 4
    i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
    return (np.tanh(i) * f + np.sin(g) * o ** 2).sum()


def test_slice_cotangents_are_one_concatenate():
    z = rng.standard_normal((3, 8))
    g = run_pipeline(cc.trace(cc.grad(gates), z), GENERIC_PIPELINE)
    names = [n.prim.name for n in g.nodes]
    assert "pad" not in names and names.count("concatenate") == 1
    (cat,) = [n for n in g.nodes if n.prim.name == "concatenate"]
    assert len(cat.inputs) == 4 and cat.params["axis"] == 1
    np.testing.assert_allclose(cc.compile(cc.grad(gates))(z), cc.grad(gates)(z), rtol=1e-12, atol=1e-12)
    cc.check_grads(gates, (z,), order=2)


def test_pieces_that_do_not_cover_the_axis_keep_a_pad():
    def f(z):
        return np.tanh(z[:, 1:3]).sum() + (z[:, 3:6] ** 2).sum()      # columns 0 and 6.. get no cotangent
    z = rng.standard_normal((2, 8))
    g = run_pipeline(cc.trace(cc.grad(f), z), GENERIC_PIPELINE)
    pads = [n for n in g.nodes if n.prim.name == "pad"]
    assert len(pads) == 1 and pads[0].params["lo"] == (0, 1) and pads[0].params["hi"] == (0, 2)
    assert pads[0].inputs[0].node.prim.name == "concatenate"
    np.testing.assert_allclose(cc.compile(cc.grad(f))(z), cc.grad(f)(z), rtol=1e-12, atol=1e-12)


def test_pads_that_do_not_touch_stay_a_sum():
    def f(z):
        return (np.tanh(z[:, 0:2]) + z[:, 4:6] ** 2).sum()        # a gap between the pieces
    z = rng.standard_normal((2, 8))
    g = run_pipeline(cc.trace(cc.grad(f), z), GENERIC_PIPELINE)
    assert not any(n.prim.name == "concatenate" for n in g.nodes)
    np.testing.assert_allclose(cc.compile(cc.grad(f))(z), cc.grad(f)(z), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_kernel_stores_each_piece_with_its_own_loop(axis):
    def f(a, b, c):
        return np.concatenate([np.tanh(a), b * 2.0, np.exp(c)], axis=axis)
    a, b, c = (rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (3, 4), (3, 4)))
    low = cc.compile(f).lower(a, b, c)
    text = str(low.kernels)
    assert "select" not in text and text.count("parallel for") >= 3
    np.testing.assert_allclose(low(a, b, c), np.concatenate([np.tanh(a), b * 2, np.exp(c)], axis=axis),
                               rtol=1e-6, atol=1e-6)


def test_concatenate_with_symbolic_and_empty_pieces():
    def f(a, b, e):
        return np.concatenate([a + 1.0, e, b * 3.0], axis=0)
    cf = cc.compile(f)
    cf.lower(cc.Spec("f32[N,3]"), cc.Spec("f32[M,3]"), cc.Spec("f32[0,3]"))
    for n, m in ((1, 2), (4, 1)):
        a, b = rng.standard_normal((n, 3)).astype(np.float32), rng.standard_normal((m, 3)).astype(np.float32)
        e = np.zeros((0, 3), np.float32)
        np.testing.assert_allclose(cf(a, b, e), np.concatenate([a + 1, e, b * 3]), rtol=1e-6)
