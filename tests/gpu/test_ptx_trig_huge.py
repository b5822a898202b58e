"""sin/cos on the GPU: the exact reduction for huge |x| is an out-of-line .func behind a branch (no vector variants
there); the PTX assembles for f32 and f64 without a device."""
from __future__ import annotations

import re

import numpy as np
import pytest

import compiler as cc
from compiler.codegen import ptx_support as px


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_argument_path_is_a_called_function_in_ptx(dtype):
    low = cc.compile(lambda x: np.sin(x) + np.cos(x), backend="cuda").lower(np.ones(10, dtype))
    ptx = low.ptx()
    bits = np.dtype(dtype).itemsize * 8
    for name in ("sin", "cos"):
        assert re.search(rf"\.func\s+\(\.param \.b{bits} func_retval0\) vive_{name}_huge_f{bits}\(", ptx)
        assert re.search(rf"call(\.uni)? \(retval0\), vive_{name}_huge_f{bits},", ptx)
    assert "_v8" not in ptx                                     # CPU-only vector variants stay out
    px.assemble(ptx, "sm_80")
