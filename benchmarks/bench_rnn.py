"""LSTM training-step benchmark: vive's step with the time loop in cc.scan against the same model unrolled by a
Python loop, PyTorch eager (torch.nn.LSTM) and jax.jit with lax.scan; plus vive's cold compile time at 32 and
1000 steps (with cc.scan it must not grow with the trip count).

    .venv/bin/python benchmarks/bench_rnn.py              # every case, each in a fresh process
    .venv/bin/python benchmarks/bench_rnn.py --quick      # fewer repetitions
    .venv/bin/python benchmarks/bench_rnn.py --threads 2  # let BLAS / torch / XLA use 2 threads (default 1)

The step: batch 64, 32 time steps of 32 features, hidden 128, a dense layer from the last hidden state to 10
classes, mean cross-entropy, forward + backward + plain SGD update, float32, the same initial parameters. Each
measurement runs in its own process (no peer's threads or caches disturb another), the best of `reps` calls
(benchmarks/timing.py). Peers that are not installed are reported as such.

Measured 2026-12-06 (AMD EPYC, znver4, 2 vCPUs, idle, core round trip ~95 ns: benchmarks/core_latency.py;
best of 30 calls, ms): 1 thread: cc.scan 11.11, unrolled 13.17, torch 2.13 13.66, jax 0.10.2 14.97; 2 threads:
cc.scan 5.77, unrolled 8.07, torch 7.13, jax 15.62; cold compile 0.37-0.53 s at 32 and 1000 steps. (The team's
gemm chunks call the own kernels; 6.8 ms on 2 threads before.) While the host kept the two vCPUs on different
core complexes (round trip 150-400 ns) the 2-thread step took up to ~2x as long.
Earlier (59 runs each while 1-min load < 1.5; min / median ms):
1 thread: cc.scan 11.1 / 11.4, unrolled 12.7 / 13.3, torch 2.13 11.5 / 12.3, jax 0.10.2 13.7 / 14.6;
2 threads: cc.scan 6.9 / 7.2, unrolled 8.7 / 9.2, torch 6.5 / 7.2, jax 13.7 / 14.6 (a tie with torch);
cold compile 0.25-0.33 s at both 32 and 1000 steps.
With the scan body on an OpenMP team (codegen/llvm_team.py; 2 threads, 1-min load ~2, 200 calls, min / median
ms): cc.scan 6.7 / 7.0 against 7.0 / 7.4 before it and torch 7.5 (torch and vive alternating in fresh
processes). Under heavy oversubscription (load > 4 on 2 cores) a per-statement barrier can stall for a scheduler
tick, and single runs of the team varied from 15 to 240 ms (the serial loop's: 12 to 100 ms).
With chunks taken from a shared counter instead of barriers, and waiting threads sleeping (2 threads, 1-min load
7 to 12 from other jobs, 5 fresh processes alternating with the serial loop, median of best-of-50 ms): cc.scan
47 vs 44 idle-ish, 52 vs 70 with one core busy (single processes 20-75 vs 36-292).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
B, T, F, H, C = 64, 32, 32, 128, 10
LR = 0.05


def init_params(seed=0):
    """Gate order i, f, g, o along the 4H axis (torch's order); x @ wx + h @ wh + b."""
    rng = np.random.default_rng(seed)
    s = 1 / np.sqrt(H)
    return {"wx": rng.uniform(-s, s, (F, 4 * H)).astype(np.float32),
            "wh": rng.uniform(-s, s, (H, 4 * H)).astype(np.float32),
            "b": rng.uniform(-s, s, 4 * H).astype(np.float32),
            "wo": rng.uniform(-s, s, (H, C)).astype(np.float32),
            "bo": np.zeros(C, np.float32)}


def data(t, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((t, B, F)).astype(np.float32), rng.integers(0, C, B).astype(np.int64)


# ---------------------------------------------------------------- vive

def vive_step(unrolled):
    import compiler as cc

    def sigmoid(z):
        return 0.5 + 0.5 * np.tanh(0.5 * z)

    def cell(wh, carry, zx):
        h, c = carry
        z = zx + h @ wh
        i, f = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H])
        g, o = np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
        c = f * c + i * g
        return (o * np.tanh(c), c)

    def loss(p, xs, y):
        zx = xs @ p["wx"] + p["b"]
        h0 = np.zeros((xs.shape[1], H), np.float32)
        if unrolled:
            carry = (h0, h0)
            for t in range(xs.shape[0]):
                carry = cell(p["wh"], carry, zx[t])
            h = carry[0]
        else:
            h = cc.scan(lambda k, z: (cell(p["wh"], k, z), None), (h0, h0), zx)[0][0]
        return cc.nn.cross_entropy(h @ p["wo"] + p["bo"], y)

    def step(p, xs, y):
        l, g = cc.value_and_grad(loss)(p, xs, y)
        return {k: p[k] - LR * g[k] for k in p}, l
    return cc.compile(step)


def run_vive(args, unrolled):
    from timing import best_seconds
    p, (xs, y) = init_params(), data(args.steps)
    step = vive_step(unrolled)
    t0 = time.perf_counter()
    step.lower(p, xs, y)
    compile_s = time.perf_counter() - t0
    new, loss = step(p, xs, y)
    sec = best_seconds(lambda: step(p, xs, y), args.reps)
    return {"ms": sec * 1e3, "compile_s": compile_s, "loss": float(loss)}


# ---------------------------------------------------------------- peers

def run_torch(args):
    import torch
    from timing import best_seconds
    torch.set_num_threads(args.threads)
    p, (xs, y) = init_params(), data(args.steps)
    lstm = torch.nn.LSTM(F, H)
    head = torch.nn.Linear(H, C)
    with torch.no_grad():                     # the same parameters (torch: two biases, ours in b_ih)
        lstm.weight_ih_l0.copy_(torch.from_numpy(p["wx"].T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(p["wh"].T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(p["b"]))
        lstm.bias_hh_l0.zero_()
        head.weight.copy_(torch.from_numpy(p["wo"].T.copy()))
        head.bias.copy_(torch.from_numpy(p["bo"]))
    params = list(lstm.parameters()) + list(head.parameters())
    opt = torch.optim.SGD(params, lr=LR)
    xt, yt = torch.from_numpy(xs), torch.from_numpy(y)
    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = lstm(xt)
        loss = torch.nn.functional.cross_entropy(head(out[-1]), yt)
        loss.backward()
        opt.step()
        losses.append(loss)
    sec = best_seconds(step, args.reps)
    return {"ms": sec * 1e3, "loss": float(losses[0]), "threads": torch.get_num_threads(),
            "version": torch.__version__}


def run_jax(args):
    import jax
    import jax.numpy as jnp
    from timing import best_seconds
    p, (xs, y) = init_params(), data(args.steps)

    def loss(p, xs, y):
        zx = xs @ p["wx"] + p["b"]
        h0 = jnp.zeros((xs.shape[1], H), jnp.float32)

        def cell(carry, z):
            h, c = carry
            z = z + h @ p["wh"]
            i, f = jax.nn.sigmoid(z[:, :H]), jax.nn.sigmoid(z[:, H:2 * H])
            g, o = jnp.tanh(z[:, 2 * H:3 * H]), jax.nn.sigmoid(z[:, 3 * H:])
            c = f * c + i * g
            return (o * jnp.tanh(c), c), None
        (h, _), _ = jax.lax.scan(cell, (h0, h0), zx)
        logits = h @ p["wo"] + p["bo"]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    @jax.jit
    def step(p, xs, y):
        l, g = jax.value_and_grad(loss)(p, xs, y)
        return jax.tree_util.tree_map(lambda a, b: a - LR * b, p, g), l
    pj = jax.tree_util.tree_map(jnp.asarray, p)
    xj, yj = jnp.asarray(xs), jnp.asarray(y)
    t0 = time.perf_counter()
    _, l0 = jax.block_until_ready(step(pj, xj, yj))
    compile_s = time.perf_counter() - t0
    sec = best_seconds(lambda: jax.block_until_ready(step(pj, xj, yj)), args.reps)
    return {"ms": sec * 1e3, "compile_s": compile_s, "loss": float(l0), "version": jax.__version__}


CASES = {
    "vive_scan": lambda a: run_vive(a, unrolled=False),
    "vive_unrolled": lambda a: run_vive(a, unrolled=True),
    "torch": run_torch,
    "jax": run_jax,
}


def child(args):
    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    try:
        out = CASES[args.case](args)
    except ImportError as e:
        out = {"missing": str(e)}
    print("RESULT " + json.dumps(out), flush=True)


def spawn(case, steps, reps, threads, cache=None):
    env = dict(os.environ)
    n = str(threads)
    env.update(OPENBLAS_NUM_THREADS=n, OMP_NUM_THREADS=n, MKL_NUM_THREADS=n,
               XLA_FLAGS=(env.get("XLA_FLAGS", "") + (" --xla_cpu_multi_thread_eigen=false "
                                                      "intra_op_parallelism_threads=1" if threads == 1 else "")),
               VIVE_CACHE_DIR=cache or tempfile.mkdtemp(prefix="vive-bench-rnn-"), PYTHONPATH=ROOT)
    cmd = [sys.executable, os.path.abspath(__file__), "--case", case, "--steps", str(steps), "--reps", str(reps),
           "--threads", n]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"failed": (r.stderr.strip().splitlines() or ["no output"])[-1]}


def cpu_name():
    try:
        import llvmlite.binding as llvm
        host = llvm.get_host_cpu_name()
    except Exception:                          # noqa: BLE001 (a label only)
        host = "?"
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model} (LLVM host cpu {host}, {os.cpu_count()} logical CPUs)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=T, help=argparse.SUPPRESS)
    ap.add_argument("--reps", type=int, default=20, help="timed calls per case; the best counts (default 20)")
    ap.add_argument("--threads", type=int, default=1, help="BLAS / torch / XLA threads (default 1)")
    ap.add_argument("--quick", action="store_true", help="5 timed calls per case")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    if args.case:
        return child(args)
    reps = 5 if args.quick else args.reps
    print(f"LSTM step: batch {B}, {T} steps x {F} features, hidden {H}, forward + backward + SGD, float32; "
          f"{args.threads} thread(s); {cpu_name()}")
    res = {}
    for case in ("vive_scan", "vive_unrolled", "torch", "jax"):
        res[case] = spawn(case, T, reps, args.threads)
    print(f"\n{'implementation':34s} {'step ms':>9s} {'compile s':>10s}  first loss")
    labels = {"vive_scan": "vive, cc.scan (compiled)", "vive_unrolled": "vive, Python loop unrolled (compiled)",
              "torch": "PyTorch eager, torch.nn.LSTM", "jax": "jax.jit, lax.scan"}
    for case, r in res.items():
        if "ms" in r:
            comp = f"{r['compile_s']:10.2f}" if "compile_s" in r else f"{'-':>10s}"
            extra = f"  ({r['version']})" if "version" in r else ""
            print(f"{labels[case]:34s} {r['ms']:9.2f} {comp}  {r['loss']:.6f}{extra}")
        else:
            print(f"{labels[case]:34s} {'n/a':>9s}   {r.get('missing') or r.get('failed')}")
    base = res["vive_scan"].get("ms")
    if base:
        for case in ("vive_unrolled", "torch", "jax"):
            if "ms" in res[case]:
                print(f"  vive cc.scan is {res[case]['ms'] / base:.2f}x as fast as {labels[case]}")
    print("\ncold compile of the vive step (empty cache, fresh process):")
    cold = {}
    for steps in (32, 1000):
        cold[steps] = spawn("vive_scan", steps, 1, args.threads)
        r = cold[steps]
        print(f"  cc.scan, {steps:4d} steps: " + (f"{r['compile_s']:.2f} s (step {r['ms']:.1f} ms)"
                                                  if "compile_s" in r else str(r)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"step": res, "cold_compile": cold, "cpu": cpu_name(), "threads": args.threads}, f, indent=1)
    return res, cold


if __name__ == "__main__":
    main()
