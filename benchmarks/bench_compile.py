"""Cold compile time against model depth: each measurement in a fresh process with the disk cache off
(VIVE_NO_CACHE=1), the time of the first call of cc.compile(fn) (trace, passes, fusion, lowering, codegen, LLVM).

    python benchmarks/bench_compile.py [--quick] [--only mlp|rnn|chain] [--stages] [--threads N]

Targets (issue 17): 64 layers within 10x of 8 layers; a 1000-step unrolled RNN gradient under 30 s; a chain of
2000 matmuls under 20 s. `cpu s` is the process CPU time of the same call (compiling runs on one thread, so on a
busy machine it is the better measure); `--stages` adds the wall-time split: trace / passes / fuse+lower /
codegen / llvm. `--threads N` sets VIVE_COMPILE_THREADS (threads LLVM may compile a program's parts on; 1 = whole
module on one thread) in the measured processes.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import sys, time, json
sys.path[:0] = [%(root)r, %(tests)r]
import numpy as np
import compiler as cc
import zoo_models as zm
fn, args = getattr(zm, %(maker)r)(%(n)d)
f = cc.compile(fn)
t0, c0 = time.perf_counter(), time.process_time()
out = f(*args)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
low = next(iter(f._cache.values())).lowered      # the version that first call compiled
t = dict(low.timings)
k = len(low.kernels.kernels)
print(json.dumps({"seconds": dt, "cpu": cpu, "kernels": k, "nodes": len(low.graph.nodes),
                  "stages": {s: t.get(s, 0.0) for s in ("trace", "passes", "fuse_lower", "codegen", "llvm")}}))
"""

SERIES = [
    ("mlp", "MLP value_and_grad, layers", "tanh_mlp", [8, 16, 32, 64, 128, 256]),
    ("rnn", "unrolled RNN value_and_grad, steps", "rnn", [10, 100, 1000]),
    ("chain", "chain of matmuls (forward), matmuls", "matmul_chain", [250, 2000]),
]


def measure(maker, n, timeout=600, threads=None):
    code = CHILD % dict(root=ROOT, tests=os.path.join(ROOT, "tests"), maker=maker, n=n)
    env = dict(os.environ, VIVE_NO_CACHE="1")
    if threads:
        env["VIVE_COMPILE_THREADS"] = str(threads)
    env.pop("VIVE_DEBUG", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes only (a smoke run)")
    ap.add_argument("--only", choices=[s[0] for s in SERIES])
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--threads", type=int, help="VIVE_COMPILE_THREADS for the measured processes")
    a = ap.parse_args()
    for key, title, maker, sizes in SERIES:
        if a.only and key != a.only:
            continue
        if a.quick:
            sizes = sizes[:3] if key == "mlp" else sizes[:2] if key == "rnn" else sizes[:1]
        print(f"\n{title}")
        print(f"{'size':>6} {'nodes':>7} {'kernels':>8} {'cold compile s':>15} {'x smallest':>11} {'cpu s':>8}"
              + ("   trace / passes / fuse+lower / codegen / llvm (s)" if a.stages else ""), flush=True)
        base = None
        for n in sizes:
            r = measure(maker, n, threads=a.threads)
            if "error" in r:
                print(f"{n:>6}  failed: {r['error']}", flush=True)
                continue
            base = base or r["seconds"]
            st = r["stages"]
            extra = ("   " + " / ".join(f"{st[s]:.2f}" for s in ("trace", "passes", "fuse_lower", "codegen", "llvm"))
                     if a.stages else "")
            print(f"{n:>6} {r['nodes']:>7} {r['kernels']:>8} {r['seconds']:>15.3f} {r['seconds'] / base:>10.1f}x"
                  f" {r['cpu']:>8.3f}"
                  + extra, flush=True)


if __name__ == "__main__":
    main()
