"""The clock of profiling builds (backends/profile.py): i64 @vive.now(), CLOCK_MONOTONIC in nanoseconds."""
from __future__ import annotations

from llvmlite import ir

from .scalar import I32T, I64T

_PTR = ir.PointerType()
_CLOCK_MONOTONIC = 1


def clock_fn(module):
    """i64 @vive.now() of the module (made once): libc's clock_gettime (vDSO, ~20 ns), the clock Python's
    time.perf_counter_ns() reads on Linux, so native and Python timestamps share one time line."""
    fn = module.globals.get("vive.now")
    if fn is not None:
        return fn
    cg = module.globals.get("clock_gettime")
    if cg is None:
        cg = ir.Function(module, ir.FunctionType(I32T, [I32T, _PTR]), "clock_gettime")
    fn = ir.Function(module, ir.FunctionType(I64T, []), "vive.now")
    fn.linkage = "internal"
    # NOTE: a call the optimizer cannot see into: no load or store of a kernel moves across a stamp
    fn.attributes.add("noinline")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    pair = ir.ArrayType(I64T, 2)                    # struct timespec {i64 tv_sec; i64 tv_nsec} on x86-64 Linux
    ts = b.alloca(pair, name="ts")
    b.call(cg, [ir.Constant(I32T, _CLOCK_MONOTONIC), ts])
    sec = b.load(b.gep(ts, [ir.Constant(I32T, 0), ir.Constant(I32T, 0)], source_etype=pair), typ=I64T)
    nsec = b.load(b.gep(ts, [ir.Constant(I32T, 0), ir.Constant(I32T, 1)], source_etype=pair), typ=I64T)
    b.ret(b.add(b.mul(sec, ir.Constant(I64T, 1_000_000_000)), nsec))
    return fn
