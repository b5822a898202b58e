"""How reductions accumulate: the accumulator type of each reduction (f32 sums run in f64) and the casts around it.

NOTE: long f32 sums accumulate in f64 on every backend (the casts are in the kernel IR, so the CPU and the PTX
code share the scheme). A serial or vector-lane f32 sum of n terms has a relative error up to ~n * 2^-24 (2^26
terms of 0.1f: 1e-2); in f64 it stays at one f32 rounding for any n a machine can hold (2^33 ones are exact), at
the cost of one widening convert per element, which memory-bound loops hide (benchmarks/bench_reduce.py).
f64 sums stay in f64: the vectorised loop keeps many partial sums, so n * 2^-53 / lanes bounds their error.
"""
from __future__ import annotations

import math

from ..ir.types import F32, F64
from .kernel import Acc, Op, Var

# a sum of at most this many (static) terms stays in f32 in a row accumulator: the vectorised loop keeps 32+
# partial sums, so each takes a few dozen terms and the error matches NumPy's pairwise sum (measured: 2^-24 .. 2^-22
# relative at 1000 terms of 0.1f, 6e-7 at 4096); f64 there costs ~1.5x in cache-resident rows (softmax, var)
SHORT_ROW_SUM = 1024
# a column reduction (one serial accumulator per output element, in the output buffer) stays in f32 up to this many
# rows (error under 16 * 2^-24 < 1e-6); longer ones accumulate into an f64 scratch buffer and convert at the end
SHORT_COL_SUM = 16


def wide(op, dtype, count, short=SHORT_ROW_SUM):
    """The type a reduction `op` of `count` terms (int or sympy) of `dtype` accumulates in."""
    if op == "sum" and dtype is F32 and not (isinstance(count, int) and count <= short):
        return F64
    return dtype


def identity(op, dtype):
    """The start value of an accumulator of `op` ('sum' | 'max' | 'argmax') over `dtype`, as a Python number.
    NOTE: sums start at +0.0 as NumPy's do (a sum of negative zeros is +0.0 there too); max starts at -inf or
    iinfo.min, which every value ties or beats, so argmax keeps index 0 for a row of minima."""
    if op == "sum":
        return 0
    if dtype.is_float:
        return -math.inf
    if dtype.is_bool:
        return False
    return -(1 << (dtype.bits - 1))


def new_acc(name, op, dtype, count):
    return Acc(name, op, wide(op, dtype, count))


def cast_to(value, dtype):
    """`value` (a kernel expression) as `dtype`."""
    return value if value.dtype is dtype else Op("cast", [value], dtype)


def narrow(acc, dtype):
    """The current value of `acc` as the reduction's result type `dtype` (argmax: its i64 index)."""
    v = Var(acc)
    return v if v.dtype is dtype else Op("cast", [v], dtype)
