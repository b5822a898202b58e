"""Hand-written NVPTX kernels built with compiler.codegen.ptx_support (the shapes a future codegen will emit), and a
host-JIT harness that checks the math emitters against numpy without a GPU."""
from __future__ import annotations

import ctypes
from typing import Callable

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir

from compiler.codegen import ptx_support as px

ROW_BLOCK = 256                                # threads per block of the row-reduction kernel


def elementwise_tanh_module(dtype: str = "f32") -> ir.Module:
    """ew_tanh(x, y, a, b, n): y[i] = tanh(a*x[i] + b) for i < n, grid-stride."""
    ty = px.F32 if dtype == "f32" else px.F64
    m = px.new_module("ew")
    fn = px.declare_kernel(m, "ew_tanh", [px.GLOBAL_PTR, px.GLOBAL_PTR, ty, ty, px.I64])
    x, y, a, c, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def body(b: ir.IRBuilder, i: ir.Value) -> None:
        v = px.load(b, x, i, ty)
        px.store(b, px.tanh(b, px.fma(b, a, v, c)), y, i)

    px.grid_stride_loop(b, n, body)
    b.ret_void()
    return m


def row_reduce_module() -> ir.Module:
    """row_max_sum(x, rowmax, rowsum, ncols): one block of ROW_BLOCK threads per row of a row-major f32 matrix.
    Strided accumulate, warp butterfly, then one value per warp through shared memory."""
    m = px.new_module("rows")
    fn = px.declare_kernel(m, "row_max_sum", [px.GLOBAL_PTR, px.GLOBAL_PTR, px.GLOBAL_PTR, px.I64])
    x, rmax, rsum, ncols = fn.args
    nwarps = ROW_BLOCK // px.WARP_SIZE
    smax = px.shared_array(m, "smem_max", px.F32, nwarps)
    ssum = px.shared_array(m, "smem_sum", px.F32, nwarps)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    tid = px.tid_x(b)
    row = b.zext(px.ctaid_x(b), px.I64)
    base = b.mul(row, ncols)
    entry = b.block
    head, body, done = (b.append_basic_block(s) for s in ("acc.head", "acc.body", "acc.done"))
    b.branch(head)
    b.position_at_end(head)
    j = b.phi(px.I64, "j")
    acc_max = b.phi(px.F32, "acc_max")
    acc_sum = b.phi(px.F32, "acc_sum")
    j.add_incoming(_zext(b, tid, entry), entry)
    acc_max.add_incoming(ir.Constant(px.F32, float("-inf")), entry)
    acc_sum.add_incoming(ir.Constant(px.F32, 0.0), entry)
    b.cbranch(b.icmp_signed("<", j, ncols), body, done)
    b.position_at_end(body)
    v = px.load(b, x, b.add(base, j), px.F32)
    acc_max.add_incoming(px.maximum(b, acc_max, v), body)
    acc_sum.add_incoming(b.fadd(acc_sum, v), body)
    j.add_incoming(b.add(j, ir.Constant(px.I64, ROW_BLOCK)), body)
    b.branch(head)
    b.position_at_end(done)
    wmax = px.warp_allreduce(b, acc_max, px.maximum)
    wsum = px.warp_allreduce(b, acc_sum, lambda b, p, q: b.fadd(p, q))
    lane = b.and_(tid, ir.Constant(px.I32, 31))
    warp = b.lshr(tid, ir.Constant(px.I32, 5))
    with b.if_then(b.icmp_unsigned("==", lane, ir.Constant(px.I32, 0))):
        b.store(wmax, px.shared_ptr(b, smax, warp))
        b.store(wsum, px.shared_ptr(b, ssum, warp))
    px.barrier(b)
    with b.if_then(b.icmp_unsigned("==", warp, ir.Constant(px.I32, 0))):
        # warp 0 reduces the per-warp values; lanes past nwarps contribute the identities
        has = b.icmp_unsigned("<", lane, ir.Constant(px.I32, nwarps))
        idx = b.select(has, lane, ir.Constant(px.I32, 0))
        pm = b.select(has, b.load(px.shared_ptr(b, smax, idx)), ir.Constant(px.F32, float("-inf")))
        ps = b.select(has, b.load(px.shared_ptr(b, ssum, idx)), ir.Constant(px.F32, 0.0))
        tmax = px.warp_allreduce(b, pm, px.maximum)
        tsum = px.warp_allreduce(b, ps, lambda b, p, q: b.fadd(p, q))
        with b.if_then(b.icmp_unsigned("==", lane, ir.Constant(px.I32, 0))):
            px.store(b, tmax, rmax, row)
            px.store(b, tsum, rsum, row)
    b.ret_void()
    return m


def _zext(b: ir.IRBuilder, v: ir.Value, block: ir.Block) -> ir.Value:
    """zext of v placed at the end of block (before its terminator), for a phi's incoming value."""
    with b.goto_block(block):
        return b.zext(v, px.I64)


MATH = ("exp", "expm1", "log", "tanh", "logistic", "sin", "cos", "sqrt")


def math_module(dtype: str, approx: bool = False) -> ir.Module:
    """One kernel per emitter in MATH: math_<name>(x, y, n) sets y[i] = name(x[i]), grid-stride."""
    ty = px.F32 if dtype == "f32" else px.F64
    m = px.new_module(f"math_{dtype}")
    for name in MATH:
        emit = getattr(px, name)
        fn = px.declare_kernel(m, f"math_{name}", [px.GLOBAL_PTR, px.GLOBAL_PTR, px.I64])
        x, y, n = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))

        def body(b: ir.IRBuilder, i: ir.Value, emit=emit, name=name) -> None:
            v = px.load(b, x, i, ty)
            r = emit(b, v) if name in ("sqrt", "expm1") else emit(b, v, approx=approx)
            px.store(b, r, y, i)

        px.grid_stride_loop(b, n, body)
        b.ret_void()
    return m


def host_math(name: str, dtype) -> Callable[[np.ndarray], np.ndarray]:
    """The emitter `name` JIT-compiled for the host CPU, as a numpy function: checks the math without a GPU.
    NOTE: the only NVVM intrinsic the accurate paths use, ex2.approx.f32 (f32 exp, logistic), becomes llvm.exp2.f32
    here, so those two are checked on the host up to ex2.approx's own error (~2 ulp, covered by the GPU test)."""
    ty = px.F32 if np.dtype(dtype) == np.float32 else px.F64
    m = ir.Module("host_math")
    p = ir.PointerType()
    fn = ir.Function(m, ir.FunctionType(px.VOID, [p, p, px.I64]), "f")
    x, y, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    pre = b.block
    head, body, done = (b.append_basic_block(s) for s in ("head", "body", "done"))
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(px.I64)
    i.add_incoming(ir.Constant(px.I64, 0), pre)
    b.cbranch(b.icmp_signed("<", i, n), body, done)
    b.position_at_end(body)
    px.store(b, getattr(px, name)(b, px.load(b, x, i, ty)), y, i)
    i.add_incoming(b.add(i, ir.Constant(px.I64, 1)), b.block)
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()
    text = str(m).replace('"llvm.nvvm.ex2.approx.f32"', '"llvm.exp2.f32"')
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    mod = llvm.parse_assembly(text)
    mod.verify()
    ee = llvm.create_mcjit_compiler(mod, llvm.Target.from_default_triple().create_target_machine())
    ee.finalize_object()
    cfn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(ee.get_function_address("f"))

    def run(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a, dtype)
        out = np.empty_like(a)
        cfn(a.ctypes.data, out.ctypes.data, a.size)
        return out

    run.engine = ee                            # keeps the JIT'd code alive
    return run


def math_inputs(name: str, dtype, n: int = 20000, seed: int = 0) -> np.ndarray:
    """Random points over the useful range of each function, plus a dense slice near its delicate spot."""
    rng = np.random.default_rng(seed)
    wide, near = {
        "exp": ((-100, 100), (-1, 1)), "expm1": ((-90, 85), (-1e-3, 1e-3)), "tanh": ((-12, 12), (-1e-3, 1e-3)),
        "logistic": ((-80, 80), (-1, 1)), "sin": ((-1e4, 1e4), (-4, 4)), "cos": ((-1e4, 1e4), (-4, 4)),
        "sqrt": ((0, 1e6), (0, 1)), "log": ((-80, 80), (0.9, 1.1)),
    }[name]
    a = rng.uniform(*wide, n)
    if name == "log":
        a = np.exp(a)
    x = np.concatenate([a, rng.uniform(*near, n // 10)])
    return x.astype(dtype)


NUMPY_MATH = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "tanh": np.tanh, "sin": np.sin, "cos": np.cos,
              "sqrt": np.sqrt, "logistic": lambda v: 1.0 / (1.0 + np.exp(-v))}


def max_ulp(got: np.ndarray, x: np.ndarray, name: str) -> float:
    """Largest |got - exact| in ulps of the result's dtype, exact = numpy in float64 (finite nonzero results)."""
    with np.errstate(all="ignore"):
        ref = NUMPY_MATH[name](x.astype(np.float64))
        r = ref.astype(got.dtype)
    keep = np.isfinite(r) & (r != 0) & np.isfinite(got)
    if not np.array_equal(np.isfinite(r), np.isfinite(got)):
        return float("inf")
    ulp = np.spacing(np.abs(r[keep])).astype(np.float64)
    return float(np.max(np.abs(got[keep].astype(np.float64) - ref[keep]) / ulp))
