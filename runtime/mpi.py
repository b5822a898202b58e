"""The MPI library that mpi4py loaded, made callable from JIT code: `mpi_symbols(comm)` loads it into the JIT's
symbol space and says what generated code must pass to MPI_Allreduce / MPI_Iallreduce / MPI_Wait / MPI_Wtime.

NOTE: generated code calls the MPI C API directly (no callback into Python): the handles (communicator, datatypes,
MPI_SUM) are plain values of the library's own ABI (ints in MPICH, pointers in Open MPI), read through mpi4py
with their sizes, so the same code generator serves both ABIs. A callback into Python would need the GIL in the
middle of a compiled step and cost microseconds per call.
"""
from __future__ import annotations

import os

from . import jit

_cache: dict = {}


def _loaded_libmpi() -> str | None:
    """Path of the libmpi mapped into this process (mpi4py's extension links it), from /proc/self/maps."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(None, 1)[-1]
                base = os.path.basename(path)
                if base.startswith("libmpi") and ".so" in base and "cxx" not in base and "fort" not in base:
                    return path
    except OSError:
        pass
    return None


def _handle(MPI, obj, cls):
    bits = 8 * MPI._sizeof(cls)
    v = MPI._handleof(obj) & ((1 << bits) - 1)
    return v - (1 << bits) if v >> (bits - 1) else v, bits


def mpi_symbols(comm) -> dict:
    """{'library', 'comm', 'comm_bits', 'types': {dtype name: (handle, bits)}, 'sum', 'op_bits', 'request_bytes',
    'status_bytes', 'size'} for an mpi4py communicator; the library is loaded so that JIT code naming MPI_* resolves.

    Signatures generated code may use (C int = i32): MPI_Allreduce(ptr send, ptr recv, int count, MPI_Datatype,
    MPI_Op, MPI_Comm); MPI_Iallreduce(..., MPI_Comm, MPI_Request*); MPI_Wait(MPI_Request*, MPI_Status*);
    double MPI_Wtime(void)."""
    from mpi4py import MPI
    key = MPI._handleof(comm)
    info = _cache.get(key)
    if info is not None:
        return info
    lib = _loaded_libmpi()
    if lib is None or not jit.load_library(lib):
        raise RuntimeError("MPI: cannot find the libmpi that mpi4py loaded (looked in /proc/self/maps)")
    types = {}
    for name, t in (("f32", MPI.FLOAT), ("f64", MPI.DOUBLE), ("i32", MPI.INT32_T), ("i64", MPI.INT64_T)):
        types[name] = _handle(MPI, t, MPI.Datatype)
    comm_h, comm_bits = _handle(MPI, comm, MPI.Comm)
    op_h, op_bits = _handle(MPI, MPI.SUM, MPI.Op)
    info = {"library": lib, "comm": comm_h, "comm_bits": comm_bits, "types": types, "sum": op_h, "op_bits": op_bits,
            "request_bytes": MPI._sizeof(MPI.Request), "status_bytes": MPI._sizeof(MPI.Status),
            "size": comm.Get_size(), "version": MPI.Get_library_version().splitlines()[0].strip()}
    _cache[key] = info
    return info
