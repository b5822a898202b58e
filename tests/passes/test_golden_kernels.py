"""Golden kernel text: a few representative programs through the generic passes, fusion and lowering (named passes
of the pass manager), their fused graph and kernels printed and compared with tests/golden/kernels/<name>.txt.

A change to fusion or lowering that changes a kernel shows here as a text diff. When the change is intended,
regenerate the files with VIVE_UPDATE_GOLDEN=1 and review the diff before committing it.
"""
import functools
import os
import pathlib

import numpy as np
import pytest

import compiler as cc
from compiler.lower import lower_plan
from compiler.passes import run_pipeline, pipeline_for, PassLog
from compiler.passes.fuse import fusion_pass
from compiler.passes.memory import plan_fused_memory

GOLDEN = pathlib.Path(__file__).parent.parent / "golden" / "kernels"
UPDATE = os.environ.get("VIVE_UPDATE_GOLDEN") == "1"


def dense_relu(x, w, b):
    return np.maximum(x @ w + b, 0.0)


def softmax_cross_entropy(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -(y * (z - lse)).sum(axis=1).mean()


def strided_views(x, y):
    return np.tanh(x.T[:, 1:] * 2.0) + y[1:]


def bias_sgd_step(b, g):
    return b - 0.1 * g.sum(axis=0)


def checked_gather(table, idx):
    return table[idx] * 2.0


PROGRAMS = {
    "dense_relu": (dense_relu, ("f32[N,8]", "f32[8,4]", "f32[4]")),
    "softmax_cross_entropy": (softmax_cross_entropy, ("f32[N,10]", "f32[N,10]")),
    "strided_views": (strided_views, ("f32[6,N]", "f32[6]")),
    "bias_sgd_step": (bias_sgd_step, ("f32[4]", "f32[N,4]")),
    "checked_gather": (checked_gather, ("f32[10,4]", "i64[N]")),
}


def kernel_text(fn, specs):
    """The fused graph and the kernels of fn, lowered with the CPU's options (BLAS gemm statements: the same text
    whether or not a BLAS library is present)."""
    g = cc.trace(fn, *[cc.Spec(s) for s in specs])
    log = PassLog()
    g = run_pipeline(g, pipeline_for(g), log=log)
    lower = functools.partial(lower_plan, use_blas=True, name=fn.__name__, tile_windows=True, cpu_sums=True,
                              check_indices=True)
    fused = run_pipeline(g, [fusion_pass(lower), plan_fused_memory], log=log)
    assert log.names[-2:] == ["fuse", "plan_memory"]
    return f"{fused}\n\n{fused.program}\n"


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_kernels_match_golden(name):
    fn, specs = PROGRAMS[name]
    text = kernel_text(fn, specs)
    path = GOLDEN / f"{name}.txt"
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"no golden file {path}; run with VIVE_UPDATE_GOLDEN=1 to write it")
        path.write_text(text)
        return
    want = path.read_text()
    assert text == want, f"kernels of {name} changed; if intended, VIVE_UPDATE_GOLDEN=1 rewrites {path}:\n{text}"


def _args(name, rng):
    n = 5
    return {
        "dense_relu": lambda: (rng.standard_normal((n, 8)), rng.standard_normal((8, 4)), rng.standard_normal(4)),
        "softmax_cross_entropy": lambda: (rng.standard_normal((n, 10)), np.eye(10)[rng.integers(0, 10, n)]),
        "strided_views": lambda: (rng.standard_normal((6, n)), rng.standard_normal(6)),
        "bias_sgd_step": lambda: (rng.standard_normal(4), rng.standard_normal((n, 4))),
        "checked_gather": lambda: (rng.standard_normal((10, 4)), rng.integers(-10, 10, n)),
    }[name]()


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_golden_programs_compute_what_numpy_does(name):
    # the golden kernels are checked for meaning too: compiled against NumPy on the same inputs
    fn, specs = PROGRAMS[name]
    args = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in _args(name, np.random.default_rng(0))]
    np.testing.assert_allclose(cc.compile(fn)(*args), fn(*args), rtol=1e-5, atol=1e-6)
