"""Python's cyclic garbage collector paused while a program compiles.

A compile allocates hundreds of thousands of small objects (the traced graph, the passes' rewrites, llvmlite's IR
objects); each time the allocations pass the collector's thresholds it walks the young objects, and now and then all
of them, the whole process's included. Measured on LeNet-5's step (znver4): writing its LLVM IR took 58-64 ms with
the collector off and 64-178 ms with it on (a full collection in the middle). Paused, the garbage of the compile is
collected once, by the first collection after it.
"""
from __future__ import annotations

import contextlib
import gc
import threading

_LOCK = threading.Lock()
_STATE = {"depth": 0, "was_enabled": False}


@contextlib.contextmanager
def paused():
    """Collector off inside (nested and concurrent compiles count: the last one out restores it as it was)."""
    with _LOCK:
        if _STATE["depth"] == 0:
            _STATE["was_enabled"] = gc.isenabled()
            gc.disable()
        _STATE["depth"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["depth"] -= 1
            if _STATE["depth"] == 0 and _STATE["was_enabled"]:
                gc.enable()
