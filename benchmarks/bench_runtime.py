"""Runtime micro-benchmarks: call overhead, cold compile vs warm cache load, JIT->CBLAS sgemm vs numpy.

Run: .venv/bin/python benchmarks/bench_runtime.py   (uses a throwaway cache directory)
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "runtime")]
os.environ["VIVE_CACHE_DIR"] = tempfile.mkdtemp(prefix="vive-bench-")
atexit.register(shutil.rmtree, os.environ["VIVE_CACHE_DIR"], True)

from runtime import abi, blas, compile_module  # noqa: E402
from runtime_ir_samples import ADD1_IR, gemm_ir  # noqa: E402


def per_call_ns(fn, n=200_000, reps=5) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e9


def bench_calls() -> None:
    cm = compile_module(ADD1_IR)
    x = np.arange(8, dtype=np.float32)
    print("== call overhead: y = x + 1 on 8 float32 (min over 5 x 200k calls) ==")
    for label, kw in [("fastcall, GIL released", {"mode": "fastcall"}),
                      ("fastcall, GIL kept", {"mode": "fastcall", "release_gil": False}),
                      ("ctypes fallback", {"mode": "ctypes"})]:
        call = abi.make_caller(cm, "add1", 2, 1, **kw)
        y = np.empty(8, np.float32)
        n = 20_000 if "ctypes" in label else 200_000

        def whole():
            out = np.empty(8, np.float32)
            call(x, out, 8)
            return out

        print(f"  {label:26s} bare call {per_call_ns(lambda: call(x, y, 8), n):7.0f} ns   "
              f"with np.empty output {per_call_ns(whole, n):7.0f} ns")
    print(f"  {'numpy x + 1 (reference)':26s} {per_call_ns(lambda: x + 1):17.0f} ns")
    print(f"  {'np.empty(8, float32)':26s} {per_call_ns(lambda: np.empty(8, np.float32)):17.0f} ns")


def bench_compile() -> None:
    print("== compile: cold vs warm (disk cache) ==")
    src = ADD1_IR.replace("1.0", "3.0")
    cold = compile_module(src)
    print("  cold: " + ", ".join(f"{k} {v * 1e3:.2f} ms" for k, v in cold.timings.items()))
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "t0 = time.perf_counter(); from runtime import compile_module; t1 = time.perf_counter()\n"
            "cm = compile_module(sys.stdin.read()); t2 = time.perf_counter()\n"
            "cm.address('add1'); t3 = time.perf_counter()\n"
            "print(cm.cache_hit, (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)\n" % ROOT)
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], input=src, capture_output=True, text=True, check=True)
        hit, imp, load, addr = out.stdout.split()
        print(f"  warm, fresh process: hit={hit} compile_module {float(load):.2f} ms "
              f"(+ address {float(addr):.3f} ms; import runtime {float(imp):.0f} ms)")


def bench_sgemm() -> None:
    syms = blas.blas_symbols()
    print("== sgemm: JIT IR calling CBLAS vs numpy a @ b (float32, median of runs) ==")
    if syms is None or syms["int_bits"] != 64:
        print(f"  skipped: {syms}")
        return
    print(f"  {syms['sgemm']} from {os.path.basename(syms['library'])}")
    call = abi.make_caller(compile_module(gemm_ir(syms["sgemm"], "float", 64)), "mm", 3, 3)
    rng = np.random.default_rng(0)
    for n in (256, 1024):
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), np.float32)
        call(a, b, c, n, n, n)
        assert np.allclose(c, a @ b, rtol=1e-4, atol=1e-3)
        reps = 200 if n == 256 else 15
        t_jit, t_np = [], []
        for _ in range(reps):                    # interleaved, so drift hits both equally
            t = time.perf_counter()
            call(a, b, c, n, n, n)
            t_jit.append(time.perf_counter() - t)
            t = time.perf_counter()
            a @ b
            t_np.append(time.perf_counter() - t)
        flop = 2.0 * n ** 3
        print(f"  {n}x{n}: JIT->sgemm {flop / np.median(t_jit) / 1e9:6.1f} GFLOP/s   "
              f"numpy @ {flop / np.median(t_np) / 1e9:6.1f} GFLOP/s")


if __name__ == "__main__":
    print(f"abi mode: {abi.call_mode()}")
    bench_calls()
    bench_compile()
    bench_sgemm()
