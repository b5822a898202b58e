"""Constant folding: a node whose operands are all consts becomes a const, computed by its NumPy reference."""
from __future__ import annotations

import numpy as np
from ..lazy import is_sympy

from ..ir.graph import Graph
from ..primitives import REGISTRY
from .manager import graph_pass, Rewriter

# Results larger than this stay computed at run time (a big literal costs memory and compile time).
MAX_FOLD_ELEMENTS = 4096
# A fold may not grow the data more than this over its operands: broadcasting a scalar const to [784]
# is cheaper left as a broadcast (codegen keeps it in a register) than folded into a 784-element literal.
_SMALL = 16

_const = REGISTRY["const"]


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _has_symbols(p):
    if is_sympy(p):
        return not p.is_Integer
    if isinstance(p, (tuple, list)):
        return any(_has_symbols(x) for x in p)
    return False


def try_fold(n, arrays):
    """The folded value of node n on const operand `arrays`, or None when it should not be folded."""
    t = n.out.type
    if t.is_tuple or not n.prim.foldable or n.prim.effect or not arrays or not t.is_static:
        return None
    size = _size(t.shape)
    if size > MAX_FOLD_ELEMENTS or size > max(_SMALL, sum(a.size for a in arrays)):
        return None
    if any(_has_symbols(p) for p in n.params.values()):
        return None
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(n.prim.numpy(*arrays, **n.params))
    except Exception:        # e.g. reduce_max of an empty const: leave the error to run time
        return None
    if out.dtype != t.dtype.np:
        out = out.astype(t.dtype.np)
    if out.shape != tuple(t.shape):
        return None
    return out if out.flags.c_contiguous and out.flags.owndata else out.copy()


@graph_pass
def fold_constants(g: Graph) -> Graph:
    """Replace each node whose operands are all consts (and whose result is small) by a const node."""
    rw = Rewriter(g)
    for n in g.nodes:
        ins = rw.inputs(n)
        if n.prim is not _const and ins and all(v.node is not None and v.node.prim is _const for v in ins):
            value = try_fold(n, [v.node.params["value"] for v in ins])
            if value is not None:
                rw.replace(n, rw.emit(_const, (), {"value": value}, n.out.type, n.loc, origin=n))
                continue
        rw.keep(n, ins)
    return rw.finish()
