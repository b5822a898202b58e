"""Primitive, the registry, bind (eager NumPy or recorded into a trace), and the rule-vocabulary helpers.

A primitive keeps all its rules in one definition:
  shape(*in_types, **params) -> TensorType     (raise ShapeError/DTypeError on bad input)
  numpy(*arrays, **params) -> ndarray          (reference implementation; the interpreter's oracle)
  jvp, vjp / transpose                         (derivative rules, signatures in rules.py; use its vocabulary)
  batch(args, dims, **params) -> (out, dim)    (vmap's batching rule, signature and vocabulary in rules.py)
  lower                                        (loop-level lowering; filled by the backend)
  scalar(b, *values) -> value                  (the op on one element, against the target-neutral scalar builder b:
                                                mathlib/__init__.py lists it; b.dtype / b.out are the operand and
                                                result dtypes. Written once; a target may override it for a faster
                                                form, keyed by this Primitive object)

and its properties, data the later layers read instead of tables of names (see FUSION and OPERANDS below):
  numpy_functions, surface, operands           (the NumPy surface: the NumPy functions / ufuncs it is, the other
                                               public names it implements ("scipy.special.erf", "cc.special.erf"),
                                               how NumPy's operands are converted; ops derives its tables from them)
  fusion, cost, reduction                      (passes/fuse.py: how it fuses, what recomputing it costs; a
                                               reduction's accumulator)
  commutative, foldable, broadcasts, checked, collective   (cse, fold, simplify, lower/checks, collectives)
  index_rule                                   (set by lower/rules.py for ops evaluated at a rewritten index)

A primitive whose shape rule returns a TupleType has several results (the control-flow ops): binding it gives a
Python tuple, one array (or tracer) per result; in the graph its node's tuple value is read by `get` nodes.
"""
from __future__ import annotations

import numpy as np
from ..lazy import is_sympy

from ..errors import ShapeError, DTypeError, format_loc
from ..ir import parser as _parser
from ..ir.types import TensorType, dtype as to_dtype

REGISTRY: dict[str, "Primitive"] = {}
_parser.use_registry(REGISTRY)       # the text-IR parser resolves op names here
_REGISTERED = [0]        # definitions so far: with len(REGISTRY), tells tables derived from the registry when to remake


def registry_version():
    return _REGISTERED[0], len(REGISTRY)

# Set by compiler.trace on import: (is_tracer(x) -> bool, record(prim, args, params) -> Tracer), and whether a
# trace is being recorded on this thread.
_TRACE_HOOKS = None
_TRACE_ACTIVE = bool


class Primitive:
    """One operation of the IR. Calling it binds it: eagerly on NumPy arrays, or into the active trace."""

    def __init__(self, name, *, numpy, shape, kind="other", jvp=None, vjp=None, transpose=None, batch=None,
                 lower=None, linear=(), differentiable=True, effect=False, doc="",
                 numpy_functions=(), surface=(), operands=None,
                 fusion=None, cost=1, commutative=False, foldable=True, broadcasts=False, checked=False,
                 collective=None, reduction=None,
                 scalar=None):
        self.name = name
        self.numpy = numpy
        self.shape = shape
        self.kind = kind                      # 'elementwise', 'reduce', 'shape', 'linalg', 'source', 'other'
        # rules made by the vocabulary in rules.py (linear, bilinear, ...) apply the primitive itself: bind it
        self.jvp, self.vjp, self.transpose, self.batch = (r(self) if getattr(r, "needs_primitive", False) else r
                                                          for r in (jvp, vjp, transpose, batch))
        self.lower = lower
        self.scalar = scalar
        self.linear = linear if linear == "all" else tuple(linear)   # input positions where the op is linear
        self.differentiable = differentiable
        # an effect (printing): never dead, folded or merged, kept in program order (see effects.py)
        self.effect = effect
        self.__doc__ = doc
        # the NumPy surface: the NumPy functions / ufuncs (objects) this primitive is, its other public names
        # ("scipy.special.erf": a scipy.special ufunc, "cc.special.erf": compiler.special), and how their operands are
        # promoted there (a convention of ops.py, see OPERANDS)
        self.numpy_functions = tuple(numpy_functions)
        self.surface = tuple(surface)
        self.operands = operands or _default_operands(shape)
        # fusion: how the op joins a kernel (FUSION) and its cost units per element when recomputed in several
        # kernels instead of stored once (0: a free index rewrite or a no-op)
        self.fusion = fusion or _FUSION_OF_KIND.get(kind, "opaque")
        self.cost = cost
        self.commutative = commutative      # operand order never matters (exactly: NaN and signed zeros too)
        self.foldable = foldable            # a node of it on const operands may become a const (passes/fold.py)
        self.broadcasts = broadcasts        # broadcasts its operands NumPy-style (an explicit broadcast may go)
        self.checked = checked              # its lowering checks data at run time: bool or node -> bool (checks.py)
        # an MPI collective: "all_reduce" (all_sum, all_mean: bucketed by passes/collective.py) or "split" (the
        # halves, start and wait, that bucketing makes); None for the rest
        self.collective = collective
        self.reduction = reduction          # a reduction's accumulator (lower/accum.py): "sum", "max", "argmax"
        self.index_rule = None              # set by lower/rules.py: evaluated at an index rewritten per element
        _check_properties(self)
        if name in REGISTRY:
            raise ValueError(f"primitive {name!r} defined twice")
        REGISTRY[name] = self
        _REGISTERED[0] += 1

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


# How a primitive fuses (passes/fuse.py): evaluated per element at any index its consumer asks for ("inline"),
# a reduction that makes a row or column kernel ("reduce"), a product through BLAS taking an elementwise epilogue
# (the group kind: "gemm", "conv", "convti", "convtk"), a control-flow op with regions ("region"), or alone.
FUSION = ("inline", "reduce", "gemm", "conv", "convti", "convtk", "region", "opaque")
_FUSION_OF_KIND = {"elementwise": "inline", "shape": "inline", "source": "inline", "reduce": "reduce",
                   "control": "region"}
# The dtype conventions of the NumPy surface (ops.py): "float" (integers compute in f64, booleans refused),
# "numeric" (booleans refused), "integral" (integers are returned as they are, the rest as "float"), "promote"
# (NumPy's promotion, any dtype), "arith" (promote; booleans as logical or/and), "truth" (operands by truth value)
OPERANDS = ("float", "numeric", "integral", "promote", "arith", "truth")
# the public names a primitive may declare in its `surface`
SURFACE_PREFIXES = ("scipy.special.", "cc.special.")


def _default_operands(shape):
    if shape is float_unary:
        return "float"
    if shape is numeric_unary:
        return "numeric"
    return "promote"


def _check_properties(p):
    if p.fusion not in FUSION:
        raise ValueError(f"primitive {p.name!r}: fusion {p.fusion!r} is not one of {FUSION}")
    if (p.fusion == "reduce") != (p.reduction in ("sum", "max", "argmax")):
        raise ValueError(f"primitive {p.name!r}: a reduction (fusion 'reduce') names its accumulator, "
                         f"reduction='sum', 'max' or 'argmax', and only a reduction does")
    if p.collective not in (None, "all_reduce", "split"):
        raise ValueError(f"primitive {p.name!r}: collective {p.collective!r} is not None, 'all_reduce' or 'split'")
    if p.operands not in OPERANDS:
        raise ValueError(f"primitive {p.name!r}: operands {p.operands!r} is not one of {OPERANDS}")
    if not (isinstance(p.cost, int) and p.cost >= 0):
        raise ValueError(f"primitive {p.name!r}: cost must be an int >= 0, got {p.cost!r}")
    if not all(callable(f) for f in p.numpy_functions) or not all(
            isinstance(s, str) and s.startswith(SURFACE_PREFIXES) for s in p.surface):
        raise ValueError(f"primitive {p.name!r}: numpy_functions are NumPy callables, surface names start with one of "
                         f"{SURFACE_PREFIXES}")


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
    return is_sympy(p) and bool(p.free_symbols)


# ---- common shape rules ----

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
