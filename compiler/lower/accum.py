"""How reductions accumulate: the accumulator type of each reduction (f32 sums run in f64) and the casts around it.

NOTE: long f32 sums accumulate in f64 on every backend (the casts are in the kernel IR, so the CPU and the PTX
code share the scheme). A serial or vector-lane f32 sum of n terms has a relative error up to ~n * 2^-24 (2^26
terms of 0.1f: 1e-2); in f64 it stays at one f32 rounding for any n a machine can hold (2^33 ones are exact).
A widening convert per element costs ~1.4x in cache-resident CPU rows, so the CPU sums rows in blocks instead
(block_long_sums): SHORT_ROW_SUM terms in a vectorised f32 accumulator, each block's sum added in f64.
f64 sums stay in f64: the vectorised loop keeps many partial sums, so n * 2^-53 / lanes bounds their error.
"""
from __future__ import annotations

import math

from ..lazy import sympy

from ..ir.types import F32, F64
from ..ir.kernel import Acc, Op, Var, Ix, Loop, AccInit, AccUpdate, smul
from .index import rewrite_ix

# a sum of at most this many (static) terms stays in f32 in a row accumulator: the vectorised loop keeps 32+
# partial sums, so each takes a few dozen terms and the error matches NumPy's pairwise sum (measured: 2^-24 .. 2^-22
# relative at 1000 terms of 0.1f, 6e-7 at 4096); f64 there costs ~1.5x in cache-resident rows (softmax, var)
SHORT_ROW_SUM = 1024
# a column reduction (one serial accumulator per output element, in the output buffer) stays in f32 up to this many
# rows (error under 16 * 2^-24 < 1e-6); the CPU sums longer ones in blocks of COL_BLOCK rows into f32 scratch,
# added into f64 scratch after each block (measured: <= 3e-7 relative per block of 32 for 0.1f, 1/3, 0.7f)
SHORT_COL_SUM = 16
COL_BLOCK = 32


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
    acc = Acc(name, op, wide(op, dtype, count))
    if acc.dtype is not dtype:
        acc.widened_from = dtype
    return acc


def cast_to(value, dtype):
    """`value` (a kernel expression) as `dtype`."""
    return value if value.dtype is dtype else Op("cast", [value], dtype)


def narrow(acc, dtype):
    """The current value of `acc` as the reduction's result type `dtype` (argmax: its i64 index)."""
    v = Var(acc)
    return v if v.dtype is dtype else Op("cast", [v], dtype)


def block_long_sums(stmts, new_var):
    """The CPU's form of a row phase `for v in 0..E: acc64 += cast(x)` (a single loop of accumulator updates):
    blocks of SHORT_ROW_SUM terms summed in a fresh f32 accumulator (vectorised, NumPy's accuracy per block),
    each block's sum added to the f64 accumulator, the remainder added term by term. Anything else is returned
    unchanged (the f64 form is exact as it is, only slower)."""
    if len(stmts) != 1 or not isinstance(stmts[0], Loop) or not all(isinstance(s, AccUpdate)
                                                                     for s in stmts[0].body):
        return stmts
    loop = stmts[0]
    blocks = {}
    for s in loop.body:
        v = s.value
        # (a sum the user asked for in f64, x.sum(dtype=np.float64), is not widened_from f32: it stays f64)
        if s.acc.widened_from is F32 and isinstance(v, Op) and v.op == "cast" and v.args[0].dtype is F32:
            blocks.setdefault(s.acc, Acc(s.acc.name + "b", "sum", F32))
    if not blocks:
        return stmts
    inner = [AccUpdate(blocks[s.acc], s.value.args[0]) if s.acc in blocks else s for s in loop.body]
    return split_loop(loop, SHORT_ROW_SUM, new_var, [AccInit(a) for a in blocks.values()], inner,
                      [AccUpdate(a64, Op("cast", [Var(a32)], F64)) for a64, a32 in blocks.items()])


def split_loop(loop, size, new_var, before, inner, after):
    """`for v in 0..E: loop.body` as floor(E/size) blocks of `before; size iterations of inner; after`, then
    the E mod size remaining iterations of loop.body (inner and loop.body use v; it becomes the block's index)."""
    E = loop.extent
    full = E // size if isinstance(E, int) else sympy.floor(E / size)
    rest = E - size * full if isinstance(E, int) else sympy.Mod(E, size)
    blk, i, k = new_var("blk"), new_var(), new_var()
    inner = rewrite_ix(inner, lambda ix: ix.subs(loop.var, Ix(((blk, size), (i, 1)))))
    out = [] if isinstance(full, int) and full == 0 else [Loop(blk, full, before + [Loop(i, size, inner)] + after)]
    if not (isinstance(rest, int) and rest == 0):
        out.append(Loop(k, rest, rewrite_ix(loop.body, lambda ix: ix.subs(loop.var,
                                                                           Ix(((k, 1),), smul(size, full))))))
    return out
