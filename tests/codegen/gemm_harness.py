"""Build one vive gemm kernel (compiler/codegen/llvm_gemm.py) into its own module and call it on NumPy arrays."""
from __future__ import annotations

import ctypes
import functools
import os
OPT = int(os.environ.get("GEMM_OPT", "3"))

import numpy as np
from llvmlite import ir

import runtime
from compiler.ir.types import F32, F64
from compiler.codegen.llvm_gemm import define_gemm, _fty


@functools.lru_cache(maxsize=None)
def kernel(plan, isa):
    """A ctypes function running `plan` sized for `isa` (an external wrapper around the internal kernel)."""
    t = runtime.host_target()
    mod = ir.Module(name="gemm_test")
    mod.triple, mod.data_layout = t.triple, t.data_layout
    inner = define_gemm(mod, plan, isa)
    ft = ir.FloatType() if plan.dtype is F32 else ir.DoubleType()
    outer = ir.Function(mod, _fty(ft), "gemm_entry")
    b = ir.IRBuilder(outer.append_basic_block("entry"))
    b.call(inner, list(outer.args))
    b.ret_void()
    cm = runtime.compile_module(str(mod), use_cache=False, opt=OPT)
    cf = ctypes.c_float if plan.dtype is F32 else ctypes.c_double
    i64, vp = ctypes.c_int64, ctypes.c_void_p
    proto = ctypes.CFUNCTYPE(None, i64, i64, i64, cf, vp, i64, vp, i64, cf, vp, i64)
    f = proto(cm.address("gemm_entry"))
    f._module = cm                     # keep the engine alive as long as the function
    return f


def run(plan, isa, a, b, c, alpha=1.0, beta=0.0, m=None, n=None, k=None, lda=None, ldb=None, ldc=None):
    """C = alpha op(A) op(B) + beta C in place on the (C-contiguous) buffers a, b (stored as op says) and c."""
    f = kernel(plan, isa)
    m = c.shape[0] if m is None else m
    n = c.shape[1] if n is None else n
    k = (a.shape[0] if plan.trans_a else a.shape[1]) if k is None else k
    lda = a.shape[1] if lda is None else lda
    ldb = b.shape[1] if ldb is None else ldb
    ldc = c.shape[1] if ldc is None else ldc
    f(m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb, beta, c.ctypes.data, ldc)
    return c


def dtype_of(np_dtype):
    return F32 if np.dtype(np_dtype) == np.float32 else F64
