"""np.random inside a traced function is a TraceError: its numbers would be drawn once, at trace time, and baked
into the graph as a constant, so every call of the compiled function would return the same "noise".

How: a call like np.random.rand(3) gets no tracer, so __array_function__ never sees it; the only place to catch it
is the random function itself. `install()` (run once, when compiler.trace is imported) wraps

  - the module functions of numpy.random (rand, normal, uniform, ...: bound methods of NumPy's global RandomState),
  - the drawing methods of numpy.random.Generator, RandomState and BitGenerator (random_raw),

with a function that asks `is_tracing()` (is the calling thread inside a trace?) and otherwise calls the
original. The wrappers stay installed for the life of the process and keep no state of their own, so nothing is
patched or restored per trace (that would be process-global and race with other threads): a thread that traces
never affects np.random in another thread, and calls outside any trace cost one thread-local lookup.

One exception: a generator made inside the trace with an explicit seed, `np.random.default_rng(0).normal(...)`,
draws the same numbers at every call of the Python function too, so baking them in is right (fixed random
projections, test data); those draws are allowed. An unseeded default_rng() inside the trace, or a generator from
outside (whose state moves on between calls), is refused.

Generator and RandomState are immutable extension types: their methods are replaced in the type's own dict
(reached through gc.get_referents, then PyType_Modified to drop CPython's method cache). Where that is not
possible (another Python implementation) only the module functions are guarded. Not caught: names bound before
compiler was imported (`from numpy.random import rand`), and Python's `random` module.
"""
from __future__ import annotations

import ctypes
import functools
import gc
import threading

import numpy as np

from .errors import TraceError, format_loc

_NOT_DRAWS = {"default_rng", "seed", "get_state", "set_state", "get_bit_generator", "set_bit_generator", "spawn",
              "bit_generator"}
_MARK = "__vive_random_guard__"
_installed = False
_local = threading.local()       # .seeded: {id: (Generator, trace)} made with a seed inside that (outermost) trace


def _seeded():
    d = getattr(_local, "seeded", None)
    if d is None:
        d = _local.seeded = {}
    return d


def _refuse(what, where):
    loc = where()
    at = f" at {loc.file}:{loc.line} in {loc.func}" if loc is not None else ""
    raise TraceError(
        f"{what} called inside a traced function{at}: it would draw its numbers once, while tracing, and every "
        f"call would reuse them as a constant. Use cc.random with a key passed in as an argument, e.g. "
        f"f(x, key) with key = cc.random.key(0) and noise = cc.random.normal(key, x.shape) inside (new numbers: "
        f"a new key per call, from cc.random.split or fold_in); or pass the noise in as an argument instead "
        f"(drawn outside: f(x, rng.normal(size=x.shape)))." + format_loc(loc))


def _guard(fn, what, is_tracing, where, method):
    if method:
        @functools.wraps(fn)
        def guarded(self, *args, **kwargs):
            trace = is_tracing()
            if trace is not None and _seeded().get(id(self), (None, None))[1] is not trace:
                _refuse(what, where)
            return fn(self, *args, **kwargs)
    else:
        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            if is_tracing() is not None:
                _refuse(what, where)
            return fn(*args, **kwargs)
    setattr(guarded, _MARK, True)
    return guarded


def _guard_default_rng(fn, is_tracing):
    @functools.wraps(fn)
    def default_rng(seed=None, *args, **kwargs):
        rng = fn(seed, *args, **kwargs)
        seeded, trace = _seeded(), is_tracing()
        for k in [k for k, (_, t) in seeded.items() if t is not trace]:
            del seeded[k]                        # made by a trace that is over
        if trace is not None and seed is not None and not isinstance(seed, np.random.Generator):
            seeded[id(rng)] = (rng, trace)       # kept alive while listed, so its id is not reused
        return rng
    setattr(default_rng, _MARK, True)
    return default_rng


def _type_dict(cls):
    """The writable dict behind cls.__dict__ (a read-only proxy for extension types), or None."""
    try:
        refs = gc.get_referents(cls.__dict__)
    except Exception:
        return None
    return refs[0] if len(refs) == 1 and isinstance(refs[0], dict) else None


def _guard_type(cls, prefix, is_tracing, where):
    d = _type_dict(cls)
    if d is None:
        return False
    for name, fn in list(d.items()):
        if name.startswith("_") or name in _NOT_DRAWS or not callable(fn) or isinstance(fn, type):
            continue
        if getattr(fn, _MARK, False):
            continue
        d[name] = _guard(fn, f"{prefix}.{name}", is_tracing, where, method=True)
    try:
        ctypes.pythonapi.PyType_Modified(ctypes.py_object(cls))
    except Exception:
        pass
    return True


def install(is_tracing, where):
    """Guard numpy.random (once per process). is_tracing() -> the calling thread's outermost trace or None;
    where() -> the user's SourceLoc."""
    global _installed
    if _installed:
        return
    _installed = True
    mod = np.random
    for name in getattr(mod, "__all__", dir(mod)):
        fn = getattr(mod, name, None)
        if name in _NOT_DRAWS or not callable(fn) or isinstance(fn, type) or getattr(fn, _MARK, False):
            continue
        setattr(mod, name, _guard(fn, f"np.random.{name}", is_tracing, where, method=False))
    if not getattr(mod.default_rng, _MARK, False):
        mod.default_rng = _guard_default_rng(mod.default_rng, is_tracing)
    for cls, prefix in ((mod.Generator, "np.random.Generator"), (mod.RandomState, "np.random.RandomState"),
                        (mod.BitGenerator, "np.random.BitGenerator")):
        _guard_type(cls, prefix, is_tracing, where)
