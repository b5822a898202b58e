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

How a node fuses and what recomputing it costs are properties of its primitive (Primitive.fusion, .cost).
`fusion_pass(lower_fn)` is the pass of the pass manager (Graph -> FusedGraph with its Program); fusion_plan.py holds
the groups and the plan, fuse_merge.py the sibling merging and the kernel order.
"""
from __future__ import annotations

import time

from .. import debug
from ..errors import BackendError
from ..ir.graph import Graph
from ..ir.types import dims_equal, prod
from .manager import GraphPass
from .fusion_plan import (ANCHOR_KINDS, Group, FusionPlan, FusedGraph, FusionReject, FusionCycle,  # noqa: F401
                          is_inlineable, is_reduce, is_anchor, is_view, reduce_split, shapes_equal, _squeeze,
                          _sq_equal)
from .fuse_merge import merge_sibling_rows, merge_sibling_loops, toposort_groups

# cost units per element past which a value is stored once rather than recomputed in each consumer
DUP_LIMIT = 12
# nodes per kernel: LLVM's time on one function grows faster than its size (a 2000-op fused chain: 8 s, four
# 500-op ones: 3 s), so a longer chain is cut into kernels of at most this many nodes, each value stored once
MAX_GROUP_NODES = 256


def fuse(g: Graph, *, forbid=frozenset(), no_multi=frozenset(), merge_rows=True) -> FusionPlan:
    """Partition g's live nodes into groups (see the module docstring). `forbid`: nodes that must start their
    own group (never absorbed); `no_multi`: nodes that may not become an extra output of a group.

    The steps: form groups greedily from the last node back (_Grouping), place the views of control-flow results,
    merge sibling kernels, choose what each kernel stores (a value it cannot store is rejected), order the kernels.
    """
    st = _Grouping(g, forbid, no_multi)
    st.form_groups()
    st.place_views()
    groups = st.groups
    if merge_rows:
        groups = merge_sibling_rows(groups, st.group_of, st.pos, st.log)
        groups = merge_sibling_loops(groups, st.group_of, st.log)
    choose_outputs(g, groups, st.group_of)
    ordered = toposort_groups(g, groups, st.group_of, st.pos)
    for grp in ordered:
        grp.order = sorted(grp.members, key=st.pos.__getitem__)
    return FusionPlan(g, ordered, st.log)


class _Grouping:
    """The state of the greedy grouping of one graph: which group owns each node, which values need a buffer,
    which nodes are recomputed (duplicated) in which groups, and the log of every decision."""

    def __init__(self, g, forbid, no_multi):
        self.g, self.forbid, self.no_multi = g, forbid, no_multi
        self.log = []
        self.pos = {n: i for i, n in enumerate(g.nodes)}
        self.live = live = g.reachable_from()
        self.users = users = {}
        for n in g.nodes:
            if n in live:
                for v in n.inputs:
                    if v.node is not None:
                        users.setdefault(v.node, []).append(n)
        # effectful nodes (prints) are roots too: each runs as its own kernel though nothing reads its result
        self.out_nodes = {v.node for v in g.outputs if v.node is not None} | {n for n in live if n.prim.effect}
        self.group_of = {}
        self.groups = []
        self.needs_buffer = set()
        self.readers = {}
        self.dup_in = {}
        self.dup_memo = {}

    # ---- the steps ----

    def form_groups(self):
        """From the last node back: each node that must be stored (an output, a value some kernel could not absorb,
        a control-flow op) roots a group, which absorbs its producers (absorb_all)."""
        for n in reversed(self.g.nodes):
            if n in self.group_of or n not in self.live or is_view(n):
                continue
            region = n.prim.fusion == "region"
            if not region and n not in self.out_nodes and n not in self.needs_buffer:
                continue        # every kernel that uses it computes it inline (duplicated)
            if region:
                kind = "region"
            elif is_reduce(n):
                kind = "row" if reduce_split(n) is not None else "col"
            elif is_anchor(n):
                kind = n.prim.fusion
            elif is_inlineable(n):
                kind = "loop"
            else:
                kind = "opaque"
            grp = Group(len(self.groups), kind, n)
            self.groups.append(grp)
            self.group_of[n] = grp
            self.absorb_all(grp)

    def place_views(self):
        for n in self.g.nodes:
            if n in self.live and is_view(n):
                self.group_of[n] = self.group_of[n.inputs[0].node]      # a view of its region's result: after it

    def absorb_all(self, grp):
        """Walk grp's producers depth-first, deciding for each (try_absorb) and applying the decision."""
        stack = [(grp.root, v) for v in grp.root.inputs]
        while stack:
            consumer, v = stack.pop()
            p = v.node
            if p is not None and consumer is grp.anchor and p in grp.members and self.group_of.get(p) is not grp:
                # an operand the epilogue took (recomputed inline) before the product joined: the product reads
                # its operands from memory, so a kernel of its own must store it too (`tanh(x) @ w + tanh(x)`).
                # (Only a duplicated member can be here: 'multi' waits for every user to be placed, and the
                # product is not yet.)
                if p not in self.group_of:
                    self.needs_buffer.add(p)
                self.readers.setdefault(p, set()).add(grp)
                continue
            if p is None or p in grp.members or p not in self.live:
                continue
            if len(grp.members) >= MAX_GROUP_NODES:
                if p not in self.group_of:
                    self.needs_buffer.add(p)
                self.readers.setdefault(p, set()).add(grp)
                if not grp.full:
                    grp.full = True
                    self.note(grp, f"holds {MAX_GROUP_NODES} nodes: its producers run as other kernels")
                continue
            if p in self.group_of:
                # computed by another kernel: recompute it here if cheap, else read what that kernel stores
                if grp.kind != "region" and self.can_dup(p) and self.expansion_ok(grp, p):
                    grp.members.add(p)
                    self.dup_in.setdefault(p, set()).add(grp)
                    stack.extend((p, w) for w in p.inputs)
                else:
                    self.readers.setdefault(p, set()).add(grp)
                continue
            decision = self.try_absorb(grp, p, consumer)
            if decision in ("col-epilogue", "assign", "dup", "multi"):
                self.apply(grp, p, decision)
                stack.extend((p, w) for w in p.inputs)
            else:
                self.needs_buffer.add(p)
                self.readers.setdefault(p, set()).add(grp)
                self.note(grp, f"cannot fuse {p.prim.name} into {consumer.prim.name}: {decision}")

    def apply(self, grp, p, decision):
        """Make p a member of grp as decided: owned ('assign'), also stored for others ('multi'), recomputed
        ('dup'), or the column reduction grp becomes the epilogue of ('col-epilogue')."""
        name = p.prim.name
        if decision == "col-epilogue":
            grp.kind, grp.anchor = "col", p
            grp.reductions.append(p)
            grp.members.add(p)
            grp.assigned.add(p)
            self.group_of[p] = grp
            self.note(grp, f"becomes a column reduction ({name}) with its elementwise epilogue")
            return
        if is_reduce(p) and grp.kind == "loop":
            grp.kind = "row"
            grp.O, grp.R = reduce_split(p)
            self.note(grp, f"becomes a row kernel: {name} over rows {grp.O} x {grp.R}")
        if is_anchor(p):
            grp.kind = p.prim.fusion
            grp.anchor = p
            self.note(grp, f"takes {name} with its elementwise epilogue")
        grp.members.add(p)
        if is_reduce(p):
            grp.reductions.append(p)
        if decision == "dup":
            self.dup_in.setdefault(p, set()).add(grp)
            self.note(grp, f"duplicates {name} (cheap to recompute, also used elsewhere)")
        else:
            grp.assigned.add(p)
            self.group_of[p] = grp
            if decision == "multi":
                self.note(grp, f"computes {name} and stores it for other kernels too")

    # ---- the decision for one producer ----

    def try_absorb(self, grp, p, consumer):
        """Decide whether producer p joins grp; returns 'assign', 'dup', 'multi', 'col-epilogue', or a reason
        string for refusing."""
        name = p.prim.name
        if p in self.forbid:
            return "lowering asked for it to be materialized"
        if grp.kind in ("opaque", "region"):
            return f"{grp.root.prim.name} reads its operands from memory"
        if grp.anchor is not None and consumer is grp.anchor:
            return f"{grp.anchor.prim.name} reads its operands from memory"
        # NOTE: whether some user is outside, stopping at the first: a constant read by every step of an unrolled
        # loop has thousands of users, and listing them for each of its consumers was quadratic
        outside = any(u not in grp.members for u in self.users.get(p, ()))
        is_out = p in self.out_nodes or p in self.needs_buffer
        inl = is_inlineable(p)
        if inl:
            if not self.expansion_ok(grp, p):
                return "recomputing it for every element of the larger loop would repeat its work"
            if not outside and not is_out:
                return "assign"
            # a value stored anyway is stored by this loop when it fits its iteration space: recomputing it here
            # and again in a kernel of its own would repeat its work
            stored_here = is_out and grp.kind == "loop" and shapes_equal(p.out.type.shape, grp.domain)
            if name == "const" or (self.dup_cost(p) is not None and not self.reads_anchor(p) and not stored_here):
                return "dup"
        # reductions and matmuls need a compatible group
        if is_reduce(p):
            refused = self.reduction_fits(grp, p, outside, is_out)
            if refused is not None:
                return refused
        elif is_anchor(p):
            refused = self.anchor_fits(grp, p, outside, is_out)
            if refused is not None:
                return refused
        elif not inl:
            return f"{name} runs as its own kernel"
        if outside or is_out:
            return self.shared_output(grp, p)
        return "assign"

    def reduction_fits(self, grp, p, outside, is_out):
        """None when reduction p fits grp's loops; else 'col-epilogue' or the reason it does not."""
        rs = reduce_split(p)
        if rs is None:
            # a column reduction takes an elementwise epilogue over its result (e.g. an SGD update of a bias)
            if (grp.kind == "loop" and grp.anchor is None and p.prim.name != "argmax" and not outside and not is_out
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
        return None

    def anchor_fits(self, grp, p, outside, is_out):
        """None when product p can take grp as its elementwise epilogue; else the reason it cannot."""
        name = p.prim.name
        if grp.kind != "loop" or grp.anchor is not None:
            return f"a {grp.kind} kernel cannot take a {name}"
        if outside or is_out:
            return "its result is also needed outside the epilogue"
        if len(grp.outputs) != 1 or not shapes_equal(grp.domain, p.out.type.shape):
            return "the epilogue's iteration space differs from the product's"
        if not p.out.type.dtype.is_float:
            return "integer products run as their own kernel"
        return None

    def shared_output(self, grp, p):
        """'multi' when p, needed by other kernels too, can be computed here and stored for them; else why not."""
        if p in self.no_multi:
            return "an extra output here would make a cycle between kernels"
        if grp.kind == "loop" and not shapes_equal(p.out.type.shape, grp.domain) and not is_reduce(p):
            return "its shape differs from the kernel's, so it cannot be stored from the same loop"
        if grp.kind == "row" and not is_reduce(p) and not (
                shapes_equal(p.out.type.shape, grp.O) or shapes_equal(p.out.type.shape, grp.O + grp.R)):
            return "its shape is neither the kernel's rows nor its elements"
        if grp.kind in ("col",) + ANCHOR_KINDS:
            return f"a {grp.kind} kernel writes only its result"
        outside = [u for u in self.users.get(p, ()) if u not in grp.members]
        if any(u not in self.group_of and u not in self.dup_in for u in outside):
            return "some of its users are not placed yet"
        others = set(self.readers.get(p, ()))
        for u in outside:
            others |= {self.group_of[u]} if u in self.group_of else self.dup_in[u]
        others.discard(grp)
        for other in others:
            if self.feeds(other, grp, p):
                return f"sharing it with {other.name} would make a cycle"
        return "multi"

    # ---- what the decisions ask ----

    def dup_cost(self, n, depth=0):
        """Cost of recomputing n per element (its inlineable producers included), or None if not cheap."""
        memo = self.dup_memo
        if n in memo:
            return memo[n]
        if not is_inlineable(n) or depth > 6:
            return None
        c = n.prim.cost
        for v in n.inputs:
            p = v.node
            if p is None or p.prim.name == "const" or not is_inlineable(p):
                continue        # an input, a constant or a buffer: one load
            pc = self.dup_cost(p, depth + 1)
            c += pc if pc is not None else DUP_LIMIT + 1
        memo[n] = c if c <= DUP_LIMIT else None
        return memo[n]

    def can_dup(self, p):
        return is_inlineable(p) and p not in self.forbid and self.dup_cost(p) is not None

    def reads_anchor(self, p):
        # a copy of p reads p's inputs from memory: an anchor's product is stored only as its kernel's result
        return any(w.node is not None and is_anchor(w.node) for w in p.inputs)

    def expansion_ok(self, grp, p):
        """Recomputing p per element of a bigger iteration space repeats its work; allow only cheap p, or p
        broadcast along inner loops only (the compiler hoists it out of them)."""
        full = grp.domain if grp.kind not in ("row", "col") else (grp.O or ()) + (grp.R or ())
        size_p = prod(p.out.type.shape)
        if dims_equal(size_p, prod(full)) or (grp.kind == "row" and dims_equal(size_p, prod(grp.O))):
            return True
        sq_p, sq_full = _squeeze(p.out.type.shape), _squeeze(full)
        if len(sq_p) < len(sq_full) and shapes_equal(sq_p, sq_full[:len(sq_p)]):
            return True
        c = self.dup_cost(p)
        return c is not None and c <= 2

    def feeds(self, other, grp, p):
        """Whether a node assigned to `other` is an ancestor of p or of a member of grp (then sharing p with
        other would make a cycle). NOTE: a search of the ancestors no older than other's oldest node (topological
        positions), not ancestor sets of every node: those cost n^2 bits."""
        pos = self.pos
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

    def note(self, grp, msg):
        grp.reasons.append(msg)
        self.log.append(f"{grp.name}: {msg}")


def choose_outputs(g, groups, group_of):
    """Set each group's outputs: its root, then every value it owns that another kernel (or the caller) reads.
    A value a kernel cannot store from its loops raises FusionReject (all of them at once, so that fuse_graph
    needs a few rounds, not one per node)."""
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
        raise FusionReject(bad, why + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))


# ---- fusion with lowering's verdict: the retry loop, and the pass ----

class _Rounds:
    """What fuse_graph forbids so far: nodes to materialize, and whether sibling kernels may still merge."""

    def __init__(self):
        self.forbid = set()
        self.merge = True

    def reject(self, nodes, reason):
        """Forbid what a failed round names; False when that changes nothing (no progress is possible)."""
        new = [n for n in nodes if n not in self.forbid]
        if new:
            self.forbid.update(new)
            debug.log(f"fusion: {reason}; materializing {', '.join(sorted({n.prim.name for n in new}))}", 1)
        elif self.merge:
            self.merge = False          # the same nodes again: try without merging sibling kernels
            debug.log(f"fusion: {reason}; not merging sibling kernels", 1)
        else:
            return False
        return True


def _attempt(g, lower_fn, forbid, merge):
    """One round: ((plan, lowered), None) or (None, (nodes to materialize, reason))."""
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


def fuse_graph(g: Graph, lower_fn=None, max_rounds=8):
    """Fuse g; if fusion or `lower_fn(plan)` raises FusionReject, forbid those fusions and retry. Returns
    (plan, lowered).

    Every round forbids at least one more node, so this terminates; after `max_rounds` (a cascade of rejections
    that each round only partly resolves) it falls back to one kernel per node, which needs no fusion at all."""
    rounds = _Rounds()
    t0 = time.perf_counter()
    done = None
    for _ in range(max_rounds):
        done, failure = _attempt(g, lower_fn, rounds.forbid, rounds.merge)
        if done is not None or not rounds.reject(*failure):
            break
    if done is None:
        debug.log("fusion: falling back to one kernel per node", 1)
        done, failure = _attempt(g, lower_fn, g.reachable_from(), False)
        if done is None:
            raise BackendError(f"fusion: cannot lower {g.name} even with one kernel per node: {failure[1]}")
    plan, lowered = done
    plan.seconds = time.perf_counter() - t0
    for line in plan.log:
        debug.log("fusion: " + line, 2)
    return plan, lowered


def fusion_pass(lower_fn=None) -> GraphPass:
    """The pass `fuse` of the pass manager: Graph -> FusedGraph, whose `.plan` is the fusion plan and `.program`
    the kernels `lower_fn(plan)` made of it (lowering may reject a fusion: see fuse_graph). Its errors (an op
    no backend lowers, a program too large) reach the user as they are."""
    def fuse_kernels(g: Graph) -> FusedGraph:
        plan, program = fuse_graph(g, lower_fn)
        return FusedGraph(g, plan, program)
    return GraphPass(fuse_kernels, "fuse", raises=(Exception,))
