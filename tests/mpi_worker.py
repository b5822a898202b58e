"""Run by tests/test_distributed.py under `mpiexec -n 2`: one scenario per launch (argv[1]), results as JSON in
argv[2] (written by rank 0). Not a test module itself (no test_ prefix)."""
import json
import sys

import numpy as np

import compiler as cc
from compiler import distributed as dist


def mlp_loss(params, x, y):
    h = np.tanh(x @ params["w1"] + params["b1"])
    return cc.nn.cross_entropy(h @ params["w2"] + params["b2"], y)


def init_params(seed):
    rng = np.random.default_rng(seed)
    return {"w1": (rng.standard_normal((6, 16)) * 0.5).astype(np.float32), "b1": np.zeros(16, np.float32),
            "w2": (rng.standard_normal((16, 3)) * 0.5).astype(np.float32), "b2": np.zeros(3, np.float32)}


def gathered_equal(comm, tree):
    flat = np.concatenate([np.ravel(a) for a in cc.pytree.flatten(tree)[0]])
    every = comm.allgather(flat.tobytes())
    return all(e == every[0] for e in every)


def dp(out):
    r, n = dist.init()
    comm = cc.distributed._coll.communicator()
    res = {"size": n}
    # broadcast: different parameters per rank before, rank 0's everywhere after
    mine = init_params(seed=100 + r)
    res["equal_before_broadcast"] = gathered_equal(comm, mine)
    params = dist.broadcast(mine)
    res["equal_after_broadcast"] = gathered_equal(comm, params)
    res["broadcast_is_rank0"] = bool(comm.bcast(r == 0 and True, root=0)) and gathered_equal(comm, params) and \
        np.array_equal(comm.bcast(init_params(100)["w1"] if r == 0 else None, root=0), params["w1"])
    # eager and compiled all_sum against the closed form sum_r (r + 1) x = n(n+1)/2 x
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    res["eager_all_sum_err"] = float(np.abs(dist.all_sum(x * (r + 1)) - x * n * (n + 1) / 2).max())
    sc = dist.all_mean(np.float64(r))
    res["eager_scalar"] = [list(np.shape(sc)), float(sc)]
    f = cc.compile(lambda a, b: dist.all_sum({"a": a * 2.0, "b": b}))
    got = f(x.astype(np.float32) * (r + 1), np.full(5, r, np.int64))
    res["compiled_all_sum_err"] = float(np.abs(got["a"] - 2 * x * n * (n + 1) / 2).max())
    res["compiled_all_sum_int"] = got["b"].tolist()
    # symbolic sizes: no fixed offsets in a bucket, so a blocking all-reduce of its own (the same closed form)
    fs = cc.compile(lambda a: dist.all_mean(a) * 2.0)
    fs.lower(cc.Spec("f64[N,4]"))
    res["symbolic_kernels"] = [s.op for k in fs.lower(cc.Spec("f64[N,4]")).kernels.kernels for s in k.body
                               if type(s).__name__ == "Collective"]
    res["symbolic_err"] = float(np.abs(fs(x * (r + 1)) - 2 * x * (n + 1) / 2).max())
    # 5 data-parallel steps on half batches == one process on the whole batch
    rng = np.random.default_rng(7)
    X = rng.standard_normal((5, 16, 6)).astype(np.float32)
    Y = rng.integers(0, 3, (5, 16))
    opt = cc.optim.sgd(0.1, momentum=0.9)
    ref_step = cc.compile(lambda p, s, xb, yb: opt.update(p, cc.grad(mlp_loss)(p, xb, yb), s))
    p_ref, s_ref = params, opt.init(params)
    for i in range(5):
        p_ref, s_ref = ref_step(p_ref, s_ref, X[i], Y[i])
    for name, kw in (("overlap", {}), ("small_buckets", {"bucket_bytes": 64}), ("blocking", {"overlap": False})):
        step = dist.data_parallel_step(mlp_loss, opt, **kw)
        p, s = params, opt.init(params)
        losses = []
        for i in range(5):
            xb, yb = (np.array_split(a, n)[r] for a in (X[i], Y[i]))
            p, s, loss = step(p, s, xb, yb)
            losses.append(float(loss))
        res[f"{name}_max_diff"] = max(float(np.abs(p[k] - p_ref[k]).max()) for k in p)
        res[f"{name}_ranks_equal"] = gathered_equal(comm, p)
        res[f"{name}_kernels"] = [k.kind for k in step.lower(p, s, xb, yb).kernels.kernels].count("mpi")
        res[f"{name}_loss0_vs_ref"] = abs(losses[0] - float(mlp_loss(params, X[0], Y[0])))
    # resume: 2 steps, rank 0 saves, every rank loads, 3 more steps == 5 steps straight, byte for byte
    step = dist.data_parallel_step(mlp_loss, opt)
    p, s = params, opt.init(params)
    for i in range(5):
        if i == 2:
            if r == 0:
                cc.save(out + ".ckpt.npz", {"p": p, "s": s})
            dist.barrier()
            saved = cc.load(out + ".ckpt.npz")
            p, s = saved["p"], saved["s"]
        p, s, _ = step(p, s, *(np.array_split(a, n)[r] for a in (X[i], Y[i])))
    straight, s2 = params, opt.init(params)
    for i in range(5):
        straight, s2, _ = step(straight, s2, *(np.array_split(a, n)[r] for a in (X[i], Y[i])))
    res["resume_bit_identical"] = all(p[k].tobytes() == straight[k].tobytes() for k in p)
    tl = dist.timeline(step, p, s, xb, yb, path=out + ".trace.json")
    res["timeline"] = tl["summary"]
    if r == 0:
        with open(out, "w") as fh:
            json.dump(res, fh)


def fault(kind):
    r, n = dist.init()
    opt = cc.optim.sgd(0.1)
    step = dist.data_parallel_step(mlp_loss, opt)
    p = dist.broadcast(init_params(0))
    s = opt.init(p)
    x, y = np.ones((4, 6), np.float32), np.zeros(4, np.int64)
    for i in range(1000):
        if i == 2 and r == 1:
            if kind == "raise":
                raise RuntimeError("injected failure in step 2")
            if kind == "kill":
                import os
                import signal
                os.kill(os.getpid(), signal.SIGKILL)     # no Python left to run any hook
            sys.exit(0)          # leaves rank 0 alone inside the next all-reduce
        p, s, _ = step(p, s, x, y)


if __name__ == "__main__":
    if sys.argv[1] == "dp":
        dp(sys.argv[2])
    else:
        fault(sys.argv[1])
