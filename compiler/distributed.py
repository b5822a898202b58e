"""Data-parallel training over MPI (extra `mpi`: mpi4py + mpich; importing vive never imports mpi4py).

    mpiexec -n 2 .venv/bin/python train.py

    import compiler as cc
    from compiler import distributed as dist
    dist.init()                                               # MPI up; a failing rank now ends the whole job
    params = dist.broadcast(params)                           # everyone starts from rank 0's parameters
    step = dist.data_parallel_step(loss, cc.optim.sgd(0.1))   # forward, backward, all-reduce, update: one call
    for xb, yb in cc.data.minibatches((x, y), 64, epoch=e, rank=dist.rank(), size=dist.size()):
        params, state, loss_value = step(params, state, xb, yb)

all_sum / all_mean are primitives (primitives/collective.py): eager calls use mpi4py, compiled steps call
MPI_Iallreduce from native code on buckets of gradients (passes/collective.py). A process that no launcher
started and that never called init() is a world of one: rank 0, size 1, all_sum is the identity.
"""
from __future__ import annotations

import atexit
import json
import os
import sys
import time

import numpy as np

from . import pytree
from .primitives import collective as _coll

__all__ = ["init", "is_initialized", "rank", "size", "barrier", "broadcast", "all_sum", "all_mean",
           "data_parallel_step", "abort", "timeline"]

# a rank that exits while others still run waits this long for them at exit, then aborts the job
EXIT_TIMEOUT_S = 30.0
_hooks = {"installed": False, "exit_comm": None, "prev_hook": None}


def init():
    """Start MPI (mpi4py) if needed and install the fault hooks; returns (rank, size). Idempotent.

    After init, an uncaught exception on any rank prints `rank R of N: <exception>` and aborts the whole job
    (MPI_Abort: every rank ends, mpiexec exits non-zero), and a rank that exits while the others have not all
    reached their exit aborts the job after VIVE_MPI_EXIT_TIMEOUT seconds (default 30): never a hang."""
    comm = _coll.communicator(init=True)
    if not _hooks["installed"]:
        _hooks["installed"] = True
        if comm.Get_size() > 1:
            # NOTE: the exit barrier runs on a communicator of its own, so it can never match a collective that
            # the other ranks are blocked in on COMM_WORLD
            _hooks["exit_comm"] = comm.Dup()
            _hooks["prev_hook"] = sys.excepthook
            sys.excepthook = _abort_on_exception
            atexit.register(_exit_barrier)
    return comm.Get_rank(), comm.Get_size()


def is_initialized() -> bool:
    return _coll._world["comm"] is not None


def rank() -> int:
    """This process's rank in the job (0 in a process on its own)."""
    return _coll.world_rank()


def size() -> int:
    """Number of processes in the job (1 in a process on its own)."""
    return _coll.world_size()


def barrier():
    comm = _coll.communicator()
    if comm is not None:
        comm.Barrier()


def abort(message="", code=1):
    """End every rank of the job now, with `message` (prefixed by this rank) on stderr."""
    comm = _coll.communicator()
    r, n = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
    if message:
        sys.stderr.write(f"vive.distributed: rank {r} of {n}: {message}\n")
    sys.stderr.flush()
    sys.stdout.flush()
    if comm is None or n == 1:
        os._exit(code)
    # NOTE: MPI_Abort makes the launcher kill every rank, its own output forwarders too: a moment's pause lets
    # the message above reach mpiexec's stderr (without it, a piped stderr lost it now and then)
    time.sleep(0.5)
    comm.Abort(code)


def _abort_on_exception(etype, value, tb):
    prev = _hooks["prev_hook"] or sys.__excepthook__
    prev(etype, value, tb)
    abort(f"raised {etype.__name__}: {value}; aborting the MPI job", code=1)


def _exit_barrier():
    exit_comm = _hooks["exit_comm"]
    if exit_comm is None:
        return
    timeout = float(os.environ.get("VIVE_MPI_EXIT_TIMEOUT", EXIT_TIMEOUT_S))
    req = exit_comm.Ibarrier()
    t0 = time.monotonic()
    while not req.Test():
        if time.monotonic() - t0 > timeout:
            abort(f"exited while other ranks kept running (they did not reach their exit within {timeout:g} s); "
                  "aborting the MPI job", code=1)
        time.sleep(0.001)


def broadcast(tree, root=0):
    """rank `root`'s values of `tree` on every rank (fresh arrays; same structure, shapes and dtypes required:
    a mismatch raises ValueError on every rank, naming the first leaf that differs). Eager only: broadcast the
    initial parameters once, outside the compiled step."""
    leaves, treedef = pytree.flatten(tree)
    arrays = [np.array(x, order="C", copy=True) for x in leaves]     # (ascontiguousarray makes 0-d 1-d)
    comm = _coll.communicator()
    if comm is None or comm.Get_size() == 1:
        return pytree.unflatten(treedef, arrays)
    mine = (repr(treedef), [(a.dtype.str, a.shape) for a in arrays])
    theirs = comm.bcast(mine, root=root)
    if mine != theirs:
        if theirs[0] != mine[0]:
            raise ValueError(f"broadcast: rank {comm.Get_rank()} has a different tree structure than rank {root}")
        i = next(i for i, (a, b) in enumerate(zip(mine[1], theirs[1])) if a != b)
        raise ValueError(f"broadcast: leaf {i} is {mine[1][i]} on rank {comm.Get_rank()} but {theirs[1][i]} "
                         f"on rank {root}")
    for a in arrays:
        comm.Bcast(a, root=root)
    return pytree.unflatten(treedef, arrays)


def _reduce_tree(prim, tree, bucket_bytes, overlap):
    params = {}
    if bucket_bytes is not None:
        params["bucket_bytes"] = int(bucket_bytes)
    if not overlap:
        params["overlap"] = False
    leaves, treedef = pytree.flatten(tree)
    return pytree.unflatten(treedef, [prim(x, **params) for x in leaves])


def all_sum(tree, *, bucket_bytes=None, overlap=True):
    """The sum over ranks of every array of `tree`, on every rank. Inside a compiled step the arrays are packed
    into buckets of `bucket_bytes` (default passes.collective.DEFAULT_BUCKET_BYTES), each all-reduced as soon
    as it is computed and waited for where first used (`overlap=False`: posted there too, a blocking
    all-reduce). Differentiable: its transpose is itself."""
    return _reduce_tree(_coll.all_sum, tree, bucket_bytes, overlap)


def all_mean(tree, *, bucket_bytes=None, overlap=True):
    """The mean over ranks of every (float) array of `tree`; see all_sum."""
    return _reduce_tree(_coll.all_mean, tree, bucket_bytes, overlap)


def data_parallel_step(loss, optimizer, *, bucket_bytes=None, overlap=True, argnums=0):
    """A compiled step(params, state, *batch) -> (params, state, loss mean over ranks): value_and_grad of
    `loss(params, *batch)` on this rank's part of the batch, gradients averaged over the ranks inside the
    compiled call, then `optimizer.update`. With parts of equal size, the mean of the ranks' mean losses is
    the mean over the whole batch, so every rank takes the step one process would take on the whole batch."""
    from .compile import compile as _compile
    from .transforms import value_and_grad

    vg = value_and_grad(loss, argnums=argnums)

    def dp_step(params, state, *batch):
        value, grads = vg(params, *batch)
        grads = all_mean(grads, bucket_bytes=bucket_bytes, overlap=overlap)
        value = all_mean(value, bucket_bytes=bucket_bytes, overlap=overlap)
        params, state = optimizer.update(params, grads, state)
        return params, state, value
    return _compile(dp_step)


def _union_ms(spans_us):
    """Length of the union of [begin, end) spans given in microseconds, in milliseconds."""
    total, end = 0.0, -float("inf")
    for b, e in sorted(spans_us):
        if e > end:
            total += e - max(b, end)
            end = e
    return total / 1e3


def timeline(fn, *args, path=None):
    """Run compiled `fn(*args)` once with its kernels timed (MPI_Wtime around each) and return
    {'events': [...], 'summary': {...}}; rank 0 writes every rank's spans to `path` as Chrome trace-event JSON
    (chrome://tracing, ui.perfetto.dev): thread 0 the kernels, thread 1 each bucket's all-reduce from its post
    to the end of its wait. summary: step_ms, kernels_ms, wait_ms (all-reduce time not hidden behind compute),
    comm_ms (wall time with some all-reduce in flight, post to completion), overlapped_ms = comm_ms - wait_ms.
    Collective call: every rank must call it. In a world of one there is no MPI and no timeline (ValueError)."""
    import ctypes
    from .codegen.llvm_mpi import trace_names
    from .backends.build import entry_name
    from .ir.kernel import Collective
    low = fn.lower(*args)
    kernels = low.kernels.kernels
    module = low._compiled_module()
    flag_name, stamps_name, done_name = trace_names(entry_name(low.name))
    try:
        flag = ctypes.c_int32.from_address(module.address(flag_name))
    except Exception:
        raise ValueError("timeline: this function does not all-reduce across several ranks (run it under "
                         "mpiexec with all_sum/all_mean inside)") from None
    stamps = (ctypes.c_double * (2 * len(kernels))).from_address(module.address(stamps_name))
    n_slots = 1 + max((s.slot for k in kernels for s in k.body if isinstance(s, Collective)), default=0)
    done = (ctypes.c_double * n_slots).from_address(module.address(done_name))
    ctypes.memset(done, 0, ctypes.sizeof(done))
    barrier()
    flag.value = 1
    try:
        low(*args)
    finally:
        flag.value = 0
    t = np.array(stamps[:])
    t0 = t[0]
    r = rank()
    events, posted = [], {}
    kernels_ms = wait_ms = blocking_ms = 0.0
    for i, k in enumerate(kernels):
        b, e = float(t[2 * i] - t0) * 1e6, float(t[2 * i + 1] - t0) * 1e6
        label = k.name
        if k.kind == "mpi":
            s = next(s for s in k.body if isinstance(s, Collective))
            label = f"{s.op} bucket {s.slot}" if s.op != "allreduce" else "allreduce (blocking)"
            if s.op == "start":
                posted[s.slot] = b
            elif s.op == "wait":
                wait_ms += (e - b) / 1e3
                # complete when an MPI_Test between kernels first saw it so, else when its wait returned
                end = (done[s.slot] - t0) * 1e6 if done[s.slot] else e
                p0 = posted.get(s.slot, b)
                events.append({"name": f"all-reduce bucket {s.slot} ({s.count} x {s.dtype.name})", "ph": "X",
                               "ts": p0, "dur": max(min(end, e) - p0, 0.0), "pid": r, "tid": 1})
            else:
                wait_ms += (e - b) / 1e3
                blocking_ms += (e - b) / 1e3
        else:
            kernels_ms += (e - b) / 1e3
        events.append({"name": label, "ph": "X", "ts": b, "dur": e - b, "pid": r, "tid": 0,
                       "args": {"kind": k.kind}})
    summary = {"rank": r, "step_ms": float(t[-1] - t0) * 1e3, "kernels_ms": kernels_ms, "wait_ms": wait_ms,
               "comm_ms": _union_ms([(e["ts"], e["ts"] + e["dur"]) for e in events if e["tid"] == 1]) + blocking_ms}
    summary["overlapped_ms"] = max(summary["comm_ms"] - wait_ms, 0.0)
    comm = _coll.communicator()
    every = comm.gather(events, root=0) if comm is not None else [events]
    if path is not None and r == 0:
        names = [{"name": "process_name", "ph": "M", "pid": i, "args": {"name": f"rank {i}"}} for i in range(len(every))]
        names += [{"name": "thread_name", "ph": "M", "pid": i, "tid": tid, "args": {"name": nm}}
                  for i in range(len(every)) for tid, nm in ((0, "kernels"), (1, "all-reduce in flight"))]
        with open(path, "w") as f:
            json.dump({"traceEvents": names + [e for ev in every for e in ev], "displayTimeUnit": "ms"}, f)
    return {"events": events, "summary": summary}
