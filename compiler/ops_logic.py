"""NumPy's closeness and equality tests on traced values: isclose, allclose, array_equal, array_equiv.

allclose and friends give a traced bool[] where NumPy gives a Python bool: its truth is known only when the code
runs, so it can decide an `assert` (a run-time check, primitives/asserts.py) or an np.where, not an `if`."""
from __future__ import annotations

import numpy as np

from .errors import ShapeError
from .ops_base import implements, asarg, _aval, _err
from .ops_elementwise import (absolute, add, equal, less_equal, logical_and, logical_or, multiply, not_equal,
                              subtract)
from .ops_math import isfinite
from .ops_reduce import all as all_
from .ops_array import broadcast_to


@implements(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    # |a - b| <= atol + rtol |b| where b is finite, else a == b (equal infinities); b computes in floats, as in
    # NumPy, so an integer b never overflows in |b|
    bt = _aval(b).dtype
    if not bt.is_float:
        b = asarg(b, np.result_type(bt.np, 1.0)) if not isinstance(b, (int, float, bool)) else float(b)
    close = less_equal(absolute(subtract(a, b)), add(atol, multiply(rtol, absolute(b))))
    out = logical_or(logical_and(close, isfinite(b)), equal(a, b))
    if equal_nan:
        out = logical_or(out, logical_and(not_equal(a, a), not_equal(b, b)))
    return out


@implements(np.allclose)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return all_(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def _shape_known(x):
    return all(type(d) is int for d in _aval(x).shape)


@implements(np.array_equal)
def array_equal(a1, a2, equal_nan=False):
    s1, s2 = _aval(a1).shape, _aval(a2).shape
    if not (_shape_known(a1) and _shape_known(a2)) and s1 != s2:
        raise _err(ShapeError, f"array_equal: cannot compare symbolic shapes {s1} and {s2} while tracing")
    if s1 != s2:
        return False                         # NumPy's answer, known without the values
    eq = equal(a1, a2)
    if equal_nan:
        eq = logical_or(eq, logical_and(not_equal(a1, a1), not_equal(a2, a2)))
    return all_(eq)


@implements(np.array_equiv)
def array_equiv(a1, a2):
    try:
        shape = np.broadcast_shapes(_aval(a1).shape, _aval(a2).shape)
    except (ValueError, TypeError):
        return False
    return all_(equal(broadcast_to(a1, shape), broadcast_to(a2, shape)))
