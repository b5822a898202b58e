"""The NumPy compositions of ops_shape.py, ops_einsum.py and ops_sort.py through the cuda backend: PTX for sm_80 and sm_90 is
emitted and assembles, value and gradient; with a device the results equal the CPU backend's."""
from __future__ import annotations

import numpy as np

import compiler as cc
from test_cuda_catalogue import case_tests

R = np.random.default_rng(0)
X = R.uniform(0.5, 1.5, (6, 70)).astype(np.float32)
M = R.standard_normal((5, 5)).astype(np.float32)

CASES = {
    "flip_roll_slices": (lambda x: np.flip(x, 0) + np.roll(x, 3, axis=1) + x[::-1, ::-1], (X,)),
    "tile_repeat_kron": (lambda m: np.sum(np.tile(m, (2, 1))) + np.sum(np.repeat(m, [1, 0, 2, 1, 1], axis=0))
                         + np.sum(np.kron(m, m[:2, :2])), (M,)),
    "tri_diag": (lambda m: np.triu(m, 1) + np.tril(m) + np.diag(np.diag(m)) + np.trace(m), (M,)),
    "pad_modes": (lambda m: np.pad(m, 2, mode="reflect") + np.pad(m, 2, mode="wrap") + np.pad(m, 2, mode="edge")
                  + np.pad(m, 2, mode="symmetric"), (M,)),
    "norms": (lambda x: np.linalg.norm(x, axis=1) + np.linalg.norm(x, 3, axis=1) + np.linalg.norm(x, np.inf), (X,)),
    "scans": (lambda x: np.cumsum(x, axis=1) + np.cumprod(x, axis=1) + np.prod(x, axis=1, keepdims=True), (X,)),
    "einsum": (lambda x, m: np.einsum("ij,jk,ik->k", x[:5, :5], X[:5, :5], m), (X, M)),
    "sort": (lambda x: np.sort(x, axis=1) * np.argsort(x, axis=0), (X,)),
}
for _name, (_f, _a) in list(CASES.items()):
    CASES[_name + "_grad"] = (cc.grad(lambda *a, _f=_f: np.sum(_f(*a))), _a)


test_ptx_assembles, test_gpu_equals_cpu = case_tests(CASES)
