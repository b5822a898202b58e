"""Elementwise primitives: unary math, binary arithmetic with NumPy broadcasting, comparisons, select, cast."""
from __future__ import annotations

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType, broadcast_shapes, BOOL, dtype as to_dtype
from .base import Primitive, float_unary, numeric_unary, check_same_dtype


def _unary(name, fn, shape=float_unary, **kw):
    return Primitive(name, numpy=fn, shape=shape, kind="elementwise", **kw)


def _logistic_np(x):
    # 1 / (1 + e^-x), stable on both tails
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


neg = _unary("neg", np.negative, numeric_unary)
exp = _unary("exp", np.exp)
log = _unary("log", np.log)
sin = _unary("sin", np.sin)
cos = _unary("cos", np.cos)
tanh = _unary("tanh", np.tanh)
logistic = _unary("logistic", _logistic_np)
sqrt = _unary("sqrt", np.sqrt)
abs = _unary("abs", np.abs, numeric_unary)
sign = _unary("sign", np.sign, numeric_unary)
reciprocal = _unary("reciprocal", lambda x: np.reciprocal(x), float_unary)
square = _unary("square", np.square, numeric_unary)


def _bool_unary(x, **_):
    if not x.dtype.is_bool:
        raise DTypeError(f"expects a bool input, got {x}")
    return x


logical_not = _unary("logical_not", np.logical_not, _bool_unary)


def _binary_shape(op, out_bool=False, allow_bool=False, float_only=False):
    def rule(a, b, **_):
        d = check_same_dtype(op, a, b)
        if d.is_bool and not allow_bool:
            raise DTypeError(f"{op}: does not take bool operands ({a}, {b})")
        if float_only and not d.is_float:
            raise DTypeError(f"{op}: expects float operands, got {a} and {b}")
        try:
            shape = broadcast_shapes(a.shape, b.shape, op)
        except ShapeError:
            raise ShapeError(f"{op}: cannot broadcast {a} with {b}") from None
        return TensorType(BOOL if out_bool else d, shape)
    return rule


def _binary(name, fn, **kw):
    return Primitive(name, numpy=fn, shape=_binary_shape(name, **kw), kind="elementwise")


add = _binary("add", np.add)
sub = _binary("sub", np.subtract)
mul = _binary("mul", np.multiply)
div = _binary("div", lambda a, b: np.true_divide(a, b) if a.dtype.kind == "f" else _int_div(a, b))
pow = _binary("pow", lambda a, b: np.power(a, b))
maximum = _binary("maximum", np.maximum, allow_bool=True)
minimum = _binary("minimum", np.minimum, allow_bool=True)
eq = _binary("eq", np.equal, out_bool=True, allow_bool=True)
ne = _binary("ne", np.not_equal, out_bool=True, allow_bool=True)
lt = _binary("lt", np.less, out_bool=True, allow_bool=True)
le = _binary("le", np.less_equal, out_bool=True, allow_bool=True)
gt = _binary("gt", np.greater, out_bool=True, allow_bool=True)
ge = _binary("ge", np.greater_equal, out_bool=True, allow_bool=True)
logical_and = _binary("logical_and", np.logical_and, out_bool=True, allow_bool=True)
logical_or = _binary("logical_or", np.logical_or, out_bool=True, allow_bool=True)


def _int_div(a, b):
    # integer division rounding toward -inf, as NumPy's floor_divide (only reached via `//`)
    with np.errstate(all="ignore"):
        return np.floor_divide(a, np.where(b == 0, 1, b)) * (b != 0)


def _select_shape(c, a, b, **_):
    if not c.dtype.is_bool:
        raise DTypeError(f"select: condition must be bool, got {c}")
    d = check_same_dtype("select", a, b)
    shape = broadcast_shapes(c.shape, broadcast_shapes(a.shape, b.shape, "select:"), "select:")
    return TensorType(d, shape)


select = Primitive("select", numpy=lambda c, a, b: np.where(c, a, b), shape=_select_shape, kind="elementwise")


def _cast_shape(x, dtype, **_):
    return TensorType(to_dtype(dtype), x.shape)


cast = Primitive("cast", numpy=lambda x, dtype: x.astype(to_dtype(dtype).np), shape=_cast_shape,
                 kind="elementwise")

UNARY = [neg, exp, log, sin, cos, tanh, logistic, sqrt, abs, sign, reciprocal, square, logical_not]
BINARY = [add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logical_and, logical_or]
__all__ = [p.name for p in UNARY + BINARY] + ["select", "cast"]
