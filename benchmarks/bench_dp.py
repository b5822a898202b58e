"""Data-parallel LeNet-5 step over MPI: step time, samples per second and scaling efficiency for 1 and 2 ranks
(each rank one thread: OMP/OpenBLAS at 1), and the time spent in the all-reduce, hidden behind the backward
pass (overlapped) and not (waited for), from compiler.distributed.timeline.

    .venv/bin/python benchmarks/bench_dp.py [--per-rank-batch 32] [--steps 40] [--ranks 1,2]

Weak scaling: each rank keeps --per-rank-batch samples, so n ranks take a global batch n times as large;
efficiency = samples/s with n ranks / (n * samples/s with 1). The driver launches itself under mpiexec (the
one next to this Python first) once per rank count and per mode (overlapped buckets, blocking all-reduce).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def worker(args):
    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import compiler as cc
    from compiler import distributed as dist
    from train_lenet import loss_fn
    rank, size = dist.init()
    B = args.per_rank_batch
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((B, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, B)
    key = np.array(rank, np.int64)
    opt = cc.optim.sgd(0.01, momentum=0.9)
    params = dist.broadcast(cc.nn.init.lenet5(seed=0))
    state = opt.init(params)
    bucket = None if args.bucket_kb is None else int(args.bucket_kb * 1024)
    step = dist.data_parallel_step(loss_fn, opt, bucket_bytes=bucket, overlap=args.mode == "overlap")
    for _ in range(5):
        params, state, _ = step(params, state, x, y, key)
    times = []
    for _ in range(args.steps):
        dist.barrier()             # every step starts together: a straggler's delay is not counted twice
        t0 = time.perf_counter()
        params, state, loss = step(params, state, x, y, key)
        times.append(time.perf_counter() - t0)
    out = {"size": size, "mode": args.mode, "step_ms": 1e3 * float(np.median(times)),
           "step_ms_best": 1e3 * float(np.min(times))}
    if size > 1:
        # the bare all-reduce of the whole gradient (one blocking MPI_Allreduce of every parameter), for scale
        comm = cc.distributed._coll.communicator()
        g = np.ones(sum(v.size for v in params.values()), np.float32)
        r = np.empty_like(g)
        ar = []
        for _ in range(args.steps):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(g, r)
            ar.append(time.perf_counter() - t0)
        out["allreduce_ms"] = 1e3 * float(np.median(ar))
        tls = [dist.timeline(step, params, state, x, y, key)["summary"] for _ in range(args.timeline_steps)]
        for k in ("kernels_ms", "wait_ms", "comm_ms", "overlapped_ms", "step_ms"):
            out["tl_" + k] = float(np.median([t[k] for t in tls]))
        low = step.lower(params, state, x, y, key)
        out["buckets"] = sum(1 for k in low.kernels.kernels if k.kind == "mpi") // 2
    every = cc.distributed._coll.communicator().gather(out, root=0)
    if rank == 0:
        with open(args.result, "w") as f:
            json.dump(every, f)


def launch(n, mode, args):
    exe = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    exe = exe if os.access(exe, os.X_OK) else shutil.which("mpiexec")
    with tempfile.TemporaryDirectory() as d:
        res = os.path.join(d, "r.json")
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", VIVE_DEBUG="0")
        cmd = [exe, "-n", str(n), sys.executable, os.path.abspath(__file__), "--worker", "--mode", mode,
               "--result", res, "--per-rank-batch", str(args.per_rank_batch), "--steps", str(args.steps)]
        if args.bucket_kb is not None:
            cmd += ["--bucket-kb", str(args.bucket_kb)]
        subprocess.run(cmd, check=True, timeout=600, env=env, cwd=ROOT)
        return json.load(open(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--mode", default="overlap", choices=["overlap", "blocking"])
    ap.add_argument("--result")
    ap.add_argument("--per-rank-batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--timeline-steps", type=int, default=10)
    ap.add_argument("--bucket-kb", type=float, default=None)
    ap.add_argument("--ranks", default="1,2")
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    try:
        import llvmlite.binding as llb
        cpu = llb.get_host_cpu_name()
    except Exception:
        cpu = "?"
    print(f"LeNet-5 data-parallel step, {args.per_rank_batch} samples per rank, 1 thread per rank, cpu {cpu}, "
          f"{os.cpu_count()} cores; median of {args.steps} steps")
    base = None
    print(f"{'ranks':>5} {'mode':>9} {'step ms':>8} {'samples/s':>10} {'effic.':>7} {'buckets':>7} "
          f"{'comm ms':>8} {'waited':>7} {'overlap':>8} {'bare allreduce ms':>18}")
    for n in [int(v) for v in args.ranks.split(",")]:
        for mode in (["overlap", "blocking"] if n > 1 else ["overlap"]):
            r = launch(n, mode, args)
            step_ms = max(x["step_ms"] for x in r)          # the slowest rank sets the pace
            sps = n * args.per_rank_batch / (step_ms / 1e3)
            if base is None and n == 1:
                base = sps
            eff = sps / (n * base) if base else float("nan")
            if n > 1:
                comm = np.mean([x["tl_comm_ms"] for x in r])
                wait = np.mean([x["tl_wait_ms"] for x in r])
                ov = np.mean([x["tl_overlapped_ms"] for x in r])
                extra = f"{r[0]['buckets']:>7d} {comm:8.3f} {wait:7.3f} {ov:8.3f} {r[0]['allreduce_ms']:18.3f}"
            else:
                extra = f"{'-':>7} {'-':>8} {'-':>7} {'-':>8}"
            print(f"{n:>5} {mode:>9} {step_ms:8.2f} {sps:10.0f} {eff:7.2f} " + extra, flush=True)


if __name__ == "__main__":
    main()
