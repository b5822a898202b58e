"""Tracing: Tracer objects stand in for arrays and record primitives into a Graph, with the user's file:line.

A trace is a TraceContext on a thread-local stack. Nested traces (grad of grad, a closure over an outer
traced value) work by capture: a tracer of an enclosing trace used inside an inner one becomes an extra
input of the inner graph, and whoever evaluates that graph passes the outer value in.
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from functools import lru_cache

import numpy as np
from .lazy import is_sympy, sympy

from .errors import DTypeError, ShapeError, TraceError, format_loc
from .ir.graph import GraphBuilder, Graph, SourceLoc, Value
from .ir.types import TensorType, dtype as to_dtype, symbol
from .primitives import base as prim_base
from .primitives import const as const_p
from .inputs import native_dtype, refuse, is_weak as is_weak_scalar
from .primitives import asserts as asserts_p
from .assert_site import assert_site
from . import guards, pytree, random_guard, array_ctor

_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
_local = threading.local()


def trace_stack():
    """This thread's active TraceContexts, innermost last (the transforms push theirs too)."""
    s = getattr(_local, "stack", None)
    if s is None:
        s = _local.stack = []
    return s


def user_loc(depth=2):
    """The first frame outside vive and NumPy: where the user's code made this op."""
    override = getattr(_local, "loc", None)
    if override is not None:
        return override
    f = sys._getframe(depth)
    while f is not None:
        fn = f.f_code.co_filename
        if not (fn.startswith(_PKG_DIR) or fn.startswith(_NUMPY_DIR) or fn.startswith("<__array_function__")):
            return SourceLoc(_short(fn), f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


def _short(path):
    return _short_in(path, os.getcwd())


@lru_cache(maxsize=1024)
def _short_in(path, cwd):
    # cached: relpath was a third of the trace time of a deep MLP
    try:
        rel = os.path.relpath(path, cwd)
        return rel if not rel.startswith("..") else path
    except ValueError:
        return path


@contextmanager
def loc_scope(loc):
    """Nodes made inside this block carry `loc` (transforms keep the primal op's user line)."""
    old = getattr(_local, "loc", None)
    _local.loc = loc if loc is not None else old
    try:
        yield
    finally:
        _local.loc = old


class TraceContext:
    def __init__(self, name):
        self.builder = GraphBuilder(name)
        self.level = len(trace_stack())
        self.active = True
        self.captured = {}          # id(outer Value) -> inner input Value
        self.captured_tracers = []  # outer tracers, in capture order
        self.weak_limits = {}       # input index -> narrowest np.dtype a weak Python int input was cast to
        self.effect_token = None    # the result of the last effectful node recorded here (primitives/effects.py)

    def lift(self, x):
        """Make `x` a Value of this trace: own tracers pass, outer tracers are captured."""
        if isinstance(x, Tracer):
            if x._ctx is self:
                return x._value
            if not x._ctx.active:
                raise TraceError("a traced value escaped the function that traced it (stored in a global "
                                 "or a closure?) and was used later" + format_loc(user_loc(3)))
            key = id(x._value)
            v = self.captured.get(key)
            if v is None:
                v = Value(x._value.type, None, None)
                self.captured[key] = v
                self.captured_tracers.append(x)
            return v
        return None


def is_tracer(x):
    return isinstance(x, Tracer)


def record(prim, args, params):
    """Add a node for prim(*args) to the innermost trace among the tracers in args. A multi-result primitive
    gives a Python tuple of tracers (its node's tuple value read by `get` nodes; unused ones die in DCE)."""
    if prim is _GET and type(args[0]) is tuple:
        return args[0][params["index"]]
    ctx = None
    for a in args:
        if isinstance(a, Tracer) and (ctx is None or a._ctx.level > ctx.level):
            ctx = a._ctx
    if ctx is None:
        stack = trace_stack()
        if not stack:
            raise TraceError(f"{prim.name} with symbolic sizes {params} outside of a trace")
        ctx = stack[-1]
    if not ctx.active:
        raise TraceError("a traced value escaped the function that traced it and was used later"
                         + format_loc(user_loc(3)))
    loc = user_loc(3)
    vals = []
    for a in args:
        v = ctx.lift(a)
        if v is None:
            v = ctx.builder.add(const_p, [], {"value": np.asarray(a)}, loc)
        vals.append(v)
    if prim.effect:
        # thread this trace's ordering token: a replayed node's old token (from the graph it came from) is replaced
        if params.get("token"):
            vals.pop()
        tok = ctx.effect_token
        if tok is not None:
            vals.append(tok)
        params = {**params, "token": tok is not None}
        out = ctx.effect_token = ctx.builder.add(prim, vals, params, loc)
        return Tracer(ctx, out)
    out = ctx.builder.add(prim, vals, params, loc)
    if out.type.is_tuple:
        return tuple(Tracer(ctx, ctx.builder.add(_GET, [out], {"index": i}, loc)) for i in range(len(out.type)))
    return Tracer(ctx, out)


_GET = prim_base.get("get")


prim_base._TRACE_HOOKS = (is_tracer, record)
prim_base._TRACE_ACTIVE = lambda: bool(trace_stack())


class Tracer:
    """Stands in for an array while tracing; NumPy functions and operators on it record primitives.

    A weak tracer stands for a Python scalar (an argument passed as bool/int/float, or Python arithmetic on
    such): NumPy's promotion treats it like a Python scalar (NEP 50), so `f32 * s` stays f32."""
    __slots__ = ("_ctx", "_value", "_weak")
    __array_priority__ = 1000
    _op_priority = 1000.0     # sympy defers to us: N + x (N = x.shape[0] symbolic) calls Tracer.__radd__

    def __init__(self, ctx, value, weak=False):
        self._ctx = ctx
        self._value = value
        self._weak = weak

    # ---- array-like properties ----
    @property
    def aval(self) -> TensorType:
        return self._value.type

    @property
    def shape(self):
        s = self._value.type.shape
        # NOTE: user code gets SymDim for a symbolic size, so that its Python decisions on sizes become guards;
        # vive's own code keeps the sympy expressions (and decides through guards where it must)
        if all(type(d) is int for d in s) or sys._getframe(1).f_code.co_filename.startswith(_PKG_DIR):
            return s
        return guards.user_shape(s)

    @property
    def ndim(self):
        return len(self._value.type.shape)

    @property
    def size(self):
        n = self._value.type.size
        if type(n) is int or sys._getframe(1).f_code.co_filename.startswith(_PKG_DIR):
            return n
        return guards.SymDim(n)

    @property
    def dtype(self):
        return self._value.type.dtype.np

    def __repr__(self):
        return f"Tracer({self._value.type})"

    def __len__(self):
        if not self.shape:
            raise TraceError("len() of a 0-d traced value" + format_loc(user_loc()))
        return guards.concrete(self._value.type.shape[0], "len() of a traced value with a symbolic first size "
                                                                "(use x.shape[0] to keep it symbolic)")

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    # ---- Python control flow on traced values is not traceable ----
    def _no_concrete(self, what, fix="Use np.where(cond, a, b) to choose between values elementwise."):
        loc = user_loc()
        where = f" at {loc.file}:{loc.line} in {loc.func}" if loc else ""
        raise TraceError(f"Python {what} on a traced value{where}; its value is unknown while tracing. {fix}")

    def __bool__(self):
        site = assert_site(sys._getframe(1))
        if site is None:
            self._no_concrete("`if`/`while`/`and`/`or` (bool())")
        return _record_assert(self, *site)

    def __int__(self):
        self._no_concrete("int()")

    def __float__(self):
        self._no_concrete("float()")

    def __index__(self):
        self._no_concrete("use as an index (__index__)")

    def __complex__(self):
        self._no_concrete("complex()")

    def __array__(self, dtype=None, copy=None):
        self._no_concrete("conversion to a NumPy array (np.asarray, np.array)",
                          "Use np.stack or np.concatenate to build an array from traced values, and NumPy "
                          "functions (not math.* or Python builtins) on them.")

    def tolist(self):
        self._no_concrete("tolist()")

    def item(self):
        self._no_concrete("item()")

    def __hash__(self):
        return id(self)

    # ---- NumPy protocol ----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _surface.apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _surface.apply_function(func, args, kwargs)


def _record_assert(x, passes, msg):
    """`assert x` on a traced value: a run-time check that x's truth is `passes` (primitives/asserts.py); the trace
    goes on along the way where the assertion held."""
    t = x._value.type
    if not all(d == 1 for d in t.shape):
        # NumPy's error for the truth of an array, whatever its values
        raise ValueError("The truth value of an array with more than one element is ambiguous. Use a.any() or "
                         "a.all()" + format_loc(user_loc()))
    c = x if not t.shape else _surface.reshape(x, ())
    c = c if t.dtype.is_bool else _surface.not_equal(c, 0)
    if not passes:
        c = _surface.logical_not(c)
    prim_base.bind(asserts_p.assert_true, [c], {"msg": msg})
    return passes


def is_weak(x):
    """A Python scalar or a weak tracer: what NumPy 2 promotes by kind only (NEP 50)."""
    return (isinstance(x, Tracer) and x._weak) or is_weak_scalar(x)


def _weak_result(r, *args):
    # Python arithmetic on Python scalars gives a Python scalar: weak again (np.add(s, 1) gives a NumPy scalar,
    # so only the operators, not the ufuncs, keep weakness)
    if isinstance(r, Tracer) and not r._weak and all(is_weak(a) for a in args):
        return Tracer(r._ctx, r._value, True)
    return r


# The NumPy surface (compiler/ops.py, the layer above this one) installs itself when imported: the tracer's NumPy
# protocol and operators call into it, and trace never imports it.
_surface = None


def install_surface(ops):
    """Called once by compiler/ops.py with itself: `ops.apply_ufunc`/`apply_function` serve the NumPy protocol, and
    the operators and ndarray methods of Tracer are its functions."""
    global _surface
    _surface = ops
    binops = {"add": ops.add, "sub": ops.subtract, "mul": ops.multiply, "truediv": ops.true_divide,
              "floordiv": ops.floor_divide, "pow": ops.power, "matmul": ops.matmul, "mod": ops.mod}
    for name, fn in binops.items():
        setattr(Tracer, f"__{name}__", (lambda f: lambda a, b: _weak_result(f(a, b), a, b))(fn))
        setattr(Tracer, f"__r{name}__", (lambda f: lambda a, b: _weak_result(f(b, a), a, b))(fn))
    for name, fn in {"lt": ops.less, "le": ops.less_equal, "gt": ops.greater, "ge": ops.greater_equal,
                     "eq": ops.equal, "ne": ops.not_equal, "and": ops.logical_and_or_bitwise("and"),
                     "or": ops.logical_and_or_bitwise("or"), "xor": ops.logical_and_or_bitwise("xor")}.items():
        setattr(Tracer, f"__{name}__", (lambda f: lambda a, b: _weak_result(f(a, b), a, b))(fn))
    Tracer.__rand__ = lambda a, b: _weak_result(ops.logical_and_or_bitwise("and")(b, a), a, b)
    Tracer.__ror__ = lambda a, b: _weak_result(ops.logical_and_or_bitwise("or")(b, a), a, b)
    Tracer.__rxor__ = lambda a, b: _weak_result(ops.logical_and_or_bitwise("xor")(b, a), a, b)
    Tracer.__neg__ = lambda a: _weak_result(ops.negative(a), a)
    Tracer.__pos__ = lambda a: a
    Tracer.__abs__ = lambda a: _weak_result(ops.absolute(a), a)
    Tracer.__invert__ = lambda a: ops.invert(a)
    Tracer.__getitem__ = lambda a, idx: ops.getitem(a, idx)
    Tracer.__hash__ = lambda a: id(a)
    for name in ("sum", "mean", "max", "min", "argmax", "reshape", "transpose", "astype", "flatten", "ravel",
                 "squeeze", "clip", "var", "std", "prod", "dot", "copy", "swapaxes", "all", "any", "argmin",
                 "cumsum", "fill", "sort", "repeat"):
        setattr(Tracer, name, getattr(ops, "method_" + name))
    Tracer.T = property(lambda a: ops.transpose(a))
    Tracer.mT = property(lambda a: ops.swapaxes(a, -1, -2))


def abstractify(x) -> TensorType:
    """The TensorType standing for an argument: a Spec or TensorType as is, an array by dtype and shape."""
    if isinstance(x, TensorType):
        return x
    if isinstance(x, Tracer):
        return x.aval
    if isinstance(x, (bool, int, float)):
        return TensorType(to_dtype(np.asarray(x).dtype), ())
    if isinstance(x, (np.ndarray, np.generic)):
        refuse(x)
        return TensorType(to_dtype(native_dtype(x.dtype)), x.shape)
    if hasattr(x, "__array__") or isinstance(x, (list,)):
        a = np.asarray(x)
        if a.dtype == object:
            raise TraceError(f"cannot trace an argument of type {type(x).__name__}")
        return TensorType(to_dtype(a.dtype), a.shape)
    raise TraceError(f"cannot trace an argument of type {type(x).__name__}: pass NumPy arrays, "
                     f"Python numbers, cc.Spec, or dicts/lists/tuples of them{pytree.hint(x)}")


def trace_flat(fn, in_tree, in_types, name=None, weak=()):
    """Trace fn on abstract inputs; returns (graph, outer tracers the graph captured as extra inputs).
    `weak[i]` true: input i stands for a Python scalar (a weak tracer, see Tracer). The graph's `weak_limits`
    maps such an int input to the narrowest integer dtype the trace cast it to (NumPy raises OverflowError for a
    value out of its range: the caller checks)."""
    import re
    syms = set()
    for t in in_types:
        syms |= t.free_symbols
    outer = guards.current()
    if syms and (outer is None or not syms <= outer.env.keys()):
        # no caller gave example sizes (cc.trace of a cc.Spec): decide with stand-ins; the graph keeps its guards
        with guards.recording(guards.hints(syms), hinted=True) as gctx:
            g, captured = trace_flat(fn, in_tree, in_types, name, weak)
        g.guards = list(gctx.guards)
        return g, captured
    ctx = TraceContext(re.sub(r"[^\w.]", "_", name or getattr(fn, "__name__", "f")).strip("_") or "f")
    stack = trace_stack()
    stack.append(ctx)
    try:
        names = _arg_names(fn, in_tree)
        weak = tuple(weak) + (False,) * (len(in_types) - len(weak))
        tracers = [Tracer(ctx, ctx.builder.input(t, nm), w) for t, nm, w in zip(in_types, names, weak)]
        out = fn(*pytree.unflatten(in_tree, tracers))
        leaves, out_tree = pytree.flatten(out)
        outs = []
        for leaf in leaves:
            leaf = guards.unwrap(leaf)
            v = ctx.lift(leaf)
            if v is None:
                if is_sympy(leaf) and leaf.free_symbols:      # a symbolic size, e.g. x.shape[0]
                    v = ctx.builder.add(prim_base.get("dim"), [], {"expr": leaf}, None)
                elif not isinstance(leaf, (np.ndarray, np.generic, bool, int, float)):
                    raise TraceError(f"function {ctx.builder.name} returned a {type(leaf).__name__}; "
                                     f"return arrays or dicts/lists/tuples of arrays")
                else:
                    v = ctx.builder.add(const_p, [], {"value": np.asarray(leaf)}, None)
            outs.append(v)
    finally:
        ctx.active = False
        stack.pop()
    explicit = ctx.builder.inputs
    captured = list(ctx.captured.values())
    g = Graph(ctx.builder.name, explicit + captured, ctx.builder.nodes, outs, in_tree=in_tree,
              out_tree=out_tree, n_explicit=len(explicit))
    g.weak_limits = ctx.weak_limits
    return g, ctx.captured_tracers


def _arg_names(fn, in_tree):
    """Printable input names from the signature and pytree keys: x, params.w1, ..."""
    import inspect
    import re
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    out = []
    for path in pytree.leaf_paths(in_tree):
        if not path:
            out.append(None)
            continue
        i = path[0]
        head = params[i] if isinstance(i, int) and i < len(params) else f"a{i}"
        parts = [head] + [str(k) for k in path[1:]]
        name = re.sub(r"[^\w.]", "_", ".".join(parts))
        out.append(name)
    return out


def trace(fn, *args, name=None) -> Graph:
    """Trace a NumPy function on example arrays or cc.Spec's; returns its Graph.

    >>> g = cc.trace(lambda x, w: np.tanh(x @ w), cc.Spec("f32[N,4]"), np.ones((4, 2), np.float32))
    """
    leaves, in_tree = pytree.flatten(args)
    types = []
    for path, x in zip(pytree.leaf_paths(in_tree), leaves):
        try:
            types.append(abstractify(x))
        except DTypeError as e:
            where = "argument " + "".join(f"[{k!r}]" for k in path)
            raise DTypeError(f"{where}: {e}") from None
    g, captured = trace_flat(fn, in_tree, types, name, weak=[is_weak(x) for x in leaves])
    if captured:
        raise TraceError("cc.trace of a function that closes over values traced by an enclosing transform")
    return g


# ---- evaluation: the reference interpreter, and inlining into an enclosing trace ----

def bind_symbols(graph, args):
    """{symbol: size} of graph's symbolic input dims, read off the arguments (arrays or tracers)."""
    env = {}
    for v, a in zip(graph.inputs, args):
        shape = a.shape if isinstance(a, Tracer) else np.shape(a)
        # NOTE: inlined into an enclosing trace, the graph's symbols take the tracers' dims (ints or expressions)
        for d, n in zip(v.type.shape, shape):
            if is_sympy(d, "Symbol"):
                env.setdefault(d, n if is_sympy(n) else int(n))
    return env


def subst_symbols(p, env):
    """A node parameter with the symbols of env substituted (ints where they become integers)."""
    if is_sympy(p):
        r = p.subs(env)
        return int(r) if r.is_Integer else r
    if isinstance(p, tuple):
        return tuple(subst_symbols(x, env) for x in p)
    if isinstance(p, list):
        return [subst_symbols(x, env) for x in p]
    return p


def evaluate(graph: Graph, args):
    """Run graph on flat args: NumPy arrays give the reference result; tracers inline it into their trace."""
    if len(args) != len(graph.inputs):
        raise TraceError(f"graph {graph.name} takes {len(graph.inputs)} inputs, got {len(args)}")
    env = dict(zip(graph.inputs, args))
    symenv = bind_symbols(graph, args) if graph.free_symbols else None
    for n in graph.nodes:
        params = n.params
        if symenv:
            params = {k: subst_symbols(p, symenv) for k, p in params.items()}
        with loc_scope(n.loc):
            env[n.out] = prim_base.bind(n.prim, [env[v] for v in n.inputs], params)
    return [env[v] for v in graph.outputs]


def interpret(graph: Graph, *args):
    """The reference interpreter: flat NumPy arrays in, list of NumPy arrays out."""
    arrays = [np.asarray(a) for a in args]
    if getattr(graph, "guards", None) and len(arrays) == len(graph.inputs):
        env = {k: sympy.Integer(v) for k, v in bind_symbols(graph, arrays).items()}
        bad = [str(g) for g in graph.guards if g.xreplace(env) is sympy.false]
        if bad:
            raise ShapeError(f"graph {graph.name} was traced for sizes with {', '.join(bad)}; these arrays "
                             f"break it (trace it again for them)")
    for v, a in zip(graph.inputs, arrays):
        if to_dtype(a.dtype) is not v.type.dtype:
            arrays = [np.asarray(a, dtype=v.type.dtype.np) if to_dtype(a.dtype) is not v.type.dtype else a
                      for a, v in zip(arrays, graph.inputs)]
            break
    return [np.asarray(o) for o in evaluate(graph, arrays)]


__all__ = ["Tracer", "trace", "trace_flat", "evaluate", "interpret", "abstractify", "loc_scope", "user_loc",
           "symbol"]

# the eager reference of assert_true names the line of the node it evaluates (loc_scope)
asserts_p.current_loc = lambda: getattr(_local, "loc", None)
# np.random inside a traced function raises instead of baking one draw into the graph (see random_guard.py)
random_guard.install(lambda: (getattr(_local, "stack", None) or (None,))[0], user_loc)
# np.array([x, 2 * x]), np.asarray(x), np.r_[x, y] of traced values build them from the tracers (array_ctor.py)
array_ctor.install(is_tracer, lambda: bool(getattr(_local, "stack", None)))


def _sym_iota(n, dt):
    from .primitives import iota
    return iota(n=n.expr if isinstance(n, guards.SymDim) else n, dtype=to_dtype(dt))


def _sym_full(shape, value, dt):
    from .primitives import shape as shape_p
    dims = tuple(d.expr if isinstance(d, guards.SymDim) else int(d) for d in shape)
    value = value.astype(dt) if isinstance(value, Tracer) else np.asarray(value, dtype=dt)
    nd = len(value.shape)
    if nd > len(dims):
        raise ValueError(f"could not broadcast a fill value of shape {tuple(value.shape)} to the shape "
                         f"{tuple(map(str, dims))}")
    return shape_p.broadcast_in_dim(value, shape=dims, dims=tuple(range(len(dims) - nd, len(dims))))


# np.arange(x.shape[0]), np.zeros((x.shape[0], 10)) with a symbolic size stay symbolic (array_ctor.py)
array_ctor.install_sized(lambda v: isinstance(v, guards.SymDim), lambda: bool(getattr(_local, "stack", None)),
                         _sym_iota, _sym_full)
