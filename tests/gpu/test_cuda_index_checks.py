"""Index checks on the GPU: the PTX kernels write the status word, the cuda runtime reads it after the launches
(marked gpu: run where a device is present; the PTX itself is checked in tests/test_index_checks.py)."""
from __future__ import annotations

import numpy as np
import pytest

import compiler as cc

needs_gpu = pytest.mark.gpu                      # skipped with the reason by conftest.py where no device is usable


@needs_gpu
def test_gather_out_of_range_raises_on_the_gpu():
    f = cc.compile(lambda t, i: t[i] * 2.0, backend="cuda")
    t = np.arange(1000, dtype=np.float32)
    i = np.random.default_rng(0).integers(-1000, 1000, 1 << 16)
    np.testing.assert_array_equal(f(t, i), t[i] * 2.0)
    bad = i.copy()
    bad[12345] = 1003
    with pytest.raises(IndexError, match="index 1003 is out of bounds for axis 0 with size 1000"):
        f(t, bad)
    np.testing.assert_array_equal(f(t, i), t[i] * 2.0)          # a fresh status per call
    with pytest.raises(IndexError, match="index 1003"):
        f(cc.cuda.to_device(t), bad)                             # device-resident arguments too


@needs_gpu
def test_cross_entropy_labels_on_the_gpu():
    f = cc.compile(cc.value_and_grad(cc.nn.cross_entropy), backend="cuda")
    logits = np.zeros((4, 3), np.float32)
    v, g = f(logits, np.array([0, 1, 2, -1]))
    np.testing.assert_allclose(v, np.log(3), rtol=1e-6)
    with pytest.raises(IndexError, match="index 3 is out of bounds for axis 1 with size 3"):
        f(logits, np.array([0, 1, 3, 2]))
