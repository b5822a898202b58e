"""Elementwise primitives: unary math, binary arithmetic with NumPy broadcasting, comparisons, select, cast."""
from __future__ import annotations

import math

import numpy as np

from ..errors import DTypeError, ShapeError
from ..ir.types import TensorType, broadcast_shapes, BOOL, dtype as to_dtype
from .base import Primitive, float_unary, numeric_unary, check_same_dtype
from .rules import pointwise, zero_derivative, unbroadcast, broadcast_like, dtype_of, elementwise_batch
from . import mathlib as M
from .mathlib.core import horner, copysign as _copysign_bits


def _unary(name, fn, shape=float_unary, **kw):
    return Primitive(name, numpy=fn, shape=shape, kind="elementwise", batch=elementwise_batch, **kw)


# ---- scalar rules: the op on one element, against the scalar builder b (mathlib/__init__.py) ----

def _by_kind(float=None, int=None, uint=None, bool=None):
    """A scalar rule picking by the operand dtype; unsigned ints share the signed rule unless given one. A kind with
    no rule has no instruction: the target's error names the op and the dtype."""
    uint = uint or int

    def rule(b, *args):
        d = b.dtype
        f = float if d.is_float else bool if d.is_bool else uint if d.is_unsigned else int
        if f is None:
            raise b.fail()
        return f(b, *args)
    return rule


def _math(fn):
    return _by_kind(float=fn)


def _zero(b, x):
    return b.const_like(x, 0)


def _int_abs(b, x):
    return b.select(b.icmp_signed("<", x, _zero(b, x)), b.sub(_zero(b, x), x), x)


def _int_sign(b, x):
    pos = b.zext(b.icmp_signed(">", x, _zero(b, x)), x.type)
    neg = b.zext(b.icmp_signed("<", x, _zero(b, x)), x.type)
    return b.sub(pos, neg)


def _int_div_scalar(b, x, y):
    # floor division; x // 0 = 0 (NumPy warns and gives 0)
    isz = b.icmp_signed("==", y, _zero(b, x))
    return b.select(isz, _zero(b, x), M.floordiv(b, x, b.select(isz, b.const_like(x, 1), y)))


def _uint_div_scalar(b, x, y):
    # floor division is udiv for unsigned; x // 0 = 0 as NumPy's
    isz = b.icmp_unsigned("==", y, _zero(b, x))
    return b.select(isz, _zero(b, x), b.udiv(x, b.select(isz, b.const_like(x, 1), y)))


def _choose(op, signed=True):
    cmp = "icmp_signed" if signed else "icmp_unsigned"
    return lambda b, x, y: b.select(getattr(b, cmp)(op, x, y), x, y)


def _compare(op):
    """Float compares are ordered (False with a NaN) except !=, which is True with a NaN, as in NumPy."""
    fcmp = (lambda b, x, y: b.fcmp_unordered(op, x, y)) if op == "!=" else (lambda b, x, y: b.fcmp_ordered(op, x, y))
    return _by_kind(float=fcmp, int=lambda b, x, y: b.icmp_signed(op, x, y),
                    uint=lambda b, x, y: b.icmp_unsigned(op, x, y), bool=lambda b, x, y: b.icmp_unsigned(op, x, y))


def _logistic_np(x):
    # 1 / (1 + e^-x), stable on both tails
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


# Derivative rules: pointwise(partial) with partial(t, x, out) = (d out / d x) * t (see rules.py).
neg = _unary("neg", np.negative, numeric_unary, **pointwise(lambda t, x, out: -t, linear=True),
             numpy_functions=(np.negative,), cost=0,
             scalar=_by_kind(float=lambda b, x: b.fneg(x), int=lambda b, x: b.sub(_zero(b, x), x)))
exp = _unary("exp", np.exp, **pointwise(lambda t, x, out: t * out),
             numpy_functions=(np.exp,), cost=4,
             scalar=_math(M.exp))  # d e^x = e^x dx
log = _unary("log", np.log, **pointwise(lambda t, x, out: t / x),
             numpy_functions=(np.log,), cost=4,
             scalar=_math(M.log))  # d log x = dx / x
sin = _unary("sin", np.sin, **pointwise(lambda t, x, out: t * cos(x)),
             numpy_functions=(np.sin,), cost=5,
             scalar=_math(M.sin))
cos = _unary("cos", np.cos, **pointwise(lambda t, x, out: -(t * sin(x))),
             numpy_functions=(np.cos,), cost=5,
             scalar=_math(M.cos))
tanh = _unary("tanh", np.tanh, **pointwise(lambda t, x, out: t * (1 - square(out))),
              numpy_functions=(np.tanh,), cost=5,
              scalar=_math(M.tanh))  # 1 - tanh^2
logistic = _unary("logistic", _logistic_np, **pointwise(lambda t, x, out: t * (out * (1 - out))),
                  surface=("scipy.special.expit", "cc.special.expit"), cost=5,
                  scalar=_math(M.logistic))
sqrt = _unary("sqrt", np.sqrt, **pointwise(lambda t, x, out: t * 0.5 / out),
              numpy_functions=(np.sqrt,), cost=2,
              scalar=_math(lambda b, x: b.sqrt(x)))  # sqrt'(0) = inf
# NOTE: abs'(0) = sign(0) = 0, a subgradient; sign is piecewise constant, so sign' = 0 (also at 0)
abs = _unary("abs", np.abs, numeric_unary, **pointwise(lambda t, x, out: t * sign(x)),
             numpy_functions=(np.absolute, np.fabs),
             scalar=_by_kind(float=lambda b, x: b.fabs(x), int=_int_abs, uint=lambda b, x: x))
sign = _unary("sign", np.sign, numeric_unary, **zero_derivative,
              numpy_functions=(np.sign,),
              scalar=_by_kind(float=M.sign, int=_int_sign,
                              uint=lambda b, x: b.zext(b.icmp_unsigned("!=", x, _zero(b, x)), x.type)))
reciprocal = _unary("reciprocal", lambda x: np.reciprocal(x), float_unary,
                    **pointwise(lambda t, x, out: -(t * square(out))),
                    cost=2,
                    scalar=_math(lambda b, x: b.fdiv(b.const_like(x, 1.0), x)))  # d 1/x = -dx / x^2
square = _unary("square", np.square, numeric_unary, **pointwise(lambda t, x, out: t * (x * 2)),
                numpy_functions=(np.square,),
                scalar=_by_kind(float=lambda b, x: b.fmul(x, x), int=lambda b, x: b.mul(x, x)))  # rounding to an integral value: piecewise constant, so zero derivative (also at the jumps, as a subgradient)
floor = _unary("floor", np.floor, **zero_derivative,
               numpy_functions=(np.floor,), operands="integral",
               scalar=_math(M.floor))
ceil = _unary("ceil", np.ceil, **zero_derivative,
              numpy_functions=(np.ceil,), operands="integral",
              scalar=_math(M.ceil))
trunc = _unary("trunc", np.trunc, **zero_derivative,
               numpy_functions=(np.trunc,), operands="integral",
               scalar=_math(M.trunc))
rint = _unary("rint", np.rint, **zero_derivative,
              numpy_functions=(np.rint,),
              scalar=_math(M.rint))  # half to even


def _erf_np(x):
    # the reference without SciPy: math.erf per element (correctly rounded to ~1 ulp in libm)
    with np.errstate(all="ignore"):
        return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
erf = _unary("erf", _erf_np, **pointwise(lambda t, x, out: t * (exp(neg(square(x))) * _TWO_OVER_SQRT_PI)),
             surface=("scipy.special.erf", "cc.special.erf"), cost=8,
             scalar=_math(M.erf),
             doc="The error function, 2/sqrt(pi) * integral_0^x exp(-t^2) dt (1-2 ulp compiled).")


# erfinv: M. Giles, "Approximating the erfinv function" (GPU Computing Gems, 2011): single-precision polynomials in
# w = -log(1 - x^2), one around w = 2.5 for w < 5 and one in sqrt(w) - 3 beyond (highest degree first)
ERFINV_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
ERFINV_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
               -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2


def _erfinv_np(x):
    # float64 reference: Giles' start, then Newton steps on erf(y) = |x| for |x| < 0.5 and on log erfc(y) = log(1 - |x|)
    # beyond (1 - |x| is exact there, and the log makes the far tail converge in a few steps); erfinv(+-1) = +-inf,
    # NaN outside [-1, 1]
    a = np.abs(np.asarray(x, np.float64))
    with np.errstate(all="ignore"):
        w = -np.log((1 - a) * (1 + a))
        y = np.where(w < 5, np.polyval(ERFINV_CENTRAL, w - 2.5), np.polyval(ERFINV_TAIL, np.sqrt(w) - 3)) * a
        erf_, erfc_ = (np.vectorize(f, otypes=[np.float64]) for f in (math.erf, math.erfc))
        tail, log_c = a >= 0.5, np.log1p(-a)
        for _ in range(40):
            ec = erfc_(y)
            step = np.where(tail, (np.log(ec) - log_c) * ec, erf_(y) - a) * (_SQRT_PI_OVER_2 * np.exp(y * y))
            step = np.where(tail, -step, step)
            y = y - step
            if not np.any(np.abs(step) > 1e-17 * np.abs(y)):
                break
        y = np.where(a == 1, np.inf, y)
    return np.copysign(y, x).astype(x.dtype)


def _erfinv_start(b, t, x):
    # Giles' polynomials: ~3e-7 relative, the f32 result on targets without fast f64 (b.fast_f64 false)
    a, one = b.fabs(x), t.f(1.0)
    w = b.fneg(M.log(b, b.fmul(b.fsub(one, a), b.fadd(one, a))))
    central = horner(b, t, b.fsub(w, t.f(2.5)), ERFINV_CENTRAL)
    tail = horner(b, t, b.fsub(b.sqrt(w), t.f(3.0)), ERFINV_TAIL)
    y = b.fmul(b.select(b.fcmp_ordered("<", w, t.f(5.0)), central, tail), a)
    return _copysign_bits(b, t, b.select(b.fcmp_ordered("==", a, one), t.f(math.inf), y), x)


def _erfinv_newton(b, t, x):
    # Newton from Giles' start, as the reference: on erf(y) = |x| for |x| < 0.5, y -= (erf(y) - |x|) sqrt(pi)/2 e^(y^2);
    # beyond, on log erfc(y) = log(1 - |x|) (1 - |x| exact), y += (log erfc(y) - log(1 - |x|)) erfc(y) sqrt(pi)/2 e^(y^2),
    # well conditioned up to +-1; four steps from the start's ~0.5 error at 1 - 2^-53 (quadratic convergence)
    a = b.fabs(x)
    tail = b.fcmp_ordered(">=", a, t.f(0.5))
    log_c = M.log(b, b.fsub(t.f(1.0), a))
    y = _erfinv_start(b, t, a)
    for _ in range(4):
        ec = M.erfc(b, y)
        f = b.select(tail, b.fneg(b.fmul(b.fsub(M.log(b, ec), log_c), ec)), b.fsub(M.erf(b, y), a))
        y = b.fsub(y, b.fmul(b.fmul(f, t.f(_SQRT_PI_OVER_2)), b.exp(b.fmul(y, y))))
    return _copysign_bits(b, t, b.select(b.fcmp_ordered("==", a, t.f(1.0)), t.f(math.inf), y), x)


def _erfinv_scalar(b, x):
    t = b.ty(x)
    if t.bits == 64:
        return _erfinv_newton(b, t, x)
    if not b.fast_f64:
        return _erfinv_start(b, t, x)
    w = t.wide()                                        # f32 through f64, as pow: the rounding is the only error
    return b.fptrunc(_erfinv_newton(b, w, b.fpext(x, w.ty)), t.ty)


# d erfinv(x) = sqrt(pi)/2 e^(erfinv(x)^2) dx
erfinv = _unary("erfinv", _erfinv_np, **pointwise(lambda t, x, out: t * (exp(square(out)) * _SQRT_PI_OVER_2)),
                scalar=_math(_erfinv_scalar),
                surface=("scipy.special.erfinv", "cc.special.erfinv"), cost=40,
                doc="The inverse error function on [-1, 1]: erf(erfinv(x)) = x, +-inf at +-1, NaN beyond.")


def _bool_unary(x, **_):
    if not x.dtype.is_bool:
        raise DTypeError(f"expects a bool input, got {x}")
    return x


logical_not = _unary("logical_not", np.logical_not, _bool_unary, **zero_derivative,
                     numpy_functions=(np.logical_not,), operands="truth",
                     scalar=_by_kind(bool=lambda b, x: b.xor(x, b.const_like(x, 1))))


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
              numpy_functions=(np.add,), operands="arith", commutative=True,
              scalar=_by_kind(float=lambda b, x, y: b.fadd(x, y), int=lambda b, x, y: b.add(x, y),
                              bool=lambda b, x, y: b.or_(x, y)))
sub = _binary("sub", np.subtract, pointwise(lambda t, a, b, out: t, lambda t, a, b, out: -t, linear=True),
              numpy_functions=(np.subtract,), operands="arith",
              scalar=_by_kind(float=lambda b, x, y: b.fsub(x, y), int=lambda b, x, y: b.sub(x, y)))
mul = _binary("mul", np.multiply, pointwise(lambda t, a, b, out: t * b, lambda t, a, b, out: a * t),
              numpy_functions=(np.multiply,), operands="arith", commutative=True,
              scalar=_by_kind(float=lambda b, x, y: b.fmul(x, y), int=lambda b, x, y: b.mul(x, y),
                              bool=lambda b, x, y: b.and_(x, y)))
div = _binary("div", lambda a, b: np.true_divide(a, b) if a.dtype.kind == "f" else _int_div(a, b),
              pointwise(lambda t, a, b, out: t / b, lambda t, a, b, out: -(t * out) / b),
              numpy_functions=(np.true_divide,), operands="float", cost=2,
              scalar=_by_kind(float=lambda b, x, y: b.fdiv(x, y), int=_int_div_scalar, uint=_uint_div_scalar))  # d(a/b) = da/b - (a/b) db/b
pow = _binary("pow", lambda a, b: np.power(a, b), pointwise(_pow_da, _pow_db),
              cost=12, checked=lambda n: n.out.type.dtype.is_int,
              scalar=_by_kind(float=M.pow, int=lambda b, x, y: M.ipow(b, x, y, b.dtype.bits),
                              uint=lambda b, x, y: M.ipow(b, x, y, b.dtype.bits, signed=False)))     # an integer to a negative power raises
maximum = _binary("maximum", np.maximum, _chooser(lambda a, b: gt(a, b)), allow_bool=True,
                  numpy_functions=(np.maximum,),
                  scalar=_by_kind(float=M.maximum, int=_choose(">"), uint=_choose(">", signed=False),
                                  bool=lambda b, x, y: b.or_(x, y)))
minimum = _binary("minimum", np.minimum, _chooser(lambda a, b: lt(a, b)), allow_bool=True,
                  numpy_functions=(np.minimum,),
                  scalar=_by_kind(float=M.minimum, int=_choose("<"), uint=_choose("<", signed=False),
                                  bool=lambda b, x, y: b.and_(x, y)))
eq = _binary("eq", np.equal, out_bool=True, allow_bool=True,
             numpy_functions=(np.equal,), commutative=True,
             scalar=_compare("=="))
ne = _binary("ne", np.not_equal, out_bool=True, allow_bool=True,
             numpy_functions=(np.not_equal,), commutative=True,
             scalar=_compare("!="))
lt = _binary("lt", np.less, out_bool=True, allow_bool=True,
             numpy_functions=(np.less,),
             scalar=_compare("<"))
le = _binary("le", np.less_equal, out_bool=True, allow_bool=True,
             numpy_functions=(np.less_equal,),
             scalar=_compare("<="))
gt = _binary("gt", np.greater, out_bool=True, allow_bool=True,
             numpy_functions=(np.greater,),
             scalar=_compare(">"))
ge = _binary("ge", np.greater_equal, out_bool=True, allow_bool=True,
             numpy_functions=(np.greater_equal,),
             scalar=_compare(">="))
# atan2(y, x): d = (x dy - y dx) / (x^2 + y^2)
atan2 = _binary("atan2", np.arctan2, pointwise(lambda t, y, x, out: (t * x) / (square(x) + square(y)),
                                               lambda t, y, x, out: -(t * y) / (square(x) + square(y))),
                float_only=True,
                numpy_functions=(np.arctan2,), operands="float", cost=8, broadcasts=False,
                scalar=_math(M.atan2))
# C fmod: d/da = 1, d/db = -trunc(a / b) (the quotient is piecewise constant)
fmod = _binary("fmod", np.fmod, pointwise(lambda t, a, b, out: t, lambda t, a, b, out: -(t * trunc(a / b))),
               float_only=True,
               cost=12, broadcasts=False,
               scalar=_math(M.fmod))
# copysign(a, b) = |a| with the sign bit of b (NaN's included): d/da = sign(a) s(b), which is sign(a) sign(out) (out
# has b's sign wherever a != 0; at a = 0 both give 0, abs's subgradient); piecewise constant in b: no derivative
copysign = _binary("copysign", np.copysign, pointwise(lambda t, a, b, out: t * (sign(a) * sign(out)), None),
                   float_only=True,
                   numpy_functions=(np.copysign,), operands="float",
                   scalar=_math(lambda b, x, y: _copysign_bits(b, b.ty(x), x, y)))
logical_and = _binary("logical_and", np.logical_and, out_bool=True, allow_bool=True,
                      numpy_functions=(np.logical_and,), operands="truth", commutative=True,
                      scalar=_by_kind(bool=lambda b, x, y: b.and_(x, y)))
logical_or = _binary("logical_or", np.logical_or, out_bool=True, allow_bool=True,
                     numpy_functions=(np.logical_or,), operands="truth", commutative=True,
                     scalar=_by_kind(bool=lambda b, x, y: b.or_(x, y)))


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
                   broadcasts=True,
                   scalar=lambda b, c, x, y: b.select(c, x, y))


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
                 cost=0,
                 scalar=lambda b, x: b.convert(x, b.dtype, b.out))

UNARY = [neg, exp, log, sin, cos, tanh, logistic, sqrt, abs, sign, reciprocal, square, logical_not, floor, ceil, trunc,
         rint, erf, erfinv]
BINARY = [add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, logical_and, logical_or, atan2,
          fmod, copysign]
__all__ = [p.name for p in UNARY + BINARY] + ["select", "cast"]
