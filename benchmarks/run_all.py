"""Run every CPU benchmark script in turn (`make bench`); each prints its own table. issue13_table.py goes first:
the summary table of issue 13 (every row against its peer, fresh processes, medians, CPU model and threads).

GPU benchmarks (gpu_bench.py) need a device and run separately.
"""
from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = ["issue13_table.py", "bench_cpu.py", "bench_runtime.py", "bench_llvm_math.py", "bench_reduce.py", "bench_trace.py", "bench_train.py",
           "bench_compile.py", "bench_random.py", "bench_dp.py"]


def main():
    failed = []
    for name in SCRIPTS:
        path = os.path.join(HERE, name)
        if not os.path.exists(path):
            continue
        print(f"\n===== {name} =====", flush=True)
        r = subprocess.run([sys.executable, path] + sys.argv[1:], cwd=os.path.dirname(HERE))
        if r.returncode != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
