"""The elementwise NumPy surface: each primitive's NumPy functions wrapped by its operand convention (derived from
the registry: `Primitive(numpy_functions=..., surface=..., operands=...)`), and the elementwise compositions.

`surface_function(prim)` is the NumPy-facing function of a primitive; the names below (ops.add, ops.exp, ...) are those
functions, for the compositions and layers above that call them.
"""
from __future__ import annotations

import numpy as np

from . import primitives as P
from .errors import TraceError, DTypeError
from .ir.types import F64, BOOL
from .ops_base import _err, _aval, _PY_SCALARS, asarg, result_dtype, shape_of, to_dtype, implements

_SURFACE = {}        # primitive -> its NumPy-facing function (made once)


def surface_function(prim):
    """The NumPy-facing function of a primitive: its operands converted by the primitive's `operands` convention
    (see primitives.base.OPERANDS), then the primitive bound."""
    fn = _SURFACE.get(prim)
    if fn is None:
        fn = _SURFACE[prim] = _CONVENTIONS[prim.operands](prim)
        fn.__name__ = prim.name
        fn.primitive = prim
    return fn


def primitive_tables(registry):
    """(ufuncs, functions, scipy_special) of every registered primitive's declared NumPy surface."""
    ufuncs, functions, special = {}, {}, {}
    for prim in registry.values():
        for f in prim.numpy_functions:
            table = ufuncs if isinstance(f, np.ufunc) else functions
            if f in table:
                raise ValueError(f"{f.__name__} is declared by two primitives: {table[f].primitive.name} and "
                                 f"{prim.name}")
            table[f] = surface_function(prim)
        for name in prim.surface:
            if name.startswith("scipy.special."):
                special[name[len("scipy.special."):]] = surface_function(prim)
    return ufuncs, functions, special


# ---- the operand conventions ----

def _float_operands(prim):
    # integers compute in f64 as NumPy's float loops do; a boolean is refused for one operand (NumPy would compute
    # in float16, which vive has not) and taken as f64 for two
    def f(*xs):
        if len(xs) == 1:
            t = _aval(xs[0])
            if t.dtype.is_bool:
                raise _err(DTypeError, f"{prim.name} of a boolean array is not supported; cast it to a float dtype")
            return prim(asarg(xs[0], t.dtype if t.dtype.is_float else F64))
        dt = result_dtype(*xs)
        dt = dt if dt.is_float else F64
        return prim(*[asarg(x, dt) for x in xs])
    return f


def _numeric_operands(prim):
    def f(x):
        if _aval(x).dtype.is_bool:
            raise _err(DTypeError, f"{prim.name} of a boolean array is not supported")
        return prim(asarg(x))
    return f


def _integral_operands(prim):
    # NumPy 2: floor/ceil/trunc of an integer array is the array itself
    as_float = _float_operands(prim)

    def f(x):
        return asarg(x) if _aval(x).dtype.is_int else as_float(x)
    return f


def _promote_operands(prim):
    def f(*xs):
        dt = result_dtype(*xs)
        return prim(*[asarg(x, dt) for x in xs])
    return f


def _arith_operands(prim):
    # booleans: + is or, * is and (NumPy's bool add and multiply); other arithmetic on booleans is refused
    logical = {P.add: P.logical_or, P.mul: P.logical_and}.get(prim)

    def f(a, b):
        dt = result_dtype(a, b)
        if dt.is_bool:
            if logical is None:
                raise _err(DTypeError, f"numpy boolean {prim.name} is not supported; use logical operators")
            return logical(asarg(a, BOOL), asarg(b, BOOL))
        return prim(asarg(a, dt), asarg(b, dt))
    return f


def _truth(x):
    # np.logical_*: any dtype, by truth value (nonzero, NaN included, is True)
    return asarg(x, BOOL) if _aval(x).dtype is BOOL else not_equal(x, 0)


def _truth_operands(prim):
    def f(*xs):
        return prim(*[_truth(x) for x in xs])
    return f


_CONVENTIONS = {"float": _float_operands, "numeric": _numeric_operands, "integral": _integral_operands,
                "promote": _promote_operands, "arith": _arith_operands, "truth": _truth_operands}

add, subtract, multiply, true_divide = surface_function(P.add), surface_function(P.sub), surface_function(P.mul), surface_function(P.div)
divide = true_divide
maximum, minimum = surface_function(P.maximum), surface_function(P.minimum)
less, less_equal, greater, greater_equal = surface_function(P.lt), surface_function(P.le), surface_function(P.gt), surface_function(P.ge)
equal, not_equal = surface_function(P.eq), surface_function(P.ne)
logical_and, logical_or, logical_not = surface_function(P.logical_and), surface_function(P.logical_or), surface_function(P.logical_not)
exp, log, sin, cos, tanh, sqrt = (surface_function(p) for p in (P.exp, P.log, P.sin, P.cos, P.tanh, P.sqrt))
logistic = surface_function(P.logistic)
negative, absolute, sign, square = surface_function(P.neg), surface_function(P.abs), surface_function(P.sign), surface_function(P.square)
_float_reciprocal = _float_operands(P.reciprocal)


# ---- compositions ----

@implements(np.power)
def power(a, b):
    dt = result_dtype(a, b)
    if isinstance(b, _PY_SCALARS) and not isinstance(b, bool):
        if b == 2:
            return P.square(asarg(a, dt))
        if b == 1:
            return asarg(a, dt)
        if b == 0.5 and dt.is_float:
            return P.sqrt(asarg(a, dt))
        if b == -1 and dt.is_float:
            return P.reciprocal(asarg(a, dt))
    if dt.is_bool:
        raise _err(DTypeError, "power of booleans is not supported")
    if dt.is_int and _any_negative_const(b) and _nonempty(shape_of(a) + shape_of(b)):
        raise _err(ValueError, "Integers to negative integer powers are not allowed.")
    return P.pow(asarg(a, dt), asarg(b, dt))


def _any_negative_const(b):
    # NumPy refuses int ** negative int; a traced exponent is not known here (see tests/test_edge_regressions.py)
    if isinstance(b, _PY_SCALARS) or isinstance(b, (np.ndarray, np.generic)):
        v = np.asarray(b)
        return v.dtype.kind in "iu" and bool((v < 0).any())
    return False


def _nonempty(shape):
    return not any(isinstance(d, int) and d == 0 for d in shape)


def int_floor_divide(a, b):
    """a // b of integer operands (ops_math.floor_divide is np.floor_divide: it takes floats too)."""
    dt = result_dtype(a, b)
    return P.div(asarg(a, dt), asarg(b, dt))


def int_mod(a, b):
    """a % b of integer operands, rounding toward -inf as NumPy (ops_math.remainder is np.remainder)."""
    dt = result_dtype(a, b)
    a, b = asarg(a, dt), asarg(b, dt)
    # NumPy gives 0 for x % 0
    return where(equal(b, 0), np.zeros((), dt.np), P.sub(a, P.mul(P.div(a, b), b)))


def logical_and_or_bitwise(kind):
    """`&`, `|`, `^` and np.bitwise_*: logical on booleans; on integers (bit operations) not supported; on floats
    NumPy's TypeError."""
    return _BITWISE[kind]


def _bitwise(kind, prim):
    def f(a, b):
        dt = result_dtype(a, b)
        if dt.is_float:
            raise _err(DTypeError, f"bitwise {kind} is not defined for floating-point arrays ({dt.name})")
        if dt is not BOOL:
            raise _err(TraceError, f"bitwise {kind} on integers is not supported by vive; use it on booleans")
        if prim is None:
            return not_equal(asarg(a, BOOL), asarg(b, BOOL))
        return prim(asarg(a, BOOL), asarg(b, BOOL))
    return f


_BITWISE = {"and": implements(np.bitwise_and)(_bitwise("and", P.logical_and)),
            "or": implements(np.bitwise_or)(_bitwise("or", P.logical_or)),
            "xor": implements(np.bitwise_xor)(_bitwise("xor", None))}


@implements(np.logical_xor)
def logical_xor(a, b):
    return not_equal(_truth(a), _truth(b))


@implements(np.invert)
def invert(x):
    dt = _aval(x).dtype
    if dt.is_float:
        raise _err(DTypeError, f"bitwise invert (~) is not defined for floating-point arrays ({dt.name})")
    if dt is not BOOL:
        raise _err(TraceError, "bitwise invert (~) on integers is not supported by vive")
    return P.logical_not(x)


@implements(np.reciprocal)
def reciprocal(x):
    if _aval(x).dtype.is_int:
        # NumPy's integer reciprocal is integer division 1 // x (0 for |x| > 1); a float result would be a wrong
        # dtype
        raise _err(TraceError, "np.reciprocal of an integer array is not supported by vive; use 1.0 / x")
    return _float_reciprocal(x)


@implements(np.log2)
def log2(x):
    return multiply(log(x), float(1.0 / np.log(2.0)))   # a Python float stays weak (NEP 50)


@implements(np.log10)
def log10(x):
    return multiply(log(x), float(1.0 / np.log(10.0)))


@implements(np.tan)
def tan(x):
    return true_divide(sin(x), cos(x))


@implements(np.where)
def where(cond, a=None, b=None):
    if a is None or b is None:
        raise _err(TraceError, "np.where(cond) with one argument has a data-dependent shape; use "
                               "np.where(cond, a, b)")
    c = asarg(cond) if _aval(cond).dtype is BOOL else not_equal(cond, 0)
    dt = result_dtype(a, b)
    return P.select(c, asarg(a, dt), asarg(b, dt))


@implements(np.clip)
def clip(x, a_min=None, a_max=None, **kw):
    a_min = kw.get("min", a_min)
    a_max = kw.get("max", a_max)
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def astype(x, dt, **_):
    return asarg(x, to_dtype(dt))


if hasattr(np, "astype"):
    implements(np.astype)(astype)


@implements(np.positive, np.copy)
def copy(x, *a, **k):
    return asarg(x)
