"""A value both an operand of a matmul and read by its epilogue (`f(x) @ w + f(x)`, a residual connection): the
epilogue may recompute it, but the matmul reads it from memory, so a kernel must store it (found through the
gradient of scipy.linalg.sqrtm, whose compiled backward read a never-written buffer)."""
import numpy as np
import pytest

import compiler as cc

_RNG = np.random.default_rng(0)
A = _RNG.standard_normal((3, 3))
W = np.linspace(-1.0, 1.0, 9).reshape(3, 3)
CASES = {
    "scaled_rhs": lambda a: W @ (a * 2.0) + a * 2.0,
    "exp_rhs": lambda a: W @ np.exp(a) + np.exp(a),
    "tanh_lhs": lambda a: np.tanh(a) @ W + np.tanh(a),
    "transposed": lambda a: W @ (a * 3.0).T + (a * 3.0).T,
    "chain": lambda a: (np.sin(np.exp(a) * a + 1.0) @ W) * np.sin(np.exp(a) * a + 1.0),
    "adjugate_grad": cc.grad(lambda a: np.sum(np.linalg.inv(a) * np.linalg.det(a) * W)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_operand_also_in_epilogue(name):
    f = CASES[name]
    a = A + 3.0 * np.eye(3)
    np.testing.assert_allclose(cc.compile(f)(a), f(a), rtol=1e-13, atol=1e-13)
