"""Dead code elimination: drop nodes no output depends on."""
from __future__ import annotations

from ..ir.graph import Graph
from .manager import graph_pass


@graph_pass
def eliminate_dead_code(g: Graph) -> Graph:
    """Keep the nodes some output reads (directly or through other nodes); inputs stay (they are the signature)."""
    live = g.reachable_from(g.outputs)
    if len(live) == len(g.nodes):
        return g
    return g.filter(lambda n: n in live)
