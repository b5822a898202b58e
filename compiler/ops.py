"""The NumPy surface: ufuncs, array functions and ndarray methods mapped onto primitives.

Each function takes tracers, NumPy arrays or Python scalars, applies NumPy 2's promotion rules (Python scalars are
weak, NEP 50), and binds primitives, so it works eagerly and while tracing. Anything not mapped raises TraceError.

Where a NumPy function is found: a primitive declares its own (`Primitive(numpy_functions=(np.tanh,),
surface=("scipy.special.erf",))`, wrapped by its operand convention: ops_elementwise.surface_function); a composition
registers itself where it is defined (`@implements(np.hypot)`, ops_base). This module derives the dispatch from both
and re-exports the surface by concern: ops_base (conversion, promotion), ops_elementwise, ops_array (shape, linear algebra),
ops_reduce, ops_index, ops_methods, and the families in ops_math, ops_shape, ops_more, ops_sort, ops_einsum.
"""
from __future__ import annotations

import sys

import numpy as np

from .errors import TraceError
from .ir.types import prod
from .primitives import REGISTRY
from .trace import Tracer, install_surface
from .primitives.base import registry_version
from .ops_base import (_PY_SCALARS, _err, _aval, _axes, _keep, _as_scalar, _no_out, to_dtype, result_dtype,  # noqa: F401
                       asarg, shape_of, ndim_of, implements, UFUNCS, FUNCTIONS, SCIPY_SPECIAL)
from .ops_elementwise import (surface_function, primitive_tables, add, subtract, multiply, true_divide, divide,  # noqa: F401
                              maximum, minimum, less, less_equal, greater, greater_equal, equal, not_equal,
                              logical_and, logical_or, logical_not, logical_xor, logical_and_or_bitwise, invert,
                              exp, log, sin, cos, tanh, sqrt, logistic, negative, absolute, sign, square, reciprocal,
                              power, log2, log10, tan, where, clip, astype, copy, int_floor_divide, int_mod)
from .ops_array import (reshape, transpose, swapaxes, moveaxis, expand_dims, squeeze, ravel, broadcast_to,  # noqa: F401
                        concatenate, stack, hstack, vstack, pad, zeros_like, ones_like, full_like, matmul, dot,
                        tensordot, outer, inner, _dot)
from .ops_reduce import sum, mean, var, std, max, min, argmax, argmin, any, all, _U32_SUM  # noqa: F401
from .ops_index import getitem, take, take_along_axis  # noqa: F401
from .ops_methods import *  # noqa: F401,F403  (method_sum, method_reshape, ...: Tracer's ndarray methods)
from . import ops_math  # noqa: F401  (inverse trig, hypot, rounding, `//` and `%`, ...: they register themselves)
from . import ops_shape, ops_einsum, ops_sort, ops_more  # noqa: F401  (flip, cumsum, sort, diff, ...)
from . import ops_linalg  # noqa: F401  (np.linalg's decompositions)
from . import ops_linalg_more  # noqa: F401  (qr, pinv, lstsq, matrix_rank; scipy.linalg's triangular solves)
from . import ops_logic  # noqa: F401  (isclose, allclose, array_equal: traced bools an assert can check)


implements(np.shape)(lambda x: shape_of(x))
implements(np.ndim)(lambda x: ndim_of(x))
implements(np.size)(lambda x, axis=None: prod(shape_of(x)) if axis is None else shape_of(x)[axis])
implements(np.result_type)(lambda *a: result_dtype(*a).np)

_DERIVED = [None, None]      # [registry version it was made for, (ufuncs, functions, scipy_special)]


def _tables():
    """(ufuncs, functions, scipy_special): the primitives' declared NumPy surface (remade when a primitive is
    registered later, e.g. by a layer above) under the compositions registered with @implements."""
    version = registry_version()
    if _DERIVED[0] != version:
        _DERIVED[:] = [version, primitive_tables(REGISTRY)]
    return _DERIVED[1]


def ufunc_impl(ufunc):
    """vive's implementation of a NumPy (or, when SciPy is loaded, scipy.special) ufunc, or None."""
    fn = UFUNCS.get(ufunc) or _tables()[0].get(ufunc)
    if fn is None:
        special = sys.modules.get("scipy.special")
        name = getattr(ufunc, "__name__", None)
        if special is not None and name is not None and ufunc is getattr(special, name, None):
            fn = SCIPY_SPECIAL.get(name) or _tables()[2].get(name)
    return fn


def function_impl(func):
    """vive's implementation of a NumPy function reached through __array_function__, or None."""
    return FUNCTIONS.get(func) or _tables()[1].get(func)


_REDUCE = {np.add: sum, np.maximum: max, np.minimum: min}


def apply_ufunc(ufunc, method, inputs, kwargs):
    name = f"numpy.{ufunc.__name__}"
    if kwargs.get("out") is not None:
        raise _err(TraceError, f"{name} with out= is not supported by vive (traced arrays are immutable)")
    if method == "reduce" and ufunc in _REDUCE:
        return _REDUCE[ufunc](inputs[0], axis=kwargs.get("axis", 0), keepdims=kwargs.get("keepdims", False))
    if method != "__call__":
        raise _err(TraceError, f"{name}.{method} is not supported by vive's tracer")
    fn = ufunc_impl(ufunc)
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


def apply_function(func, args, kwargs):
    fn = function_impl(func)
    if fn is None:
        mod = getattr(func, "__module__", "numpy") or "numpy"
        mod = "numpy" if mod in ("numpy", "numpy._core.fromnumeric", "numpy._core.multiarray",
                                 "numpy._core.numeric", "numpy.lib._function_base_impl") else mod
        raise _err(TraceError, f"{mod}.{func.__name__} is not supported by vive's tracer")
    return fn(*args, **kwargs)


floor_divide, mod = ops_math.floor_divide, ops_math.remainder      # `//` and `%` on any dtype

install_surface(sys.modules[__name__])     # the tracer's NumPy protocol and operators (trace.py)
