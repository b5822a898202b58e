"""runtime.buffers: big outputs are 64-byte aligned and their blocks are reused once no array uses them."""
from __future__ import annotations

import gc
import threading

import numpy as np

from helpers import run_in_threads
from runtime import buffers


def test_empty_is_aligned_contiguous_and_writable():
    a = buffers.empty((3, 1000, 7), np.float32)
    assert a.shape == (3, 1000, 7) and a.dtype == np.float32
    assert a.flags.c_contiguous and a.flags.writeable and a.ctypes.data % buffers.ALIGN == 0
    a[...] = 2.5
    assert float(a.sum()) == 2.5 * a.size
    assert buffers.empty((0, 4), np.float64).shape == (0, 4)


def test_block_returns_to_the_pool_only_when_every_view_is_gone():
    buffers.clear()
    a = buffers.empty((1 << 18,), np.float32)
    addr = a.ctypes.data
    view = a[10:20].reshape(2, 5)
    del a
    gc.collect()
    assert buffers.idle_bytes() == 0                  # the view still uses the block
    b = buffers.empty((1 << 18,), np.float32)
    assert b.ctypes.data != addr
    view[...] = 7.0                                   # and still owns its memory
    assert np.all(view == 7.0)
    del view
    gc.collect()
    assert buffers.idle_bytes() == 1 << 20
    c = buffers.empty((1 << 18,), np.float32)         # same size: the idle block comes back
    assert c.ctypes.data == addr and buffers.idle_bytes() == 0
    del b, c


def test_pool_is_bounded(monkeypatch):
    buffers.clear()
    monkeypatch.setattr(buffers, "POOL_BYTES", 3 << 20)
    arrays = [buffers.empty((1 << 18,), np.float32) for _ in range(5)]
    del arrays
    gc.collect()
    assert buffers.idle_bytes() == 3 << 20
    buffers.clear()
    assert buffers.idle_bytes() == 0


def test_threads_never_share_a_live_block():
    buffers.clear()
    barrier = threading.Barrier(4)

    def work(k):
        barrier.wait()
        for i in range(200):
            a = buffers.empty((4096,), np.float64)
            a[...] = k * 1000 + i
            assert np.all(a == k * 1000 + i), (k, i)
            del a

    run_in_threads(work)
