"""Batched programs (cc.vmap) through the cuda backend: PTX for sm_80 and sm_90 is emitted and assembles; with a
device the results equal the CPU backend's."""
from __future__ import annotations

import numpy as np

import compiler as cc
from compiler import primitives as P
from test_cuda_catalogue import case_tests

R = np.random.default_rng(0)
PARAMS = {"w1": R.standard_normal((6, 5)).astype(np.float32), "b1": np.zeros(5, np.float32),
          "w2": R.standard_normal((5, 3)).astype(np.float32)}
X = R.standard_normal((4, 6)).astype(np.float32)
Y = R.integers(0, 3, 4)
IMG = R.standard_normal((3, 2, 2, 6, 6)).astype(np.float32)
W = R.standard_normal((4, 2, 3, 3)).astype(np.float32)
TABLE = R.standard_normal((3, 5, 2)).astype(np.float32)
IDX = R.integers(0, 5, (3, 4))


def _loss(p, x, y):
    return cc.nn.cross_entropy(np.tanh(x[None] @ p["w1"] + p["b1"]) @ p["w2"], y[None])


CASES = {
    "per_example_grads": (cc.vmap(cc.grad(_loss), in_axes=(None, 0, 0)), (PARAMS, X, Y)),
    "conv_pool": (cc.vmap(lambda x, w: cc.nn.max_pool2d(cc.nn.conv2d(x, w, padding=1)), in_axes=(0, None)),
                  (IMG, W)),
    "take_scatter": (cc.vmap(lambda t, i: P.scatter_add(np.take(t, i, axis=0), i, axis=0, size=5)), (TABLE, IDX)),
}

test_ptx_assembles, test_gpu_equals_cpu = case_tests(CASES)
