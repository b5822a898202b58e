"""np.array, np.asarray and np.r_ / np.c_ of traced values, as NumPy users write them.

`np.array([x, x * 2])` never reaches __array_function__ (array construction has no dispatch hook), so NumPy
asks each tracer for its value. `install()` (once, when compiler.trace is imported) wraps the module attributes
numpy.array / asarray / asanyarray / ascontiguousarray / asfortranarray and numpy.r_ / numpy.c_ with functions
that build the array from the traced values (np.stack, np.concatenate) when their argument holds a tracer, and
otherwise call the original. Like random_guard's wrappers they stay installed for the life of the process and keep
no state: a call without a tracer in it costs one type check (plus a scan of the list when the calling thread is
tracing). Not caught: names bound before compiler was imported (`from numpy import array`).

NumPy's rules are kept by asking NumPy: the result's dtype and shape come from the original np.array applied to
the same nesting with each tracer replaced by zeros of its type (so ragged input raises NumPy's ValueError).
"""
from __future__ import annotations

import functools
import sys

import numpy as np

_MARK = "__vive_array_ctor__"
_LIB_DIRS = ("site-packages", "dist-packages")


def _from_library(depth=2):
    """Whether the call came from an installed library (SciPy, ...): such code converts with np.asarray to compute
    on the values in place or in C, so it gets NumPy's own conversion (and the tracer's clear TraceError)."""
    fn = sys._getframe(depth).f_code.co_filename
    return any(d in fn for d in _LIB_DIRS)
_installed = False


def _has_tracer(obj, is_tracer, depth=0):
    if is_tracer(obj):
        return True
    if type(obj) in (list, tuple) and depth < 64:
        return any(_has_tracer(x, is_tracer, depth + 1) for x in obj)
    return False


def _stand_in(obj, is_tracer):
    """obj with every tracer replaced by zeros of its dtype and shape (symbolic sizes by 1)."""
    if is_tracer(obj):
        return np.zeros(tuple(d if isinstance(d, int) else 1 for d in obj.aval.shape), obj.dtype)
    if type(obj) in (list, tuple):
        return [_stand_in(x, is_tracer) for x in obj]
    return obj


def _assemble(obj, dt, is_tracer):
    if is_tracer(obj):
        return obj if np.dtype(obj.dtype) == dt else obj.astype(dt)
    if type(obj) in (list, tuple):
        parts = [_assemble(x, dt, is_tracer) for x in obj]
        return np.stack(parts) if parts else np.zeros((0,), dt)
    return np.asarray(_ORIG["asarray"](obj), dtype=dt) if not hasattr(obj, "aval") else obj


def build(obj, dtype, ndmin, is_tracer):
    """The traced array np.array(obj, dtype, ndmin=ndmin) would give."""
    ref = _ORIG["array"](_stand_in(obj, is_tracer), dtype=dtype, ndmin=ndmin)
    if ref.dtype.kind not in "biuf":
        raise TypeError(f"np.array of traced values would have dtype {ref.dtype}; vive supports bool, integer "
                        f"and float arrays")
    out = _assemble(obj, ref.dtype, is_tracer)
    extra = ndmin - len(out.aval.shape) if is_tracer(out) else 0
    if extra > 0:
        out = out.reshape((1,) * extra + tuple(out.aval.shape))
    return out


_ORIG = {}


def _wrap_array(fn, is_tracer, tracing):
    @functools.wraps(fn)
    def array(obj, *args, **kw):
        t = type(obj)
        if (is_tracer(obj) or ((t is list or t is tuple) and tracing() and _has_tracer(obj, is_tracer))) \
                and not _from_library():
            dtype = args[0] if args else kw.get("dtype")
            return build(obj, dtype, int(kw.get("ndmin", 0)), is_tracer)
        return fn(obj, *args, **kw)
    setattr(array, _MARK, True)
    return array


def _wrap_as(fn, is_tracer, tracing):
    @functools.wraps(fn)
    def asarray(a, *args, **kw):
        t = type(a)
        if (is_tracer(a) or ((t is list or t is tuple) and tracing())) and _from_library():
            return fn(a, *args, **kw)
        if is_tracer(a):
            dtype = args[0] if args else kw.get("dtype")
            return a if dtype is None or np.dtype(dtype) == np.dtype(a.dtype) else a.astype(dtype)
        if (t is list or t is tuple) and tracing() and _has_tracer(a, is_tracer):
            return build(a, args[0] if args else kw.get("dtype"), 0, is_tracer)
        return fn(a, *args, **kw)
    setattr(asarray, _MARK, True)
    return asarray


class _Concat:
    """np.r_ / np.c_ that also take traced values (with no string directive)."""

    def __init__(self, orig, columns, is_tracer, tracing):
        self._orig, self._columns, self._is_tracer, self._tracing = orig, columns, is_tracer, tracing
        setattr(self, _MARK, True)

    def __getitem__(self, key):
        items = key if type(key) is tuple else (key,)
        if not (self._tracing() and any(self._is_tracer(x) for x in items)):
            return self._orig[key]
        if any(isinstance(x, str) for x in items):
            from .errors import TraceError
            raise TraceError("np.r_ / np.c_ with a string directive on traced values is not supported; use "
                             "np.concatenate or np.stack")
        parts = []
        for x in items:
            if isinstance(x, slice):
                x = self._orig[x]                    # arange / linspace, as NumPy makes it
            elif not self._is_tracer(x):
                x = _ORIG["asarray"](x)
            nd = len(x.aval.shape) if self._is_tracer(x) else x.ndim
            if self._columns:
                # c_: 1-d values become columns, everything at least 2-d, joined on the last axis
                if nd == 0:
                    x = np.reshape(x, (1, 1))
                elif nd == 1:
                    x = np.reshape(x, (-1, 1))
            elif nd == 0:
                x = np.reshape(x, (1,))
            parts.append(x)
        return np.concatenate(parts, axis=-1 if self._columns else 0)

    def __len__(self):
        return len(self._orig)

    def __getattr__(self, name):
        return getattr(self._orig, name)


def install(is_tracer, tracing):
    """Wrap NumPy's array constructors (once per process). is_tracer(x) -> bool; tracing() -> whether the calling
    thread is inside a trace."""
    global _installed
    if _installed:
        return
    _installed = True
    for name in ("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray"):
        fn = getattr(np, name)
        if getattr(fn, _MARK, False):
            continue
        _ORIG[name] = fn
        setattr(np, name, (_wrap_array if name == "array" else _wrap_as)(fn, is_tracer, tracing))
    _ORIG.setdefault("asarray", np.asarray)
    for name, columns in (("r_", False), ("c_", True)):
        obj = getattr(np, name)
        if not getattr(obj, _MARK, False):
            setattr(np, name, _Concat(obj, columns, is_tracer, tracing))


# ---- np.arange / np.zeros / np.ones / np.empty / np.full with a symbolic size (x.shape[0] in a trace for every N) ----

def _parse_arange(args, kw):
    """(start, stop, step, dtype) as np.arange reads its arguments; None where the call is not one it handles."""
    if "like" in kw or len(args) > 4 or set(kw) - {"start", "stop", "step", "dtype"}:
        return None
    names = {1: ("stop",), 2: ("start", "stop"), 3: ("start", "stop", "step"), 4: ("start", "stop", "step", "dtype")}
    got = dict(zip(names.get(len(args), ()), args))
    if set(got) & set(kw):
        return None
    got.update(kw)
    if "stop" not in got and "start" in got:          # np.arange(start=5) means stop=5
        got["stop"] = got.pop("start")
    return got.get("start", 0), got.get("stop"), got.get("step", 1), got.get("dtype")


def _wrap_arange(fn, is_sym, tracing, make_iota):
    @functools.wraps(fn)
    def arange(*args, **kw):
        if not (tracing() and any(is_sym(a) for a in list(args) + list(kw.values()))):
            return fn(*args, **kw)
        parsed = _parse_arange(args, kw)
        ok = parsed is not None and parsed[1] is not None and all(
            is_sym(v) or (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)))
            for v in parsed[:3]) and not is_sym(parsed[2]) and int(parsed[2]) != 0
        if not ok:
            return fn(*args, **kw)       # NumPy's own conversion: a symbolic size there specialises the compile
        start, stop, step, dtype = parsed
        step = int(step)
        n = (stop - start + step - 1) // step if step > 0 else (start - stop - step - 1) // (-step)
        if n < 0:                        # a guard on the sizes when n is symbolic
            n = 0
        dt = np.dtype(dtype) if dtype is not None else np.result_type(int)
        out = make_iota(n, dt)
        if step != 1:
            out = out * dt.type(step)
        if is_sym(start) or start != 0:
            out = (out + start).astype(dt)
        return out
    setattr(arange, _MARK, True)
    return arange


def _wrap_filled(fn, name, is_sym, tracing, make_full):
    """np.zeros / ones / empty / full: a symbolic size, or (np.full) a traced fill value, builds the traced array."""
    default = {"zeros": 0, "ones": 1, "empty": 0}

    @functools.wraps(fn)
    def filled(shape, *args, **kw):
        dims = shape if isinstance(shape, (tuple, list)) else (shape,)
        if not tracing():
            return fn(shape, *args, **kw)
        traced_fill = name == "full" and hasattr(args[0] if args else kw.get("fill_value"), "aval")
        if not (traced_fill or any(is_sym(d) for d in dims)):
            return fn(shape, *args, **kw)
        if name == "full":
            if not args and "fill_value" not in kw:
                return fn(shape, *args, **kw)
            value = args[0] if args else kw["fill_value"]
            args = args[1:]
            kw = {k: v for k, v in kw.items() if k != "fill_value"}
        else:
            value = default[name]
        names = ("dtype", "order")
        opts = dict(zip(names, args))
        if len(args) > 2 or set(opts) & set(kw) or set(kw) - set(names) or opts.get("order", kw.get("order", "C")) \
                not in ("C", "K", "A"):
            return fn(shape, *args, **kw)
        opts.update(kw)
        dtype = opts.get("dtype")
        if dtype is None:
            dtype = _ORIG["asarray"](value).dtype if name == "full" and not hasattr(value, "aval") else np.float64
            if name == "full" and hasattr(value, "aval"):
                dtype = value.dtype
        return make_full(tuple(dims), value, np.dtype(dtype))
    setattr(filled, _MARK, True)
    return filled


def install_sized(is_sym, tracing, make_iota, make_full):
    """Wrap np.arange and np.zeros / ones / empty / full (once per process) so that a symbolic size in a trace
    builds a traced array of that size instead of specialising the compile. make_iota(n, dtype) -> 0..n-1;
    make_full(shape, value, dtype) -> value broadcast to shape."""
    if getattr(np.arange, _MARK, False):
        return
    np.arange = _wrap_arange(np.arange, is_sym, tracing, make_iota)
    for name in ("zeros", "ones", "empty", "full"):
        fn = getattr(np, name)
        if not getattr(fn, _MARK, False):
            setattr(np, name, _wrap_filled(fn, name, is_sym, tracing, make_full))
