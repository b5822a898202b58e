"""Floating-point operations of a loop-level kernel, counted from its IR (int, or sympy over the program's dims).

The convention of roofline plots: a gemm is 2*m*n*k (a multiply and an add per term); in loop bodies each distinct
scalar op with a float result counts once per iteration (exp or tanh counts 1, like an add), and each update of a
float accumulator counts 1. Casts, selects, index clamps and checks move or choose values: they count 0.
"""
from __future__ import annotations

from ..ir.kernel import AccUpdate, Gemm, Loop, Op, Store, postorder, sadd, smul

_FREE = frozenset({"cast", "select", "clamp", "check_index", "bitcast"})


def kernel_flops(k):
    """Float operations one run of kernel k performs."""
    return _body_flops(k.body)


def _body_flops(body):
    # NOTE: loops nest a handful deep (the statements of a kernel), never as deep as fused expressions, which
    # postorder() walks with its own stack.
    total = 0
    for s in body:
        if isinstance(s, Loop):
            total = sadd(total, smul(s.extent, _body_flops(s.body)))
        elif isinstance(s, Gemm):
            total = sadd(total, smul(2, smul(s.m, smul(s.n, s.k))))
        elif isinstance(s, Store):
            total = sadd(total, _expr_flops([s.value]))
        elif isinstance(s, AccUpdate):
            total = sadd(total, _expr_flops([s.value]) + (1 if s.acc.dtype.is_float else 0))
    return total


def _expr_flops(roots):
    return sum(1 for e in postorder(roots)
               if isinstance(e, Op) and e.op not in _FREE and e.dtype.is_float)
