"""Graph -> networkx DiGraph and Graphviz DOT text."""
from __future__ import annotations

from .graph import Graph
from .printer import value_names


def to_networkx(g):
    """A networkx.DiGraph of g: a node per input, node and output, an edge per use."""
    import networkx as nx         # NOTE: only when asked for (networkx takes a while to import)
    names = value_names(g)
    G = nx.DiGraph(name=g.name)
    for v in g.inputs:
        G.add_node(f"%{names[v]}", op="input", type=str(v.type))
    for n in g.nodes:
        key = f"%{names[n.out]}"
        G.add_node(key, op=n.prim.name, type=str(n.out.type), loc=str(n.loc) if n.loc else "")
        for v in n.inputs:
            G.add_edge(f"%{names[v]}", key)
    for i, v in enumerate(g.outputs):
        G.add_node(f"out{i}", op="output", type=str(v.type))
        G.add_edge(f"%{names[v]}", f"out{i}")
    return G


def _q(s):
    return '"' + str(s).replace('"', "'") + '"'


def to_dot(g) -> str:
    G = to_networkx(g)
    lines = [f"digraph {_q(g.name)} {{", "  rankdir=TB;", "  node [shape=box, fontname=monospace];"]
    for key, attrs in G.nodes(data=True):
        shape = "ellipse" if attrs["op"] in ("input", "output") else "box"
        label = f"{key}: {attrs['type']}\\n{attrs['op']}"
        lines.append(f"  {_q(key)} [label={_q(label)}, shape={shape}];")
    for a, b in G.edges():
        lines.append(f"  {_q(a)} -> {_q(b)};")
    lines.append("}")
    return "\n".join(lines)


Graph.to_networkx = to_networkx     # graph.py sits below this module
Graph.to_dot = to_dot
