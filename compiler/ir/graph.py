"""Graph, Node, Value, SourceLoc: the SSA graph every stage works on. Knows no primitive by name."""
from __future__ import annotations

from dataclasses import dataclass

from .types import TensorType


@dataclass(frozen=True)
class SourceLoc:
    file: str
    line: int
    func: str = "?"

    def __str__(self):
        return f"{self.file}:{self.line}"


class Value:
    """An SSA value: a graph input (node is None) or the result of one node."""
    __slots__ = ("type", "node", "name", "__weakref__")

    def __init__(self, type: TensorType, node=None, name=None):
        self.type = type
        self.node = node
        self.name = name

    def __repr__(self):
        return f"Value({self.name or hex(id(self))}: {self.type})"


class Node:
    """One primitive application with its params; its single result is `out`."""
    __slots__ = ("prim", "inputs", "params", "out", "loc")

    def __init__(self, prim, inputs, params, out_type, loc=None):
        self.prim = prim
        self.inputs = tuple(inputs)
        self.params = dict(params)
        self.loc = loc
        self.out = Value(out_type, self)

    def __repr__(self):
        return f"Node({self.prim.name}, {self.out.type})"


class Graph:
    """Inputs, nodes in topological order, outputs. in_tree/out_tree keep the user's pytree structure.

    `n_explicit` counts the user's arguments among the inputs; inputs after them are values captured
    from an enclosing trace (closures over tracers), passed in by whoever evaluates the graph.
    """

    def __init__(self, name, inputs, nodes, outputs, in_tree=None, out_tree=None, n_explicit=None):
        self.name = name
        self.inputs = list(inputs)
        self.nodes = list(nodes)
        self.outputs = list(outputs)
        self.in_tree = in_tree
        self.out_tree = out_tree
        self.n_explicit = len(self.inputs) if n_explicit is None else n_explicit
        self.guards = []        # facts about symbolic sizes the trace relied on (compiler/guards.py)

    # ---- queries ----
    @property
    def in_types(self):
        return [v.type for v in self.inputs]

    @property
    def out_types(self):
        return [v.type for v in self.outputs]

    @property
    def free_symbols(self):
        out = set()
        for v in self.inputs:
            out |= v.type.free_symbols
        return out

    def users(self):
        """Map Value -> list of nodes that read it."""
        uses = {}
        for n in self.nodes:
            for v in n.inputs:
                uses.setdefault(v, []).append(n)
        return uses

    def reachable_from(self, outputs=None):
        """Nodes that some output depends on, and effectful nodes (a print is live though nothing reads it)."""
        live, stack = set(), [v.node for v in (outputs or self.outputs) if v.node is not None]
        stack += [n for n in self.nodes if n.prim.effect or (n.out.type.is_tuple and _holds_effects(n))]
        while stack:
            n = stack.pop()
            if n in live:
                continue
            live.add(n)
            stack.extend(v.node for v in n.inputs if v.node is not None and v.node not in live)
        return live

    def replace(self, **kw):
        """A new Graph with some fields replaced (the nodes themselves are shared)."""
        d = dict(name=self.name, inputs=self.inputs, nodes=self.nodes, outputs=self.outputs,
                 in_tree=self.in_tree, out_tree=self.out_tree, n_explicit=self.n_explicit)
        d.update(kw)
        return Graph(**d)

    def filter(self, keep):
        nodes = [n for n in self.nodes if keep(n)]
        return self if len(nodes) == len(self.nodes) else self.replace(nodes=nodes)

    def count(self, prim_name=None):
        return sum(1 for n in self.nodes if prim_name is None or n.prim.name == prim_name)

    # ---- printing and export ----
    # NOTE: __str__ (the text IR) and to_networkx/to_dot are set by printer.py and export.py, which import this
    # module: the graph knows nothing of its printed forms.

    def __repr__(self):
        return f"<Graph {self.name}: {len(self.inputs)} inputs, {len(self.nodes)} nodes, {len(self.outputs)} outputs>"


def _holds_effects(n):
    """Whether a region node (a loop, a call) holds an effectful node in some region, at any depth: then it is
    effectful too. Cached per region graph."""
    for _, sub in regions(n):
        known = getattr(sub, "_has_effects", None)
        if known is None:
            known = sub._has_effects = any(m.prim.effect or (m.out.type.is_tuple and _holds_effects(m))
                                           for m in sub.nodes)
        if known:
            return True
    return False


def is_region(p) -> bool:
    """A param holding sub-graphs (a control-flow op's body, branches): printed as nested graphs."""
    return isinstance(p, Graph) or (isinstance(p, tuple) and bool(p) and all(isinstance(x, Graph) for x in p))


def regions(n):
    """(key, graph) for each sub-graph a node holds, in print order: `body`, `branches.0`, `branches.1`, ..."""
    out = []
    for k in sorted(n.params):
        p = n.params[k]
        if is_region(p):
            out.extend([(k, p)] if not isinstance(p, tuple) else [(f"{k}.{i}", x) for i, x in enumerate(p)])
    return out


class GraphBuilder:
    """Makes nodes for passes and transforms: add(prim, inputs, params) runs the shape rule."""

    def __init__(self, name="f"):
        self.name = name
        self.inputs = []
        self.nodes = []

    def input(self, type, name=None):
        v = Value(type, None, name)
        self.inputs.append(v)
        return v

    def add(self, prim, inputs, params=None, loc=None, out_type=None):
        params = params or {}
        if out_type is None:
            out_type = prim.infer(*(v.type for v in inputs), loc=loc, **params)
        n = Node(prim, inputs, params, out_type, loc)
        self.nodes.append(n)
        return n.out

    def build(self, outputs, **kw):
        return Graph(self.name, self.inputs, self.nodes, outputs, **kw)
