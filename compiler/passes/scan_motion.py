"""Loop-invariant motion for scan: work that does not need to run once per iteration leaves the body.

optimize_regions calls `move_out` on each scan after its body is optimized. Three rewrites, each general (any
body, any shapes), each keeping every value exact up to float summation order:

  accumulated products  a carry that only sums a product per step, acc' = acc + dot_general(a_t, b_t) (the
                        cotangent of a loop-invariant weight in a reverse loop), leaves the loop: the body stacks
                        a_t and b_t (or reads them from xs or ys it already has) and one dot_general after the
                        loop contracts the step axis with the rest: acc_n = acc_0 + sum_t a_t . b_t.
                        One gemm with K = length * k instead of `length` gemms with K = k and a carry update.
                        A loop-invariant factor W gives W . (sum_t b_t). New stacked ys are allowed only up to
                        the bytes per step the loop already stacks (a long loop never buys speed with memory
                        its user did not already spend).
  hoisted products      dot_general(x_t, W) of an x slice and a loop-invariant W becomes one dot_general over
                        all of xs before the loop (a new xs), when its rows are at most the loop's bytes per
                        step already stacked, like the above.
  transposed weights    a loop-invariant right operand that the product reads transposed (its contracted axes
                        not leading) is transposed once before the loop. Measured (OpenBLAS sgemm, Zen 4, 1
                        thread): B read transposed costs 20-75% more than B as is for the small M of a
                        batch-sized step (64x512x128: 112 vs 89 us; 16x512x512: 203 vs 116 us).

`move_out` returns the new operands and body with the nodes to put before the scan and a function that builds
the nodes after it.
"""
from __future__ import annotations

from ..lazy import sympy

from ..ir.graph import Graph, Node, Value
from ..ir.types import TensorType
from ..primitives import REGISTRY

_dot = REGISTRY["dot_general"]
_add = REGISTRY["add"]
_transpose = REGISTRY["transpose"]
_reduce_sum = REGISTRY["reduce_sum"]


class ScanParts:
    """A scan taken apart for editing. consts / carries / xs: lists of [outer value, body input]; carries also
    carry their body output; ys: [body output, old result index or None for a new y]; `done`: {old result index
    of a removed carry: build(emit, stacked) -> Value of its final value} (emit(prim, inputs, params, type,
    loc) makes a node after the rebuilt scan, stacked(v) reads the stacked y of body value v); pre: outer nodes
    before the scan."""

    def __init__(self, ins, body: Graph, nc, nk, slots):
        bi, bo = body.inputs, body.outputs
        self.consts = [[ins[i], bi[i]] for i in range(nc)]
        self.carries = [[ins[nc + j], bi[nc + j], bo[j], slots[j]] for j in range(nk)]
        self.xs = [[ins[i], bi[i]] for i in range(nc + nk, len(ins))]
        self.ys = [[bo[j], slots[j]] for j in range(nk, len(bo))]
        self.nodes = list(body.nodes)
        self.name = body.name
        self.pre, self.done = [], {}

    def graph(self):
        inputs = [c[1] for c in self.consts] + [c[1] for c in self.carries] + [x[1] for x in self.xs]
        outputs = [c[2] for c in self.carries] + [y[0] for y in self.ys]
        return Graph(self.name, inputs, self.nodes, outputs)

    def substitute(self, subst):
        """Replace values in the body (nodes read through subst; outputs too)."""
        nodes = []
        for n in self.nodes:
            if n.out in subst:
                continue
            ins = tuple(subst.get(v, v) for v in n.inputs)
            if any(a is not b for a, b in zip(ins, n.inputs)):
                m = Node(n.prim, ins, n.params, n.out.type, n.loc)
                subst[n.out] = m.out
                n = m
            nodes.append(n)
        self.nodes = nodes
        for c in self.carries:
            c[2] = subst.get(c[2], c[2])
        for y in self.ys:
            y[0] = subst.get(y[0], y[0])


def move_out(ins, body: Graph, nc, nk, length, slots, used):
    """(ScanParts, changed) after the three rewrites (module docstring); slots[i]: the old result index of body
    output i; used: the old result indices something reads (a carry nobody reads is left alone)."""
    s = ScanParts(ins, body, nc, nk, slots)
    budget = _step_bytes([x[1].type for x in s.xs] + [y[0].type for y in s.ys])
    changed = _accumulations(s, length, budget, used)
    changed |= _hoist_products(s, length, budget)
    changed |= _transposed_weights(s)
    return s, changed


def _step_bytes(types):
    total = 0
    for t in types:
        n = t.dtype.np.itemsize
        for d in t.shape:
            n = n * d
        total = total + n
    return total


def _fits(extra, budget):
    """Whether `extra` bytes per step stay within `budget` (symbolic sizes: only when provably so)."""
    if isinstance(extra, int) and extra == 0:
        return True
    try:
        return bool(sympy.sympify(budget - extra) >= 0)
    except TypeError:                  # an undecidable comparison of symbolic sizes
        return False


def _accumulations(s: ScanParts, length, budget, used):
    consts = {c[1]: c[0] for c in s.consts}
    xs = {x[1]: x[0] for x in s.xs}
    uses = {}
    for n in s.nodes:
        for v in n.inputs:
            uses.setdefault(v, []).append(n)
    outs = {}
    for v in [c[2] for c in s.carries] + [y[0] for y in s.ys]:
        outs[v] = outs.get(v, 0) + 1
    # each check reads only values of its own carry (and the nodes only it reads): one pass, one substitution
    subst, spent, keep = {}, 0, []
    for c in s.carries:
        init, cin, cout, slot = c
        n = cout.node
        d = None
        if (slot in used and n is not None and n.prim is _add and len(uses.get(cin, ())) == 1
                and uses[cin][0] is n and cin not in outs and outs.get(cout) == 1 and not uses.get(cout)):
            d = n.inputs[1] if n.inputs[0] is cin else n.inputs[0]
        if (d is None or d is cin or d.node is None or d.node.prim is not _dot or len(uses.get(d, ())) != 1
                or d in outs or d.type.dtype is not cin.type.dtype or d.type.shape != cin.type.shape
                or all(v in consts for v in d.node.inputs)):
            keep.append(c)
            continue
        a, b = d.node.inputs
        extra = _step_bytes([v.type for v in (a, b) if v not in consts and v not in xs and v not in outs])
        if not _fits(spent + extra, budget):
            keep.append(c)
            continue
        spent = spent + extra
        # operands: ('const', outer), ('stacked', outer xs) or ('y', body value) resolved after the rebuild
        ops = []
        for v in (a, b):
            if v in consts:
                ops.append(("const", consts[v]))
            elif v in xs:
                ops.append(("stacked", xs[v]))
            else:
                if v not in outs:
                    s.ys.append([v, None])
                    outs[v] = 1
                ops.append(("y", v))
        subst[cout] = cin                  # the body no longer computes the sum (DCE drops the product)
        s.done[slot] = _after(ops, d.node.params, init, n.inputs[0] is cin, d.node.loc, n.loc)
    if not subst:
        return False
    s.carries = keep
    s.substitute(subst)
    return True


def _after(ops, params, init, init_first, dot_loc, add_loc):
    """build(emit, stacked_y) of acc_0 + sum_t a_t . b_t (ScanParts.done)."""
    (ca, cb), (ba, bb) = params["contract"], params["batch"]

    def up(t):
        return tuple(i + 1 for i in t)

    def build(emit, stacked_y):
        vals = [x if kind != "y" else stacked_y(x) for kind, x in ops]
        kinds = [kind for kind, _ in ops]
        if "const" in kinds:            # W . (sum_t b_t): sum the per-step factor first
            j = 1 - kinds.index("const")
            t = vals[j].type
            vals[j] = emit(_reduce_sum, [vals[j]], {"axes": (0,)}, TensorType(t.dtype, t.shape[1:]), dot_loc)
            p = dict(params)
        else:
            p = dict(params, contract=((0,) + up(ca), (0,) + up(cb)), batch=(up(ba), up(bb)))
        total = emit(_dot, vals, p, None, dot_loc)
        return emit(_add, [init, total] if init_first else [total, init], {}, init.type, add_loc)
    return build


def _hoist_products(s: ScanParts, length, budget):
    consts = {c[1]: c[0] for c in s.consts}
    xs = {x[1]: x[0] for x in s.xs}
    subst, spent = {}, 0
    for n in s.nodes:
        if n.prim is not _dot or n.params["batch"] != ((), ()):
            continue
        x, w = n.inputs
        if x not in xs or w not in consts:
            continue
        extra = _step_bytes([n.out.type])
        if not _fits(spent + extra, budget):
            continue
        spent = spent + extra
        (ca, cb) = n.params["contract"]
        outer = Node(_dot, (xs[x], consts[w]), dict(n.params, contract=(tuple(i + 1 for i in ca), cb)),
                     TensorType(n.out.type.dtype, (length,) + tuple(n.out.type.shape)), n.loc)
        s.pre.append(outer)
        inner = Value(n.out.type, None, "xw")
        s.xs.append([outer.out, inner])
        subst[n.out] = inner
    if subst:
        s.substitute(subst)
    return bool(subst)


def _transposed_weights(s: ScanParts):
    consts = {c[1]: c for c in s.consts}
    made, subst, nodes = {}, {}, []
    for n in s.nodes:
        w = n.inputs[1] if len(n.inputs) > 1 else None
        if n.prim is not _dot or n.params["batch"] != ((), ()) or w not in consts:
            nodes.append(n)
            continue
        ca, cb = n.params["contract"]
        rank = len(w.type.shape)
        perm = tuple(cb) + tuple(i for i in range(rank) if i not in cb)
        if perm == tuple(range(rank)):
            nodes.append(n)
            continue
        if (w, perm) not in made:
            outer = consts[w][0]
            t = Node(_transpose, (outer,), {"perm": perm},
                     TensorType(w.type.dtype, tuple(outer.type.shape[p] for p in perm)), n.loc)
            s.pre.append(t)
            inner = Value(TensorType(w.type.dtype, tuple(w.type.shape[p] for p in perm)), None, "wT")
            s.consts.append([t.out, inner])
            made[w, perm] = inner
        m = Node(_dot, (n.inputs[0], made[w, perm]), dict(n.params, contract=(ca, tuple(range(len(cb))))),
                 n.out.type, n.loc)
        subst[n.out] = m.out
        nodes.append(m)
    if subst:
        s.nodes = nodes
        s.substitute(subst)
    return bool(subst)
