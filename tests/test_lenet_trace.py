"""LeNet-5 in plain NumPy plus the conv2d/max_pool2d primitives, traced with a symbolic batch: the golden text of
the whole graph, and the reference interpreter against a naive-loop NumPy LeNet for several batch sizes."""
import numpy as np
import pytest

import compiler as cc
from compiler.primitives import conv2d, max_pool2d
from helpers import assert_ir
from trace_checks import check_every_trace  # noqa: F401


def lenet5(params, x):
    h = np.maximum(conv2d(x, params["c1"]) + params["b1"][:, None, None], 0)     # [N,6,28,28]
    h = max_pool2d(h, size=(2, 2), stride=(2, 2))                                 # [N,6,14,14]
    h = np.maximum(conv2d(h, params["c2"]) + params["b2"][:, None, None], 0)     # [N,16,10,10]
    h = max_pool2d(h, size=(2, 2), stride=(2, 2))                                 # [N,16,5,5]
    h = h.reshape(h.shape[0], -1)                                                 # [N,400]
    h = np.maximum(h @ params["f1"] + params["g1"], 0)                            # [N,120]
    h = np.maximum(h @ params["f2"] + params["g2"], 0)                            # [N,84]
    return h @ params["f3"] + params["g3"]                                        # [N,10]


SHAPES = {"c1": (6, 1, 5, 5), "b1": (6,), "c2": (16, 6, 5, 5), "b2": (16,), "f1": (400, 120), "g1": (120,),
          "f2": (120, 84), "g2": (84,), "f3": (84, 10), "g3": (10,)}


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(np.float32) for k, s in SHAPES.items()}


GOLDEN = """
graph lenet5(%params.b1: f32[6], %params.b2: f32[16], %params.c1: f32[6,1,5,5], %params.c2: f32[16,6,5,5], %params.f1: f32[400,120], %params.f2: f32[120,84], %params.f3: f32[84,10], %params.g1: f32[120], %params.g2: f32[84], %params.g3: f32[10], %x: f32[N,1,32,32]) {
  %0: f32[N,6,28,28] = conv2d %x, %params.c1
  %1: f32[6,1,1] = reshape %params.b1 {shape=(6, 1, 1)}
  %2: f32[N,6,28,28] = add %0, %1
  %3: f32[] = const 0.0
  %4: f32[N,6,28,28] = maximum %2, %3
  %5: f32[N,6,14,14] = max_pool2d %4 {size=(2, 2), stride=(2, 2)}
  %6: f32[N,16,10,10] = conv2d %5, %params.c2
  %7: f32[16,1,1] = reshape %params.b2 {shape=(16, 1, 1)}
  %8: f32[N,16,10,10] = add %6, %7
  %9: f32[] = const 0.0
  %10: f32[N,16,10,10] = maximum %8, %9
  %11: f32[N,16,5,5] = max_pool2d %10 {size=(2, 2), stride=(2, 2)}
  %12: f32[N,400] = reshape %11 {shape=(N, 400)}
  %13: f32[N,120] = dot_general %12, %params.f1 {batch=((), ()), contract=((1,), (0,))}
  %14: f32[N,120] = add %13, %params.g1
  %15: f32[] = const 0.0
  %16: f32[N,120] = maximum %14, %15
  %17: f32[N,84] = dot_general %16, %params.f2 {batch=((), ()), contract=((1,), (0,))}
  %18: f32[N,84] = add %17, %params.g2
  %19: f32[] = const 0.0
  %20: f32[N,84] = maximum %18, %19
  %21: f32[N,10] = dot_general %20, %params.f3 {batch=((), ()), contract=((1,), (0,))}
  %22: f32[N,10] = add %21, %params.g3
  return %22
}"""


def _trace():
    return cc.trace(lenet5, _params(), cc.Spec("f32[N,1,32,32]"))


def test_lenet_golden_text():
    assert_ir(_trace(), GOLDEN)


def test_lenet_layer_types():
    g = _trace()
    layers = [str(n.out.type) for n in g.nodes if n.prim.name in ("max_pool2d", "dot_general")
              or (n.prim.name == "maximum" and n.inputs[0].node.inputs[0].node.prim.name == "conv2d")]
    assert layers == ["f32[N,6,28,28]", "f32[N,6,14,14]", "f32[N,16,10,10]", "f32[N,16,5,5]",
                      "f32[N,120]", "f32[N,84]", "f32[N,10]"]
    assert [str(t) for t in g.out_types] == ["f32[N,10]"]
    assert g.free_symbols == {cc.ir.symbol("N")}


def test_lenet_lines_point_at_the_model():
    g = _trace()
    first = lenet5.__code__.co_firstlineno
    assert {n.loc.file for n in g.nodes} == {"tests/test_lenet_trace.py"}
    assert [n.loc.line - first for n in g.nodes if n.prim.name in ("conv2d", "max_pool2d", "dot_general")] == [
        1, 2, 3, 4, 6, 7, 8]
    assert g.nodes[12].loc.line - first == 5                       # the flatten


# ---- meaning: the interpreter against LeNet written with naive loops ----

def _conv_naive(x, w, stride=1, padding=0):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, oh, ow), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw].astype(np.float64)
            out[:, :, i, j] = np.einsum("ncij,ocij->no", patch, w.astype(np.float64))
    return out


def _pool_naive(x, k=2, s=2):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.empty((n, c, oh, ow), x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return out


def _lenet_naive(p, x):
    relu = lambda v: np.maximum(v, 0)  # noqa: E731
    h = _pool_naive(relu(_conv_naive(x, p["c1"]) + p["b1"][:, None, None]))
    h = _pool_naive(relu(_conv_naive(h, p["c2"]) + p["b2"][:, None, None]))
    h = h.reshape(len(h), -1)
    h = relu(h @ p["f1"] + p["g1"])
    h = relu(h @ p["f2"] + p["g2"])
    return h @ p["f3"] + p["g3"]


@pytest.mark.parametrize("n", [1, 3])
def test_lenet_interpret_matches_naive_numpy(n):
    g = _trace()
    params = _params()
    x = np.random.default_rng(n).standard_normal((n, 1, 32, 32)).astype(np.float32)
    leaves = [params[k] for k in sorted(params)] + [x]
    (out,) = cc.interpret(g, *leaves)
    assert out.dtype == np.float32 and out.shape == (n, 10)
    np.testing.assert_allclose(out, _lenet_naive(params, x), rtol=1e-4, atol=1e-5)
    # eager: the same function runs on NumPy arrays with no trace
    np.testing.assert_allclose(lenet5(params, x), out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("stride,padding,hw,k", [(1, 0, 7, 3), (2, 1, 8, 3), (3, 2, 9, 2), (1, 1, 4, 4)])
def test_conv2d_reference_matches_naive_loops(stride, padding, hw, k):
    rng = np.random.default_rng(stride * 10 + padding)
    x = rng.standard_normal((2, 3, hw, hw + 1)).astype(np.float64)
    w = rng.standard_normal((4, 3, k, k))
    got = conv2d(x, w, stride=(stride, stride), padding=(padding, padding))
    # cross-correlation (no kernel flip), as in PyTorch and JAX
    np.testing.assert_allclose(got, _conv_naive(x, w, stride, padding), rtol=1e-12, atol=1e-12)
    g = cc.trace(lambda x, w: conv2d(x, w, stride=(stride, stride), padding=(padding, padding)), x, w)
    np.testing.assert_array_equal(cc.interpret(g, x, w)[0], got)


@pytest.mark.parametrize("k,s", [(2, 2), (3, 1), (3, 2)])
def test_max_pool2d_reference_matches_naive_loops(k, s):
    x = np.random.default_rng(k * s).standard_normal((2, 3, 7, 8))
    x[0, 0, 0, 0] = np.nan                                       # NaN propagates as in np.max
    np.testing.assert_array_equal(max_pool2d(x, size=(k, k), stride=(s, s)), _pool_naive(x, k, s))
