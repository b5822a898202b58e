"""Time and accuracy of compiled reductions vs NumPy: big f32 sums, row / column sums, softmax, var.

Usage: .venv/bin/python benchmarks/bench_reduce.py [--reps N]
Times are the minimum over repetitions (ms); `rel err` is |result - math.fsum| / |fsum| of the first output
element set (the whole sum for the full reductions, the worst row or column otherwise).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import compiler as cc  # noqa: E402
from timing import best_seconds  # noqa: E402


def best_ms(fn, reps):
    return best_seconds(fn, reps) * 1e3


def rel_err(got, x, axis):
    x64 = x.astype(np.float64)
    if axis is None:
        exact = np.array(math.fsum(x64.ravel()))
    else:
        exact = np.apply_along_axis(math.fsum, axis, x64)
    got = np.asarray(got, np.float64)
    return float(np.max(np.abs(got - exact) / np.maximum(np.abs(exact), 1e-300)))


def main():
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 20
    rng = np.random.default_rng(0)
    big = np.full(1 << 26, 0.1, np.float32)
    mat = rng.random((4096, 1000), dtype=np.float32)
    big64 = rng.random(1 << 24)
    wide = rng.random((64, 1 << 20), dtype=np.float32)
    cases = [
        ("sum f32[2^26] of 0.1", lambda x: x.sum(), np.sum, big, None),
        ("sum f64[2^24]", lambda x: x.sum(), np.sum, big64, None),
        ("row sum f32[4096,1000]", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), mat, 1),
        ("col sum f32[4096,1000]", lambda x: x.sum(axis=0), lambda x: x.sum(axis=0), mat, 0),
        ("row sum f32[1000,4096]", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), mat.reshape(1000, 4096), 1),
        ("col sum f32[64,2^20]", lambda x: x.sum(axis=0), lambda x: x.sum(axis=0), wide, 0),
        ("row max f32[4096,1000]", lambda x: x.max(axis=1), lambda x: x.max(axis=1), mat, None),
        ("softmax f32[4096,1000]", cc.nn.softmax, lambda x: (lambda e: e / e.sum(1, keepdims=True))(
            np.exp(x - x.max(1, keepdims=True))), mat, None),
        ("var rows f32[4096,1000]", lambda x: x.var(axis=1), lambda x: x.var(axis=1), mat, None),
    ]
    print(f"{'case':26s} {'vive ms':>8s} {'numpy ms':>8s} {'vive err':>9s} {'numpy err':>9s}")
    for name, f, ref, x, axis in cases:
        g = cc.compile(f)
        ours = best_ms(lambda: g(x), reps)
        theirs = best_ms(lambda: ref(x), reps)
        if name.startswith(("sum", "row sum", "col sum")) and x.size <= 1 << 22:
            errs = f"{rel_err(g(x), x, axis):9.1e} {rel_err(ref(x), x, axis):9.1e}"
        else:
            errs = ""
        print(f"{name:26s} {ours:8.3f} {theirs:8.3f} {errs}")


if __name__ == "__main__":
    main()
