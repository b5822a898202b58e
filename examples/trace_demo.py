"""Trace plain NumPy models with a symbolic batch size and print their graphs.

    python examples/trace_demo.py            # MLP and LeNet-5
    python examples/trace_demo.py --locs     # with the source line of every node
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # run from a clone too
import compiler as cc  # noqa: E402
from compiler.primitives import conv2d, max_pool2d  # noqa: E402


def mlp(params, x):
    """A 784-256-128-10 perceptron: nothing but NumPy."""
    h = np.tanh(x @ params["w1"] + params["b1"])
    h = np.maximum(h @ params["w2"] + params["b2"], 0.0)
    logits = h @ params["w3"] + params["b3"]
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))          # log-softmax


def lenet5(params, x):
    """LeNet-5 on 32x32 images: NumPy plus the conv2d and max_pool2d primitives (NCHW / OIHW)."""
    h = np.maximum(conv2d(x, params["c1"]) + params["b1"][:, None, None], 0)     # [N,6,28,28]
    h = max_pool2d(h, size=(2, 2), stride=(2, 2))                                 # [N,6,14,14]
    h = np.maximum(conv2d(h, params["c2"]) + params["b2"][:, None, None], 0)     # [N,16,10,10]
    h = max_pool2d(h, size=(2, 2), stride=(2, 2))                                 # [N,16,5,5]
    h = h.reshape(h.shape[0], -1)                                                 # [N,400]
    h = np.maximum(h @ params["f1"] + params["g1"], 0)                            # [N,120]
    h = np.maximum(h @ params["f2"] + params["g2"], 0)                            # [N,84]
    return h @ params["f3"] + params["g3"]                                        # [N,10]


def init(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(s) * np.sqrt(2.0 / np.prod(s[1:] or s))).astype(np.float32)
            for k, s in shapes.items()}


MLP_SHAPES = {"w1": (784, 256), "b1": (256,), "w2": (256, 128), "b2": (128,), "w3": (128, 10), "b3": (10,)}
LENET_SHAPES = {"c1": (6, 1, 5, 5), "b1": (6,), "c2": (16, 6, 5, 5), "b2": (16,), "f1": (400, 120), "g1": (120,),
                "f2": (120, 84), "g2": (84,), "f3": (84, 10), "g3": (10,)}


def show(title, fn, params, spec, locs):
    g = cc.trace(fn, params, cc.Spec(spec))
    print(f"== {title}: {len(g.nodes)} nodes, input {spec} ==")
    print(cc.print_graph(g, locs=locs))
    # the same graph runs for any batch size in the reference interpreter
    for n in (1, 4):
        shape = [n if d == "N" else int(d) for d in spec[4:-1].split(",")]
        x = np.random.default_rng(n).standard_normal(shape).astype(np.float32)
        leaves = [params[k] for k in sorted(params)] + [x]
        (out,) = cc.interpret(g, *leaves)
        np.testing.assert_allclose(out, fn(params, x), rtol=1e-4, atol=1e-5)
        print(f"   interpret with N={n}: output {out.dtype}{list(out.shape)}, equals NumPy")
    print()


def main(argv):
    locs = "--locs" in argv
    show("MLP", mlp, init(MLP_SHAPES), "f32[N,784]", locs)
    show("LeNet-5", lenet5, init(LENET_SHAPES), "f32[N,1,32,32]", locs)


if __name__ == "__main__":
    main(sys.argv[1:])
