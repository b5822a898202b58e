"""Primitive, the registry, bind (eager NumPy or recorded into a trace), and the rule-vocabulary helpers.

A primitive keeps all its rules in one definition:
  shape(*in_types, **params) -> TensorType     (raise ShapeError/DTypeError on bad input)
  numpy(*arrays, **params) -> ndarray          (reference implementation; the interpreter's oracle)
  jvp, vjp / transpose                         (derivative rules, signatures in rules.py; use its vocabulary)
  batch(args, dims, **params) -> (out, dim)    (vmap's batching rule, signature and vocabulary in rules.py)
  lower                                        (loop-level lowering; filled by the backend)
  surface                                      (public names it implements beyond cc.primitives, derived into the
                                                NumPy-side tables: "scipy.special.erf", "cc.special.erf")
  scalar(b, *values) -> value                  (the op on one element, against the target-neutral scalar builder b:
                                                mathlib/__init__.py lists it; b.dtype / b.out are the operand and
                                                result dtypes. Written once; a target may override it for a faster
                                                form, keyed by this Primitive object)

A primitive whose shape rule returns a TupleType has several results (the control-flow ops): binding it gives a
Python tuple, one array (or tracer) per result; in the graph its node's tuple value is read by `get` nodes.
"""
from __future__ import annotations

import numpy as np
import sympy

from ..errors import ShapeError, DTypeError, format_loc
from ..ir.types import TensorType, dtype as to_dtype

REGISTRY: dict[str, "Primitive"] = {}

# Set by compiler.trace on import: (is_tracer(x) -> bool, record(prim, args, params) -> Tracer), and whether a
# trace is being recorded on this thread.
_TRACE_HOOKS = None
_TRACE_ACTIVE = bool


class Primitive:
    """One operation of the IR. Calling it binds it: eagerly on NumPy arrays, or into the active trace."""

    def __init__(self, name, *, numpy, shape, kind="other", jvp=None, vjp=None, transpose=None, batch=None,
                 lower=None, linear=(), differentiable=True, effect=False, doc="",
                 scalar=None, surface=()):
        self.name = name
        self.numpy = numpy
        self.shape = shape
        self.kind = kind                      # 'elementwise', 'reduce', 'shape', 'linalg', 'source', 'other'
        # rules made by the vocabulary in rules.py (linear, bilinear, ...) apply the primitive itself: bind it
        self.jvp, self.vjp, self.transpose, self.batch = (r(self) if getattr(r, "needs_primitive", False) else r
                                                          for r in (jvp, vjp, transpose, batch))
        self.lower = lower
        self.scalar = scalar
        self.surface = tuple(surface)
        self.linear = linear if linear == "all" else tuple(linear)   # input positions where the op is linear
        self.differentiable = differentiable
        # an effect (printing): never dead, folded or merged, kept in program order (see effects.py)
        self.effect = effect
        self.__doc__ = doc
        if name in REGISTRY:
            raise ValueError(f"primitive {name!r} defined twice")
        REGISTRY[name] = self

    def __repr__(self):
        return f"<primitive {self.name}>"

    def __reduce__(self):
        return (get, (self.name,))

    def infer(self, *types, loc=None, **params) -> TensorType:
        """Run the shape rule; errors name this op and, when known, the user's line."""
        try:
            return self.shape(*types, **params)
        except (ShapeError, DTypeError) as e:
            msg = str(e)
            if not msg.startswith(self.name + ":"):
                msg = f"{self.name}: {msg}"
            if loc is not None and "\n  at " not in msg:
                msg += format_loc(loc)
            raise type(e)(msg) from None

    def __call__(self, *args, **params):
        return bind(self, args, params)


def get(name: str) -> Primitive:
    return REGISTRY[name]


def bind(prim: Primitive, args, params):
    """Apply `prim`: record a node if any argument is a tracer, else run its NumPy reference."""
    hooks = _TRACE_HOOKS
    if hooks is not None:
        is_tracer, record = hooks
        for a in args:
            if is_tracer(a) or (type(a) is tuple and any(is_tracer(x) for x in a)):
                return record(prim, args, params)
        if _has_symbols(params) or (prim.effect and _TRACE_ACTIVE()):
            # e.g. dim(expr=N) or a broadcast to a symbolic shape: only meaningful inside a trace; an effect
            # inside a trace happens when the traced code runs, not now (even on constants)
            return record(prim, args, params)
    if prim.name == "get" and isinstance(args[0], tuple):
        return args[0][params["index"]]          # a multi-result op's results are a Python tuple outside graphs
    arrays = [np.asarray(a) for a in args]
    out_t = prim.infer(*(TensorType(to_dtype(a.dtype), a.shape) for a in arrays), **params)
    with np.errstate(all="ignore"):
        out = prim.numpy(*arrays, **params)
    if out_t.is_tuple:
        return tuple(_as_result(o, t) for o, t in zip(out, out_t.types))
    return _as_result(out, out_t)


def _as_result(out, t):
    out = np.asarray(out)
    if out.dtype != t.dtype.np:
        out = out.astype(t.dtype.np)
    return out


def _has_symbols(p):
    if isinstance(p, dict):
        return any(_has_symbols(v) for v in p.values())
    if isinstance(p, (tuple, list)):
        return any(_has_symbols(v) for v in p)
    return isinstance(p, sympy.Basic) and bool(p.free_symbols)


# ---- common shape rules ----

def same_as_input(x, **_):
    return x


def float_unary(x, **_):
    if not x.dtype.is_float:
        raise DTypeError(f"expects a float input, got {x}")
    return x


def numeric_unary(x, **_):
    if x.dtype.is_bool:
        raise DTypeError(f"expects a numeric input, got {x}")
    return x


def check_same_dtype(op, *types):
    d0 = types[0].dtype
    for t in types[1:]:
        if t.dtype is not d0:
            raise DTypeError(f"{op}: operand dtypes differ: {' vs '.join(str(t) for t in types)}")
    return d0


def type_of(x) -> TensorType:
    return TensorType(to_dtype(np.asarray(x).dtype), np.shape(x))
