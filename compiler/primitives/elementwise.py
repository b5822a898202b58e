"""Elementwise primitives: unary math, binary arithmetic with NumPy broadcasting, comparisons, select, cast."""
from __future__ import annotations

import math

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType, broadcast_shapes, BOOL, dtype as to_dtype
from .base import Primitive, float_unary, numeric_unary, check_same_dtype
from .rules import pointwise, zero_derivative, unbroadcast, broadcast_like, dtype_of, elementwise_batch


def _unary(name, fn, shape=float_unary, **kw):
    return Primitive(name, numpy=fn, shape=shape, kind="elementwise", batch=elementwise_batch, **kw)


def _logistic_np(x):
    # 1 / (1 + e^-x), stable on both tails
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


# Derivative rules: pointwise(partial) with partial(t, x, out) = (d out / d x) * t (see rules.py).
neg = _unary("neg", np.negative, numeric_unary, **pointwise(lambda t, x, out: -t, linear=True),
             numpy_functions=(np.negative,), cost=0)
exp = _unary("exp", np.exp, **pointwise(lambda t, x, out: t * out),
             numpy_functions=(np.exp,), cost=4)  # d e^x = e^x dx
log = _unary("log", np.log, **pointwise(lambda t, x, out: t / x),
             numpy_functions=(np.log,), cost=4)  # d log x = dx / x
sin = _unary("sin", np.sin, **pointwise(lambda t, x, out: t * cos(x)),
             numpy_functions=(np.sin,), cost=5)
cos = _unary("cos", np.cos, **pointwise(lambda t, x, out: -(t * sin(x))),
             numpy_functions=(np.cos,), cost=5)
tanh = _unary("tanh", np.tanh, **pointwise(lambda t, x, out: t * (1 - square(out))),
              numpy_functions=(np.tanh,), cost=5)  # 1 - tanh^2
logistic = _unary("logistic", _logistic_np, **pointwise(lambda t, x, out: t * (out * (1 - out))),
                  surface=("scipy.special.expit",), cost=5)
sqrt = _unary("sqrt", np.sqrt, **pointwise(lambda t, x, out: t * 0.5 / out),
              numpy_functions=(np.sqrt,), cost=2)  # sqrt'(0) = inf
# NOTE: abs'(0) = sign(0) = 0, a subgradient; sign is piecewise constant, so sign' = 0 (also at 0)
abs = _unary("abs", np.abs, numeric_unary, **pointwise(lambda t, x, out: t * sign(x)),
             numpy_functions=(np.absolute, np.fabs))
sign = _unary("sign", np.sign, numeric_unary, **zero_derivative,
              numpy_functions=(np.sign,))
reciprocal = _unary("reciprocal", lambda x: np.reciprocal(x), float_unary,
                    **pointwise(lambda t, x, out: -(t * square(out))),
                    cost=2)  # d 1/x = -dx / x^2
square = _unary("square", np.square, numeric_unary, **pointwise(lambda t, x, out: t * (x * 2)),
                numpy_functions=(np.square,))  # rounding to an integral value: piecewise constant, so zero derivative (also at the jumps, as a subgradient)
floor = _unary("floor", np.floor, **zero_derivative,
               numpy_functions=(np.floor,), operands="integral")
ceil = _unary("ceil", np.ceil, **zero_derivative,
              numpy_functions=(np.ceil,), operands="integral")
trunc = _unary("trunc", np.trunc, **zero_derivative,
               numpy_functions=(np.trunc,), operands="integral")
rint = _unary("rint", np.rint, **zero_derivative,
              numpy_functions=(np.rint,))  # half to even


def _erf_np(x):
    # the reference without SciPy: math.erf per element (correctly rounded to ~1 ulp in libm)
    with np.errstate(all="ignore"):
        return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
erf = _unary("erf", _erf_np, **pointwise(lambda t, x, out: t * (exp(neg(square(x))) * _TWO_OVER_SQRT_PI)),
             surface=("scipy.special.erf", "cc.special.erf"), cost=8)


def _bool_unary(x, **_):
    if not x.dtype.is_bool:
        raise DTypeError(f"expects a bool input, got {x}")
    return x


logical_not = _unary("logical_not", np.logical_not, _bool_unary, **zero_derivative,
                     numpy_functions=(np.logical_not,), operands="truth")


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


def _binary(name, fn, rules=zero_derivative, out_bool=False, allow_bool=False, float_only=False, broadcasts=True,
            **props):
    # NOTE: atan2 and fmod pass broadcasts=False only to keep their kernels as they were (simplify then drops an
    # explicit broadcast feeding them, as it does for the other binary ops)
    return Primitive(name, numpy=fn, shape=_binary_shape(name, out_bool, allow_bool, float_only), kind="elementwise",
                     batch=elementwise_batch, broadcasts=broadcasts, **rules, **props)


def _pow_da(t, a, b, out):
    # d a^b / da = b a^(b-1). Only the point a == b == 0 is masked (0 * inf there): a where on b == 0 alone made the
    # derivative of this rule with respect to b vanish, and second derivatives of x**y wrong across y = 0.
    return t * (b * pow(np.where(np.logical_and(a == 0, b == 0), 1, a), b - 1))


def _pow_db(t, a, b, out):
    # d a^b / db = a^b log a, taken as 0 at a == 0 (where a^b is 0 for b > 0)
    return t * (out * log(np.where(a == 0, 1, a)))


def _chooser(strict):
    """maximum/minimum: the result is a where strict(a, b), else b; so at ties the derivative goes to b.

    NOTE: this is what makes relu'(0) = 0 for relu(x) = maximum(x, 0), and clip's derivative 0 at its bounds.
    """
    def jvp(primals, tangents, out, **_):
        (a, b), (ta, tb) = primals, tangents
        return broadcast_like(np.where(strict(a, b), 0 if ta is None else ta, 0 if tb is None else tb), out)

    def vjp(ct, primals, out, **_):
        a, b = primals
        mask = strict(a, b)                   # has the shape of out, as ct has
        return unbroadcast(np.where(mask, ct, 0), a), unbroadcast(np.where(mask, 0, ct), b)
    return dict(jvp=jvp, vjp=vjp)


add = _binary("add", np.add, pointwise(lambda t, a, b, out: t, lambda t, a, b, out: t, linear=True),
              numpy_functions=(np.add,), operands="arith", commutative=True)
sub = _binary("sub", np.subtract, pointwise(lambda t, a, b, out: t, lambda t, a, b, out: -t, linear=True),
              numpy_functions=(np.subtract,), operands="arith")
mul = _binary("mul", np.multiply, pointwise(lambda t, a, b, out: t * b, lambda t, a, b, out: a * t),
              numpy_functions=(np.multiply,), operands="arith", commutative=True)
div = _binary("div", lambda a, b: np.true_divide(a, b) if a.dtype.kind == "f" else _int_div(a, b),
              pointwise(lambda t, a, b, out: t / b, lambda t, a, b, out: -(t * out) / b),
              numpy_functions=(np.true_divide,), operands="float", cost=2)  # d(a/b) = da/b - (a/b) db/b
pow = _binary("pow", lambda a, b: np.power(a, b), pointwise(_pow_da, _pow_db),
              cost=12, checked=lambda n: n.out.type.dtype.is_int)     # an integer to a negative power raises
maximum = _binary("maximum", np.maximum, _chooser(lambda a, b: gt(a, b)), allow_bool=True,
                  numpy_functions=(np.maximum,))
minimum = _binary("minimum", np.minimum, _chooser(lambda a, b: lt(a, b)), allow_bool=True,
                  numpy_functions=(np.minimum,))
eq = _binary("eq", np.equal, out_bool=True, allow_bool=True,
             numpy_functions=(np.equal,), commutative=True)
ne = _binary("ne", np.not_equal, out_bool=True, allow_bool=True,
             numpy_functions=(np.not_equal,), commutative=True)
lt = _binary("lt", np.less, out_bool=True, allow_bool=True,
             numpy_functions=(np.less,))
le = _binary("le", np.less_equal, out_bool=True, allow_bool=True,
             numpy_functions=(np.less_equal,))
gt = _binary("gt", np.greater, out_bool=True, allow_bool=True,
             numpy_functions=(np.greater,))
ge = _binary("ge", np.greater_equal, out_bool=True, allow_bool=True,
             numpy_functions=(np.greater_equal,))
# atan2(y, x): d = (x dy - y dx) / (x^2 + y^2)
atan2 = _binary("atan2", np.arctan2, pointwise(lambda t, y, x, out: (t * x) / (square(x) + square(y)),
                                               lambda t, y, x, out: -(t * y) / (square(x) + square(y))),
                float_only=True,
                numpy_functions=(np.arctan2,), operands="float", cost=8, broadcasts=False)
# C fmod: d/da = 1, d/db = -trunc(a / b) (the quotient is piecewise constant)
fmod = _binary("fmod", np.fmod, pointwise(lambda t, a, b, out: t, lambda t, a, b, out: -(t * trunc(a / b))),
               float_only=True,
               cost=12, broadcasts=False)
logical_and = _binary("logical_and", np.logical_and, out_bool=True, allow_bool=True,
                      numpy_functions=(np.logical_and,), operands="truth", commutative=True)
logical_or = _binary("logical_or", np.logical_or, out_bool=True, allow_bool=True,
                     numpy_functions=(np.logical_or,), operands="truth", commutative=True)


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


def _select_jvp(primals, tangents, out, **_):
    (c, a, b), (_, ta, tb) = primals, tangents
    return broadcast_like(np.where(c, 0 if ta is None else ta, 0 if tb is None else tb), out)


def _select_transpose(ct, primals, **_):
    c, a, b = primals
    return None, unbroadcast(np.where(c, ct, 0), a), unbroadcast(np.where(c, 0, ct), b)


# select is linear in its two branches; the condition carries no derivative
select = Primitive("select", numpy=lambda c, a, b: np.where(c, a, b), shape=_select_shape, kind="elementwise",
                   jvp=_select_jvp, vjp=lambda ct, primals, out, **p: _select_transpose(ct, primals),
                   transpose=_select_transpose, linear=(1, 2), batch=elementwise_batch,
                   broadcasts=True)


def _cast_shape(x, dtype, **_):
    return TensorType(to_dtype(dtype), x.shape)


def _cast_transpose(ct, primals, dtype):
    # float -> float casts are linear; to or from an integer or bool there is no derivative
    (x,) = primals
    return (cast(ct, dtype=dtype_of(x)) if dtype_of(x).is_float else None,)


cast = Primitive("cast", numpy=lambda x, dtype: x.astype(to_dtype(dtype).np), shape=_cast_shape,
                 kind="elementwise", linear=(0,), transpose=_cast_transpose, batch=elementwise_batch,
                 jvp=lambda primals, tangents, out, dtype: cast(tangents[0], dtype=dtype),
                 vjp=lambda ct, primals, out, dtype: _cast_transpose(ct, primals, dtype),
                 cost=0)

UNARY = [neg, exp, log, sin, cos, tanh, logistic, sqrt, abs, sign, reciprocal, square, logical_not, floor, ceil, trunc,
         rint, erf]
BINARY = [add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logical_and, logical_or, atan2,
          fmod]
__all__ = [p.name for p in UNARY + BINARY] + ["select", "cast"]
