"""The canonical text IR: one line per node with its result type; names assigned at print time."""
from __future__ import annotations

import base64

import numpy as np
from ..lazy import is_sympy

from .graph import Graph, is_region, regions  # noqa: F401  (regions: also imported from here)
from .types import DType, dim_str

_INLINE_CONST_LIMIT = 16


def value_names(g):
    """Value -> printed name: inputs keep their names (else a0, a1, ...), node results are numbered."""
    names, used = {}, set()
    for i, v in enumerate(g.inputs):
        base = v.name or f"a{i}"
        name, k = base, 1
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        names[v] = name
    for i, n in enumerate(g.nodes):
        names[n.out] = str(i)
    return names


def format_param(p) -> str:
    if isinstance(p, (bool, np.bool_)) or p is None:
        return repr(p if p is None else bool(p))
    if isinstance(p, (int, np.integer)):
        return str(int(p))
    if isinstance(p, (float, np.floating)):
        f = float(p)
        if f != f or f in (float("inf"), float("-inf")):
            return "nan" if f != f else "inf" if f > 0 else "-inf"
        # a float32 prints in its shortest f32 form (0.1, not 0.10000000149011612); parsing rounds it back
        return str(p) if isinstance(p, np.float32) else repr(f)
    if isinstance(p, DType):
        return p.name
    if is_sympy(p):
        return dim_str(p) if p.free_symbols else str(p)
    if isinstance(p, str):
        return repr(p)
    if isinstance(p, (tuple, list)):
        inner = ", ".join(format_param(x) for x in p)
        return f"({inner},)" if len(p) == 1 else f"({inner})"
    if isinstance(p, np.ndarray):
        return format_array(p)
    raise TypeError(f"cannot print param {p!r}")


def format_array(a: np.ndarray) -> str:
    if a.size > _INLINE_CONST_LIMIT:
        return "base64('" + base64.b64encode(np.ascontiguousarray(a).tobytes()).decode() + "')"
    if a.ndim == 0:
        return format_param(a[()])
    return _nested(a)


def _nested(a):
    if a.ndim == 1:
        return "[" + ", ".join(format_param(x) for x in a) + "]"
    return "[" + ", ".join(_nested(x) for x in a) + "]"


def format_node(n, names) -> str:
    lhs = f"%{names[n.out]}: {n.out.type}"
    if n.prim.name == "const":
        return f"{lhs} = const {format_array(n.params['value'])}"
    args = ", ".join(f"%{names[v]}" for v in n.inputs)
    text = f"{lhs} = {n.prim.name}" + (f" {args}" if args else "")
    params = sorted((k, v) for k, v in n.params.items() if not is_region(v))
    if params:
        text += " {" + ", ".join(f"{k}={format_param(v)}" for k, v in params) + "}"
    return text


def print_graph(g, locs=False, indent="", name=None) -> str:
    names = value_names(g)
    head = ", ".join(f"%{names[v]}: {v.type}" for v in g.inputs)
    lines = [f"{indent}graph {name or g.name}({head}) {{"]
    if locs and getattr(g, "guards", None):
        # the facts about symbolic sizes the trace relied on (compiler/guards.py); the parser skips comments
        lines.append(indent + "  # guards: " + ", ".join(str(r) for r in g.guards))
    for n in g.nodes:
        line = indent + "  " + format_node(n, names)
        if locs and n.loc is not None:
            line = f"{line:<60}  # {n.loc.file}:{n.loc.line}"
        lines.append(line)
        # a control-flow op's sub-graphs follow it, indented: each has its own names
        for key, sub in regions(n):
            lines.append(print_graph(sub, locs, indent + "    ", name=key))
    lines.append(indent + "  return" + ("" if not g.outputs else " " + ", ".join(f"%{names[v]}" for v in g.outputs)))
    lines.append(indent + "}")
    return "\n".join(lines)


def _graph_str(g):
    return print_graph(g)


Graph.__str__ = _graph_str          # str(graph) is its text (graph.py sits below this module)
