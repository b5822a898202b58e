"""Trace time of a 100-layer MLP (target: under 0.3 s), with a symbolic and with a concrete batch.

    python benchmarks/bench_trace.py [--layers 100] [--width 64] [--repeat 5] [--profile]
"""
import argparse
import os
import cProfile
import pstats
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # run from a clone too
import compiler as cc  # noqa: E402


def deep_mlp(params, x):
    for w, b in params:
        x = np.tanh(x @ w + b)
    return x.sum(axis=1).mean()


def bench(layers, width, repeat):
    rng = np.random.default_rng(0)
    params = [(rng.standard_normal((width, width)).astype(np.float32), np.zeros(width, np.float32))
              for _ in range(layers)]
    rows = []
    for label, x in [("symbolic batch f32[N,%d]" % width, cc.Spec(f"f32[N,{width}]")),
                     ("concrete batch f32[32,%d]" % width, np.ones((32, width), np.float32))]:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            g = cc.trace(deep_mlp, params, x)
            times.append(time.perf_counter() - t0)
        rows.append((label, len(g.nodes), min(times), float(np.median(times))))
    return rows, params


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=100)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="print the 15 most expensive functions")
    a = ap.parse_args()
    rows, params = bench(a.layers, a.width, a.repeat)
    print(f"cc.trace of a {a.layers}-layer MLP (width {a.width}), best and median of {a.repeat}:")
    for label, nodes, best, med in rows:
        verdict = "ok" if best < 0.3 else "SLOW (target 0.3 s)"
        print(f"  {label:<28} {nodes:5d} nodes  best {best * 1e3:7.2f} ms  median {med * 1e3:7.2f} ms"
              f"  ({best / nodes * 1e6:.1f} us/node)  {verdict}")
    if a.profile:
        prof = cProfile.Profile()
        prof.enable()
        cc.trace(deep_mlp, params, cc.Spec(f"f32[N,{a.width}]"))
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    main()
