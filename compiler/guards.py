"""Guards: the facts about symbolic sizes that a trace relied on, and SymDim, a symbolic size as user code sees it.

A trace with symbolic sizes keeps example values for them (the sizes of the call that made cc.compile trace
again, or stand-in hints for cc.Spec). A decision about a size (N >= 3 to slice x[:3], N == 1 to squeeze, a Python
`if x.shape[0] > 2`) is taken with the example and recorded as a guard; compile/function.py checks a version's guards before
a call uses it. A size needed as a concrete Python int (np.zeros(x.shape), range(n)) raises Specialize: that symbol
is compiled with concrete sizes instead. Depends on nothing in vive but errors: ir, ops and primitives use it.
"""
from __future__ import annotations

import operator
import os
import sys
import threading
from contextlib import contextmanager

import numpy as np
from .lazy import is_sympy, sympy

from .errors import TraceError


class Specialize(Exception):
    """A symbolic size was needed as a concrete int: compile these symbols with concrete sizes (not a ViveError:
    compile/function.py catches it and retraces)."""

    def __init__(self, symbols, what):
        super().__init__(f"{what} needs a concrete value for {', '.join(sorted(map(str, symbols)))}")
        self.symbols = frozenset(symbols)
        self.what = what


class GuardContext:
    """Example values of the symbols of one trace and the guards (sympy relations) recorded so far."""

    def __init__(self, env, hinted=False):
        self.env = {s: sympy.Integer(v) for s, v in env.items()}
        self.hinted = hinted          # values are stand-ins (cc.Spec): a concrete int cannot be had
        self.guards = []
        self._seen = set()

    def add(self, rel):
        if rel not in self._seen:
            self._seen.add(rel)
            self.guards.append(rel)


_local = threading.local()


def current():
    return getattr(_local, "ctx", None)


@contextmanager
def recording(env, hinted=False):
    """Record the guards of the traces run inside (a nested trace records into the context already open)."""
    old = current()
    ctx = GuardContext(env, hinted)
    _local.ctx = ctx
    try:
        yield ctx
    finally:
        _local.ctx = old


# hints for symbols without an example (cc.Spec): distinct (so N == M is not assumed) and big enough that small
# constant slices fit
_HINT = 4099


def hints(symbols):
    return {s: _HINT + 10 * i for i, s in enumerate(sorted(symbols, key=str))}


def example_sizes(types, leaves):
    """{symbol: size} read off the arrays `leaves` that the TensorTypes `types` (symbolic sizes) describe."""
    env = {}
    for t, x in zip(types, leaves):
        shape = x.shape if hasattr(x, "shape") else np.shape(x)
        for d, n in zip(t.shape, tuple(shape)):
            if not isinstance(d, int) and d.is_Symbol:
                env.setdefault(d, int(n))
    return env


def value(e) -> int:
    """The example value of size expression e."""
    if isinstance(e, int):
        return e
    ctx = current()
    v = e.xreplace(ctx.env) if ctx is not None else e
    if not v.is_Integer:
        raise TraceError(f"no example value for the symbolic size {e} (outside a trace)")
    return int(v)


def decide(rel) -> bool:
    """The truth of a sympy relation between sizes: static when sympy can tell, else from the example, guarded."""
    if isinstance(rel, bool):
        return rel
    if rel is sympy.true or rel is sympy.false:
        return bool(rel)
    ctx = current()
    if ctx is None:
        return bool(rel)          # sympy's TypeError: undecidable outside a trace
    v = rel.xreplace(ctx.env)
    if not (v is sympy.true or v is sympy.false):
        raise TraceError(f"cannot decide {rel} with the sizes {ctx.env}")
    truth = bool(v)
    g = rel if truth else rel.negated
    if not (g is sympy.true or g is sympy.false):
        ctx.add(g)
    return truth


def _cmp(op, sym_op):
    def f(a, b):
        if isinstance(a, int) and isinstance(b, int):
            return op(a, b)
        return decide(getattr(sympy, sym_op)(sympy.sympify(a), sympy.sympify(b)))
    return f


lt = _cmp(operator.lt, "Lt")          # sympy's relation by name: sympy is imported at the first symbolic size
le = _cmp(operator.le, "Le")
gt = _cmp(operator.gt, "Gt")
ge = _cmp(operator.ge, "Ge")
eq = _cmp(operator.eq, "Eq")
ne = _cmp(operator.ne, "Ne")


def concrete(e, what="using a symbolic size as a Python int") -> int:
    """e as a Python int: a symbolic e makes the trace start over with its symbols concrete (Specialize)."""
    if isinstance(e, int):
        return e
    e = sympy.sympify(e)
    if e.is_Integer:
        return int(e)
    ctx = current()
    if ctx is None:
        raise TraceError(f"{what}: the size {e} is symbolic here")
    what += _where()
    if ctx.hinted:
        raise TraceError(f"{what}: the size {e} must be a concrete int, so this function cannot be compiled "
                         f"for every size of {', '.join(sorted(map(str, e.free_symbols)))} (cc.Spec); "
                         f"call it with arrays instead")
    raise Specialize(e.free_symbols, what)


_PKG_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _where():
    """' at file:line' of the innermost frame outside vive and NumPy (the user's line asking for an int)."""
    np_dir = os.path.dirname(os.path.abspath(np.__file__)) + os.sep
    f = sys._getframe(2)
    while f is not None:
        fn = f.f_code.co_filename
        if not (fn.startswith(_PKG_DIR) or fn.startswith(np_dir) or fn.startswith("<__array_function__")):
            return f" at {fn}:{f.f_lineno}"
        f = f.f_back
    return ""


# ---- what user code sees ----

def _wrap(e):
    e = sympy.sympify(e)
    return int(e) if e.is_Integer else SymDim(e)


def unwrap(x):
    """The sympy expression (or int) behind a SymDim; anything else unchanged."""
    return x.expr if isinstance(x, SymDim) else x


def _int_operand(other):
    """A SymDim's expression, a Python or NumPy int (bools count as ints, as in Python), else None."""
    if isinstance(other, SymDim):
        return other.expr
    if isinstance(other, (int, np.integer, np.bool_)):
        return int(other)
    return None


def _arith(op, reverse=False):
    def f(self, other):
        o = _int_operand(other)
        if o is not None:
            other = o
        else:
            if isinstance(other, float) and other.is_integer() and op in (operator.add, operator.sub,
                                                                           operator.mul):
                # exact in sympy (2.0*N): stays symbolic, a weak scalar where it meets an array
                return SymDim(op(other, self.expr) if reverse else op(self.expr, other))
            if isinstance(other, float):          # other float arithmetic needs the int
                a = concrete(self.expr, "arithmetic of a symbolic size with a float")
                return op(other, a) if reverse else op(a, other)
            return NotImplemented                 # arrays, tracers: their own operators take it
        return _wrap(op(other, self.expr) if reverse else op(self.expr, other))
    return f


def _floordiv(a, b):
    return sympy.floor(sympy.sympify(a) / b)


def _mod(a, b):
    return sympy.Mod(a, b)


def _rel(fn):
    def f(self, other):
        o = _int_operand(other)
        if o is not None:
            other = o
        elif not (isinstance(other, float) or is_sympy(other)):
            return NotImplemented
        return fn(self.expr, other)
    return f


class SymDim:
    """A symbolic size in user code (x.shape[0] while tracing for every N). Arithmetic with ints stays symbolic;
    a Python decision on it (comparison, `if`) is taken with the example size and becomes a guard; int(),
    range(), np.zeros(x.shape) need a concrete int and specialise the compile on it."""
    __slots__ = ("expr",)

    def __init__(self, expr):
        self.expr = expr

    __add__ = _arith(operator.add)
    __radd__ = _arith(operator.add, True)
    __sub__ = _arith(operator.sub)
    __rsub__ = _arith(operator.sub, True)
    __mul__ = _arith(operator.mul)
    __rmul__ = _arith(operator.mul, True)
    __floordiv__ = _arith(_floordiv)
    __rfloordiv__ = _arith(_floordiv, True)
    __mod__ = _arith(_mod)
    __rmod__ = _arith(_mod, True)
    __lt__ = _rel(lt)
    __le__ = _rel(le)
    __gt__ = _rel(gt)
    __ge__ = _rel(ge)
    __eq__ = _rel(eq)
    __ne__ = _rel(ne)

    def __truediv__(self, other):
        return concrete(self.expr, "true division of a symbolic size") / other

    def __rtruediv__(self, other):
        return other / concrete(self.expr, "true division by a symbolic size")

    def __pow__(self, other):
        if isinstance(other, int) and not isinstance(other, bool) and other >= 0:
            return _wrap(self.expr ** other)
        return concrete(self.expr, "a power of a symbolic size") ** other

    def __neg__(self):
        return _wrap(-self.expr)

    def __pos__(self):
        return self

    def __abs__(self):
        return self if decide(sympy.Ge(self.expr, 0)) else _wrap(-self.expr)

    def __bool__(self):
        return ne(self.expr, 0)

    def __int__(self):
        return concrete(self.expr, "int() of a symbolic size")

    def __index__(self):
        return concrete(self.expr, "a symbolic size used as a Python int (an index, range(), a NumPy shape)")

    def __float__(self):
        return float(concrete(self.expr, "float() of a symbolic size"))

    def __array__(self, dtype=None, copy=None):
        return np.asarray(concrete(self.expr, "a symbolic size used as a NumPy array"), dtype=dtype)

    def __hash__(self):
        return hash(self.expr)

    def __repr__(self):
        return str(self.expr)

    def __format__(self, spec):
        return format(str(self.expr), spec)


def user_shape(shape):
    """The shape tuple user code sees: ints, and SymDim for symbolic sizes."""
    return tuple(d if isinstance(d, int) else SymDim(d) for d in shape)


# ---- checking guards on a call ----

_REL_OPS = {"<", "<=", ">", ">=", "==", "!="}


def checker(guards, names, pyexpr):
    """`lambda s: bool` over the input shapes s (s[i][axis]) checking every guard; names maps symbol -> source
    text such as 's[0][1]'; pyexpr(expr, names) writes a size expression as Python. None when there are none."""
    if not guards:
        return None
    parts = []
    for g in guards:
        op = getattr(g, "rel_op", None)           # sympy's relationals spell their operator
        if op not in _REL_OPS:
            raise TraceError(f"cannot check the guard {g}")
        parts.append(f"({pyexpr(g.lhs, names)} {op} {pyexpr(g.rhs, names)})")
    return eval(f"lambda s: {' and '.join(parts)}", {"max": max, "min": min})  # noqa: S307 -- from sympy sizes only
