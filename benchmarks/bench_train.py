"""Training-step benchmark, in one process: vive's compiled step (forward + backward + SGD-momentum update in one
native call) against a hand-written NumPy step and, when importable, PyTorch eager and jax.jit of the same step.

    .venv/bin/python benchmarks/bench_train.py            # all cases
    .venv/bin/python benchmarks/bench_train.py --quick    # shorter timing runs

Cases: MLP 784-256-256-10 at batch 128 and 16; LeNet-5 (1x32x32 input, dropout 0.25 before the last layer) at
batch 64; and the cold compile time of the LeNet-5 step (empty on-disk cache). Every implementation runs the
same model, loss (mean cross-entropy), and update (SGD, momentum 0.9, weight decay 5e-4 for LeNet), from the
same initial parameters, on float32.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
_CACHE = tempfile.mkdtemp(prefix="vive-bench-train-")
os.environ.setdefault("VIVE_CACHE_DIR", _CACHE)          # cold compiles are really cold

import compiler as cc  # noqa: E402
import numpy_steps  # noqa: E402

nn = cc.nn
LR, MU = 0.01, 0.9
LENET_WD, LENET_RATE = 5e-4, 0.25


# ---- the models, written once for vive ----

def mlp(params, x):
    n = len(params) // 2
    h = x
    for i in range(1, n + 1):
        h = nn.dense(h, params[f"w{i}"], params[f"b{i}"])
        if i < n:
            h = nn.relu(h)
    return h


def lenet5(params, x, key, rate):
    h = nn.max_pool2d(nn.relu(nn.conv2d(x, params["conv1_w"], params["conv1_b"])))
    h = nn.max_pool2d(nn.relu(nn.conv2d(h, params["conv2_w"], params["conv2_b"])))
    h = h.reshape(h.shape[0], -1)
    h = nn.relu(nn.dense(h, params["fc1_w"], params["fc1_b"]))
    h = nn.relu(nn.dense(h, params["fc2_w"], params["fc2_b"]))
    return nn.dense(nn.dropout(h, rate, key), params["fc3_w"], params["fc3_b"])


def data(kind, batch, seed=0):
    rng = np.random.default_rng(seed)
    shape = (batch, 784) if kind == "mlp" else (batch, 1, 32, 32)
    return rng.random(shape, dtype=np.float32), rng.integers(0, 10, batch).astype(np.int64)


def init(kind):
    return nn.init.mlp([784, 256, 256, 10], seed=0) if kind == "mlp" else nn.init.lenet5(seed=0)


# ---- one runner per implementation: make(kind, batch) -> run() doing one training step ----

def vive_step_fn(kind):
    if kind == "mlp":
        opt = cc.optim.sgd(LR, momentum=MU)

        def loss_fn(p, x, y, key):
            return nn.cross_entropy(mlp(p, x), y)
    else:
        opt = cc.optim.sgd(LR, momentum=MU, weight_decay=LENET_WD)

        def loss_fn(p, x, y, key):
            return nn.cross_entropy(lenet5(p, x, key, LENET_RATE), y)

    def step(params, state, x, y, key):
        loss, grads = cc.value_and_grad(loss_fn)(params, x, y, key)
        params, state = opt.update(params, grads, state)
        return params, state, loss
    return step, opt


def make_vive(kind, batch):
    step, opt = vive_step_fn(kind)
    step = cc.compile(step)
    params = init(kind)
    st = [params, opt.init(params), 0]
    x, y = data(kind, batch)

    def run():
        st[0], st[1], loss = step(st[0], st[1], x, y, np.array(st[2], np.int64))
        st[2] += 1
        return loss
    return run


def make_numpy(kind, batch):
    params = init(kind)
    vel = {k: np.zeros_like(v) for k, v in params.items()}
    x, y = data(kind, batch)
    rng = np.random.default_rng(0)
    if kind == "mlp":
        return lambda: numpy_steps.mlp_step(params, vel, x, y, LR, MU, 0.0)
    return lambda: numpy_steps.lenet_step(params, vel, x, y, LR, MU, LENET_WD, LENET_RATE, rng)


def make_torch(kind, batch):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(os.cpu_count() or 1)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in init(kind).items()}
    x, y = (torch.from_numpy(a) for a in data(kind, batch))
    opt = torch.optim.SGD(list(p.values()), lr=LR, momentum=MU, weight_decay=0.0 if kind == "mlp" else LENET_WD)

    def forward(x):
        if kind == "mlp":
            h = torch.relu(x @ p["w1"] + p["b1"])
            h = torch.relu(h @ p["w2"] + p["b2"])
            return h @ p["w3"] + p["b3"]
        h = F.max_pool2d(torch.relu(F.conv2d(x, p["conv1_w"], p["conv1_b"])), 2)
        h = F.max_pool2d(torch.relu(F.conv2d(h, p["conv2_w"], p["conv2_b"])), 2)
        h = h.reshape(h.shape[0], -1)
        h = torch.relu(h @ p["fc1_w"] + p["fc1_b"])
        h = torch.relu(h @ p["fc2_w"] + p["fc2_b"])
        return F.dropout(h, LENET_RATE, training=True) @ p["fc3_w"] + p["fc3_b"]

    def run():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(forward(x), y)
        loss.backward()
        opt.step()
        return loss
    return run


def make_jax(kind, batch):
    import jax
    import jax.numpy as jnp
    from jax import lax
    params = {k: jnp.asarray(v) for k, v in init(kind).items()}
    vel = jax.tree_util.tree_map(jnp.zeros_like, params)
    x, y = (jnp.asarray(a) for a in data(kind, batch))
    wd = 0.0 if kind == "mlp" else LENET_WD

    def forward(p, x, key):
        if kind == "mlp":
            h = jax.nn.relu(x @ p["w1"] + p["b1"])
            h = jax.nn.relu(h @ p["w2"] + p["b2"])
            return h @ p["w3"] + p["b3"]

        def conv(h, w, b):
            return lax.conv_general_dilated(h, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")) \
                + b[None, :, None, None]

        def pool(h):
            return lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        h = pool(jax.nn.relu(conv(x, p["conv1_w"], p["conv1_b"])))
        h = pool(jax.nn.relu(conv(h, p["conv2_w"], p["conv2_b"])))
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ p["fc1_w"] + p["fc1_b"])
        h = jax.nn.relu(h @ p["fc2_w"] + p["fc2_b"])
        keep = jax.random.bernoulli(key, 1 - LENET_RATE, h.shape)
        return jnp.where(keep, h / (1 - LENET_RATE), 0) @ p["fc3_w"] + p["fc3_b"]

    def loss_fn(p, x, y, key):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(forward(p, x, key)), y[:, None], axis=1))

    @jax.jit
    def step(p, v, x, y, i):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y, jax.random.fold_in(jax.random.PRNGKey(0), i))
        v = jax.tree_util.tree_map(lambda v, g, p: MU * v + g + wd * p, v, g, p)
        p = jax.tree_util.tree_map(lambda p, v: p - LR * v, p, v)
        return p, v, loss

    st = [params, vel, 0]

    def run():
        st[0], st[1], loss = step(st[0], st[1], x, y, st[2])
        st[2] += 1
        return loss.block_until_ready()
    return run


IMPLS = {"vive": make_vive, "numpy": make_numpy, "torch": make_torch, "jax.jit": make_jax}


def available():
    out = ["vive", "numpy"]
    for mod, name in (("torch", "torch"), ("jax", "jax.jit")):
        try:
            __import__(mod)
            out.append(name)
        except ImportError:
            print(f"({mod} not importable: skipped; `pip install -e .[bench]` adds it)")
    return out


def timeit(run, budget=1.0, reps=9):
    """Seconds per call: the best of `reps` timed blocks after warm-up (the first calls compile). The best block
    rather than the median, because a 2-core machine shared with other work inflates the rest."""
    for _ in range(3):
        run()
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < budget / reps or n < 2:
        run()
        n += 1
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(n):
            run()
        times.append((time.perf_counter() - t0) / n)
    return min(times)


def fmt(t):
    return f"{t * 1e6:8.0f} us" if t < 1e-3 else f"{t * 1e3:8.2f} ms"


def cold_compile_lenet(batch=64):
    """Seconds to trace + differentiate + optimize + codegen + JIT the LeNet-5 step with an empty cache."""
    cache = tempfile.mkdtemp(prefix="vive-cold-")
    old = os.environ.get("VIVE_CACHE_DIR")
    os.environ["VIVE_CACHE_DIR"] = cache
    try:
        step, opt = vive_step_fn("lenet")
        f = cc.compile(step)
        params = init("lenet")
        x, y = data("lenet", batch)
        t0 = time.perf_counter()
        lowered = f.lower(params, opt.init(params), x, y, np.array(0, np.int64))
        secs = time.perf_counter() - t0
        kernels = getattr(lowered, "kernels", None)
        kernels = getattr(kernels, "kernels", kernels)
        return secs, (len(kernels) if kernels is not None else None)
    finally:
        if old is None:
            os.environ.pop("VIVE_CACHE_DIR", None)
        else:
            os.environ["VIVE_CACHE_DIR"] = old
        shutil.rmtree(cache, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter timing runs")
    ap.add_argument("--impl", action="append", help="only these implementations (repeatable)")
    ap.add_argument("--case", action="append", choices=["mlp128", "mlp16", "lenet64", "compile"],
                    help="only these cases (repeatable)")
    args = ap.parse_args(argv)
    budget = 0.4 if args.quick else 1.5
    impls = [i for i in available() if not args.impl or i in args.impl]
    print(f"training step (forward + backward + SGD momentum), float32, {os.cpu_count()} CPU cores; "
          f"numpy {np.__version__}")
    results = {}
    for kind, batch in (("mlp", 128), ("mlp", 16), ("lenet", 64)):
        if args.case and f"{kind}{batch}" not in args.case:
            continue
        title = f"MLP 784-256-256-10, batch {batch}" if kind == "mlp" else f"LeNet-5 1x32x32, batch {batch}"
        print(f"\n{title}")
        row = {}
        for name in impls:
            try:
                row[name] = timeit(IMPLS[name](kind, batch), budget)
            except Exception as e:                      # one broken baseline must not hide the others
                print(f"  {name:8s} failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
                continue
            print(f"  {name:8s} {fmt(row[name])}/step", flush=True)
        if "vive" in row:
            others = ", ".join(f"{n} {row[n] / row['vive']:.2f}x" for n in row if n != "vive")
            print(f"  vive speedup: {others}  (other's time / vive's; > 1 means vive is faster)")
        results[(kind, batch)] = row
    if "vive" in impls and (not args.case or "compile" in args.case):
        secs, k = cold_compile_lenet()
        print(f"\ncold compile of the LeNet-5 training step (batch 64): {secs * 1e3:.0f} ms, {k} kernels")
        results["cold_compile"] = secs
    return results


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(_CACHE, ignore_errors=True)
