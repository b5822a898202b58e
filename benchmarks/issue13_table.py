"""The table of issue 13, every row against its peer measured in the same run: one fresh process per
measurement, the median over several processes (A and B alternate, so a change of machine load hits both).

    python benchmarks/issue13_table.py            # 5 processes per cell; --quick: 3; --reps N
    python benchmarks/issue13_table.py --only call,import

Ratio = peer time / vive time (> 1: vive is faster), except the busy-core row (vive busy / vive idle: lower is
better) and the import / disk-cache row (no peer: the target is an absolute time). Inside a process each timing
is the best of several timed blocks after warm-up (benchmarks/bench_train.timeit); across processes the median.
The models and peers are those of bench_cpu.py (chain, softmax + cross-entropy, MLP value_and_grad) and
bench_train.py (the MLP and LeNet-5 SGD steps); "1 thread" pins the whole process to one core.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# ---- children: each runs in a fresh process and prints {"s": seconds, ...} as its last line ----

def _setup_threads(threads):
    if threads == 1:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _timeit(run, budget=1.0):
    sys.path[:0] = [HERE, ROOT]
    from bench_train import timeit
    return timeit(run, budget)


def _vive_threads(threads):
    from compiler.compile import set_num_threads
    set_num_threads(threads if threads else 0)


def child_chain(impl, threads):
    import numpy as np
    n = 4 * 1024 * 1024
    rng = np.random.default_rng(0)
    x, a, b = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    if impl == "vive":
        import compiler as cc
        sys.path.insert(0, HERE)
        from bench_cpu import chain
        _vive_threads(threads)
        f = cc.compile(chain)
        return {"s": _timeit(lambda: f(x, a, b)), "bytes": 16 * n}
    if impl == "copy":         # the machine's copy bandwidth at the chain's footprint (compiled y = x * s)
        import compiler as cc
        _vive_threads(threads)
        src = np.ones(8 * n, np.float32)
        f = cc.compile(lambda x, s: x * s)
        one = np.float32(1)
        return {"s": _timeit(lambda: f(src, one)), "bytes": 2 * src.nbytes}
    import jax
    import jax.numpy as jnp
    jf = jax.jit(lambda x, a, b: jnp.tanh(x * a + b) * jax.nn.sigmoid(x) + 0.5 * x * x)
    jx, ja, jb = (jnp.asarray(v) for v in (x, a, b))
    return {"s": _timeit(lambda: jf(jx, ja, jb).block_until_ready())}


def child_softmax(impl, threads):
    import numpy as np
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4096, 1000)).astype(np.float32)
    labels = rng.integers(0, 1000, 4096)
    if impl == "vive":
        import compiler as cc
        sys.path.insert(0, HERE)
        from bench_cpu import ce_loss
        _vive_threads(threads)
        f = cc.compile(cc.value_and_grad(ce_loss))
        return {"s": _timeit(lambda: f(logits, labels))}
    import torch
    torch.set_num_threads(threads)
    tl, ty = torch.from_numpy(logits).requires_grad_(), torch.from_numpy(labels)

    def step():
        loss = torch.nn.functional.cross_entropy(tl, ty)
        return torch.autograd.grad(loss, tl)
    return {"s": _timeit(torch.compile(step))}


def _bench_train():
    sys.path[:0] = [HERE, ROOT]
    import bench_train as bt
    try:
        os.rmdir(bt._CACHE)          # its import makes an empty cache dir; spawn() names the run's own
    except OSError:
        pass
    return bt


def _train_step(kind, batch, impl, threads):
    bt = _bench_train()
    if impl == "vive":
        _vive_threads(threads)
        return {"s": _timeit(bt.make_vive(kind, batch))}
    if impl == "torch":
        import torch
        run = bt.make_torch(kind, batch)
        torch.set_num_threads(threads)           # (make_torch asks for every core)
        return {"s": _timeit(run)}
    return {"s": _timeit(bt.make_jax(kind, batch))}


def child_mlp128(impl, threads):
    return _train_step("mlp", 128, impl, threads)


def child_mlp16(impl, threads):
    return _train_step("mlp", 16, impl, threads)


def child_lenet(impl, threads):
    return _train_step("lenet", 64, impl, threads)


def child_call(impl, threads):
    import timeit
    import numpy as np
    x = np.ones(8, np.float32)
    if impl == "vive":
        import compiler as cc
        f = cc.compile(lambda x: x + 1)
        f(x)
        fn = f
    else:
        def fn(x):
            return x + 1
    for _ in range(1000):
        fn(x)
    n = 100000
    return {"s": min(timeit.repeat(lambda: fn(x), number=n, repeat=7)) / n}


def _warm_up(impl):
    """'vive': the compile measured is the first of the process (it imports llvmlite and the pipeline's modules,
    which `import compiler` leaves for first use); 'vive_jit': a tiny function is compiled first, as the numbers
    before lazy imports were measured (and as jax.jit's are: its backend starts before the timed compile)."""
    if impl.startswith("vive_jit"):
        import numpy as np
        import compiler as cc
        cc.compile(lambda q: q * 3)(np.ones(3))


def child_cold_mlp(impl, threads):
    import numpy as np
    sys.path.insert(0, HERE)
    os.environ["VIVE_BENCH_NO_PEERS"] = "1"
    from bench_cpu import mlp_params
    p = mlp_params()
    r = np.random.default_rng(1)
    x = r.standard_normal((128, 784)).astype(np.float32)
    y = r.integers(0, 10, 128)
    if impl.startswith("vive"):
        import compiler as cc
        from bench_cpu import mlp_loss
        _warm_up(impl)
        f = cc.compile(cc.value_and_grad(mlp_loss))
        t0 = time.perf_counter()
        low = f.lower(p, x, y)
        return {"s": time.perf_counter() - t0, "hit": bool(low.cache_hit),
                "stages": {k: v for k, v in low.timings.items() if isinstance(v, float)}}
    import jax
    import jax.numpy as jnp

    def loss(p, x, y):
        h1 = jax.nn.relu(x @ p["w1"] + p["b1"])
        h2 = jax.nn.relu(h1 @ p["w2"] + p["b2"])
        z = h2 @ p["w3"] + p["b3"]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), y[:, None], axis=1))
    jp = {k: jnp.asarray(v) for k, v in p.items()}
    jx, jy = jnp.asarray(x), jnp.asarray(y)
    t0 = time.perf_counter()
    jax.jit(jax.value_and_grad(loss)).lower(jp, jx, jy).compile()
    return {"s": time.perf_counter() - t0}


def child_cold_lenet(impl, threads):
    import numpy as np
    bt = _bench_train()
    if impl.startswith("vive"):
        import compiler as cc
        _warm_up(impl)
        step, opt = bt.vive_step_fn("lenet")
        f = cc.compile(step)
        params = bt.init("lenet")
        x, y = bt.data("lenet", 64)
        t0 = time.perf_counter()
        f.lower(params, opt.init(params), x, y, np.array(0, np.int64))
        return {"s": time.perf_counter() - t0}
    # jax: the first call of make_jax's jitted step is trace + compile + one run; the run is subtracted
    run = bt.make_jax("lenet", 64)
    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    return {"s": first - _timeit(run, 0.5)}


def child_import(impl, threads):
    t0 = time.perf_counter()
    if impl == "vive":
        import compiler  # noqa: F401
    else:
        import numpy  # noqa: F401
    return {"s": time.perf_counter() - t0}


def child_disk(impl, threads):
    """The MLP value_and_grad compiled from a warm disk cache in a fresh process: 'vive' is the first compile of the
    process (it loads llvmlite), 'warm' the same with the JIT already loaded by an earlier compile."""
    import numpy as np
    if impl == "warm":
        import compiler as cc
        cc.compile(lambda q: q * 3)(np.ones(3))
    r = child_cold_mlp("vive", threads)
    if not r["hit"]:
        r["s"] = float("nan")          # the cache was not warm: no number rather than a wrong one
    return r


def child_warm(impl, threads):
    """Run once first: fills the bytecode cache (and imports the peers once) so no measured process compiles
    Python source."""
    sys.path[:0] = [HERE, ROOT]
    import numpy as np
    import compiler as cc
    cc.compile(lambda q: q * 3)(np.ones(3))
    import bench_cpu  # noqa: F401  (imports torch and jax when installed)
    import bench_train  # noqa: F401
    return {"s": 0.0}


CHILDREN = {name[len("child_"):]: fn for name, fn in list(globals().items()) if name.startswith("child_")}


_RUN_CACHE = []      # the run's disk-cache directory (steady-state children share it; cold ones get their own)


def spawn(child, impl, threads, env=None, timeout=900):
    env = dict(os.environ, **(env or {}))
    if _RUN_CACHE:
        env.setdefault("VIVE_CACHE_DIR", _RUN_CACHE[0])
        # bytecode cached as an installed package has it (an environment with PYTHONDONTWRITEBYTECODE=1 would
        # otherwise compile every module from source in every process: 2-3x the import time)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(_RUN_CACHE[0], "pycache")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("VIVE_DEBUG", None)
    if threads == 1:
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", child, impl, str(threads)],
                       capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1][:160]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def median_of(child, impls, threads, reps, env=None, setup=None):
    """{impl: [results]}: `reps` fresh processes each, alternating impls."""
    out = {i: [] for i in impls}
    for _ in range(reps):
        for impl in impls:
            extra = setup(impl) if setup else None
            out[impl].append(spawn(child, impl, threads, dict(env or {}, **(extra or {}))))
    return out


def _med(results):
    vals = [r["s"] for r in results if "s" in r and r["s"] == r["s"]]
    return statistics.median(vals) if vals else None


def _err(results):
    return next((r["error"] for r in results if "error" in r), "no result")


def fmt(s):
    if s is None:
        return "—"
    return f"{s * 1e9:.0f} ns" if s < 1e-5 else f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.1f} ms"


def busy_core():
    """A process spinning on the last core (the 'one core busy' row); the caller kills it by its pid."""
    cores = sorted(os.sched_getaffinity(0))
    code = f"import os; os.sched_setaffinity(0, {{{cores[-1]}}})\nwhile True: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def machine():
    import llvmlite.binding as llvm
    try:
        model = next((ln.split(":", 1)[1].strip() for ln in subprocess.run(["lscpu"], capture_output=True,
                      text=True).stdout.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        model = "?"
    return llvm.get_host_cpu_name(), model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 processes per cell")
    ap.add_argument("--reps", type=int, help="fresh processes per cell (default 5; --quick 3)")
    ap.add_argument("--only", help="comma-separated rows: chain,softmax,mlp128,mlp16,lenet,busy,call,cold,import")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a, _ = ap.parse_known_args(argv)
    if a.child:
        name, impl, threads = a.child
        _setup_threads(int(threads))
        res = CHILDREN[name](impl, int(threads))
        if int(threads) >= 2 and isinstance(res, dict) and "s" in res:
            # where the host had the two vCPUs just now (core_latency.py): 2-thread times follow it
            sys.path[:0] = [HERE, ROOT]
            from core_latency import round_trip_ns
            res["rt_ns"] = round_trip_ns(20_000)
        print(json.dumps(res))
        return
    with tempfile.TemporaryDirectory(prefix="vive-issue13-") as d:
        _RUN_CACHE[:] = [d]
        return table(a)


def table(a):
    reps = a.reps or (3 if a.quick else 5)
    only = set(a.only.split(",")) if a.only else None
    cpu, model = machine()
    threads = len(os.sched_getaffinity(0))
    print(f"issue 13 table: {model} (LLVM host cpu {cpu}), {threads} cores usable; "
          f"load average {os.getloadavg()[0]:.2f} at start; median of {reps} fresh processes per cell")
    warm = spawn("warm", "all", 2)
    if "error" in warm:
        print(f"warm-up failed: {warm['error']}")
    print("bytecode cache on (a fresh PYTHONPYCACHEPREFIX, filled by one warm-up process), as an installed package "
          "has it")
    print(f"{'workload':<58} {'peer':<14} {'vive':>10} {'peer t':>10} {'ratio':>8}  target")
    rows = []

    def row(name, peer, vive_s, peer_s, ratio, target, note=""):
        rs = "—" if ratio is None else f"{ratio:.2f}x"
        line = f"{name:<58} {peer:<14} {fmt(vive_s):>10} {fmt(peer_s):>10} {rs:>8}  {target}{note}"
        rows.append(line)
        print(line, flush=True)

    def versus(key, title, child, peer_impl, peer_name, thr, target, note_fn=None):
        if only and key not in only:
            return None
        res = median_of(child, ["vive", peer_impl], thr, reps)
        v, p = _med(res["vive"]), _med(res[peer_impl])
        note = ""
        if v is None or p is None:
            note = f"  ({_err(res['vive'] if v is None else res[peer_impl])})"
        elif note_fn:
            note = note_fn(v, res)
        rts = [r["rt_ns"] for rs in res.values() for r in rs if r.get("rt_ns")]
        if thr >= 2 and rts:
            note += f"  (core round trip {min(rts):.0f}-{max(rts):.0f} ns, median {statistics.median(rts):.0f})"
        row(title, peer_name, v, p, p / v if v and p else None, target, note)
        return v

    def chain_note(v, res):
        cp = median_of("chain", ["copy"], 2, max(1, reps // 2))["copy"]
        bw = _med([{"s": r["bytes"] / r["s"]} for r in cp if "s" in r])
        mine = res["vive"][0].get("bytes", 0) / v
        return f"  ({mine / 1e9:.1f} GB/s = {mine / bw * 100:.0f}% of copy bandwidth)" if bw else ""

    versus("chain", "fused chain tanh(x*a+b)*logistic(x)+0.5x², 4M f32, 2 thr", "chain", "jax", "jax.jit", 2,
           ">= 1.3x, >= 80% copy bw", chain_note)
    versus("softmax", "softmax + cross-entropy fwd+bwd (4096,1000), 2 thr", "softmax", "torch", "torch.compile",
           2, ">= 1.3x")
    versus("mlp128", "MLP 784-256-256-10 SGD step, batch 128, 2 thr", "mlp128", "jax", "jax.jit", 2, ">= 1.3x")
    versus("mlp16", "MLP step, batch 16, 1 thread", "mlp16", "jax", "jax.jit", 1, ">= 1.5x")
    versus("lenet", "LeNet-5 SGD step, batch 64, 2 thr", "lenet", "torch", "torch eager", 2, ">= 1.2x")
    versus("lenet", "LeNet-5 SGD step, batch 64, 1 thread", "lenet", "torch", "torch eager", 1, ">= 1.2x")
    if not only or "busy" in only:
        res = median_of("lenet", ["vive"], 2, reps)
        idle = _med(res["vive"])
        busy = []
        for _ in range(reps):
            hog = busy_core()
            try:
                busy.append(spawn("lenet", "vive", 2))
            finally:
                hog.kill()
                hog.wait()
        b = _med(busy)
        row("LeNet-5 step, one core busy (vs itself idle), 2 thr", "vive idle", b, idle,
            b / idle if b and idle else None, "<= 1.2x slower", "  (ratio = busy / idle: lower is better)")
    versus("call", "compiled x + 1 on 8 f32, per call", "call", "numpy", "NumPy", 2, ">= 1.0x")
    with tempfile.TemporaryDirectory() as cold_dir:
        # the kernel library (the own gemm kernels, compiled once per machine by `vive warm`, which `make install`
        # runs) is in every fresh cache but the "nolib" one's: that is a machine's very first compile
        library = os.path.join(cold_dir, "library")
        subprocess.run([sys.executable, "-m", "compiler.cli", "warm", "-q"], env=dict(
            os.environ, VIVE_CACHE_DIR=library, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")),
            check=True, timeout=600)

        def fresh_cache(impl):
            d = tempfile.mkdtemp(dir=cold_dir)
            if not impl.endswith("nolib"):
                shutil.copytree(library, d, dirs_exist_ok=True)
            return {"VIVE_CACHE_DIR": d}
        for key, title, child, target in (("cold", "cold compile: MLP value_and_grad", "cold_mlp", "<= 60 ms"),
                                          ("cold", "cold compile: LeNet-5 step, batch 64", "cold_lenet",
                                           "<= 150 ms")):
            if only and key not in only:
                continue
            res = median_of(child, ["vive_jit", "jax", "vive", "vive_jit_nolib"], 2, reps, setup=fresh_cache)
            v, p, first = _med(res["vive_jit"]), _med(res["jax"]), _med(res["vive"])
            nolib = _med(res["vive_jit_nolib"])
            note = (f"  (kernel library not built yet, a machine's first program: {fmt(nolib)}; first compile of a "
                    f"process, importing llvmlite and the pipeline: {fmt(first)}")
            if child == "cold_mlp" and v:
                st = [r["stages"] for r in res["vive_jit"] if "stages" in r]
                keys = ("trace", "passes", "fuse_lower", "codegen", "llvm")
                note += "; stages " + ", ".join(f"{k} {statistics.median(s.get(k, 0) for s in st) * 1e3:.0f}"
                                                for k in keys) + " ms"
            row(title + " (JIT loaded)", "jax.jit", v, p, p / v if v and p else None, target, note + ")")
    if not only or "import" in only:
        res = median_of("import", ["vive", "numpy"], 2, reps)
        v, n = _med(res["vive"]), _med(res["numpy"])
        row("import compiler (import numpy alone: peer column)", "—", v, n, None, "<= 150 ms")
        with tempfile.TemporaryDirectory() as d:
            env = {"VIVE_CACHE_DIR": d}
            spawn("cold_mlp", "vive", 2, env)               # fills the cache
            res = median_of("disk", ["vive", "warm"], 2, reps, env=env)
            v, w = _med(res["vive"]), _med(res["warm"])
            row("compile MLP value_and_grad from the disk cache", "—", v, None, None, "<= 5 ms",
                f"  (first compile of the process, loads llvmlite; {fmt(w)} once the JIT is loaded)")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return rows


if __name__ == "__main__":
    main()
