"""ns/element of compiler/codegen/llvm_math.py loops (auto-vectorised, zmm) vs NumPy, float32, 64K and 4M elements.

Usage: .venv/bin/python benchmarks/bench_llvm_math.py [--f64]
Kernels are built and JIT-compiled by the helpers in tests/codegen/test_llvm_math.py (one loop per function).
"""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "codegen")]
import test_llvm_math as T  # noqa: E402
from timing import best_seconds  # noqa: E402


def best_ns(fn, n, reps):
    return best_seconds(fn, reps) / n * 1e9


def main():
    dtype = np.float64 if "--f64" in sys.argv else np.float32
    rng = np.random.default_rng(0)
    print(f"{dtype.__name__}: ns/element, min over repetitions (vive = llvm_math loop, 1 thread)")
    print(f"{'fn':9s} {'n':>8s} {'vive':>7s} {'numpy':>7s} {'speedup':>7s}")
    for fname in T.UNARY + T.BINARY:
        for n in (1 << 16, 1 << 22):
            x = rng.uniform(0.1 if fname in ("log", "sqrt", "pow") else -5, 5, n).astype(dtype)
            y = rng.uniform(-3, 3, n).astype(dtype)
            ins = (x, y) if fname in T.BINARY else (x,)
            out = np.empty(n, dtype)
            k, _ = T._compile(fname, dtype, False)
            ptrs = [a.ctypes.data for a in ins] + [out.ctypes.data]
            reps = 200 if n < 1e6 else 10
            ours = best_ns(lambda: k(*ptrs, n), n, reps)
            ref = T.REF[fname]
            theirs = best_ns(lambda: ref(*ins, out=out) if fname != "logistic" else
                             np.divide(1.0, np.add(1.0, np.exp(np.negative(x, out=out), out=out), out=out),
                                       out=out), n, reps)
            print(f"{fname:9s} {n:8d} {ours:7.2f} {theirs:7.2f} {theirs / ours:6.1f}x")


if __name__ == "__main__":
    main()
