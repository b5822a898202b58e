"""Common subexpression elimination: nodes with the same primitive, operands and params compute the same value."""
from __future__ import annotations

import numpy as np

from ..ir.graph import Graph
from ..ir.types import DType
from .manager import graph_pass, Rewriter

def param_key(p):
    """A hashable key equal exactly when two params mean the same thing (arrays by dtype, shape and bytes;
    floats by their bits, so 0.0 and -0.0 differ and NaN equals NaN)."""
    if isinstance(p, np.ndarray):
        return ("nd", p.dtype.str, p.shape, np.ascontiguousarray(p).tobytes())
    if isinstance(p, (bool, np.bool_)):
        return ("b", bool(p))
    if isinstance(p, (int, np.integer)):
        return int(p)
    if isinstance(p, (float, np.floating)):
        return ("f", float(p).hex())
    if isinstance(p, (tuple, list)):
        return tuple(param_key(x) for x in p)
    if isinstance(p, DType):
        return ("dt", p.name)
    if isinstance(p, dict):
        return tuple(sorted((k, param_key(v)) for k, v in p.items()))
    return p        # str, None, sympy expressions (hashable, structural equality)


def node_key(n, inputs):
    ins = tuple(map(id, inputs))
    if n.prim.commutative:            # (Primitive.commutative: exactly, NaN and signed zeros included)
        ins = tuple(sorted(ins))
    params = tuple(sorted((k, param_key(v)) for k, v in n.params.items())) if n.params else ()
    t = n.out.type
    return (n.prim.name, ins, params) + ((t,) if t.is_tuple else (t.dtype.name, t.shape))


@graph_pass
def eliminate_common_subexpressions(g: Graph) -> Graph:
    """Replace a node by an earlier one with the same primitive, operands (after replacement) and params."""
    rw = Rewriter(g)
    seen = {}
    for n in g.nodes:
        ins = rw.inputs(n)
        if n.prim.effect:
            rw.keep(n, ins)         # two equal prints print twice
            continue
        key = node_key(n, ins)
        # NOTE: ids in the key are safe: every operand stays alive in `ins`/`rw` while `seen` exists.
        prev = seen.get(key)
        if prev is not None:
            rw.replace(n, prev)
            continue
        seen[key] = rw.keep(n, ins)
    return rw.finish()
