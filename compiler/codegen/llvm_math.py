"""The CPU's entry to the shared math library (primitives/mathlib, where the algorithms and their measured accuracy
live): each function takes an llvmlite `ir.IRBuilder` and values of type float, double or a vector of either, and
returns straight-line IR of the same type (no libm calls, no branches), so the loop vectoriser widens loops using them.
"""
from __future__ import annotations

from ..primitives import mathlib
from .scalar_builder import ScalarBuilder

__all__ = ["exp", "log", "tanh", "logistic", "sin", "cos", "pow", "sqrt", "abs", "sign", "maximum", "minimum"]


def _on_builder(fn):
    def emit(b, *args):
        return fn(ScalarBuilder(b), *args)
    emit.__name__, emit.__doc__ = fn.__name__, fn.__doc__
    return emit


exp, log, tanh, logistic, sin, cos, pow, sign, maximum, minimum = (
    _on_builder(f) for f in (mathlib.exp, mathlib.log, mathlib.tanh, mathlib.logistic, mathlib.sin, mathlib.cos,
                             mathlib.pow, mathlib.sign, mathlib.maximum, mathlib.minimum))


def abs(b, x):
    """|x| (llvm.fabs, a sign-bit mask on x86)."""
    return ScalarBuilder(b).fabs(x)


def sqrt(b, x):
    """sqrt(x) (llvm.sqrt: sqrtss/vsqrtps, correctly rounded; sqrt(<0) = NaN)."""
    return ScalarBuilder(b).sqrt(x)
