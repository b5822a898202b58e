"""Collectives over the processes of an MPI job: all_sum, all_mean (what users write), and the pair that the
bucketing pass makes of them (allreduce_start / allreduce_wait: a non-blocking all-reduce of one packed bucket).

NOTE: a process that no MPI launcher started (no PMI_/OMPI_/PMIX_ variables) and that never called
compiler.distributed.init() is a world of one: all_sum and all_mean are the identity there, eagerly and compiled,
and mpi4py is never imported. (JAX's psum outside pmap is an error; here a data-parallel script runs unchanged
as `python train.py` and as `mpiexec -n 4 python train.py`.)
"""
from __future__ import annotations

import os

import numpy as np

from ..errors import DTypeError, ShapeError, BackendError
from .base import Primitive
from .rules import linear, not_differentiable, elementwise_batch, unrolled

# environment variables that MPI launchers set in every rank (MPICH/Intel hydra, Open MPI, PMIx)
_LAUNCHER_VARS = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")

_world = {"comm": None}


def launched_by_mpi() -> bool:
    return any(v in os.environ for v in _LAUNCHER_VARS)


def communicator(init=False):
    """The job's communicator (mpi4py), or None in a process on its own. `init`: start MPI even without a
    launcher (a singleton world of one)."""
    comm = _world["comm"]
    if comm is None and (init or launched_by_mpi()):
        try:
            from mpi4py import MPI
        except ImportError:
            raise BackendError("distributed: this process was started by an MPI launcher (or init() was called) but "
                               "mpi4py is not installed; pip install 'vive[mpi]' (mpi4py + mpich)") from None
        comm = _world["comm"] = MPI.COMM_WORLD
    return comm


def world_size() -> int:
    comm = communicator()
    return 1 if comm is None else comm.Get_size()


def world_rank() -> int:
    comm = communicator()
    return 0 if comm is None else comm.Get_rank()


def _reducible(op, x):
    if x.dtype.is_bool or not (x.dtype.is_float or x.dtype.is_int):
        raise DTypeError(f"{op}: expects a float or integer array, got {x}")
    if op == "all_mean" and not x.dtype.is_float:
        raise DTypeError(f"all_mean: expects a float array (the mean of integers is not one), got {x}")


def _sum_shape(x, **_):
    _reducible("all_sum", x)
    return x


def _mean_shape(x, **_):
    _reducible("all_mean", x)
    return x


def allreduce_numpy(x):
    """sum over the ranks of x (a fresh array); x itself in a world of one."""
    comm = communicator()
    x = np.asarray(x)
    if not x.flags.c_contiguous:
        x = x.copy(order="C")          # (not ascontiguousarray: it makes a 0-d array 1-d)
    if comm is None or comm.Get_size() == 1:
        return x.copy()
    out = np.empty_like(x)
    comm.Allreduce(x, out)
    return out


def _mean_np(x, **_):
    n = world_size()
    s = allreduce_numpy(x)
    return s if n == 1 else (s / x.dtype.type(n)).astype(x.dtype)


# Both are linear maps of the stacked per-rank inputs x -> (S x, ..., S x) with S the sum (or mean) over ranks;
# that map is symmetric, so each is its own transpose (JAX's psum likewise) and grad through them is right.
# Params (bucket_bytes, overlap) only steer the bucketing pass (passes/collective.py).
all_sum = Primitive("all_sum", numpy=lambda x, **_: allreduce_numpy(x), shape=_sum_shape, kind="other",
                    **linear(lambda ct, x, **p: (all_sum(ct, **p),)), batch=elementwise_batch,
                    doc="Sum of x over the ranks of the MPI job; every rank gets the sum.",
                    collective="all_reduce")
all_mean = Primitive("all_mean", numpy=_mean_np, shape=_mean_shape, kind="other",
                     **linear(lambda ct, x, **p: (all_mean(ct, **p),)), batch=elementwise_batch,
                     doc="Mean of x over the ranks of the MPI job; every rank gets the mean.",
                     collective="all_reduce")


def _start_shape(flat, slot, **_):
    _reducible("allreduce_start", flat)
    if flat.ndim != 1:
        raise ShapeError(f"allreduce_start: expects a packed 1-D bucket, got {flat}")
    return flat


def _wait_shape(pending, flat, slot, **_):
    if pending != flat:
        raise ShapeError(f"allreduce_wait: pending bucket {pending} and its send buffer {flat} differ")
    return pending


# The bucketing pass's halves of one all-reduce (post-autodiff, never differentiated). allreduce_start posts a
# non-blocking all-reduce of `flat` into its result (request `slot`); allreduce_wait completes it and hands the
# sums on. NOTE: wait reads `flat` too, so the memory plan keeps the send buffer alive while MPI may read it.
# Eagerly (the reference interpreter) start is a blocking all-reduce and wait a copy.
allreduce_start = Primitive("allreduce_start", numpy=lambda flat, slot: allreduce_numpy(flat), shape=_start_shape,
                            kind="other", **not_differentiable("allreduce_start is made after differentiation"),
                            collective="split")
allreduce_wait = Primitive("allreduce_wait", numpy=lambda pending, flat, slot: pending.copy(), shape=_wait_shape,
                           kind="other", **not_differentiable("allreduce_wait is made after differentiation"),
                           collective="split")

# made by the bucketing pass after every transform; mapped lane by lane should anyone vmap them
allreduce_start.batch = unrolled(allreduce_start)
allreduce_wait.batch = unrolled(allreduce_wait)



def is_collective(prim) -> bool:
    return prim.collective is not None
