"""GFLOP/s of single matrix multiplies per shape class: vive's own small-matrix kernels (VIVE_GEMM=own), OpenBLAS
called by vive (VIVE_GEMM=blas), and NumPy's np.dot on the same arrays (the same bundled OpenBLAS), one thread.

    .venv/bin/python benchmarks/bench_gemm.py            # every shape class, 3 fresh processes per measurement
    .venv/bin/python benchmarks/bench_gemm.py --reps 1   # quicker

Shapes are those the lowering produces for the MLP 784-256-256-10 step at batch 16 and the LeNet-5 step at batch 64
(forward, input and weight gradients; layouts nn / nt / tn as the Gemm statements have them), plus squares 32..512.
Each measurement runs in a fresh process (OMP/OPENBLAS_NUM_THREADS=1) and times the best of several loops of
calls; the table shows the median over the processes. vive's numbers include its per-call overhead (the compiled
function allocates its output, as np.dot does here): at the smallest sizes that overhead, not the kernel, is
what the table shows.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (label, layout, m, n, k)
SHAPES = [
    ("mlp16 fc1 fwd", "nn", 16, 256, 784), ("mlp16 fc2 fwd", "nn", 16, 256, 256), ("mlp16 fc3 fwd", "nn", 16, 10, 256),
    ("mlp16 fc3 dx", "nt", 16, 256, 10), ("mlp16 fc2 dx", "nt", 16, 256, 256),
    ("mlp16 fc1 dW", "tn", 784, 256, 16), ("mlp16 fc2 dW", "tn", 256, 256, 16), ("mlp16 fc3 dW", "tn", 256, 10, 16),
    ("lenet conv1 fwd", "nn", 6, 50176, 25), ("lenet conv2 fwd", "nn", 16, 6400, 150),
    ("lenet conv2 dx (x64)", "tn", 150, 100, 16), ("lenet conv1 dW", "nt", 6, 25, 50176),
    ("lenet conv2 dW", "nt", 16, 150, 6400), ("lenet fc1 fwd", "nn", 64, 120, 400), ("lenet fc1 dx", "nt", 64, 400, 120),
    ("lenet fc1 dW", "tn", 400, 120, 64),
] + [(f"square {s}", "nn", s, s, s) for s in (32, 64, 128, 256, 384, 512)]


def child(impl, layout, m, n, k, dtype):
    import numpy as np
    sys.path.insert(0, ROOT)
    from timing import best_seconds
    rng = np.random.default_rng(0)
    ta, tb = layout[0] == "t", layout[1] == "t"
    a = rng.random((k, m) if ta else (m, k), dtype=dtype)
    b = rng.random((n, k) if tb else (k, n), dtype=dtype)
    if impl == "numpy":
        A, B = (a.T if ta else a), (b.T if tb else b)
        fn = lambda: np.dot(A, B)        # noqa: E731
    else:
        import compiler as cc

        # einsum: `a @ b.T` would materialise the transpose first (the lowering folds only dot_general's own layout)
        spec = f"{'km' if ta else 'mk'},{'nk' if tb else 'kn'}->mn"

        @cc.compile
        def mm(a, b):
            return np.einsum(spec, a, b)
        ref = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b)
        got = mm(a, b)
        assert np.allclose(got, ref, rtol=1e-4, atol=1e-3 * k ** 0.5), "wrong product"
        fn = lambda: mm(a, b)           # noqa: E731
    loops = max(1, int(3e6 / (m * n * k + 2000)))
    s = best_seconds(lambda: [fn() for _ in range(loops)], reps=7, warm=2) / loops
    return {"s": s}


def spawn(impl, layout, m, n, k, dtype):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=ROOT)
    if impl != "numpy":
        env["VIVE_GEMM"] = impl
    cmd = [sys.executable, __file__, "--child", json.dumps([impl, layout, m, n, k, dtype])]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["s"]


def machine():
    import llvmlite.binding as llvm
    model = ""
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in subprocess.run(["lscpu"], capture_output=True,
                      text=True).stdout.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        pass
    return f"{model} (llvm: {llvm.get_host_cpu_name()}), load average {os.getloadavg()[0]:.2f}, 1 thread"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--only", default="", help="substring of the shape labels to run")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return
    import statistics
    sys.path.insert(0, ROOT)
    from compiler.codegen.llvm_gemm import plan_gemm, host_isa
    from compiler.ir.types import F32, F64
    dt = F32 if args.dtype == "float32" else F64
    print(f"# {machine()}; {args.dtype}; median of {args.reps} fresh processes; GFLOP/s (ratio = numpy time / own)")
    print(f"{'shape class':22s} {'layout':6s} {'m x n x k':>16s} {'kernel':>12s} {'own':>7s} {'blas':>7s} "
          f"{'numpy':>7s} {'own/np':>7s} {'auto':>5s}")
    impls = ("own", "blas", "numpy")
    for label, layout, m, n, k in SHAPES:
        if args.only and args.only not in label:
            continue
        times = {i: [] for i in impls}
        for _ in range(args.reps):
            for i in impls:            # alternate, so that a burst of load hits every implementation
                times[i].append(spawn(i, layout, m, n, k, args.dtype))
        med = {i: statistics.median(v) for i, v in times.items()}
        gf = {i: 2 * m * n * k / med[i] / 1e9 for i in impls}
        plan = plan_gemm(dt, layout[0] == "t", layout[1] == "t", m, n, k, host_isa(), force=True)
        auto = plan_gemm(dt, layout[0] == "t", layout[1] == "t", m, n, k, host_isa()) is not None
        print(f"{label:22s} {layout:6s} {f'{m}x{n}x{k}':>16s} {plan.name().split('.')[-1]:>12s} {gf['own']:7.1f} "
              f"{gf['blas']:7.1f} {gf['numpy']:7.1f} {med['numpy'] / med['own']:7.2f} {'own' if auto else 'blas':>5s}",
              flush=True)


if __name__ == "__main__":
    main()
