"""Fusion: partition an optimized Graph into kernels (groups of nodes that run as one loop nest).

Groups are formed greedily from the last node backwards (XLA-style producer-into-consumer fusion):

  * loop  - elementwise / broadcast / shape ops over one iteration space; any inlineable producer is evaluated
            per element at the index the consumer asks for (so transposes, slices, broadcasts cost no memory);
  * row   - reductions over trailing axes plus their elementwise producers and consumers: one outer (parallel)
            loop over the kept axes, then one inner loop per reduction phase, then the per-element outputs
            (softmax, log-softmax, cross-entropy, layer norms are one kernel each);
  * col   - a reduction over leading/middle axes (bias gradients) with its elementwise prologue;
  * gemm  - dot_general through BLAS with its elementwise epilogue (bias add, relu, scaling);
  * conv  - conv2d as im2col + gemm with its epilogue;
  * opaque - anything else, alone;
  * region - a control-flow op (scan, while_loop, cond), alone: its regions are fused on their own when it is
            lowered (lower/regions.py); the `get` nodes reading its results are views of its result buffers,
            never kernels or copies (they belong to the region's group for ordering).

A producer joins its consumer's group when all its users are there; a cheap one (few ops) is duplicated into
every consumer instead of written to memory; a reduction whose result is also needed elsewhere becomes an extra
output of its row group. Every decision is logged with its reason under VIVE_DEBUG. Lowering may still reject a
fusion (an index pattern a kernel cannot express); `fuse_graph` then forbids it and fuses again.
"""
from __future__ import annotations

import time

from .. import debug
from ..errors import BackendError
from ..ir.graph import Graph
from ..ir.types import dims_equal, prod

# Primitives evaluated per element at an arbitrary index (see lower.py for each one's index rule).
INLINE_SHAPE = {"broadcast_in_dim", "reshape", "transpose", "slice", "pad", "concatenate", "rev"}
INLINE_OTHER = {"const", "dim", "one_hot", "take", "random_uniform", "threefry2x32", "max_pool2d", "max_pool2d_jvp",
                "max_pool2d_vjp", "iota"}
# products that run through BLAS and take an elementwise epilogue: primitive -> group kind
ANCHORS = {"dot_general": "gemm", "conv2d": "conv", "conv2d_transpose_input": "convti",
           "conv2d_transpose_kernel": "convtk"}
REDUCE = {"reduce_sum", "reduce_max", "argmax"}
# cost units per element for the duplicate-or-store decision
_COST = {"exp": 4, "log": 4, "tanh": 5, "logistic": 5, "sin": 5, "cos": 5, "pow": 12, "sqrt": 2, "div": 2,
         "reciprocal": 2, "random_uniform": 6, "threefry2x32": 16, "max_pool2d": 4, "take": 2,
         "atan2": 8, "erf": 8, "fmod": 12, "floor": 1, "ceil": 1, "trunc": 1, "rint": 1}
_FREE = {"const", "dim", "broadcast_in_dim", "reshape", "transpose", "slice", "rev", "cast", "neg", "stop_gradient",
         "optimization_barrier"}
DUP_LIMIT = 12
# nodes per kernel: LLVM's time on one function grows faster than its size (a 2000-op fused chain: 8 s, four
# 500-op ones: 3 s), so a longer chain is cut into kernels of at most this many nodes, each value stored once
MAX_GROUP_NODES = 256


def is_inlineable(n) -> bool:
    p = n.prim
    if p.name in INLINE_SHAPE or p.name in INLINE_OTHER:
        return True
    if p.name in REDUCE or p.kind in ("linalg", "reduce"):
        return False
    return p.kind == "elementwise"


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
    """The optimized graph annotated with its fusion plan: prints each kernel's nodes under a header."""

    def __init__(self, g, plan):
        super().__init__(g.name, g.inputs, g.nodes, g.outputs, g.in_tree, g.out_tree, g.n_explicit)
        self.plan = plan

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


def _node_cost(n):
    return 0 if n.prim.name in _FREE else _COST.get(n.prim.name, 1)


def fuse(g: Graph, *, forbid=frozenset(), no_multi=frozenset(), merge_rows=True) -> FusionPlan:
    """Partition g's live nodes into groups (see the module docstring). `forbid`: nodes that must start their
    own group (never absorbed); `no_multi`: nodes that may not become an extra output of a group."""
    log = []
    pos = {n: i for i, n in enumerate(g.nodes)}
    live = g.reachable_from()
    users = {}
    for n in g.nodes:
        if n in live:
            for v in n.inputs:
                if v.node is not None:
                    users.setdefault(v.node, []).append(n)
    # effectful nodes (prints) are roots too: each runs as its own kernel though nothing reads its result
    out_nodes = {v.node for v in g.outputs if v.node is not None} | {n for n in live if n.prim.effect}

    group_of = {}
    groups = []
    needs_buffer = set()
    readers = {}
    dup_in = {}
    dup_memo = {}

    def dup_cost(n, depth=0):
        """Cost of recomputing n per element (its inlineable producers included), or None if not cheap."""
        if n in dup_memo:
            return dup_memo[n]
        if not is_inlineable(n) or depth > 6:
            return None
        c = _node_cost(n)
        for v in n.inputs:
            p = v.node
            if p is None or p.prim.name == "const" or not is_inlineable(p):
                continue        # an input, a constant or a buffer: one load
            pc = dup_cost(p, depth + 1)
            c += pc if pc is not None else DUP_LIMIT + 1
        dup_memo[n] = c if c <= DUP_LIMIT else None
        return dup_memo[n]

    def feeds(other, grp, p):
        """Whether a node assigned to `other` is an ancestor of p or of a member of grp (then sharing p with
        other would make a cycle). NOTE: a search of the ancestors no older than other's oldest node (topological
        positions), not ancestor sets of every node: those cost n^2 bits."""
        lo = min(pos[x] for x in other.assigned)
        stack = [x for x in grp.members if pos[x] > lo]
        if pos[p] > lo:
            stack.append(p)
        seen = set()
        while stack:
            n = stack.pop()
            for v in n.inputs:
                q = v.node
                if q is None or pos[q] < lo:
                    continue
                if q in other.assigned:
                    return True
                if q not in seen:
                    seen.add(q)
                    stack.append(q)
        return False

    def reads_anchor(p):
        # a copy of p reads p's inputs from memory: an anchor's product is stored only as its kernel's result
        return any(w.node is not None and w.node.prim.name in ANCHORS for w in p.inputs)

    def can_dup(p):
        return is_inlineable(p) and p not in forbid and dup_cost(p) is not None

    def note(grp, msg):
        grp.reasons.append(msg)
        log.append(f"{grp.name}: {msg}")

    def expansion_ok(grp, p):
        """Recomputing p per element of a bigger iteration space repeats its work; allow only cheap p, or p
        broadcast along inner loops only (the compiler hoists it out of them)."""
        full = grp.domain if grp.kind not in ("row", "col") else (grp.O or ()) + (grp.R or ())
        size_p = prod(p.out.type.shape)
        if dims_equal(size_p, prod(full)) or (grp.kind == "row" and dims_equal(size_p, prod(grp.O))):
            return True
        sq_p, sq_full = _squeeze(p.out.type.shape), _squeeze(full)
        if len(sq_p) < len(sq_full) and shapes_equal(sq_p, sq_full[:len(sq_p)]):
            return True
        c = dup_cost(p)
        return c is not None and c <= 2

    def try_absorb(grp, p, consumer):
        """Decide whether producer p joins grp; returns 'assign', 'dup', or a reason string for refusing."""
        name = p.prim.name
        if p in forbid:
            return "lowering asked for it to be materialized"
        if grp.kind in ("opaque", "region"):
            return f"{grp.root.prim.name} reads its operands from memory"
        if grp.anchor is not None and consumer is grp.anchor:
            return f"{grp.anchor.prim.name} reads its operands from memory"
        # NOTE: whether some user is outside, stopping at the first: a constant read by every step of an unrolled
        # loop has thousands of users, and listing them for each of its consumers was quadratic
        members = grp.members
        outside = any(u not in members for u in users.get(p, ()))
        is_out = p in out_nodes or p in needs_buffer
        inl = is_inlineable(p)
        if inl:
            if not expansion_ok(grp, p):
                return "recomputing it for every element of the larger loop would repeat its work"
            if not outside and not is_out:
                return "assign"
            # a value stored anyway is stored by this loop when it fits its iteration space: recomputing it here
            # and again in a kernel of its own would repeat its work
            stored_here = is_out and grp.kind == "loop" and shapes_equal(p.out.type.shape, grp.domain)
            if name == "const" or (dup_cost(p) is not None and not reads_anchor(p) and not stored_here):
                return "dup"
        # reductions and matmuls need a compatible group
        if name in REDUCE:
            rs = reduce_split(p)
            if rs is None:
                # a column reduction takes an elementwise epilogue over its result (e.g. an SGD update of a bias)
                if (grp.kind == "loop" and grp.anchor is None and name != "argmax" and not outside and not is_out
                        and len(grp.outputs) == 1 and shapes_equal(grp.domain, p.out.type.shape)):
                    return "col-epilogue"
                return "reduction over leading axes runs as its own (column) kernel"
            O, R = rs
            if grp.kind == "loop":
                if not (_sq_equal(grp.domain, O + R) or _sq_equal(grp.domain, O)):
                    return f"its iteration space {O + R} does not match the kernel's {grp.domain}"
                if any(not (_sq_equal(v.type.shape, O + R) or _sq_equal(v.type.shape, O)) for v in grp.outputs):
                    return "the kernel's outputs do not fit the reduction's rows"
            elif grp.kind == "row":
                if not (_sq_equal(O, grp.O) and _sq_equal(R, grp.R)):
                    return f"rows {O}x{R} differ from the kernel's {grp.O}x{grp.R}"
            else:
                return f"a {grp.kind} kernel cannot hold a reduction"
        elif name in ANCHORS:
            if grp.kind != "loop" or grp.anchor is not None:
                return f"a {grp.kind} kernel cannot take a {name}"
            if outside or is_out:
                return f"its result is also needed outside the epilogue"
            if len(grp.outputs) != 1 or not shapes_equal(grp.domain, p.out.type.shape):
                return "the epilogue's iteration space differs from the product's"
            if not p.out.type.dtype.is_float:
                return "integer products run as their own kernel"
        elif not inl:
            return f"{name} runs as its own kernel"
        # multi-output: p is computed here and also stored for its other users
        if outside or is_out:
            if p in no_multi:
                return "an extra output here would make a cycle between kernels"
            if grp.kind == "loop" and not shapes_equal(p.out.type.shape, grp.domain) and name not in REDUCE:
                return "its shape differs from the kernel's, so it cannot be stored from the same loop"
            if grp.kind == "row" and name not in REDUCE and not (
                    shapes_equal(p.out.type.shape, grp.O) or shapes_equal(p.out.type.shape, grp.O + grp.R)):
                return "its shape is neither the kernel's rows nor its elements"
            if grp.kind in ("col", "gemm", "conv", "convti", "convtk"):
                return f"a {grp.kind} kernel writes only its result"
            outside = [u for u in users.get(p, ()) if u not in members]
            if any(u not in group_of and u not in dup_in for u in outside):
                return "some of its users are not placed yet"
            others = set(readers.get(p, ()))
            for u in outside:
                others |= {group_of[u]} if u in group_of else dup_in[u]
            others.discard(grp)
            for other in others:
                if feeds(other, grp, p):
                    return f"sharing it with {other.name} would make a cycle"
            return "multi"
        return "assign"

    def absorb_all(grp):
        stack = [(grp.root, v) for v in grp.root.inputs]
        while stack:
            consumer, v = stack.pop()
            p = v.node
            if p is None or p in grp.members or p not in live:
                continue
            if len(grp.members) >= MAX_GROUP_NODES:
                if p not in group_of:
                    needs_buffer.add(p)
                readers.setdefault(p, set()).add(grp)
                if not grp.full:
                    grp.full = True
                    note(grp, f"holds {MAX_GROUP_NODES} nodes: its producers run as other kernels")
                continue
            if p in group_of:
                # computed by another kernel: recompute it here if cheap, else read what that kernel stores
                if grp.kind != "region" and can_dup(p) and expansion_ok(grp, p):
                    grp.members.add(p)
                    dup_in.setdefault(p, set()).add(grp)
                    stack.extend((p, w) for w in p.inputs)
                else:
                    readers.setdefault(p, set()).add(grp)
                continue
            decision = try_absorb(grp, p, consumer)
            if decision == "col-epilogue":
                grp.kind, grp.anchor = "col", p
                grp.reductions.append(p)
                grp.members.add(p)
                grp.assigned.add(p)
                group_of[p] = grp
                note(grp, f"becomes a column reduction ({p.prim.name}) with its elementwise epilogue")
                stack.extend((p, w) for w in p.inputs)
                continue
            if decision in ("assign", "dup", "multi"):
                name = p.prim.name
                if name in REDUCE and grp.kind == "loop":
                    grp.kind = "row"
                    grp.O, grp.R = reduce_split(p)
                    note(grp, f"becomes a row kernel: {name} over rows {grp.O} x {grp.R}")
                if name in ANCHORS:
                    grp.kind = ANCHORS[name]
                    grp.anchor = p
                    note(grp, f"takes {name} with its elementwise epilogue")
                grp.members.add(p)
                if name in REDUCE:
                    grp.reductions.append(p)
                if decision == "dup":
                    dup_in.setdefault(p, set()).add(grp)
                    note(grp, f"duplicates {name} (cheap to recompute, also used elsewhere)")
                else:
                    grp.assigned.add(p)
                    group_of[p] = grp
                    if decision == "multi":
                        note(grp, f"computes {name} and stores it for other kernels too")
                stack.extend((p, w) for w in p.inputs)
            else:
                needs_buffer.add(p)
                readers.setdefault(p, set()).add(grp)
                note(grp, f"cannot fuse {p.prim.name} into {consumer.prim.name}: {decision}")

    for n in reversed(g.nodes):
        if n in group_of or n not in live or is_view(n):
            continue
        region = n.prim.kind == "control"
        if not region and n not in out_nodes and n not in needs_buffer:
            continue        # every kernel that uses it computes it inline (duplicated)
        name = n.prim.name
        if region:
            kind = "region"
        elif name in REDUCE:
            kind = "row" if reduce_split(n) is not None else "col"
        elif name in ANCHORS:
            kind = ANCHORS[name]
        elif is_inlineable(n):
            kind = "loop"
        else:
            kind = "opaque"
        grp = Group(len(groups), kind, n)
        groups.append(grp)
        group_of[n] = grp
        absorb_all(grp)

    for n in g.nodes:
        if n in live and is_view(n):
            group_of[n] = group_of[n.inputs[0].node]      # a view of its region's result: ordered after it
    if merge_rows:
        groups = _merge_sibling_rows(groups, group_of, pos, log)
        groups = _merge_sibling_loops(groups, group_of, log)
    # which assigned values other kernels read (or the caller gets): each owner must store them
    stored = {grp: [] for grp in groups}
    seen = set()

    def store(v):
        owner = group_of.get(v.node)
        if owner is None or v in seen:
            return
        seen.add(v)
        stored[owner].append(v)

    for v in g.outputs:
        if v.node is not None:
            store(v)
    for grp in groups:
        for n in grp.members:
            for v in n.inputs:
                if v.node is not None and v.node not in grp.members:
                    store(v)
    bad, why = [], None
    for grp in groups:
        outs = [grp.root.out] + [v for v in stored[grp] if v is not grp.root.out]
        for v in outs[1:]:
            sh = v.type.shape
            ok = grp.kind == "region" or (grp.kind == "loop" and shapes_equal(sh, grp.domain)) or (
                grp.kind == "row" and (shapes_equal(sh, grp.O) or shapes_equal(sh, grp.O + grp.R)
                                       or v.node in grp.reductions))
            if not ok:
                # cannot be stored from this kernel's loops: make it a kernel of its own
                bad.append(v.node)
                why = why or f"{grp.name} cannot store {v.node.prim.name} {v.type}"
        grp.outputs = outs
    if bad:
        # NOTE: all at once, so that fuse_graph needs a few rounds, not one per node
        raise FusionReject(bad, why + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
    ordered = _toposort_groups(g, groups, group_of, pos)
    for grp in ordered:
        grp.order = sorted(grp.members, key=pos.__getitem__)
    return FusionPlan(g, ordered, log)


def _group_deps(groups, group_of):
    deps = {grp: set() for grp in groups}
    for grp in groups:
        for n in grp.members:
            for v in n.inputs:
                p = v.node
                if p is not None and p not in grp.members:
                    src = group_of.get(p)
                    if src is not None and src is not grp:
                        deps[grp].add(src)
    return deps


# Sibling merging tries every pair (exact, with a reachability search each) up to this many candidate kernels of
# a kind; beyond, only kernels of one level of the kernel DAG are merged (linear, see _merge_buckets)
EXACT_MERGE_LIMIT = 64


def _merge_siblings_exact(groups, group_of, log, kind, fits, reason):
    """Merge pairs of `kind` kernels for which fits(a, b) holds and neither reaches the other through a third
    kernel, until no pair is left; b's nodes join a. Cubic in the number of candidates: small programs only."""
    changed = True
    while changed:
        changed = False
        deps = _group_deps(groups, group_of)
        cands = [g for g in groups if g.kind == kind]
        for i, a in enumerate(cands):
            for b in cands[i + 1:]:
                if not fits(a, b):
                    continue
                if _reaches_via_other(b, a, deps) or _reaches_via_other(a, b, deps):
                    continue
                a.members |= b.members
                a.assigned |= b.assigned
                a.reductions += [r for r in b.reductions if r not in a.reductions]
                for n in b.assigned:
                    group_of[n] = a
                a.reasons.append(f"merged with {b.name} ({reason})")
                log.append(f"{a.name}: merged with {b.name} ({reason})")
                groups = [g for g in groups if g is not b]
                changed = True
                break
            if changed:
                break
    return groups


def _reaches_via_other(src, dst, deps):
    """Whether dst depends on src through some third group (so merging them would make a cycle)."""
    stack = [d for d in deps[dst] if d is not src]
    seen = set()
    while stack:
        g = stack.pop()
        if g in seen:
            continue
        seen.add(g)
        if g is src:
            return True
        stack.extend(deps[g])
    return False



def _levels(groups, deps):
    """Longest path from a source to each group in the kernel DAG (deps: group -> groups it reads)."""
    level, users = {}, {g: [] for g in groups}
    waiting = {g: len(deps[g]) for g in groups}
    for g in groups:
        for d in deps[g]:
            users[d].append(g)
    ready = [g for g in groups if waiting[g] == 0]
    for g in ready:
        level[g] = 0
    while ready:
        g = ready.pop()
        for u in users[g]:
            level[u] = max(level.get(u, 0), level[g] + 1)
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
    return level


def _merge_buckets(groups, group_of, log, buckets, reason):
    """Merge the groups of each bucket (lists of groups, union-find across buckets) into its first member.

    NOTE: callers bucket only groups of the same level in the kernel DAG. Every edge of the DAG goes from a lower
    level to a higher one, and a merged group spans a single level, so two groups of one level are never joined
    by a path, before or after any number of such merges: merging them cannot make a cycle between kernels."""
    index = {g: i for i, g in enumerate(groups)}
    parent = list(range(len(groups)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    for bucket in buckets:
        for g in bucket[1:]:
            a, b = find(index[bucket[0]]), find(index[g])
            if a != b:
                parent[max(a, b)] = min(a, b)
    kept = []
    for i, b in enumerate(groups):
        r = find(i)
        if r == i:
            kept.append(b)
            continue
        a = groups[r]
        a.members |= b.members
        a.assigned |= b.assigned
        known = set(a.reductions)
        a.reductions += [x for x in b.reductions if x not in known]
        for n in b.assigned:
            group_of[n] = a
        a.reasons.append(f"merged with {b.name} ({reason})")
        log.append(f"{a.name}: merged with {b.name} ({reason})")
    return kept


def _shape_key(shape):
    return tuple(str(d) for d in shape)


def _merge_sibling_rows(groups, group_of, pos, log):
    """Merge row kernels over the same rows when no other kernel sits between them (e.g. a loss's per-row
    terms and the softmax statistics its gradient needs): their reductions become phases of one kernel."""
    if sum(g.kind == "row" for g in groups) <= EXACT_MERGE_LIMIT:
        return _merge_siblings_exact(groups, group_of, log, "row",
                                     lambda a, b: _sq_equal(a.O, b.O) and _sq_equal(a.R, b.R),
                                     "same rows, nothing in between")
    level = _levels(groups, _group_deps(groups, group_of))
    buckets = {}
    for g in groups:
        if g.kind == "row" and g in level:
            key = (level[g], _shape_key(_squeeze(g.O)), _shape_key(_squeeze(g.R)))
            buckets.setdefault(key, []).append(g)
    return _merge_buckets(groups, group_of, log, [b for b in buckets.values() if len(b) > 1],
                          "same rows, nothing in between")


def _external_inputs(grp):
    return {v for n in grp.members for v in n.inputs if v.node is None or v.node not in grp.members}


def _merge_sibling_loops(groups, group_of, log):
    """Merge elementwise loop kernels over the same domain that read a common array (an optimizer's new velocity
    and new parameters both read the gradient and the old velocity): one pass reads it once. Every member is
    evaluated per element, so the merged kernel computes the same values; merging never crosses a third kernel."""
    if sum(g.kind == "loop" for g in groups) <= EXACT_MERGE_LIMIT:
        memo = {}

        def ins(g):        # a group's inputs change only when it grows
            key = (id(g), len(g.members))
            if key not in memo:
                memo[key] = _external_inputs(g)
            return memo[key]

        def fits(a, b):
            shared = ins(a) & ins(b)
            return shapes_equal(a.domain, b.domain) and any(shapes_equal(v.type.shape, a.domain) for v in shared)
        return _merge_siblings_exact(groups, group_of, log, "loop", fits, "same domain, shared input")
    level = _levels(groups, _group_deps(groups, group_of))
    buckets = {}
    for g in groups:
        if g.kind != "loop" or g not in level:
            continue
        dom = _shape_key(g.domain)
        for v in _external_inputs(g):
            if _shape_key(v.type.shape) == dom:
                buckets.setdefault((level[g], dom, v), []).append(g)
    return _merge_buckets(groups, group_of, log, [b for b in buckets.values() if len(b) > 1],
                          "same domain, shared input")


class FusionCycle(Exception):
    def __init__(self, nodes):
        super().__init__("cycle between kernels")
        self.nodes = nodes


def _toposort_groups(g, groups, group_of, pos):
    """Groups in execution order: depth-first from each group in order of its root, producers first (an explicit
    stack: a chain of thousands of kernels is as deep). A cycle raises FusionCycle naming the extra outputs on it."""
    deps = _group_deps(groups, group_of)
    out, state = [], {}
    for start in sorted(groups, key=lambda x: pos[x.root]):
        if state.get(start) == 2:
            continue
        state[start] = 1
        path = [start]
        stack = [iter(sorted(deps[start], key=lambda x: pos[x.root]))]
        while stack:
            grp = next(stack[-1], None)
            if grp is None:
                done = path.pop()
                stack.pop()
                state[done] = 2
                out.append(done)
                continue
            s = state.get(grp)
            if s == 2:
                continue
            if s == 1:
                cyc = path[path.index(grp):]
                extra = [v.node for c in cyc for v in c.outputs[1:]]
                raise FusionCycle(extra or [n for c in cyc for n in c.members - c.assigned])
            state[grp] = 1
            path.append(grp)
            stack.append(iter(sorted(deps[grp], key=lambda x: pos[x.root])))
    for i, grp in enumerate(out):
        grp.id = i
    return out


def fuse_graph(g: Graph, lower_fn=None, max_rounds=8):
    """Fuse g; if fusion or `lower_fn(plan)` raises FusionReject, forbid those fusions and retry. Returns
    (plan, lowered).

    Every round forbids at least one more node, so this terminates; after `max_rounds` (a cascade of rejections
    that each round only partly resolves) it falls back to one kernel per node, which needs no fusion at all."""
    forbid = set()
    merge = True
    t0 = time.perf_counter()

    def reject(nodes, reason):
        nonlocal merge
        new = [n for n in nodes if n not in forbid]
        if new:
            forbid.update(new)
            debug.log(f"fusion: {reason}; materializing {', '.join(sorted({n.prim.name for n in new}))}", 1)
        elif merge:
            merge = False          # the same nodes again: try without merging sibling kernels
            debug.log(f"fusion: {reason}; not merging sibling kernels", 1)
        else:
            return False
        return True

    def attempt(forbid, merge):
        try:
            plan = fuse(g, forbid=frozenset(forbid), merge_rows=merge)
        except FusionCycle as c:
            return None, (c.nodes, "cycle between kernels")
        except FusionReject as r:
            return None, (r.nodes, r.reason)
        if lower_fn is None:
            return (plan, None), None
        try:
            return (plan, lower_fn(plan)), None
        except FusionReject as r:
            return None, (r.nodes, f"lowering: {r.reason}")

    for _ in range(max_rounds):
        done, failure = attempt(forbid, merge)
        if done is not None:
            break
        if not reject(*failure):
            break
    else:
        done = None
    if done is None:
        debug.log("fusion: falling back to one kernel per node", 1)
        done, failure = attempt(g.reachable_from(), False)
        if done is None:
            raise BackendError(f"fusion: cannot lower {g.name} even with one kernel per node: {failure[1]}")
    plan, lowered = done
    plan.seconds = time.perf_counter() - t0
    for line in plan.log:
        debug.log("fusion: " + line, 2)
    return plan, lowered
