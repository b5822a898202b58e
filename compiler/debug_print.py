"""cc.debug.print: print at once outside a trace; inside one, record a debug_print node (primitives/effects.py) that
prints each time the traced code runs: the reference interpreter prints from NumPy, compiled CPU code calls back
into Python (lower: a host_call statement; runtime/callbacks.py)."""
from __future__ import annotations

import numpy as np
from .lazy import is_sympy

from . import debug, guards, pytree
from .primitives import dim
from .errors import TraceError, format_loc
from .primitives.effects import debug_print as _debug_print_p, tree_spec, format_values, emit
from .trace import Tracer, trace_stack, record, user_loc


def debug_print(fmt, args, kwargs):
    """See compiler.debug.print."""
    if not isinstance(fmt, str):
        raise TypeError(f"cc.debug.print: the format must be a str, got {type(fmt).__name__}")
    names = tuple(kwargs)
    trees, leaves = [], []
    for a in list(args) + [kwargs[k] for k in names]:
        ls, td = pytree.flatten(a)
        trees.append(tree_spec(td))
        leaves += ls
    trees = tuple(trees)
    if not trace_stack():
        emit(format_values(fmt, trees, names, [np.asarray(x) for x in leaves]))
        return
    leaves = [_value(x) for x in leaves]
    _check_format(fmt, trees, names, leaves)
    record(_debug_print_p, leaves, {"fmt": fmt, "trees": trees, "names": names, "token": False})


def _value(x):
    """A leaf as something record() takes: a tracer, an array, or a symbolic size (x.shape[0]) as a dim node."""
    if isinstance(x, Tracer):
        return x
    x = guards.unwrap(x)
    if is_sympy(x) and x.free_symbols:
        return dim(expr=x)
    a = np.asarray(x)
    if a.dtype == object:
        raise TraceError(f"cc.debug.print: cannot print a {type(x).__name__} from traced code; pass arrays "
                         f"or pytrees of arrays" + format_loc(user_loc(3)))
    return a


def _check_format(fmt, trees, names, leaves):
    """A format that cannot take these arguments fails now, at the user's line, not at every call."""
    def stand_in(x):
        shape = tuple(d if isinstance(d, int) else 1 for d in np.shape(x))
        return np.zeros(shape, np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype)
    try:
        format_values(fmt, trees, names, [stand_in(x) for x in leaves])
    except (IndexError, KeyError, ValueError, TypeError, AttributeError) as e:
        raise TraceError(f"cc.debug.print: the format {fmt!r} does not fit its arguments: "
                         f"{type(e).__name__}: {e}" + format_loc(user_loc())) from None


debug.install(print=debug_print)     # cc.debug.print (debug.py sits below this module)
