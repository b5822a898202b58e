"""GPU test setup: tests marked `gpu` (alias `needs_gpu`) are skipped, with the reason shown, where no CUDA device
is usable; everything else here runs on any machine."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))   # gpu_kernels

from runtime import cuda  # noqa: E402

needs_gpu = pytest.mark.gpu                        # test modules: `needs_gpu = pytest.mark.gpu`, same marker


def pytest_collection_modifyitems(config, items):
    gpu_items = [it for it in items if it.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    ok, reason = cuda.available()                  # cached by runtime.cuda; ~0.1 s without a driver
    if not ok:
        skip = pytest.mark.skip(reason=f"needs a CUDA GPU: {reason}")
        for it in gpu_items:
            it.add_marker(skip)

