"""Throughput of cc.random compiled for the CPU vs its NumPy reference (eager cc.random), jax.jit(jax.random) and
NumPy's own Generator (PCG64, other numbers; the speed a NumPy user has today), same numbers for vive and jax.

Usage: .venv/bin/python benchmarks/bench_random.py [--reps N] [--n N]
Times are the minimum over repetitions (ms) for n draws; the key is an argument, as in a training step.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import compiler as cc  # noqa: E402
from timing import best_seconds  # noqa: E402

R = cc.random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--n", type=int, default=2 ** 22)
    a = ap.parse_args()
    n, reps = a.n, a.reps
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    key = R.key(0)
    rng = np.random.default_rng(0)
    cases = {
        "bits u32": (lambda k: R.bits(k, (n,)), None if jax is None else lambda k: jax.random.bits(k, (n,)),
                     lambda: rng.integers(0, 2 ** 32, n, dtype=np.uint32)),
        "uniform f32": (lambda k: R.uniform(k, (n,)), None if jax is None else lambda k: jax.random.uniform(k, (n,)),
                        lambda: rng.random(n, np.float32)),
        "normal f32": (lambda k: R.normal(k, (n,)), None if jax is None else lambda k: jax.random.normal(k, (n,)),
                       lambda: rng.standard_normal(n, np.float32)),
    }
    print(f"n = {n}, best of {a.reps} (ms)")
    print(f"{'case':<14}{'vive cpu':>10}{'eager ref':>11}{'jax.jit':>10}{'np Generator':>14}  same as jax")
    for name, (fn, jfn, npfn) in cases.items():
        f = cc.compile(fn)
        t_vive = best_seconds(lambda: f(key), reps) * 1e3
        t_ref = best_seconds(lambda: fn(key), max(1, reps // 5)) * 1e3
        t_np = best_seconds(npfn, reps) * 1e3
        t_jax, same = float("nan"), "-"
        if jfn is not None:
            jk = jnp.asarray(key)
            jf = jax.jit(jfn)
            t_jax = best_seconds(lambda: jf(jk).block_until_ready(), reps) * 1e3
            got, want = f(key), np.asarray(jf(jk))
            same = "bits" if np.array_equal(got, want) else f"max diff {np.max(np.abs(got - want)):.1e}"
        print(f"{name:<14}{t_vive:>10.2f}{t_ref:>11.2f}{t_jax:>10.2f}{t_np:>14.2f}  {same}")


if __name__ == "__main__":
    main()
