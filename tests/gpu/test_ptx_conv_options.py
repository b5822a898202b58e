"""conv2d / conv1d options (groups, dilation, per-side and "same" padding) and padded pooling through the cuda
backend: PTX for sm_80 and sm_90 is emitted and assembles, value and gradients; with a device the results equal
the CPU backend's."""
from __future__ import annotations

import numpy as np

import compiler as cc
from compiler import nn
from test_cuda_catalogue import case_tests

R = np.random.default_rng(0)
X = R.standard_normal((2, 4, 9, 8)).astype(np.float32)
W = R.standard_normal((6, 2, 3, 3)).astype(np.float32)
B = R.standard_normal(6).astype(np.float32)
X1 = R.standard_normal((2, 4, 17)).astype(np.float32)
W1 = R.standard_normal((4, 1, 3)).astype(np.float32)

CASES = {
    "conv2d_grouped_dilated": (lambda x, w, b: nn.conv2d(x, w, b, stride=(2, 1), padding=((1, 2), (0, 1)),
                                                         dilation=(2, 1), groups=2), (X, W, B)),
    "conv2d_same_dilated": (lambda x, w, b: nn.conv2d(x, w, b, padding="same", dilation=2, groups=2), (X, W, B)),
    "conv1d_depthwise": (lambda x, w: nn.conv1d(x, w, padding="same", dilation=3, groups=4), (X1, W1)),
    "pool_padded": (lambda x: np.sum(nn.max_pool2d(x, 3, 2, padding=1)) + nn.avg_pool2d(x, 3, 2, padding=1),
                    (X,)),
}
for _name, (_f, _a) in list(CASES.items()):
    CASES[_name + "_grad"] = (cc.grad(lambda *a, _f=_f: np.sum(np.tanh(_f(*a))), argnums=tuple(range(len(_a)))), _a)

test_ptx_assembles, test_gpu_equals_cpu = case_tests(CASES)
