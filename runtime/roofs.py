"""The machine's roofs for a roofline plot, measured once per process: memory copy bandwidth and gemm throughput.

Copy: the best of a few copies of 64 MiB (twice the L3 of most machines, so the data comes from memory), counting
the bytes read and written. Gemm: the best of a few float32 1024^3 products through NumPy's BLAS (all cores).
About 0.2 s on two cores; `roofs()` caches the result.
"""
from __future__ import annotations

import threading
import time

import numpy as np

_ROOFS = None
_lock = threading.Lock()


def best_seconds(fn, reps, warm=0):
    """The best of `reps` timed runs after `warm` untimed ones (the minimum is the least disturbed by other
    processes on a shared machine); the benchmarks time with it too."""
    for _ in range(warm):
        fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(copy_bytes: int = 64 << 20, gemm_n: int = 1024, reps: int = 3) -> dict:
    """{'copy_gbps': GB/s of a copy (bytes read + written), 'gemm_gflops': float32 GFLOP/s of an n^3 gemm}."""
    src = np.ones(copy_bytes // 4, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)                 # fault the pages in before timing
    t_copy = best_seconds(lambda: np.copyto(dst, src), reps)
    a = np.ones((gemm_n, gemm_n), np.float32)
    b = np.ones((gemm_n, gemm_n), np.float32)
    c = np.empty((gemm_n, gemm_n), np.float32)
    np.matmul(a, b, out=c)
    t_gemm = best_seconds(lambda: np.matmul(a, b, out=c), reps + 2)      # threaded: the odd rep waits for a core
    return {"copy_gbps": 2 * src.nbytes / t_copy / 1e9, "gemm_gflops": 2 * gemm_n ** 3 / t_gemm / 1e9}


def roofs() -> dict:
    """measure() once per process."""
    global _ROOFS
    with _lock:
        if _ROOFS is None:
            _ROOFS = measure()
        return dict(_ROOFS)
