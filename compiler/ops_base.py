"""The NumPy surface's common ground: values to tracers or arrays (NumPy 2 promotion, NEP 50 weak scalars),
errors at the user's line, axis helpers, and the dispatch tables that `@implements` fills.

The tables hold compositions (functions that are not one primitive, as np.hypot); a primitive's own NumPy functions
are declared on its definition (`Primitive(numpy_functions=..., surface=...)`) and ops.py derives their
entries from the registry.
"""
from __future__ import annotations

import builtins

import numpy as np
from .lazy import is_sympy

from . import primitives as P
from .errors import TraceError, DTypeError, IndexOutOfBounds, format_loc
from .ir.types import TensorType, dtype as _dtype, I64
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
    if is_sympy(x):
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
    if isinstance(x, SymDim) or is_sympy(x):
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
    if is_sympy(x) and x.free_symbols:
        # a symbolic size used as a value (x.sum() / x.shape[0]) becomes a dim node
        return P.dim(expr=x, dtype=to_dtype(dt) if dt is not None else I64)
    if isinstance(x, (list, tuple)):
        parts = [asarg(e) for e in x]
        if builtins.any(isinstance(p, Tracer) for p in parts):
            # np.stack(parts): each part gets a leading axis of 1, then all are joined in the promoted dtype
            parts = [P.reshape(p, shape=(1,) + tuple(_aval(p).shape)) for p in parts]
            dt = result_dtype(*parts)
            return P.concatenate(*[asarg(p, dt) for p in parts], axis=0)
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


def _int(d, what):
    """A size as a Python int; a symbolic one is decided for the example sizes and kept as a guard."""
    return guards.concrete(guards.unwrap(d), what)


def shape_of(x):
    return _aval(x).shape


def ndim_of(x):
    return len(shape_of(x))


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



def _as_scalar(n, dt):
    if isinstance(n, int):
        return np.asarray(n, dt.np)
    return P.cast(P.dim(expr=n), dtype=dt)


def _no_out(out, kw):
    if out is not None:
        raise _err(TraceError, "out= arguments are not supported by vive (arrays are immutable while tracing)")
    bad = [k for k in kw if k not in ("initial",) or kw[k] is not None]
    if "where" in kw:
        raise _err(TraceError, "where= in reductions is not supported by vive; use np.where on the input")
    if [k for k in bad if k != "where"]:
        raise _err(TraceError, f"unsupported keyword argument(s) {bad}")



# ---- the dispatch tables of compositions (ops.py adds the primitives' own entries, derived from the registry) ----

UFUNCS = {}          # NumPy ufunc -> implementation
FUNCTIONS = {}       # other NumPy function -> implementation (the __array_function__ protocol)
SCIPY_SPECIAL = {}   # scipy.special ufunc name -> implementation (matched only when SciPy is loaded)


def implements(*numpy_functions, surface=()):
    """Decorator: `fn` is the vive implementation of these NumPy functions (ufuncs or not; the objects) and of
    these other public names (`surface=("scipy.special.logit",)`: scipy.special ufuncs, matched when SciPy is
    loaded), for a function that is a composition of primitives; the same keyword as a primitive's. One primitive's own are
    declared on its definition instead (`Primitive(numpy_functions=..., surface=("scipy.special.erf",))`).
    Claiming a function twice is an error (which one would win?).

        @implements(np.hypot)
        def hypot(a, b): ...
    """
    def register(fn):
        for f in numpy_functions:
            _claim(UFUNCS if isinstance(f, np.ufunc) else FUNCTIONS, f, fn)
        for name in surface:
            if not name.startswith("scipy.special."):
                raise ValueError(f"@implements(surface=...) takes scipy.special names, not {name!r}")
            _claim(SCIPY_SPECIAL, name[len("scipy.special."):], fn)
        return fn
    return register


def _claim(table, key, fn):
    old = table.get(key)
    if old is not None and old is not fn:
        name = getattr(key, "__name__", key)
        raise ValueError(f"{name} is implemented twice: by {old.__module__}.{old.__name__} and "
                         f"{fn.__module__}.{getattr(fn, '__name__', fn)}")
    table[key] = fn
