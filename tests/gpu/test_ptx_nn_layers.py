"""The composed cc.nn layers (activations, norms, attention, embedding, average pooling) and the new optimizers
through the cuda backend: PTX for sm_80 and sm_90 is emitted and assembles, value and gradient; with a device the
results equal the CPU backend's."""
from __future__ import annotations

import numpy as np

import compiler as cc
from compiler import nn, optim
from test_cuda_catalogue import case_tests

R = np.random.default_rng(0)
X = R.standard_normal((4, 3, 6, 6)).astype(np.float32) * 3
S, B = np.ones(3, np.float32) * 1.5, np.zeros(3, np.float32) + 0.1
Q = R.standard_normal((2, 5, 8)).astype(np.float32)
MASK = np.tril(np.ones((5, 5), bool))
TABLE = R.standard_normal((10, 4)).astype(np.float32)
IDS = np.array([[1, 2], [9, 0]])


def _sum(f):
    return lambda *a: np.sum(f(*a))


CASES = {
    "activations": (lambda x: nn.gelu(x) + nn.silu(x) + nn.softplus(x) + nn.elu(x) + nn.leaky_relu(x)
                    + nn.gelu(x, approximate="tanh"), (X,)),
    "batch_norm": (lambda x, s, b: nn.batch_norm(x, s, b), (X, S, B)),
    "layer_norm": (lambda x, s, b: nn.layer_norm(x, s[0] * np.ones(6, np.float32), b[0]), (X, S, B)),
    "attention": (lambda q: nn.attention(q, q, q, MASK), (Q,)),
    "embedding": (lambda t: nn.embedding(t, IDS), (TABLE,)),
    "avg_pool": (lambda x: nn.global_avg_pool2d(nn.avg_pool2d(x, 3, 1)) + np.sum(nn.avg_pool2d(x, 2)), (X,)),
}
for _name, (_f, _a) in list(CASES.items()):
    CASES[_name + "_grad"] = (cc.grad(_sum(_f)), _a)
CASES["adamw_rmsprop_clip"] = (
    lambda p, g, s1, s2: (optim.adamw(1e-2).update(p, optim.clip_by_global_norm(g, 1.0), s1),
                          optim.rmsprop(1e-2, momentum=0.9, centered=True).update(p, g, s2)),
    ({"w": Q[0]}, {"w": Q[1]}, optim.adamw().init({"w": Q[0]}),
     optim.rmsprop(momentum=0.9, centered=True).init({"w": Q[0]})))


test_ptx_assembles, test_gpu_equals_cpu = case_tests(CASES)
