"""Graph export: networkx DiGraph with op/type attributes and Graphviz DOT text."""
import numpy as np
import networkx as nx

import compiler as cc
from trace_checks import check_every_trace  # noqa: F401


def _mlp():
    return cc.trace(lambda x, w, b: np.maximum(x @ w + b, 0), cc.Spec("f32[N,8]"),
                    np.ones((8, 2), np.float32), np.ones(2, np.float32))


def test_to_networkx():
    g = _mlp()
    G = g.to_networkx()
    assert isinstance(G, nx.DiGraph) and nx.is_directed_acyclic_graph(G)
    assert G.nodes["%x"] == {"op": "input", "type": "f32[N,8]"}
    assert G.nodes["%0"]["op"] == "dot_general" and G.nodes["%0"]["type"] == "f32[N,2]"
    assert G.nodes["%0"]["loc"].startswith("tests/ir/test_export.py:")
    assert G.nodes["out0"] == {"op": "output", "type": "f32[N,2]"}
    assert set(G.edges) == {("%x", "%0"), ("%w", "%0"), ("%0", "%1"), ("%b", "%1"), ("%1", "%3"), ("%2", "%3"),
                            ("%3", "out0")}
    assert list(nx.topological_sort(G))[-1] == "out0"
    assert G.number_of_nodes() == len(g.inputs) + len(g.nodes) + len(g.outputs)


def test_to_dot():
    dot = _mlp().to_dot()
    lines = dot.splitlines()
    assert lines[0] == 'digraph "lambda" {' and lines[-1] == "}"
    assert '  "%x" [label="%x: f32[N,8]\\ninput", shape=ellipse];' in lines
    assert '  "%0" [label="%0: f32[N,2]\\ndot_general", shape=box];' in lines
    assert '  "%0" -> "%1";' in lines
    assert dot.count("->") == 7


def test_dot_quotes_odd_names():
    g = cc.trace(lambda d: d['a"b'] * 2, {'a"b': np.ones(2, np.float32)})
    dot = g.to_dot()
    assert '"' not in dot.split("digraph ")[1].split(" {")[0].strip('"')
    G = g.to_networkx()
    assert G.number_of_edges() == 3
