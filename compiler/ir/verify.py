"""The verifier: SSA, operands defined before use, every node's type equal to its primitive's shape rule."""
from __future__ import annotations

from ..errors import VerifyError, ViveError
from .printer import value_names, format_node, regions


def verify(g, context=""):
    """Raise VerifyError naming the bad node (with a few lines around it) when g breaks an invariant."""
    defined = set(g.inputs)
    if len(defined) != len(g.inputs):
        _fail(g, None, "an input appears twice", context)
    seen = set()
    for i, n in enumerate(g.nodes):
        if n in seen:
            _fail(g, i, "node appears twice", context)
        seen.add(n)
        for v in n.inputs:
            if v not in defined:
                _fail(g, i, "operand used before it is defined (or not in this graph)", context)
        try:
            t = n.prim.infer(*(v.type for v in n.inputs), **n.params)
        except ViveError as e:
            _fail(g, i, f"shape rule rejects the node: {e}", context)
        if t != n.out.type:
            _fail(g, i, f"result type {n.out.type} differs from the shape rule's {t}", context)
        if n.out in defined:
            _fail(g, i, "value defined twice (not SSA)", context)
        defined.add(n.out)
        # a sub-graph sees only its own inputs (the op passes outer values in explicitly)
        for key, sub in regions(n):
            verify(sub, f"{context + ', ' if context else ''}region {key} of node %{i} ({n.prim.name})")
    for v in g.outputs:
        if v not in defined:
            _fail(g, None, "an output is not defined in the graph", context)
    return g


def _fail(g, i, msg, context):
    names = value_names(g) if i is None or True else None
    where = f" in {context}" if context else ""
    text = f"verifier{where}: {msg}"
    if i is not None:
        lo, hi = max(0, i - 3), min(len(g.nodes), i + 2)
        for j in range(lo, hi):
            try:
                line = format_node(g.nodes[j], _SafeNames(names))
            except Exception:  # a broken graph may not print cleanly
                line = repr(g.nodes[j])
            text += f"\n  {'>>' if j == i else '  '} {line}"
    raise VerifyError(text)


class _SafeNames(dict):
    def __missing__(self, key):
        return "?"
