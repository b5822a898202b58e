"""The conv input gradient's col2im forms (lower/lowering_linalg.py): stride 1 with static sizes gathers with affine
indices from a cols buffer with margins (no clamps); strided convolutions add each tap's rectangle; symbolic sizes
keep the clamped gather. Each equals the NumPy reference and float64 central differences."""
import re

import numpy as np
import pytest

import compiler as cc

rng = np.random.default_rng(21)


def _loss(stride, padding, dilation):
    def f(x, w):
        y = cc.nn.conv2d(x, w, stride=stride, padding=padding, dilation=dilation)
        return (np.sin(y) * 1.5).sum()
    return f


def _kernels(fn, *args):
    return str(fn.lower(*args).kernels)


@pytest.mark.parametrize("stride,padding,dilation,form", [
    (1, 0, 1, "margin"), (1, 2, 2, "margin"), (1, (0, 2), (2, 1), "margin"),
    (2, 1, 1, "shifted"), (3, 2, 1, "shifted"), (2, (1, 2), (2, 1), "shifted")])
def test_input_gradient_forms(stride, padding, dilation, form):
    x = rng.standard_normal((3, 4, 11, 13))
    w = rng.standard_normal((5, 4, 3, 3))
    f = _loss(stride, padding, dilation)
    gf = cc.compile(cc.grad(f))
    text = _kernels(gf, x, w)
    convti = text[text.index("# convti"):]
    flat_cols = re.search(r"scratch cols\d+: f64\[\d+\]", text) is not None
    shifted = re.search(r"out0\[[^]]*\] = add\(out0\[", convti) is not None
    assert "clamp(" not in convti
    assert (flat_cols, shifted) == ((True, False) if form == "margin" else (False, True))
    got, want = gf(x, w), cc.grad(f)(x, w)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (1, 2, 5, 7), (2, 3, 10, 12), (0, 1, 10, 0), (2, 0, 0, 12)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        assert abs((f(xp, w) - f(xm, w)) / (2 * eps) - got[idx]) < 1e-6


def test_symbolic_batch_float32():
    # a symbolic batch keeps the static-geometry forms (the batch is only a loop extent); f32 against f64 NumPy
    f = _loss(1, 1, 1)
    gf = cc.compile(cc.grad(f))
    for n in (2, 5):
        x = rng.standard_normal((n, 3, 9, 9)).astype(np.float32)
        w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        want = cc.grad(f)(x.astype(np.float64), w.astype(np.float64))
        np.testing.assert_allclose(gf(x, w), want, rtol=2e-4, atol=2e-4)
