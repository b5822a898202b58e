"""cc.nn.conv2d / conv1d options (stride, padding forms, dilation, groups) and max/avg pooling with padding:
values against direct NumPy loops written here, float32 and float64, eager, traced (cc.interpret) and compiled;
gradients for x, w and b against central differences (cc.check_grads, float64) and compiled against eager."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc
from compiler import nn

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def fresh_rng():
    global RNG
    RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


# ---- direct loop oracles ----

def conv2d_loop(x, w, b, stride, pads, dilation, groups):
    """y[n, o, i, j] = b[o] + sum_{c in o's group, a, e} xpad[n, c, i*sh + a*dh, j*sw + e*dw] w[o, c', a, e]."""
    (sh, sw), (dh, dw) = stride, dilation
    (pt, pb), (pl, pr) = pads
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr), np.float64)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    oh = (h + pt + pb - (dh * (kh - 1) + 1)) // sh + 1
    ow = (wd + pl + pr - (dw * (kw - 1) + 1)) // sw + 1
    og = o // groups
    y = np.zeros((n, o, oh, ow))
    for nn_ in range(n):
        for oo in range(o):
            g = oo // og
            for i in range(oh):
                for j in range(ow):
                    s = 0.0 if b is None else float(b[oo])
                    for cc_ in range(cg):
                        for a in range(kh):
                            for e in range(kw):
                                s += xp[nn_, g * cg + cc_, i * sh + a * dh, j * sw + e * dw] * float(w[oo, cc_, a, e])
                    y[nn_, oo, i, j] = s
    return y


def pool_loop(x, size, stride, pad, op):
    (kh, kw), (sh, sw), (ph, pw) = size, stride, pad
    n, c, h, wd = x.shape
    fill = -np.inf if op == "max" else 0.0
    xp = np.full((n, c, h + 2 * ph, wd + 2 * pw), fill)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            y[:, :, i, j] = win.max(axis=(2, 3)) if op == "max" else win.mean(axis=(2, 3))
    return y


def three_ways(f, args, want, rtol):
    """f eager, traced + cc.interpret, and compiled: each equal to the loop oracle, in the input dtype."""
    eager = f(*args)
    traced = cc.interpret(cc.trace(f, *args), *args)
    traced = traced[0] if isinstance(traced, (list, tuple)) else traced
    compiled = cc.compile(f)(*args)
    for got in (eager, traced, compiled):
        assert np.asarray(got).dtype == args[0].dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


# (x shape, w shape, options, pads the options mean)
CONV2D_CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), dict(), ((0, 0), (0, 0))),
    ((2, 3, 7, 6), (4, 3, 3, 2), dict(stride=2, padding=1), ((1, 1), (1, 1))),
    ((1, 2, 8, 7), (3, 2, 3, 3), dict(stride=(1, 2), padding=(2, 0)), ((2, 2), (0, 0))),
    ((1, 2, 7, 7), (3, 2, 2, 3), dict(padding=((0, 2), (1, 0))), ((0, 2), (1, 0))),
    ((2, 2, 9, 8), (3, 2, 3, 3), dict(dilation=2), ((0, 0), (0, 0))),
    ((1, 2, 9, 9), (2, 2, 3, 2), dict(dilation=(2, 3), stride=2, padding=1), ((1, 1), (1, 1))),
    ((2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2, padding=1), ((1, 1), (1, 1))),
    ((1, 4, 7, 6), (4, 1, 3, 3), dict(groups=4, stride=2, dilation=(1, 2)), ((0, 0), (0, 0))),  # depthwise
    ((1, 2, 7, 6), (3, 2, 4, 3), dict(padding="same"), ((1, 2), (1, 1))),        # even kernel: extra at the end
    ((1, 2, 7, 6), (3, 2, 3, 2), dict(padding="same", dilation=(2, 3)), ((2, 2), (1, 2))),
    ((1, 2, 5, 6), (3, 2, 3, 3), dict(padding="valid"), ((0, 0), (0, 0))),
    ((2, 6, 7, 7), (6, 2, 3, 3), dict(groups=3, padding=((1, 0), (2, 1)), dilation=2, stride=(2, 1)),
     ((1, 0), (2, 1))),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs, ws, opts, pads", CONV2D_CASES)
def test_conv2d_options_against_loop(xs, ws, opts, pads, dtype):
    x, w, b = rand(*xs, dtype=dtype), rand(*ws, dtype=dtype), rand(ws[0], dtype=dtype)
    stride = opts.get("stride", 1)
    dil = opts.get("dilation", 1)
    pair = (lambda v: (v, v) if isinstance(v, int) else v)
    want = conv2d_loop(x, w, b, pair(stride), pads, pair(dil), opts.get("groups", 1))
    three_ways(lambda x, w, b: nn.conv2d(x, w, b, **opts), (x, w, b), want,
               rtol=1e-4 if dtype == np.float32 else 1e-10)


@pytest.mark.parametrize("xs, ws, opts", [(c[0], c[1], c[2]) for c in CONV2D_CASES[1::2]])
def test_conv2d_options_gradients(xs, ws, opts):
    x, w, b = rand(*xs), rand(*ws), rand(ws[0])

    def f(x, w, b):
        return nn.conv2d(x, w, b, **opts)
    cc.check_grads(f, (x, w, b))

    def loss(x, w, b):
        return np.sum(np.tanh(f(x, w, b)) * np.arange(1.0, 1.0 + np.prod(f(x, w, b).shape)).reshape(
            f(x, w, b).shape) * 0.01)
    g = cc.grad(loss, argnums=(0, 1, 2))
    eager, compiled = g(x, w, b), cc.compile(g)(x, w, b)
    for a, e in zip(compiled, eager):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)


def test_conv2d_dilation_second_order():
    """The transposed convolutions carry dilation too: second derivatives through them stay right."""
    x, w = rand(1, 2, 7, 7), rand(2, 2, 2, 2)
    cc.check_grads(lambda x, w: nn.conv2d(x, w, dilation=2, stride=2, padding=1), (x, w), order=2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opts, pads", [
    (dict(), (0, 0)), (dict(stride=2, padding=2, dilation=2), (2, 2)), (dict(padding=(1, 3)), (1, 3)),
    (dict(padding="same", dilation=3), (3, 3)), (dict(groups=2, stride=3), (0, 0))])
def test_conv1d_against_loop(opts, pads, dtype):
    x, w, b = rand(2, 4, 13, dtype=dtype), rand(6, 4 // opts.get("groups", 1), 3, dtype=dtype), rand(6, dtype=dtype)
    want = conv2d_loop(x[:, :, None], w[:, :, None], b, (1, opts.get("stride", 1)), ((0, 0), pads),
                       (1, opts.get("dilation", 1)), opts.get("groups", 1))[:, :, 0]
    three_ways(lambda x, w, b: nn.conv1d(x, w, b, **opts), (x, w, b), want,
               rtol=1e-4 if dtype == np.float32 else 1e-10)
    if dtype == np.float64:
        cc.check_grads(lambda x, w, b: nn.conv1d(x, w, b, **opts), (x, w, b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size, stride, pad", [(3, 2, 1), ((3, 2), (1, 2), (1, 1)), (2, None, 1), (4, 3, 2)])
def test_pooling_with_padding_against_loop(size, stride, pad, dtype):
    x = rand(2, 3, 7, 8, dtype=dtype)
    pr = (lambda v: (v, v) if isinstance(v, int) else v)
    st = size if stride is None else stride
    tol = 1e-5 if dtype == np.float32 else 1e-12
    three_ways(lambda x: nn.max_pool2d(x, size, stride, padding=pad), (x,),
               pool_loop(x, pr(size), pr(st), pr(pad), "max"), tol)
    three_ways(lambda x: nn.avg_pool2d(x, size, stride, padding=pad), (x,),
               pool_loop(x, pr(size), pr(st), pr(pad), "avg"), tol)
    if dtype == np.float64:
        cc.check_grads(lambda x: nn.max_pool2d(x, size, stride, padding=pad), (x,))
        cc.check_grads(lambda x: nn.avg_pool2d(x, size, stride, padding=pad), (x,))


def test_max_pool2d_padding_all_negative_input():
    """-inf padding never wins, even where every real value is negative (zero padding would)."""
    x = -1.0 - np.abs(rand(1, 1, 4, 4))
    y = cc.compile(lambda x: nn.max_pool2d(x, 3, 2, padding=1))(x)
    np.testing.assert_array_equal(y, pool_loop(x, (3, 3), (2, 2), (1, 1), "max"))
    assert (y < 0).all()


def test_conv_option_errors():
    x, w = rand(1, 4, 6, 6), rand(2, 2, 3, 3)
    with pytest.raises(cc.ShapeError, match="groups=3 must divide"):
        nn.conv2d(x, rand(3, 1, 3, 3), groups=3)
    with pytest.raises(cc.ShapeError, match="input channels per group"):
        nn.conv2d(x, w, groups=1)
    with pytest.raises(cc.ShapeError, match="'same' needs stride 1"):
        nn.conv2d(x, w, padding="same", stride=2, groups=2)
    with pytest.raises(cc.ShapeError, match="padding must be"):
        nn.conv2d(x, w, padding="full", groups=2)
    with pytest.raises(cc.ShapeError, match="dilation"):
        nn.conv2d(x, w, dilation=0, groups=2)
    with pytest.raises(cc.ShapeError, match="does not fit"):
        nn.conv2d(x, w, dilation=3, groups=2)
    with pytest.raises(cc.ShapeError, match="at most half"):
        nn.max_pool2d(x, 2, padding=2)
    with pytest.raises(cc.ShapeError, match="at most half"):
        nn.avg_pool2d(x, 3, padding=2)
    with pytest.raises(cc.ShapeError, match="NCL"):
        nn.conv1d(x, w)
    with pytest.raises(cc.ShapeError, match="float operands"):
        nn.conv2d(np.ones((1, 4, 6, 6), np.int64), np.ones((4, 1, 3, 3), np.int64), groups=4)
    with pytest.raises(cc.ShapeError, match="groups must be a positive int"):
        nn.conv2d(x, w, groups=0)
    # the same errors while tracing
    with pytest.raises(cc.ShapeError, match="input channels per group"):
        cc.compile(lambda x, w: nn.conv2d(x, w))(x, w)


def test_conv2d_symbolic_batch_with_options():
    """A symbolic batch size passes through groups, dilation and per-side padding."""
    f = cc.compile(lambda x, w: nn.conv2d(x, w, padding=((0, 1), (1, 0)), dilation=2, groups=2))
    w = rand(4, 1, 2, 2)
    for n in (1, 3):
        x = rand(n, 2, 6, 5)
        np.testing.assert_allclose(f(x, w), conv2d_loop(x, w, None, (1, 1), ((0, 1), (1, 0)), (2, 2), 2),
                                   rtol=1e-10, atol=1e-10)


def test_conv2d_dilation_without_blas(monkeypatch):
    """Without BLAS the CPU lowers conv2d as direct loops (no im2col, no gemm): dilation offsets there too."""
    import importlib
    build = importlib.import_module("compiler.backends.build")
    monkeypatch.setattr(build, "_BLAS", None)
    x, w = rand(2, 4, 9, 8), rand(6, 2, 3, 3)

    def f(x, w):
        return nn.conv2d(x, w, stride=(2, 1), padding=((1, 2), (1, 1)), dilation=(2, 3), groups=2)
    g = cc.compile(f)
    assert "gemm" not in str(g.lower(x, w).kernels)
    np.testing.assert_allclose(g(x, w), conv2d_loop(x, w, None, (2, 1), ((1, 2), (1, 1)), (2, 3), 2),
                               rtol=1e-10, atol=1e-10)


def test_depthwise_symbolic_image_size():
    """groups == C == O with a symbolic image size takes the per-group primitives (the tap-sum form needs
    known sizes); both forms agree with the loop."""
    w = rand(3, 1, 3, 2)

    def f(x, w):
        return nn.conv2d(x, w, padding=1, dilation=(1, 2), groups=3)
    g = cc.trace(f, cc.Spec("f64[N,3,H,W]"), w)
    for shape in ((1, 3, 5, 6), (2, 3, 7, 5)):
        x = rand(*shape)
        want = conv2d_loop(x, w, None, (1, 1), ((1, 1), (1, 1)), (1, 2), 3)
        got = cc.interpret(g, x, w)
        got = got[0] if isinstance(got, (list, tuple)) else got
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(f(x, w), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("xs,ws,pad", [
    ((3, 1, 32, 32), (6, 1, 5, 5), 0),          # LeNet-5's conv1
    ((2, 3, 12, 17), (4, 3, 3, 3), 1),          # an RGB stem, padded
    ((2, 2, 9, 11), (5, 2, 4, 4), 2),           # even kernel, wider padding
    ((1, 1, 8, 30), (2, 1, 1, 7), (0, 3)),      # one-row kernel
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_few_tap_convolutions_run_direct(xs, ws, pad, dtype):
    # C*KH*KW <= 32 at stride 1: computed without im2col, tap by tap at the input's row pitch (lower_conv's
    # direct_conv); values against the loop oracle, a symbolic batch too, the epilogue (bias, relu) fused after it
    from compiler.lower.lowering_linalg import DIRECT_CONV_TAPS
    assert ws[1] * ws[2] * ws[3] <= DIRECT_CONV_TAPS
    x, w, b = rand(*xs, dtype=dtype), rand(*ws, dtype=dtype), rand(ws[0], dtype=dtype)
    pads = (pad, pad) if isinstance(pad, int) else pad

    def f(x, w, b):
        return np.maximum(nn.conv2d(x, w, b, padding=pads), 0.0)
    want = np.maximum(conv2d_loop(x.astype(np.float64), w, b, (1, 1), ((pads[0],) * 2, (pads[1],) * 2), (1, 1),
                                  1), 0.0)
    g = cc.compile(f)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(g(x, w, b), want, rtol=tol, atol=tol)
    low = g.lower(cc.Spec(f"{'f32' if dtype == np.float32 else 'f64'}[N,{xs[1]},{xs[2]},{xs[3]}]"), w, b)
    assert "convrow" in str(low.kernels) and "col" not in str(low.kernels).replace("convrow", "")
    np.testing.assert_allclose(g(np.concatenate([x, x]), w, b), np.concatenate([want, want]), rtol=tol, atol=tol)


def test_many_tap_convolutions_keep_im2col():
    x, w = rand(2, 6, 12, 12, dtype=np.float32), rand(4, 6, 5, 5, dtype=np.float32)
    text = str(cc.compile(lambda x, w: nn.conv2d(x, w)).lower(x, w).kernels)
    assert "convrow" not in text and "gemm<f32>" in text
