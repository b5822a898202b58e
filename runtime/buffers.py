"""Big output arrays: 64-byte aligned, and reused once the arrays over them are gone (no page faults per call).

A fresh multi-MiB NumPy array is usually fresh mmap'ed memory, so the kernel that fills it first takes a page fault
per 4 KiB page: a compiled 32 MiB copy ran at ~22 GB/s that way against ~42 GB/s into memory that was already
touched. `empty` hands out blocks from a pool instead. The array it returns is a view whose base is a small lease
object; views of the array keep the array (and so the lease) alive, and when the last of them dies the lease gives
its block back. At most POOL_BYTES of idle blocks are kept; `clear()` drops them.
"""
from __future__ import annotations

import math
import threading

import numpy as np

ALIGN = 64
POOL_BYTES = 1 << 30

_lock = threading.Lock()
_idle: dict[int, list[np.ndarray]] = {}     # nbytes -> idle blocks (uint8 arrays, ALIGN-aligned)
_idle_bytes = 0


class _Lease:
    """Owner of one block while an array uses it; NumPy keeps it as the array's base."""

    __slots__ = ("block", "__array_interface__")

    def __init__(self, block, shape, dtype):
        self.block = block
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str, "data": (block.ctypes.data, False),
                                    "version": 3}

    def __del__(self):
        try:
            _give_back(self.block)
        except Exception:       # interpreter shutdown: module globals may already be gone
            pass


def _give_back(block):
    global _idle_bytes
    n = block.nbytes
    with _lock:
        if _idle_bytes + n <= POOL_BYTES:
            _idle.setdefault(n, []).append(block)
            _idle_bytes += n


def _take(n):
    global _idle_bytes
    with _lock:
        blocks = _idle.get(n)
        if blocks:
            _idle_bytes -= n
            return blocks.pop()
    raw = np.empty(n + ALIGN, np.uint8)
    off = (-raw.ctypes.data) % ALIGN
    return raw[off:off + n]


def empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array on an ALIGN-byte boundary, from the pool (like np.empty otherwise)."""
    dtype = np.dtype(dtype)
    shape = tuple(int(d) for d in shape)
    n = math.prod(shape) * dtype.itemsize
    if n == 0:
        return np.empty(shape, dtype)
    return np.asarray(_Lease(_take(n), shape, dtype))


def idle_bytes() -> int:
    """Bytes of idle blocks the pool holds now."""
    return _idle_bytes


def clear() -> None:
    """Drop every idle block (memory goes back to the allocator)."""
    global _idle_bytes
    with _lock:
        _idle.clear()
        _idle_bytes = 0
