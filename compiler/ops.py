"""The NumPy surface: ufuncs, array functions and ndarray methods mapped onto primitives.

Each function takes tracers, NumPy arrays or Python scalars, applies NumPy 2's promotion rules (Python scalars are
weak, NEP 50), and binds primitives, so it works eagerly and while tracing. Anything not mapped raises TraceError.
"""
from __future__ import annotations

import builtins
import operator
import sys

import numpy as np
import sympy

from . import primitives as P
from .errors import TraceError, DTypeError, ShapeError, IndexOutOfBounds, format_loc
from .ir.types import (TensorType, dtype as _dtype, F32, F64, I64, BOOL, as_dim, prod, dims_equal,
                       broadcast_shapes)
from .trace import Tracer, user_loc
from . import guards
from .guards import SymDim

_PY_SCALARS = (bool, int, float)


def _err(cls, msg):
    return cls(msg + format_loc(user_loc(3)))


def to_dtype(x):
    """The DType for x; an unsupported one (complex, object, str, float16) raises DTypeError at the user's line."""
    try:
        return _dtype(x)
    except DTypeError as e:
        raise _err(DTypeError, str(e)) from None


def _aval(x) -> TensorType:
    if isinstance(x, Tracer):
        return x.aval
    if isinstance(x, SymDim):
        return TensorType(I64, ())
    if isinstance(x, _PY_SCALARS):
        return TensorType(to_dtype(np.asarray(x).dtype), ())
    if isinstance(x, sympy.Basic):
        return TensorType(I64, ())
    a = np.asarray(x)
    if a.dtype == object:
        raise _err(DTypeError, f"unsupported value of type {type(x).__name__} (object array)")
    return TensorType(to_dtype(a.dtype), a.shape)


_WEAK_STANDIN = {"bool": False, "i64": 0, "f64": 0.0}


def _np_dtype_or_scalar(x):
    if isinstance(x, _PY_SCALARS):
        return x
    if isinstance(x, Tracer) and x._weak:
        return _WEAK_STANDIN[x.aval.dtype.name]     # a Python scalar argument: promoted by kind only (NEP 50)
    if isinstance(x, (sympy.Basic, SymDim)):
        # a symbolic size such as x.shape[0] is a Python int: weak, as in NumPy (2.0 * x.shape[0] a weak float)
        return 0 if guards.unwrap(x).is_integer else 0.0
    return _aval(x).dtype.np


def result_dtype(*xs):
    return to_dtype(np.result_type(*[_np_dtype_or_scalar(x) for x in xs]))


def asarg(x, dt=None):
    """A tracer or ndarray of dtype dt (default: its own)."""
    if isinstance(x, Tracer):
        if dt is not None and x.aval.dtype is not to_dtype(dt):
            if x._weak:
                _note_weak_cast(x, to_dtype(dt))
            return P.cast(x, dtype=to_dtype(dt))
        return x
    x = guards.unwrap(x)
    if type(x) is int and dt is not None and to_dtype(dt).is_int:
        info = np.iinfo(to_dtype(dt).np)
        if not info.min <= x <= info.max:       # NumPy 2 (NEP 50): a Python int never wraps into a narrower dtype
            raise _err(OverflowError, f"Python integer {x} out of bounds for {info.dtype}")
    if isinstance(x, sympy.Basic) and x.free_symbols:
        # a symbolic size used as a value (x.sum() / x.shape[0]) becomes a dim node
        return P.dim(expr=x, dtype=to_dtype(dt) if dt is not None else I64)
    if isinstance(x, (list, tuple)):
        parts = [asarg(e) for e in x]
        if builtins.any(isinstance(p, Tracer) for p in parts):
            return stack(parts)
    a = np.asarray(x)
    if a.dtype == object:
        raise _err(DTypeError, f"unsupported value of type {type(x).__name__}")
    if dt is not None:
        a = a.astype(to_dtype(dt).np)
    else:
        to_dtype(a.dtype)
    return a


def _note_weak_cast(x, dt):
    """A Python int argument cast to a narrower int (i32 + s): NumPy raises OverflowError when the value does not
    fit, so the call checks it (for the argument itself; ints computed from it wrap)."""
    ctx = x._ctx
    if not (dt.is_int and x.aval.dtype.is_int and dt.bits < x.aval.dtype.bits) or x._value.node is not None:
        return
    try:
        i = ctx.builder.inputs.index(x._value)
    except ValueError:
        return
    old = ctx.weak_limits.get(i)
    if old is None or np.dtype(dt.np).itemsize < old.itemsize:
        ctx.weak_limits[i] = np.dtype(dt.np)


def shape_of(x):
    return _aval(x).shape


def ndim_of(x):
    return len(shape_of(x))


# ---- elementwise ----

def _binary(prim, kind="arith"):
    def f(a, b):
        dt = result_dtype(a, b)
        if kind == "float" and not dt.is_float:
            dt = F64
        if dt.is_bool and kind == "arith":
            if prim is P.add:
                return P.logical_or(asarg(a, BOOL), asarg(b, BOOL))
            if prim is P.mul:
                return P.logical_and(asarg(a, BOOL), asarg(b, BOOL))
            raise _err(DTypeError, f"numpy boolean {prim.name} is not supported; use logical operators")
        return prim(asarg(a, dt), asarg(b, dt))
    f.__name__ = prim.name
    return f


add = _binary(P.add)
subtract = _binary(P.sub)
multiply = _binary(P.mul)
true_divide = divide = _binary(P.div, "float")
maximum = _binary(P.maximum, "any")
minimum = _binary(P.minimum, "any")
less = _binary(P.lt, "any")
less_equal = _binary(P.le, "any")
greater = _binary(P.gt, "any")
greater_equal = _binary(P.ge, "any")
equal = _binary(P.eq, "any")
not_equal = _binary(P.ne, "any")


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
    return not builtins.any(isinstance(d, int) and d == 0 for d in shape)


def floor_divide(a, b):
    dt = result_dtype(a, b)
    if not dt.is_int:
        return ops_math.floor_divide(a, b)
    return P.div(asarg(a, dt), asarg(b, dt))


def mod(a, b):
    dt = result_dtype(a, b)
    if not dt.is_int:
        return ops_math.remainder(a, b)
    a, b = asarg(a, dt), asarg(b, dt)
    # NumPy gives 0 for x % 0
    return where(equal(b, 0), np.zeros((), dt.np), P.sub(a, P.mul(P.div(a, b), b)))


def logical_and_or_bitwise(kind):
    """`&`, `|`, `^` and np.bitwise_*: logical on booleans; on integers (bit operations) not supported; on floats
    NumPy's TypeError."""
    prim = {"and": P.logical_and, "or": P.logical_or, "xor": None}[kind]

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


def _truth(x):
    # np.logical_*: any dtype, by truth value (nonzero, NaN included, is True)
    return asarg(x, BOOL) if _aval(x).dtype is BOOL else not_equal(x, 0)


def logical_and(a, b):
    return P.logical_and(_truth(a), _truth(b))


def logical_or(a, b):
    return P.logical_or(_truth(a), _truth(b))


def logical_not(x):
    return P.logical_not(_truth(x))


def logical_xor(a, b):
    return not_equal(_truth(a), _truth(b))


def invert(x):
    dt = _aval(x).dtype
    if dt.is_float:
        raise _err(DTypeError, f"bitwise invert (~) is not defined for floating-point arrays ({dt.name})")
    if dt is not BOOL:
        raise _err(TraceError, "bitwise invert (~) on integers is not supported by vive")
    return P.logical_not(x)


def reciprocal(x):
    if _aval(x).dtype.is_int:
        # NumPy's integer reciprocal is integer division 1 // x (0 for |x| > 1); a float result would be a wrong
        # dtype
        raise _err(TraceError, "np.reciprocal of an integer array is not supported by vive; use 1.0 / x")
    return _float_reciprocal(x)


def _float_unary(prim):
    def f(x):
        t = _aval(x)
        if t.dtype.is_bool:
            raise _err(DTypeError, f"{prim.name} of a boolean array is not supported; cast it to a float dtype")
        return prim(asarg(x, t.dtype if t.dtype.is_float else F64))
    f.__name__ = prim.name
    return f


def _num_unary(prim):
    def f(x):
        if _aval(x).dtype.is_bool:
            raise _err(DTypeError, f"{prim.name} of a boolean array is not supported")
        return prim(asarg(x))
    f.__name__ = prim.name
    return f


exp = _float_unary(P.exp)
log = _float_unary(P.log)
sin = _float_unary(P.sin)
cos = _float_unary(P.cos)
tanh = _float_unary(P.tanh)
sqrt = _float_unary(P.sqrt)
_float_reciprocal = _float_unary(P.reciprocal)
logistic = _float_unary(P.logistic)
negative = _num_unary(P.neg)
absolute = _num_unary(P.abs)
sign = _num_unary(P.sign)
square = _num_unary(P.square)


def log1p(x):
    return log(add(x, 1))


def expm1(x):
    return subtract(exp(x), 1)


def log2(x):
    return multiply(log(x), float(1.0 / np.log(2.0)))   # a Python float stays weak (NEP 50)


def log10(x):
    return multiply(log(x), float(1.0 / np.log(10.0)))


def exp2(x):
    return exp(multiply(x, float(np.log(2.0))))


def sinh(x):
    return multiply(subtract(exp(x), exp(negative(x))), 0.5)


def cosh(x):
    return multiply(add(exp(x), exp(negative(x))), 0.5)


def tan(x):
    return true_divide(sin(x), cos(x))


def where(cond, a=None, b=None):
    if a is None or b is None:
        raise _err(TraceError, "np.where(cond) with one argument has a data-dependent shape; use "
                               "np.where(cond, a, b)")
    c = asarg(cond) if _aval(cond).dtype is BOOL else not_equal(cond, 0)
    dt = result_dtype(a, b)
    return P.select(c, asarg(a, dt), asarg(b, dt))


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


# ---- reductions ----

def _axes(x, axis):
    nd = ndim_of(x)
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, Tracer):
        raise _err(TraceError, "axis must be a Python int, not a traced value")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -nd <= a < nd:
            raise _err(IndexOutOfBounds, f"axis {a} is out of bounds for an array of dimension {nd}")
        out.append(a % nd if nd else 0)
    return tuple(out)


def _keep(x_shape, y, axes, keepdims):
    if not keepdims:
        return y
    return P.reshape(y, shape=tuple(1 if i in axes else d for i, d in enumerate(x_shape)))


_U32_SUM = ("a sum or product of uint32 values is uint64 in NumPy, a dtype vive does not have: cast first "
            "(x.astype(np.int64)) or pass dtype=np.int64")


def sum(x, axis=None, dtype=None, out=None, keepdims=False, **kw):
    _no_out(out, kw)
    t = _aval(x)
    axes = _axes(x, axis)
    if dtype is None and t.dtype.is_unsigned:
        raise _err(DTypeError, _U32_SUM)
    dt = to_dtype(dtype) if dtype is not None else (I64 if (t.dtype.is_bool or t.dtype.is_int) else t.dtype)
    y = P.reduce_sum(asarg(x, dt), axes=axes)
    return _keep(t.shape, y, axes, keepdims)


def _count(shape, axes):
    return prod([shape[a] for a in axes])


def _as_scalar(n, dt):
    if isinstance(n, int):
        return np.asarray(n, dt.np)
    return P.cast(P.dim(expr=n), dtype=dt)


def mean(x, axis=None, dtype=None, out=None, keepdims=False, **kw):
    _no_out(out, kw)
    t = _aval(x)
    dt = to_dtype(dtype) if dtype is not None else (t.dtype if t.dtype.is_float else F64)
    axes = _axes(x, axis)
    s = P.reduce_sum(asarg(x, dt), axes=axes)
    n = _count(t.shape, axes)
    # an empty axis gives 0/0 = nan, as in NumPy
    y = P.mul(s, np.asarray(1.0 / n, dt.np)) if isinstance(n, int) and n else P.div(s, _as_scalar(n, dt))
    return _keep(t.shape, y, axes, keepdims)


def var(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    _no_out(out, kw)
    m = mean(x, axis, dtype, keepdims=True)
    d = subtract(x, m)
    t = _aval(x)
    axes = _axes(x, axis)
    s = sum(multiply(d, d), axis=axes, keepdims=keepdims)
    n = _count(t.shape, axes)
    dt = _aval(s).dtype
    if isinstance(n, int):
        k = builtins.max(n - ddof, 0)          # NumPy divides by max(n - ddof, 0): nan or inf when it is 0
        return multiply(s, np.asarray(1.0 / k, dt.np)) if k else true_divide(s, np.asarray(0, dt.np))
    if ddof and guards.le(n - ddof, 0):
        return true_divide(s, np.asarray(0, dt.np))
    return true_divide(s, _as_scalar(n - ddof, dt))


def std(x, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw):
    # sqrt's derivative is infinite at 0: where the variance is exactly 0 (a constant slice, a lone element) the
    # gradient is taken as 0, the one-sided value finite differences see, instead of inf * 0 = nan
    v = var(x, axis, dtype, out, ddof, keepdims, **kw)
    zero = np.asarray(0, _aval(v).dtype.np)
    flat = equal(v, zero)
    return where(flat, zero, sqrt(where(flat, np.asarray(1, _aval(v).dtype.np), v)))


def max(x, axis=None, out=None, keepdims=False, _name="maximum", **kw):
    _no_out(out, kw)
    t = _aval(x)
    axes = _axes(x, axis)
    if _count(t.shape, axes) == 0:
        raise _err(ShapeError, f"{_name[:3]}: zero-size array {t} to reduction operation {_name} which has no "
                               f"identity")
    xx = asarg(x)
    if t.dtype.is_bool:
        return greater(max(asarg(x, I64), axis, keepdims=keepdims, _name=_name), 0)
    return _keep(t.shape, P.reduce_max(xx, axes=axes), axes, keepdims)


def _reversed_order(x):
    """An order-reversing bijection of x's dtype, its own inverse: min(x) = r(max(r(x))), argmin = argmax(r(x)).
    NOTE: integers use ~x = -1 - x, not -x: -x overflows at iinfo.min (the minimum of [-2**31, 0] came out 0);
    -1 - x maps [min, max] onto [max, min] exactly. Floats use -x (exact; NaN stays NaN, -0.0 <-> 0.0)."""
    t = _aval(x)
    if t.dtype.is_float:
        return negative(x)
    return P.sub(np.asarray(-1, t.dtype.np), asarg(x))


def min(x, axis=None, out=None, keepdims=False, **kw):
    if _aval(x).dtype.is_bool:
        return logical_not(max(logical_not(x), axis, out, keepdims, _name="minimum", **kw))
    return _reversed_order(max(_reversed_order(x), axis, out, keepdims, _name="minimum", **kw))


def argmax(x, axis=None, out=None, keepdims=False, _name="argmax", **kw):
    _no_out(out, kw)
    if axis is None:
        # NumPy's argmax of the flattened array; keepdims keeps every axis as 1
        nd = ndim_of(x)
        y = argmax(reshape(x, -1), 0, _name=_name)
        return P.reshape(y, shape=(1,) * nd) if keepdims else y
    (axis,) = _axes(x, axis)
    t = _aval(x)
    if t.shape[axis] == 0:
        raise _err(ShapeError, f"{_name}: attempt to get {_name} of an empty sequence ({t}, axis {axis})")
    xx = asarg(x, I64) if t.dtype.is_bool else asarg(x)
    y = P.argmax(xx, axis=axis)
    return _keep(t.shape, y, (axis,), keepdims)


def argmin(x, axis=None, out=None, keepdims=False, **kw):
    t = _aval(x)
    return argmax(_reversed_order(asarg(x, I64) if t.dtype.is_bool else x), axis, out, keepdims, _name="argmin",
                  **kw)


def any(x, axis=None, out=None, keepdims=False, **kw):
    b = asarg(x) if _aval(x).dtype is BOOL else not_equal(x, 0)
    return greater(sum(b, axis, keepdims=keepdims), 0)


def all(x, axis=None, out=None, keepdims=False, **kw):
    b = asarg(x) if _aval(x).dtype is BOOL else not_equal(x, 0)
    return equal(sum(logical_not(b), axis, keepdims=keepdims), 0)


def _no_out(out, kw):
    if out is not None:
        raise _err(TraceError, "out= arguments are not supported by vive (arrays are immutable while tracing)")
    bad = [k for k in kw if k not in ("initial",) or kw[k] is not None]
    if "where" in kw:
        raise _err(TraceError, "where= in reductions is not supported by vive; use np.where on the input")
    if [k for k in bad if k != "where"]:
        raise _err(TraceError, f"unsupported keyword argument(s) {bad}")


# ---- shape manipulation ----

def reshape(x, *shape, order="C", **kw):
    if "newshape" in kw:
        shape = (kw.pop("newshape"),)
    if "shape" in kw:
        shape = (kw.pop("shape"),)
    if order != "C":
        raise _err(TraceError, f"reshape order={order!r} is not supported by vive; only 'C'")
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    t = _aval(x)
    shape = [_as_dim_arg(d) for d in shape]
    if builtins.sum(1 for d in shape if isinstance(d, int) and d == -1) > 1:
        raise _err(ShapeError, f"reshape: can only specify one unknown dimension, got {tuple(shape)}")
    if -1 in [d for d in shape if isinstance(d, int)]:
        known = prod([d for d in shape if not (isinstance(d, int) and d == -1)])
        total = prod(t.shape)
        rest = as_dim(sympy.simplify(sympy.sympify(total) / sympy.sympify(known))) if not (
            isinstance(total, int) and isinstance(known, int)) else (total // known if known and total % known == 0 else None)
        if rest is None or (isinstance(rest, sympy.Basic) and not rest.is_integer):
            raise _err(ShapeError, f"reshape: cannot reshape {t} into shape {tuple(shape)}")
        shape = [rest if (isinstance(d, int) and d == -1) else d for d in shape]
    shape = tuple(shape)
    if len(shape) == t.ndim and builtins.all(dims_equal(a, b) for a, b in zip(shape, t.shape)):
        return asarg(x)
    with_loc = _aval(x)
    if not dims_equal(prod(with_loc.shape), prod(shape)):
        raise _err(ShapeError, f"reshape: cannot reshape {t} into shape "
                               f"({', '.join(str(d) for d in shape)})")
    return P.reshape(asarg(x), shape=shape)


def _as_dim_arg(d):
    if isinstance(d, Tracer):
        raise _err(TraceError, "reshape with a traced size; use x.shape[...] (static or symbolic) instead")
    d = guards.unwrap(d)
    if isinstance(d, sympy.Basic):
        return as_dim(d)
    return int(d)


def transpose(x, axes=None, *more):
    if more:
        axes = (axes,) + more
    nd = ndim_of(x)
    perm = tuple(reversed(range(nd))) if axes is None else tuple(int(a) % nd for a in axes)
    if perm == tuple(range(nd)):
        return asarg(x)
    return P.transpose(asarg(x), perm=perm)


def swapaxes(x, axis1, axis2):
    nd = ndim_of(x)
    perm = list(range(nd))
    a, b = axis1 % nd, axis2 % nd
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def moveaxis(x, source, destination):
    nd = ndim_of(x)
    src, dst = source % nd, destination % nd
    order = [i for i in range(nd) if i != src]
    order.insert(dst, src)
    return transpose(x, order)


def expand_dims(x, axis):
    t = _aval(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = t.ndim + len(axes)
    axes = sorted(a % nd for a in axes)
    shape = list(t.shape)
    for a in axes:
        shape.insert(a, 1)
    return P.reshape(asarg(x), shape=tuple(shape))


def squeeze(x, axis=None):
    t = _aval(x)
    for i, d in enumerate(t.shape):
        if not isinstance(d, int) and (axis is None or i in _axes(x, axis)) and guards.eq(d, 1):
            # squeezing depends on whether the size is 1: the guard N != 1 keeps the axis, N == 1 specialises
            guards.concrete(d, "np.squeeze of a symbolic size")
    if axis is None:
        axes = [i for i, d in enumerate(t.shape) if isinstance(d, int) and d == 1]
    else:
        axes = list(_axes(x, axis))
        for a in axes:
            if not (isinstance(t.shape[a], int) and t.shape[a] == 1):
                raise _err(ShapeError, f"squeeze: cannot select an axis to squeeze out which has size not "
                                       f"equal to one ({t}, axis {a})")
    return reshape(x, tuple(d for i, d in enumerate(t.shape) if i not in axes))


def ravel(x, order="C"):
    return reshape(x, -1, order=order)


def broadcast_to(x, shape):
    t = _aval(x)
    shape = tuple(as_dim(d) if not isinstance(d, int) else d for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if len(shape) < t.ndim:
        raise _err(ShapeError, f"broadcast_to: cannot broadcast {t} to shape {shape}")
    out = broadcast_shapes(t.shape, shape, "broadcast_to:")
    if not builtins.all(dims_equal(a, b) for a, b in zip(out, shape)):
        raise _err(ShapeError, f"broadcast_to: cannot broadcast {t} to shape {shape}")
    if t.ndim == len(shape) and builtins.all(dims_equal(a, b) for a, b in zip(t.shape, shape)):
        return asarg(x)
    dims = tuple(range(len(shape) - t.ndim, len(shape)))
    return P.broadcast_in_dim(asarg(x), shape=shape, dims=dims)


def concatenate(arrays, axis=0, out=None, dtype=None, **kw):
    _no_out(out, kw)
    arrays = list(arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    dt = to_dtype(dtype) if dtype is not None else result_dtype(*arrays)
    nd = ndim_of(arrays[0])
    return P.concatenate(*[asarg(a, dt) for a in arrays], axis=axis % nd)


def stack(arrays, axis=0, out=None, **kw):
    arrays = list(arrays)
    nd = ndim_of(arrays[0]) + 1
    return concatenate([expand_dims(a, axis % nd) for a in arrays], axis=axis % nd, out=out, **kw)


def hstack(arrays, **kw):
    arrays = [a if ndim_of(a) else reshape(a, 1) for a in arrays]     # NumPy's atleast_1d on each
    return concatenate(arrays, axis=0 if ndim_of(arrays[0]) == 1 else 1)


def vstack(arrays, **kw):
    arrays = [a if ndim_of(a) >= 2 else reshape(a, 1, -1) for a in arrays]
    return concatenate(arrays, axis=0)


def pad(x, pad_width, mode="constant", constant_values=0, **kw):
    if mode != "constant":
        raise _err(TraceError, f"np.pad mode={mode!r} is not supported by vive; only 'constant'")
    nd = ndim_of(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (nd, 2))
    if not isinstance(constant_values, (int, float)):
        raise _err(TraceError, "np.pad: only a single scalar constant_values is supported")
    return P.pad(asarg(x), lo=tuple(int(a) for a in pw[:, 0]), hi=tuple(int(b) for b in pw[:, 1]),
                 interior=(0,) * nd, value=float(constant_values))


def _full_like(x, value, dtype=None, shape=None):
    t = _aval(x)
    dt = to_dtype(dtype) if dtype is not None else t.dtype
    shape = t.shape if shape is None else shape
    c = np.asarray(value, dtype=dt.np)
    if builtins.all(isinstance(d, int) for d in shape):
        return np.full(shape, value, dtype=dt.np)
    return P.broadcast_in_dim(c, shape=tuple(shape), dims=())


def zeros_like(x, dtype=None, order="K", subok=True, shape=None):
    return _full_like(x, 0, dtype, shape)


def ones_like(x, dtype=None, order="K", subok=True, shape=None):
    return _full_like(x, 1, dtype, shape)


def full_like(x, fill_value, dtype=None, order="K", subok=True, shape=None):
    if isinstance(fill_value, Tracer):
        return broadcast_to(asarg(fill_value, dtype or _aval(x).dtype), _aval(x).shape)
    return _full_like(x, fill_value, dtype, shape)


def copy(x, *a, **k):
    return asarg(x)


# ---- linear algebra ----

def matmul(a, b, out=None, **kw):
    _no_out(out, kw)
    dt = result_dtype(a, b)
    a, b = asarg(a, dt), asarg(b, dt)
    ta, tb = _aval(a), _aval(b)
    if ta.ndim == 0 or tb.ndim == 0:
        raise _err(ShapeError, "matmul: input operand does not have enough dimensions (use * for scalars)")
    if ta.ndim == 1 and tb.ndim == 1:
        return _dot(a, b, (0,), (0,))
    if tb.ndim == 1:
        return _dot(a, b, (ta.ndim - 1,), (0,))
    if ta.ndim == 1:
        if tb.ndim == 2:
            return _dot(a, b, (0,), (0,))
        a = reshape(a, (1,) + ta.shape)
        return squeeze(matmul(a, b), -2)
    if tb.ndim == 2:        # (..., m, k) @ (k, n): one product over all leading axes, b never broadcast
        return _dot(a, b, (ta.ndim - 1,), (0,))
    batch = broadcast_shapes(ta.shape[:-2], tb.shape[:-2], "matmul: batch dims")
    a = broadcast_to(a, batch + ta.shape[-2:])
    b = broadcast_to(b, batch + tb.shape[-2:])
    nb = len(batch)
    return _dot(a, b, (nb + 1,), (nb,), tuple(range(nb)), tuple(range(nb)))


def _dot(a, b, ca, cb, ba=(), bb=()):
    ta, tb = _aval(a), _aval(b)
    for i, j in zip(ca, cb):
        if not dims_equal(ta.shape[i], tb.shape[j]):
            raise _err(ShapeError, f"matmul: inner dimensions differ: {ta} @ {tb}")
    return P.dot_general(a, b, contract=(tuple(ca), tuple(cb)), batch=(tuple(ba), tuple(bb)))


def dot(a, b, out=None):
    _no_out(out, {})
    ta, tb = _aval(a), _aval(b)
    if ta.ndim == 0 or tb.ndim == 0:
        return multiply(a, b)
    if ta.ndim <= 2 and tb.ndim <= 2:
        return matmul(a, b)
    dt = result_dtype(a, b)
    return _dot(asarg(a, dt), asarg(b, dt), (ta.ndim - 1,), (builtins.max(tb.ndim - 2, 0),))


def tensordot(a, b, axes=2):
    ta, tb = _aval(a), _aval(b)
    if isinstance(axes, int):
        ca = tuple(range(ta.ndim - axes, ta.ndim))
        cb = tuple(range(axes))
    else:
        ca, cb = axes
        ca = (ca,) if isinstance(ca, int) else tuple(ca)
        cb = (cb,) if isinstance(cb, int) else tuple(cb)
        ca = tuple(c % ta.ndim for c in ca)
        cb = tuple(c % tb.ndim for c in cb)
    dt = result_dtype(a, b)
    return _dot(asarg(a, dt), asarg(b, dt), ca, cb)


def outer(a, b, out=None):
    return multiply(reshape(a, -1, 1), reshape(b, 1, -1))


def inner(a, b):
    ta, tb = _aval(a), _aval(b)
    if ta.ndim == 0 or tb.ndim == 0:
        return multiply(a, b)
    return tensordot(a, b, ((ta.ndim - 1,), (tb.ndim - 1,)))


# ---- indexing ----

def getitem(x, idx):
    t = _aval(x)
    if not isinstance(idx, tuple):
        idx = (idx,)
    if builtins.any(isinstance(i, (Tracer, np.ndarray, list)) and not _is_bool_index(i) for i in idx):
        return _advanced_getitem(x, idx)
    if builtins.any(_is_bool_index(i) for i in idx):
        raise _err(TraceError, "boolean mask indexing has a data-dependent shape; use np.where(mask, x, 0)")
    n_real = builtins.sum(1 for i in idx if i is not None and i is not Ellipsis)
    if n_real > t.ndim:
        raise _err(IndexOutOfBounds, f"too many indices for array: array is {t.ndim}-dimensional, but {n_real} were indexed")
    if Ellipsis in [i for i in idx if not isinstance(i, (np.ndarray,))]:
        k = [j for j, i in enumerate(idx) if i is Ellipsis][0]
        idx = idx[:k] + (builtins.slice(None),) * (t.ndim - n_real) + idx[k + 1:]
    else:
        idx = idx + (builtins.slice(None),) * (t.ndim - n_real)
    start, stop, step, out_shape, axis = [], [], [], [], 0
    flipped = []            # output axes sliced with a negative step: the positive slice, then reversed
    for i in idx:
        if i is None:
            out_shape.append(1)
            continue
        d = t.shape[axis]
        if isinstance(i, SymDim):
            i = i.expr
        if isinstance(i, (int, np.integer, sympy.Basic)) and not isinstance(i, (bool, np.bool_)):
            i = as_dim(i)
            # NumPy's bounds check; with symbolic sizes decided for the example sizes and kept as a guard
            if not (guards.le(-d, i) and guards.lt(i, d)):
                raise _err(IndexOutOfBounds, f"index {guards.value(i)} is out of bounds for axis {axis} with size "
                                             f"{guards.value(d)}")
            if guards.lt(i, 0):
                i = as_dim(d + i)
            start.append(i), stop.append(as_dim(i + 1)), step.append(1)
        elif isinstance(i, builtins.slice):
            if isinstance(i.step, (int, np.integer)) and i.step < 0:
                from .ops_shape import negative_step_slice
                a, b, s = negative_step_slice(i, d)
                flipped.append(len(out_shape))
            else:
                a, b, s = _slice_bounds(i, d)
            start.append(a), stop.append(b), step.append(s)
            out_shape.append(P.slice.shape(TensorType(t.dtype, (d,)), start=(a,), stop=(b,), step=(s,)).shape[0])
        else:
            raise _err(TraceError, f"unsupported index {i!r} of type {type(i).__name__}")
        axis += 1
    y = asarg(x)
    if not builtins.all(isinstance(a, int) and a == 0 and s == 1 and dims_equal(b, d)
                        for a, b, s, d in zip(start, stop, step, t.shape)):
        y = P.slice(y, start=tuple(start), stop=tuple(stop), step=tuple(step))
    if len(out_shape) != t.ndim or not builtins.all(dims_equal(a, b) for a, b in zip(out_shape, _aval(y).shape)):
        y = P.reshape(y, shape=tuple(out_shape))
    if flipped:
        y = P.rev(y, axes=tuple(flipped))
    return y


def _is_bool_index(i):
    if isinstance(i, Tracer):
        return i.aval.dtype is BOOL
    if isinstance(i, (np.ndarray, list)):
        return np.asarray(i).dtype == np.bool_
    return False


def _slice_bounds(s, d):
    if isinstance(s.step, Tracer) or isinstance(s.start, Tracer) or isinstance(s.stop, Tracer):
        raise _err(TraceError, "slice bounds must be Python ints, not traced values")
    step = 1 if s.step is None else int(s.step)
    if step == 0:
        raise ValueError("slice step cannot be zero")
    if isinstance(d, int) and not isinstance(s.start, (SymDim, sympy.Basic)) and not isinstance(
            s.stop, (SymDim, sympy.Basic)):
        a, b, _ = s.indices(d)
        return a, builtins.max(a, b), step
    # slice.indices for symbolic sizes: each clamp decided for the example sizes and kept as a guard
    a = _clamp(0 if s.start is None else s.start, d)
    b = d if s.stop is None else _clamp(s.stop, d)
    return a, (a if guards.lt(b, a) else b), step


def _clamp(i, d):
    i = guards.unwrap(i)
    i = as_dim(i if isinstance(i, sympy.Basic) else int(i))
    if guards.lt(i, 0):
        i = as_dim(d + i)
        return 0 if guards.lt(i, 0) else i
    return d if guards.gt(i, d) else i


def _advanced_getitem(x, idx):
    t = _aval(x)
    # basic indexing first on the non-array entries, keeping the array-indexed axes whole
    if Ellipsis in [i for i in idx if not isinstance(i, (np.ndarray, Tracer, list))] or None in [
            i for i in idx if not isinstance(i, (np.ndarray, Tracer, list))]:
        raise _err(TraceError, "integer-array indexing mixed with None or ... is not supported by vive")
    # an integer beside integer arrays is a 0-d index array: NumPy broadcasts it with the others
    idx = tuple(np.asarray(i, np.int64) if isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))
                else i for i in idx)
    is_arr = [isinstance(i, (Tracer, np.ndarray, list)) for i in idx]
    pos = [k for k, a in enumerate(is_arr) if a]
    if pos != list(range(pos[0], pos[-1] + 1)):
        # array indices apart (x[i, :, j]): NumPy puts the index dimensions first, as indexing with those axes
        # moved to the front does
        if len(idx) > t.ndim:
            raise _err(IndexOutOfBounds, f"too many indices for array: array is {t.ndim}-dimensional, but "
                                         f"{len(idx)} were indexed")
        rest = [k for k in range(t.ndim) if k not in pos]
        return _advanced_getitem(transpose(x, pos + rest), tuple(idx[k] for k in pos + rest if k < len(idx)))
    basic = tuple(builtins.slice(None) if a else i for i, a in zip(idx, is_arr))
    y = getitem(x, basic) if basic else asarg(x)
    ty = _aval(y)
    p0, k = pos[0], len(pos)
    dims = ty.shape[p0:p0 + k]
    ints = [asarg(i) for i in (idx[q] for q in pos)]
    for i in ints:
        if not _aval(i).dtype.is_int:
            raise _err(TraceError, f"array index must be integers, got {_aval(i)}")
    ints = [i if _aval(i).dtype is I64 else asarg(i, I64) for i in ints]
    for q, (i, d) in enumerate(zip(ints, dims)):
        _check_const_index(i, d, p0 + q)
        _check_empty_axis(i, d, p0 + q, ty.shape)
    # negative indices wrap as in NumPy
    ints = [where(less(i, 0), add(i, _as_scalar(d, I64)), i) for i, d in zip(ints, dims)]
    if k > 1:
        # each traced component is checked against its own axis: the linear index below could be in range
        # with a component out of its range (x[0, 5] of a 4x3 x is x[1, 2] linearised)
        ints = [P.check_index(i, size=d, axis=p0 + q) if isinstance(i, Tracer) else i
                for q, (i, d) in enumerate(zip(ints, dims))]
    lin = ints[0]
    for i, d in zip(ints[1:], dims[1:]):
        lin = add(multiply(lin, _as_scalar(d, I64)), i)
    if k > 1:
        y = reshape(y, ty.shape[:p0] + (prod(dims),) + ty.shape[p0 + k:])
    if not isinstance(lin, Tracer) and not isinstance(y, Tracer):
        return np.take(y, lin, axis=p0)
    return P.take(asarg(y), asarg(lin), axis=p0)


def _check_const_index(i, d, axis):
    # constant indices into a static size are checked as NumPy does; traced ones by the compiled code (IndexError
    # from a status flag, lower/checks.py) or by the reference implementation of take
    if isinstance(i, np.ndarray) and isinstance(d, int) and i.size:
        bad = i[(i < -d) | (i >= d)]
        if bad.size:
            raise _err(IndexOutOfBounds, f"index {int(bad.flat[0])} is out of bounds for axis {axis} with size {d}")
    elif isinstance(i, np.ndarray) and i.size:
        # a symbolic size: the extreme indices decided for the example size and kept as guards
        hi, lo = int(i.max()), int(i.min())
        if not (guards.lt(hi, d) and guards.le(-d, lo)):
            raise _err(IndexOutOfBounds, f"index {hi if guards.ge(hi, d) else lo} is out of bounds for axis {axis} "
                                         f"with size {guards.value(d)}")


def _check_empty_axis(i, d, axis, shape):
    # every index into an empty axis is out of range: NumPy raises whatever the values. The compiled check runs
    # per gathered element (and reports the index as NumPy does), so it cannot when there are none: when another
    # axis of x (of `shape`) is empty too, raise here
    if not (isinstance(d, int) and d == 0):
        return
    n = _aval(i).shape if isinstance(i, Tracer) else np.shape(i)
    if builtins.all(isinstance(k, int) and k > 0 for k in n) and \
            builtins.any(isinstance(k, int) and k == 0 for j, k in enumerate(shape) if j != axis):
        raise _err(IndexOutOfBounds, f"index out of bounds for axis {axis} with size 0 (every index is: the axis "
                                     f"is empty)")


def _int_indices(indices, fn):
    # NumPy refuses float indices (it casts only 'safe'); a silent cast would truncate them
    dt = _aval(indices).dtype
    if dt.is_float:
        raise _err(DTypeError, f"numpy.{fn}: indices must be integers, got {dt} indices")
    return indices


def take(x, indices, axis=None, out=None, mode=None):
    _no_out(out, {})
    if axis is None:
        x, axis = ravel(x), 0
    axis %= ndim_of(x)
    d = shape_of(x)[axis]
    idx = asarg(_int_indices(indices, "take"), I64)
    _check_empty_axis(idx, d, axis, shape_of(x))
    if mode in (None, "raise"):
        _check_const_index(idx, d, axis)
        idx = where(less(idx, 0), add(idx, _as_scalar(d, I64)), idx)      # negative indices wrap as in NumPy
    elif mode == "clip":
        idx = minimum(maximum(idx, 0), subtract(_as_scalar(d, I64), 1))
    else:
        raise _err(TraceError, f"numpy.take mode={mode!r} is not supported by vive; use 'raise' or 'clip'")
    return P.take(asarg(x), idx, axis=axis)


def take_along_axis(arr, indices, axis):
    t = _aval(arr)
    ti = _aval(indices)
    if t.ndim != 2 or axis not in (1, -1) or ti.ndim != 2 or not (isinstance(ti.shape[1], int) and ti.shape[1] == 1):
        raise _err(TraceError, "take_along_axis is supported for 2-D arrays along axis 1 with one index per row")
    c = t.shape[1]
    _check_empty_axis(indices, c, 1, (0,))         # (one_hot over 0 classes has no element to check in)
    idx = reshape(asarg(_int_indices(indices, "take_along_axis"), I64), -1)
    idx = where(less(idx, 0), add(idx, _as_scalar(c, I64)), idx)      # negative indices wrap as in NumPy
    hit = P.one_hot(idx, num_classes=c, dtype=BOOL)
    if t.dtype is BOOL:
        return any(logical_and(arr, hit), axis=1, keepdims=True)
    # select, not multiply by the one-hot: 0 * inf would be nan
    return sum(where(hit, arr, np.zeros((), t.dtype.np)), axis=1, dtype=t.dtype, keepdims=True)


# ---- dispatch tables ----

UFUNCS = {
    np.add: add, np.subtract: subtract, np.multiply: multiply, np.true_divide: true_divide,
    np.divide: true_divide, np.floor_divide: floor_divide, np.power: power, np.remainder: mod,
    np.maximum: maximum, np.minimum: minimum,
    np.less: less, np.less_equal: less_equal, np.greater: greater, np.greater_equal: greater_equal,
    np.equal: equal, np.not_equal: not_equal,
    np.logical_and: logical_and, np.logical_or: logical_or, np.logical_not: logical_not,
    np.logical_xor: logical_xor, np.invert: invert, np.bitwise_and: logical_and_or_bitwise("and"),
    np.bitwise_or: logical_and_or_bitwise("or"), np.bitwise_xor: logical_and_or_bitwise("xor"),
    np.negative: negative, np.positive: copy, np.absolute: absolute, np.fabs: absolute, np.sign: sign,
    np.exp: exp, np.log: log, np.sin: sin, np.cos: cos, np.tan: tan, np.tanh: tanh, np.sinh: sinh,
    np.cosh: cosh, np.sqrt: sqrt, np.square: square, np.reciprocal: reciprocal, np.log1p: log1p,
    np.expm1: expm1, np.log2: log2, np.log10: log10, np.exp2: exp2, np.matmul: matmul,
}

_REDUCE = {np.add: sum, np.maximum: max, np.minimum: min}


def apply_ufunc(ufunc, method, inputs, kwargs):
    name = f"numpy.{ufunc.__name__}"
    if kwargs.get("out") is not None:
        raise _err(TraceError, f"{name} with out= is not supported by vive (traced arrays are immutable)")
    if method == "reduce" and ufunc in _REDUCE:
        return _REDUCE[ufunc](inputs[0], axis=kwargs.get("axis", 0), keepdims=kwargs.get("keepdims", False))
    if method != "__call__":
        raise _err(TraceError, f"{name}.{method} is not supported by vive's tracer")
    fn = UFUNCS.get(ufunc) or ops_math.scipy_ufunc(ufunc)
    if fn is None:
        if ufunc is getattr(sys.modules.get("scipy.special"), ufunc.__name__, None):
            name = f"scipy.special.{ufunc.__name__}"
        raise _err(TraceError, f"{name} is not supported by vive's tracer")
    extra = {k: v for k, v in kwargs.items() if k not in ("out",)}
    if "where" in extra or "casting" in extra or "order" in extra or "subok" in extra:
        raise _err(TraceError, f"{name}: keyword arguments {sorted(extra)} are not supported by vive")
    if extra.get("dtype") is not None:
        # NumPy computes in the requested dtype (np.add(f32, f32, dtype=f64) adds in f64)
        dt = to_dtype(extra["dtype"])
        return astype(fn(*[asarg(x, dt) for x in inputs]), dt)
    return fn(*inputs)


FUNCTIONS = {
    np.sum: sum, np.mean: mean, np.max: max, np.amax: max, np.min: min, np.amin: min, np.argmax: argmax,
    np.argmin: argmin, np.var: var, np.std: std, np.any: any, np.all: all,
    np.reshape: reshape, np.transpose: transpose, np.swapaxes: swapaxes, np.moveaxis: moveaxis,
    np.expand_dims: expand_dims, np.squeeze: squeeze, np.ravel: ravel, np.broadcast_to: broadcast_to,
    np.concatenate: concatenate, np.stack: stack, np.hstack: hstack, np.vstack: vstack, np.pad: pad,
    np.zeros_like: zeros_like, np.ones_like: ones_like, np.full_like: full_like, np.copy: copy,
    np.dot: dot, np.tensordot: tensordot, np.outer: outer, np.inner: inner, np.where: where, np.clip: clip,
    np.take: take, np.take_along_axis: take_along_axis, np.shape: lambda x: shape_of(x),
    np.ndim: lambda x: ndim_of(x), np.size: lambda x, axis=None: prod(shape_of(x)) if axis is None else shape_of(x)[axis],
    np.result_type: lambda *a: result_dtype(*a).np, np.astype: astype if hasattr(np, "astype") else None,
    np.matmul: matmul, np.maximum: maximum, np.minimum: minimum,
    np.exp: exp, np.log: log, np.tanh: tanh, np.sqrt: sqrt, np.abs: absolute,
}
FUNCTIONS.pop(None, None)


def apply_function(func, args, kwargs):
    fn = FUNCTIONS.get(func)
    if fn is None:
        mod = getattr(func, "__module__", "numpy") or "numpy"
        mod = "numpy" if mod in ("numpy", "numpy._core.fromnumeric", "numpy._core.multiarray",
                                 "numpy._core.numeric", "numpy.lib._function_base_impl") else mod
        raise _err(TraceError, f"{mod}.{func.__name__} is not supported by vive's tracer")
    return fn(*args, **kwargs)


# ---- ndarray methods of Tracer ----

def method_sum(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return sum(self, axis, dtype, out, keepdims, **kw)


def method_mean(self, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return mean(self, axis, dtype, out, keepdims, **kw)


def method_var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return var(self, axis, dtype, out, ddof, keepdims)


def method_std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return std(self, axis, dtype, out, ddof, keepdims)


def method_max(self, axis=None, out=None, keepdims=False, **kw):
    return max(self, axis, out, keepdims, **kw)


def method_min(self, axis=None, out=None, keepdims=False, **kw):
    return min(self, axis, out, keepdims, **kw)


def method_argmax(self, axis=None, out=None, keepdims=False):
    return argmax(self, axis, out, keepdims)


def method_argmin(self, axis=None, out=None, keepdims=False):
    return argmin(self, axis, out, keepdims)


def method_reshape(self, *shape, order="C", **kw):
    return reshape(self, *shape, order=order, **kw)


def method_transpose(self, *axes):
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    return transpose(self, axes or None)


def method_astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
    return astype(self, dtype)


def method_flatten(self, order="C"):
    return ravel(self, order)


method_ravel = method_flatten


def method_squeeze(self, axis=None):
    return squeeze(self, axis)


def method_clip(self, min=None, max=None, **kw):
    return clip(self, min, max, **kw)


def method_dot(self, b):
    return dot(self, b)


def method_copy(self, order="C"):
    return self


def method_swapaxes(self, a, b):
    return swapaxes(self, a, b)


def method_all(self, axis=None, out=None, keepdims=False):
    return all(self, axis, out, keepdims)


def method_any(self, axis=None, out=None, keepdims=False):
    return any(self, axis, out, keepdims)


def _unsupported_method(name):
    def f(self, *a, **k):
        raise _err(TraceError, f"ndarray.{name} is not supported by vive's tracer")
    return f


method_prod = _unsupported_method("prod")
method_cumsum = _unsupported_method("cumsum")
method_fill = _unsupported_method("fill")
method_sort = _unsupported_method("sort")
method_repeat = _unsupported_method("repeat")


def _setitem(self, idx, value):
    raise _err(TraceError, "item assignment (x[i] = v) on a traced value is not supported; build the array "
                           "with np.where, np.concatenate or np.pad instead")


Tracer.__setitem__ = _setitem

from . import ops_math  # noqa: E402  (registers the functions of ops_math into UFUNCS / FUNCTIONS)
from . import ops_shape, ops_einsum, ops_sort, ops_more  # noqa: E402,F401  (register flip, cumsum, sort, diff, ...)
