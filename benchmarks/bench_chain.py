"""The fused chain tanh(x*a+b) * logistic(x) + 0.5 x^2 on 4M float32: vive (default and fast_math=True) against
jax.jit and this machine's copy bandwidth, 1 and 2 threads, each number the median over rounds of fresh processes
run in alternation (one configuration per process, best of its repetitions), so a busy machine shifts every
configuration alike. Also the in-cache cost (16K elements, 1 thread: the compute-bound part, ns per element).

    python benchmarks/bench_chain.py [--rounds 5] [--quick]
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 4 << 20
MOVED = 4 * N * 4                 # 3 arrays read + 1 written
CONFIGS = ["vive", "vive-fast", "jax", "copy"]


def child(config, threads):
    """Seconds per call (best of the repetitions) of one configuration, run in this fresh process."""
    if threads == 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})     # jax sizes its pool from the affinity
    sys.path[:0] = [ROOT, os.path.join(ROOT, "benchmarks")]
    import numpy as np
    from timing import best_seconds
    reps = 5 if "--quick" in sys.argv else 15
    rng = np.random.default_rng(0)
    n = 16384 if config.endswith("-l1") else N
    x, a, b = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    if config.startswith("jax"):
        import jax
        import jax.numpy as jnp
        jf = jax.jit(lambda x, a, b: jnp.tanh(x * a + b) * jax.nn.sigmoid(x) + 0.5 * x * x)
        jx, ja, jb = (jnp.asarray(v) for v in (x, a, b))
        fn = lambda: jf(jx, ja, jb).block_until_ready()     # noqa: E731
    else:
        import compiler as cc
        from compiler.compile import set_num_threads
        set_num_threads(threads)
        if config == "copy":
            # the chain's footprint: a 32 MiB -> 32 MiB copy moves 64 MiB, as the chain does
            src = np.ones(MOVED // 8, np.float32)
            scale = cc.compile(lambda x, s: x * s)
            one = np.float32(1.0)
            dst = np.empty_like(src)
            t = min(best_seconds(lambda: scale(src, one), reps, 2),
                    best_seconds(lambda: np.copyto(dst, src), reps, 2) if threads == 1 else 1e9)
            return t

        def chain(x, a, b):
            return np.tanh(x * a + b) * (1 / (1 + np.exp(-x))) + 0.5 * x * x
        f = cc.compile(chain, fast_math=config.startswith("vive-fast"))
        fn = lambda: f(x, a, b)     # noqa: E731
    fn()
    return best_seconds(fn, reps * (200 if n < N else 1), 2)


def run_child(config, threads):
    env = dict(os.environ, VIVE_DEBUG="0")
    r = subprocess.run([sys.executable, __file__, "--child", config, str(threads)] + sys.argv[1:], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{config} x{threads}: failed\n{r.stderr[-2000:]}", file=sys.stderr)
        return None
    return float(r.stdout.split()[-1])


def main():
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 5
    import llvmlite.binding as llvm
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"cpu: {llvm.get_host_cpu_name()} ({model}), {os.cpu_count()} cores; load average before "
          f"{os.getloadavg()[0]:.2f}; median of {rounds} rounds of alternating fresh processes")
    cells = [(c, t) for t in (1, 2) for c in CONFIGS] + [("vive-l1", 1), ("vive-fast-l1", 1)]
    times = {k: [] for k in cells}
    for _ in range(rounds):
        for c, t in cells:
            v = run_child(c, t)
            if v is not None:
                times[(c, t)].append(v)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"load average after {os.getloadavg()[0]:.2f}")
    for t in (1, 2):
        copy = med.get(("copy", t))
        print(f"-- {t} thread{'s' if t > 1 else ''}: copy {MOVED / copy / 1e9:.1f} GB/s" if copy else "")
        for c in ("vive", "vive-fast", "jax"):
            s = med.get((c, t))
            if s is None:
                continue
            pct = f"{MOVED / s / (MOVED / copy) * 100:3.0f}% of copy" if copy else ""
            jx = med.get(("jax", t))
            ratio = f"{jx / s:5.2f}x vs jax.jit" if jx and c != "jax" else ""
            print(f"   chain 4M f32 {c:<10} {s * 1e3:7.2f} ms  {MOVED / s / 1e9:5.1f} GB/s  {pct}  {ratio}")
    for c in ("vive-l1", "vive-fast-l1"):
        if (c, 1) in med:
            print(f"   in cache (16K, 1 thread) {c[:-3]:<10} {med[(c, 1)] / 16384 * 1e9:6.3f} ns/element")


if __name__ == "__main__":
    if "--child" in sys.argv:
        i = sys.argv.index("--child")
        print(child(sys.argv[i + 1], int(sys.argv[i + 2])))
    else:
        main()
