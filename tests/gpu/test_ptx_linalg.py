"""np.linalg's decompositions have no GPU lowering (they call LAPACK on the CPU): the cuda backend says so, naming
the function and the user's line, instead of emitting anything or crashing; the rest of a program still compiles."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc

A = np.random.default_rng(0).standard_normal((2, 4, 4)) + 4 * np.eye(4)


@pytest.mark.parametrize("fn, prim", [
    (np.linalg.inv, "solve"), (np.linalg.det, "slogdet"), (lambda a: np.linalg.eigh(a)[0], "eigh"),
    (lambda a: np.linalg.cholesky(a @ np.swapaxes(a, -1, -2)), "cholesky"),
    (lambda a: np.linalg.svd(a, compute_uv=False), "svd_values"),
    (cc.grad(lambda a: np.sum(np.linalg.inv(a))), "solve")])
def test_cuda_backend_refuses_decompositions_by_name(fn, prim):
    with pytest.raises(cc.BackendError, match=rf"cuda: np\.linalg's .*{prim}.*no GPU lowering.*backend='cpu'") as e:
        cc.compile(fn, backend="cuda").lower(A)
    assert "test_ptx_linalg.py" in str(e.value)          # the user's line


def test_cuda_backend_still_compiles_programs_without_them():
    cc.compile(lambda a: np.tanh(a) @ a, backend="cuda").lower(A)
