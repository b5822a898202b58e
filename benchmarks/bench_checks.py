"""The cost of index checks: gather-heavy functions compiled with and without `check_indices`.

    python benchmarks/bench_checks.py [--repeat 50] [--threads 1]

Each row is the fastest call of the same function compiled twice (checked: an out-of-range index raises
IndexError, as in NumPy; unchecked: it is clamped), over interleaved rounds (the minimum is the steadiest
statistic on a busy machine), and their ratio.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # run from a clone too
import compiler as cc  # noqa: E402
from compiler.compile import set_num_threads  # noqa: E402
from timing import best_seconds  # noqa: E402


def cases(rng):
    return {
        "gather t[i], 1M indices into 64K": (
            lambda t, i: t[i] * 2.0,
            rng.standard_normal(1 << 16).astype(np.float32), rng.integers(-(1 << 16), 1 << 16, 1 << 20)),
        "embedding table[ids], 8192 rows of 50Kx64": (
            lambda t, i: t[i],
            rng.standard_normal((50000, 64)).astype(np.float32), rng.integers(0, 50000, 8192)),
        "-lp[arange(n), y].mean(), 4096x1000": (
            lambda lp, y: -lp[np.arange(lp.shape[0]), y].mean(),
            rng.standard_normal((4096, 1000)).astype(np.float32), rng.integers(0, 1000, 4096)),
        "cc.nn.cross_entropy, 4096x1000": (
            cc.nn.cross_entropy,
            rng.standard_normal((4096, 1000)).astype(np.float32), rng.integers(0, 1000, 4096)),
        "tiny gather, 16 of 100 (call overhead)": (
            lambda t, i: t[i],
            rng.standard_normal(100).astype(np.float32), rng.integers(0, 100, 16)),
    }


def best_ms(f, args, repeat):
    return best_seconds(lambda: f(*args), repeat) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads (0: all cores); 1 is steadiest")
    a = ap.parse_args()
    set_num_threads(a.threads)
    print(f"{'function':44s} {'checked ms':>11s} {'unchecked ms':>13s} {'ratio':>6s}")
    for name, (fn, *args) in cases(np.random.default_rng(0)).items():
        on, off = cc.compile(fn), cc.compile(fn, check_indices=False)
        rounds = [(best_ms(on, args, a.repeat), best_ms(off, args, a.repeat)) for _ in range(5)]
        t_on, t_off = min(r[0] for r in rounds), min(r[1] for r in rounds)
        print(f"{name:44s} {t_on:11.4f} {t_off:13.4f} {t_on / t_off:6.2f}")


if __name__ == "__main__":
    main()
