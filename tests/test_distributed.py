"""compiler.distributed: collectives in a world of one (here), the bucketing pass, and real MPI jobs of two ranks
launched with `mpiexec -n 2` (tests/mpi_worker.py; the `mpi` extra, part of `test`, provides mpiexec)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import compiler as cc
from compiler import distributed as dist
from compiler.passes import collective as pcoll
from compiler.primitives import REGISTRY
from helpers import assert_same_result

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _mlp_loss(params, x, y):
    h = np.tanh(x @ params["w1"] + params["b1"])
    return cc.nn.cross_entropy(h @ params["w2"] + params["b2"], y)


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {"w1": (rng.standard_normal((6, 16)) * 0.5).astype(np.float32), "b1": np.zeros(16, np.float32),
            "w2": (rng.standard_normal((16, 3)) * 0.5).astype(np.float32), "b2": np.zeros(3, np.float32)}


# ---- a world of one: no launcher, no init(): rank 0 of 1, collectives are the identity ----

def test_world_of_one_is_identity_eager_and_compiled():
    assert (dist.rank(), dist.size()) == (0, 1)
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    tree = {"a": x, "b": [x * 2]}
    for out in (dist.all_sum(tree), dist.all_mean(tree), cc.compile(dist.all_sum)(tree)):
        np.testing.assert_array_equal(out["a"], x)
        np.testing.assert_array_equal(out["b"][0], x * 2)
    # the pass removes them: no kernel at all is left for the collective
    low = cc.compile(lambda v: dist.all_mean(v) * 3.0).lower(x)
    assert all(k.kind != "mpi" for k in low.kernels.kernels)
    np.testing.assert_allclose(low(x), x * 3.0)


def test_grad_through_all_mean_and_all_sum_is_linear():
    # d/dw of sum(all_mean(x @ w)^2) in a world of one equals the plain gradient; check_grads checks both modes
    x = np.random.default_rng(0).standard_normal((4, 3))
    w = np.random.default_rng(1).standard_normal((3, 2))
    cc.check_grads(lambda w: (dist.all_mean(x @ w) ** 2).sum() + dist.all_sum(w).sum(), (w,), order=2)
    g = cc.compile(cc.grad(lambda w: (dist.all_sum(x @ w) ** 2).sum()))(w)
    np.testing.assert_allclose(g, 2 * x.T @ (x @ w), rtol=1e-12)


def test_all_mean_of_integers_is_a_dtype_error():
    with pytest.raises(cc.DTypeError, match="all_mean"):
        dist.all_mean(np.arange(3))
    with pytest.raises(cc.DTypeError, match="all_sum"):
        dist.all_sum(np.array([True]))


def test_minibatches_shards_concatenate_to_the_global_batch():
    x, y = np.arange(40).reshape(20, 2), np.arange(20)
    whole = list(cc.data.minibatches((x, y), 8, seed=3, epoch=1))
    parts = [list(cc.data.minibatches((x, y), 8, seed=3, epoch=1, rank=r, size=2)) for r in range(2)]
    assert len(parts[0]) == len(parts[1]) == len(whole)
    for i, (xb, yb) in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([parts[0][i][0], parts[1][i][0]]), xb)
        np.testing.assert_array_equal(np.concatenate([parts[0][i][1], parts[1][i][1]]), yb)
    with pytest.raises(ValueError, match="rank"):
        next(cc.data.minibatches(x, 4, rank=2, size=2))


def test_data_parallel_step_resumes_bit_identically(tmp_path):
    opt = cc.optim.sgd(0.1, momentum=0.9)
    step = dist.data_parallel_step(_mlp_loss, opt)
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((64, 6)).astype(np.float32), rng.integers(0, 3, 64)

    def run(params, state, start, stop, ckpt=None):
        for i, (xb, yb) in enumerate(cc.data.minibatches((X, Y), 16, seed=1, epoch=0)):
            if start <= i < stop:
                params, state, _ = step(params, state, xb, yb)
                if ckpt and i == 1:
                    cc.save(ckpt, {"params": params, "state": state, "step": np.array(i + 1)})
        return params, state
    p0 = _params()
    straight, _ = run(p0, opt.init(p0), 0, 4, ckpt=tmp_path / "c.npz")
    saved = cc.load(tmp_path / "c.npz")
    resumed, _ = run(saved["params"], saved["state"], int(saved["step"]), 4)
    for k in straight:
        assert straight[k].tobytes() == resumed[k].tobytes()


# ---- the bucketing pass, with the world size pretended (the interpreter's all-reduce is then the identity) ----

def _pretend_world(monkeypatch, n):
    monkeypatch.setattr(pcoll, "world_size", lambda: n)


def test_bucket_pass_packs_starts_early_and_waits_late(monkeypatch):
    _pretend_world(monkeypatch, 2)

    def f(a, b, c):
        g1 = np.tanh(a) * 2.0            # ready first
        g2 = np.exp(b)
        s1, s2 = dist.all_sum((g1, g2), bucket_bytes=16)
        later = (c @ c.T).sum()          # independent work the reductions can overlap
        return s1.sum() + s2.sum() + later
    x = np.ones((2, 2), np.float32)
    g = cc.trace(f, x, x, x)
    out = pcoll.bucket_all_reduce(g)
    names = [n.prim.name for n in out.nodes]
    assert names.count("allreduce_start") == 2 and names.count("allreduce_wait") == 2   # 16 bytes: one each
    assert "all_sum" not in names
    first_wait = names.index("allreduce_wait")
    assert names.index("dot_general") < first_wait             # the matmul runs while the reductions fly
    assert max(i for i, m in enumerate(names) if m == "allreduce_start") < names.index("dot_general")
    assert_same_result(g, out)
    # one bucket when it fits
    one = pcoll.bucket_all_reduce(cc.trace(lambda a, b: dist.all_sum((a, b)), x, x))
    assert [n.prim.name for n in one.nodes].count("allreduce_start") == 1


def test_blocking_mode_posts_at_the_wait(monkeypatch):
    _pretend_world(monkeypatch, 2)
    x = np.ones((3,), np.float32)
    g = cc.trace(lambda a, c: dist.all_sum(np.tanh(a), overlap=False) + (c * 2.0).sum(), x, x)
    names = [n.prim.name for n in pcoll.bucket_all_reduce(g).nodes]
    assert names.index("allreduce_start") == names.index("allreduce_wait") - 1


def test_all_mean_scales_by_world_size(monkeypatch):
    _pretend_world(monkeypatch, 4)
    x = np.ones((3,), np.float32)
    g = cc.trace(lambda a: dist.all_mean(a), x)
    out = pcoll.bucket_all_reduce(g)
    np.testing.assert_allclose(cc.interpret(out, x)[0], x / 4)     # interpreter: all-reduce of one process


def test_cuda_backend_refuses_all_reduce_across_ranks(monkeypatch):
    import importlib
    build = importlib.import_module("compiler.backends.build")
    monkeypatch.setattr(build, "world_size", lambda: 2)
    f = cc.compile(lambda v: dist.all_sum(v) * 2.0, backend="cuda")
    with pytest.raises(cc.BackendError, match="CPU backend only"):
        f.lower(np.ones(3, np.float32)).ptx()


def test_importing_vive_never_imports_mpi4py():
    code = ("import sys; sys.modules['mpi4py'] = None; import numpy as np; import compiler as cc; "
            "from compiler import distributed as d; "
            "print(d.size(), float(cc.compile(lambda v: d.all_mean(v).sum())(np.ones(3))))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env["PYTHONPATH"] = ROOT
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "3.0"]


def test_every_collective_is_registered():
    for name in ("all_sum", "all_mean", "allreduce_start", "allreduce_wait"):
        assert name in REGISTRY


# ---- real MPI jobs: two ranks ----

def _mpiexec():
    """mpiexec next to this Python first (the venv of the `mpi` extra), then PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.access(here, os.X_OK) else shutil.which("mpiexec")


def _launch(args, timeout, env=None):
    pytest.importorskip("mpi4py")
    exe = _mpiexec()
    if exe is None:
        pytest.skip("no mpiexec (pip install 'vive[mpi]')")
    e = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1",
             OPENBLAS_NUM_THREADS="1", **(env or {}))
    t0 = time.monotonic()
    p = subprocess.run([exe, "-n", "2", sys.executable, os.path.join(HERE, "mpi_worker.py")] + args,
                       capture_output=True, text=True, timeout=timeout, env=e, cwd=ROOT)
    return p, time.monotonic() - t0


def test_two_ranks_match_one_process_on_the_whole_batch(tmp_path):
    out = str(tmp_path / "dp.json")
    p, _ = _launch(["dp", out], timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.load(open(out))
    assert r["size"] == 2
    assert not r["equal_before_broadcast"] and r["equal_after_broadcast"] and r["broadcast_is_rank0"]
    assert r["eager_all_sum_err"] < 1e-12
    assert r["eager_scalar"] == [[], 0.5]               # mean of ranks 0 and 1, a scalar stays a scalar
    assert r["compiled_all_sum_err"] < 1e-6 and r["compiled_all_sum_int"] == [1] * 5
    assert r["symbolic_kernels"] == ["allreduce"] and r["symbolic_err"] < 1e-12
    for mode in ("overlap", "small_buckets", "blocking"):
        # 5 steps of SGD with momentum on half batches each == one process on the whole batches
        assert r[f"{mode}_max_diff"] < 1e-5, (mode, r[f"{mode}_max_diff"])
        assert r[f"{mode}_ranks_equal"], mode
        assert r[f"{mode}_loss0_vs_ref"] < 1e-6
    assert r["small_buckets_kernels"] > r["overlap_kernels"] >= 2     # 64-byte buckets: several all-reduces
    assert r["resume_bit_identical"]
    tr = json.load(open(out + ".trace.json"))["traceEvents"]
    assert {e["pid"] for e in tr if e["ph"] == "X"} == {0, 1}
    assert any(e["name"].startswith("all-reduce bucket") for e in tr)
    assert r["timeline"]["comm_ms"] >= r["timeline"]["wait_ms"] >= 0


@pytest.mark.parametrize("kind", ["raise", "exit", "kill"])
def test_failing_rank_ends_the_job_nonzero_and_names_the_rank(kind):
    # rank 1 raises, exits, or is SIGKILLed before step 2 while rank 0 goes on into the next all-reduce
    p, seconds = _launch([kind], timeout=60, env={"VIVE_MPI_EXIT_TIMEOUT": "3"})
    assert p.returncode != 0
    assert seconds < 60
    if kind != "kill":          # (a killed rank runs no Python: mpiexec reports the dead process itself)
        assert "rank 1 of 2" in p.stderr, p.stderr
    if kind == "raise":
        assert "injected failure" in p.stderr


def test_memory_plan_keeps_in_flight_buffers(monkeypatch):
    # no kernel between a bucket's post and its wait may write where MPI still reads (send) or writes (recv)
    import importlib
    from compiler.ir.kernel import Collective
    build = importlib.import_module("compiler.backends.build")
    _pretend_world(monkeypatch, 2)

    def f(w1, w2, x):
        g = cc.grad(lambda p: (np.tanh(np.tanh(x @ p[0]) @ p[1]) ** 2).sum())((w1, w2))
        g = dist.all_sum(g, bucket_bytes=64)
        return w1 - 0.1 * g[0], w2 - 0.1 * g[1]
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((8, 8)).astype(np.float32), rng.standard_normal((8, 4)).astype(np.float32),
            rng.standard_normal((16, 8)).astype(np.float32))
    g = cc.trace(f, *args)
    prog = build.Lowered(g, "cpu", "f", g.out_tree).kernels
    ks = prog.kernels
    colls = [(i, s) for i, k in enumerate(ks) for s in k.body if isinstance(s, Collective)]
    starts = {s.slot: (i, s) for i, s in colls if s.op == "start"}
    waits = {s.slot: i for i, s in colls if s.op == "wait"}
    assert len(starts) == len(waits) == 2
    assert "mpi_start<f32>" in str(prog) and "mpi_wait<f32>" in str(prog)
    overlapped = 0
    for slot, (i0, s) in starts.items():
        busy = {s.send.slot, s.recv.slot}
        assert s.send.slot != s.recv.slot
        for k in ks[i0 + 1:waits[slot]]:
            overlapped += 1
            assert not busy & {b.slot for b in k.writes}, (slot, k.name)
    assert overlapped > 0          # the first bucket (w2's gradient) is posted before w1's gradient is computed
