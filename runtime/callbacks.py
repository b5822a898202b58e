"""Calls from compiled code back into Python (cc.debug.print): a C function pointer per loaded program.

Compiled code calls `void cb(int64 site, void **ptrs, int64 *dims)` on the thread that called the program. The
fastcall entry releases the GIL around the program (abi.py); a ctypes callback takes it back itself
(PyGILState_Ensure) for the duration of the Python function, and nothing in the runtime holds a lock while compiled
code runs, so a callback cannot deadlock with another thread calling or compiling. An exception in the Python
function cannot cross the C frames: it is kept (per thread) and raised by raise_pending() once the call returns.
"""
from __future__ import annotations

import ctypes
import threading

import numpy as np

HOST_CALL = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int64))


class HostCallbacks:
    """fn(site, ptrs, dims) behind a C function pointer (`address`); keep this object alive as long as any code that
    may call it (the executable holds it)."""

    def __init__(self, fn):
        self._fn = fn
        self._tls = threading.local()
        self._c = HOST_CALL(self._call)
        self.address = ctypes.cast(self._c, ctypes.c_void_p).value

    def _call(self, site, ptrs, dims):
        if getattr(self._tls, "error", None) is not None:
            return                      # one failure per call is enough: later sites of the same call stay quiet
        try:
            self._fn(site, ptrs, dims)
        except BaseException as e:      # noqa: BLE001 - re-raised by raise_pending on the caller's side
            self._tls.error = e

    def raise_pending(self):
        e = getattr(self._tls, "error", None)
        if e is not None:
            self._tls.error = None
            raise e


def array_at(address, shape, dtype) -> np.ndarray:
    """A copy of the C-contiguous array of `shape` and `dtype` at `address` (a buffer compiled code passed)."""
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if n == 0:
        return np.empty(shape, dtype)
    raw = (ctypes.c_char * n).from_address(address)
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


__all__ = ["HostCallbacks", "array_at", "HOST_CALL"]
