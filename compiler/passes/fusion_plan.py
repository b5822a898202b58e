"""What fusion makes: Groups (kernels-to-be), the FusionPlan that orders them, the FusedGraph that prints it, and
the questions fusion asks of a node (read off its primitive's fusion class) or a shape."""
from __future__ import annotations

from ..ir.graph import Graph
from ..ir.types import dims_equal

# Products that run through BLAS and take an elementwise epilogue: their fusion class is the group kind.
ANCHOR_KINDS = ("gemm", "conv", "convti", "convtk")


def is_inlineable(n) -> bool:
    """Evaluated per element at whatever index its consumer asks for (elementwise, shape and source ops, gathers)."""
    return n.prim.fusion == "inline"


def is_reduce(n) -> bool:
    return n.prim.fusion == "reduce"


def is_anchor(n) -> bool:
    return n.prim.fusion in ANCHOR_KINDS


def is_view(n) -> bool:
    """A `get` of a control-flow op's result: no kernel, the region kernel's result buffer itself."""
    return n.prim.name == "get" and n.inputs[0].node is not None and n.inputs[0].node.prim.kind == "control"


def _squeeze(shape):
    return tuple(d for d in shape if not (isinstance(d, int) and d == 1))


def shapes_equal(a, b) -> bool:
    return len(a) == len(b) and all(dims_equal(x, y) for x, y in zip(a, b))


def _sq_equal(a, b) -> bool:
    return shapes_equal(_squeeze(a), _squeeze(b))


def reduce_split(n):
    """(O, R) of a reduce node when its reduced axes are trailing (row form), else None."""
    x = n.inputs[0].type.shape
    axes = tuple(n.params["axes"]) if "axes" in n.params else (n.params["axis"],)
    k = len(x) - len(axes)
    if sorted(axes) != list(range(k, len(x))):
        # size-1 kept axes between reduced ones do not matter
        kept = [i for i in range(len(x)) if i not in axes]
        if any(i > min(axes) and not (isinstance(x[i], int) and x[i] == 1) for i in kept):
            return None
        kept_shape = tuple(x[i] for i in kept if i < min(axes))
        return kept_shape, tuple(x[i] for i in sorted(axes))
    return tuple(x[:k]), tuple(x[k:])


class Group:
    """One kernel-to-be: its kind, root node, member nodes, materialized outputs, decisions."""

    def __init__(self, gid, kind, root):
        self.id = gid
        self.kind = kind
        self.root = root
        self.members = {root}            # nodes evaluated in this kernel (assigned or duplicated)
        self.assigned = {root}           # nodes owned by this kernel
        self.outputs = [root.out]        # values this kernel writes to memory
        self.anchor = root if kind in ("gemm", "conv", "convti", "convtk", "opaque", "region") else None
        self.reductions = [root] if kind in ("row", "col") else []
        self.O = self.R = None
        if kind in ("row", "col"):
            self.O, self.R = reduce_split(root) or (None, None)
        self.domain = None if root.out.type.is_tuple else root.out.type.shape
        self.reasons = []
        self.order = None                # members in topological order, set at the end
        self.full = False                # reached MAX_GROUP_NODES

    @property
    def name(self):
        return f"k{self.id}_{self.kind}"

    def __repr__(self):
        return f"<Group {self.name}: {len(self.members)} nodes, outputs {len(self.outputs)}>"


class FusionPlan:
    """Groups in execution order, plus the graph they partition. `str()` prints the graph with kernel markers."""

    def __init__(self, graph, groups, log):
        self.graph = graph
        self.groups = groups
        self.log = log

    def __len__(self):
        return len(self.groups)


class FusedGraph(Graph):
    """The optimized graph annotated with its fusion plan (and, once lowered, its Program of kernels): prints each
    kernel's nodes under a header."""

    def __init__(self, g, plan, program=None):
        super().__init__(g.name, g.inputs, g.nodes, g.outputs, g.in_tree, g.out_tree, g.n_explicit)
        self.plan = plan
        self.program = program

    def __str__(self):
        from ..ir.printer import value_names, format_node, regions, print_graph
        names = value_names(self)
        head = ", ".join(f"%{names[v]}: {v.type}" for v in self.inputs)
        lines = [f"graph {self.name}({head}) {{"]
        for grp in self.plan.groups:
            outs = ", ".join(f"%{names[v]}" for v in grp.outputs)
            lines.append(f"  kernel {grp.name} -> {outs}")
            for n in grp.order:
                dup = "" if n in grp.assigned else "   # duplicated"
                lines.append("    " + format_node(n, names) + dup)
                for key, sub in regions(n):          # a region's graphs, fused on their own when lowered
                    lines.append(print_graph(sub, indent="        ", name=key))
        lines.append("  return" + ("" if not self.outputs else " " + ", ".join(f"%{names[v]}" for v in self.outputs)))
        lines.append("}")
        return "\n".join(lines)


class FusionReject(Exception):
    """Raised by fusion or lowering when fused groups cannot be expressed: each of `nodes` (one or a list) must be
    materialized on its own. `node` is the first of them."""

    def __init__(self, nodes, reason):
        super().__init__(reason)
        self.nodes = list(nodes) if isinstance(nodes, (list, tuple, set, frozenset)) else [nodes]
        self.node = self.nodes[0]
        self.reason = reason



class FusionCycle(Exception):
    def __init__(self, nodes):
        super().__init__("cycle between kernels")
        self.nodes = nodes

