"""GPU micro-benchmarks on device 0: device-to-device copy bandwidth and the hand-written elementwise kernel
y = tanh(a*x + b) (accurate and tanh.approx flavours), as GB/s counting bytes read plus written.
Compiled-model rows come later. Prints one line and exits 0 when no device is present.

Run: .venv/bin/python benchmarks/gpu_bench.py [--n 67108864] [--reps 20]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "gpu")]

from runtime import cuda  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64 << 20, help="f32 elements (default 64M = 256 MB)")
    ap.add_argument("--reps", type=int, default=20)
    opts = ap.parse_args()
    ok, why = cuda.available()
    if not ok:
        print(f"gpu_bench: skipped: {why}")
        return 0
    import gpu_kernels as K
    from compiler.codegen import ptx_support as px

    n, arch = opts.n, cuda.arch()
    print(f"device: {cuda.device_name()} ({arch}, {cuda.multiprocessor_count()} SMs); n = {n:,} f32 "
          f"({n * 4 / 1e6:.0f} MB per array); median of {opts.reps} event-timed reps")
    x = cuda.DeviceArray.from_numpy(np.random.default_rng(0).standard_normal(n).astype(np.float32))
    y = cuda.empty(n, np.float32)
    moved = 2 * n * 4                          # bytes read + bytes written
    rows = []

    ms = cuda.time_kernel(lambda: cuda.copy(y, x), reps=opts.reps)
    rows.append(("copy d2d (cuMemcpyDtoD)", ms))

    for approx in (False, True):
        m = K.elementwise_tanh_module("f32")
        if approx:                             # same kernel with the one-instruction tanh
            m = _approx_variant()
        t0 = time.perf_counter()
        ptx = px.module_to_ptx(m, arch)
        t1 = time.perf_counter()
        fn = cuda.load_module(ptx).function("ew_tanh")
        t2 = time.perf_counter()
        grid = cuda.multiprocessor_count() * 8
        args = (x, y, np.float32(0.5), np.float32(0.1), n)
        ms = cuda.time_kernel(lambda: cuda.launch(fn, grid, 256, 0, args), reps=opts.reps)
        name = "ew tanh(a*x+b) " + ("tanh.approx" if approx else "accurate")
        rows.append((f"{name} (emit {1e3 * (t1 - t0):.0f} ms, load {1e3 * (t2 - t1):.0f} ms)", ms))
        xs, ys = x.numpy()[:100000].astype(np.float64), y.numpy()[:100000]
        err = float(np.max(np.abs(ys - np.tanh(0.5 * xs + 0.1))))
        rows[-1] = (rows[-1][0] + f" max abs err {err:.1e}", ms)

    for name, ms in rows:
        print(f"  {name:72s} {ms * 1e3:9.1f} us  {moved / ms / 1e6:8.1f} GB/s")
    return 0


def _approx_variant():
    from llvmlite import ir

    from compiler.codegen import ptx_support as px
    m = px.new_module("ew_approx")
    fn = px.declare_kernel(m, "ew_tanh", [px.GLOBAL_PTR, px.GLOBAL_PTR, px.F32, px.F32, px.I64])
    x, y, a, c, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    px.grid_stride_loop(b, n, lambda b, i: px.store(b, px.tanh(b, px.fma(b, a, px.load(b, x, i, px.F32), c),
                                                               approx=True), y, i))
    b.ret_void()
    return m


if __name__ == "__main__":
    sys.exit(main())
