"""The ndarray methods of Tracer (x.sum(), x.reshape(...), x.T, ...): NumPy's method signatures onto the
functions of the NumPy surface."""
from __future__ import annotations

from .ops_base import _err
from .errors import TraceError
from .ops_elementwise import clip, astype
from .ops_array import reshape, transpose, ravel, squeeze, swapaxes, dot
from .ops_reduce import sum, mean, var, std, max, min, argmax, argmin, all, any
from .ops_shape import method_prod, method_cumsum, method_repeat  # noqa: F401  (with the functions they call)
from .trace import Tracer

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


method_fill = _unsupported_method("fill")
method_sort = _unsupported_method("sort")


def _setitem(self, idx, value):
    raise _err(TraceError, "item assignment (x[i] = v) on a traced value is not supported; build the array "
                           "with np.where, np.concatenate or np.pad instead")


Tracer.__setitem__ = _setitem
